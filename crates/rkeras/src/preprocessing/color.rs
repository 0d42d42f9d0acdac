//! The colour augmentations of Keras 3 (`RandomGrayscale`, `RandomHue`, `RandomSaturation`,
//! `RandomColorJitter`, `RandomColorDegeneration`, `RandomSharpness`, `RandomInvert`,
//! `RandomPosterization`, `Solarization`, `AutoContrast`, `Equalization`): what each draws
//! per image and how it transforms one HWC image, with Keras's formulas (JAX backend) and
//! quirks, and the gradient of the same draw with respect to the image.

use super::ops::{RandomOp, Sampled};
use crate::rng::Rng;

/// Keras's `rgb_to_grayscale` weights.
const GRAY: [f32; 3] = [0.2989, 0.5870, 0.1140];

/// One colour operation with its parameters. Ranges are `(lower, upper)` as Keras stores
/// them after parsing its `factor` argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColorOp {
    /// Grayscale with probability `factor`.
    Grayscale {
        /// Probability.
        factor: f32,
    },
    /// Hue shifted by `±U(lower, upper) / 2` of a turn.
    Hue {
        /// Bounds.
        factor: (f32, f32),
        /// Pixel range.
        value_range: (f32, f32),
    },
    /// Saturation scaled by `f / (1 - f + eps)`, `f = U(lower, upper)`.
    Saturation {
        /// Bounds.
        factor: (f32, f32),
        /// Keras clips the scaled saturation to this range.
        value_range: (f32, f32),
    },
    /// `x + f (gray(x) - x)`, `f = U(lower, upper)`, clipped.
    Degeneration {
        /// Bounds.
        factor: (f32, f32),
        /// Clip range.
        value_range: (f32, f32),
    },
    /// `x + (1 - 2f)(smooth(x) - x)`, `f = U(lower, upper)`, clipped.
    Sharpness {
        /// Bounds.
        factor: (f32, f32),
        /// Clip range.
        value_range: (f32, f32),
    },
    /// `upper - x` with probability `U(lower, upper)` of the factor range.
    Invert {
        /// Bounds of the probability.
        factor: (f32, f32),
        /// Pixel range.
        value_range: (f32, f32),
    },
    /// Keeps `bits` bits of each 8-bit value, `bits` in `[lower, upper)`.
    Posterization {
        /// Bounds of the bits.
        bits: (u8, u8),
        /// Pixel range.
        value_range: (f32, f32),
    },
    /// `r = clip(x + a, 0, 255)`, then `r < t ? r : 255 - r` (on the 0-255 scale).
    Solarization {
        /// Bounds of the addition, as Keras draws it: `U(lower, upper * 255)`.
        addition: (f32, f32),
        /// Bounds of the threshold, `U(lower, upper * 255)`.
        threshold: (f32, f32),
        /// Pixel range.
        value_range: (f32, f32),
    },
    /// Each channel stretched to the full range (also in inference, as Keras).
    AutoContrast {
        /// Pixel range.
        value_range: (f32, f32),
    },
    /// Each channel's histogram equalized over `bins` bins.
    Equalization {
        /// Histogram bins.
        bins: usize,
        /// Pixel range.
        value_range: (f32, f32),
    },
    /// Brightness, contrast, saturation, hue in that order, each when given.
    Jitter {
        /// `RandomBrightness` bounds.
        brightness: Option<(f32, f32)>,
        /// `RandomContrast` bounds (as stored: a scalar `f` is `(0, f)`).
        contrast: Option<(f32, f32)>,
        /// `RandomSaturation` bounds.
        saturation: Option<(f32, f32)>,
        /// `RandomHue` bounds.
        hue: Option<(f32, f32)>,
        /// Pixel range.
        value_range: (f32, f32),
    },
}

/// What a colour operation drew for one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColorDraw {
    /// Applied or not (grayscale, invert).
    Apply(bool),
    /// One amount (hue shift, saturation factor, degeneration, sharpness factor).
    Amount(f32),
    /// Bits kept.
    Bits(u8),
    /// Solarization addition and threshold.
    Solarize(f32, f32),
    /// Nothing drawn (auto-contrast, equalization).
    Fixed,
    /// Jitter: brightness offset, contrast factor, saturation factor, hue shift.
    Jitter([f32; 4]),
}

