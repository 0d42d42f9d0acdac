//! `RandAugment`: a few augmentations picked at random from Keras's list of eleven.

use super::random_image::{pair_json, parse_factor, FactorArg};
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::preprocessing::{parse_interpolation, ColorOp, Fill, Interpolation, RandomOp, Sampled};
use crate::rng::Rng;
use rayon::prelude::*;
use serde_json::{json, Map, Value};

/// Keras's `RandAugment`: for each training batch, `num_ops` operations drawn from Keras's
/// eleven (shear, translation, rotation, brightness, colour degeneration, contrast,
/// sharpness, posterization, solarization, auto-contrast, equalization), each built from
/// `factor` as Keras builds it (`(0, f)` for a number; posterization keeps
/// `[1, max(1, 8 f))` bits), applied one after the other, each image with its own draw. The
/// identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([RandAugment::new().num_ops(2).input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandAugment {
    base: LayerBase,
    value_range: (f64, f64),
    num_ops: usize,
    factor: FactorArg,
    interpolation: String,
    seed: Option<u64>,
    base_seed: u64,
    rng: Rng,
    dims: [usize; 3],
    ops: Vec<RandomOp>,
    /// The operations picked for the last batch, and each image's draw for each of them.
    picked: Vec<usize>,
    draws: Vec<Vec<Sampled>>,
    /// The images before each picked operation (for the backward pass).
    stages: Vec<Vec<f32>>,
    trained: bool,
}

impl RandAugment {
    /// Keras's defaults: `value_range` `(0, 255)`, `num_ops` 2, `factor` 0.5, bilinear.
    pub fn new() -> Self {
        RandAugment {
            base: LayerBase::default(),
            value_range: (0.0, 255.0),
            num_ops: 2,
            factor: FactorArg::Scalar(0.5),
            interpolation: "bilinear".into(),
            seed: None,
            base_seed: 0,
            rng: Rng::new(0),
            dims: [0; 3],
            ops: Vec::new(),
            picked: Vec::new(),
            draws: Vec::new(),
            stages: Vec::new(),
            trained: false,
        }
    }
    /// Range of the pixel values.
    pub fn value_range(mut self, (a, b): (f64, f64)) -> Self {
        self.value_range = (a.min(b), a.max(b));
        self
    }
    /// How many operations each batch goes through.
    pub fn num_ops(mut self, n: usize) -> Self {
        self.num_ops = n;
        self
    }
    /// The strength of every operation: a number or a pair in `[0, 1]`.
    pub fn factor(mut self, f: impl Into<FactorArg>) -> Self {
        self.factor = f.into();
        self
    }
    /// `"bilinear"` (default) or `"nearest"`, for the geometric operations.
    pub fn interpolation(mut self, i: &str) -> Self {
        self.interpolation = i.into();
        self
    }
    /// Fixes the layer's random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    fn parsed(&self, name: &str) -> Result<(f64, f64)> {
        parse_factor(self.factor, (0.0, 1.0), true, "factor", name)
    }
    fn make_ops(&self, f: (f32, f32), interp: Interpolation) -> Vec<RandomOp> {
        let vr = (self.value_range.0 as f32, self.value_range.1 as f32);
        keras_ops(f, vr, interp).to_vec()
    }
}

/// Keras's eleven RandAugment operations for a parsed `factor` (in RandAugment's order:
/// shear, translation, rotation, brightness, colour degeneration, contrast, sharpness,
/// posterization, solarization, auto-contrast, equalization).
pub(crate) fn keras_ops(f: (f32, f32), vr: (f32, f32), interp: Interpolation) -> [RandomOp; 11] {
    {
        let hi = f.1;
        let bits = ((8.0 * hi) as u8).max(1);
        [
            RandomOp::Shear {
                x: f,
                y: f,
                fill: Fill::Reflect,
                interpolation: interp,
            },
            RandomOp::Translation {
                height: f,
                width: f,
                fill: Fill::Reflect,
                interpolation: interp,
            },
            RandomOp::Rotation {
                factor: f,
                fill: Fill::Reflect,
                interpolation: interp,
            },
            RandomOp::Brightness {
                factor: f,
                value_range: vr,
            },
            RandomOp::Color(ColorOp::Degeneration {
                factor: f,
                value_range: vr,
            }),
            RandomOp::Contrast {
                factor: f,
                value_range: vr,
            },
            RandomOp::Color(ColorOp::Sharpness {
                factor: f,
                value_range: vr,
            }),
            RandomOp::Color(ColorOp::Posterization {
                bits: (1, bits),
                value_range: vr,
            }),
            RandomOp::Color(ColorOp::Solarization {
                addition: f,
                threshold: f,
                value_range: vr,
            }),
            RandomOp::Color(ColorOp::AutoContrast { value_range: vr }),
            RandomOp::Color(ColorOp::Equalization {
                bins: 256,
                value_range: vr,
            }),
        ]
    }
}

