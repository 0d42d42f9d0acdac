//! Image resampling on HWC images: TensorFlow's half-pixel bilinear and nearest resize (what
//! Keras's `image_dataset_from_directory` and `Resizing` use), the crop and pad geometry of
//! `smart_resize` / `resize_with_pad`, and projective transforms with Keras's fill modes
//! (what the random rotation, zoom and translation layers use).
//!
//! Arithmetic follows TensorFlow's kernels step by step in `f32`, so results match to the
//! last bit on ordinary inputs.

/// How a resampled value is read from the source pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    /// Nearest source pixel.
    Nearest,
    /// Linear in both directions over the four nearest pixels.
    Bilinear,
}

/// A source image: `h` rows of `w` pixels of `c` channels, row-major.
#[derive(Clone, Copy, Debug)]
pub struct ImageRef<'a, T> {
    /// Pixel values, `h * w * c` of them.
    pub data: &'a [T],
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl<'a, T> ImageRef<'a, T> {
    /// Wraps `data` (which must hold `h * w * c` values).
    pub fn new(data: &'a [T], h: usize, w: usize, c: usize) -> Self {
        debug_assert_eq!(data.len(), h * w * c);
        ImageRef { data, h, w, c }
    }
}

/// One axis of a half-pixel bilinear resize: for output index `o`, the two source indices
/// and the weight of the upper one (TensorFlow's `compute_interpolation_weights`).
fn bilinear_axis(out: usize, inp: usize) -> Vec<(usize, usize, f32)> {
    let scale = inp as f32 / out as f32;
    (0..out)
        .map(|o| {
            let v = (o as f32 + 0.5) * scale - 0.5;
            let fl = v.floor();
            let lo = (fl.max(0.0) as usize).min(inp - 1);
            let hi = (v.ceil().max(0.0) as usize).min(inp - 1);
            (lo, hi, v - fl)
        })
        .collect()
}

/// One axis of a half-pixel nearest resize (TensorFlow's `HalfPixelScalerForNN`).
fn nearest_axis(out: usize, inp: usize) -> Vec<usize> {
    let scale = inp as f32 / out as f32;
    (0..out)
        .map(|o| (((o as f32 + 0.5) * scale).floor().max(0.0) as usize).min(inp - 1))
        .collect()
}

/// Resizes `src` to `oh x ow` into `dst` (`oh * ow * c` values), as `tf.image.resize`
/// with `antialias=False` does.
///
/// ```
/// use rkeras_kernels::image::{resize, ImageRef, Interpolation};
/// let row = [0.0f32, 10.0, 20.0, 30.0];
/// let mut out = [0.0f32; 2];
/// resize(ImageRef::new(&row, 1, 4, 1), 1, 2, Interpolation::Bilinear, &mut out);
/// assert_eq!(out, [5.0, 25.0]);
/// ```
pub fn resize<T: Copy + Into<f32>>(
    src: ImageRef<'_, T>,
    oh: usize,
    ow: usize,
    interp: Interpolation,
    dst: &mut [f32],
) {
    Resize::new((src.h, src.w), (oh, ow), interp).run(src, dst);
}

/// One axis sample of a bilinear resize: lower and upper source index, upper weight.
type Lerp = (usize, usize, f32);

/// A resize with its sampling tables computed once, for images of one size: what layers
/// keep so that resizing a batch allocates nothing.
///
/// ```
/// use rkeras_kernels::image::{ImageRef, Interpolation, Resize};
/// let r = Resize::new((1, 4), (1, 2), Interpolation::Bilinear);
/// let mut out = [0.0f32; 2];
/// r.run(ImageRef::new(&[0.0f32, 10.0, 20.0, 30.0], 1, 4, 1), &mut out);
/// assert_eq!(out, [5.0, 25.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    input: (usize, usize),
    out: (usize, usize),
    interp: Interpolation,
    bilinear: (Vec<Lerp>, Vec<Lerp>),
    nearest: (Vec<usize>, Vec<usize>),
}

