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
    /// Keras's shear about the top-left corner: output `(x, y)` reads the source at
    /// `(x + sx y, sy x + y)`, with `sx = U(x)`, `sy = U(y)`, both negated on one coin.
    Shear {
        /// Horizontal bounds.
        x: (f32, f32),
        /// Vertical bounds.
        y: (f32, f32),
        /// Outside the image.
        fill: Fill,
        /// Resampling.
        interpolation: Interpolation,
    },
    /// Keras's perspective: with probability `U(factor)`, corners `(0, 0)`, `(w-1, 0)`,
    /// `(0, h-1)`, `(w-1, h-1)` move to `p + p * U(-scale/2, scale/2)` (per coordinate; the
    /// origin corner stays) and the image follows the homography; constant fill.
    Perspective {
        /// Bounds of the probability.
        factor: (f32, f32),
        /// Relative corner displacement.
        scale: f32,
        /// The constant outside the image.
        fill_value: f32,
        /// Resampling.
        interpolation: Interpolation,
    },
    /// Keras's random erasing: with probability `U(factor)`, a rectangle of
    /// `sqrt(U(scale)) * w` by `sqrt(U(scale)) * h` pixels at a uniform position is filled.
    Erasing {
        /// Bounds of the probability.
        factor: (f32, f32),
        /// Bounds of the squared side fractions.
        scale: (f32, f32),
        /// What fills the rectangle (clipped to the value range).
        fill: EraseFill,
        /// Value range of the images.
        value_range: (f32, f32),
    },
    /// Keras's Gaussian blur: with probability `U(factor)`, a `kx x ky` Gaussian kernel of
    /// `sigma_x, sigma_y = U(sigma) + 1e-6` (zero padding, "same" size); every training image
    /// is then clipped to the value range.
    GaussianBlur {
        /// Bounds of the probability.
        factor: (f32, f32),
        /// Kernel width and height (odd).
        kernel: (usize, usize),
        /// Bounds of the standard deviations.
        sigma: (f32, f32),
        /// Clip range.
        value_range: (f32, f32),
    },
}

/// What [`RandomOp::Erasing`] writes into the erased rectangle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EraseFill {
    /// Keras's `fill_value=None`: standard normal noise times the value range's upper bound.
    Noise,
    /// One value.
    Value(f32),
    /// One value per channel (three channels).
    Channels([f32; 3]),
}

