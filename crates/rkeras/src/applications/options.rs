//! The arguments every keras.applications builder takes (`input_shape`, `include_top`,
//! `weights`, `pooling`, `classes`, `classifier_activation`) and what they do at the ends of
//! the network: the input check, the classifier or pooling on top, the weight file.

use crate::error::{Error, Result};
use crate::layers::{Dense, GlobalAveragePooling2D, GlobalMaxPooling2D};
use crate::model::{Call, Input, KerasTensor, Model};
use std::path::PathBuf;

/// Keras's common application arguments, with Keras's defaults.
#[derive(Clone, Debug)]
pub(crate) struct AppOptions {
    pub input_shape: (usize, usize, usize),
    pub include_top: bool,
    pub weights: Option<PathBuf>,
    pub pooling: Option<String>,
    pub classes: usize,
    pub classifier_activation: Option<String>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            input_shape: (224, 224, 3),
            include_top: true,
            weights: None,
            pooling: None,
            classes: 1000,
            classifier_activation: Some("softmax".into()),
        }
    }
}

/// The builder methods of the common arguments, for an application type with an
/// `opts: AppOptions` field.
macro_rules! app_option_builders {
    ($t:ty) => {
        impl $t {
            /// Height, width, channels (3); each side at least 32.
            pub fn input_shape(mut self, shape: (usize, usize, usize)) -> Self {
                self.opts.input_shape = shape;
                self
            }
            /// Whether to end with the classifier (default true).
            pub fn include_top(mut self, top: bool) -> Self {
                self.opts.include_top = top;
                self
            }
            /// A weight file to load at build: a Keras 3 `.weights.h5`, or a legacy `.h5`
            /// (the files Keras publishes, `_notop` ones included), read by layer name.
            pub fn weights(mut self, path: impl Into<std::path::PathBuf>) -> Self {
                self.opts.weights = Some(path.into());
                self
            }
            /// Without the top: `"avg"` or `"max"` global pooling at the end (default none).
            pub fn pooling(mut self, pooling: &str) -> Self {
                self.opts.pooling = Some(pooling.to_string());
                self
            }
            /// Outputs of the classifier (with the top; default 1000).
            pub fn classes(mut self, classes: usize) -> Self {
                self.opts.classes = classes;
                self
            }
            /// The classifier's activation (default softmax; `None`: logits).
            pub fn classifier_activation(mut self, act: Option<&str>) -> Self {
                self.opts.classifier_activation = act.map(str::to_string);
                self
            }
        }
    };
}
pub(crate) use app_option_builders;

impl AppOptions {
    /// Checks `input`'s shape (`(h, w, 3)`, sides at least `min`) and the other arguments.
    pub fn check(&self, model: &str, input: &KerasTensor, min: usize) -> Result<()> {
        let ok = matches!(input.shape(), [h, w, 3] if *h >= min && *w >= min);
        if !ok {
            return Err(Error::arg(
                "input_shape",
                model,
                format!(
                    "{model} takes images of at least {min}x{min} with 3 channels; received {:?}",
                    input.shape()
                ),
            ));
        }
        if let Some(p) = self.pooling.as_deref() {
            if p != "avg" && p != "max" {
                return Err(Error::arg(
                    "pooling",
                    model,
                    format!("expected \"avg\" or \"max\", received \"{p}\""),
                ));
            }
        }
        if self.include_top && self.classes == 0 {
            return Err(Error::arg("classes", model, "must be at least 1"));
        }
        Ok(())
    }

    /// The end of most applications: with the top, `GlobalAveragePooling2D` named
    /// `top_pool` and the `predictions` classifier; without, the optional pooling named
    /// `avg_name` / `max_name` (`None`: Keras's automatic names).
    pub fn pooled_top(
        &self,
        x: &KerasTensor,
        top_pool: &str,
        avg_name: Option<&str>,
        max_name: Option<&str>,
    ) -> Result<KerasTensor> {
        if self.include_top {
            let x = GlobalAveragePooling2D::new().name(top_pool).call(x)?;
            return self.classifier(&x);
        }
        self.pooling_only(x, avg_name, max_name)
    }

