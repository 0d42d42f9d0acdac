//! A convolution with the max pooling that follows it fused in: `pool(act(conv(x, w) + b))`
//! computed block by block, so the convolution's full-size output never goes to memory.
//!
//! Each block holds whole pooling rows: its convolution rows are computed into a per-thread
//! scratch (the same direct, pointwise or im2col + GEMM paths as [`crate::conv2d`]), the bias
//! is added, and each window's maximum (first maximum in window order, as TensorFlow routes
//! ties) is written with its position in the window (one byte). The activation is applied to
//! the pooled value: for ReLU and linear, `max(act(v)) == act(max(v))` and the routing of
//! every non-zero gradient is the same as pooling after the activation.
//! A direct-path convolution (a short reduction, such as a first layer on RGB) that reads no
//! padding and is pooled by 2x2 windows skips the scratch: each window's four pixels are
//! accumulated in registers and pooled there.
//!
//! The backward pass rebuilds each block's pre-activation gradient from the pooled gradient,
//! the stored positions and the pooled output (the ReLU mask is `pooled > 0`), then runs the
//! convolution's kernel- and input-gradient GEMMs on it while it is in cache. Convolution rows
//! that no pooling window covers (the bottom rows of a `valid` pooling of an odd size) are
//! neither computed nor differentiated: their gradient is zero.

use crate::activation::Act;
use crate::conv2d::{
    block_grads, direct_acc, direct_rows, epilogue, grouped_backward, im2col, Conv2dGeom,
    DIRECT_PIXELS,
};
use crate::gemm::{sgemm, MatRef};
use crate::parallel::{for_each_chunk_pair_mut, Scratch};
use crate::pool2d::Pool2dGeom;

/// A convolution and the max pooling that reads its output, checked to be fusable.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvPool {
    /// The convolution.
    pub conv: Conv2dGeom,
    /// The pooling of the convolution's output.
    pub pool: Pool2dGeom,
    /// Activation between them (ReLU or linear).
    pub act: Act,
    /// Pooled rows per block of the backward pass (about an im2col block).
    prb: usize,
    /// Pooled rows per block of the forward pass (the convolution rows stay in L1/L2).
    fwd_prb: usize,
}

/// Target size of a forward block's convolution output, in floats (64 KiB).
const FWD_BLOCK_FLOATS: usize = 1 << 14;

/// The last input row (or column) that `outs` outputs read along one axis, with checked
/// arithmetic (`None` on overflow or when there are no outputs or taps).
fn span(outs: usize, stride: usize, taps: usize, dilation: usize) -> Option<usize> {
    outs.checked_sub(1)?
        .checked_mul(stride)?
        .checked_add(taps.checked_sub(1)?.checked_mul(dilation)?)
}

impl ConvPool {
    /// The fused pair, or `None` when it cannot be fused: the pooling must read exactly the
    /// convolution's output, with non-overlapping windows (strides equal to the pool size) of
    /// at most 255 values, no padding, and the activation must be ReLU or linear.
    pub fn new(conv: Conv2dGeom, pool: Pool2dGeom, act: Act) -> Option<Self> {
        let fits = pool.h == conv.oh
            && pool.w == conv.ow
            && pool.c == conv.cout
            && pool.sh == pool.ph
            && pool.sw == pool.pw
            && pool.pad_top == 0
            && pool.pad_left == 0
            && pool.ph * pool.pw <= 255
            && pool.oh * pool.ph <= conv.oh
            && pool.ow * pool.pw <= conv.ow
            && matches!(act, Act::Relu | Act::Linear);
        let strip = pool.ph * conv.ow;
        let prb = (conv.block_rows / strip).clamp(1, pool.oh);
        let fwd_prb = (FWD_BLOCK_FLOATS / (strip * conv.cout)).clamp(1, prb);
        fits.then_some(ConvPool {
            conv,
            pool,
            act,
            prb,
            fwd_prb,
        })
    }
    /// The convolution takes the direct path (a short reduction) and reads no padding, its
    /// kernel rows are contiguous in the input, and every pooling window is 2x2 with
    /// strides 2: the pair can run window by window in registers ([`direct_pooled`],
    /// [`direct_pooled_grads`]).
    fn direct_pooled_fits(&self) -> bool {
        let (g, p) = (&self.conv, &self.pool);
        g.is_direct()
            && g.dw == 1
            && g.pad_top == 0
            && g.pad_left == 0
            && span(g.oh, g.sh, g.kh, g.dh).is_some_and(|v| v < g.h)
            && span(g.ow, g.sw, g.kw, 1).is_some_and(|v| v < g.w)
            && (p.ph, p.pw) == (2, 2)
            && g.cout.is_multiple_of(16)
    }
    /// Convolution rows (pixels) of the largest block.
    fn block_rows(&self) -> usize {
        self.prb * self.pool.ph * self.conv.ow
    }
    /// Floats of per-thread scratch that [`forward`] and [`backward`] need.
    pub fn scratch_len(&self) -> usize {
        self.block_rows() * (2 * self.conv.k() + self.conv.cout)
    }
    /// Pooled floats (and window positions) per sample.
    pub fn out_len(&self) -> usize {
        self.pool.out_len()
    }
}

/// Forward pass of a batch of `n`: `yp = maxpool(act(conv(x, w) + bias))`; `pos` receives
/// the window position (row-major in the window) of each pooled value.
///
/// # Shapes
/// `x`: `n * conv.in_len()`, `w`: `conv.kernel_len()`, `yp` and `pos`: `n * out_len()`;
/// `scratch` holds [`ConvPool::scratch_len`] floats per thread.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    cp: &ConvPool,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    yp: &mut [f32],
    pos: &mut [u8],
    scratch: &Scratch,
) {
    let (in_len, pl) = (cp.conv.in_len(), cp.out_len());
    let bl = cp.fwd_prb * cp.pool.ow * cp.pool.c;
    debug_assert!(scratch.len() >= cp.scratch_len());
    for_each_chunk_pair_mut(
        &mut yp[..n * pl],
        pl,
        &mut pos[..n * pl],
        pl,
        |s, ys, ps| {
            let xs = &x[s * in_len..(s + 1) * in_len];
            for_each_chunk_pair_mut(ys, bl, ps, bl, |b, yb, pb| {
                forward_block(cp, xs, b, w, bias, yb, pb, scratch)
            });
        },
    );
}