/// The largest Gaussian kernel side [`RandomOp::GaussianBlur`] takes.
pub const MAX_BLUR_KERNEL: usize = 129;

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
    /// The erased rectangle, `x0 <= x < x1`, `y0 <= y < y1` (pixel indices), and the seed of
    /// its noise.
    Erase {
        /// Left bound.
        x0: f32,
        /// Right bound (excluded).
        x1: f32,
        /// Top bound.
        y0: f32,
        /// Bottom bound (excluded).
        y1: f32,
        /// Seed of the noise fill.
        noise: u64,
    },
    /// Whether to blur, and the horizontal and vertical standard deviations.
    Blur(bool, f32, f32),
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
    /// True for rotation, zoom, translation, shear and perspective (one resampling each).
    pub fn is_geometric(&self) -> bool {
        self.resampling().is_some()
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
            }
            | RandomOp::Shear {
                fill,
                interpolation,
                ..
            } => Some((fill, interpolation)),
            RandomOp::Perspective {
                fill_value,
                interpolation,
                ..
            } => Some((Fill::Constant(fill_value), interpolation)),
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
            RandomOp::Shear { x, y, .. } => {
                // Keras: the sign coin first, then the vertical and the horizontal factor.
                let sign = if rng.uniform() > 0.5 { -1.0 } else { 1.0 };
                let sy = uniform(rng, y) * sign;
                let sx = uniform(rng, x) * sign;
                Sampled::Affine([1.0, sx, 0.0, sy, 1.0, 0.0, 0.0, 0.0])
            }
            RandomOp::Perspective { factor, scale, .. } => {
                let apply = coin(rng, factor);
                let half = 0.5 * scale;
                let mut shift = [0.0f32; 8];
                for v in &mut shift {
                    *v = uniform(rng, (-half, half));
                }
                match perspective_matrix(&shift, h, w) {
                    Some(t) if apply => Sampled::Affine(t),
                    _ => Sampled::Flip(false, false),
                }
            }
            RandomOp::Erasing { factor, scale, .. } => {
                let (mx, my) = (uniform(rng, scale).sqrt(), uniform(rng, scale).sqrt());
                let bounds = |rng: &mut Rng, len: usize, ratio: f32| {
                    let side = ratio * len as f32;
                    let start = rng.uniform() * (len as f32 - side);
                    (start, start + side)
                };
                let (x0, x1) = bounds(rng, w, mx);
                let (y0, y1) = bounds(rng, h, my);
                let apply = coin(rng, factor);
                let noise = rng.next_u64();
                if apply {
                    Sampled::Erase {
                        x0,
                        x1,
                        y0,
                        y1,
                        noise,
                    }
                } else {
                    Sampled::Erase {
                        x0: 0.0,
                        x1: 0.0,
                        y0: 0.0,
                        y1: 0.0,
                        noise,
                    }
                }
            }
            RandomOp::GaussianBlur { factor, sigma, .. } => {
                let apply = coin(rng, factor);
                let sx = uniform(rng, sigma) + 1e-6;
                let sy = uniform(rng, sigma) + 1e-6;
                Sampled::Blur(apply, sx, sy)
            }
        }
    }

    /// Makes the draws of one batch share what Keras draws once per batch: the blur's two
    /// standard deviations (`lead`'s: the draw of the batch's first image).
    pub fn share_batch(&self, lead: &Sampled, sampled: &mut [Sampled]) {
        if let (RandomOp::GaussianBlur { .. }, &Sampled::Blur(_, sx, sy)) = (self, lead) {
            for s in sampled.iter_mut() {
                if let Sampled::Blur(on, ..) = *s {
                    *s = Sampled::Blur(on, sx, sy);
                }
            }
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
            (
                Sampled::Erase {
                    x0,
                    x1,
                    y0,
                    y1,
                    noise,
                },
                RandomOp::Erasing {
                    fill, value_range, ..
                },
            ) => {
                y.copy_from_slice(x);
                let (lo, hi) = *value_range;
                let mut rng = Rng::new(noise);
                for_each_erased([h, w, c], (x0, x1, y0, y1), |i, k| {
                    let v = match *fill {
                        EraseFill::Noise => rng.normal() * hi,
                        EraseFill::Value(v) => v,
                        EraseFill::Channels(vs) => vs[k % 3],
                    };
                    y[i] = v.clamp(lo, hi);
                });
            }
            (
                Sampled::Blur(on, sx, sy),
                RandomOp::GaussianBlur {
                    kernel,
                    value_range,
                    ..
                },
            ) => {
                if on {
                    let (kx, ky) = (gaussian_kernel(kernel.0, sx), gaussian_kernel(kernel.1, sy));
                    blur(x, y, [h, w, c], &kx[..kernel.0], &ky[..kernel.1]);
                } else {
                    y.copy_from_slice(x);
                }
                for v in y.iter_mut() {
                    *v = v.clamp(value_range.0, value_range.1);
                }
            }
            _ => y.copy_from_slice(x),
        }
    }

    /// Writes `dx`, the gradient with respect to `x`, from `dy` (overwritten freely) for
    /// the same draw.
    pub fn backward(
        &self,
        s: &Sampled,
        x: &[f32],
        dy: &mut [f32],
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
                    for (i, (&xi, &g)) in x.iter().zip(dy.iter()).enumerate().skip(ch).step_by(c) {
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
                for ((o, &g), &xi) in dx.iter_mut().zip(dy.iter()).zip(x) {
                    let v = xi + d;
                    *o = if v > value_range.0 && v < value_range.1 {
                        g
                    } else {
                        0.0
                    };
                }
            }
            (Sampled::Color(d), RandomOp::Color(op)) => op.backward(&d, x, dy, dx, [h, w, c]),
            (Sampled::Erase { x0, x1, y0, y1, .. }, RandomOp::Erasing { .. }) => {
                dx.copy_from_slice(dy);
                for_each_erased([h, w, c], (x0, x1, y0, y1), |i, _| dx[i] = 0.0);
            }
            (
                Sampled::Blur(on, sx, sy),
                RandomOp::GaussianBlur {
                    kernel,
                    value_range,
                    ..
                },
            ) => {
                let (kx, ky) = (gaussian_kernel(kernel.0, sx), gaussian_kernel(kernel.1, sy));
                let (kx, ky) = (&kx[..kernel.0], &ky[..kernel.1]);
                // The clip passes gradient where the output was inside the range; the output
                // is recomputed into `dx`, then the masked `dy` goes through the transposed
                // blur (the kernel is symmetric, so the same blur).
                if on {
                    blur(x, dx, [h, w, c], kx, ky);
                } else {
                    dx.copy_from_slice(x);
                }
                for (g, &v) in dy.iter_mut().zip(dx.iter()) {
                    if !(v > value_range.0 && v < value_range.1) {
                        *g = 0.0;
                    }
                }
                if on {
                    blur(dy, dx, [h, w, c], kx, ky);
                } else {
                    dx.copy_from_slice(dy);
                }
            }
            _ => dx.copy_from_slice(dy),
        }
    }
}

