//! Winograd F(2x2, 3x3) convolution: 3x3, stride-1, undilated convolutions with 2.25x fewer
//! multiplications than im2col + GEMM, forward and backward, optionally with the 2x2 max
//! pooling that follows fused in.
//!
//! With the 4x4 input tile `d`, the 3x3 kernel `g` and the transforms `B`, `G`, `A` of
//! Lavin & Gray ("Fast Algorithms for Convolutional Neural Networks", 2016), each 2x2 output
//! tile is `Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`. Summed over the input channels, the element-wise
//! product becomes 16 independent GEMMs, one per tile position `ξ`:
//! `M[ξ] (tiles x cout) = V[ξ] (tiles x cin) · U[ξ] (cin x cout)`.
//! The backward pass runs the same 16 GEMMs transposed:
//! - kernel gradient: `dU[ξ] += V[ξ]ᵀ · dM[ξ]`, then `dw = Gᵀ dU G`;
//! - input gradient: `dV[ξ] = dM[ξ] · U[ξ]ᵀ`, then each tile adds `B dV Bᵀ` to its 4x4 input
//!   patch, where `dM = A dY Aᵀ` is the output gradient in the transformed domain.
//!
//! The transforms only add, subtract and halve (exact in floating point), so the result
//! differs from the direct convolution by rounding only: the products are reassociated
//! through sums of inputs and of weights. The errors are of the same order as im2col +
//! GEMM's (tested against it below).
//!
//! Work: tiles are taken a block of tile rows at a time (about [`TILE_TARGET`] tiles, so the
//! transformed block stays in L2); the forward split is (sample, block), the backward split
//! is the fixed sample groups of [`crate::conv2d::grouped_backward`], each group summing its
//! kernel gradient in the transformed domain. Results do not depend on the thread count.
//!
//! When the output tiles are exactly the windows of a 2x2, stride-2 max pooling (the
//! pooling of [`crate::conv_pool`]), the pooling is done on each tile as it is transformed
//! back: the convolution's full-size output never exists, and its rows and columns that no
//! window covers are never computed.

// The tile transforms index several arrays by the same tile position and lane.
#![allow(clippy::needless_range_loop)]

use crate::activation::Act;
use crate::conv2d::{epilogue, grouped_backward, Conv2dGeom};
use crate::gemm::{sgemm, MatRef};
use crate::parallel::{for_each_chunk_mut, for_each_chunk_pair_mut, Scratch};
use crate::pool2d::Pool2dGeom;

/// Tiles per block, roughly (whole tile rows are taken).
const TILE_TARGET: usize = 96;
/// Channels processed together by the tile transforms.
const L: usize = 16;

/// A convolution run by Winograd F(2x2, 3x3), checked to qualify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Winograd {
    /// The convolution.
    pub conv: Conv2dGeom,
    /// The output tiles are the windows of a 2x2, stride-2 max pooling, fused in.
    pub pooled: bool,
    /// Tile rows.
    th: usize,
    /// Tile columns.
    tw: usize,
    /// Tile rows per block.
    rb: usize,
    /// Tiles per block (`rb * tw`).
    tb: usize,
}

impl Winograd {
    fn make(conv: Conv2dGeom, pooled: bool, th: usize, tw: usize) -> Option<Self> {
        let ok = conv.kh == 3
            && conv.kw == 3
            && conv.sh == 1
            && conv.sw == 1
            && conv.dh == 1
            && conv.dw == 1
            && conv.cin.is_multiple_of(L)
            && conv.cout.is_multiple_of(L)
            && th > 0
            && tw > 0;
        let rb = (TILE_TARGET / tw).clamp(1, th);
        let tb = rb * tw;
        ok.then_some(Winograd {
            conv,
            pooled,
            th,
            tw,
            rb,
            tb,
        })
    }

    /// The Winograd plan of a convolution (3x3 kernel, stride 1, no dilation, input and
    /// output channels multiples of 16), or `None` when it does not qualify.
    pub fn new(conv: Conv2dGeom) -> Option<Self> {
        Self::make(conv, false, conv.oh.div_ceil(2), conv.ow.div_ceil(2))
    }

    /// The plan of a qualifying convolution followed by a max pooling that reads exactly its
    /// output with 2x2 windows, strides 2 and no padding; `act` (between them) must be ReLU
    /// or linear. `None` otherwise.
    pub fn pooled(conv: Conv2dGeom, pool: &Pool2dGeom, act: Act) -> Option<Self> {
        let fits = pool.h == conv.oh
            && pool.w == conv.ow
            && pool.c == conv.cout
            && (pool.ph, pool.pw, pool.sh, pool.sw) == (2, 2, 2, 2)
            && pool.pad_top == 0
            && pool.pad_left == 0
            && 2 * pool.oh <= conv.oh
            && 2 * pool.ow <= conv.ow
            && matches!(act, Act::Relu | Act::Linear);
        if !fits {
            return None;
        }
        Self::make(conv, true, pool.oh, pool.ow)
    }

