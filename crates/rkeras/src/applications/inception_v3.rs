//! InceptionV3, as `keras.applications` builds it.

use super::options::{app_option_builders, AppOptions};
use crate::error::Result;
use crate::layers::{
    Activation, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, MaxPooling2D,
};
use crate::model::{Call, KerasTensor, Model};

/// Keras's `keras.applications.InceptionV3`: a stem of five convolutions and two max
/// poolings, then the eleven inception modules `mixed0` .. `mixed10` (parallel branches of
/// 1x1, 5x5, factorized 7x7 and 3x3 convolutions and pooling, concatenated on the channels;
/// `mixed3` and `mixed8` halve the size), every convolution followed by a batch
/// normalization without scale and a ReLU, with Keras's names (the named concatenations
/// `mixed0` .. `mixed10`, `mixed9_0`, `mixed9_1`; the convolutions, batch normalizations and
/// activations keep Keras's automatic names `conv2d_N`, `batch_normalization_N`,
/// `activation_N`, so build in a fresh session — [`crate::clear_session`] — for Keras's
/// exact names), arguments and defaults (input 299x299, at least 75x75), so that Keras's
/// weight files load into it. Inputs are preprocessed by
/// [`preprocess_input_tf`](super::preprocess_input_tf) (pixels to -1..1).
///
/// ```
/// use rkeras::applications::InceptionV3;
/// let m = InceptionV3::new().input_shape((75, 75, 3)).classes(10).build()?;
/// assert_eq!(m.name(), "inception_v3");
/// assert_eq!(m.output_shape(), Some(&[10][..]));
/// let base = InceptionV3::new()
///     .input_shape((75, 75, 3))
///     .include_top(false)
///     .pooling("avg")
///     .build()?;
/// assert_eq!(base.output_shape(), Some(&[2048][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct InceptionV3 {
    opts: AppOptions,
}

app_option_builders!(InceptionV3);

impl Default for InceptionV3 {
    fn default() -> Self {
        InceptionV3::new()
    }
}

