//! `Conv2DTranspose`: the transposed 2-D convolution ("deconvolution"), run as the input
//! gradient of a convolution whose geometry reproduces Keras's output size and alignment.

use super::registry::{Cfg, FromConfig};
use super::{check_pair, common_builders, parse_padding, Backward, Layer, LayerBase, Mode, Param};
use crate::error::{Error, Result};
use crate::init::Initializer;
use crate::rng::Rng;
use crate::shape::IntoPair;
use rkeras_kernels::conv2d::Bias;
use rkeras_kernels::{activation, conv2d, Act, Conv2dGeom, Padding, Scratch};
use serde_json::{json, Map, Value};

/// Transposed 2-D convolution layer (Keras `Conv2DTranspose`, `channels_last`).
///
/// The kernel has Keras's shape `(kh, kw, filters, channels)`: output channels *before*
/// input channels. Output size per spatial axis, as Keras: with `padding="valid"`,
/// `(n - 1) * stride + max(kernel, stride)` (plus `output_padding` when given, which then
/// replaces the `max`: `(n - 1) * stride + kernel + output_padding`); with `"same"`,
/// `n * stride` (or `(n - 1) * stride + kernel % 2 + output_padding`). The pixels line up
/// with Keras (JAX and TensorFlow backends). Defaults: `strides=(1, 1)`, `padding="valid"`,
/// `output_padding=None`, `dilation_rate=(1, 1)`, no activation, bias on,
/// `glorot_uniform` kernel, `zeros` bias.
///
/// # Shapes
/// Input `(batch, h, w, c)`; output `(batch, oh, ow, filters)`.
///
/// # Errors
/// When built: `output_padding` not smaller than the stride, `strides > 1` together with
/// `dilation_rate > 1`, and the usual bad sizes, each naming the layer and argument.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([Conv2DTranspose::new(4, 3)
///     .strides(2)
///     .padding("same")
///     .input_shape((5, 5, 8))
///     .into()])?;
/// assert_eq!(m.output_shape(), Some(&[10, 10, 4][..]));
/// assert_eq!(m.layers()[0].params()[0].shape, [3, 3, 4, 8]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Conv2DTranspose {
    base: LayerBase,
    filters: usize,
    kernel_size: (usize, usize),
    strides: (usize, usize),
    padding: String,
    output_padding: Option<(usize, usize)>,
    dilation_rate: (usize, usize),
    activation: String,
    use_bias: bool,
    kernel_initializer: crate::init::InitArg,
    bias_initializer: crate::init::InitArg,
    weights: super::weight_options::WeightOptions,
    act: Act,
    /// The convolution this layer transposes: its input is our output, its output our input.
    geom: Option<Conv2dGeom>,
    params: Vec<Param>,
    scratch: Scratch,
    preact: Vec<f32>,
}

/// One spatial axis of a transposed convolution, as Keras computes it for the JAX backend
/// (`_convert_conv_transpose_padding_args_from_keras_to_jax`): the output length and the
/// top/left padding of the convolution it transposes. `None` for an empty output.
fn transpose_axis(
    n: usize,
    k: usize,
    s: usize,
    d: usize,
    padding: Padding,
    output_padding: Option<usize>,
) -> Option<(usize, usize)> {
    if n == 0 || k == 0 || s == 0 || d == 0 {
        return None;
    }
    let k = (k - 1) * d + 1;
    let (left, right) = match padding {
        Padding::Valid => {
            let op = output_padding.unwrap_or(k.max(s) - k);
            (k - 1, k - 1 + op)
        }
        Padding::Same => {
            let pad_len = match output_padding {
                None => s + k - 2,
                Some(op) => k + k % 2 - 2 + op,
            };
            let left = (pad_len / 2 + pad_len % 2).min(k - 1);
            (left, pad_len - left)
        }
    };
    // The input dilated by the stride, padded, then a "valid" convolution of size k.
    let out = ((n - 1) * s + 1 + left + right).checked_sub(k)? + 1;
    (out > 0).then_some((out, k - 1 - left))
}