impl Resize {
    /// Tables for `input = (h, w)` to `out = (oh, ow)`.
    pub fn new(input: (usize, usize), out: (usize, usize), interp: Interpolation) -> Resize {
        let (ih, iw) = input;
        let (oh, ow) = out;
        let empty = ih == 0 || iw == 0 || oh == 0 || ow == 0;
        let (bilinear, nearest) = match (empty, interp) {
            (true, _) => ((Vec::new(), Vec::new()), (Vec::new(), Vec::new())),
            (false, Interpolation::Bilinear) => (
                (bilinear_axis(oh, ih), bilinear_axis(ow, iw)),
                (Vec::new(), Vec::new()),
            ),
            (false, Interpolation::Nearest) => (
                (Vec::new(), Vec::new()),
                (nearest_axis(oh, ih), nearest_axis(ow, iw)),
            ),
        };
        Resize {
            input,
            out,
            interp,
            bilinear,
            nearest,
        }
    }

    /// Resizes `src` (of the input size given to [`Resize::new`]) into `dst`.
    pub fn run<T: Copy + Into<f32>>(&self, src: ImageRef<'_, T>, dst: &mut [f32]) {
        let c = src.c;
        let (oh, ow) = self.out;
        debug_assert_eq!(dst.len(), oh * ow * c);
        if src.h == 0 || src.w == 0 || oh == 0 || ow == 0 {
            dst.fill(0.0);
            return;
        }
        match self.interp {
            Interpolation::Nearest => {
                let (ys, xs) = &self.nearest;
                let row_len = src.w * c;
                for (out_row, &sy) in dst.chunks_exact_mut(ow * c).zip(ys) {
                    let row = &src.data[sy * row_len..(sy + 1) * row_len];
                    for (o, &sx) in out_row.chunks_exact_mut(c).zip(xs) {
                        for (v, s) in o.iter_mut().zip(&row[sx * c..(sx + 1) * c]) {
                            *v = (*s).into();
                        }
                    }
                }
            }
            Interpolation::Bilinear => {
                let (ys, xs) = &self.bilinear;
                bilinear_rows(src, ys, xs, ow, dst);
            }
        }
    }
}

impl Resize {
    /// The adjoint of [`Resize::run`] on `f32` images of `c` channels: adds to `dx` (the
    /// input's gradient, `h * w * c`) the gradient flowing back from `dy` (`oh * ow * c`).
    pub fn backward_add(&self, dy: &[f32], c: usize, dx: &mut [f32]) {
        let ((h, w), (oh, ow)) = (self.input, self.out);
        debug_assert!(dy.len() == oh * ow * c && dx.len() == h * w * c);
        if h == 0 || w == 0 || oh == 0 || ow == 0 {
            return;
        }
        let row_len = w * c;
        match self.interp {
            Interpolation::Nearest => {
                let (ys, xs) = &self.nearest;
                for (drow, &sy) in dy.chunks_exact(ow * c).zip(ys) {
                    let row = &mut dx[sy * row_len..(sy + 1) * row_len];
                    for (d, &sx) in drow.chunks_exact(c).zip(xs) {
                        for (a, v) in row[sx * c..(sx + 1) * c].iter_mut().zip(d) {
                            *a += v;
                        }
                    }
                }
            }
            Interpolation::Bilinear => {
                let (ys, xs) = &self.bilinear;
                // o = top + (bottom - top) * wy, top = tl + (tr - tl) * wx, ...
                for (drow, &(y0, y1, wy)) in dy.chunks_exact(ow * c).zip(ys) {
                    for (d, &(x0, x1, wx)) in drow.chunks_exact(c).zip(xs) {
                        for (k, &g) in d.iter().enumerate() {
                            let (gt, gb) = (g * (1.0 - wy), g * wy);
                            dx[y0 * row_len + x0 * c + k] += gt * (1.0 - wx);
                            dx[y0 * row_len + x1 * c + k] += gt * wx;
                            dx[y1 * row_len + x0 * c + k] += gb * (1.0 - wx);
                            dx[y1 * row_len + x1 * c + k] += gb * wx;
                        }
                    }
                }
            }
        }
    }
}

