//! 2-D convolution over NHWC inputs with HWIO kernels: geometry, forward, and the fused
//! backward pass (grad-input and grad-kernel in one sweep).
//!
//! Algorithm: im2col per (sample, block of output rows) into a per-thread scratch, then one
//! single-threaded GEMM per block (`gemm` crate). A 1x1 stride-1 unpadded convolution skips
//! im2col. The work split is (sample, row block) for the forward pass and fixed groups of
//! samples for the backward pass; each group accumulates its own kernel-gradient partial and
//! the partials are summed in group order, so results do not depend on the thread count.

use crate::activation::Act;
use crate::gemm::{sgemm, sgemm_col_blocks, sgemm_threaded, MatRef};
use crate::parallel::{for_each_chunk_mut, for_each_chunk_pair_mut, Scratch};

/// Keras padding modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// No padding: output `floor((n - k_eff) / s) + 1`.
    Valid,
    /// Zero padding so that output is `ceil(n / s)`; the odd pixel goes bottom/right (TF).
    Same,
}

/// Output length and padding before, for one spatial axis (Keras/TF rules).
/// `None` when the output would be empty.
pub fn out_len(n: usize, k: usize, s: usize, d: usize, padding: Padding) -> Option<(usize, usize)> {
    if n == 0 || k == 0 || s == 0 || d == 0 {
        return None;
    }
    let k_eff = (k - 1) * d + 1;
    match padding {
        Padding::Valid => {
            if n < k_eff {
                None
            } else {
                Some(((n - k_eff) / s + 1, 0))
            }
        }
        Padding::Same => {
            let out = n.div_ceil(s);
            let total = ((out - 1) * s + k_eff).saturating_sub(n);
            Some((out, total / 2))
        }
    }
}

/// Largest `kh * kw * cin` whose forward pass runs the direct kernel instead of im2col +
/// GEMM: with so short a reduction the GEMM's packing costs more than the arithmetic (the
/// first convolution of an RGB model has 27).
pub const DIRECT_MAX_K: usize = 48;

/// Target size of one im2col block, in floats (about 256 KiB: an L2-sized tile).
const BLOCK_FLOATS: usize = 1 << 18;
/// Fewest output rows of a backward sample group, and of a backward block, when the
/// im2col blocks span samples: the deep layers' kernels are large (3x3x512x512 is 9 MB)
/// and each group's kernel-gradient partial is written and summed once per group.
pub const GRAD_SPAN_ROWS: usize = 256;
/// Most sample groups the backward pass splits a batch into (each holds a kernel-gradient
/// partial).
pub const MAX_GRAD_GROUPS: usize = 32;

/// Everything about one convolution's shapes, computed once when the layer is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeom {
    /// Input height, width, channels.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub cin: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Filters (output channels).
    pub cout: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Vertical dilation.
    pub dh: usize,
    /// Horizontal dilation.
    pub dw: usize,
    /// Zero rows added above the input.
    pub pad_top: usize,
    /// Zero columns added left of the input.
    pub pad_left: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Output rows (pixels) per im2col block.
    pub block_rows: usize,
    /// Output rows per im2col block when blocks span samples (see
    /// [`spans_samples`](Self::spans_samples)): an L2-sized tile, at least 32.
    pub span_rows: usize,
    /// Rows per block of the backward pass when blocks span samples: at least
    /// [`GRAD_SPAN_ROWS`], so that the kernel gradient (a GEMM whose reduction runs over the
    /// rows, into a kernel-sized output) is not read and written once per short block.
    pub grad_rows: usize,
}

impl Conv2dGeom {
    /// Geometry of a convolution; `None` when a size is zero or the output would be empty.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (h, w, cin): (usize, usize, usize),
        (kh, kw): (usize, usize),
        cout: usize,
        (sh, sw): (usize, usize),
        (dh, dw): (usize, usize),
        padding: Padding,
    ) -> Option<Self> {
        let (oh, pad_top) = out_len(h, kh, sh, dh, padding)?;
        let (ow, pad_left) = out_len(w, kw, sw, dw, padding)?;
        Self::explicit(
            (h, w, cin),
            (kh, kw),
            cout,
            (sh, sw),
            (dh, dw),
            (pad_top, pad_left),
            (oh, ow),
        )
    }

    /// Geometry with explicit top/left padding and output size, for the convolutions whose
    /// padding Keras does not derive from `"valid"`/`"same"` (transposed convolutions run as
    /// the input gradient of such a convolution). Taps outside the input read zeros.
    /// `None` when a size is zero.
    pub fn explicit(
        (h, w, cin): (usize, usize, usize),
        (kh, kw): (usize, usize),
        cout: usize,
        (sh, sw): (usize, usize),
        (dh, dw): (usize, usize),
        (pad_top, pad_left): (usize, usize),
        (oh, ow): (usize, usize),
    ) -> Option<Self> {
        if [h, w, cin, kh, kw, cout, sh, sw, dh, dw, oh, ow].contains(&0) {
            return None;
        }
        let k = kh * kw * cin;
        let span_rows = (BLOCK_FLOATS / k).max(32);
        let grad_rows = span_rows.max(GRAD_SPAN_ROWS);
        let block_rows = span_rows.min(oh * ow);
        Some(Conv2dGeom {
            h,
            w,
            cin,
            kh,
            kw,
            cout,
            sh,
            sw,
            dh,
            dw,
            pad_top,
            pad_left,
            oh,
            ow,
            block_rows,
            span_rows,
            grad_rows,
        })
    }

    /// Inner GEMM dimension: `kh * kw * cin`.
    pub fn k(&self) -> usize {
        self.kh * self.kw * self.cin
    }
    /// Output pixels per sample.
    pub fn rows(&self) -> usize {
        self.oh * self.ow
    }
    /// Input floats per sample.
    pub fn in_len(&self) -> usize {
        self.h * self.w * self.cin
    }
    /// Output floats per sample.
    pub fn out_len(&self) -> usize {
        self.rows() * self.cout
    }
    /// Kernel floats.
    pub fn kernel_len(&self) -> usize {
        self.k() * self.cout
    }
    /// Floats of per-thread scratch that [`forward`] and [`backward`] need.
    pub fn scratch_len(&self) -> usize {
        let rows = if self.spans_samples() {
            self.span_rows.max(self.grad_rows)
        } else {
            self.block_rows
        };
        rows * (2 * self.k() + self.cout)
    }
    /// The im2col path takes its blocks of rows across samples: a feature map of fewer
    /// pixels than [`span_rows`](Self::span_rows) (the deep layers of a ResNet, 2x2 to 8x8)
    /// would otherwise make one short GEMM per sample.
    pub fn spans_samples(&self) -> bool {
        !self.is_pointwise() && !self.is_direct() && self.rows() < self.span_rows
    }
    /// Floats of kernel+bias gradient partials that [`backward`] needs for a batch of `n`.
    pub fn partials_len(&self, n: usize) -> usize {
        grad_groups(n, 1).0 * (self.kernel_len() + self.cout)
    }
    /// A 1x1, stride-1, unpadded convolution: the input already is the im2col matrix.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.sh == 1
            && self.sw == 1
            && self.pad_top == 0
            && self.pad_left == 0
            && self.oh == self.h
            && self.ow == self.w
    }
    /// A 3x3, stride-1, undilated convolution with one row and column of zero padding on
    /// each side of a 2x2 map (the last stage of ResNet50 or DenseNet121 at 64x64), for a
    /// batch of `n` of at least [`TWO_BY_TWO_MIN_BATCH`]: its forward pass runs
    /// [`forward_two_by_two`], which skips the taps that only ever read padding.
    pub fn is_two_by_two_same3(&self, n: usize) -> bool {
        (self.h, self.w, self.oh, self.ow) == (2, 2, 2, 2)
            && (self.kh, self.kw, self.sh, self.sw, self.dh, self.dw) == (3, 3, 1, 1, 1, 1)
            && (self.pad_top, self.pad_left) == (1, 1)
            && n >= TWO_BY_TWO_MIN_BATCH
    }
    /// The forward pass runs [`direct_rows`] (a short reduction, not pointwise).
    pub fn is_direct(&self) -> bool {
        self.k() <= DIRECT_MAX_K && !self.is_pointwise()
    }
    fn blocks(&self) -> usize {
        self.rows().div_ceil(self.block_rows)
    }
}

