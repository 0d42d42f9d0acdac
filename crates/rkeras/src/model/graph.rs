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
    /// For a functional model: the activations each layer reads (`0` is the model input,
    /// `j + 1` the output of layer `j`). `None`: each layer reads the previous one.
    pub wiring: Option<Vec<Vec<usize>>>,
    /// How many layer inputs read each activation (functional models).
    consumers: Vec<usize>,
    /// Per-input gradient buffers of the functional backward pass.
    scratch: Vec<Vec<f32>>,
}

/// Adds the time since `t` to layer `i`'s backward total, when profiling.
fn continue_timing(timings: &mut Option<Vec<(f64, f64)>>, t: Option<std::time::Instant>, i: usize) {
    if let (Some(t), Some(tm)) = (t, timings.as_mut()) {
        if let Some(e) = tm.get_mut(i) {
            e.1 += t.elapsed().as_secs_f64();
        }
    }
}

/// The most inputs one merge layer may take (their slices live on the stack).
pub(crate) const MAX_MERGE_INPUTS: usize = 16;

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
        if let Some(wiring) = &self.wiring {
            return self.build_graph(input_shape, seed, wiring.clone());
        }
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

    /// Builds a functional model's layers in their (topological) order.
    fn build_graph(
        &mut self,
        input_shape: &[usize],
        seed: u64,
        wiring: Vec<Vec<usize>>,
    ) -> Result<()> {
        let mut act_shapes: Vec<Vec<usize>> = vec![input_shape.to_vec()];
        self.consumers = vec![0; self.layers.len() + 1];
        for (i, (layer, ins)) in self.layers.iter_mut().zip(&wiring).enumerate() {
            let mut rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            if ins.is_empty() || ins.iter().any(|&a| a > i) || ins.len() > MAX_MERGE_INPUTS {
                return Err(Error::State(format!(
                    "layer \"{}\": bad graph wiring {ins:?} (inputs must come before it; at most {MAX_MERGE_INPUTS})",
                    layer.name()
                )));
            }
            for &a in ins {
                self.consumers[a] += 1;
            }
            let shape = if layer.is_merge() {
                let shapes: Vec<Vec<usize>> = ins.iter().map(|&a| act_shapes[a].clone()).collect();
                layer.build_merge(&shapes, &mut rng)?
            } else if ins.len() == 1 {
                layer.build(&act_shapes[ins[0]], &mut rng)?
            } else {
                return Err(Error::State(format!(
                    "layer \"{}\" ({}) takes one input, it was given {}",
                    layer.name(),
                    layer.class_name(),
                    ins.len()
                )));
            };
            act_shapes.push(shape.clone());
            self.shapes.push(shape);
        }
        self.input_shape = Some(input_shape.to_vec());
        self.first_trainable = 0;
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
        if let Some(w) = &self.wiring {
            let most = lens.iter().copied().max().unwrap_or(0) * max_batch;
            let k = w.iter().map(Vec::len).max().unwrap_or(1);
            self.scratch = (0..k).map(|_| vec![0.0; most]).collect();
        }
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
        if self.wiring.is_some() {
            return self.forward_graph(n, mode);
        }
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

    /// [`forward`](Self::forward) of a functional model: each layer reads its wired inputs.
    fn forward_graph(&mut self, n: usize, mode: Mode) {
        let Some(wiring) = self.wiring.take() else {
            return;
        };
        for (i, ins) in wiring.iter().enumerate() {
            let t = self.timings.is_some().then(std::time::Instant::now);
            let ol = self.len_at(i + 1);
            let lens: [usize; MAX_MERGE_INPUTS] =
                std::array::from_fn(|k| ins.get(k).map_or(0, |&a| self.len_at(a)));
            let (before, after) = self.acts.split_at_mut(i + 1);
            let y = &mut after[0][..n * ol];
            let layer = &mut self.layers[i];
            if layer.is_merge() {
                let xs: [&[f32]; MAX_MERGE_INPUTS] = std::array::from_fn(|k| match ins.get(k) {
                    Some(&a) => &before[a][..n * lens[k]],
                    None => &[][..],
                });
                layer.forward_merge(&xs[..ins.len()], y, n);
            } else {
                layer.forward(&before[ins[0]][..n * lens[0]], y, n, mode);
            }
            if let (Some(t), Some(tm)) = (t, self.timings.as_mut()) {
                if let Some(e) = tm.get_mut(i) {
                    e.0 += t.elapsed().as_secs_f64();
                }
            }
        }
        self.wiring = Some(wiring);
    }

    /// [`backward`](Self::backward) of a functional model. Every input gradient goes through
    /// a scratch buffer and is then copied (one reader) or added (several readers: the
    /// branches' gradients are summed) into the activation's gradient.
    fn backward_graph(&mut self, n: usize, skip_last_activation: bool) {
        let Some(wiring) = self.wiring.take() else {
            return;
        };
        let last = self.layers.len();
        for (a, &c) in self.consumers.iter().enumerate() {
            if c > 1 && a > 0 {
                let l = self.len_at(a);
                self.grads[a][..n * l].fill(0.0);
            }
        }
        for i in (0..last).rev() {
            let ins = &wiring[i];
            let ol = self.len_at(i + 1);
            let lens: [usize; MAX_MERGE_INPUTS] =
                std::array::from_fn(|k| ins.get(k).map_or(0, |&a| self.len_at(a)));
            let t = self.timings.is_some().then(std::time::Instant::now);
            let (gb, ga) = self.grads.split_at_mut(i + 1);
            let dy = &mut ga[0][..n * ol];
            let y = &self.acts[i + 1][..n * ol];
            let layer = &mut self.layers[i];
            let needs_dx = ins.iter().any(|&a| a > 0);
            if layer.is_merge() {
                let xs: [&[f32]; MAX_MERGE_INPUTS] = std::array::from_fn(|k| match ins.get(k) {
                    Some(&a) => &self.acts[a][..n * lens[k]],
                    None => &[][..],
                });
                let mut it = self.scratch.iter_mut();
                let mut dxs: [&mut [f32]; MAX_MERGE_INPUTS] =
                    std::array::from_fn(|k| match (ins.get(k), it.next()) {
                        (Some(_), Some(s)) => &mut s[..n * lens[k]],
                        _ => &mut [][..],
                    });
                layer.backward_merge(&xs[..ins.len()], y, dy, &mut dxs[..ins.len()], n);
            } else {
                let a = ins[0];
                let x = &self.acts[a][..n * lens[0]];
                let ctx = Backward {
                    n,
                    skip_activation: skip_last_activation && i + 1 == last,
                };
                if a > 0 && self.consumers[a] == 1 {
                    // The only reader of its input: write the gradient in place.
                    layer.backward(x, y, dy, Some(&mut gb[a][..n * lens[0]]), ctx);
                    continue_timing(&mut self.timings, t, i);
                    continue;
                }
                let dx = needs_dx.then(|| &mut self.scratch[0][..n * lens[0]]);
                layer.backward(x, y, dy, dx, ctx);
            }
            if needs_dx {
                for (k, &a) in ins.iter().enumerate() {
                    if a == 0 {
                        continue;
                    }
                    let src = &self.scratch[k][..n * lens[k]];
                    let dst = &mut gb[a][..n * lens[k]];
                    if self.consumers[a] > 1 {
                        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                    } else {
                        dst.copy_from_slice(src);
                    }
                }
            }
            if let (Some(t), Some(tm)) = (t, self.timings.as_mut()) {
                if let Some(e) = tm.get_mut(i) {
                    e.1 += t.elapsed().as_secs_f64();
                }
            }
        }
        self.wiring = Some(wiring);
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
        if self.wiring.is_some() {
            return self.backward_graph(n, skip_last_activation);
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