    /// Floats of the transformed kernel ([`transform_kernel`]): `U` and its transpose.
    pub fn kernel_len(&self) -> usize {
        2 * 16 * self.conv.cin * self.conv.cout
    }

    /// Floats of per-thread scratch that [`forward`] and [`backward`] need.
    pub fn scratch_len(&self) -> usize {
        let (cin, cout) = (self.conv.cin, self.conv.cout);
        16 * self.tb * (2 * cin + cout) + 16 * cin * cout
    }

    /// Output floats per sample: the pooled output when the pooling is fused, else the
    /// convolution's.
    pub fn out_len(&self) -> usize {
        if self.pooled {
            self.th * self.tw * self.conv.cout
        } else {
            self.conv.out_len()
        }
    }

    /// Output floats of one block of `rb` tile rows.
    fn block_out(&self) -> usize {
        if self.pooled {
            self.rb * self.tw * self.conv.cout
        } else {
            2 * self.rb * self.conv.ow * self.conv.cout
        }
    }
}

/// Writes the transformed kernel `U = G w Gᵀ` (`[16][cin][cout]`) and its transpose
/// (`[16][cout][cin]`) into `u` ([`Winograd::kernel_len`] floats). `w` is HWIO.
pub fn transform_kernel(wg: &Winograd, w: &[f32], u: &mut [f32]) {
    let (cin, cout) = (wg.conv.cin, wg.conv.cout);
    let (uf, ut) = u[..wg.kernel_len()].split_at_mut(16 * cin * cout);
    for ci in 0..cin {
        for co in 0..cout {
            let k = |ky: usize, kx: usize| w[(ky * 3 + kx) * cin * cout + ci * cout + co];
            let mut t = [[0.0f32; 3]; 4];
            for c in 0..3 {
                let (a, b, d) = (k(0, c), k(1, c), k(2, c));
                t[0][c] = a;
                t[1][c] = 0.5 * (a + b + d);
                t[2][c] = 0.5 * (a - b + d);
                t[3][c] = d;
            }
            for (r, tr) in t.iter().enumerate() {
                let (a, b, d) = (tr[0], tr[1], tr[2]);
                let v = [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
                for (j, &vj) in v.iter().enumerate() {
                    let xi = r * 4 + j;
                    uf[xi * cin * cout + ci * cout + co] = vj;
                    ut[xi * cout * cin + co * cin + ci] = vj;
                }
            }
        }
    }
}

/// Adds `Gᵀ dU G` (the kernel gradient of the transformed-domain gradient `du`,
/// `[16][cin][cout]`) to the HWIO kernel gradient `dw`.
fn untransform_kernel_grad(g: &Conv2dGeom, du: &[f32], dw: &mut [f32]) {
    let (cin, cout) = (g.cin, g.cout);
    let at = |xi: usize, i: usize| xi * cin * cout + i;
    for i in 0..cin * cout {
        // Rows: s[a][j] = sum_i G[i][a] dU[i][j]; G's columns are (1, ½, ½, 0), (0, ½, -½, 0),
        // (0, ½, ½, 1).
        let mut s = [[0.0f32; 4]; 3];
        for j in 0..4 {
            let d = [
                du[at(j, i)],
                du[at(4 + j, i)],
                du[at(8 + j, i)],
                du[at(12 + j, i)],
            ];
            s[0][j] = d[0] + 0.5 * (d[1] + d[2]);
            s[1][j] = 0.5 * (d[1] - d[2]);
            s[2][j] = 0.5 * (d[1] + d[2]) + d[3];
        }
        for (a, sa) in s.iter().enumerate() {
            let v = [
                sa[0] + 0.5 * (sa[1] + sa[2]),
                0.5 * (sa[1] - sa[2]),
                0.5 * (sa[1] + sa[2]) + sa[3],
            ];
            for (b, vb) in v.iter().enumerate() {
                dw[(a * 3 + b) * cin * cout + i] += vb;
            }
        }
    }
}

type Lanes = [f32; L];

/// The 16 rows `src[(xi * stride + off)..][..L]`, `xi` in `0..16` (one tile's transformed
/// values, [`L`] channels), without a closure the compiler might not inline.
#[inline(always)]
fn gather16(src: &[f32], stride: usize, off: usize) -> [Lanes; 16] {
    let mut out = [[0.0f32; L]; 16];
    for (xi, o) in out.iter_mut().enumerate() {
        o.copy_from_slice(&src[xi * stride + off..][..L]);
    }
    out
}

/// `Bᵀ d B` of one 4x4 tile (16 positions, row-major), [`L`] channels at once.
#[inline(always)]
fn input_tile(d: &[Lanes; 16]) -> [Lanes; 16] {
    let mut t = [[0.0f32; L]; 16];
    let mut v = [[0.0f32; L]; 16];
    for l in 0..L {
        for c in 0..4 {
            let (d0, d1, d2, d3) = (d[c][l], d[4 + c][l], d[8 + c][l], d[12 + c][l]);
            t[c][l] = d0 - d2;
            t[4 + c][l] = d1 + d2;
            t[8 + c][l] = d2 - d1;
            t[12 + c][l] = d1 - d3;
        }
        for r in 0..4 {
            let (t0, t1, t2, t3) = (
                t[r * 4][l],
                t[r * 4 + 1][l],
                t[r * 4 + 2][l],
                t[r * 4 + 3][l],
            );
            v[r * 4][l] = t0 - t2;
            v[r * 4 + 1][l] = t1 + t2;
            v[r * 4 + 2][l] = t2 - t1;
            v[r * 4 + 3][l] = t1 - t3;
        }
    }
    v
}

/// `Aᵀ m A` of one tile: the 2x2 outputs (row-major).
#[inline(always)]
fn output_tile(m: &[Lanes; 16]) -> [Lanes; 4] {
    let mut y = [[0.0f32; L]; 4];
    for l in 0..L {
        let mut s = [[0.0f32; 4]; 2];
        for c in 0..4 {
            let (m0, m1, m2, m3) = (m[c][l], m[4 + c][l], m[8 + c][l], m[12 + c][l]);
            s[0][c] = m0 + m1 + m2;
            s[1][c] = m1 - m2 - m3;
        }
        for r in 0..2 {
            y[r * 2][l] = s[r][0] + s[r][1] + s[r][2];
            y[r * 2 + 1][l] = s[r][1] - s[r][2] - s[r][3];
        }
    }
    y
}

/// `A dY Aᵀ` of one tile's output gradient (2x2, row-major): the 4x4 transformed gradient.
#[inline(always)]
fn grad_tile(d: &[Lanes; 4]) -> [Lanes; 16] {
    let mut m = [[0.0f32; L]; 16];
    for l in 0..L {
        let mut s = [[0.0f32; 2]; 4];
        for c in 0..2 {
            let (a, b) = (d[c][l], d[2 + c][l]);
            s[0][c] = a;
            s[1][c] = a + b;
            s[2][c] = a - b;
            s[3][c] = -b;
        }
        for (r, sr) in s.iter().enumerate() {
            let (a, b) = (sr[0], sr[1]);
            m[r * 4][l] = a;
            m[r * 4 + 1][l] = a + b;
            m[r * 4 + 2][l] = a - b;
            m[r * 4 + 3][l] = -b;
        }
    }
    m
}

/// `B dV Bᵀ` of one tile: the gradient of its 4x4 input patch.
#[inline(always)]
fn input_grad_tile(v: &[Lanes; 16]) -> [Lanes; 16] {
    let mut t = [[0.0f32; L]; 16];
    let mut d = [[0.0f32; L]; 16];
    for l in 0..L {
        for c in 0..4 {
            let (v0, v1, v2, v3) = (v[c][l], v[4 + c][l], v[8 + c][l], v[12 + c][l]);
            t[c][l] = v0;
            t[4 + c][l] = v1 - v2 + v3;
            t[8 + c][l] = v1 + v2 - v0;
            t[12 + c][l] = -v3;
        }
        for r in 0..4 {
            let (t0, t1, t2, t3) = (
                t[r * 4][l],
                t[r * 4 + 1][l],
                t[r * 4 + 2][l],
                t[r * 4 + 3][l],
            );
            d[r * 4][l] = t0;
            d[r * 4 + 1][l] = t1 - t2 + t3;
            d[r * 4 + 2][l] = t1 + t2 - t0;
            d[r * 4 + 3][l] = -t3;
        }
    }
    d
}

/// Where input row/column `i` of the tile whose first row/column is `o` (may be negative:
/// padding) falls in an axis of length `n`, or `None` outside.
#[inline(always)]
fn inside(o: isize, i: usize, n: usize) -> Option<usize> {
    let p = o + i as isize;
    (p >= 0 && (p as usize) < n).then_some(p as usize)
}

/// Transforms the input tiles of tile rows `ty0 ..` (`nt` tiles) of one sample into `v`
/// (`[16][tb][cin]`).
#[inline(always)]
fn transform_inputs(wg: &Winograd, xs: &[f32], ty0: usize, nt: usize, v: &mut [f32]) {
    let g = &wg.conv;
    let (cin, tb) = (g.cin, wg.tb);
    for t in 0..nt {
        let (ty, tx) = (ty0 + t / wg.tw, t % wg.tw);
        let oy = (2 * ty) as isize - g.pad_top as isize;
        let ox = (2 * tx) as isize - g.pad_left as isize;
        let mut at = [None; 16];
        for (q, a) in at.iter_mut().enumerate() {
            if let (Some(y), Some(x)) = (inside(oy, q / 4, g.h), inside(ox, q % 4, g.w)) {
                *a = Some((y * g.w + x) * cin);
            }
        }
        for c0 in (0..cin).step_by(L) {
            let mut d = [[0.0f32; L]; 16];
            for (dq, aq) in d.iter_mut().zip(&at) {
                if let Some(o) = aq {
                    dq.copy_from_slice(&xs[o + c0..o + c0 + L]);
                }
            }
            let tv = input_tile(&d);
            for (xi, tq) in tv.iter().enumerate() {
                v[(xi * tb + t) * cin + c0..][..L].copy_from_slice(tq);
            }
        }
    }
}

/// Forward pass of a batch of `n`. Without pooling: `y = act(conv(x, w) + bias)`. With the
/// pooling fused (`wg.pooled`): `y = maxpool(act(conv(x, w) + bias))` and `pos` receives
/// each pooled value's position in its 2x2 window (row-major; the first maximum wins ties,
/// as in TensorFlow).
///
/// # Shapes
/// `x`: `n * conv.in_len()`, `u`: [`transform_kernel`] of the kernel, `bias`: `cout`,
/// `y` and `pos` (when pooled): `n * out_len()`; `scratch` holds
/// [`Winograd::scratch_len`] floats per thread.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    wg: &Winograd,
    n: usize,
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    act: Act,
    y: &mut [f32],
    pos: Option<&mut [u8]>,
    scratch: &Scratch,
) {
    let (in_len, ol, bl) = (wg.conv.in_len(), wg.out_len(), wg.block_out());
    debug_assert!(scratch.len() >= wg.scratch_len() && u.len() >= wg.kernel_len());
    let y = &mut y[..n * ol];
    match pos {
        Some(pos) => for_each_chunk_pair_mut(y, ol, &mut pos[..n * ol], ol, |s, ys, ps| {
            let xs = &x[s * in_len..(s + 1) * in_len];
            for_each_chunk_pair_mut(ys, bl, ps, bl, |b, yb, pb| {
                forward_block(wg, xs, b, u, bias, act, yb, Some(pb), scratch)
            });
        }),
        None => for_each_chunk_mut(y, ol, |s, ys| {
            let xs = &x[s * in_len..(s + 1) * in_len];
            for_each_chunk_mut(ys, bl, |b, yb| {
                forward_block(wg, xs, b, u, bias, act, yb, None, scratch)
            });
        }),
    }
}