fn uniform(rng: &mut Rng, (lo, hi): (f32, f32)) -> f32 {
    if lo == hi {
        lo
    } else {
        rng.uniform_range(lo, hi)
    }
}

fn saturation_factor(rng: &mut Rng, f: (f32, f32)) -> f32 {
    let f = uniform(rng, f);
    f / (1.0 - f + crate::losses::EPSILON)
}

fn hue_shift(rng: &mut Rng, f: (f32, f32)) -> f32 {
    let sign = if rng.uniform() > 0.5 { -1.0 } else { 1.0 };
    sign * uniform(rng, f) * 0.5
}

/// Keras's `_transform_value_range` of one value.
fn to_range(v: f32, (a0, a1): (f32, f32), (b0, b1): (f32, f32)) -> f32 {
    if a0 == b0 && a1 == b1 {
        return v;
    }
    (v - a0) / (a1 - a0) * (b1 - b0) + b0
}

/// Keras's (dm_pix's) RGB to HSV.
fn rgb_to_hsv(p: [f32; 3]) -> [f32; 3] {
    let eps = f32::EPSILON;
    let [r, g, b] = p.map(|v| if v.abs() < eps { 0.0 } else { v });
    let value = r.max(g).max(b);
    let minimum = r.min(g).min(b);
    let range = value - minimum;
    let safe_value = if value > 0.0 { value } else { 1.0 };
    let safe_range = if range > 0.0 { range } else { 1.0 };
    let saturation = if value > 0.0 { range / safe_value } else { 0.0 };
    let norm = 1.0 / (6.0 * safe_range);
    let mut hue = if value == g {
        norm * (b - r) + 2.0 / 6.0
    } else {
        norm * (r - g) + 4.0 / 6.0
    };
    if value == r {
        hue = norm * (g - b);
    }
    let neg = if hue < 0.0 { 1.0 } else { 0.0 };
    hue = if range > 0.0 { hue } else { 0.0 } + neg;
    [hue, saturation, value]
}

/// Keras's HSV to RGB.
fn hsv_to_rgb([h, s, v]: [f32; 3]) -> [f32; 3] {
    let dh = h.rem_euclid(1.0) * 6.0;
    let dr = ((dh - 3.0).abs() - 1.0).clamp(0.0, 1.0);
    let dg = (2.0 - (dh - 2.0).abs()).clamp(0.0, 1.0);
    let db = (2.0 - (dh - 4.0).abs()).clamp(0.0, 1.0);
    let one_minus_s = 1.0 - s;
    [
        v * (one_minus_s + s * dr),
        v * (one_minus_s + s * dg),
        v * (one_minus_s + s * db),
    ]
}

/// `RandomHue` on one pixel.
fn hue_pixel(p: [f32; 3], delta: f32, vr: (f32, f32)) -> [f32; 3] {
    let unit = p.map(|v| to_range(v, vr, (0.0, 1.0)));
    let [h, s, v] = rgb_to_hsv(unit);
    let mut h = h + delta;
    if h > 1.0 {
        h -= 1.0;
    }
    if h < 0.0 {
        h += 1.0;
    }
    hsv_to_rgb([h, s, v]).map(|c| to_range(c.clamp(0.0, 1.0), (0.0, 1.0), vr))
}

/// `RandomSaturation` on one pixel (Keras clips the scaled saturation to `value_range`).
fn saturation_pixel(p: [f32; 3], f: f32, vr: (f32, f32)) -> [f32; 3] {
    let [h, s, v] = rgb_to_hsv(p);
    hsv_to_rgb([h, (s * f).clamp(vr.0, vr.1), v])
}

/// Applies a per-pixel RGB map to every pixel.
fn map_pixels(x: &[f32], y: &mut [f32], f: impl Fn([f32; 3]) -> [f32; 3]) {
    for (yo, xi) in y.chunks_exact_mut(3).zip(x.chunks_exact(3)) {
        yo.copy_from_slice(&f([xi[0], xi[1], xi[2]]));
    }
}

