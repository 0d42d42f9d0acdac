//! EfficientNetV2B0 .. B3, S, M and L, as `keras.applications` builds them.

use super::options::{app_option_builders, AppOptions};
use crate::error::{Error, Result};
use crate::init::{Distribution, FanMode, Initializer};
use crate::layers::{
    Activation, Add, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, Dropout,
    GlobalAveragePooling2D, Multiply, Normalization, Rescaling, Reshape,
};
use crate::model::{Call, KerasTensor, Model};

/// One stage of Keras's `DEFAULT_BLOCKS_ARGS` (before the width and depth scaling).
#[derive(Clone, Copy, Debug)]
struct Stage {
    kernel: usize,
    repeats: usize,
    filters_in: usize,
    filters_out: usize,
    expand: usize,
    se_ratio: f64,
    stride: usize,
    /// Keras's `conv_type` 1: a fused MBConv block (no depthwise convolution).
    fused: bool,
}

/// A stage of fused MBConv blocks (3x3, no squeeze-and-excite).
const fn fused(repeats: usize, f_in: usize, f_out: usize, expand: usize, stride: usize) -> Stage {
    Stage {
        kernel: 3,
        repeats,
        filters_in: f_in,
        filters_out: f_out,
        expand,
        se_ratio: 0.0,
        stride,
        fused: true,
    }
}

/// A stage of MBConv blocks (3x3 depthwise, squeeze-and-excite ratio 0.25).
const fn mbconv(repeats: usize, f_in: usize, f_out: usize, expand: usize, stride: usize) -> Stage {
    Stage {
        kernel: 3,
        repeats,
        filters_in: f_in,
        filters_out: f_out,
        expand,
        se_ratio: 0.25,
        stride,
        fused: false,
    }
}

/// The stages of B0 .. B3 (scaled per model).
const STAGES_B: [Stage; 6] = [
    fused(1, 32, 16, 1, 1),
    fused(2, 16, 32, 4, 2),
    fused(2, 32, 48, 4, 2),
    mbconv(3, 48, 96, 4, 2),
    mbconv(5, 96, 112, 6, 1),
    mbconv(8, 112, 192, 6, 2),
];
/// The stages of S.
const STAGES_S: [Stage; 6] = [
    fused(2, 24, 24, 1, 1),
    fused(4, 24, 48, 4, 2),
    fused(4, 48, 64, 4, 2),
    mbconv(6, 64, 128, 4, 2),
    mbconv(9, 128, 160, 6, 1),
    mbconv(15, 160, 256, 6, 2),
];
/// The stages of M.
const STAGES_M: [Stage; 7] = [
    fused(3, 24, 24, 1, 1),
    fused(5, 24, 48, 4, 2),
    fused(5, 48, 80, 4, 2),
    mbconv(7, 80, 160, 4, 2),
    mbconv(14, 160, 176, 6, 1),
    mbconv(18, 176, 304, 6, 2),
    mbconv(5, 304, 512, 6, 1),
];
/// The stages of L.
const STAGES_L: [Stage; 7] = [
    fused(4, 32, 32, 1, 1),
    fused(7, 32, 64, 4, 2),
    fused(7, 64, 96, 4, 2),
    mbconv(10, 96, 192, 4, 2),
    mbconv(19, 192, 224, 6, 1),
    mbconv(25, 224, 384, 6, 2),
    mbconv(7, 384, 640, 6, 1),
];

/// The momentum of every `BatchNormalization`.
const BN_MOMENTUM: f32 = 0.9;
/// The largest rate of the blocks' stochastic depth (`drop_connect_rate`).
const DROP_CONNECT_RATE: f64 = 0.2;
/// The dropout before the classifier (every model's `dropout_rate`).
const DROPOUT_RATE: f32 = 0.2;

/// Keras's `BatchNormalization(axis=3, momentum=0.9)`.
fn bn() -> BatchNormalization {
    BatchNormalization::new().axis(3).momentum(BN_MOMENTUM)
}

