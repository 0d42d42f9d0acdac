//! MobileNetV3Small and MobileNetV3Large, as `keras.applications` builds them.

use super::options::{app_option_builders, AppOptions};
use super::{correct_pad, make_divisible};
use crate::error::{Error, Result};
use crate::layers::{
    Activation, Add, BatchNormalization, Conv2D, DepthwiseConv2D, Dropout, Flatten,
    GlobalAveragePooling2D, KerasOp, Multiply, ReLU, Rescaling, ZeroPadding2D,
};
use crate::model::{Call, KerasTensor, Model};

/// One inverted residual block of a MobileNetV3 stack (Keras's `_inverted_res_block`
/// arguments): expansion ratio, output filters (before `alpha`), kernel size (`None`: the
/// model's, 5, or 3 when minimalistic), stride, whether it has squeeze-and-excite (none when
/// minimalistic), and whether it uses the model's activation (hard swish; ReLU when
/// minimalistic) rather than ReLU.
type BlockArgs = (f64, usize, Option<usize>, usize, bool, bool);

const SMALL: [BlockArgs; 11] = [
    (1.0, 16, Some(3), 2, true, false),
    (72.0 / 16.0, 24, Some(3), 2, false, false),
    (88.0 / 24.0, 24, Some(3), 1, false, false),
    (4.0, 40, None, 2, true, true),
    (6.0, 40, None, 1, true, true),
    (6.0, 40, None, 1, true, true),
    (3.0, 48, None, 1, true, true),
    (3.0, 48, None, 1, true, true),
    (6.0, 96, None, 2, true, true),
    (6.0, 96, None, 1, true, true),
    (6.0, 96, None, 1, true, true),
];

const LARGE: [BlockArgs; 15] = [
    (1.0, 16, Some(3), 1, false, false),
    (4.0, 24, Some(3), 2, false, false),
    (3.0, 24, Some(3), 1, false, false),
    (3.0, 40, None, 2, true, false),
    (3.0, 40, None, 1, true, false),
    (3.0, 40, None, 1, true, false),
    (6.0, 80, Some(3), 2, false, true),
    (2.5, 80, Some(3), 1, false, true),
    (2.3, 80, Some(3), 1, false, true),
    (2.3, 80, Some(3), 1, false, true),
    (6.0, 112, Some(3), 1, true, true),
    (6.0, 112, Some(3), 1, true, true),
    (6.0, 160, None, 2, true, true),
    (6.0, 160, None, 1, true, true),
    (6.0, 160, None, 1, true, true),
];

/// The squeeze-and-excite ratio (without `minimalistic`).
const SE_RATIO: f64 = 0.25;

/// Keras's `keras.applications.MobileNetV3Small` and `MobileNetV3Large`: a stride-2 stem,
/// stacks of inverted residual blocks (1x1 expansion, depthwise convolution, optional
/// squeeze-and-excite gated by a hard sigmoid, 1x1 projection, residual add) with ReLU or
/// hard-swish activations, and a head of 1x1 convolutions, with Keras's layer names
/// (`expanded_conv_3_squeeze_excite_mul`, `conv_1`, `logits`, ...), arguments (`alpha`,
/// `minimalistic`, `dropout_rate`, `include_preprocessing`) and defaults, so that Keras's
/// weight files load into them.
///
/// As in Keras, the hard sigmoid is `ReLU(6)(x + 3) * (1/6)`: the addition and the
/// multiplication by a number are Keras 3 operations in the graph (`add`, `multiply`,
/// [`KerasOp`]), the hard swish an `Activation("hard_swish")`. With
/// `include_preprocessing` (the default) the model starts with `Rescaling(1/127.5,
/// offset=-1)` and takes pixels in 0..255; [`preprocess_input_mobilenet_v3`] passes them
/// through.
///
/// ```
/// use rkeras::applications::MobileNetV3;
/// let m = MobileNetV3::mobilenet_v3_small()
///     .input_shape((32, 32, 3))
///     .alpha(0.75)
///     .classes(10)
///     .build()?;
/// assert_eq!(m.name(), "MobileNetV3Small");
/// assert_eq!(m.output_shape(), Some(&[10][..]));
/// let base = MobileNetV3::mobilenet_v3_large()
///     .input_shape((32, 32, 3))
///     .minimalistic(true)
///     .include_top(false)
///     .pooling("avg")
///     .build()?;
/// assert_eq!(base.output_shape(), Some(&[960][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MobileNetV3 {
    opts: AppOptions,
    alpha: f64,
    minimalistic: bool,
    dropout_rate: f64,
    include_preprocessing: bool,
    large: bool,
}

app_option_builders!(MobileNetV3);

