//! NASNetMobile and NASNetLarge, as `keras.applications` builds them.

use super::correct_pad;
use super::options::{app_option_builders, AppOptions};
use crate::error::{Error, Result};
use crate::layers::{
    Activation, Add, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, Cropping2D,
    GlobalAveragePooling2D, MaxPooling2D, SeparableConv2D, ZeroPadding2D,
};
use crate::model::{Call, KerasTensor, Model};

/// Keras's `keras.applications.NASNetMobile` and `NASNetLarge` (NASNet-A): a strided 3x3
/// stem convolution, two reduction cells, then three stacks of normal cells separated by
/// two reduction cells (4 cells each for Mobile, 6 for Large), each cell combining its input
/// and the previous cell's input (adjusted to its size and width by `adjust_*` layers)
/// through pairs of ReLU-separable-convolution-batch-normalization blocks, poolings and
/// adds, concatenated on the channels; a final ReLU, then the top. Every batch
/// normalization has momentum 0.9997 and epsilon 1e-3, every plain convolution Keras's
/// `he_normal` initializer. Keras's layer names (`stem_conv1`, `normal_concat_3`,
/// `separable_conv_1_reduction_left1_stem_1`, ...; the ReLUs, the zero paddings and croppings
/// of the adjust blocks, their concatenations, one add per reduction cell and the top's
/// pooling keep Keras's automatic names, so build in a fresh session —
/// [`crate::clear_session`] — for Keras's exact names), arguments and defaults, so that
/// Keras's weight files load into them. Inputs are preprocessed by
/// [`preprocess_input_tf`](super::preprocess_input_tf) (pixels to -1..1).
///
/// Input shapes follow Keras's rules: each side at least 32, any number of channels (Keras
/// warns unless 1 or 3); with [`imagenet_weights`](Self::imagenet_weights), 3 channels, and
/// with the top exactly 224x224x3 (Mobile) or 331x331x3 (Large) and 1000 classes.
///
/// ```
/// use rkeras::applications::NASNet;
/// let m = NASNet::nasnet_mobile()
///     .input_shape((32, 32, 3))
///     .classes(10)
///     .build()?;
/// assert_eq!(m.name(), "nasnet_mobile");
/// assert_eq!(m.output_shape(), Some(&[10][..]));
/// let base = NASNet::nasnet_mobile()
///     .input_shape((32, 40, 3))
///     .include_top(false)
///     .pooling("avg")
///     .build()?;
/// assert_eq!(base.output_shape(), Some(&[1056][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct NASNet {
    opts: AppOptions,
    /// Filters of the last cells' concatenation (Keras's `penultimate_filters`).
    penultimate_filters: usize,
    /// Normal cells per stack.
    num_blocks: usize,
    stem_block_filters: usize,
    /// Whether a stack's first normal cell takes the input of the cell before the reduction
    /// (true) or the reduction's input (false).
    skip_reduction: bool,
    filter_multiplier: usize,
    /// The ImageNet input side: 224 or 331.
    default_size: usize,
    name: &'static str,
    /// `weights` is Keras's ImageNet file (Keras's `weights="imagenet"` rules).
    imagenet: bool,
}

app_option_builders!(NASNet);

/// The momentum of every batch normalization.
const MOMENTUM: f32 = 0.9997;
/// The epsilon of every batch normalization.
const EPSILON: f32 = 1e-3;

impl NASNet {
    /// `keras.applications.NASNetMobile` (NASNet-A 4 @ 1056; input 224x224x3 by default).
    pub fn nasnet_mobile() -> Self {
        NASNet {
            opts: AppOptions::default(),
            penultimate_filters: 1056,
            num_blocks: 4,
            stem_block_filters: 32,
            skip_reduction: false,
            filter_multiplier: 2,
            default_size: 224,
            name: "nasnet_mobile",
            imagenet: false,
        }
    }

    /// `keras.applications.NASNetLarge` (NASNet-A 6 @ 4032; input 331x331x3 by default).
    pub fn nasnet_large() -> Self {
        NASNet {
            opts: AppOptions {
                input_shape: (331, 331, 3),
                ..AppOptions::default()
            },
            penultimate_filters: 4032,
            num_blocks: 6,
            stem_block_filters: 96,
            skip_reduction: true,
            filter_multiplier: 2,
            default_size: 331,
            name: "nasnet_large",
            imagenet: false,
        }
    }

