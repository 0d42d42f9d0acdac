//! What every Keras optimizer takes besides its own hyperparameters: a learning-rate
//! schedule and gradient clipping (`clipnorm`, `global_clipnorm`, `clipvalue`). The training
//! step applies them around the optimizer's update, as Keras's base optimizer does.

use super::schedules::Schedule;
use crate::error::{Error, Result};

/// A schedule and the clipping settings of an optimizer.
///
/// ```
/// use rkeras::optimizers::{Optimizer, SGD};
/// use rkeras::optimizers::schedules::Schedule;
/// let opt = SGD::default().clipnorm(1.0).learning_rate_schedule(Schedule::cosine_decay(0.1, 1000));
/// assert_eq!(opt.options().clipnorm, Some(1.0));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// The learning rate as a function of the step (Keras's `learning_rate=schedule`).
    pub schedule: Option<Schedule>,
    /// Each gradient rescaled to this L2 norm at most.
    pub clipnorm: Option<f32>,
    /// All gradients together rescaled to this global L2 norm at most.
    pub global_clipnorm: Option<f32>,
    /// Each gradient value clipped to `[-clipvalue, clipvalue]`.
    pub clipvalue: Option<f32>,
}

impl Options {
    /// Checks the settings as Keras does.
    ///
    /// # Errors
    /// A negative or non-finite clipping value, more than one clipping setting, or a
    /// schedule outside its ranges.
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
        Ok(())
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
        }
    };
}
pub(crate) use options_builders;
