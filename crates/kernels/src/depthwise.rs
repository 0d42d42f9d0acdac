//! Depthwise 2-D convolution, NHWC: each input channel has its own `m` filters
//! (`depth_multiplier`). The inner loops run along the channels, which are contiguous in
//! the input, the output and the kernel `(kh, kw, c, m)`, so they vectorise; the work is split
//! into fixed tasks (rows of the output for the forward pass, samples for the backward
//! pass, whose kernel gradients are summed in sample order), so results do not depend on the
//! thread count. [`crate::reference`]-style plain loops in the tests are the oracle.

use crate::conv2d::Bias;
use crate::parallel;
use crate::Act;

/// The shapes of one depthwise convolution: input `(h, w, c)`, kernel `(kh, kw, c, m)`,
/// strides, dilation, top/left padding, output `(oh, ow, c * m)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DwGeom {
    /// Input height, width, channels.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Filters per channel.
    pub m: usize,
    /// Kernel height and width.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Strides.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Dilation.
    pub dh: usize,
    /// Horizontal dilation.
    pub dw: usize,
    /// Padding on the top and the left.
    pub pt: usize,
    /// Left padding.
    pub pl: usize,
    /// Output height and width.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl DwGeom {
    fn in_len(&self) -> usize {
        self.h * self.w * self.c
    }
    fn out_len(&self) -> usize {
        self.oh * self.ow * self.c * self.m
    }
    /// Floats of the kernel.
    pub fn kernel_len(&self) -> usize {
        self.kh * self.kw * self.c * self.m
    }
    /// The input row and column under output `(oy, ox)` and tap `(ky, kx)`, if inside.
    #[inline]
    fn tap(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<usize> {
        let iy = (oy * self.sh + ky * self.dh).checked_sub(self.pt)?;
        let ix = (ox * self.sw + kx * self.dw).checked_sub(self.pl)?;
        (iy < self.h && ix < self.w).then_some(iy * self.w + ix)
    }
    /// The input pixel under output `(oy, ox)`'s first tap when every tap lies inside the
    /// input (so `tap(oy, ox, ky, kx)` is that pixel plus `ky * dh * w + kx * dw`).
    #[inline]
    fn window(&self, oy: usize, ox: usize) -> Option<usize> {
        let iy = (oy * self.sh).checked_sub(self.pt)?;
        let ix = (ox * self.sw).checked_sub(self.pl)?;
        let inside = iy + (self.kh.max(1) - 1) * self.dh < self.h
            && ix + (self.kw.max(1) - 1) * self.dw < self.w;
        inside.then_some(iy * self.w + ix)
    }
    /// Output rows per forward task: a divisor of the output height (so tasks never
    /// straddle samples), about 64k multiply-adds each.
    fn rows_per_task(&self) -> usize {
        let per_row = (self.ow * self.c * self.m * self.kh * self.kw).max(1);
        let want = (65_536 / per_row).clamp(1, self.oh.max(1));
        (1..=want)
            .rev()
            .find(|r| self.oh.is_multiple_of(*r))
            .unwrap_or(1)
    }
}

/// `y += x (*) k` for one output pixel: `xs` the input pixel's channels, `ks` the tap's
/// filters, `ys` the output pixel.
#[inline]
fn mac(m: usize, xs: &[f32], ks: &[f32], ys: &mut [f32]) {
    if m == 1 {
        for ((y, x), k) in ys.iter_mut().zip(xs).zip(ks) {
            *y += x * k;
        }
    } else {
        for (ch, x) in xs.iter().enumerate() {
            for j in 0..m {
                ys[ch * m + j] += x * ks[ch * m + j];
            }
        }
    }
}

/// `y = act(depthwise(x, k) + bias)` for a batch of `n` samples (overwrites `y`); the bias
/// (or a folded normalization's [`Bias::Affine`]) and the activation are applied to each
/// block of rows as it is finished. `act` must be element-wise (not softmax).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    g: &DwGeom,
    x: &[f32],
    k: &[f32],
    bias: Bias<'_>,
    act: Act,
    y: &mut [f32],
    n: usize,
) {
    debug_assert!(act != Act::Softmax);
    let (il, ol) = (g.in_len(), g.out_len());
    let cm = g.c * g.m;
    let row = g.ow * cm;
    let rpt = g.rows_per_task();
    let blocks = (g.oh / rpt).max(1);
    // One task per block of `rpt` output rows of one sample.
    parallel::for_each_chunk_mut(&mut y[..n * ol], rpt * row, |t, yb| {
        let (s, r0) = (t / blocks, (t % blocks) * rpt);
        forward_rows(g, &x[s * il..(s + 1) * il], k, r0, bias, act, yb);
    });
}

