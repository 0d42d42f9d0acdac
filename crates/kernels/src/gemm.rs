//! Single-threaded f32 GEMM over strided views (a thin safe wrapper over the `gemm` crate),
//! plus a row-blocked parallel GEMM whose split depends only on the shape.
//!
//! Threading policy: convolutions call [`sgemm`] from their own per-sample tasks (measured
//! fastest on the CNN training shapes, see `shared/anchors/GEMM_SHAPES.md`); the dense layer
//! calls [`par_sgemm`], which cuts the output rows into fixed blocks.

use crate::parallel::for_each_chunk_mut;
use std::cell::Cell;

thread_local! {
    static IN_GEMM_CRATE: Cell<bool> = const { Cell::new(false) };
}

/// True while this thread is inside the `gemm` crate. That crate allocates its packing
/// buffers on every call; allocation-counting tests use this to tell its allocations from
/// ours (a `const` thread-local: safe to read from inside a global allocator).
pub fn in_gemm_crate() -> bool {
    IN_GEMM_CRATE.with(Cell::get)
}

/// Starts, once per process, a short background thread that runs the `gemm` crate's
/// one-time set-up: at its first product it reads the CPU's cache sizes from sysfs (some 40
/// files, 1-2 ms on a VM), which would otherwise land in a model's first prediction. Model
/// construction calls it, so the set-up overlaps building or loading the model. It touches
/// no thread pool, and allocates nothing outside the `gemm` crate (see [`in_gemm_crate`])
/// but the thread itself; where the thread cannot start, the first product does the set-up
/// as before.
///
/// ```
/// rkeras_kernels::gemm::warm_up_in_background();
/// rkeras_kernels::gemm::warm_up_in_background(); // a no-op after the first call
/// ```
pub fn warm_up_in_background() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("rkeras-gemm-set-up".into())
            .spawn(|| {
                // Large enough to take the crate's packed path (which reads the cache sizes).
                const S: usize = 48;
                let a = [0.5f32; S * S];
                let mut c = [0.0f32; S * S];
                sgemm(
                    S,
                    S,
                    S,
                    MatRef::row_major(&a, S),
                    MatRef::row_major(&a, S),
                    &mut c,
                    S,
                    false,
                );
            });
        // Detached when started; when not, the first product does the set-up itself.
        drop(spawned);
    });
}

