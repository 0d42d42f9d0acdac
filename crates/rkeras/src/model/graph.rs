//! The executor: layers in order, their shapes, and the preplanned activation and gradient
//! buffers. Sequential models run on it directly, functional models through their
//! [`Wiring`]; every buffer is sized once per maximum batch size, so a training step never
//! allocates.

use super::buffer_pool::BufferPool;
use super::profiling::{add_timing, time_weight_grads};
use crate::error::{Error, Result};
use crate::layers::twin_of;
use crate::layers::{Backward, Layer, Mode};
use crate::rng::Rng;
use crate::shape::numel;
use rkeras_kernels::Act;
use sample_groups::{Layout, Profile, Segment};

use super::sample_groups;

/// One call of a layer in a functional graph.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    /// The layer (index into `Chain::layers`).
    pub layer: usize,
    /// Which call of that layer this is (0: the first; later calls share its weights).
    pub call: usize,
    /// The activations it reads (see [`Wiring`] for the numbering).
    pub ins: Vec<usize>,
}

/// A functional model's graph.
///
/// Activations are numbered: `0` is the batch of packed inputs (the model's inputs side by
/// side in each row); with one input it *is* input 0, with `k > 1` inputs, input `j` is
/// activation `1 + j`. The output of call `i` is activation `first_call() + i`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Wiring {
    /// Per-sample shapes of the model's inputs.
    pub inputs: Vec<Vec<usize>>,
    /// The layer calls, in execution order.
    pub calls: Vec<Call>,
    /// The activations that are the model's outputs, in order.
    pub outputs: Vec<usize>,
}

impl Wiring {
    /// The activation of input `j`.
    pub fn input_act(&self, j: usize) -> usize {
        if self.inputs.len() == 1 {
            0
        } else {
            1 + j
        }
    }
    /// The activation of the first call's output.
    pub fn first_call(&self) -> usize {
        if self.inputs.len() == 1 {
            1
        } else {
            1 + self.inputs.len()
        }
    }
    /// True when the loss can read and write the single output's buffers in place.
    fn direct_output(&self) -> bool {
        match self.outputs.as_slice() {
            [o] => *o >= self.first_call() && !self.calls.iter().any(|c| c.ins.contains(o)),
            _ => false,
        }
    }
}

/// A grouped run's pass: forward in a mode, or backward (with the output gradient already
/// the pre-activation gradient, or not).
#[derive(Clone, Copy)]
enum Pass {
    Forward(Mode),
    Backward(bool),
}

/// Widens a buffer's live span (first and last step) to take in `step`.
fn widen(span: &mut Option<(usize, usize)>, step: usize) {
    *span = Some(span.map_or((step, step), |(s, e)| (s.min(step), e.max(step))));
}

/// Layers in execution order plus their buffers.
#[derive(Debug, Default)]
pub(crate) struct Chain {
    pub layers: Vec<Box<dyn Layer>>,
    /// Per-sample input shape (functional models with several inputs: their packed length).
    pub input_shape: Option<Vec<usize>>,
    /// Output shape of each layer (per sample; a shared layer's first call), once built.
    pub shapes: Vec<Vec<usize>>,
    pub built: bool,
    /// Sequential: `acts[0]` is the input batch, `acts[i + 1]` the output of layer `i`.
    /// Functional: numbered as [`Wiring`] says.
    /// Training: one buffer each; a model allocated for inference only: buffers shared by
    /// liveness (see [`BufferPool`]).
    acts: BufferPool,
    /// The buffers are planned for inference only (no gradients; activations shared).
    infer_only: bool,
    /// The gradients of the activations (same indexing; the inputs have none), in buffers
    /// shared by liveness, followed by the backward pass's scratch buffers (see
    /// [`BufferPool`] and `Chain::plan_grads`).
    grads: BufferPool,
    /// Functional models: per backward step (0: the loss's gradients, `calls - i`: call `i`),
    /// the gradients that become live there and are summed into, zero-filled first.
    zero_at: Vec<Vec<usize>>,
    /// Functional models, per activation read by several calls: the call that writes its
    /// gradient first in the backward pass (it overwrites, the later ones add; no
    /// zero-filling), or `usize::MAX` where the gradient is zero-filled (`zero_at`).
    grad_first: Vec<usize>,
    /// Functional models, per call: the first of its scratch entries in `grads` (input
    /// gradients computed aside, then copied or summed into the inputs' gradients).
    scratch_at: Vec<usize>,
    /// Functional models, per activation: whether the backward pass needs its gradient (a
    /// call that produces it, or one before it, has trainable weights). A frozen backbone's
    /// activations need none: its calls are skipped and their gradients never planned.
    grad_needed: Vec<bool>,
    /// Functional models, per call: whether its backward pass runs (it has trainable
    /// weights, or one of its inputs needs a gradient).
    call_needed: Vec<bool>,
    /// Functional models, per layer: whether the backward pass runs one of its calls
    /// (`call_needed`), so that its weight gradients are zeroed before each pass.
    layer_needed: Vec<bool>,
    /// Every weight gradient a pass wrote before (`grads_written`), frozen layers' included,
    /// must be zeroed before the next backward pass: set when the buffers or the trainable
    /// flags change. After that pass only the layers the pass reaches are zeroed (a frozen
    /// backbone's gradients stay zero).
    zero_all_grads: bool,
    /// Per layer: its weight gradients may be nonzero (a backward pass reached it since
    /// they were last zeroed). The layers' weights, gradients included, are created zero
    /// when the model is built; clearing a frozen layer's untouched gradients would write
    /// (and map) its pages for nothing.
    grads_written: Vec<bool>,
    /// Functional models, per call: its inference fold (`folds`) runs in training too, as
    /// no call of the fold has a backward pass or runs differently in training (a frozen
    /// backbone's convolution, normalization and activation: one pass, as in `predict`).
    frozen_folds: Vec<bool>,
    /// Runs every call's backward pass and computes every activation's gradient, needed or
    /// not (tests compare both ways).
    pub(crate) all_grads: bool,
    /// Gives every gradient (and, for inference, every activation) a buffer of its own
    /// (tests compare both ways).
    pub(crate) no_memory_plan: bool,
    /// Per-sample length of each activation.
    act_lens: Vec<usize>,
    /// Per-sample shape of each activation.
    act_shapes: Vec<Vec<usize>>,
    max_batch: usize,
    /// Backward stops at this layer (the first one with trainable weights).
    first_trainable: usize,
    /// Per-layer accumulated (forward, backward) seconds, when profiling is on.
    pub timings: Option<Vec<(f64, f64)>>,
    /// When profiling splits the backward pass (sequential models): per layer, the seconds of
    /// an extra backward call that computes the weight gradients only, and the copy of the
    /// output gradient it is run on (a layer may change its `dy` in place).
    pub kernel_only: Option<(Vec<f64>, Vec<f32>)>,
    /// A functional model's graph; `None`: each layer reads the previous one.
    pub wiring: Option<Wiring>,
    /// For each call after a layer's first: a twin layer with its own buffers, whose
    /// weights are copied from the first call's layer before each forward pass and whose
    /// gradients are added to it after each backward pass. Indexed like `wiring.calls`.
    twins: Vec<Option<Box<dyn Layer>>>,
    /// How many readers each activation has (layer inputs, plus the loss for packed outputs).
    consumers: Vec<usize>,
    /// Several outputs (or an output other layers read): the outputs side by side per row,
    /// and the loss's gradient in the same layout.
    packed_out: Vec<f32>,
    packed_grad: Vec<f32>,
    /// `pools[i] = Some(j)`: layer (sequential) or call (functional) `i` computes the max
    /// pooling of `j` too (see [`Layer::absorb_max_pool`]) and writes `j`'s output.
    pools: Vec<Option<usize>>,
    /// `absorbed[j]`: `j` is such a pooling; it is skipped.
    absorbed: Vec<bool>,
    /// Turns the absorption of max poolings off (tests compare both ways), and the folding
    /// of BatchNormalization into convolutions for inference.
    pub no_fusion: bool,
    /// Functional models, per call: inference folds the `BatchNormalization` (and a ReLU
    /// `Activation` after it) that alone reads a convolution's output into the convolution.
    folds: Vec<Fold>,
    /// Functional models, per call, in training: `Some(k)` on a normalization, or an `Add`
    /// that passes its gradient on, whose only reader is the element-wise activation call
    /// `k` (one whose gradient needs only its output): the call writes the activation's
    /// output in the same pass, and `k`'s forward pass is skipped (`train_inside[k]`). The
    /// call's own output is then never written (nothing reads it: the activation's
    /// derivative is taken from its output, in the call's backward pass when `k` follows
    /// it, see `backward_fold`, else in `k`'s own).
    train_folds: Vec<Option<usize>>,
    train_inside: Vec<bool>,
    /// Sequential models: the runs of per-sample layers executed by sample groups.
    segments: Vec<Segment>,
    /// The cap on the number of sample groups (see [`sample_groups::split`]).
    max_groups: usize,
    /// The cap set by [`crate::Model::set_sample_groups`] (else the default).
    group_cap: Option<usize>,
    /// The scratch every layer shares (see [`Layer::share_scratch`]).
    scratch: rkeras_kernels::Scratch,
}

/// A call's part in an inference fold (see `Chain::folds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fold {
    /// Runs as it is.
    No,
    /// A convolution that runs the normalization call `bn` (and the activation layer's
    /// call `act`) too.
    Head { bn: usize, act: Option<usize> },
    /// A `BatchNormalization` not folded into a convolution that runs the activation
    /// layer's call `act` (its only reader) in its own pass.
    NormHead { act: usize },
    /// A merge (`Add`, ...) that runs the activation layer's call `act` (its only reader)
    /// in its own pass.
    MergeHead { act: usize },
    /// A 1x1 convolution that runs the normalization call `bn`, the two-input `Add` call
    /// `add` that alone reads it (its other input the activation `other`, computed
    /// earlier), and the activation layer's call `act` after the sum: a residual block's
    /// end in one pass.
    Residual {
        bn: usize,
        add: usize,
        act: Option<usize>,
        other: usize,
    },
    /// Folded into an earlier call: skipped in inference.
    Inside,
}

/// An element-wise activation layer that an inference fold may run in the pass before it.
fn folds_activation(l: &dyn Layer) -> bool {
    matches!(l.class_name(), "Activation" | "ReLU" | "LeakyReLU" | "ELU")
        && l.activation().is_some_and(|a| a != Act::Softmax)
}

/// Fusion of max poolings into the layer before them, unless `RKERAS_FUSE_POOL=0`.
fn fusion_enabled() -> bool {
    crate::settings::settings().fuse_pool
}

/// The most inputs one merge layer may take (their slices live on the stack).
pub(crate) const MAX_MERGE_INPUTS: usize = 16;

/// Copies column block `[off, off + len)` of each of `n` rows of width `width` from `src`
/// into the contiguous `dst` (`unpack`), or back (`pack`).
pub(crate) fn unpack_cols(
    src: &[f32],
    width: usize,
    off: usize,
    len: usize,
    n: usize,
    dst: &mut [f32],
) {
    for r in 0..n {
        dst[r * len..(r + 1) * len].copy_from_slice(&src[r * width + off..r * width + off + len]);
    }
}

/// The inverse of [`unpack_cols`].
pub(crate) fn pack_cols(
    src: &[f32],
    width: usize,
    off: usize,
    len: usize,
    n: usize,
    dst: &mut [f32],
) {
    for r in 0..n {
        dst[r * width + off..r * width + off + len].copy_from_slice(&src[r * len..(r + 1) * len]);
    }
}

/// A call's backward pass: [`Layer::backward`], or with `fold` the backward pass of the
/// layer and the activation after it (`y` and `dy` are then the activation's), as
/// [`Layer::backward_act`] runs it (or the activation's derivative first, where it cannot).
fn backward_call(
    layer: &mut dyn Layer,
    fold: Option<Act>,
    x: &[f32],
    y: &[f32],
    dy: &mut [f32],
    mut dx: Option<&mut [f32]>,
    ctx: Backward,
) {
    if let Some(act) = fold {
        if layer.backward_act(x, y, dy, dx.as_deref_mut(), ctx, act) {
            return;
        }
        let cols = y.len() / ctx.n.max(1);
        rkeras_kernels::activation::backward_inplace(act, None, y, dy, cols);
    }
    layer.backward(x, y, dy, dx, ctx);
}