/// Channels of one output pixel whose sums stay in registers across the taps: blocks of
/// 64, then one block each of 32, 16 and 8 for the rest (`dw_lanes`), then one at a time.
const LANES: usize = 64;

/// Channels `c0 .. c0 + L` of output pixel `(oy, ox)` (`m == 1`): each sum over the taps
/// in (ky, kx) order from zero, held in registers, then stored in `yo`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dw_lanes<const L: usize>(
    g: &DwGeom,
    xs: &[f32],
    k: &[f32],
    oy: usize,
    ox: usize,
    c0: usize,
    yo: &mut [f32],
) {
    let cm = g.c;
    let mut acc = [0.0f32; L];
    // Every tap inside the input: no bounds to check.
    let window = g.window(oy, ox);
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let p = match window {
                Some(p0) => p0 + ky * g.dh * g.w + kx * g.dw,
                None => match g.tap(oy, ox, ky, kx) {
                    Some(p) => p,
                    None => continue,
                },
            };
            let xp: &[f32; L] = xs[p * g.c + c0..][..L].try_into().expect("L channels");
            let kp: &[f32; L] = k[(ky * g.kw + kx) * cm + c0..][..L]
                .try_into()
                .expect("L channels");
            for i in 0..L {
                acc[i] += xp[i] * kp[i];
            }
        }
    }
    yo[c0..c0 + L].copy_from_slice(&acc);
}

crate::simd_fn! {
    /// Output rows `r0..` of one sample (`yb` holds whole rows), then the epilogue. Each
    /// output element sums its taps in (ky, kx) order from zero: the same order for every
    /// instruction set and every block of channels.
    fn forward_rows(
        g: &DwGeom,
        xs: &[f32],
        k: &[f32],
        r0: usize,
        bias: Bias<'_>,
        act: Act,
        yb: &mut [f32],
    ) {
        let cm = g.c * g.m;
        let row = g.ow * cm;
        let rows = yb.len() / row;
        for oy in r0..r0 + rows {
            for ox in 0..g.ow {
                let yo = &mut yb[(oy - r0) * row + ox * cm..][..cm];
                if g.m == 1 {
                    let mut c0 = 0;
                    while c0 + LANES <= cm {
                        dw_lanes::<LANES>(g, xs, k, oy, ox, c0, yo);
                        c0 += LANES;
                    }
                    for half in [32, 16, 8] {
                        if c0 + half <= cm {
                            match half {
                                32 => dw_lanes::<32>(g, xs, k, oy, ox, c0, yo),
                                16 => dw_lanes::<16>(g, xs, k, oy, ox, c0, yo),
                                _ => dw_lanes::<8>(g, xs, k, oy, ox, c0, yo),
                            }
                            c0 += half;
                        }
                    }
                    while c0 < cm {
                        dw_lanes::<1>(g, xs, k, oy, ox, c0, yo);
                        c0 += 1;
                    }
                } else {
                    yo.fill(0.0);
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            if let Some(p) = g.tap(oy, ox, ky, kx) {
                                let ks = &k[(ky * g.kw + kx) * cm..][..cm];
                                mac(g.m, &xs[p * g.c..][..g.c], ks, yo);
                            }
                        }
                    }
                }
            }
        }
        crate::conv2d::epilogue(yb, bias, act, cm);
    }
}