/// `(groups, samples per group)` of the backward split for a batch of `n`, with at least
/// `min_group` samples per group (a geometry whose per-sample work is small keeps groups big
/// enough for efficient GEMMs).
pub fn grad_groups(n: usize, min_group: usize) -> (usize, usize) {
    let gs = n.div_ceil(MAX_GRAD_GROUPS).max(min_group).max(1);
    (n.div_ceil(gs).max(1), gs)
}

/// Copies `s` into `d` (same length) without a `memcpy` call for im2col-sized rows (up to
/// 512 floats): fixed 16-float moves, then single floats.
#[inline(always)]
fn copy_small(d: &mut [f32], s: &[f32]) {
    if d.len() >= 512 {
        d.copy_from_slice(s);
        return;
    }
    let mut dc = d.chunks_exact_mut(16);
    let mut sc = s.chunks_exact(16);
    for (a, b) in (&mut dc).zip(&mut sc) {
        if let (Ok(a), Ok(b)) = (<&mut [f32; 16]>::try_from(a), <&[f32; 16]>::try_from(b)) {
            *a = *b;
        }
    }
    for (a, b) in dc.into_remainder().iter_mut().zip(sc.remainder()) {
        *a = *b;
    }
}

/// Writes the im2col rows `r0 .. r0 + rows` of one sample `xs` into `col` (`rows x k`).
#[inline(always)]
pub fn im2col(g: &Conv2dGeom, xs: &[f32], r0: usize, rows: usize, col: &mut [f32]) {
    let k = g.k();
    let seg = g.kw * g.cin;
    let col = &mut col[..rows * k];
    for r in 0..rows {
        let p = r0 + r;
        let (oy, ox) = (p / g.ow, p % g.ow);
        let iy0 = (oy * g.sh) as isize - g.pad_top as isize;
        let ix0 = (ox * g.sw) as isize - g.pad_left as isize;
        for ky in 0..g.kh {
            let iy = iy0 + (ky * g.dh) as isize;
            let at = r * k + ky * seg;
            if iy < 0 || iy >= g.h as isize {
                col[at..at + seg].fill(0.0);
                continue;
            }
            let row_base = iy as usize * g.w;
            if g.dw == 1 && ix0 >= 0 && ix0 as usize + g.kw <= g.w {
                let s = (row_base + ix0 as usize) * g.cin;
                if seg < 16 && at + 16 <= col.len() && s + 16 <= xs.len() {
                    // A short segment (few channels, such as RGB) as one 16-float move: the
                    // floats past it land where the next segment or row is written next.
                    col[at..at + 16].copy_from_slice(&xs[s..s + 16]);
                } else {
                    copy_small(&mut col[at..at + seg], &xs[s..s + seg]);
                }
            } else {
                let drow = &mut col[at..at + seg];
                for kx in 0..g.kw {
                    let ix = ix0 + (kx * g.dw) as isize;
                    let d = &mut drow[kx * g.cin..(kx + 1) * g.cin];
                    if ix < 0 || ix >= g.w as isize {
                        d.fill(0.0);
                    } else {
                        let s = (row_base + ix as usize) * g.cin;
                        copy_small(d, &xs[s..s + g.cin]);
                    }
                }
            }
        }
    }
}

/// [`im2col`] of the rows `row0 .. row0 + rows` of a batch `x` counted across samples
/// (row `r` is pixel `r % rows()` of sample `r / rows()`), into `col` (`rows x k`).
#[inline(always)]
pub fn im2col_span(g: &Conv2dGeom, x: &[f32], row0: usize, rows: usize, col: &mut [f32]) {
    let (k, per, in_len) = (g.k(), g.rows(), g.in_len());
    let mut r = 0;
    while r < rows {
        let (s, p) = ((row0 + r) / per, (row0 + r) % per);
        let cnt = (per - p).min(rows - r);
        im2col(
            g,
            &x[s * in_len..(s + 1) * in_len],
            p,
            cnt,
            &mut col[r * k..(r + cnt) * k],
        );
        r += cnt;
    }
}

/// The adjoint of [`im2col_span`]: adds `dcol` (`rows x k`, batch rows `row0..`) into the
/// batch's input gradient `dx`.
#[inline(always)]
fn col2im_span_add(g: &Conv2dGeom, dcol: &[f32], row0: usize, rows: usize, dx: &mut [f32]) {
    let (k, per, in_len) = (g.k(), g.rows(), g.in_len());
    let mut r = 0;
    while r < rows {
        let (s, p) = ((row0 + r) / per, (row0 + r) % per);
        let cnt = (per - p).min(rows - r);
        col2im_add(
            g,
            &dcol[r * k..(r + cnt) * k],
            p,
            cnt,
            &mut dx[s * in_len..(s + 1) * in_len],
        );
        r += cnt;
    }
}

