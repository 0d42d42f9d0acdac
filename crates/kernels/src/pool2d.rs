//! 2-D max and average pooling over NHWC inputs, forward and backward.
//!
//! Max pooling stores the winning input index of every output value (first maximum in
//! window order, as TensorFlow routes ties), so the backward pass is a scatter. Average
//! pooling with `same` padding divides by the number of in-bounds elements (TF semantics).

use crate::conv2d::{out_len, Padding};
use crate::elementwise::rows_per_task;
use crate::parallel::{for_each_chunk_mut, for_each_chunk_pair_mut};

/// Shapes of one pooling layer, computed once when the layer is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeom {
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// Window height.
    pub ph: usize,
    /// Window width.
    pub pw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Padding above.
    pub pad_top: usize,
    /// Padding left.
    pub pad_left: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl Pool2dGeom {
    /// Geometry of a pooling layer; `None` when a size is zero or the output is empty.
    pub fn new(
        (h, w, c): (usize, usize, usize),
        (ph, pw): (usize, usize),
        (sh, sw): (usize, usize),
        padding: Padding,
    ) -> Option<Self> {
        if c == 0 {
            return None;
        }
        let (oh, pad_top) = out_len(h, ph, sh, 1, padding)?;
        let (ow, pad_left) = out_len(w, pw, sw, 1, padding)?;
        Some(Pool2dGeom {
            h,
            w,
            c,
            ph,
            pw,
            sh,
            sw,
            pad_top,
            pad_left,
            oh,
            ow,
        })
    }
    /// Input floats per sample.
    pub fn in_len(&self) -> usize {
        self.h * self.w * self.c
    }
    /// Output floats per sample.
    pub fn out_len(&self) -> usize {
        self.oh * self.ow * self.c
    }
    /// In-bounds window ranges `(y0, y1, x0, x1)` of output pixel `(oy, ox)`.
    #[inline]
    fn window(&self, oy: usize, ox: usize) -> (usize, usize, usize, usize) {
        let y0 = (oy * self.sh) as isize - self.pad_top as isize;
        let x0 = (ox * self.sw) as isize - self.pad_left as isize;
        let y1 = (y0 + self.ph as isize).min(self.h as isize) as usize;
        let x1 = (x0 + self.pw as isize).min(self.w as isize) as usize;
        (y0.max(0) as usize, y1, x0.max(0) as usize, x1)
    }
}

/// Output rows per task of the max pooling forward pass ([`rows_per_task`]), so that the
/// threads also share one image's pooling (ResNet50's `pool1_pool` at 224x224, batch 1).
fn max_rows_per_task(g: &Pool2dGeom) -> usize {
    rows_per_task(g.ow * g.c)
}

/// Max pooling forward; `argmax[i]` receives the in-sample input index of output `i`.
/// Runs in parallel tasks of output rows (of any sample).
pub fn max_forward(g: &Pool2dGeom, n: usize, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let (ol, chunk) = (g.out_len(), max_rows_per_task(g) * g.ow * g.c);
    for_each_chunk_pair_mut(
        &mut y[..n * ol],
        chunk,
        &mut argmax[..n * ol],
        chunk,
        |b, ys, am| max_forward_rows(g, x, b * max_rows_per_task(g), ys, Some(am)),
    );
}

/// [`max_forward`] without the window positions (inference): the same maxima, bit for bit.
///
/// ```
/// use rkeras_kernels::{pool2d, Padding, Pool2dGeom};
/// let g = Pool2dGeom::new((2, 2, 1), (2, 2), (2, 2), Padding::Valid).unwrap();
/// let mut y = [0.0f32];
/// pool2d::max_forward_infer(&g, 1, &[1.0, -2.0, 3.5, 0.0], &mut y);
/// assert_eq!(y, [3.5]);
/// ```
pub fn max_forward_infer(g: &Pool2dGeom, n: usize, x: &[f32], y: &mut [f32]) {
    let (ol, chunk) = (g.out_len(), max_rows_per_task(g) * g.ow * g.c);
    for_each_chunk_mut(&mut y[..n * ol], chunk, |b, ys| {
        max_forward_rows(g, x, b * max_rows_per_task(g), ys, None)
    });
}

