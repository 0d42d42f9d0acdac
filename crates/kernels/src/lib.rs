//! Numeric kernels for rkeras on plain `f32` slices.
//!
//! Data layout is Keras's own: NHWC activations, HWIO convolution kernels, `(in, out)` dense
//! kernels. Kernels never allocate and never return errors: callers (the layers of the
//! `rkeras` crate) validate shapes once, when a layer is built, and size every buffer then.
//!
//! Threading: every kernel splits its work into a *fixed* set of tasks that depends only on
//! the geometry and the batch size, never on the number of threads; rayon only decides which
//! thread runs which task. Reductions over the batch go through fixed partial buffers summed
//! in a fixed order, so results are bitwise identical for any thread count.
//!
//! Each fast kernel has a plain-loop oracle in [`reference`], and tests compare the two on
//! random geometries.

pub mod activation;
pub mod conv2d;
pub mod elementwise;
pub mod gemm;
pub mod parallel;
pub mod pool2d;
pub mod reduce;
pub mod reference;
pub mod simd;
pub mod softmax;

#[cfg(test)]
pub(crate) mod testutil;

pub use activation::Act;
pub use conv2d::{Conv2dGeom, Padding};
pub use parallel::Scratch;
pub use pool2d::Pool2dGeom;
