//! The environment switches of the kernels, read here and nowhere else (the rkeras crate
//! reads its own in `rkeras::settings`). They exist for A/B measurements:
//!
//! - `RKERAS_NO_SIMD` (any value): the portable kernels only.
//! - `RKERAS_SIMD=avx2`: AVX2 at most, on an AVX-512 machine.
//! - `RKERAS_WINOGRAD=2|4`: that Winograd tile for every qualifying convolution
//!   (`0` turns Winograd off, read by rkeras).
//! - `RKERAS_GEMM_THREADS=0`: a convolution of one task (a single image) keeps its GEMM on
//!   one thread.

use std::sync::OnceLock;

/// The switches, read once.
#[derive(Clone, Debug, Default)]
pub struct Switches {
    /// `RKERAS_NO_SIMD` is set.
    pub no_simd: bool,
    /// `RKERAS_SIMD=avx2`.
    pub cap_avx2: bool,
    /// `RKERAS_WINOGRAD=2` or `4`.
    pub winograd_tile: Option<usize>,
    /// Not `RKERAS_GEMM_THREADS=0`.
    pub gemm_threads: bool,
}

/// The kernels' switches (read from the environment at the first call).
pub fn switches() -> &'static Switches {
    static S: OnceLock<Switches> = OnceLock::new();
    S.get_or_init(|| Switches {
        no_simd: std::env::var_os("RKERAS_NO_SIMD").is_some(),
        cap_avx2: std::env::var("RKERAS_SIMD").is_ok_and(|v| v == "avx2"),
        winograd_tile: match std::env::var("RKERAS_WINOGRAD").as_deref() {
            Ok("2") => Some(2),
            Ok("4") => Some(4),
            _ => None,
        },
        gemm_threads: std::env::var("RKERAS_GEMM_THREADS").map_or(true, |v| v != "0"),
    })
}
