//! Per-channel operations on NHWC samples: the mean over a sample's pixels (global average
//! pooling), a per-channel gate (a squeeze-and-excite `Multiply`, or an `Add` of one value
//! per channel), and their gradients.
//!
//! One task per sample (fixed, so results never depend on the thread count); inside it the
//! loops run along the channels, so they vectorize for the CPU's widest instruction set, and
//! every sum adds the pixels in order, the same operations as the plain loops in the tests.

use crate::parallel::{for_each_chunk_mut, for_each_chunk_pair_mut};

/// `y[s, ch] = (sum over the `hw` pixels of sample `s` of x[s, p, ch]) * (1 / hw)`, for the
/// `n` samples of `x` (`n * hw * c` values); `y` holds `n * c`.
///
/// ```
/// use rkeras_kernels::channel::mean_pixels;
/// // One sample of 2 pixels, 3 channels.
/// let x = [1.0f32, 2.0, 3.0, 3.0, 4.0, 5.0];
/// let mut y = [0.0f32; 3];
/// mean_pixels(&x, 1, 2, 3, &mut y);
/// assert_eq!(y, [2.0, 3.0, 4.0]);
/// ```
pub fn mean_pixels(x: &[f32], n: usize, hw: usize, c: usize, y: &mut [f32]) {
    if c == 0 || n == 0 {
        return;
    }
    let inv = 1.0 / hw as f32;
    for_each_chunk_mut(&mut y[..n * c], c, |s, ys| {
        sum_rows(&x[s * hw * c..(s + 1) * hw * c], ys, inv)
    });
}

crate::simd_fn! {
    /// `ys = (sum of the rows of `xs`) * scale`, rows added in order.
    fn sum_rows(xs: &[f32], ys: &mut [f32], scale: f32) {
        ys.fill(0.0);
        for px in xs.chunks_exact(ys.len()) {
            for (a, v) in ys.iter_mut().zip(px) {
                *a += v;
            }
        }
        for a in ys.iter_mut() {
            *a *= scale;
        }
    }
}

/// The gradient of [`mean_pixels`]: every pixel of sample `s` gets `dy[s, ch] * (1 / hw)`
/// (overwrites `dx`, `n * hw * c` values).
///
/// ```
/// use rkeras_kernels::channel::mean_pixels_grad;
/// let dy = [2.0f32, 4.0];
/// let mut dx = [0.0f32; 4];
/// mean_pixels_grad(&dy, 1, 2, 2, &mut dx);
/// assert_eq!(dx, [1.0, 2.0, 1.0, 2.0]);
/// ```
pub fn mean_pixels_grad(dy: &[f32], n: usize, hw: usize, c: usize, dx: &mut [f32]) {
    if c == 0 || n == 0 || hw == 0 {
        return;
    }
    let inv = 1.0 / hw as f32;
    for_each_chunk_mut(&mut dx[..n * hw * c], hw * c, |s, d| {
        spread_rows(&dy[s * c..(s + 1) * c], d, inv)
    });
}

crate::simd_fn! {
    /// Every row of `d` = `g * scale`.
    fn spread_rows(g: &[f32], d: &mut [f32], scale: f32) {
        for px in d.chunks_exact_mut(g.len()) {
            for (v, gv) in px.iter_mut().zip(g) {
                *v = gv * scale;
            }
        }
    }
}

/// `y[s, p, ch] = x[s, p, ch] * gate[s, ch]` (with `multiply`; else `+ gate[s, ch]`) for the
/// `n` samples of `per` values each (`per` a multiple of `c`).
///
/// ```
/// use rkeras_kernels::channel::gate;
/// let x = [1.0f32, 2.0, 3.0, 4.0]; // one sample, 2 pixels, 2 channels
/// let mut y = [0.0f32; 4];
/// gate(&x, &[10.0, 0.5], 1, 4, 2, true, &mut y);
/// assert_eq!(y, [10.0, 1.0, 30.0, 2.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn gate(x: &[f32], g: &[f32], n: usize, per: usize, c: usize, multiply: bool, y: &mut [f32]) {
    if c == 0 || n == 0 || per == 0 {
        return;
    }
    for_each_chunk_mut(&mut y[..n * per], per, |s, ys| {
        gate_rows(
            &x[s * per..(s + 1) * per],
            &g[s * c..(s + 1) * c],
            multiply,
            ys,
        )
    });
}

crate::simd_fn! {
    /// Rows of `ys` = rows of `xs` times (or plus) `g`.
    fn gate_rows(xs: &[f32], g: &[f32], multiply: bool, ys: &mut [f32]) {
        let c = g.len();
        if multiply {
            for (yr, xr) in ys.chunks_exact_mut(c).zip(xs.chunks_exact(c)) {
                for ((v, a), w) in yr.iter_mut().zip(xr).zip(g) {
                    *v = a * w;
                }
            }
        } else {
            for (yr, xr) in ys.chunks_exact_mut(c).zip(xs.chunks_exact(c)) {
                for ((v, a), w) in yr.iter_mut().zip(xr).zip(g) {
                    *v = a + w;
                }
            }
        }
    }
}