    /// The optional global pooling without the top.
    pub fn pooling_only(
        &self,
        x: &KerasTensor,
        avg_name: Option<&str>,
        max_name: Option<&str>,
    ) -> Result<KerasTensor> {
        let named_avg = |n: Option<&str>| match n {
            Some(n) => GlobalAveragePooling2D::new().name(n),
            None => GlobalAveragePooling2D::new(),
        };
        let named_max = |n: Option<&str>| match n {
            Some(n) => GlobalMaxPooling2D::new().name(n),
            None => GlobalMaxPooling2D::new(),
        };
        match self.pooling.as_deref() {
            Some("avg") => named_avg(avg_name).call(x),
            Some("max") => named_max(max_name).call(x),
            _ => Ok(x.clone()),
        }
    }

    /// The `predictions` classifier.
    pub fn classifier(&self, x: &KerasTensor) -> Result<KerasTensor> {
        let mut d = Dense::new(self.classes).name("predictions");
        if let Some(a) = &self.classifier_activation {
            d = d.activation(a);
        }
        d.call(x)
    }

    /// The model from `input` to `x`, named `name`, with `weights` loaded.
    pub fn finish(&self, input: &KerasTensor, x: &KerasTensor, name: &str) -> Result<Model> {
        let mut model = Model::functional_named(input, x, name)?;
        if let Some(path) = &self.weights {
            let lower = path.to_string_lossy().to_ascii_lowercase();
            if lower.ends_with(".weights.h5") {
                model.load_weights(path)?;
            } else {
                model.load_weights_by_name(path, false)?;
            }
        }
        Ok(model)
    }

    /// A fresh input of `input_shape`.
    pub fn input(&self) -> KerasTensor {
        Input::new(self.input_shape)
    }
}

/// Keras's `preprocess_input` in "caffe" mode (ResNet, VGG), in place: RGB to BGR, then
/// each channel minus the ImageNet mean (103.939, 116.779, 123.68); no scaling. Pixels in
/// 0..255, last axis 3 channels.
///
/// ```
/// use rkeras::applications::preprocess_input_caffe;
/// let mut x = rkeras::Tensor::new(vec![1, 1, 1, 3], vec![10.0, 20.0, 30.0])?;
/// preprocess_input_caffe(&mut x)?;
/// assert_eq!(x.data(), &[30.0 - 103.939, 20.0 - 116.779, 10.0 - 123.68]);
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// A tensor whose last axis is not 3.
pub fn preprocess_input_caffe(x: &mut crate::Tensor) -> Result<()> {
    if x.shape().last() != Some(&3) {
        return Err(Error::arg(
            "x",
            "preprocess_input",
            format!(
                "expected RGB images (last axis 3), received shape {:?}",
                x.shape()
            ),
        ));
    }
    for px in x.data_mut().chunks_exact_mut(3) {
        let (r, g, b) = (px[0], px[1], px[2]);
        px[0] = b - CAFFE_MEAN[0];
        px[1] = g - CAFFE_MEAN[1];
        px[2] = r - CAFFE_MEAN[2];
    }
    Ok(())
}

/// The ImageNet channel means "caffe" mode subtracts, in BGR order.
const CAFFE_MEAN: [f32; 3] = [103.939, 116.779, 123.68];

