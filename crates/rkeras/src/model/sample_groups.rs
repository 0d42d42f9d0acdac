//! Sample groups: a sequential model's runs of layers that treat each sample on its own
//! (convolutions, poolings, flatten, element-wise activations) run group of samples by
//! group of samples, the groups side by side on the thread pool.
//!
//! Layer at a time, every layer of a batch is one parallel region, and each region ends
//! with a core waiting for the other's last task, or starts with one waking the other. A run
//! of such layers done for a group of samples needs one region per run and pass instead of
//! one per layer; idle cores still take over the kernels' tasks of a group that is late
//! (rayon nests the kernels' regions in the group's task).
//!
//! Groups of at least 16 samples: at 8, the small convolutions' GEMMs and their packing
//! lost more on one thread (5–30 % on W1) than the shorter waits gained. At most 2 groups by
//! default: each group's copies cost memory (W2's peak RSS: 242 MiB layer at a time, 255 with
//! 2 groups, 269 with 4), and 2 did as well as 4 on 2 cores.
//!
//! Each group has its own copies of the run's layers (their per-batch buffers; the weights
//! are copied from the model's layers before each forward pass) and of the activations
//! inside the run. The weight gradients of the groups are summed in group order. How a batch
//! splits into groups depends on its size only, so results are bitwise the same on any
//! number of threads.

use crate::error::Result;
use crate::layers::{Backward, Layer, Mode};
use crate::rng::Rng;

use super::profiling::{add_timing, time_weight_grads};

/// Samples per group, at most, until the group count reaches its cap.
pub(crate) const GROUP_SAMPLES: usize = 16;

/// The most groups a batch splits into, unless `RKERAS_SAMPLE_GROUPS` says otherwise
/// (`0` or `1`: layer at a time, for A/B runs).
const DEFAULT_MAX_GROUPS: usize = 2;

/// The cap on the group count.
pub(crate) fn max_groups() -> usize {
    crate::settings::settings()
        .sample_groups
        .unwrap_or(DEFAULT_MAX_GROUPS)
}

/// How a batch of `n` samples splits: `(groups, samples per group)`, the last group holding
/// the rest. Depends on `n` and the cap only.
pub(crate) fn split(n: usize, max_groups: usize) -> (usize, usize) {
    if n == 0 || max_groups == 0 {
        return (n.min(1), n);
    }
    let groups = n.div_ceil(GROUP_SAMPLES).min(max_groups).max(1);
    let size = n.div_ceil(groups);
    (n.div_ceil(size), size)
}

/// The most samples a group holds for batches of up to `max_batch`.
pub(crate) fn group_capacity(max_batch: usize, max_groups: usize) -> usize {
    (1..=max_batch)
        .map(|n| split(n, max_groups).1)
        .max()
        .unwrap_or(0)
}

/// What a run needs to know of the model around it (a sequential chain's layout: activation
/// `0` is the input, `i + 1` the output of layer `i`, or of the pooling it absorbed).
#[derive(Clone, Copy)]
pub(crate) struct Layout<'a> {
    /// Per-sample length of each activation.
    pub lens: &'a [usize],
    /// `pools[i] = Some(j)`: layer `i` computes pooling `j` too.
    pub pools: &'a [Option<usize>],
    /// `absorbed[j]`: layer `j` is such a pooling.
    pub absorbed: &'a [bool],
    /// Backward stops at this layer.
    pub first_trainable: usize,
    /// Number of layers (the model's output is activation `last`).
    pub last: usize,
}

impl<'a> Layout<'a> {
    /// The layout of a sequential chain's fields (borrowed one by one, so that the chain's
    /// other fields stay free).
    pub fn of_chain(
        lens: &'a [usize],
        pools: &'a [Option<usize>],
        absorbed: &'a [bool],
        first_trainable: usize,
        last: usize,
    ) -> Self {
        Layout {
            lens,
            pools,
            absorbed,
            first_trainable,
            last,
        }
    }
    fn out_act(&self, i: usize) -> usize {
        1 + self.pools.get(i).copied().flatten().unwrap_or(i)
    }
    fn absorbed(&self, i: usize) -> bool {
        self.absorbed.get(i).copied().unwrap_or(false)
    }
}

/// Per-layer profiling accumulators of the chain (see `Chain::timings`), used when the
/// groups run one after the other.
pub(crate) struct Profile<'a> {
    pub timings: &'a mut Option<Vec<(f64, f64)>>,
    pub kernel_only: &'a mut Option<(Vec<f64>, Vec<f32>)>,
}