/// The bilinear loop: per output row, the two source rows; per output pixel, TensorFlow's
/// `top + (bottom - top) * wy` of the horizontal lerps, in f32.
#[inline(always)]
fn bilinear_rows<T: Copy + Into<f32>>(
    src: ImageRef<'_, T>,
    ys: &[(usize, usize, f32)],
    xs: &[(usize, usize, f32)],
    ow: usize,
    dst: &mut [f32],
) {
    let c = src.c;
    let row_len = src.w * c;
    for (out_row, &(y0, y1, wy)) in dst.chunks_exact_mut(ow * c).zip(ys) {
        let r0 = &src.data[y0 * row_len..(y0 + 1) * row_len];
        let r1 = &src.data[y1 * row_len..(y1 + 1) * row_len];
        for (o, &(x0, x1, wx)) in out_row.chunks_exact_mut(c).zip(xs) {
            let (a0, a1) = (&r0[x0 * c..(x0 + 1) * c], &r0[x1 * c..(x1 + 1) * c]);
            let (b0, b1) = (&r1[x0 * c..(x0 + 1) * c], &r1[x1 * c..(x1 + 1) * c]);
            for k in 0..c {
                let (tl, tr): (f32, f32) = (a0[k].into(), a1[k].into());
                let (bl, br): (f32, f32) = (b0[k].into(), b1[k].into());
                let top = tl + (tr - tl) * wx;
                let bottom = bl + (br - bl) * wx;
                o[k] = top + (bottom - top) * wy;
            }
        }
    }
}

/// The centred crop window `(top, left, height, width)` that `smart_resize`
/// (`crop_to_aspect_ratio=True`) keeps of an `h x w` image before resizing to `th x tw`.
///
/// ```
/// // A 100x50 (tall) image resized to a square keeps its centred 50x50 part.
/// assert_eq!(rkeras_kernels::image::aspect_crop(100, 50, 32, 32), (25, 0, 50, 50));
/// ```
pub fn aspect_crop(h: usize, w: usize, th: usize, tw: usize) -> (usize, usize, usize, usize) {
    let crop_h = ((w as f32 * th as f32) / tw as f32) as usize;
    let crop_w = ((h as f32 * tw as f32) / th as f32) as usize;
    let crop_h = crop_h.min(h).max(1);
    let crop_w = crop_w.min(w).max(1);
    let top = ((h - crop_h) as f32 / 2.0) as usize;
    let left = ((w - crop_w) as f32 / 2.0) as usize;
    (top, left, crop_h, crop_w)
}

/// The placement `(top, left, height, width)` of an `h x w` image scaled to fit inside
/// `th x tw` and centred, as `tf.image.resize_with_pad` computes it (the rest is zeros).
///
/// ```
/// // A 10x20 image padded to 20x20: scaled to 10x20, 5 rows of zeros above and below.
/// assert_eq!(rkeras_kernels::image::aspect_pad(10, 20, 20, 20), (5, 0, 10, 20));
/// ```
pub fn aspect_pad(h: usize, w: usize, th: usize, tw: usize) -> (usize, usize, usize, usize) {
    let (hf, wf) = (h as f32, w as f32);
    let ratio = (wf / tw as f32).max(hf / th as f32);
    let (sh, sw) = (hf / ratio, wf / ratio);
    let rh = (sh as usize).clamp(1, th);
    let rw = (sw as usize).clamp(1, tw);
    // TensorFlow centres with the unrounded size, so odd leftovers go after the image.
    let top = ((th as f32 - sh) / 2.0).floor().max(0.0) as usize;
    let left = ((tw as f32 - sw) / 2.0).floor().max(0.0) as usize;
    (top.min(th - rh), left.min(tw - rw), rh, rw)
}

/// Copies the `ch x cw` window at `(top, left)` of `src` into a new buffer.
pub fn crop<T: Copy>(
    src: ImageRef<'_, T>,
    top: usize,
    left: usize,
    ch: usize,
    cw: usize,
) -> Vec<T> {
    let mut out = Vec::with_capacity(ch * cw * src.c);
    for y in top..top + ch {
        let row = (y * src.w + left) * src.c;
        out.extend_from_slice(&src.data[row..row + cw * src.c]);
    }
    out
}