/// A read-only strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// Backing storage.
    pub data: &'a [f32],
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major view with `cols` columns.
    pub fn row_major(data: &'a [f32], cols: usize) -> Self {
        MatRef {
            data,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major matrix with `cols` columns.
    pub fn row_major_t(data: &'a [f32], cols: usize) -> Self {
        MatRef {
            data,
            rs: 1,
            cs: cols,
        }
    }
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `c[m x n] (row-major, row stride ldc) = a[m x k] * b[k x n]`, plus the old `c` when
/// `accumulate`. Single-threaded.
///
/// ```
/// use rkeras_kernels::gemm::{sgemm, MatRef};
/// let a = [1.0f32, 2.0, 3.0, 4.0]; // 2x2
/// let b = [1.0f32, 0.0, 0.0, 1.0]; // identity
/// let mut c = [0.0f32; 4];
/// sgemm(2, 2, 2, MatRef::row_major(&a, 2), MatRef::row_major(&b, 2), &mut c, 2, false);
/// assert_eq!(c, a);
/// ```
///
/// # Panics
/// If a view is too short for its extent (a caller bug, checked because the crate below
/// works on raw pointers).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    sgemm_on(m, n, k, a, b, c, ldc, accumulate, 1);
}

/// As [`sgemm`], on up to `threads` threads of the current pool (the `gemm` crate's own
/// split over tiles of `c`): for one big GEMM when the caller has fewer tasks than cores
/// (a convolution of a single image). Each element of `c` sums over `k` in the same order
/// as in [`sgemm`], so the result is bitwise the same whatever `threads` is.
///
/// ```
/// use rkeras_kernels::gemm::{sgemm, sgemm_threaded, MatRef};
/// let a: Vec<f32> = (0..64 * 96).map(|i| (i % 7) as f32 - 3.0).collect();
/// let b: Vec<f32> = (0..96 * 80).map(|i| (i % 5) as f32 * 0.5).collect();
/// let (mut c1, mut c2) = (vec![0.0f32; 64 * 80], vec![0.0f32; 64 * 80]);
/// sgemm(64, 80, 96, MatRef::row_major(&a, 96), MatRef::row_major(&b, 80), &mut c1, 80, false);
/// sgemm_threaded(64, 80, 96, MatRef::row_major(&a, 96), MatRef::row_major(&b, 80), &mut c2, 80, false, 2);
/// assert_eq!(c1, c2);
/// ```
///
/// # Panics
/// As [`sgemm`].
#[allow(clippy::too_many_arguments)]
pub fn sgemm_threaded(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    threads: usize,
) {
    sgemm_on(m, n, k, a, b, c, ldc, accumulate, threads.max(1));
}

#[allow(clippy::too_many_arguments)]
fn sgemm_on(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(a.fits(m, k) && b.fits(k, n), "sgemm: operand too short");
    assert!((m - 1) * ldc + n <= c.len(), "sgemm: output too short");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[i * ldc..i * ldc + n].fill(0.0);
            }
        }
        return;
    }
    if few_rows(m, k, n, b) {
        // On the calling thread alone (as every product of a few rows; see below). A
        // single row's stride does not matter.
        let ldc = if m == 1 { ldc.max(n) } else { ldc };
        let c = OutRows {
            ptr: c.as_mut_ptr(),
            ldc,
            cols: n,
            _out: std::marker::PhantomData,
        };
        // `c` holds rows 0..m of n columns (asserted above; for one row, the stride is
        // never used) and is uniquely borrowed for this call.
        few_rows_gemm(m, n, k, a, b, c, accumulate);
        return;
    }
    // A few rows stay on the calling thread: too little work to share, and tasks spawned
    // here would make the pool's queues grow (an allocation inside training steps).
    let par = if threads > 1 && m > FEW_ROWS {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every accessed element inside the three slices;
    // `c` is uniquely borrowed, `a` and `b` are shared and never written.
    unsafe { raw_gemm(m, n, k, c.as_mut_ptr(), ldc, accumulate, a, b, par) };
}

/// Products of at most this many rows whose `b` is row-major and larger than the caches
/// keep ([`SPLIT_MIN_B`] floats) run [`few_rows_gemm`].
pub const FEW_ROWS: usize = 16;

/// Whether `a[m x k] * b[k x n]` runs [`few_rows_gemm`] (the split never changes it: `n`
/// is the whole product's). Only where `b` is too large for the caches: its one pass over
/// `b` then beats the `gemm` crate, which packs all of `b` first (a batch-1 ResNet50's
/// deep 3x3 kernels, 4608 x 512: 11.9 against 7.4 GFLOP/s at 4 rows). A `b` that fits is
/// multiplied 2-3x faster by the `gemm` crate's register-blocked kernel at any row count
/// (16 x 128 x 32, a Winograd position's product on a few small images: 40 against 15
/// GFLOP/s on one thread), since the few-rows loop loads and stores its sums for every
/// row of `b`.
fn few_rows(m: usize, k: usize, n: usize, b: MatRef<'_>) -> bool {
    m <= FEW_ROWS && b.cs == 1 && k * n >= SPLIT_MIN_B
}

/// Terms of each partial sum of the few-rows products ([`few_rows_gemm`]).
const FEW_ROWS_K: usize = 128;

/// Floats of sums [`block_part`] updates at a time (a strip of its rows; 16 KB, half of L1).
const STRIP_FLOATS: usize = 4096;