/// Keras's `CONV_KERNEL_INITIALIZER`: `VarianceScaling(2.0, "fan_out", "truncated_normal")`.
fn conv_init() -> Initializer {
    Initializer::VarianceScaling {
        scale: 2.0,
        mode: FanMode::FanOut,
        distribution: Distribution::TruncatedNormal,
    }
}

/// Keras's `DENSE_KERNEL_INITIALIZER`: `VarianceScaling(1/3, "fan_out", "uniform")`.
fn dense_init() -> Initializer {
    Initializer::VarianceScaling {
        scale: 1.0 / 3.0,
        mode: FanMode::FanOut,
        distribution: Distribution::Uniform,
    }
}

/// Keras's `round_filters` of EfficientNetV2 (divisor 8, at least 8; no 10 % rule, unlike
/// EfficientNet's `_make_divisible`).
fn round_filters(filters: usize, width: f64) -> usize {
    let f = filters as f64 * width;
    (((f + 4.0) as usize) / 8 * 8).max(8)
}

/// Keras's `keras.applications.EfficientNetV2B0` .. `B3`, `EfficientNetV2S`, `M` and `L`:
/// the preprocessing (for the B models `Rescaling(1/255)` and a `Normalization` by the
/// ImageNet means and variances, for S, M and L `Rescaling(1/128, offset=-1)`), a stride-2
/// 3x3 stem convolution, stages of fused MBConv blocks (a full 3x3 convolution in place of
/// the 1x1 expansion and depthwise convolution) then of MBConv blocks (1x1 expansion, 3x3
/// depthwise convolution, squeeze-and-excite, 1x1 projection), stochastic depth (`Dropout`
/// with `noise_shape` (1, 1, 1)) before each residual add, and a 1x1 top convolution, all with
/// swish activations and `BatchNormalization(momentum=0.9)`; Keras's layer names
/// (`stem_conv`, `block1a_project_activation`, `block4a_dwconv2`, `top_conv`, ...), kernel
/// initializers, arguments and defaults (each model's own default input size: 224 for B0 up
/// to 480 for M and L; at least 32x32), so that Keras's weight files load into them.
///
/// Inputs are pixels in 0..255 ([`preprocess_input_efficientnet_v2`] passes them through),
/// unless [`include_preprocessing`](Self::include_preprocessing) is off (then -1..1, as
/// Keras says).
///
/// ```
/// use rkeras::applications::EfficientNetV2;
/// let m = EfficientNetV2::efficientnet_v2_b0()
///     .input_shape((32, 32, 3))
///     .classes(10)
///     .build()?;
/// assert_eq!(m.name(), "efficientnetv2-b0");
/// assert_eq!(m.output_shape(), Some(&[10][..]));
/// let base = EfficientNetV2::efficientnet_v2_b0()
///     .input_shape((32, 32, 3))
///     .include_top(false)
///     .pooling("avg")
///     .build()?;
/// assert_eq!(base.output_shape(), Some(&[1280][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct EfficientNetV2 {
    opts: AppOptions,
    width: f64,
    depth: f64,
    stages: &'static [Stage],
    name: &'static str,
    include_preprocessing: bool,
}

app_option_builders!(EfficientNetV2);

