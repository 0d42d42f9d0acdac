//! The architectures the CLI can train: the seed's CNN, Keras's MNIST convnet, or any model
//! described by a Keras config JSON (`model.to_json()`, or the `config.json` of a `.keras`).

use anyhow::{bail, Context, Result};
use rkeras::prelude::*;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelKind {
    /// Conv32-3x3 relu, MaxPool2, Conv64-3x3 relu, MaxPool2, Conv64-3x3 relu, Flatten,
    /// Dense softmax (the seed's model; 64x64x3 by default).
    Seed,
    /// Keras's "Simple MNIST convnet": Conv32, MaxPool, Conv64, MaxPool, Flatten,
    /// Dropout 0.5, Dense softmax.
    MnistConvnet,
    /// A Keras model config JSON, used as it is (its own preprocessing layers included).
    Config(PathBuf),
    /// A saved model (`.keras`, legacy `.h5`) with its weights, trained further.
    Saved(PathBuf),
    /// keras.applications' MobileNetV2 (alpha 1.0), built by `rkeras::applications`, with its
    /// preprocessing in the model.
    MobileNetV2,
    /// Another keras.applications architecture rkeras builds (the name, lower case:
    /// MobileNet, ResNet50/101/152, ResNet50V2/101V2/152V2, VGG16/19,
    /// DenseNet121/169/201, EfficientNetB0..B7,
    /// MobileNetV3Small/Large, Xception, InceptionV3, ConvNeXtTiny..XLarge,
    /// InceptionResNetV2, EfficientNetV2B0..B3/S/M/L, NASNetMobile, NASNetLarge), with its
    /// preprocessing in the model.
    App(String),
}

