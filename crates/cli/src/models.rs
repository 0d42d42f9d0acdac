//! The built-in architectures the CLI can train: the seed's CNN and Keras's MNIST convnet.

use anyhow::{bail, Result};
use rkeras::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Conv32-3x3 relu, MaxPool2, Conv64-3x3 relu, MaxPool2, Conv64-3x3 relu, Flatten,
    /// Dense softmax (the seed's model; 64x64x3 by default).
    Seed,
    /// Keras's "Simple MNIST convnet": Conv32, MaxPool, Conv64, MaxPool, Flatten,
    /// Dropout 0.5, Dense softmax.
    MnistConvnet,
}

impl ModelKind {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "seed" => Ok(ModelKind::Seed),
            "mnist-convnet" => Ok(ModelKind::MnistConvnet),
            _ => bail!("unknown --model '{s}'; built-in models: seed, mnist-convnet"),
        }
    }

    /// The model for per-sample `input` shape and `classes` outputs.
    pub fn build(self, input: (usize, usize, usize), classes: usize) -> rkeras::Result<Model> {
        match self {
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
            ]),
            ModelKind::MnistConvnet => Sequential::new([
                InputLayer::new(input).into(),
                Conv2D::new(32, (3, 3)).activation("relu").into(),
                MaxPooling2D::new((2, 2)).into(),
                Conv2D::new(64, (3, 3)).activation("relu").into(),
                MaxPooling2D::new((2, 2)).into(),
                Flatten::new().into(),
                Dropout::new(0.5).into(),
                Dense::new(classes).activation("softmax").into(),
            ]),
        }
    }

    /// The model for images of `input` shape, with a `Rescaling(rescale)` layer in front
    /// (unless `rescale` is 1) and a head of `outputs` units with `head` activation.
    pub fn build_for_images(
        self,
        input: (usize, usize, usize),
        rescale: f64,
        outputs: usize,
        head: &str,
    ) -> rkeras::Result<Model> {
        let mut layers: Vec<Box<dyn Layer>> = vec![InputLayer::new(input).into()];
        if rescale != 1.0 {
            layers.push(Rescaling::new(rescale).into());
        }
        layers.push(Conv2D::new(32, (3, 3)).activation("relu").into());
        layers.push(MaxPooling2D::new((2, 2)).into());
        layers.push(Conv2D::new(64, (3, 3)).activation("relu").into());
        layers.push(MaxPooling2D::new((2, 2)).into());
        if self == ModelKind::Seed {
            layers.push(Conv2D::new(64, (3, 3)).activation("relu").into());
        }
        layers.push(Flatten::new().into());
        if self == ModelKind::MnistConvnet {
            layers.push(Dropout::new(0.5).into());
        }
        layers.push(Dense::new(outputs).activation(head).into());
        Sequential::new(layers)
    }

    /// The input shape the model is shown with in `rkeras summary`.
    pub fn default_input(self) -> (usize, usize, usize) {
        match self {
            ModelKind::Seed => (64, 64, 3),
            ModelKind::MnistConvnet => (28, 28, 1),
        }
    }
}