/// A coin that lands true with probability `U(factor)` (Keras: threshold `U(0, 1)` below
/// a probability `U(lower, upper)`).
fn coin(rng: &mut Rng, factor: (f32, f32)) -> bool {
    let p = uniform(rng, factor);
    rng.uniform() < p
}

/// Keras's `compute_homography_matrix` for the corners of an `h x w` image moved by
/// `p + p * shift` (`shift` per corner, x then y): the map from output to source pixels.
/// `None` when the system is singular (an image one pixel wide or high).
pub(crate) fn perspective_matrix(shift: &[f32; 8], h: usize, w: usize) -> Option<[f32; 8]> {
    let (wm, hm) = (w as f64 - 1.0, h as f64 - 1.0);
    let start = [(0.0, 0.0), (wm, 0.0), (0.0, hm), (wm, hm)];
    // Rows 0..4 for x, 4..8 for y (Keras's order); the last column is the target.
    let mut a = [[0.0f64; 9]; 8];
    for (i, &(sx, sy)) in start.iter().enumerate() {
        let ex = sx + sx * f64::from(shift[2 * i]);
        let ey = sy + sy * f64::from(shift[2 * i + 1]);
        a[i] = [ex, ey, 1.0, 0.0, 0.0, 0.0, -sx * ex, -sx * ey, sx];
        a[4 + i] = [0.0, 0.0, 0.0, ex, ey, 1.0, -sy * ex, -sy * ey, sy];
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..8 {
        let piv = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-9 {
            return None;
        }
        a.swap(col, piv);
        for r in 0..8 {
            if r != col {
                let f = a[r][col] / a[col][col];
                if f != 0.0 {
                    let pivot_row = a[col];
                    for (v, p) in a[r][col..].iter_mut().zip(&pivot_row[col..]) {
                        *v -= f * p;
                    }
                }
            }
        }
    }
    let mut t = [0.0f32; 8];
    for (i, v) in t.iter_mut().enumerate() {
        *v = (a[i][8] / a[i][i]) as f32;
    }
    t.iter().all(|v| v.is_finite()).then_some(t)
}

/// Calls `f(offset, channel)` for every value of the erased rectangle, row by row. Keras's
/// mask: pixel `(x, y)` is erased when `x0 <= x < x1` and `y0 <= y < y1`.
fn for_each_erased(
    [h, w, c]: [usize; 3],
    (x0, x1, y0, y1): (f32, f32, f32, f32),
    mut f: impl FnMut(usize, usize),
) {
    for r in (0..h).filter(|&r| (r as f32) >= y0 && (r as f32) < y1) {
        for col in (0..w).filter(|&col| (col as f32) >= x0 && (col as f32) < x1) {
            for k in 0..c {
                f((r * w + col) * c + k, k);
            }
        }
    }
}

/// Keras's normalized 1-D Gaussian of `size` taps about the centre (the first `size`
/// values of the result).
pub(crate) fn gaussian_kernel(size: usize, sigma: f32) -> [f32; MAX_BLUR_KERNEL] {
    let mut k = [0.0f32; MAX_BLUR_KERNEL];
    let size = size.min(MAX_BLUR_KERNEL);
    let mid = (size as f32 - 1.0) / 2.0;
    for (i, v) in k[..size].iter_mut().enumerate() {
        let d = (i as f32 - mid) / sigma;
        *v = (-0.5 * d * d).exp();
    }
    let sum: f32 = k[..size].iter().sum();
    for v in &mut k[..size] {
        *v /= sum;
    }
    k
}

/// A "same" 2-D correlation of each channel with `ky` (rows) times `kx` (columns), zero
/// padded (Keras's depthwise `conv_general_dilated`, padding `"SAME"`).
fn blur(x: &[f32], y: &mut [f32], [h, w, c]: [usize; 3], kx: &[f32], ky: &[f32]) {
    let (rx, ry) = ((kx.len() / 2) as isize, (ky.len() / 2) as isize);
    for r in 0..h as isize {
        for col in 0..w as isize {
            let o = (r as usize * w + col as usize) * c;
            let out = &mut y[o..o + c];
            out.fill(0.0);
            for (a, &wy) in ky.iter().enumerate() {
                let sr = r + a as isize - ry;
                if sr < 0 || sr >= h as isize {
                    continue;
                }
                for (b, &wx) in kx.iter().enumerate() {
                    let sc = col + b as isize - rx;
                    if sc < 0 || sc >= w as isize {
                        continue;
                    }
                    let s = (sr as usize * w + sc as usize) * c;
                    let wgt = wy * wx;
                    for (v, &xi) in out.iter_mut().zip(&x[s..s + c]) {
                        *v += wgt * xi;
                    }
                }
            }
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