/// The gradient through a per-pixel RGB map (piecewise linear for the hue and saturation
/// maps): its 3x3 Jacobian by central differences at each pixel, transposed onto `dy`.
fn map_pixels_backward(
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    step: f32,
    f: impl Fn([f32; 3]) -> [f32; 3],
) {
    for ((o, xi), g) in dx
        .chunks_exact_mut(3)
        .zip(x.chunks_exact(3))
        .zip(dy.chunks_exact(3))
    {
        let p = [xi[0], xi[1], xi[2]];
        for k in 0..3 {
            let (mut a, mut b) = (p, p);
            a[k] += step;
            b[k] -= step;
            let (fa, fb) = (f(a), f(b));
            o[k] = (0..3).map(|c| (fa[c] - fb[c]) / (2.0 * step) * g[c]).sum();
        }
    }
}

/// Keras's `depthwise_conv` of the sharpness kernel (`a = 1/13` around, `5/13` at the
/// centre), "same" zero padding, on one channel plane.
fn smooth(x: &[f32], y: &mut [f32], [h, w, c]: [usize; 3]) {
    let (a, b) = (1.0f32 / 13.0, 5.0f32 / 13.0);
    for r in 0..h {
        for col in 0..w {
            for ch in 0..c {
                let mut s = 0.0;
                for dr in -1i64..=1 {
                    for dc in -1i64..=1 {
                        let (rr, cc) = (r as i64 + dr, col as i64 + dc);
                        if rr < 0 || cc < 0 || rr >= h as i64 || cc >= w as i64 {
                            continue;
                        }
                        let k = if dr == 0 && dc == 0 { b } else { a };
                        s += k * x[(rr as usize * w + cc as usize) * c + ch];
                    }
                }
                y[(r * w + col) * c + ch] = s;
            }
        }
    }
}

fn inside(v: f32, (lo, hi): (f32, f32)) -> bool {
    v > lo && v < hi
}

impl ColorOp {
    /// True when Keras applies it in inference too (`AutoContrast`).
    pub fn always(&self) -> bool {
        matches!(self, ColorOp::AutoContrast { .. })
    }