/// Rows per block of a forward pass over `total` batch rows that spans samples: at most
/// [`Conv2dGeom::span_rows`], split into at least eight blocks of 32 rows or more where the
/// batch allows (work for every thread). Depends on the shapes alone, never on the thread
/// count, so results do not either.
fn span_block(g: &Conv2dGeom, total: usize) -> usize {
    if weight_bound(g, total) {
        // The kernel outweighs the batch's rows: one GEMM over all of them (as many as the
        // scratch holds), its threads splitting the columns, packs the kernel once.
        return total.min(g.span_rows.max(g.grad_rows));
    }
    let blocks = total.div_ceil(g.span_rows).max((total / 32).min(8)).max(1);
    total.div_ceil(blocks)
}

/// Columns per task of a weight-bound GEMM ([`sgemm_col_blocks`]): an even number of
/// tasks of at most 256 columns (multiples of 16) where there are 128 columns or more, so
/// that two threads share them evenly (EfficientNetB0's 2x2 maps at 64x64: 1152 columns
/// in 6 tasks of 192, not 4 of 256 and one of 128; DenseNet121's 128 in 2). Fixed by the
/// shape.
fn col_block(cout: usize) -> usize {
    if cout < 128 {
        return cout;
    }
    let tasks = 2 * cout.div_ceil(512);
    cout.div_ceil(tasks).next_multiple_of(16)
}

/// [`epilogue`] over a whole output (rows of `cout`), in parallel blocks of rows.
fn epilogue_rows(y: &mut [f32], bias: Bias<'_>, act: Act, cout: usize) {
    let rows = (crate::activation::ELEMWISE_CHUNK / cout.max(1)).max(1);
    for_each_chunk_mut(y, rows * cout, |_, yb| epilogue_simd(yb, bias, act, cout));
}

/// A forward pass over `total` batch rows whose kernel (`k x cout`) is larger than its
/// input rows (`total x k`): the deep layers of a network on small images. Cutting the rows
/// into blocks would pack the whole kernel once per block.
fn weight_bound(g: &Conv2dGeom, total: usize) -> bool {
    g.cout >= total
}

