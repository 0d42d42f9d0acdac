//! Models: [`Model`] (compile, fit, evaluate, predict, summary, weights) and the
//! [`Sequential`] constructor.

mod functional;
pub(crate) mod graph;
mod sequential;
pub mod summary;

pub use functional::{Call, Input, KerasTensor};
pub use sequential::Sequential;

use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::losses::{Loss, LossSpec};
use crate::metrics::Metric;
use crate::optimizers::{Optimizer, OptimizerSpec};
use crate::tensor::Tensor;
use graph::Chain;

/// What `compile` set up.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub optimizer: Box<dyn Optimizer>,
    pub loss: Loss,
    pub metrics: Vec<Metric>,
    /// Sizes the optimizer's slots were built for (empty: not built for these weights).
    pub slot_sizes: Vec<usize>,
}

/// A model: layers plus, once compiled, an optimizer, a loss and metrics.
///
/// Build one with [`Sequential::new`].
#[derive(Debug)]
pub struct Model {
    pub(crate) name: String,
    pub(crate) chain: Chain,
    pub(crate) compiled: Option<Compiled>,
    pub(crate) seed: u64,
    /// Set by a callback to end `fit` after the current epoch (Keras's `stop_training`).
    pub stop_training: bool,
    /// Set by a callback's `on_train_begin` (BackupAndRestore) to start `fit` at this epoch.
    pub(crate) resume_epoch: Option<usize>,
    /// The input's name (functional models).
    pub(crate) input_name: Option<String>,
}