crate::simd_fn! {
    /// Block `b` (of `rb` tile rows) of one sample's forward pass.
    fn forward_block(
        wg: &Winograd,
        xs: &[f32],
        b: usize,
        u: &[f32],
        bias: Option<&[f32]>,
        act: Act,
        yb: &mut [f32],
        pb: Option<&mut [u8]>,
        scratch: &Scratch,
    ) {
        let g = &wg.conv;
        let (cin, cout, tb, tw) = (g.cin, g.cout, wg.tb, wg.tw);
        let ty0 = b * wg.rb;
        let rows = wg.rb.min(wg.th - ty0);
        let nt = rows * tw;
        let mut buf = scratch.lock();
        let (v, rest) = buf.split_at_mut(16 * tb * cin);
        let m = &mut rest[..16 * tb * cout];
        transform_inputs(wg, xs, ty0, nt, v);
        for xi in 0..16 {
            sgemm(
                nt,
                cout,
                cin,
                MatRef::row_major(&v[xi * tb * cin..(xi * tb + nt) * cin], cin),
                MatRef::row_major(&u[xi * cin * cout..(xi + 1) * cin * cout], cout),
                &mut m[xi * tb * cout..(xi * tb + nt) * cout],
                cout,
                false,
            );
        }
        match pb {
            Some(pb) => {
                let relu = act == Act::Relu;
                for t in 0..nt {
                    for c0 in (0..cout).step_by(L) {
                        let mt = gather16(m, tb * cout, t * cout + c0);
                        let q = output_tile(&mt);
                        let bv: Lanes = match bias {
                            Some(bs) => <Lanes>::try_from(&bs[c0..c0 + L]).unwrap_or([0.0; L]),
                            None => [0.0; L],
                        };
                        let (yo, po) = (&mut yb[t * cout + c0..][..L], &mut pb[t * cout + c0..][..L]);
                        for l in 0..L {
                            let mut best = q[0][l];
                            let mut at = 0u8;
                            for (k, qk) in q.iter().enumerate().skip(1) {
                                let gt = qk[l] > best;
                                best = if gt { qk[l] } else { best };
                                at = if gt { k as u8 } else { at };
                            }
                            let v = best + bv[l];
                            yo[l] = if relu { v.max(0.0) } else { v };
                            po[l] = at;
                        }
                    }
                }
            }
            None => {
                let (oh, ow) = (g.oh, g.ow);
                for t in 0..nt {
                    let (ry, tx) = (t / tw, t % tw);
                    for c0 in (0..cout).step_by(L) {
                        let mt = gather16(m, tb * cout, t * cout + c0);
                        let q = output_tile(&mt);
                        for (k, qk) in q.iter().enumerate() {
                            let (oy, ox) = (2 * (ty0 + ry) + k / 2, 2 * tx + k % 2);
                            if oy < oh && ox < ow {
                                let o = ((2 * ry + k / 2) * ow + ox) * cout + c0;
                                yb[o..o + L].copy_from_slice(qk);
                            }
                        }
                    }
                }
                epilogue(yb, bias, act, cout);
            }
        }
    }
}