impl Conv2DTranspose {
    /// A transposed convolution with `filters` output channels and a `kernel_size` window.
    pub fn new(filters: usize, kernel_size: impl IntoPair) -> Self {
        Conv2DTranspose {
            base: LayerBase::default(),
            filters,
            kernel_size: kernel_size.into_pair(),
            strides: (1, 1),
            padding: "valid".into(),
            output_padding: None,
            dilation_rate: (1, 1),
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
        }
    }
    super::field_setters! {
        /// Strides, the upsampling factor (default `(1, 1)`).
        strides(s): pair,
        /// `"valid"` (default) or `"same"`.
        padding(p): lowercase,
    }
    /// Extra rows/columns at the bottom/right of the output (Keras `output_padding`;
    /// default `None`), each smaller than the stride.
    pub fn output_padding(mut self, p: impl IntoPair) -> Self {
        self.output_padding = Some(p.into_pair());
        self
    }
    super::field_setters! {
        /// Dilation rate (default `(1, 1)`; only with strides 1, as Keras).
        dilation_rate(d): pair,
        /// Activation name (default none).
        activation(a): str,
        /// Whether to add a bias (default `true`).
        use_bias(b): bool,
        /// Kernel initializer name (default `"glorot_uniform"`).
        kernel_initializer(i): init,
        /// Bias initializer name (default `"zeros"`).
        bias_initializer(i): init,
    }
}
common_builders!(Conv2DTranspose);
super::weight_options::weight_option_builders!(Conv2DTranspose:
    "kernel" => kernel_regularizer, kernel_constraint;
    "bias" => bias_regularizer, bias_constraint;
);

