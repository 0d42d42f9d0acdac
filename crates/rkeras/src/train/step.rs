//! What one step does: the train step (forward, loss and its gradient, backward, optimizer
//! update), which a user can replace ([`TrainStep`], Keras's overridden `train_step`), and
//! the inference step.

use crate::error::Result;
use crate::layers::Mode;
use crate::model::{heads, Model};

/// One training step on the batch already in the model's buffers, handed to a
/// [`TrainStep`]. The default step is
/// `step.forward(); let loss = step.compute_loss(); step.backward(); loss + step.apply_gradients()`.
pub struct Step<'s> {
    pub(crate) model: &'s mut Model,
    pub(crate) n: usize,
    pub(crate) targets: &'s [f32],
    pub(crate) weights: Option<&'s [f32]>,
    pub(crate) fused: bool,
    /// The output gradient is taken with respect to the last activation's input.
    grad_fused: bool,
}

impl<'s> Step<'s> {
    pub(crate) fn new(
        model: &'s mut Model,
        n: usize,
        targets: &'s [f32],
        weights: Option<&'s [f32]>,
        fused: bool,
    ) -> Self {
        Step {
            model,
            n,
            targets,
            weights,
            fused,
            grad_fused: false,
        }
    }

    /// Samples in the batch.
    pub fn batch_size(&self) -> usize {
        self.n
    }
    /// The batch's targets (several outputs: packed side by side in each row).
    pub fn targets(&self) -> &[f32] {
        self.targets
    }
    /// The batch's sample weights, when it has any.
    pub fn sample_weight(&self) -> Option<&[f32]> {
        self.weights
    }
    /// Runs the model forward in training mode (dropout on, batch statistics).
    pub fn forward(&mut self) {
        self.model.chain.forward(self.n, Mode::Train);
    }
    /// The outputs of the last forward pass (several outputs: packed in each row).
    pub fn outputs(&self) -> &[f32] {
        self.model.chain.output(self.n)
    }
    /// The compiled loss of the batch (with its sample weights), its gradient written for
    /// `backward`, and the compiled metrics updated; returns the loss.
    pub fn compute_loss(&mut self) -> f64 {
        let Model {
            chain, compiled, ..
        } = &mut *self.model;
        let Some(c) = compiled.as_mut() else {
            return f64::NAN;
        };
        let (n, targets, weights, fused) = (self.n, self.targets, self.weights, self.fused);
        self.grad_fused = fused;
        chain.with_output_grad(n, |out, grad| {
            heads::compute(&mut c.heads, out, targets, n, weights, Some(grad), fused)
        })
    }
    /// A loss of your own: `f` reads the outputs and the targets and writes the gradient of
    /// the loss with respect to the outputs; returns what `f` returns. The compiled metrics
    /// are not updated (call [`update_metrics`](Self::update_metrics)).
    pub fn custom_loss(&mut self, f: impl FnOnce(&[f32], &[f32], &mut [f32]) -> f64) -> f64 {
        let targets = self.targets;
        self.grad_fused = false;
        self.model
            .chain
            .with_output_grad(self.n, |out, grad| f(out, targets, grad))
    }
    /// Updates the compiled loss tracker and metrics with the batch (after `forward`),
    /// without touching the gradient.
    pub fn update_metrics(&mut self) {
        let Model {
            chain, compiled, ..
        } = &mut *self.model;
        if let Some(c) = compiled.as_mut() {
            let out = chain.output(self.n);
            heads::compute(
                &mut c.heads,
                out,
                self.targets,
                self.n,
                self.weights,
                None,
                false,
            );
        }
    }
    /// Backpropagates the output gradient to every weight gradient.
    pub fn backward(&mut self) {
        self.model.chain.backward(self.n, self.grad_fused);
    }
    /// Visits every trainable weight's gradient, by layer and weight name (clip them,
    /// scale them, inspect them).
    pub fn for_each_gradient(&mut self, mut f: impl FnMut(&str, &str, &mut [f32])) {
        for layer in self.model.chain.layers.iter_mut() {
            if !layer.base().trainable {
                continue;
            }
            let name = layer.name().to_string();
            for p in layer.params_mut().iter_mut().filter(|p| p.trainable) {
                f(&name, p.name, &mut p.grad);
            }
        }
    }
    /// Adds the weight penalties' gradients, steps the optimizer and applies the
    /// constraints; returns the penalty (Keras adds it to the loss).
    pub fn apply_gradients(&mut self) -> f64 {
        let Model {
            chain, compiled, ..
        } = &mut *self.model;
        match compiled.as_mut() {
            Some(c) => update(chain, c),
            None => 0.0,
        }
    }
    /// The model (its layers and weights).
    pub fn model(&self) -> &Model {
        self.model
    }
}