impl Model {
    /// The model's name (`sequential`, `sequential_1`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The layers, in order.
    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.chain.layers
    }
    /// A layer by name.
    pub fn get_layer(&self, name: &str) -> Option<&dyn Layer> {
        self.chain
            .layers
            .iter()
            .find(|l| l.name() == name)
            .map(|l| l.as_ref())
    }
    /// Per-sample input shape (no batch axis), once known.
    pub fn input_shape(&self) -> Option<&[usize]> {
        self.chain.input_shape.as_deref()
    }
    /// Per-sample output shape, once built.
    pub fn output_shape(&self) -> Option<&[usize]> {
        self.chain.output_shape()
    }
    /// Per-sample output shape of layer `i`, once built.
    pub fn layer_output_shape(&self, i: usize) -> Option<&[usize]> {
        self.chain.shapes.get(i).map(Vec::as_slice)
    }
    /// True once the weights exist.
    pub fn built(&self) -> bool {
        self.chain.built
    }
    /// The seed the weights were drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Re-seeds the model and, when built, redraws all weights from the new seed.
    ///
    /// # Errors
    /// As [`Model::build`].
    pub fn set_seed(&mut self, seed: u64) -> Result<()> {
        self.seed = seed;
        if let Some(shape) = self.chain.input_shape.clone() {
            if self.chain.built {
                self.build(&shape)?;
            }
        }
        Ok(())
    }

    /// Builds the model for a per-sample input shape (done automatically when the first
    /// layer declares `input_shape`, or at the first `fit`/`predict`).
    ///
    /// # Errors
    /// A layer that cannot take its input; the error names the layer.
    pub fn build(&mut self, input_shape: &[usize]) -> Result<()> {
        self.chain.build(input_shape, self.seed)?;
        if let Some(c) = &mut self.compiled {
            // New weights: the optimizer's slots are rebuilt at the next step.
            c.slot_sizes.clear();
        }
        Ok(())
    }

    /// Total number of weights (trainable and not).
    pub fn count_params(&self) -> usize {
        self.chain
            .layers
            .iter()
            .flat_map(|l| l.params())
            .map(|p| p.value.len())
            .sum()
    }

    /// Configures training: optimizer, loss and metrics, by Keras name or as values.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut m = Sequential::new([Dense::new(3).activation("softmax").input_shape(4).into()])?;
    /// m.compile(Adam::default(), "categorical_crossentropy", &["accuracy"])?;
    /// assert!(m.compile("adamx", "mse", &[]).is_err());
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// Unknown optimizer, loss or metric names (listing the known ones).
    pub fn compile(
        &mut self,
        optimizer: impl Into<OptimizerSpec>,
        loss: impl Into<LossSpec>,
        metrics: &[&str],
    ) -> Result<()> {
        let optimizer = optimizer.into().resolve()?;
        crate::optimizers::check_lr(optimizer.learning_rate())?;
        let loss = loss.into().resolve()?;
        let metrics = metrics
            .iter()
            .map(|m| Metric::from_name(m))
            .collect::<Result<Vec<_>>>()?;
        self.compiled = Some(Compiled {
            optimizer,
            loss,
            metrics,
            slot_sizes: Vec::new(),
        });
        Ok(())
    }

    /// The optimizer, once compiled.
    pub fn optimizer(&self) -> Option<&dyn Optimizer> {
        self.compiled.as_ref().map(|c| c.optimizer.as_ref())
    }
    /// The optimizer, mutable (learning-rate schedules).
    pub fn optimizer_mut(&mut self) -> Option<&mut (dyn Optimizer + 'static)> {
        self.compiled.as_mut().map(|c| c.optimizer.as_mut())
    }
    /// The loss, once compiled.
    pub fn loss(&self) -> Option<Loss> {
        self.compiled.as_ref().map(|c| c.loss)
    }
    /// The optimizer's slot variables in Keras's order, with the shape of the weight each
    /// belongs to (empty before the first training step).
    pub(crate) fn optimizer_state(&self) -> Vec<(Vec<usize>, Vec<f32>)> {
        let shapes = self.trainable_shapes();
        self.optimizer()
            .map(|o| {
                o.state()
                    .into_iter()
                    .filter_map(|(i, v)| shapes.get(i).map(|s| (s.clone(), v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Keras's variable paths (`model/layer/weight`) of the trainable weights, in the
    /// optimizer's slot order.
    pub(crate) fn trainable_paths(&self) -> Vec<String> {
        self.chain
            .layers
            .iter()
            .filter(|l| l.base().trainable)
            .flat_map(|l| {
                l.params()
                    .iter()
                    .filter(|p| p.trainable)
                    .map(|p| format!("{}/{}/{}", self.name(), l.name(), p.name))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Shapes of the trainable weights, in the optimizer's slot order.
    pub(crate) fn trainable_shapes(&self) -> Vec<Vec<usize>> {
        self.chain
            .layers
            .iter()
            .filter(|l| l.base().trainable)
            .flat_map(|l| {
                l.params()
                    .iter()
                    .filter(|p| p.trainable)
                    .map(|p| p.shape.clone())
            })
            .collect()
    }

    /// Restores the optimizer's iteration count, learning rate and slots.
    pub(crate) fn set_optimizer_state(
        &mut self,
        iterations: u64,
        learning_rate: Option<f32>,
        slots: Vec<(Vec<usize>, Vec<f32>)>,
    ) -> Result<()> {
        let sizes: Vec<usize> = self
            .trainable_shapes()
            .iter()
            .map(|s| s.iter().product())
            .collect();
        let Some(c) = self.compiled.as_mut() else {
            return Ok(());
        };
        if slots.is_empty() && iterations == 0 {
            return Ok(());
        }
        if c.slot_sizes != sizes || !c.optimizer.is_built() {
            c.optimizer.build(&sizes);
            c.slot_sizes = sizes;
        }
        let arrays: Vec<Vec<f32>> = slots.into_iter().map(|(_, v)| v).collect();
        c.optimizer
            .set_state(&arrays)
            .map_err(|e| Error::Data(format!("optimizer state does not fit the model: {e}")))?;
        c.optimizer.set_iterations(iterations);
        if let Some(lr) = learning_rate.filter(|l| l.is_finite() && *l > 0.0) {
            c.optimizer.set_learning_rate(lr);
        }
        Ok(())
    }

    /// The weights of layer `i`, mutable.
    pub(crate) fn layer_params_mut(&mut self, i: usize) -> &mut [crate::layers::Param] {
        self.chain.layers[i].params_mut()
    }

    /// Metric names in compile order.
    pub fn metrics_names(&self) -> Vec<String> {
        let mut v = vec!["loss".to_string()];
        if let Some(c) = &self.compiled {
            v.extend(c.metrics.iter().map(|m| m.name().to_string()));
        }
        v
    }

    /// Copies of all weights, layer by layer (kernel then bias), as Keras's `get_weights()`.
    pub fn get_weights(&self) -> Vec<Tensor> {
        self.chain
            .layers
            .iter()
            .flat_map(|l| l.params())
            .map(|p| {
                Tensor::new(p.shape.clone(), p.value.clone())
                    .unwrap_or_else(|_| Tensor::zeros(vec![0]))
            })
            .collect()
    }

    /// Replaces all weights, in [`Model::get_weights`] order.
    ///
    /// # Errors
    /// Wrong count or a shape that does not match (naming the layer and both shapes).
    pub fn set_weights(&mut self, weights: &[Tensor]) -> Result<()> {
        let expected: usize = self.chain.layers.iter().map(|l| l.params().len()).sum();
        if weights.len() != expected {
            return Err(Error::Data(format!(
                "set_weights: expected {expected} arrays, received {}",
                weights.len()
            )));
        }
        let mut it = weights.iter();
        for l in &self.chain.layers {
            for p in l.params() {
                let w = it
                    .next()
                    .ok_or_else(|| Error::Data("set_weights: too few arrays".into()))?;
                if w.shape() != p.shape.as_slice() {
                    return Err(Error::Data(format!(
                        "set_weights: layer \"{}\" weight \"{}\" expected shape {:?}, received {:?}",
                        l.name(),
                        p.name,
                        p.shape,
                        w.shape()
                    )));
                }
            }
        }
        let mut it = weights.iter();
        for l in &mut self.chain.layers {
            for p in l.params_mut() {
                if let Some(w) = it.next() {
                    p.value.copy_from_slice(w.data());
                }
            }
        }
        Ok(())
    }

    /// Turns per-layer timing on (and resets it) or off. See [`Model::layer_timings`].
    pub fn set_profiling(&mut self, on: bool) {
        self.chain.timings = on.then(|| vec![(0.0, 0.0); self.chain.layers.len()]);
    }

    /// Accumulated `(layer name, forward seconds, backward seconds)` since profiling was
    /// turned on (backward = grad-input and grad-kernel together).
    pub fn layer_timings(&self) -> Vec<(String, f64, f64)> {
        match &self.chain.timings {
            Some(t) => self
                .chain
                .layers
                .iter()
                .zip(t)
                .map(|(l, &(f, b))| (l.name().to_string(), f, b))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Prints the Keras summary table to stdout.
    pub fn summary(&self) {
        print!("{}", self.summary_string(None));
    }

    /// The Keras summary table as text; `line_length` defaults as Keras (terminal width).
    pub fn summary_string(&self, line_length: Option<usize>) -> String {
        summary::render(self, line_length)
    }
}
