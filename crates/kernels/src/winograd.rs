//! Winograd convolution, F(2x2, 3x3) and F(4x4, 3x3): 3x3, stride-1, undilated convolutions
//! with 2.25x (F(2x2)) or 4x (F(4x4)) fewer multiplications than im2col + GEMM, forward and
//! backward, optionally with the 2x2 max pooling that follows fused in.
//!
//! With the `a x a` input tile `d` (`a = m + 2` for `m x m` output tiles), the 3x3 kernel `g`
//! and the transforms `B`, `G`, `A` of Lavin & Gray ("Fast Algorithms for Convolutional
//! Neural Networks", 2016), each output tile is `Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`. Summed over
//! the input channels, the element-wise product becomes `a²` independent GEMMs, one per
//! tile position `ξ`: `M[ξ] (tiles x cout) = V[ξ] (tiles x cin) · U[ξ] (cin x cout)`.
//! The backward pass runs the same GEMMs transposed:
//! - kernel gradient: `dU[ξ] += V[ξ]ᵀ · dM[ξ]`, then `dw = Gᵀ dU G`;
//! - input gradient: `dV[ξ] = dM[ξ] · U[ξ]ᵀ`, then each tile adds `B dV Bᵀ` to its input
//!   patch, where `dM = A dY Aᵀ` is the output gradient in the transformed domain.
//!
//! F(2x2)'s transforms only add, subtract and halve; F(4x4)'s multiply by small integers
//! and by 1/6 and 1/24 (points 0, ±1, ±2), so its rounding error is a few times larger, as
//! in the libraries that use it (cuDNN, oneDNN). Both are tested against im2col + GEMM.
//! [`Winograd::new`] picks the tile size that does the least work for the output's size
//! (whole tiles are computed at the edges).
//!
//! Work: tiles are taken a block at a time (about [`TILE_TARGET`] tiles, so the transformed
//! block stays in L2): whole tile rows of one sample, or whole samples when a sample has
//! few tiles (the GEMMs then get rows from several samples). The forward split is by block;
//! the backward split is the fixed sample groups of [`crate::conv2d::grouped_backward`],
//! each group summing its kernel gradient in the transformed domain. Results do not depend
//! on the thread count.
//!
//! When the output tiles are made of the windows of a 2x2, stride-2 max pooling (the
//! pooling of [`crate::conv_pool`]), the pooling is done on each tile as it is transformed
//! back: the convolution's full-size output never exists, and its rows and columns that no
//! window covers are never stored.

// The tile transforms index several arrays by the same tile position and lane.
#![allow(clippy::needless_range_loop)]

use crate::activation::Act;
use crate::conv2d::{epilogue, grouped_backward, Bias, Conv2dGeom};
use crate::gemm::{sgemm, MatRef};
use crate::parallel::{for_each_chunk_mut, for_each_chunk_pair_mut, Scratch};
use crate::pool2d::Pool2dGeom;

/// Tiles per block, roughly (whole tile rows, or whole samples, are taken).
const TILE_TARGET: usize = 96;
/// Fewest forward tasks a batch of small images is cut into (when it has that many samples).
const MIN_FORWARD_TASKS: usize = 8;
/// Channels processed together by the tile transforms.
const L: usize = 16;
/// Floats of an F(4x4, 3x3) transformed kernel above which a forward pass whose F(2x2,
/// 3x3) plan does nearly as little work runs that one ([`Winograd::forward_plan`]): 1 Mi
/// floats (4 MB), more than the L2 caches hold. DenseNet121's 14x14 layers (128 to 32
/// channels, 0.6 MB) run F(4x4) faster at batch 16 (1.6 against 2.0 ms).
const FORWARD_F2_MIN_KERNEL: usize = 1 << 20;
/// Floats of an F(4x4, 3x3) transformed kernel from which a batch too large for one
/// weight-bound block runs its blocks in turn ([`Winograd::in_turn`]): 1 Mi floats (4 MB),
/// more than the L2 caches hold. ResNet50's 7x7x512 layer at batch 32 (36 MB): 58-69 ->
/// 32 ms; a 8x8x128 one (2.4 MB) ran 1.6-2.2 ms as tasks, 2.0-3.0 in turn.
const IN_TURN_MIN_KERNEL: usize = 1 << 20;
/// Transformed positions of the largest tile (6x6, F(4x4, 3x3)).
const MAX_AA: usize = 36;

/// A convolution run by Winograd F(2x2, 3x3) or F(4x4, 3x3), checked to qualify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Winograd {
    /// The convolution.
    pub conv: Conv2dGeom,
    /// The output tiles are made of the windows of a 2x2, stride-2 max pooling, fused in.
    pub pooled: bool,
    /// Output tile side: 2 or 4.
    m: usize,
    /// Output rows and columns per sample: the pooled ones when pooled.
    oh: usize,
    ow: usize,
    /// Tile rows.
    th: usize,
    /// Tile columns.
    tw: usize,
    /// Tile rows per block (all of them when a block holds several samples).
    rb: usize,
    /// Samples per block.
    sb: usize,
    /// Tiles per block (at most).
    tb: usize,
}

impl Winograd {
    fn make(conv: Conv2dGeom, pooled: Option<(usize, usize)>, m: usize) -> Option<Self> {
        let ok = conv.kh == 3
            && conv.kw == 3
            && conv.sh == 1
            && conv.sw == 1
            && conv.dh == 1
            && conv.dw == 1
            && conv.cin.is_multiple_of(L)
            && conv.cout.is_multiple_of(L)
            && (m == 2 || m == 4);
        if !ok {
            return None;
        }
        // Final outputs per tile side: the pooling halves the tile.
        let (oh, ow, q) = match pooled {
            Some((ph, pw)) => (ph, pw, m / 2),
            None => (conv.oh, conv.ow, m),
        };
        let (th, tw) = (oh.div_ceil(q), ow.div_ceil(q));
        if th == 0 || tw == 0 {
            return None;
        }
        let per = th * tw;
        let (rb, sb) = if 2 * per >= TILE_TARGET {
            ((TILE_TARGET / tw).clamp(1, th), 1)
        } else {
            (th, TILE_TARGET / per)
        };
        Some(Winograd {
            conv,
            pooled: pooled.is_some(),
            m,
            oh,
            ow,
            th,
            tw,
            rb,
            sb,
            tb: sb * rb * tw,
        })
    }

    /// Output tiles of one sample.
    pub fn tiles_per_sample(&self) -> usize {
        self.th * self.tw
    }

    /// Whether the forward pass of a batch of `n` is weight-bound: all its tiles fit one
    /// block and number no more than the output channels (a deep layer's small feature
    /// map, such as ResNet50's 4x4 maps at 64x64). [`forward`] then runs the whole batch as
    /// one block whose per-position GEMMs run in parallel, each reading only its position's
    /// transformed kernel, instead of blocks of a few samples that would each read all of
    /// it. F(4x4, 3x3) only: its 4x fewer multiplications pay for GEMMs of few rows against
    /// a kernel 4x the size; F(2x2, 3x3)'s 2.25x do not (measured on ResNet50's 2x2 maps:
    /// no faster in inference, slower in training, where the kernel is transformed each
    /// step).
    pub fn weight_bound(&self, n: usize) -> bool {
        let tiles = n * self.tiles_per_sample();
        self.m == 4 && self.sb > 1 && tiles <= self.tb && tiles <= self.conv.cout
    }

