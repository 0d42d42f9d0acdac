//! Random image augmentation shared by the augmentation layers (`RandomFlip`,
//! `RandomRotation`, ...) and by [`Pipeline`], which runs the same operations on a
//! dataset's background threads.
//!
//! Each operation draws its parameters once per image (Keras draws per image too) and
//! applies them in one pass; a [`Pipeline`] also merges consecutive geometric operations
//! (rotation, zoom, translation) into a single resampling.

mod color;
pub(crate) mod mix;
mod ops;
mod pipeline;

pub use color::{ColorDraw, ColorOp};
pub use mix::Mix;
#[cfg(test)]
pub(crate) use ops::{gaussian_kernel, perspective_matrix};
pub use ops::{EraseFill, FlipMode, RandomOp, Sampled, MAX_BLUR_KERNEL};
pub use pipeline::Pipeline;
pub use rkeras_kernels::image::{Fill, Interpolation};

use crate::error::{Error, Result};

/// Parses Keras's `fill_mode` (with its `fill_value` for `"constant"`).
pub fn parse_fill(mode: &str, fill_value: f32, layer: &str) -> Result<Fill> {
    match mode {
        "reflect" => Ok(Fill::Reflect),
        "wrap" => Ok(Fill::Wrap),
        "constant" => Ok(Fill::Constant(fill_value)),
        "nearest" => Ok(Fill::Nearest),
        other => Err(Error::arg(
            "fill_mode",
            layer,
            format!("Unknown `fill_mode` {other}. Expected of one [\"reflect\", \"wrap\", \"constant\", \"nearest\"]."),
        )),
    }
}

/// Parses Keras's `interpolation` for the image layers.
pub fn parse_interpolation(name: &str, layer: &str) -> Result<Interpolation> {
    match name {
        "bilinear" => Ok(Interpolation::Bilinear),
        "nearest" => Ok(Interpolation::Nearest),
        other => Err(Error::arg(
            "interpolation",
            layer,
            format!("expected \"bilinear\" or \"nearest\", received \"{other}\""),
        )),
    }
}

/// The name of a fill mode as Keras writes it in configs.
pub fn fill_name(f: Fill) -> &'static str {
    match f {
        Fill::Reflect => "reflect",
        Fill::Wrap => "wrap",
        Fill::Constant(_) => "constant",
        Fill::Nearest => "nearest",
    }
}

/// The name of an interpolation as Keras writes it in configs.
pub fn interpolation_name(i: Interpolation) -> &'static str {
    match i {
        Interpolation::Bilinear => "bilinear",
        Interpolation::Nearest => "nearest",
    }
}

/// Keras's factor argument: a float `f` means `(-f, f)`, a pair is used as given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Factor(pub f32, pub f32);

impl From<f32> for Factor {
    fn from(f: f32) -> Self {
        Factor(-f.abs(), f.abs())
    }
}
impl From<(f32, f32)> for Factor {
    fn from((a, b): (f32, f32)) -> Self {
        Factor(a, b)
    }
}
impl From<f64> for Factor {
    fn from(f: f64) -> Self {
        Factor::from(f as f32)
    }
}
impl From<(f64, f64)> for Factor {
    fn from((a, b): (f64, f64)) -> Self {
        Factor(a as f32, b as f32)
    }
}
