//! [`Pipeline`]: random augmentation run by a dataset's background threads.

use super::color::ColorOp;
use super::ops::{compose, FlipMode, RandomOp, Sampled};
use super::Factor;
use crate::error::{Error, Result};
use crate::rng::Rng;
use rkeras_kernels::image::{affine_transform, Fill, ImageRef, Interpolation};

/// A sequence of random augmentations applied to each training image as it is loaded,
/// on the dataset's background threads (`dataset.augment(pipeline)`).
///
/// Every image gets its own draw, seeded by the dataset seed, the epoch and the image's
/// position, so the same seed gives the same images whatever the number of threads.
/// Consecutive rotation, zoom and translation steps with the same fill and interpolation
/// are merged into one resampling.
///
/// ```
/// use rkeras::preprocessing::Pipeline;
/// let p = Pipeline::parse("flip=horizontal,rotation=0.1,zoom=0.1,contrast=0.2")?;
/// assert_eq!(p.ops().len(), 4);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pipeline {
    ops: Vec<RandomOp>,
}

impl Pipeline {
    /// A pipeline of `ops`, applied in order.
    pub fn new(ops: Vec<RandomOp>) -> Self {
        Pipeline { ops }
    }
    /// The operations, in order.
    pub fn ops(&self) -> &[RandomOp] {
        &self.ops
    }
    /// True when there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Parses the CLI form `name=value,...` with names `flip` (horizontal, vertical,
    /// horizontal_and_vertical), `rotation`, `zoom`, `translation`, `contrast` and
    /// `brightness` (Keras factors; fill `reflect`, bilinear, value range 0..255), and the
    /// colour operations that suit any number of channels: `grayscale=P` (probability,
    /// default 0.5), `invert=F` (default 1), `sharpness=F`, `posterization=BITS`,
    /// `solarization=T` (threshold factor), `equalization`, `autocontrast` (as the Keras
    /// layers of those names), `shear` (both axes), and the probability factors of
    /// `perspective`, `erasing` and `gaussian_blur` (Keras factors and defaults).
    ///
    /// # Errors
    /// An unknown name or a value that is not a number, naming the item.
    pub fn parse(spec: &str) -> Result<Pipeline> {
        let mut ops = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item.split_once('=').unwrap_or((item, ""));
            // A finite number whose magnitude stays below `max` (Keras's factor ranges).
            let num_in = |max: f32, open: bool| -> Result<f32> {
                let v = value.trim().parse::<f32>().ok().filter(|v| v.is_finite());
                let Some(v) = v else {
                    return Err(Error::arg(
                        "augment",
                        "",
                        format!("\"{item}\": expected {name}=NUMBER, e.g. {name}=0.1"),
                    ));
                };
                let ok = if open { v.abs() < max } else { v.abs() <= max };
                if !ok {
                    return Err(Error::arg(
                        "augment",
                        "",
                        format!(
                            "\"{item}\": the factor must be {} {max} in magnitude",
                            if open { "below" } else { "at most" }
                        ),
                    ));
                }
                Ok(v)
            };
            let num = || num_in(1.0, false);
            // A probability or factor in [0, 1].
            let unit = || -> Result<f32> {
                let v = num()?;
                if v < 0.0 {
                    return Err(Error::arg(
                        "augment",
                        "",
                        format!("\"{item}\": the factor must be in [0, 1]"),
                    ));
                }
                Ok(v)
            };
            let geo = (Fill::Reflect, Interpolation::Bilinear);
            let op = match name.trim() {
                "flip" => RandomOp::Flip(match value.trim() {
                    "" | "horizontal" => FlipMode::Horizontal,
                    "vertical" => FlipMode::Vertical,
                    "horizontal_and_vertical" | "both" => FlipMode::HorizontalAndVertical,
                    other => {
                        return Err(Error::arg(
                            "augment",
                            "",
                            format!("flip mode \"{other}\" is not one of horizontal, vertical, horizontal_and_vertical"),
                        ))
                    }
                }),
                "rotation" => {
                    let f = Factor::from(num()?);
                    RandomOp::Rotation {
                        factor: (f.0, f.1),
                        fill: geo.0,
                        interpolation: geo.1,
                    }
                }
                "zoom" => {
                    // Keras: each bound in (-1, 1], so a symmetric factor stays below 1.
                    let f = Factor::from(num_in(1.0, true)?);
                    RandomOp::Zoom {
                        height: (f.0, f.1),
                        width: None,
                        fill: geo.0,
                        interpolation: geo.1,
                    }
                }
                "translation" => {
                    let f = Factor::from(num()?);
                    RandomOp::Translation {
                        height: (f.0, f.1),
                        width: (f.0, f.1),
                        fill: geo.0,
                        interpolation: geo.1,
                    }
                }
                "contrast" => {
                    let v = num()?;
                    if !(0.0..=1.0).contains(&v) {
                        return Err(Error::arg(
                            "augment",
                            "",
                            format!("contrast factor must be in [0, 1], received {v}"),
                        ));
                    }
                    // Keras stores a scalar contrast factor f as (0, f) (see RandomContrast).
                    RandomOp::Contrast {
                        factor: (0.0, v),
                        value_range: (0.0, 255.0),
                    }
                }
                "brightness" => {
                    let f = Factor::from(num()?);
                    RandomOp::Brightness {
                        factor: (f.0, f.1),
                        value_range: (0.0, 255.0),
                    }
                }
                "grayscale" => RandomOp::Color(ColorOp::Grayscale {
                    factor: if value.trim().is_empty() { 0.5 } else { unit()? },
                }),
                "invert" => RandomOp::Color(ColorOp::Invert {
                    factor: (0.0, if value.trim().is_empty() { 1.0 } else { unit()? }),
                    value_range: (0.0, 255.0),
                }),
                "sharpness" => RandomOp::Color(ColorOp::Sharpness {
                    factor: (0.0, unit()?),
                    value_range: (0.0, 255.0),
                }),
                "posterization" => {
                    let b = num_in(8.0, false)?;
                    if b < 1.0 {
                        return Err(Error::arg(
                            "augment",
                            "",
                            format!("\"{item}\": the bits must be in [1, 8]"),
                        ));
                    }
                    RandomOp::Color(ColorOp::Posterization {
                        bits: (1, b as u8),
                        value_range: (0.0, 255.0),
                    })
                }
                "solarization" => RandomOp::Color(ColorOp::Solarization {
                    addition: (0.0, 0.0),
                    threshold: (0.0, unit()?),
                    value_range: (0.0, 255.0),
                }),
                "equalization" => RandomOp::Color(ColorOp::Equalization {
                    bins: 256,
                    value_range: (0.0, 255.0),
                }),
                "autocontrast" => RandomOp::Color(ColorOp::AutoContrast {
                    value_range: (0.0, 255.0),
                }),
                "shear" => {
                    // Keras: each bound in [0, 1], a number f meaning (-f, f) on both axes.
                    let f = Factor::from(num()?);
                    RandomOp::Shear {
                        x: (f.0, f.1),
                        y: (f.0, f.1),
                        fill: geo.0,
                        interpolation: geo.1,
                    }
                }
                "perspective" | "erasing" | "gaussian_blur" => {
                    // The probability factor, as Keras's `(0, f)`, with Keras's defaults.
                    let v = num()?;
                    if !(0.0..=1.0).contains(&v) {
                        return Err(Error::arg(
                            "augment",
                            "",
                            format!("{name} factor must be in [0, 1], received {v}"),
                        ));
                    }
                    match name.trim() {
                        "perspective" => RandomOp::Perspective {
                            factor: (0.0, v),
                            scale: 1.0,
                            fill_value: 0.0,
                            interpolation: geo.1,
                        },
                        "erasing" => RandomOp::Erasing {
                            factor: (0.0, v),
                            scale: (0.02, 0.33),
                            fill: super::EraseFill::Noise,
                            value_range: (0.0, 255.0),
                        },
                        _ => RandomOp::GaussianBlur {
                            factor: (0.0, v),
                            kernel: (3, 3),
                            sigma: (0.0, 1.0),
                            value_range: (0.0, 255.0),
                        },
                    }
                }
                other => {
                    return Err(Error::arg(
                        "augment",
                        "",
                        format!("unknown augmentation \"{other}\"; known: flip, rotation, zoom, translation, contrast, brightness, shear, perspective, erasing, gaussian_blur, grayscale, invert, sharpness, posterization, solarization, equalization, autocontrast"),
                    ))
                }
            };
            ops.push(op);
        }
        Ok(Pipeline { ops })
    }

    /// Augments one image in place. `stream` identifies the image (epoch and position);
    /// `scratch` is reused between calls.
    pub fn apply_one(
        &self,
        img: &mut [f32],
        dims: [usize; 3],
        seed: u64,
        stream: u64,
        scratch: &mut Vec<f32>,
    ) {
        let [h, w, c] = dims;
        let mut rng = Rng::new(seed ^ 0xA06_5EED).fork(stream);
        scratch.resize(img.len(), 0.0);
        // Draw every parameter first, in order, so merging never changes the draws.
        let drawn: Vec<Sampled> = self
            .ops
            .iter()
            .map(|op| op.sample(&mut rng, h, w))
            .collect();
        let mut i = 0;
        while i < self.ops.len() {
            // A run of geometric steps (and flips next to them) that resample the same way
            // becomes one projective map and one resampling pass.
            let mut j = i;
            let mut resampling = None;
            while let Some(op) = self.ops.get(j) {
                match op.resampling() {
                    Some(r) if resampling.is_none() || resampling == Some(r) => {
                        resampling = Some(r)
                    }
                    None if matches!(op, RandomOp::Flip(_)) => {}
                    _ => break,
                }
                j += 1;
            }
            if let Some((fill, interp)) = resampling {
                let mut t = IDENTITY;
                for s in &drawn[i..j] {
                    let m = match *s {
                        Sampled::Affine(m) => m,
                        Sampled::Flip(fh, fv) => flip_matrix(fh, fv, h, w),
                        _ => IDENTITY,
                    };
                    t = compose(&t, &m);
                }
                affine_transform(ImageRef::new(img, h, w, c), &t, interp, fill, scratch);
                img.copy_from_slice(scratch);
                i = j;
                continue;
            }
            let op = &self.ops[i];
            if drawn[i] != Sampled::Flip(false, false) {
                op.apply(&drawn[i], img, scratch, dims);
                img.copy_from_slice(scratch);
            }
            i += 1;
        }
    }
}