/// Adds the im2col-shaped gradient `dcol` (`rows x k`, rows `r0..`) back into the sample's
/// input gradient `dxs` (the adjoint of [`im2col`]).
#[inline(always)]
pub fn col2im_add(g: &Conv2dGeom, dcol: &[f32], r0: usize, rows: usize, dxs: &mut [f32]) {
    let k = g.k();
    let seg = g.kw * g.cin;
    for r in 0..rows {
        let p = r0 + r;
        let (oy, ox) = (p / g.ow, p % g.ow);
        let src = &dcol[r * k..(r + 1) * k];
        let iy0 = (oy * g.sh) as isize - g.pad_top as isize;
        let ix0 = (ox * g.sw) as isize - g.pad_left as isize;
        for ky in 0..g.kh {
            let iy = iy0 + (ky * g.dh) as isize;
            if iy < 0 || iy >= g.h as isize {
                continue;
            }
            let srow = &src[ky * seg..(ky + 1) * seg];
            let row_base = iy as usize * g.w;
            if g.dw == 1 && ix0 >= 0 && ix0 as usize + g.kw <= g.w {
                let s = (row_base + ix0 as usize) * g.cin;
                for (d, v) in dxs[s..s + seg].iter_mut().zip(srow) {
                    *d += v;
                }
            } else {
                for kx in 0..g.kw {
                    let ix = ix0 + (kx * g.dw) as isize;
                    if ix < 0 || ix >= g.w as isize {
                        continue;
                    }
                    let s = (row_base + ix as usize) * g.cin;
                    for (d, v) in dxs[s..s + g.cin].iter_mut().zip(&srow[kx * g.cin..]) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// Smallest batch whose 2x2-map 3x3 convolutions run [`forward_two_by_two`]: on fewer
/// samples its products are a few rows against 16/9 of the kernel, where im2col + GEMM
/// reads the kernel once.
pub const TWO_BY_TWO_MIN_BATCH: usize = 8;

/// The forward pass of a 3x3, stride-1, 'same' convolution on 2x2 maps
/// ([`Conv2dGeom::is_two_by_two_same3`]). Each output pixel reads the four input pixels
/// through a 2x2 window of the kernel (the other five taps only ever meet padding, which
/// im2col multiplies all the same): for output `(oy, ox)` and input row `iy`, the two
/// pixels of that row are `2 * cin` contiguous inputs and the taps `(iy - oy + 1, 1 - ox ..
/// 3 - ox)` are `2 * cin` contiguous kernel rows (HWIO). So the output is two GEMMs per
/// pixel over the whole batch (rows of a sample's input `4 * cin` apart, of its output `4 *
/// cout` apart), 16 products per output pixel and channel pair instead of 36, each split
/// by columns as a weight-bound GEMM. The split depends on the shapes alone.
fn forward_two_by_two(
    g: &Conv2dGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Bias<'_>,
    act: Act,
    y: &mut [f32],
) {
    let (cin, cout) = (g.cin, g.cout);
    let y = &mut y[..n * 4 * cout];
    for o in 0..4 {
        let (oy, ox) = (o / 2, o % 2);
        for iy in 0..2 {
            let ky = iy + 1 - oy;
            let kx0 = 1 - ox;
            let a = MatRef {
                data: &x[iy * 2 * cin..n * 4 * cin],
                rs: 4 * cin,
                cs: 1,
            };
            let b = MatRef::row_major(&w[(ky * 3 + kx0) * cin * cout..], cout);
            let c = &mut y[o * cout..];
            sgemm_col_blocks(
                n,
                cout,
                2 * cin,
                a,
                b,
                c,
                4 * cout,
                iy == 1,
                col_block(cout),
            );
        }
    }
    epilogue_rows(y, bias, act, cout);
}

/// Forward convolution of a batch of `n`: `y = act(conv(x, w) + bias)` (or, with
/// [`Bias::Affine`], `act(conv(x, w) * scale + shift)`).
///
/// # Shapes
/// `x`: `n * in_len`, `w`: `kh*kw*cin*cout` (HWIO), `bias`: `cout`, `y`: `n * out_len`.
/// `scratch` must hold [`Conv2dGeom::scratch_len`] floats per thread.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    g: &Conv2dGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Bias<'_>,
    act: Act,
    y: &mut [f32],
    scratch: &Scratch,
) {
    let (in_len, out_len, rb) = (g.in_len(), g.out_len(), g.block_rows);
    debug_assert!(x.len() >= n * in_len && y.len() >= n * out_len && w.len() == g.kernel_len());
    debug_assert!(scratch.len() >= g.scratch_len());
    if g.is_two_by_two_same3(n) {
        return forward_two_by_two(g, n, x, w, bias, act, y);
    }
    // Fewer tasks than threads (a single image, deep small feature maps): the GEMMs
    // themselves take the idle threads (bitwise the same result).
    let threads = if crate::switches::switches().gemm_threads {
        rayon::current_num_threads()
    } else {
        1
    };
    let threads_per = |tasks: usize| {
        if tasks < threads {
            threads.div_ceil(tasks.max(1))
        } else {
            1
        }
    };
    if g.is_pointwise() && !g.is_direct() {
        // A 1x1 convolution is one GEMM over every pixel of the batch: blocks of rows may
        // span samples, so small feature maps still make full-height GEMMs.
        let (k, cout) = (g.k(), g.cout);
        let wm = MatRef::row_major(w, cout);
        let total = n * g.oh * g.ow;
        if weight_bound(g, total) {
            let x = MatRef::row_major(&x[..total * k], k);
            let y = &mut y[..total * cout];
            sgemm_col_blocks(total, cout, k, x, wm, y, cout, false, col_block(cout));
            epilogue_rows(y, bias, act, cout);
            return;
        }
        let block = rb.max(64);
        let par = threads_per(total.div_ceil(block));
        for_each_chunk_mut(&mut y[..n * out_len], block * cout, |b, yb| {
            let r0 = b * block;
            let rows = yb.len() / cout;
            sgemm_threaded(
                rows,
                cout,
                k,
                MatRef::row_major(&x[r0 * k..], k),
                wm,
                yb,
                cout,
                false,
                par,
            );
            epilogue_simd(yb, bias, act, cout);
        });
        return;
    }
    if g.spans_samples() {
        let cout = g.cout;
        let total = n * g.rows();
        if weight_bound(g, total) && total <= g.span_rows.max(g.grad_rows) {
            // One im2col of every row, then the GEMM in column blocks.
            let k = g.k();
            let mut buf = scratch.lock();
            let col = &mut buf[..total * k];
            im2col_span(g, x, 0, total, col);
            let (wm, y) = (MatRef::row_major(w, cout), &mut y[..total * cout]);
            let cm = MatRef::row_major(col, k);
            sgemm_col_blocks(total, cout, k, cm, wm, y, cout, false, col_block(cout));
            drop(buf);
            epilogue_rows(y, bias, act, cout);
            return;
        }
        let block = span_block(g, total);
        // One block: the GEMM takes every thread (see below on the scratch slot).
        let par = if total <= block { threads } else { 1 };
        for_each_chunk_mut(&mut y[..n * out_len], block * cout, |b, yb| {
            forward_span_block(g, x, b * block, w, bias, act, yb, scratch, par)
        });
        return;
    }
    // Here only when the whole call is one task: a block holds its thread's scratch slot
    // through the GEMM, and a thread waiting in the GEMM may run another pending block of
    // this layer, which would lock the same slot.
    let par = if n * (g.oh * g.ow).div_ceil(rb) == 1 {
        threads
    } else {
        1
    };
    for_each_chunk_mut(&mut y[..n * out_len], out_len, |s, ys| {
        let xs = &x[s * in_len..(s + 1) * in_len];
        for_each_chunk_mut(ys, rb * g.cout, |b, yb| {
            forward_block(g, xs, b * rb, w, bias, act, yb, scratch, par)
        });
    });
}

/// A 1x1, stride-1 convolution whose output joins a residual sum (inference): `y =
/// act(conv(x, w) * scale + shift + residual)` with [`Bias::Affine`] (or `+ bias`), the
/// residual added in the same pass as the rest of the epilogue, block by block. Each value
/// is bit for bit the convolution's epilogue, then `+ residual`, then `act`. `false` (and
/// nothing written) for a geometry that is not such a 1x1 convolution.
///
/// ```
/// use rkeras_kernels::{conv2d, Act, Conv2dGeom, Padding};
/// let g = Conv2dGeom::new((1, 2, 2), (1, 1), 1, (1, 1), (1, 1), Padding::Valid).unwrap();
/// let (x, w, res) = ([1.0f32, 2.0, 3.0, 4.0], [1.0f32, 1.0], [-10.0f32, 1.0]);
/// let mut y = [0.0f32; 2];
/// let bias = conv2d::Bias::Add(&[0.5]);
/// assert!(conv2d::forward_residual(&g, 1, &x, &w, bias, Act::Relu, &res, &mut y));
/// assert_eq!(y, [0.0, 8.5]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn forward_residual(
    g: &Conv2dGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Bias<'_>,
    act: Act,
    residual: &[f32],
    y: &mut [f32],
) -> bool {
    if !g.is_pointwise() || act == Act::Softmax {
        return false;
    }
    let (k, cout) = (g.k(), g.cout);
    let total = n * g.oh * g.ow;
    let (x, residual, y) = (
        &x[..total * k],
        &residual[..total * cout],
        &mut y[..total * cout],
    );
    let wm = MatRef::row_major(w, cout);
    if weight_bound(g, total) {
        let xm = MatRef::row_major(x, k);
        sgemm_col_blocks(total, cout, k, xm, wm, y, cout, false, col_block(cout));
        let rows = (crate::activation::ELEMWISE_CHUNK / cout.max(1)).max(1);
        for_each_chunk_mut(y, rows * cout, |b, yb| {
            let at = b * rows * cout;
            epilogue_residual(yb, bias, &residual[at..at + yb.len()], act, cout)
        });
        return true;
    }
    let block = g.block_rows.max(64);
    let threads = if crate::switches::switches().gemm_threads {
        rayon::current_num_threads()
    } else {
        1
    };
    let tasks = total.div_ceil(block);
    let par = if tasks < threads {
        threads.div_ceil(tasks.max(1))
    } else {
        1
    };
    for_each_chunk_mut(y, block * cout, |b, yb| {
        let r0 = b * block;
        let rows = yb.len() / cout;
        let xm = MatRef::row_major(&x[r0 * k..], k);
        sgemm_threaded(rows, cout, k, xm, wm, yb, cout, false, par);
        epilogue_residual(
            yb,
            bias,
            &residual[r0 * cout..r0 * cout + yb.len()],
            act,
            cout,
        );
    });
    true
}

crate::simd_fn! {
    /// [`epilogue`] with `res` (the block's rows of a residual input) added before the
    /// activation.
    fn epilogue_residual(yb: &mut [f32], bias: Bias<'_>, res: &[f32], act: Act, cout: usize) {
        epilogue(yb, bias, Act::Linear, cout);
        for (v, r) in yb.iter_mut().zip(res) {
            *v += r;
        }
        if act != Act::Linear {
            apply_act_serial(yb, act, cout);
        }
    }
}

crate::simd_fn! {
    /// One block of output rows `r0..` of one sample: im2col, GEMM, epilogue.
    fn forward_block(
        g: &Conv2dGeom,
        xs: &[f32],
        r0: usize,
        w: &[f32],
        bias: Bias<'_>,
        act: Act,
        yb: &mut [f32],
        scratch: &Scratch,
        par: usize,
    ) {
        let k = g.k();
        let rows = yb.len() / g.cout;
        if g.is_direct() {
            direct_rows(g, xs, r0, w, yb);
        } else if g.is_pointwise() {
            let a = MatRef::row_major(&xs[r0 * k..], k);
            let wm = MatRef::row_major(w, g.cout);
            sgemm_threaded(rows, g.cout, k, a, wm, yb, g.cout, false, par);
        } else {
            // im2col + GEMM: the rows of one sample are a block of the batch `xs`.
            return forward_span_block(g, xs, r0, w, bias, act, yb, scratch, par);
        }
        epilogue(yb, bias, act, g.cout);
    }
}

crate::simd_fn! {
    /// One block of batch rows `row0..` (across samples): im2col, GEMM, epilogue.
    fn forward_span_block(
        g: &Conv2dGeom,
        x: &[f32],
        row0: usize,
        w: &[f32],
        bias: Bias<'_>,
        act: Act,
        yb: &mut [f32],
        scratch: &Scratch,
        par: usize,
    ) {
        let k = g.k();
        let rows = yb.len() / g.cout;
        let wm = MatRef::row_major(w, g.cout);
        let mut buf = scratch.lock();
        let col = &mut buf[..rows * k];
        im2col_span(g, x, row0, rows, col);
        sgemm_threaded(rows, g.cout, k, MatRef::row_major(col, k), wm, yb, g.cout, false, par);
        epilogue(yb, bias, act, g.cout);
    }
}

/// Pixels the direct kernel computes together (independent accumulator chains).
pub(crate) const DIRECT_PIXELS: usize = 4;

/// Output rows `r0..` of one sample (`yb` holds whole rows of `cout`) by direct
/// multiply-adds: the `k` inputs of [`DIRECT_PIXELS`] output pixels are gathered into small
/// arrays, then each weight row of 32 (or 16) filters is loaded once and multiplied into the
/// accumulators of all those pixels, summing over the taps in im2col order. No bias or
/// activation (the caller's epilogue adds them).
#[inline(always)]
pub fn direct_rows(g: &Conv2dGeom, xs: &[f32], r0: usize, w: &[f32], yb: &mut [f32]) {
    let (k, cout) = (g.k(), g.cout);
    let rows = yb.len() / cout;
    // 32 filters x 4 pixels of accumulators need AVX-512's 32 registers; below it, 16.
    let wide = crate::simd::has_avx512();
    let mut xk = [[0.0f32; DIRECT_MAX_K]; DIRECT_PIXELS];
    let mut r = 0;
    while r < rows {
        let p = (rows - r).min(DIRECT_PIXELS);
        if p == DIRECT_PIXELS {
            if let Some(bases) = interior_bases(g, r0 + r) {
                let out = &mut yb[r * cout..(r + p) * cout];
                let mut f = 0;
                while wide && f + 32 <= cout {
                    direct_block_in::<32>(g, xs, &bases, w, f, out);
                    f += 32;
                }
                while f + 16 <= cout {
                    direct_block_in::<16>(g, xs, &bases, w, f, out);
                    f += 16;
                }
                if f == cout {
                    r += p;
                    continue;
                }
            }
        }
        for (i, xi) in xk.iter_mut().enumerate() {
            if i < p {
                im2col(g, xs, r0 + r + i, 1, &mut xi[..k]);
            } else {
                xi[..k].fill(0.0);
            }
        }
        let out = &mut yb[r * cout..(r + p) * cout];
        let mut f = 0;
        while wide && f + 32 <= cout {
            direct_block::<32>(&xk, k, w, cout, f, out);
            f += 32;
        }
        while f + 16 <= cout {
            direct_block::<16>(&xk, k, w, cout, f, out);
            f += 16;
        }
        if f < cout {
            for (i, yr) in out.chunks_exact_mut(cout).enumerate() {
                let tail = &mut yr[f..];
                tail.fill(0.0);
                for (kk, &xv) in xk[i][..k].iter().enumerate() {
                    let wr = &w[kk * cout + f..(kk + 1) * cout];
                    for (a, &wv) in tail.iter_mut().zip(wr) {
                        *a = xv.mul_add(wv, *a);
                    }
                }
            }
        }
        r += p;
    }
}

/// Where the input window of each of the [`DIRECT_PIXELS`] output pixels from `p0` starts
/// in the sample, when every window lies inside the input and its rows are contiguous
/// (no horizontal dilation); `None` otherwise.
#[inline(always)]
fn interior_bases(g: &Conv2dGeom, p0: usize) -> Option<[usize; DIRECT_PIXELS]> {
    if g.dw != 1 {
        return None;
    }
    let mut bases = [0usize; DIRECT_PIXELS];
    for (i, b) in bases.iter_mut().enumerate() {
        let p = p0 + i;
        let (oy, ox) = (p / g.ow, p % g.ow);
        let iy0 = (oy * g.sh).checked_sub(g.pad_top)?;
        let ix0 = (ox * g.sw).checked_sub(g.pad_left)?;
        if iy0 + (g.kh - 1) * g.dh >= g.h || ix0 + g.kw > g.w {
            return None;
        }
        *b = (iy0 * g.w + ix0) * g.cin;
    }
    Some(bases)
}

/// Filters `f .. f + F` of the [`DIRECT_PIXELS`] output pixels whose input windows start at
/// `bases` (inside the input, rows contiguous): the taps in im2col order, multiply-added
/// from zero, read straight from the sample.
#[inline(always)]
pub(crate) fn direct_acc<const F: usize>(
    g: &Conv2dGeom,
    xs: &[f32],
    bases: &[usize; DIRECT_PIXELS],
    w: &[f32],
    f: usize,
) -> [[f32; F]; DIRECT_PIXELS] {
    let (cout, seg, row) = (g.cout, g.kw * g.cin, g.w * g.cin * g.dh);
    let mut acc = [[0.0f32; F]; DIRECT_PIXELS];
    for ky in 0..g.kh {
        let xr: [&[f32]; DIRECT_PIXELS] = std::array::from_fn(|i| {
            let b = bases[i] + ky * row;
            &xs[b..b + seg]
        });
        for j in 0..seg {
            let kk = ky * seg + j;
            let Ok(wr) = <&[f32; F]>::try_from(&w[kk * cout + f..kk * cout + f + F]) else {
                continue;
            };
            for (a, x) in acc.iter_mut().zip(&xr) {
                let xv = x[j];
                for t in 0..F {
                    a[t] = xv.mul_add(wr[t], a[t]);
                }
            }
        }
    }
    acc
}

/// [`direct_block`] for pixels whose windows lie inside the input: the taps are read
/// straight from the sample (`bases` from [`interior_bases`]), with no gather.
#[inline(always)]
fn direct_block_in<const F: usize>(
    g: &Conv2dGeom,
    xs: &[f32],
    bases: &[usize; DIRECT_PIXELS],
    w: &[f32],
    f: usize,
    out: &mut [f32],
) {
    let acc = direct_acc::<F>(g, xs, bases, w, f);
    for (yr, a) in out.chunks_exact_mut(g.cout).zip(&acc) {
        yr[f..f + F].copy_from_slice(a);
    }
}

/// Filters `f .. f + F` of the pixels in `out` (at most [`DIRECT_PIXELS`] rows of `cout`).
#[inline(always)]
fn direct_block<const F: usize>(
    xk: &[[f32; DIRECT_MAX_K]; DIRECT_PIXELS],
    k: usize,
    w: &[f32],
    cout: usize,
    f: usize,
    out: &mut [f32],
) {
    let mut acc = [[0.0f32; F]; DIRECT_PIXELS];
    for kk in 0..k {
        let Ok(wr) = <&[f32; F]>::try_from(&w[kk * cout + f..kk * cout + f + F]) else {
            continue;
        };
        for (a, xi) in acc.iter_mut().zip(xk) {
            let xv = xi[kk];
            for j in 0..F {
                a[j] = xv.mul_add(wr[j], a[j]);
            }
        }
    }
    for (yr, a) in out.chunks_exact_mut(cout).zip(&acc) {
        yr[f..f + F].copy_from_slice(a);
    }
}

/// What a convolution adds to each output channel after its GEMM, before the activation.
///
/// ```
/// use rkeras_kernels::conv2d::Bias;
/// let b = [0.5f32, -1.0];
/// assert!(matches!(Bias::from(Some(&b[..])), Bias::Add(_)));
/// assert!(matches!(Bias::from(None), Bias::None));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub enum Bias<'a> {
    /// Nothing is added.
    #[default]
    None,
    /// `v + bias[c]`.
    Add(&'a [f32]),
    /// `v * scale[c] + shift[c]`: a normalization folded into the convolution (inference).
    Affine {
        /// Per output channel factor.
        scale: &'a [f32],
        /// Per output channel term added after the factor.
        shift: &'a [f32],
    },
}

impl<'a> From<Option<&'a [f32]>> for Bias<'a> {
    fn from(b: Option<&'a [f32]>) -> Self {
        b.map_or(Bias::None, Bias::Add)
    }
}

impl<'a> Bias<'a> {
    /// The per-channel term added last (the bias, or an affine map's shift).
    pub fn shift(&self) -> Option<&'a [f32]> {
        match *self {
            Bias::None => None,
            Bias::Add(b) => Some(b),
            Bias::Affine { shift, .. } => Some(shift),
        }
    }
}

/// Adds the bias (or applies the per-channel affine map) to every row of `cout` values and
/// applies the activation, in place.
#[inline(always)]
pub fn epilogue(yb: &mut [f32], bias: Bias<'_>, act: Act, cout: usize) {
    match (bias, act) {
        (Bias::Add(b), Act::Relu) => {
            for row in yb.chunks_exact_mut(cout) {
                for (v, bv) in row.iter_mut().zip(b) {
                    *v = (*v + bv).max(0.0);
                }
            }
        }
        (Bias::Add(b), _) => {
            for row in yb.chunks_exact_mut(cout) {
                for (v, bv) in row.iter_mut().zip(b) {
                    *v += bv;
                }
            }
            apply_act_serial(yb, act, cout);
        }
        (Bias::Affine { scale, shift }, Act::Relu) => {
            for row in yb.chunks_exact_mut(cout) {
                for ((v, a), b) in row.iter_mut().zip(scale).zip(shift) {
                    *v = (*v * a + b).max(0.0);
                }
            }
        }
        (Bias::Affine { scale, shift }, _) => {
            for row in yb.chunks_exact_mut(cout) {
                for ((v, a), b) in row.iter_mut().zip(scale).zip(shift) {
                    *v = *v * a + b;
                }
            }
            apply_act_serial(yb, act, cout);
        }
        (Bias::None, _) => apply_act_serial(yb, act, cout),
    }
}

crate::simd_fn! {
    /// [`epilogue`] compiled for the CPU's widest vectors, for callers outside a
    /// `simd_fn` body.
    fn epilogue_simd(yb: &mut [f32], bias: Bias<'_>, act: Act, cout: usize) {
        epilogue(yb, bias, act, cout)
    }
}

#[inline(always)]
fn apply_act_serial(yb: &mut [f32], act: Act, cols: usize) {
    match act {
        Act::Linear => {}
        Act::Softmax => yb
            .chunks_exact_mut(cols)
            .for_each(crate::softmax::softmax_row),
        _ => crate::activation::apply_slice(act, yb),
    }
}

/// Backward convolution of a batch of `n`. `dy` is the gradient of the output; with
/// `act = Some((activation, y))` the activation's derivative (computed from the output `y`)
/// is applied block by block first, else `dy` must already be the pre-activation gradient.
/// Fusable activations: those whose derivative needs only the output (not gelu/swish, not
/// softmax).
///
/// Overwrites `dx` (when given) with the input gradient; *adds* the kernel gradient to `dw`
/// and the bias gradient to `db`.
///
/// # Shapes
/// As [`forward`]; `partials` holds [`Conv2dGeom::partials_len`]`(n)` floats.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    g: &Conv2dGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    act: Option<(Act, &[f32])>,
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    partials: &mut [f32],
    scratch: &Scratch,
) {
    backward_into(g, n, x, w, act, dy, dx, false, dw, db, partials, scratch);
}