    /// Keras's `weights="imagenet"` with the ImageNet file Keras downloads, given here (no
    /// download): `NASNet-mobile.h5` / `NASNet-mobile-no-top.h5` or `NASNet-large.h5` /
    /// `NASNet-large-no-top.h5`, loaded by layer name as [`weights`](Self::weights) does.
    /// The network is the same; Keras's ImageNet rules apply: 3 channels, and with the top
    /// the default input shape, 1000 classes and a softmax or no classifier activation.
    ///
    /// ```no_run
    /// use rkeras::applications::NASNet;
    /// let m = NASNet::nasnet_mobile()
    ///     .include_top(false)
    ///     .pooling("avg")
    ///     .imagenet_weights("NASNet-mobile-no-top.h5")
    ///     .build()?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn imagenet_weights(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.opts.weights = Some(path.into());
        self.imagenet = true;
        self
    }

    /// Builds the model (and loads `weights`).
    ///
    /// # Errors
    /// A side under 32, no channels, a pooling other than avg/max, zero classes, Keras's
    /// ImageNet rules with [`imagenet_weights`](Self::imagenet_weights), or a weight file
    /// that does not fit (naming the layer).
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
        self.check(input.shape())?;
        let fm = self.filter_multiplier;
        let filters = self.penultimate_filters / 24;
        let mut x = Conv2D::new(self.stem_block_filters, 3)
            .strides(2)
            .padding("valid")
            .use_bias(false)
            .kernel_initializer("he_normal")
            .name("stem_conv1")
            .call(input)?;
        x = bn("stem_bn1").call(&x)?;

        let (mut x, mut p) = reduction_cell(&x, None, filters / (fm * fm), "stem_1")?;
        (x, p) = reduction_cell(&x, Some(&p), filters / fm, "stem_2")?;
        let nb = self.num_blocks;
        let mut width = filters;
        for stack in 0..3 {
            if stack > 0 {
                width *= fm;
                let id = format!("reduce_{}", stack * nb);
                let (y, p0) = reduction_cell(&x, Some(&p), width, &id)?;
                x = y;
                if !self.skip_reduction {
                    p = p0;
                }
            }
            for i in 0..nb {
                let id = if stack == 0 {
                    i.to_string()
                } else {
                    (stack * nb + i + 1).to_string()
                };
                (x, p) = normal_cell(&x, &p, width, &id)?;
            }
        }
        x = relu().call(&x)?;
        if self.opts.include_top {
            x = GlobalAveragePooling2D::new().call(&x)?;
            return self.opts.classifier(&x);
        }
        self.opts.pooling_only(&x, None, None)
    }

    /// Keras's `obtain_input_shape` for NASNet (minimum 32) and its ImageNet rules, with
    /// Keras's messages, then the other arguments.
    fn check(&self, shape: &[usize]) -> Result<()> {
        let model = self.name;
        let shown = |s: &[usize]| {
            let parts: Vec<String> = s.iter().map(usize::to_string).collect();
            format!("({})", parts.join(", "))
        };
        let &[h, w, c] = shape else {
            return Err(Error::arg(
                "input_shape",
                model,
                format!(
                    "`input_shape` must be a tuple of three integers; received {}",
                    shown(shape)
                ),
            ));
        };
        let top = self.opts.include_top;
        if self.imagenet && top && self.opts.classes != 1000 {
            return Err(Error::arg(
                "classes",
                model,
                format!(
                    "If using `weights` as `\"imagenet\"` with `include_top` as true, `classes` \
                     should be 1000; received {}",
                    self.opts.classes
                ),
            ));
        }
        let d = self.default_size;
        if self.imagenet && top && (h, w, c) != (d, d, 3) {
            return Err(Error::arg(
                "input_shape",
                model,
                format!(
                    "When setting `include_top=True` and loading `imagenet` weights, \
                     `input_shape` should be ({d}, {d}, 3).  Received: input_shape={}",
                    shown(shape)
                ),
            ));
        }
        if self.imagenet && c != 3 {
            return Err(Error::arg(
                "input_shape",
                model,
                format!(
                    "The input must have 3 channels; Received `input_shape={}`",
                    shown(shape)
                ),
            ));
        }
        if h < 32 || w < 32 || c == 0 {
            return Err(Error::arg(
                "input_shape",
                model,
                format!(
                    "Input size must be at least 32x32 (with at least one channel); Received: \
                     input_shape={}",
                    shown(shape)
                ),
            ));
        }
        if self.imagenet && top {
            let act = self.opts.classifier_activation.as_deref();
            if !matches!(act, None | Some("softmax") | Some("linear")) {
                return Err(Error::arg(
                    "classifier_activation",
                    model,
                    format!(
                        "Only `None` and `softmax` activations are allowed for the \
                         `classifier_activation` argument when using pretrained weights, with \
                         `include_top=True`; Received: classifier_activation={}",
                        act.unwrap_or("None")
                    ),
                ));
            }
        }
        if let Some(p) = self.opts.pooling.as_deref() {
            if p != "avg" && p != "max" {
                return Err(Error::arg(
                    "pooling",
                    model,
                    format!("expected \"avg\" or \"max\", received \"{p}\""),
                ));
            }
        }
        if top && self.opts.classes == 0 {
            return Err(Error::arg("classes", model, "must be at least 1"));
        }
        Ok(())
    }
}

