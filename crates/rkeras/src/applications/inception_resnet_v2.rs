//! InceptionResNetV2, as `keras.applications` builds it.

use super::options::{app_option_builders, AppOptions};
use crate::error::Result;
use crate::layers::{
    Activation, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, CustomScaleLayer,
    MaxPooling2D,
};
use crate::model::{Call, KerasTensor, Model};

/// Keras's `keras.applications.InceptionResNetV2`: the Inception stem, `mixed_5b`, ten
/// `block35` Inception-ResNet-A blocks (residual scale 0.17), the `mixed_6a` reduction, twenty
/// `block17` blocks (0.1), the `mixed_7a` reduction, ten `block8` blocks (0.2; the last with
/// scale 1 and no activation) and the 1x1 `conv_7b`. Each block concatenates its branches
/// (`NAME_mixed`), projects them back with a biased 1x1 convolution (`NAME_conv`) and adds
/// them, scaled, to its input with Keras's `CustomScaleLayer`, then a ReLU (`NAME_ac`).
/// Every other convolution is followed by a batch normalization without scale and a ReLU.
/// Keras's layer names (the unnamed convolutions, batch normalizations, activations and
/// `CustomScaleLayer`s keep Keras's automatic names, so build in a fresh session —
/// [`crate::clear_session`] — for Keras's exact names), arguments and defaults (input
/// 299x299, at least 75x75), so that Keras's weight files load into it. Inputs are
/// preprocessed by [`preprocess_input_tf`](super::preprocess_input_tf) (pixels to -1..1).
///
/// ```
/// use rkeras::applications::InceptionResNetV2;
/// let m = InceptionResNetV2::new()
///     .input_shape((75, 75, 3))
///     .classes(10)
///     .build()?;
/// assert_eq!(m.name(), "inception_resnet_v2");
/// assert_eq!(m.output_shape(), Some(&[10][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct InceptionResNetV2 {
    opts: AppOptions,
}

app_option_builders!(InceptionResNetV2);

impl Default for InceptionResNetV2 {
    fn default() -> Self {
        InceptionResNetV2::new()
    }
}

impl InceptionResNetV2 {
    /// `keras.applications.InceptionResNetV2` with Keras's defaults (input 299x299x3, the
    /// top with 1000 softmax classes).
    pub fn new() -> Self {
        InceptionResNetV2 {
            opts: AppOptions {
                input_shape: (299, 299, 3),
                ..AppOptions::default()
            },
        }
    }

    /// Builds the model (and loads `weights`).
    ///
    /// # Errors
    /// A side under 75, channels other than 3, a pooling other than avg/max, zero classes,
    /// or a weight file that does not fit (naming the layer).
    pub fn build(&self) -> Result<Model> {
        let input = self.opts.input();
        let x = self.call(&input)?;
        self.opts.finish(&input, &x, "inception_resnet_v2")
    }

    /// The network's layers called on `input`, for a model of your own around it;
    /// `weights` is not applied here.
    ///
    /// # Errors
    /// As [`build`](Self::build), for the input's shape.
    pub fn call(&self, input: &KerasTensor) -> Result<KerasTensor> {
        self.opts.check("inception_resnet_v2", input, 75)?;
        let mut x = cbr(input, 32, (3, 3), 2, "valid")?;
        x = cbr(&x, 32, (3, 3), 1, "valid")?;
        x = conv(&x, 64, (3, 3))?;
        x = MaxPooling2D::new(3).strides(2).call(&x)?;
        x = cbr(&x, 80, (1, 1), 1, "valid")?;
        x = cbr(&x, 192, (3, 3), 1, "valid")?;
        x = MaxPooling2D::new(3).strides(2).call(&x)?;

        // mixed_5b (Inception-A).
        let b0 = conv(&x, 96, (1, 1))?;
        let b1 = conv(&x, 48, (1, 1))?;
        let b1 = conv(&b1, 64, (5, 5))?;
        let b2 = conv(&x, 64, (1, 1))?;
        let b2 = conv(&b2, 96, (3, 3))?;
        let b2 = conv(&b2, 96, (3, 3))?;
        let bp = AveragePooling2D::new(3)
            .strides(1)
            .padding("same")
            .call(&x)?;
        let bp = conv(&bp, 64, (1, 1))?;
        x = concat(&[&b0, &b1, &b2, &bp], "mixed_5b")?;
        for i in 1..=10 {
            x = block(&x, Kind::Block35, i, 0.17, true)?;
        }

        // mixed_6a (Reduction-A).
        let b0 = cbr(&x, 384, (3, 3), 2, "valid")?;
        let b1 = conv(&x, 256, (1, 1))?;
        let b1 = conv(&b1, 256, (3, 3))?;
        let b1 = cbr(&b1, 384, (3, 3), 2, "valid")?;
        let bp = MaxPooling2D::new(3).strides(2).call(&x)?;
        x = concat(&[&b0, &b1, &bp], "mixed_6a")?;
        for i in 1..=20 {
            x = block(&x, Kind::Block17, i, 0.1, true)?;
        }

        // mixed_7a (Reduction-B).
        let b0 = conv(&x, 256, (1, 1))?;
        let b0 = cbr(&b0, 384, (3, 3), 2, "valid")?;
        let b1 = conv(&x, 256, (1, 1))?;
        let b1 = cbr(&b1, 288, (3, 3), 2, "valid")?;
        let b2 = conv(&x, 256, (1, 1))?;
        let b2 = conv(&b2, 288, (3, 3))?;
        let b2 = cbr(&b2, 320, (3, 3), 2, "valid")?;
        let bp = MaxPooling2D::new(3).strides(2).call(&x)?;
        x = concat(&[&b0, &b1, &b2, &bp], "mixed_7a")?;
        for i in 1..=9 {
            x = block(&x, Kind::Block8, i, 0.2, true)?;
        }
        x = block(&x, Kind::Block8, 10, 1.0, false)?;

        // conv_7b: the one named conv2d_bn.
        x = Conv2D::new(1536, 1)
            .padding("same")
            .use_bias(false)
            .name("conv_7b")
            .call(&x)?;
        x = BatchNormalization::new()
            .axis(3)
            .scale(false)
            .name("conv_7b_bn")
            .call(&x)?;
        x = Activation::new("relu").name("conv_7b_ac").call(&x)?;
        self.opts.pooled_top(&x, "avg_pool", None, None)
    }
}

