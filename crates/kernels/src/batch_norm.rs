//! Batch normalization's per-channel passes over rows of `c` channels (NHWC activations:
//! one row per pixel): the batch statistics, the affine map `y = a x + b`, the backward
//! reductions and the input gradient.
//!
//! Every reduction splits the rows into the fixed chunks of [`chunking`] (at most
//! [`CHUNKS`], set by the row count alone), sums each chunk in float32 over runs of
//! [`RUN`] rows and in float64 across runs, and adds the chunks' partials in chunk order:
//! the same bits on any number of threads, and float64-grade sums at float32 speed. The
//! statistics take one pass, on values shifted by the first row (so the variance does not
//! cancel: `var = E[(x-s)²] - E[x-s]²`).
//!
//! ```
//! use rkeras_kernels::batch_norm;
//! // Two channels, three rows.
//! let x = [1.0f32, 10.0, 2.0, 20.0, 3.0, 30.0];
//! let (mut mean, mut var) = ([0.0f64; 2], [0.0f64; 2]);
//! let mut partials = vec![0.0f64; batch_norm::partials_len(2)];
//! batch_norm::moments(&x, 2, &mut mean, &mut var, &mut partials);
//! assert_eq!(mean, [2.0, 20.0]);
//! assert!((var[0] - 2.0 / 3.0).abs() < 1e-12 && (var[1] - 200.0 / 3.0).abs() < 1e-9);
//! ```

use crate::parallel::{for_each_chunk_mut, for_each_chunk_pair_mut};
use crate::Act;

/// The most row chunks a reduction is split into.
pub const CHUNKS: usize = 32;
/// Rows summed in float32 before they join a chunk's float64 partial.
pub const RUN: usize = 8;
/// Channels summed together in one set of float32 accumulators.
const SLAB: usize = 256;
/// Rows per task of the element-wise passes (at least; whole rows).
const APPLY_FLOATS: usize = 1 << 14;

/// The row split of the reductions: `(rows per chunk, chunks)`, fixed by the row count.
pub fn chunking(rows: usize) -> (usize, usize) {
    let cr = rows.div_ceil(CHUNKS).max(1);
    (cr, rows.div_ceil(cr).max(1))
}

/// Floats of the `partials` buffer the reductions need for `c` channels.
pub fn partials_len(c: usize) -> usize {
    2 * CHUNKS * c
}

crate::simd_fn! {
    /// One chunk's sums of `p(row, ch)` and `q(row, ch)` for the rows `rows` of `a` (and `b`,
    /// the same shape) into `part` (`[sum p (c), sum q (c)]`, float64).
    fn chunk_sums(
        a: &[f32],
        b: &[f32],
        shift: &[f32],
        c: usize,
        part: &mut [f64],
        moments: bool,
        add: bool,
    ) {
        if !add {
            part.fill(0.0);
        }
        let (s1, s2) = part.split_at_mut(c);
        let rows = a.len() / c;
        let mut s0 = 0;
        while s0 < c {
            let w = SLAB.min(c - s0);
            let (mut p, mut q) = ([0.0f32; SLAB], [0.0f32; SLAB]);
            let (p, q) = (&mut p[..w], &mut q[..w]);
            let sh = &shift[s0..s0 + w];
            for r in 0..rows {
                let ar = &a[r * c + s0..r * c + s0 + w];
                if moments {
                    for ((pv, qv), (&x, &s)) in p.iter_mut().zip(q.iter_mut()).zip(ar.iter().zip(sh)) {
                        let d = x - s;
                        *pv += d;
                        *qv += d * d;
                    }
                } else {
                    // Backward: p = dy, q = dy * (x - mean).
                    let br = &b[r * c + s0..r * c + s0 + w];
                    for (((pv, qv), &g), (&x, &m)) in
                        p.iter_mut().zip(q.iter_mut()).zip(ar).zip(br.iter().zip(sh))
                    {
                        *pv += g;
                        *qv += g * (x - m);
                    }
                }
                if (r + 1) % RUN == 0 || r + 1 == rows {
                    for ((o, v), (o2, v2)) in s1[s0..s0 + w]
                        .iter_mut()
                        .zip(p.iter_mut())
                        .zip(s2[s0..s0 + w].iter_mut().zip(q.iter_mut()))
                    {
                        *o += f64::from(*v);
                        *o2 += f64::from(*v2);
                        *v = 0.0;
                        *v2 = 0.0;
                    }
                }
            }
            s0 += w;
        }
    }
}

