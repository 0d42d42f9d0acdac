//! EfficientNetB0 .. EfficientNetB7, as `keras.applications` builds them.

use super::options::{app_option_builders, AppOptions};
use super::{correct_pad, make_divisible};
use crate::error::{Error, Result};
use crate::init::{Distribution, FanMode, Initializer};
use crate::layers::{
    Activation, Add, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, Dropout,
    GlobalAveragePooling2D, Multiply, Normalization, Rescaling, Reshape, ZeroPadding2D,
};
use crate::model::{Call, KerasTensor, Model};

/// One stage of EfficientNet-B0 (Keras's `DEFAULT_BLOCKS_ARGS`): kernel size, repeats,
/// input and output filters, expansion ratio, stride of the first block. Every stage has
/// the identity skip and a squeeze-and-excite ratio of 0.25.
const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
];

/// The squeeze-and-excite ratio of every block.
const SE_RATIO: f64 = 0.25;
/// The largest rate of the blocks' stochastic depth (`drop_connect_rate`).
const DROP_CONNECT_RATE: f64 = 0.2;

/// Keras's `BatchNormalization(axis=3)` (channels last, as Keras writes it in the config).
fn bn() -> BatchNormalization {
    BatchNormalization::new().axis(3)
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

/// Keras's `keras.applications.EfficientNetB0` .. `EfficientNetB7`: a stem (rescaling of
/// 0..255 pixels, a `Normalization`, a stride-2 3x3 convolution), seven stages of MBConv
/// blocks (1x1 expansion, depthwise convolution, squeeze-and-excite, 1x1 projection, with
/// stochastic depth — `Dropout` with `noise_shape` (1, 1, 1) — before the residual add) and
/// a 1x1 top convolution, all with swish activations, scaled in width and depth per model,
/// with Keras's layer names (`stem_conv`, `block2b_se_excite`, `top_conv`, ...), arguments
/// and defaults (each model's own default input size: 224 for B0 up to 600 for B7), so that
/// Keras's weight files load into them.
///
/// As in Keras, the preprocessing is part of the model (`Rescaling(1/255)` and a
/// `Normalization` whose mean and variance are weights, loaded with the others), so the
/// model takes pixels in 0..255 and [`preprocess_input_efficientnet`] passes them through.
/// Keras adds one more layer when it loads its own ImageNet weights (`weights="imagenet"`: a
/// per-channel `Rescaling` by `1/sqrt(stddev)` after the `Normalization`); a file given as
/// `weights` gets none, in Keras as here. To load Keras's published file (`efficientnetb0.h5`,
/// `efficientnetb0_notop.h5`, ...) into the model Keras makes with `weights="imagenet"`, give
/// it to [`imagenet_weights`](Self::imagenet_weights) instead.
///
/// ```
/// use rkeras::applications::EfficientNet;
/// let m = EfficientNet::efficientnet_b0()
///     .input_shape((32, 32, 3))
///     .classes(10)
///     .build()?;
/// assert_eq!(m.name(), "efficientnetb0");
/// assert_eq!(m.output_shape(), Some(&[10][..]));
/// let base = EfficientNet::efficientnet_b1()
///     .input_shape((32, 32, 3))
///     .include_top(false)
///     .pooling("avg")
///     .build()?;
/// assert_eq!(base.output_shape(), Some(&[1280][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct EfficientNet {
    opts: AppOptions,
    width: f64,
    depth: f64,
    dropout: f64,
    name: &'static str,
    /// The extra `Rescaling` of Keras's `weights="imagenet"`.
    imagenet: bool,
}

/// The ImageNet standard deviations per RGB channel (Keras's `IMAGENET_STDDEV_RGB`).
const IMAGENET_STDDEV_RGB: [f64; 3] = [0.229, 0.224, 0.225];

app_option_builders!(EfficientNet);

