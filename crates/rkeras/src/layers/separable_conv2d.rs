//! `SeparableConv2D`: a depthwise convolution (the loops of `DepthwiseConv2D`) followed by a
//! pointwise 1x1 convolution (the `Conv2D` kernels), a bias and an activation.

use super::depthwise_conv2d::DepthwiseGeom;
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode, Param};
use crate::error::{Error, Result};
use crate::init::Initializer;
use crate::rng::Rng;
use crate::shape::IntoPair;
use rkeras_kernels::conv2d::Bias;
use rkeras_kernels::{activation, conv2d, Act, Conv2dGeom, Padding, Scratch};
use serde_json::{json, Map, Value};

/// Depthwise separable 2-D convolution (Keras `SeparableConv2D`, `channels_last`).
///
/// Each input channel is convolved with its own `depth_multiplier` spatial filters (weight
/// `depthwise_kernel`, `(kh, kw, channels, depth_multiplier)`, strides, padding and dilation
/// apply here), then a 1x1 convolution mixes the `channels * depth_multiplier` results into
/// `filters` outputs (weight `pointwise_kernel`, `(1, 1, channels * depth_multiplier,
/// filters)`), then `bias` and the activation. Defaults as Keras: `strides=(1, 1)`,
/// `padding="valid"`, `dilation_rate=(1, 1)`, `depth_multiplier=1`, no activation, bias on,
/// `glorot_uniform` kernels, `zeros` bias.
///
/// # Shapes
/// Input `(batch, h, w, c)`; output `(batch, oh, ow, filters)`.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([SeparableConv2D::new(8, 3)
///     .depth_multiplier(2)
///     .strides(2)
///     .padding("same")
///     .input_shape((16, 16, 3))
///     .into()])?;
/// assert_eq!(m.output_shape(), Some(&[8, 8, 8][..]));
/// assert_eq!(m.count_params(), 3 * 3 * 3 * 2 + 3 * 2 * 8 + 8);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SeparableConv2D {
    base: LayerBase,
    filters: usize,
    kernel_size: (usize, usize),
    strides: (usize, usize),
    dilation_rate: (usize, usize),
    padding: String,
    depth_multiplier: usize,
    activation: String,
    use_bias: bool,
    depthwise_initializer: crate::init::InitArg,
    pointwise_initializer: crate::init::InitArg,
    bias_initializer: crate::init::InitArg,
    act: Act,
    depthwise: DepthwiseGeom,
    pointwise: Option<Conv2dGeom>,
    params: Vec<Param>,
    scratch: Scratch,
    preact: Vec<f32>,
    /// Per-sample depthwise kernel gradients, summed in order (grown once).
    dk_parts: Vec<f32>,
    /// The depthwise output of the last forward pass, and its gradient.
    mid: Vec<f32>,
    dmid: Vec<f32>,
    weights: super::weight_options::WeightOptions,
}

impl SeparableConv2D {
    /// A separable convolution with `filters` outputs and a `kernel_size` depthwise window.
    pub fn new(filters: usize, kernel_size: impl IntoPair) -> Self {
        SeparableConv2D {
            base: LayerBase::default(),
            filters,
            kernel_size: kernel_size.into_pair(),
            strides: (1, 1),
            dilation_rate: (1, 1),
            padding: "valid".into(),
            depth_multiplier: 1,
            activation: "linear".into(),
            use_bias: true,
            depthwise_initializer: "glorot_uniform".into(),
            pointwise_initializer: "glorot_uniform".into(),
            bias_initializer: "zeros".into(),
            act: Act::Linear,
            depthwise: DepthwiseGeom::default(),
            pointwise: None,
            params: Vec::new(),
            scratch: Scratch::default(),
            preact: Vec::new(),
            dk_parts: Vec::new(),
            mid: Vec::new(),
            dmid: Vec::new(),
            weights: super::weight_options::WeightOptions::new(super::weight_options::SEPARABLE),
        }
    }
    super::field_setters! {
        /// Strides of the depthwise step (default 1).
        strides(s): pair,
        /// Dilation of the depthwise step (default 1).
        dilation_rate(d): pair,
        /// `"valid"` (default) or `"same"`.
        padding(p): lowercase,
        /// Depthwise filters per input channel (default 1).
        depth_multiplier(m): usize,
        /// Activation name (default linear).
        activation(a): str,
        /// Whether to add a bias (default true).
        use_bias(b): bool,
        /// Initializer of the depthwise kernel (default `"glorot_uniform"`).
        depthwise_initializer(i): init,
        /// Initializer of the pointwise kernel (default `"glorot_uniform"`).
        pointwise_initializer(i): init,
        /// Bias initializer (default `"zeros"`).
        bias_initializer(i): init,
    }
}
common_builders!(SeparableConv2D);
super::weight_options::weight_option_builders!(SeparableConv2D:
    "depthwise" => depthwise_regularizer, depthwise_constraint;
    "pointwise" => pointwise_regularizer, pointwise_constraint;
    "bias" => bias_regularizer, bias_constraint;
);