/// An unnamed ReLU (Keras's automatic `activation_N`).
fn relu() -> Activation {
    Activation::new("relu")
}

/// NASNet's batch normalization (momentum 0.9997, epsilon 1e-3), named `name`.
fn bn(name: &str) -> BatchNormalization {
    BatchNormalization::new()
        .momentum(MOMENTUM)
        .epsilon(EPSILON)
        .name(name)
}

/// A 1x1 `same` convolution without bias, initialized `he_normal`, named `name`.
fn conv1x1_he(filters: usize, name: &str) -> Conv2D {
    Conv2D::new(filters, 1)
        .padding("same")
        .use_bias(false)
        .kernel_initializer("he_normal")
        .name(name)
}

/// `x`'s height and width.
fn hw(x: &KerasTensor) -> (usize, usize) {
    let s = x.shape();
    (s[0], s[1])
}

/// Keras's `_separable_conv_block`: twice ReLU, separable convolution without bias, batch
/// normalization (`separable_conv_{1,2}[_bn]_ID`); with stride 2, the first convolution is
/// `valid` after Keras's `correct_pad` zero padding (`separable_conv_1_pad_ID`).
fn sep_block(
    ip: &KerasTensor,
    filters: usize,
    kernel: usize,
    strides: usize,
    id: &str,
) -> Result<KerasTensor> {
    let mut x = relu().call(ip)?;
    let pad = if strides == 2 {
        let (h, w) = hw(&x);
        x = ZeroPadding2D::new(correct_pad(h, w, kernel))
            .name(format!("separable_conv_1_pad_{id}"))
            .call(&x)?;
        "valid"
    } else {
        "same"
    };
    x = SeparableConv2D::new(filters, kernel)
        .strides(strides)
        .padding(pad)
        .use_bias(false)
        .name(format!("separable_conv_1_{id}"))
        .call(&x)?;
    x = bn(&format!("separable_conv_1_bn_{id}")).call(&x)?;
    x = relu().call(&x)?;
    x = SeparableConv2D::new(filters, kernel)
        .padding("same")
        .use_bias(false)
        .name(format!("separable_conv_2_{id}"))
        .call(&x)?;
    bn(&format!("separable_conv_2_bn_{id}")).call(&x)
}

/// Keras's `_adjust_block`: the previous cell's input `p` made to fit `ip`. None: `ip`
/// itself. Another width (Keras compares the widths only): halved by two strided 1x1
/// paths (the second shifted by one pixel), `filters / 2` each, concatenated and
/// normalized. Another channel count: a ReLU, a 1x1 projection and a normalization.
fn adjust_block(
    p: Option<&KerasTensor>,
    ip: &KerasTensor,
    filters: usize,
    id: &str,
) -> Result<KerasTensor> {
    let Some(p) = p else {
        return Ok(ip.clone());
    };
    if hw(p).1 != hw(ip).1 {
        let p = Activation::new("relu")
            .name(format!("adjust_relu_1_{id}"))
            .call(p)?;
        let pool = |n: usize| {
            AveragePooling2D::new(1)
                .strides(2)
                .padding("valid")
                .name(format!("adjust_avg_pool_{n}_{id}"))
        };
        let p1 = pool(1).call(&p)?;
        let p1 = conv1x1_he(filters / 2, &format!("adjust_conv_1_{id}")).call(&p1)?;
        let p2 = ZeroPadding2D::new(((0, 1), (0, 1))).call(&p)?;
        let p2 = Cropping2D::new(((1, 0), (1, 0))).call(&p2)?;
        let p2 = pool(2).call(&p2)?;
        let p2 = conv1x1_he(filters / 2, &format!("adjust_conv_2_{id}")).call(&p2)?;
        let p = Concatenate::new().axis(-1).call_on(&[&p1, &p2])?;
        return bn(&format!("adjust_bn_{id}")).call(&p);
    }
    if p.shape().last() != Some(&filters) {
        let p = relu().call(p)?;
        let p = conv1x1_he(filters, &format!("adjust_conv_projection_{id}")).call(&p)?;
        return bn(&format!("adjust_bn_{id}")).call(&p);
    }
    Ok(p.clone())
}

/// A named add.
fn add(a: &KerasTensor, b: &KerasTensor, name: &str) -> Result<KerasTensor> {
    Add::new().name(name).call_on(&[a, b])
}

/// A 3x3 average pooling, stride 1, `same`, named `name`.
fn avg3_same(name: &str) -> AveragePooling2D {
    AveragePooling2D::new(3)
        .strides(1)
        .padding("same")
        .name(name)
}

