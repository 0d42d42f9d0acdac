//! Xception, as `keras.applications` builds it.

use super::options::{app_option_builders, AppOptions};
use crate::error::Result;
use crate::layers::{Activation, Add, BatchNormalization, Conv2D, MaxPooling2D, SeparableConv2D};
use crate::model::{Call, KerasTensor, Model};

/// Keras's `keras.applications.Xception`: an entry flow (two plain 3x3 convolutions, then
/// three blocks of separable convolutions with a strided 1x1 convolution on the shortcut),
/// eight middle-flow blocks of three 728-channel separable convolutions with identity
/// shortcuts, and the exit flow, all with ReLU and batch normalization, with Keras's layer
/// names (`block1_conv1`, `block5_sepconv2_act`, ...; the shortcut convolutions, their
/// batch normalizations and the adds keep Keras's automatic names), arguments and defaults
/// (input 299x299, at least 71x71), so that Keras's weight files load into it. Inputs are
/// preprocessed by [`preprocess_input_tf`](super::preprocess_input_tf) (pixels to -1..1).
///
/// ```
/// use rkeras::applications::Xception;
/// let m = Xception::new().input_shape((71, 71, 3)).classes(10).build()?;
/// assert_eq!(m.name(), "xception");
/// assert_eq!(m.output_shape(), Some(&[10][..]));
/// let base = Xception::new()
///     .input_shape((71, 71, 3))
///     .include_top(false)
///     .pooling("max")
///     .build()?;
/// assert_eq!(base.output_shape(), Some(&[2048][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Xception {
    opts: AppOptions,
}

app_option_builders!(Xception);

impl Default for Xception {
    fn default() -> Self {
        Xception::new()
    }
}

impl Xception {
    /// `keras.applications.Xception` with Keras's defaults (input 299x299x3, the top with
    /// 1000 softmax classes).
    pub fn new() -> Self {
        Xception {
            opts: AppOptions {
                input_shape: (299, 299, 3),
                ..AppOptions::default()
            },
        }
    }

    /// Builds the model (and loads `weights`).
    ///
    /// # Errors
    /// A side under 71, channels other than 3, a pooling other than avg/max, zero classes,
    /// or a weight file that does not fit (naming the layer).
    pub fn build(&self) -> Result<Model> {
        let input = self.opts.input();
        let x = self.call(&input)?;
        self.opts.finish(&input, &x, "xception")
    }

    /// The network's layers called on `input`, for a model of your own around it;
    /// `weights` is not applied here.
    ///
    /// # Errors
    /// As [`build`](Self::build), for the input's shape.
    pub fn call(&self, input: &KerasTensor) -> Result<KerasTensor> {
        self.opts.check("xception", input, 71)?;
        let mut x = Conv2D::new(32, 3)
            .strides(2)
            .use_bias(false)
            .name("block1_conv1")
            .call(input)?;
        x = BatchNormalization::new().name("block1_conv1_bn").call(&x)?;
        x = relu("block1_conv1_act").call(&x)?;
        x = Conv2D::new(64, 3)
            .use_bias(false)
            .name("block1_conv2")
            .call(&x)?;
        x = BatchNormalization::new().name("block1_conv2_bn").call(&x)?;
        x = relu("block1_conv2_act").call(&x)?;

        // Entry flow: blocks 2 to 4 (block 2 without the first ReLU), then block 13 of the
        // exit flow, each halving the size with a strided 1x1 convolution on the shortcut.
        let down = |x: &KerasTensor, block: usize, f1: usize, f2: usize| -> Result<KerasTensor> {
            let mut residual = Conv2D::new(f2, 1)
                .strides(2)
                .padding("same")
                .use_bias(false)
                .call(x)?;
            residual = BatchNormalization::new().call(&residual)?;
            let mut y = x.clone();
            if block != 2 {
                y = relu(&format!("block{block}_sepconv1_act")).call(&y)?;
            }
            y = sep(f1, &format!("block{block}_sepconv1")).call(&y)?;
            y = BatchNormalization::new()
                .name(format!("block{block}_sepconv1_bn"))
                .call(&y)?;
            y = relu(&format!("block{block}_sepconv2_act")).call(&y)?;
            y = sep(f2, &format!("block{block}_sepconv2")).call(&y)?;
            y = BatchNormalization::new()
                .name(format!("block{block}_sepconv2_bn"))
                .call(&y)?;
            y = MaxPooling2D::new(3)
                .strides(2)
                .padding("same")
                .name(format!("block{block}_pool"))
                .call(&y)?;
            Add::new().call_on(&[&y, &residual])
        };
        x = down(&x, 2, 128, 128)?;
        x = down(&x, 3, 256, 256)?;
        x = down(&x, 4, 728, 728)?;

        // Middle flow.
        for block in 5..13 {
            let residual = x.clone();
            for k in 1..=3 {
                x = relu(&format!("block{block}_sepconv{k}_act")).call(&x)?;
                x = sep(728, &format!("block{block}_sepconv{k}")).call(&x)?;
                x = BatchNormalization::new()
                    .name(format!("block{block}_sepconv{k}_bn"))
                    .call(&x)?;
            }
            x = Add::new().call_on(&[&x, &residual])?;
        }

        // Exit flow.
        x = down(&x, 13, 728, 1024)?;
        x = sep(1536, "block14_sepconv1").call(&x)?;
        x = BatchNormalization::new()
            .name("block14_sepconv1_bn")
            .call(&x)?;
        x = relu("block14_sepconv1_act").call(&x)?;
        x = sep(2048, "block14_sepconv2").call(&x)?;
        x = BatchNormalization::new()
            .name("block14_sepconv2_bn")
            .call(&x)?;
        x = relu("block14_sepconv2_act").call(&x)?;
        self.opts.pooled_top(&x, "avg_pool", None, None)
    }
}

fn relu(name: &str) -> Activation {
    Activation::new("relu").name(name)
}

/// A 3x3 `same` separable convolution without bias.
fn sep(filters: usize, name: &str) -> SeparableConv2D {
    SeparableConv2D::new(filters, 3)
        .padding("same")
        .use_bias(false)
        .name(name)
}
