//! Runtime CPU dispatch for our own loops: [`dispatch`] runs a closure compiled for AVX-512
//! or AVX2+FMA when the CPU has them (detected once), else for the baseline target.
//!
//! The closure (and the `#[inline]` helpers it calls) is inlined into a function carrying
//! `#[target_feature]`, so LLVM vectorises it for the wider instruction set; the binary stays
//! portable. GEMM does its own dispatch inside the `gemm` crate.

use std::sync::atomic::{AtomicU8, Ordering};

const UNKNOWN: u8 = 0;
const BASE: u8 = 1;
const AVX2: u8 = 2;
const AVX512: u8 = 3;

static LEVEL: AtomicU8 = AtomicU8::new(UNKNOWN);

/// The instruction-set level in use: `"avx512"`, `"avx2"` or `"baseline"`.
pub fn level_name() -> &'static str {
    match level() {
        AVX512 => "avx512",
        AVX2 => "avx2",
        _ => "baseline",
    }
}

#[inline]
fn level() -> u8 {
    let l = LEVEL.load(Ordering::Relaxed);
    if l != UNKNOWN {
        return l;
    }
    let l = detect();
    LEVEL.store(l, Ordering::Relaxed);
    l
}

#[cfg(target_arch = "x86_64")]
fn detect() -> u8 {
    if crate::switches::switches().no_simd {
        return BASE;
    }
    // RKERAS_SIMD=avx2 caps the level (to measure the AVX2 build on an AVX-512 machine).
    let cap_avx2 = crate::switches::switches().cap_avx2;
    if !cap_avx2
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
    {
        AVX512
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        AVX2
    } else {
        BASE
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> u8 {
    BASE
}

/// True when our loops run the AVX2+FMA build or the AVX-512 one (which has AVX2 too).
pub fn has_avx2() -> bool {
    level() >= AVX2
}

/// True when our loops run the AVX-512 build (32 vector registers of 16 floats): kernels
/// size their register tiles by it.
pub fn has_avx512() -> bool {
    level() == AVX512
}

/// Level codes for [`simd_fn!`]; not for use elsewhere.
#[doc(hidden)]
pub fn current_level() -> u8 {
    level()
}

/// Defines a function whose body is compiled three times (AVX-512, AVX2+FMA, baseline) and
/// picks the version for this CPU at run time. The body is inlined into each copy, so loops
/// are vectorised for the wide instruction sets. Arguments must be plain `name: Type`.
#[macro_export]
macro_rules! simd_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn imp($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn v4($($arg: $ty),*) { imp($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn v3($($arg: $ty),*) { imp($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            match $crate::simd::current_level() {
                // SAFETY: the CPU supports every enabled feature (checked at start-up).
                3 => return unsafe { v4($($arg),*) },
                // SAFETY: as above.
                2 => return unsafe { v3($($arg),*) },
                _ => {}
            }
            imp($($arg),*)
        }
    };
}
