//! ResNet50/101/152 and ResNet50V2/101V2/152V2, as `keras.applications` builds them.

use super::options::{app_option_builders, AppOptions};
use crate::error::Result;
use crate::layers::{Activation, Add, BatchNormalization, Conv2D, MaxPooling2D, ZeroPadding2D};
use crate::model::{Call, KerasTensor, Model};

/// Keras's `keras.applications.ResNet50` and its family: ResNet50/101/152 (v1: post-
/// activation bottleneck blocks) and ResNet50V2/101V2/152V2 (pre-activation), with Keras's
/// layer names (`conv2_block1_1_conv`, ...), arguments and defaults, so that Keras's weight
/// files load into them. Their inputs are preprocessed by
/// [`preprocess_input_caffe`](super::preprocess_input_caffe) (v1) or
/// [`preprocess_input_tf`](super::preprocess_input_tf) (v2).
///
/// ```
/// use rkeras::applications::ResNet;
/// let m = ResNet::resnet50().input_shape((32, 32, 3)).classes(10).build()?;
/// assert_eq!(m.name(), "resnet50");
/// assert_eq!(m.output_shape(), Some(&[10][..]));
/// let base = ResNet::resnet50_v2()
///     .input_shape((64, 64, 3))
///     .include_top(false)
///     .pooling("avg")
///     .build()?;
/// assert_eq!(base.output_shape(), Some(&[2048][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ResNet {
    opts: AppOptions,
    /// Blocks of the four stacks (conv2 .. conv5).
    blocks: [usize; 4],
    /// Pre-activation (V2) blocks.
    v2: bool,
    name: &'static str,
}

app_option_builders!(ResNet);

