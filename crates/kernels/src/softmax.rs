//! Row-wise softmax over the last axis, forward and backward.

use crate::parallel::for_each_chunk_mut;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 256;

/// Stable softmax of one row, in place.
#[inline]
pub fn softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Softmax of every row of `cols` values, in place.
pub fn softmax_rows_inplace(data: &mut [f32], cols: usize) {
    if cols == 0 {
        return;
    }
    for_each_chunk_mut(data, ROWS_PER_TASK * cols, |_, c| {
        for row in c.chunks_exact_mut(cols) {
            softmax_row(row);
        }
    });
}

/// Turns `dy` (gradient of the softmax output `y`) into the gradient of its input:
/// `dx = y * (dy - sum(dy * y))`, row by row, in place.
pub fn softmax_rows_backward_inplace(y: &[f32], dy: &mut [f32], cols: usize) {
    if cols == 0 {
        return;
    }
    for_each_chunk_mut(dy, ROWS_PER_TASK * cols, |i, c| {
        let ys = &y[i * ROWS_PER_TASK * cols..][..c.len()];
        for (g, o) in c.chunks_exact_mut(cols).zip(ys.chunks_exact(cols)) {
            let dot: f32 = g.iter().zip(o).map(|(a, b)| a * b).sum();
            for (gv, &ov) in g.iter_mut().zip(o) {
                *gv = ov * (*gv - dot);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_stable_and_normalised() {
        let mut r = [1000.0f32, 1001.0, 999.0];
        softmax_row(&mut r);
        let s: f32 = r.iter().sum();
        assert!((s - 1.0).abs() < 1e-6);
        assert!(r[1] > r[0] && r[0] > r[2]);
    }

    #[test]
    fn backward_matches_finite_difference() {
        let x = [0.3f32, -1.2, 0.8, 0.1];
        let w = [0.5f32, -1.0, 2.0, 0.25]; // loss = sum(w * softmax(x))
        let mut y = x;
        softmax_row(&mut y);
        let mut g = w;
        softmax_rows_backward_inplace(&y, &mut g, 4);
        for i in 0..4 {
            let f = |d: f32| {
                let mut xs = x;
                xs[i] += d;
                softmax_row(&mut xs);
                xs.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>()
            };
            let fd = (f(1e-3) - f(-1e-3)) / 2e-3;
            assert!((fd - g[i]).abs() < 1e-3, "{i}: {fd} vs {}", g[i]);
        }
    }
}
