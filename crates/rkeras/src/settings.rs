//! The environment variables rkeras reads, read here and nowhere else, once per process.
//! Most exist for A/B measurements; the kernels' own (`RKERAS_NO_SIMD`, `RKERAS_SIMD`,
//! `RKERAS_WINOGRAD=2|4`) are read in `rkeras_kernels::switches`.
//!
//! | variable | effect |
//! |---|---|
//! | `RKERAS_FASHION_MNIST` | the folder of the Fashion-MNIST IDX files |
//! | `RKERAS_SAMPLE_GROUPS` | the most sample groups a batch splits into (default 2) |
//! | `RKERAS_FUSE_POOL=0` | no max pooling absorbed into the layer before it |
//! | `RKERAS_WINOGRAD=0` | im2col + GEMM for every convolution |
//! | `COLUMNS` | the terminal width `summary()` fits its table to |
//!
//! ```
//! let s = rkeras::settings::settings();
//! assert!(s.sample_groups.map_or(true, |g| g < 1 << 20));
//! ```

use std::path::PathBuf;
use std::sync::OnceLock;

/// What the environment says, read at the first call.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// `RKERAS_FASHION_MNIST`.
    pub fashion_mnist_dir: Option<PathBuf>,
    /// `RKERAS_SAMPLE_GROUPS` (`0` or `1`: layer at a time).
    pub sample_groups: Option<usize>,
    /// Not `RKERAS_FUSE_POOL=0`.
    pub fuse_pool: bool,
    /// Not `RKERAS_WINOGRAD=0`.
    pub winograd: bool,
    /// `RKERAS_WINOGRAD` is set (to any value).
    pub winograd_forced: bool,
    /// `COLUMNS`.
    pub columns: Option<usize>,
}

/// The settings of this process.
pub fn settings() -> &'static Settings {
    static S: OnceLock<Settings> = OnceLock::new();
    S.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok();
        Settings {
            fashion_mnist_dir: std::env::var_os("RKERAS_FASHION_MNIST").map(PathBuf::from),
            sample_groups: var("RKERAS_SAMPLE_GROUPS").and_then(|v| v.trim().parse().ok()),
            fuse_pool: var("RKERAS_FUSE_POOL").is_none_or(|v| v != "0"),
            winograd: var("RKERAS_WINOGRAD").is_none_or(|v| v != "0"),
            winograd_forced: std::env::var_os("RKERAS_WINOGRAD").is_some(),
            columns: var("COLUMNS").and_then(|c| c.trim().parse().ok()),
        }
    })
}