    /// Channels this operation accepts (`None`: any).
    pub fn channels(&self) -> Option<&'static [usize]> {
        match self {
            ColorOp::Grayscale { .. } => Some(&[1, 3]),
            ColorOp::Hue { .. } | ColorOp::Saturation { .. } | ColorOp::Degeneration { .. } => {
                Some(&[3])
            }
            ColorOp::Jitter {
                saturation, hue, ..
            } if saturation.is_some() || hue.is_some() => Some(&[3]),
            _ => None,
        }
    }

    /// Draws the parameters for one image.
    pub fn sample(&self, rng: &mut Rng) -> ColorDraw {
        match *self {
            ColorOp::Grayscale { factor } => ColorDraw::Apply(rng.uniform() < factor),
            ColorOp::Hue { factor, .. } => ColorDraw::Amount(hue_shift(rng, factor)),
            ColorOp::Saturation { factor, .. } => ColorDraw::Amount(saturation_factor(rng, factor)),
            ColorOp::Degeneration { factor, .. } | ColorOp::Sharpness { factor, .. } => {
                ColorDraw::Amount(uniform(rng, factor))
            }
            ColorOp::Invert { factor, .. } => {
                let p = uniform(rng, factor);
                ColorDraw::Apply(rng.uniform() < p)
            }
            ColorOp::Posterization { bits: (lo, hi), .. } => ColorDraw::Bits(if lo == hi {
                lo
            } else {
                lo + rng.below(usize::from(hi - lo)) as u8
            }),
            ColorOp::Solarization {
                addition,
                threshold,
                ..
            } => ColorDraw::Solarize(
                uniform(rng, (addition.0, addition.1 * 255.0)),
                uniform(rng, (threshold.0, threshold.1 * 255.0)),
            ),
            ColorOp::AutoContrast { .. } | ColorOp::Equalization { .. } => ColorDraw::Fixed,
            ColorOp::Jitter {
                brightness,
                contrast,
                saturation,
                hue,
                value_range,
            } => {
                let mut d = [0.0, 1.0, 1.0, 0.0];
                if let Some(b) = brightness {
                    d[0] = uniform(rng, b) * (value_range.1 - value_range.0);
                }
                if let Some(c) = contrast {
                    d[1] = uniform(rng, (1.0 - c.0, 1.0 + c.1));
                }
                if let Some(s) = saturation {
                    d[2] = saturation_factor(rng, s);
                }
                if let Some(h) = hue {
                    d[3] = hue_shift(rng, h);
                }
                ColorDraw::Jitter(d)
            }
        }
    }

    /// Transforms one `[h, w, c]` image `x` into `y` with the drawn parameters.
    pub fn apply(&self, d: &ColorDraw, x: &[f32], y: &mut [f32], dims: [usize; 3]) {
        let c = dims[2];
        if self.channels().is_some_and(|ok| !ok.contains(&c)) {
            // Refused at build by the layers; never reached with their checks.
            y.copy_from_slice(x);
            return;
        }
        match (*self, *d) {
            (ColorOp::Grayscale { .. }, ColorDraw::Apply(true)) if c == 3 => {
                for (yo, xi) in y.chunks_exact_mut(3).zip(x.chunks_exact(3)) {
                    let g = GRAY[0] * xi[0] + GRAY[1] * xi[1] + GRAY[2] * xi[2];
                    yo.fill(g);
                }
            }
            (ColorOp::Hue { value_range, .. }, ColorDraw::Amount(delta)) => {
                map_pixels(x, y, |p| hue_pixel(p, delta, value_range));
            }
            (ColorOp::Saturation { value_range, .. }, ColorDraw::Amount(f)) => {
                map_pixels(x, y, |p| saturation_pixel(p, f, value_range));
            }
            (ColorOp::Degeneration { value_range, .. }, ColorDraw::Amount(f)) => {
                for (yo, xi) in y.chunks_exact_mut(3).zip(x.chunks_exact(3)) {
                    let g = GRAY[0] * xi[0] + GRAY[1] * xi[1] + GRAY[2] * xi[2];
                    for k in 0..3 {
                        yo[k] = (xi[k] + f * (g - xi[k])).clamp(value_range.0, value_range.1);
                    }
                }
            }
            (ColorOp::Sharpness { value_range, .. }, ColorDraw::Amount(f)) => {
                smooth(x, y, dims);
                let s = 1.0 - 2.0 * f;
                for (yo, xi) in y.iter_mut().zip(x) {
                    *yo = (xi + s * (*yo - xi)).clamp(value_range.0, value_range.1);
                }
            }
            (ColorOp::Invert { value_range, .. }, ColorDraw::Apply(true)) => {
                for (yo, xi) in y.iter_mut().zip(x) {
                    *yo = value_range.1 - xi;
                }
            }
            (ColorOp::Posterization { value_range, .. }, ColorDraw::Bits(bits)) => {
                let shift = 8 - u32::from(bits.min(8));
                for (yo, xi) in y.iter_mut().zip(x) {
                    let v = to_range(*xi, value_range, (0.0, 255.0));
                    // Keras casts to uint8 (truncating), shifts right then left.
                    let q = ((v.clamp(0.0, 255.0) as u32) >> shift) << shift;
                    *yo = to_range(q as f32, (0.0, 255.0), value_range);
                }
            }
            (ColorOp::Solarization { value_range, .. }, ColorDraw::Solarize(add, threshold)) => {
                for (yo, xi) in y.iter_mut().zip(x) {
                    let r = (to_range(*xi, value_range, (0.0, 255.0)) + add).clamp(0.0, 255.0);
                    let r = if r < threshold { r } else { 255.0 - r };
                    *yo = to_range(r, (0.0, 255.0), value_range);
                }
            }
            (ColorOp::AutoContrast { value_range }, _) => {
                for ch in 0..c {
                    let plane = || x.iter().skip(ch).step_by(c);
                    let to = |v: f32| to_range(v, value_range, (0.0, 255.0));
                    let low = plane().map(|v| to(*v)).fold(f32::INFINITY, f32::min);
                    let high = plane().map(|v| to(*v)).fold(f32::NEG_INFINITY, f32::max);
                    let scale = 255.0 / (high - low);
                    let offset = -low * scale;
                    for (yo, xi) in y.iter_mut().skip(ch).step_by(c).zip(plane()) {
                        let r = (to(*xi) * scale + offset).clamp(0.0, 255.0);
                        let r = to_range(r, (0.0, 255.0), value_range);
                        *yo = if r.is_nan() { *xi } else { r };
                    }
                }
            }
            (ColorOp::Equalization { bins, value_range }, _) => {
                equalize(x, y, c, bins.max(1), value_range);
            }
            (
                ColorOp::Jitter {
                    brightness,
                    contrast,
                    saturation,
                    hue,
                    value_range,
                },
                ColorDraw::Jitter(dr),
            ) => {
                y.copy_from_slice(x);
                for stage in jitter_stages(brightness, contrast, saturation, hue, value_range, dr)
                    .into_iter()
                    .flatten()
                {
                    stage.forward_in_place(y, dims);
                }
            }
            _ => y.copy_from_slice(x),
        }
    }

    /// Writes `dx`, the gradient with respect to `x`, from `dy` for the same draw.
    pub fn backward(&self, d: &ColorDraw, x: &[f32], dy: &[f32], dx: &mut [f32], dims: [usize; 3]) {
        let c = dims[2];
        if self.channels().is_some_and(|ok| !ok.contains(&c)) {
            dx.copy_from_slice(dy);
            return;
        }
        match (*self, *d) {
            (ColorOp::Grayscale { .. }, ColorDraw::Apply(true)) if c == 3 => {
                for (o, g) in dx.chunks_exact_mut(3).zip(dy.chunks_exact(3)) {
                    let s = g[0] + g[1] + g[2];
                    for k in 0..3 {
                        o[k] = GRAY[k] * s;
                    }
                }
            }
            (ColorOp::Hue { value_range, .. }, ColorDraw::Amount(delta)) => {
                let step = 1e-3 * (value_range.1 - value_range.0);
                map_pixels_backward(x, dy, dx, step, |p| hue_pixel(p, delta, value_range));
            }
            (ColorOp::Saturation { value_range, .. }, ColorDraw::Amount(f)) => {
                let step = 1e-3 * (value_range.1 - value_range.0).abs().max(1.0);
                map_pixels_backward(x, dy, dx, step, |p| saturation_pixel(p, f, value_range));
            }
            (ColorOp::Degeneration { value_range, .. }, ColorDraw::Amount(f)) => {
                for ((o, xi), g) in dx
                    .chunks_exact_mut(3)
                    .zip(x.chunks_exact(3))
                    .zip(dy.chunks_exact(3))
                {
                    let gray = GRAY[0] * xi[0] + GRAY[1] * xi[1] + GRAY[2] * xi[2];
                    let m: [f32; 3] = std::array::from_fn(|k| {
                        if inside(xi[k] + f * (gray - xi[k]), value_range) {
                            g[k]
                        } else {
                            0.0
                        }
                    });
                    let s = m[0] + m[1] + m[2];
                    for k in 0..3 {
                        o[k] = (1.0 - f) * m[k] + f * GRAY[k] * s;
                    }
                }
            }
            (ColorOp::Sharpness { value_range, .. }, ColorDraw::Amount(f)) => {
                // y = clip(x + s (S x - x)); S is symmetric, so its transpose is itself.
                let s = 1.0 - 2.0 * f;
                smooth(x, dx, dims);
                for ((o, xi), g) in dx.iter_mut().zip(x).zip(dy) {
                    *o = if inside(xi + s * (*o - xi), value_range) {
                        *g
                    } else {
                        0.0
                    };
                }
                let masked = dx.to_vec();
                smooth(&masked, dx, dims);
                for (o, m) in dx.iter_mut().zip(&masked) {
                    *o = (1.0 - s) * m + s * *o;
                }
            }
            (ColorOp::Invert { .. }, ColorDraw::Apply(true)) => {
                dx.iter_mut().zip(dy).for_each(|(o, g)| *o = -g);
            }
            // Quantized: the gradient is zero almost everywhere.
            (ColorOp::Posterization { .. }, _) | (ColorOp::Equalization { .. }, _) => dx.fill(0.0),
            (ColorOp::Solarization { value_range, .. }, ColorDraw::Solarize(add, threshold)) => {
                for ((o, xi), g) in dx.iter_mut().zip(x).zip(dy) {
                    let v = to_range(*xi, value_range, (0.0, 255.0)) + add;
                    let r = v.clamp(0.0, 255.0);
                    let slope = if !inside(v, (0.0, 255.0)) {
                        0.0
                    } else if r < threshold {
                        1.0
                    } else {
                        -1.0
                    };
                    *o = slope * g;
                }
            }
            (ColorOp::AutoContrast { value_range }, _) => {
                // y_j = v0 + (v1 - v0)(x_j - lo)/(hi - lo): through x_j, lo and hi.
                let span = value_range.1 - value_range.0;
                for ch in 0..c {
                    let idx = || (ch..x.len()).step_by(c);
                    let (mut lo, mut hi) = (ch, ch);
                    for i in idx() {
                        if x[i] < x[lo] {
                            lo = i;
                        }
                        if x[i] > x[hi] {
                            hi = i;
                        }
                    }
                    let (l, h) = (x[lo], x[hi]);
                    if h == l {
                        for i in idx() {
                            dx[i] = dy[i];
                        }
                        continue;
                    }
                    let d = h - l;
                    let (mut dlo, mut dhi) = (0.0f32, 0.0f32);
                    for i in idx() {
                        dx[i] = span / d * dy[i];
                        dlo += span * (x[i] - h) / (d * d) * dy[i];
                        dhi -= span * (x[i] - l) / (d * d) * dy[i];
                    }
                    dx[lo] += dlo;
                    dx[hi] += dhi;
                }
            }
            (
                ColorOp::Jitter {
                    brightness,
                    contrast,
                    saturation,
                    hue,
                    value_range,
                },
                ColorDraw::Jitter(dr),
            ) => {
                // Recompute the intermediate images (only when a gradient is asked for).
                let stages: Vec<Stage> =
                    jitter_stages(brightness, contrast, saturation, hue, value_range, dr)
                        .into_iter()
                        .flatten()
                        .collect();
                let mut inputs = vec![x.to_vec()];
                for s in &stages[..stages.len().saturating_sub(1)] {
                    let mut next = inputs[inputs.len() - 1].clone();
                    s.forward_in_place(&mut next, dims);
                    inputs.push(next);
                }
                let mut g = dy.to_vec();
                for (s, xin) in stages.iter().zip(&inputs).rev() {
                    s.backward(xin, &mut g, dx, dims);
                    g.copy_from_slice(dx);
                }
                dx.copy_from_slice(&g);
            }
            _ => dx.copy_from_slice(dy),
        }
    }
}

