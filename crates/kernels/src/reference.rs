//! Plain-loop oracles: the slow, obviously-correct versions every fast kernel is tested
//! against. Not used on any hot path.

use crate::conv2d::Conv2dGeom;
use crate::pool2d::Pool2dGeom;

fn in_pos(g: &Conv2dGeom, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
    let iy = (oy * g.sh + ky * g.dh) as isize - g.pad_top as isize;
    let ix = (ox * g.sw + kx * g.dw) as isize - g.pad_left as isize;
    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
        None
    } else {
        Some((iy as usize, ix as usize))
    }
}

/// Convolution forward (no activation): `y = conv(x, w) + bias`.
pub fn conv2d_forward(
    g: &Conv2dGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let mut y = vec![0.0f32; n * g.out_len()];
    for s in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for co in 0..g.cout {
                    let mut acc = bias.map_or(0.0, |b| b[co] as f64);
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            if let Some((iy, ix)) = in_pos(g, oy, ox, ky, kx) {
                                for ci in 0..g.cin {
                                    let xv = x[s * g.in_len() + (iy * g.w + ix) * g.cin + ci];
                                    let wv = w[((ky * g.kw + kx) * g.cin + ci) * g.cout + co];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
                    }
                    y[s * g.out_len() + (oy * g.ow + ox) * g.cout + co] = acc as f32;
                }
            }
        }
    }
    y
}

/// Convolution backward: `(dx, dw, db)` for output gradient `dy`.
pub fn conv2d_backward(
    g: &Conv2dGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = vec![0.0f64; n * g.in_len()];
    let mut dw = vec![0.0f64; g.kernel_len()];
    let mut db = vec![0.0f64; g.cout];
    for s in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for co in 0..g.cout {
                    let d = dy[s * g.out_len() + (oy * g.ow + ox) * g.cout + co] as f64;
                    db[co] += d;
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            if let Some((iy, ix)) = in_pos(g, oy, ox, ky, kx) {
                                for ci in 0..g.cin {
                                    let xi = s * g.in_len() + (iy * g.w + ix) * g.cin + ci;
                                    let wi = ((ky * g.kw + kx) * g.cin + ci) * g.cout + co;
                                    dx[xi] += d * w[wi] as f64;
                                    dw[wi] += d * x[xi] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let f = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect();
    (f(dx), f(dw), f(db))
}

fn pool_window(g: &Pool2dGeom, oy: usize, ox: usize) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for ky in 0..g.ph {
        for kx in 0..g.pw {
            let iy = (oy * g.sh + ky) as isize - g.pad_top as isize;
            let ix = (ox * g.sw + kx) as isize - g.pad_left as isize;
            if iy >= 0 && ix >= 0 && iy < g.h as isize && ix < g.w as isize {
                v.push((iy as usize, ix as usize));
            }
        }
    }
    v
}

/// Max pooling forward and backward for output gradient `dy`: `(y, dx)`.
pub fn max_pool(g: &Pool2dGeom, n: usize, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut y = vec![0.0f32; n * g.out_len()];
    let mut dx = vec![0.0f32; n * g.in_len()];
    for s in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for c in 0..g.c {
                    let mut best = f32::NEG_INFINITY;
                    let mut bi = 0;
                    for (iy, ix) in pool_window(g, oy, ox) {
                        let i = s * g.in_len() + (iy * g.w + ix) * g.c + c;
                        if x[i] > best {
                            best = x[i];
                            bi = i;
                        }
                    }
                    let o = s * g.out_len() + (oy * g.ow + ox) * g.c + c;
                    y[o] = best;
                    dx[bi] += dy[o];
                }
            }
        }
    }
    (y, dx)
}