impl Default for RandAugment {
    fn default() -> Self {
        RandAugment::new()
    }
}
common_builders!(RandAugment);

impl Layer for RandAugment {
    fn class_name(&self) -> &'static str {
        "RandAugment"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let [h, w, c] = super::random_image::image_dims(input_shape, &name)?;
        if c != 3 {
            // Colour degeneration takes RGB images, as in Keras.
            return Err(Error::arg(
                "input_shape",
                &name,
                format!(
                    "Input images must have 3 channels, but received images with {c} channels."
                ),
            ));
        }
        let (lo, hi) = self.parsed(&name)?;
        let interp = parse_interpolation(&self.interpolation, &name)?;
        self.ops = self.make_ops((lo as f32, hi as f32), interp);
        self.dims = [h, w, c];
        self.base_seed = self.seed.unwrap_or_else(|| rng.fork(0xA06).next_u64());
        self.rng = Rng::new(self.base_seed);
        Ok(input_shape.to_vec())
    }
    fn allocate(&mut self, max_batch: usize) {
        let len = max_batch * self.dims.iter().product::<usize>();
        self.stages = vec![vec![0.0; len]; self.num_ops];
        self.draws = vec![vec![Sampled::Flip(false, false); max_batch]; self.ops.len()];
        self.picked = Vec::with_capacity(self.num_ops);
    }
    fn reseed(&mut self, epoch: u64) {
        self.rng = crate::rng::epoch_stream(self.base_seed, epoch);
    }
    fn idle_forward(&mut self) {
        // What `forward` draws from the layer's stream in training.
        if self.num_ops > 0 && !self.ops.is_empty() {
            for _ in 0..self.num_ops {
                self.rng.below(self.ops.len());
            }
            for _ in &self.ops {
                self.rng.next_u64();
            }
        }
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, mode: Mode) {
        self.trained = mode == Mode::Train && self.num_ops > 0 && !self.ops.is_empty();
        if !self.trained {
            y.copy_from_slice(x);
            return;
        }
        let [h, w, _] = self.dims;
        // Keras: the operations for the whole batch, then every operation's draws.
        self.picked.clear();
        for _ in 0..self.num_ops {
            self.picked.push(self.rng.below(self.ops.len()));
        }
        // Each operation's draws per image from streams keyed by the image's row in the
        // whole batch (the same however a data-parallel run splits it).
        let row0 = crate::distribution::first_row() as u64;
        for (op, draws) in self.ops.iter().zip(self.draws.iter_mut()) {
            let step = self.rng.next_u64();
            super::random_image::sample_rows(op, step, row0, &mut draws[..n], h, w);
        }
        let per = x.len() / n.max(1);
        y.copy_from_slice(x);
        for (stage, &k) in self.stages.iter_mut().zip(&self.picked) {
            stage[..x.len()].copy_from_slice(y);
            let (op, draws, dims) = (&self.ops[k], &self.draws[k], self.dims);
            y.par_chunks_mut(per.max(1))
                .zip(stage[..x.len()].par_chunks(per.max(1)))
                .zip(draws[..n].par_iter())
                .for_each(|((yi, xi), s)| op.apply(s, xi, yi, dims));
        }
    }
    fn backward(
        &mut self,
        x: &[f32],
        _y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
    ) {
        let Some(dx) = dx else { return };
        if !self.trained {
            dx.copy_from_slice(dy);
            return;
        }
        let n = ctx.n;
        let per = x.len() / n.max(1);
        let dims = self.dims;
        // Back through the picked operations, last first; `dy` carries the gradient.
        for (stage, &k) in self.stages.iter().zip(&self.picked).rev() {
            let (op, draws) = (&self.ops[k], &self.draws[k]);
            dx.par_chunks_mut(per.max(1))
                .zip(dy.par_chunks_mut(per.max(1)))
                .zip(stage[..x.len()].par_chunks(per.max(1)))
                .zip(draws[..n].par_iter())
                .for_each(|(((dxi, dyi), xi), s)| op.backward(s, xi, dyi, dxi, dims));
            dy.copy_from_slice(dx);
        }
    }
    fn config(&self) -> Map<String, Value> {
        let factor = self.parsed("").map_or(self.factor.json(), pair_json);
        super::object(json!({
            "data_format": "channels_last",
            "value_range": pair_json(self.value_range),
            "num_ops": self.num_ops,
            "factor": factor,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }))
    }
}

