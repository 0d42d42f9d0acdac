//! Element-wise helpers: bias add, masked multiply.

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
