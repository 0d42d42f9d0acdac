//! `Conv2D`: 2-D convolution over NHWC inputs with an HWIO kernel, optional bias and a fused
//! activation.

use super::{
    check_pair, common_builders, parse_padding, rank_error, Backward, Layer, LayerBase, Mode, Param,
};
use crate::activations;
use crate::error::{Error, Result};
use crate::init::Initializer;
use crate::rng::Rng;
use crate::shape::IntoPair;
use rkeras_kernels::{activation, conv2d, Act, Conv2dGeom, Scratch};
use serde_json::{json, Map, Value};

/// 2-D convolution layer (Keras `Conv2D`, `channels_last`).
///
/// Defaults as Keras: `strides=(1, 1)`, `padding="valid"`, no activation, bias on,
/// `glorot_uniform` kernel, `zeros` bias.
///
/// # Shapes
/// Input `(batch, h, w, c)`; output `(batch, oh, ow, filters)`.
///
/// ```
/// use rkeras::prelude::*;
/// let model = Sequential::new([
///     Conv2D::new(8, (3, 3)).activation("relu").padding("same").input_shape((16, 16, 3)).into(),
/// ])?;
/// assert_eq!(model.output_shape(), Some(&[16, 16, 8][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Debug)]
pub struct Conv2D {
    base: LayerBase,
    filters: usize,
    kernel_size: (usize, usize),
    strides: (usize, usize),
    dilation_rate: (usize, usize),
    padding: String,
    activation: String,
    use_bias: bool,
    kernel_initializer: String,
    bias_initializer: String,
    weights: super::weight_options::WeightOptions,
    act: Act,
    geom: Option<Conv2dGeom>,
    params: Vec<Param>,
    scratch: Scratch,
    partials: Vec<f32>,
    preact: Vec<f32>,
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
            partials: Vec::new(),
            preact: Vec::new(),
        }
    }
    /// Strides (default `(1, 1)`).
    pub fn strides(mut self, s: impl IntoPair) -> Self {
        self.strides = s.into_pair();
        self
    }
    /// Dilation rate (default `(1, 1)`).
    pub fn dilation_rate(mut self, d: impl IntoPair) -> Self {
        self.dilation_rate = d.into_pair();
        self
    }
    /// `"valid"` (default) or `"same"`.
    pub fn padding(mut self, p: &str) -> Self {
        self.padding = p.into();
        self
    }
    /// Activation name (`"relu"`, `"softmax"`, ...; default none).
    pub fn activation(mut self, a: &str) -> Self {
        self.activation = a.into();
        self
    }
    /// Whether to add a bias (default `true`).
    pub fn use_bias(mut self, b: bool) -> Self {
        self.use_bias = b;
        self
    }
    /// Kernel initializer name (default `"glorot_uniform"`).
    pub fn kernel_initializer(mut self, i: &str) -> Self {
        self.kernel_initializer = i.into();
        self
    }
    /// Bias initializer name (default `"zeros"`).
    pub fn bias_initializer(mut self, i: &str) -> Self {
        self.bias_initializer = i.into();
        self
    }
}
common_builders!(Conv2D);
super::weight_options::weight_option_builders!(Conv2D);

impl Layer for Conv2D {
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
        let geom = Conv2dGeom::new(
            (h, w, c),
            self.kernel_size,
            self.filters,
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
        let kshape = vec![self.kernel_size.0, self.kernel_size.1, c, self.filters];
        let mut kernel = vec![0.0; geom.kernel_len()];
        kinit.fill(&kshape, &mut kernel, rng);
        self.params = vec![Param::new("kernel", kshape, kernel)];
        if self.use_bias {
            let mut b = vec![0.0; self.filters];
            binit.fill(&[self.filters], &mut b, rng);
            self.params.push(Param::new("bias", vec![self.filters], b));
        }
        self.scratch = Scratch::new(geom.scratch_len());
        self.geom = Some(geom);
        self.weights.check(self.base.label(), &self.params)?;
        Ok(vec![geom.oh, geom.ow, self.filters])
    }

    fn allocate(&mut self, max_batch: usize) {
        if let Some(g) = self.geom {
            self.scratch.ensure(g.scratch_len());
            let need = g.partials_len(max_batch);
            if self.partials.len() < need {
                self.partials.resize(need, 0.0);
            }
            if self.act.backward_needs_input() && self.preact.len() < max_batch * g.out_len() {
                self.preact.resize(max_batch * g.out_len(), 0.0);
            }
        }
    }

    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let Some(g) = self.geom else { return };
        let bias = self.params.get(1).map(|p| &p.value[..]);
        let kernel = &self.params[0].value;
        if self.act.backward_needs_input() {
            conv2d::forward(&g, n, x, kernel, bias, Act::Linear, y, &self.scratch);
            self.preact[..y.len()].copy_from_slice(y);
            activation::forward_inplace(self.act, y, g.cout);
        } else {
            conv2d::forward(&g, n, x, kernel, bias, self.act, y, &self.scratch);
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
        // Element-wise activations whose derivative needs only the output are fused into the
        // convolution's backward pass (applied per block, while it is in cache).
        let fuse = !ctx.skip_activation
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
        conv2d::backward(
            &g,
            ctx.n,
            x,
            kernel,
            act,
            dy,
            dx,
            kgrad,
            db,
            &mut self.partials,
            &self.scratch,
        );
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

    fn regularize(&mut self) -> f64 {
        self.weights.regularize(&mut self.params)
    }
    fn regularization_loss(&self) -> f64 {
        self.weights.penalty(&self.params)
    }
    fn constrain(&mut self) {
        self.weights.constrain(&mut self.params);
    }
    fn config(&self) -> Map<String, Value> {
        let act_name = activations::parse(&self.activation)
            .map(activations::name)
            .unwrap_or("linear");
        let kinit =
            Initializer::from_name(&self.kernel_initializer).unwrap_or(Initializer::GlorotUniform);
        let binit = Initializer::from_name(&self.bias_initializer).unwrap_or(Initializer::Zeros);
        super::object(json!({
            "filters": self.filters,
            "kernel_size": [self.kernel_size.0, self.kernel_size.1],
            "strides": [self.strides.0, self.strides.1],
            "padding": self.padding,
            "data_format": "channels_last",
            "dilation_rate": [self.dilation_rate.0, self.dilation_rate.1],
            "groups": 1,
            "activation": act_name,
            "use_bias": self.use_bias,
            "kernel_initializer": kinit.config(),
            "bias_initializer": binit.config(),
            "kernel_regularizer": self.weights.kernel_regularizer.map(|r| r.config()),
            "bias_regularizer": self.weights.bias_regularizer.map(|r| r.config()),
            "activity_regularizer": null,
            "kernel_constraint": self.weights.kernel_constraint.as_ref().map(|c| c.config()),
            "bias_constraint": self.weights.bias_constraint.as_ref().map(|c| c.config())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

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
        assert_eq!(
            c["kernel_initializer"]["class_name"],
            json!("GlorotUniform")
        );
    }
}
