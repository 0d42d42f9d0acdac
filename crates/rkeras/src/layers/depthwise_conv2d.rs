//! `DepthwiseConv2D`: one spatial filter (or `depth_multiplier` filters) per input channel;
//! its geometry and loops ([`DepthwiseGeom`]) are shared with `SeparableConv2D`.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, parse_padding, Backward, Layer, LayerBase, Mode, Param};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::shape::IntoPair;
use rkeras_kernels::activation;
use rkeras_kernels::conv2d::Bias;
use rkeras_kernels::Act;
use serde_json::{json, Map, Value};

/// The shapes of a depthwise convolution and its loops (no bias, no activation): input
/// `(h, w, c)`, kernel `(kh, kw, c, m)`, output `(oh, ow, c * m)`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DepthwiseGeom {
    h: usize,
    w: usize,
    c: usize,
    m: usize,
    kernel: (usize, usize),
    strides: (usize, usize),
    dilation: (usize, usize),
    pad: (usize, usize),
    pub oh: usize,
    pub ow: usize,
}

impl DepthwiseGeom {
    /// Validates the arguments against the per-sample input shape; errors name `layer` and
    /// the argument.
    pub fn new(
        layer: &str,
        input_shape: &[usize],
        kernel: (usize, usize),
        strides: (usize, usize),
        dilation: (usize, usize),
        padding: &str,
        m: usize,
    ) -> Result<Self> {
        let (h, w, c) = super::image_shape(layer, input_shape)?;
        super::check_pair("kernel_size", kernel, layer)?;
        super::check_pair("strides", strides, layer)?;
        super::check_pair("dilation_rate", dilation, layer)?;
        if m == 0 {
            return Err(Error::arg(
                "depth_multiplier",
                layer,
                "expected a positive integer, received 0",
            ));
        }
        let padding = parse_padding(padding, layer)?;
        let out = |n, k, s, d| rkeras_kernels::conv2d::out_len(n, k, s, d, padding);
        let (Some((oh, pt)), Some((ow, pl))) = (
            out(h, kernel.0, strides.0, dilation.0),
            out(w, kernel.1, strides.1, dilation.1),
        ) else {
            return Err(Error::IncompatibleShape {
                layer: layer.into(),
                expected: format!("a spatial size of at least the kernel size {kernel:?}"),
                received: crate::shape::batch_shape_str(input_shape),
            });
        };
        Ok(DepthwiseGeom {
            h,
            w,
            c,
            m,
            kernel,
            strides,
            dilation,
            pad: (pt, pl),
            oh,
            ow,
        })
    }

    /// Output channels: `c * m`.
    pub fn out_channels(&self) -> usize {
        self.c * self.m
    }
    /// Output floats per sample.
    pub fn out_len(&self) -> usize {
        self.oh * self.ow * self.c * self.m
    }
    /// Kernel shape `(kh, kw, c, m)`.
    pub fn kernel_shape(&self) -> Vec<usize> {
        vec![self.kernel.0, self.kernel.1, self.c, self.m]
    }

    /// The kernels' description of this geometry.
    fn kernel_geom(&self) -> rkeras_kernels::depthwise::DwGeom {
        rkeras_kernels::depthwise::DwGeom {
            h: self.h,
            w: self.w,
            c: self.c,
            m: self.m,
            kh: self.kernel.0,
            kw: self.kernel.1,
            sh: self.strides.0,
            sw: self.strides.1,
            dh: self.dilation.0,
            dw: self.dilation.1,
            pt: self.pad.0,
            pl: self.pad.1,
            oh: self.oh,
            ow: self.ow,
        }
    }

    /// `y = act(depthwise(x, k) + bias)` for a batch of `n` (overwrites `y`; `act`
    /// element-wise).
    pub fn forward(&self, x: &[f32], k: &[f32], bias: Bias<'_>, act: Act, y: &mut [f32], n: usize) {
        rkeras_kernels::depthwise::forward(&self.kernel_geom(), x, k, bias, act, y, n);
    }

    /// Adds the kernel gradient to `dk` and, when asked, overwrites `dx` with the input
    /// gradient, for the output gradient `dy`; `scratch` holds per-sample kernel gradients.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        x: &[f32],
        k: &[f32],
        dy: &[f32],
        dk: &mut [f32],
        dx: Option<&mut [f32]>,
        n: usize,
        scratch: &mut Vec<f32>,
    ) {
        rkeras_kernels::depthwise::backward(&self.kernel_geom(), x, k, dy, dk, dx, n, scratch);
    }
}

