//! `Dropout`: inverted dropout, active only in training.

use super::registry::seeded;
use super::registry::{bad, Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::rng::Rng;
use rkeras_kernels::elementwise;
use rkeras_kernels::parallel::for_each_chunk_mut;
use serde_json::{json, Map, Value};

/// Mask values per parallel task (whole samples, each drawn from its own stream).
const MASK_CHUNK: usize = 8192;

/// Randomly zeroes a fraction `rate` of the inputs while training and scales the kept ones
/// by `1 / (1 - rate)` (Keras `Dropout`); the identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([Dropout::new(0.5).input_shape(8).into()])?;
/// assert_eq!(m.output_shape(), Some(&[8][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Dropout {
    base: LayerBase,
    rate: f32,
    seed: Option<u64>,
    base_seed: u64,
    rng: Rng,
    /// The last forward pass dropped (training mode, rate > 0): backward applies the mask.
    active: bool,
    mask: Vec<f32>,
    len: usize,
    /// Keras's `noise_shape` without the batch axis: `None` for an axis of the input's size,
    /// `Some(1)` for an axis that shares one draw.
    noise_shape: Option<Vec<Option<usize>>>,
    /// With a `noise_shape`, for each value of a sample the draw it uses (empty otherwise).
    draw_of: Vec<u32>,
    /// One sample's draws with a `noise_shape`.
    drawn: Vec<f32>,
}

impl Dropout {
    /// Dropout with a drop probability `rate` in `[0, 1)`.
    pub fn new(rate: f32) -> Self {
        Dropout {
            base: LayerBase::default(),
            rate,
            seed: None,
            base_seed: 0,
            rng: Rng::new(0),
            mask: Vec::new(),
            active: false,
            len: 0,
            noise_shape: None,
            draw_of: Vec::new(),
            drawn: Vec::new(),
        }
    }
    /// Keras's `noise_shape` without the batch axis: `None` keeps an axis, `Some(1)` makes
    /// it share one draw. `[Some(1), Some(1), Some(1)]` on images drops whole samples (the
    /// stochastic depth of EfficientNet's blocks); `[Some(1), Some(1), None]` whole channels.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let m = Sequential::new([Dropout::new(0.2)
    ///     .noise_shape(&[Some(1), Some(1), None])
    ///     .input_shape((4, 4, 8))
    ///     .into()])?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn noise_shape(mut self, shape: &[Option<usize>]) -> Self {
        self.noise_shape = Some(shape.to_vec());
        self
    }
    /// Fixes the layer's own random seed (default: derived from the model's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}
common_builders!(Dropout);