crate::simd_fn! {
    /// Pooled rows of block `b` of one sample.
    fn forward_block(
        cp: &ConvPool,
        xs: &[f32],
        b: usize,
        w: &[f32],
        bias: Option<&[f32]>,
        yb: &mut [f32],
        pb: &mut [u8],
        scratch: &Scratch,
    ) {
        let (g, p) = (&cp.conv, &cp.pool);
        let (k, c, ow) = (g.k(), g.cout, g.ow);
        let prows = yb.len() / (p.ow * c);
        let r0 = b * cp.fwd_prb * p.ph * ow;
        let rows = prows * p.ph * ow;
        if direct_pooled(cp, xs, b * cp.fwd_prb, w, bias, yb, pb) {
            return;
        }
        let mut buf = scratch.lock();
        let (conv, col) = buf.split_at_mut(rows * c);
        if g.is_direct() {
            direct_rows(g, xs, r0, w, conv);
        } else if g.is_pointwise() {
            let a = MatRef::row_major(&xs[r0 * k..], k);
            sgemm(rows, c, k, a, MatRef::row_major(w, c), conv, c, false);
        } else {
            let col = &mut col[..rows * k];
            im2col(g, xs, r0, rows, col);
            sgemm(rows, c, k, MatRef::row_major(col, k), MatRef::row_major(w, c), conv, c, false);
        }
        epilogue(conv, bias.into(), Act::Linear, c);
        let relu = cp.act == Act::Relu;
        for pr in 0..prows {
            for pc in 0..p.ow {
                let o = (pr * p.ow + pc) * c;
                let (yo, po) = (&mut yb[o..o + c], &mut pb[o..o + c]);
                let first = (pr * p.ph * ow + pc * p.pw) * c;
                yo.copy_from_slice(&conv[first..first + c]);
                po.fill(0);
                for wy in 0..p.ph {
                    for wx in 0..p.pw {
                        let at = (wy * p.pw + wx) as u8;
                        if at == 0 {
                            continue;
                        }
                        let base = ((pr * p.ph + wy) * ow + pc * p.pw + wx) * c;
                        for ((y, q), &v) in yo.iter_mut().zip(po.iter_mut()).zip(&conv[base..base + c]) {
                            let gt = v > *y;
                            *y = if gt { v } else { *y };
                            *q = if gt { at } else { *q };
                        }
                    }
                }
                if relu {
                    yo.iter_mut().for_each(|v| *v = v.max(0.0));
                }
            }
        }
    }
}

/// The pooled rows `pr0 ..` of `yb` (and their window positions) straight from the input,
/// when the convolution takes the direct path (a short reduction), reads no padding and
/// every window is 2x2 with strides 2: the pixels of a few windows are accumulated in
/// registers, then each window's bias-added maximum, position and activation are written;
/// the convolution rows never go to memory. Returns `false` (nothing written) when the pair
/// does not qualify.
///
/// One window at a time: its 4 pixels x 32 filters (16 below AVX-512) of accumulators are
/// as many independent chains as the FMA units need; more pixels made LLVM reload the
/// weights inside the loop, which ran slower than the unfused path.
///
/// Bit for bit the same as the general path: the taps are summed in the same order from
/// zero, the bias is added before the maximum, and the first maximum in window order wins.
#[inline(always)]
fn direct_pooled(
    cp: &ConvPool,
    xs: &[f32],
    pr0: usize,
    w: &[f32],
    bias: Option<&[f32]>,
    yb: &mut [f32],
    pb: &mut [u8],
) -> bool {
    if !cp.direct_pooled_fits() {
        return false;
    }
    let (g, p) = (&cp.conv, &cp.pool);
    let c = g.cout;
    let wide = crate::simd::has_avx512();
    let relu = cp.act == Act::Relu;
    let prows = yb.len() / (p.ow * c);
    #[cfg(target_arch = "x86_64")]
    if wide && c.is_multiple_of(32) {
        // SAFETY: the CPU has AVX-512; `pooled_rows` checks its slices' extents.
        unsafe { direct_windows::pooled_rows(cp, xs, pr0, prows, w, bias, yb, pb) };
        return true;
    } else if crate::simd::has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA; `pooled_rows_avx2` checks its slices' extents.
        unsafe { direct_windows::pooled_rows_avx2(cp, xs, pr0, prows, w, bias, yb, pb) };
        return true;
    }
    for pr in 0..prows {
        let cy = 2 * (pr0 + pr);
        let o = pr * p.ow * c;
        let (yr, qr) = (&mut yb[o..o + p.ow * c], &mut pb[o..o + p.ow * c]);
        for pc in 0..p.ow {
            let mut f = 0;
            while wide && f + 32 <= c {
                pooled_window::<32>(g, xs, w, bias, relu, cy, pc, f, yr, qr);
                f += 32;
            }
            while f < c {
                pooled_window::<16>(g, xs, w, bias, relu, cy, pc, f, yr, qr);
                f += 16;
            }
        }
    }
    true
}

/// Filters `f .. f + F` of the pooling window in pooled column `pc` whose top convolution
/// row is `cy`, into the pooled row `yr` and its positions `qr`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pooled_window<const F: usize>(
    g: &Conv2dGeom,
    xs: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    cy: usize,
    pc: usize,
    f: usize,
    yr: &mut [f32],
    qr: &mut [u8],
) {
    // Pixel `i`: position `i` in the window (row-major).
    let bases: [usize; DIRECT_PIXELS] = std::array::from_fn(|i| {
        let (oy, ox) = (cy + i / 2, 2 * pc + i % 2);
        (oy * g.sh * g.w + ox * g.sw) * g.cin
    });
    let acc = direct_acc::<F>(g, xs, &bases, w, f);
    let bv: [f32; F] = match bias {
        Some(b) => <[f32; F]>::try_from(&b[f..f + F]).unwrap_or([0.0; F]),
        None => [0.0; F],
    };
    let mut best = [0.0f32; F];
    let mut at = [0u8; F];
    for t in 0..F {
        best[t] = acc[0][t] + bv[t];
    }
    for (q, a) in acc.iter().enumerate().skip(1) {
        for t in 0..F {
            let v = a[t] + bv[t];
            let gt = v > best[t];
            best[t] = if gt { v } else { best[t] };
            at[t] = if gt { q as u8 } else { at[t] };
        }
    }
    if relu {
        best.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    let o = pc * g.cout + f;
    yr[o..o + F].copy_from_slice(&best);
    qr[o..o + F].copy_from_slice(&at);
}

/// Backward pass of a batch of `n`, given the pooled output `yp`, its gradient `dyp` and
/// the window positions `pos` of the forward pass. Overwrites `dx` (when given) with the
/// input gradient; *adds* the kernel gradient to `dw` and the bias gradient to `db`.
///
/// # Shapes
/// As [`forward`]; `partials` holds [`Conv2dGeom::partials_len`]`(n)` floats.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    cp: &ConvPool,
    n: usize,
    x: &[f32],
    w: &[f32],
    yp: &[f32],
    dyp: &[f32],
    pos: &[u8],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    partials: &mut [f32],
    scratch: &Scratch,
) {
    grouped_backward(
        &cp.conv,
        n,
        1,
        dx,
        dw,
        db,
        partials,
        |s0, count, part, dxg| {
            backward_group(cp, s0, count, x, w, yp, dyp, pos, dxg, part, scratch)
        },
    );
}