/// Backward pass of a batch of `n`. Without pooling, `dy` is the gradient of the output `y`
/// and `act = Some((activation, y))` applies the activation's derivative first (one whose
/// derivative needs only the output), or `None` when `dy` already is the pre-activation
/// gradient. With the pooling fused, `dy` is the pooled output's gradient, `act` must be
/// `Some((activation, pooled output))` and `pos` the forward pass's window positions.
///
/// Overwrites `dx` (when given) with the input gradient; *adds* the kernel gradient to `dw`
/// and the bias gradient to `db`.
///
/// # Shapes
/// As [`forward`]; `w` is the HWIO kernel (its gradient's layout), `partials` holds
/// [`Conv2dGeom::partials_len`]`(n)` floats.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    wg: &Winograd,
    n: usize,
    x: &[f32],
    u: &[f32],
    act: Option<(Act, &[f32])>,
    dy: &[f32],
    pos: Option<&[u8]>,
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    partials: &mut [f32],
    scratch: &Scratch,
) {
    debug_assert!(scratch.len() >= wg.scratch_len() && u.len() >= wg.kernel_len());
    debug_assert!(!wg.pooled || (pos.is_some() && act.is_some()));
    grouped_backward(&wg.conv, n, dx, dw, db, partials, |s0, count, part, dxg| {
        backward_group(wg, s0, count, x, u, act, dy, pos, dxg, part, scratch)
    });
}

