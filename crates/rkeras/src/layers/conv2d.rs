//! `Conv2D`: 2-D convolution over NHWC inputs with an HWIO kernel, optional bias and a fused
//! activation; grouped convolutions (`groups > 1`) run the same kernels group by group.

use super::registry::{Cfg, FromConfig};
use super::{
    check_pair, common_builders, parse_padding, rank_error, Backward, Layer, LayerBase, Mode, Param,
};
use crate::error::{Error, Result};
use crate::init::Initializer;
use crate::rng::Rng;
use crate::shape::IntoPair;
use rkeras_kernels::conv2d::Bias;
use rkeras_kernels::{
    activation, conv2d, conv_pool, winograd, Act, Conv2dGeom, ConvPool, Pool2dGeom, Scratch,
    Winograd,
};
use serde_json::{json, Map, Value};

/// 2-D convolution layer (Keras `Conv2D`, `channels_last`).
///
/// Defaults as Keras: `strides=(1, 1)`, `padding="valid"`, `dilation_rate=(1, 1)`,
/// `groups=1`, no activation, bias on, `glorot_uniform` kernel, `zeros` bias.
///
/// With `groups = g`, the input channels and the filters are split into `g` groups and
/// group `j` of the filters sees only group `j` of the channels (kernel
/// `(kh, kw, channels / g, filters)`).
///
/// # Shapes
/// Input `(batch, h, w, c)`; output `(batch, oh, ow, filters)`.
///
/// # Errors
/// When built: `filters` or the input channels not divisible by `groups`, `strides > 1`
/// together with `dilation_rate > 1` (as Keras), an input smaller than the dilated kernel.
///
/// ```
/// use rkeras::prelude::*;
/// let model = Sequential::new([
///     Conv2D::new(8, (3, 3)).activation("relu").padding("same").input_shape((16, 16, 3)).into(),
/// ])?;
/// assert_eq!(model.output_shape(), Some(&[16, 16, 8][..]));
///
/// // Two groups: 4 input channels, 6 filters, kernel (3, 3, 2, 6).
/// let grouped = Sequential::new([Conv2D::new(6, 3).groups(2).input_shape((8, 8, 4)).into()])?;
/// assert_eq!(grouped.count_params(), 3 * 3 * 2 * 6 + 6);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Conv2D {
    base: LayerBase,
    filters: usize,
    kernel_size: (usize, usize),
    strides: (usize, usize),
    dilation_rate: (usize, usize),
    groups: usize,
    padding: String,
    activation: String,
    use_bias: bool,
    kernel_initializer: crate::init::InitArg,
    bias_initializer: crate::init::InitArg,
    weights: super::weight_options::WeightOptions,
    act: Act,
    geom: Option<Conv2dGeom>,
    params: Vec<Param>,
    scratch: Scratch,
    preact: Vec<f32>,
    grouped: GroupBufs,
    /// The max pooling this layer computes too (see [`Layer::absorb_max_pool`]).
    pooled: Option<ConvPool>,
    /// Window position of each pooled value of the last forward pass.
    pool_pos: Vec<u8>,
    /// The Winograd plan, when this convolution (and its absorbed pooling) qualifies.
    wino: Option<Winograd>,
    /// The plan the forward pass runs instead, where one does less
    /// ([`Winograd::forward_plan`]); the backward pass runs `wino`.
    wino_fwd: Option<Winograd>,
    /// The two plans' transformed kernels.
    wino_k: WinoKernels,
    fold: Fold,
}

/// The transformed kernels of a layer's Winograd plans, and the kernel they were made
/// from: inference and the backward pass reuse them while the weights do not change.
#[derive(Clone, Debug, Default)]
struct WinoKernels {
    /// The layer's kernel at the last check.
    seen: Vec<f32>,
    /// The transformed kernels of [`TRAINING_PLAN`] and [`FORWARD_PLAN`], each sized at its
    /// first use (a plan a model never runs maps no memory).
    u: [Vec<f32>; 2],
    /// Whether each of `u` was transformed from `seen`.
    fresh: [bool; 2],
}

/// [`WinoKernels::u`]'s slot of the training plan (`Conv2D::wino`).
const TRAINING_PLAN: usize = 0;
/// [`WinoKernels::u`]'s slot of the forward plan (`Conv2D::wino_fwd`).
const FORWARD_PLAN: usize = 1;

impl WinoKernels {
    /// Marks every transformed kernel stale (the plans changed).
    fn clear(&mut self) {
        self.seen.clear();
        self.fresh = [false; 2];
    }

    /// The transformed kernel in `slot`, of plan `wg`, brought up to date with `kernel`.
    fn get(&mut self, slot: usize, wg: &Winograd, kernel: &[f32]) -> &[f32] {
        if !rkeras_kernels::elementwise::same_bits(&self.seen, kernel) {
            self.seen.clear();
            self.seen.extend_from_slice(kernel);
            self.fresh = [false; 2];
        }
        let u = &mut self.u[slot];
        if u.len() != wg.kernel_len() {
            *u = vec![0.0; wg.kernel_len()];
            self.fresh[slot] = false;
        }
        if !self.fresh[slot] {
            winograd::transform_kernel(wg, kernel, u);
            self.fresh[slot] = true;
        }
        u
    }
}

