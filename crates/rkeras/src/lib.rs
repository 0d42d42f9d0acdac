//! # rkeras: Keras-style deep learning in Rust
//!
//! Build, train and evaluate convolutional networks on a CPU the way Keras does it:
//!
//! ```
//! use rkeras::prelude::*;
//! rkeras::set_random_seed(1);
//! let mut model = Sequential::new([
//!     Conv2D::new(8, (3, 3)).activation("relu").input_shape((16, 16, 3)).into(),
//!     MaxPooling2D::new((2, 2)).into(),
//!     Flatten::new().into(),
//!     Dense::new(4).activation("softmax").into(),
//! ])?;
//! model.compile(Adam::default(), "sparse_categorical_crossentropy", &["accuracy"])?;
//! let (x, y) = rkeras::data::shapes::generate(64, 16, 0);
//! let history = model.fit(&x, &y).epochs(2).batch_size(16).verbose(0).run()?;
//! assert_eq!(history.epoch, vec![0, 1]);
//! # Ok::<(), rkeras::Error>(())
//! ```
//!
//! Layout: NHWC activations, HWIO convolution kernels, `(in, out)` dense kernels, exactly as
//! Keras stores them. Numerics follow Keras's defaults (initializers, Adam's epsilon,
//! cross-entropy clipping).

pub mod activations;
pub mod applications;
pub mod budget;
pub mod callbacks;
pub mod constraints;
pub mod data;
pub mod distribution;
pub mod error;
pub mod fsio;
pub mod init;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod optimizers;
pub mod preprocessing;
pub mod regularizers;
pub mod rng;
pub mod saving;
pub mod settings;
pub mod shape;
pub mod tensor;
pub mod train;

pub use error::{Error, Result};
pub use layers::clear_session;
pub use model::{Model, Sequential};
pub use rng::set_random_seed;
pub use tensor::Tensor;

/// Everything a training program needs: `use rkeras::prelude::*;`.
pub mod prelude {
    pub use crate::callbacks::{Callback, Control, History, Logs};
    pub use crate::data::{image_dataset_from_directory, ImageDataset};
    pub use crate::layers::classes::*;
    pub use crate::layers::Layer;
    pub use crate::losses::Loss;
    pub use crate::model::{
        Call, Input, IntoTensors, KerasTensor, Model, OutputLoss, Sequential, Shared,
    };
    pub use crate::optimizers::{Adam, AdamW, RMSprop, SGD};
    pub use crate::tensor::Tensor;
    pub use crate::{Error, Result};
}