impl EfficientNetV2 {
    fn family(
        width: f64,
        depth: f64,
        size: usize,
        stages: &'static [Stage],
        name: &'static str,
    ) -> Self {
        EfficientNetV2 {
            opts: AppOptions {
                input_shape: (size, size, 3),
                ..AppOptions::default()
            },
            width,
            depth,
            stages,
            name,
            include_preprocessing: true,
        }
    }
    /// `keras.applications.EfficientNetV2B0` (default input 224x224).
    pub fn efficientnet_v2_b0() -> Self {
        EfficientNetV2::family(1.0, 1.0, 224, &STAGES_B, "efficientnetv2-b0")
    }
    /// `keras.applications.EfficientNetV2B1` (default input 240x240).
    pub fn efficientnet_v2_b1() -> Self {
        EfficientNetV2::family(1.0, 1.1, 240, &STAGES_B, "efficientnetv2-b1")
    }
    /// `keras.applications.EfficientNetV2B2` (default input 260x260).
    pub fn efficientnet_v2_b2() -> Self {
        EfficientNetV2::family(1.1, 1.2, 260, &STAGES_B, "efficientnetv2-b2")
    }
    /// `keras.applications.EfficientNetV2B3` (default input 300x300).
    pub fn efficientnet_v2_b3() -> Self {
        EfficientNetV2::family(1.2, 1.4, 300, &STAGES_B, "efficientnetv2-b3")
    }
    /// `keras.applications.EfficientNetV2S` (default input 384x384).
    pub fn efficientnet_v2_s() -> Self {
        EfficientNetV2::family(1.0, 1.0, 384, &STAGES_S, "efficientnetv2-s")
    }
    /// `keras.applications.EfficientNetV2M` (default input 480x480).
    pub fn efficientnet_v2_m() -> Self {
        EfficientNetV2::family(1.0, 1.0, 480, &STAGES_M, "efficientnetv2-m")
    }
    /// `keras.applications.EfficientNetV2L` (default input 480x480).
    pub fn efficientnet_v2_l() -> Self {
        EfficientNetV2::family(1.0, 1.0, 480, &STAGES_L, "efficientnetv2-l")
    }
    /// Whether the model rescales 0..255 pixels itself (default true, as Keras; needed for
    /// Keras's ImageNet weights). Off, it takes pixels in -1..1.
    pub fn include_preprocessing(mut self, on: bool) -> Self {
        self.include_preprocessing = on;
        self
    }

    /// Builds the model (and loads `weights`).
    ///
    /// # Errors
    /// A side under 32, channels other than 3, a pooling other than avg/max, zero classes,
    /// or a weight file that does not fit (naming the layer).
    pub fn build(&self) -> Result<Model> {
        let input = self.opts.input();
        let x = self.call(&input)?;
        self.opts.finish(&input, &x, self.name)
    }

