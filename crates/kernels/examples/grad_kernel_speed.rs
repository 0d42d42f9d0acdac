//! Times the kernel gradient of a short-reduction convolution (`colᵀ · dy`) both ways on one
//! thread: the `gemm` crate against `conv2d::direct_grad_kernel`, alternating, on the first
//! convolutions of W1 (62x62 pixels, 3x3x3 taps, 32 filters) and W2 (26x26, 3x3x1, 32).
//!
//! Run: `cargo run --release -p rkeras-kernels --example grad_kernel_speed` (the `gemm` crate
//! picks its own instruction set; `RKERAS_SIMD=avx2` limits only ours).

use rkeras_kernels::conv2d::direct_grad_kernel;
use rkeras_kernels::gemm::{sgemm, MatRef};
use std::time::Instant;

rkeras_kernels::simd_fn! {
    fn direct(col: &[f32], k: usize, dy: &[f32], cout: usize, dw: &mut [f32]) {
        direct_grad_kernel(col, k, dy, cout, dw)
    }
}

fn gemm(col: &[f32], k: usize, dy: &[f32], cout: usize, dw: &mut [f32]) {
    let rows = dy.len() / cout;
    sgemm(
        k,
        cout,
        rows,
        MatRef::row_major_t(col, k),
        MatRef::row_major(dy, cout),
        dw,
        cout,
        true,
    );
}

fn main() {
    println!(
        "our loops: {} (RKERAS_SIMD=avx2 for the AVX2 build)",
        rkeras_kernels::simd::level_name()
    );
    for (name, rows, k, cout) in [("W1 conv2d", 3844, 27, 32), ("W2 conv2d", 676, 9, 32)] {
        let mut s = 1u32;
        let mut rnd = || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let col: Vec<f32> = (0..rows * k).map(|_| rnd()).collect();
        let dy: Vec<f32> = (0..rows * cout).map(|_| rnd()).collect();
        let (mut a, mut b) = (vec![0.0f32; k * cout], vec![0.0f32; k * cout]);
        gemm(&col, k, &dy, cout, &mut a);
        direct(&col, k, &dy, cout, &mut b);
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        let reps = 2_000_000 / rows;
        let (mut tg, mut td) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            for (f, t) in [
                (
                    gemm as fn(&[f32], usize, &[f32], usize, &mut [f32]),
                    &mut tg,
                ),
                (direct, &mut td),
            ] {
                let start = Instant::now();
                for _ in 0..reps {
                    f(&col, k, &dy, cout, &mut a);
                }
                t.push(start.elapsed().as_secs_f64() / reps as f64 * 1e6);
            }
        }
        tg.sort_by(f64::total_cmp);
        td.sort_by(f64::total_cmp);
        let gf = |us: f64| 2.0 * (rows * k * cout) as f64 / us / 1e3;
        println!(
            "{name} ({rows} x {k} taps x {cout} filters): gemm {:.1} us ({:.1} GF/s), direct {:.1} us ({:.1} GF/s), {:.2}x, max diff {diff:.1e}",
            tg[3],
            gf(tg[3]),
            td[3],
            gf(td[3]),
            tg[3] / td[3]
        );
    }
}
