//! ConvNeXtTiny, Small, Base, Large and XLarge, as `keras.applications` builds them.

use super::options::{app_option_builders, AppOptions};
use crate::error::Result;
use crate::layers::{
    Activation, Conv2D, Dense, GlobalAveragePooling2D, KerasOp, LayerNormalization, LayerScale,
    Normalization,
};
use crate::model::{Call, KerasTensor, Model, Sequential};

/// The epsilon of every `LayerNormalization`.
const EPSILON: f32 = 1e-6;
/// The initial value of every block's `LayerScale`.
const LAYER_SCALE_INIT: f64 = 1e-6;

/// Keras's `keras.applications.ConvNeXtTiny`, `ConvNeXtSmall`, `ConvNeXtBase`,
/// `ConvNeXtLarge` and `ConvNeXtXLarge`: the preprocessing (`NAME_prestem_normalization`, a
/// `Normalization` by the ImageNet means and variances of 0..255 pixels), a stem (nested
/// `Sequential` `NAME_stem`: a 4x4 stride-4 convolution and a layer normalization), four
/// stages of ConvNeXt blocks (7x7 depthwise convolution, layer normalization, pointwise
/// `Dense` 4x wide, GELU, pointwise `Dense` back, `LayerScale`, a linear `NAME_identity`
/// activation, then the residual `inputs + x` as Keras's graph holds it, a
/// `keras.src.ops.numpy.Add`), three nested `Sequential` downsampling blocks between them
/// (layer normalization, 2x2 stride-2 convolution), and the head (`NAME_head_gap`,
/// `NAME_head_layernorm`, `NAME_head_dense`); every layer normalization with epsilon 1e-6.
/// Keras's layer names, arguments and defaults (input 224x224, at least 32x32), so that
/// Keras's weight files load into it. Without the top, Keras ends with the optional pooling
/// and a `LayerNormalization` (also without pooling), and so does this.
///
/// Inputs are pixels in 0..255 ([`preprocess_input_convnext`] passes them through), unless
/// [`include_preprocessing`](Self::include_preprocessing) is off.
///
/// ```
/// use rkeras::applications::ConvNeXt;
/// let m = ConvNeXt::convnext_tiny()
///     .input_shape((32, 32, 3))
///     .classes(10)
///     .build()?;
/// assert_eq!(m.name(), "convnext_tiny");
/// assert_eq!(m.output_shape(), Some(&[10][..]));
/// let base = ConvNeXt::convnext_tiny()
///     .input_shape((32, 32, 3))
///     .include_top(false)
///     .pooling("avg")
///     .build()?;
/// assert_eq!(base.output_shape(), Some(&[768][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConvNeXt {
    opts: AppOptions,
    depths: [usize; 4],
    dims: [usize; 4],
    name: &'static str,
    include_preprocessing: bool,
}

app_option_builders!(ConvNeXt);