/// The chunked sums of [`chunk_sums`] over all rows, added in chunk order into `out1`,
/// `out2`.
#[allow(clippy::too_many_arguments)]
fn reduce(
    a: &[f32],
    b: &[f32],
    shift: &[f32],
    c: usize,
    partials: &mut [f64],
    moments: bool,
    out1: &mut [f64],
    out2: &mut [f64],
) {
    let rows = a.len() / c.max(1);
    let (cr, nch) = chunking(rows);
    for_each_chunk_mut(&mut partials[..2 * nch * c], 2 * c, |k, part| {
        let (lo, hi) = (k * cr * c, ((k + 1) * cr).min(rows) * c);
        let bb = if moments { &b[..0] } else { &b[lo..hi] };
        chunk_sums(&a[lo..hi], bb, shift, c, part, moments, false);
    });
    add_chunks(&partials[..2 * nch * c], c, out1, out2);
}

/// The chunks' partials (`[sum p (c), sum q (c)]` each) added in chunk order into `out1`,
/// `out2`.
fn add_chunks(partials: &[f64], c: usize, out1: &mut [f64], out2: &mut [f64]) {
    out1.fill(0.0);
    out2.fill(0.0);
    for part in partials.chunks_exact(2 * c) {
        for ch in 0..c {
            out1[ch] += part[ch];
            out2[ch] += part[c + ch];
        }
    }
}

/// Per channel, `sum (x - shift)` into `s1` and `sum (x - shift)²` into `s2`, in float64
/// (the pieces of [`moments`], for statistics summed over several replicas).
/// `partials` holds [`partials_len`]`(c)` values.
pub fn shifted_sums(
    x: &[f32],
    c: usize,
    shift: &[f32],
    s1: &mut [f64],
    s2: &mut [f64],
    partials: &mut [f64],
) {
    reduce(x, x, shift, c, partials, true, s1, s2);
}

/// Mean and biased variance of each of the `c` channels of `x` (rows of `c` values), in
/// float64. `partials` holds [`partials_len`]`(c)` values. No rows: zeros.
pub fn moments(x: &[f32], c: usize, mean: &mut [f64], var: &mut [f64], partials: &mut [f64]) {
    let rows = x.len() / c.max(1);
    if rows == 0 {
        mean.fill(0.0);
        var.fill(0.0);
        return;
    }
    let shift = &x[..c];
    shifted_sums(x, c, shift, mean, var, partials);
    let m = rows as f64;
    for ((mu, v), &s) in mean.iter_mut().zip(var.iter_mut()).zip(shift) {
        let d = *mu / m;
        *v = (*v / m - d * d).max(0.0);
        *mu = f64::from(s) + d;
    }
}

/// The backward reductions: per channel, `sum dy` and `sum dy * (x - mean)`, in float64.
/// `partials` holds [`partials_len`]`(c)` values.
pub fn backward_sums(
    x: &[f32],
    dy: &[f32],
    mean: &[f32],
    c: usize,
    sum_dy: &mut [f64],
    sum_dy_xc: &mut [f64],
    partials: &mut [f64],
) {
    reduce(dy, x, mean, c, partials, false, sum_dy, sum_dy_xc);
}

/// Floats of `dy` a chunk of [`backward_sums_act`] takes the activation's derivative of
/// at a time (whole runs of rows), summed while they are in cache.
const ACT_FLOATS: usize = 1 << 12;

