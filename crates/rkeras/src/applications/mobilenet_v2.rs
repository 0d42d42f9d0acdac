//! MobileNetV2, as `keras.applications.MobileNetV2` builds it.

use super::{correct_pad, make_divisible};
use crate::error::{Error, Result};
use crate::layers::{
    Add, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, GlobalAveragePooling2D,
    GlobalMaxPooling2D, ReLU, Rescaling, ZeroPadding2D,
};
use crate::model::{Call, Input, KerasTensor, Model};
use std::path::PathBuf;

/// Keras's `keras.applications.MobileNetV2(input_shape, alpha, include_top, weights,
/// pooling, classes, classifier_activation)`: the same layers, names and defaults, so a
/// weight file Keras publishes or saves loads into it (`weights`: a `.weights.h5`, or a
/// legacy `.h5` read by layer name as Keras reads them).
///
/// ```
/// use rkeras::applications::MobileNetV2;
/// let m = MobileNetV2::new()
///     .input_shape((32, 32, 3))
///     .alpha(0.35)
///     .classes(10)
///     .build()?;
/// assert_eq!(m.name(), "mobilenetv2_0.35_32");
/// assert_eq!(m.output_shape(), Some(&[10][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MobileNetV2 {
    input_shape: (usize, usize, usize),
    alpha: f64,
    include_top: bool,
    weights: Option<PathBuf>,
    pooling: Option<String>,
    classes: usize,
    classifier_activation: Option<String>,
    preprocessing: bool,
}

impl Default for MobileNetV2 {
    fn default() -> Self {
        MobileNetV2::new()
    }
}

impl MobileNetV2 {
    /// Keras's defaults: 224x224x3, alpha 1.0, with the top, 1000 classes, softmax.
    pub fn new() -> Self {
        MobileNetV2 {
            input_shape: (224, 224, 3),
            alpha: 1.0,
            include_top: true,
            weights: None,
            pooling: None,
            classes: 1000,
            classifier_activation: Some("softmax".into()),
            preprocessing: false,
        }
    }
    /// Put [`preprocess_input_mobilenet_v2`] in the model, as a `Rescaling(1/127.5,
    /// offset=-1)` layer after the input, so that it takes pixels in 0..255 (Keras's
    /// MobileNetV2 has no such option: its users preprocess; MobileNetV3's
    /// `include_preprocessing` does the same). Default `false`, Keras's exact layers.
    pub fn preprocessing(mut self, yes: bool) -> Self {
        self.preprocessing = yes;
        self
    }
    /// Height, width, channels (3); each side at least 32.
    pub fn input_shape(mut self, shape: (usize, usize, usize)) -> Self {
        self.input_shape = shape;
        self
    }
    /// The width multiplier (the published weights exist for 0.35, 0.5, 0.75, 1.0, 1.3, 1.4).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// Whether to end with the classifier (`GlobalAveragePooling2D` and `predictions`).
    pub fn include_top(mut self, top: bool) -> Self {
        self.include_top = top;
        self
    }
    /// A weight file to load: a Keras 3 `.weights.h5`, or a legacy `.h5` (the files Keras
    /// publishes, `_no_top` ones included), read by layer name.
    pub fn weights(mut self, path: impl Into<PathBuf>) -> Self {
        self.weights = Some(path.into());
        self
    }
    /// Without the top: `"avg"` or `"max"` global pooling at the end (default none).
    pub fn pooling(mut self, pooling: &str) -> Self {
        self.pooling = Some(pooling.to_string());
        self
    }
    /// Outputs of the classifier (with the top).
    pub fn classes(mut self, classes: usize) -> Self {
        self.classes = classes;
        self
    }
    /// The classifier's activation (`None`: logits).
    pub fn classifier_activation(mut self, act: Option<&str>) -> Self {
        self.classifier_activation = act.map(str::to_string);
        self
    }