impl Layer for SeparableConv2D {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "SeparableConv2D"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        if self.filters == 0 {
            return Err(Error::arg(
                "filters",
                &name,
                "expected a positive integer, received 0",
            ));
        }
        let dw = DepthwiseGeom::new(
            &name,
            input_shape,
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            &self.padding,
            self.depth_multiplier,
        )?;
        let (act, dinit, binit) = super::resolve_kernel_options(
            &name,
            &self.activation,
            &self.depthwise_initializer,
            &self.bias_initializer,
        )?;
        let pinit = self
            .pointwise_initializer
            .resolve()
            .map_err(|e| Error::arg("pointwise_initializer", &name, e.to_string()))?;
        let mid_c = dw.out_channels();
        let pw = Conv2dGeom::new(
            (dw.oh, dw.ow, mid_c),
            (1, 1),
            self.filters,
            (1, 1),
            (1, 1),
            Padding::Valid,
        )
        .ok_or_else(|| Error::arg("filters", &name, "expected a positive integer"))?;
        self.act = act;
        let pshape = vec![1, 1, mid_c, self.filters];
        self.params = vec![
            Param::init(&name, "depthwise_kernel", dw.kernel_shape(), &dinit, rng)?,
            Param::init(&name, "pointwise_kernel", pshape, &pinit, rng)?,
        ];
        if self.use_bias {
            self.params
                .push(Param::init(&name, "bias", vec![self.filters], &binit, rng)?);
        }
        self.weights.check(&name, &self.params)?;
        self.scratch = Scratch::default(); // sized by `allocate`
        self.depthwise = dw;
        self.pointwise = Some(pw);
        Ok(vec![dw.oh, dw.ow, self.filters])
    }

    fn share_scratch(&mut self, pool: &Scratch) {
        self.scratch = pool.share();
    }

    fn allocate(&mut self, max_batch: usize) {
        let Some(pw) = self.pointwise else { return };
        self.scratch.ensure(pw.scratch_len());
        let grow = |v: &mut Vec<f32>, len: usize| {
            if v.len() < len {
                v.resize(len, 0.0);
            }
        };
        self.scratch.ensure_partials(pw.partials_len(max_batch));
        grow(&mut self.mid, max_batch * pw.in_len());
        grow(&mut self.dmid, max_batch * pw.in_len());
        if self.act.backward_needs_input() {
            grow(&mut self.preact, max_batch * pw.out_len());
        }
    }

    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let Some(pw) = self.pointwise else { return };
        let mid = &mut self.mid[..n * pw.in_len()];
        self.depthwise
            .forward(x, &self.params[0].value, Bias::None, Act::Linear, mid, n);
        let bias = self.params.get(2).map(|p| &p.value[..]);
        let pk = &self.params[1].value;
        if self.act.backward_needs_input() {
            conv2d::forward(&pw, n, mid, pk, bias.into(), Act::Linear, y, &self.scratch);
            self.preact[..y.len()].copy_from_slice(y);
            activation::forward_inplace(self.act, y, pw.cout);
        } else {
            conv2d::forward(&pw, n, mid, pk, bias.into(), self.act, y, &self.scratch);
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
        let Some(pw) = self.pointwise else { return };
        let n = ctx.n;
        // As Conv2D: activations whose derivative needs only the output are fused into the
        // pointwise backward pass.
        let fuse = !ctx.skip_activation
            && !self.act.backward_needs_input()
            && self.act != Act::Softmax
            && !self.act.is_linear();
        if !ctx.skip_activation && !fuse {
            let pre = self
                .act
                .backward_needs_input()
                .then(|| &self.preact[..y.len()]);
            activation::backward_inplace(self.act, pre, y, dy, pw.cout);
        }
        let act = fuse.then_some((self.act, y));
        let (dp, rest) = self.params.split_at_mut(1);
        let (pp, bp) = rest.split_at_mut(1);
        let (mid, dmid) = (
            &self.mid[..n * pw.in_len()],
            &mut self.dmid[..n * pw.in_len()],
        );
        conv2d::backward(
            &pw,
            n,
            mid,
            &pp[0].value,
            act,
            dy,
            Some(&mut *dmid),
            &mut pp[0].grad,
            bp.first_mut().map(|b| &mut b.grad[..]),
            &mut self.scratch.partials(),
            &self.scratch,
        );
        let dk = &mut dp[0];
        self.depthwise
            .backward(x, &dk.value, dmid, &mut dk.grad, dx, n, &mut self.dk_parts);
    }

    super::kernel_layer_methods!(weights);
    fn config(&self) -> Map<String, Value> {
        let init = super::initializer_config;
        self.weights.with_config(super::object(json!({
            "depth_multiplier": self.depth_multiplier,
            "filters": self.filters,
            "kernel_size": [self.kernel_size.0, self.kernel_size.1],
            "strides": [self.strides.0, self.strides.1],
            "padding": self.padding,
            "data_format": "channels_last",
            "dilation_rate": [self.dilation_rate.0, self.dilation_rate.1],
            "activation": super::activation_name(&self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": init(&self.depthwise_initializer, Initializer::GlorotUniform),
            "pointwise_initializer": init(&self.pointwise_initializer, Initializer::GlorotUniform),
            "bias_initializer": init(&self.bias_initializer, Initializer::Zeros),
            "depthwise_regularizer": null,
            "pointwise_regularizer": null,
            "bias_regularizer": null,
            "activity_regularizer": null,
            "depthwise_constraint": null,
            "pointwise_constraint": null,
            "bias_constraint": null,
        })))
    }
}