/// Winograd F(2x2, 3x3) for the 3x3 stride-1 convolutions that qualify, unless
/// `RKERAS_WINOGRAD=0` (im2col + GEMM for all, for A/B runs).
fn winograd_enabled() -> bool {
    crate::settings::settings().winograd
}

/// Fewer output tiles than this in a call (a single image's deep, small feature maps) run
/// im2col + GEMM instead of Winograd: each of Winograd's per-position GEMMs would be a few
/// rows against a transformed kernel 1.8x (or 4x) the size of the kernel, and reading it
/// costs more than the multiplications saved. Measured on ResNet50's 2x2 and 4x4 layers.
const WINOGRAD_MIN_TILES: usize = 16;

/// A feature map of one output tile (ResNet50's 2x2 and 4x4 layers at 64x64) runs im2col +
/// GEMM with blocks across samples instead of Winograd: its per-position GEMMs get a few
/// rows per block, and the backward pass's transformed kernel-gradient partials are large.
/// Measured on ResNet50 at 64x64, batch 32: those layers 1.8 -> 0.85 ms per image (train).
/// The forward pass of a weight-bound batch is the exception (`winograd_pays`).
const WINOGRAD_MIN_TILES_PER_SAMPLE: usize = 2;

/// Whether a call on a batch of `n` runs Winograd (always, with an absorbed pooling): the
/// forward pass (`forward`) also on one-tile maps when the batch is weight-bound
/// ([`Winograd::weight_bound`]: one block, the positions' GEMMs in parallel); the backward
/// pass there keeps im2col + GEMM (its kernel gradient per position would be a partial per
/// group; measured slower on ResNet50 at 64x64).
fn winograd_pays(wg: &Winograd, n: usize, forward: bool) -> bool {
    let tiles = wg.tiles_per_sample();
    wg.pooled
        || (n * tiles >= WINOGRAD_MIN_TILES
            && (tiles >= WINOGRAD_MIN_TILES_PER_SAMPLE || forward && wg.weight_bound(n)))
}

/// One group's slice of a grouped convolution (`groups > 1`), gathered contiguous so the
/// ordinary kernels run on it: input channels, kernel columns, outputs (or their
/// gradients), input gradient, kernel gradient.
#[derive(Clone, Debug, Default)]
struct GroupBufs {
    x: Vec<f32>,
    k: Vec<f32>,
    y: Vec<f32>,
    dx: Vec<f32>,
    dk: Vec<f32>,
}

/// Copies columns `c0 .. c0 + w` of every row of `src` (rows of `stride`) into `dst`.
fn gather_cols(src: &[f32], stride: usize, c0: usize, w: usize, dst: &mut [f32]) {
    for (d, s) in dst.chunks_exact_mut(w).zip(src.chunks_exact(stride)) {
        d.copy_from_slice(&s[c0..c0 + w]);
    }
}

/// Writes (or, with `add`, adds) the packed rows of `src` into columns `c0 ..` of `dst`.
fn scatter_cols(src: &[f32], stride: usize, c0: usize, w: usize, dst: &mut [f32], add: bool) {
    for (s, d) in src.chunks_exact(w).zip(dst.chunks_exact_mut(stride)) {
        let d = &mut d[c0..c0 + w];
        if add {
            d.iter_mut().zip(s).for_each(|(a, v)| *a += v);
        } else {
            d.copy_from_slice(s);
        }
    }
}

/// A following `BatchNormalization` folded in, for inference ([`Layer::forward_folded`]):
/// the output channels' factor and shift, applied to each block of outputs right after its
/// GEMM (the kernel itself is never copied: `conv(x, w) * a + (bias * a + b)`).
#[derive(Clone, Debug, Default)]
struct Fold {
    map: super::FoldMap,
    /// The forward pass in progress applies the map and this activation.
    active: Option<Act>,
}

impl Conv2D {
    /// A convolution with `filters` output channels and a `kernel_size` window.
    pub fn new(filters: usize, kernel_size: impl IntoPair) -> Self {
        Conv2D {
            base: LayerBase::default(),
            filters,
            kernel_size: kernel_size.into_pair(),
            strides: (1, 1),
            dilation_rate: (1, 1),
            groups: 1,
            padding: "valid".into(),
            activation: "linear".into(),
            use_bias: true,
            kernel_initializer: "glorot_uniform".into(),
            bias_initializer: "zeros".into(),
            weights: Default::default(),
            act: Act::Linear,
            geom: None,
            params: Vec::new(),
            scratch: Scratch::default(),
            preact: Vec::new(),
            grouped: GroupBufs::default(),
            pooled: None,
            pool_pos: Vec::new(),
            wino: None,
            wino_fwd: None,
            wino_k: WinoKernels::default(),
            fold: Fold::default(),
        }
    }
    super::field_setters! {
        /// Strides (default `(1, 1)`).
        strides(s): pair,
        /// Dilation rate (default `(1, 1)`).
        dilation_rate(d): pair,
        /// Groups the channels are split into (default 1); input channels and `filters` must
        /// both be divisible by it.
        groups(g): usize,
        /// `"valid"` (default) or `"same"`.
        padding(p): str,
        /// Activation name (`"relu"`, `"softmax"`, ...; default none).
        activation(a): str,
        /// Whether to add a bias (default `true`).
        use_bias(b): bool,
        /// Kernel initializer name (default `"glorot_uniform"`).
        kernel_initializer(i): init,
        /// Bias initializer name (default `"zeros"`).
        bias_initializer(i): init,
    }
}
common_builders!(Conv2D);
super::weight_options::weight_option_builders!(Conv2D:
    "kernel" => kernel_regularizer, kernel_constraint;
    "bias" => bias_regularizer, bias_constraint;
);