    /// The network's layers called on `input` (the preprocessing included, if on), for a
    /// model of your own around it; `weights` is not applied here.
    ///
    /// # Errors
    /// As [`build`](Self::build), for the input's shape.
    pub fn call(&self, input: &KerasTensor) -> Result<KerasTensor> {
        self.opts.check(self.name, input, 32)?;
        let filters = |f: usize| round_filters(f, self.width);
        let mut x = input.clone();
        if self.include_preprocessing {
            // Keras: the original (V1) preprocessing for the "-bN" models.
            let b_model = self
                .name
                .rsplit('-')
                .next()
                .is_some_and(|s| s.starts_with('b'));
            if b_model {
                x = Rescaling::new(1.0 / 255.0).call(&x)?;
                x = Normalization::new()
                    .axis(Some(3))
                    .mean(vec![0.485, 0.456, 0.406])
                    .variance(vec![0.229f64.powi(2), 0.224f64.powi(2), 0.225f64.powi(2)])
                    .call(&x)?;
            } else {
                x = Rescaling::new(1.0 / 128.0).offset(-1.0).call(&x)?;
            }
        }
        let first = self
            .stages
            .first()
            .ok_or_else(|| Error::arg("stages", self.name, "no stages"))?;
        x = Conv2D::new(filters(first.filters_in), 3)
            .strides(2)
            .padding("same")
            .use_bias(false)
            .kernel_initializer(conv_init())
            .name("stem_conv")
            .call(&x)?;
        x = bn().name("stem_bn").call(&x)?;
        x = Activation::new("swish").name("stem_activation").call(&x)?;

        // Keras divides by the repeats before the depth scaling.
        let blocks: usize = self.stages.iter().map(|s| s.repeats).sum();
        let mut b = 0usize;
        for (i, stage) in self.stages.iter().enumerate() {
            let (f_in, f_out) = (filters(stage.filters_in), filters(stage.filters_out));
            let repeats = (self.depth * stage.repeats as f64).ceil() as usize;
            for j in 0..repeats {
                // Keras's `chr(j + 97)`: block1a, block1b, ...
                let letter = char::from_u32(97 + j as u32).unwrap_or('?');
                let block = Block {
                    kernel: stage.kernel,
                    filters_in: if j == 0 { f_in } else { f_out },
                    filters_out: f_out,
                    expand: stage.expand,
                    se_ratio: stage.se_ratio,
                    stride: if j == 0 { stage.stride } else { 1 },
                    drop_rate: DROP_CONNECT_RATE * b as f64 / blocks as f64,
                };
                let name = format!("block{}{letter}_", i + 1);
                x = if stage.fused {
                    block.fused(&x, &name)?
                } else {
                    block.mbconv(&x, &name)?
                };
                b += 1;
            }
        }

        x = Conv2D::new(filters(1280), 1)
            .padding("same")
            .use_bias(false)
            .kernel_initializer(conv_init())
            .name("top_conv")
            .call(&x)?;
        x = bn().name("top_bn").call(&x)?;
        x = Activation::new("swish").name("top_activation").call(&x)?;
        if !self.opts.include_top {
            return self
                .opts
                .pooling_only(&x, Some("avg_pool"), Some("max_pool"));
        }
        x = GlobalAveragePooling2D::new().name("avg_pool").call(&x)?;
        x = Dropout::new(DROPOUT_RATE).name("top_dropout").call(&x)?;
        let mut dense = Dense::new(self.opts.classes)
            .kernel_initializer(dense_init())
            .bias_initializer(Initializer::Constant(0.0))
            .name("predictions");
        if let Some(a) = &self.opts.classifier_activation {
            dense = dense.activation(a);
        }
        dense.call(&x)
    }
}

/// One block (Keras's `MBConvBlock` or `FusedMBConvBlock`) after the width scaling.
struct Block {
    kernel: usize,
    filters_in: usize,
    filters_out: usize,
    expand: usize,
    se_ratio: f64,
    stride: usize,
    drop_rate: f64,
}

impl Block {
    /// A convolution with Keras's blocks' settings (`same`, no bias, the conv initializer).
    fn conv(filters: usize, kernel: usize, stride: usize, name: String) -> Conv2D {
        Conv2D::new(filters, kernel)
            .strides(stride)
            .padding("same")
            .use_bias(false)
            .kernel_initializer(conv_init())
            .name(name)
    }

    /// Keras's `MBConvBlock`.
    fn mbconv(&self, inputs: &KerasTensor, name: &str) -> Result<KerasTensor> {
        let filters = self.filters_in * self.expand;
        let mut x = inputs.clone();
        if self.expand != 1 {
            x = Block::conv(filters, 1, 1, format!("{name}expand_conv")).call(&x)?;
            x = bn().name(format!("{name}expand_bn")).call(&x)?;
            x = Activation::new("swish")
                .name(format!("{name}expand_activation"))
                .call(&x)?;
        }
        x = DepthwiseConv2D::new(self.kernel)
            .strides(self.stride)
            .padding("same")
            .use_bias(false)
            .depthwise_initializer(conv_init())
            .name(format!("{name}dwconv2"))
            .call(&x)?;
        x = bn().name(format!("{name}bn")).call(&x)?;
        x = Activation::new("swish")
            .name(format!("{name}activation"))
            .call(&x)?;
        x = self.squeeze_excite(&x, filters, name)?;
        x = Block::conv(self.filters_out, 1, 1, format!("{name}project_conv")).call(&x)?;
        x = bn().name(format!("{name}project_bn")).call(&x)?;
        self.residual(x, inputs, name)
    }