impl FromConfig for SeparableConv2D {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let c = g.c;
        Ok(
            SeparableConv2D::new(g.usize("filters")?, g.pair("kernel_size")?)
                .strides(g.pair_or("strides", (1, 1))?)
                .padding(g.str_or("padding", "valid")?)
                .dilation_rate(g.pair_or("dilation_rate", (1, 1))?)
                .depth_multiplier(match c.get("depth_multiplier") {
                    None | Some(Value::Null) => 1,
                    Some(_) => g.usize("depth_multiplier")?,
                })
                .activation(&g.activation()?)
                .use_bias(g.bool_or("use_bias", true)?)
                .depthwise_initializer(g.initializer("depthwise_initializer", "glorot_uniform")?)
                .pointwise_initializer(g.initializer("pointwise_initializer", "glorot_uniform")?)
                .bias_initializer(g.initializer("bias_initializer", "zeros")?)
                .with_weight_options(g.weight_options(super::weight_options::SEPARABLE)?),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;
    use crate::layers::DepthwiseConv2D;

    #[test]
    fn gradient_checks_over_geometries() {
        let l = SeparableConv2D::new(3, 3)
            .padding("same")
            .activation("tanh")
            .bias_initializer("random_uniform");
        assert_eq!(check_layer(Box::new(l), &[5, 4, 2]), vec![5, 4, 3]);
        let l = SeparableConv2D::new(4, (2, 3))
            .strides(2)
            .depth_multiplier(2)
            .activation("gelu");
        assert_eq!(check_layer(Box::new(l), &[6, 7, 2]), vec![3, 3, 4]);
        let l = SeparableConv2D::new(2, 2).dilation_rate(2).use_bias(false);
        assert_eq!(check_layer(Box::new(l), &[5, 5, 3]), vec![3, 3, 2]);
    }

    #[test]
    fn equals_depthwise_then_pointwise() {
        let mut rng = Rng::new(1);
        let mut sep = SeparableConv2D::new(3, 3)
            .depth_multiplier(2)
            .padding("same")
            .bias_initializer("random_uniform");
        sep.build(&[4, 4, 2], &mut rng).expect("build");
        sep.allocate(1);
        let names: Vec<_> = sep
            .params
            .iter()
            .map(|p| (p.name, p.shape.clone()))
            .collect();
        assert_eq!(
            names,
            [
                ("depthwise_kernel", vec![3, 3, 2, 2]),
                ("pointwise_kernel", vec![1, 1, 4, 3]),
                ("bias", vec![3])
            ]
        );
        let mut dw = DepthwiseConv2D::new(3)
            .depth_multiplier(2)
            .padding("same")
            .use_bias(false);
        dw.build(&[4, 4, 2], &mut rng).expect("build");
        dw.params_mut()[0].value = sep.params[0].value.clone();
        let x: Vec<f32> = (0..32).map(|i| (i as f32 * 0.7).cos()).collect();
        let mut mid = vec![0.0; 64];
        dw.forward(&x, &mut mid, 1, Mode::Infer);
        let mut y = vec![0.0; 48];
        sep.forward(&x, &mut y, 1, Mode::Infer);
        let (pk, b) = (&sep.params[1].value, &sep.params[2].value);
        for p in 0..16 {
            for f in 0..3 {
                let want: f32 = b[f] + (0..4).map(|c| mid[p * 4 + c] * pk[c * 3 + f]).sum::<f32>();
                assert!((y[p * 3 + f] - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn rejects_bad_arguments_by_name() {
        let mut rng = Rng::new(0);
        let e = SeparableConv2D::new(0, 3)
            .name("s")
            .build(&[8, 8, 2], &mut rng)
            .expect_err("filters");
        assert!(
            e.to_string().contains("filters") && e.to_string().contains("\"s\""),
            "{e}"
        );
        let e = SeparableConv2D::new(2, 3)
            .depth_multiplier(0)
            .build(&[8, 8, 2], &mut rng)
            .expect_err("dm");
        assert!(e.to_string().contains("depth_multiplier"), "{e}");
        let e = SeparableConv2D::new(2, 5)
            .build(&[3, 3, 2], &mut rng)
            .expect_err("small");
        assert!(e.to_string().contains("kernel size"), "{e}");
        let e = SeparableConv2D::new(2, 3)
            .pointwise_initializer("nope")
            .build(&[8, 8, 2], &mut rng)
            .expect_err("init");
        assert!(e.to_string().contains("pointwise_initializer"), "{e}");
        let e = SeparableConv2D::new(2, 3)
            .build(&[8, 8], &mut rng)
            .expect_err("rank");
        assert!(e.to_string().contains("ndim=4"), "{e}");
    }
}