    /// Builds the model (and loads `weights`).
    ///
    /// # Errors
    /// A side under 32, channels other than 3, a pooling other than avg/max, zero classes,
    /// or a weight file that does not fit (naming the layer).
    pub fn build(&self) -> Result<Model> {
        let (h, w, c) = self.input_shape;
        let input = Input::new((h, w, c));
        let x = self.call(&input)?;
        let name = format!("mobilenetv2_{:.2}_{h}", self.alpha);
        let mut model = Model::functional_named(&input, &x, &name)?;
        if let Some(path) = &self.weights {
            let legacy = path.to_string_lossy().to_ascii_lowercase();
            if legacy.ends_with(".weights.h5") {
                model.load_weights(path)?;
            } else {
                model.load_weights_by_name(path, false)?;
            }
        }
        Ok(model)
    }

    /// The network's layers called on `input` (an image tensor of `input_shape`), for a
    /// model of your own around it: augmentation before, a new head after (feature
    /// extraction, as the keras.io transfer-learning guide builds it). Load the backbone's
    /// weights into the whole model with `load_weights_by_name(file, true)`, which leaves
    /// your layers alone. `weights` is not applied here.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// use rkeras::applications::MobileNetV2;
    /// let inputs = Input::new((32, 32, 3));
    /// let features = MobileNetV2::new()
    ///     .input_shape((32, 32, 3))
    ///     .alpha(0.35)
    ///     .include_top(false)
    ///     .pooling("avg")
    ///     .call(&inputs)?;
    /// let outputs = Dense::new(2).activation("softmax").name("head").call(&features)?;
    /// let model = Model::functional(&inputs, &outputs)?;
    /// assert_eq!(model.output_shape(), Some(&[2][..]));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`build`](Self::build), for the input's shape.
    pub fn call(&self, input: &KerasTensor) -> Result<KerasTensor> {
        let (h, w, c) = match input.shape() {
            [h, w, c] => (*h, *w, *c),
            other => {
                return Err(Error::arg(
                    "input",
                    "",
                    format!(
                    "MobileNetV2 takes image tensors (height, width, channels), received {other:?}"
                ),
                ))
            }
        };
        if h < 32 || w < 32 || c != 3 {
            return Err(Error::arg(
                "input_shape",
                "",
                format!("MobileNetV2 takes images of at least 32x32 with 3 channels; received ({h}, {w}, {c})"),
            ));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(Error::arg(
                "alpha",
                "",
                format!("must be positive, received {}", self.alpha),
            ));
        }
        if self.include_top && self.classes == 0 {
            return Err(Error::arg("classes", "", "must be at least 1"));
        }
        let bn = |name: &str| {
            BatchNormalization::new()
                .epsilon(1e-3)
                .momentum(0.999)
                .name(name)
        };
        let relu6 = |name: &str| ReLU::new().max_value(6.0).name(name);
        let first = make_divisible(32.0 * self.alpha, 8);
        let mut x = input.clone();
        if self.preprocessing {
            x = Rescaling::new(1.0 / 127.5).offset(-1.0).call(&x)?;
        }
        x = Conv2D::new(first, 3)
            .strides(2)
            .padding("same")
            .use_bias(false)
            .name("Conv1")
            .call(&x)?;
        x = bn("bn_Conv1").call(&x)?;
        x = relu6("Conv1_relu").call(&x)?;
        let blocks: [(usize, usize, usize); 17] = [
            (16, 1, 1),
            (24, 2, 6),
            (24, 1, 6),
            (32, 2, 6),
            (32, 1, 6),
            (32, 1, 6),
            (64, 2, 6),
            (64, 1, 6),
            (64, 1, 6),
            (64, 1, 6),
            (96, 1, 6),
            (96, 1, 6),
            (96, 1, 6),
            (160, 2, 6),
            (160, 1, 6),
            (160, 1, 6),
            (320, 1, 6),
        ];
        for (id, &(filters, stride, expansion)) in blocks.iter().enumerate() {
            x = self.inverted_res_block(&x, expansion, stride, filters, id)?;
        }
        let last = if self.alpha > 1.0 {
            make_divisible(1280.0 * self.alpha, 8)
        } else {
            1280
        };
        x = Conv2D::new(last, 1)
            .use_bias(false)
            .name("Conv_1")
            .call(&x)?;
        x = bn("Conv_1_bn").call(&x)?;
        x = relu6("out_relu").call(&x)?;
        if self.include_top {
            x = GlobalAveragePooling2D::new().call(&x)?;
            x = Dense::new(self.classes)
                .activation(self.classifier_activation.as_deref().unwrap_or("linear"))
                .name("predictions")
                .call(&x)?;
        } else {
            match self.pooling.as_deref() {
                None => {}
                Some("avg") => x = GlobalAveragePooling2D::new().call(&x)?,
                Some("max") => x = GlobalMaxPooling2D::new().call(&x)?,
                Some(other) => {
                    return Err(Error::arg(
                        "pooling",
                        "",
                        format!("expected \"avg\", \"max\" or none, received \"{other}\""),
                    ))
                }
            }
        }
        Ok(x)
    }

