//! `AugMix`: each image blended with a mix of augmentation chains.

use super::rand_augment::keras_ops;
use super::random_image::{pair_json, parse_factor, FactorArg};
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::preprocessing::mix::{beta, gamma};
use crate::preprocessing::{parse_interpolation, RandomOp, Sampled};
use crate::rng::Rng;
use rayon::prelude::*;
use serde_json::{json, Map, Value};

/// Keras's `AugMix`: for each training batch, `num_chains` chains of up to `chain_depth`
/// operations (each step picks one of Keras's operations, or none, for the whole batch;
/// every image has its own draw), mixed with `Dirichlet(alpha)` weights, then blended with
/// the original image by one `Beta(alpha, alpha)` weight and clipped to `value_range`. The
/// operations are RandAugment's, built from `factor` (`all_ops(false)`: the seven geometric
/// and tonal ones only). The identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([AugMix::new().input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AugMix {
    base: LayerBase,
    value_range: (f64, f64),
    num_chains: usize,
    chain_depth: usize,
    factor: FactorArg,
    alpha: f64,
    all_ops: bool,
    interpolation: String,
    seed: Option<u64>,
    base_seed: u64,
    rng: Rng,
    dims: [usize; 3],
    ops: Vec<RandomOp>,
    /// The last batch: each chain's operations and their per-image draws (chain-major),
    /// the chain weights and the blend weight.
    chains: Vec<Vec<usize>>,
    draws: Vec<Vec<Sampled>>,
    weights: Vec<f32>,
    blend: f32,
    work: Vec<f32>,
    trained: bool,
}

/// Keras's operation order for AugMix (`AUGMENT_LAYERS_ALL`), as indices into
/// [`keras_ops`]: shear, translation, rotation, posterization, solarization, auto-contrast,
/// equalization, then brightness, colour degeneration, contrast, sharpness.
const ORDER: [usize; 11] = [0, 1, 2, 7, 8, 9, 10, 3, 4, 5, 6];

