//! The random operations: how each draws its parameters and transforms one HWC image.

use crate::rng::Rng;
use rkeras_kernels::image::{
    affine_transform, affine_transform_backward, Fill, ImageRef, Interpolation,
};

/// Which flips `RandomFlip` may apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlipMode {
    /// Left-right.
    Horizontal,
    /// Up-down.
    Vertical,
    /// Both at once (one coin: unchanged or turned by 180 degrees).
    HorizontalAndVertical,
}

impl FlipMode {
    /// Keras's name for the mode.
    pub fn name(self) -> &'static str {
        match self {
            FlipMode::Horizontal => "horizontal",
            FlipMode::Vertical => "vertical",
            FlipMode::HorizontalAndVertical => "horizontal_and_vertical",
        }
    }
}

/// One random augmentation with its parameters (Keras's semantics and conventions).
#[derive(Clone, Debug, PartialEq)]
pub enum RandomOp {
    /// Flip with probability 1/2.
    Flip(FlipMode),
    /// Rotation by `U(lower, upper)` of a full turn, counter-clockwise positive, about the
    /// image centre.
    Rotation {
        /// Bounds, fractions of a turn.
        factor: (f32, f32),
        /// Outside the image.
        fill: Fill,
        /// Resampling.
        interpolation: Interpolation,
    },
    /// Zoom by `1 + U(lower, upper)` (positive zooms out), about the centre.
    Zoom {
        /// Height bounds.
        height: (f32, f32),
        /// Width bounds; `None` reuses the height zoom (keeps the aspect ratio).
        width: Option<(f32, f32)>,
        /// Outside the image.
        fill: Fill,
        /// Resampling.
        interpolation: Interpolation,
    },
    /// Shift by `U(lower, upper)` of the height and width (negative: up / left).
    Translation {
        /// Vertical bounds, fractions of the height.
        height: (f32, f32),
        /// Horizontal bounds, fractions of the width.
        width: (f32, f32),
        /// Outside the image.
        fill: Fill,
        /// Resampling.
        interpolation: Interpolation,
    },
    /// `(x - mean) * k + mean` per channel with `k = U(1 - lower, 1 + upper)`, clipped.
    Contrast {
        /// `(lower, upper)` as Keras stores them.
        factor: (f32, f32),
        /// Clip range.
        value_range: (f32, f32),
    },
    /// `x + U(lower, upper) * (max - min)`, clipped to the value range.
    Brightness {
        /// Bounds, fractions of the value range.
        factor: (f32, f32),
        /// Clip range.
        value_range: (f32, f32),
    },
    /// A colour operation (grayscale, hue, ..., equalization).
    Color(super::color::ColorOp),
}

/// The parameters drawn for one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampled {
    /// Flip left-right, flip up-down.
    Flip(bool, bool),
    /// A projective transform (output pixel to source pixel).
    Affine([f32; 8]),
    /// Contrast factor.
    Contrast(f32),
    /// Brightness offset.
    Brightness(f32),
    /// A colour operation's draw.
    Color(super::color::ColorDraw),
}

fn uniform(rng: &mut Rng, (lo, hi): (f32, f32)) -> f32 {
    if lo == hi {
        lo
    } else {
        rng.uniform_range(lo, hi)
    }
}

/// Keras's rotation matrix about the centre, `angle` in degrees.
pub(crate) fn rotation_matrix(angle_deg: f32, h: usize, w: usize) -> [f32; 8] {
    // TensorFlow: radians in f32, then correctly rounded cos and sin.
    let a = angle_deg * (std::f64::consts::PI / 180.0) as f32;
    let (sin, cos) = (f64::from(a).sin() as f32, f64::from(a).cos() as f32);
    let cx = 0.5 * (w as f32 - 1.0);
    let cy = 0.5 * (h as f32 - 1.0);
    let (a0, a1) = (cos, -sin);
    let (b0, b1) = (sin, cos);
    [
        a0,
        a1,
        cx - cx * a0 - cy * a1,
        b0,
        b1,
        cy - cx * b0 - cy * b1,
        0.0,
        0.0,
    ]
}

