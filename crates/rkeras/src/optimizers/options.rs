//! What every Keras optimizer takes besides its own hyperparameters: a learning-rate
//! schedule, gradient clipping (`clipnorm`, `global_clipnorm`, `clipvalue`), decoupled weight
//! decay, an exponential moving average of the weights (`use_ema`) and gradient accumulation.
//! The training step applies them around the optimizer's update, as Keras's base optimizer
//! does.

use super::schedules::Schedule;
use crate::error::{Error, Result};

/// A schedule, the clipping settings, weight decay, EMA and gradient accumulation of an
/// optimizer (Keras's base optimizer arguments).
///
/// ```
/// use rkeras::optimizers::{Optimizer, SGD};
/// use rkeras::optimizers::schedules::Schedule;
/// let opt = SGD::default()
///     .clipnorm(1.0)
///     .weight_decay(1e-4)
///     .use_ema(true)
///     .gradient_accumulation_steps(4)
///     .learning_rate_schedule(Schedule::cosine_decay(0.1, 1000));
/// assert_eq!(opt.options().clipnorm, Some(1.0));
/// assert_eq!(opt.options().ema_momentum, 0.99);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The learning rate as a function of the step (Keras's `learning_rate=schedule`).
    pub schedule: Option<Schedule>,
    /// Each gradient rescaled to this L2 norm at most.
    pub clipnorm: Option<f32>,
    /// All gradients together rescaled to this global L2 norm at most.
    pub global_clipnorm: Option<f32>,
    /// Each gradient value clipped to `[-clipvalue, clipvalue]`.
    pub clipvalue: Option<f32>,
    /// Decoupled weight decay: before each update, `w -= w * weight_decay * learning_rate`
    /// (Keras's `weight_decay`; AdamW's default is 0.004, every other optimizer's none).
    pub weight_decay: Option<f32>,
    /// Weights whose name matches one of these regular expressions get no weight decay
    /// (Keras's `exclude_from_weight_decay(var_names=[...])`, searched in the weight's name,
    /// `kernel`, `bias`, `gamma`, ...). Not part of the config, as in Keras.
    pub exclude_from_weight_decay: Vec<String>,
    /// Keeps an exponential moving average of the trainable weights (Keras's `use_ema`); `fit`
    /// ends by writing the averages into the model (`finalize_variable_values`).
    pub use_ema: bool,
    /// The average's momentum (Keras's `ema_momentum`, 0.99).
    pub ema_momentum: f32,
    /// Every this many steps the weights are overwritten with their averages (Keras's
    /// `ema_overwrite_frequency`).
    pub ema_overwrite_frequency: Option<u64>,
    /// Gradients summed over this many steps, the weights updated with their mean on the
    /// last one (Keras's `gradient_accumulation_steps`, at least 2).
    pub gradient_accumulation_steps: Option<u64>,
    /// The moving averages, one per trainable weight (Keras's `average` variables).
    pub(crate) averages: Vec<Vec<f32>>,
    /// The accumulated gradients, one per trainable weight.
    pub(crate) accumulators: Vec<Vec<f32>>,
    /// Per trainable weight: whether weight decay applies (from the exclusions).
    pub(crate) decay_mask: Vec<bool>,
    /// Every step so far, also those that only accumulated (Keras's `_iterations`), when
    /// accumulating gradients.
    pub(crate) micro_steps: u64,
    /// True while the model holds the averages and `averages` the trained weights
    /// ([`SwapEMAWeights`](crate::callbacks::SwapEMAWeights)).
    pub(crate) swapped: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            schedule: None,
            clipnorm: None,
            global_clipnorm: None,
            clipvalue: None,
            weight_decay: None,
            exclude_from_weight_decay: Vec::new(),
            use_ema: false,
            ema_momentum: 0.99,
            ema_overwrite_frequency: None,
            gradient_accumulation_steps: None,
            averages: Vec::new(),
            accumulators: Vec::new(),
            decay_mask: Vec::new(),
            swapped: false,
            micro_steps: 0,
        }
    }
}

