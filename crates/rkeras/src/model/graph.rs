//! The executor: layers in order, their shapes, and the preplanned activation and gradient
//! buffers. Sequential models run on it directly; every buffer is sized once per maximum
//! batch size, so a training step never allocates.

use crate::error::{Error, Result};
use crate::layers::{Backward, Layer, Mode};
use crate::rng::Rng;
use crate::shape::numel;

/// Layers in execution order plus their buffers.
#[derive(Debug, Default)]
pub(crate) struct Chain {
    pub layers: Vec<Box<dyn Layer>>,
    pub input_shape: Option<Vec<usize>>,
    /// Output shape of each layer (per sample), once built.
    pub shapes: Vec<Vec<usize>>,
    pub built: bool,
    /// `acts[0]` is the input batch, `acts[i + 1]` the output of layer `i`.
    acts: Vec<Vec<f32>>,
    /// Same indexing; `grads[0]` is unused.
    grads: Vec<Vec<f32>>,
    max_batch: usize,
    /// Backward stops at this layer (the first one with trainable weights).
    first_trainable: usize,
    /// Per-layer accumulated (forward, backward) seconds, when profiling is on.
    pub timings: Option<Vec<(f64, f64)>>,
}

impl Chain {
    /// Builds every layer for `input_shape`, with weights drawn from `seed`.
    pub fn build(&mut self, input_shape: &[usize], seed: u64) -> Result<()> {
        let mut shape = input_shape.to_vec();
        if shape.is_empty() || shape.contains(&0) {
            return Err(Error::arg(
                "input_shape",
                "",
                format!("expected positive dimensions, received {shape:?}"),
            ));
        }
        self.shapes.clear();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let mut rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            shape = layer.build(&shape, &mut rng)?;
            self.shapes.push(shape.clone());
        }
        self.input_shape = Some(input_shape.to_vec());
        self.first_trainable = self
            .layers
            .iter()
            .position(|l| l.params().iter().any(|p| p.trainable) && l.base().trainable)
            .unwrap_or(self.layers.len());
        if let Some(l) = self.layers[self.first_trainable..]
            .iter()
            .find(|l| !l.differentiable())
        {
            return Err(Error::State(format!(
                "Layer \"{}\" ({}) comes after a trainable layer, but rkeras cannot backpropagate through it; put the resizing and cropping layers at the front of the model",
                l.name(),
                l.class_name()
            )));
        }
        self.built = true;
        self.max_batch = 0;
        self.acts.clear();
        self.grads.clear();
        Ok(())
    }

    /// Per-sample output shape.
    pub fn output_shape(&self) -> Option<&[usize]> {
        if !self.built {
            return None;
        }
        Some(
            self.shapes
                .last()
                .map_or_else(|| self.input_shape.as_deref().unwrap_or(&[]), |s| &s[..]),
        )
    }

    /// Sizes all buffers for batches up to `max_batch` (no-op when already big enough).
    pub fn allocate(&mut self, max_batch: usize) {
        if max_batch <= self.max_batch || !self.built {
            return;
        }
        let input = numel(self.input_shape.as_deref().unwrap_or(&[]));
        let mut lens = vec![input];
        lens.extend(self.shapes.iter().map(|s| numel(s)));
        self.acts = lens.iter().map(|&l| vec![0.0; l * max_batch]).collect();
        self.grads = lens.iter().map(|&l| vec![0.0; l * max_batch]).collect();
        for l in &mut self.layers {
            l.allocate(max_batch);
        }
        self.max_batch = max_batch;
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn len_at(&self, i: usize) -> usize {
        if i == 0 {
            numel(self.input_shape.as_deref().unwrap_or(&[]))
        } else {
            numel(&self.shapes[i - 1])
        }
    }

    /// The input buffer for a batch of `n`.
    pub fn input_mut(&mut self, n: usize) -> &mut [f32] {
        let l = self.len_at(0);
        &mut self.acts[0][..n * l]
    }

    /// The output of the last forward pass for a batch of `n`.
    pub fn output(&self, n: usize) -> &[f32] {
        let last = self.layers.len();
        &self.acts[last][..n * self.len_at(last)]
    }

    /// Runs every layer on the input buffer.
    pub fn forward(&mut self, n: usize, mode: Mode) {
        for i in 0..self.layers.len() {
            let t = self.timings.is_some().then(std::time::Instant::now);
            let (il, ol) = (self.len_at(i), self.len_at(i + 1));
            let (before, after) = self.acts.split_at_mut(i + 1);
            self.layers[i].forward(&before[i][..n * il], &mut after[0][..n * ol], n, mode);
            if let (Some(t), Some(tm)) = (t, self.timings.as_mut()) {
                if let Some(e) = tm.get_mut(i) {
                    e.0 += t.elapsed().as_secs_f64();
                }
            }
        }
    }

    /// Lets `f` read the output and write its gradient; returns what `f` returns.
    pub fn with_output_grad<R>(&mut self, n: usize, f: impl FnOnce(&[f32], &mut [f32]) -> R) -> R {
        let last = self.layers.len();
        let l = self.len_at(last);
        f(&self.acts[last][..n * l], &mut self.grads[last][..n * l])
    }

    /// Zeroes parameter gradients, then runs backward from the output gradient.
    /// `skip_last_activation`: the output gradient is already the pre-activation gradient.
    pub fn backward(&mut self, n: usize, skip_last_activation: bool) {
        for l in &mut self.layers {
            for p in l.params_mut() {
                p.grad.fill(0.0);
            }
        }
        let last = self.layers.len();
        for i in (self.first_trainable..last).rev() {
            let (il, ol) = (self.len_at(i), self.len_at(i + 1));
            let (gb, ga) = self.grads.split_at_mut(i + 1);
            let dx = if i > self.first_trainable {
                Some(&mut gb[i][..n * il])
            } else {
                None
            };
            let ctx = Backward {
                n,
                skip_activation: skip_last_activation && i + 1 == last,
            };
            let t = self.timings.is_some().then(std::time::Instant::now);
            self.layers[i].backward(
                &self.acts[i][..n * il],
                &self.acts[i + 1][..n * ol],
                &mut ga[0][..n * ol],
                dx,
                ctx,
            );
            if let (Some(t), Some(tm)) = (t, self.timings.as_mut()) {
                if let Some(e) = tm.get_mut(i) {
                    e.1 += t.elapsed().as_secs_f64();
                }
            }
        }
    }
}