impl InceptionV3 {
    /// `keras.applications.InceptionV3` with Keras's defaults (input 299x299x3, the top with
    /// 1000 softmax classes).
    pub fn new() -> Self {
        InceptionV3 {
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
        self.opts.finish(&input, &x, "inception_v3")
    }

    /// The network's layers called on `input`, for a model of your own around it;
    /// `weights` is not applied here.
    ///
    /// # Errors
    /// As [`build`](Self::build), for the input's shape.
    pub fn call(&self, input: &KerasTensor) -> Result<KerasTensor> {
        self.opts.check("inception_v3", input, 75)?;
        let mut x = conv_bn(input, 32, (3, 3), 2, "valid")?;
        x = conv_bn(&x, 32, (3, 3), 1, "valid")?;
        x = conv_bn(&x, 64, (3, 3), 1, "same")?;
        x = MaxPooling2D::new(3).strides(2).call(&x)?;
        x = conv_bn(&x, 80, (1, 1), 1, "valid")?;
        x = conv_bn(&x, 192, (3, 3), 1, "valid")?;
        x = MaxPooling2D::new(3).strides(2).call(&x)?;

        // mixed0 .. mixed2: 35x35 modules (1x1, 5x5, double 3x3, pooled 1x1).
        for (i, pool_filters) in [32, 64, 64].into_iter().enumerate() {
            let b1 = conv(&x, 64, (1, 1))?;
            let b5 = conv(&x, 48, (1, 1))?;
            let b5 = conv(&b5, 64, (5, 5))?;
            let b3 = conv(&x, 64, (1, 1))?;
            let b3 = conv(&b3, 96, (3, 3))?;
            let b3 = conv(&b3, 96, (3, 3))?;
            let bp = avg_pool(&x)?;
            let bp = conv(&bp, pool_filters, (1, 1))?;
            x = concat(&[&b1, &b5, &b3, &bp], Some(&format!("mixed{i}")))?;
        }

        // mixed3: down to 17x17.
        let b3 = conv_bn(&x, 384, (3, 3), 2, "valid")?;
        let bd = conv(&x, 64, (1, 1))?;
        let bd = conv(&bd, 96, (3, 3))?;
        let bd = conv_bn(&bd, 96, (3, 3), 2, "valid")?;
        let bp = MaxPooling2D::new(3).strides(2).call(&x)?;
        x = concat(&[&b3, &bd, &bp], Some("mixed3"))?;

        // mixed4 .. mixed7: 17x17 modules with factorized 7x7 convolutions.
        for (i, f) in [128, 160, 160, 192].into_iter().enumerate() {
            let b1 = conv(&x, 192, (1, 1))?;
            let b7 = conv(&x, f, (1, 1))?;
            let b7 = conv(&b7, f, (1, 7))?;
            let b7 = conv(&b7, 192, (7, 1))?;
            let bd = conv(&x, f, (1, 1))?;
            let bd = conv(&bd, f, (7, 1))?;
            let bd = conv(&bd, f, (1, 7))?;
            let bd = conv(&bd, f, (7, 1))?;
            let bd = conv(&bd, 192, (1, 7))?;
            let bp = avg_pool(&x)?;
            let bp = conv(&bp, 192, (1, 1))?;
            x = concat(&[&b1, &b7, &bd, &bp], Some(&format!("mixed{}", 4 + i)))?;
        }

        // mixed8: down to 8x8.
        let b3 = conv(&x, 192, (1, 1))?;
        let b3 = conv_bn(&b3, 320, (3, 3), 2, "valid")?;
        let b7 = conv(&x, 192, (1, 1))?;
        let b7 = conv(&b7, 192, (1, 7))?;
        let b7 = conv(&b7, 192, (7, 1))?;
        let b7 = conv_bn(&b7, 192, (3, 3), 2, "valid")?;
        let bp = MaxPooling2D::new(3).strides(2).call(&x)?;
        x = concat(&[&b3, &b7, &bp], Some("mixed8"))?;

        // mixed9, mixed10: 8x8 modules with split 3x3 convolutions.
        for i in 0..2 {
            let b1 = conv(&x, 320, (1, 1))?;
            let b3 = conv(&x, 384, (1, 1))?;
            let b3a = conv(&b3, 384, (1, 3))?;
            let b3b = conv(&b3, 384, (3, 1))?;
            let b3 = concat(&[&b3a, &b3b], Some(&format!("mixed9_{i}")))?;
            let bd = conv(&x, 448, (1, 1))?;
            let bd = conv(&bd, 384, (3, 3))?;
            let bda = conv(&bd, 384, (1, 3))?;
            let bdb = conv(&bd, 384, (3, 1))?;
            let bd = concat(&[&bda, &bdb], None)?;
            let bp = avg_pool(&x)?;
            let bp = conv(&bp, 192, (1, 1))?;
            x = concat(&[&b1, &b3, &bd, &bp], Some(&format!("mixed{}", 9 + i)))?;
        }
        self.opts.pooled_top(&x, "avg_pool", None, None)
    }
}

/// Keras's `conv2d_bn` (unnamed): a convolution without bias, a batch normalization without
/// scale, a ReLU.
fn conv_bn(
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

/// [`conv_bn`] with stride 1 and `same` padding.
fn conv(x: &KerasTensor, filters: usize, kernel: (usize, usize)) -> Result<KerasTensor> {
    conv_bn(x, filters, kernel, 1, "same")
}

/// A 3x3 average pooling, stride 1, `same`.
fn avg_pool(x: &KerasTensor) -> Result<KerasTensor> {
    AveragePooling2D::new(3).strides(1).padding("same").call(x)
}

/// The branches concatenated on the channels (`axis=3`, as Keras writes it).
fn concat(branches: &[&KerasTensor], name: Option<&str>) -> Result<KerasTensor> {
    let c = Concatenate::new().axis(3);
    match name {
        Some(n) => c.name(n).call_on(branches),
        None => c.call_on(branches),
    }
}