crate::simd_fn! {
    /// One group's share of [`backward`]: samples `s0 .. s0 + count`.
    fn backward_group(
        wg: &Winograd,
        s0: usize,
        count: usize,
        x: &[f32],
        u: &[f32],
        act: Option<(Act, &[f32])>,
        dy: &[f32],
        pos: Option<&[u8]>,
        dxg: Option<&mut [f32]>,
        part: &mut [f32],
        scratch: &Scratch,
    ) {
        let g = &wg.conv;
        let mut dxg = dxg;
        let (cin, cout, tb, tw) = (g.cin, g.cout, wg.tb, wg.tw);
        let (in_len, ol) = (g.in_len(), wg.out_len());
        part.fill(0.0);
        let (pw, pbias) = part.split_at_mut(g.kernel_len());
        let ut = &u[16 * cin * cout..];
        let mut buf = scratch.lock();
        let (v, rest) = buf.split_at_mut(16 * tb * cin);
        let (md, rest) = rest.split_at_mut(16 * tb * cout);
        let (dv, rest) = rest.split_at_mut(16 * tb * cin);
        let du = &mut rest[..16 * cin * cout];
        du.fill(0.0);
        for i in 0..count {
            let s = s0 + i;
            let xs = &x[s * in_len..(s + 1) * in_len];
            let dys = &dy[s * ol..(s + 1) * ol];
            let ys = act.map(|(a, y)| (a, &y[s * ol..(s + 1) * ol]));
            let ps = pos.map(|p| &p[s * ol..(s + 1) * ol]);
            let mut dxs = dxg.as_deref_mut().map(|d| &mut d[i * in_len..(i + 1) * in_len]);
            if let Some(d) = dxs.as_deref_mut() {
                d.fill(0.0);
            }
            for ty0 in (0..wg.th).step_by(wg.rb) {
                let rows = wg.rb.min(wg.th - ty0);
                let nt = rows * tw;
                // The transformed output gradient of every tile, and the bias gradient.
                for t in 0..nt {
                    let (ty, tx) = (ty0 + t / tw, t % tw);
                    for c0 in (0..cout).step_by(L) {
                        let d = tile_grad(wg, dys, ys, ps, ty, tx, c0);
                        for dk in &d {
                            for (a, v) in pbias[c0..c0 + L].iter_mut().zip(dk) {
                                *a += v;
                            }
                        }
                        let mt = grad_tile(&d);
                        for (xi, mq) in mt.iter().enumerate() {
                            md[(xi * tb + t) * cout + c0..][..L].copy_from_slice(mq);
                        }
                    }
                }
                transform_inputs(wg, xs, ty0, nt, v);
                for xi in 0..16 {
                    sgemm(
                        cin,
                        cout,
                        nt,
                        MatRef::row_major_t(&v[xi * tb * cin..(xi * tb + nt) * cin], cin),
                        MatRef::row_major(&md[xi * tb * cout..(xi * tb + nt) * cout], cout),
                        &mut du[xi * cin * cout..(xi + 1) * cin * cout],
                        cout,
                        true,
                    );
                }
                let Some(dxs) = dxs.as_deref_mut() else { continue };
                for xi in 0..16 {
                    sgemm(
                        nt,
                        cin,
                        cout,
                        MatRef::row_major(&md[xi * tb * cout..(xi * tb + nt) * cout], cout),
                        MatRef::row_major(&ut[xi * cout * cin..(xi + 1) * cout * cin], cin),
                        &mut dv[xi * tb * cin..(xi * tb + nt) * cin],
                        cin,
                        false,
                    );
                }
                for t in 0..nt {
                    let (ty, tx) = (ty0 + t / tw, t % tw);
                    let oy = (2 * ty) as isize - g.pad_top as isize;
                    let ox = (2 * tx) as isize - g.pad_left as isize;
                    for c0 in (0..cin).step_by(L) {
                        let vt = gather16(dv, tb * cin, t * cin + c0);
                        let d = input_grad_tile(&vt);
                        for (q, dq) in d.iter().enumerate() {
                            if let (Some(yy), Some(xx)) = (inside(oy, q / 4, g.h), inside(ox, q % 4, g.w)) {
                                let o = (yy * g.w + xx) * cin + c0;
                                for (a, b) in dxs[o..o + L].iter_mut().zip(dq) {
                                    *a += b;
                                }
                            }
                        }
                    }
                }
            }
        }
        untransform_kernel_grad(g, du, pw);
    }
}

