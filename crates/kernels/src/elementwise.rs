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

/// Whether `a` and `b` hold the same bits (lengths included), the two halves of a long
/// pair compared on two threads: a layer checks its kernel against the copy its cached
/// transform was made from at every call (ResNet50's 3x3 kernels at batch 1: 2.4 MB
/// each). Bitwise, so a NaN weight matches itself and keeps the cache.
///
/// ```
/// use rkeras_kernels::elementwise::same_bits;
/// assert!(same_bits(&[1.0, f32::NAN], &[1.0, f32::NAN]));
/// assert!(!same_bits(&[0.0], &[-0.0]));
/// assert!(!same_bits(&[1.0], &[1.0, 2.0]));
/// ```
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    fn serial(a: &[f32], b: &[f32]) -> bool {
        // Blocks of OR-ed differences vectorise; the early exit is per block.
        a.chunks(256).zip(b.chunks(256)).all(|(x, y)| {
            x.iter()
                .zip(y)
                .fold(0u32, |d, (p, q)| d | (p.to_bits() ^ q.to_bits()))
                == 0
        })
    }
    if a.len() != b.len() {
        return false;
    }
    if a.len() < 1 << 16 || rayon::current_num_threads() < 2 {
        return serial(a, b);
    }
    let h = a.len() / 2;
    let (l, r) = rayon::join(|| serial(&a[..h], &b[..h]), || serial(&a[h..], &b[h..]));
    l && r
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

/// Whole rows of `width` values per parallel task of row-wise work: about
/// [`ELEMWISE_CHUNK`] values, at least one row ([`concat_rows`], [`split_rows`], max
/// pooling, zero padding).
///
/// ```
/// use rkeras_kernels::elementwise::rows_per_task;
/// assert_eq!(rows_per_task(56 * 64), 4);
/// assert_eq!(rows_per_task(1 << 20), 1);
/// ```
pub fn rows_per_task(width: usize) -> usize {
    (ELEMWISE_CHUNK / width.max(1)).max(1)
}

/// Concatenation along the last axis: row `r` of `y` is row `r` of each `xs[i]` (`slabs[i]`
/// values each) side by side, for `rows` rows, in parallel blocks of rows.
///
/// ```
/// use rkeras_kernels::elementwise::concat_rows;
/// let (a, b) = ([1.0f32, 2.0, 3.0, 4.0], [9.0f32, 8.0]);
/// let mut y = [0.0f32; 6];
/// concat_rows(&[&a, &b], &[2, 1], 2, &mut y);
/// assert_eq!(y, [1.0, 2.0, 9.0, 3.0, 4.0, 8.0]);
/// ```
pub fn concat_rows(xs: &[&[f32]], slabs: &[usize], rows: usize, y: &mut [f32]) {
    let total: usize = slabs.iter().sum();
    if total == 0 || rows == 0 {
        return;
    }
    let per = rows_per_task(total);
    for_each_chunk_mut(&mut y[..rows * total], per * total, |t, yc| {
        let r0 = t * per;
        for (r, yr) in yc.chunks_exact_mut(total).enumerate() {
            let mut off = 0;
            for (x, &s) in xs.iter().zip(slabs) {
                yr[off..off + s].copy_from_slice(&x[(r0 + r) * s..(r0 + r + 1) * s]);
                off += s;
            }
        }
    });
}

/// The gradient of [`concat_rows`]: each `dxs[i]` gets its columns of `dy`, copied, or
/// added to what it holds where `accumulate[i]` (a gradient other readers also write; an
/// input past the end of `accumulate` is copied).
///
/// ```
/// use rkeras_kernels::elementwise::split_rows;
/// let dy = [1.0f32, 2.0, 9.0, 3.0, 4.0, 8.0];
/// let (mut a, mut b) = ([0.0f32; 4], [1.0f32; 2]);
/// split_rows(&dy, &[2, 1], 2, &mut [&mut a, &mut b], &[false, true]);
/// assert_eq!((a, b), ([1.0, 2.0, 3.0, 4.0], [10.0, 9.0]));
/// ```
pub fn split_rows(
    dy: &[f32],
    slabs: &[usize],
    rows: usize,
    dxs: &mut [&mut [f32]],
    accumulate: &[bool],
) {
    let total: usize = slabs.iter().sum();
    let mut off = 0;
    for (i, (dx, &s)) in dxs.iter_mut().zip(slabs).enumerate() {
        let acc = accumulate.get(i).copied().unwrap_or(false);
        if s == 0 {
            continue;
        }
        let per = rows_per_task(s);
        for_each_chunk_mut(&mut dx[..rows * s], per * s, |t, dc| {
            let r0 = t * per;
            for (r, dr) in dc.chunks_exact_mut(s).enumerate() {
                let src = &dy[(r0 + r) * total + off..][..s];
                if acc {
                    dr.iter_mut().zip(src).for_each(|(d, v)| *d += v);
                } else {
                    dr.copy_from_slice(src);
                }
            }
        });
        off += s;
    }
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

    #[test]
    fn same_bits_finds_one_differing_value_anywhere() {
        let a: Vec<f32> = (0..200_003).map(|v| v as f32 * 0.5).collect();
        assert!(same_bits(&a, &a.clone()));
        for at in [0, 255, 256, 100_001, 100_002, 200_002] {
            let mut b = a.clone();
            b[at] = f32::from_bits(b[at].to_bits() ^ 1);
            assert!(!same_bits(&a, &b), "{at}");
        }
        assert!(!same_bits(&a, &a[1..]));
    }

    #[test]
    fn concat_and_split_rows_over_many_chunks() {
        let rows = 3000;
        let slabs = [5usize, 0, 17];
        let a: Vec<f32> = (0..rows * 5).map(|v| v as f32).collect();
        let b: Vec<f32> = (0..rows * 17).map(|v| -(v as f32)).collect();
        let mut y = vec![f32::NAN; rows * 22];
        concat_rows(&[&a, &[], &b], &slabs, rows, &mut y);
        for r in 0..rows {
            assert_eq!(y[r * 22..r * 22 + 5], a[r * 5..(r + 1) * 5]);
            assert_eq!(y[r * 22 + 5..(r + 1) * 22], b[r * 17..(r + 1) * 17]);
        }
        let (mut da, mut db) = (vec![1.0f32; rows * 5], vec![f32::NAN; rows * 17]);
        split_rows(
            &y,
            &slabs,
            rows,
            &mut [&mut da, &mut [], &mut db],
            &[true, false, false],
        );
        let want_a: Vec<f32> = a.iter().map(|v| v + 1.0).collect();
        assert_eq!(da, want_a);
        assert_eq!(db, b);
    }
}