impl Conv2D {
    /// Plans Winograd for the convolution (with its absorbed pooling, if any) when it
    /// qualifies; `allocate` sizes its buffers.
    fn plan_winograd(&mut self) {
        self.wino = match (self.geom, self.pooled) {
            _ if self.groups > 1 || !winograd_enabled() => None,
            (_, Some(cp)) => Winograd::pooled(cp.conv, &cp.pool, self.act),
            (Some(g), None) => Winograd::new(g),
            (None, None) => None,
        };
        self.wino_fwd = self.wino.and_then(|wg| wg.forward_plan());
        // The transformed kernels are stale (recomputed at the next use).
        self.wino_k.clear();
    }

    /// Forward pass of a grouped convolution: each group's channels and kernel columns are
    /// gathered, convolved by the ordinary kernels, and the outputs scattered to the group's
    /// filters; then bias and activation over all filters.
    fn forward_grouped(&mut self, g: &Conv2dGeom, x: &[f32], y: &mut [f32], n: usize) {
        let (c, f) = (g.cin * self.groups, self.filters);
        let b = &mut self.grouped;
        let (xg, yg, kg) = (
            &mut b.x[..n * g.in_len()],
            &mut b.y[..n * g.out_len()],
            &mut b.k[..g.kernel_len()],
        );
        let y = &mut y[..n * g.rows() * f];
        for j in 0..self.groups {
            gather_cols(&x[..n * g.h * g.w * c], c, j * g.cin, g.cin, xg);
            gather_cols(&self.params[0].value, f, j * g.cout, g.cout, kg);
            conv2d::forward(g, n, xg, kg, Bias::None, Act::Linear, yg, &self.scratch);
            scatter_cols(yg, f, j * g.cout, g.cout, y, false);
        }
        let bias = self.params.get(1).map(|p| &p.value[..]);
        conv2d::epilogue(y, bias.into(), Act::Linear, f);
        if self.act.backward_needs_input() {
            self.preact[..y.len()].copy_from_slice(y);
        }
        activation::forward_inplace(self.act, y, f);
    }

    /// Backward pass of a grouped convolution; `dy` is already the pre-activation gradient.
    fn backward_grouped(
        &mut self,
        g: &Conv2dGeom,
        x: &[f32],
        dy: &[f32],
        mut dx: Option<&mut [f32]>,
        n: usize,
    ) {
        let (c, f) = (g.cin * self.groups, self.filters);
        let dy = &dy[..n * g.rows() * f];
        if let Some(bias) = self.params.get_mut(1) {
            for row in dy.chunks_exact(f) {
                bias.grad.iter_mut().zip(row).for_each(|(a, v)| *a += v);
            }
        }
        let b = &mut self.grouped;
        let (xg, dyg, kg, dxg, dkg) = (
            &mut b.x[..n * g.in_len()],
            &mut b.y[..n * g.out_len()],
            &mut b.k[..g.kernel_len()],
            &mut b.dx[..n * g.in_len()],
            &mut b.dk[..g.kernel_len()],
        );
        let kernel = &mut self.params[0];
        for j in 0..self.groups {
            gather_cols(&x[..n * g.h * g.w * c], c, j * g.cin, g.cin, xg);
            gather_cols(&kernel.value, f, j * g.cout, g.cout, kg);
            gather_cols(dy, f, j * g.cout, g.cout, dyg);
            dkg.fill(0.0);
            let want_dx = dx.is_some();
            conv2d::backward(
                g,
                n,
                xg,
                kg,
                None,
                dyg,
                want_dx.then_some(&mut *dxg),
                dkg,
                None,
                &mut self.scratch.partials(),
                &self.scratch,
            );
            scatter_cols(dkg, f, j * g.cout, g.cout, &mut kernel.grad, true);
            if let Some(d) = dx.as_deref_mut() {
                scatter_cols(dxg, c, j * g.cin, g.cin, &mut d[..n * g.h * g.w * c], false);
            }
        }
    }
}