crate::simd_fn! {
    /// One block of a few-rows product: `part[i * ldp + j] = sum over p in p0..end of
    /// a[i][p] * b[p][j0 + j]` for `i < m`, `j < w`, each sum from zero in order with FMA,
    /// so every element is the same bits whatever the split of the columns. The rows of
    /// `b` are read in order, four at a time, each against strips of the sums kept in L1.
    fn block_part(
        m: usize,
        w: usize,
        p0: usize,
        end: usize,
        a: MatRef<'_>,
        b: MatRef<'_>,
        j0: usize,
        part: &mut [f32],
        ldp: usize,
    ) {
        let strip = (STRIP_FLOATS / m.max(1)).clamp(16, 1024);
        let av = |i: usize, p: usize| a.data[i * a.rs + p * a.cs];
        for s0 in (0..w).step_by(strip) {
            let sw = strip.min(w - s0);
            let js = j0 + s0;
            let brow = |p: usize| &b.data[p * b.rs + js..][..sw];
            for i in 0..m {
                part[i * ldp + s0..][..sw].fill(0.0);
            }
            let mut p = p0;
            while p + 4 <= end {
                let (b0, b1, b2, b3) = (brow(p), brow(p + 1), brow(p + 2), brow(p + 3));
                for i in 0..m {
                    let (a0, a1, a2, a3) = (av(i, p), av(i, p + 1), av(i, p + 2), av(i, p + 3));
                    let r = &mut part[i * ldp + s0..][..sw];
                    for j in 0..sw {
                        let t = a0.mul_add(b0[j], r[j]);
                        let t = a1.mul_add(b1[j], t);
                        let t = a2.mul_add(b2[j], t);
                        r[j] = a3.mul_add(b3[j], t);
                    }
                }
                p += 4;
            }
            while p < end {
                let b0 = brow(p);
                for i in 0..m {
                    let a0 = av(i, p);
                    let r = &mut part[i * ldp + s0..][..sw];
                    for j in 0..sw {
                        r[j] = a0.mul_add(b0[j], r[j]);
                    }
                }
                p += 1;
            }
        }
    }
}

/// `c[m x n] (row stride ldc) (+)= a[m x k] * b[k x n]` for a few rows (`m <=`
/// [`FEW_ROWS`]) and a row-major `b` (the deep layers of a network on one small image, a
/// dense layer on a small batch), on the calling thread: `b` is read once, with no packed
/// copy (the `gemm` crate packs all of `b` for a handful of rows: three passes over a
/// kernel that does not fit in cache). Each element sums blocks of [`FEW_ROWS_K`] terms
/// ([`block_part`]) and adds the blocks in order from zero: the same bits as
/// [`few_rows_split`].
fn few_rows_gemm(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: OutRows<'_>,
    accumulate: bool,
) {
    const ACC: usize = 4096;
    let strip = (ACC / m.max(1)).clamp(8, 512) / 8 * 8;
    let (mut acc, mut part) = ([0.0f32; ACC], [0.0f32; ACC]);
    for j0 in (0..n).step_by(strip) {
        let w = strip.min(n - j0);
        acc[..m * w].fill(0.0);
        for p0 in (0..k).step_by(FEW_ROWS_K) {
            let end = (p0 + FEW_ROWS_K).min(k);
            block_part(m, w, p0, end, a, b, j0, &mut part, w);
            acc[..m * w]
                .iter_mut()
                .zip(&part[..m * w])
                .for_each(|(x, y)| *x += y);
        }
        for i in 0..m {
            c.write(i, j0, &acc[i * w..(i + 1) * w], accumulate);
        }
    }
}

/// Floats of block sums [`few_rows_split`] keeps at once (per wave of blocks).
const SPLIT_PARTS: usize = 1 << 16;

/// Few-rows products whose `b` holds at least this many floats (more than the caches keep)
/// are split over the threads by blocks of `k` ([`few_rows_split`]).
const SPLIT_MIN_B: usize = 1 << 18;