/// Average pooling forward and backward (in-bounds count): `(y, dx)`.
pub fn avg_pool(g: &Pool2dGeom, n: usize, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut y = vec![0.0f32; n * g.out_len()];
    let mut dx = vec![0.0f32; n * g.in_len()];
    for s in 0..n {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let win = pool_window(g, oy, ox);
                for c in 0..g.c {
                    let o = s * g.out_len() + (oy * g.ow + ox) * g.c + c;
                    let mut acc = 0.0;
                    for &(iy, ix) in &win {
                        acc += x[s * g.in_len() + (iy * g.w + ix) * g.c + c];
                    }
                    y[o] = acc / win.len() as f32;
                    for &(iy, ix) in &win {
                        dx[s * g.in_len() + (iy * g.w + ix) * g.c + c] += dy[o] / win.len() as f32;
                    }
                }
            }
        }
    }
    (y, dx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Act;
    use crate::conv2d::{self, Bias, Padding};
    use crate::parallel::Scratch;
    use crate::pool2d;
    use crate::testutil::{assert_close, Lcg};

    fn random_conv(rng: &mut Lcg) -> (Conv2dGeom, usize) {
        loop {
            let pad = if rng.below(2) == 0 {
                Padding::Valid
            } else {
                Padding::Same
            };
            let d = if rng.below(4) == 0 { 2 } else { 1 };
            let g = Conv2dGeom::new(
                (1 + rng.below(9), 1 + rng.below(9), 1 + rng.below(5)),
                (1 + rng.below(4), 1 + rng.below(4)),
                1 + rng.below(6),
                (1 + rng.below(3), 1 + rng.below(3)),
                (d, d),
                pad,
            );
            if let Some(mut g) = g {
                // Small blocks so several row blocks per sample are exercised; blocks
                // spanning samples of odd sizes, or none.
                if rng.below(2) == 0 {
                    g.block_rows = 1 + rng.below(g.rows());
                }
                g.span_rows = match rng.below(3) {
                    0 => 0,
                    1 => 1 + rng.below(3 * g.rows()),
                    _ => g.span_rows,
                };
                if rng.below(2) == 0 {
                    g.grad_rows = 1 + rng.below(3 * g.rows());
                }
                return (g, 1 + rng.below(11));
            }
        }
    }

    /// `conv2d::forward` of a batch of `n` into a fresh output (NaN where nothing is written).
    fn forward_of(
        g: &Conv2dGeom,
        n: usize,
        x: &[f32],
        w: &[f32],
        bias: Bias<'_>,
        act: Act,
    ) -> Vec<f32> {
        let mut y = vec![f32::NAN; n * g.out_len()];
        conv2d::forward(
            g,
            n,
            x,
            w,
            bias,
            act,
            &mut y,
            &Scratch::new(g.scratch_len()),
        );
        y
    }

    /// The oracle of a folded normalization: the kernel's columns scaled by `scale`, `shift`
    /// added, then `act`.
    fn scaled_oracle(
        g: &Conv2dGeom,
        n: usize,
        x: &[f32],
        w: &[f32],
        (scale, shift): (&[f32], &[f32]),
        act: Act,
    ) -> Vec<f32> {
        let mut ws = w.to_vec();
        for row in ws.chunks_exact_mut(g.cout) {
            row.iter_mut().zip(scale).for_each(|(v, a)| *v *= a);
        }
        conv2d_forward(g, n, x, &ws, Some(shift))
            .into_iter()
            .map(|v| act.apply(v))
            .collect()
    }

    /// A normalization folded into the epilogue (`Bias::Affine`) gives the oracle's
    /// convolution with the kernel's columns scaled and the shifted bias, then the activation,
    /// on every forward path (im2col blocks, blocks spanning samples, 1x1 GEMMs, direct).
    #[test]
    fn affine_epilogue_matches_scaled_kernel_on_random_geometries() {
        let mut rng = Lcg::new(7);
        for case in 0..200 {
            let (g, n) = random_conv(&mut rng);
            let x = rng.vec(n * g.in_len());
            let w = rng.vec(g.kernel_len());
            let (scale, shift) = (rng.vec(g.cout), rng.vec(g.cout));
            let act = if case % 2 == 0 {
                Act::Relu
            } else {
                Act::Linear
            };
            let bias = Bias::Affine {
                scale: &scale,
                shift: &shift,
            };
            let y = forward_of(&g, n, &x, &w, bias, act);
            let want = scaled_oracle(&g, n, &x, &w, (&scale, &shift), act);
            assert_close(&y, &want, 1e-4);
        }
    }

    #[test]
    fn conv_forward_and_backward_match_oracle_on_random_geometries() {
        let mut rng = Lcg::new(42);
        for case in 0..300 {
            let (g, n) = random_conv(&mut rng);
            let x = rng.vec(n * g.in_len());
            let w = rng.vec(g.kernel_len());
            let b = rng.vec(g.cout);
            let dy = rng.vec(n * g.out_len());
            let scratch = Scratch::new(g.scratch_len());
            let mut y = vec![f32::NAN; n * g.out_len()];
            conv2d::forward(
                &g,
                n,
                &x,
                &w,
                Some(&b[..]).into(),
                Act::Linear,
                &mut y,
                &scratch,
            );
            let want = conv2d_forward(&g, n, &x, &w, Some(&b));
            assert_close(&y, &want, 1e-4);

            let mut dx = vec![f32::NAN; n * g.in_len()];
            let mut dw = vec![0.5f32; g.kernel_len()];
            let mut db = vec![0.5f32; g.cout];
            let mut partials = vec![0.0; g.partials_len(n)];
            conv2d::backward(
                &g,
                n,
                &x,
                &w,
                None,
                &dy,
                Some(&mut dx),
                &mut dw,
                Some(&mut db),
                &mut partials,
                &scratch,
            );
            let (rdx, rdw, rdb) = conv2d_backward(&g, n, &x, &w, &dy);
            assert_close(&dx, &rdx, 1e-4);
            let shift = |v: Vec<f32>| v.into_iter().map(|a| a + 0.5).collect::<Vec<_>>();
            assert_close(&dw, &shift(rdw), 1e-4);
            assert_close(&db, &shift(rdb), 1e-4);
            // The input gradient added into one already there (every third geometry).
            if case % 3 == 0 {
                let mut dx2 = shift(vec![0.0f32; n * g.in_len()]);
                let (mut dw2, mut db2) = (vec![0.0f32; g.kernel_len()], vec![0.0f32; g.cout]);
                conv2d::backward_into(
                    &g,
                    n,
                    &x,
                    &w,
                    None,
                    &dy,
                    Some(&mut dx2),
                    true,
                    &mut dw2,
                    Some(&mut db2),
                    &mut partials,
                    &scratch,
                );
                assert_close(&dx2, &shift(rdx), 1e-4);
            }
        }
    }

    /// A 1x1 convolution with a folded normalization, a residual input and ReLU in one pass:
    /// bit for bit the convolution, then the sum, then the activation; blocks of rows and
    /// the weight-bound column blocks; any other geometry refused.
    #[test]
    fn residual_epilogue_is_conv_then_add_then_act() {
        let mut rng = Lcg::new(17);
        for &(hwc, cout, n) in &[((8, 8, 16), 24, 3), ((2, 2, 32), 64, 5), ((5, 3, 8), 8, 40)] {
            let g =
                Conv2dGeom::new(hwc, (1, 1), cout, (1, 1), (1, 1), Padding::Valid).expect("geom");
            let x = rng.vec(n * g.in_len());
            let w = rng.vec(g.kernel_len());
            let (scale, shift) = (rng.vec(cout), rng.vec(cout));
            let res = rng.vec(n * g.out_len());
            let bias = conv2d::Bias::Affine {
                scale: &scale,
                shift: &shift,
            };
            let scratch = Scratch::new(g.scratch_len());
            let mut want = vec![0.0f32; n * g.out_len()];
            conv2d::forward(&g, n, &x, &w, bias, Act::Linear, &mut want, &scratch);
            for (v, r) in want.iter_mut().zip(&res) {
                *v = (r + *v).max(0.0);
            }
            let mut got = vec![f32::NAN; n * g.out_len()];
            assert!(conv2d::forward_residual(
                &g,
                n,
                &x,
                &w,
                bias,
                Act::Relu,
                &res,
                &mut got
            ));
            let bits = |v: &[f32]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{g:?}");
        }
        let g = Conv2dGeom::new((4, 4, 8), (3, 3), 8, (1, 1), (1, 1), Padding::Same).expect("g");
        let mut y = vec![0.0f32; g.out_len()];
        let (x, w) = (vec![1.0; g.in_len()], vec![1.0; g.kernel_len()]);
        let res = vec![0.0; g.out_len()];
        let no = conv2d::Bias::None;
        assert!(!conv2d::forward_residual(
            &g,
            1,
            &x,
            &w,
            no,
            Act::Relu,
            &res,
            &mut y
        ));
    }

    /// Deep layers of small feature maps (2x2 to 7x7, as ResNet50's at 64x64): im2col
    /// blocks span samples in the forward and backward passes, with a ReLU fused; batch 1
    /// (one block, the GEMM threaded) and batches whose blocks cut samples apart.
    #[test]
    fn conv_blocks_across_samples_match_oracle() {
        let mut rng = Lcg::new(11);
        for (hwc, ks, cout, s, pad, n) in [
            ((2, 2, 24), (3, 3), 20, (1, 1), Padding::Same, 9),
            ((4, 4, 64), (1, 1), 33, (2, 2), Padding::Valid, 7),
            ((7, 7, 8), (3, 3), 16, (1, 1), Padding::Same, 3),
            ((5, 5, 16), (3, 3), 8, (2, 2), Padding::Valid, 1),
            ((3, 3, 40), (3, 3), 5, (1, 1), Padding::Valid, 40),
            // Kernels larger than the batch's rows (one GEMM over all rows), one block and
            // two (more rows than a block holds), and a 1x1 one.
            ((2, 2, 64), (3, 3), 64, (1, 1), Padding::Same, 9),
            ((4, 4, 64), (1, 1), 256, (2, 2), Padding::Valid, 7),
            ((2, 2, 64), (3, 3), 520, (1, 1), Padding::Same, 130),
            ((2, 2, 32), (1, 1), 64, (1, 1), Padding::Valid, 5),
        ] {
            let g = Conv2dGeom::new(hwc, ks, cout, s, (1, 1), pad).expect("geom");
            assert!(g.spans_samples() || g.is_pointwise(), "{g:?}");
            let x = rng.vec(n * g.in_len());
            let w = rng.vec(g.kernel_len());
            let b = rng.vec(cout);
            let scratch = Scratch::new(g.scratch_len());
            let mut y = vec![f32::NAN; n * g.out_len()];
            conv2d::forward(
                &g,
                n,
                &x,
                &w,
                Some(&b[..]).into(),
                Act::Relu,
                &mut y,
                &scratch,
            );
            let want: Vec<f32> = conv2d_forward(&g, n, &x, &w, Some(&b))
                .into_iter()
                .map(|v| v.max(0.0))
                .collect();
            assert_close(&y, &want, 1e-4);
            let dy = rng.vec(n * g.out_len());
            let mut dx = vec![f32::NAN; n * g.in_len()];
            let mut dw = vec![0.5f32; g.kernel_len()];
            let mut db = vec![0.5f32; g.cout];
            let mut partials = vec![0.0; g.partials_len(n)];
            conv2d::backward(
                &g,
                n,
                &x,
                &w,
                Some((Act::Relu, &y)),
                &dy,
                Some(&mut dx),
                &mut dw,
                Some(&mut db),
                &mut partials,
                &scratch,
            );
            // The ReLU's derivative from the output, then the oracle's gradients.
            let dpre: Vec<f32> = dy
                .iter()
                .zip(&y)
                .map(|(&d, &v)| if v > 0.0 { d } else { 0.0 })
                .collect();
            let (rdx, rdw, rdb) = conv2d_backward(&g, n, &x, &w, &dpre);
            assert_close(&dx, &rdx, 1e-4);
            // The input gradient added into one already there.
            let mut dx2 = vec![0.25f32; n * g.in_len()];
            let (mut dw2, mut db2) = (vec![0.0f32; g.kernel_len()], vec![0.0f32; g.cout]);
            conv2d::backward_into(
                &g,
                n,
                &x,
                &w,
                Some((Act::Relu, &y)),
                &dy,
                Some(&mut dx2),
                true,
                &mut dw2,
                Some(&mut db2),
                &mut partials,
                &scratch,
            );
            let want2: Vec<f32> = rdx.iter().map(|v| v + 0.25).collect();
            assert_close(&dx2, &want2, 1e-4);
            let shift = |v: Vec<f32>| v.into_iter().map(|a| a + 0.5).collect::<Vec<_>>();
            assert_close(&dw, &shift(rdw), 1e-4);
            assert_close(&db, &shift(rdb), 1e-4);
        }
    }

    /// The direct kernel (short reductions) with whole 16-filter chunks and a tail, strided,
    /// padded and dilated, against the oracle; and a geometry just past its limit.
    #[test]
    fn direct_conv_forward_matches_oracle() {
        let mut rng = Lcg::new(7);
        for (hwc, ks, cout, s, d, pad) in [
            ((12, 11, 3), (3, 3), 32, (1, 1), (1, 1), Padding::Valid),
            ((9, 10, 3), (3, 3), 40, (2, 1), (1, 1), Padding::Same),
            ((10, 10, 2), (5, 4), 16, (1, 1), (2, 2), Padding::Same),
            ((8, 8, 4), (3, 4), 7, (2, 2), (1, 1), Padding::Valid),
            ((8, 8, 7), (3, 3), 24, (1, 1), (1, 1), Padding::Same),
        ] {
            let g = Conv2dGeom::new(hwc, ks, cout, s, d, pad).expect("geom");
            assert_eq!(g.is_direct(), g.k() <= conv2d::DIRECT_MAX_K, "{g:?}");
            let n = 3;
            let (x, w, b) = (
                rng.vec(n * g.in_len()),
                rng.vec(g.kernel_len()),
                rng.vec(cout),
            );
            let mut y = vec![f32::NAN; n * g.out_len()];
            let scratch = Scratch::new(g.scratch_len());
            conv2d::forward(
                &g,
                n,
                &x,
                &w,
                Some(&b[..]).into(),
                Act::Relu,
                &mut y,
                &scratch,
            );
            let want: Vec<f32> = conv2d_forward(&g, n, &x, &w, Some(&b))
                .into_iter()
                .map(|v| v.max(0.0))
                .collect();
            assert_close(&y, &want, 1e-4);
            // The first layer's backward (no input gradient): the direct kernel gradient.
            let dy = rng.vec(n * g.out_len());
            let mut dw = vec![0.5f32; g.kernel_len()];
            let mut db = vec![0.5f32; g.cout];
            let mut partials = vec![0.0; g.partials_len(n)];
            conv2d::backward(
                &g,
                n,
                &x,
                &w,
                None,
                &dy,
                None,
                &mut dw,
                Some(&mut db),
                &mut partials,
                &scratch,
            );
            let (_, rdw, rdb) = conv2d_backward(&g, n, &x, &w, &dy);
            let shift = |v: Vec<f32>| v.into_iter().map(|a| a + 0.5).collect::<Vec<_>>();
            assert_close(&dw, &shift(rdw), 1e-4);
            assert_close(&db, &shift(rdb), 1e-4);
        }
    }

    #[test]
    fn conv_backward_input_matches_oracle_on_random_and_explicit_geometries() {
        let mut rng = Lcg::new(9);
        for case in 0..200 {
            let (g, n) = if case % 2 == 0 {
                random_conv(&mut rng)
            } else {
                // Explicit padding larger than "same" and outputs that leave input rows
                // untouched, as transposed convolutions make.
                let (s, d) = (1 + rng.below(3), 1 + rng.below(2));
                let g = Conv2dGeom::explicit(
                    (1 + rng.below(8), 1 + rng.below(8), 1 + rng.below(4)),
                    (1 + rng.below(4), 1 + rng.below(4)),
                    1 + rng.below(5),
                    (s, s),
                    (d, d),
                    (rng.below(3), rng.below(3)),
                    (1 + rng.below(5), 1 + rng.below(5)),
                )
                .expect("geom");
                (g, 1 + rng.below(4))
            };
            let (x, w) = (rng.vec(n * g.in_len()), rng.vec(g.kernel_len()));
            let dy = rng.vec(n * g.out_len());
            let mut dx = vec![f32::NAN; n * g.in_len()];
            let scratch = Scratch::new(g.scratch_len());
            conv2d::backward_input(&g, n, &w, &dy, &mut dx, &scratch);
            let (rdx, _, _) = conv2d_backward(&g, n, &x, &w, &dy);
            assert_close(&dx, &rdx, 1e-4);
            // The forward pass reads the explicit padding as the backward pass writes it.
            let mut y = vec![f32::NAN; n * g.out_len()];
            conv2d::forward(&g, n, &x, &w, Bias::None, Act::Linear, &mut y, &scratch);
            assert_close(&y, &conv2d_forward(&g, n, &x, &w, None), 1e-4);
        }
    }

    /// 3x3 'same' convolutions on 2x2 maps: from [`conv2d::TWO_BY_TWO_MIN_BATCH`] samples
    /// the forward pass skips the taps that only read padding; one sample below it and one
    /// at it, a batch past it, column counts that split into several tasks and one that
    /// does not, an added bias and a folded normalization with ReLU.
    #[test]
    fn two_by_two_maps_match_the_oracle() {
        let mut rng = Lcg::new(19);
        let min = conv2d::TWO_BY_TWO_MIN_BATCH;
        for &(cin, cout) in &[(3usize, 5usize), (16, 130), (40, 300), (7, 1152)] {
            let g = Conv2dGeom::new((2, 2, cin), (3, 3), cout, (1, 1), (1, 1), Padding::Same)
                .expect("geom");
            for n in [min - 1, min, 2 * min + 3] {
                assert_eq!(g.is_two_by_two_same3(n), n >= min);
                let (x, w) = (rng.vec(n * g.in_len()), rng.vec(g.kernel_len()));
                let (b, scale) = (rng.vec(cout), rng.vec(cout));
                let y = forward_of(&g, n, &x, &w, Some(&b[..]).into(), Act::Linear);
                assert_close(&y, &conv2d_forward(&g, n, &x, &w, Some(&b)), 1e-4);
                let affine = Bias::Affine {
                    scale: &scale,
                    shift: &b,
                };
                let y = forward_of(&g, n, &x, &w, affine, Act::Relu);
                let want = scaled_oracle(&g, n, &x, &w, (&scale, &b), Act::Relu);
                assert_close(&y, &want, 1e-4);
            }
        }
        // Other padding, stride or map size keep the general path.
        let valid =
            Conv2dGeom::new((4, 4, 8), (3, 3), 8, (1, 1), (1, 1), Padding::Valid).expect("geom");
        let wide =
            Conv2dGeom::new((2, 3, 8), (3, 3), 8, (1, 1), (1, 1), Padding::Same).expect("geom");
        let strided =
            Conv2dGeom::new((2, 2, 8), (3, 3), 8, (2, 2), (1, 1), Padding::Same).expect("geom");
        assert!(!valid.is_two_by_two_same3(32));
        assert!(!wide.is_two_by_two_same3(32));
        assert!(!strided.is_two_by_two_same3(32));
    }

    #[test]
    fn conv_fused_relu_matches_relu_of_oracle() {
        let g = Conv2dGeom::new((7, 6, 3), (3, 3), 4, (1, 1), (1, 1), Padding::Same).expect("geom");
        let mut rng = Lcg::new(3);
        let (x, w, b) = (rng.vec(2 * g.in_len()), rng.vec(g.kernel_len()), rng.vec(4));
        let mut y = vec![0.0; 2 * g.out_len()];
        conv2d::forward(
            &g,
            2,
            &x,
            &w,
            Some(&b[..]).into(),
            Act::Relu,
            &mut y,
            &Scratch::new(g.scratch_len()),
        );
        let want: Vec<f32> = conv2d_forward(&g, 2, &x, &w, Some(&b))
            .into_iter()
            .map(|v| v.max(0.0))
            .collect();
        assert_close(&y, &want, 1e-5);
    }

    #[test]
    fn conv_backward_with_fused_activation_matches_masked_oracle() {
        let mut rng = Lcg::new(77);
        for act in [Act::Relu, Act::Tanh, Act::Sigmoid, Act::Elu(1.0)] {
            let g =
                Conv2dGeom::new((9, 7, 3), (3, 3), 5, (2, 1), (1, 1), Padding::Same).expect("geom");
            let n = 3;
            let (x, w, b) = (
                rng.vec(n * g.in_len()),
                rng.vec(g.kernel_len()),
                rng.vec(g.cout),
            );
            let dy = rng.vec(n * g.out_len());
            let scratch = Scratch::new(g.scratch_len());
            let mut y = vec![0.0; n * g.out_len()];
            conv2d::forward(&g, n, &x, &w, Some(&b[..]).into(), act, &mut y, &scratch);
            let masked: Vec<f32> = dy
                .iter()
                .zip(&y)
                .map(|(d, &o)| d * act.derivative(0.0, o))
                .collect();
            let (rdx, rdw, rdb) = conv2d_backward(&g, n, &x, &w, &masked);
            let mut dx = vec![0.0; n * g.in_len()];
            let mut dw = vec![0.0; g.kernel_len()];
            let mut db = vec![0.0; g.cout];
            let mut p = vec![0.0; g.partials_len(n)];
            conv2d::backward(
                &g,
                n,
                &x,
                &w,
                Some((act, &y)),
                &dy,
                Some(&mut dx),
                &mut dw,
                Some(&mut db),
                &mut p,
                &scratch,
            );
            assert_close(&dx, &rdx, 1e-4);
            assert_close(&dw, &rdw, 1e-4);
            assert_close(&db, &rdb, 1e-4);
        }
    }

    #[test]
    fn conv_output_sizes_follow_keras() {
        // valid: floor((n-k)/s)+1; same: ceil(n/s) with the extra pad bottom/right.
        assert_eq!(conv2d::out_len(64, 3, 1, 1, Padding::Valid), Some((62, 0)));
        assert_eq!(conv2d::out_len(5, 2, 2, 1, Padding::Valid), Some((2, 0)));
        assert_eq!(conv2d::out_len(5, 3, 2, 1, Padding::Same), Some((3, 1)));
        assert_eq!(conv2d::out_len(6, 3, 2, 1, Padding::Same), Some((3, 0)));
        assert_eq!(conv2d::out_len(2, 3, 1, 1, Padding::Valid), None);
        assert_eq!(conv2d::out_len(7, 3, 1, 2, Padding::Valid), Some((3, 0)));
    }

    #[test]
    fn pools_match_oracle_on_random_geometries() {
        let mut rng = Lcg::new(9);
        let mut done = 0;
        while done < 200 {
            let pad = if rng.below(2) == 0 {
                Padding::Valid
            } else {
                Padding::Same
            };
            let Some(g) = Pool2dGeom::new(
                (1 + rng.below(9), 1 + rng.below(9), 1 + rng.below(4)),
                (1 + rng.below(3), 1 + rng.below(3)),
                (1 + rng.below(3), 1 + rng.below(3)),
                pad,
            ) else {
                continue;
            };
            done += 1;
            let n = 1 + rng.below(4);
            let x = rng.vec(n * g.in_len());
            let dy = rng.vec(n * g.out_len());
            let (ry, rdx) = max_pool(&g, n, &x, &dy);
            let mut y = vec![0.0; n * g.out_len()];
            let mut am = vec![0u32; n * g.out_len()];
            pool2d::max_forward(&g, n, &x, &mut y, &mut am);
            assert_close(&y, &ry, 0.0);
            let mut yi = vec![f32::NAN; n * g.out_len()];
            pool2d::max_forward_infer(&g, n, &x, &mut yi);
            assert_close(&yi, &ry, 0.0);
            let mut dx = vec![f32::NAN; n * g.in_len()];
            pool2d::max_backward(&g, n, &dy, &am, &mut dx);
            assert_close(&dx, &rdx, 1e-6);

            let (ry, rdx) = avg_pool(&g, n, &x, &dy);
            pool2d::avg_forward(&g, n, &x, &mut y);
            assert_close(&y, &ry, 1e-5);
            pool2d::avg_backward(&g, n, &dy, &mut dx);
            assert_close(&dx, &rdx, 1e-5);
        }
    }

    #[test]
    fn max_pooling_tasks_of_rows_span_samples() {
        // Rows of 20 x 256 outputs: tasks of 3 rows, across the 4-row samples' boundaries.
        let mut rng = Lcg::new(9);
        for pad in [Padding::Valid, Padding::Same] {
            let g = Pool2dGeom::new((9, 41, 256), (3, 3), (2, 2), pad).expect("geometry");
            let n = 3;
            let x = rng.vec(n * g.in_len());
            let dy = rng.vec(n * g.out_len());
            let (ry, rdx) = max_pool(&g, n, &x, &dy);
            let (mut y, mut am) = (vec![0.0; n * g.out_len()], vec![0u32; n * g.out_len()]);
            pool2d::max_forward(&g, n, &x, &mut y, &mut am);
            assert_close(&y, &ry, 0.0);
            let mut dx = vec![f32::NAN; n * g.in_len()];
            pool2d::max_backward(&g, n, &dy, &am, &mut dx);
            assert_close(&dx, &rdx, 1e-6);
            let mut yi = vec![f32::NAN; n * g.out_len()];
            pool2d::max_forward_infer(&g, n, &x, &mut yi);
            assert_close(&yi, &ry, 0.0);
        }
    }

    #[test]
    fn results_are_bitwise_identical_across_thread_counts() {
        let g =
            Conv2dGeom::new((12, 11, 5), (3, 3), 7, (1, 1), (1, 1), Padding::Same).expect("geom");
        let n = 13;
        let mut rng = Lcg::new(5);
        let (x, w, dy) = (
            rng.vec(n * g.in_len()),
            rng.vec(g.kernel_len()),
            rng.vec(n * g.out_len()),
        );
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let scratch = Scratch::new(g.scratch_len());
                let mut y = vec![0.0; n * g.out_len()];
                conv2d::forward(&g, n, &x, &w, Bias::None, Act::Linear, &mut y, &scratch);
                let mut dx = vec![0.0; n * g.in_len()];
                let mut dw = vec![0.0; g.kernel_len()];
                let mut p = vec![0.0; g.partials_len(n)];
                conv2d::backward(
                    &g,
                    n,
                    &x,
                    &w,
                    None,
                    &dy,
                    Some(&mut dx),
                    &mut dw,
                    None,
                    &mut p,
                    &scratch,
                );
                (y, dx, dw)
            })
        };
        let a = run(1);
        for t in [2, 3, 4] {
            assert!(a == run(t), "threads {t} differ from 1 thread");
        }
    }
}