/// Keras's zoom matrix about the centre.
pub(crate) fn zoom_matrix(zx: f32, zy: f32, h: usize, w: usize) -> [f32; 8] {
    let x_off = ((w as f32 - 1.0) / 2.0) * (1.0 - zx);
    let y_off = ((h as f32 - 1.0) / 2.0) * (1.0 - zy);
    [zx, 0.0, x_off, 0.0, zy, y_off, 0.0, 0.0]
}

/// Composes two output-to-source maps: applying `first`, then `second`, to an image reads
/// the source at `first(second(p))`.
pub(crate) fn compose(first: &[f32; 8], second: &[f32; 8]) -> [f32; 8] {
    let m = |t: &[f32; 8]| [[t[0], t[1], t[2]], [t[3], t[4], t[5]], [t[6], t[7], 1.0]];
    let (a, b) = (m(first), m(second));
    let mut c = [[0.0f32; 3]; 3];
    for (i, row) in c.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    let s = c[2][2];
    [
        c[0][0] / s,
        c[0][1] / s,
        c[0][2] / s,
        c[1][0] / s,
        c[1][1] / s,
        c[1][2] / s,
        c[2][0] / s,
        c[2][1] / s,
    ]
}

impl RandomOp {
    /// True for rotation, zoom and translation (one resampling each).
    pub fn is_geometric(&self) -> bool {
        matches!(
            self,
            RandomOp::Rotation { .. } | RandomOp::Zoom { .. } | RandomOp::Translation { .. }
        )
    }

    /// Fill and interpolation of a geometric operation.
    pub fn resampling(&self) -> Option<(Fill, Interpolation)> {
        match *self {
            RandomOp::Rotation {
                fill,
                interpolation,
                ..
            }
            | RandomOp::Zoom {
                fill,
                interpolation,
                ..
            }
            | RandomOp::Translation {
                fill,
                interpolation,
                ..
            } => Some((fill, interpolation)),
            _ => None,
        }
    }

    /// Draws this operation's parameters for one `h x w` image.
    pub fn sample(&self, rng: &mut Rng, h: usize, w: usize) -> Sampled {
        match *self {
            RandomOp::Flip(mode) => {
                let coin = rng.uniform() <= 0.5;
                match mode {
                    FlipMode::Horizontal => Sampled::Flip(coin, false),
                    FlipMode::Vertical => Sampled::Flip(false, coin),
                    FlipMode::HorizontalAndVertical => Sampled::Flip(coin, coin),
                }
            }
            RandomOp::Rotation { factor, .. } => {
                let angle = uniform(rng, (factor.0 * 360.0, factor.1 * 360.0));
                Sampled::Affine(rotation_matrix(angle, h, w))
            }
            RandomOp::Zoom { height, width, .. } => {
                let zy = 1.0 + uniform(rng, height);
                let zx = match width {
                    Some(wf) => 1.0 + uniform(rng, wf),
                    None => zy,
                };
                Sampled::Affine(zoom_matrix(zx, zy, h, w))
            }
            RandomOp::Translation { height, width, .. } => {
                let dy = uniform(rng, height) * h as f32;
                let dx = uniform(rng, width) * w as f32;
                Sampled::Affine([1.0, 0.0, -dx, 0.0, 1.0, -dy, 0.0, 0.0])
            }
            RandomOp::Contrast { factor, .. } => {
                Sampled::Contrast(uniform(rng, (1.0 - factor.0, 1.0 + factor.1)))
            }
            RandomOp::Brightness {
                factor,
                value_range,
            } => Sampled::Brightness(uniform(rng, factor) * (value_range.1 - value_range.0)),
            RandomOp::Color(op) => Sampled::Color(op.sample(rng)),
        }
    }

    /// True when Keras applies the operation in inference too (`AutoContrast`).
    pub fn always(&self) -> bool {
        matches!(self, RandomOp::Color(c) if c.always())
    }