impl Chain {
    /// The trainable weights of the trainable layers, in the optimizer's slot order.
    pub(crate) fn trainable_params_mut(
        &mut self,
    ) -> impl Iterator<Item = &mut crate::layers::Param> + '_ {
        self.layers
            .iter_mut()
            .filter(|l| l.base().trainable)
            .flat_map(|l| l.params_mut().iter_mut().filter(|p| p.trainable))
    }

    /// The weight penalties `evaluate` adds to the loss: the trainable layers' only, as
    /// Keras's `model.losses` (a frozen layer's regularizers count for nothing).
    pub fn regularization_loss(&self) -> f64 {
        self.layers
            .iter()
            .filter(|l| l.base().trainable)
            .map(|l| l.regularization_loss())
            .sum()
    }

    /// A functional model's per-sample input shape: its one input's, or the packed length
    /// of several.
    pub fn input_shape_of_wiring(&self) -> Vec<usize> {
        match self.wiring.as_ref().map(|w| w.inputs.as_slice()) {
            Some([one]) => one.clone(),
            Some(many) => vec![many.iter().map(|s| numel(s)).sum()],
            None => self.input_shape.clone().unwrap_or_default(),
        }
    }

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
        if self.wiring.is_some() {
            return self.build_graph(seed);
        }
        check_sample("the input", &shape)?;
        self.act_shapes = vec![shape.clone()];
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let mut rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            shape = layer.build(&shape, &mut rng)?;
            check_sample(&format!("layer \"{}\"", layer.name()), &shape)?;
            self.shapes.push(shape.clone());
            self.act_shapes.push(shape.clone());
        }
        self.act_lens = self.act_shapes.iter().map(|s| numel(s)).collect();
        self.absorb_poolings();
        self.input_shape = Some(input_shape.to_vec());
        self.find_first_trainable()?;
        self.finish_build();
        Ok(())
    }

    /// Where a sequential model's backward pass stops: the first layer with trainable
    /// weights; a layer after it that cannot backpropagate is an error.
    fn find_first_trainable(&mut self) -> Result<()> {
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
        Ok(())
    }

    /// Sets layer `i`'s `trainable` flag (and its twins'), then plans the backward pass and
    /// the sample groups' copies again before the next batch.
    ///
    /// # Errors
    /// A layer rkeras cannot backpropagate through would come after a trainable one.
    pub(crate) fn set_trainable(&mut self, i: usize, trainable: bool) -> Result<()> {
        let before = self.layers[i].base().trainable;
        self.layers[i].base_mut().trainable = trainable;
        self.zero_all_grads = true;
        if let Some(w) = &self.wiring {
            for (c, call) in w.calls.iter().enumerate() {
                if call.layer == i {
                    if let Some(t) = self.twins.get_mut(c).and_then(Option::as_mut) {
                        t.base_mut().trainable = trainable;
                    }
                }
            }
        } else if self.built {
            if let Err(e) = self.find_first_trainable() {
                self.layers[i].base_mut().trainable = before;
                self.find_first_trainable()?;
                return Err(e);
            }
        }
        if self.built {
            self.max_batch = 0;
        }
        Ok(())
    }

    /// Lets each layer take over the max pooling that reads its output, where it can: in a
    /// sequential model the next layer; in a functional one a pooling that is the only reader
    /// of a call's output (not a model output, neither layer shared).
    fn absorb_poolings(&mut self) {
        let calls = match &self.wiring {
            Some(w) => w.calls.len(),
            None => self.layers.len(),
        };
        self.pools = vec![None; calls];
        self.absorbed = vec![false; calls];
        for l in &mut self.layers {
            l.absorb_max_pool(None);
        }
        if self.no_fusion || !fusion_enabled() {
            return;
        }
        // (producer, pooling) candidates.
        let pairs: Vec<(usize, usize)> = match &self.wiring {
            None => (1..calls).map(|j| (j - 1, j)).collect(),
            Some(w) => {
                let first = w.first_call();
                let shared = |layer: usize| w.calls.iter().filter(|c| c.layer == layer).count() > 1;
                w.calls
                    .iter()
                    .enumerate()
                    .filter_map(|(j, c)| {
                        let &[a] = c.ins.as_slice() else { return None };
                        let i = a.checked_sub(first)?;
                        let alone = self.consumers[a] == 1 && !w.outputs.contains(&a);
                        let single = !shared(c.layer) && !shared(w.calls[i].layer);
                        (alone && single).then_some((i, j))
                    })
                    .collect()
            }
        };
        for (i, j) in pairs {
            if self.absorbed[i] || self.pools[i].is_some() {
                continue;
            }
            let (li, lj) = match &self.wiring {
                Some(w) => (w.calls[i].layer, w.calls[j].layer),
                None => (i, j),
            };
            let Some(p) = self.layers[lj].max_pool_geom() else {
                continue;
            };
            if self.layers[li].absorb_max_pool(Some(p)) {
                self.pools[i] = Some(j);
                self.absorbed[j] = true;
            }
        }
    }

    /// Layer or call `i` is a pooling computed by its producer.
    fn is_absorbed(&self, i: usize) -> bool {
        self.absorbed.get(i).copied().unwrap_or(false)
    }

    /// The activation that layer or call `i` writes (the pooled one when it absorbed a
    /// pooling); `first` is the activation of the first call's output.
    fn out_act(&self, i: usize, first: usize) -> usize {
        first + self.pools.get(i).copied().flatten().unwrap_or(i)
    }

    fn finish_build(&mut self) {
        self.built = true;
        self.zero_all_grads = true;
        self.grads_written = vec![false; self.layers.len()];
        self.max_batch = 0;
        self.acts = BufferPool::default();
        self.grads = BufferPool::default();
    }

    /// Builds a functional model's layers call by call (a topological order); a shared
    /// layer's later calls get twins.
    fn build_graph(&mut self, seed: u64) -> Result<()> {
        let Some(wiring) = self.wiring.clone() else {
            return Ok(());
        };
        let k = wiring.inputs.len();
        let first = wiring.first_call();
        for shape in &wiring.inputs {
            check_sample("the input", shape)?;
        }
        let packed: Vec<usize> = match wiring.inputs.as_slice() {
            [one] => one.clone(),
            many => vec![many.iter().map(|s| numel(s)).sum()],
        };
        let mut act_shapes: Vec<Vec<usize>> = vec![packed.clone()];
        if k > 1 {
            act_shapes.extend(wiring.inputs.iter().cloned());
        }
        self.consumers = vec![0; first + wiring.calls.len()];
        self.shapes = vec![Vec::new(); self.layers.len()];
        self.twins = (0..wiring.calls.len()).map(|_| None).collect();
        for (i, call) in wiring.calls.iter().enumerate() {
            let mut rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let name = self.layers[call.layer].name().to_string();
            let ins = &call.ins;
            let bad_input = |&a: &usize| a >= first + i || (a == 0 && k > 1);
            if ins.is_empty() || ins.iter().any(bad_input) || ins.len() > MAX_MERGE_INPUTS {
                return Err(Error::State(format!(
                    "layer \"{name}\": bad graph wiring {ins:?} (inputs must come before it; at most {MAX_MERGE_INPUTS})"
                )));
            }
            for &a in ins {
                self.consumers[a] += 1;
            }
            let mut twin = if call.call > 0 {
                Some(twin_of(self.layers[call.layer].as_ref())?)
            } else {
                None
            };
            let layer: &mut dyn Layer = match twin.as_mut() {
                Some(t) => t.as_mut(),
                None => self.layers[call.layer].as_mut(),
            };
            let shape = if layer.is_merge() {
                let shapes: Vec<Vec<usize>> = ins.iter().map(|&a| act_shapes[a].clone()).collect();
                layer.build_merge(&shapes, &mut rng)?
            } else if ins.len() == 1 {
                layer.build(&act_shapes[ins[0]], &mut rng)?
            } else {
                return Err(Error::State(format!(
                    "layer \"{name}\" ({}) takes one input, it was given {}",
                    layer.class_name(),
                    ins.len()
                )));
            };
            check_sample(&format!("layer \"{name}\""), &shape)?;
            if let Some(t) = &twin {
                let owner = &self.layers[call.layer];
                let mine: Vec<&[usize]> = t.params().iter().map(|p| p.shape.as_slice()).collect();
                let theirs: Vec<&[usize]> =
                    owner.params().iter().map(|p| p.shape.as_slice()).collect();
                if mine != theirs {
                    return Err(Error::IncompatibleShape {
                        layer: name,
                        expected: format!(
                            "an input that gives the weights of its first call {theirs:?}"
                        ),
                        received: format!(
                            "{} (weights {mine:?})",
                            crate::shape::batch_shape_str(&act_shapes[ins[0]])
                        ),
                    });
                }
            } else {
                self.shapes[call.layer] = shape.clone();
            }
            self.twins[i] = twin;
            act_shapes.push(shape);
        }
        let direct = wiring.direct_output();
        for &o in &wiring.outputs {
            if o < first {
                return Err(Error::State(
                    "an output of the model is one of its inputs".into(),
                ));
            }
            if !direct {
                self.consumers[o] += 1;
            }
        }
        self.act_lens = act_shapes.iter().map(|s| numel(s)).collect();
        self.act_shapes = act_shapes;
        self.input_shape = Some(packed);
        self.first_trainable = 0;
        self.absorb_poolings();
        self.plan_folds(&wiring);
        self.finish_build();
        Ok(())
    }

    /// Finds the convolutions (`Conv2D`, `DepthwiseConv2D`) whose output only a
    /// `BatchNormalization` reads (and that normalization's output only an element-wise
    /// activation layer: `Activation`, `ReLU`, `LeakyReLU`, `ELU`), none of them shared or an
    /// output of the model: inference runs each such chain as one call (`Fold`).
    fn plan_folds(&mut self, wiring: &Wiring) {
        let calls = &wiring.calls;
        self.folds = vec![Fold::No; calls.len()];
        self.train_folds = vec![None; calls.len()];
        self.train_inside = vec![false; calls.len()];
        if self.no_fusion || !fusion_enabled() {
            return;
        }
        let first = wiring.first_call();
        // The only reader of call i's output, when it reads nothing else and is not shared.
        let sole_reader = |i: usize| -> Option<usize> {
            let out = first + i;
            if self.consumers[out] != 1 || wiring.outputs.contains(&out) {
                return None;
            }
            let j = (i + 1..calls.len()).find(|&j| calls[j].ins.contains(&out))?;
            (calls[j].ins.len() == 1 && self.twins[j].is_none() && calls[j].call == 0).then_some(j)
        };
        for i in 0..calls.len() {
            let plain = self.twins[i].is_none()
                && calls[i].call == 0
                && !self.is_absorbed(i)
                && self.pools.get(i).copied().flatten().is_none()
                && self.layers[calls[i].layer].folds_affine();
            if !plain || self.folds[i] != Fold::No {
                continue;
            }
            let Some(bn) = sole_reader(i) else { continue };
            if self.layers[calls[bn].layer].class_name() != "BatchNormalization" {
                continue;
            }
            let act = sole_reader(bn).filter(|&k| folds_activation(&*self.layers[calls[k].layer]));
            self.folds[i] = Fold::Head { bn, act };
            self.folds[bn] = Fold::Inside;
            if let Some(k) = act {
                self.folds[k] = Fold::Inside;
            }
        }
        // A normalization left (its input is not a foldable convolution's, as in DenseNet's
        // and the V2 ResNets' pre-activation blocks) takes the activation after it.
        for i in 0..calls.len() {
            let l = &self.layers[calls[i].layer];
            if self.folds[i] != Fold::No
                || self.twins[i].is_some()
                || calls[i].call != 0
                || calls[i].ins.len() != 1
                || l.class_name() != "BatchNormalization"
            {
                continue;
            }
            if let Some(k) =
                sole_reader(i).filter(|&k| folds_activation(&*self.layers[calls[k].layer]))
            {
                self.folds[i] = Fold::NormHead { act: k };
                self.folds[k] = Fold::Inside;
            }
        }
        // Training: every normalization, and every merge that passes its gradient on
        // unchanged (an `Add` with no broadcasting: a residual block's end), takes the
        // activation after it when that activation's gradient needs only its output; the
        // backward pass then takes the derivative in the call's own pass (`backward_fold`).
        for i in 0..calls.len() {
            let l = &self.layers[calls[i].layer];
            let head = if l.is_merge() {
                l.passes_gradient()
            } else {
                calls[i].ins.len() == 1 && l.class_name() == "BatchNormalization"
            };
            if self.twins[i].is_some() || calls[i].call != 0 || !head {
                continue;
            }
            if let Some(k) = sole_reader(i).filter(|&k| {
                let a = &*self.layers[calls[k].layer];
                folds_activation(a) && a.activation().is_some_and(|a| !a.backward_needs_input())
            }) {
                self.train_folds[i] = Some(k);
                self.train_inside[k] = true;
            }
        }
        // A merge (a residual block's Add) takes the activation after it.
        for i in 0..calls.len() {
            if self.folds[i] != Fold::No
                || self.twins[i].is_some()
                || calls[i].call != 0
                || !self.layers[calls[i].layer].is_merge()
            {
                continue;
            }
            if let Some(k) =
                sole_reader(i).filter(|&k| folds_activation(&*self.layers[calls[k].layer]))
            {
                self.folds[i] = Fold::MergeHead { act: k };
                self.folds[k] = Fold::Inside;
            }
        }
        // A 1x1 convolution and its normalization whose output only an `Add` reads (a
        // residual block's end): the sum, and the activation after it, join the fold.
        for i in 0..calls.len() {
            let Fold::Head { bn, act: None } = self.folds[i] else {
                continue;
            };
            let out = first + bn;
            if self.consumers[out] != 1 || wiring.outputs.contains(&out) {
                continue;
            }
            let Some(j) = (bn + 1..calls.len()).find(|&j| calls[j].ins.contains(&out)) else {
                continue;
            };
            let ins = &calls[j].ins;
            if self.layers[calls[j].layer].class_name() != "Add"
                || ins.len() != 2
                || ins[0] == ins[1]
                || self.twins[j].is_some()
                || calls[j].call != 0
            {
                continue;
            }
            let other = if ins[0] == out { ins[1] } else { ins[0] };
            let len = self.act_lens[out];
            // Computed before the convolution runs, the same shape, no broadcasting.
            let ready = other < first || other - first < i;
            if !ready || self.act_lens[other] != len || self.act_lens[first + j] != len {
                continue;
            }
            let act = match self.folds[j] {
                Fold::No => None,
                Fold::MergeHead { act } => Some(act),
                _ => continue,
            };
            self.folds[i] = Fold::Residual {
                bn,
                add: j,
                act,
                other,
            };
            self.folds[j] = Fold::Inside;
        }
    }

    /// Runs the residual fold headed by call `i` (see `Fold::Residual`); `false` if the
    /// convolution could not, and nothing was written.
    fn run_residual_fold(&mut self, wiring: &Wiring, i: usize, n: usize) -> bool {
        let Some(Fold::Residual {
            bn,
            add,
            act,
            other,
        }) = self.folds.get(i).copied()
        else {
            return false;
        };
        self.run_conv_fold(wiring, i, bn, act, act.unwrap_or(add), Some(other), n)
    }

    /// Runs the merge call `i` and the activation call `k` after it as one pass
    /// (inference); `false` if the merge cannot, and nothing was written.
    fn run_merge_fold(&mut self, wiring: &Wiring, i: usize, k: usize, n: usize) -> bool {
        let first = wiring.first_call();
        let Some(act) = self.layers[wiring.calls[k].layer].activation() else {
            return false;
        };
        let ins = &wiring.calls[i].ins;
        let out = first + k;
        let ol = self.len_at(out);
        if self.len_at(first + i) != ol || ins.len() > MAX_MERGE_INPUTS {
            return false;
        }
        let lens: [usize; MAX_MERGE_INPUTS] =
            std::array::from_fn(|j| ins.get(j).map_or(0, |&a| self.len_at(a)));
        let (y, acts) = self.acts.split_out(out);
        let xs: [&[f32]; MAX_MERGE_INPUTS] = std::array::from_fn(|j| match ins.get(j) {
            Some(&a) => &acts.get(a)[..n * lens[j]],
            None => &[][..],
        });
        self.layers[wiring.calls[i].layer].forward_merge_act(
            &xs[..ins.len()],
            &mut y[..n * ol],
            n,
            act,
        )
    }

    /// Runs the normalization call `i` and the activation call `k` after it as one pass
    /// (inference); `false` if the layer has no inference map, and nothing was written.
    fn run_norm_fold(&mut self, wiring: &Wiring, i: usize, k: usize, n: usize) -> bool {
        let first = wiring.first_call();
        let Some(act) = self.layers[wiring.calls[k].layer].activation() else {
            return false;
        };
        let a_in = wiring.calls[i].ins[0];
        let (il, out) = (self.len_at(a_in), first + k);
        let ol = self.len_at(out);
        if il != ol {
            return false;
        }
        let Some((a, b)) = self.layers[wiring.calls[i].layer].inference_affine() else {
            return false;
        };
        let (y, acts) = self.acts.split_out(out);
        rkeras_kernels::batch_norm::affine_act(
            &acts.get(a_in)[..n * il],
            &mut y[..n * ol],
            a,
            b,
            act,
        );
        true
    }

    /// Training: runs the normalization call `i` and the activation call `k` after it as one
    /// pass (see `Chain::train_folds`); `false` if the layer cannot, and nothing was written.
    fn run_train_norm_fold(&mut self, wiring: &Wiring, i: usize, k: usize, n: usize) -> bool {
        let first = wiring.first_call();
        let Some(act) = self.layers[wiring.calls[k].layer].activation() else {
            return false;
        };
        let a_in = wiring.calls[i].ins[0];
        let (il, out) = (self.len_at(a_in), first + k);
        let ol = self.len_at(out);
        if il != ol {
            return false;
        }
        let (z, acts) = self.acts.split_out(out);
        self.layers[wiring.calls[i].layer].forward_act(
            &acts.get(a_in)[..n * il],
            &mut z[..n * ol],
            n,
            Mode::Train,
            act,
        )
    }

    /// Training's backward pass: `Some((k, act))` when the normalization (or `Add`) call `i`
    /// takes the derivative of the activation call `k = i + 1` fused into its forward pass
    /// (see `Chain::train_folds`) in its own backward pass, reading `k`'s output and its
    /// gradient; `k`'s backward pass is then skipped, and call `i`'s own output gradient
    /// is never written.
    fn backward_fold(&self, wiring: &Wiring, i: usize) -> Option<(usize, Act)> {
        let k = self.train_folds.get(i).copied().flatten()?;
        if k != i + 1
            || !self.train_inside.get(k).copied().unwrap_or(false)
            || wiring.outputs.contains(&(wiring.first_call() + k))
        {
            return None;
        }
        let act = self.layers[wiring.calls[k].layer].activation()?;
        (!act.backward_needs_input() && act != Act::Softmax).then_some((k, act))
    }

    /// Runs the inference fold headed by call `i` (see `plan_folds`); `false` if the
    /// convolution could not, and nothing was written.
    fn run_fold(&mut self, wiring: &Wiring, i: usize, n: usize) -> bool {
        let Some(Fold::Head { bn, act }) = self.folds.get(i).copied() else {
            return false;
        };
        self.run_conv_fold(wiring, i, bn, act, act.unwrap_or(bn), None, n)
    }

    /// The convolution call `i` with the normalization call `bn` folded in, then the
    /// activation `residual` added (a residual fold), then the activation call `act_call`'s
    /// function, written as call `out_call`'s output; `false` if the convolution could not,
    /// and nothing was written.
    #[allow(clippy::too_many_arguments)]
    fn run_conv_fold(
        &mut self,
        wiring: &Wiring,
        i: usize,
        bn: usize,
        act_call: Option<usize>,
        out_call: usize,
        residual: Option<usize>,
        n: usize,
    ) -> bool {
        let first = wiring.first_call();
        let (li, lb) = (wiring.calls[i].layer, wiring.calls[bn].layer);
        let out = first + out_call;
        let a_in = wiring.calls[i].ins[0];
        let (il, ol) = (self.len_at(a_in), self.len_at(out));
        let act = act_call
            .and_then(|k| self.layers[wiring.calls[k].layer].activation())
            .unwrap_or(Act::Linear);
        let (conv, norm) = if li < lb {
            let (lo, hi) = self.layers.split_at_mut(lb);
            (&mut lo[li], &mut hi[0])
        } else {
            let (lo, hi) = self.layers.split_at_mut(li);
            (&mut hi[0], &mut lo[lb])
        };
        let Some(map) = norm.inference_affine() else {
            return false;
        };
        let (y, acts) = self.acts.split_out(out);
        let (x, y) = (&acts.get(a_in)[..n * il], &mut y[..n * ol]);
        match residual {
            Some(r) => conv.forward_folded_residual(x, y, n, map, &acts.get(r)[..n * ol], act),
            None => conv.forward_folded(x, y, n, map, act),
        }
    }

    /// Per-sample output shape (several outputs: their packed length).
    pub fn output_shape(&self) -> Option<&[usize]> {
        if !self.built {
            return None;
        }
        match &self.wiring {
            Some(w) if w.outputs.len() == 1 => self.act_shapes.get(w.outputs[0]).map(Vec::as_slice),
            Some(_) => None,
            None => Some(
                self.shapes
                    .last()
                    .map_or_else(|| self.input_shape.as_deref().unwrap_or(&[]), |s| &s[..]),
            ),
        }
    }

    /// Per-sample shapes of every output, in order.
    pub fn output_shapes(&self) -> Vec<Vec<usize>> {
        match (&self.wiring, self.built) {
            (Some(w), true) => w
                .outputs
                .iter()
                .map(|&o| self.act_shapes[o].clone())
                .collect(),
            (None, true) => self
                .output_shape()
                .map(|s| vec![s.to_vec()])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Per-sample shape of activation `a` (functional numbering).
    pub fn act_shape(&self, a: usize) -> &[usize] {
        self.act_shapes.get(a).map_or(&[], Vec::as_slice)
    }

    /// The activation fused into the loss's gradient: the output layer's, when the loss
    /// reads the single output in place.
    pub fn output_activation(&self) -> Option<rkeras_kernels::Act> {
        match &self.wiring {
            None => self.layers.last().and_then(|l| l.activation()),
            Some(w) if w.direct_output() => {
                let i = w.outputs[0] - w.first_call();
                self.layers[w.calls[i].layer].activation()
            }
            Some(_) => None,
        }
    }

    /// Sizes all buffers for training on batches up to `max_batch` (no-op when already big
    /// enough).
    ///
    /// # Errors
    /// [`Error::Memory`] when the batch's activations and gradients would not fit in memory
    /// (checked before anything is allocated).
    #[cfg(test)]
    pub fn allocate(&mut self, max_batch: usize) -> Result<()> {
        self.allocate_for(max_batch, true)
    }

    /// [`allocate`](Self::allocate) for training (`train`), or for inference only: then the
    /// activations share buffers by liveness and there are no gradients, until a training
    /// allocation (of at least the same batch size) replaces them.
    ///
    /// # Errors
    /// As [`allocate`](Self::allocate).
    pub fn allocate_for(&mut self, max_batch: usize, train: bool) -> Result<()> {
        if !self.built || (max_batch <= self.max_batch && !(train && self.infer_only)) {
            return Ok(());
        }
        let max_batch = max_batch.max(self.max_batch);
        let infer = !train && !self.no_memory_plan;
        self.check_batch_memory(max_batch)?;
        self.plan_groups(max_batch);
        // Inside a grouped run, the model's own buffers and layers serve batches of one
        // group only (larger batches run on the groups' copies).
        let small = max_batch.min(sample_groups::GROUP_SAMPLES);
        let grouped = |i: usize| self.segments.iter().any(|s| (s.start..s.end).contains(&i));
        // The output of a layer that absorbed a pooling is never written: no buffer for it.
        let first = self.wiring.as_ref().map_or(1, Wiring::first_call);
        let sizes: Vec<usize> = (0..self.act_lens.len())
            .map(|a| {
                let absorbing =
                    a >= first && self.pools.get(a - first).is_some_and(Option::is_some);
                let interior = a > 0 && grouped(a - 1) && grouped(a);
                if absorbing {
                    0
                } else if interior {
                    self.act_lens[a] * small
                } else {
                    self.act_lens[a] * max_batch
                }
            })
            .collect();
        let per_layer: Vec<usize> = (0..self.layers.len())
            .map(|i| if grouped(i) { small } else { max_batch })
            .collect();
        // Release the old buffers before taking the new ones.
        self.acts = BufferPool::default();
        self.grads = BufferPool::default();
        if infer {
            self.acts = BufferPool::plan(&self.infer_act_spans(), &sizes, true);
        } else if let Some(spans) = self.train_act_spans() {
            self.acts = BufferPool::plan(&spans, &sizes, true);
        } else {
            self.acts = BufferPool::plan(&vec![Some((0, 0)); sizes.len()], &sizes, false);
        }
        if let Some(w) = &self.wiring {
            if !w.direct_output() {
                let total: usize = w.outputs.iter().map(|&o| self.act_lens[o]).sum();
                self.packed_out = vec![0.0; total * max_batch];
                self.packed_grad = if infer {
                    Vec::new()
                } else {
                    vec![0.0; total * max_batch]
                };
            }
        }
        if !infer {
            self.plan_grads(sizes, max_batch);
            self.zero_all_grads = true;
        }
        self.infer_only = infer;
        for (l, &b) in self.layers.iter_mut().zip(&per_layer) {
            l.share_scratch(&self.scratch);
            l.allocate(b);
        }
        for t in self.twins.iter_mut().flatten() {
            t.share_scratch(&self.scratch);
            t.allocate(max_batch);
        }
        self.max_batch = max_batch;
        Ok(())
    }

    /// Checks that a batch of `max_batch` fits in memory: each activation with its gradient,
    /// at full batch size (an upper bound of what [`allocate`](Self::allocate) takes).
    fn check_batch_memory(&self, max_batch: usize) -> Result<()> {
        let per_sample = self
            .act_lens
            .iter()
            .try_fold(0usize, |t, &l| t.checked_add(l.checked_mul(2)?));
        let largest = self
            .act_shapes
            .iter()
            .enumerate()
            .max_by_key(|(a, _)| self.act_lens.get(*a).copied().unwrap_or(0))
            .map(|(_, s)| crate::shape::batch_shape_str(s))
            .unwrap_or_default();
        crate::budget::check(
            || {
                format!(
                    "a batch of {max_batch} through the model (activations and gradients; the largest output is {largest})"
                )
            },
            per_sample.and_then(|p| p.checked_mul(max_batch)),
            4,
        )
    }

    /// Plans the gradient buffers for activations of `sizes` floats (see [`BufferPool`]): the
    /// live span of each gradient in the steps of the backward pass, then buffers shared by
    /// gradients that are never live at once.
    fn plan_grads(&mut self, sizes: Vec<usize>, max_batch: usize) {
        let (spans, sizes) = match self.wiring.take() {
            Some(w) => {
                let planned = self.graph_grad_spans(&w, sizes, max_batch);
                self.wiring = Some(w);
                planned
            }
            None => (self.chain_grad_spans(), sizes),
        };
        self.grads = BufferPool::plan(&spans, &sizes, !self.no_memory_plan);
    }

    /// The live spans of a functional model's activations in a training step, when some
    /// calls run no backward pass (`call_needed`: a frozen backbone): the spans of a forward
    /// pass ([`infer_act_spans`](Self::infer_act_spans)), where a call that normalizes and
    /// activates in one pass (`train_folds`) writes the activation's output at its own step,
    /// and every input and output of a call whose backward pass runs lives to the end of
    /// the step. The frozen calls' activations then share buffers by liveness, as in
    /// inference. `None` (one buffer per activation) when every call runs backward, or for
    /// a sequential model.
    fn train_act_spans(&mut self) -> Option<Vec<Option<(usize, usize)>>> {
        if self.no_memory_plan || self.all_grads {
            return None;
        }
        let w = self.wiring.take()?;
        self.plan_needed_grads(&w);
        self.wiring = Some(w);
        if self.call_needed.iter().all(|&c| c) {
            return None;
        }
        let mut spans = self.infer_act_spans();
        let w = self.wiring.as_ref()?;
        let mut touch = |a: usize, step: usize| {
            if let Some(span) = spans.get_mut(a) {
                widen(span, step);
            }
        };
        let first = w.first_call();
        let end = w.calls.len() + 1;
        for (i, call) in w.calls.iter().enumerate() {
            if let Some(k) = self.train_folds.get(i).copied().flatten() {
                touch(self.out_act(k, first), i + 1);
            }
            if self.call_needed[i] && !self.is_absorbed(i) {
                for &a in &call.ins {
                    touch(a, end);
                }
                touch(self.out_act(i, first), end);
            }
        }
        Some(spans)
    }

    /// The live spans of the activations of a forward pass (inference): step 0 loads the
    /// inputs (and unpacks several), step `i + 1` runs layer or call `i` (or the inference
    /// fold it heads, or the grouped run it starts): it reads its inputs and writes its
    /// output. The inputs and outputs stay live throughout (the next batch is loaded, the
    /// outputs are read, outside the pass).
    fn infer_act_spans(&self) -> Vec<Option<(usize, usize)>> {
        let mut spans: Vec<Option<(usize, usize)>> = vec![None; self.act_lens.len()];
        let mut touch = |a: usize, step: usize| widen(&mut spans[a], step);
        match &self.wiring {
            None => {
                let last = self.layers.len();
                let end = last + 1;
                for i in 0..last {
                    if !self.is_absorbed(i) {
                        touch(i, i + 1);
                        touch(self.out_act(i, 1), i + 1);
                    }
                }
                for seg in &self.segments {
                    touch(seg.start, seg.end);
                    touch(seg.end, seg.start + 1);
                }
                touch(0, 0);
                touch(0, end);
                touch(last, end);
            }
            Some(w) => {
                let first = w.first_call();
                let end = w.calls.len() + 1;
                for a in 0..first {
                    touch(a, 0);
                    touch(a, end);
                }
                for (i, call) in w.calls.iter().enumerate() {
                    if self.is_absorbed(i) {
                        continue;
                    }
                    for &a in &call.ins {
                        touch(a, i + 1);
                    }
                    touch(self.out_act(i, first), i + 1);
                    let folded = match self.folds.get(i) {
                        Some(Fold::Head { bn, act }) => Some(act.unwrap_or(*bn)),
                        Some(Fold::NormHead { act } | Fold::MergeHead { act }) => Some(*act),
                        Some(Fold::Residual {
                            add, act, other, ..
                        }) => {
                            touch(*other, i + 1);
                            Some(act.unwrap_or(*add))
                        }
                        _ => None,
                    };
                    if let Some(k) = folded {
                        touch(first + k, i + 1);
                    }
                }
                for &o in &w.outputs {
                    touch(o, end);
                }
            }
        }
        spans
    }

    /// The live spans of a sequential model's gradients. Step 0 is the loss's, step
    /// `last - i` layer `i`'s backward: it reads its output's gradient and writes its
    /// input's. A grouped run reads its output's gradient and writes its input's over the
    /// steps of all its layers.
    fn chain_grad_spans(&self) -> Vec<Option<(usize, usize)>> {
        let last = self.layers.len();
        let mut spans: Vec<Option<(usize, usize)>> = vec![None; last + 1];
        spans[last] = Some((0, 0));
        for i in (self.first_trainable..last).rev() {
            if self.is_absorbed(i) {
                continue;
            }
            let step = last - i;
            let o = self.out_act(i, 1);
            spans[o] = Some((spans[o].map_or(step, |s| s.0), step));
            if i > self.first_trainable {
                spans[i] = Some((step, step));
            }
        }
        for seg in &self.segments {
            let (lo, hi) = (last - (seg.end - 1), last - seg.start);
            if let Some(s) = spans[seg.end].as_mut() {
                s.1 = s.1.max(hi);
            }
            if seg.start > self.first_trainable {
                if let Some(s) = spans[seg.start].as_mut() {
                    s.0 = s.0.min(lo);
                }
            }
        }
        spans
    }

    /// Which activations' gradients the backward pass needs, and which calls it runs
    /// (`grad_needed`, `call_needed`): in the forward order, a call runs when its layer (or
    /// twin) has trainable weights or one of its inputs needs a gradient, and then its output
    /// needs one. The model's inputs need none. A frozen backbone under a trainable head
    /// (Keras's transfer learning) thus costs its forward pass only, and a model's first
    /// convolution computes no input gradient, as in a sequential model. Then the inference
    /// folds whose calls all run no backward pass and are frozen (`frozen_folds`): they run
    /// in training too.
    fn plan_needed_grads(&mut self, w: &Wiring) {
        let first = w.first_call();
        self.grad_needed = vec![false; self.act_lens.len()];
        self.call_needed = vec![false; w.calls.len()];
        for (i, call) in w.calls.iter().enumerate() {
            let layer = match self.twins[i].as_ref() {
                Some(t) => t.as_ref(),
                None => self.layers[call.layer].as_ref(),
            };
            let trains = self.all_grads
                || layer.base().trainable && layer.params().iter().any(|p| p.trainable);
            let needed = trains || call.ins.iter().any(|&a| self.grad_needed[a]);
            self.call_needed[i] = needed;
            if let Some(o) = self.grad_needed.get_mut(first + i) {
                *o |= needed;
            }
        }
        self.layer_needed = vec![false; self.layers.len()];
        for (call, &needed) in w.calls.iter().zip(&self.call_needed) {
            if let Some(l) = self.layer_needed.get_mut(call.layer) {
                *l |= needed;
            }
        }
        for &o in &w.outputs {
            self.grad_needed[o] |= o >= first;
        }
        self.frozen_folds = vec![false; w.calls.len()];
        if self.folds.len() != w.calls.len() {
            return;
        }
        for i in 0..w.calls.len() {
            let chain: [Option<usize>; 4] = match self.folds[i] {
                Fold::Head { bn, act } => [Some(i), Some(bn), act, None],
                Fold::NormHead { act } | Fold::MergeHead { act } => {
                    [Some(i), Some(act), None, None]
                }
                Fold::Residual { bn, add, act, .. } => [Some(i), Some(bn), Some(add), act],
                Fold::No | Fold::Inside => continue,
            };
            // A layer with weights must be frozen: a trainable normalization without
            // trainable weights still uses its batch's statistics in training.
            let frozen = chain.iter().flatten().all(|&k| {
                let l = self.layers[w.calls[k].layer].as_ref();
                !self.call_needed[k]
                    && self.twins[k].is_none()
                    && (l.params().is_empty() || !l.base().trainable)
            });
            if frozen {
                for &k in chain.iter().flatten() {
                    self.frozen_folds[k] = true;
                }
            }
        }
    }

    /// The live spans and sizes of a functional model's gradient entries: its activations,
    /// then each call's scratch buffers. Step 0 is the loss's (the outputs' gradients are
    /// live from there), step `calls - i` call `i`'s backward: it writes (or sums into) its
    /// inputs' gradients and last reads its output's. Also plans the zero-filling of the
    /// gradients that are summed into, at the step where each becomes live.
    fn graph_grad_spans(
        &mut self,
        w: &Wiring,
        mut sizes: Vec<usize>,
        max_batch: usize,
    ) -> (Vec<Option<(usize, usize)>>, Vec<usize>) {
        let first = w.first_call();
        let calls = w.calls.len();
        self.plan_needed_grads(w);
        let mut spans: Vec<Option<(usize, usize)>> = vec![None; sizes.len()];
        self.zero_at = vec![Vec::new(); calls + 1];
        self.grad_first = vec![usize::MAX; sizes.len()];
        self.scratch_at = vec![0; calls];
        for &o in &w.outputs {
            spans[o] = Some((0, 0));
            if self.consumers[o] > 1 && !self.zero_at[0].contains(&o) {
                self.zero_at[0].push(o);
            }
        }
        for (i, call) in w.calls.iter().enumerate().rev() {
            if self.is_absorbed(i) || !self.call_needed[i] {
                continue;
            }
            let step = calls - i;
            for &a in call.ins.iter().filter(|&&a| self.grad_needed[a]) {
                if spans[a].is_none() {
                    spans[a] = Some((step, step));
                    // Read once by its first writer: that call overwrites it.
                    let once = call.ins.iter().filter(|&&b| b == a).count() == 1;
                    if self.consumers[a] > 1 && once {
                        self.grad_first[a] = i;
                    } else if self.consumers[a] > 1 {
                        self.zero_at[step].push(a);
                    }
                }
            }
            let out = self.out_act(i, first);
            match spans[out].as_mut() {
                Some(s) => s.1 = step,
                None => {
                    // Read by nothing: its gradient is zero.
                    spans[out] = Some((step, step));
                    self.zero_at[step].push(out);
                }
            }
            if let Some((k, _)) = self.backward_fold(w, i) {
                // The activation's output gradient is read by this call (`k` is skipped).
                if let Some(s) = spans[first + k].as_mut() {
                    s.1 = s.1.max(step);
                }
            }
            let layer = match self.twins[i].as_ref() {
                Some(t) => t.as_ref(),
                None => self.layers[call.layer].as_ref(),
            };
            let aside: &[usize] = if layer.is_merge() {
                if layer.passes_gradient() {
                    &[]
                } else {
                    &call.ins
                }
            } else if self.grad_needed[call.ins[0]]
                && self.consumers[call.ins[0]] > 1
                && self.grad_first[call.ins[0]] != i
            {
                &call.ins[..1]
            } else {
                &[]
            };
            self.scratch_at[i] = sizes.len();
            for &a in aside {
                sizes.push(self.act_lens[a] * max_batch);
                spans.push(Some((step, step)));
            }
        }
        (spans, sizes)
    }

    /// The floats of the planned gradient buffers, and of one buffer per gradient.
    #[cfg(test)]
    pub(crate) fn grad_memory(&self) -> (usize, usize) {
        (self.grads.total(), self.grads.unplanned())
    }

    /// The floats of the activation buffers, and of one buffer per activation; whether they
    /// are planned for inference only.
    #[cfg(test)]
    pub(crate) fn act_memory(&self) -> (usize, usize, bool) {
        (self.acts.total(), self.acts.unplanned(), self.infer_only)
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Sets the cap on sample groups; buffers are planned again before the next batch.
    pub fn set_group_cap(&mut self, max_groups: usize) {
        self.group_cap = Some(max_groups);
        if self.built {
            self.max_batch = 0;
        }
    }

    /// The chain's layout, as a grouped run sees it.
    fn layout(&self) -> Layout<'_> {
        Layout::of_chain(
            &self.act_lens,
            &self.pools,
            &self.absorbed,
            self.first_trainable,
            self.layers.len(),
        )
    }

    /// Plans the grouped runs of a sequential model for batches of up to `max_batch`, with
    /// one copy of their layers per group. A run whose copies cannot be made runs layer at
    /// a time.
    fn plan_groups(&mut self, max_batch: usize) {
        self.segments.clear();
        self.max_groups = self.group_cap.unwrap_or_else(sample_groups::max_groups);
        let groups = (1..=max_batch)
            .map(|n| sample_groups::split(n, self.max_groups).0)
            .max()
            .unwrap_or(0);
        if self.wiring.is_some() || groups < 2 {
            return;
        }
        let cap = sample_groups::group_capacity(max_batch, self.max_groups);
        for (start, end) in sample_groups::plan(&self.layers, &self.pools) {
            let runs = (0..groups)
                .map(|_| {
                    sample_groups::GroupRun::new(
                        &self.layers,
                        (start, end),
                        &self.act_shapes,
                        self.layout(),
                        cap,
                        &self.scratch,
                    )
                })
                .collect::<Result<Vec<_>>>();
            if let Ok(runs) = runs {
                self.segments.push(Segment { start, end, runs });
            }
        }
    }

    /// The grouped run that `at` picks (by its start or end), when a batch of `n` splits
    /// into several groups.
    fn grouped_run(&self, at: impl Fn(&Segment) -> bool, n: usize) -> Option<usize> {
        if sample_groups::split(n, self.max_groups).0 < 2 {
            return None;
        }
        self.segments.iter().position(at)
    }

    /// Runs grouped run `k` on a batch of `n`: forward, or backward and then the groups'
    /// weight gradients added to the model's layers in group order.
    fn run_segment(&mut self, k: usize, n: usize, pass: Pass) {
        let (groups, size) = sample_groups::split(n, self.max_groups);
        let layout = Layout::of_chain(
            &self.act_lens,
            &self.pools,
            &self.absorbed,
            self.first_trainable,
            self.layers.len(),
        );
        let seg = &mut self.segments[k];
        let (s, e) = (seg.start, seg.end);
        let (il, ol) = (layout.lens[s], layout.lens[e]);
        let runs = &mut seg.runs[..groups];
        // Profiling: the groups one after the other, each layer's time summed.
        let profiling = self.timings.is_some() || self.kernel_only.is_some();
        let mut prof = profiling.then_some(Profile {
            timings: &mut self.timings,
            kernel_only: &mut self.kernel_only,
        });
        let skip = match pass {
            Pass::Forward(mode) => {
                for r in runs.iter_mut() {
                    r.sync(&self.layers[s..e]);
                }
                let (y, acts) = self.acts.split_out(e);
                let x = &acts.get(s)[..n * il];
                let y = &mut y[..n * ol];
                let xc = |g: usize, m: usize| &x[g * size * il..(g * size + m) * il];
                if let Some(p) = prof.as_mut() {
                    for ((g, run), yc) in runs.iter_mut().enumerate().zip(y.chunks_mut(size * ol)) {
                        run.forward(layout, xc(g, yc.len() / ol), yc, mode, Some(p));
                    }
                    return;
                }
                rkeras_kernels::parallel::for_each_item_with_chunks(
                    runs,
                    y,
                    size * ol,
                    None,
                    |g, run, yc, _| run.forward(layout, xc(g, yc.len() / ol), yc, mode, None),
                );
                return;
            }
            Pass::Backward(skip) => skip,
        };
        let (x, y) = (
            &self.acts.get_ref(s)[..n * il],
            &self.acts.get_ref(e)[..n * ol],
        );
        let (dy, dx) = if s > layout.first_trainable {
            let (dy, dx) = self.grads.pair(e, s);
            (dy, Some(&mut dx[..n * il]))
        } else {
            (self.grads.get(e), None)
        };
        let dy = &mut dy[..n * ol];
        let io = |g: usize, m: usize| {
            let a = g * size;
            (&x[a * il..(a + m) * il], &y[a * ol..(a + m) * ol])
        };
        if let Some(p) = prof.as_mut() {
            let mut dxs = dx.map(|d| d.chunks_mut(size * il));
            for ((g, run), dyc) in runs.iter_mut().enumerate().zip(dy.chunks_mut(size * ol)) {
                let m = dyc.len() / ol;
                let dxc = dxs.as_mut().and_then(Iterator::next);
                run.backward(layout, io(g, m), dyc, dxc, skip, Some(p));
            }
        } else {
            rkeras_kernels::parallel::for_each_item_with_chunks(
                runs,
                dy,
                size * ol,
                dx.map(|d| (d, size * il)),
                |g, run, dyc, dxc| {
                    let m = dyc.len() / ol;
                    run.backward(layout, io(g, m), dyc, dxc, skip, None);
                },
            );
        }
        for run in seg.runs[..groups].iter() {
            run.add_grads(&mut self.layers[s..e], self.first_trainable);
        }
    }

    fn len_at(&self, i: usize) -> usize {
        self.act_lens.get(i).copied().unwrap_or(0)
    }

    /// The input buffer for a batch of `n` (several inputs: packed side by side per row).
    pub fn input_mut(&mut self, n: usize) -> &mut [f32] {
        let l = self.len_at(0);
        &mut self.acts.get(0)[..n * l]
    }

    /// The output of the last forward pass for a batch of `n` (several outputs: packed
    /// side by side per row).
    pub fn output(&self, n: usize) -> &[f32] {
        match &self.wiring {
            None => {
                let last = self.layers.len();
                &self.acts.get_ref(last)[..n * self.len_at(last)]
            }
            Some(w) if w.direct_output() => {
                let o = w.outputs[0];
                &self.acts.get_ref(o)[..n * self.len_at(o)]
            }
            Some(w) => {
                let total: usize = w.outputs.iter().map(|&o| self.len_at(o)).sum();
                &self.packed_out[..n * total]
            }
        }
    }

    /// Lets `f` read the output and write its gradient; returns what `f` returns.
    pub fn with_output_grad<R>(&mut self, n: usize, f: impl FnOnce(&[f32], &mut [f32]) -> R) -> R {
        let o = match &self.wiring {
            None => self.layers.len(),
            Some(w) if w.direct_output() => w.outputs[0],
            Some(w) => {
                let total: usize = w.outputs.iter().map(|&o| self.len_at(o)).sum();
                return f(
                    &self.packed_out[..n * total],
                    &mut self.packed_grad[..n * total],
                );
            }
        };
        let l = self.len_at(o);
        f(
            &self.acts.get_ref(o)[..n * l],
            &mut self.grads.get(o)[..n * l],
        )
    }

    /// Runs every layer on the input buffer.
    pub fn forward(&mut self, n: usize, mode: Mode) {
        if self.wiring.is_some() {
            return self.forward_graph(n, mode);
        }
        let mut next = 0;
        while next < self.layers.len() {
            let i = next;
            if let Some(k) = self.grouped_run(|s| s.start == i, n) {
                self.run_segment(k, n, Pass::Forward(mode));
                next = self.segments[k].end;
                continue;
            }
            next += 1;
            if self.is_absorbed(i) {
                continue;
            }
            let t = self.timings.is_some().then(std::time::Instant::now);
            let o = self.out_act(i, 1);
            let (il, ol) = (self.len_at(i), self.len_at(o));
            let (y, acts) = self.acts.split_out(o);
            self.layers[i].forward(&acts.get(i)[..n * il], &mut y[..n * ol], n, mode);
            add_timing(&mut self.timings, t, i, false);
        }
    }

    /// Copies the weights (and trainable flag) of a shared layer into the twin of call `i`.
    fn sync_twin(&mut self, i: usize, layer: usize) {
        let Some(twin) = self.twins[i].as_mut() else {
            return;
        };
        let owner = &self.layers[layer];
        twin.base_mut().trainable = owner.base().trainable;
        for (t, o) in twin.params_mut().iter_mut().zip(owner.params()) {
            t.value.copy_from_slice(&o.value);
        }
    }

    /// After a training-mode call of a twin: its non-trainable weights (a shared
    /// BatchNormalization's moving statistics) go back to the layer, so each call updates
    /// them in turn, as Keras's calls of one layer do.
    fn return_twin_state(&mut self, i: usize, layer: usize) {
        let Some(twin) = self.twins[i].as_ref() else {
            return;
        };
        for (o, t) in self.layers[layer]
            .params_mut()
            .iter_mut()
            .zip(twin.params())
        {
            if !o.trainable {
                o.value.copy_from_slice(&t.value);
            }
        }
    }

    /// [`forward`](Self::forward) of a functional model: each call reads its wired inputs.
    fn forward_graph(&mut self, n: usize, mode: Mode) {
        let Some(wiring) = self.wiring.take() else {
            return;
        };
        let first = wiring.first_call();
        if wiring.inputs.len() > 1 {
            let width = self.len_at(0);
            let mut off = 0;
            for j in 0..wiring.inputs.len() {
                let len = self.act_lens[1 + j];
                let (dst, acts) = self.acts.split_out(1 + j);
                unpack_cols(acts.get(0), width, off, len, n, &mut dst[..n * len]);
                off += len;
            }
        }
        let folding = self.folds.len() == wiring.calls.len()
            && (mode == Mode::Infer || self.frozen_folds.len() == wiring.calls.len());
        for (i, call) in wiring.calls.iter().enumerate() {
            if self.is_absorbed(i) {
                continue;
            }
            if folding && (mode == Mode::Infer || self.frozen_folds[i]) {
                match self.folds[i] {
                    Fold::Inside => continue,
                    Fold::Head { bn, act } => {
                        let t = self.timings.is_some().then(std::time::Instant::now);
                        if self.run_fold(&wiring, i, n) {
                            add_timing(&mut self.timings, t, call.layer, false);
                            continue;
                        }
                        // Not folded after all: this chain runs call by call from now on.
                        for k in [Some(i), Some(bn), act].into_iter().flatten() {
                            self.folds[k] = Fold::No;
                        }
                    }
                    Fold::NormHead { act } => {
                        let t = self.timings.is_some().then(std::time::Instant::now);
                        if self.run_norm_fold(&wiring, i, act, n) {
                            add_timing(&mut self.timings, t, call.layer, false);
                            continue;
                        }
                        self.folds[i] = Fold::No;
                        self.folds[act] = Fold::No;
                    }
                    Fold::Residual { bn, add, act, .. } => {
                        let t = self.timings.is_some().then(std::time::Instant::now);
                        if self.run_residual_fold(&wiring, i, n) {
                            add_timing(&mut self.timings, t, call.layer, false);
                            continue;
                        }
                        // Not folded after all: these calls run one by one from now on.
                        for k in [Some(i), Some(bn), Some(add), act].into_iter().flatten() {
                            self.folds[k] = Fold::No;
                        }
                    }
                    Fold::MergeHead { act } => {
                        let t = self.timings.is_some().then(std::time::Instant::now);
                        if self.run_merge_fold(&wiring, i, act, n) {
                            add_timing(&mut self.timings, t, call.layer, false);
                            continue;
                        }
                        self.folds[i] = Fold::No;
                        self.folds[act] = Fold::No;
                    }
                    Fold::No => {}
                }
            }
            if mode == Mode::Train && self.train_folds.len() == wiring.calls.len() {
                if self.train_inside[i] {
                    continue;
                }
                if let Some(k) = self.train_folds[i] {
                    let t = self.timings.is_some().then(std::time::Instant::now);
                    let fused = if self.layers[call.layer].is_merge() {
                        self.run_merge_fold(&wiring, i, k, n)
                    } else {
                        self.run_train_norm_fold(&wiring, i, k, n)
                    };
                    if fused {
                        add_timing(&mut self.timings, t, call.layer, false);
                        continue;
                    }
                    // Not fused after all: both run call by call from now on.
                    self.train_folds[i] = None;
                    self.train_inside[k] = false;
                }
            }
            let ins = &call.ins;
            self.sync_twin(i, call.layer);
            let t = self.timings.is_some().then(std::time::Instant::now);
            let out = self.out_act(i, first);
            let ol = self.len_at(out);
            let lens: [usize; MAX_MERGE_INPUTS] =
                std::array::from_fn(|k| ins.get(k).map_or(0, |&a| self.len_at(a)));
            let (y, acts) = self.acts.split_out(out);
            let y = &mut y[..n * ol];
            let layer: &mut dyn Layer = match self.twins[i].as_mut() {
                Some(t) => t.as_mut(),
                None => self.layers[call.layer].as_mut(),
            };
            if layer.is_merge() {
                let xs: [&[f32]; MAX_MERGE_INPUTS] = std::array::from_fn(|k| match ins.get(k) {
                    Some(&a) => &acts.get(a)[..n * lens[k]],
                    None => &[][..],
                });
                layer.forward_merge(&xs[..ins.len()], y, n);
            } else {
                layer.forward(&acts.get(ins[0])[..n * lens[0]], y, n, mode);
            }
            add_timing(&mut self.timings, t, call.layer, false);
            if mode == Mode::Train {
                self.return_twin_state(i, call.layer);
            }
        }
        if !wiring.direct_output() {
            let width: usize = wiring.outputs.iter().map(|&o| self.len_at(o)).sum();
            let mut off = 0;
            for &o in &wiring.outputs {
                let len = self.len_at(o);
                pack_cols(
                    &self.acts.get_ref(o)[..n * len],
                    width,
                    off,
                    len,
                    n,
                    &mut self.packed_out,
                );
                off += len;
            }
        }
        self.wiring = Some(wiring);
    }

    /// Zeroes parameter gradients, then runs backward from the output gradient.
    /// `skip_last_activation`: the output gradient is already the pre-activation gradient.
    pub fn backward(&mut self, n: usize, skip_last_activation: bool) {
        self.zero_param_grads();
        assert!(
            !self.infer_only,
            "a backward pass on buffers allocated for inference"
        );
        // Data-parallel: the gradients are summed over the ranks in buckets as they become
        // final, while the pass goes on.
        crate::distribution::begin_backward(&self.layers, || self.grad_keys());
        if self.wiring.is_some() {
            self.backward_graph(n, skip_last_activation);
        } else {
            self.backward_sequential(n, skip_last_activation);
        }
        crate::distribution::end_backward(&mut self.layers);
    }

    /// Zeroes the weight gradients the backward pass writes: those of the layers (and twins)
    /// it reaches, and, when the buffers or trainable flags changed since the last pass
    /// (`zero_all_grads`), every other one a pass wrote before (`grads_written`). Nothing
    /// writes the others since: a frozen backbone costs no memset of its gradients per
    /// step, and its never-written gradients are never mapped.
    fn zero_param_grads(&mut self) {
        let zero = |l: &mut Box<dyn Layer>| {
            for p in l.params_mut() {
                p.grad.fill(0.0);
            }
        };
        let layers = self.layers.len();
        if self.grads_written.len() != layers {
            self.grads_written = vec![true; layers];
        }
        let functional = self.wiring.is_some();
        let planned =
            self.layer_needed.len() == layers && self.call_needed.len() == self.twins.len();
        let all = self.zero_all_grads || (functional && !planned);
        for (i, l) in self.layers.iter_mut().enumerate() {
            let reached = if functional {
                !planned || self.layer_needed[i]
            } else {
                i >= self.first_trainable
            };
            if reached || (all && self.grads_written[i]) {
                zero(l);
            }
            if reached || all {
                self.grads_written[i] = reached;
            }
        }
        for (t, &needed) in self
            .twins
            .iter_mut()
            .zip(self.call_needed.iter().chain(std::iter::repeat(&true)))
        {
            if let Some(t) = t.as_mut().filter(|_| all || needed) {
                zero(t);
            }
        }
        self.zero_all_grads = false;
    }

    /// Per layer, the backward position from which its weight gradients are final: a
    /// sequential model's layer index, a functional model's first call (the pass reports
    /// positions counting down, see [`crate::distribution`]); -1 for a layer whose gradient
    /// is complete only at the end of the pass (a shared layer: its twins' gradients are
    /// added then) or that no call runs.
    pub(crate) fn grad_keys(&self) -> Vec<isize> {
        let Some(w) = &self.wiring else {
            return (0..self.layers.len()).map(|i| i as isize).collect();
        };
        let mut keys = vec![-1isize; self.layers.len()];
        let mut seen = vec![false; self.layers.len()];
        for (c, call) in w.calls.iter().enumerate() {
            if let (Some(k), Some(s)) = (keys.get_mut(call.layer), seen.get_mut(call.layer)) {
                if !*s {
                    *k = c as isize;
                    *s = true;
                }
            }
        }
        for (call, twin) in w.calls.iter().zip(&self.twins) {
            if twin.is_some() {
                if let Some(k) = keys.get_mut(call.layer) {
                    *k = -1;
                }
            }
        }
        keys
    }

    /// [`backward`](Self::backward) of a sequential model.
    fn backward_sequential(&mut self, n: usize, skip_last_activation: bool) {
        let last = self.layers.len();
        let mut i = last;
        while i > self.first_trainable {
            if let Some(k) = self.grouped_run(|s| s.end == i, n) {
                self.run_segment(k, n, Pass::Backward(skip_last_activation));
                i = self.segments[k].start;
                crate::distribution::backward_done(i as isize, &self.layers);
                continue;
            }
            i -= 1;
            if self.is_absorbed(i) {
                continue;
            }
            let o = self.out_act(i, 1);
            let (il, ol) = (self.len_at(i), self.len_at(o));
            let (dy, dx) = if i > self.first_trainable {
                let (dy, dx) = self.grads.pair(o, i);
                (dy, Some(&mut dx[..n * il]))
            } else {
                (self.grads.get(o), None)
            };
            let dy = &mut dy[..n * ol];
            let ctx = Backward {
                n,
                skip_activation: skip_last_activation && o == last,
                accumulate: false,
            };
            if let Some(k) = self.kernel_only.as_mut() {
                let (x, y) = (
                    &self.acts.get_ref(i)[..n * il],
                    &self.acts.get_ref(o)[..n * ol],
                );
                time_weight_grads(k, i, self.layers[i].as_mut(), (x, y), dy, ctx);
            }
            let t = self.timings.is_some().then(std::time::Instant::now);
            self.layers[i].backward(
                &self.acts.get_ref(i)[..n * il],
                &self.acts.get_ref(o)[..n * ol],
                dy,
                dx,
                ctx,
            );
            add_timing(&mut self.timings, t, i, true);
            crate::distribution::backward_done(i as isize, &self.layers);
        }
    }

    /// [`backward`](Self::backward) of a functional model. An input's gradient is written
    /// in place by its only reader; with several readers, each one's gradient is computed in
    /// a scratch buffer and summed into it (zero-filled when it becomes live). A merge
    /// computes its inputs' gradients in scratch buffers, then copies or sums them. A shared
    /// layer's twins add their weight gradients to the layer's.
    fn backward_graph(&mut self, n: usize, skip_last_activation: bool) {
        let Some(wiring) = self.wiring.take() else {
            return;
        };
        let first = wiring.first_call();
        let calls = wiring.calls.len();
        self.zero_fill(0, n);
        let direct = wiring.direct_output();
        if !direct {
            // The loss's gradient of each output joins that output's gradient.
            let width: usize = wiring.outputs.iter().map(|&o| self.len_at(o)).sum();
            let mut off = 0;
            for &o in &wiring.outputs {
                let len = self.len_at(o);
                let dst = self.grads.get(o);
                for r in 0..n {
                    let src = &self.packed_grad[r * width + off..r * width + off + len];
                    let d = &mut dst[r * len..(r + 1) * len];
                    if self.consumers[o] > 1 {
                        d.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                    } else {
                        d.copy_from_slice(src);
                    }
                }
                off += len;
            }
        }
        for (i, call) in wiring.calls.iter().enumerate().rev() {
            // Every call after this one is done.
            crate::distribution::backward_done(i as isize + 1, &self.layers);
            if self.is_absorbed(i) {
                continue;
            }
            self.zero_fill(calls - i, n);
            if !self.call_needed[i] {
                // No trainable weights in it or before it (a frozen backbone).
                continue;
            }
            if i > 0 && self.backward_fold(&wiring, i - 1).is_some() {
                // Taken by the normalization before it (`backward_fold`).
                continue;
            }
            let fold = self.backward_fold(&wiring, i);
            let ins = &call.ins;
            let out = match fold {
                Some((k, _)) => first + k,
                None => self.out_act(i, first),
            };
            let fold = fold.map(|(_, act)| act);
            let ol = self.len_at(out);
            let lens: [usize; MAX_MERGE_INPUTS] =
                std::array::from_fn(|k| ins.get(k).map_or(0, |&a| self.len_at(a)));
            let scratch = self.scratch_at[i];
            let t = self.timings.is_some().then(std::time::Instant::now);
            let y = &self.acts.get_ref(out)[..n * ol];
            let layer: &mut dyn Layer = match self.twins[i].as_mut() {
                Some(t) => t.as_mut(),
                None => self.layers[call.layer].as_mut(),
            };
            let needed = &self.grad_needed;
            let needs_dx = ins.iter().any(|&a| needed[a]);
            if layer.is_merge() && layer.passes_gradient() {
                // An Add: its output gradient goes straight to its inputs' gradients (with
                // a fused activation, its output's gradient times its derivative).
                use rkeras_kernels::activation::{backward_add_into, backward_into};
                for &a in ins.iter().filter(|&&a| self.grad_needed[a]) {
                    let (dy, dst) = self.grads.pair(out, a);
                    let (dy, dst) = (&dy[..n * ol], &mut dst[..n * ol]);
                    let adds = self.consumers[a] > 1 && self.grad_first[a] != i;
                    match (fold, adds) {
                        (Some(act), true) => backward_add_into(act, y, dy, dst),
                        (Some(act), false) => backward_into(act, None, y, dy, dst, ol.max(1)),
                        (None, true) => rkeras_kernels::elementwise::add_into(dy, dst),
                        (None, false) => rkeras_kernels::elementwise::copy(dy, dst),
                    }
                }
                add_timing(&mut self.timings, t, call.layer, true);
                continue;
            }
            let distinct = ins.iter().enumerate().all(|(k, a)| !ins[..k].contains(a));
            if layer.is_merge() && distinct && ins.iter().all(|&a| self.grad_needed[a]) {
                // Input gradients written in place (copied, or added where other readers
                // write them too), when the layer can: no scratch pass.
                let entries: [usize; MAX_MERGE_INPUTS + 1] = std::array::from_fn(|k| {
                    if k == 0 {
                        out
                    } else {
                        ins.get(k - 1).copied().unwrap_or(0)
                    }
                });
                let accumulate: [bool; MAX_MERGE_INPUTS] = std::array::from_fn(|k| {
                    ins.get(k)
                        .is_some_and(|&a| self.consumers[a] > 1 && self.grad_first[a] != i)
                });
                let mut bufs: [&mut [f32]; MAX_MERGE_INPUTS + 1] =
                    std::array::from_fn(|_| &mut [][..]);
                self.grads.many(&entries[..=ins.len()], &mut bufs);
                let (dy, dxs) = bufs.split_at_mut(1);
                let dy = &dy[0][..n * ol];
                for (d, &l) in dxs.iter_mut().zip(&lens[..ins.len()]) {
                    *d = &mut std::mem::take(d)[..n * l];
                }
                if layer.backward_merge_into(dy, &mut dxs[..ins.len()], &accumulate[..ins.len()], n)
                {
                    add_timing(&mut self.timings, t, call.layer, true);
                    continue;
                }
            }
            if layer.is_merge() {
                let xs: [&[f32]; MAX_MERGE_INPUTS] = std::array::from_fn(|k| match ins.get(k) {
                    Some(&a) => &self.acts.get_ref(a)[..n * lens[k]],
                    None => &[][..],
                });
                // The output's gradient, then one scratch buffer per input.
                let entries: [usize; MAX_MERGE_INPUTS + 1] =
                    std::array::from_fn(|k| if k == 0 { out } else { scratch + k - 1 });
                let mut bufs: [&mut [f32]; MAX_MERGE_INPUTS + 1] =
                    std::array::from_fn(|_| &mut [][..]);
                self.grads.many(&entries[..=ins.len()], &mut bufs);
                let (dy, dxs) = bufs.split_at_mut(1);
                let dy = &mut dy[0][..n * ol];
                for (d, &l) in dxs.iter_mut().zip(&lens[..ins.len()]) {
                    *d = &mut std::mem::take(d)[..n * l];
                }
                layer.backward_merge(&xs[..ins.len()], y, dy, &mut dxs[..ins.len()], n);
            } else {
                let a = ins[0];
                let x = &self.acts.get_ref(a)[..n * lens[0]];
                let mut ctx = Backward {
                    n,
                    skip_activation: skip_last_activation && direct && out == wiring.outputs[0],
                    accumulate: false,
                };
                // The only reader of its input, or the first to write its gradient: write
                // the gradient in place; one of several readers that can add to it: add it
                // in place.
                let adds = self.consumers[a] > 1 && self.grad_first[a] != i;
                let in_place = !adds || layer.accumulates_input_grad(n);
                if self.grad_needed[a] && in_place {
                    ctx.accumulate = adds;
                    let (dy, dx) = self.grads.pair(out, a);
                    let (dy, dx) = (&mut dy[..n * ol], Some(&mut dx[..n * lens[0]]));
                    backward_call(layer, fold, x, y, dy, dx, ctx);
                    add_timing(&mut self.timings, t, call.layer, true);
                    continue;
                }
                if needs_dx {
                    let (dy, dx) = self.grads.pair(out, scratch);
                    let (dy, dx) = (&mut dy[..n * ol], Some(&mut dx[..n * lens[0]]));
                    backward_call(layer, fold, x, y, dy, dx, ctx);
                } else {
                    let dy = &mut self.grads.get(out)[..n * ol];
                    backward_call(layer, fold, x, y, dy, None, ctx);
                }
            }
            if needs_dx {
                for (k, &a) in ins.iter().enumerate() {
                    if !self.grad_needed[a] {
                        continue;
                    }
                    let (src, dst) = self.grads.pair(scratch + k, a);
                    let (src, dst) = (&src[..n * lens[k]], &mut dst[..n * lens[k]]);
                    if self.consumers[a] > 1 && self.grad_first[a] != i {
                        rkeras_kernels::elementwise::add_into(src, dst);
                    } else {
                        rkeras_kernels::elementwise::copy(src, dst);
                    }
                }
            }
            add_timing(&mut self.timings, t, call.layer, true);
        }
        for (call, twin) in wiring.calls.iter().zip(self.twins.iter()) {
            let Some(twin) = twin else { continue };
            for (o, t) in self.layers[call.layer]
                .params_mut()
                .iter_mut()
                .zip(twin.params())
            {
                o.grad.iter_mut().zip(&t.grad).for_each(|(g, d)| *g += d);
            }
        }
        self.wiring = Some(wiring);
    }

    /// Zero-fills the gradients that become live at backward step `step` and are summed
    /// into (their buffer held another gradient before).
    fn zero_fill(&mut self, step: usize, n: usize) {
        let Some(zero) = self.zero_at.get(step) else {
            return;
        };
        for &a in zero {
            let l = self.act_lens[a];
            self.grads.get(a)[..n * l].fill(0.0);
        }
    }

    /// Lets every twin of a shared layer draw new random streams for `epoch` (dropout).
    /// A training step with no rows of the batch on this replica (a data-parallel batch
    /// smaller than the rank count): every call's [`Layer::idle_forward`] in the forward
    /// pass's order, then [`Layer::idle_backward`] in the backward pass's, so that random
    /// streams advance and collectives are joined as on the ranks that compute.
    pub(crate) fn idle_step(&mut self) {
        let wiring = self.wiring.take();
        let (count, lowest) = match &wiring {
            Some(w) => (w.calls.len(), 0),
            None => (self.layers.len(), self.first_trainable),
        };
        let layer_of = |i: usize| wiring.as_ref().map_or(i, |w| w.calls[i].layer);
        for i in 0..count {
            if self.is_absorbed(i) {
                continue;
            }
            let layer = layer_of(i);
            if wiring.is_some() {
                self.sync_twin(i, layer);
            }
            match self.twins.get_mut(i).and_then(Option::as_mut) {
                Some(t) => t.idle_forward(),
                None => self.layers[layer].idle_forward(),
            }
            if wiring.is_some() {
                self.return_twin_state(i, layer);
            }
        }
        for i in (lowest..count).rev() {
            if self.is_absorbed(i) {
                continue;
            }
            match self.twins.get_mut(i).and_then(Option::as_mut) {
                Some(t) => t.idle_backward(),
                None => self.layers[layer_of(i)].idle_backward(),
            }
        }
        self.wiring = wiring;
    }

    pub fn reseed_twins(&mut self, epoch: u64) {
        for (i, t) in self.twins.iter_mut().enumerate() {
            if let Some(t) = t {
                t.reseed(epoch ^ ((i as u64 + 1) << 32));
            }
        }
    }
}

/// Checks that one sample of `shape` (the output of `what`) fits in memory, before any
/// layer after it builds weights or buffers from it.
fn check_sample(what: &str, shape: &[usize]) -> Result<()> {
    crate::budget::check(
        || {
            format!(
                "one sample of the output of {what} (shape {})",
                crate::shape::batch_shape_str(shape)
            )
        },
        crate::budget::elements(shape),
        4,
    )
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;

    /// The model `build` makes, with the absorption of poolings on or off, compiled.
    fn prepared(build: impl Fn() -> crate::Result<Model>, fuse: bool) -> Model {
        // A fixed initialisation: the fused and unfused paths round differently, and from
        // about one initialisation in 300 (seed 108 of 0..300 for `functional`), a pooling
        // window's two largest values are close enough for that to pick different winners,
        // after which three epochs of training drift past the tolerance.
        crate::rng::set_random_seed(1);
        let mut m = build().expect("model");
        if !fuse {
            m.chain.no_fusion = true;
            let shape = m.input_shape().expect("shape").to_vec();
            m.build(&shape).expect("rebuild");
        }
        m.compile(
            SGD::new().learning_rate(0.05).momentum(0.9),
            "categorical_crossentropy",
            &["accuracy"],
        )
        .expect("compile");
        m
    }

    /// `n` images of `shape` uniform in [-1, 1] and one-hot labels of 3 classes, drawn from
    /// `seed` (images first, then labels).
    fn random_batch(seed: u64, n: usize, shape: [usize; 3]) -> (Tensor, Tensor) {
        let mut rng = crate::rng::Rng::new(seed);
        let len = n * shape.iter().product::<usize>();
        let x: Vec<f32> = (0..len).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
        let x = Tensor::new(vec![n, shape[0], shape[1], shape[2]], x).expect("x");
        let labels: Vec<usize> = (0..n).map(|_| rng.below(3)).collect();
        (x, Tensor::one_hot(&labels, 3).expect("y"))
    }

    /// Trains the fused and the unfused model from the same weights on the same random
    /// batches; both must predict the same before and after, and end with the same weights.
    fn train_both(
        fused: &mut Model,
        plain: &mut Model,
        shape: [usize; 3],
        seed: u64,
        batch: usize,
    ) {
        train_both_within(fused, plain, shape, seed, batch, 1e-6);
    }

    /// [`train_both`] with the first predictions compared within `tol0`.
    fn train_both_within(
        fused: &mut Model,
        plain: &mut Model,
        shape: [usize; 3],
        seed: u64,
        batch: usize,
        tol0: f32,
    ) {
        plain.set_weights(&fused.get_weights()).expect("weights");
        let start = fused.get_weights();
        let (x, y) = random_batch(seed, 48, shape);
        let close = |a: &Tensor, b: &Tensor, tol: f32| {
            for (u, v) in a.data().iter().zip(b.data()) {
                assert!((u - v).abs() < tol * (1.0 + v.abs()), "{u} vs {v}");
            }
        };
        close(
            &fused.predict(&x).expect("predict"),
            &plain.predict(&x).expect("predict"),
            tol0,
        );
        for m in [&mut *fused, &mut *plain] {
            m.fit(&x, &y)
                .epochs(3)
                .batch_size(batch)
                .shuffle(false)
                .verbose(0)
                .run()
                .expect("fit");
        }
        close(
            &fused.predict(&x).expect("predict"),
            &plain.predict(&x).expect("predict"),
            tol0.max(1e-5),
        );
        for (a, b) in fused.get_weights().iter().zip(&plain.get_weights()) {
            close(a, b, 1e-4);
        }
        let moved = fused
            .get_weights()
            .iter()
            .zip(&start)
            .any(|(a, b)| a.data() != b.data());
        assert!(moved, "training changed nothing");
    }

    fn sequential() -> crate::Result<Model> {
        Sequential::new([
            Conv2D::new(6, 3)
                .activation("relu")
                .input_shape((9, 11, 3))
                .into(),
            MaxPooling2D::new((2, 2)).into(),
            Conv2D::new(5, 3).padding("same").into(),
            MaxPooling2D::new((2, 2)).into(),
            Flatten::new().into(),
            Dense::new(3).activation("softmax").into(),
        ])
    }

    /// Convolutions that compute the max pooling after them train exactly like the two
    /// layers run one after the other (up to float reassociation).
    #[test]
    fn absorbed_poolings_train_like_separate_layers() {
        let mut fused = prepared(sequential, true);
        let mut plain = prepared(sequential, false);
        assert_eq!(
            fused.chain.absorbed,
            [false, true, false, true, false, false]
        );
        assert_eq!(fused.chain.pools[0], Some(1));
        assert!(plain.chain.absorbed.iter().all(|a| !a));
        train_both(&mut fused, &mut plain, [9, 11, 3], 3, 8);
    }

    fn functional() -> crate::Result<Model> {
        let inp = Input::new((10, 10, 3));
        // `a` has two readers (not fused); `b`'s only reader is a pooling (fused).
        let a = Conv2D::new(4, 3)
            .padding("same")
            .activation("relu")
            .call(&inp)?;
        let p1 = MaxPooling2D::new((2, 2)).call(&a)?;
        let b = Conv2D::new(4, 3).padding("same").call(&a)?;
        let p2 = MaxPooling2D::new((2, 2)).call(&b)?;
        let s = Add::new().call_on(&[&p1, &p2])?;
        let f = Flatten::new().call(&s)?;
        let out = Dense::new(3).activation("softmax").call(&f)?;
        Model::functional(&inp, &out)
    }

    /// The same in a functional graph: only a pooling that is its producer's sole reader is
    /// absorbed.
    #[test]
    fn functional_graphs_absorb_sole_reader_poolings() {
        let mut fused = prepared(functional, true);
        let mut plain = prepared(functional, false);
        assert_eq!(fused.chain.absorbed.iter().filter(|&&a| a).count(), 1);
        assert!(plain.chain.absorbed.iter().all(|a| !a));
        train_both(&mut fused, &mut plain, [10, 10, 3], 4, 8);
    }

    /// Convolution -> BatchNormalization (-> ReLU) chains: 1x1, 3x3 by Winograd, one without
    /// bias whose normalization has a second reader (its ReLU-less fold), and a last one.
    /// Moves every vector weight (biases, gammas, betas, moving statistics) away from its
    /// initial value, so that a fold has work to do.
    fn perturb_vectors(m: &mut Model, seed: u64) {
        let mut w = m.get_weights();
        let mut rng = crate::rng::Rng::new(seed);
        for t in w.iter_mut().filter(|t| t.shape().len() == 1) {
            for v in t.data_mut() {
                *v += rng.uniform_range(0.1, 0.5);
            }
        }
        m.set_weights(&w).expect("weights");
    }

    fn conv_bn() -> crate::Result<Model> {
        let inp = Input::new((8, 8, 16));
        let a = Conv2D::new(16, 1).call(&inp)?;
        let a = BatchNormalization::new().call(&a)?;
        let a = Activation::new("relu").call(&a)?;
        let b = Conv2D::new(16, 3)
            .padding("same")
            .use_bias(false)
            .call(&a)?;
        let b = BatchNormalization::new().call(&b)?;
        let c = Conv2D::new(16, 3).padding("same").call(&b)?;
        let c = BatchNormalization::new().call(&c)?;
        let c = Activation::new("relu").call(&c)?;
        let s = Add::new().call_on(&[&b, &c])?;
        // A pre-activation normalization (DenseNet): its input is a merge's.
        let s = BatchNormalization::new().call(&s)?;
        let s = Activation::new("relu").call(&s)?;
        // A depthwise convolution with relu6 (MobileNet) and one with swish (EfficientNet).
        let s = DepthwiseConv2D::new(3).padding("same").call(&s)?;
        let s = BatchNormalization::new().call(&s)?;
        let s = crate::layers::ReLU::new().max_value(6.0).call(&s)?;
        let s = Conv2D::new(16, 1).use_bias(false).call(&s)?;
        let s = BatchNormalization::new().call(&s)?;
        let s = Activation::new("swish").call(&s)?;
        // A residual join with its ReLU (ResNet).
        let s2 = Conv2D::new(16, 1).call(&s)?;
        let s = Add::new().call_on(&[&s, &s2])?;
        let s = Activation::new("relu").call(&s)?;
        let d = Conv2D::new(4, 1).call(&s)?;
        let d = BatchNormalization::new().call(&d)?;
        let p = GlobalAveragePooling2D::new().call(&d)?;
        let out = Dense::new(3).activation("softmax").call(&p)?;
        Model::functional(&inp, &out)
    }

    /// Inference folds each normalization (and the activation layer after it: ReLU, relu6,
    /// swish) into its convolution (also a depthwise one), or runs a normalization or a merge
    /// and the activation after it as one pass:
    /// the predictions are the unfolded model's within float reassociation, before and
    /// after training changes the weights and the moving statistics (the map applied after
    /// each GEMM is read afresh every call), and training itself is unchanged.
    #[test]
    fn inference_folds_batch_normalization_into_convolutions() {
        let mut fused = prepared(conv_bn, true);
        let mut plain = prepared(conv_bn, false);
        let heads = |m: &Model| {
            m.chain
                .folds
                .iter()
                .filter(|f| matches!(f, super::Fold::Head { .. }))
                .count()
        };
        assert_eq!(heads(&fused), 6);
        let norm_heads = |m: &Model| {
            m.chain
                .folds
                .iter()
                .filter(|f| matches!(f, super::Fold::NormHead { .. }))
                .count()
        };
        assert_eq!(norm_heads(&fused), 1);
        assert_eq!(norm_heads(&plain), 0);
        let merge_heads = |m: &Model| {
            m.chain
                .folds
                .iter()
                .filter(|f| matches!(f, super::Fold::MergeHead { .. }))
                .count()
        };
        assert_eq!(merge_heads(&fused), 1);
        assert_eq!(merge_heads(&plain), 0);
        assert_eq!(heads(&plain), 0);
        perturb_vectors(&mut fused, 3);
        // Folding reassociates each output (scaled after the sum, not before the
        // normalization's own subtraction), and sums with cancellation magnify that: 1e-4.
        train_both_within(&mut fused, &mut plain, [8, 8, 16], 5, 8, 1e-4);
    }

    /// ResNet's block ends: a 1x1 convolution, its normalization, the `Add` of a shortcut
    /// (the block's input, or a strided 1x1 convolution's normalized output computed first)
    /// and the ReLU after it run as one pass in inference; a sum read twice keeps no
    /// activation, and a normalization whose `Add` partner is computed after it (the
    /// projection's) is left to that partner's fold. Predictions within float
    /// reassociation of the unfolded model's, before and after training.
    #[test]
    fn inference_folds_residual_block_ends() {
        fn blocks() -> crate::Result<Model> {
            let inp = Input::new((6, 6, 8));
            // Identity block: the shortcut is the input.
            let a = Conv2D::new(4, 1).call(&inp)?;
            let a = BatchNormalization::new().call(&a)?;
            let a = Activation::new("relu").call(&a)?;
            let a = Conv2D::new(8, 1).call(&a)?;
            let a = BatchNormalization::new().call(&a)?;
            let s = Add::new().call_on(&[&inp, &a])?;
            let s = Activation::new("relu").call(&s)?;
            // Projection block: the shortcut's convolution and normalization first.
            let sc = Conv2D::new(16, 1).strides(2).call(&s)?;
            let sc = BatchNormalization::new().call(&sc)?;
            let b = Conv2D::new(4, 1).strides(2).call(&s)?;
            let b = BatchNormalization::new().call(&b)?;
            let b = Activation::new("relu").call(&b)?;
            let b = Conv2D::new(16, 1).call(&b)?;
            let b = BatchNormalization::new().call(&b)?;
            let t = Add::new().call_on(&[&sc, &b])?;
            // No activation after this sum, and the sum is read twice.
            let c = Conv2D::new(16, 1).call(&t)?;
            let c = BatchNormalization::new().call(&c)?;
            let u = Add::new().call_on(&[&c, &t])?;
            let u = Add::new().call_on(&[&u, &t])?;
            let p = GlobalAveragePooling2D::new().call(&u)?;
            let out = Dense::new(3).activation("softmax").call(&p)?;
            Model::functional(&inp, &out)
        }
        let mut fused = prepared(blocks, true);
        let mut plain = prepared(blocks, false);
        let residual = |m: &Model| {
            m.chain
                .folds
                .iter()
                .filter(|f| matches!(f, super::Fold::Residual { .. }))
                .count()
        };
        assert_eq!((residual(&fused), residual(&plain)), (3, 0));
        perturb_vectors(&mut fused, 4);
        train_both_within(&mut fused, &mut plain, [6, 6, 8], 7, 8, 1e-4);
    }

    /// Training runs each normalization and the activation after it (ReLU, relu6: a
    /// gradient from the output alone) as one pass, forward and backward; swish and a normalization read by a
    /// pooling run as before; the weights are bit for bit those of separate passes.
    #[test]
    fn training_fuses_normalization_and_activation_bitwise() {
        // Four normalizations and the residual `Add`, each with the activation after it, and
        // each activation right after its normalization (or sum): the backward passes are
        // fused too.
        let (start, end) = train_fused_and_plain_bitwise(conv_bn, 5, 9, [8, 8, 16]);
        let moved = end.iter().zip(&start).any(|(a, b)| a.data() != b.data());
        assert!(moved, "training changed nothing");
    }

    /// Trains `build`'s model with the fusions and without them, from the same weights (two
    /// epochs of 24 samples of `shape` from `seed`, batches of 8): the fused one has `folds`
    /// training folds, each with its backward pass fused too, the other none, and both end
    /// with the same weights, bit for bit. Returns the weights before and after.
    fn train_fused_and_plain_bitwise(
        build: fn() -> crate::Result<Model>,
        folds: usize,
        seed: u64,
        shape: [usize; 3],
    ) -> (Vec<Tensor>, Vec<Tensor>) {
        let mut fused = prepared(build, true);
        let mut plain = prepared(build, false);
        let count = |m: &Model| m.chain.train_folds.iter().flatten().count();
        assert_eq!((count(&fused), count(&plain)), (folds, 0));
        let backward = |m: &Model| {
            let w = m.chain.wiring.as_ref().expect("functional");
            (0..w.calls.len())
                .filter(|&i| m.chain.backward_fold(w, i).is_some())
                .count()
        };
        assert_eq!((backward(&fused), backward(&plain)), (folds, 0));
        plain.set_weights(&fused.get_weights()).expect("weights");
        let start = plain.get_weights();
        let (x, y) = random_batch(seed, 24, shape);
        for m in [&mut fused, &mut plain] {
            m.fit(&x, &y)
                .epochs(2)
                .batch_size(8)
                .shuffle(false)
                .verbose(0)
                .run()
                .expect("fit");
        }
        let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for (a, b) in fused.get_weights().iter().zip(&plain.get_weights()) {
            assert_eq!(bits(a), bits(b));
        }
        (start, plain.get_weights())
    }

    /// Residual joins: an `Add` whose input other calls read too (its gradient added to
    /// theirs), ReLU and relu6 after them (fused in training), a swish (not fused: its
    /// gradient needs its input).
    fn residual_joins() -> crate::Result<Model> {
        let inp = Input::new((6, 6, 8));
        let a = Conv2D::new(8, 3).padding("same").call(&inp)?;
        let b = Conv2D::new(8, 1).call(&a)?;
        let s = Add::new().call_on(&[&a, &b])?;
        let s = Activation::new("relu").call(&s)?;
        let c = Conv2D::new(8, 3).padding("same").call(&s)?;
        let t = Add::new().call_on(&[&c, &a])?;
        let t = crate::layers::ReLU::new().max_value(6.0).call(&t)?;
        let u = Add::new().call_on(&[&t, &s])?;
        let u = Activation::new("swish").call(&u)?;
        let p = GlobalAveragePooling2D::new().call(&u)?;
        let out = Dense::new(3).activation("softmax").call(&p)?;
        Model::functional(&inp, &out)
    }

    /// Training runs a residual block's `Add` and the ReLU (or relu6) after it as one pass,
    /// forward and backward, the backward pass writing (or adding to) the sum's inputs'
    /// gradients from the activation's: the weights are bit for bit those of separate
    /// passes.
    #[test]
    fn training_fuses_residual_joins_and_their_activations_bitwise() {
        let (start, end) = train_fused_and_plain_bitwise(residual_joins, 2, 11, [6, 6, 8]);
        assert!(
            end.iter().zip(&start).all(|(a, b)| a.data() != b.data()),
            "training left a weight as it was"
        );
    }

    /// Timing the weight gradients apart (an extra backward call per layer) leaves training
    /// bit for bit as it was.
    #[test]
    fn split_profiling_trains_the_same_weights() {
        let mut timed = prepared(sequential, true);
        let mut plain = prepared(sequential, true);
        timed.set_profiling_split(true);
        let (x, y) = random_batch(9, 40, [9, 11, 3]);
        for m in [&mut timed, &mut plain] {
            m.fit(&x, &y)
                .epochs(2)
                .batch_size(20)
                .verbose(0)
                .run()
                .expect("fit");
        }
        // Batches of 20 run their convolutions by sample groups (one after the other while
        // profiling, side by side otherwise).
        assert!(!timed.chain.segments.is_empty());
        for (a, b) in timed.get_weights().iter().zip(&plain.get_weights()) {
            assert_eq!(a.data(), b.data());
        }
        let split = timed.layer_weight_grad_timings();
        let backward: Vec<f64> = timed.layer_timings().iter().map(|t| t.2).collect();
        assert_eq!(split.len(), backward.len());
        // The first convolution's weight gradients were timed (the absorbed pooling's row
        // stays empty).
        assert!(split[0] > 0.0 && backward[0] > 0.0, "{split:?}");
        assert!(plain.layer_weight_grad_timings().is_empty());
    }

    /// Convolutions between a trainable layer and a pooling: the grouped run hands an input
    /// gradient back to the batch normalization.
    fn normalized() -> crate::Result<Model> {
        Sequential::new([
            Conv2D::new(4, 3)
                .padding("same")
                .input_shape((8, 8, 2))
                .into(),
            BatchNormalization::new().into(),
            Conv2D::new(5, 3).activation("relu").into(),
            MaxPooling2D::new((2, 2)).into(),
            Flatten::new().into(),
            Dense::new(3).activation("softmax").into(),
        ])
    }

    /// A frozen first convolution: backward stops inside the grouped run.
    fn frozen_first() -> crate::Result<Model> {
        Sequential::new([
            Conv2D::new(4, 3)
                .trainable(false)
                .input_shape((9, 11, 3))
                .into(),
            Conv2D::new(5, 3).padding("same").activation("tanh").into(),
            MaxPooling2D::new((2, 2)).into(),
            Flatten::new().into(),
            Dense::new(3).activation("softmax").into(),
        ])
    }

    /// The other per-sample layers in one run, behind a non-trainable first layer.
    fn assorted() -> crate::Result<Model> {
        Sequential::new([
            Rescaling::new(0.5).input_shape((8, 8, 2)).into(),
            SeparableConv2D::new(4, 3)
                .padding("same")
                .activation("relu")
                .into(),
            DepthwiseConv2D::new(3).activation("tanh").into(),
            LayerNormalization::new().into(),
            Conv2DTranspose::new(3, 3).strides(2).into(),
            UpSampling2D::new(2).into(),
            Permute::new(&[2, 1, 3]).into(),
            Reshape::new(&[-1]).into(),
            Dense::new(3).activation("softmax").into(),
        ])
    }

    /// All of the model in one run, ending with the softmax that the loss fuses.
    fn all_convolutional() -> crate::Result<Model> {
        Sequential::new([
            Conv2D::new(4, 3)
                .activation("relu")
                .input_shape((8, 8, 2))
                .into(),
            Conv2D::new(3, 1).into(),
            GlobalAveragePooling2D::new().into(),
            Activation::new("softmax").into(),
        ])
    }

    /// A model, its input shape, the batch size, the grouped runs planned.
    type Case = (
        fn() -> crate::Result<Model>,
        [usize; 3],
        usize,
        &'static [(usize, usize)],
    );

    /// Runs of per-sample layers executed by sample groups train like the same layers run
    /// one at a time (up to float reassociation), with 2 and 3 groups and a last batch
    /// of one group.
    #[test]
    fn sample_groups_train_like_layer_at_a_time() {
        let cases: [Case; 5] = [
            (sequential, [9, 11, 3], 20, &[(0, 5)]),
            (normalized, [8, 8, 2], 40, &[(2, 5)]),
            (frozen_first, [9, 11, 3], 40, &[(0, 4)]),
            (assorted, [8, 8, 2], 40, &[(0, 8)]),
            (all_convolutional, [8, 8, 2], 20, &[(0, 4)]),
        ];
        for (build, shape, batch, runs) in cases {
            let mut grouped = prepared(build, true);
            let mut plain = prepared(build, true);
            grouped.set_sample_groups(4);
            plain.set_sample_groups(1);
            train_both(&mut grouped, &mut plain, shape, 5, batch);
            let planned: Vec<(usize, usize)> = grouped
                .chain
                .segments
                .iter()
                .map(|s| (s.start, s.end))
                .collect();
            assert_eq!(planned, runs);
            assert!(plain.chain.segments.is_empty());
        }
    }

    /// Branches, a residual `Add`, a `Multiply`, a `Concatenate` of three, a layer read by
    /// three calls, a layer called twice, an output read by another layer, and two heads.
    fn branchy() -> crate::Result<Model> {
        let inp = Input::new((8, 8, 3));
        let stem = Conv2D::new(6, 3)
            .padding("same")
            .activation("relu")
            .call(&inp)?;
        let b1 = Conv2D::new(6, 1).call(&stem)?;
        let b2 = Conv2D::new(6, 3)
            .padding("same")
            .activation("tanh")
            .call(&stem)?;
        let res = Add::new().call_on(&[&stem, &b1])?;
        let shared = Shared::new(Conv2D::new(6, 3).padding("same").activation("relu"));
        let s1 = shared.call(&res)?;
        let s2 = shared.call(&b2)?;
        let gate = Multiply::new().call_on(&[&s2, &b2])?;
        let cat = Concatenate::new().call_on(&[&s1, &gate, &res])?;
        let bn = BatchNormalization::new().call(&cat)?;
        let pooled = MaxPooling2D::new((2, 2)).call(&bn)?;
        let g = GlobalAveragePooling2D::new().call(&pooled)?;
        let o1 = Dense::new(3).activation("softmax").name("o1").call(&g)?;
        let f = Flatten::new().call(&pooled)?;
        let h = Dense::new(4).activation("relu").call(&f)?;
        let hc = Concatenate::new().call_on(&[&h, &o1])?;
        let o2 = Dense::new(2).name("o2").call(&hc)?;
        Model::functional(&inp, [&o1, &o2])
    }

    /// `build`'s model, compiled, with the gradient plan on or off.
    fn planned(build: impl Fn() -> crate::Result<Model>, plan: bool, outputs: usize) -> Model {
        crate::rng::set_random_seed(7);
        let mut m = build().expect("model");
        m.chain.no_memory_plan = !plan;
        let sgd = || SGD::new().learning_rate(0.05).momentum(0.9);
        if outputs == 2 {
            m.compile_outputs(
                sgd(),
                [
                    OutputLoss::new("o1", "categorical_crossentropy"),
                    OutputLoss::new("o2", "mse").loss_weight(0.5),
                ],
            )
        } else {
            m.compile(sgd(), "categorical_crossentropy", &["accuracy"])
        }
        .expect("compile");
        m
    }

    /// `build`'s model with the memory plan on and off (the same weights, `groups` sample
    /// groups), a random generator seeded with `seed`, and a random input batch of 2.5
    /// batches of `shape`.
    fn plan_pair(
        build: fn() -> crate::Result<Model>,
        shape: [usize; 3],
        outputs: usize,
        batch: usize,
        groups: usize,
        seed: u64,
    ) -> (Model, Model, crate::rng::Rng, Tensor) {
        let mut on = planned(build, true, outputs);
        let mut off = planned(build, false, outputs);
        on.set_sample_groups(groups);
        off.set_sample_groups(groups);
        off.set_weights(&on.get_weights()).expect("weights");
        let mut rng = crate::rng::Rng::new(seed);
        let n = 2 * batch + batch / 2;
        let len = n * shape.iter().product::<usize>();
        let x: Vec<f32> = (0..len).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
        let x = Tensor::new(vec![n, shape[0], shape[1], shape[2]], x).expect("x");
        (on, off, rng, x)
    }

    /// Fits `m` on `x` for `epochs` unshuffled epochs: against `y1` alone, or against both
    /// targets when the model has 2 outputs.
    fn fit_heads(
        m: &mut Model,
        x: &Tensor,
        (y1, y2): (&Tensor, &Tensor),
        outputs: usize,
        batch: usize,
        epochs: usize,
    ) {
        let fit = if outputs == 2 {
            m.fit(x, [y1, y2])
        } else {
            m.fit(x, y1)
        };
        fit.epochs(epochs)
            .batch_size(batch)
            .shuffle(false)
            .verbose(0)
            .run()
            .expect("fit");
    }

    /// Trains `build`'s model with and without the gradient plan from the same weights:
    /// the weights must end bit for bit equal. Returns the planned and unplanned gradient
    /// floats of the planned model.
    fn plan_trains_bitwise(
        build: fn() -> crate::Result<Model>,
        shape: [usize; 3],
        outputs: usize,
        batch: usize,
        groups: usize,
    ) -> (usize, usize) {
        let (mut on, mut off, mut rng, x) = plan_pair(build, shape, outputs, batch, groups, 11);
        let n = x.shape()[0];
        let start = on.get_weights();
        let labels: Vec<usize> = (0..n).map(|_| rng.below(3)).collect();
        let y1 = Tensor::one_hot(&labels, 3).expect("y1");
        let y2 = Tensor::new(
            vec![n, 2],
            (0..2 * n).map(|_| rng.uniform_range(-1.0, 1.0)).collect(),
        )
        .expect("y2");
        for m in [&mut on, &mut off] {
            fit_heads(m, &x, (&y1, &y2), outputs, batch, 2);
        }
        for (a, b) in on.get_weights().iter().zip(&off.get_weights()) {
            assert_eq!(a.data(), b.data(), "weights differ with the gradient plan");
        }
        assert!(
            on.get_weights()
                .iter()
                .zip(&start)
                .any(|(a, b)| a.data() != b.data()),
            "training changed nothing"
        );
        let (total, unplanned) = off.chain.grad_memory();
        assert_eq!(total, unplanned, "the plan was not off");
        on.chain.grad_memory()
    }

    /// Gradients sharing buffers by liveness train bit for bit like one buffer per
    /// gradient, in a graph of every kind of fan-out and in sequential models (with and
    /// without sample groups, behind frozen layers, with absorbed poolings).
    #[test]
    fn shared_gradient_buffers_train_bitwise_like_separate_ones() {
        let (total, unplanned) = plan_trains_bitwise(branchy, [8, 8, 3], 2, 8, 1);
        assert!(total < unplanned, "{total} vs {unplanned}");
        let cases: [Case; 5] = [
            (sequential, [9, 11, 3], 20, &[]),
            (normalized, [8, 8, 2], 40, &[]),
            (frozen_first, [9, 11, 3], 40, &[]),
            (assorted, [8, 8, 2], 40, &[]),
            (all_convolutional, [8, 8, 2], 20, &[]),
        ];
        for (build, shape, batch, _) in cases {
            for groups in [1, 4] {
                let (total, unplanned) = plan_trains_bitwise(build, shape, 1, batch, groups);
                assert!(total <= unplanned, "{total} vs {unplanned}");
            }
        }
    }

    /// Freezing the first `k` layers of a graph of every kind of fan-out (merges, a shared
    /// layer, two outputs): the calls with no trainable weights in or before them are
    /// skipped, and the weights end bit for bit as when every gradient is computed.
    #[test]
    fn frozen_calls_are_skipped_bitwise() {
        let layers = planned(branchy, true, 2).chain.layers.len();
        for k in [1, 3, 5, 9, layers - 1] {
            let (mut on, mut off, mut rng, x) = plan_pair(branchy, [8, 8, 3], 2, 8, 1, 5);
            off.chain.no_memory_plan = false;
            off.chain.all_grads = true;
            for m in [&mut on, &mut off] {
                for i in 0..k {
                    m.chain.set_trainable(i, false).expect("freeze");
                }
            }
            let n = x.shape()[0];
            let labels: Vec<usize> = (0..n).map(|_| rng.below(3)).collect();
            let y1 = Tensor::one_hot(&labels, 3).expect("y1");
            let y2 = Tensor::new(vec![n, 2], vec![0.25; 2 * n]).expect("y2");
            let start = on.get_weights();
            for m in [&mut on, &mut off] {
                fit_heads(m, &x, (&y1, &y2), 2, 8, 2);
            }
            for (a, b) in on.get_weights().iter().zip(&off.get_weights()) {
                assert_eq!(a.data(), b.data(), "weights differ with {k} layers frozen");
            }
            let changed = |m: &Model| m.get_weights().iter().zip(&start).any(|(a, b)| a != b);
            assert!(changed(&on), "training changed nothing with {k} frozen");
            let skipped = on.chain.call_needed.iter().filter(|&&c| !c).count();
            assert!(skipped >= 1, "nothing skipped with {k} frozen");
            assert!(off.chain.call_needed.iter().all(|&c| c));
            // The frozen stem reads the model's input: its calls are skipped from the start.
            assert!(!on.chain.call_needed[0]);
            // The frozen calls' activations share buffers (`train_act_spans`).
            let (total, unplanned, infer) = on.chain.act_memory();
            assert!(!infer);
            assert!(
                k < 3 || total < unplanned,
                "{k} frozen: {total} of {unplanned}"
            );
            let (off_total, _, _) = off.chain.act_memory();
            assert_eq!(off_total, unplanned, "all_grads: one buffer per activation");
        }
    }

    /// Freezing after training and unfreezing again (Keras's fine-tuning): a backward pass
    /// zeroes only the gradients it writes, yet a frozen layer's gradients are zero (the
    /// stale ones cleared when it was frozen), and the weights end bit for bit as when every
    /// gradient is computed and zeroed each step. Functional models and sequential ones,
    /// with and without sample groups.
    #[test]
    fn refreezing_clears_stale_gradients_and_trains_bitwise() {
        let frozen_grads_zero = |m: &Model, k: usize| {
            for l in &m.chain.layers[..k] {
                for p in l.params() {
                    assert!(
                        p.grad.iter().all(|&g| g == 0.0),
                        "layer {} kept a stale gradient",
                        l.name()
                    );
                }
            }
        };
        type Refreeze = (fn() -> crate::Result<Model>, [usize; 3], usize, usize);
        let cases: [Refreeze; 3] = [
            (branchy, [8, 8, 3], 2, 1),
            (sequential, [9, 11, 3], 1, 1),
            (sequential, [9, 11, 3], 1, 4),
        ];
        for (build, shape, outputs, groups) in cases {
            let (mut on, mut off, mut rng, x) = plan_pair(build, shape, outputs, 8, groups, 7);
            off.chain.no_memory_plan = false;
            off.chain.all_grads = true;
            let n = x.shape()[0];
            let labels: Vec<usize> = (0..n).map(|_| rng.below(3)).collect();
            let y1 = Tensor::one_hot(&labels, 3).expect("y1");
            let y2 = Tensor::new(vec![n, 2], vec![0.25; 2 * n]).expect("y2");
            let k = 3;
            for m in [&mut on, &mut off] {
                fit_heads(m, &x, (&y1, &y2), outputs, 8, 1);
                assert!(
                    m.chain.layers[..k]
                        .iter()
                        .any(|l| l.params().iter().any(|p| p.grad.iter().any(|&g| g != 0.0))),
                    "no gradient to go stale"
                );
                for i in 0..k {
                    m.chain.set_trainable(i, false).expect("freeze");
                }
                fit_heads(m, &x, (&y1, &y2), outputs, 8, 1);
                if !m.chain.all_grads {
                    // (`all_grads` runs the frozen calls' backward passes too.)
                    frozen_grads_zero(m, k);
                }
                for i in 0..k {
                    m.chain.set_trainable(i, true).expect("unfreeze");
                }
                fit_heads(m, &x, (&y1, &y2), outputs, 8, 1);
            }
            for (a, b) in on.get_weights().iter().zip(&off.get_weights()) {
                assert_eq!(a.data(), b.data(), "weights differ ({groups} groups)");
            }
        }
    }

    /// A frozen residual stack under a trainable head: its convolutions, normalizations,
    /// merges and activations run their inference folds in training too (one pass each, no
    /// backward), and training ends where computing every gradient call by call ends, up
    /// to the folds' rounding.
    #[test]
    fn frozen_backbones_run_their_inference_folds_in_training() {
        let mut on = prepared(residual_stack, true);
        let mut off = prepared(residual_stack, true);
        off.chain.all_grads = true;
        off.set_weights(&on.get_weights()).expect("weights");
        let layers = on.chain.layers.len();
        for m in [&mut on, &mut off] {
            for i in 0..layers - 1 {
                m.chain.set_trainable(i, false).expect("freeze");
            }
        }
        let start = on.get_weights();
        let (x, y) = random_batch(3, 24, [8, 8, 3]);
        for m in [&mut on, &mut off] {
            fit_heads(m, &x, (&y, &y), 1, 8, 2);
        }
        let folded = on.chain.frozen_folds.iter().filter(|&&f| f).count();
        assert!(folded >= 8 * 4, "{folded} calls folded");
        assert!(!off.chain.frozen_folds.iter().any(|&f| f));
        for ((a, b), s) in on.get_weights().iter().zip(&off.get_weights()).zip(&start) {
            for ((u, v), w0) in a.data().iter().zip(b.data()).zip(s.data()) {
                assert!((u - v).abs() <= 1e-5 * (1.0 + v.abs()), "{u} vs {v}");
                if a.shape().len() > 2 {
                    assert_eq!(u, w0, "a frozen kernel moved");
                }
            }
        }
        assert!(on.get_weights().iter().zip(&start).any(|(a, b)| a != b));
    }

    /// A model's first convolution behind a padding computes no input gradient: the
    /// padding's output needs none.
    #[test]
    fn the_first_convolution_needs_no_input_gradient() {
        let stem = || -> crate::Result<Model> {
            let inp = Input::new((8, 8, 3));
            let p = ZeroPadding2D::new(1).call(&inp)?;
            let c = Conv2D::new(4, 3).strides(2).call(&p)?;
            let g = GlobalAveragePooling2D::new().call(&c)?;
            let o = Dense::new(3).activation("softmax").call(&g)?;
            Model::functional(&inp, &o)
        };
        let (total, unplanned) = plan_trains_bitwise(stem, [8, 8, 3], 1, 8, 1);
        assert!(total <= unplanned);
        let mut m = planned(stem, true, 1);
        m.chain.allocate(8).expect("allocate");
        assert_eq!(m.chain.call_needed, [false, true, true, true]);
        let first = m.chain.wiring.as_ref().expect("functional").first_call();
        assert!(!m.chain.grad_needed[first], "the padding's output");
        assert!(m.chain.grad_needed[first + 1..].iter().all(|&g| g));
    }

    /// A stack of residual blocks.
    fn residual_stack() -> crate::Result<Model> {
        let inp = Input::new((8, 8, 3));
        let mut x = Conv2D::new(8, 3).padding("same").call(&inp)?;
        for _ in 0..8 {
            let h = Conv2D::new(8, 3).padding("same").call(&x)?;
            let h = BatchNormalization::new().call(&h)?;
            let h = Activation::new("relu").call(&h)?;
            let h = Conv2D::new(8, 3).padding("same").call(&h)?;
            let h = BatchNormalization::new().call(&h)?;
            let s = Add::new().call_on(&[&x, &h])?;
            x = Activation::new("relu").call(&s)?;
        }
        let g = GlobalAveragePooling2D::new().call(&x)?;
        let out = Dense::new(3).activation("softmax").call(&g)?;
        Model::functional(&inp, &out)
    }

    /// In a deep residual stack a handful of buffers serve every gradient.
    #[test]
    fn deep_models_share_gradient_buffers() {
        let (total, unplanned) = plan_trains_bitwise(residual_stack, [8, 8, 3], 1, 8, 1);
        assert!(total * 8 < unplanned, "{total} vs {unplanned}");
        let mut chain = prepared(sequential, true);
        chain.chain.allocate(16).expect("allocate");
        let (total, unplanned) = chain.chain.grad_memory();
        assert!(total < unplanned, "{total} vs {unplanned}");
    }

    /// A gradient with several readers is written first by its last reader (copied, or
    /// computed in place) and added to by the others: none is zero-filled first. Here each
    /// block's input is read by the block's first convolution and by its `Add`, which
    /// comes later in the graph and so writes first.
    #[test]
    fn shared_gradients_are_overwritten_by_their_first_writer() {
        let mut m = prepared(residual_stack, true);
        m.chain.allocate(8).expect("allocate");
        let w = m.chain.wiring.as_ref().expect("functional");
        let first = w.first_call();
        let mut shared = 0;
        for (a, &c) in m.chain.consumers.iter().enumerate() {
            if c < 2 || a < first || w.outputs.contains(&a) {
                continue;
            }
            shared += 1;
            let writer = m.chain.grad_first[a];
            let last_reader = (0..w.calls.len())
                .rev()
                .find(|&i| w.calls[i].ins.contains(&a));
            assert_eq!(Some(writer), last_reader, "activation {a}");
            assert_eq!(m.chain.layers[w.calls[writer].layer].class_name(), "Add");
            assert!(
                m.chain.zero_at.iter().all(|z| !z.contains(&a)),
                "{a} zero-filled"
            );
        }
        assert_eq!(shared, 8);
    }

    /// Predicts with `build`'s model allocated for inference only, with and without the
    /// activation plan, then trains both and predicts again: the predictions must be bit
    /// for bit equal. Returns the planned and unplanned activation floats of the first
    /// predictions.
    fn infer_plan_bitwise(
        build: fn() -> crate::Result<Model>,
        shape: [usize; 3],
        outputs: usize,
        batch: usize,
        groups: usize,
    ) -> (usize, usize) {
        let (mut on, mut off, _, x) = plan_pair(build, shape, outputs, batch, groups, 13);
        let n = x.shape()[0];
        let predict = |m: &mut Model| -> Vec<Vec<f32>> {
            if outputs == 2 {
                let p = m.predict_outputs(&x).expect("predict");
                p.iter().map(|t| t.data().to_vec()).collect()
            } else {
                let p = m.predict_batched(&x, batch).expect("predict");
                vec![p.data().to_vec()]
            }
        };
        assert_eq!(predict(&mut on), predict(&mut off));
        let memory = on.chain.act_memory();
        assert!(memory.2, "not planned for inference");
        assert!(!off.chain.act_memory().2);
        let y1 = Tensor::one_hot(&(0..n).map(|i| i % 3).collect::<Vec<_>>(), 3).expect("y1");
        let y2 = Tensor::new(vec![n, 2], vec![0.5; 2 * n]).expect("y2");
        for m in [&mut on, &mut off] {
            fit_heads(m, &x, (&y1, &y2), outputs, batch, 1);
            assert!(!m.chain.act_memory().2, "training on inference buffers");
        }
        assert_eq!(predict(&mut on), predict(&mut off));
        (memory.0, memory.1)
    }

    /// Activations sharing buffers by liveness in inference predict bit for bit like one
    /// buffer per activation (graphs with folds and fan-out, sequential models with sample
    /// groups), and training afterwards gets one buffer per activation again.
    #[test]
    fn inference_plans_predict_bitwise_like_separate_buffers() {
        let (total, unplanned) = infer_plan_bitwise(branchy, [8, 8, 3], 2, 8, 1);
        assert!(total < unplanned, "{total} vs {unplanned}");
        let (total, unplanned) = infer_plan_bitwise(residual_stack, [8, 8, 3], 1, 8, 1);
        assert!(total * 4 < unplanned, "{total} vs {unplanned}");
        let (total, unplanned) = infer_plan_bitwise(conv_bn, [8, 8, 16], 1, 8, 1);
        assert!(total < unplanned, "{total} vs {unplanned}");
        for (build, shape, batch) in [
            (sequential as fn() -> crate::Result<Model>, [9, 11, 3], 20),
            (normalized, [8, 8, 2], 40),
            (assorted, [8, 8, 2], 40),
        ] {
            for groups in [1, 4] {
                infer_plan_bitwise(build, shape, 1, batch, groups);
            }
        }
    }

    /// Predicts on a larger batch than it trains on from a callback in the middle of `fit`;
    /// counts the predictions that ran on buffers planned for inference only (the first:
    /// later ones find training buffers of their size).
    struct PredictsMidway(Tensor, usize);

    impl crate::callbacks::Callback for PredictsMidway {
        fn on_train_batch_end(
            &mut self,
            _batch: usize,
            _logs: &crate::callbacks::Logs,
            model: &mut Model,
        ) -> crate::Result<crate::callbacks::Control> {
            model.predict_batched(&self.0, 64)?;
            self.1 += usize::from(model.chain.act_memory().2);
            Ok(crate::callbacks::Control::Continue)
        }
    }

    /// Training after a callback's predictions (buffers planned for inference in between)
    /// ends with the same weights as without them.
    #[test]
    fn training_resumes_after_inference_plans_midway() {
        let mut calls = planned(residual_stack, true, 1);
        let mut plain = planned(residual_stack, true, 1);
        plain.set_weights(&calls.get_weights()).expect("weights");
        let mut rng = crate::rng::Rng::new(17);
        let x: Vec<f32> = (0..24 * 192)
            .map(|_| rng.uniform_range(-1.0, 1.0))
            .collect();
        let x = Tensor::new(vec![24, 8, 8, 3], x).expect("x");
        let y1 = Tensor::one_hot(&(0..24).map(|i| i % 3).collect::<Vec<_>>(), 3).expect("y1");
        let mut cb = PredictsMidway(x.clone(), 0);
        for (m, cb) in [(&mut calls, Some(&mut cb)), (&mut plain, None)] {
            let mut fit = m.fit(&x, &y1).epochs(2).batch_size(8).shuffle(false);
            if let Some(cb) = cb {
                fit = fit.callback(cb);
            }
            fit.verbose(0).run().expect("fit");
        }
        assert_eq!(cb.1, 1);
        for (a, b) in calls.get_weights().iter().zip(&plain.get_weights()) {
            assert_eq!(a.data(), b.data());
        }
    }
}