impl AugMix {
    /// Keras's defaults: `value_range` `(0, 255)`, 3 chains of depth 3, `factor` 0.3,
    /// `alpha` 1, all operations, bilinear.
    pub fn new() -> Self {
        AugMix {
            base: LayerBase::default(),
            value_range: (0.0, 255.0),
            num_chains: 3,
            chain_depth: 3,
            factor: FactorArg::Scalar(0.3),
            alpha: 1.0,
            all_ops: true,
            interpolation: "bilinear".into(),
            seed: None,
            base_seed: 0,
            rng: Rng::new(0),
            dims: [0; 3],
            ops: Vec::new(),
            chains: Vec::new(),
            draws: Vec::new(),
            weights: Vec::new(),
            blend: 1.0,
            work: Vec::new(),
            trained: false,
        }
    }
    /// Range of the pixel values.
    pub fn value_range(mut self, (a, b): (f64, f64)) -> Self {
        self.value_range = (a.min(b), a.max(b));
        self
    }
    /// Chains mixed per image.
    pub fn num_chains(mut self, n: usize) -> Self {
        self.num_chains = n;
        self
    }
    /// Operations per chain at most.
    pub fn chain_depth(mut self, n: usize) -> Self {
        self.chain_depth = n;
        self
    }
    /// The strength of every operation: a number or a pair in `[0, 1]`.
    pub fn factor(mut self, f: impl Into<FactorArg>) -> Self {
        self.factor = f.into();
        self
    }
    /// The Dirichlet and Beta parameter.
    pub fn alpha(mut self, a: f64) -> Self {
        self.alpha = a;
        self
    }
    /// All eleven operations (default) or the seven that leave colour alone.
    pub fn all_ops(mut self, all: bool) -> Self {
        self.all_ops = all;
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
    /// Runs chain `c` on one image `x` into `out`, with `tmp` as scratch.
    fn run_chain(&self, c: usize, i: usize, x: &[f32], out: &mut [f32], tmp: &mut [f32]) {
        out.copy_from_slice(x);
        for (d, &k) in self.chains[c].iter().enumerate() {
            tmp.copy_from_slice(out);
            let s = &self.draws[c * self.chain_depth + d][i];
            self.ops[k].apply(s, tmp, out, self.dims);
        }
    }
}

impl Default for AugMix {
    fn default() -> Self {
        AugMix::new()
    }
}
common_builders!(AugMix);

impl AugMix {
    /// A training step's draws for a batch of `n` (none per image when `n` is 0, as on a
    /// data-parallel replica without rows: the layer's stream still advances alike).
    fn draw_step(&mut self, n: usize) {
        let [h, w, _] = self.dims;
        let alpha = self.alpha;
        let g: Vec<f64> = (0..self.num_chains)
            .map(|_| gamma(&mut self.rng, alpha))
            .collect();
        let total: f64 = g.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        for (wt, gi) in self.weights.iter_mut().zip(&g) {
            *wt = (gi / total) as f32;
        }
        self.blend = beta(&mut self.rng, alpha);
        for c in 0..self.num_chains {
            self.chains[c].clear();
            for _ in 0..self.chain_depth {
                // One of the operations, or none (Keras's `choice(layers + [None])`).
                let pick = self.rng.below(self.ops.len() + 1);
                if pick == self.ops.len() {
                    continue;
                }
                let slot = c * self.chain_depth + self.chains[c].len();
                // Per image from streams keyed by its row in the whole batch.
                let step = self.rng.next_u64();
                let row0 = crate::distribution::first_row() as u64;
                let out = &mut self.draws[slot][..n];
                super::random_image::sample_rows(&self.ops[pick], step, row0, out, h, w);
                self.chains[c].push(pick);
            }
        }
    }
}

impl Layer for AugMix {
    fn class_name(&self) -> &'static str {
        "AugMix"
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
        if self.all_ops && c != 3 {
            return Err(Error::arg(
                "input_shape",
                &name,
                format!("Input images must have 3 channels, but received images with {c} channels (all_ops=True includes colour degeneration)."),
            ));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(Error::arg(
                "alpha",
                &name,
                format!("expected a positive number, received {}", self.alpha),
            ));
        }
        let (lo, hi) = self.parsed(&name)?;
        let interp = parse_interpolation(&self.interpolation, &name)?;
        let vr = (self.value_range.0 as f32, self.value_range.1 as f32);
        let all = keras_ops((lo as f32, hi as f32), vr, interp);
        let n = if self.all_ops { 11 } else { 7 };
        self.ops = ORDER[..n].iter().map(|&k| all[k].clone()).collect();
        self.dims = [h, w, c];
        self.base_seed = self.seed.unwrap_or_else(|| rng.fork(0xA06).next_u64());
        self.rng = Rng::new(self.base_seed);
        Ok(input_shape.to_vec())
    }
    fn allocate(&mut self, max_batch: usize) {
        let depth = self.chain_depth;
        self.draws = vec![vec![Sampled::Flip(false, false); max_batch]; self.num_chains * depth];
        self.chains = vec![Vec::with_capacity(depth); self.num_chains];
        self.weights = vec![0.0; self.num_chains];
        self.work = vec![0.0; 2 * self.dims.iter().product::<usize>() * max_batch];
    }
    fn reseed(&mut self, epoch: u64) {
        self.rng = crate::rng::epoch_stream(self.base_seed, epoch);
    }
    fn idle_forward(&mut self) {
        if self.num_chains > 0 && !self.ops.is_empty() {
            self.draw_step(0);
        }
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, mode: Mode) {
        self.trained = mode == Mode::Train && self.num_chains > 0 && !self.ops.is_empty();
        if !self.trained {
            y.copy_from_slice(x);
            return;
        }
        self.draw_step(n);
        let per = x.len() / n.max(1);
        let (lo, hi) = (self.value_range.0 as f32, self.value_range.1 as f32);
        let mut work = std::mem::take(&mut self.work);
        let this = &*self;
        y.par_chunks_mut(per.max(1))
            .zip(x.par_chunks(per.max(1)))
            .zip(work[..2 * x.len()].par_chunks_mut(2 * per.max(1)))
            .enumerate()
            .for_each(|(i, ((yi, xi), wk))| {
                let (out, tmp) = wk.split_at_mut(per);
                yi.iter_mut().for_each(|v| *v = 0.0);
                for c in 0..this.num_chains {
                    this.run_chain(c, i, xi, out, tmp);
                    let m = this.weights[c];
                    yi.iter_mut().zip(out.iter()).for_each(|(v, o)| *v += m * o);
                }
                let b = this.blend;
                for (v, xv) in yi.iter_mut().zip(xi) {
                    *v = (b * xv + (1.0 - b) * *v).clamp(lo, hi);
                }
            });
        self.work = work;
    }
    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
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
        let (lo, hi) = (self.value_range.0 as f32, self.value_range.1 as f32);
        let this = &*self;
        // Only when a gradient is asked for (a trainable layer before this one): each
        // chain's intermediate images are recomputed per image.
        dx.par_chunks_mut(per.max(1))
            .zip(dy.par_chunks(per.max(1)))
            .zip(x.par_chunks(per.max(1)).zip(y.par_chunks(per.max(1))))
            .enumerate()
            .for_each(|(i, ((dxi, dyi), (xi, yi)))| {
                // Through the clip.
                let g: Vec<f32> = dyi
                    .iter()
                    .zip(yi)
                    .map(|(d, v)| if *v > lo && *v < hi { *d } else { 0.0 })
                    .collect();
                for (o, gv) in dxi.iter_mut().zip(&g) {
                    *o = this.blend * gv;
                }
                let mut stages: Vec<Vec<f32>> = Vec::new();
                let mut tmp = vec![0.0f32; per];
                for c in 0..this.num_chains {
                    let m = (1.0 - this.blend) * this.weights[c];
                    // The input of each step of the chain.
                    stages.clear();
                    let mut cur = xi.to_vec();
                    for (d, &k) in this.chains[c].iter().enumerate() {
                        stages.push(cur.clone());
                        let s = &this.draws[c * this.chain_depth + d][i];
                        this.ops[k].apply(s, &stages[d], &mut cur, this.dims);
                    }
                    let mut gc: Vec<f32> = g.iter().map(|v| m * v).collect();
                    for (d, &k) in this.chains[c].iter().enumerate().rev() {
                        let s = &this.draws[c * this.chain_depth + d][i];
                        this.ops[k].backward(s, &stages[d], &mut gc, &mut tmp, this.dims);
                        gc.copy_from_slice(&tmp);
                    }
                    dxi.iter_mut().zip(&gc).for_each(|(o, v)| *o += v);
                }
            });
    }
    fn config(&self) -> Map<String, Value> {
        let factor = self.parsed("").map_or(self.factor.json(), pair_json);
        super::object(json!({
            "data_format": "channels_last",
            "value_range": pair_json(self.value_range),
            "num_chains": self.num_chains,
            "chain_depth": self.chain_depth,
            "factor": factor,
            "alpha": self.alpha,
            "all_ops": self.all_ops,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }))
    }
}