    /// Applies drawn parameters to one image `x` (`[h, w, c]`), writing `y`.
    pub fn apply(&self, s: &Sampled, x: &[f32], y: &mut [f32], [h, w, c]: [usize; 3]) {
        match (*s, self) {
            (Sampled::Flip(fh, fv), _) => flip(x, y, [h, w, c], fh, fv),
            (Sampled::Affine(t), op) => {
                let (fill, interp) = op
                    .resampling()
                    .unwrap_or((Fill::Reflect, Interpolation::Bilinear));
                affine_transform(ImageRef::new(x, h, w, c), &t, interp, fill, y);
            }
            (Sampled::Contrast(k), RandomOp::Contrast { value_range, .. }) => {
                let hw = (h * w) as f32;
                for ch in 0..c {
                    let mean = x.iter().skip(ch).step_by(c).sum::<f32>() / hw;
                    for (yo, xi) in y
                        .iter_mut()
                        .skip(ch)
                        .step_by(c)
                        .zip(x.iter().skip(ch).step_by(c))
                    {
                        *yo = ((xi - mean) * k + mean).clamp(value_range.0, value_range.1);
                    }
                }
            }
            (Sampled::Brightness(d), RandomOp::Brightness { value_range, .. }) => {
                for (yo, xi) in y.iter_mut().zip(x) {
                    *yo = (xi + d).clamp(value_range.0, value_range.1);
                }
            }
            (Sampled::Color(d), RandomOp::Color(op)) => op.apply(&d, x, y, [h, w, c]),
            _ => y.copy_from_slice(x),
        }
    }

    /// Writes `dx`, the gradient with respect to `x`, from `dy` for the same draw.
    pub fn backward(
        &self,
        s: &Sampled,
        x: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        [h, w, c]: [usize; 3],
    ) {
        match (*s, self) {
            (Sampled::Flip(fh, fv), _) => flip(dy, dx, [h, w, c], fh, fv),
            (Sampled::Affine(t), op) => {
                let (fill, interp) = op
                    .resampling()
                    .unwrap_or((Fill::Reflect, Interpolation::Bilinear));
                dx.fill(0.0);
                affine_transform_backward(dy, [h, w, c], &t, interp, fill, dx);
            }
            (Sampled::Contrast(k), RandomOp::Contrast { value_range, .. }) => {
                let hw = (h * w) as f32;
                for ch in 0..c {
                    let mean = x.iter().skip(ch).step_by(c).sum::<f32>() / hw;
                    // Only unclipped outputs pass gradient; each also depends on the mean.
                    let mut through = 0.0f32;
                    for (i, (&xi, &g)) in x.iter().zip(dy).enumerate().skip(ch).step_by(c) {
                        let v = (xi - mean) * k + mean;
                        let pass = v > value_range.0 && v < value_range.1;
                        let g = if pass { g } else { 0.0 };
                        dx[i] = k * g;
                        through += g;
                    }
                    let share = (1.0 - k) * through / hw;
                    for v in dx.iter_mut().skip(ch).step_by(c) {
                        *v += share;
                    }
                }
            }
            (Sampled::Brightness(d), RandomOp::Brightness { value_range, .. }) => {
                for ((o, &g), &xi) in dx.iter_mut().zip(dy).zip(x) {
                    let v = xi + d;
                    *o = if v > value_range.0 && v < value_range.1 {
                        g
                    } else {
                        0.0
                    };
                }
            }
            (Sampled::Color(d), RandomOp::Color(op)) => op.backward(&d, x, dy, dx, [h, w, c]),
            _ => dx.copy_from_slice(dy),
        }
    }
}

/// Copies `x` to `y`, mirrored left-right and/or up-down.
fn flip(x: &[f32], y: &mut [f32], [h, w, c]: [usize; 3], fh: bool, fv: bool) {
    for r in 0..h {
        let sr = if fv { h - 1 - r } else { r };
        for col in 0..w {
            let sc = if fh { w - 1 - col } else { col };
            let (d, s) = ((r * w + col) * c, (sr * w + sc) * c);
            y[d..d + c].copy_from_slice(&x[s..s + c]);
        }
    }
}