crate::simd_fn! {
    /// One group's share of [`backward`]: samples `s0 .. s0 + count`.
    fn backward_group(
        cp: &ConvPool,
        s0: usize,
        count: usize,
        x: &[f32],
        w: &[f32],
        yp: &[f32],
        dyp: &[f32],
        pos: &[u8],
        dxg: Option<&mut [f32]>,
        part: &mut [f32],
        scratch: &Scratch,
    ) {
        let (g, p) = (&cp.conv, &cp.pool);
        let mut dxg = dxg;
        let (in_len, pl, k, c, ow) = (g.in_len(), cp.out_len(), g.k(), g.cout, g.ow);
        let rb = cp.block_rows();
        let relu = cp.act == Act::Relu;
        part.fill(0.0);
        let (pw, pbias) = part.split_at_mut(g.kernel_len());
        let mut buf = scratch.lock();
        let (col, rest) = buf.split_at_mut(rb * k);
        let (dcol, dyb) = rest.split_at_mut(rb * k);
        // Offset of each window position from the window's corner, in the block.
        let wlen = p.ph * p.pw;
        let mut offs = [0usize; 256];
        for (q, o) in offs[..wlen].iter_mut().enumerate() {
            *o = ((q / p.pw) * ow + q % p.pw) * c;
        }
        let covered = p.ow * p.pw;
        let direct = dxg.is_none() && cp.direct_pooled_fits();
        for i in 0..count {
            let s = s0 + i;
            let xs = &x[s * in_len..(s + 1) * in_len];
            let at = s * pl;
            let (ys, gs, ps) = (&yp[at..at + pl], &dyp[at..at + pl], &pos[at..at + pl]);
            if direct && direct_pooled_grads(cp, xs, ys, gs, ps, pw, pbias) {
                continue;
            }
            let mut dxs = dxg.as_deref_mut().map(|d| &mut d[i * in_len..(i + 1) * in_len]);
            if let Some(d) = dxs.as_deref_mut() {
                d.fill(0.0);
            }
            for pr0 in (0..p.oh).step_by(cp.prb) {
                let prows = cp.prb.min(p.oh - pr0);
                let (r0, rows) = (pr0 * p.ph * ow, prows * p.ph * ow);
                let d = &mut dyb[..rows * c];
                let at = pr0 * p.ow * c;
                let (ys, gs, ps) = (&ys[at..], &gs[at..], &ps[at..]);
                for pr in 0..prows {
                    let row0 = pr * p.ph * ow * c;
                    // Columns no window covers (an odd width) get no gradient.
                    if covered < ow {
                        for wy in 0..p.ph {
                            let r = row0 + wy * ow * c;
                            d[r + covered * c..r + ow * c].fill(0.0);
                        }
                    }
                    for pc in 0..p.ow {
                        let o = (pr * p.ow + pc) * c;
                        let corner = row0 + pc * p.pw * c;
                        let (yo, go, qo) = (&ys[o..o + c], &gs[o..o + c], &ps[o..o + c]);
                        // Every value of the window is written: the gradient at the winner
                        // (masked by the ReLU), zero elsewhere.
                        for (q, &off) in offs[..wlen].iter().enumerate() {
                            let dst = &mut d[corner + off..corner + off + c];
                            for (((dv, &gv), &yv), &qv) in dst.iter_mut().zip(go).zip(yo).zip(qo) {
                                let live = qv as usize == q && (!relu || yv > 0.0);
                                *dv = if live { gv } else { 0.0 };
                            }
                        }
                        for ((a, &gv), &yv) in pbias.iter_mut().zip(go).zip(yo) {
                            *a += if !relu || yv > 0.0 { gv } else { 0.0 };
                        }
                    }
                }
                block_grads(g, xs, w, r0, rows, d, pw, dxs.as_deref_mut(), false, col, dcol);
            }
        }
    }
}