/// Adds the kernel gradient to `dk` and, with `dx`, overwrites it with the input gradient,
/// for the output gradient `dy` of a batch of `n`. `scratch` holds one kernel gradient per
/// sample (grown on first use), summed in sample order.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    g: &DwGeom,
    x: &[f32],
    k: &[f32],
    dy: &[f32],
    dk: &mut [f32],
    dx: Option<&mut [f32]>,
    n: usize,
    scratch: &mut Vec<f32>,
) {
    let (il, ol, kl) = (g.in_len(), g.out_len(), g.kernel_len());
    if scratch.len() < n * kl {
        scratch.resize(n * kl, 0.0);
    }
    let per_sample = |s: usize, dks: &mut [f32], dxs: Option<&mut [f32]>| {
        backward_sample(
            g,
            &x[s * il..(s + 1) * il],
            k,
            &dy[s * ol..(s + 1) * ol],
            dks,
            dxs,
        )
    };
    let parts = &mut scratch[..n * kl];
    match dx {
        Some(dx) => {
            parallel::for_each_chunk_pair_mut(parts, kl, &mut dx[..n * il], il, |s, dks, dxs| {
                per_sample(s, dks, Some(dxs))
            })
        }
        None => parallel::for_each_chunk_mut(parts, kl, |s, dks| per_sample(s, dks, None)),
    }
    for part in parts.chunks_exact(kl) {
        for (d, p) in dk.iter_mut().zip(part) {
            *d += p;
        }
    }
}