    /// Whether the forward pass of a batch of `n` runs as weight-bound blocks in turn: as
    /// [`weight_bound`](Self::weight_bound), but more tiles than one block holds, and a
    /// transformed kernel larger than the caches ([`IN_TURN_MIN_KERNEL`]; ResNet50's 7x7
    /// maps at 224x224, 128 tiles at batch 32 against a 36 MB kernel). The batch then runs
    /// as the fewest blocks that hold it, one after the other, each with its positions'
    /// GEMMs in parallel, so that every block reads the kernel once; blocks of a few
    /// samples run as tasks would each read all of it for GEMMs of a few rows.
    fn in_turn(&self, n: usize) -> bool {
        let tiles = n * self.tiles_per_sample();
        self.m == 4
            && self.sb > 1
            && tiles > self.tb
            && tiles <= self.conv.cout
            && self.kernel_len() >= IN_TURN_MIN_KERNEL
    }

    /// The tile size with the least work: tiles x transformed positions (ties: the smaller).
    fn best(conv: Conv2dGeom, pooled: Option<(usize, usize)>) -> Option<Self> {
        let two = Self::make(conv, pooled, 2)?;
        let work = |w: &Self| w.th * w.tw * (w.m + 2) * (w.m + 2);
        match Self::make(conv, pooled, 4) {
            Some(four) if work(&four) < work(&two) => Some(four),
            _ => Some(two),
        }
    }

    /// The plan the forward pass runs in place of this one, where one does less: F(2x2,
    /// 3x3) for an F(4x4, 3x3) plan that saves under 30 % of F(2x2)'s multiplications (a
    /// 14x14 map pads to 16x16 in 4x4 tiles: 576 against 784 products per channel pair)
    /// and whose transformed kernel is larger than [`FORWARD_F2_MIN_KERNEL`]. Its 36
    /// per-position GEMMs, 16 rows per image, are then bound by reading that kernel
    /// (ResNet50's 14x14x256 layers at 224x224: 9.4 MB against F(2x2)'s 4.2). Measured
    /// on that layer, batch 1: F(4x4) 1.6-2.7 ms, F(2x2) 1.4 ms; batch 16: 25-34 against
    /// 18-20 ms; batch 32 the same. The backward pass keeps F(4x4): 61 against 75 ms at
    /// batch 16. `None` for a pooled plan, an F(2x2) one, or a tile size forced by
    /// `RKERAS_WINOGRAD`.
    ///
    /// ```
    /// use rkeras_kernels::{Conv2dGeom, Padding, Winograd};
    /// let g = Conv2dGeom::new((14, 14, 256), (3, 3), 256, (1, 1), (1, 1), Padding::Same).unwrap();
    /// let wg = Winograd::with_tile(g, 4).unwrap();
    /// assert_eq!(wg.forward_plan().map(|f| f.tile()), Some(2));
    /// ```
    pub fn forward_plan(&self) -> Option<Self> {
        if self.pooled || self.m != 4 || forced_tile().is_some() {
            return None;
        }
        let two = Self::make(self.conv, None, 2)?;
        let work = |w: &Self| w.th * w.tw * (w.m + 2) * (w.m + 2);
        let close = 10 * work(self) > 7 * work(&two);
        (close && self.kernel_len() > FORWARD_F2_MIN_KERNEL).then_some(two)
    }

    /// The Winograd plan of a convolution (3x3 kernel, stride 1, no dilation, input and
    /// output channels multiples of 16), or `None` when it does not qualify. The tile size
    /// is the one with the least work for the output's size; `RKERAS_WINOGRAD=2` or `4`
    /// forces F(2x2, 3x3) or F(4x4, 3x3).
    pub fn new(conv: Conv2dGeom) -> Option<Self> {
        match forced_tile() {
            Some(m) => Self::make(conv, None, m),
            None => Self::best(conv, None),
        }
    }

    /// [`Winograd::new`] with the output tile side `m` (2 or 4).
    pub fn with_tile(conv: Conv2dGeom, m: usize) -> Option<Self> {
        Self::make(conv, None, m)
    }

    /// The plan of a qualifying convolution followed by a max pooling that reads exactly its
    /// output with 2x2 windows, strides 2 and no padding; `act` (between them) must be ReLU
    /// or linear. `None` otherwise.
    pub fn pooled(conv: Conv2dGeom, pool: &Pool2dGeom, act: Act) -> Option<Self> {
        let p = Self::pool_fits(&conv, pool, act)?;
        match forced_tile() {
            Some(m) => Self::make(conv, Some(p), m),
            None => Self::best(conv, Some(p)),
        }
    }

    /// [`Winograd::pooled`] with the output tile side `m` (2 or 4).
    pub fn pooled_with_tile(
        conv: Conv2dGeom,
        pool: &Pool2dGeom,
        act: Act,
        m: usize,
    ) -> Option<Self> {
        Self::make(conv, Some(Self::pool_fits(&conv, pool, act)?), m)
    }

    fn pool_fits(conv: &Conv2dGeom, pool: &Pool2dGeom, act: Act) -> Option<(usize, usize)> {
        let fits = pool.h == conv.oh
            && pool.w == conv.ow
            && pool.c == conv.cout
            && (pool.ph, pool.pw, pool.sh, pool.sw) == (2, 2, 2, 2)
            && pool.pad_top == 0
            && pool.pad_left == 0
            && 2 * pool.oh <= conv.oh
            && 2 * pool.ow <= conv.ow
            && matches!(act, Act::Relu | Act::Linear);
        fits.then_some((pool.oh, pool.ow))
    }

    /// Samples per block for `n` samples: at most `sb`, as even as the block count allows
    /// (32 samples at up to 10 per block: 4 blocks of 8, not 10 + 10 + 10 + 2).
    /// Samples per block of the forward pass, where a block is also a task: as
    /// [`Winograd::samples_per_block`], but with at least [`MIN_FORWARD_TASKS`] blocks
    /// when the batch has that many samples, so that the cores share the work evenly.
    fn forward_samples_per_block(&self, n: usize) -> usize {
        if self.sb <= 1 || n == 0 {
            return 1;
        }
        if self.weight_bound(n) {
            return n;
        }
        if self.in_turn(n) {
            return n.div_ceil(n.div_ceil(self.sb));
        }
        n.div_ceil(n.div_ceil(self.sb).max(MIN_FORWARD_TASKS.min(n)))
    }

    fn samples_per_block(&self, n: usize) -> usize {
        if self.sb <= 1 || n == 0 {
            return 1;
        }
        n.div_ceil(n.div_ceil(self.sb))
    }

    /// Output tile side: 2 for F(2x2, 3x3), 4 for F(4x4, 3x3).
    pub fn tile(&self) -> usize {
        self.m
    }

    /// Transformed positions per tile (`(m + 2)²`).
    fn aa(&self) -> usize {
        (self.m + 2) * (self.m + 2)
    }

    /// Final outputs per tile side (halved by the pooling).
    fn q(&self) -> usize {
        if self.pooled {
            self.m / 2
        } else {
            self.m
        }
    }