/// Keras's `preprocess_input` in "caffe" mode (ResNet50/101/152, VGG16/19) called on a
/// symbolic tensor, as part of a model: the operations Keras itself records when
/// `keras.applications.resnet50.preprocess_input(inputs)` is called in a functional model,
/// named as Keras names them, so the model saves and loads as Keras's: three
/// [`GetItem`](crate::layers::GetItem) (`x[..., 2]`, `x[..., 1]`, `x[..., 0]`), a
/// [`Stack`](crate::layers::Stack) on the last axis (RGB to BGR) and an `Add` of the
/// constant `-mean` ([`KerasOp`](crate::layers::KerasOp), a `(1, ..., 1, 3)` tensor). The
/// model then takes pixels in 0..255, as [`preprocess_input_caffe`] does outside it.
///
/// A `Sequential` model cannot hold this branching graph itself: nest a functional model
/// made with it ([`Model::as_layer`]).
///
/// ```
/// use rkeras::applications::{preprocess_input_caffe_layers, ResNet};
/// use rkeras::prelude::*;
/// let inputs = Input::new((32, 32, 3));
/// let x = preprocess_input_caffe_layers(&inputs)?;
/// let x = ResNet::resnet50().input_shape((32, 32, 3)).classes(10).call(&x)?;
/// let model = Model::functional_named(&inputs, &x, "resnet50")?;
/// assert!(model.summary_string(None).contains("(Stack)"));
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// A tensor whose last axis is not 3.
pub fn preprocess_input_caffe_layers(x: &KerasTensor) -> Result<KerasTensor> {
    use crate::layers::{GetItem, KerasOp, Stack};
    if x.shape().last() != Some(&3) {
        return Err(Error::arg(
            "x",
            "preprocess_input",
            format!(
                "expected RGB images (last axis 3), received shape {}",
                crate::shape::batch_shape_str(x.shape())
            ),
        ));
    }
    let channels = [2, 1, 0]
        .iter()
        .map(|&c| GetItem::last_axis(c).call(x))
        .collect::<Result<Vec<_>>>()?;
    let bgr = Stack::new(-1).call_on(&channels.iter().collect::<Vec<_>>())?;
    // Keras's `-np.array(mean)` reshaped to `(1,) * (ndim - 1) + (3,)`, ndim with the batch.
    let mut shape = vec![1; x.shape().len()];
    shape.push(3);
    let minus: Vec<f32> = CAFFE_MEAN.iter().map(|m| -m).collect();
    KerasOp::with_tensor("Add", shape, minus, false)?.call(&bgr)
}

/// Keras's `preprocess_input` in "tf" mode (ResNetV2, MobileNet, MobileNetV2, Xception,
/// InceptionV3, InceptionResNetV2, NASNet), in place: pixels in 0..255 scaled to -1..1
/// (`x / 127.5 - 1`).
///
/// ```
/// use rkeras::applications::preprocess_input_tf;
/// let mut x = rkeras::Tensor::new(vec![1, 3], vec![0.0, 127.5, 255.0])?;
/// preprocess_input_tf(&mut x);
/// assert_eq!(x.data(), &[-1.0, 0.0, 1.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
pub fn preprocess_input_tf(x: &mut crate::Tensor) {
    for v in x.data_mut() {
        *v = *v / 127.5 - 1.0;
    }
}

/// Keras's `preprocess_input` in "torch" mode (DenseNet), in place: pixels in 0..255 to
/// 0..1, then each channel minus the ImageNet mean (0.485, 0.456, 0.406) over its standard
/// deviation (0.229, 0.224, 0.225).
///
/// ```
/// use rkeras::applications::preprocess_input_torch;
/// let mut x = rkeras::Tensor::new(vec![1, 1, 1, 3], vec![255.0, 0.0, 127.5])?;
/// preprocess_input_torch(&mut x)?;
/// assert!((x.data()[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// A tensor whose last axis is not 3.
pub fn preprocess_input_torch(x: &mut crate::Tensor) -> Result<()> {
    if x.shape().last() != Some(&3) {
        return Err(Error::arg(
            "x",
            "preprocess_input",
            format!(
                "expected RGB images (last axis 3), received shape {:?}",
                x.shape()
            ),
        ));
    }
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    for px in x.data_mut().chunks_exact_mut(3) {
        for ((v, m), s) in px.iter_mut().zip(MEAN).zip(STD) {
            *v = (*v / 255.0 - m) / s;
        }
    }
    Ok(())
}