crate::simd_fn! {
    /// One sample's kernel gradient (overwrites `dks`) and, with `dxs`, its input gradient
    /// (overwritten).
    fn backward_sample(
        g: &DwGeom,
        xs: &[f32],
        k: &[f32],
        dys: &[f32],
        dks: &mut [f32],
        dxs: Option<&mut [f32]>,
    ) {
        let cm = g.c * g.m;
        dks.fill(0.0);
        let mut dxs = dxs;
        if let Some(d) = dxs.as_deref_mut() {
            d.fill(0.0);
        }
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let dyo = &dys[(oy * g.ow + ox) * cm..][..cm];
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let Some(p) = g.tap(oy, ox, ky, kx) else {
                            continue;
                        };
                        let ko = (ky * g.kw + kx) * cm;
                        let xp = &xs[p * g.c..][..g.c];
                        if g.m == 1 {
                            for ((d, xv), gy) in dks[ko..ko + cm].iter_mut().zip(xp).zip(dyo) {
                                *d += xv * gy;
                            }
                        } else {
                            for (ch, xv) in xp.iter().enumerate() {
                                for j in 0..g.m {
                                    dks[ko + ch * g.m + j] += xv * dyo[ch * g.m + j];
                                }
                            }
                        }
                        if let Some(d) = dxs.as_deref_mut() {
                            let dp = &mut d[p * g.c..][..g.c];
                            let ks = &k[ko..ko + cm];
                            if g.m == 1 {
                                for ((d, gy), kv) in dp.iter_mut().zip(dyo).zip(ks) {
                                    *d += gy * kv;
                                }
                            } else {
                                for (ch, d) in dp.iter_mut().enumerate() {
                                    for j in 0..g.m {
                                        *d += dyo[ch * g.m + j] * ks[ch * g.m + j];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain loops: every tap of every output, one at a time.
    fn oracle(
        g: &DwGeom,
        x: &[f32],
        k: &[f32],
        dy: &[f32],
        n: usize,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (il, ol) = (g.in_len(), g.out_len());
        let mut y = vec![0.0f32; n * ol];
        let mut dk = vec![0.0f32; g.kernel_len()];
        let mut dx = vec![0.0f32; n * il];
        for s in 0..n {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
                            let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
                            if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                continue;
                            }
                            for ch in 0..g.c {
                                for j in 0..g.m {
                                    let o = s * ol + (oy * g.ow + ox) * g.c * g.m + ch * g.m + j;
                                    let i = s * il + (iy as usize * g.w + ix as usize) * g.c + ch;
                                    let ki = (ky * g.kw + kx) * g.c * g.m + ch * g.m + j;
                                    y[o] += x[i] * k[ki];
                                    dk[ki] += x[i] * dy[o];
                                    dx[i] += dy[o] * k[ki];
                                }
                            }
                        }
                    }
                }
            }
        }
        (y, dk, dx)
    }

    #[test]
    fn matches_the_plain_loops() {
        let geoms = [
            DwGeom {
                h: 7,
                w: 6,
                c: 5,
                m: 1,
                kh: 3,
                kw: 3,
                sh: 1,
                sw: 1,
                dh: 1,
                dw: 1,
                pt: 1,
                pl: 1,
                oh: 7,
                ow: 6,
            },
            DwGeom {
                h: 8,
                w: 9,
                c: 3,
                m: 2,
                kh: 3,
                kw: 2,
                sh: 2,
                sw: 2,
                dh: 1,
                dw: 1,
                pt: 0,
                pl: 0,
                oh: 3,
                ow: 4,
            },
            DwGeom {
                h: 9,
                w: 9,
                c: 17,
                m: 1,
                kh: 3,
                kw: 3,
                sh: 2,
                sw: 2,
                dh: 1,
                dw: 1,
                pt: 0,
                pl: 0,
                oh: 4,
                ow: 4,
            },
            DwGeom {
                h: 6,
                w: 6,
                c: 4,
                m: 1,
                kh: 2,
                kw: 2,
                sh: 1,
                sw: 1,
                dh: 2,
                dw: 2,
                pt: 0,
                pl: 0,
                oh: 4,
                ow: 4,
            },
            DwGeom {
                h: 5,
                w: 5,
                c: 40,
                m: 1,
                kh: 5,
                kw: 5,
                sh: 1,
                sw: 1,
                dh: 1,
                dw: 1,
                pt: 2,
                pl: 2,
                oh: 5,
                ow: 5,
            },
            // Channels in register blocks of 64 and a tail (64 + 64 + 22), strided, padded.
            DwGeom {
                h: 7,
                w: 8,
                c: 150,
                m: 1,
                kh: 3,
                kw: 3,
                sh: 2,
                sw: 2,
                dh: 1,
                dw: 1,
                pt: 1,
                pl: 0,
                oh: 4,
                ow: 4,
            },
            DwGeom {
                h: 4,
                w: 4,
                c: 64,
                m: 1,
                kh: 3,
                kw: 3,
                sh: 1,
                sw: 1,
                dh: 1,
                dw: 1,
                pt: 1,
                pl: 1,
                oh: 4,
                ow: 4,
            },
        ];
        for g in geoms {
            let n = 3;
            let x: Vec<f32> = (0..n * g.in_len())
                .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
                .collect();
            let k: Vec<f32> = (0..g.kernel_len())
                .map(|i| ((i * 13 % 17) as f32 - 8.0) / 5.0)
                .collect();
            let dy: Vec<f32> = (0..n * g.out_len())
                .map(|i| ((i * 29 % 19) as f32 - 9.0) / 6.0)
                .collect();
            let (y0, dk0, dx0) = oracle(&g, &x, &k, &dy, n);
            let mut y = vec![1.0f32; n * g.out_len()];
            forward(&g, &x, &k, Bias::None, Act::Linear, &mut y, n);
            let mut dk = vec![0.0f32; g.kernel_len()];
            let mut dx = vec![1.0f32; n * g.in_len()];
            let mut scratch = Vec::new();
            backward(&g, &x, &k, &dy, &mut dk, Some(&mut dx), n, &mut scratch);
            if g.m == 1 {
                // The same sums in the same order: bit for bit the plain loops.
                assert!(
                    y.iter().zip(&y0).all(|(u, v)| u.to_bits() == v.to_bits()),
                    "{g:?}: forward not bitwise the plain loops"
                );
            }
            for (a, b) in [(&y, &y0), (&dk, &dk0), (&dx, &dx0)] {
                for (u, v) in a.iter().zip(b.iter()) {
                    assert!((u - v).abs() < 1e-4 * (1.0 + v.abs()), "{g:?}: {u} vs {v}");
                }
            }
            // A folded normalization and relu6 in the epilogue: act(y * a + b) per channel.
            let co = g.c * g.m;
            let scale: Vec<f32> = (0..co).map(|c| 0.5 + (c % 5) as f32 * 0.3).collect();
            let shift: Vec<f32> = (0..co).map(|c| (c % 7) as f32 * 0.4 - 1.0).collect();
            let affine = Bias::Affine {
                scale: &scale,
                shift: &shift,
            };
            forward(&g, &x, &k, affine, Act::Relu6, &mut y, n);
            for (i, (u, v)) in y.iter().zip(&y0).enumerate() {
                let want = (v * scale[i % co] + shift[i % co]).clamp(0.0, 6.0);
                assert!(
                    (u - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "{g:?}: {u} vs {want}"
                );
            }
            // Without dx, the same kernel gradient, added to what was there.
            let mut dk2 = vec![1.0f32; g.kernel_len()];
            backward(&g, &x, &k, &dy, &mut dk2, None, n, &mut scratch);
            for (u, v) in dk2.iter().zip(&dk) {
                assert!((u - 1.0 - v).abs() < 1e-4 * (1.0 + v.abs()));
            }
        }
    }
}