/// One stage of `RandomColorJitter`.
enum Stage {
    Plain(RandomOp, Sampled),
    Color(ColorOp, ColorDraw),
}

impl Stage {
    fn forward_in_place(&self, y: &mut [f32], dims: [usize; 3]) {
        let x = y.to_vec();
        match self {
            Stage::Plain(op, s) => op.apply(s, &x, y, dims),
            Stage::Color(op, d) => op.apply(d, &x, y, dims),
        }
    }
    fn backward(&self, x: &[f32], dy: &mut [f32], dx: &mut [f32], dims: [usize; 3]) {
        match self {
            Stage::Plain(op, s) => op.backward(s, x, dy, dx, dims),
            Stage::Color(op, d) => op.backward(d, x, dy, dx, dims),
        }
    }
}

fn jitter_stages(
    brightness: Option<(f32, f32)>,
    contrast: Option<(f32, f32)>,
    saturation: Option<(f32, f32)>,
    hue: Option<(f32, f32)>,
    value_range: (f32, f32),
    d: [f32; 4],
) -> [Option<Stage>; 4] {
    [
        brightness.map(|factor| {
            Stage::Plain(
                RandomOp::Brightness {
                    factor,
                    value_range,
                },
                Sampled::Brightness(d[0]),
            )
        }),
        contrast.map(|factor| {
            Stage::Plain(
                RandomOp::Contrast {
                    factor,
                    value_range,
                },
                Sampled::Contrast(d[1]),
            )
        }),
        saturation.map(|factor| {
            Stage::Color(
                ColorOp::Saturation {
                    factor,
                    value_range,
                },
                ColorDraw::Amount(d[2]),
            )
        }),
        hue.map(|factor| {
            Stage::Color(
                ColorOp::Hue {
                    factor,
                    value_range,
                },
                ColorDraw::Amount(d[3]),
            )
        }),
    ]
}