impl Options {
    /// Checks the settings as Keras does.
    ///
    /// # Errors
    /// A negative or non-finite clipping value, more than one clipping setting, a schedule
    /// outside its ranges, a negative weight decay, an `ema_momentum` outside `[0, 1]`, an
    /// `ema_overwrite_frequency` of 0, fewer than 2 accumulation steps, or an exclusion that
    /// is not a regular expression.
    pub fn validate(&self) -> Result<()> {
        let set = [self.clipnorm, self.global_clipnorm, self.clipvalue];
        for (name, v) in ["clipnorm", "global_clipnorm", "clipvalue"].iter().zip(set) {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err(Error::arg(
                        name,
                        "",
                        format!("expected a positive finite float, received {v}"),
                    ));
                }
            }
        }
        if set.iter().filter(|v| v.is_some()).count() > 1 {
            return Err(Error::arg(
                "clipnorm",
                "",
                format!(
                    "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: clipnorm={:?}, clipvalue={:?}, global_clipnorm={:?}",
                    self.clipnorm, self.clipvalue, self.global_clipnorm
                ),
            ));
        }
        if let Some(s) = &self.schedule {
            s.validate()?;
        }
        if let Some(wd) = self.weight_decay.filter(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::arg(
                "weight_decay",
                "",
                format!("expected a non-negative finite float, received {wd}"),
            ));
        }
        if self.use_ema && !(0.0..=1.0).contains(&self.ema_momentum) {
            return Err(Error::arg(
                "ema_momentum",
                "",
                format!(
                    "`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={}",
                    self.ema_momentum
                ),
            ));
        }
        if self.ema_overwrite_frequency == Some(0) {
            return Err(Error::arg(
                "ema_overwrite_frequency",
                "",
                "`ema_overwrite_frequency` must be an integer >= 1 or None. Received: 0",
            ));
        }
        if let Some(s) = self.gradient_accumulation_steps.filter(|s| *s < 2) {
            return Err(Error::arg(
                "gradient_accumulation_steps",
                "",
                format!("`gradient_accumulation_steps` must be an integer >= 2. Received: {s}"),
            ));
        }
        self.exclusions()?;
        Ok(())
    }

    /// The exclusions as one regular expression (Keras joins them with `|`).
    fn exclusions(&self) -> Result<Option<regex_lite::Regex>> {
        if self.exclude_from_weight_decay.is_empty() {
            return Ok(None);
        }
        let pattern = self.exclude_from_weight_decay.join("|");
        regex_lite::Regex::new(&pattern).map(Some).map_err(|e| {
            Error::arg(
                "exclude_from_weight_decay",
                "",
                format!("{pattern:?} is not a regular expression: {e}"),
            )
        })
    }

    /// Creates the per-weight buffers for trainable weights of these sizes and names (model
    /// order): the averages (zeros, as Keras's), the accumulators, the weight-decay mask.
    pub(crate) fn build(&mut self, sizes: &[usize], names: &[&str]) {
        self.averages = if self.use_ema {
            sizes.iter().map(|&n| vec![0.0; n]).collect()
        } else {
            Vec::new()
        };
        self.accumulators = if self.accumulating().is_some() {
            sizes.iter().map(|&n| vec![0.0; n]).collect()
        } else {
            Vec::new()
        };
        // `validate` has refused a bad pattern already.
        let re = self.exclusions().ok().flatten();
        self.decay_mask = names
            .iter()
            .map(|n| re.as_ref().is_none_or(|r| !r.is_match(n)))
            .collect();
    }

    /// Swaps the trainable weights (`params`, slot order) with their averages; false (and
    /// nothing done) without averages.
    pub(crate) fn swap_averages<'a>(
        &mut self,
        params: impl Iterator<Item = &'a mut crate::layers::Param>,
    ) -> bool {
        if self.averages.is_empty() {
            return false;
        }
        for (p, a) in params.zip(self.averages.iter_mut()) {
            if p.value.len() == a.len() {
                p.value.swap_with_slice(a);
            }
        }
        self.swapped = !self.swapped;
        true
    }

    /// Keras's `finalize_variable_values`: with averages, the model ends holding them (and
    /// so do the averages).
    pub(crate) fn finalize<'a>(
        &mut self,
        params: impl Iterator<Item = &'a mut crate::layers::Param>,
    ) {
        if self.averages.is_empty() {
            return;
        }
        let swapped = std::mem::take(&mut self.swapped);
        for (p, a) in params.zip(self.averages.iter_mut()) {
            if p.value.len() == a.len() {
                if swapped {
                    a.copy_from_slice(&p.value);
                } else {
                    p.value.copy_from_slice(a);
                }
            }
        }
    }

    /// Whether the buffers are built for `n` weights with the present settings.
    pub(crate) fn buffers_fit(&self, n: usize) -> bool {
        let want = |on: bool| if on { n } else { 0 };
        self.averages.len() == want(self.use_ema)
            && self.accumulators.len() == want(self.accumulating().is_some())
            && self.decay_mask.len() == n
    }

    /// The accumulation steps, when accumulating.
    pub(crate) fn accumulating(&self) -> Option<u64> {
        self.gradient_accumulation_steps.filter(|s| *s >= 2)
    }

    /// The base optimizer's own variables in Keras's order (after the iteration count and
    /// learning rate, before the optimizer's slots): the averages, then the accumulators,
    /// each tagged with its weight's index.
    pub(crate) fn state(&self) -> Vec<(usize, Vec<f32>)> {
        self.averages
            .iter()
            .cloned()
            .enumerate()
            .chain(self.accumulators.iter().cloned().enumerate())
            .collect()
    }

    /// The scalars in the averages and accumulators (for the summary's optimizer line).
    pub(crate) fn scalar_count(&self) -> usize {
        self.averages
            .iter()
            .chain(&self.accumulators)
            .map(Vec::len)
            .sum()
    }

    /// How many of the saved arrays [`state`](Self::state) takes.
    pub(crate) fn state_len(&self) -> usize {
        self.averages.len() + self.accumulators.len()
    }

    /// Restores [`state`](Self::state)'s arrays.
    pub(crate) fn set_state(&mut self, state: &[Vec<f32>]) -> std::result::Result<(), String> {
        let mut dst: Vec<&mut Vec<f32>> = self
            .averages
            .iter_mut()
            .chain(self.accumulators.iter_mut())
            .collect();
        super::restore(&mut dst, state)
    }

    /// Clips the gradients in place (Keras's `_clip_gradients`); `grads` visits every
    /// trainable weight's gradient, twice for `global_clipnorm`.
    pub(crate) fn clip(&self, mut grads: impl FnMut(&mut dyn FnMut(&mut [f32]))) {
        let norm = |g: &[f32]| g.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>();
        if let Some(c) = self.clipnorm {
            grads(&mut |g| {
                let n = norm(g).sqrt();
                if n > f64::from(c) {
                    let s = (f64::from(c) / n) as f32;
                    g.iter_mut().for_each(|v| *v *= s);
                }
            });
        } else if let Some(c) = self.global_clipnorm {
            let mut total = 0.0;
            grads(&mut |g| total += norm(g));
            let n = total.sqrt();
            if n > f64::from(c) {
                let s = (f64::from(c) / n) as f32;
                grads(&mut |g| g.iter_mut().for_each(|v| *v *= s));
            }
        } else if let Some(c) = self.clipvalue {
            grads(&mut |g| g.iter_mut().for_each(|v| *v = v.clamp(-c, c)));
        }
    }
}