/// The `preprocess_input` of the application `model` (a keras.applications name,
/// case-insensitive: `ResNet50`, `resnet101v2`, `VGG16`, `MobileNetV2`, ...), in place.
///
/// ```
/// let mut x = rkeras::Tensor::new(vec![1, 1, 1, 3], vec![255.0, 0.0, 0.0])?;
/// rkeras::applications::preprocess_input("ResNet50V2", &mut x)?;
/// assert_eq!(x.data(), &[1.0, -1.0, -1.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// An application rkeras does not know, or (caffe mode) a last axis other than 3.
pub fn preprocess_input(model: &str, x: &mut crate::Tensor) -> Result<()> {
    let m = model.to_ascii_lowercase();
    match m.as_str() {
        "resnet50" | "resnet101" | "resnet152" | "vgg16" | "vgg19" => preprocess_input_caffe(x),
        "densenet121" | "densenet169" | "densenet201" => preprocess_input_torch(x),
        "resnet50v2" | "resnet101v2" | "resnet152v2" | "mobilenet" | "mobilenetv2" | "xception"
        | "inceptionv3" | "inceptionresnetv2" | "nasnetmobile" | "nasnetlarge" => {
            preprocess_input_tf(x);
            Ok(())
        }
        // EfficientNet rescales and normalizes in the model: a pass-through, as in Keras.
        "efficientnetb0" | "efficientnetb1" | "efficientnetb2" | "efficientnetb3"
        | "efficientnetb4" | "efficientnetb5" | "efficientnetb6" | "efficientnetb7" => {
            super::preprocess_input_efficientnet(x);
            Ok(())
        }
        // EfficientNetV2 rescales (and its B models normalize) in the model: a pass-through.
        "efficientnetv2b0" | "efficientnetv2b1" | "efficientnetv2b2" | "efficientnetv2b3"
        | "efficientnetv2s" | "efficientnetv2m" | "efficientnetv2l" => {
            super::preprocess_input_efficientnet_v2(x);
            Ok(())
        }
        // MobileNetV3 rescales in the model (`include_preprocessing`): a pass-through.
        "mobilenetv3small" | "mobilenetv3large" => {
            super::preprocess_input_mobilenet_v3(x);
            Ok(())
        }
        // ConvNeXt normalizes in the model (`include_preprocessing`): a pass-through.
        "convnexttiny" | "convnextsmall" | "convnextbase" | "convnextlarge" | "convnextxlarge" => {
            super::preprocess_input_convnext(x);
            Ok(())
        }
        _ => Err(Error::unknown(
            "application",
            model,
            &[
                "ResNet50",
                "ResNet101",
                "ResNet152",
                "ResNet50V2",
                "ResNet101V2",
                "ResNet152V2",
                "VGG16",
                "VGG19",
                "DenseNet121",
                "DenseNet169",
                "DenseNet201",
                "MobileNet",
                "MobileNetV2",
                "EfficientNetB0",
                "EfficientNetB1",
                "EfficientNetB2",
                "EfficientNetB3",
                "EfficientNetB4",
                "EfficientNetB5",
                "EfficientNetB6",
                "EfficientNetB7",
                "MobileNetV3Small",
                "MobileNetV3Large",
                "Xception",
                "InceptionV3",
                "ConvNeXtTiny",
                "ConvNeXtSmall",
                "ConvNeXtBase",
                "ConvNeXtLarge",
                "ConvNeXtXLarge",
                "InceptionResNetV2",
                "EfficientNetV2B0",
                "EfficientNetV2B1",
                "EfficientNetV2B2",
                "EfficientNetV2B3",
                "EfficientNetV2S",
                "EfficientNetV2M",
                "EfficientNetV2L",
                "NASNetMobile",
                "NASNetLarge",
            ],
        )),
    }
}
