//! Element-wise helpers: bias add, scaling, masked multiply.

use crate::activation::ELEMWISE_CHUNK;
use crate::parallel::for_each_chunk_mut;

/// Adds `bias` (length `cols`) to every row of `data`.
pub fn add_bias_rows(data: &mut [f32], bias: &[f32]) {
    let cols = bias.len();
    if cols == 0 {
        return;
    }
    for_each_chunk_mut(data, (ELEMWISE_CHUNK / cols).max(1) * cols, |_, c| {
        for row in c.chunks_exact_mut(cols) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    });
}

/// `dst[i] = src[i] * mask[i]`.
pub fn mul_into(src: &[f32], mask: &[f32], dst: &mut [f32]) {
    for_each_chunk_mut(dst, ELEMWISE_CHUNK, |i, c| {
        let off = i * ELEMWISE_CHUNK;
        let (s, m) = (&src[off..off + c.len()], &mask[off..off + c.len()]);
        for ((d, a), b) in c.iter_mut().zip(s).zip(m) {
            *d = a * b;
        }
    });
}

/// `data[i] *= mask[i]`.
pub fn mul_inplace(data: &mut [f32], mask: &[f32]) {
    for_each_chunk_mut(data, ELEMWISE_CHUNK, |i, c| {
        let m = &mask[i * ELEMWISE_CHUNK..][..c.len()];
        for (d, b) in c.iter_mut().zip(m) {
            *d *= b;
        }
    });
}

/// `data[i] *= s`.
pub fn scale_inplace(data: &mut [f32], s: f32) {
    for_each_chunk_mut(data, ELEMWISE_CHUNK, |_, c| {
        c.iter_mut().for_each(|v| *v *= s)
    });
}