/// Layers `start..end` of a sequential chain, run by sample groups.
#[derive(Debug)]
pub(crate) struct Segment {
    pub start: usize,
    pub end: usize,
    /// One per group, up to the cap.
    pub runs: Vec<GroupRun>,
}

/// One group's copies of the segment's layers and of the activations inside the segment.
#[derive(Debug)]
pub(crate) struct GroupRun {
    /// The segment's first layer.
    start: usize,
    layers: Vec<Box<dyn Layer>>,
    /// Indexed by activation minus the segment's start; the first and the last (the
    /// segment's input and output, in the chain's buffers) stay empty.
    acts: Vec<Vec<f32>>,
    grads: Vec<Vec<f32>>,
}

/// The runs worth grouping: maximal runs of at least two layers that all say
/// [`Layer::per_sample`], holding a layer with weights, and not splitting a layer from the
/// pooling it absorbed.
pub(crate) fn plan(layers: &[Box<dyn Layer>], pools: &[Option<usize>]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        if !layers[i].per_sample() {
            i += 1;
            continue;
        }
        let start = i;
        while i < layers.len() && layers[i].per_sample() {
            i += 1;
        }
        // A layer whose absorbed pooling lies past the run cannot be in it (it cannot: a
        // pooling is per sample, but stay safe for custom layers).
        let mut end = i;
        while end > start
            && (start..end).any(|k| pools.get(k).copied().flatten().is_some_and(|j| j >= end))
        {
            end -= 1;
        }
        let weighted = layers[start..end].iter().any(|l| !l.params().is_empty());
        if end - start >= 2 && weighted {
            out.push((start, end));
        }
    }
    out
}

impl GroupRun {
    /// Copies of `layers[start..end]` (built for their input shapes, absorbing the same
    /// poolings), with buffers for `cap` samples.
    pub fn new(
        layers: &[Box<dyn Layer>],
        (start, end): (usize, usize),
        shapes: &[Vec<usize>],
        layout: Layout<'_>,
        cap: usize,
        scratch: &rkeras_kernels::Scratch,
    ) -> Result<Self> {
        let mut rng = Rng::new(0);
        let mut twins = Vec::with_capacity(end - start);
        for (i, layer) in layers.iter().enumerate().take(end).skip(start) {
            let mut twin = crate::layers::twin_of(layer.as_ref())?;
            twin.build(&shapes[i], &mut rng)?;
            if let Some(j) = layout.pools.get(i).copied().flatten() {
                if !twin.absorb_max_pool(layers[j].max_pool_geom()) {
                    return Err(crate::Error::State(format!(
                        "layer \"{}\": its copy for a sample group does not take the pooling it \
                         computes",
                        layer.name()
                    )));
                }
            }
            twin.share_scratch(scratch);
            twin.allocate(cap);
            twins.push(twin);
        }
        // Interior activations, except the unwritten output of a layer that absorbed the
        // pooling after it.
        let bufs = || {
            (start..=end)
                .map(|a| {
                    let interior = a > start && a < end;
                    if interior && layout.pools.get(a - 1).copied().flatten().is_none() {
                        vec![0.0; layout.lens[a] * cap]
                    } else {
                        Vec::new()
                    }
                })
                .collect::<Vec<_>>()
        };
        Ok(GroupRun {
            start,
            layers: twins,
            acts: bufs(),
            grads: bufs(),
        })
    }

    /// Takes the weights (and trainable flags) of the model's layers.
    pub fn sync(&mut self, originals: &[Box<dyn Layer>]) {
        for (t, o) in self.layers.iter_mut().zip(originals) {
            t.base_mut().trainable = o.base().trainable;
            for (tp, op) in t.params_mut().iter_mut().zip(o.params()) {
                tp.trainable = op.trainable;
                tp.value.copy_from_slice(&op.value);
            }
        }
    }

    /// Adds this group's weight gradients to the model's layers' (`originals`, the
    /// segment's), for the layers from `first_trainable` on (the model's index): the
    /// backward pass reaches no layer before it.
    pub fn add_grads(&self, originals: &mut [Box<dyn Layer>], first_trainable: usize) {
        let skip = first_trainable.saturating_sub(self.start);
        for (t, o) in self.layers.iter().zip(originals).skip(skip) {
            for (tp, op) in t.params().iter().zip(o.params_mut()) {
                op.grad.iter_mut().zip(&tp.grad).for_each(|(g, d)| *g += d);
            }
        }
    }