impl MobileNetV3 {
    fn family(large: bool) -> Self {
        MobileNetV3 {
            opts: AppOptions::default(),
            alpha: 1.0,
            minimalistic: false,
            dropout_rate: 0.2,
            include_preprocessing: true,
            large,
        }
    }
    /// `keras.applications.MobileNetV3Small` (224x224 by default here: Keras's default
    /// input size is free, rkeras needs one).
    pub fn mobilenet_v3_small() -> Self {
        MobileNetV3::family(false)
    }
    /// `keras.applications.MobileNetV3Large` (224x224 by default here).
    pub fn mobilenet_v3_large() -> Self {
        MobileNetV3::family(true)
    }
    /// The width multiplier of the blocks' filters (default 1.0; the published weights
    /// exist for 0.75 and 1.0, and 1.0 minimalistic).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// Keras's `minimalistic`: no squeeze-and-excite, no hard swish (ReLU), 3x3 kernels
    /// only (default false).
    pub fn minimalistic(mut self, yes: bool) -> Self {
        self.minimalistic = yes;
        self
    }
    /// The dropout before the `logits` convolution (with the top; default 0.2, none at 0).
    pub fn dropout_rate(mut self, rate: f64) -> Self {
        self.dropout_rate = rate;
        self
    }
    /// Whether the model starts with `Rescaling(1/127.5, offset=-1)`, taking pixels in
    /// 0..255 (default true, as in Keras); without it the model takes values in -1..1.
    pub fn include_preprocessing(mut self, yes: bool) -> Self {
        self.include_preprocessing = yes;
        self
    }

    fn name(&self) -> &'static str {
        if self.large {
            "MobileNetV3Large"
        } else {
            "MobileNetV3Small"
        }
    }

    /// Builds the model (and loads `weights`).
    ///
    /// # Errors
    /// A side under 32, channels other than 3, an `alpha` that is not positive, a dropout
    /// rate outside 0..1, a pooling other than avg/max, zero classes, or a weight file that
    /// does not fit (naming the layer).
    pub fn build(&self) -> Result<Model> {
        let input = self.opts.input();
        let x = self.call(&input)?;
        self.opts.finish(&input, &x, self.name())
    }

    /// The network's layers called on `input` (the `Rescaling` included), for a model of
    /// your own around it (see [`MobileNetV2::call`](super::MobileNetV2::call)); `weights`
    /// is not applied here.
    ///
    /// # Errors
    /// As [`build`](Self::build), for the input's shape.
    pub fn call(&self, input: &KerasTensor) -> Result<KerasTensor> {
        let name = self.name();
        self.opts.check(name, input, 32)?;
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(Error::arg(
                "alpha",
                name,
                format!("must be positive, received {}", self.alpha),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout_rate) {
            return Err(Error::arg(
                "dropout_rate",
                name,
                format!("must be in [0, 1), received {}", self.dropout_rate),
            ));
        }
        let kernel = if self.minimalistic { 3 } else { 5 };
        let mut x = input.clone();
        if self.include_preprocessing {
            x = Rescaling::new(1.0 / 127.5).offset(-1.0).call(&x)?;
        }
        x = Conv2D::new(16, 3)
            .strides(2)
            .padding("same")
            .use_bias(false)
            .name("conv")
            .call(&x)?;
        x = bn("conv_bn").call(&x)?;
        x = self.activation(&x, true)?;
        let stack: &[BlockArgs] = if self.large { &LARGE } else { &SMALL };
        for (id, &(expansion, filters, k, stride, se, hs)) in stack.iter().enumerate() {
            let block = Block {
                expansion,
                filters: make_divisible(filters as f64 * self.alpha, 8),
                kernel: k.unwrap_or(kernel),
                stride,
                se: se && !self.minimalistic,
                hard_swish: hs,
            };
            x = block.call(self, &x, id)?;
        }
        let channels = x.shape().last().copied().unwrap_or(0);
        let last_conv = make_divisible(channels as f64 * 6.0, 8);
        let base_point = if self.large { 1280 } else { 1024 };
        let last_point = if self.alpha > 1.0 {
            make_divisible(base_point as f64 * self.alpha, 8)
        } else {
            base_point
        };
        x = Conv2D::new(last_conv, 1)
            .padding("same")
            .use_bias(false)
            .name("conv_1")
            .call(&x)?;
        x = bn("conv_1_bn").call(&x)?;
        x = self.activation(&x, true)?;
        if !self.opts.include_top {
            return self
                .opts
                .pooling_only(&x, Some("avg_pool"), Some("max_pool"));
        }
        x = GlobalAveragePooling2D::new().keepdims(true).call(&x)?;
        x = Conv2D::new(last_point, 1)
            .padding("same")
            .name("conv_2")
            .call(&x)?;
        x = self.activation(&x, true)?;
        if self.dropout_rate > 0.0 {
            x = Dropout::new(self.dropout_rate as f32).call(&x)?;
        }
        x = Conv2D::new(self.opts.classes, 1)
            .padding("same")
            .name("logits")
            .call(&x)?;
        x = Flatten::new().call(&x)?;
        let head = self
            .opts
            .classifier_activation
            .as_deref()
            .unwrap_or("linear");
        Activation::new(head).name("predictions").call(&x)
    }

    /// The model's activation (`hard_swish`: hard swish unless minimalistic) or ReLU, with
    /// Keras's automatic names.
    fn activation(&self, x: &KerasTensor, hard_swish: bool) -> Result<KerasTensor> {
        if hard_swish && !self.minimalistic {
            Activation::new("hard_swish").call(x)
        } else {
            ReLU::new().call(x)
        }
    }
}

