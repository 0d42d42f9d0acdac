//! The seeded random generator behind initializers, dropout and shuffling.
//!
//! xoshiro256++ seeded through SplitMix64: small, fast, and a stream we control, so the same
//! seed gives the same weights across versions of our dependencies and any thread count.

use std::cell::Cell;

/// A seeded pseudo-random generator.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        Rng {
            s: [
                splitmix(&mut x),
                splitmix(&mut x),
                splitmix(&mut x),
                splitmix(&mut x),
            ],
        }
    }

    /// An independent generator derived from this one's seed material and `stream`.
    pub fn fork(&mut self, stream: u64) -> Rng {
        Rng::new(self.next_u64() ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f32 {
        self.uniform_bits24() as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// The 24 random bits behind [`Rng::uniform`] (which is this divided by 2^24).
    pub fn uniform_bits24(&mut self) -> u64 {
        self.next_u64() >> 40
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform_range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }

    /// Standard normal truncated to `[-2, 2]` (redrawn outside), as Keras's
    /// `TruncatedNormal`.
    pub fn truncated_normal(&mut self) -> f32 {
        loop {
            let v = self.normal();
            if v.abs() <= 2.0 {
                return v;
            }
        }
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Fisher-Yates shuffle in place.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

thread_local! {
    static GLOBAL_SEED: Cell<Option<u64>> = const { Cell::new(None) };
    static DRAWS: Cell<u64> = const { Cell::new(0) };
}

/// Seeds every random choice made afterwards on this thread (weight initialisation,
/// dropout, shuffling), like `keras.utils.set_random_seed`.
///
/// ```
/// rkeras::set_random_seed(42);
/// ```
pub fn set_random_seed(seed: u64) {
    GLOBAL_SEED.with(|s| s.set(Some(seed)));
    DRAWS.with(|d| d.set(0));
}

/// A fresh seed: deterministic after [`set_random_seed`], else from the clock (as Keras
/// without a seed; in this crate's unit tests, from a fixed seed).
pub(crate) fn next_seed() -> u64 {
    let k = DRAWS.with(|d| {
        let v = d.get();
        d.set(v + 1);
        v
    });
    match GLOBAL_SEED.with(|s| s.get()) {
        Some(seed) => Rng::new(seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64(),
        // The crate's unit tests draw from a fixed stream, so that any failure reproduces.
        #[cfg(test)]
        None => Rng::new(0x5EED ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64(),
        #[cfg(not(test))]
        None => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            Rng::new(t ^ k).next_u64()
        }
    }
}

/// The stream of a stochastic layer for one epoch, from the layer's base seed.
pub(crate) fn epoch_stream(base: u64, epoch: u64) -> Rng {
    Rng::new(base ^ (epoch + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The stream of one row (sample) of a batch in one training step: `step` is the layer's
/// draw for the step, `row` the sample's index in the whole (global) batch. Keyed by the row
/// rather than drawn in sequence, so a sample gets the same draws however the batch is split
/// (over threads, or over the ranks of a data-parallel run).
pub(crate) fn row_stream(step: u64, row: u64) -> Rng {
    let mut k = row ^ 0x6A09_E667_F3BC_C909;
    Rng::new(step ^ splitmix(&mut k))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn row_streams_differ_by_row_and_step() {
        let a = row_stream(1, 0).next_u64();
        assert_ne!(a, row_stream(1, 1).next_u64());
        assert_ne!(a, row_stream(2, 0).next_u64());
        assert_eq!(a, row_stream(1, 0).next_u64());
    }
    #[test]
    fn same_seed_same_stream_and_moments() {
        let (mut a, mut b) = (Rng::new(1), Rng::new(1));
        assert_eq!(a.next_u64(), b.next_u64());
        let n = 20000;
        let mean: f32 = (0..n).map(|_| a.normal()).sum::<f32>() / n as f32;
        assert!(mean.abs() < 0.03);
        let u: f32 = (0..n).map(|_| a.uniform()).sum::<f32>() / n as f32;
        assert!((u - 0.5).abs() < 0.01);
        let mut v: Vec<usize> = (0..10).collect();
        a.shuffle(&mut v);
        v.sort();
        assert_eq!(v, (0..10).collect::<Vec<_>>());
    }
}