/// [`backward_sums`] of a normalization followed by the element-wise activation `act`,
/// whose derivative needs only its output `y`: `dy`, the activation's output gradient,
/// first becomes in place the normalization's output gradient `dy * act'(y)` (bit for bit
/// [`crate::activation::backward_inplace`]), a few rows at a time while summed. The sums
/// are bit for bit those of `backward_sums` on that gradient.
///
/// ```
/// use rkeras_kernels::{batch_norm, Act};
/// let (x, y) = ([1.0f32, 3.0], [0.0f32, 2.0]);
/// let mut dy = [5.0f32, 7.0];
/// let (mut sd, mut sdx) = ([0.0f64; 1], [0.0f64; 1]);
/// let mut partials = vec![0.0f64; batch_norm::partials_len(1)];
/// batch_norm::backward_sums_act(&x, &mut dy, Act::Relu, &y, &[2.0], 1, &mut sd, &mut sdx, &mut partials);
/// assert_eq!(dy, [0.0, 7.0]);
/// assert_eq!((sd[0], sdx[0]), (7.0, 7.0));
/// ```
#[allow(clippy::too_many_arguments)]
pub fn backward_sums_act(
    x: &[f32],
    dy: &mut [f32],
    act: Act,
    y: &[f32],
    mean: &[f32],
    c: usize,
    sum_dy: &mut [f64],
    sum_dy_xc: &mut [f64],
    partials: &mut [f64],
) {
    debug_assert!(!act.backward_needs_input() && act != Act::Softmax);
    let c = c.max(1);
    let rows = dy.len() / c;
    let (cr, nch) = chunking(rows);
    // Whole runs of rows, so that the runs (and the sums' bits) are those of one call.
    let sub = (ACT_FLOATS / (RUN * c)).max(1) * RUN * c;
    for_each_chunk_pair_mut(
        &mut partials[..2 * nch * c],
        2 * c,
        &mut dy[..rows * c],
        cr * c,
        |k, part, dyc| {
            let lo = k * cr * c;
            part.fill(0.0);
            for (j, d) in dyc.chunks_mut(sub).enumerate() {
                let at = lo + j * sub;
                crate::activation::backward_chunk(act, None, &y[at..at + d.len()], d);
                chunk_sums(d, &x[at..at + d.len()], mean, c, part, false, true);
            }
        },
    );
    add_chunks(&partials[..2 * nch * c], c, sum_dy, sum_dy_xc);
}

crate::simd_fn! {
    fn affine_rows(x: &[f32], y: &mut [f32], a: &[f32], b: &[f32]) {
        let c = a.len();
        for (xr, yr) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
            for ((yv, &xv), (&av, &bv)) in yr.iter_mut().zip(xr).zip(a.iter().zip(b)) {
                *yv = xv * av + bv;
            }
        }
    }
}

crate::simd_fn! {
    fn grad_rows(x: &[f32], dy: &[f32], dx: &mut [f32], m: &[f32], a: &[f32], b: &[f32], k: &[f32], acc: bool) {
        let c = a.len();
        for ((xr, gr), dr) in x.chunks_exact(c).zip(dy.chunks_exact(c)).zip(dx.chunks_exact_mut(c)) {
            for ((((d, &g), &xv), &mv), ((&av, &bv), &kv)) in
                dr.iter_mut().zip(gr).zip(xr).zip(m).zip(a.iter().zip(b).zip(k))
            {
                let v = g * av + (xv - mv) * bv + kv;
                *d = if acc { *d + v } else { v };
            }
        }
    }
}

/// Rows per task of the element-wise passes.
fn apply_rows(c: usize) -> usize {
    (APPLY_FLOATS / c.max(1)).max(1)
}

/// `y = a * x + b` per channel (`a`, `b`: `c` values), in parallel over rows.
pub fn affine(x: &[f32], y: &mut [f32], a: &[f32], b: &[f32]) {
    affine_act(x, y, a, b, Act::Linear);
}

/// `y = act(a * x + b)` per channel, in parallel over rows, the element-wise activation
/// `act` applied to each chunk while it is in cache (inference: a normalization and the
/// activation layer after it in one pass).
pub fn affine_act(x: &[f32], y: &mut [f32], a: &[f32], b: &[f32], act: Act) {
    debug_assert!(act != Act::Softmax);
    let c = a.len().max(1);
    let rows = apply_rows(c);
    for_each_chunk_mut(y, rows * c, |i, yc| {
        let xc = &x[i * rows * c..][..yc.len()];
        affine_rows(xc, yc, a, b);
        if !act.is_linear() {
            crate::activation::apply_slice(act, yc);
        }
    });
}