    /// Keras's `FusedMBConvBlock`: the expansion a full `kernel`x`kernel` convolution with
    /// the block's stride (or, without expansion, the projection is that convolution,
    /// followed by a swish).
    fn fused(&self, inputs: &KerasTensor, name: &str) -> Result<KerasTensor> {
        let filters = self.filters_in * self.expand;
        let mut x = inputs.clone();
        if self.expand != 1 {
            x = Block::conv(
                filters,
                self.kernel,
                self.stride,
                format!("{name}expand_conv"),
            )
            .call(&x)?;
            x = bn().name(format!("{name}expand_bn")).call(&x)?;
            x = Activation::new("swish")
                .name(format!("{name}expand_activation"))
                .call(&x)?;
        }
        x = self.squeeze_excite(&x, filters, name)?;
        let (kernel, stride) = if self.expand != 1 {
            (1, 1)
        } else {
            (self.kernel, self.stride)
        };
        x = Block::conv(
            self.filters_out,
            kernel,
            stride,
            format!("{name}project_conv"),
        )
        .call(&x)?;
        x = bn().name(format!("{name}project_bn")).call(&x)?;
        if self.expand == 1 {
            x = Activation::new("swish")
                .name(format!("{name}project_activation"))
                .call(&x)?;
        }
        self.residual(x, inputs, name)
    }

    /// The squeeze-and-excite of a block whose ratio is in (0, 1] (else `x` itself).
    fn squeeze_excite(&self, x: &KerasTensor, filters: usize, name: &str) -> Result<KerasTensor> {
        if !(self.se_ratio > 0.0 && self.se_ratio <= 1.0) {
            return Ok(x.clone());
        }
        let filters_se = ((self.filters_in as f64 * self.se_ratio) as usize).max(1);
        let channels =
            i64::try_from(filters).map_err(|_| Error::arg("filters", name, "too many channels"))?;
        let mut se = GlobalAveragePooling2D::new()
            .name(format!("{name}se_squeeze"))
            .call(x)?;
        se = Reshape::new(&[1, 1, channels])
            .name(format!("{name}se_reshape"))
            .call(&se)?;
        se = Conv2D::new(filters_se, 1)
            .padding("same")
            .activation("swish")
            .kernel_initializer(conv_init())
            .name(format!("{name}se_reduce"))
            .call(&se)?;
        se = Conv2D::new(filters, 1)
            .padding("same")
            .activation("sigmoid")
            .kernel_initializer(conv_init())
            .name(format!("{name}se_expand"))
            .call(&se)?;
        Multiply::new()
            .name(format!("{name}se_excite"))
            .call_on(&[x, &se])
    }

    /// The stochastic depth and residual add of a block that keeps its shape (Keras gives
    /// `Dropout` the block's "survival probability", `drop_connect_rate * b / blocks`, as
    /// its rate, and none to the first block).
    fn residual(&self, x: KerasTensor, inputs: &KerasTensor, name: &str) -> Result<KerasTensor> {
        if self.stride != 1 || self.filters_in != self.filters_out {
            return Ok(x);
        }
        let mut x = x;
        if self.drop_rate > 0.0 {
            x = Dropout::new(self.drop_rate as f32)
                .noise_shape(&[Some(1), Some(1), Some(1)])
                .name(format!("{name}drop"))
                .call(&x)?;
        }
        Add::new().name(format!("{name}add")).call_on(&[&x, inputs])
    }
}

/// Keras's `keras.applications.efficientnet_v2.preprocess_input`: a pass-through (the
/// models rescale 0..255 pixels themselves), kept so that every family has one.
///
/// ```
/// let mut x = rkeras::Tensor::new(vec![1, 3], vec![0.0, 127.5, 255.0])?;
/// rkeras::applications::preprocess_input_efficientnet_v2(&mut x);
/// assert_eq!(x.data(), &[0.0, 127.5, 255.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
pub fn preprocess_input_efficientnet_v2(x: &mut crate::Tensor) {
    let _ = x;
}