    /// Floats of the transformed kernel `U` ([`transform_kernel`]).
    pub fn kernel_len(&self) -> usize {
        self.aa() * self.conv.cin * self.conv.cout
    }

    /// Floats of per-thread scratch that [`forward`] and [`backward`] need.
    pub fn scratch_len(&self) -> usize {
        let (cin, cout) = (self.conv.cin, self.conv.cout);
        self.aa() * (self.tb * (2 * cin + cout) + cin * cout)
    }

    /// Output floats per sample: the pooled output when the pooling is fused, else the
    /// convolution's.
    pub fn out_len(&self) -> usize {
        self.oh * self.ow * self.conv.cout
    }
}

/// `RKERAS_WINOGRAD=2|4`: the tile size to use for every qualifying convolution.
fn forced_tile() -> Option<usize> {
    crate::switches::switches().winograd_tile
}

/// One block of tiles: samples `s0 .. s0 + ns`, tile rows `ty0 .. ty0 + rows` of each.
#[derive(Clone, Copy)]
struct Block {
    s0: usize,
    ns: usize,
    ty0: usize,
    rows: usize,
}

impl Block {
    /// Tiles per sample in the block.
    fn per(&self, wg: &Winograd) -> usize {
        self.rows * wg.tw
    }
    /// Tiles in the block.
    fn tiles(&self, wg: &Winograd) -> usize {
        self.ns * self.per(wg)
    }
    /// Tile `t` of the block: (sample index in the block, tile row, tile column).
    #[inline(always)]
    fn at(&self, wg: &Winograd, t: usize) -> (usize, usize, usize) {
        let per = self.per(wg);
        let r = t % per;
        (t / per, self.ty0 + r / wg.tw, r % wg.tw)
    }
}

/// 1D kernel transform `G g` (3 taps to `m + 2` values).
#[inline(always)]
fn kernel_1d(m: usize, g: [f32; 3]) -> [f32; 6] {
    let [a, b, c] = g;
    if m == 2 {
        [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c, 0.0, 0.0]
    } else {
        // Products by the reciprocals: a division per value cost more than the rest of
        // the kernel transform (which runs once per step).
        const SIXTH: f32 = 1.0 / 6.0;
        const TWELFTH: f32 = 1.0 / 12.0;
        const TWENTY_FOURTH: f32 = 1.0 / 24.0;
        [
            a * 0.25,
            -(a + b + c) * SIXTH,
            -(a - b + c) * SIXTH,
            a * TWENTY_FOURTH + b * TWELFTH + c * SIXTH,
            a * TWENTY_FOURTH - b * TWELFTH + c * SIXTH,
            c,
        ]
    }
}

/// 1D kernel-gradient transform `Gᵀ u` (`m + 2` values to 3 taps).
#[inline(always)]
fn kernel_grad_1d(m: usize, u: &[f32; 6]) -> [f32; 3] {
    if m == 2 {
        let h = 0.5 * (u[1] + u[2]);
        [u[0] + h, 0.5 * (u[1] - u[2]), h + u[3]]
    } else {
        const SIXTH: f32 = 1.0 / 6.0;
        const TWELFTH: f32 = 1.0 / 12.0;
        const TWENTY_FOURTH: f32 = 1.0 / 24.0;
        [
            u[0] * 0.25 - (u[1] + u[2]) * SIXTH + (u[3] + u[4]) * TWENTY_FOURTH,
            (u[2] - u[1]) * SIXTH + (u[3] - u[4]) * TWELFTH,
            (u[3] + u[4] - u[1] - u[2]) * SIXTH + u[5],
        ]
    }
}

/// Tasks of [`transform_kernel`]'s first pass: ranges of (input, output) channel pairs.
const KERNEL_TASKS: usize = 8;

/// Writes the transformed kernel `U = G w Gᵀ` (`[a²][cin][cout]`) into `u`
/// ([`Winograd::kernel_len`] floats). `w` is HWIO. The backward pass reads each position's
/// block transposed through the GEMM's strides (no transposed copy: it cost as much memory
/// as `U` again, 181 MB in ResNet50 at 224x224, for GEMMs 0-7 % faster).
///
/// Runs once per training step (the weights change), so it is parallel over [`KERNEL_TASKS`]
/// ranges of channel pairs (each task writes its range of every position). Every value is
/// computed the same way in any split, so the result does not depend on the thread count.
pub fn transform_kernel(wg: &Winograd, w: &[f32], u: &mut [f32]) {
    let (cin, cout) = (wg.conv.cin, wg.conv.cout);
    let cc = cin * cout;
    let uf = &mut u[..wg.kernel_len()];
    // Each task's range of every position, as an array of slices (no allocation).
    let piece = (cc / L).div_ceil(KERNEL_TASKS) * L;
    let mut parts: [[&mut [f32]; MAX_AA]; KERNEL_TASKS] =
        std::array::from_fn(|_| std::array::from_fn(|_| <&mut [f32]>::default()));
    for (xi, pos) in uf.chunks_mut(cc).enumerate() {
        for (t, p) in pos.chunks_mut(piece).enumerate() {
            parts[t][xi] = p;
        }
    }
    for_each_chunk_mut(&mut parts, 1, |t, p| {
        if let Some(p) = p.first_mut() {
            kernel_pairs(wg, w, t * piece, p);
        }
    });
}

crate::simd_fn! {
    /// The transformed kernel of the channel pairs `i0 ..` (as many as `p[0]` holds), `L` at
    /// a time: they are contiguous in HWIO. `p[xi]` is that range of position `xi`.
    fn kernel_pairs(wg: &Winograd, w: &[f32], i0: usize, p: &mut [&mut [f32]; MAX_AA]) {
        let cc = wg.conv.cin * wg.conv.cout;
        let aa = wg.aa();
        let len = p[0].len();
        let mut v = [[0.0f32; L]; MAX_AA];
        for j in (0..len).step_by(L) {
            let at = i0 + j;
            let taps: [Lanes; 9] = std::array::from_fn(|k| {
                <Lanes>::try_from(&w[k * cc + at..k * cc + at + L]).unwrap_or([0.0; L])
            });
            if wg.m == 2 {
                kernel_tile::<2>(&taps, &mut v);
            } else {
                kernel_tile::<4>(&taps, &mut v);
            }
            for (dst, vx) in p[..aa].iter_mut().zip(&v[..aa]) {
                dst[j..j + L].copy_from_slice(vx);
            }
        }
    }
}

/// `G g Gᵀ` of [`L`] kernels' 3x3 taps (row-major) into their `(M + 2)²` transformed values.
#[inline(always)]
fn kernel_tile<const M: usize>(taps: &[Lanes; 9], v: &mut [Lanes; MAX_AA]) {
    let a = M + 2;
    let mut t = [[[0.0f32; L]; 3]; 6];
    for l in 0..L {
        // Columns first: t[r][c] = (G g)[r][c].
        for c in 0..3 {
            let col = kernel_1d(M, [taps[c][l], taps[3 + c][l], taps[6 + c][l]]);
            for r in 0..a {
                t[r][c][l] = col[r];
            }
        }
        for r in 0..a {
            let row = kernel_1d(M, [t[r][0][l], t[r][1][l], t[r][2][l]]);
            for j in 0..a {
                v[r * a + j][l] = row[j];
            }
        }
    }
}