/// [`backward`], with the input gradient *added* to what `dx` holds when `accumulate` (an
/// input that other layers read too: no separate buffer and pass to add it).
#[allow(clippy::too_many_arguments)]
pub fn backward_into(
    g: &Conv2dGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    act: Option<(Act, &[f32])>,
    dy: &[f32],
    dx: Option<&mut [f32]>,
    accumulate: bool,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    partials: &mut [f32],
    scratch: &Scratch,
) {
    // Small feature maps read few rows per sample: groups of several samples (64 output
    // pixels or more) keep the number of per-group kernel-gradient partials, each as large as
    // the kernel, from dwarfing the work (32 partials of a 3x3x512x512 kernel are 300 MB to
    // zero and sum), and give a 1x1 convolution's GEMM a useful depth. The split depends on
    // the shapes alone.
    let per = if g.spans_samples() || g.is_pointwise() {
        GRAD_SPAN_ROWS
    } else {
        64
    };
    let min_group = per.div_ceil(g.rows().max(1));
    // One group: its GEMMs take every thread (no other task of this layer can wait on its
    // scratch slot). Bitwise the same result as one thread.
    let par = if grad_groups(n, min_group).0 == 1 && crate::switches::switches().gemm_threads {
        rayon::current_num_threads()
    } else {
        1
    };
    grouped_backward(
        g,
        n,
        min_group,
        dx,
        dw,
        db,
        partials,
        |s0, count, part, dxg| {
            backward_group(
                g, s0, count, x, w, act, dy, dxg, accumulate, part, scratch, par,
            )
        },
    );
}

