//! Element-wise helpers: copy, bias add, masked multiply.

use crate::activation::ELEMWISE_CHUNK;
use crate::parallel::for_each_chunk_mut;

/// `dst = src` (same length), in parallel chunks: a flatten or reshape moves the whole
/// batch's activations, which one thread would copy while the others wait.
pub fn copy(src: &[f32], dst: &mut [f32]) {
    for_each_chunk_mut(dst, ELEMWISE_CHUNK, |i, c| {
        let off = i * ELEMWISE_CHUNK;
        c.copy_from_slice(&src[off..off + c.len()]);
    });
}

/// `dst += src` (same length), in parallel chunks: a gradient joining one that another
/// branch already wrote.
pub fn add_into(src: &[f32], dst: &mut [f32]) {
    for_each_chunk_mut(dst, ELEMWISE_CHUNK, |i, c| {
        let off = i * ELEMWISE_CHUNK;
        let src = &src[off..off + c.len()];
        c.iter_mut().zip(src).for_each(|(d, s)| *d += s);
    });
}

/// Copies rows `rows` (each `len` values) of `src` into consecutive rows of `dst`, in
/// parallel chunks of rows (assembling a batch from a shuffled dataset).
pub fn gather_rows(src: &[f32], len: usize, rows: &[usize], dst: &mut [f32]) {
    let len = len.max(1);
    let per = (ELEMWISE_CHUNK / len).max(1);
    let used = (rows.len() * len).min(dst.len());
    let dst = &mut dst[..used];
    for_each_chunk_mut(dst, per * len, |t, c| {
        for (d, &r) in c.chunks_exact_mut(len).zip(&rows[t * per..]) {
            d.copy_from_slice(&src[r * len..(r + 1) * len]);
        }
    });
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_and_gather_move_every_value() {
        let src: Vec<f32> = (0..3 * ELEMWISE_CHUNK + 5).map(|v| v as f32).collect();
        let mut dst = vec![0.0f32; src.len()];
        copy(&src, &mut dst);
        assert_eq!(dst, src);
        // Rows of 7 values, some repeated, in a shuffled order, across several chunks.
        let len = 7;
        let rows: Vec<usize> = (0..5000).map(|i| (i * 7919) % 6000).collect();
        let src: Vec<f32> = (0..6000 * len).map(|v| v as f32).collect();
        let mut dst = vec![-1.0f32; rows.len() * len];
        gather_rows(&src, len, &rows, &mut dst);
        for (i, &r) in rows.iter().enumerate() {
            assert_eq!(dst[i * len..(i + 1) * len], src[r * len..(r + 1) * len]);
        }
    }
}