impl ModelKind {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "seed" => Ok(ModelKind::Seed),
            _ if s.eq_ignore_ascii_case("mobilenetv2") => Ok(ModelKind::MobileNetV2),
            _ if APPS.contains(&s.to_ascii_lowercase().as_str()) => {
                Ok(ModelKind::App(s.to_ascii_lowercase()))
            }
            "mnist-convnet" => Ok(ModelKind::MnistConvnet),
            _ if s.to_ascii_lowercase().ends_with(".json") => {
                let p = PathBuf::from(s);
                if !p.is_file() {
                    bail!("--model {s}: no such file (a Keras model config .json)");
                }
                Ok(ModelKind::Config(p))
            }
            _ if {
                let l = s.to_ascii_lowercase();
                (l.ends_with(".keras") || l.ends_with(".h5")) && !l.ends_with(".weights.h5")
            } =>
            {
                let p = PathBuf::from(s);
                if !p.is_file() {
                    bail!("--model {s}: no such file (a saved .keras or .h5 model)");
                }
                Ok(ModelKind::Saved(p))
            }
            _ => bail!(
                "unknown --model '{s}'; built-in models: seed, mnist-convnet, MobileNet, MobileNetV2, ResNet50, ResNet101, ResNet152, ResNet50V2, ResNet101V2, ResNet152V2, VGG16, VGG19, DenseNet121, DenseNet169, DenseNet201, EfficientNetB0 .. EfficientNetB7, MobileNetV3Small, MobileNetV3Large, Xception, InceptionV3, ConvNeXtTiny, ConvNeXtSmall, ConvNeXtBase, ConvNeXtLarge, ConvNeXtXLarge, InceptionResNetV2, EfficientNetV2B0 .. EfficientNetV2B3, EfficientNetV2S, EfficientNetV2M, EfficientNetV2L, NASNetMobile, NASNetLarge, a Keras model config .json, or a saved .keras / .h5 model"
            ),
        }
    }

    /// The model for per-sample `input` shape and `classes` outputs.
    pub fn build(&self, input: (usize, usize, usize), classes: usize) -> Result<Model> {
        Ok(match self {
            ModelKind::Seed => Sequential::new([
                Conv2D::new(32, (3, 3))
                    .activation("relu")
                    .input_shape(input)
                    .into(),
                MaxPooling2D::new((2, 2)).into(),
                Conv2D::new(64, (3, 3)).activation("relu").into(),
                MaxPooling2D::new((2, 2)).into(),
                Conv2D::new(64, (3, 3)).activation("relu").into(),
                Flatten::new().into(),
                Dense::new(classes).activation("softmax").into(),
            ])?,
            ModelKind::MnistConvnet => Sequential::new([
                InputLayer::new(input).into(),
                Conv2D::new(32, (3, 3)).activation("relu").into(),
                MaxPooling2D::new((2, 2)).into(),
                Conv2D::new(64, (3, 3)).activation("relu").into(),
                MaxPooling2D::new((2, 2)).into(),
                Flatten::new().into(),
                Dropout::new(0.5).into(),
                Dense::new(classes).activation("softmax").into(),
            ])?,
            ModelKind::Config(path) | ModelKind::Saved(path) => {
                return file_model(path, input, classes)
            }
            ModelKind::MobileNetV2 => mobilenet_v2(input, classes, "softmax")?,
            ModelKind::App(name) => application(name, input, classes, "softmax")?,
        })
    }

    /// The model for images of `input` shape, with a `Rescaling(rescale)` layer in front
    /// (unless `rescale` is 1) and a head of `outputs` units with `head` activation.
    pub fn build_for_images(
        &self,
        input: (usize, usize, usize),
        rescale: f64,
        outputs: usize,
        head: &str,
    ) -> Result<Model> {
        if let ModelKind::Config(path) | ModelKind::Saved(path) = self {
            println!(
                "Using the model of {} as it is: its own layers do the preprocessing (--rescale is not applied)",
                path.display()
            );
            return file_model(path, input, outputs);
        }
        if *self == ModelKind::MobileNetV2 {
            println!("MobileNetV2 preprocesses its inputs itself (pixels to -1..1; --rescale is not applied)");
            return mobilenet_v2(input, outputs, head);
        }
        if let ModelKind::App(name) = self {
            println!("{name} preprocesses its inputs itself (Keras's preprocess_input as layers; --rescale is not applied)");
            return application(name, input, outputs, head);
        }
        let mut layers: Vec<Box<dyn Layer>> = vec![InputLayer::new(input).into()];
        if rescale != 1.0 {
            layers.push(Rescaling::new(rescale).into());
        }
        layers.push(Conv2D::new(32, (3, 3)).activation("relu").into());
        layers.push(MaxPooling2D::new((2, 2)).into());
        layers.push(Conv2D::new(64, (3, 3)).activation("relu").into());
        layers.push(MaxPooling2D::new((2, 2)).into());
        if *self == ModelKind::Seed {
            layers.push(Conv2D::new(64, (3, 3)).activation("relu").into());
        }
        layers.push(Flatten::new().into());
        if *self == ModelKind::MnistConvnet {
            layers.push(Dropout::new(0.5).into());
        }
        layers.push(Dense::new(outputs).activation(head).into());
        Ok(Sequential::new(layers)?)
    }

    /// The input shape the model is shown with in `rkeras summary`.
    pub fn default_input(&self) -> (usize, usize, usize) {
        match self {
            ModelKind::Seed | ModelKind::Config(_) | ModelKind::Saved(_) => (64, 64, 3),
            ModelKind::MobileNetV2 | ModelKind::App(_) => (224, 224, 3),
            ModelKind::MnistConvnet => (28, 28, 1),
        }
    }
}