const IDENTITY: [f32; 8] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];

/// A flip as a projective map (output pixel to source pixel).
fn flip_matrix(fh: bool, fv: bool, h: usize, w: usize) -> [f32; 8] {
    let (a0, a2) = if fh {
        (-1.0, w as f32 - 1.0)
    } else {
        (1.0, 0.0)
    };
    let (b1, b2) = if fv {
        (-1.0, h as f32 - 1.0)
    } else {
        (1.0, 0.0)
    };
    [a0, 0.0, a2, 0.0, b1, b2, 0.0, 0.0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_images_other_seed_differs() {
        let p =
            Pipeline::parse("flip=horizontal,rotation=0.2,zoom=0.2,contrast=0.3").expect("parse");
        let img: Vec<f32> = (0..8 * 8 * 3).map(|v| (v % 251) as f32).collect();
        let run = |seed: u64, stream: u64| {
            let mut x = img.clone();
            p.apply_one(&mut x, [8, 8, 3], seed, stream, &mut Vec::new());
            x
        };
        assert_eq!(run(1, 5), run(1, 5));
        assert_ne!(run(1, 5), run(2, 5));
        assert_ne!(run(1, 5), run(1, 6));
    }

    #[test]
    fn colour_operations_parse_and_apply() {
        // posterization=8 draws the bits kept from [1, 8), as Keras's factor 8 does.
        assert_eq!(
            Pipeline::parse("posterization=8").expect("parse").ops()[0],
            RandomOp::Color(ColorOp::Posterization {
                bits: (1, 8),
                value_range: (0.0, 255.0)
            })
        );
        let p = Pipeline::parse("grayscale=1,invert=1").expect("parse");
        let mut img = vec![10.0f32, 20.0, 30.0];
        let mut scratch = Vec::new();
        p.apply_one(&mut img, [1, 1, 3], 1, 0, &mut scratch);
        // Grayscale (always), then inverted with probability U(0, 1): one of two images.
        let g: f32 = 0.2989 * 10.0 + 0.587 * 20.0 + 0.114 * 30.0;
        let gray = img.iter().all(|v| (v - g).abs() < 1e-3);
        let inverted = img.iter().all(|v| (v - (255.0 - g)).abs() < 1e-3);
        assert!(gray || inverted, "{img:?}");
        assert!(Pipeline::parse("posterization=0").is_err());
        assert!(Pipeline::parse("sharpness=-0.5").is_err());
        assert!(Pipeline::parse("equalization,autocontrast,solarization=0.5").is_ok());
    }

    #[test]
    fn the_new_operations_parse_and_run() {
        let p = Pipeline::parse("shear=0.2,rotation=0.1,perspective=1,erasing=1,gaussian_blur=1")
            .expect("parse");
        assert_eq!(p.ops().len(), 5);
        let img: Vec<f32> = (0..8 * 8 * 3).map(|v| (v % 251) as f32).collect();
        let mut x = img.clone();
        p.apply_one(&mut x, [8, 8, 3], 1, 2, &mut Vec::new());
        assert_ne!(x, img);
        assert!(x.iter().all(|v| v.is_finite() && (0.0..=255.0).contains(v)));
    }

    #[test]
    fn parse_rejects_unknown_names_and_bad_numbers() {
        assert!(Pipeline::parse("blur=3").is_err());
        assert!(Pipeline::parse("erasing=1.5").is_err());
        assert!(Pipeline::parse("shear=-2").is_err());
        assert!(Pipeline::parse("rotation=abc").is_err());
        assert!(Pipeline::parse("flip=sideways").is_err());
        for bad in [
            "zoom=-1.5",
            "zoom=1",
            "rotation=nan",
            "translation=3",
            "brightness=inf",
        ] {
            assert!(Pipeline::parse(bad).is_err(), "{bad}");
        }
        assert!(Pipeline::parse("").expect("empty").is_empty());
    }
}