/// The fixed split of a backward pass over sample groups ([`grad_groups`]): runs
/// `task(first sample, samples, group partial, group's input gradient)` for every group in
/// parallel, then adds the partials to `dw` and `db` in group order.
#[allow(clippy::too_many_arguments)]
#[track_caller]
pub(crate) fn grouped_backward<F>(
    g: &Conv2dGeom,
    n: usize,
    min_group: usize,
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    partials: &mut [f32],
    task: F,
) where
    F: Fn(usize, usize, &mut [f32], Option<&mut [f32]>) + Sync + Send,
{
    let (ng, gs) = grad_groups(n, min_group);
    let plen = g.kernel_len() + g.cout;
    let partials = &mut partials[..ng * plen];
    let in_len = g.in_len();
    let run = |gi: usize, part: &mut [f32], dxg: Option<&mut [f32]>| {
        task(gi * gs, (n - gi * gs).min(gs), part, dxg)
    };
    match dx {
        Some(dx) => for_each_chunk_pair_mut(
            partials,
            plen,
            &mut dx[..n * in_len],
            gs * in_len,
            |gi, p, d| run(gi, p, Some(d)),
        ),
        None => for_each_chunk_mut(partials, plen, |gi, p| run(gi, p, None)),
    }
    sum_partials(g, ng, partials, dw, db);
}