/// What a projective transform reads outside the source image (Keras's `fill_mode`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fill {
    /// `d c b a | a b c d | d c b a`.
    Reflect,
    /// `a b c d | a b c d | a b c d`.
    Wrap,
    /// A constant value.
    Constant(f32),
    /// The nearest edge pixel.
    Nearest,
}

#[inline(always)]
/// TensorFlow's `MapCoordinate`: brings a source coordinate back inside `[0, len - 1]`
/// according to the fill mode (constant leaves it as is).
fn map_coord(v: f32, len: usize, fill: Fill) -> f32 {
    let lenf = len as f32;
    let hi = lenf - 1.0;
    match fill {
        Fill::Constant(_) => v,
        Fill::Nearest => v.clamp(0.0, hi),
        Fill::Reflect => {
            let mut c = v;
            if c < 0.0 {
                if len <= 1 {
                    c = 0.0;
                } else {
                    let sz2 = 2.0 * lenf;
                    if c < sz2 {
                        c += sz2 * ((-c / sz2) as i64) as f32;
                    }
                    c = if c < -lenf { c + sz2 } else { -c - 1.0 };
                }
            } else if c > hi {
                if len <= 1 {
                    c = 0.0;
                } else {
                    let sz2 = 2.0 * lenf;
                    c -= sz2 * ((c / sz2) as i64) as f32;
                    if c >= lenf {
                        c = sz2 - c - 1.0;
                    }
                }
            }
            c.clamp(0.0, hi)
        }
        Fill::Wrap => {
            let mut c = v;
            if c < 0.0 {
                if len <= 1 {
                    c = 0.0;
                } else {
                    let sz = lenf - 1.0;
                    c += lenf * (((-c / sz) as i64) + 1) as f32;
                }
            } else if c > hi {
                if len <= 1 {
                    c = 0.0;
                } else {
                    let sz = lenf - 1.0;
                    c -= lenf * ((c / sz) as i64) as f32;
                }
            }
            c.clamp(0.0, hi)
        }
    }
}

/// Applies the projective transform `t = [a0, a1, a2, b0, b1, b2, c0, c1]` to one HWC image
/// (Keras's `ops.image.affine_transform`, TensorFlow's `ImageProjectiveTransformV3`): output
/// pixel `(x, y)` (column, row) reads the source at `((a0 x + a1 y + a2) / k,
/// (b0 x + b1 y + b2) / k)` with `k = c0 x + c1 y + 1`.
///
/// ```
/// use rkeras_kernels::image::{affine_transform, Fill, ImageRef, Interpolation};
/// // Shift one column to the left: output x reads source x + 1; the edge reflects.
/// let src = [1.0f32, 2.0, 3.0];
/// let mut out = [0.0f32; 3];
/// let t = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
/// affine_transform(ImageRef::new(&src, 1, 3, 1), &t, Interpolation::Nearest, Fill::Reflect, &mut out);
/// assert_eq!(out, [2.0, 3.0, 3.0]);
/// ```
pub fn affine_transform(
    src: ImageRef<'_, f32>,
    t: &[f32; 8],
    interp: Interpolation,
    fill: Fill,
    dst: &mut [f32],
) {
    affine_transform_to(src, t, interp, fill, (src.h, src.w), dst);
}