/// The pre-activation output gradient of tile `(ty, tx)`, channels `c0 .. c0 + L` (2x2,
/// row-major; zero outside the output, or outside the pooling's winner).
#[inline(always)]
fn tile_grad(
    wg: &Winograd,
    dys: &[f32],
    ys: Option<(Act, &[f32])>,
    ps: Option<&[u8]>,
    ty: usize,
    tx: usize,
    c0: usize,
) -> [Lanes; 4] {
    let g = &wg.conv;
    let cout = g.cout;
    let mut d = [[0.0f32; L]; 4];
    if let (true, Some(ps), Some((a, yp))) = (wg.pooled, ps, ys) {
        let o = (ty * wg.tw + tx) * cout + c0;
        let relu = a == Act::Relu;
        let (go, yo, qo) = (&dys[o..o + L], &yp[o..o + L], &ps[o..o + L]);
        for l in 0..L {
            let gv = if !relu || yo[l] > 0.0 { go[l] } else { 0.0 };
            for (k, dk) in d.iter_mut().enumerate() {
                dk[l] = if qo[l] as usize == k { gv } else { 0.0 };
            }
        }
        return d;
    }
    for (k, dk) in d.iter_mut().enumerate() {
        let (oy, ox) = (2 * ty + k / 2, 2 * tx + k % 2);
        if oy >= g.oh || ox >= g.ow {
            continue;
        }
        let o = (oy * g.ow + ox) * cout + c0;
        let go = &dys[o..o + L];
        match ys {
            Some((Act::Relu, y)) => {
                for ((dv, &gv), &yv) in dk.iter_mut().zip(go).zip(&y[o..o + L]) {
                    *dv = if yv > 0.0 { gv } else { 0.0 };
                }
            }
            Some((a, y)) => {
                for ((dv, &gv), &yv) in dk.iter_mut().zip(go).zip(&y[o..o + L]) {
                    *dv = gv * a.derivative(0.0, yv);
                }
            }
            None => dk.copy_from_slice(go),
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv2d::{self, Padding};
    use crate::conv_pool::{self, ConvPool};
    use crate::testutil::{assert_close, Lcg};

    /// Winograd against im2col + GEMM (itself tested against the plain-loop oracle):
    /// forward, and the backward pass's three gradients.
    fn check_plain(
        inp: (usize, usize, usize),
        cout: usize,
        pad: Padding,
        act: Act,
        n: usize,
        seed: u64,
    ) {
        let g = Conv2dGeom::new(inp, (3, 3), cout, (1, 1), (1, 1), pad).expect("geometry");
        let wg = Winograd::new(g).expect("qualifies");
        let mut r = Lcg::new(seed);
        let x = r.vec(n * g.in_len());
        let w = r.vec(g.kernel_len());
        let bias = r.vec(cout);
        let dy = r.vec(n * g.out_len());
        let scratch = Scratch::new(g.scratch_len().max(wg.scratch_len()));
        let mut u = vec![0.0; wg.kernel_len()];
        transform_kernel(&wg, &w, &mut u);

        let mut want = vec![0.0; n * g.out_len()];
        conv2d::forward(&g, n, &x, &w, Some(&bias), act, &mut want, &scratch);
        let mut y = vec![9.0; n * g.out_len()];
        forward(&wg, n, &x, &u, Some(&bias), act, &mut y, None, &scratch);
        // Sums of up to 288 products: the two roundings differ by a few 1e-6.
        assert_close(&y, &want, 5e-5);

        let fused = (act != Act::Linear).then_some((act, &want[..]));
        let mut partials = vec![0.0; g.partials_len(n)];
        let (mut want_dx, mut want_dw, mut want_db) = (
            vec![0.0; n * g.in_len()],
            vec![0.5; g.kernel_len()],
            vec![0.5; cout],
        );
        conv2d::backward(
            &g,
            n,
            &x,
            &w,
            fused,
            &dy,
            Some(&mut want_dx),
            &mut want_dw,
            Some(&mut want_db),
            &mut partials,
            &scratch,
        );
        let (mut dx, mut dw, mut db) = (
            vec![7.0; n * g.in_len()],
            vec![0.5; g.kernel_len()],
            vec![0.5; cout],
        );
        backward(
            &wg,
            n,
            &x,
            &u,
            fused,
            &dy,
            None,
            Some(&mut dx),
            &mut dw,
            Some(&mut db),
            &mut partials,
            &scratch,
        );
        assert_close(&dx, &want_dx, 1e-4);
        assert_close(&dw, &want_dw, 1e-4);
        assert_close(&db, &want_db, 1e-4);
        // Without the input gradient, the same kernel gradient.
        let mut dw2 = vec![0.5; g.kernel_len()];
        backward(
            &wg,
            n,
            &x,
            &u,
            fused,
            &dy,
            None,
            None,
            &mut dw2,
            None,
            &mut partials,
            &scratch,
        );
        assert_eq!(dw2, dw);
    }

    #[test]
    fn matches_im2col_on_random_geometries() {
        let cases = [
            ((6, 6, 16), 16, Padding::Valid, Act::Linear),
            ((7, 9, 16), 32, Padding::Valid, Act::Relu),
            ((8, 5, 32), 16, Padding::Same, Act::Relu),
            ((13, 12, 16), 64, Padding::Same, Act::Sigmoid),
            ((3, 3, 16), 16, Padding::Valid, Act::Relu),
            ((31, 31, 32), 64, Padding::Valid, Act::Relu),
        ];
        for (i, (inp, cout, pad, act)) in cases.into_iter().enumerate() {
            for n in [1, 2, 5] {
                check_plain(inp, cout, pad, act, n, 3 + 7 * i as u64 + n as u64);
            }
        }
    }

    #[test]
    fn blocks_split_tall_images() {
        let g = Conv2dGeom::new((70, 12, 16), (3, 3), 16, (1, 1), (1, 1), Padding::Same)
            .expect("geometry");
        let wg = Winograd::new(g).expect("qualifies");
        assert!(wg.rb < wg.th, "one block would hold the whole image");
        check_plain((70, 12, 16), 16, Padding::Same, Act::Relu, 2, 11);
    }

    /// The fused pooling against [`conv_pool`] (convolution, activation, pooling).
    fn check_pooled(
        inp: (usize, usize, usize),
        cout: usize,
        pad: Padding,
        act: Act,
        n: usize,
        seed: u64,
    ) {
        let g = Conv2dGeom::new(inp, (3, 3), cout, (1, 1), (1, 1), pad).expect("geometry");
        let p = Pool2dGeom::new((g.oh, g.ow, cout), (2, 2), (2, 2), Padding::Valid).expect("pool");
        let cp = ConvPool::new(g, p, act).expect("fusable");
        let wg = Winograd::pooled(g, &p, act).expect("qualifies");
        assert_eq!(wg.out_len(), p.out_len());
        let mut r = Lcg::new(seed);
        let x = r.vec(n * g.in_len());
        let w = r.vec(g.kernel_len());
        let bias = r.vec(cout);
        let dyp = r.vec(n * p.out_len());
        let scratch = Scratch::new(cp.scratch_len().max(wg.scratch_len()).max(g.scratch_len()));
        let mut u = vec![0.0; wg.kernel_len()];
        transform_kernel(&wg, &w, &mut u);

        let (mut want_y, mut want_pos) = (vec![0.0; n * p.out_len()], vec![0u8; n * p.out_len()]);
        conv_pool::forward(
            &cp,
            n,
            &x,
            &w,
            Some(&bias),
            &mut want_y,
            &mut want_pos,
            &scratch,
        );
        let (mut y, mut pos) = (vec![9.0; n * p.out_len()], vec![9u8; n * p.out_len()]);
        forward(
            &wg,
            n,
            &x,
            &u,
            Some(&bias),
            act,
            &mut y,
            Some(&mut pos),
            &scratch,
        );
        assert_close(&y, &want_y, 1e-5);
        // The same winners, except near-ties (rounding may pick the other) and ReLU zeros.
        let mut conv = vec![0.0; n * g.out_len()];
        conv2d::forward(&g, n, &x, &w, Some(&bias), Act::Linear, &mut conv, &scratch);
        for (i, (&a, &b)) in pos.iter().zip(&want_pos).enumerate() {
            if a == b || (act == Act::Relu && want_y[i] == 0.0) {
                continue;
            }
            let (s, rest) = (i / p.out_len(), i % p.out_len());
            let (py, px, ch) = (rest / (p.ow * cout), rest / cout % p.ow, rest % cout);
            let at = |q: u8| {
                let (wy, wx) = (q as usize / 2, q as usize % 2);
                conv[s * g.out_len() + ((2 * py + wy) * g.ow + 2 * px + wx) * cout + ch]
            };
            assert!(
                (at(a) - at(b)).abs() < 1e-5,
                "sample {s}: window position {a}, want {b}"
            );
        }

        let mut partials = vec![0.0; g.partials_len(n)];
        let (mut want_dx, mut want_dw, mut want_db) = (
            vec![0.0; n * g.in_len()],
            vec![0.0; g.kernel_len()],
            vec![0.0; cout],
        );
        conv_pool::backward(
            &cp,
            n,
            &x,
            &w,
            &want_y,
            &dyp,
            &want_pos,
            Some(&mut want_dx),
            &mut want_dw,
            Some(&mut want_db),
            &mut partials,
            &scratch,
        );
        let (mut dx, mut dw, mut db) = (
            vec![7.0; n * g.in_len()],
            vec![0.0; g.kernel_len()],
            vec![0.0; cout],
        );
        backward(
            &wg,
            n,
            &x,
            &u,
            Some((act, &want_y[..])),
            &dyp,
            Some(&want_pos),
            Some(&mut dx),
            &mut dw,
            Some(&mut db),
            &mut partials,
            &scratch,
        );
        assert_close(&dx, &want_dx, 1e-4);
        assert_close(&dw, &want_dw, 1e-4);
        assert_close(&db, &want_db, 1e-4);
    }

    #[test]
    fn fused_pooling_matches_conv_pool() {
        let cases = [
            ((12, 12, 16), 16, Padding::Valid, Act::Relu),
            ((31, 31, 32), 64, Padding::Valid, Act::Relu),
            ((9, 11, 16), 32, Padding::Same, Act::Linear),
            ((16, 7, 32), 16, Padding::Valid, Act::Relu),
        ];
        for (i, (inp, cout, pad, act)) in cases.into_iter().enumerate() {
            for n in [1, 3] {
                check_pooled(inp, cout, pad, act, n, 40 + 5 * i as u64 + n as u64);
            }
        }
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let geom =
            |inp, k, s, d| Conv2dGeom::new(inp, k, 16, s, d, Padding::Valid).expect("geometry");
        assert!(Winograd::new(geom((8, 8, 16), (3, 3), (1, 1), (1, 1))).is_some());
        assert!(
            Winograd::new(geom((8, 8, 3), (3, 3), (1, 1), (1, 1))).is_none(),
            "channels"
        );
        assert!(
            Winograd::new(geom((8, 8, 16), (5, 5), (1, 1), (1, 1))).is_none(),
            "kernel"
        );
        assert!(
            Winograd::new(geom((8, 8, 16), (3, 3), (2, 2), (1, 1))).is_none(),
            "strides"
        );
        assert!(
            Winograd::new(geom((8, 8, 16), (3, 3), (1, 1), (2, 2))).is_none(),
            "dilation"
        );
        let g = geom((8, 8, 16), (3, 3), (1, 1), (1, 1));
        let pool =
            |size, stride| Pool2dGeom::new((6, 6, 16), size, stride, Padding::Valid).expect("pool");
        assert!(Winograd::pooled(g, &pool((2, 2), (2, 2)), Act::Relu).is_some());
        assert!(
            Winograd::pooled(g, &pool((3, 3), (3, 3)), Act::Relu).is_none(),
            "window"
        );
        assert!(
            Winograd::pooled(g, &pool((2, 2), (1, 1)), Act::Relu).is_none(),
            "stride"
        );
        assert!(
            Winograd::pooled(g, &pool((2, 2), (2, 2)), Act::Tanh).is_none(),
            "activation"
        );
    }
}