impl Layer for Conv2D {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Conv2D"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        self.pooled = None;
        let name = self.base.label().to_string();
        if self.filters == 0 {
            return Err(Error::arg(
                "filters",
                &name,
                "expected a positive integer, received 0",
            ));
        }
        check_pair("kernel_size", self.kernel_size, &name)?;
        check_pair("strides", self.strides, &name)?;
        check_pair("dilation_rate", self.dilation_rate, &name)?;
        if self.groups == 0 {
            return Err(Error::arg(
                "groups",
                &name,
                "the number of groups must be a positive integer, received groups=0",
            ));
        }
        if !self.filters.is_multiple_of(self.groups) {
            return Err(Error::arg(
                "groups",
                &name,
                format!(
                    "the number of filters must be evenly divisible by the number of groups, \
                     received groups={}, filters={}",
                    self.groups, self.filters
                ),
            ));
        }
        super::check_strided_dilation(self.strides, self.dilation_rate, &name)?;
        let padding = parse_padding(&self.padding, &name)?;
        let (act, kinit, binit) = super::resolve_kernel_options(
            &name,
            &self.activation,
            &self.kernel_initializer,
            &self.bias_initializer,
        )?;
        self.act = act;
        let &[h, w, c] = input_shape else {
            return Err(rank_error(
                &name,
                "ndim=4 (batch, height, width, channels)",
                input_shape,
            ));
        };
        if !c.is_multiple_of(self.groups) {
            return Err(Error::arg(
                "groups",
                &name,
                format!(
                    "the number of input channels must be evenly divisible by the number of \
                     groups, received groups={}, but the input has {c} channels (input shape {})",
                    self.groups,
                    crate::shape::batch_shape_str(input_shape)
                ),
            ));
        }
        // For groups > 1, the geometry of one group.
        let (cg, fg) = (c / self.groups, self.filters / self.groups);
        let geom = Conv2dGeom::new(
            (h, w, cg),
            self.kernel_size,
            fg,
            self.strides,
            self.dilation_rate,
            padding,
        )
        .ok_or_else(|| Error::IncompatibleShape {
            layer: name.clone(),
            expected: format!(
                "a spatial size of at least the kernel size {:?} (dilated) with padding \"{}\"",
                self.kernel_size, self.padding
            ),
            received: crate::shape::batch_shape_str(input_shape),
        })?;
        let kshape = vec![self.kernel_size.0, self.kernel_size.1, cg, self.filters];
        self.params = vec![Param::init(&name, "kernel", kshape, &kinit, rng)?];
        if self.use_bias {
            self.params
                .push(Param::init(&name, "bias", vec![self.filters], &binit, rng)?);
        }
        // Buffers (scratch, the transformed kernel) are sized by `allocate`: building a
        // model to load weights into, or to print its summary, touches none of them.
        self.scratch = Scratch::default();
        self.geom = Some(geom);
        self.plan_winograd();
        self.weights.check(self.base.label(), &self.params)?;
        Ok(vec![geom.oh, geom.ow, self.filters])
    }

    fn absorb_max_pool(&mut self, pool: Option<Pool2dGeom>) -> bool {
        self.pooled = match (self.geom, pool) {
            (Some(g), Some(p)) if self.groups == 1 => ConvPool::new(g, p, self.act),
            _ => None,
        };
        self.plan_winograd();
        self.pooled.is_some()
    }

    fn share_scratch(&mut self, pool: &Scratch) {
        self.scratch = pool.share();
    }

    fn allocate(&mut self, max_batch: usize) {
        if let Some(cp) = self.pooled {
            self.scratch.ensure(cp.scratch_len());
            if self.pool_pos.len() < max_batch * cp.out_len() {
                self.pool_pos.resize(max_batch * cp.out_len(), 0);
            }
        }
        if let Some(fw) = self.wino_fwd {
            self.scratch.ensure(fw.scratch_len());
        }
        if let Some(wg) = self.wino {
            self.scratch.ensure(wg.scratch_len());
            if !wg.pooled {
                // Small calls run im2col + GEMM (WINOGRAD_MIN_TILES).
                self.scratch.ensure(wg.conv.scratch_len());
            }
            // The transformed kernel is sized at its first use (`refresh_winograd`): a model
            // that predicts one image at a time never runs Winograd in its deep layers, and
            // a zeroed allocation that the allocator recycles is written (faulted in) whole.
            // ResNet50's first prediction at 64x64: 2.4x a later one -> 1.6x.
        }
        if let Some(g) = self.geom {
            self.scratch.ensure(g.scratch_len());
            // Fresh zeroed allocations (mapped when first written): the backward pass's
            // partial sums cost no memory in a model that only predicts.
            self.scratch.ensure_partials(g.partials_len(max_batch));
            let out_len = g.rows() * self.filters;
            if self.act.backward_needs_input() && self.preact.len() < max_batch * out_len {
                self.preact = vec![0.0; max_batch * out_len];
            }
            if self.groups > 1 {
                let b = &mut self.grouped;
                let grow = |v: &mut Vec<f32>, len: usize| {
                    if v.len() < len {
                        v.resize(len, 0.0);
                    }
                };
                grow(&mut b.x, max_batch * g.in_len());
                grow(&mut b.dx, max_batch * g.in_len());
                grow(&mut b.y, max_batch * g.out_len());
                grow(&mut b.k, g.kernel_len());
                grow(&mut b.dk, g.kernel_len());
            }
        }
    }

    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let Some(g) = self.geom else { return };
        if self.groups > 1 {
            self.forward_grouped(&g, x, y, n);
            return;
        }
        let kernel = &self.params[0].value;
        let (bias, act) = match self.fold.active {
            Some(act) => (self.fold.map.bias(), act),
            None => (self.params.get(1).map(|p| &p.value[..]).into(), self.act),
        };
        // The pre-activation is kept for a backward pass (never after a folded one).
        let keep_preact = act.backward_needs_input() && self.fold.active.is_none();
        let pays = |wg: &&Winograd| winograd_pays(wg, n, true);
        let wino = match self.wino_fwd.as_ref().filter(pays) {
            Some(fw) => Some((fw, FORWARD_PLAN)),
            None => self
                .wino
                .as_ref()
                .filter(pays)
                .map(|wg| (wg, TRAINING_PLAN)),
        };
        if let Some((wg, slot)) = wino {
            let u = self.wino_k.get(slot, wg, kernel);
            if wg.pooled {
                let pos = &mut self.pool_pos[..n * wg.out_len()];
                winograd::forward(wg, n, x, u, bias, act, y, Some(pos), &self.scratch);
            } else if keep_preact {
                winograd::forward(wg, n, x, u, bias, Act::Linear, y, None, &self.scratch);
                self.preact[..y.len()].copy_from_slice(y);
                activation::forward_inplace(act, y, g.cout);
            } else {
                winograd::forward(wg, n, x, u, bias, act, y, None, &self.scratch);
            }
        } else if let Some(cp) = &self.pooled {
            let pos = &mut self.pool_pos[..n * cp.out_len()];
            conv_pool::forward(cp, n, x, kernel, bias.shift(), y, pos, &self.scratch);
        } else if keep_preact {
            conv2d::forward(&g, n, x, kernel, bias, Act::Linear, y, &self.scratch);
            self.preact[..y.len()].copy_from_slice(y);
            activation::forward_inplace(act, y, g.cout);
        } else {
            conv2d::forward(&g, n, x, kernel, bias, act, y, &self.scratch);
        }
    }

    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
    ) {
        let Some(g) = self.geom else { return };
        if self.groups > 1 {
            if !ctx.skip_activation && !self.act.is_linear() {
                let pre = self
                    .act
                    .backward_needs_input()
                    .then(|| &self.preact[..y.len()]);
                activation::backward_inplace(self.act, pre, y, dy, self.filters);
            }
            self.backward_grouped(&g, x, dy, dx, ctx.n);
            return;
        }
        let wino_pooled = self.wino.is_some_and(|wg| wg.pooled);
        if let Some(cp) = self.pooled.as_ref().filter(|_| !wino_pooled) {
            let (kp, rest) = self.params.split_at_mut(1);
            let db = rest.first_mut().map(|b| &mut b.grad[..]);
            conv_pool::backward(
                cp,
                ctx.n,
                x,
                &kp[0].value,
                y,
                dy,
                &self.pool_pos[..ctx.n * cp.out_len()],
                dx,
                &mut kp[0].grad,
                db,
                &mut self.scratch.partials(),
                &self.scratch,
            );
            return;
        }
        // Element-wise activations whose derivative needs only the output are fused into the
        // convolution's backward pass (applied per block, while it is in cache); with an
        // absorbed pooling, always (`y` and `dy` are the pooled output and its gradient).
        let fuse = wino_pooled
            || !ctx.skip_activation
                && !self.act.backward_needs_input()
                && self.act != Act::Softmax
                && !self.act.is_linear();
        if !ctx.skip_activation && !fuse {
            let pre = self
                .act
                .backward_needs_input()
                .then(|| &self.preact[..y.len()]);
            activation::backward_inplace(self.act, pre, y, dy, g.cout);
        }
        let act = fuse.then_some((self.act, y));
        let (kp, rest) = self.params.split_at_mut(1);
        let db = rest.first_mut().map(|b| &mut b.grad[..]);
        let (kernel, kgrad) = (&kp[0].value, &mut kp[0].grad);
        if let Some(wg) = self
            .wino
            .as_ref()
            .filter(|wg| winograd_pays(wg, ctx.n, false))
        {
            let u = self.wino_k.get(TRAINING_PLAN, wg, kernel);
            let pos = wino_pooled.then(|| &self.pool_pos[..ctx.n * wg.out_len()]);
            winograd::backward(
                wg,
                ctx.n,
                x,
                u,
                act,
                dy,
                pos,
                dx,
                kgrad,
                db,
                &mut self.scratch.partials(),
                &self.scratch,
            );
            return;
        }
        conv2d::backward_into(
            &g,
            ctx.n,
            x,
            kernel,
            act,
            dy,
            dx,
            ctx.accumulate,
            kgrad,
            db,
            &mut self.scratch.partials(),
            &self.scratch,
        );
    }
    fn accumulates_input_grad(&self, n: usize) -> bool {
        // The plain im2col/GEMM path only (see the end of `backward`).
        self.geom.is_some()
            && self.groups == 1
            && self.pooled.is_none()
            && !self
                .wino
                .as_ref()
                .is_some_and(|wg| wg.pooled || winograd_pays(wg, n, false))
    }

    fn params(&self) -> &[Param] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }
    fn activation(&self) -> Option<Act> {
        Some(self.act)
    }
    super::weight_option_methods!(weights);
    fn folds_affine(&self) -> bool {
        self.geom.is_some()
            && self.groups == 1
            && self.pooled.is_none()
            && !self.wino.is_some_and(|w| w.pooled)
            && self.act == Act::Linear
    }
    fn forward_folded(
        &mut self,
        x: &[f32],
        y: &mut [f32],
        n: usize,
        (a, b): (&[f32], &[f32]),
        act: Act,
    ) -> bool {
        let cout = self.filters;
        if !self.folds_affine() || a.len() != cout || b.len() != cout {
            return false;
        }
        let bias = self.params.get(1).map(|p| &p.value[..]);
        self.fold.map.set(bias, (a, b));
        self.fold.active = Some(act);
        self.forward(x, y, n, Mode::Infer);
        self.fold.active = None;
        true
    }
    fn forward_folded_residual(
        &mut self,
        x: &[f32],
        y: &mut [f32],
        n: usize,
        (a, b): (&[f32], &[f32]),
        residual: &[f32],
        act: Act,
    ) -> bool {
        let cout = self.filters;
        let Some(g) = self.geom else { return false };
        let len = n * g.out_len();
        if !self.folds_affine()
            || !g.is_pointwise()
            || a.len() != cout
            || b.len() != cout
            || residual.len() < len
            || y.len() < len
        {
            return false;
        }
        let bias = self.params.get(1).map(|p| &p.value[..]);
        self.fold.map.set(bias, (a, b));
        let kernel = &self.params[0].value;
        let map = self.fold.map.bias();
        conv2d::forward_residual(&g, n, x, kernel, map, act, residual, y)
    }
    fn config(&self) -> Map<String, Value> {
        let init = super::initializer_config;
        self.weights.with_config(super::object(json!({
            "filters": self.filters,
            "kernel_size": [self.kernel_size.0, self.kernel_size.1],
            "strides": [self.strides.0, self.strides.1],
            "padding": self.padding,
            "data_format": "channels_last",
            "dilation_rate": [self.dilation_rate.0, self.dilation_rate.1],
            "groups": self.groups,
            "activation": super::activation_name(&self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": init(&self.kernel_initializer, Initializer::GlorotUniform),
            "bias_initializer": init(&self.bias_initializer, Initializer::Zeros),
            "kernel_regularizer": null,
            "bias_regularizer": null,
            "activity_regularizer": null,
            "kernel_constraint": null,
            "bias_constraint": null
        })))
    }
}