/// What one training step does (Keras's overridable `train_step`): the default runs
/// forward, the compiled loss, backward and the optimizer. Return the batch loss.
///
/// ```
/// use rkeras::prelude::*;
/// use rkeras::train::Step;
/// let mut model = Sequential::new([Dense::new(1).input_shape(2).into()])?;
/// model.compile("sgd", "mse", &[])?;
/// let x = Tensor::new(vec![4, 2], vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0])?;
/// let y = Tensor::new(vec![4, 1], vec![1.0, 1.0, 2.0, 0.0])?;
/// // The default step, with every gradient clipped to [-0.1, 0.1].
/// let mut clipped = |step: &mut Step<'_>| -> rkeras::Result<f64> {
///     step.forward();
///     let loss = step.compute_loss();
///     step.backward();
///     step.for_each_gradient(|_, _, g| g.iter_mut().for_each(|v| *v = v.clamp(-0.1, 0.1)));
///     Ok(loss + step.apply_gradients())
/// };
/// model.fit(&x, &y).epochs(2).verbose(0).train_step(&mut clipped).run()?;
/// # Ok::<(), rkeras::Error>(())
/// ```
pub trait TrainStep: Send {
    /// Trains on one batch; returns its loss.
    ///
    /// # Errors
    /// Whatever the step cannot do; `fit` stops and returns it.
    fn train_step(&mut self, step: &mut Step<'_>) -> Result<f64>;
}

impl<F: FnMut(&mut Step<'_>) -> Result<f64> + Send> TrainStep for F {
    fn train_step(&mut self, step: &mut Step<'_>) -> Result<f64> {
        self(step)
    }
}

/// The default training step.
pub(crate) fn default_step(step: &mut Step<'_>) -> f64 {
    step.forward();
    let loss = step.compute_loss();
    step.backward();
    loss + step.apply_gradients()
}

/// Whether the loss gradient can skip the output activation (softmax or sigmoid with its
/// cross-entropy).
pub(crate) fn fuses(model: &Model) -> bool {
    let last = model.chain.output_activation();
    match (&model.compiled, last) {
        (Some(c), Some(a)) if c.heads.len() == 1 => c.heads[0].loss.fuses_with(a),
        _ => false,
    }
}

/// Builds the optimizer's slots for the current trainable weights, if needed.
pub(crate) fn ensure_optimizer(model: &mut Model) {
    let Model {
        chain, compiled, ..
    } = model;
    if let Some(c) = compiled.as_mut() {
        c.build_optimizer(chain);
    }
}

/// Visits every trainable weight of the trainable layers, in the optimizer's slot order.
fn for_each_trainable(
    chain: &mut crate::model::graph::Chain,
    f: impl FnMut(&mut crate::layers::Param),
) {
    chain.trainable_params_mut().for_each(f);
}

/// A step with no rows of the batch on this rank (data-parallel runs): zero gradients
/// into the all-reduce, then the same optimizer step as every other rank.
pub(crate) fn zero_step(model: &mut Model) {
    // The passes' side effects without rows: random streams advance, synchronized
    // statistics join their collectives.
    model.chain.idle_step();
    for l in model.chain.layers.iter_mut() {
        for p in l.params_mut() {
            p.grad.fill(0.0);
        }
    }
    let Model {
        chain, compiled, ..
    } = model;
    if let Some(c) = compiled.as_mut() {
        update(chain, c);
    }
}

/// Adds the weight penalties' gradients, steps the optimizer and applies the constraints;
/// returns the penalty.
fn update(chain: &mut crate::model::graph::Chain, c: &mut crate::model::Compiled) -> f64 {
    // Data-parallel: the gradients of the whole batch, summed over the ranks.
    crate::distribution::reduce_gradients(chain);
    // Weight penalties join the loss and their gradients the weights' (Keras adds
    // `model.losses`, which count the trainable weights only: a frozen layer adds nothing).
    let mut penalty = 0.0;
    for layer in chain.layers.iter_mut() {
        if layer.base().trainable {
            penalty += layer.regularize();
        }
    }
    // Keras's base optimizer (`apply`): the scheduled rate for this step; with gradient
    // accumulation, every step but each `n`-th only adds its gradients; then clipped
    // gradients, weight decay, the update, the moving averages, the constraints.
    // Keras's `_iterations` (every step) picks the rate and the update steps; the
    // optimizer's own count (Keras's `iterations` property) is the updates made so far.
    let updates = c.optimizer.iterations();
    let accumulating = c.optimizer.options().accumulating();
    let it = accumulating.map_or(updates, |_| c.optimizer.options().micro_steps);
    if let Some(s) = &c.optimizer.options().schedule {
        let lr = s.at(it);
        c.optimizer.set_learning_rate(lr);
    }
    let opts = c.optimizer.options_mut();
    let mut is_update = true;
    if let Some(steps) = accumulating {
        is_update = (it + 1).is_multiple_of(steps);
        opts.micro_steps += 1;
        let scale = 1.0 / steps as f32;
        let mut slot = 0;
        for_each_trainable(chain, |p| {
            if let Some(acc) = opts.accumulators.get_mut(slot) {
                if is_update {
                    for (g, a) in p.grad.iter_mut().zip(acc.iter_mut()) {
                        *g = (*g + *a) * scale;
                        *a = 0.0;
                    }
                } else {
                    acc.iter_mut().zip(&p.grad).for_each(|(a, g)| *a += *g);
                }
            }
            slot += 1;
        });
    }
    if is_update {
        let opts = c.optimizer.options();
        if opts.clipnorm.is_some() || opts.global_clipnorm.is_some() || opts.clipvalue.is_some() {
            opts.clip(|f| for_each_trainable(chain, |p| f(&mut p.grad)));
        }
        let wd = opts.weight_decay;
        let mask = std::mem::take(&mut c.optimizer.options_mut().decay_mask);
        let lr = c.optimizer.learning_rate();
        c.optimizer.begin_step();
        let mut slot = 0;
        let optimizer = &mut c.optimizer;
        for_each_trainable(chain, |p| {
            if let Some(wd) = wd.filter(|_| mask.get(slot).copied().unwrap_or(true)) {
                p.value.iter_mut().for_each(|w| *w -= *w * wd * lr);
            }
            optimizer.update(slot, &mut p.value, &p.grad);
            slot += 1;
        });
        c.optimizer.options_mut().decay_mask = mask;
    }
    let opts = c.optimizer.options_mut();
    if opts.use_ema {
        // Keras: no momentum before the first update, so the average starts at the weights.
        let m = if updates == 0 { 0.0 } else { opts.ema_momentum };
        let overwrite = opts
            .ema_overwrite_frequency
            .is_some_and(|f| (updates + 1).is_multiple_of(f));
        let mut slot = 0;
        for_each_trainable(chain, |p| {
            if let Some(avg) = opts.averages.get_mut(slot) {
                for (a, w) in avg.iter_mut().zip(p.value.iter_mut()) {
                    *a = m * *a + (1.0 - m) * *w;
                    if overwrite {
                        *w = *a;
                    }
                }
            }
            slot += 1;
        });
    }
    for layer in chain.layers.iter_mut().filter(|l| l.base().trainable) {
        layer.constrain();
    }
    penalty
}