impl FromConfig for RandAugment {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let mut l = RandAugment::new().value_range(g.range_or("value_range", (0.0, 255.0))?);
        if g.c.get("num_ops").is_some_and(|v| !v.is_null()) {
            l = l.num_ops(g.usize("num_ops")?);
        }
        if g.c.get("factor").is_some_and(|v| !v.is_null()) {
            l = l.factor(g.factor("factor")?);
        }
        l = l.interpolation(g.str_or("interpolation", "bilinear")?);
        if let Some(s) = g.seed() {
            l = l.seed(s);
        }
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_ops_per_batch_changes_training_images_only_and_configs_as_keras() {
        let mut l = RandAugment::new().num_ops(3).seed(4).name("r");
        l.build(&[8, 8, 3], &mut Rng::new(0)).expect("build");
        l.allocate(2);
        let x: Vec<f32> = (0..2 * 192).map(|i| ((i * 37) % 256) as f32).collect();
        let mut y = vec![0.0; x.len()];
        l.forward(&x, &mut y, 2, Mode::Infer);
        assert_eq!(y, x);
        let mut changed = 0;
        for _ in 0..5 {
            l.forward(&x, &mut y, 2, Mode::Train);
            assert_eq!(l.picked.len(), 3);
            assert!(
                y.iter()
                    .all(|v| v.is_finite() && (-1e-3..=255.001).contains(v)),
                "{y:?}"
            );
            changed += usize::from(y != x);
            // The gradient of the same draws runs through every picked operation.
            let mut dy = vec![1.0; x.len()];
            let mut dx = vec![0.0; x.len()];
            l.backward(
                &x,
                &y,
                &mut dy,
                Some(&mut dx),
                Backward {
                    n: 2,
                    skip_activation: false,
                    accumulate: false,
                },
            );
            assert!(dx.iter().all(|v| v.is_finite()));
        }
        assert!(changed > 0);
        let c = RandAugment::new().config();
        assert_eq!(c["factor"], json!([0, 0.5]));
        assert_eq!(c["num_ops"], json!(2));
        assert_eq!(c["value_range"], json!([0, 255]));
        // Keras 3.15's own config of RandAugment(factor=(0.2, 0.6), num_ops=3, value_range=(0, 1)).
        let keras = json!({"class_name": "RandAugment", "config": {"name": "rand_augment",
            "trainable": true, "dtype": "float32", "data_format": "channels_last",
            "value_range": [0, 1], "num_ops": 3, "factor": [0.2, 0.6],
            "interpolation": "bilinear", "seed": null}});
        let l = crate::layers::registry::from_config(&keras).expect("reads");
        let back = l.config();
        assert_eq!(back["num_ops"], json!(3));
        assert_eq!(back["factor"], json!([0.2, 0.6]));
        assert_eq!(back["value_range"], json!([0, 1]));
        let mut gray = RandAugment::new().name("g");
        assert!(gray.build(&[8, 8, 1], &mut Rng::new(0)).is_err());
    }
}