/// `dx = a * dy + b * (x - mean) + k` per channel: batch normalization's input gradient
/// with the batch statistics folded into per-channel coefficients. In parallel over rows.
#[allow(clippy::too_many_arguments)]
pub fn input_grad(
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    mean: &[f32],
    a: &[f32],
    b: &[f32],
    k: &[f32],
) {
    input_grad_into(x, dy, dx, mean, a, b, k, false);
}

/// [`input_grad`], added to what `dx` holds when `accumulate` (an input other layers read
/// too): bit for bit `dx + input_grad`.
#[allow(clippy::too_many_arguments)]
pub fn input_grad_into(
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    mean: &[f32],
    a: &[f32],
    b: &[f32],
    k: &[f32],
    accumulate: bool,
) {
    let c = a.len().max(1);
    let rows = apply_rows(c);
    for_each_chunk_mut(dx, rows * c, |i, dc| {
        let at = i * rows * c;
        grad_rows(
            &x[at..][..dc.len()],
            &dy[at..][..dc.len()],
            dc,
            mean,
            a,
            b,
            k,
            accumulate,
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Lcg};

    /// The activation applied in the affine pass equals the two passes one after the other.
    #[test]
    fn affine_act_is_affine_then_activation() {
        let mut r = Lcg::new(5);
        let c = 24;
        let x = r.vec(c * 700);
        let (a, b) = (r.vec(c), r.vec(c));
        for act in [Act::Relu, Act::Relu6, Act::Swish, Act::Linear] {
            let mut want = vec![0.0; x.len()];
            affine(&x, &mut want, &a, &b);
            want.iter_mut().for_each(|v| *v = act.apply(*v));
            let mut y = vec![f32::NAN; x.len()];
            affine_act(&x, &mut y, &a, &b, act);
            assert_close(&y, &want, 1e-6);
        }
    }

    /// Plain float64 two-pass statistics.
    fn oracle(x: &[f32], c: usize) -> (Vec<f64>, Vec<f64>) {
        let rows = x.len() / c;
        let mut mean = vec![0.0f64; c];
        for r in x.chunks_exact(c) {
            mean.iter_mut()
                .zip(r)
                .for_each(|(m, &v)| *m += f64::from(v));
        }
        mean.iter_mut().for_each(|m| *m /= rows as f64);
        let mut var = vec![0.0f64; c];
        for r in x.chunks_exact(c) {
            for ((v, &xv), m) in var.iter_mut().zip(r).zip(&mean) {
                *v += (f64::from(xv) - m).powi(2);
            }
        }
        var.iter_mut().for_each(|v| *v /= rows as f64);
        (mean, var)
    }

    #[test]
    fn moments_match_two_pass_float64_with_an_offset() {
        let mut rng = Lcg::new(3);
        for (rows, c) in [(1, 3), (7, 5), (300, 17), (1000, 300), (4099, 64)] {
            // An offset of 100 against values within +-1: the shifted sums must not cancel.
            let x: Vec<f32> = rng.vec(rows * c).into_iter().map(|v| v + 100.0).collect();
            let (mut mean, mut var) = (vec![0.0; c], vec![0.0; c]);
            let mut partials = vec![0.0; partials_len(c)];
            moments(&x, c, &mut mean, &mut var, &mut partials);
            let (m, v) = oracle(&x, c);
            for ch in 0..c {
                assert!((mean[ch] - m[ch]).abs() < 1e-6, "{rows}x{c} mean {ch}");
                assert!(
                    (var[ch] - v[ch]).abs() < 1e-5 * v[ch].max(1e-3),
                    "{rows}x{c} var {ch}"
                );
            }
        }
    }

    #[test]
    fn backward_sums_and_element_wise_passes_match_plain_loops() {
        let mut rng = Lcg::new(5);
        let (rows, c) = (777, 40);
        let (x, dy) = (rng.vec(rows * c), rng.vec(rows * c));
        let mean = rng.vec(c);
        let (mut sd, mut sdx) = (vec![0.0; c], vec![0.0; c]);
        let mut partials = vec![0.0; partials_len(c)];
        backward_sums(&x, &dy, &mean, c, &mut sd, &mut sdx, &mut partials);
        for ch in 0..c {
            let (mut a, mut b) = (0.0f64, 0.0f64);
            for r in 0..rows {
                let (g, xv) = (dy[r * c + ch] as f64, x[r * c + ch] as f64);
                a += g;
                b += g * (xv - mean[ch] as f64);
            }
            assert!(
                (sd[ch] - a).abs() < 1e-4 && (sdx[ch] - b).abs() < 1e-4,
                "{ch}"
            );
        }
        let (a, b, k) = (rng.vec(c), rng.vec(c), rng.vec(c));
        let mut y = vec![f32::NAN; rows * c];
        affine(&x, &mut y, &a, &b);
        let want: Vec<f32> = (0..rows * c).map(|i| x[i] * a[i % c] + b[i % c]).collect();
        assert_close(&y, &want, 1e-6);
        let mut dx = vec![f32::NAN; rows * c];
        input_grad(&x, &dy, &mut dx, &mean, &a, &b, &k);
        let want: Vec<f32> = (0..rows * c)
            .map(|i| dy[i] * a[i % c] + (x[i] - mean[i % c]) * b[i % c] + k[i % c])
            .collect();
        assert_close(&dx, &want, 1e-5);
        // Added into a gradient already there: bit for bit the sum of the two.
        let base = rng.vec(rows * c);
        let mut acc = base.clone();
        input_grad_into(&x, &dy, &mut acc, &mean, &a, &b, &k, true);
        for ((u, v), w) in acc.iter().zip(&base).zip(&dx) {
            assert_eq!(u.to_bits(), (v + w).to_bits());
        }
    }

    /// The activation's derivative taken inside the sums: bit for bit the activation's
    /// own backward pass, then the sums, on every shape (channels past one slab, chunks
    /// that do not end on a run, rows past one block of the fused pass).
    #[test]
    fn backward_sums_with_the_activation_are_the_two_passes_bitwise() {
        let mut rng = Lcg::new(11);
        for (rows, c, act) in [
            (777, 40, Act::Relu),
            (1001, 300, Act::Relu),
            (3, 5, Act::Relu6),
            (4099, 17, Act::Sigmoid),
            (250, 520, Act::Relu6),
        ] {
            let x = rng.vec(rows * c);
            let mut y = rng.vec(rows * c);
            y.iter_mut().for_each(|v| *v = act.apply(*v * 4.0));
            let dy = rng.vec(rows * c);
            let mean = rng.vec(c);
            let mut want_dy = dy.clone();
            crate::activation::backward_inplace(act, None, &y, &mut want_dy, c);
            let (mut sd, mut sdx) = (vec![0.0; c], vec![0.0; c]);
            let mut partials = vec![0.0; partials_len(c)];
            backward_sums(&x, &want_dy, &mean, c, &mut sd, &mut sdx, &mut partials);
            let mut got_dy = dy.clone();
            let (mut gd, mut gdx) = (vec![f64::NAN; c], vec![f64::NAN; c]);
            partials.fill(f64::NAN);
            backward_sums_act(
                &x,
                &mut got_dy,
                act,
                &y,
                &mean,
                c,
                &mut gd,
                &mut gdx,
                &mut partials,
            );
            let bits32 = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            let bits64 = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits32(&got_dy), bits32(&want_dy), "{rows}x{c} {act:?}");
            assert_eq!(bits64(&gd), bits64(&sd), "{rows}x{c} {act:?}");
            assert_eq!(bits64(&gdx), bits64(&sdx), "{rows}x{c} {act:?}");
        }
    }

    #[test]
    fn reductions_do_not_depend_on_the_thread_count() {
        let mut rng = Lcg::new(8);
        let (rows, c) = (2000, 24);
        let x = rng.vec(rows * c);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let (mut mean, mut var) = (vec![0.0; c], vec![0.0; c]);
                let mut partials = vec![0.0; partials_len(c)];
                moments(&x, c, &mut mean, &mut var, &mut partials);
                (mean, var)
            })
        };
        assert_eq!(run(1), run(3));
    }
}