/// The option setters every optimizer has.
macro_rules! options_builders {
    ($t:ty) => {
        impl $t {
            /// A learning-rate schedule (Keras's `learning_rate=schedule`): the rate is set from
            /// it before every step.
            pub fn learning_rate_schedule(
                mut self,
                s: $crate::optimizers::schedules::Schedule,
            ) -> Self {
                $crate::optimizers::Optimizer::options_mut(&mut self).schedule = Some(s);
                self
            }
            /// Rescales each gradient to this L2 norm at most (Keras's `clipnorm`).
            pub fn clipnorm(mut self, c: f32) -> Self {
                $crate::optimizers::Optimizer::options_mut(&mut self).clipnorm = Some(c);
                self
            }
            /// Rescales all gradients together to this global L2 norm at most (Keras's
            /// `global_clipnorm`).
            pub fn global_clipnorm(mut self, c: f32) -> Self {
                $crate::optimizers::Optimizer::options_mut(&mut self).global_clipnorm = Some(c);
                self
            }
            /// Clips each gradient value to `[-c, c]` (Keras's `clipvalue`).
            pub fn clipvalue(mut self, c: f32) -> Self {
                $crate::optimizers::Optimizer::options_mut(&mut self).clipvalue = Some(c);
                self
            }
            /// Decoupled weight decay: before each update `w -= w * wd * learning_rate`
            /// (Keras's `weight_decay`).
            pub fn weight_decay(mut self, wd: f32) -> Self {
                $crate::optimizers::Optimizer::options_mut(&mut self).weight_decay = Some(wd);
                self
            }
            /// No weight decay for the weights whose name matches one of these regular
            /// expressions (Keras's `exclude_from_weight_decay(var_names=...)`).
            pub fn exclude_from_weight_decay<S: Into<String>>(
                mut self,
                names: impl IntoIterator<Item = S>,
            ) -> Self {
                $crate::optimizers::Optimizer::options_mut(&mut self).exclude_from_weight_decay =
                    names.into_iter().map(Into::into).collect();
                self
            }
            /// Keeps an exponential moving average of the weights, written into the model
            /// when `fit` ends (Keras's `use_ema`).
            pub fn use_ema(mut self, on: bool) -> Self {
                $crate::optimizers::Optimizer::options_mut(&mut self).use_ema = on;
                self
            }
            /// The moving average's momentum (Keras's `ema_momentum`, 0.99).
            pub fn ema_momentum(mut self, m: f32) -> Self {
                $crate::optimizers::Optimizer::options_mut(&mut self).ema_momentum = m;
                self
            }
            /// Overwrites the weights with their averages every `n` steps (Keras's
            /// `ema_overwrite_frequency`).
            pub fn ema_overwrite_frequency(mut self, n: u64) -> Self {
                $crate::optimizers::Optimizer::options_mut(&mut self).ema_overwrite_frequency =
                    Some(n);
                self
            }
            /// Accumulates the gradients of `n` steps and updates with their mean on every
            /// `n`-th (Keras's `gradient_accumulation_steps`).
            pub fn gradient_accumulation_steps(mut self, n: u64) -> Self {
                $crate::optimizers::Optimizer::options_mut(&mut self).gradient_accumulation_steps =
                    Some(n);
                self
            }
        }
    };
}
pub(crate) use options_builders;