crate::simd_fn! {
/// [`affine_transform`] into an output of `out = (out_h, out_w)` pixels (`dst` holds
/// `out_h * out_w * c` values).
pub fn affine_transform_to(
    src: ImageRef<'_, f32>,
    t: &[f32; 8],
    interp: Interpolation,
    fill: Fill,
    out: (usize, usize),
    dst: &mut [f32],
) {
    let (out_h, out_w) = out;
    let (h, w, c) = (src.h, src.w, src.c);
    debug_assert_eq!(dst.len(), out_h * out_w * c);
    let fill_value = match fill {
        Fill::Constant(v) => v,
        _ => 0.0,
    };
    // Offset of the pixel at (y, x), `None` outside the image (read as the fill value).
    let at = |y: f32, x: f32| -> Option<usize> {
        (y >= 0.0 && x >= 0.0 && (y as usize) < h && (x as usize) < w)
            .then(|| (y as usize * w + x as usize) * c)
    };
    let px = |o: Option<usize>, k: usize| o.map_or(fill_value, |o| src.data[o + k]);
    let affine = t[6] == 0.0 && t[7] == 0.0;
    for oy in 0..out_h {
        for ox in 0..out_w {
            let d = &mut dst[(oy * out_w + ox) * c..(oy * out_w + ox + 1) * c];
            let (xf, yf) = (ox as f32, oy as f32);
            // Left to right in f32, as TensorFlow (x / 1 is x exactly, so affine maps skip it).
            let (mut x, mut y) = (t[0] * xf + t[1] * yf + t[2], t[3] * xf + t[4] * yf + t[5]);
            if !affine {
                let proj = t[6] * xf + t[7] * yf + 1.0;
                if proj == 0.0 {
                    d.fill(fill_value);
                    continue;
                }
                x /= proj;
                y /= proj;
            }
            let x = map_coord(x, w, fill);
            let y = map_coord(y, h, fill);
            match interp {
                Interpolation::Nearest => {
                    let o = at(y.round(), x.round());
                    for (k, v) in d.iter_mut().enumerate() {
                        *v = px(o, k);
                    }
                }
                Interpolation::Bilinear => {
                    let (y0, x0) = (y.floor(), x.floor());
                    let (y1, x1) = (y0 + 1.0, x0 + 1.0);
                    let (wx0, wx1, wy0, wy1) = (x1 - x, x - x0, y1 - y, y - y0);
                    let (ix, iy) = (x0 as isize, y0 as isize);
                    if ix >= 0 && iy >= 0 && ix + 1 < w as isize && iy + 1 < h as isize {
                        // All four neighbours inside: two rows of two pixels.
                        let a = (iy as usize * w + ix as usize) * c;
                        let top_row = &src.data[a..a + 2 * c];
                        let bottom_row = &src.data[a + w * c..a + w * c + 2 * c];
                        for (k, v) in d.iter_mut().enumerate() {
                            let top = wx0 * top_row[k] + wx1 * top_row[c + k];
                            let bottom = wx0 * bottom_row[k] + wx1 * bottom_row[c + k];
                            *v = wy0 * top + wy1 * bottom;
                        }
                    } else {
                        let (a, b) = (at(y0, x0), at(y0, x1));
                        let (e, f) = (at(y1, x0), at(y1, x1));
                        for (k, v) in d.iter_mut().enumerate() {
                            let top = wx0 * px(a, k) + wx1 * px(b, k);
                            let bottom = wx0 * px(e, k) + wx1 * px(f, k);
                            *v = wy0 * top + wy1 * bottom;
                        }
                    }
                }
            }
        }
    }
}
}