impl ConvNeXt {
    fn family(depths: [usize; 4], dims: [usize; 4], name: &'static str) -> Self {
        ConvNeXt {
            opts: AppOptions::default(),
            depths,
            dims,
            name,
            include_preprocessing: true,
        }
    }
    /// `keras.applications.ConvNeXtTiny` (depths 3, 3, 9, 3; 96 to 768 channels).
    pub fn convnext_tiny() -> Self {
        ConvNeXt::family([3, 3, 9, 3], [96, 192, 384, 768], "convnext_tiny")
    }
    /// `keras.applications.ConvNeXtSmall` (depths 3, 3, 27, 3; 96 to 768 channels).
    pub fn convnext_small() -> Self {
        ConvNeXt::family([3, 3, 27, 3], [96, 192, 384, 768], "convnext_small")
    }
    /// `keras.applications.ConvNeXtBase` (depths 3, 3, 27, 3; 128 to 1024 channels).
    pub fn convnext_base() -> Self {
        ConvNeXt::family([3, 3, 27, 3], [128, 256, 512, 1024], "convnext_base")
    }
    /// `keras.applications.ConvNeXtLarge` (depths 3, 3, 27, 3; 192 to 1536 channels).
    pub fn convnext_large() -> Self {
        ConvNeXt::family([3, 3, 27, 3], [192, 384, 768, 1536], "convnext_large")
    }
    /// `keras.applications.ConvNeXtXLarge` (depths 3, 3, 27, 3; 256 to 2048 channels).
    pub fn convnext_xlarge() -> Self {
        ConvNeXt::family([3, 3, 27, 3], [256, 512, 1024, 2048], "convnext_xlarge")
    }
    /// Whether the model normalizes 0..255 pixels itself (default true, as Keras; needed
    /// for Keras's ImageNet weights).
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
        let name = self.name;
        self.opts.check(name, input, 32)?;
        let mut x = input.clone();
        if self.include_preprocessing {
            x = Normalization::new()
                .mean(vec![0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0])
                .variance(vec![
                    (0.229f64 * 255.0).powi(2),
                    (0.224f64 * 255.0).powi(2),
                    (0.225f64 * 255.0).powi(2),
                ])
                .name(format!("{name}_prestem_normalization"))
                .call(&x)?;
        }
        for (i, (&depth, &dim)) in self.depths.iter().zip(&self.dims).enumerate() {
            let shape = x.shape().to_vec();
            let block = if i == 0 {
                Sequential::with_name(
                    &format!("{name}_stem"),
                    [
                        Conv2D::new(dim, 4)
                            .strides(4)
                            .name(format!("{name}_stem_conv"))
                            .input_shape(shape)
                            .into(),
                        LayerNormalization::new()
                            .epsilon(EPSILON)
                            .name(format!("{name}_stem_layernorm"))
                            .into(),
                    ],
                )?
            } else {
                let k = i - 1;
                Sequential::with_name(
                    &format!("{name}_downsampling_block_{k}"),
                    [
                        LayerNormalization::new()
                            .epsilon(EPSILON)
                            .name(format!("{name}_downsampling_layernorm_{k}"))
                            .input_shape(shape)
                            .into(),
                        Conv2D::new(dim, 2)
                            .strides(2)
                            .name(format!("{name}_downsampling_conv_{k}"))
                            .into(),
                    ],
                )?
            };
            x = block.call(&x)?;
            for j in 0..depth {
                x = convnext_block(&x, dim, &format!("{name}_stage_{i}_block_{j}"))?;
            }
        }
        if self.opts.include_top {
            x = GlobalAveragePooling2D::new()
                .name(format!("{name}_head_gap"))
                .call(&x)?;
            x = LayerNormalization::new()
                .epsilon(EPSILON)
                .name(format!("{name}_head_layernorm"))
                .call(&x)?;
            let mut dense = Dense::new(self.opts.classes).name(format!("{name}_head_dense"));
            if let Some(a) = &self.opts.classifier_activation {
                dense = dense.activation(a);
            }
            return dense.call(&x);
        }
        x = self.opts.pooling_only(&x, None, None)?;
        LayerNormalization::new().epsilon(EPSILON).call(&x)
    }
}

/// Keras's `ConvNeXtBlock` without stochastic depth (the applications' `drop_path_rate` is
/// 0): its last layer a linear `Activation` named `NAME_identity`.
fn convnext_block(inputs: &KerasTensor, dim: usize, name: &str) -> Result<KerasTensor> {
    let mut x = Conv2D::new(dim, 7)
        .padding("same")
        .groups(dim)
        .name(format!("{name}_depthwise_conv"))
        .call(inputs)?;
    x = LayerNormalization::new()
        .epsilon(EPSILON)
        .name(format!("{name}_layernorm"))
        .call(&x)?;
    x = Dense::new(4 * dim)
        .name(format!("{name}_pointwise_conv_1"))
        .call(&x)?;
    x = Activation::new("gelu")
        .name(format!("{name}_gelu"))
        .call(&x)?;
    x = Dense::new(dim)
        .name(format!("{name}_pointwise_conv_2"))
        .call(&x)?;
    x = LayerScale::new(LAYER_SCALE_INIT, dim)
        .name(format!("{name}_layer_scale"))
        .call(&x)?;
    x = Activation::new("linear")
        .name(format!("{name}_identity"))
        .call(&x)?;
    KerasOp::new("Add", None)?.call_on(&[inputs, &x])
}

/// Keras's `keras.applications.convnext.preprocess_input`: a pass-through (the models
/// normalize 0..255 pixels themselves), kept so that every family has one.
///
/// ```
/// let mut x = rkeras::Tensor::new(vec![1, 3], vec![0.0, 127.5, 255.0])?;
/// rkeras::applications::preprocess_input_convnext(&mut x);
/// assert_eq!(x.data(), &[0.0, 127.5, 255.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
pub fn preprocess_input_convnext(x: &mut crate::Tensor) {
    let _ = x;
}
