//! `SpatialDropout2D`: drops whole feature maps, active only in training.

use super::registry::seeded;
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Drops whole channels of each sample with probability `rate` while training and scales
/// the kept ones by `1 / (1 - rate)` (Keras `SpatialDropout2D`); the identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([SpatialDropout2D::new(0.2).input_shape((8, 8, 16)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[8, 8, 16][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SpatialDropout2D {
    base: LayerBase,
    rate: f32,
    seed: Option<u64>,
    base_seed: u64,
    rng: Rng,
    /// One scale per (sample, channel).
    /// The last forward pass dropped (training mode, rate > 0): backward applies the mask.
    active: bool,
    mask: Vec<f32>,
    hw: usize,
    c: usize,
}

impl SpatialDropout2D {
    /// Channel dropout with a drop probability `rate` in `[0, 1)`.
    pub fn new(rate: f32) -> Self {
        SpatialDropout2D {
            base: LayerBase::default(),
            rate,
            seed: None,
            base_seed: 0,
            rng: Rng::new(0),
            mask: Vec::new(),
            active: false,
            hw: 0,
            c: 0,
        }
    }
    /// Fixes the layer's own random seed (default: derived from the model's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}
common_builders!(SpatialDropout2D);

impl Layer for SpatialDropout2D {
    fn class_name(&self) -> &'static str {
        "SpatialDropout2D"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        super::check_rate(self.base.label(), self.rate)?;
        (self.hw, self.c) =
            super::global_average_pooling2d::spatial(self.base.label(), input_shape)?;
        self.base_seed = self.seed.unwrap_or_else(|| rng.fork(0x5D50).next_u64());
        self.rng = Rng::new(self.base_seed);
        Ok(input_shape.to_vec())
    }
    fn allocate(&mut self, max_batch: usize) {
        if self.mask.len() < max_batch * self.c {
            self.mask.resize(max_batch * self.c, 0.0);
        }
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, mode: Mode) {
        self.active = mode == Mode::Train && self.rate != 0.0;
        if !self.active {
            y.copy_from_slice(x);
            return;
        }
        let (hw, c) = (self.hw, self.c);
        if self.mask.len() < n * c {
            self.mask.resize(n * c, 0.0);
        }
        let keep = 1.0 / (1.0 - self.rate);
        // One draw of the layer's stream per step; each sample's channels from a stream
        // keyed by it and the sample's row in the whole batch (the same draws however a
        // data-parallel run splits the batch).
        let step = self.rng.next_u64();
        let row0 = crate::distribution::first_row() as u64;
        for (i, ms) in self.mask[..n * c].chunks_mut(c.max(1)).enumerate() {
            let mut rng = crate::rng::row_stream(step, row0 + i as u64);
            for m in ms.iter_mut() {
                *m = if rng.uniform() >= self.rate {
                    keep
                } else {
                    0.0
                };
            }
        }
        scale_channels(x, y, &self.mask, n, hw, c);
    }
    fn idle_forward(&mut self) {
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
        ctx: Backward,
    ) {
        if let Some(dx) = dx {
            if !self.active {
                dx.copy_from_slice(dy);
            } else {
                scale_channels(dy, dx, &self.mask, ctx.n, self.hw, self.c);
            }
        }
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({"rate": self.rate, "seed": self.seed, "data_format": "channels_last"}))
    }
    /// Keras's own config for the spatial dropouts: no `trainable` (its constructor refuses
    /// one), the dtype as a plain string.
    fn full_config_override(&self) -> Option<Map<String, Value>> {
        Some(super::object(json!({
            "rate": self.rate,
            "seed": self.seed,
            "name": self.name(),
            "dtype": "float32",
            "data_format": "channels_last",
        })))
    }
}

/// `out[s, p, c] = x[s, p, c] * mask[s, c]`.
fn scale_channels(x: &[f32], out: &mut [f32], mask: &[f32], n: usize, hw: usize, c: usize) {
    for s in 0..n {
        let m = &mask[s * c..(s + 1) * c];
        let xs = &x[s * hw * c..(s + 1) * hw * c];
        let os = &mut out[s * hw * c..(s + 1) * hw * c];
        for (o, i) in os.chunks_exact_mut(c).zip(xs.chunks_exact(c)) {
            for ((o, i), m) in o.iter_mut().zip(i).zip(m) {
                *o = i * m;
            }
        }
    }
}

impl FromConfig for SpatialDropout2D {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let mut d = SpatialDropout2D::new(g.f64_or("rate", 0.5)? as f32);
        d = seeded!(d, g);
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn drops_whole_channels_and_checks_its_gradient() {
        let mut d = SpatialDropout2D::new(0.5).seed(7);
        d.build(&[3, 3, 200], &mut Rng::new(0)).expect("build");
        d.allocate(1);
        let x = vec![1.0f32; 1800];
        let mut y = vec![0.0; 1800];
        d.forward(&x, &mut y, 1, Mode::Train);
        // Every pixel of a channel shares its fate.
        for ch in 0..200 {
            let v = y[ch];
            assert!(v == 0.0 || v == 2.0);
            assert!((0..9).all(|p| y[p * 200 + ch] == v));
        }
        let kept = y[..200].iter().filter(|v| **v != 0.0).count();
        assert!((60..140).contains(&kept), "kept {kept}");
        d.forward(&x, &mut y, 1, Mode::Infer);
        assert!(y.iter().all(|v| *v == 1.0));
        assert_eq!(
            check_layer(Box::new(SpatialDropout2D::new(0.0)), &[2, 2, 3]),
            vec![2, 2, 3]
        );
        assert!(SpatialDropout2D::new(1.0)
            .build(&[2, 2, 1], &mut Rng::new(0))
            .is_err());
    }
}