thread_local! {
    /// [`few_rows_split`]'s block sums and totals, kept by the calling thread.
    static SPLIT_BUF: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// As [`few_rows_gemm`] (the same bits), on the pool's threads, each task reading whole
/// rows of a block of [`FEW_ROWS_K`] rows of `b` (contiguous memory, which the hardware
/// streams better than the column strips of a split by columns): the blocks' sums are kept
/// apart, then added in order. Returns false, having done nothing, when the product is
/// too small to gain from it or this thread's buffer is in use (a task picked up while
/// waiting inside another split).
#[allow(clippy::too_many_arguments)]
fn few_rows_split(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) -> bool {
    if k * n < SPLIT_MIN_B || m * n > SPLIT_PARTS || rayon::current_num_threads() <= 1 {
        return false;
    }
    SPLIT_BUF.with(|cell| {
        let Ok(mut buf) = cell.try_borrow_mut() else {
            return false;
        };
        let blocks = k.div_ceil(FEW_ROWS_K);
        // Waves of equal size, each at most SPLIT_PARTS floats of sums.
        let waves = blocks.div_ceil((SPLIT_PARTS / (m * n)).max(1));
        let wave = blocks.div_ceil(waves);
        // Column chunks: at least eight tasks per wave where the columns allow.
        let chunks = 8usize.div_ceil(wave).min(n.div_ceil(16));
        let cw = n.div_ceil(chunks).next_multiple_of(16).min(n);
        let chunks = n.div_ceil(cw);
        let region = m * cw;
        let need = (wave * chunks + chunks) * region;
        if buf.len() < need {
            buf.resize(need, 0.0);
        }
        let (parts, totals) = buf[..need].split_at_mut(wave * chunks * region);
        totals.fill(0.0);
        for q0 in (0..blocks).step_by(wave) {
            let qn = wave.min(blocks - q0);
            crate::parallel::for_each_chunk_mut(
                &mut parts[..qn * chunks * region],
                region,
                |t, r| {
                    let (q, ch) = (q0 + t / chunks, t % chunks);
                    let (j0, w) = (ch * cw, cw.min(n - ch * cw));
                    let p0 = q * FEW_ROWS_K;
                    block_part(m, w, p0, (p0 + FEW_ROWS_K).min(k), a, b, j0, r, w);
                },
            );
            let parts = &parts[..qn * chunks * region];
            crate::parallel::for_each_chunk_mut(totals, region, |ch, tot| {
                let len = m * cw.min(n - ch * cw);
                for q in 0..qn {
                    let p = &parts[(q * chunks + ch) * region..][..len];
                    tot[..len].iter_mut().zip(p).for_each(|(x, y)| *x += y);
                }
            });
        }
        for ch in 0..chunks {
            let (j0, w) = (ch * cw, cw.min(n - ch * cw));
            let tot = &totals[ch * region..];
            for i in 0..m {
                let row = &mut c[i * ldc + j0..][..w];
                let v = &tot[i * w..(i + 1) * w];
                if accumulate {
                    row.iter_mut().zip(v).for_each(|(x, y)| *x += y);
                } else {
                    row.copy_from_slice(v);
                }
            }
        }
        true
    })
}

/// Columns `c0 ..` of `m` rows (row stride `ldc`) of an output that other tasks write
/// other columns of.
#[derive(Clone, Copy)]
struct OutRows<'a> {
    ptr: *mut f32,
    ldc: usize,
    cols: usize,
    _out: std::marker::PhantomData<&'a mut [f32]>,
}

impl OutRows<'_> {
    /// Writes (or adds) `v` at row `i`, columns `j0 .. j0 + v.len()` of this task's block.
    fn write(&self, i: usize, j0: usize, v: &[f32], add: bool) {
        assert!(
            j0 + v.len() <= self.cols,
            "few_rows_gemm: column out of block"
        );
        // SAFETY: the creator of `OutRows` guarantees that rows `0..m` of `cols` columns
        // (row stride `ldc`) from `ptr` lie in one output that only this task writes there;
        // `j0 + v.len() <= cols` is checked above.
        let row =
            unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.ldc + j0), v.len()) };
        if add {
            row.iter_mut().zip(v).for_each(|(x, y)| *x += y);
        } else {
            row.copy_from_slice(v);
        }
    }
}

/// The `gemm` crate's f32 GEMM on `c` (row stride `ldc`) from views `a` and `b`, marked as
/// inside the crate for the allocation-counting tests.
///
/// # Safety
/// `a` and `b` must hold every element of their `m x k` and `k x n` extents, and `c` must
/// point at `m` rows of `n` writable floats (row stride `ldc`) that nothing else accesses
/// during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn raw_gemm(
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    a: MatRef<'_>,
    b: MatRef<'_>,
    par: gemm::Parallelism,
) {
    IN_GEMM_CRATE.with(|f| f.set(true));
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
    IN_GEMM_CRATE.with(|f| f.set(false));
}

