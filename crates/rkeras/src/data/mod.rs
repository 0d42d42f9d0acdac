//! Data: IDX files (MNIST-style), Fashion-MNIST from Debian's `dataset-fashion-mnist`, and
//! the synthetic coloured-shapes images of `rkeras demo`.

pub mod fashion_mnist;
pub mod idx;
pub mod shapes;