/// The model of a Keras config JSON (fresh weights) or of a saved model (its weights and
/// compile settings), checked against the data: its input shape must be the images' and its
/// output the number of classes (or 1 for binary labels).
fn file_model(path: &PathBuf, input: (usize, usize, usize), outputs: usize) -> Result<Model> {
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let model = if json {
        rkeras::saving::model_from_json_file(path)
    } else {
        rkeras::saving::load_model(path)
    }
    .with_context(|| format!("building the model of {}", path.display()))?;
    let want_in = [input.0, input.1, input.2];
    if model.input_shape() != Some(&want_in[..]) {
        bail!(
            "the model of {} takes inputs of shape {:?}, but the images are {}x{}x{} (set --image-size and --color-mode to match)",
            path.display(),
            model.input_shape().unwrap_or(&[]),
            input.0,
            input.1,
            input.2
        );
    }
    if model.output_shape() != Some(&[outputs][..]) {
        bail!(
            "the model of {} has outputs of shape {:?}, but the data needs {outputs} (one per class, or 1 with --label-mode binary)",
            path.display(),
            model.output_shape().unwrap_or(&[])
        );
    }
    Ok(model)
}

/// keras.applications' MobileNetV2 for `input` images and `classes` outputs with a `head`
/// activation, its preprocessing in the model (pixels 0..255 in).
fn mobilenet_v2(input: (usize, usize, usize), classes: usize, head: &str) -> Result<Model> {
    Ok(rkeras::applications::MobileNetV2::new()
        .input_shape(input)
        .classes(classes)
        .classifier_activation(Some(head))
        .preprocessing(true)
        .build()?)
}

/// The keras.applications architectures `--model` builds besides MobileNetV2 (lower case).
const APPS: [&str; 39] = [
    "mobilenet",
    "resnet50",
    "resnet101",
    "resnet152",
    "vgg16",
    "vgg19",
    "resnet50v2",
    "resnet101v2",
    "resnet152v2",
    "densenet121",
    "densenet169",
    "densenet201",
    "efficientnetb0",
    "efficientnetb1",
    "efficientnetb2",
    "efficientnetb3",
    "efficientnetb4",
    "efficientnetb5",
    "efficientnetb6",
    "efficientnetb7",
    "mobilenetv3small",
    "mobilenetv3large",
    "xception",
    "inceptionv3",
    "convnexttiny",
    "convnextsmall",
    "convnextbase",
    "convnextlarge",
    "convnextxlarge",
    "inceptionresnetv2",
    "efficientnetv2b0",
    "efficientnetv2b1",
    "efficientnetv2b2",
    "efficientnetv2b3",
    "efficientnetv2s",
    "efficientnetv2m",
    "efficientnetv2l",
    "nasnetmobile",
    "nasnetlarge",
];