/// The three kinds of Inception-ResNet block.
#[derive(Clone, Copy)]
enum Kind {
    Block35,
    Block17,
    Block8,
}

/// Keras's `inception_resnet_block`: the branches, `NAME_mixed`, the biased 1x1
/// `NAME_conv` back to the input's channels, `x + scale * up` (`CustomScaleLayer`), and,
/// `relu`, the activation `NAME_ac`.
fn block(x: &KerasTensor, kind: Kind, idx: usize, scale: f64, relu: bool) -> Result<KerasTensor> {
    let (branches, prefix) = match kind {
        Kind::Block35 => {
            let b0 = conv(x, 32, (1, 1))?;
            let b1 = conv(x, 32, (1, 1))?;
            let b1 = conv(&b1, 32, (3, 3))?;
            let b2 = conv(x, 32, (1, 1))?;
            let b2 = conv(&b2, 48, (3, 3))?;
            let b2 = conv(&b2, 64, (3, 3))?;
            (vec![b0, b1, b2], "block35")
        }
        Kind::Block17 => {
            let b0 = conv(x, 192, (1, 1))?;
            let b1 = conv(x, 128, (1, 1))?;
            let b1 = conv(&b1, 160, (1, 7))?;
            let b1 = conv(&b1, 192, (7, 1))?;
            (vec![b0, b1], "block17")
        }
        Kind::Block8 => {
            let b0 = conv(x, 192, (1, 1))?;
            let b1 = conv(x, 192, (1, 1))?;
            let b1 = conv(&b1, 224, (1, 3))?;
            let b1 = conv(&b1, 256, (3, 1))?;
            (vec![b0, b1], "block8")
        }
    };
    let name = format!("{prefix}_{idx}");
    let refs: Vec<&KerasTensor> = branches.iter().collect();
    let mixed = concat(&refs, &format!("{name}_mixed"))?;
    let channels = x.shape().last().copied().unwrap_or(0);
    let up = Conv2D::new(channels, 1)
        .padding("same")
        .name(format!("{name}_conv"))
        .call(&mixed)?;
    let mut y = CustomScaleLayer::new(scale).call_on(&[x, &up])?;
    if relu {
        y = Activation::new("relu")
            .name(format!("{name}_ac"))
            .call(&y)?;
    }
    Ok(y)
}

/// Keras's unnamed `conv2d_bn`: a convolution without bias, a batch normalization without
/// scale, a ReLU.
fn cbr(
    x: &KerasTensor,
    filters: usize,
    kernel: (usize, usize),
    strides: usize,
    padding: &str,
) -> Result<KerasTensor> {
    let y = Conv2D::new(filters, kernel)
        .strides(strides)
        .padding(padding)
        .use_bias(false)
        .call(x)?;
    let y = BatchNormalization::new().axis(3).scale(false).call(&y)?;
    Activation::new("relu").call(&y)
}

/// [`cbr`] with stride 1 and `same` padding.
fn conv(x: &KerasTensor, filters: usize, kernel: (usize, usize)) -> Result<KerasTensor> {
    cbr(x, filters, kernel, 1, "same")
}

/// The branches concatenated on the channels (`axis=3`, as Keras writes it).
fn concat(branches: &[&KerasTensor], name: &str) -> Result<KerasTensor> {
    Concatenate::new().axis(3).name(name).call_on(branches)
}