/// Keras's `_normal_a_cell`: the output and the input `ip` (the next cell's `p`).
fn normal_cell(
    ip: &KerasTensor,
    p: &KerasTensor,
    filters: usize,
    id: &str,
) -> Result<(KerasTensor, KerasTensor)> {
    let p = adjust_block(Some(p), ip, filters, id)?;
    let h = relu().call(ip)?;
    let h = conv1x1_he(filters, &format!("normal_conv_1_{id}")).call(&h)?;
    let h = bn(&format!("normal_bn_1_{id}")).call(&h)?;

    let x1_1 = sep_block(&h, filters, 5, 1, &format!("normal_left1_{id}"))?;
    let x1_2 = sep_block(&p, filters, 3, 1, &format!("normal_right1_{id}"))?;
    let x1 = add(&x1_1, &x1_2, &format!("normal_add_1_{id}"))?;

    let x2_1 = sep_block(&p, filters, 5, 1, &format!("normal_left2_{id}"))?;
    let x2_2 = sep_block(&p, filters, 3, 1, &format!("normal_right2_{id}"))?;
    let x2 = add(&x2_1, &x2_2, &format!("normal_add_2_{id}"))?;

    let x3 = avg3_same(&format!("normal_left3_{id}")).call(&h)?;
    let x3 = add(&x3, &p, &format!("normal_add_3_{id}"))?;

    let x4_1 = avg3_same(&format!("normal_left4_{id}")).call(&p)?;
    let x4_2 = avg3_same(&format!("normal_right4_{id}")).call(&p)?;
    let x4 = add(&x4_1, &x4_2, &format!("normal_add_4_{id}"))?;

    let x5 = sep_block(&h, filters, 3, 1, &format!("normal_left5_{id}"))?;
    let x5 = add(&x5, &h, &format!("normal_add_5_{id}"))?;

    let x = Concatenate::new()
        .axis(-1)
        .name(format!("normal_concat_{id}"))
        .call_on(&[&p, &x1, &x2, &x3, &x4, &x5])?;
    Ok((x, ip.clone()))
}

/// Keras's `_reduction_a_cell` (halves the size): the output and the input `ip`.
fn reduction_cell(
    ip: &KerasTensor,
    p: Option<&KerasTensor>,
    filters: usize,
    id: &str,
) -> Result<(KerasTensor, KerasTensor)> {
    let p = adjust_block(p, ip, filters, id)?;
    let h = relu().call(ip)?;
    let h = conv1x1_he(filters, &format!("reduction_conv_1_{id}")).call(&h)?;
    let h = bn(&format!("reduction_bn_1_{id}")).call(&h)?;
    let (rows, cols) = hw(&h);
    let h3 = ZeroPadding2D::new(correct_pad(rows, cols, 3))
        .name(format!("reduction_pad_1_{id}"))
        .call(&h)?;
    let max3 = |name: String| MaxPooling2D::new(3).strides(2).padding("valid").name(name);

    let x1_1 = sep_block(&h, filters, 5, 2, &format!("reduction_left1_{id}"))?;
    let x1_2 = sep_block(&p, filters, 7, 2, &format!("reduction_right1_{id}"))?;
    let x1 = add(&x1_1, &x1_2, &format!("reduction_add_1_{id}"))?;

    let x2_1 = max3(format!("reduction_left2_{id}")).call(&h3)?;
    let x2_2 = sep_block(&p, filters, 7, 2, &format!("reduction_right2_{id}"))?;
    let x2 = add(&x2_1, &x2_2, &format!("reduction_add_2_{id}"))?;

    let x3_1 = AveragePooling2D::new(3)
        .strides(2)
        .padding("valid")
        .name(format!("reduction_left3_{id}"))
        .call(&h3)?;
    let x3_2 = sep_block(&p, filters, 5, 2, &format!("reduction_right3_{id}"))?;
    let x3 = add(&x3_1, &x3_2, &format!("reduction_add3_{id}"))?;

    let x4 = avg3_same(&format!("reduction_left4_{id}")).call(&x1)?;
    let x4 = Add::new().call_on(&[&x2, &x4])?;

    let x5_1 = sep_block(&x1, filters, 3, 1, &format!("reduction_left4_{id}"))?;
    let x5_2 = max3(format!("reduction_right5_{id}")).call(&h3)?;
    let x5 = add(&x5_1, &x5_2, &format!("reduction_add4_{id}"))?;

    let x = Concatenate::new()
        .axis(-1)
        .name(format!("reduction_concat_{id}"))
        .call_on(&[&x2, &x3, &x4, &x5])?;
    Ok((x, ip.clone()))
}