/// The kernel and bias gradients of one sample, added to `pw` and `pbias`, straight from
/// its pooled gradient `gs`, pooled output `ys` and window positions `ps`, when the pair
/// qualifies for [`direct_pooled`], a kernel row holds 3 or 9 taps (`kw * cin`: a 3x3
/// kernel on one or three channels, the first layer of most CNNs) and the CPU has AVX2 or
/// AVX-512. Returns `false` (nothing added) otherwise.
///
/// Window by window, each of its four pixels' pre-activation gradient (the pooled gradient
/// where the pixel won and the ReLU passed, else zero) is rebuilt in registers and
/// multiplied into the kernel gradient's accumulators, which stay in registers over the
/// whole sample: no gradient block, no im2col matrix, no GEMM.
#[inline(always)]
fn direct_pooled_grads(
    cp: &ConvPool,
    xs: &[f32],
    ys: &[f32],
    gs: &[f32],
    ps: &[u8],
    pw: &mut [f32],
    pbias: &mut [f32],
) -> bool {
    let g = &cp.conv;
    let seg = g.kw * g.cin;
    if seg != 3 && seg != 9 {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // Filters per panel: 32 (two 16-lane registers per tap) with AVX-512, else 8.
        let wide = crate::simd::has_avx512() && g.cout.is_multiple_of(32);
        if !wide && !crate::simd::has_avx2() {
            return false;
        }
        let job = direct_windows::GradJob::new(cp, xs, ys, gs, ps);
        for f in (0..g.cout).step_by(if wide { 32 } else { 8 }) {
            let mut ky = 0;
            while ky < g.kh {
                // The bias gradient rides along with the first pass.
                let pb = (ky == 0).then_some(&mut *pbias);
                use direct_windows::{grad_rows, grad_rows_avx2};
                // SAFETY: the CPU has AVX-512 (`wide`) or AVX2 and FMA (checked above);
                // `GradJob::new` checked that every window's taps lie inside `xs` and its
                // pooled values inside `gs`, `ys`, `ps`; the kernels check the panel.
                ky += unsafe {
                    match (wide, seg, g.kh - ky) {
                        (true, 3, 3..) => grad_rows::<3, 3>(&job, f, ky, pw, pb),
                        (true, 3, _) => grad_rows::<1, 3>(&job, f, ky, pw, pb),
                        (true, _, _) => grad_rows::<1, 9>(&job, f, ky, pw, pb),
                        (false, 3, 3..) => grad_rows_avx2::<3, 3>(&job, f, ky, pw, pb),
                        (false, 3, _) => grad_rows_avx2::<1, 3>(&job, f, ky, pw, pb),
                        (false, _, _) => grad_rows_avx2::<1, 9>(&job, f, ky, pw, pb),
                    }
                };
            }
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The register kernels of [`direct_pooled`] and [`direct_pooled_grads`] in AVX-512 and
/// AVX2 intrinsics: a window's 4 pixels x 32 filters (forward; 16 with AVX2) or 32 filters
/// x up to 9 taps (kernel gradient; 8 filters with AVX2) of accumulators must stay in the
/// vector registers, which the portable loops did not get from LLVM (bounds checks, reloads
/// and spills ran them at under half the FMA rate).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::needless_range_loop)] // register tiles indexed by tap, row and pixel
mod direct_windows {
    use super::ConvPool;
    use crate::activation::Act;
    use std::arch::x86_64::*;

    /// Pooled rows `pr0 .. pr0 + prows` of one sample into `yb` and their window positions
    /// into `pb`: [`super::pooled_window`] for all 32-filter panels, bit for bit (the taps
    /// are multiply-added in the same order from zero, the bias is added before the
    /// maximum, the first maximum in window order wins).
    ///
    /// # Safety
    /// The CPU must have AVX-512 F/BW/VL, the pair must qualify for the direct pooled path
    /// and `cout` be a multiple of 32; the slices' extents are checked here.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn pooled_rows(
        cp: &ConvPool,
        xs: &[f32],
        pr0: usize,
        prows: usize,
        w: &[f32],
        bias: Option<&[f32]>,
        yb: &mut [f32],
        pb: &mut [u8],
    ) {
        let (g, p) = (&cp.conv, &cp.pool);
        let out = (yb.len(), pb.len());
        let Some(win) = forward_windows(cp, xs, pr0, prows, w, bias, out, 32) else {
            return;
        };
        let (c, seg, row, offs, relu) = (win.c, win.seg, win.row, win.offs, win.relu);
        let zero = _mm512_setzero_ps();
        let (xp, wp) = (xs.as_ptr(), w.as_ptr());
        for pr in 0..prows {
            for pc in 0..p.ow {
                let base = win.base(pr0 + pr, pc);
                for f in (0..c).step_by(32) {
                    let mut acc = [[zero; 2]; 4];
                    for ky in 0..g.kh {
                        // SAFETY: every tap of the rows is inside `xs` (the assert on
                        // `last`), every kernel row inside `w`.
                        unsafe {
                            let xr = offs.map(|o| xp.add(base + o + ky * row));
                            let wr = wp.add(ky * seg * c + f);
                            for j in 0..seg {
                                let w0 = _mm512_loadu_ps(wr.add(j * c));
                                let w1 = _mm512_loadu_ps(wr.add(j * c + 16));
                                for i in 0..4 {
                                    let xv = _mm512_set1_ps(*xr[i].add(j));
                                    acc[i][0] = _mm512_fmadd_ps(xv, w0, acc[i][0]);
                                    acc[i][1] = _mm512_fmadd_ps(xv, w1, acc[i][1]);
                                }
                            }
                        }
                    }
                    let (b0, b1) = match bias {
                        Some(b) => {
                            let b = &b[f..f + 32];
                            // SAFETY: `b` holds 32 floats.
                            unsafe {
                                (
                                    _mm512_loadu_ps(b.as_ptr()),
                                    _mm512_loadu_ps(b.as_ptr().add(16)),
                                )
                            }
                        }
                        None => (zero, zero),
                    };
                    let mut best0 = _mm512_add_ps(acc[0][0], b0);
                    let mut best1 = _mm512_add_ps(acc[0][1], b1);
                    let mut at = _mm256_setzero_si256();
                    for (q, a) in acc.iter().enumerate().skip(1) {
                        let (v0, v1) = (_mm512_add_ps(a[0], b0), _mm512_add_ps(a[1], b1));
                        let gt0 = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v0, best0);
                        let gt1 = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v1, best1);
                        best0 = _mm512_mask_mov_ps(best0, gt0, v0);
                        best1 = _mm512_mask_mov_ps(best1, gt1, v1);
                        let gt = (gt0 as u32) | ((gt1 as u32) << 16);
                        at = _mm256_mask_mov_epi8(at, gt, _mm256_set1_epi8(q as i8));
                    }
                    if relu {
                        best0 = _mm512_max_ps(best0, zero);
                        best1 = _mm512_max_ps(best1, zero);
                    }
                    let o = (pr * p.ow + pc) * c + f;
                    let (yo, po) = (&mut yb[o..o + 32], &mut pb[o..o + 32]);
                    // SAFETY: `yo` holds 32 floats, `po` 32 bytes.
                    unsafe {
                        _mm512_storeu_ps(yo.as_mut_ptr(), best0);
                        _mm512_storeu_ps(yo.as_mut_ptr().add(16), best1);
                        _mm256_storeu_si256(po.as_mut_ptr() as *mut __m256i, at);
                    }
                }
            }
        }
    }

    /// The geometry every window kernel walks: filters, taps per kernel row, and the input
    /// offsets between kernel rows and between a window's pixels (row-major).
    #[derive(Clone, Copy)]
    struct Windows {
        c: usize,
        kh: usize,
        seg: usize,
        row: usize,
        offs: [usize; 4],
        relu: bool,
    }

    impl Windows {
        fn new(cp: &ConvPool) -> Self {
            let g = &cp.conv;
            let (sx, sy) = (g.sw * g.cin, g.sh * g.w * g.cin);
            Windows {
                c: g.cout,
                kh: g.kh,
                seg: g.kw * g.cin,
                row: g.w * g.cin * g.dh,
                offs: [0, sx, sy, sy + sx],
                relu: cp.act == Act::Relu,
            }
        }

        /// Input offset of the top-left pixel of window `(pr, pc)`.
        #[inline(always)]
        fn base(&self, pr: usize, pc: usize) -> usize {
            2 * pr * self.offs[2] + 2 * pc * self.offs[1]
        }
    }

    /// One past the last input offset that pooling windows up to `(pr, pc)` read (all their
    /// pixels' taps), with checked arithmetic: `None` on overflow.
    fn input_end(g: &crate::conv2d::Conv2dGeom, pr: usize, pc: usize) -> Option<usize> {
        let (sx, sy) = (
            g.sw.checked_mul(g.cin)?,
            g.sh.checked_mul(g.w)?.checked_mul(g.cin)?,
        );
        let row = g.w.checked_mul(g.cin)?.checked_mul(g.dh)?;
        let base = (2 * pr)
            .checked_mul(sy)?
            .checked_add((2 * pc).checked_mul(sx)?)?;
        base.checked_add(sy)?
            .checked_add(sx)?
            .checked_add(g.kh.checked_sub(1)?.checked_mul(row)?)?
            .checked_add(g.kw.checked_mul(g.cin)?)
    }

    /// The checks shared by [`pooled_rows`] and [`pooled_rows_avx2`] (filter panels of
    /// `panel`): every tap of the pooled rows `pr0 .. pr0 + prows` lies inside `xs`, every
    /// kernel row inside `w`, the outputs fit. `None` when there is nothing to compute.
    ///
    /// # Panics
    /// If a slice is too short (a caller bug).
    #[allow(clippy::too_many_arguments)]
    fn forward_windows(
        cp: &ConvPool,
        xs: &[f32],
        pr0: usize,
        prows: usize,
        w: &[f32],
        bias: Option<&[f32]>,
        out: (usize, usize),
        panel: usize,
    ) -> Option<Windows> {
        let (g, p) = (&cp.conv, &cp.pool);
        if prows == 0 || p.ow == 0 {
            return None;
        }
        let end = input_end(g, pr0 + prows - 1, p.ow - 1);
        assert!(
            end.is_some_and(|e| e <= xs.len()),
            "pooled_rows: input too short"
        );
        let c = g.cout;
        assert!(
            w.len() >= g.k() * c && c.is_multiple_of(panel),
            "pooled_rows: kernel"
        );
        assert!(out.0 >= prows * p.ow * c && out.1 >= prows * p.ow * c);
        assert!(
            bias.is_none_or(|b| b.len() >= c),
            "pooled_rows: bias too short"
        );
        Some(Windows::new(cp))
    }

    /// One sample's operands and geometry for [`grad_rows`] and [`grad_rows_avx2`].
    pub(super) struct GradJob<'a> {
        xs: &'a [f32],
        ys: &'a [f32],
        gs: &'a [f32],
        ps: &'a [u8],
        /// Pooled rows and columns.
        oh: usize,
        ow: usize,
        win: Windows,
    }

    impl<'a> GradJob<'a> {
        /// # Panics
        /// If a window's taps or pooled values fall outside the slices (a caller bug: the
        /// pair qualifies for the direct pooled path).
        pub(super) fn new(
            cp: &ConvPool,
            xs: &'a [f32],
            ys: &'a [f32],
            gs: &'a [f32],
            ps: &'a [u8],
        ) -> Self {
            let (g, p) = (&cp.conv, &cp.pool);
            // The last window's last pixel's last tap, and its last pooled value.
            let end = match (p.oh, p.ow) {
                (0, _) | (_, 0) => Some(0),
                _ => input_end(g, p.oh - 1, p.ow - 1),
            };
            assert!(
                end.is_some_and(|e| e <= xs.len()),
                "grad_rows: input too short"
            );
            let pl = p.oh * p.ow * g.cout;
            assert!(ys.len() >= pl && gs.len() >= pl && ps.len() >= pl);
            GradJob {
                xs,
                ys,
                gs,
                ps,
                oh: p.oh,
                ow: p.ow,
                win: Windows::new(cp),
            }
        }
    }

    /// Kernel rows `ky .. ky + R` (of `S` taps each) of filters `f .. f + 32`, over every
    /// window of the sample, added to the kernel gradient `pw` (and the bias gradient to
    /// `pbias` when given); returns `R`.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F/BW/VL; `job` checked the slices, this function checks
    /// the panel (`f + 32 <= cout`) and the rows (`ky + R <= kh`, `S` taps per kernel row).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn grad_rows<const R: usize, const S: usize>(
        job: &GradJob,
        f: usize,
        ky: usize,
        pw: &mut [f32],
        pbias: Option<&mut [f32]>,
    ) -> usize {
        let win = job.win;
        let c = win.c;
        assert!(f + 32 <= c, "grad_rows: filter panel");
        assert!(ky + R <= win.kh && S == win.seg, "grad_rows: kernel rows");
        let zero = _mm512_setzero_ps();
        let mut acc = [[[zero; 2]; S]; R];
        for r in 0..R {
            for j in 0..S {
                let o = ((ky + r) * S + j) * c + f;
                let src = &pw[o..o + 32];
                // SAFETY: `src` holds 32 floats.
                unsafe {
                    acc[r][j][0] = _mm512_loadu_ps(src.as_ptr());
                    acc[r][j][1] = _mm512_loadu_ps(src.as_ptr().add(16));
                }
            }
        }
        let mut bacc = [zero; 2];
        let (xp, gp, yp, pp) = (
            job.xs.as_ptr(),
            job.gs.as_ptr(),
            job.ys.as_ptr(),
            job.ps.as_ptr(),
        );
        for pr in 0..job.oh {
            for pc in 0..job.ow {
                let o = (pr * job.ow + pc) * c + f;
                // SAFETY: `GradJob::new` checked that the pooled values of every window
                // and the taps of every window pixel lie inside the slices.
                unsafe {
                    let mut g0 = _mm512_loadu_ps(gp.add(o));
                    let mut g1 = _mm512_loadu_ps(gp.add(o + 16));
                    if win.relu {
                        let y0 = _mm512_loadu_ps(yp.add(o));
                        let y1 = _mm512_loadu_ps(yp.add(o + 16));
                        g0 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(y0, zero), g0);
                        g1 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(y1, zero), g1);
                    }
                    bacc[0] = _mm512_add_ps(bacc[0], g0);
                    bacc[1] = _mm512_add_ps(bacc[1], g1);
                    let q = _mm256_loadu_si256(pp.add(o) as *const __m256i);
                    let base = win.base(pr, pc) + ky * win.row;
                    for (i, &off) in win.offs.iter().enumerate() {
                        let won = _mm256_cmpeq_epi8_mask(q, _mm256_set1_epi8(i as i8));
                        let d0 = _mm512_maskz_mov_ps(won as u16, g0);
                        let d1 = _mm512_maskz_mov_ps((won >> 16) as u16, g1);
                        for r in 0..R {
                            let x = xp.add(base + off + r * win.row);
                            for j in 0..S {
                                let xv = _mm512_set1_ps(*x.add(j));
                                acc[r][j][0] = _mm512_fmadd_ps(xv, d0, acc[r][j][0]);
                                acc[r][j][1] = _mm512_fmadd_ps(xv, d1, acc[r][j][1]);
                            }
                        }
                    }
                }
            }
        }
        for r in 0..R {
            for j in 0..S {
                let o = ((ky + r) * S + j) * c + f;
                let dst = &mut pw[o..o + 32];
                // SAFETY: `dst` holds 32 floats.
                unsafe {
                    _mm512_storeu_ps(dst.as_mut_ptr(), acc[r][j][0]);
                    _mm512_storeu_ps(dst.as_mut_ptr().add(16), acc[r][j][1]);
                }
            }
        }
        if let Some(pb) = pbias {
            let dst = &mut pb[f..f + 32];
            // SAFETY: `dst` holds 32 floats.
            unsafe {
                let (p0, p1) = (dst.as_mut_ptr(), dst.as_mut_ptr().add(16));
                _mm512_storeu_ps(p0, _mm512_add_ps(_mm512_loadu_ps(p0), bacc[0]));
                _mm512_storeu_ps(p1, _mm512_add_ps(_mm512_loadu_ps(p1), bacc[1]));
            }
        }
        R
    }

    /// [`pooled_rows`] for AVX2: 16-filter panels (4 pixels x 2 registers of accumulators),
    /// bit for bit the same values and positions.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA, the pair must qualify for the direct pooled path
    /// (`cout` a multiple of 16); the slices' extents are checked here.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn pooled_rows_avx2(
        cp: &ConvPool,
        xs: &[f32],
        pr0: usize,
        prows: usize,
        w: &[f32],
        bias: Option<&[f32]>,
        yb: &mut [f32],
        pb: &mut [u8],
    ) {
        let (g, p) = (&cp.conv, &cp.pool);
        let out = (yb.len(), pb.len());
        let Some(win) = forward_windows(cp, xs, pr0, prows, w, bias, out, 16) else {
            return;
        };
        let (c, seg, row, offs, relu) = (win.c, win.seg, win.row, win.offs, win.relu);
        let zero = _mm256_setzero_ps();
        let (xp, wp) = (xs.as_ptr(), w.as_ptr());
        for pr in 0..prows {
            for pc in 0..p.ow {
                let base = win.base(pr0 + pr, pc);
                for f in (0..c).step_by(16) {
                    let mut acc = [[zero; 2]; 4];
                    for ky in 0..g.kh {
                        // SAFETY: every tap of the rows is inside `xs` (the assert on
                        // `last`), every kernel row inside `w`.
                        unsafe {
                            let xr = offs.map(|o| xp.add(base + o + ky * row));
                            let wr = wp.add(ky * seg * c + f);
                            for j in 0..seg {
                                let w0 = _mm256_loadu_ps(wr.add(j * c));
                                let w1 = _mm256_loadu_ps(wr.add(j * c + 8));
                                for i in 0..4 {
                                    let xv = _mm256_set1_ps(*xr[i].add(j));
                                    acc[i][0] = _mm256_fmadd_ps(xv, w0, acc[i][0]);
                                    acc[i][1] = _mm256_fmadd_ps(xv, w1, acc[i][1]);
                                }
                            }
                        }
                    }
                    let (b0, b1) = match bias {
                        Some(b) => {
                            let b = &b[f..f + 16];
                            // SAFETY: `b` holds 16 floats.
                            unsafe {
                                (
                                    _mm256_loadu_ps(b.as_ptr()),
                                    _mm256_loadu_ps(b.as_ptr().add(8)),
                                )
                            }
                        }
                        None => (zero, zero),
                    };
                    let mut best0 = _mm256_add_ps(acc[0][0], b0);
                    let mut best1 = _mm256_add_ps(acc[0][1], b1);
                    // Window positions as 32-bit lanes, packed to bytes at the end.
                    let (mut at0, mut at1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
                    for (q, a) in acc.iter().enumerate().skip(1) {
                        let (v0, v1) = (_mm256_add_ps(a[0], b0), _mm256_add_ps(a[1], b1));
                        let gt0 = _mm256_cmp_ps::<_CMP_GT_OQ>(v0, best0);
                        let gt1 = _mm256_cmp_ps::<_CMP_GT_OQ>(v1, best1);
                        best0 = _mm256_blendv_ps(best0, v0, gt0);
                        best1 = _mm256_blendv_ps(best1, v1, gt1);
                        let qv = _mm256_set1_epi32(q as i32);
                        at0 = _mm256_blendv_epi8(at0, qv, _mm256_castps_si256(gt0));
                        at1 = _mm256_blendv_epi8(at1, qv, _mm256_castps_si256(gt1));
                    }
                    if relu {
                        best0 = _mm256_max_ps(best0, zero);
                        best1 = _mm256_max_ps(best1, zero);
                    }
                    // 16 x i32 to 16 x i16 (lanes interleaved by 64-bit chunk), back in
                    // order, then to 16 bytes.
                    let h = _mm256_permute4x64_epi64::<0xD8>(_mm256_packs_epi32(at0, at1));
                    let at = _mm_packus_epi16(
                        _mm256_castsi256_si128(h),
                        _mm256_extracti128_si256::<1>(h),
                    );
                    let o = (pr * p.ow + pc) * c + f;
                    let (yo, po) = (&mut yb[o..o + 16], &mut pb[o..o + 16]);
                    // SAFETY: `yo` holds 16 floats, `po` 16 bytes.
                    unsafe {
                        _mm256_storeu_ps(yo.as_mut_ptr(), best0);
                        _mm256_storeu_ps(yo.as_mut_ptr().add(8), best1);
                        _mm_storeu_si128(po.as_mut_ptr() as *mut __m128i, at);
                    }
                }
            }
        }
    }

    /// [`grad_rows`] for AVX2: 8-filter panels (up to 9 registers of accumulators).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `job` checked the slices, this function checks the
    /// panel and the rows.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn grad_rows_avx2<const R: usize, const S: usize>(
        job: &GradJob,
        f: usize,
        ky: usize,
        pw: &mut [f32],
        pbias: Option<&mut [f32]>,
    ) -> usize {
        let win = job.win;
        let c = win.c;
        assert!(f + 8 <= c, "grad_rows_avx2: filter panel");
        assert!(
            ky + R <= win.kh && S == win.seg,
            "grad_rows_avx2: kernel rows"
        );
        let zero = _mm256_setzero_ps();
        let mut acc = [[zero; S]; R];
        for r in 0..R {
            for j in 0..S {
                let o = ((ky + r) * S + j) * c + f;
                let src = &pw[o..o + 8];
                // SAFETY: `src` holds 8 floats.
                acc[r][j] = unsafe { _mm256_loadu_ps(src.as_ptr()) };
            }
        }
        let mut bacc = zero;
        let (xp, gp, yp, pp) = (
            job.xs.as_ptr(),
            job.gs.as_ptr(),
            job.ys.as_ptr(),
            job.ps.as_ptr(),
        );
        for pr in 0..job.oh {
            for pc in 0..job.ow {
                let o = (pr * job.ow + pc) * c + f;
                // SAFETY: `GradJob::new` checked that the pooled values of every window
                // and the taps of every window pixel lie inside the slices.
                unsafe {
                    let mut gv = _mm256_loadu_ps(gp.add(o));
                    if win.relu {
                        let y = _mm256_loadu_ps(yp.add(o));
                        gv = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(y, zero), gv);
                    }
                    bacc = _mm256_add_ps(bacc, gv);
                    let q = _mm256_cvtepu8_epi32(_mm_loadl_epi64(pp.add(o) as *const __m128i));
                    let base = win.base(pr, pc) + ky * win.row;
                    for (i, &off) in win.offs.iter().enumerate() {
                        let won = _mm256_cmpeq_epi32(q, _mm256_set1_epi32(i as i32));
                        let d = _mm256_and_ps(_mm256_castsi256_ps(won), gv);
                        for r in 0..R {
                            let x = xp.add(base + off + r * win.row);
                            for j in 0..S {
                                let xv = _mm256_set1_ps(*x.add(j));
                                acc[r][j] = _mm256_fmadd_ps(xv, d, acc[r][j]);
                            }
                        }
                    }
                }
            }
        }
        for r in 0..R {
            for j in 0..S {
                let o = ((ky + r) * S + j) * c + f;
                let dst = &mut pw[o..o + 8];
                // SAFETY: `dst` holds 8 floats.
                unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), acc[r][j]) };
            }
        }
        if let Some(pb) = pbias {
            let dst = &mut pb[f..f + 8];
            // SAFETY: `dst` holds 8 floats.
            unsafe {
                let p0 = dst.as_mut_ptr();
                _mm256_storeu_ps(p0, _mm256_add_ps(_mm256_loadu_ps(p0), bacc));
            }
        }
        R
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv2d::{self, Padding};
    use crate::pool2d;
    use crate::testutil::{assert_close, Lcg};

    /// Input, kernel, filters, strides, padding, pool, activation.
    type Case = (
        (usize, usize, usize),
        (usize, usize),
        usize,
        (usize, usize),
        Padding,
        (usize, usize),
        Act,
    );

    #[allow(clippy::too_many_arguments)]
    /// The fused pair against the convolution, activation and max pooling run one after the
    /// other (forward values, window winners, and all gradients).
    fn check(
        (h, w, cin): (usize, usize, usize),
        kernel: (usize, usize),
        cout: usize,
        strides: (usize, usize),
        padding: Padding,
        pool: (usize, usize),
        act: Act,
        n: usize,
        seed: u64,
    ) {
        let g =
            Conv2dGeom::new((h, w, cin), kernel, cout, strides, (1, 1), padding).expect("geometry");
        let p = Pool2dGeom::new((g.oh, g.ow, cout), pool, pool, Padding::Valid).expect("geometry");
        let cp = ConvPool::new(g, p, act).expect("fusable");
        let mut r = Lcg::new(seed);
        let x = r.vec(n * g.in_len());
        let wt = r.vec(g.kernel_len());
        let bias = r.vec(cout);
        let dyp = r.vec(n * p.out_len());
        let scratch = Scratch::new(g.scratch_len().max(cp.scratch_len()));

        // Unfused: conv + act, pool, then pool backward and conv backward.
        let mut y = vec![0.0; n * g.out_len()];
        conv2d::forward(
            &g,
            n,
            &x,
            &wt,
            Some(&bias[..]).into(),
            act,
            &mut y,
            &scratch,
        );
        let mut want_yp = vec![0.0; n * p.out_len()];
        let mut am = vec![0u32; n * p.out_len()];
        pool2d::max_forward(&p, n, &y, &mut want_yp, &mut am);
        let mut dy = vec![0.0; n * g.out_len()];
        pool2d::max_backward(&p, n, &dyp, &am, &mut dy);
        let (mut want_dx, mut want_dw, mut want_db) = (
            vec![0.0; n * g.in_len()],
            vec![0.0; g.kernel_len()],
            vec![0.0; cout],
        );
        let mut partials = vec![0.0; g.partials_len(n)];
        conv2d::backward(
            &g,
            n,
            &x,
            &wt,
            (act != Act::Linear).then_some((act, &y[..])),
            &dy,
            Some(&mut want_dx),
            &mut want_dw,
            Some(&mut want_db),
            &mut partials,
            &scratch,
        );

        let mut yp = vec![0.0; n * p.out_len()];
        let mut pos = vec![0u8; n * p.out_len()];
        forward(&cp, n, &x, &wt, Some(&bias), &mut yp, &mut pos, &scratch);
        assert_close(&yp, &want_yp, 1e-5);
        for (i, (&q, &a)) in pos.iter().zip(&am).enumerate() {
            let (s, rest) = (i / p.out_len(), i % p.out_len());
            let (py, px, ch) = (rest / (p.ow * cout), rest / cout % p.ow, rest % cout);
            let (wy, wx) = (q as usize / p.pw, q as usize % p.pw);
            let at = ((py * p.ph + wy) * g.ow + px * p.pw + wx) * cout + ch;
            // The same winner, or (ReLU) a tie at zero whose gradient is zero either way.
            assert!(
                at == a as usize || (act == Act::Relu && yp[i] == 0.0),
                "sample {s}: window position {q} is not the pooled maximum"
            );
        }
        let (mut dx, mut dw, mut db) = (
            vec![7.0; n * g.in_len()],
            vec![0.0; g.kernel_len()],
            vec![0.0; cout],
        );
        backward(
            &cp,
            n,
            &x,
            &wt,
            &yp,
            &dyp,
            &pos,
            Some(&mut dx),
            &mut dw,
            Some(&mut db),
            &mut partials,
            &scratch,
        );
        assert_close(&dx, &want_dx, 1e-4);
        assert_close(&dw, &want_dw, 1e-4);
        assert_close(&db, &want_db, 1e-4);
        // Without the input gradient (a first layer), which may take the direct path.
        let (mut dw, mut db) = (vec![0.0; g.kernel_len()], vec![0.0; cout]);
        backward(
            &cp,
            n,
            &x,
            &wt,
            &yp,
            &dyp,
            &pos,
            None,
            &mut dw,
            Some(&mut db),
            &mut partials,
            &scratch,
        );
        assert_close(&dw, &want_dw, 1e-4);
        assert_close(&db, &want_db, 1e-4);
    }

    #[test]
    fn matches_conv_then_pool_on_random_geometries() {
        // (input, kernel, filters, strides, padding, pool, act): the direct path (k <= 48)
        // with its fused pooling (2x2 windows, no padding; 32 + 16 filters, strided; kernel
        // rows of 3 and 9 taps, and 4 rows of 3 for a pass of 3 rows and one of 1),
        // im2col + GEMM, pointwise, odd sizes that drop a row and a column, wide pools.
        let cases: [Case; 12] = [
            (
                (15, 14, 1),
                (3, 3),
                32,
                (1, 1),
                Padding::Valid,
                (2, 2),
                Act::Relu,
            ),
            (
                (10, 9, 1),
                (4, 3),
                16,
                (1, 1),
                Padding::Valid,
                (2, 2),
                Act::Relu,
            ),
            (
                (13, 17, 1),
                (3, 3),
                48,
                (1, 1),
                Padding::Valid,
                (2, 2),
                Act::Linear,
            ),
            (
                (17, 17, 3),
                (3, 3),
                16,
                (2, 2),
                Padding::Valid,
                (2, 2),
                Act::Relu,
            ),
            (
                (12, 12, 3),
                (3, 3),
                32,
                (1, 1),
                Padding::Valid,
                (2, 2),
                Act::Relu,
            ),
            (
                (11, 13, 3),
                (3, 3),
                20,
                (1, 1),
                Padding::Same,
                (2, 2),
                Act::Relu,
            ),
            (
                (9, 9, 8),
                (3, 3),
                16,
                (1, 1),
                Padding::Valid,
                (2, 2),
                Act::Relu,
            ),
            (
                (10, 10, 7),
                (3, 3),
                5,
                (2, 2),
                Padding::Same,
                (2, 2),
                Act::Linear,
            ),
            (
                (8, 8, 6),
                (1, 1),
                9,
                (1, 1),
                Padding::Valid,
                (2, 2),
                Act::Relu,
            ),
            (
                (15, 14, 4),
                (5, 3),
                33,
                (1, 1),
                Padding::Valid,
                (3, 2),
                Act::Relu,
            ),
            (
                (16, 16, 2),
                (3, 3),
                64,
                (1, 1),
                Padding::Same,
                (4, 4),
                Act::Linear,
            ),
            (
                (7, 7, 1),
                (3, 3),
                3,
                (1, 1),
                Padding::Valid,
                (5, 5),
                Act::Relu,
            ),
        ];
        for (i, (inp, k, f, s, pad, pool, act)) in cases.into_iter().enumerate() {
            for n in [1, 3, 9] {
                check(
                    inp,
                    k,
                    f,
                    s,
                    pad,
                    pool,
                    act,
                    n,
                    17 + i as u64 * 31 + n as u64,
                );
            }
        }
    }

    #[test]
    fn blocks_split_long_images() {
        // A tall image whose pooled rows span several blocks.
        let (h, w) = (200, 100);
        let g = Conv2dGeom::new((h, w, 16), (3, 3), 8, (1, 1), (1, 1), Padding::Valid)
            .expect("geometry");
        let p = Pool2dGeom::new((g.oh, g.ow, 8), (2, 2), (2, 2), Padding::Valid).expect("geometry");
        let cp = ConvPool::new(g, p, Act::Relu).expect("fusable");
        assert!(cp.prb < p.oh, "one block would hold the whole image");
        check(
            (h, w, 16),
            (3, 3),
            8,
            (1, 1),
            Padding::Valid,
            (2, 2),
            Act::Relu,
            2,
            5,
        );
    }

    #[test]
    fn refuses_what_it_cannot_fuse() {
        let g = Conv2dGeom::new((8, 8, 3), (3, 3), 4, (1, 1), (1, 1), Padding::Valid)
            .expect("geometry");
        let pool = |size, stride, pad| Pool2dGeom::new((6, 6, 4), size, stride, pad).expect("pool");
        let p = pool((2, 2), (2, 2), Padding::Valid);
        assert!(ConvPool::new(g, p, Act::Relu).is_some());
        assert!(ConvPool::new(g, p, Act::Tanh).is_none(), "activation");
        assert!(ConvPool::new(g, pool((3, 3), (2, 2), Padding::Valid), Act::Relu).is_none());
        assert!(ConvPool::new(g, pool((4, 4), (4, 4), Padding::Same), Act::Relu).is_none());
        let other = Pool2dGeom::new((6, 6, 5), (2, 2), (2, 2), Padding::Valid).expect("geometry");
        assert!(ConvPool::new(g, other, Act::Relu).is_none(), "channels");
    }

    #[test]
    fn direct_path_refuses_geometry_whose_extent_overflows() {
        // A hand-built geometry whose window extent wraps around usize must not reach the
        // register kernels (their bounds checks rest on that extent).
        let ok = Conv2dGeom::new((64, 64, 3), (3, 3), 32, (1, 1), (1, 1), Padding::Valid)
            .expect("geometry");
        let p = Pool2dGeom::new((62, 62, 32), (2, 2), (2, 2), Padding::Valid).expect("pool");
        let cp = ConvPool::new(ok, p, Act::Relu).expect("fusable");
        assert!(cp.direct_pooled_fits());
        let huge = Conv2dGeom {
            sh: usize::MAX / 5 + 1,
            ..ok
        };
        let cp = ConvPool { conv: huge, ..cp };
        assert!(!cp.direct_pooled_fits());
        assert_eq!(span(0, 1, 3, 1), None);
        assert_eq!(span(4, 2, 3, 1), Some(8));
    }
}
