//! Data: folders of images ([`image_dataset_from_directory`]), IDX files (MNIST-style),
//! Fashion-MNIST from Debian's `dataset-fashion-mnist`, and the synthetic coloured-shapes
//! images of `rkeras demo`.

pub mod directory;
pub mod export;
pub mod fashion_mnist;
pub mod idx;
pub mod npy;
pub mod numpy_random;
pub mod shapes;

pub use directory::{
    image_dataset_from_directory, ColorMode, DirectoryOptions, ImageDataset, LabelMode, Labels,
};
pub use npy::{read_npy, write_npy};