fn bn(name: impl Into<String>) -> BatchNormalization {
    BatchNormalization::new()
        .epsilon(1e-3)
        .momentum(0.999)
        .name(name)
}

/// One inverted residual block, its filters after `alpha`.
struct Block {
    expansion: f64,
    filters: usize,
    kernel: usize,
    stride: usize,
    se: bool,
    hard_swish: bool,
}

impl Block {
    fn call(&self, net: &MobileNetV3, inputs: &KerasTensor, id: usize) -> Result<KerasTensor> {
        let infilters = inputs.shape().last().copied().unwrap_or(0);
        let expanded = make_divisible(infilters as f64 * self.expansion, 8);
        let mut x = inputs.clone();
        let prefix = if id > 0 {
            let prefix = format!("expanded_conv_{id}_");
            x = Conv2D::new(expanded, 1)
                .padding("same")
                .use_bias(false)
                .name(format!("{prefix}expand"))
                .call(&x)?;
            x = bn(format!("{prefix}expand_bn")).call(&x)?;
            x = net.activation(&x, self.hard_swish)?;
            prefix
        } else {
            "expanded_conv_".to_string()
        };
        if self.stride == 2 {
            let s = x.shape();
            x = ZeroPadding2D::new(correct_pad(s[0], s[1], self.kernel))
                .name(format!("{prefix}depthwise_pad"))
                .call(&x)?;
        }
        x = DepthwiseConv2D::new(self.kernel)
            .strides(self.stride)
            .padding(if self.stride == 1 { "same" } else { "valid" })
            .use_bias(false)
            .name(format!("{prefix}depthwise"))
            .call(&x)?;
        x = bn(format!("{prefix}depthwise_bn")).call(&x)?;
        x = net.activation(&x, self.hard_swish)?;
        if self.se {
            x = se_block(&x, expanded, &prefix)?;
        }
        x = Conv2D::new(self.filters, 1)
            .padding("same")
            .use_bias(false)
            .name(format!("{prefix}project"))
            .call(&x)?;
        x = bn(format!("{prefix}project_bn")).call(&x)?;
        if self.stride == 1 && infilters == self.filters {
            x = Add::new()
                .name(format!("{prefix}add"))
                .call_on(&[inputs, &x])?;
        }
        Ok(x)
    }
}

/// Keras's `_se_block`: average pooling, 1x1 reduction, ReLU, 1x1 expansion, hard sigmoid
/// (`ReLU(6)(x + 3) * (1/6)`, the two arithmetic steps as Keras operations), and the gate.
fn se_block(inputs: &KerasTensor, filters: usize, prefix: &str) -> Result<KerasTensor> {
    let mut x = GlobalAveragePooling2D::new()
        .keepdims(true)
        .name(format!("{prefix}squeeze_excite_avg_pool"))
        .call(inputs)?;
    x = Conv2D::new(make_divisible(filters as f64 * SE_RATIO, 8), 1)
        .padding("same")
        .name(format!("{prefix}squeeze_excite_conv"))
        .call(&x)?;
    x = ReLU::new()
        .name(format!("{prefix}squeeze_excite_relu"))
        .call(&x)?;
    x = Conv2D::new(filters, 1)
        .padding("same")
        .name(format!("{prefix}squeeze_excite_conv_1"))
        .call(&x)?;
    x = KerasOp::new("Add", Some((3.0, false)))?.call(&x)?;
    x = ReLU::new().max_value(6.0).call(&x)?;
    x = KerasOp::new("Multiply", Some((1.0 / 6.0, false)))?.call(&x)?;
    Multiply::new()
        .name(format!("{prefix}squeeze_excite_mul"))
        .call_on(&[inputs, &x])
}

/// Keras's `keras.applications.mobilenet_v3.preprocess_input`: a pass-through (the models
/// rescale 0..255 pixels themselves, with `include_preprocessing`).
///
/// ```
/// let mut x = rkeras::Tensor::new(vec![1, 3], vec![0.0, 127.5, 255.0])?;
/// rkeras::applications::preprocess_input_mobilenet_v3(&mut x);
/// assert_eq!(x.data(), &[0.0, 127.5, 255.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
pub fn preprocess_input_mobilenet_v3(x: &mut crate::Tensor) {
    let _ = x;
}