impl Layer for Dropout {
    fn class_name(&self) -> &'static str {
        "Dropout"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        super::check_rate(self.base.label(), self.rate)?;
        self.base_seed = self.seed.unwrap_or_else(|| rng.fork(0xD50).next_u64());
        self.rng = Rng::new(self.base_seed);
        self.len = crate::shape::numel(input_shape);
        self.draw_of.clear();
        if let Some(ns) = &self.noise_shape {
            let ok = ns.len() == input_shape.len()
                && ns
                    .iter()
                    .zip(input_shape)
                    .all(|(n, d)| n.is_none_or(|n| n == 1 || n == *d));
            if !ok {
                return Err(crate::Error::arg(
                    "noise_shape",
                    self.base.label(),
                    format!(
                        "expected one entry per axis of the input {}, each None, 1 or the axis's size; received {ns:?}",
                        crate::shape::batch_shape_str(input_shape)
                    ),
                ));
            }
            // Row-major strides of the draws, 0 along the shared axes.
            let kept: Vec<usize> = ns
                .iter()
                .zip(input_shape)
                .map(|(n, d)| if *n == Some(1) { 1 } else { *d })
                .collect();
            let mut stride = vec![0usize; kept.len()];
            let mut acc = 1;
            for i in (0..kept.len()).rev() {
                stride[i] = if kept[i] == 1 { 0 } else { acc };
                acc *= kept[i];
            }
            self.drawn = vec![0.0; acc];
            self.draw_of = (0..self.len)
                .map(|flat| {
                    let (mut rest, mut k) = (flat, 0usize);
                    for i in (0..input_shape.len()).rev() {
                        k += (rest % input_shape[i]) * stride[i];
                        rest /= input_shape[i];
                    }
                    k as u32
                })
                .collect();
        }
        Ok(input_shape.to_vec())
    }
    fn allocate(&mut self, max_batch: usize) {
        if self.mask.len() < max_batch * self.len {
            self.mask.resize(max_batch * self.len, 0.0);
        }
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, mode: Mode) {
        self.active = mode == Mode::Train && self.rate != 0.0;
        if !self.active {
            y.copy_from_slice(x);
            return;
        }
        let keep = 1.0 / (1.0 - self.rate);
        let mask = &mut self.mask[..x.len()];
        // `uniform() >= rate` without a float compare and branch per value (half of them
        // mispredicted at rate 0.5), on the same draws: the same mask.
        let threshold = keep_threshold(self.rate);
        // One draw of the layer's stream per step; each sample's mask comes from a stream
        // keyed by that draw and the sample's row in the whole batch, so the mask depends
        // neither on the thread count nor on how a data-parallel run splits the batch.
        let step = self.rng.next_u64();
        let row0 = crate::distribution::first_row() as u64;
        let len = self.len.max(1);
        if !self.draw_of.is_empty() {
            // A sample's draws, one per position of the noise shape, spread over the shared
            // axes.
            for (i, sample) in mask.chunks_mut(len).enumerate() {
                let mut rng = crate::rng::row_stream(step, row0 + i as u64);
                for d in self.drawn.iter_mut() {
                    *d = keep * f32::from(u8::from(rng.uniform_bits24() >= threshold));
                }
                for (m, &k) in sample.iter_mut().zip(&self.draw_of) {
                    *m = self.drawn[k as usize];
                }
            }
            elementwise::mul_into(x, mask, y);
            return;
        }
        fill_mask(mask, len, step, row0, threshold, keep);
        elementwise::mul_into(x, mask, y);
    }
    fn idle_forward(&mut self) {
        // The step's draw, as a forward pass in training takes it.
        if self.rate != 0.0 {
            self.rng.next_u64();
        }
    }
    fn reseed(&mut self, epoch: u64) {
        self.rng = crate::rng::epoch_stream(self.base_seed, epoch);
    }
    fn backward(
        &mut self,
        _x: &[f32],
        _y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        _ctx: Backward,
    ) {
        if let Some(dx) = dx {
            if !self.active {
                dx.copy_from_slice(dy);
            } else {
                elementwise::mul_into(dy, &self.mask[..dy.len()], dx);
            }
        }
    }
    fn config(&self) -> Map<String, Value> {
        let noise_shape = self.noise_shape.as_ref().map(|ns| {
            let mut v = vec![Value::Null];
            v.extend(ns.iter().map(|n| json!(n)));
            v
        });
        super::object(json!({"rate": self.rate, "seed": self.seed, "noise_shape": noise_shape}))
    }
}

/// Fills the mask of whole samples of `len` values, the first being row `row0` of the whole
/// batch: sample `g` from [`crate::rng::row_stream`]`(step, g)`, `keep` where its 24-bit
/// draw is at least `threshold`, else 0. Whole samples per parallel task, about
/// `MASK_CHUNK` values each.
fn fill_mask(mask: &mut [f32], len: usize, step: u64, row0: u64, threshold: u64, keep: f32) {
    let rows_per_task = (MASK_CHUNK / len).max(1);
    for_each_chunk_mut(mask, rows_per_task * len, |c, part| {
        for (j, row) in part.chunks_mut(len).enumerate() {
            let g = row0 + (c * rows_per_task + j) as u64;
            let mut rng = crate::rng::row_stream(step, g);
            for m in row.iter_mut() {
                let kept = rng.uniform_bits24() >= threshold;
                *m = keep * f32::from(u8::from(kept));
            }
        }
    });
}

/// The smallest 24-bit draw `u` kept at `rate`: `u / 2^24 >= rate` (the test on
/// [`crate::rng::Rng::uniform`], which is exactly `u / 2^24`) is `u >= ceil(rate * 2^24)`.
fn keep_threshold(rate: f32) -> u64 {
    (f64::from(rate) * f64::from(1u32 << 24)).ceil() as u64
}