/// Keras `DepthwiseConv2D`: each input channel is convolved with its own
/// `depth_multiplier` filters (kernel `(kh, kw, channels, depth_multiplier)`), giving
/// `channels * depth_multiplier` outputs; strides, padding valid/same, dilation, bias and
/// activation as `Conv2D`.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([DepthwiseConv2D::new(3).padding("same").input_shape((8, 8, 4)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[8, 8, 4][..]));
/// assert_eq!(m.count_params(), 3 * 3 * 4 + 4);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct DepthwiseConv2D {
    base: LayerBase,
    kernel_size: (usize, usize),
    strides: (usize, usize),
    dilation_rate: (usize, usize),
    padding: String,
    depth_multiplier: usize,
    activation: String,
    use_bias: bool,
    depthwise_initializer: crate::init::InitArg,
    bias_initializer: crate::init::InitArg,
    act: Act,
    geom: DepthwiseGeom,
    params: Vec<Param>,
    preact: Vec<f32>,
    /// Per-sample kernel gradients, summed in order (grown once).
    dk_parts: Vec<f32>,
    weights: super::weight_options::WeightOptions,
    /// A following `BatchNormalization` folded in for inference: its factor and shift
    /// (with the bias) applied to each block of outputs ([`Layer::forward_folded`]).
    fold: super::FoldMap,
}

impl DepthwiseConv2D {
    /// A depthwise convolution with a `kernel_size` window.
    pub fn new(kernel_size: impl IntoPair) -> Self {
        DepthwiseConv2D {
            base: LayerBase::default(),
            kernel_size: kernel_size.into_pair(),
            strides: (1, 1),
            dilation_rate: (1, 1),
            padding: "valid".into(),
            depth_multiplier: 1,
            activation: "linear".into(),
            use_bias: true,
            depthwise_initializer: "glorot_uniform".into(),
            bias_initializer: "zeros".into(),
            act: Act::Linear,
            geom: DepthwiseGeom::default(),
            params: Vec::new(),
            preact: Vec::new(),
            dk_parts: Vec::new(),
            weights: super::weight_options::WeightOptions::new(
                super::weight_options::DEPTHWISE_BIAS,
            ),
            fold: Default::default(),
        }
    }
    super::field_setters! {
        /// Strides (default 1).
        strides(s): pair,
        /// Dilation (default 1).
        dilation_rate(d): pair,
        /// `"valid"` (default) or `"same"`.
        padding(p): str,
        /// Filters per input channel (default 1).
        depth_multiplier(m): usize,
        /// Activation name (default linear).
        activation(a): str,
        /// Whether to add a bias (default true).
        use_bias(b): bool,
        /// Initializer of the depthwise kernel (default `"glorot_uniform"`).
        depthwise_initializer(i): init,
        /// Bias initializer (default `"zeros"`).
        bias_initializer(i): init,
    }
}
common_builders!(DepthwiseConv2D);
super::weight_options::weight_option_builders!(DepthwiseConv2D:
    "depthwise" => depthwise_regularizer, depthwise_constraint;
    "bias" => bias_regularizer, bias_constraint;
);