/// Keras's `Equalization` of one image, channel by channel (Keras's own layer takes the
/// histogram over the whole batch; here each image has its own, as in PIL and torchvision).
fn equalize(x: &[f32], y: &mut [f32], c: usize, bins: usize, vr: (f32, f32)) {
    let to = |v: f32| to_range(v, vr, (0.0, 255.0));
    let mut hist = vec![0u64; bins];
    for ch in 0..c {
        hist.iter_mut().for_each(|b| *b = 0);
        for v in x.iter().skip(ch).step_by(c) {
            let i = (to(*v) * (bins - 1) as f32 / 255.0) as i64;
            hist[i.clamp(0, bins as i64 - 1) as usize] += 1;
        }
        if hist.iter().filter(|&&b| b > 0).count() <= 1 {
            for (yo, xi) in y
                .iter_mut()
                .skip(ch)
                .step_by(c)
                .zip(x.iter().skip(ch).step_by(c))
            {
                *yo = *xi;
            }
            continue;
        }
        let mut cdf = vec![0u64; bins];
        let mut run = 0;
        for (o, b) in cdf.iter_mut().zip(&hist) {
            run += b;
            *o = run;
        }
        let cdf_min = cdf.iter().copied().find(|&v| v > 0).unwrap_or(0);
        let mut den = cdf[bins - 1] - cdf_min;
        if den == 0 {
            den = 1;
        }
        for (yo, xi) in y
            .iter_mut()
            .skip(ch)
            .step_by(c)
            .zip(x.iter().skip(ch).step_by(c))
        {
            let v = to(*xi);
            let i = ((v / 255.0 * (bins - 1) as f32).clamp(0.0, (bins - 1) as f32)) as usize;
            let lut = ((cdf[i] - cdf_min) as f32 * 255.0 / den as f32)
                .round_ties_even()
                .clamp(0.0, 255.0);
            *yo = to_range(lut, (0.0, 255.0), vr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_round_trip_and_keras_values() {
        for p in [
            [0.2f32, 0.5, 0.9],
            [1.0, 0.0, 0.0],
            [0.3, 0.3, 0.3],
            [0.7, 0.2, 0.4],
        ] {
            let back = hsv_to_rgb(rgb_to_hsv(p));
            for k in 0..3 {
                assert!((back[k] - p[k]).abs() < 1e-6, "{p:?} -> {back:?}");
            }
        }
        // Pure red: hue 0, saturation 1, value 1; a shift of a third of a turn is green.
        assert_eq!(rgb_to_hsv([1.0, 0.0, 0.0]), [0.0, 1.0, 1.0]);
        let g = hue_pixel([255.0, 0.0, 0.0], 1.0 / 3.0, (0.0, 255.0));
        assert!(
            g[0].abs() < 1e-3 && (g[1] - 255.0).abs() < 1e-3 && g[2].abs() < 1e-3,
            "{g:?}"
        );
    }

    #[test]
    fn posterization_and_solarization_on_the_0_255_scale() {
        let op = ColorOp::Posterization {
            bits: (2, 2),
            value_range: (0.0, 255.0),
        };
        let mut y = [0.0; 3];
        op.apply(
            &ColorDraw::Bits(2),
            &[255.0, 100.0, 63.0],
            &mut y,
            [1, 1, 3],
        );
        assert_eq!(y, [192.0, 64.0, 0.0]);
        let op = ColorOp::Solarization {
            addition: (0.0, 0.0),
            threshold: (0.5, 0.5),
            value_range: (0.0, 1.0),
        };
        op.apply(
            &ColorDraw::Solarize(0.0, 128.0),
            &[0.2, 0.8, 0.5],
            &mut y,
            [1, 1, 3],
        );
        assert!(
            (y[0] - 0.2).abs() < 1e-6 && (y[1] - 0.2).abs() < 1e-6,
            "{y:?}"
        );
    }

    #[test]
    fn equalization_spreads_a_two_level_image() {
        let op = ColorOp::Equalization {
            bins: 256,
            value_range: (0.0, 255.0),
        };
        let x = [10.0, 10.0, 10.0, 20.0];
        let mut y = [0.0; 4];
        op.apply(&ColorDraw::Fixed, &x, &mut y, [2, 2, 1]);
        assert_eq!(y, [0.0, 0.0, 0.0, 255.0]);
        // One level only: unchanged.
        op.apply(&ColorDraw::Fixed, &[7.0; 4], &mut y, [2, 2, 1]);
        assert_eq!(y, [7.0; 4]);
    }

    /// Central differences of `sum(w * op(x))` against `backward` for one fixed draw.
    fn fd(op: ColorOp, d: ColorDraw, dims: [usize; 3], x: &[f32]) {
        let n = x.len();
        let w: Vec<f32> = (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0).collect();
        let f = |x: &[f32]| {
            let mut y = vec![0.0f32; n];
            op.apply(&d, x, &mut y, dims);
            y.iter().zip(&w).map(|(a, b)| f64::from(a * b)).sum::<f64>()
        };
        let mut dx = vec![0.0f32; n];
        op.backward(&d, x, &w, &mut dx, dims);
        for i in 0..n {
            let e = 1e-2;
            let (mut a, mut b) = (x.to_vec(), x.to_vec());
            a[i] += e;
            b[i] -= e;
            let num = (f(&a) - f(&b)) / (2.0 * f64::from(e));
            assert!(
                (num - f64::from(dx[i])).abs() < 2e-2 * num.abs().max(1.0),
                "{op:?} {i}: {num} vs {}",
                dx[i]
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let vr = (0.0, 255.0);
        let x: Vec<f32> = (0..12)
            .map(|i| 40.0 + ((i * 37) % 160) as f32 + 0.3 * i as f32)
            .collect();
        let dims = [2, 2, 3];
        fd(
            ColorOp::Hue {
                factor: (0.2, 0.2),
                value_range: vr,
            },
            ColorDraw::Amount(0.1),
            dims,
            &x,
        );
        fd(
            ColorOp::Saturation {
                factor: (0.4, 0.4),
                value_range: vr,
            },
            ColorDraw::Amount(0.7),
            dims,
            &x,
        );
        fd(
            ColorOp::Degeneration {
                factor: (0.4, 0.4),
                value_range: vr,
            },
            ColorDraw::Amount(0.4),
            dims,
            &x,
        );
        fd(
            ColorOp::Sharpness {
                factor: (0.8, 0.8),
                value_range: (-1e4, 1e4),
            },
            ColorDraw::Amount(0.8),
            dims,
            &x,
        );
        fd(
            ColorOp::AutoContrast { value_range: vr },
            ColorDraw::Fixed,
            dims,
            &x,
        );
        fd(
            ColorOp::Solarization {
                addition: (0.0, 0.0),
                threshold: (0.5, 0.5),
                value_range: vr,
            },
            ColorDraw::Solarize(3.0, 120.0),
            dims,
            &x,
        );
        fd(
            ColorOp::Jitter {
                brightness: Some((0.05, 0.05)),
                contrast: Some((0.2, 0.2)),
                saturation: Some((0.6, 0.6)),
                hue: Some((0.1, 0.1)),
                value_range: (-1e3, 1e3),
            },
            ColorDraw::Jitter([10.0, 1.2, 1.5, 0.05]),
            dims,
            &x,
        );
    }
}