impl FromConfig for Dropout {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let c = g.c;
        let name = g.name;
        let mut d = Dropout::new(g.f64_or("rate", 0.5)? as f32);
        d = seeded!(d, g);
        match c.get("noise_shape") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if !a.is_empty() && a[0].is_null() => {
                let dims = a[1..]
                    .iter()
                    .map(|v| match v {
                        Value::Null => Some(None),
                        v => v.as_u64().map(|n| Some(n as usize)),
                    })
                    .collect::<Option<Vec<Option<usize>>>>()
                    .ok_or_else(|| {
                        bad(name, "noise_shape", "sizes or nulls", c.get("noise_shape"))
                    })?;
                d = d.noise_shape(&dims);
            }
            Some(v) => {
                return Err(bad(
                    name,
                    "noise_shape",
                    "a shape whose batch axis is null (one draw per sample)",
                    Some(v),
                ))
            }
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_threshold_keeps_what_the_float_test_keeps() {
        let scale = 1.0 / (1u64 << 24) as f32;
        for rate in [0.1f32, 0.25, 0.5, 1.0 / 3.0, 0.7, 0.999, 1e-7] {
            let t = keep_threshold(rate);
            let mut r = crate::rng::Rng::new(5);
            let near = (t.saturating_sub(3)..t + 3).filter(|&u| u < 1 << 24);
            for u in near.chain((0..2000).map(|_| r.uniform_bits24())) {
                assert_eq!(u >= t, u as f32 * scale >= rate, "rate {rate}, draw {u}");
            }
        }
    }

    #[test]
    fn drops_scales_and_routes_gradient_through_the_mask() {
        let mut d = Dropout::new(0.5).seed(3);
        d.build(&[1000], &mut Rng::new(0)).expect("build");
        d.allocate(1);
        let x = vec![1.0f32; 1000];
        let mut y = vec![0.0; 1000];
        d.forward(&x, &mut y, 1, Mode::Train);
        let kept = y.iter().filter(|v| **v != 0.0).count();
        assert!((400..600).contains(&kept), "kept {kept}");
        assert!(y.iter().all(|v| *v == 0.0 || *v == 2.0));
        let mut dy = vec![1.0f32; 1000];
        let mut dx = vec![0.0; 1000];
        d.backward(
            &x,
            &y,
            &mut dy,
            Some(&mut dx),
            Backward {
                n: 1,
                skip_activation: false,
                accumulate: false,
            },
        );
        assert_eq!(dx, y);
        d.forward(&x, &mut y, 1, Mode::Infer);
        assert_eq!(y, x);
    }