/// A raw pointer to one output matrix that column-block tasks write apart.
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint column blocks through it (see `sgemm_col_blocks`).
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    fn at(&self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// `c[m x n] (row stride ldc) (+)= a[m x k] * b[k x n]` as parallel tasks over blocks of
/// `block` columns (the last narrower), each a single-threaded GEMM: for short, wide
/// products whose `b` is the big operand (a deep convolution's kernel against few rows),
/// where each task packs only its own columns of `b`. The split depends on `n` and
/// `block` alone; each element sums over `k` as [`sgemm`] of its block does. A product of
/// a few rows whose `b` is larger than the caches is split by blocks of `k` instead (the
/// same bits as [`sgemm`]), each task reading whole rows of `b`.
///
/// ```
/// use rkeras_kernels::gemm::{sgemm, sgemm_col_blocks, MatRef};
/// let a: Vec<f32> = (0..8 * 32).map(|i| (i % 7) as f32 - 3.0).collect();
/// let b: Vec<f32> = (0..32 * 300).map(|i| (i % 5) as f32 * 0.5).collect();
/// let (mut c1, mut c2) = (vec![0.0f32; 8 * 300], vec![0.0f32; 8 * 300]);
/// sgemm(8, 300, 32, MatRef::row_major(&a, 32), MatRef::row_major(&b, 300), &mut c1, 300, false);
/// sgemm_col_blocks(8, 300, 32, MatRef::row_major(&a, 32), MatRef::row_major(&b, 300), &mut c2, 300, false, 128);
/// assert_eq!(c1, c2);
/// ```
///
/// # Panics
/// As [`sgemm`].
#[allow(clippy::too_many_arguments)]
pub fn sgemm_col_blocks(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    block: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(a.fits(m, k) && b.fits(k, n), "sgemm: operand too short");
    assert!(
        (m - 1) * ldc + n <= c.len() && n <= ldc,
        "sgemm: output too short"
    );
    if k > 0 && few_rows(m, k, n, b) && few_rows_split(m, n, k, a, b, c, ldc, accumulate) {
        return;
    }
    let block = block.max(1);
    let out = OutPtr(c.as_mut_ptr());
    crate::parallel::for_each_task(n.div_ceil(block), |j| {
        let (c0, w) = (j * block, block.min(n - j * block));
        if k == 0 {
            if !accumulate {
                for i in 0..m {
                    // SAFETY: row i's columns c0..c0+w lie inside `c` (asserted above), and
                    // no other task writes them.
                    unsafe { std::ptr::write_bytes(out.at(i * ldc + c0), 0, w) };
                }
            }
            return;
        }
        let bj = MatRef {
            data: &b.data[c0 * b.cs..],
            rs: b.rs,
            cs: b.cs,
        };
        if few_rows(m, k, n, b) {
            // Rows 0..m, columns c0..c0+w of `c`: inside it (asserted above), and no other
            // task writes them.
            let c = OutRows {
                ptr: out.at(c0),
                ldc,
                cols: w,
                _out: std::marker::PhantomData,
            };
            few_rows_gemm(m, w, k, a, bj, c, accumulate);
            return;
        }
        // SAFETY: this task reads `a` and its columns of `b` (inside their slices, asserted
        // above) and writes only columns c0..c0+w of rows 0..m of `c`: inside `c`, and
        // disjoint from every other task's.
        unsafe {
            raw_gemm(
                m,
                w,
                k,
                out.at(c0),
                ldc,
                accumulate,
                a,
                bj,
                gemm::Parallelism::None,
            )
        };
    });
}

/// Rows per task of [`par_sgemm`]: fixed, so the split never depends on the thread count.
pub const PAR_ROWS: usize = 64;

/// Parallel `c[m x n] (+)= a[m x k] * b[k x n]` with `c` contiguous row-major: the rows of
/// `c` are cut into blocks of [`PAR_ROWS`], each one single-threaded GEMM; a product of a
/// few rows against a row-major `b` larger than the caches is split by blocks of `k`
/// instead (as in [`sgemm_col_blocks`]; the same bits either way).
#[allow(clippy::too_many_arguments)]
pub fn par_sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let c = &mut c[..m * n];
    // A few rows against a large kernel (a dense layer on a small batch): split by blocks
    // of `k` over the threads, the same bits as one thread.
    if k > 0 && few_rows(m, k, n, b) && few_rows_split(m, n, k, a, b, c, n, accumulate) {
        return;
    }
    // Skinny outputs with a long inner dimension (a dense layer's grad-kernel) would give one
    // task per few rows; keep blocks big enough to amortise packing.
    for_each_chunk_mut(c, PAR_ROWS * n, |bi, cb| {
        let r0 = bi * PAR_ROWS;
        let rows = cb.len() / n;
        let off = r0 * a.rs;
        let a_blk = MatRef {
            data: &a.data[off..],
            rs: a.rs,
            cs: a.cs,
        };
        sgemm(rows, n, k, a_blk, b, cb, n, accumulate);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Lcg};

    fn naive(m: usize, n: usize, k: usize, a: MatRef, b: MatRef) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += a.data[i * a.rs + p * a.cs] as f64 * b.data[p * b.rs + j * b.cs] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    /// A row-major `rows x cols` matrix, or (`t`) the transposed view of a row-major
    /// `cols x rows` one.
    fn view(data: &[f32], rows: usize, cols: usize, t: bool) -> MatRef<'_> {
        if t {
            MatRef::row_major_t(data, rows)
        } else {
            MatRef::row_major(data, cols)
        }
    }

    /// Whether two results are the same bits.
    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    /// A pool of three threads (more than this machine's two: the splits must not care).
    fn pool3() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("pool")
    }

    /// The threaded GEMM gives the single-threaded one's bits on the shapes convolutions
    /// of one image make (deep layers: few rows, many columns, long sums).
    #[test]
    fn threaded_sgemm_is_bitwise_the_single_threaded_one() {
        let pool = pool3();
        let mut rng = Lcg::new(11);
        for &(m, n, k) in &[
            (4, 2048, 512),
            (16, 512, 4608),
            (49, 256, 2304),
            (256, 64, 576),
            (3, 7, 5),
        ] {
            let a = rng.vec(m * k);
            let b = rng.vec(k * n);
            let mut want = vec![0.5f32; m * n];
            sgemm(
                m,
                n,
                k,
                MatRef::row_major(&a, k),
                MatRef::row_major(&b, n),
                &mut want,
                n,
                true,
            );
            for threads in [2, 3] {
                let mut got = vec![0.5f32; m * n];
                pool.install(|| {
                    sgemm_threaded(
                        m,
                        n,
                        k,
                        MatRef::row_major(&a, k),
                        MatRef::row_major(&b, n),
                        &mut got,
                        n,
                        true,
                        threads,
                    )
                });
                assert!(same_bits(&got, &want), "{m}x{n}x{k} on {threads} threads");
            }
        }
    }

    /// Column blocks give the single GEMM's values, through transposed views too, with a
    /// narrower last block, accumulating or not.
    #[test]
    fn column_blocks_match_the_single_gemm() {
        let mut rng = Lcg::new(3);
        for &(m, n, k, block) in &[
            (4, 600, 96, 256),
            (9, 256, 40, 128),
            (3, 5, 7, 2),
            (2, 9, 0, 4),
        ] {
            let a = rng.vec(m * k);
            let b = rng.vec(k * n);
            for tb in [false, true] {
                let bv = view(&b, k, n, tb);
                for acc in [false, true] {
                    let mut want = vec![0.5f32; m * (n + 3)];
                    let mut got = want.clone();
                    sgemm(m, n, k, MatRef::row_major(&a, k), bv, &mut want, n + 3, acc);
                    sgemm_col_blocks(
                        m,
                        n,
                        k,
                        MatRef::row_major(&a, k),
                        bv,
                        &mut got,
                        n + 3,
                        acc,
                        block,
                    );
                    assert_close(&got, &want, 1e-5);
                }
            }
        }
    }

    /// The few-rows kernel (no packing; a `b` of at least [`SPLIT_MIN_B`] floats) and the
    /// `gemm` crate's (a smaller `b`) against the plain sums: every row count up to
    /// [`FEW_ROWS`] and one past it, a transposed `a`, a row stride past the columns, a
    /// narrow last strip, accumulating or not, on one thread and split in column blocks.
    #[test]
    fn few_rows_match_naive() {
        let mut rng = Lcg::new(5);
        for m in 1..=FEW_ROWS + 1 {
            for &(n, k) in &[
                (37, 13),
                (530, 9),
                (8, 1030),
                (530, 500),
                (37, 7100),
                (8, 32768),
            ] {
                let a = rng.vec(m * k);
                let b = rng.vec(k * n);
                for ta in [false, true] {
                    let av = view(&a, m, k, ta);
                    let bv = MatRef::row_major(&b, n);
                    let want = naive(m, n, k, av, bv);
                    let ldc = n + 5;
                    for acc in [false, true] {
                        let mut c = vec![0.25f32; m * ldc];
                        sgemm(m, n, k, av, bv, &mut c, ldc, acc);
                        let mut c2 = c.clone();
                        c2.fill(0.25);
                        sgemm_col_blocks(m, n, k, av, bv, &mut c2, ldc, acc, 16);
                        assert!(same_bits(&c, &c2));
                        let got: Vec<f32> = (0..m)
                            .flat_map(|i| c[i * ldc..i * ldc + n].to_vec())
                            .collect();
                        let want: Vec<f32> = want
                            .iter()
                            .map(|v| v + if acc { 0.25 } else { 0.0 })
                            .collect();
                        assert_close(&got, &want, 1e-4);
                        // Past the columns, nothing was written.
                        assert!((0..m)
                            .all(|i| c[i * ldc + n..(i + 1) * ldc].iter().all(|&v| v == 0.25)));
                    }
                }
            }
        }
    }

    /// Products big enough to be split by blocks of `k` over the threads give the bits of
    /// the single-threaded few-rows kernel (and the plain sums' values): waves of blocks,
    /// column chunks with a narrower last one, a transposed `a`, a row stride past the
    /// columns, accumulating or not.
    #[test]
    fn split_few_rows_are_bitwise_the_single_threaded_ones() {
        let pool = pool3();
        let mut rng = Lcg::new(13);
        for &(m, n, k) in &[
            (4, 512, 4608),
            (16, 300, 1000),
            (1, 1000, 300),
            (7, 4100, 70),
        ] {
            assert!(k * n >= SPLIT_MIN_B && m * n <= SPLIT_PARTS);
            let a = rng.vec(m * k);
            let b = rng.vec(k * n);
            let bv = MatRef::row_major(&b, n);
            for ta in [false, true] {
                let av = view(&a, m, k, ta);
                let ldc = n + 3;
                for acc in [false, true] {
                    let mut want = vec![0.5f32; m * ldc];
                    sgemm(m, n, k, av, bv, &mut want, ldc, acc);
                    let mut got = vec![0.5f32; m * ldc];
                    pool.install(|| sgemm_col_blocks(m, n, k, av, bv, &mut got, ldc, acc, 256));
                    assert!(same_bits(&got, &want), "{m}x{n}x{k}");
                    // The dense layer's GEMM (contiguous rows) takes the same split.
                    let mut dense = vec![0.5f32; m * n];
                    pool.install(|| par_sgemm(m, n, k, av, bv, &mut dense, acc));
                    assert!(
                        (0..m).all(|i| same_bits(
                            &dense[i * n..(i + 1) * n],
                            &want[i * ldc..i * ldc + n]
                        )),
                        "par_sgemm {m}x{n}x{k}"
                    );
                    let plain = naive(m, n, k, av, bv);
                    let got: Vec<f32> = (0..m)
                        .flat_map(|i| got[i * ldc..i * ldc + n].to_vec())
                        .map(|v| v - if acc { 0.5 } else { 0.0 })
                        .collect();
                    assert_close(&got, &plain, 1e-3);
                }
            }
        }
    }

    #[test]
    fn sgemm_matches_naive_with_transposes() {
        let mut rng = Lcg::new(7);
        for &(m, n, k) in &[
            (1, 1, 1),
            (3, 5, 7),
            (17, 10, 33),
            (130, 9, 64),
            (65, 65, 3),
        ] {
            let a = rng.vec(m * k);
            let b = rng.vec(k * n);
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let (av, bv) = (view(&a, m, k, ta), view(&b, k, n, tb));
                let want = naive(m, n, k, av, bv);
                let mut c = vec![1.0f32; m * n];
                sgemm(m, n, k, av, bv, &mut c, n, false);
                assert_close(&c, &want, 1e-4);
                let mut c2 = vec![1.0f32; m * n];
                par_sgemm(m, n, k, av, bv, &mut c2, true);
                let want2: Vec<f32> = want.iter().map(|v| v + 1.0).collect();
                assert_close(&c2, &want2, 1e-4);
            }
        }
    }
}