impl Layer for DepthwiseConv2D {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "DepthwiseConv2D"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let geom = DepthwiseGeom::new(
            &name,
            input_shape,
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            &self.padding,
            self.depth_multiplier,
        )?;
        let (act, kinit, binit) = super::resolve_kernel_options(
            &name,
            &self.activation,
            &self.depthwise_initializer,
            &self.bias_initializer,
        )?;
        self.act = act;
        self.geom = geom;
        let co = geom.out_channels();
        let kshape = geom.kernel_shape();
        self.params = vec![Param::init(&name, "kernel", kshape, &kinit, rng)?];
        if self.use_bias {
            self.params
                .push(Param::init(&name, "bias", vec![co], &binit, rng)?);
        }
        self.weights.check(&name, &self.params)?;
        Ok(vec![geom.oh, geom.ow, co])
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let (ol, co) = (self.geom.out_len(), self.geom.out_channels());
        let bias = Bias::from(self.params.get(1).map(|b| &b.value[..]));
        // Applied per block in the kernel when the backward pass needs only the output.
        let fused = !self.act.backward_needs_input() && self.act != Act::Softmax;
        let act = if fused { self.act } else { Act::Linear };
        self.geom.forward(x, &self.params[0].value, bias, act, y, n);
        if !fused {
            if self.act.backward_needs_input() {
                if self.preact.len() < n * ol {
                    self.preact.resize(n * ol, 0.0);
                }
                self.preact[..n * ol].copy_from_slice(&y[..n * ol]);
            }
            activation::forward_inplace(self.act, &mut y[..n * ol], co);
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
        let (ol, co) = (self.geom.out_len(), self.geom.out_channels());
        let n = ctx.n;
        if !ctx.skip_activation && !self.act.is_linear() {
            let pre = self
                .act
                .backward_needs_input()
                .then(|| &self.preact[..n * ol]);
            activation::backward_inplace(self.act, pre, &y[..n * ol], &mut dy[..n * ol], co);
        }
        let kp = &mut self.params[0];
        self.geom
            .backward(x, &kp.value, dy, &mut kp.grad, dx, n, &mut self.dk_parts);
        if let Some(b) = self.params.get_mut(1) {
            for row in dy[..n * ol].chunks_exact(co) {
                b.grad.iter_mut().zip(row).for_each(|(g, d)| *g += d);
            }
        }
    }
    super::kernel_layer_methods!(weights);
    fn folds_affine(&self) -> bool {
        self.geom.out_len() > 0 && self.act == Act::Linear
    }
    fn forward_folded(
        &mut self,
        x: &[f32],
        y: &mut [f32],
        n: usize,
        (a, b): (&[f32], &[f32]),
        act: Act,
    ) -> bool {
        let co = self.geom.out_channels();
        if !self.folds_affine() || a.len() != co || b.len() != co || act == Act::Softmax {
            return false;
        }
        let bias = self.params.get(1).map(|p| &p.value[..]);
        self.fold.set(bias, (a, b));
        self.geom
            .forward(x, &self.params[0].value, self.fold.bias(), act, y, n);
        true
    }
    fn config(&self) -> Map<String, Value> {
        use crate::init::Initializer;
        let init = super::initializer_config;
        self.weights.with_config(super::object(json!({
            "kernel_size": [self.kernel_size.0, self.kernel_size.1],
            "strides": [self.strides.0, self.strides.1],
            "padding": self.padding.to_ascii_lowercase(),
            "data_format": "channels_last",
            "dilation_rate": [self.dilation_rate.0, self.dilation_rate.1],
            "activation": super::activation_name(&self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": init(&self.bias_initializer, Initializer::Zeros),
            "bias_regularizer": null,
            "activity_regularizer": null,
            "bias_constraint": null,
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": init(&self.depthwise_initializer, Initializer::GlorotUniform),
            "depthwise_regularizer": null,
            "depthwise_constraint": null,
        })))
    }
}

impl FromConfig for DepthwiseConv2D {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(DepthwiseConv2D::new(g.pair("kernel_size")?)
            .strides(g.pair_or("strides", (1, 1))?)
            .padding(g.str_or("padding", "valid")?)
            .dilation_rate(g.pair_or("dilation_rate", (1, 1))?)
            .depth_multiplier(g.usize("depth_multiplier").unwrap_or(1))
            .activation(&g.activation()?)
            .use_bias(g.bool_or("use_bias", true)?)
            .depthwise_initializer(g.initializer("depthwise_initializer", "glorot_uniform")?)
            .bias_initializer(g.initializer("bias_initializer", "zeros")?)
            .with_weight_options(g.weight_options(super::weight_options::DEPTHWISE_BIAS)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_checks_over_geometries() {
        let l = DepthwiseConv2D::new(3).padding("same").activation("tanh");
        assert_eq!(check_layer(Box::new(l), &[5, 4, 3]), vec![5, 4, 3]);
        let l = DepthwiseConv2D::new((2, 3)).strides(2).depth_multiplier(2);
        assert_eq!(check_layer(Box::new(l), &[6, 7, 2]), vec![3, 3, 4]);
        let l = DepthwiseConv2D::new(2).dilation_rate(2).use_bias(false);
        assert_eq!(check_layer(Box::new(l), &[5, 5, 2]), vec![3, 3, 2]);
    }

    #[test]
    fn one_filter_per_channel_by_hand() {
        let mut l = DepthwiseConv2D::new(1).use_bias(false);
        l.build(&[1, 2, 2], &mut Rng::new(0)).expect("build");
        l.params[0].value = vec![2.0, -1.0];
        let mut y = [0.0; 4];
        l.forward(&[1.0, 1.0, 3.0, 4.0], &mut y, 1, Mode::Infer);
        assert_eq!(y, [2.0, -1.0, 6.0, -4.0]);
        let e = DepthwiseConv2D::new(5)
            .build(&[3, 3, 1], &mut Rng::new(0))
            .expect_err("too small");
        assert!(e.to_string().contains("kernel size"), "{e}");
    }
}