impl Layer for Conv2DTranspose {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Conv2DTranspose"
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
        check_pair("kernel_size", self.kernel_size, &name)?;
        check_pair("strides", self.strides, &name)?;
        check_pair("dilation_rate", self.dilation_rate, &name)?;
        let padding = parse_padding(&self.padding, &name)?;
        if let Some(op) = self.output_padding {
            if op.0 >= self.strides.0 || op.1 >= self.strides.1 {
                return Err(Error::arg(
                    "output_padding",
                    &name,
                    format!(
                        "each value must be strictly less than the corresponding stride, \
                         received output_padding={op:?}, strides={:?}",
                        self.strides
                    ),
                ));
            }
        }
        super::check_strided_dilation(self.strides, self.dilation_rate, &name)?;
        let (act, kinit, binit) = super::resolve_kernel_options(
            &name,
            &self.activation,
            &self.kernel_initializer,
            &self.bias_initializer,
        )?;
        self.act = act;
        let (h, w, c) = super::image_shape(&name, input_shape)?;
        let (kh, kw) = self.kernel_size;
        let op = self.output_padding;
        let axes = (
            transpose_axis(
                h,
                kh,
                self.strides.0,
                self.dilation_rate.0,
                padding,
                op.map(|p| p.0),
            ),
            transpose_axis(
                w,
                kw,
                self.strides.1,
                self.dilation_rate.1,
                padding,
                op.map(|p| p.1),
            ),
        );
        let geom = match axes {
            (Some((oh, pt)), Some((ow, pl))) => Conv2dGeom::explicit(
                (oh, ow, self.filters),
                (kh, kw),
                c,
                self.strides,
                self.dilation_rate,
                (pt, pl),
                (h, w),
            ),
            _ => None,
        };
        let geom = geom.ok_or_else(|| Error::IncompatibleShape {
            layer: name.clone(),
            expected: "a non-empty image (height, width, channels)".into(),
            received: crate::shape::batch_shape_str(input_shape),
        })?;
        // HWIO of the transposed convolution: I = filters, O = our input channels.
        let kshape = vec![kh, kw, self.filters, c];
        self.params = vec![Param::init(&name, "kernel", kshape, &kinit, rng)?];
        if self.use_bias {
            self.params
                .push(Param::init(&name, "bias", vec![self.filters], &binit, rng)?);
        }
        self.scratch = Scratch::default(); // sized by `allocate`
        self.geom = Some(geom);
        self.weights.check(&name, &self.params)?;
        Ok(vec![geom.h, geom.w, self.filters])
    }

    fn share_scratch(&mut self, pool: &Scratch) {
        self.scratch = pool.share();
    }

    fn allocate(&mut self, max_batch: usize) {
        let Some(g) = self.geom else { return };
        self.scratch.ensure(g.scratch_len());
        self.scratch.ensure_partials(g.partials_len(max_batch));
        if self.act.backward_needs_input() && self.preact.len() < max_batch * g.in_len() {
            self.preact.resize(max_batch * g.in_len(), 0.0);
        }
    }

    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let Some(g) = self.geom else { return };
        let y = &mut y[..n * g.in_len()];
        conv2d::backward_input(&g, n, &self.params[0].value, x, y, &self.scratch);
        let bias = self.params.get(1).map(|p| &p.value[..]);
        conv2d::epilogue(y, bias.into(), Act::Linear, self.filters);
        if self.act.backward_needs_input() {
            self.preact[..y.len()].copy_from_slice(y);
        }
        activation::forward_inplace(self.act, y, self.filters);
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
        let n = ctx.n;
        let (dy, y) = (&mut dy[..n * g.in_len()], &y[..n * g.in_len()]);
        if !ctx.skip_activation && !self.act.is_linear() {
            let pre = self
                .act
                .backward_needs_input()
                .then(|| &self.preact[..y.len()]);
            activation::backward_inplace(self.act, pre, y, dy, self.filters);
        }
        if let Some(b) = self.params.get_mut(1) {
            for row in dy.chunks_exact(self.filters) {
                b.grad.iter_mut().zip(row).for_each(|(a, v)| *a += v);
            }
        }
        // y = conv^T(x): the kernel gradient is the convolution's, with `dy` as its input
        // and `x` as its output gradient; the input gradient is the convolution of `dy`.
        let k = &mut self.params[0];
        conv2d::backward(
            &g,
            n,
            dy,
            &k.value,
            None,
            &x[..n * g.out_len()],
            None,
            &mut k.grad,
            None,
            &mut self.scratch.partials(),
            &self.scratch,
        );
        if let Some(dx) = dx {
            let dx = &mut dx[..n * g.out_len()];
            conv2d::forward(
                &g,
                n,
                dy,
                &k.value,
                Bias::None,
                Act::Linear,
                dx,
                &self.scratch,
            );
        }
    }

    super::kernel_layer_methods!(weights);
    fn config(&self) -> Map<String, Value> {
        let init = super::initializer_config;
        self.weights.with_config(super::object(json!({
            "filters": self.filters,
            "kernel_size": [self.kernel_size.0, self.kernel_size.1],
            "strides": [self.strides.0, self.strides.1],
            "padding": self.padding,
            "output_padding": self.output_padding.map(|(a, b)| [a, b]),
            "data_format": "channels_last",
            "dilation_rate": [self.dilation_rate.0, self.dilation_rate.1],
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

impl FromConfig for Conv2DTranspose {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let c = g.c;
        let mut conv = Conv2DTranspose::new(g.usize("filters")?, g.pair("kernel_size")?)
            .strides(g.pair_or("strides", (1, 1))?)
            .padding(g.str_or("padding", "valid")?)
            .dilation_rate(g.pair_or("dilation_rate", (1, 1))?)
            .activation(&g.activation()?)
            .use_bias(g.bool_or("use_bias", true)?)
            .kernel_initializer(g.initializer("kernel_initializer", "glorot_uniform")?)
            .bias_initializer(g.initializer("bias_initializer", "zeros")?);
        if !matches!(c.get("output_padding"), None | Some(Value::Null)) {
            conv = conv.output_padding(g.pair("output_padding")?);
        }
        Ok(conv.with_weight_options(g.weight_options(super::weight_options::KERNEL_BIAS)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn output_sizes_and_alignment_as_keras() {
        use Padding::{Same, Valid};
        // (n, k, s, padding, output_padding) -> (out, top padding of the transposed conv)
        for (args, want) in [
            ((4, 3, 1, Valid, None), (6, 0)),
            ((4, 3, 2, Valid, None), (9, 0)),
            ((4, 1, 3, Valid, None), (12, 0)), // (n - 1) * s + max(k, s)
            ((4, 3, 2, Valid, Some(1)), (10, 0)),
            ((4, 3, 2, Same, None), (8, 0)),
            ((4, 4, 2, Same, None), (8, 1)),
            ((4, 5, 2, Same, None), (8, 1)),
            ((4, 5, 1, Same, None), (4, 2)),
            ((4, 2, 3, Same, None), (12, 0)),
            ((4, 3, 2, Same, Some(0)), (7, 1)),
            ((4, 4, 3, Same, Some(2)), (11, 1)),
        ] {
            let (n, k, s, p, op) = args;
            assert_eq!(transpose_axis(n, k, s, 1, p, op), Some(want), "{args:?}");
        }
    }

    #[test]
    fn gradient_checks_over_geometries() {
        for (k, s, pad, act) in [
            (3, 2, "valid", "linear"),
            (3, 2, "same", "tanh"),
            (4, 2, "same", "gelu"),
            (2, 3, "valid", "elu"),
            (3, 1, "same", "linear"),
        ] {
            let l = Conv2DTranspose::new(3, k)
                .strides(s)
                .padding(pad)
                .activation(act)
                .bias_initializer("random_uniform");
            check_layer(Box::new(l), &[3, 4, 2]);
        }
        let l = Conv2DTranspose::new(2, 3)
            .strides(2)
            .output_padding(1)
            .use_bias(false);
        assert_eq!(check_layer(Box::new(l), &[3, 2, 2]), vec![8, 6, 2]);
        let l = Conv2DTranspose::new(2, 2).dilation_rate(2).padding("same");
        assert_eq!(check_layer(Box::new(l), &[3, 3, 2]), vec![3, 3, 2]);
    }

    #[test]
    fn one_pixel_spreads_the_kernel() {
        // A single input pixel, stride 2, valid: the output is the kernel itself.
        let mut l = Conv2DTranspose::new(1, (2, 3)).use_bias(false);
        l.build(&[1, 1, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        l.params[0].value = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut y = [0.0; 6];
        l.forward(&[2.0], &mut y, 1, Mode::Infer);
        assert_eq!(y, [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
    }

    #[test]
    fn rejects_bad_arguments_by_name() {
        let mut rng = Rng::new(0);
        let e = Conv2DTranspose::new(2, 3)
            .strides(2)
            .output_padding(2)
            .name("t")
            .build(&[4, 4, 1], &mut rng)
            .expect_err("output_padding");
        assert!(
            e.to_string().contains("output_padding") && e.to_string().contains("\"t\""),
            "{e}"
        );
        let e = Conv2DTranspose::new(2, 3)
            .strides(2)
            .dilation_rate(2)
            .build(&[4, 4, 1], &mut rng)
            .expect_err("dilation");
        assert!(e.to_string().contains("dilation_rate"), "{e}");
        for l in [
            Conv2DTranspose::new(0, 3),
            Conv2DTranspose::new(2, 0),
            Conv2DTranspose::new(2, 3).strides(0),
            Conv2DTranspose::new(2, 3).padding("full"),
            Conv2DTranspose::new(2, 3).activation("nope"),
        ] {
            let mut l = l;
            assert!(l.build(&[4, 4, 1], &mut rng).is_err());
        }
        let e = Conv2DTranspose::new(2, 3)
            .build(&[4, 4], &mut rng)
            .expect_err("rank");
        assert!(e.to_string().contains("ndim=4"), "{e}");
        let e = Conv2DTranspose::new(2, 3)
            .build(&[0, 4, 1], &mut rng)
            .expect_err("empty");
        assert!(e.to_string().contains("non-empty"), "{e}");
    }
}