impl FromConfig for AugMix {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let mut l = AugMix::new()
            .value_range(g.range_or("value_range", (0.0, 255.0))?)
            .alpha(g.f64_or("alpha", 1.0)?)
            .all_ops(g.bool_or("all_ops", true)?)
            .interpolation(g.str_or("interpolation", "bilinear")?);
        for (k, set) in [
            (
                "num_chains",
                AugMix::num_chains as fn(AugMix, usize) -> AugMix,
            ),
            ("chain_depth", AugMix::chain_depth),
        ] {
            if g.c.get(k).is_some_and(|v| !v.is_null()) {
                l = set(l, g.usize(k)?);
            }
        }
        if g.c.get("factor").is_some_and(|v| !v.is_null()) {
            l = l.factor(g.factor("factor")?);
        }
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
    fn mixes_chains_in_training_only_and_reads_keras_config() {
        let mut l = AugMix::new().seed(2).name("a");
        l.build(&[6, 6, 3], &mut Rng::new(0)).expect("build");
        l.allocate(2);
        let x: Vec<f32> = (0..2 * 108).map(|i| ((i * 53) % 256) as f32).collect();
        let mut y = vec![0.0; x.len()];
        l.forward(&x, &mut y, 2, Mode::Infer);
        assert_eq!(y, x);
        l.forward(&x, &mut y, 2, Mode::Train);
        assert!((l.weights.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(y.iter().all(|v| v.is_finite() && (0.0..=255.0).contains(v)));
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
        // Keras 3.15's config of AugMix(num_chains=2, factor=(0.1, 0.4), all_ops=False).
        let keras = json!({"class_name": "AugMix", "config": {"name": "aug_mix", "trainable": true,
            "dtype": "float32", "data_format": "channels_last", "value_range": [0, 255],
            "num_chains": 2, "chain_depth": 3, "factor": [0.1, 0.4], "alpha": 1.0,
            "all_ops": false, "interpolation": "bilinear", "seed": null}});
        let r = crate::layers::registry::from_config(&keras).expect("reads");
        let c = r.config();
        assert_eq!(c["num_chains"], json!(2));
        assert_eq!(c["all_ops"], json!(false));
        assert_eq!(c["factor"], json!([0.1, 0.4]));
    }
}
