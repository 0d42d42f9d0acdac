//! DenseNet121, DenseNet169 and DenseNet201, as `keras.applications` builds them.

use super::options::{app_option_builders, AppOptions};
use crate::error::Result;
use crate::layers::{
    Activation, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, MaxPooling2D,
    ZeroPadding2D,
};
use crate::model::{Call, KerasTensor, Model};

/// Keras's `keras.applications.DenseNet121`, `DenseNet169` and `DenseNet201`: dense blocks
/// of `conv_block`s (each concatenating 32 new channels), transition blocks halving channels
/// and size, with Keras's layer names (`conv2_block1_0_bn`, `pool2_conv`, ...). Inputs are
/// preprocessed by [`preprocess_input_torch`](super::preprocess_input_torch).
///
/// ```
/// use rkeras::applications::DenseNet;
/// let m = DenseNet::densenet121().input_shape((32, 32, 3)).classes(5).build()?;
/// assert_eq!(m.name(), "densenet121");
/// assert_eq!(m.output_shape(), Some(&[5][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct DenseNet {
    opts: AppOptions,
    blocks: [usize; 4],
    name: &'static str,
}

app_option_builders!(DenseNet);

impl DenseNet {
    fn family(blocks: [usize; 4], name: &'static str) -> Self {
        DenseNet {
            opts: AppOptions::default(),
            blocks,
            name,
        }
    }
    /// `keras.applications.DenseNet121`.
    pub fn densenet121() -> Self {
        DenseNet::family([6, 12, 24, 16], "densenet121")
    }
    /// `keras.applications.DenseNet169`.
    pub fn densenet169() -> Self {
        DenseNet::family([6, 12, 32, 32], "densenet169")
    }
    /// `keras.applications.DenseNet201`.
    pub fn densenet201() -> Self {
        DenseNet::family([6, 12, 48, 32], "densenet201")
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

    /// The network's layers called on `input`, for a model of your own around it;
    /// `weights` is not applied here.
    ///
    /// # Errors
    /// As [`build`](Self::build), for the input's shape.
    pub fn call(&self, input: &KerasTensor) -> Result<KerasTensor> {
        self.opts.check(self.name, input, 32)?;
        let mut x = ZeroPadding2D::new(3).call(input)?;
        x = Conv2D::new(64, 7)
            .strides(2)
            .use_bias(false)
            .name("conv1_conv")
            .call(&x)?;
        x = bn("conv1_bn").call(&x)?;
        x = Activation::new("relu").name("conv1_relu").call(&x)?;
        x = ZeroPadding2D::new(1).call(&x)?;
        x = MaxPooling2D::new(3).strides(2).name("pool1").call(&x)?;
        for (k, &blocks) in self.blocks.iter().enumerate() {
            for i in 1..=blocks {
                x = conv_block(&x, &format!("conv{}_block{i}", k + 2))?;
            }
            if k < 3 {
                x = transition(&x, &format!("pool{}", k + 2))?;
            }
        }
        x = bn("bn").call(&x)?;
        x = Activation::new("relu").name("relu").call(&x)?;
        self.opts
            .pooled_top(&x, "avg_pool", Some("avg_pool"), Some("max_pool"))
    }
}

fn bn(name: &str) -> BatchNormalization {
    BatchNormalization::new().epsilon(1.001e-5).name(name)
}

/// BN, ReLU, 1x1 conv (128), BN, ReLU, 3x3 conv (32), concatenated to the input.
fn conv_block(x: &KerasTensor, name: &str) -> Result<KerasTensor> {
    let mut y = bn(&format!("{name}_0_bn")).call(x)?;
    y = Activation::new("relu")
        .name(format!("{name}_0_relu"))
        .call(&y)?;
    y = Conv2D::new(128, 1)
        .use_bias(false)
        .name(format!("{name}_1_conv"))
        .call(&y)?;
    y = bn(&format!("{name}_1_bn")).call(&y)?;
    y = Activation::new("relu")
        .name(format!("{name}_1_relu"))
        .call(&y)?;
    y = Conv2D::new(32, 3)
        .padding("same")
        .use_bias(false)
        .name(format!("{name}_2_conv"))
        .call(&y)?;
    Concatenate::new()
        .name(format!("{name}_concat"))
        .call_on(&[x, &y])
}

/// BN, ReLU, 1x1 conv to half the channels, 2x2 average pooling.
fn transition(x: &KerasTensor, name: &str) -> Result<KerasTensor> {
    let c = x.shape().last().copied().unwrap_or(0);
    let mut y = bn(&format!("{name}_bn")).call(x)?;
    y = Activation::new("relu")
        .name(format!("{name}_relu"))
        .call(&y)?;
    y = Conv2D::new(c / 2, 1)
        .use_bias(false)
        .name(format!("{name}_conv"))
        .call(&y)?;
    AveragePooling2D::new(2)
        .strides(2)
        .name(format!("{name}_pool"))
        .call(&y)
}
