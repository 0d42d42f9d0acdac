//! Two of the three products of a dense layer with few units (at most [`NARROW`]), such as
//! a `Dense(10)` classifier on a long flattened input: forward `y = x·w` and kernel gradient
//! `dw += xᵀ·dy`. (The input gradient `dx = dy·wᵀ`, 10 multiply-adds per output, stays
//! with the `gemm` crate in one call: it packs `wᵀ` once, and splitting it over rows packs
//! `wᵀ` once per task, which made it slower.)
//!
//! A general GEMM handles these two poorly: 10 columns fill less than one register tile,
//! and it packs the whole kernel for a 32-row batch. Here each row keeps one vector of at
//! most 16 units:
//! - forward: a kernel row of `n` units is one 16-float load, and a few batch rows
//!   accumulate `x[r, i] * w[i, ..]` in registers;
//! - kernel gradient: for 16 consecutive inputs, one accumulator per unit sums
//!   `dy[r, u] * x[r, i..i+16]` over the batch, then adds into `dw`.
//!
//! Tasks: rows of `y`, or input ranges of `dw`; every sum runs in a fixed order inside one
//! task, so results do not depend on the thread count.
//!
//! ```
//! use rkeras_kernels::narrow;
//! // Two rows of three inputs, two units.
//! let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
//! let w = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
//! let mut y = [0.0f32; 4];
//! narrow::forward(2, 3, 2, &x, &w, &mut y);
//! assert_eq!(y, [4.0, 5.0, 10.0, 11.0]);
//! ```

use crate::parallel::for_each_chunk_mut;

/// Most units the narrow kernels take: one 16-float vector per row.
pub const NARROW: usize = 16;

/// Batch rows per forward task.
const ROWS_PER_TASK: usize = 4;

/// Inputs (kernel rows) per kernel-gradient task: a multiple of 16.
const INPUTS_PER_TASK: usize = 512;

type V = [f32; NARROW];

/// Whether the narrow kernels take a dense layer of `units` outputs.
pub fn fits(units: usize) -> bool {
    (1..=NARROW).contains(&units)
}

/// The entry points' checks: `n` units fit, and the operands are long enough (`long`).
fn check(what: &str, n: usize, long: bool) {
    assert!(fits(n), "narrow::{what}: {n} units (at most {NARROW})");
    assert!(long, "narrow::{what}: operand too short");
}

/// Overwrites `y` (`rows x n`) with `x · w`, `x` being `rows x k` and `w` `k x n`, all
/// row-major; `n` is at most [`NARROW`].
pub fn forward(rows: usize, k: usize, n: usize, x: &[f32], w: &[f32], y: &mut [f32]) {
    check(
        "forward",
        n,
        x.len() >= rows * k && w.len() >= k * n && y.len() >= rows * n,
    );
    let (x, w) = (&x[..rows * k], &w[..k * n]);
    for_each_chunk_mut(&mut y[..rows * n], ROWS_PER_TASK * n, |t, yb| {
        let r0 = t * ROWS_PER_TASK;
        let nr = yb.len() / n;
        forward_rows(k, n, &x[r0 * k..(r0 + nr) * k], w, yb);
    });
}

crate::simd_fn! {
    /// [`forward`] for up to [`ROWS_PER_TASK`] rows.
    fn forward_rows(k: usize, n: usize, x: &[f32], w: &[f32], yb: &mut [f32]) {
        match yb.len() / n {
            4 => forward_block::<4>(k, n, x, w, yb),
            3 => forward_block::<3>(k, n, x, w, yb),
            2 => forward_block::<2>(k, n, x, w, yb),
            _ => forward_block::<1>(k, n, x, w, yb),
        }
    }
}

/// 16 floats of `s` from `at` (which must fit).
#[inline(always)]
fn load(s: &[f32], at: usize) -> V {
    let mut v = [0.0; NARROW];
    v.copy_from_slice(&s[at..at + NARROW]);
    v
}

/// How many kernel rows (of `n` units) from the first can be read as 16 floats inside `w`:
/// the lanes past `n` belong to the next rows and are never stored.
#[inline(always)]
fn full_rows(w: &[f32], n: usize, k: usize) -> usize {
    if w.len() >= NARROW {
        ((w.len() - NARROW) / n + 1).min(k)
    } else {
        0
    }
}

/// `acc += a * w`, lane by lane.
#[inline(always)]
fn fma(acc: &mut V, a: f32, w: &V) {
    for l in 0..NARROW {
        acc[l] = a.mul_add(w[l], acc[l]);
    }
}