crate::simd_fn! {
    /// Adds `Gᵀ dU G` (the kernel gradient of the transformed-domain gradient `du`,
    /// `[a²][cin][cout]`) to the HWIO kernel gradient `dw`.
    fn untransform_kernel_grad(wg: &Winograd, du: &[f32], dw: &mut [f32]) {
        let (cc, aa) = (wg.conv.cin * wg.conv.cout, wg.aa());
        let mut d = [[0.0f32; L]; MAX_AA];
        for i0 in (0..cc).step_by(L) {
            for (xi, dx) in d[..aa].iter_mut().enumerate() {
                dx.copy_from_slice(&du[xi * cc + i0..xi * cc + i0 + L]);
            }
            let g = if wg.m == 2 {
                kernel_grad_tile::<2>(&d)
            } else {
                kernel_grad_tile::<4>(&d)
            };
            for (k, gk) in g.iter().enumerate() {
                for (a, b) in dw[k * cc + i0..k * cc + i0 + L].iter_mut().zip(gk) {
                    *a += b;
                }
            }
        }
    }
}

/// `Gᵀ dU G` of [`L`] kernels: their 3x3 taps (row-major) from `(M + 2)²` values.
#[inline(always)]
fn kernel_grad_tile<const M: usize>(d: &[Lanes; MAX_AA]) -> [Lanes; 9] {
    let a = M + 2;
    let mut out = [[0.0f32; L]; 9];
    let mut s = [[[0.0f32; L]; 6]; 3];
    for l in 0..L {
        // Columns: s[ky][j] = (Gᵀ dU)[ky][j].
        for j in 0..a {
            let mut col = [0.0f32; 6];
            for r in 0..a {
                col[r] = d[r * a + j][l];
            }
            let z = kernel_grad_1d(M, &col);
            for ky in 0..3 {
                s[ky][j][l] = z[ky];
            }
        }
        for ky in 0..3 {
            let mut row = [0.0f32; 6];
            for j in 0..a {
                row[j] = s[ky][j][l];
            }
            let z = kernel_grad_1d(M, &row);
            for kx in 0..3 {
                out[ky * 3 + kx][l] = z[kx];
            }
        }
    }
    out
}

type Lanes = [f32; L];

/// The `n` rows `src[(xi * stride + off)..][..L]` (one tile's transformed values, [`L`]
/// channels) into `out`.
#[inline(always)]
fn gather(src: &[f32], stride: usize, off: usize, out: &mut [Lanes]) {
    for (xi, o) in out.iter_mut().enumerate() {
        o.copy_from_slice(&src[xi * stride + off..][..L]);
    }
}

/// 1D `Bᵀ x` of F(4x4, 3x3).
#[inline(always)]
fn in_1d4(x: [f32; 6]) -> [f32; 6] {
    let t1 = (-4.0f32).mul_add(x[2], x[4]);
    let t2 = (-4.0f32).mul_add(x[1], x[3]);
    let t3 = x[4] - x[2];
    let t4 = 2.0 * (x[3] - x[1]);
    [
        4.0f32.mul_add(x[0], (-5.0f32).mul_add(x[2], x[4])),
        t1 + t2,
        t1 - t2,
        t3 + t4,
        t3 - t4,
        4.0f32.mul_add(x[1], (-5.0f32).mul_add(x[3], x[5])),
    ]
}

/// 1D `Aᵀ x` of F(4x4, 3x3) (6 values to 4).
#[inline(always)]
fn out_1d4(x: [f32; 6]) -> [f32; 4] {
    let (a, b) = (x[1] + x[2], x[1] - x[2]);
    let (c, d) = (x[3] + x[4], x[3] - x[4]);
    [
        x[0] + (a + c),
        2.0f32.mul_add(d, b),
        4.0f32.mul_add(c, a),
        8.0f32.mul_add(d, b) + x[5],
    ]
}

/// 1D `A y` of F(4x4, 3x3) (4 values to 6).
#[inline(always)]
fn grad_1d4(y: [f32; 4]) -> [f32; 6] {
    let a = y[0] + y[2];
    let b = y[1] + y[3];
    let c = 4.0f32.mul_add(y[2], y[0]);
    let d = 8.0f32.mul_add(y[3], 2.0 * y[1]);
    [y[0], a + b, a - b, c + d, c - d, y[3]]
}

/// 1D `B v` of F(4x4, 3x3).
#[inline(always)]
fn in_grad_1d4(v: [f32; 6]) -> [f32; 6] {
    let (p, mi) = (v[1] + v[2], v[1] - v[2]);
    let (s, dd) = (v[3] + v[4], v[3] - v[4]);
    [
        4.0 * v[0],
        (-2.0f32).mul_add(dd, 4.0 * (v[5] - mi)),
        (-4.0f32).mul_add(p, -5.0 * v[0]) - s,
        (-5.0f32).mul_add(v[5], 2.0f32.mul_add(dd, mi)),
        v[0] + (p + s),
        v[5],
    ]
}

/// The separable 2D transform `T x Tᵀ` of an `NI x NI` tile `x` (row-major) into the
/// `NO x NO` tile `y`, by the scalar 1D transform `t`, [`L`] channels at once: the loop over
/// the channels is outermost and contiguous, so it vectorises to one lane per channel (a
/// macro, so `t` is inlined into the caller compiled for the CPU's vector width).
macro_rules! separable {
    ($t:ident, $ni:literal, $no:literal, $x:expr, $y:expr) => {{
        let (x, y): (&[Lanes], &mut [Lanes]) = ($x, $y);
        let (x, y) = (&x[..$ni * $ni], &mut y[..$no * $no]);
        let mut mid = [[0.0f32; L]; $ni * $no];
        for l in 0..L {
            for c in 0..$ni {
                let z = $t(std::array::from_fn(|r| x[r * $ni + c][l]));
                for r in 0..$no {
                    mid[r * $ni + c][l] = z[r];
                }
            }
            for r in 0..$no {
                let z = $t(std::array::from_fn(|c| mid[r * $ni + c][l]));
                for c in 0..$no {
                    y[r * $no + c][l] = z[c];
                }
            }
        }
    }};
}

/// `Bᵀ d B` of one tile (`(m + 2)²` positions, row-major) into `v`, [`L`] channels at once.
#[inline(always)]
fn input_tile(m: usize, d: &[Lanes], v: &mut [Lanes]) {
    if m == 4 {
        return separable!(in_1d4, 6, 6, d, v);
    }
    let mut t = [[0.0f32; L]; 16];
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
}

/// `Aᵀ m A` of one tile: its `m x m` outputs (row-major) into `y`.
#[inline(always)]
fn output_tile(m: usize, mt: &[Lanes], y: &mut [Lanes]) {
    if m == 4 {
        return separable!(out_1d4, 6, 4, mt, y);
    }
    for l in 0..L {
        let mut s = [[0.0f32; 4]; 2];
        for c in 0..4 {
            let (m0, m1, m2, m3) = (mt[c][l], mt[4 + c][l], mt[8 + c][l], mt[12 + c][l]);
            s[0][c] = m0 + m1 + m2;
            s[1][c] = m1 - m2 - m3;
        }
        for r in 0..2 {
            y[r * 2][l] = s[r][0] + s[r][1] + s[r][2];
            y[r * 2 + 1][l] = s[r][1] - s[r][2] - s[r][3];
        }
    }
}