/// Adds the `ng` group partials (kernel gradient, then bias gradient, each group
/// [`Conv2dGeom::kernel_len`]` + cout` floats) to `dw` and `db`, in group order (fixed),
/// element-parallel.
fn sum_partials(g: &Conv2dGeom, ng: usize, parts: &[f32], dw: &mut [f32], db: Option<&mut [f32]>) {
    let klen = g.kernel_len();
    let plen = klen + g.cout;
    // Each element sums up to 32 partials: smaller chunks than the element-wise kernels'
    // keep a kernel of 18k floats from landing on one core.
    const SUM_CHUNK: usize = 2048;
    for_each_chunk_mut(dw, SUM_CHUNK, |ci, c| {
        let off = ci * SUM_CHUNK;
        for gi in 0..ng {
            let p = &parts[gi * plen + off..][..c.len()];
            for (d, v) in c.iter_mut().zip(p) {
                *d += v;
            }
        }
    });
    if let Some(db) = db {
        for gi in 0..ng {
            let p = &parts[gi * plen + klen..][..g.cout];
            for (d, v) in db.iter_mut().zip(p) {
                *d += v;
            }
        }
    }
}

/// The kernel gradient (added to `pw`) and, when `dxs` is given, the input gradient (added
/// to the sample's `dxs`; a 1x1 convolution's rows are overwritten unless `accumulate`) of
/// output rows `r0 .. r0 + rows` of one sample `xs`, given their
/// pre-activation gradient `dyb` (`rows x cout`). `col` and `dcol` hold `rows * k` floats.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn block_grads(
    g: &Conv2dGeom,
    xs: &[f32],
    w: &[f32],
    r0: usize,
    rows: usize,
    dyb: &[f32],
    pw: &mut [f32],
    dxs: Option<&mut [f32]>,
    accumulate: bool,
    col: &mut [f32],
    dcol: &mut [f32],
) {
    let (k, cout) = (g.k(), g.cout);
    let dym = MatRef::row_major(dyb, cout);
    let wt = MatRef::row_major_t(w, cout); // (cout x k) view of the (k x cout) kernel
    if g.is_pointwise() {
        let a = MatRef::row_major_t(&xs[r0 * k..(r0 + rows) * k], k);
        sgemm(k, cout, rows, a, dym, pw, cout, true);
        if let Some(d) = dxs {
            sgemm(
                rows,
                k,
                cout,
                dym,
                wt,
                &mut d[r0 * k..(r0 + rows) * k],
                k,
                accumulate,
            );
        }
        return;
    }
    let (col, dcol) = (&mut col[..rows * k], &mut dcol[..rows * k]);
    im2col(g, xs, r0, rows, col);
    sgemm(
        k,
        cout,
        rows,
        MatRef::row_major_t(col, k),
        dym,
        pw,
        cout,
        true,
    );
    if let Some(d) = dxs {
        sgemm(rows, k, cout, dym, wt, dcol, k, false);
        col2im_add(g, dcol, r0, rows, d);
    }
}

/// A block's pre-activation gradient: `dyb` (the output gradient of the block's rows, which
/// start at `at` in the batch's output `y`) times the activation's derivative, written to
/// `dya` while the block is in cache (returned), or `dyb` itself without an activation; its
/// rows are added to the bias gradient `pb`.
#[inline(always)]
fn block_pre_grad<'a>(
    dyb: &'a [f32],
    act: Option<(Act, &[f32])>,
    at: usize,
    dya: &'a mut [f32],
    pb: &mut [f32],
) -> &'a [f32] {
    let dyb = match act {
        Some((a, y)) => {
            let yb = &y[at..at + dyb.len()];
            let d = &mut dya[..dyb.len()];
            if a == Act::Relu {
                for ((o, &gv), &yv) in d.iter_mut().zip(dyb).zip(yb) {
                    *o = if yv > 0.0 { gv } else { 0.0 };
                }
            } else {
                for ((o, &gv), &yv) in d.iter_mut().zip(dyb).zip(yb) {
                    *o = gv * a.derivative(0.0, yv);
                }
            }
            &*d
        }
        None => dyb,
    };
    for row in dyb.chunks_exact(pb.len()) {
        for (a, v) in pb.iter_mut().zip(row) {
            *a += v;
        }
    }
    dyb
}