impl ResNet {
    fn family(blocks: [usize; 4], v2: bool, name: &'static str) -> Self {
        ResNet {
            opts: AppOptions::default(),
            blocks,
            v2,
            name,
        }
    }
    /// `keras.applications.ResNet50`.
    pub fn resnet50() -> Self {
        ResNet::family([3, 4, 6, 3], false, "resnet50")
    }
    /// `keras.applications.ResNet101`.
    pub fn resnet101() -> Self {
        ResNet::family([3, 4, 23, 3], false, "resnet101")
    }
    /// `keras.applications.ResNet152`.
    pub fn resnet152() -> Self {
        ResNet::family([3, 8, 36, 3], false, "resnet152")
    }
    /// `keras.applications.ResNet50V2`.
    pub fn resnet50_v2() -> Self {
        ResNet::family([3, 4, 6, 3], true, "resnet50v2")
    }
    /// `keras.applications.ResNet101V2`.
    pub fn resnet101_v2() -> Self {
        ResNet::family([3, 4, 23, 3], true, "resnet101v2")
    }
    /// `keras.applications.ResNet152V2`.
    pub fn resnet152_v2() -> Self {
        ResNet::family([3, 8, 36, 3], true, "resnet152v2")
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

    /// The network's layers called on `input`, for a model of your own around it (see
    /// [`MobileNetV2::call`](super::MobileNetV2::call)); `weights` is not applied here.
    ///
    /// # Errors
    /// As [`build`](Self::build), for the input's shape.
    pub fn call(&self, input: &KerasTensor) -> Result<KerasTensor> {
        self.opts.check(self.name, input, 32)?;
        let mut x = ZeroPadding2D::new(3).name("conv1_pad").call(input)?;
        x = Conv2D::new(64, 7).strides(2).name("conv1_conv").call(&x)?;
        if !self.v2 {
            x = bn("conv1_bn").call(&x)?;
            x = Activation::new("relu").name("conv1_relu").call(&x)?;
        }
        x = ZeroPadding2D::new(1).name("pool1_pad").call(&x)?;
        x = MaxPooling2D::new(3)
            .strides(2)
            .name("pool1_pool")
            .call(&x)?;
        for (k, (&blocks, filters)) in self.blocks.iter().zip([64, 128, 256, 512]).enumerate() {
            let name = format!("conv{}", k + 2);
            x = if self.v2 {
                // The last stack keeps its size (stride 1), the others halve at their end.
                stack_v2(&x, filters, blocks, if k == 3 { 1 } else { 2 }, &name)?
            } else {
                stack_v1(&x, filters, blocks, if k == 0 { 1 } else { 2 }, &name)?
            };
        }
        if self.v2 {
            x = bn("post_bn").call(&x)?;
            x = Activation::new("relu").name("post_relu").call(&x)?;
        }
        self.opts
            .pooled_top(&x, "avg_pool", Some("avg_pool"), Some("max_pool"))
    }
}

fn bn(name: &str) -> BatchNormalization {
    BatchNormalization::new().epsilon(1.001e-5).name(name)
}

/// A post-activation bottleneck block (ResNet v1).
fn block_v1(
    x: &KerasTensor,
    filters: usize,
    stride: usize,
    conv_shortcut: bool,
    name: &str,
) -> Result<KerasTensor> {
    let shortcut = if conv_shortcut {
        let s = Conv2D::new(4 * filters, 1)
            .strides(stride)
            .name(format!("{name}_0_conv"))
            .call(x)?;
        bn(&format!("{name}_0_bn")).call(&s)?
    } else {
        x.clone()
    };
    let mut y = Conv2D::new(filters, 1)
        .strides(stride)
        .name(format!("{name}_1_conv"))
        .call(x)?;
    y = bn(&format!("{name}_1_bn")).call(&y)?;
    y = Activation::new("relu")
        .name(format!("{name}_1_relu"))
        .call(&y)?;
    y = Conv2D::new(filters, 3)
        .padding("same")
        .name(format!("{name}_2_conv"))
        .call(&y)?;
    y = bn(&format!("{name}_2_bn")).call(&y)?;
    y = Activation::new("relu")
        .name(format!("{name}_2_relu"))
        .call(&y)?;
    y = Conv2D::new(4 * filters, 1)
        .name(format!("{name}_3_conv"))
        .call(&y)?;
    y = bn(&format!("{name}_3_bn")).call(&y)?;
    let y = Add::new()
        .name(format!("{name}_add"))
        .call_on(&[&shortcut, &y])?;
    Activation::new("relu").name(format!("{name}_out")).call(&y)
}

fn stack_v1(
    x: &KerasTensor,
    filters: usize,
    blocks: usize,
    stride: usize,
    name: &str,
) -> Result<KerasTensor> {
    let mut x = block_v1(x, filters, stride, true, &format!("{name}_block1"))?;
    for i in 2..=blocks {
        x = block_v1(&x, filters, 1, false, &format!("{name}_block{i}"))?;
    }
    Ok(x)
}

/// A pre-activation bottleneck block (ResNet v2).
fn block_v2(
    x: &KerasTensor,
    filters: usize,
    stride: usize,
    conv_shortcut: bool,
    name: &str,
) -> Result<KerasTensor> {
    let preact = bn(&format!("{name}_preact_bn")).call(x)?;
    let preact = Activation::new("relu")
        .name(format!("{name}_preact_relu"))
        .call(&preact)?;
    let shortcut = if conv_shortcut {
        Conv2D::new(4 * filters, 1)
            .strides(stride)
            .name(format!("{name}_0_conv"))
            .call(&preact)?
    } else if stride > 1 {
        MaxPooling2D::new(1).strides(stride).call(x)?
    } else {
        x.clone()
    };
    let mut y = Conv2D::new(filters, 1)
        .use_bias(false)
        .name(format!("{name}_1_conv"))
        .call(&preact)?;
    y = bn(&format!("{name}_1_bn")).call(&y)?;
    y = Activation::new("relu")
        .name(format!("{name}_1_relu"))
        .call(&y)?;
    y = ZeroPadding2D::new(1)
        .name(format!("{name}_2_pad"))
        .call(&y)?;
    y = Conv2D::new(filters, 3)
        .strides(stride)
        .use_bias(false)
        .name(format!("{name}_2_conv"))
        .call(&y)?;
    y = bn(&format!("{name}_2_bn")).call(&y)?;
    y = Activation::new("relu")
        .name(format!("{name}_2_relu"))
        .call(&y)?;
    y = Conv2D::new(4 * filters, 1)
        .name(format!("{name}_3_conv"))
        .call(&y)?;
    Add::new()
        .name(format!("{name}_out"))
        .call_on(&[&shortcut, &y])
}

fn stack_v2(
    x: &KerasTensor,
    filters: usize,
    blocks: usize,
    stride: usize,
    name: &str,
) -> Result<KerasTensor> {
    let mut x = block_v2(x, filters, 1, true, &format!("{name}_block1"))?;
    for i in 2..blocks {
        x = block_v2(&x, filters, 1, false, &format!("{name}_block{i}"))?;
    }
    block_v2(&x, filters, stride, false, &format!("{name}_block{blocks}"))
}