/// `A dY Aᵀ` of one tile's output gradient (`m x m`, row-major): the transformed gradient.
#[inline(always)]
fn grad_tile(m: usize, d: &[Lanes], mt: &mut [Lanes]) {
    if m == 4 {
        return separable!(grad_1d4, 4, 6, d, mt);
    }
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
            mt[r * 4][l] = a;
            mt[r * 4 + 1][l] = a + b;
            mt[r * 4 + 2][l] = a - b;
            mt[r * 4 + 3][l] = -b;
        }
    }
}

/// `B dV Bᵀ` of one tile: the gradient of its input patch.
#[inline(always)]
fn input_grad_tile(m: usize, v: &[Lanes], d: &mut [Lanes]) {
    if m == 4 {
        return separable!(in_grad_1d4, 6, 6, v, d);
    }
    let mut t = [[0.0f32; L]; 16];
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
}

/// Where input row/column `i` of the tile whose first row/column is `o` (may be negative:
/// padding) falls in an axis of length `n`, or `None` outside.
#[inline(always)]
fn inside(o: isize, i: usize, n: usize) -> Option<usize> {
    let p = o + i as isize;
    (p >= 0 && (p as usize) < n).then_some(p as usize)
}

/// The input offset (in a sample) of each position of tile `(ty, tx)`'s input patch, `None`
/// in the padding.
#[inline(always)]
fn patch(wg: &Winograd, ty: usize, tx: usize) -> [Option<usize>; MAX_AA] {
    let g = &wg.conv;
    let a = wg.m + 2;
    let oy = (wg.m * ty) as isize - g.pad_top as isize;
    let ox = (wg.m * tx) as isize - g.pad_left as isize;
    let mut at = [None; MAX_AA];
    for (q, p) in at[..a * a].iter_mut().enumerate() {
        if let (Some(y), Some(x)) = (inside(oy, q / a, g.h), inside(ox, q % a, g.w)) {
            *p = Some((y * g.w + x) * g.cin);
        }
    }
    at
}

/// Transforms the input tiles of block `bk` (samples of the batch `x`) into `v`
/// (`[a²][tb][cin]`).
#[inline(always)]
fn transform_inputs(wg: &Winograd, x: &[f32], bk: &Block, v: &mut [f32]) {
    let (cin, tb, in_len, aa) = (wg.conv.cin, wg.tb, wg.conv.in_len(), wg.aa());
    let mut d = [[0.0f32; L]; MAX_AA];
    let mut tv = [[0.0f32; L]; MAX_AA];
    for t in 0..bk.tiles(wg) {
        let (si, ty, tx) = bk.at(wg, t);
        let xs = &x[(bk.s0 + si) * in_len..(bk.s0 + si + 1) * in_len];
        let at = patch(wg, ty, tx);
        for c0 in (0..cin).step_by(L) {
            for (dq, aq) in d[..aa].iter_mut().zip(&at) {
                match aq {
                    Some(o) => dq.copy_from_slice(&xs[o + c0..o + c0 + L]),
                    None => *dq = [0.0; L],
                }
            }
            input_tile(wg.m, &d[..aa], &mut tv[..aa]);
            for (xi, tq) in tv[..aa].iter().enumerate() {
                v[(xi * tb + t) * cin + c0..][..L].copy_from_slice(tq);
            }
        }
    }
}

/// The blocks of the samples `s0 .. s0 + n`: whole samples `sb` at a time, or `rb` tile
/// rows of one sample at a time.
fn blocks(wg: &Winograd, s0: usize, n: usize) -> impl Iterator<Item = Block> + '_ {
    let (sb, rb, th) = (wg.samples_per_block(n), wg.rb, wg.th);
    (0..n).step_by(sb).flat_map(move |i| {
        (0..th).step_by(rb).map(move |ty0| Block {
            s0: s0 + i,
            ns: sb.min(n - i),
            ty0,
            rows: rb.min(th - ty0),
        })
    })
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
    bias: Bias<'_>,
    act: Act,
    y: &mut [f32],
    pos: Option<&mut [u8]>,
    scratch: &Scratch,
) {
    let ol = wg.out_len();
    debug_assert!(scratch.len() >= wg.scratch_len() && u.len() >= wg.kernel_len());
    let y = &mut y[..n * ol];
    // A call that is one block (a single image's deep, small map, or a weight-bound batch):
    // its per-position GEMMs run in parallel (bitwise the single-threaded result). Only then: a block holds its
    // thread's scratch slot through the GEMMs, and a thread waiting in one may run another
    // pending block of this layer, which would lock the same slot.
    let blocks = if wg.sb > 1 {
        n.div_ceil(wg.forward_samples_per_block(n))
    } else {
        n * wg.th.div_ceil(wg.rb)
    };
    // Weight-bound blocks run one after the other on this thread, so no other block of
    // this layer is pending while one holds its scratch slot.
    let in_turn = wg.in_turn(n);
    let par = if (blocks == 1 || in_turn) && crate::switches::switches().gemm_threads {
        rayon::current_num_threads()
    } else {
        1
    };
    let run = |bk: Block, yb: &mut [f32], pb: Option<&mut [u8]>| {
        forward_block(wg, x, &bk, u, bias, act, yb, pb, scratch, par)
    };
    if wg.sb > 1 {
        // A block (and a task) is `sb` whole samples.
        let sb = wg.forward_samples_per_block(n);
        let cl = sb * ol;
        let bk = |c: usize, len: usize| Block {
            s0: c * sb,
            ns: len / ol,
            ty0: 0,
            rows: wg.th,
        };
        if in_turn {
            let mut pos = pos.map(|p| &mut p[..n * ol]);
            for (c, yb) in y.chunks_mut(cl).enumerate() {
                let pb = pos
                    .as_deref_mut()
                    .map(|p| &mut p[c * cl..c * cl + yb.len()]);
                run(bk(c, yb.len()), yb, pb);
            }
            return;
        }
        match pos {
            Some(pos) => for_each_chunk_pair_mut(y, cl, &mut pos[..n * ol], cl, |c, yb, pb| {
                run(bk(c, yb.len()), yb, Some(pb))
            }),
            None => for_each_chunk_mut(y, cl, |c, yb| run(bk(c, yb.len()), yb, None)),
        }
        return;
    }
    // A block is `rb` tile rows of one sample.
    let bl = wg.q() * wg.rb * wg.ow * wg.conv.cout;
    let bk = |s: usize, b: usize| {
        let ty0 = b * wg.rb;
        Block {
            s0: s,
            ns: 1,
            ty0,
            rows: wg.rb.min(wg.th - ty0),
        }
    };
    match pos {
        Some(pos) => for_each_chunk_pair_mut(y, ol, &mut pos[..n * ol], ol, |s, ys, ps| {
            for_each_chunk_pair_mut(ys, bl, ps, bl, |b, yb, pb| run(bk(s, b), yb, Some(pb)))
        }),
        None => for_each_chunk_mut(y, ol, |s, ys| {
            for_each_chunk_mut(ys, bl, |b, yb| run(bk(s, b), yb, None))
        }),
    }
}