impl FromConfig for Conv2D {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let c = g.c;
        let groups = match c.get("groups") {
            None | Some(Value::Null) => 1,
            Some(_) => g.usize("groups")?,
        };
        let conv = Conv2D::new(g.usize("filters")?, g.pair("kernel_size")?)
            .groups(groups)
            .strides(g.pair_or("strides", (1, 1))?)
            .padding(g.str_or("padding", "valid")?)
            .dilation_rate(g.pair_or("dilation_rate", (1, 1))?)
            .activation(&g.activation()?)
            .use_bias(g.bool_or("use_bias", true)?)
            .kernel_initializer(g.initializer("kernel_initializer", "glorot_uniform")?)
            .bias_initializer(g.initializer("bias_initializer", "zeros")?);
        Ok(conv.with_weight_options(g.weight_options(super::weight_options::KERNEL_BIAS)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::{check_layer, check_layer_adjusted};

    #[test]
    fn gradients_valid_same_strided_and_activations() {
        for (pad, s, act) in [
            ("valid", 1, "linear"),
            ("same", 2, "tanh"),
            ("same", 1, "elu"),
            ("valid", 2, "gelu"),
        ] {
            let l = Conv2D::new(3, (3, 2))
                .padding(pad)
                .strides(s)
                .activation(act)
                .bias_initializer("random_uniform");
            check_layer(Box::new(l), &[5, 6, 2]);
        }
    }

    #[test]
    fn gradients_with_an_absorbed_max_pooling() {
        use rkeras_kernels::Padding;
        // The direct path (k = 27), im2col + GEMM (k = 360), odd sizes, a wide pool.
        for (pad, pool, act, cin) in [
            ("valid", (2, 2), "relu", 3),
            ("same", (3, 2), "linear", 5),
            ("valid", (2, 2), "relu", 40),
        ] {
            let l = Conv2D::new(4, 3).padding(pad).activation(act);
            let out = check_layer_adjusted(Box::new(l), &[7, 9, cin], &|layer, shape| {
                let p = Pool2dGeom::new((shape[0], shape[1], shape[2]), pool, pool, Padding::Valid)
                    .expect("pool geometry");
                assert!(layer.absorb_max_pool(Some(p)), "{act} {pad} should absorb");
                vec![p.oh, p.ow, p.c]
            });
            assert_eq!(out[2], 4);
        }
        let p = Pool2dGeom::new((5, 7, 4), (2, 2), (2, 2), Padding::Valid).expect("pool");
        let mut tanh = Conv2D::new(4, 3).activation("tanh");
        tanh.build(&[7, 9, 3], &mut Rng::new(1)).expect("build");
        assert!(!tanh.absorb_max_pool(Some(p)), "tanh is not fused");
    }

    #[test]
    fn gradients_through_winograd() {
        use rkeras_kernels::Padding;
        // 3x3, stride 1, channels multiples of 16: the Winograd path, alone (activations fused
        // into its backward pass or applied apart) and with an absorbed 2x2 pooling.
        // 5x6 `same` takes F(2x2, 3x3); 3x4 (`valid`) and 9x10 take F(4x4, 3x3) (unless
        // RKERAS_WINOGRAD forces a tile size). The larger outputs use smooth activations: a
        // ReLU kink crossed by the finite-difference step spoils the numeric kernel gradient.
        let cases = [
            ("valid", "relu", [5, 6, 16], 4),
            ("same", "tanh", [5, 6, 16], 2),
            ("same", "gelu", [5, 6, 16], 2),
            ("same", "tanh", [9, 10, 16], 4),
            ("same", "sigmoid", [9, 10, 16], 4),
        ];
        for (pad, act, shape, tile) in cases {
            let mut l = Conv2D::new(16, 3)
                .padding(pad)
                .activation(act)
                .bias_initializer("random_uniform");
            l.build(&shape, &mut Rng::new(2)).expect("build");
            let planned = l.wino.map(|w| w.tile());
            if winograd_enabled() && !crate::settings::settings().winograd_forced {
                assert_eq!(planned, Some(tile), "{pad} {act} {shape:?}");
            }
            check_layer(Box::new(l), &shape);
        }
        // Pooled to 2x2 (one F(4x4) tile) and to 3x3 (F(2x2)); larger pooled outputs make
        // the finite differences cross window ties (the kernel tests cover those against
        // the fused im2col path).
        for (pad, act, shape) in [
            ("valid", "relu", [7, 6, 16]),
            ("same", "linear", [7, 6, 16]),
        ] {
            let l = Conv2D::new(16, 3).padding(pad).activation(act);
            let out = check_layer_adjusted(Box::new(l), &shape, &|layer, shape| {
                let p = Pool2dGeom::new(
                    (shape[0], shape[1], shape[2]),
                    (2, 2),
                    (2, 2),
                    Padding::Valid,
                )
                .expect("pool geometry");
                assert!(layer.absorb_max_pool(Some(p)), "{act} {pad} should absorb");
                vec![p.oh, p.ow, p.c]
            });
            assert_eq!(out[2], 16);
        }
    }

    #[test]
    fn forward_plan_follows_the_kernel_through_training() {
        use rkeras_kernels::reference;
        // 10x10 maps of 176 channels: the backward pass runs F(4x4, 3x3), the forward pass
        // F(2x2, 3x3) (`Winograd::forward_plan`), each with its own transformed kernel;
        // both must follow the kernel as it changes.
        let (n, shape) = (2, [10, 10, 176]);
        let mut l = Conv2D::new(176, 3)
            .padding("same")
            .bias_initializer("random_uniform");
        l.build(&shape, &mut Rng::new(3)).expect("build");
        if winograd_enabled() && !crate::settings::settings().winograd_forced {
            assert_eq!(l.wino.map(|w| w.tile()), Some(4));
            assert_eq!(l.wino_fwd.map(|w| w.tile()), Some(2));
        }
        l.allocate(n);
        let g = l.geom.expect("built");
        let mut r = Rng::new(4);
        let mut vec = |len: usize| {
            (0..len)
                .map(|_| r.uniform_range(-1.0, 1.0))
                .collect::<Vec<f32>>()
        };
        let (x, dy) = (vec(n * g.in_len()), vec(n * g.out_len()));
        let close = |got: &[f32], want: &[f32], what: &str| {
            let err = got
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 2e-3, "{what}: max error {err}");
        };
        let mut y = vec![0.0; n * g.out_len()];
        for step in 0..3 {
            let (w, b) = (&l.params[0].value, &l.params[1].value);
            let want = reference::conv2d_forward(&g, n, &x, w, Some(b));
            let (_, want_dw, _) = reference::conv2d_backward(&g, n, &x, w, &dy);
            l.forward(&x, &mut y, n, Mode::Infer);
            close(&y, &want, &format!("inference, step {step}"));
            l.forward(&x, &mut y, n, Mode::Train);
            close(&y, &want, &format!("training, step {step}"));
            l.params[0].grad.fill(0.0);
            let mut d = dy.clone();
            let ctx = Backward {
                n,
                skip_activation: false,
                accumulate: false,
            };
            l.backward(&x, &y, &mut d, None, ctx);
            close(
                &l.params[0].grad,
                &want_dw,
                &format!("kernel gradient, step {step}"),
            );
            // An optimizer's step: every transformed kernel is now stale.
            let p = &mut l.params[0];
            for (v, gr) in p.value.iter_mut().zip(&p.grad) {
                *v -= 1e-3 * gr;
            }
        }
    }

    #[test]
    fn gradients_grouped_and_dilated() {
        for (groups, act, d) in [(2, "linear", 1), (2, "tanh", 2), (3, "gelu", 1)] {
            let l = Conv2D::new(6, (3, 2))
                .groups(groups)
                .dilation_rate(d)
                .padding("same")
                .activation(act)
                .bias_initializer("random_uniform");
            assert_eq!(check_layer(Box::new(l), &[5, 6, 6]), vec![5, 6, 6]);
        }
        let l = Conv2D::new(3, 2).dilation_rate((2, 1)).activation("elu");
        assert_eq!(check_layer(Box::new(l), &[6, 5, 2]), vec![4, 4, 3]);
        let l = Conv2D::new(4, 3).groups(2).strides(2).use_bias(false);
        assert_eq!(check_layer(Box::new(l), &[7, 7, 4]), vec![3, 3, 4]);
    }

    #[test]
    fn grouped_equals_a_block_diagonal_kernel() {
        let mut rng = Rng::new(3);
        let (c, f, groups) = (4, 6, 2);
        let mut grouped = Conv2D::new(f, 3).groups(groups).activation("relu");
        grouped.build(&[5, 5, c], &mut rng).expect("build");
        grouped.allocate(2);
        let mut full = Conv2D::new(f, 3).activation("relu");
        full.build(&[5, 5, c], &mut rng).expect("build");
        full.allocate(2);
        let (cg, fg) = (c / groups, f / groups);
        let gk = grouped.params[0].value.clone();
        let fk = &mut full.params[0].value;
        fk.fill(0.0);
        for tap in 0..9 {
            for ci in 0..cg {
                for co in 0..f {
                    let ch = (co / fg) * cg + ci;
                    fk[(tap * c + ch) * f + co] = gk[(tap * cg + ci) * f + co];
                }
            }
        }
        full.params[1].value = vec![0.1, -0.2, 0.3, 0.0, 0.5, -0.6];
        grouped.params[1].value = full.params[1].value.clone();
        let x: Vec<f32> = (0..2 * 5 * 5 * c)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let (mut a, mut b) = (vec![0.0; 2 * 9 * f], vec![0.0; 2 * 9 * f]);
        grouped.forward(&x, &mut a, 2, Mode::Infer);
        full.forward(&x, &mut b, 2, Mode::Infer);
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
    }

    #[test]
    fn rejects_bad_groups_and_strided_dilation() {
        let mut rng = Rng::new(0);
        let e = Conv2D::new(5, 3)
            .groups(2)
            .name("g")
            .build(&[8, 8, 4], &mut rng)
            .expect_err("filters");
        assert!(
            e.to_string().contains("\"g\"") && e.to_string().contains("filters=5"),
            "{e}"
        );
        let e = Conv2D::new(4, 3)
            .groups(2)
            .name("g")
            .build(&[8, 8, 3], &mut rng)
            .expect_err("channels");
        assert!(e.to_string().contains("has 3 channels"), "{e}");
        assert!(Conv2D::new(4, 3)
            .groups(0)
            .build(&[8, 8, 4], &mut rng)
            .is_err());
        let e = Conv2D::new(4, 3)
            .strides(2)
            .dilation_rate(2)
            .build(&[8, 8, 4], &mut rng)
            .expect_err("strided dilation");
        assert!(e.to_string().contains("dilation_rate"), "{e}");
    }

    #[test]
    fn rejects_bad_input_and_arguments() {
        let mut rng = Rng::new(0);
        let mut l = Conv2D::new(4, 3).name("c");
        let e = l.build(&[10], &mut rng).expect_err("rank");
        assert!(e.to_string().contains("expected ndim=4"), "{e}");
        let e = Conv2D::new(4, 5)
            .name("c")
            .build(&[3, 3, 1], &mut rng)
            .expect_err("small");
        assert!(e.to_string().contains("\"c\""), "{e}");
        let e = Conv2D::new(4, 3)
            .activation("relux")
            .name("c")
            .build(&[8, 8, 1], &mut rng)
            .expect_err("act");
        assert!(
            e.to_string().contains("relux") && e.to_string().contains("relu, "),
            "{e}"
        );
        assert!(Conv2D::new(0, 3).build(&[8, 8, 1], &mut rng).is_err());
        assert!(Conv2D::new(2, 3)
            .padding("full")
            .build(&[8, 8, 1], &mut rng)
            .is_err());
        assert!(Conv2D::new(2, 3)
            .strides(0)
            .build(&[8, 8, 1], &mut rng)
            .is_err());
    }

    #[test]
    fn config_has_keras_keys() {
        let c = Conv2D::new(32, 3).activation("relu").config();
        assert_eq!(c["kernel_size"], json!([3, 3]));
        assert_eq!(c["activation"], json!("relu"));
        let c = Conv2D::new(4, 3).groups(2).dilation_rate((2, 1)).config();
        assert_eq!(c["groups"], json!(2));
        assert_eq!(c["dilation_rate"], json!([2, 1]));
        assert_eq!(
            c["kernel_initializer"]["class_name"],
            json!("GlorotUniform")
        );
    }
}