/// The gradients of [`gate`] for the output gradient `dy`: `dx = dy * gate` (or `dy`), and
/// `dgate[s, ch] = sum over the pixels of dy * x` (or of `dy`), pixels added in order. Both
/// are overwritten; either may be left out.
#[allow(clippy::too_many_arguments)]
pub fn gate_backward(
    x: &[f32],
    g: &[f32],
    dy: &[f32],
    n: usize,
    per: usize,
    c: usize,
    multiply: bool,
    dx: Option<&mut [f32]>,
    dgate: Option<&mut [f32]>,
) {
    if c == 0 || n == 0 || per == 0 {
        return;
    }
    match (dx, dgate) {
        (Some(dx), Some(dg)) => {
            for_each_chunk_pair_mut(&mut dx[..n * per], per, &mut dg[..n * c], c, |s, d, dgs| {
                let (xs, dys) = (&x[s * per..(s + 1) * per], &dy[s * per..(s + 1) * per]);
                gate_rows_grad(dys, &g[s * c..(s + 1) * c], multiply, d);
                gate_grad(xs, dys, multiply, dgs);
            })
        }
        (Some(dx), None) => for_each_chunk_mut(&mut dx[..n * per], per, |s, d| {
            gate_rows_grad(
                &dy[s * per..(s + 1) * per],
                &g[s * c..(s + 1) * c],
                multiply,
                d,
            )
        }),
        (None, Some(dg)) => for_each_chunk_mut(&mut dg[..n * c], c, |s, dgs| {
            gate_grad(
                &x[s * per..(s + 1) * per],
                &dy[s * per..(s + 1) * per],
                multiply,
                dgs,
            )
        }),
        (None, None) => {}
    }
}

crate::simd_fn! {
    /// Rows of `d` = rows of `dys` times `g` (or copied).
    fn gate_rows_grad(dys: &[f32], g: &[f32], multiply: bool, d: &mut [f32]) {
        let c = g.len();
        if multiply {
            for (dr, gr) in d.chunks_exact_mut(c).zip(dys.chunks_exact(c)) {
                for ((v, gv), w) in dr.iter_mut().zip(gr).zip(g) {
                    *v = gv * w;
                }
            }
        } else {
            d.copy_from_slice(&dys[..d.len()]);
        }
    }
}

crate::simd_fn! {
    /// `dgs` = the sum over rows of `dys * xs` (or of `dys`), rows in order.
    fn gate_grad(xs: &[f32], dys: &[f32], multiply: bool, dgs: &mut [f32]) {
        let c = dgs.len();
        dgs.fill(0.0);
        if multiply {
            for (gr, xr) in dys.chunks_exact(c).zip(xs.chunks_exact(c)) {
                for ((v, gv), a) in dgs.iter_mut().zip(gr).zip(xr) {
                    *v += gv * a;
                }
            }
        } else {
            for gr in dys.chunks_exact(c) {
                for (v, gv) in dgs.iter_mut().zip(gr) {
                    *v += gv;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Lcg;

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Bit for bit the plain loops (pixels summed in order), over channel counts around the
    /// vector widths and several samples run in parallel.
    #[test]
    fn match_the_plain_loops_bit_for_bit() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("pool");
        let mut rng = Lcg::new(5);
        for &(n, hw, c) in &[(1, 1, 1), (3, 5, 7), (4, 9, 16), (2, 4, 33), (5, 49, 96)] {
            let per = hw * c;
            let x = rng.vec(n * per);
            let g = rng.vec(n * c);
            let dy = rng.vec(n * per);
            let dyc = rng.vec(n * c);
            // Plain loops.
            let inv = 1.0 / hw as f32;
            let mut mean0 = vec![0.0f32; n * c];
            let mut spread0 = vec![0.0f32; n * per];
            let mut mul0 = vec![0.0f32; n * per];
            let mut add0 = vec![0.0f32; n * per];
            let mut dxm0 = vec![0.0f32; n * per];
            let mut dgm0 = vec![0.0f32; n * c];
            let mut dga0 = vec![0.0f32; n * c];
            for s in 0..n {
                for p in 0..hw {
                    for ch in 0..c {
                        let i = s * per + p * c + ch;
                        let j = s * c + ch;
                        mean0[j] += x[i];
                        spread0[i] = dyc[j] * inv;
                        mul0[i] = x[i] * g[j];
                        add0[i] = x[i] + g[j];
                        dxm0[i] = dy[i] * g[j];
                        dgm0[j] += dy[i] * x[i];
                        dga0[j] += dy[i];
                    }
                }
            }
            mean0.iter_mut().for_each(|v| *v *= inv);
            pool.install(|| {
                let mut mean = vec![9.0f32; n * c];
                mean_pixels(&x, n, hw, c, &mut mean);
                assert_eq!(bits(&mean), bits(&mean0), "mean {n} {hw} {c}");
                let mut spread = vec![9.0f32; n * per];
                mean_pixels_grad(&dyc, n, hw, c, &mut spread);
                assert_eq!(bits(&spread), bits(&spread0));
                let mut y = vec![9.0f32; n * per];
                gate(&x, &g, n, per, c, true, &mut y);
                assert_eq!(bits(&y), bits(&mul0));
                gate(&x, &g, n, per, c, false, &mut y);
                assert_eq!(bits(&y), bits(&add0));
                for multiply in [true, false] {
                    let (want_dx, want_dg) = if multiply {
                        (&dxm0, &dgm0)
                    } else {
                        (&dy, &dga0)
                    };
                    let mut dx = vec![9.0f32; n * per];
                    let mut dg = vec![9.0f32; n * c];
                    gate_backward(
                        &x,
                        &g,
                        &dy,
                        n,
                        per,
                        c,
                        multiply,
                        Some(&mut dx),
                        Some(&mut dg),
                    );
                    assert_eq!(bits(&dx), bits(want_dx));
                    assert_eq!(bits(&dg), bits(want_dg));
                    let mut dx2 = vec![9.0f32; n * per];
                    gate_backward(&x, &g, &dy, n, per, c, multiply, Some(&mut dx2), None);
                    assert_eq!(bits(&dx2), bits(want_dx));
                    let mut dg2 = vec![9.0f32; n * c];
                    gate_backward(&x, &g, &dy, n, per, c, multiply, None, Some(&mut dg2));
                    assert_eq!(bits(&dg2), bits(want_dg));
                }
            });
        }
    }
}