crate::simd_fn! {
    /// One block's forward pass: `yb` holds its outputs (from the block's first output row
    /// of its first sample).
    fn forward_block(
        wg: &Winograd,
        x: &[f32],
        bk: &Block,
        u: &[f32],
        bias: Bias<'_>,
        act: Act,
        yb: &mut [f32],
        pb: Option<&mut [u8]>,
        scratch: &Scratch,
        par: usize,
    ) {
        let mut pb = pb;
        let g = &wg.conv;
        let (cin, cout, tb, aa, m, q) = (g.cin, g.cout, wg.tb, wg.aa(), wg.m, wg.q());
        let (ol, ow) = (wg.out_len(), wg.ow);
        let nt = bk.tiles(wg);
        let mut buf = scratch.lock();
        let (v, rest) = buf.split_at_mut(aa * tb * cin);
        let mm = &mut rest[..aa * tb * cout];
        transform_inputs(wg, x, bk, v);
        let v = &*v;
        let gemm = |xi: usize, mx: &mut [f32]| {
            sgemm(
                nt,
                cout,
                cin,
                MatRef::row_major(&v[xi * tb * cin..(xi * tb + nt) * cin], cin),
                MatRef::row_major(&u[xi * cin * cout..(xi + 1) * cin * cout], cout),
                &mut mx[..nt * cout],
                cout,
                false,
            )
        };
        if par > 1 {
            // The positions' GEMMs in parallel (each packs only its own transformed
            // kernel); each is the single-threaded GEMM, so the bits do not change.
            for_each_chunk_mut(mm, tb * cout, gemm);
        } else {
            for (xi, mx) in mm.chunks_mut(tb * cout).enumerate() {
                gemm(xi, mx);
            }
        }
        // First output row of the block, in its sample.
        let y0 = q * bk.ty0;
        let relu = act == Act::Relu;
        let mut mt = [[0.0f32; L]; MAX_AA];
        let mut yt = [[0.0f32; L]; 16];
        for t in 0..nt {
            let (si, ty, tx) = bk.at(wg, t);
            for c0 in (0..cout).step_by(L) {
                gather(mm, tb * cout, t * cout + c0, &mut mt[..aa]);
                output_tile(m, &mt[..aa], &mut yt[..m * m]);
                let Some(pb) = pb.as_deref_mut() else {
                    for k in 0..m * m {
                        let (oy, ox) = (m * ty + k / m, m * tx + k % m);
                        if oy < wg.oh && ox < ow {
                            let o = si * ol + ((oy - y0) * ow + ox) * cout + c0;
                            yb[o..o + L].copy_from_slice(&yt[k]);
                        }
                    }
                    continue;
                };
                debug_assert!(!matches!(bias, Bias::Affine { .. }), "no affine map with pooling");
                let bv: Lanes = match bias.shift() {
                    Some(bs) => <Lanes>::try_from(&bs[c0..c0 + L]).unwrap_or([0.0; L]),
                    None => [0.0; L],
                };
                for k in 0..q * q {
                    let (a, b) = (k / q, k % q);
                    let (py, px) = (q * ty + a, q * tx + b);
                    if py >= wg.oh || px >= ow {
                        continue;
                    }
                    let win = |w: usize| &yt[(2 * a + w / 2) * m + 2 * b + w % 2];
                    let o = si * ol + ((py - y0) * ow + px) * cout + c0;
                    let (yo, po) = (&mut yb[o..o + L], &mut pb[o..o + L]);
                    let mut best = *win(0);
                    let mut at = [0u8; L];
                    for w in 1..4 {
                        let qw = win(w);
                        for l in 0..L {
                            let gt = qw[l] > best[l];
                            best[l] = if gt { qw[l] } else { best[l] };
                            at[l] = if gt { w as u8 } else { at[l] };
                        }
                    }
                    for l in 0..L {
                        let v = best[l] + bv[l];
                        yo[l] = if relu { v.max(0.0) } else { v };
                    }
                    po.copy_from_slice(&at);
                }
            }
        }
        if pb.is_none() {
            epilogue(yb, bias, act, cout);
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
    // Small images (several per block) keep groups of up to 4 samples, so that a group's
    // GEMMs have enough tiles; tiny ones (deep layers) groups of 64 output pixels or more, so
    // that the per-group kernel-gradient partials do not dwarf the work.
    let min_group = wg.sb.min(4).max(64usize.div_ceil(wg.conv.rows().max(1)));
    grouped_backward(
        &wg.conv,
        n,
        min_group,
        dx,
        dw,
        db,
        partials,
        |s0, count, part, dxg| {
            backward_group(wg, s0, count, x, u, act, dy, pos, dxg, part, scratch)
        },
    );
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
        let (cin, cout, tb, aa, m) = (g.cin, g.cout, wg.tb, wg.aa(), wg.m);
        let (in_len, ol) = (g.in_len(), wg.out_len());
        part.fill(0.0);
        let (pw, pbias) = part.split_at_mut(g.kernel_len());
        let mut buf = scratch.lock();
        let (v, rest) = buf.split_at_mut(aa * tb * cin);
        let (md, rest) = rest.split_at_mut(aa * tb * cout);
        let (dv, rest) = rest.split_at_mut(aa * tb * cin);
        let du = &mut rest[..aa * cin * cout];
        // The first block's kernel-gradient GEMMs overwrite `du`, the later ones add to it.
        let mut du_written = false;
        if let Some(d) = dxg.as_deref_mut() {
            d.fill(0.0);
        }
        let mut d = [[0.0f32; L]; 16];
        let mut mt = [[0.0f32; L]; MAX_AA];
        let mut dd = [[0.0f32; L]; MAX_AA];
        for bk in blocks(wg, s0, count) {
            let nt = bk.tiles(wg);
            // The transformed output gradient of every tile, and the bias gradient.
            for t in 0..nt {
                let (si, ty, tx) = bk.at(wg, t);
                let s = bk.s0 + si;
                let dys = &dy[s * ol..(s + 1) * ol];
                let ys = act.map(|(a, y)| (a, &y[s * ol..(s + 1) * ol]));
                let ps = pos.map(|p| &p[s * ol..(s + 1) * ol]);
                for c0 in (0..cout).step_by(L) {
                    tile_grad(wg, dys, ys, ps, ty, tx, c0, &mut d[..m * m]);
                    for dk in &d[..m * m] {
                        for (a, v) in pbias[c0..c0 + L].iter_mut().zip(dk) {
                            *a += v;
                        }
                    }
                    grad_tile(m, &d[..m * m], &mut mt[..aa]);
                    for (xi, mq) in mt[..aa].iter().enumerate() {
                        md[(xi * tb + t) * cout + c0..][..L].copy_from_slice(mq);
                    }
                }
            }
            transform_inputs(wg, x, &bk, v);
            for xi in 0..aa {
                sgemm(
                    cin,
                    cout,
                    nt,
                    MatRef::row_major_t(&v[xi * tb * cin..(xi * tb + nt) * cin], cin),
                    MatRef::row_major(&md[xi * tb * cout..(xi * tb + nt) * cout], cout),
                    &mut du[xi * cin * cout..(xi + 1) * cin * cout],
                    cout,
                    du_written,
                );
            }
            du_written = true;
            let Some(dxg) = dxg.as_deref_mut() else { continue };
            for xi in 0..aa {
                sgemm(
                    nt,
                    cin,
                    cout,
                    MatRef::row_major(&md[xi * tb * cout..(xi * tb + nt) * cout], cout),
                    MatRef::row_major_t(&u[xi * cin * cout..(xi + 1) * cin * cout], cout),
                    &mut dv[xi * tb * cin..(xi * tb + nt) * cin],
                    cin,
                    false,
                );
            }
            for t in 0..nt {
                let (si, ty, tx) = bk.at(wg, t);
                let i = bk.s0 - s0 + si;
                let dxs = &mut dxg[i * in_len..(i + 1) * in_len];
                let at = patch(wg, ty, tx);
                for c0 in (0..cin).step_by(L) {
                    gather(dv, tb * cin, t * cin + c0, &mut mt[..aa]);
                    input_grad_tile(m, &mt[..aa], &mut dd[..aa]);
                    for (dq, aq) in dd[..aa].iter().zip(&at) {
                        if let Some(o) = aq {
                            for (a, b) in dxs[o + c0..o + c0 + L].iter_mut().zip(dq) {
                                *a += b;
                            }
                        }
                    }
                }
            }
        }
        if du_written {
            untransform_kernel_grad(wg, du, pw);
        }
    }
}

/// The pre-activation output gradient of tile `(ty, tx)`, channels `c0 .. c0 + L`, into `d`
/// (`m x m`, row-major; zero outside the output, or outside the pooling's winner).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile_grad(
    wg: &Winograd,
    dys: &[f32],
    ys: Option<(Act, &[f32])>,
    ps: Option<&[u8]>,
    ty: usize,
    tx: usize,
    c0: usize,
    d: &mut [Lanes],
) {
    let (m, q, cout) = (wg.m, wg.q(), wg.conv.cout);
    d.fill([0.0; L]);
    if let (true, Some(ps), Some((a, yp))) = (wg.pooled, ps, ys) {
        let relu = a == Act::Relu;
        for k in 0..q * q {
            let (a, b) = (k / q, k % q);
            let (py, px) = (q * ty + a, q * tx + b);
            if py >= wg.oh || px >= wg.ow {
                continue;
            }
            let o = (py * wg.ow + px) * cout + c0;
            let (go, yo, qo) = (&dys[o..o + L], &yp[o..o + L], &ps[o..o + L]);
            // Selects, not short-circuits, so the lanes vectorise.
            let mut gl = [0.0f32; L];
            for l in 0..L {
                gl[l] = if relu && yo[l] <= 0.0 { 0.0 } else { go[l] };
            }
            for w in 0..4 {
                let dk = &mut d[(2 * a + w / 2) * m + 2 * b + w % 2];
                for l in 0..L {
                    dk[l] = if qo[l] == w as u8 { gl[l] } else { 0.0 };
                }
            }
        }
        return;
    }
    for (k, dk) in d.iter_mut().enumerate() {
        let (oy, ox) = (m * ty + k / m, m * tx + k % m);
        if oy >= wg.oh || ox >= wg.ow {
            continue;
        }
        let o = (oy * wg.ow + ox) * cout + c0;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv2d::{self, Padding};
    use crate::conv_pool::{self, ConvPool};
    use crate::testutil::{assert_close, Lcg};

    /// Winograd against im2col + GEMM (itself tested against the plain-loop oracle):
    /// forward, and the backward pass's three gradients.
    #[allow(clippy::too_many_arguments)]
    fn check_plain(
        inp: (usize, usize, usize),
        cout: usize,
        pad: Padding,
        act: Act,
        n: usize,
        seed: u64,
        m: usize,
    ) {
        let g = Conv2dGeom::new(inp, (3, 3), cout, (1, 1), (1, 1), pad).expect("geometry");
        let wg = Winograd::with_tile(g, m).expect("qualifies");
        // F(4x4)'s transforms scale by up to 8 and 1/24: several times F(2x2)'s rounding.
        let tol = if m == 4 { 20.0 } else { 1.0 };
        let mut r = Lcg::new(seed);
        let x = r.vec(n * g.in_len());
        let w = r.vec(g.kernel_len());
        let bias = r.vec(cout);
        let dy = r.vec(n * g.out_len());
        let scratch = Scratch::new(g.scratch_len().max(wg.scratch_len()));
        let mut u = vec![0.0; wg.kernel_len()];
        transform_kernel(&wg, &w, &mut u);

        let mut want = vec![0.0; n * g.out_len()];
        conv2d::forward(
            &g,
            n,
            &x,
            &w,
            Some(&bias[..]).into(),
            act,
            &mut want,
            &scratch,
        );
        let mut y = vec![9.0; n * g.out_len()];
        forward(
            &wg,
            n,
            &x,
            &u,
            Some(&bias[..]).into(),
            act,
            &mut y,
            None,
            &scratch,
        );
        // Sums of up to 576 products: the two roundings differ by a few 1e-6.
        assert_close(&y, &want, 5e-5 * tol);
        // A folded normalization: the same affine epilogue on both paths.
        let scale = r.vec(cout);
        let affine = Bias::Affine {
            scale: &scale,
            shift: &bias,
        };
        conv2d::forward(&g, n, &x, &w, affine, act, &mut want, &scratch);
        forward(&wg, n, &x, &u, affine, act, &mut y, None, &scratch);
        assert_close(&y, &want, 5e-5 * tol);
        conv2d::forward(
            &g,
            n,
            &x,
            &w,
            Some(&bias[..]).into(),
            act,
            &mut want,
            &scratch,
        );

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
        assert_close(&dx, &want_dx, 1e-4 * tol);
        assert_close(&dw, &want_dw, 1e-4 * tol);
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
            ((14, 14, 64), 64, Padding::Valid, Act::Relu),
        ];
        for m in [2, 4] {
            for (i, (inp, cout, pad, act)) in cases.into_iter().enumerate() {
                for n in [1, 2, 5, 13] {
                    check_plain(inp, cout, pad, act, n, 3 + 7 * i as u64 + n as u64, m);
                }
            }
        }
    }

    #[test]
    fn picks_the_tile_with_the_least_work() {
        let plan = |inp| {
            let g =
                Conv2dGeom::new(inp, (3, 3), 16, (1, 1), (1, 1), Padding::Valid).expect("geometry");
            Winograd::new(g).expect("qualifies")
        };
        // 12x12 outputs: 9 tiles of 36 against 36 tiles of 16.
        assert_eq!(plan((14, 14, 16)).tile(), 4);
        // 2x2 outputs: one tile either way, the smaller does less.
        assert_eq!(plan((4, 4, 16)).tile(), 2);
        // Few tiles per sample: a block holds several samples.
        let wg = plan((14, 14, 16));
        assert!(wg.sb > 1 && wg.rb == wg.th, "{wg:?}");
    }

    #[test]
    fn forward_plan_trades_f4_for_f2_on_large_kernels_with_little_saving() {
        let fwd = |hw: usize, cin: usize, cout: usize, m: usize| {
            let g = Conv2dGeom::new((hw, hw, cin), (3, 3), cout, (1, 1), (1, 1), Padding::Same)
                .expect("geometry");
            let wg = Winograd::with_tile(g, m).expect("qualifies");
            wg.forward_plan().map(|f| (f.tile(), f.conv))
        };
        let g14 = Conv2dGeom::new((14, 14, 256), (3, 3), 256, (1, 1), (1, 1), Padding::Same)
            .expect("geometry");
        if forced_tile().is_none() {
            // 14x14: F(4x4) saves 27 % (576 against 784); its kernel is 2.25 Mi floats.
            assert_eq!(fwd(14, 256, 256, 4), Some((2, g14)));
            // 28x28: F(4x4) saves 44 %.
            assert_eq!(fwd(28, 256, 256, 4), None);
            // A small kernel: F(4x4) stays.
            assert_eq!(fwd(14, 128, 32, 4), None);
        }
        // Already F(2x2).
        assert_eq!(fwd(14, 256, 256, 2), None);
    }

    #[test]
    fn blocks_split_tall_images() {
        let g = Conv2dGeom::new((150, 12, 16), (3, 3), 16, (1, 1), (1, 1), Padding::Same)
            .expect("geometry");
        for m in [2, 4] {
            let wg = Winograd::with_tile(g, m).expect("qualifies");
            assert!(wg.rb < wg.th, "one block would hold the whole image");
            check_plain((150, 12, 16), 16, Padding::Same, Act::Relu, 2, 11, m);
        }
    }

    #[test]
    fn weight_bound_batches_run_as_one_block() {
        // A deep layer's 4x4 map, one F(4x4) tile per sample: a batch with no more tiles
        // than output channels is one block, its positions' GEMMs in parallel.
        let g = Conv2dGeom::new((4, 4, 32), (3, 3), 48, (1, 1), (1, 1), Padding::Same)
            .expect("geometry");
        let wg = Winograd::with_tile(g, 4).expect("qualifies");
        assert!(wg.weight_bound(48) && !wg.weight_bound(49), "{wg:?}");
        assert_eq!(wg.forward_samples_per_block(40), 40);
        // F(2x2) never is (its 2.25x saving does not pay for the larger kernel's reads).
        assert!(!Winograd::with_tile(g, 2)
            .expect("qualifies")
            .weight_bound(8));
        for n in [1, 7, 48] {
            check_plain((4, 4, 32), 48, Padding::Same, Act::Relu, n, 5 + n as u64, 4);
        }
        // An odd map (tiles cut by the border) and valid padding, likewise.
        check_plain((5, 6, 16), 64, Padding::Valid, Act::Linear, 30, 9, 4);
    }

    #[test]
    fn large_weight_bound_batches_run_their_blocks_in_turn() {
        // A 7x7 map (four F(4x4) tiles per sample) against a kernel larger than the caches
        // (36 x 176 x 176 floats): 25 to 44 samples are more tiles than one block holds (96)
        // and no more than the output channels, so they run as blocks in turn.
        let g = Conv2dGeom::new((7, 7, 176), (3, 3), 176, (1, 1), (1, 1), Padding::Same)
            .expect("geometry");
        let wg = Winograd::with_tile(g, 4).expect("qualifies");
        assert!(wg.weight_bound(24) && !wg.in_turn(24), "{wg:?}");
        assert!(wg.in_turn(30) && !wg.weight_bound(30) && !wg.in_turn(45));
        assert_eq!(wg.forward_samples_per_block(30), 15);
        check_plain((7, 7, 176), 176, Padding::Same, Act::Relu, 30, 77, 4);
        // With the pooling fused: the blocks' window positions land in their own samples
        // (few input channels, so that the sums of 288 products keep that check's
        // tolerance; 36 x 32 x 912 floats of kernel).
        let p = Pool2dGeom::new((8, 8, 912), (2, 2), (2, 2), Padding::Valid).expect("pool");
        let gp = Conv2dGeom::new((8, 8, 32), (3, 3), 912, (1, 1), (1, 1), Padding::Same)
            .expect("geometry");
        let wp = Winograd::pooled_with_tile(gp, &p, Act::Relu, 4).expect("qualifies");
        assert!(wp.in_turn(30), "{wp:?}");
        check_pooled((8, 8, 32), 912, Padding::Same, Act::Relu, 30, 78, 4);
        // A kernel the caches hold keeps its blocks of a few samples as tasks.
        let small = Conv2dGeom::new((8, 8, 128), (3, 3), 128, (1, 1), (1, 1), Padding::Same)
            .expect("geometry");
        assert!(!Winograd::with_tile(small, 4)
            .expect("qualifies")
            .in_turn(32));
    }

    /// The fused pooling against [`conv_pool`] (convolution, activation, pooling).
    #[allow(clippy::too_many_arguments)]
    fn check_pooled(
        inp: (usize, usize, usize),
        cout: usize,
        pad: Padding,
        act: Act,
        n: usize,
        seed: u64,
        m: usize,
    ) {
        let g = Conv2dGeom::new(inp, (3, 3), cout, (1, 1), (1, 1), pad).expect("geometry");
        let p = Pool2dGeom::new((g.oh, g.ow, cout), (2, 2), (2, 2), Padding::Valid).expect("pool");
        let cp = ConvPool::new(g, p, act).expect("fusable");
        let wg = Winograd::pooled_with_tile(g, &p, act, m).expect("qualifies");
        assert_eq!(wg.out_len(), p.out_len());
        let tol = if m == 4 { 20.0 } else { 1.0 };
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
            Some(&bias[..]).into(),
            act,
            &mut y,
            Some(&mut pos),
            &scratch,
        );
        assert_close(&y, &want_y, 1e-5 * tol);
        // The same winners, except near-ties (rounding may pick the other) and ReLU zeros.
        let mut conv = vec![0.0; n * g.out_len()];
        conv2d::forward(
            &g,
            n,
            &x,
            &w,
            Some(&bias[..]).into(),
            Act::Linear,
            &mut conv,
            &scratch,
        );
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
                (at(a) - at(b)).abs() < 1e-5 * tol,
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
        assert_close(&dx, &want_dx, 1e-4 * tol);
        assert_close(&dw, &want_dw, 1e-4 * tol);
        assert_close(&db, &want_db, 1e-4);
    }

    #[test]
    fn fused_pooling_matches_conv_pool() {
        let cases = [
            ((12, 12, 16), 16, Padding::Valid, Act::Relu),
            ((31, 31, 32), 64, Padding::Valid, Act::Relu),
            ((9, 11, 16), 32, Padding::Same, Act::Linear),
            ((16, 7, 32), 16, Padding::Valid, Act::Relu),
            ((24, 24, 16), 16, Padding::Same, Act::Relu),
        ];
        for m in [2, 4] {
            for (i, (inp, cout, pad, act)) in cases.into_iter().enumerate() {
                for n in [1, 3, 11] {
                    check_pooled(inp, cout, pad, act, n, 40 + 5 * i as u64 + n as u64, m);
                }
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