/// The keras.applications architecture `name` (lower case, one of [`APPS`]) for `input`
/// images and `classes` outputs with a `head` activation, its `preprocess_input` in the
/// model as layers: `Rescaling(1/127.5, offset=-1)` ("tf" mode: MobileNet, ResNet V2,
/// Xception, InceptionV3, InceptionResNetV2, NASNet),
/// `Rescaling(1/255)` and a `Normalization` by the ImageNet means and deviations ("torch"
/// mode: DenseNet), or the operations Keras records for its own "caffe" `preprocess_input`
/// on a symbolic tensor (RGB to BGR, minus the ImageNet means: ResNet50/101/152, VGG16/19;
/// [`rkeras::applications::preprocess_input_caffe_layers`]). EfficientNet, EfficientNetV2,
/// MobileNetV3 and ConvNeXt have their own (Keras's `Rescaling`, and EfficientNet's,
/// EfficientNetV2's B models' and ConvNeXt's `Normalization`).
fn application(
    name: &str,
    input: (usize, usize, usize),
    classes: usize,
    head: &str,
) -> Result<Model> {
    use rkeras::applications::{
        preprocess_input_caffe_layers, ConvNeXt, DenseNet, EfficientNet, EfficientNetV2,
        InceptionResNetV2, InceptionV3, MobileNet, MobileNetV3, NASNet, ResNet, Vgg, Xception,
    };
    // Before EfficientNet's prefix, which it shares.
    if let Some(v) = name.strip_prefix("efficientnetv2") {
        let builder = match v {
            "b1" => EfficientNetV2::efficientnet_v2_b1(),
            "b2" => EfficientNetV2::efficientnet_v2_b2(),
            "b3" => EfficientNetV2::efficientnet_v2_b3(),
            "s" => EfficientNetV2::efficientnet_v2_s(),
            "m" => EfficientNetV2::efficientnet_v2_m(),
            "l" => EfficientNetV2::efficientnet_v2_l(),
            _ => EfficientNetV2::efficientnet_v2_b0(),
        };
        return Ok(builder
            .input_shape(input)
            .classes(classes)
            .classifier_activation(Some(head))
            .build()?);
    }
    if let Some(size) = name.strip_prefix("convnext") {
        let builder = match size {
            "small" => ConvNeXt::convnext_small(),
            "base" => ConvNeXt::convnext_base(),
            "large" => ConvNeXt::convnext_large(),
            "xlarge" => ConvNeXt::convnext_xlarge(),
            _ => ConvNeXt::convnext_tiny(),
        };
        return Ok(builder
            .input_shape(input)
            .classes(classes)
            .classifier_activation(Some(head))
            .build()?);
    }
    if let Some(size) = name.strip_prefix("mobilenetv3") {
        let builder = if size == "large" {
            MobileNetV3::mobilenet_v3_large()
        } else {
            MobileNetV3::mobilenet_v3_small()
        };
        return Ok(builder
            .input_shape(input)
            .classes(classes)
            .classifier_activation(Some(head))
            .build()?);
    }
    if let Some(b) = name.strip_prefix("efficientnet") {
        let builder = match b {
            "b1" => EfficientNet::efficientnet_b1(),
            "b2" => EfficientNet::efficientnet_b2(),
            "b3" => EfficientNet::efficientnet_b3(),
            "b4" => EfficientNet::efficientnet_b4(),
            "b5" => EfficientNet::efficientnet_b5(),
            "b6" => EfficientNet::efficientnet_b6(),
            "b7" => EfficientNet::efficientnet_b7(),
            _ => EfficientNet::efficientnet_b0(),
        };
        return Ok(builder
            .input_shape(input)
            .classes(classes)
            .classifier_activation(Some(head))
            .build()?);
    }
    let inputs = Input::new(input);
    let caffe = ["resnet50", "resnet101", "resnet152", "vgg16", "vgg19"].contains(&name);
    let x = if caffe {
        preprocess_input_caffe_layers(&inputs)?
    } else if name.starts_with("densenet") {
        let x = Rescaling::new(1.0 / 255.0).call(&inputs)?;
        Normalization::new()
            .mean(vec![0.485, 0.456, 0.406])
            .variance(vec![0.229f64.powi(2), 0.224f64.powi(2), 0.225f64.powi(2)])
            .call(&x)?
    } else {
        Rescaling::new(1.0 / 127.5).offset(-1.0).call(&inputs)?
    };
    macro_rules! top {
        ($b:expr) => {
            $b.input_shape(input)
                .classes(classes)
                .classifier_activation(Some(head))
                .call(&x)?
        };
    }
    let x = match name {
        "mobilenet" => top!(MobileNet::new()),
        "resnet50" => top!(ResNet::resnet50()),
        "resnet101" => top!(ResNet::resnet101()),
        "resnet152" => top!(ResNet::resnet152()),
        "vgg16" => top!(Vgg::vgg16()),
        "vgg19" => top!(Vgg::vgg19()),
        "resnet101v2" => top!(ResNet::resnet101_v2()),
        "resnet152v2" => top!(ResNet::resnet152_v2()),
        "densenet121" => top!(DenseNet::densenet121()),
        "densenet169" => top!(DenseNet::densenet169()),
        "densenet201" => top!(DenseNet::densenet201()),
        "xception" => top!(Xception::new()),
        "inceptionv3" => top!(InceptionV3::new()),
        "inceptionresnetv2" => top!(InceptionResNetV2::new()),
        "nasnetmobile" => top!(NASNet::nasnet_mobile()),
        "nasnetlarge" => top!(NASNet::nasnet_large()),
        _ => top!(ResNet::resnet50_v2()),
    };
    Ok(Model::functional_named(&inputs, &x, name)?)
}