/// `R` rows of `y = x · w`. Even and odd inputs go to separate accumulators (twice the
/// independent multiply-add chains), added at the end. Each accumulator is its own local
/// (not an element of an array of rows), so that LLVM keeps it in a register.
#[inline(always)]
fn forward_block<const R: usize>(k: usize, n: usize, x: &[f32], w: &[f32], yb: &mut [f32]) {
    let row = |r: usize| &x[(r % R) * k..(r % R + 1) * k];
    let (x0, x1, x2, x3) = (row(0), row(1), row(2), row(3));
    let z = [0.0f32; NARROW];
    let (mut e0, mut e1, mut e2, mut e3) = (z, z, z, z);
    let (mut o0, mut o1, mut o2, mut o3) = (z, z, z, z);
    let full = full_rows(w, n, k);
    let mut i = 0;
    while i + 1 < full {
        let (w0, w1) = (load(w, i * n), load(w, (i + 1) * n));
        fma(&mut e0, x0[i], &w0);
        fma(&mut o0, x0[i + 1], &w1);
        if R > 1 {
            fma(&mut e1, x1[i], &w0);
            fma(&mut o1, x1[i + 1], &w1);
        }
        if R > 2 {
            fma(&mut e2, x2[i], &w0);
            fma(&mut o2, x2[i + 1], &w1);
        }
        if R > 3 {
            fma(&mut e3, x3[i], &w0);
            fma(&mut o3, x3[i + 1], &w1);
        }
        i += 2;
    }
    // The last rows one at a time, from a zero-padded copy, into the odd accumulators.
    while i < k {
        let mut w0 = [0.0f32; NARROW];
        w0[..n].copy_from_slice(&w[i * n..(i + 1) * n]);
        fma(&mut o0, x0[i], &w0);
        fma(&mut o1, x1[i], &w0);
        fma(&mut o2, x2[i], &w0);
        fma(&mut o3, x3[i], &w0);
        i += 1;
    }
    for (r, (e, o)) in [(e0, o0), (e1, o1), (e2, o2), (e3, o3)]
        .iter()
        .take(R)
        .enumerate()
    {
        let sum: V = std::array::from_fn(|l| e[l] + o[l]);
        yb[r * n..(r + 1) * n].copy_from_slice(&sum[..n]);
    }
}

/// Adds `xᵀ · dy` to `dw` (`k x n`), `x` being `rows x k` and `dy` `rows x n`.
pub fn kernel_grad(rows: usize, k: usize, n: usize, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    check(
        "kernel_grad",
        n,
        x.len() >= rows * k && dy.len() >= rows * n && dw.len() >= k * n,
    );
    let (x, dy) = (&x[..rows * k], &dy[..rows * n]);
    for_each_chunk_mut(&mut dw[..k * n], INPUTS_PER_TASK * n, |t, dwc| {
        kernel_grad_inputs(rows, k, n, x, dy, t * INPUTS_PER_TASK, dwc);
    });
}

crate::simd_fn! {
    /// [`kernel_grad`] for the inputs `i0 .. i0 + dwc.len() / n`, 16 at a time (8 on CPUs
    /// without AVX-512, where 16 accumulators of 16 floats do not fit the registers).
    fn kernel_grad_inputs(
        rows: usize,
        k: usize,
        n: usize,
        x: &[f32],
        dy: &[f32],
        i0: usize,
        dwc: &mut [f32],
    ) {
        if crate::simd::current_level() >= 3 {
            kernel_grad_block::<16>(rows, k, n, x, dy, i0, dwc);
        } else {
            kernel_grad_block::<8>(rows, k, n, x, dy, i0, dwc);
        }
    }
}