crate::simd_fn! {
    /// One group's share of [`backward`]: samples `s0 .. s0 + count`.
    fn backward_group(
        g: &Conv2dGeom,
        s0: usize,
        count: usize,
        x: &[f32],
        w: &[f32],
        act: Option<(Act, &[f32])>,
        dy: &[f32],
        dxg: Option<&mut [f32]>,
        accumulate: bool,
        part: &mut [f32],
        scratch: &Scratch,
        par: usize,
    ) {
        let mut dxg = dxg;
        let (in_len, out_len, k, rb, cout) = (g.in_len(), g.out_len(), g.k(), g.block_rows, g.cout);
        part.fill(0.0);
        let (pw, pb) = part.split_at_mut(g.kernel_len());
        let pointwise = g.is_pointwise();
        if pointwise && act.is_none() {
            // The group's samples are one matrix of `count * rows` pixels: one GEMM each.
            let rows = count * g.rows();
            let xg = &x[s0 * in_len..(s0 + count) * in_len];
            let dyg = &dy[s0 * out_len..(s0 + count) * out_len];
            let dym = MatRef::row_major(dyg, cout);
            let xt = MatRef::row_major_t(xg, k);
            sgemm_threaded(k, cout, rows, xt, dym, pw, cout, true, par);
            for row in dyg.chunks_exact(cout) {
                for (a, v) in pb.iter_mut().zip(row) {
                    *a += v;
                }
            }
            if let Some(d) = dxg {
                let wt = MatRef::row_major_t(w, cout);
                let dxg = &mut d[..count * in_len];
                sgemm_threaded(rows, k, cout, dym, wt, dxg, k, accumulate, par);
            }
            return;
        }
        let mut buf = scratch.lock();
        if g.spans_samples() {
            // Small feature maps: blocks of the group's rows across its samples.
            let span = g.grad_rows;
            let (col, rest) = buf.split_at_mut(span * k);
            let (dcol, dya) = rest.split_at_mut(span * k);
            let xg = &x[s0 * in_len..(s0 + count) * in_len];
            let total = count * g.rows();
            let wt = MatRef::row_major_t(w, cout);
            if let Some(d) = dxg.as_deref_mut().filter(|_| !accumulate) {
                d[..count * in_len].fill(0.0);
            }
            let mut r0 = 0;
            while r0 < total {
                let rows = span.min(total - r0);
                let at = s0 * out_len + r0 * cout;
                let dyb = block_pre_grad(&dy[at..at + rows * cout], act, at, dya, pb);
                let dym = MatRef::row_major(dyb, cout);
                let col = &mut col[..rows * k];
                im2col_span(g, xg, r0, rows, col);
                let colt = MatRef::row_major_t(col, k);
                sgemm_threaded(k, cout, rows, colt, dym, pw, cout, true, par);
                if let Some(d) = dxg.as_deref_mut() {
                    let dcol = &mut dcol[..rows * k];
                    sgemm_threaded(rows, k, cout, dym, wt, dcol, k, false, par);
                    col2im_span_add(g, dcol, r0, rows, &mut d[..count * in_len]);
                }
                r0 += rows;
            }
            return;
        }
        let (col, rest) = buf.split_at_mut(rb * k);
        let (dcol, dya) = rest.split_at_mut(rb * k);
        for i in 0..count {
            let s = s0 + i;
            let xs = &x[s * in_len..(s + 1) * in_len];
            let dys = &dy[s * out_len..(s + 1) * out_len];
            let mut dxs = dxg.as_deref_mut().map(|d| &mut d[i * in_len..(i + 1) * in_len]);
            if let Some(d) = dxs.as_deref_mut() {
                if !pointwise && !accumulate {
                    d.fill(0.0);
                }
            }
            for b in 0..g.blocks() {
                let r0 = b * rb;
                let rows = rb.min(g.rows() - r0);
                let dyb = &dys[r0 * cout..(r0 + rows) * cout];
                let dyb = block_pre_grad(dyb, act, s * out_len + r0 * cout, dya, pb);
                let dxs = dxs.as_deref_mut();
                block_grads(g, xs, w, r0, rows, dyb, pw, dxs, accumulate, col, dcol);
            }
        }
    }
}

/// Input gradient alone of a batch of `n`: overwrites `dx` with the gradient of
/// `conv(x, w)` with respect to `x` for the output gradient `dy` (no activation, no kernel
/// gradient). This is also the transposed convolution of `dy` by `w`.
///
/// # Shapes
/// `w`: [`Conv2dGeom::kernel_len`], `dy`: `n * out_len`, `dx`: `n * in_len`; `scratch`
/// holds [`Conv2dGeom::scratch_len`] floats per thread.
pub fn backward_input(
    g: &Conv2dGeom,
    n: usize,
    w: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    scratch: &Scratch,
) {
    let (in_len, out_len) = (g.in_len(), g.out_len());
    debug_assert!(dy.len() >= n * out_len && dx.len() >= n * in_len && w.len() == g.kernel_len());
    debug_assert!(scratch.len() >= g.scratch_len());
    for_each_chunk_mut(&mut dx[..n * in_len], in_len, |s, dxs| {
        backward_input_sample(g, w, &dy[s * out_len..(s + 1) * out_len], dxs, scratch)
    });
}

crate::simd_fn! {
    /// One sample of [`backward_input`], block of output rows by block.
    fn backward_input_sample(g: &Conv2dGeom, w: &[f32], dys: &[f32], dxs: &mut [f32], scratch: &Scratch) {
        let (k, rb, cout) = (g.k(), g.block_rows, g.cout);
        let wt = MatRef::row_major_t(w, cout);
        let pointwise = g.is_pointwise();
        if !pointwise {
            dxs.fill(0.0);
        }
        let mut buf = scratch.lock();
        for b in 0..g.blocks() {
            let r0 = b * rb;
            let rows = rb.min(g.rows() - r0);
            let dym = MatRef::row_major(&dys[r0 * cout..(r0 + rows) * cout], cout);
            if pointwise {
                sgemm(rows, k, cout, dym, wt, &mut dxs[r0 * k..(r0 + rows) * k], k, false);
            } else {
                let dcol = &mut buf[..rows * k];
                sgemm(rows, k, cout, dym, wt, dcol, k, false);
                col2im_add(g, dcol, r0, rows, dxs);
            }
        }
    }
}