crate::simd_fn! {
    /// Max pooling of the output rows `r0 ..` (counted over the whole batch: row `r` is
    /// row `r % oh` of sample `r / oh`) that `ys` holds, with the window positions into
    /// `am` when given.
    fn max_forward_rows(g: &Pool2dGeom, x: &[f32], r0: usize, ys: &mut [f32], am: Option<&mut [u32]>) {
        let (c, il, rl) = (g.c, g.in_len(), g.ow * g.c);
        let mut am = am;
        for (i, yr) in ys.chunks_mut(rl).enumerate() {
            let (s, oy) = ((r0 + i) / g.oh, (r0 + i) % g.oh);
            let xs = &x[s * il..(s + 1) * il];
            for ox in 0..g.ow {
                let (y0, y1, x0, x1) = g.window(oy, ox);
                let yo = &mut yr[ox * c..ox * c + c];
                yo.fill(f32::NEG_INFINITY);
                let Some(am) = am.as_deref_mut() else {
                    for iy in y0..y1 {
                        for ix in x0..x1 {
                            let base = (iy * g.w + ix) * c;
                            for (y, &v) in yo.iter_mut().zip(&xs[base..base + c]) {
                                *y = if v > *y { v } else { *y };
                            }
                        }
                    }
                    continue;
                };
                let ao = &mut am[i * rl + ox * c..][..c];
                let first = ((y0 * g.w + x0) * c) as u32;
                for (ch, a) in ao.iter_mut().enumerate() {
                    *a = first + ch as u32;
                }
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let base = (iy * g.w + ix) * c;
                        max_update(yo, ao, &xs[base..base + c], base as u32);
                    }
                }
            }
        }
    }
}

/// Branch-free running max with argmax over one channel row (vectorises).
#[inline(always)]
fn max_update(yo: &mut [f32], ao: &mut [u32], xr: &[f32], base: u32) {
    for (ch, ((y, a), &v)) in yo.iter_mut().zip(ao.iter_mut()).zip(xr).enumerate() {
        let gt = v > *y;
        *y = if gt { v } else { *y };
        *a = if gt { base + ch as u32 } else { *a };
    }
}

/// Max pooling backward: overwrites `dx` with `dy` routed to the stored maxima.
pub fn max_backward(g: &Pool2dGeom, n: usize, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    let (il, ol) = (g.in_len(), g.out_len());
    for_each_chunk_mut(&mut dx[..n * il], il, |s, dxs| {
        max_backward_sample(
            g,
            &dy[s * ol..(s + 1) * ol],
            &argmax[s * ol..(s + 1) * ol],
            dxs,
        )
    });
}

crate::simd_fn! {
    /// Max pooling backward of one sample. Non-overlapping unpadded windows (the usual
    /// `pool_size == strides`) write every input gradient once with a select; other
    /// geometries zero and scatter.
    fn max_backward_sample(g: &Pool2dGeom, dys: &[f32], am: &[u32], dxs: &mut [f32]) {
        let c = g.c;
        let tiles = g.sh == g.ph && g.sw == g.pw && g.oh * g.sh <= g.h && g.ow * g.sw <= g.w && g.pad_top == 0 && g.pad_left == 0;
        if !tiles {
            dxs.fill(0.0);
            for (&d, &a) in dys.iter().zip(am) {
                dxs[a as usize] += d;
            }
            return;
        }
        if g.oh * g.sh != g.h || g.ow * g.sw != g.w {
            dxs.fill(0.0); // rows/columns outside every window
        }
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let o = (oy * g.ow + ox) * c;
                let (d, a) = (&dys[o..o + c], &am[o..o + c]);
                for ky in 0..g.ph {
                    for kx in 0..g.pw {
                        let base = ((oy * g.sh + ky) * g.w + ox * g.sw + kx) * c;
                        let b = base as u32;
                        for (ch, ((x, &dv), &av)) in dxs[base..base + c].iter_mut().zip(d).zip(a).enumerate() {
                            *x = if av == b + ch as u32 { dv } else { 0.0 };
                        }
                    }
                }
            }
        }
    }
}

/// Average pooling forward.
pub fn avg_forward(g: &Pool2dGeom, n: usize, x: &[f32], y: &mut [f32]) {
    let (il, ol, c) = (g.in_len(), g.out_len(), g.c);
    for_each_chunk_mut(&mut y[..n * ol], ol, |s, ys| {
        let xs = &x[s * il..(s + 1) * il];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let (y0, y1, x0, x1) = g.window(oy, ox);
                let o = (oy * g.ow + ox) * c;
                let yo = &mut ys[o..o + c];
                yo.fill(0.0);
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let base = (iy * g.w + ix) * c;
                        for (a, v) in yo.iter_mut().zip(&xs[base..base + c]) {
                            *a += v;
                        }
                    }
                }
                let inv = 1.0 / ((y1 - y0) * (x1 - x0)) as f32;
                yo.iter_mut().for_each(|v| *v *= inv);
            }
        }
    });
}

/// Average pooling backward: overwrites `dx`.
pub fn avg_backward(g: &Pool2dGeom, n: usize, dy: &[f32], dx: &mut [f32]) {
    let (il, ol, c) = (g.in_len(), g.out_len(), g.c);
    for_each_chunk_mut(&mut dx[..n * il], il, |s, dxs| {
        dxs.fill(0.0);
        let dys = &dy[s * ol..(s + 1) * ol];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let (y0, y1, x0, x1) = g.window(oy, ox);
                let o = (oy * g.ow + ox) * c;
                let inv = 1.0 / ((y1 - y0) * (x1 - x0)) as f32;
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let base = (iy * g.w + ix) * c;
                        for (a, v) in dxs[base..base + c].iter_mut().zip(&dys[o..o + c]) {
                            *a += v * inv;
                        }
                    }
                }
            }
        }
    });
}