    /// Runs the segment forward for one group: `x` is its slice of the segment's input, `y`
    /// of its output.
    pub fn forward(
        &mut self,
        layout: Layout<'_>,
        x: &[f32],
        y: &mut [f32],
        mode: Mode,
        mut prof: Option<&mut Profile<'_>>,
    ) {
        let start = self.start;
        let end = start + self.layers.len();
        let m = y.len() / layout.lens[end].max(1);
        for (k, layer) in self.layers.iter_mut().enumerate() {
            let i = start + k;
            if layout.absorbed(i) {
                continue;
            }
            let t = prof.is_some().then(std::time::Instant::now);
            let o = layout.out_act(i);
            let (before, after) = self.acts.split_at_mut(o - start);
            let input = if i == start {
                x
            } else {
                &before[i - start][..m * layout.lens[i]]
            };
            let output = if o == end {
                &mut *y
            } else {
                &mut after[0][..m * layout.lens[o]]
            };
            layer.forward(input, output, m, mode);
            if let Some(p) = prof.as_mut() {
                add_timing(p.timings, t, i, false);
            }
        }
    }

    /// Zeroes this group's weight gradients, then runs the segment backward for the group:
    /// `x` and `y` are its slices of the segment's input and output, `dy` of the output's
    /// gradient (overwritten freely), `dx` of the input's (when wanted).
    pub fn backward(
        &mut self,
        layout: Layout<'_>,
        (x, y): (&[f32], &[f32]),
        dy: &mut [f32],
        mut dx: Option<&mut [f32]>,
        skip_last_activation: bool,
        mut prof: Option<&mut Profile<'_>>,
    ) {
        let start = self.start;
        let end = start + self.layers.len();
        let m = dy.len() / layout.lens[end].max(1);
        let lo = start.max(layout.first_trainable);
        // The layers before `lo` run no backward pass and their gradients are not added to
        // the model's (`add_grads`).
        for l in &mut self.layers[lo.min(end) - start..] {
            for p in l.params_mut() {
                p.grad.fill(0.0);
            }
        }
        for i in (lo..end).rev() {
            if layout.absorbed(i) {
                continue;
            }
            let layer = &mut self.layers[i - start];
            let o = layout.out_act(i);
            let (il, ol) = (layout.lens[i], layout.lens[o]);
            let input = if i == start {
                x
            } else {
                &self.acts[i - start][..m * il]
            };
            let output = if o == end {
                y
            } else {
                &self.acts[o - start][..m * ol]
            };
            let (gb, ga) = self.grads.split_at_mut(o - start);
            let g_out = if o == end {
                &mut *dy
            } else {
                &mut ga[0][..m * ol]
            };
            let g_in = if i <= layout.first_trainable {
                None
            } else if i == start {
                dx.take()
            } else {
                Some(&mut gb[i - start][..m * il])
            };
            let ctx = Backward {
                n: m,
                skip_activation: skip_last_activation && o == layout.last,
                accumulate: false,
            };
            if let Some(k) = prof.as_mut().and_then(|p| p.kernel_only.as_mut()) {
                time_weight_grads(k, i, layer.as_mut(), (input, output), g_out, ctx);
            }
            let t = prof.is_some().then(std::time::Instant::now);
            layer.backward(input, output, g_out, g_in, ctx);
            if let Some(p) = prof.as_mut() {
                add_timing(p.timings, t, i, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_by_size_alone() {
        assert_eq!(split(1, 4), (1, 1));
        assert_eq!(split(16, 4), (1, 16));
        assert_eq!(split(17, 4), (2, 9));
        assert_eq!(split(32, 4), (2, 16));
        assert_eq!(split(40, 4), (3, 14));
        assert_eq!(split(128, 4), (4, 32));
        assert_eq!(split(129, 4), (4, 33));
        assert_eq!(split(128, 1), (1, 128));
        assert_eq!(split(0, 4), (0, 0));
        for cap in 1..=8 {
            for n in 1..300 {
                let (g, s) = split(n, cap);
                assert!(g >= 1 && g <= cap, "n {n} cap {cap}");
                assert!((g - 1) * s < n && g * s >= n, "n {n} cap {cap}: {g} x {s}");
                assert!(s <= group_capacity(n.max(40), cap));
            }
        }
    }
}