/// Adds the transposed action of [`affine_transform`] (same `t`, interpolation and fill)
/// to `dsrc`: the gradient with respect to the source, given `dout`.
pub fn affine_transform_backward(
    dout: &[f32],
    [h, w, c]: [usize; 3],
    t: &[f32; 8],
    interp: Interpolation,
    fill: Fill,
    dsrc: &mut [f32],
) {
    let mut add = |y: f32, x: f32, k: usize, g: f32| {
        if y >= 0.0 && x >= 0.0 && (y as usize) < h && (x as usize) < w {
            dsrc[(y as usize * w + x as usize) * c + k] += g;
        }
    };
    for oy in 0..h {
        for ox in 0..w {
            let d = &dout[(oy * w + ox) * c..(oy * w + ox + 1) * c];
            let (xf, yf) = (ox as f32, oy as f32);
            let proj = t[6] * xf + t[7] * yf + 1.0;
            if proj == 0.0 {
                continue;
            }
            let x = map_coord((t[0] * xf + t[1] * yf + t[2]) / proj, w, fill);
            let y = map_coord((t[3] * xf + t[4] * yf + t[5]) / proj, h, fill);
            match interp {
                Interpolation::Nearest => {
                    let (ry, rx) = (y.round(), x.round());
                    for (k, g) in d.iter().enumerate() {
                        add(ry, rx, k, *g);
                    }
                }
                Interpolation::Bilinear => {
                    let (y0, x0) = (y.floor(), x.floor());
                    let (y1, x1) = (y0 + 1.0, x0 + 1.0);
                    for (k, g) in d.iter().enumerate() {
                        add(y0, x0, k, g * (y1 - y) * (x1 - x));
                        add(y0, x1, k, g * (y1 - y) * (x - x0));
                        add(y1, x0, k, g * (y - y0) * (x1 - x));
                        add(y1, x1, k, g * (y - y0) * (x - x0));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &[f32], h: usize, w: usize, oh: usize, ow: usize, m: Interpolation) -> Vec<f32> {
        let mut out = vec![0.0; oh * ow];
        resize(ImageRef::new(src, h, w, 1), oh, ow, m, &mut out);
        out
    }

    #[test]
    fn backward_is_the_adjoint_of_the_resize() {
        let mut rng = crate::testutil::Lcg::new(4);
        for &(h, w, oh, ow, c) in &[(2, 3, 4, 6, 2), (3, 3, 9, 6, 1), (5, 4, 2, 3, 3)] {
            for m in [Interpolation::Bilinear, Interpolation::Nearest] {
                let (x, dy) = (rng.vec(h * w * c), rng.vec(oh * ow * c));
                let r = Resize::new((h, w), (oh, ow), m);
                let mut y = vec![0.0; oh * ow * c];
                r.run(ImageRef::new(&x, h, w, c), &mut y);
                let mut dx = vec![0.0; h * w * c];
                r.backward_add(&dy, c, &mut dx);
                let dot = |a: &[f32], b: &[f32]| -> f64 {
                    a.iter().zip(b).map(|(p, q)| *p as f64 * *q as f64).sum()
                };
                assert!((dot(&y, &dy) - dot(&x, &dx)).abs() < 1e-4, "{m:?} {h}x{w}");
            }
        }
    }

    #[test]
    fn bilinear_matches_tensorflow_examples() {
        assert_eq!(
            run(
                &[0.0, 10.0, 20.0, 30.0],
                1,
                4,
                1,
                2,
                Interpolation::Bilinear
            ),
            [5.0, 25.0]
        );
        assert_eq!(
            run(&[0.0, 10.0], 1, 2, 1, 4, Interpolation::Bilinear),
            [0.0, 2.5, 7.5, 10.0]
        );
        let ramp: Vec<f32> = (0..25).map(|v| v as f32).collect();
        assert_eq!(
            run(&ramp, 5, 5, 2, 2, Interpolation::Bilinear),
            [4.5, 7.0, 17.0, 19.5]
        );
    }

    #[test]
    fn same_size_is_identity() {
        let v: Vec<f32> = (0..12).map(|v| v as f32 * 1.5).collect();
        for m in [Interpolation::Bilinear, Interpolation::Nearest] {
            assert_eq!(run(&v, 3, 4, 3, 4, m), v);
        }
    }

    #[test]
    fn nearest_picks_half_pixel_centres() {
        assert_eq!(
            run(&[0.0, 1.0, 2.0, 3.0], 1, 4, 1, 2, Interpolation::Nearest),
            [1.0, 3.0]
        );
        assert_eq!(
            run(&[0.0, 1.0], 1, 2, 1, 4, Interpolation::Nearest),
            [0.0, 0.0, 1.0, 1.0]
        );
    }

    #[test]
    fn crop_and_pad_geometry() {
        assert_eq!(aspect_crop(50, 100, 10, 10), (0, 25, 50, 50));
        assert_eq!(aspect_crop(10, 10, 10, 10), (0, 0, 10, 10));
        assert_eq!(aspect_pad(20, 10, 20, 20), (0, 5, 20, 10));
        assert_eq!(aspect_pad(10, 10, 5, 5), (0, 0, 5, 5));
    }
}