impl EfficientNet {
    fn family(width: f64, depth: f64, size: usize, dropout: f64, name: &'static str) -> Self {
        EfficientNet {
            opts: AppOptions {
                input_shape: (size, size, 3),
                ..AppOptions::default()
            },
            width,
            depth,
            dropout,
            name,
            imagenet: false,
        }
    }
    /// Keras's `weights="imagenet"` with the ImageNet file Keras downloads, given here (no
    /// download): loads `path` by layer name (as [`weights`](Self::weights) does) into the
    /// network Keras builds for ImageNet weights, which has one more layer after the
    /// `Normalization`: `Rescaling` by `1/sqrt(stddev)` per channel (Keras's correction of
    /// the variance its published files hold).
    ///
    /// ```no_run
    /// use rkeras::applications::EfficientNet;
    /// let m = EfficientNet::efficientnet_b0()
    ///     .include_top(false)
    ///     .pooling("avg")
    ///     .imagenet_weights("efficientnetb0_notop.h5")
    ///     .build()?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn imagenet_weights(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.opts.weights = Some(path.into());
        self.imagenet = true;
        self
    }
    /// `keras.applications.EfficientNetB0` (default input 224x224).
    pub fn efficientnet_b0() -> Self {
        EfficientNet::family(1.0, 1.0, 224, 0.2, "efficientnetb0")
    }
    /// `keras.applications.EfficientNetB1` (default input 240x240).
    pub fn efficientnet_b1() -> Self {
        EfficientNet::family(1.0, 1.1, 240, 0.2, "efficientnetb1")
    }
    /// `keras.applications.EfficientNetB2` (default input 260x260).
    pub fn efficientnet_b2() -> Self {
        EfficientNet::family(1.1, 1.2, 260, 0.3, "efficientnetb2")
    }
    /// `keras.applications.EfficientNetB3` (default input 300x300).
    pub fn efficientnet_b3() -> Self {
        EfficientNet::family(1.2, 1.4, 300, 0.3, "efficientnetb3")
    }
    /// `keras.applications.EfficientNetB4` (default input 380x380).
    pub fn efficientnet_b4() -> Self {
        EfficientNet::family(1.4, 1.8, 380, 0.4, "efficientnetb4")
    }
    /// `keras.applications.EfficientNetB5` (default input 456x456).
    pub fn efficientnet_b5() -> Self {
        EfficientNet::family(1.6, 2.2, 456, 0.4, "efficientnetb5")
    }
    /// `keras.applications.EfficientNetB6` (default input 528x528).
    pub fn efficientnet_b6() -> Self {
        EfficientNet::family(1.8, 2.6, 528, 0.5, "efficientnetb6")
    }
    /// `keras.applications.EfficientNetB7` (default input 600x600).
    pub fn efficientnet_b7() -> Self {
        EfficientNet::family(2.0, 3.1, 600, 0.5, "efficientnetb7")
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

    /// The network's layers called on `input` (the preprocessing layers included), for a
    /// model of your own around it (see [`MobileNetV2::call`](super::MobileNetV2::call));
    /// `weights` is not applied here.
    ///
    /// # Errors
    /// As [`build`](Self::build), for the input's shape.
    pub fn call(&self, input: &KerasTensor) -> Result<KerasTensor> {
        self.opts.check(self.name, input, 32)?;
        let filters = |f: usize| make_divisible(f as f64 * self.width, 8);
        let repeats = |r: usize| (self.depth * r as f64).ceil() as usize;
        let mut x = Rescaling::new(1.0 / 255.0).call(input)?;
        x = Normalization::new().axis(Some(3)).call(&x)?;
        if self.imagenet {
            let scales = IMAGENET_STDDEV_RGB.iter().map(|s| 1.0 / s.sqrt()).collect();
            x = Rescaling::per_channel(scales).call(&x)?;
        }
        let s = x.shape();
        x = ZeroPadding2D::new(correct_pad(s[0], s[1], 3))
            .name("stem_conv_pad")
            .call(&x)?;
        x = Conv2D::new(filters(32), 3)
            .strides(2)
            .use_bias(false)
            .kernel_initializer(conv_init())
            .name("stem_conv")
            .call(&x)?;
        x = bn().name("stem_bn").call(&x)?;
        x = Activation::new("swish").name("stem_activation").call(&x)?;

        let total: usize = STAGES.iter().map(|s| repeats(s.1)).sum();
        let mut b = 0usize;
        for (i, &(kernel, reps, f_in, f_out, expand, stride)) in STAGES.iter().enumerate() {
            let (f_in, f_out) = (filters(f_in), filters(f_out));
            for j in 0..repeats(reps) {
                // Keras's `chr(j + 97)`: block2a, block2b, ...
                let letter = char::from_u32(97 + j as u32).unwrap_or('?');
                let name = format!("block{}{letter}_", i + 1);
                let block = Block {
                    kernel,
                    filters_in: if j == 0 { f_in } else { f_out },
                    filters_out: f_out,
                    expand,
                    stride: if j == 0 { stride } else { 1 },
                    // Keras's `drop_connect_rate * b / blocks`, in the same order.
                    drop_rate: DROP_CONNECT_RATE * b as f64 / total as f64,
                };
                x = block.call(&x, &name)?;
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
        if self.dropout > 0.0 {
            x = Dropout::new(self.dropout as f32)
                .name("top_dropout")
                .call(&x)?;
        }
        let mut dense = Dense::new(self.opts.classes)
            .kernel_initializer(dense_init())
            .name("predictions");
        if let Some(a) = &self.opts.classifier_activation {
            dense = dense.activation(a);
        }
        dense.call(&x)
    }
}

/// One MBConv block (Keras's `block`): its settings after the width and depth scaling.
struct Block {
    kernel: usize,
    filters_in: usize,
    filters_out: usize,
    expand: usize,
    stride: usize,
    drop_rate: f64,
}

impl Block {
    fn call(&self, inputs: &KerasTensor, name: &str) -> Result<KerasTensor> {
        let filters = self.filters_in * self.expand;
        let mut x = inputs.clone();
        if self.expand != 1 {
            x = Conv2D::new(filters, 1)
                .padding("same")
                .use_bias(false)
                .kernel_initializer(conv_init())
                .name(format!("{name}expand_conv"))
                .call(&x)?;
            x = bn().name(format!("{name}expand_bn")).call(&x)?;
            x = Activation::new("swish")
                .name(format!("{name}expand_activation"))
                .call(&x)?;
        }
        let padding = if self.stride == 2 {
            let s = x.shape();
            x = ZeroPadding2D::new(correct_pad(s[0], s[1], self.kernel))
                .name(format!("{name}dwconv_pad"))
                .call(&x)?;
            "valid"
        } else {
            "same"
        };
        x = DepthwiseConv2D::new(self.kernel)
            .strides(self.stride)
            .padding(padding)
            .use_bias(false)
            .depthwise_initializer(conv_init())
            .name(format!("{name}dwconv"))
            .call(&x)?;
        x = bn().name(format!("{name}bn")).call(&x)?;
        x = Activation::new("swish")
            .name(format!("{name}activation"))
            .call(&x)?;

        // Squeeze and excite.
        let filters_se = ((self.filters_in as f64 * SE_RATIO) as usize).max(1);
        let channels =
            i64::try_from(filters).map_err(|_| Error::arg("filters", name, "too many channels"))?;
        let mut se = GlobalAveragePooling2D::new()
            .name(format!("{name}se_squeeze"))
            .call(&x)?;
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
        x = Multiply::new()
            .name(format!("{name}se_excite"))
            .call_on(&[&x, &se])?;

        x = Conv2D::new(self.filters_out, 1)
            .padding("same")
            .use_bias(false)
            .kernel_initializer(conv_init())
            .name(format!("{name}project_conv"))
            .call(&x)?;
        x = bn().name(format!("{name}project_bn")).call(&x)?;
        if self.stride == 1 && self.filters_in == self.filters_out {
            if self.drop_rate > 0.0 {
                x = Dropout::new(self.drop_rate as f32)
                    .noise_shape(&[Some(1), Some(1), Some(1)])
                    .name(format!("{name}drop"))
                    .call(&x)?;
            }
            x = Add::new()
                .name(format!("{name}add"))
                .call_on(&[&x, inputs])?;
        }
        Ok(x)
    }
}

/// Keras's `keras.applications.efficientnet.preprocess_input`: a pass-through (the models
/// rescale and normalize 0..255 pixels themselves), kept so that every family has one.
///
/// ```
/// let mut x = rkeras::Tensor::new(vec![1, 3], vec![0.0, 127.5, 255.0])?;
/// rkeras::applications::preprocess_input_efficientnet(&mut x);
/// assert_eq!(x.data(), &[0.0, 127.5, 255.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
pub fn preprocess_input_efficientnet(x: &mut crate::Tensor) {
    let _ = x;
}
