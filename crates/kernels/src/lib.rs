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
//!
//! ```
//! use rkeras_kernels::conv2d::Bias;
//! use rkeras_kernels::{conv2d, Act, Conv2dGeom, Padding, Scratch};
//! // One 4x4 single-channel image, a 3x3 box filter, "valid" padding: a 2x2 output.
//! let g = Conv2dGeom::new((4, 4, 1), (3, 3), 1, (1, 1), (1, 1), Padding::Valid).unwrap();
//! let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
//! let w = vec![1.0f32; 9];
//! let mut y = vec![0.0f32; g.out_len()];
//! conv2d::forward(&g, 1, &x, &w, Bias::None, Act::Linear, &mut y, &Scratch::new(g.scratch_len()));
//! assert_eq!(y, [45.0, 54.0, 81.0, 90.0]);
//! ```

pub mod activation;
pub mod batch_norm;
pub mod channel;
pub mod conv2d;
pub mod conv_pool;
pub mod depthwise;
pub mod elementwise;
pub mod gemm;
pub mod image;
pub mod narrow;
pub mod parallel;
pub mod pool2d;
pub mod reduce;
pub mod reference;
pub mod regions;
pub mod simd;
pub mod softmax;
pub mod switches;
pub mod winograd;

#[cfg(test)]
pub(crate) mod testutil;

pub use activation::Act;
pub use conv2d::{Conv2dGeom, Padding};
pub use conv_pool::ConvPool;
pub use parallel::{Scratch, ScratchGuard};
pub use pool2d::Pool2dGeom;
pub use winograd::Winograd;