    #[test]
    fn chunked_masks_are_fresh_each_step_and_independent_of_the_thread_count() {
        let len = 3 * MASK_CHUNK + 100;
        let masks = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let mut d = Dropout::new(0.5).seed(11);
                d.build(&[len], &mut Rng::new(0)).expect("build");
                d.allocate(1);
                let x = vec![1.0f32; len];
                let mut y = vec![0.0; len];
                let mut out = Vec::new();
                for _ in 0..2 {
                    d.forward(&x, &mut y, 1, Mode::Train);
                    out.push(y.clone());
                }
                out
            })
        };
        let one = masks(1);
        assert_eq!(one, masks(3));
        assert_ne!(one[0], one[1], "a new mask each step");
        let chunk = |m: &[f32], c: usize| m[c * MASK_CHUNK..(c + 1) * MASK_CHUNK].to_vec();
        assert_ne!(
            chunk(&one[0], 0),
            chunk(&one[0], 1),
            "chunks draw their own streams"
        );
        let kept = one[0].iter().filter(|v| **v != 0.0).count() as f64 / len as f64;
        assert!((0.48..0.52).contains(&kept), "kept {kept}");
    }

    #[test]
    fn a_sample_gets_the_same_mask_wherever_the_batch_is_split() {
        // Rows 3..7 of a batch of 10 drawn as a shard starting at row 3 (a data-parallel
        // rank) equal those rows drawn by one process; small and large samples.
        for len in [5, 3000, MASK_CHUNK + 17] {
            let mut whole = vec![0.0f32; 10 * len];
            fill_mask(&mut whole, len, 99, 0, keep_threshold(0.5), 2.0);
            let mut shard = vec![0.0f32; 4 * len];
            fill_mask(&mut shard, len, 99, 3, keep_threshold(0.5), 2.0);
            assert_eq!(shard, whole[3 * len..7 * len], "len {len}");
            assert_ne!(
                whole[..len],
                whole[len..2 * len],
                "rows draw their own streams"
            );
        }
    }

    #[test]
    fn an_idle_step_advances_the_stream_as_a_forward_pass_does() {
        // A data-parallel replica without rows in a step draws the next step's masks as
        // the replicas that computed.
        let make = || {
            let mut d = Dropout::new(0.5).seed(4);
            d.build(&[64], &mut Rng::new(0)).expect("build");
            d.allocate(2);
            d
        };
        let (x, mut y1, mut y2) = (vec![1.0f32; 128], vec![0.0; 128], vec![0.0; 128]);
        let (mut busy, mut idle) = (make(), make());
        busy.forward(&x, &mut y1, 2, Mode::Train);
        idle.idle_forward();
        busy.forward(&x, &mut y1, 2, Mode::Train);
        idle.forward(&x, &mut y2, 2, Mode::Train);
        assert_eq!(y1, y2);
    }

    #[test]
    fn rate_outside_range_is_an_error() {
        for r in [1.0, -0.1, 1.5, f32::NAN] {
            let e = Dropout::new(r)
                .name("drop")
                .build(&[4], &mut Rng::new(0))
                .expect_err("rate");
            assert!(
                e.to_string().contains("rate") && e.to_string().contains("\"drop\""),
                "{e}"
            );
        }
    }

    #[test]
    fn noise_shape_shares_draws_along_its_unit_axes() {
        let mut rng = Rng::new(1);
        // Whole samples (stochastic depth): every value of a sample kept or dropped together.
        let mut d = Dropout::new(0.5).noise_shape(&[Some(1), Some(1), Some(1)]);
        d.build(&[2, 2, 3], &mut rng).expect("build");
        d.allocate(64);
        let x = vec![1.0f32; 64 * 12];
        let mut y = vec![0.0f32; 64 * 12];
        d.forward(&x, &mut y, 64, Mode::Train);
        let mut dropped = 0;
        for s in y.chunks(12) {
            assert!(s.iter().all(|v| *v == s[0]), "{s:?}");
            assert!(s[0] == 0.0 || s[0] == 2.0);
            dropped += usize::from(s[0] == 0.0);
        }
        assert!(
            (10..=54).contains(&dropped),
            "{dropped} of 64 samples dropped"
        );
        // Channels: one draw per sample and channel, shared over the image.
        let mut d = Dropout::new(0.5).noise_shape(&[Some(1), Some(1), None]);
        d.build(&[2, 2, 3], &mut rng).expect("build");
        d.allocate(4);
        let mut y = vec![0.0f32; 4 * 12];
        d.forward(&x[..48], &mut y, 4, Mode::Train);
        for s in y.chunks(12) {
            for c in 0..3 {
                assert!(s.iter().skip(c).step_by(3).all(|v| *v == s[c]));
            }
        }
        // The backward pass uses the same mask; the config says the noise shape.
        let mut dy = vec![1.0f32; 48];
        let mut dx = vec![0.0f32; 48];
        d.backward(
            &x[..48],
            &y,
            &mut dy,
            Some(&mut dx),
            Backward {
                n: 4,
                skip_activation: false,
                accumulate: false,
            },
        );
        assert_eq!(dx, y);
        assert_eq!(d.config()["noise_shape"], json!([null, 1, 1, null]));
        let e = Dropout::new(0.5)
            .noise_shape(&[Some(2), None])
            .build(&[3, 3], &mut rng)
            .expect_err("2 is neither 1 nor 3");
        assert!(e.to_string().contains("noise_shape"), "{e}");
    }
}
