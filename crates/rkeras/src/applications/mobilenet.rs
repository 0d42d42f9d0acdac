//! MobileNet (v1), as `keras.applications.MobileNet` builds it.

use super::options::{app_option_builders, AppOptions};
use crate::error::{Error, Result};
use crate::layers::{
    Activation, BatchNormalization, Conv2D, DepthwiseConv2D, Dropout, GlobalAveragePooling2D, ReLU,
    Reshape, ZeroPadding2D,
};
use crate::model::{Call, KerasTensor, Model};

/// Keras's `keras.applications.MobileNet(input_shape, alpha, depth_multiplier, dropout,
/// include_top, weights, pooling, classes, classifier_activation)`: a 3x3 convolution, then
/// 13 depthwise-separable blocks (`conv_dw_1` ... `conv_pw_13`), with Keras's names; the top
/// is Keras's 1x1-convolution classifier (`conv_preds`, `reshape_2`, `predictions`). Inputs
/// are preprocessed by [`preprocess_input_tf`](super::preprocess_input_tf).
///
/// ```
/// use rkeras::applications::MobileNet;
/// let m = MobileNet::new().input_shape((32, 32, 3)).alpha(0.25).classes(4).build()?;
/// assert_eq!(m.name(), "mobilenet_0.25_32");
/// assert_eq!(m.output_shape(), Some(&[4][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MobileNet {
    opts: AppOptions,
    alpha: f64,
    depth_multiplier: usize,
    dropout: f32,
}

app_option_builders!(MobileNet);

impl Default for MobileNet {
    fn default() -> Self {
        MobileNet::new()
    }
}

impl MobileNet {
    /// Keras's defaults: 224x224x3, alpha 1.0, depth multiplier 1, dropout 0.001.
    pub fn new() -> Self {
        MobileNet {
            opts: AppOptions::default(),
            alpha: 1.0,
            depth_multiplier: 1,
            dropout: 1e-3,
        }
    }
    /// The width multiplier (published weights: 0.25, 0.5, 0.75, 1.0).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// Depthwise filters per input channel (default 1).
    pub fn depth_multiplier(mut self, m: usize) -> Self {
        self.depth_multiplier = m;
        self
    }
    /// The rate of the top's Dropout (default 0.001).
    pub fn dropout(mut self, rate: f32) -> Self {
        self.dropout = rate;
        self
    }

    /// Builds the model (and loads `weights`).
    ///
    /// # Errors
    /// A side under 32, channels other than 3, a non-positive alpha, a pooling other than
    /// avg/max, zero classes, or a weight file that does not fit (naming the layer).
    pub fn build(&self) -> Result<Model> {
        let input = self.opts.input();
        let x = self.call(&input)?;
        let name = format!("mobilenet_{:.2}_{}", self.alpha, self.opts.input_shape.0);
        self.opts.finish(&input, &x, &name)
    }

    /// The network's layers called on `input`, for a model of your own around it;
    /// `weights` is not applied here.
    ///
    /// # Errors
    /// As [`build`](Self::build), for the input's shape.
    pub fn call(&self, input: &KerasTensor) -> Result<KerasTensor> {
        self.opts.check("MobileNet", input, 32)?;
        if !(self.alpha.is_finite() && self.alpha > 0.0) || self.depth_multiplier == 0 {
            return Err(Error::arg(
                "alpha",
                "MobileNet",
                format!(
                    "alpha must be positive and depth_multiplier at least 1; received {} and {}",
                    self.alpha, self.depth_multiplier
                ),
            ));
        }
        let width = |f: usize| (f as f64 * self.alpha) as usize;
        let mut x = Conv2D::new(width(32), 3)
            .padding("same")
            .use_bias(false)
            .strides(2)
            .name("conv1")
            .call(input)?;
        x = BatchNormalization::new().name("conv1_bn").call(&x)?;
        x = ReLU::new().max_value(6.0).name("conv1_relu").call(&x)?;
        let blocks: [(usize, usize); 13] = [
            (64, 1),
            (128, 2),
            (128, 1),
            (256, 2),
            (256, 1),
            (512, 2),
            (512, 1),
            (512, 1),
            (512, 1),
            (512, 1),
            (512, 1),
            (1024, 2),
            (1024, 1),
        ];
        for (i, &(filters, stride)) in blocks.iter().enumerate() {
            x = self.block(&x, width(filters), stride, i + 1)?;
        }
        if !self.opts.include_top {
            return self.opts.pooling_only(&x, None, None);
        }
        let classes = self.opts.classes;
        x = GlobalAveragePooling2D::new().keepdims(true).call(&x)?;
        x = Dropout::new(self.dropout).name("dropout").call(&x)?;
        x = Conv2D::new(classes, 1)
            .padding("same")
            .name("conv_preds")
            .call(&x)?;
        x = Reshape::new(&[classes as i64]).name("reshape_2").call(&x)?;
        Activation::new(
            self.opts
                .classifier_activation
                .as_deref()
                .unwrap_or("linear"),
        )
        .name("predictions")
        .call(&x)
    }

    fn block(
        &self,
        x: &KerasTensor,
        filters: usize,
        stride: usize,
        id: usize,
    ) -> Result<KerasTensor> {
        let mut y = x.clone();
        if stride != 1 {
            y = ZeroPadding2D::new(((0, 1), (0, 1)))
                .name(format!("conv_pad_{id}"))
                .call(&y)?;
        }
        y = DepthwiseConv2D::new(3)
            .padding(if stride == 1 { "same" } else { "valid" })
            .depth_multiplier(self.depth_multiplier)
            .strides(stride)
            .use_bias(false)
            .name(format!("conv_dw_{id}"))
            .call(&y)?;
        y = BatchNormalization::new()
            .name(format!("conv_dw_{id}_bn"))
            .call(&y)?;
        y = ReLU::new()
            .max_value(6.0)
            .name(format!("conv_dw_{id}_relu"))
            .call(&y)?;
        y = Conv2D::new(filters, 1)
            .padding("same")
            .use_bias(false)
            .name(format!("conv_pw_{id}"))
            .call(&y)?;
        y = BatchNormalization::new()
            .name(format!("conv_pw_{id}_bn"))
            .call(&y)?;
        ReLU::new()
            .max_value(6.0)
            .name(format!("conv_pw_{id}_relu"))
            .call(&y)
    }
}