/// `B` inputs at a time: one accumulator of `B` floats per unit summing
/// `dy[r, u] * x[r, i..i+B]` over the rows in order, then added to `dw[i..i+B][u]`. The unit
/// loop runs to [`NARROW`] with a test against `n` (the same outcome at every step), so the
/// accumulators are indexed only by constants and stay in registers.
#[inline(always)]
fn kernel_grad_block<const B: usize>(
    rows: usize,
    k: usize,
    n: usize,
    x: &[f32],
    dy: &[f32],
    i0: usize,
    dwc: &mut [f32],
) {
    let ni = dwc.len() / n;
    let mut i = 0;
    while i < ni {
        let li = (ni - i).min(B);
        let at = i0 + i;
        let mut acc = [[0.0f32; B]; NARROW];
        if li == B {
            for r in 0..rows {
                let mut xv = [0.0f32; B];
                xv.copy_from_slice(&x[r * k + at..r * k + at + B]);
                let g = &dy[r * n..(r + 1) * n];
                for (u, a) in acc.iter_mut().enumerate() {
                    if u < n {
                        let gu = g[u];
                        for l in 0..B {
                            a[l] = gu.mul_add(xv[l], a[l]);
                        }
                    }
                }
            }
        } else {
            // The partial last block: a zero-padded copy of each row's inputs.
            for r in 0..rows {
                let mut xv = [0.0f32; B];
                xv[..li].copy_from_slice(&x[r * k + at..r * k + at + li]);
                let g = &dy[r * n..(r + 1) * n];
                for (u, a) in acc.iter_mut().enumerate() {
                    if u < n {
                        let gu = g[u];
                        for l in 0..B {
                            a[l] = gu.mul_add(xv[l], a[l]);
                        }
                    }
                }
            }
        }
        let sums = acc;
        for l in 0..li {
            let d = &mut dwc[(i + l) * n..(i + l + 1) * n];
            for (u, v) in d.iter_mut().enumerate() {
                *v += sums[u][l];
            }
        }
        i += B;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Lcg};

    /// Plain loops in f64: `y` and `1 + dw`.
    fn naive(rows: usize, k: usize, n: usize, x: &[f32], w: &[f32], dy: &[f32]) -> [Vec<f32>; 2] {
        let mut y = vec![0.0f32; rows * n];
        let mut dw = vec![0.0f32; k * n];
        for r in 0..rows {
            for u in 0..n {
                let s: f64 = (0..k)
                    .map(|i| x[r * k + i] as f64 * w[i * n + u] as f64)
                    .sum();
                y[r * n + u] = s as f32;
            }
        }
        for i in 0..k {
            for u in 0..n {
                let s: f64 = (0..rows)
                    .map(|r| x[r * k + i] as f64 * dy[r * n + u] as f64)
                    .sum();
                dw[i * n + u] = 1.0 + s as f32;
            }
        }
        [y, dw]
    }

    #[test]
    fn narrow_forward_and_kernel_gradient_match_the_plain_loops() {
        let mut rng = Lcg::new(11);
        // Rows around the task size, inputs around the 16-wide blocks and the task ranges,
        // units from 1 to 16.
        for &(rows, k, n) in &[
            (1, 1, 1),
            (1, 37, 10),
            (3, 16, 16),
            (4, 33, 7),
            (5, 1000, 10),
            (32, 1600, 10),
            (9, 1030, 16),
            (2, 15, 3),
            (7, 2, 16),
        ] {
            let x = rng.vec(rows * k);
            let w = rng.vec(k * n);
            let dy = rng.vec(rows * n);
            let [y0, dw0] = naive(rows, k, n, &x, &w, &dy);
            let mut y = vec![f32::NAN; rows * n];
            forward(rows, k, n, &x, &w, &mut y);
            assert_close(&y, &y0, 1e-4);
            let mut dw = vec![1.0f32; k * n];
            kernel_grad(rows, k, n, &x, &dy, &mut dw);
            assert_close(&dw, &dw0, 1e-4);
        }
    }

    #[test]
    fn narrow_products_are_the_same_bits_for_any_thread_count() {
        let mut rng = Lcg::new(5);
        let (rows, k, n) = (13, 2100, 10);
        let (x, w, dy) = (rng.vec(rows * k), rng.vec(k * n), rng.vec(rows * n));
        let run = || {
            let mut y = vec![0.0f32; rows * n];
            let mut dw = vec![0.0f32; k * n];
            forward(rows, k, n, &x, &w, &mut y);
            kernel_grad(rows, k, n, &x, &dy, &mut dw);
            [y, dw].map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
        };
        let pool = |t| rayon::ThreadPoolBuilder::new().num_threads(t).build();
        let (Ok(p1), Ok(p3)) = (pool(1), pool(3)) else {
            panic!("thread pools");
        };
        assert_eq!(p1.install(run), p3.install(run));
    }

    #[test]
    #[should_panic(expected = "at most 16")]
    fn more_than_sixteen_units_are_refused() {
        let mut y = [0.0f32; 17];
        forward(1, 1, 17, &[1.0], &[0.0; 17], &mut y);
    }
}