    fn inverted_res_block(
        &self,
        inputs: &KerasTensor,
        expansion: usize,
        stride: usize,
        filters: usize,
        id: usize,
    ) -> Result<KerasTensor> {
        let bn = |name: String| {
            BatchNormalization::new()
                .epsilon(1e-3)
                .momentum(0.999)
                .name(name)
        };
        let relu6 = |name: String| ReLU::new().max_value(6.0).name(name);
        let in_channels = inputs.shape().last().copied().unwrap_or(1);
        let pointwise = make_divisible((filters as f64 * self.alpha).trunc(), 8);
        let mut x = inputs.clone();
        let prefix = if id > 0 {
            let prefix = format!("block_{id}_");
            x = Conv2D::new(expansion * in_channels, 1)
                .padding("same")
                .use_bias(false)
                .name(format!("{prefix}expand"))
                .call(&x)?;
            x = bn(format!("{prefix}expand_BN")).call(&x)?;
            x = relu6(format!("{prefix}expand_relu")).call(&x)?;
            prefix
        } else {
            "expanded_conv_".to_string()
        };
        if stride == 2 {
            let s = x.shape();
            x = ZeroPadding2D::new(correct_pad(s[0], s[1], 3))
                .name(format!("{prefix}pad"))
                .call(&x)?;
        }
        x = DepthwiseConv2D::new(3)
            .strides(stride)
            .use_bias(false)
            .padding(if stride == 1 { "same" } else { "valid" })
            .name(format!("{prefix}depthwise"))
            .call(&x)?;
        x = bn(format!("{prefix}depthwise_BN")).call(&x)?;
        x = relu6(format!("{prefix}depthwise_relu")).call(&x)?;
        x = Conv2D::new(pointwise, 1)
            .padding("same")
            .use_bias(false)
            .name(format!("{prefix}project"))
            .call(&x)?;
        x = bn(format!("{prefix}project_BN")).call(&x)?;
        if in_channels == pointwise && stride == 1 {
            return Add::new()
                .name(format!("{prefix}add"))
                .call_on(&[inputs, &x]);
        }
        Ok(x)
    }
}

/// Keras's `keras.applications.mobilenet_v2.preprocess_input`: pixels in 0..255 scaled to
/// -1..1 (`x / 127.5 - 1`), in place.
///
/// ```
/// let mut x = rkeras::Tensor::new(vec![1, 3], vec![0.0, 127.5, 255.0])?;
/// rkeras::applications::preprocess_input_mobilenet_v2(&mut x);
/// assert_eq!(x.data(), &[-1.0, 0.0, 1.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
pub fn preprocess_input_mobilenet_v2(x: &mut crate::Tensor) {
    super::preprocess_input_tf(x);
}
