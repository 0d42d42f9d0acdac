//! `BatchNormalization`: normalizes each channel with the batch's statistics while training
//! and with moving averages of them in inference.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode, Param};
use crate::error::{Error, Result};
use crate::init::Initializer;
use crate::rng::Rng;
use rkeras_kernels::{batch_norm, Act};
use serde_json::{json, Map, Value};

/// Keras `BatchNormalization` over the last axis (channels-last).
///
/// Training (`fit`, a trainable layer): `y = gamma * (x - mean) / sqrt(var + epsilon) +
/// beta` with the batch's mean and (biased) variance per channel, and the moving statistics
/// move towards them: `moving = moving * momentum + batch * (1 - momentum)`. Inference, or a
/// frozen layer (`trainable(false)`, as Keras 3 does): the moving statistics instead. The
/// moving mean and variance are weights too (saved and loaded), but not trained.
///
/// ```
/// use rkeras::prelude::*;
/// let mut m = Sequential::new([
///     Conv2D::new(8, 3).input_shape((8, 8, 1)).into(),
///     BatchNormalization::new().into(),
///     Activation::new("relu").into(),
/// ])?;
/// // gamma, beta (trainable), moving_mean, moving_variance (not trainable).
/// assert_eq!(m.layers()[1].params().len(), 4);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct BatchNormalization {
    base: LayerBase,
    axis: i64,
    momentum: f32,
    epsilon: f32,
    center: bool,
    scale: bool,
    params: Vec<Param>,
    weights: super::weight_options::WeightOptions,
    c: usize,
    /// `1 / sqrt(var + epsilon)` per channel, of the last forward.
    inv_std: Vec<f32>,
    /// Whether the last forward used the batch statistics.
    batch_stats: bool,
    /// Per-channel f64 accumulators (mean and variance, or the backward sums).
    acc: [Vec<f64>; 2],
    /// Per-channel mean of the last forward, and the coefficients of the affine map it
    /// applied (`y = a x + b`) or of the input gradient (`dx = a dy + b (x - mean) + k`).
    mean: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    k: Vec<f32>,
    /// Per-chunk partial sums of the statistics and of the backward reductions.
    partials: Vec<f64>,
    /// Keras's `synchronized`: in a data-parallel fit, the batch statistics (and the
    /// backward pass's sums) are those of the whole global batch, summed over the ranks.
    synchronized: bool,
    /// What the synchronized statistics send over the ranks: `2 * c + 1` values.
    sync_buf: Vec<f64>,
    /// This replica's rows and the global batch's, of the last synchronized forward.
    sync_rows: (f64, f64),
}

impl Default for BatchNormalization {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchNormalization {
    /// Keras's defaults: axis -1, momentum 0.99, epsilon 0.001, center and scale.
    pub fn new() -> Self {
        BatchNormalization {
            base: LayerBase::default(),
            axis: -1,
            momentum: 0.99,
            epsilon: 1e-3,
            center: true,
            scale: true,
            params: Vec::new(),
            weights: super::weight_options::WeightOptions::new(super::weight_options::GAMMA_BETA),
            c: 0,
            inv_std: Vec::new(),
            batch_stats: false,
            acc: [Vec::new(), Vec::new()],
            mean: Vec::new(),
            a: Vec::new(),
            b: Vec::new(),
            k: Vec::new(),
            partials: Vec::new(),
            synchronized: false,
            sync_buf: Vec::new(),
            sync_rows: (0.0, 0.0),
        }
    }
    /// Keras's `synchronized` (default false): in a data-parallel fit
    /// ([`crate::distribution::DataParallel`]), training normalizes with the statistics of
    /// the whole global batch (summed over the ranks, weighted by their rows) and the
    /// backward pass sums its reductions over the ranks too, so N ranks train as one
    /// process on the whole batch and the moving statistics are the same on every rank.
    /// Without a distribution it changes nothing.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let bn = BatchNormalization::new().synchronized(true);
    /// let m = Sequential::new([bn.input_shape(4).into()])?;
    /// let config = m.to_json();
    /// assert!(config.contains("\"synchronized\": true") || config.contains("\"synchronized\":true"));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn synchronized(mut self, on: bool) -> Self {
        self.synchronized = on;
        self
    }
    /// Synchronized backward: this replica's sums of `dy` and `dy * (x - mean)` (in `acc`)
    /// become the global batch's, each replica's weighted by its share of the rows (its `dy`
    /// is the gradient of its own mean loss). The input gradient with these sums and the
    /// replica's own rows is then its share of one process's on the whole batch, as the
    /// weight gradients are.
    fn sync_backward_sums(&mut self) {
        let c = self.c;
        let (rows, total) = self.sync_rows;
        let share = rows / total.max(1.0);
        let buf = &mut self.sync_buf[..2 * c];
        for ch in 0..c {
            buf[ch] = self.acc[0][ch] * share;
            buf[c + ch] = self.acc[1][ch] * share;
        }
        crate::distribution::sum_f64(buf);
        self.acc[0].copy_from_slice(&buf[..c]);
        self.acc[1].copy_from_slice(&buf[c..]);
    }
    /// Synchronized statistics are on and a data-parallel run is active.
    fn syncs(&self) -> bool {
        self.synchronized && crate::distribution::world().is_some()
    }
    /// The training step's statistics into `acc` (mean, biased variance) and `mean`,
    /// `inv_std` set, the moving statistics updated: of `x` alone, or of the global batch
    /// when synchronized (`x` empty on a replica without rows).
    fn batch_moments(&mut self, x: &[f32]) {
        let c = self.c;
        let (mi, vi) = (self.params.len() - 2, self.params.len() - 1);
        // The mean from the sums of x, then the sums of (x - mean) and of their squares
        // around it (float32 runs, float64 across). Synchronized, each set of sums is
        // summed over the ranks first; one process computes the same sums, so N ranks
        // and one process differ only by the order of float64 additions.
        let sync = self.syncs();
        let rows = x.len() / c.max(1);
        let [mean, var] = &mut self.acc;
        self.k.fill(0.0);
        let buf = &mut self.sync_buf[..2 * c + 1];
        {
            let (s1, rest) = buf.split_at_mut(c);
            let (s2, n) = rest.split_at_mut(c);
            batch_norm::shifted_sums(x, c, &self.k, s1, s2, &mut self.partials);
            n[0] = rows as f64;
        }
        if sync {
            crate::distribution::sum_f64(buf);
        }
        let total = buf[2 * c].max(1.0);
        self.sync_rows = (rows as f64, total);
        for (m, s) in self.mean.iter_mut().zip(&buf[..c]) {
            *m = (s / total) as f32;
        }
        let buf = &mut self.sync_buf[..2 * c];
        {
            let (s1, s2) = buf.split_at_mut(c);
            batch_norm::shifted_sums(x, c, &self.mean, s1, s2, &mut self.partials);
        }
        if sync {
            crate::distribution::sum_f64(buf);
        }
        for ch in 0..c {
            let d = buf[ch] / total;
            mean[ch] = f64::from(self.mean[ch]) + d;
            var[ch] = (buf[c + ch] / total - d * d).max(0.0);
        }
        let m = self.momentum;
        let [mean, var] = &self.acc;
        for ch in 0..c {
            self.inv_std[ch] = 1.0 / (var[ch] as f32 + self.epsilon).sqrt();
            self.mean[ch] = mean[ch] as f32;
            let mm = &mut self.params[mi].value[ch];
            *mm = *mm * m + mean[ch] as f32 * (1.0 - m);
            let mv = &mut self.params[vi].value[ch];
            *mv = *mv * m + var[ch] as f32 * (1.0 - m);
        }
    }
    /// The statistics and the per-channel map `y = a x + b` of a forward pass in `mode`
    /// (the batch's, and the moving statistics moved, when training a trainable layer).
    fn prepare(&mut self, x: &[f32], mode: Mode) {
        let c = self.c;
        self.batch_stats = mode == Mode::Train && self.base.trainable;
        let (mi, vi) = (self.params.len() - 2, self.params.len() - 1);
        if self.batch_stats {
            self.batch_moments(x);
        } else {
            for ch in 0..c {
                self.mean[ch] = self.params[mi].value[ch];
                self.inv_std[ch] = 1.0 / (self.params[vi].value[ch] + self.epsilon).sqrt();
            }
        }
        for ch in 0..c {
            let (g, b) = self.affine(ch);
            let (mean, inv) = (self.mean[ch], self.inv_std[ch]);
            self.a[ch] = g * inv;
            self.b[ch] = b - mean * g * inv;
        }
    }
    /// The feature axis: only the last one (`-1`, or its index) is supported.
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }
    /// Momentum of the moving statistics (default 0.99).
    pub fn momentum(mut self, m: f32) -> Self {
        self.momentum = m;
        self
    }
    /// Added to the variance (default 0.001).
    pub fn epsilon(mut self, e: f32) -> Self {
        self.epsilon = e;
        self
    }
    /// Learn an offset `beta` (default true).
    pub fn center(mut self, c: bool) -> Self {
        self.center = c;
        self
    }
    /// Learn a scale `gamma` (default true).
    pub fn scale(mut self, s: bool) -> Self {
        self.scale = s;
        self
    }
    /// The batch-statistics backward pass after its sums (in `acc`): the affine weights'
    /// gradients, then the input gradient.
    fn batch_backward(&mut self, x: &[f32], dy: &[f32], dx: Option<&mut [f32]>, ctx: Backward) {
        let c = self.c;
        let rows = dy.len() / c.max(1);
        self.add_affine_grads();
        if self.syncs() {
            self.sync_backward_sums();
        }
        if let Some(dx) = dx {
            // dx = gamma inv / m (m dy - sum_dy - xhat sum_dy_xhat), xhat = (x - mean) inv.
            let m = rows.max(1) as f32;
            for ch in 0..c {
                let (g, _) = self.affine(ch);
                let inv = self.inv_std[ch];
                let (sd, sdh) = (self.acc[0][ch] as f32, (self.acc[1][ch] as f32) * inv);
                let a = g * inv;
                self.a[ch] = a;
                self.b[ch] = -a / m * inv * sdh;
                self.k[ch] = -a / m * sd;
            }
            let (mean, a, b, k) = (&self.mean, &self.a, &self.b, &self.k);
            batch_norm::input_grad_into(x, dy, dx, mean, a, b, k, ctx.accumulate);
        }
    }

    /// Adds `sum dy * xhat` to gamma's gradient and `sum dy` to beta's, from the
    /// backward sums in `acc` (`sum dy`, `sum dy * (x - mean)`).
    fn add_affine_grads(&mut self) {
        let mut i = 0;
        if self.scale {
            let (sdx, inv) = (&self.acc[1], &self.inv_std);
            for ((g, s), iv) in self.params[0].grad.iter_mut().zip(sdx).zip(inv) {
                *g += (*s * f64::from(*iv)) as f32;
            }
            i += 1;
        }
        if self.center {
            for (g, s) in self.params[i].grad.iter_mut().zip(self.acc[0].iter()) {
                *g += *s as f32;
            }
        }
    }
    /// `gamma[ch]` (1 without scale) and `beta[ch]` (0 without center).
    fn affine(&self, ch: usize) -> (f32, f32) {
        let mut i = 0;
        let g = if self.scale {
            i += 1;
            self.params[0].value[ch]
        } else {
            1.0
        };
        let b = if self.center {
            self.params[i].value[ch]
        } else {
            0.0
        };
        (g, b)
    }
}
common_builders!(BatchNormalization);
super::weight_options::weight_option_builders!(BatchNormalization:
    "gamma" => gamma_regularizer, gamma_constraint;
    "beta" => beta_regularizer, beta_constraint;
);

impl Layer for BatchNormalization {
    fn class_name(&self) -> &'static str {
        "BatchNormalization"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let rank = input_shape.len() as i64 + 1;
        if self.axis != -1 && self.axis != rank - 1 {
            return Err(Error::arg(
                "axis",
                &name,
                format!(
                    "rkeras normalizes the last axis only (-1 or {}), received {}",
                    rank - 1,
                    self.axis
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.momentum) || self.epsilon.is_nan() || self.epsilon < 0.0 {
            return Err(Error::arg(
                "momentum",
                &name,
                format!(
                    "expected a momentum in [0, 1] and a non-negative epsilon, received {} and {}",
                    self.momentum, self.epsilon
                ),
            ));
        }
        let Some(&c) = input_shape.last().filter(|c| **c > 0) else {
            return Err(super::rank_error(&name, "min_ndim=2", input_shape));
        };
        self.c = c;
        let mut params = Vec::new();
        if self.scale {
            params.push(Param::new("gamma", vec![c], vec![1.0; c]));
        }
        if self.center {
            params.push(Param::new("beta", vec![c], vec![0.0; c]));
        }
        for (n, v) in [("moving_mean", 0.0), ("moving_variance", 1.0)] {
            let mut p = Param::new(n, vec![c], vec![v; c]);
            p.trainable = false;
            params.push(p);
        }
        self.params = params;
        self.inv_std = vec![0.0; c];
        self.acc = [vec![0.0; c], vec![0.0; c]];
        for v in [&mut self.mean, &mut self.a, &mut self.b, &mut self.k] {
            *v = vec![0.0; c];
        }
        self.partials = vec![0.0; batch_norm::partials_len(c)];
        self.sync_buf = vec![0.0; 2 * c + 1];
        self.weights.check(&name, &self.params)?;
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, mode: Mode) {
        self.prepare(x, mode);
        batch_norm::affine(x, y, &self.a, &self.b);
    }
    fn forward_act(&mut self, x: &[f32], y: &mut [f32], _n: usize, mode: Mode, act: Act) -> bool {
        if act == Act::Softmax {
            return false;
        }
        self.prepare(x, mode);
        batch_norm::affine_act(x, y, &self.a, &self.b, act);
        true
    }
    fn backward(
        &mut self,
        x: &[f32],
        _y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
    ) {
        let c = self.c;
        if !self.batch_stats {
            if self.base.trainable {
                // Trainable, but called in inference mode (a nested model called with
                // training=False): gamma and beta still learn, on the moving statistics.
                let [sd, sdx] = &mut self.acc;
                batch_norm::backward_sums(x, dy, &self.mean, c, sd, sdx, &mut self.partials);
                self.add_affine_grads();
            }
            // Frozen or inference statistics: a per-channel affine map.
            if let Some(dx) = dx {
                self.k.fill(0.0);
                batch_norm::affine(dy, dx, &self.a, &self.k);
            }
            return;
        }
        // Per-chunk sums of dy and dy * (x - mean) (a fixed split: the same result on any
        // number of threads), added in chunk order.
        let [sd, sdx] = &mut self.acc;
        batch_norm::backward_sums(x, dy, &self.mean, c, sd, sdx, &mut self.partials);
        self.batch_backward(x, dy, dx, ctx);
    }
    fn backward_act(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
        act: Act,
    ) -> bool {
        if act.backward_needs_input() || act == Act::Softmax {
            return false;
        }
        if !self.batch_stats {
            rkeras_kernels::activation::backward_inplace(act, None, y, dy, self.c);
            self.backward(x, y, dy, dx, ctx);
            return true;
        }
        // The activation's derivative taken inside the sums' pass.
        let [sd, sdx] = &mut self.acc;
        let (mean, partials) = (&self.mean, &mut self.partials);
        batch_norm::backward_sums_act(x, dy, act, y, mean, self.c, sd, sdx, partials);
        self.batch_backward(x, dy, dx, ctx);
        true
    }
    fn accumulates_input_grad(&self, _n: usize) -> bool {
        // The batch-statistics gradient (set by the training forward pass) only.
        self.batch_stats
    }
    fn idle_forward(&mut self) {
        // A replica without rows in a training step: it joins the synchronized statistics
        // (with none of its own) and moves its moving statistics as the others do.
        self.batch_stats = self.base.trainable && self.syncs();
        if self.batch_stats {
            self.batch_moments(&[]);
        }
    }
    fn idle_backward(&mut self) {
        if self.batch_stats && self.syncs() {
            self.acc[0].fill(0.0);
            self.acc[1].fill(0.0);
            self.sync_backward_sums();
        }
    }
    fn inference_affine(&mut self) -> Option<(&[f32], &[f32])> {
        let (mi, vi) = (self.params.len() - 2, self.params.len() - 1);
        for ch in 0..self.c {
            let (g, b) = self.affine(ch);
            let mean = self.params[mi].value[ch];
            let inv = 1.0 / (self.params[vi].value[ch] + self.epsilon).sqrt();
            self.a[ch] = g * inv;
            self.b[ch] = b - mean * g * inv;
        }
        Some((&self.a, &self.b))
    }
    fn params(&self) -> &[Param] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }
    super::weight_option_methods!(weights);
    fn config(&self) -> Map<String, Value> {
        let init = |i: Initializer| i.config();
        self.weights.with_config(super::object(json!({
            "axis": self.axis,
            "momentum": crate::optimizers::py_float(self.momentum),
            "epsilon": crate::optimizers::py_float(self.epsilon),
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": init(Initializer::Zeros),
            "gamma_initializer": init(Initializer::Ones),
            "moving_mean_initializer": init(Initializer::Zeros),
            "moving_variance_initializer": init(Initializer::Ones),
            "beta_regularizer": null,
            "gamma_regularizer": null,
            "beta_constraint": null,
            "gamma_constraint": null,
            "synchronized": self.synchronized,
        })))
    }
}

impl FromConfig for BatchNormalization {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(BatchNormalization::new()
            .axis(g.axis()?)
            .momentum(g.f64_or("momentum", 0.99)? as f32)
            .epsilon(g.f64_or("epsilon", 1e-3)? as f32)
            .center(g.bool_or("center", true)?)
            .scale(g.bool_or("scale", true)?)
            .synchronized(g.bool_or("synchronized", false)?)
            .with_weight_options(g.weight_options(super::weight_options::GAMMA_BETA)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_check_in_training_mode() {
        assert_eq!(
            check_layer(Box::new(BatchNormalization::new()), &[2, 3, 4]),
            vec![2, 3, 4]
        );
        let l = BatchNormalization::new().center(false).scale(false);
        assert_eq!(check_layer(Box::new(l), &[5]), vec![5]);
    }

    /// Two channels, four rows, by hand: batch statistics, output, moving updates.
    #[test]
    fn training_and_inference_match_keras_formulas_by_hand() {
        let mut l = BatchNormalization::new().momentum(0.9).epsilon(0.01);
        l.build(&[2], &mut Rng::new(0)).expect("build");
        l.params[0].value = vec![2.0, 1.0]; // gamma
        l.params[1].value = vec![0.5, 0.0]; // beta
        let x = [1.0, 10.0, 2.0, 10.0, 3.0, 10.0, 6.0, 10.0];
        let mut y = [0.0; 8];
        l.forward(&x, &mut y, 4, Mode::Train);
        // Channel 0: mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5.
        let inv = 1.0 / (3.5f32 + 0.01).sqrt();
        assert!((y[0] - (2.0 * (1.0 - 3.0) * inv + 0.5)).abs() < 1e-6);
        assert!((y[6] - (2.0 * (6.0 - 3.0) * inv + 0.5)).abs() < 1e-6);
        // Channel 1 is constant: normalized to beta.
        assert!(y[1].abs() < 1e-6);
        // moving = 0.9 * moving + 0.1 * batch.
        assert!((l.params[2].value[0] - 0.3).abs() < 1e-6);
        assert!((l.params[2].value[1] - 1.0).abs() < 1e-6);
        assert!((l.params[3].value[0] - (0.9 + 0.35)).abs() < 1e-6);
        assert!((l.params[3].value[1] - 0.9).abs() < 1e-6);
        // Inference uses the moving statistics and changes nothing.
        let before = l.params[2].value.clone();
        l.forward(&x, &mut y, 4, Mode::Infer);
        let inv = 1.0 / (1.25f32 + 0.01).sqrt();
        assert!((y[0] - (2.0 * (1.0 - 0.3) * inv + 0.5)).abs() < 1e-6);
        assert_eq!(l.params[2].value, before);
        // A frozen layer runs in inference mode even while training (Keras 3).
        l.base.trainable = false;
        l.forward(&x, &mut y, 4, Mode::Train);
        assert_eq!(l.params[2].value, before);
        assert!((y[0] - (2.0 * (1.0 - 0.3) * inv + 0.5)).abs() < 1e-6);
    }

    #[test]
    fn synchronized_alone_is_plain_batch_normalization_and_round_trips() {
        // Without a distribution, synchronized changes nothing (gradients checked too).
        let l = BatchNormalization::new().synchronized(true);
        assert_eq!(check_layer(Box::new(l), &[2, 3, 4]), vec![2, 3, 4]);
        let x: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 / 3.0).collect();
        let run = |sync: bool| {
            let mut l = BatchNormalization::new().synchronized(sync);
            l.build(&[3], &mut Rng::new(0)).expect("build");
            l.allocate(8);
            let mut y = vec![0.0; 24];
            l.forward(&x, &mut y, 8, Mode::Train);
            (y, l.params[2].value.clone(), l.params[3].value.clone())
        };
        assert_eq!(run(true), run(false));
        let c = BatchNormalization::new().synchronized(true).config();
        assert_eq!(c["synchronized"], json!(true));
        assert_eq!(
            BatchNormalization::new().config()["synchronized"],
            json!(false)
        );
    }

    #[test]
    fn config_and_bad_arguments() {
        let c = BatchNormalization::new().config();
        assert_eq!(c["momentum"], json!(0.99));
        assert_eq!(c["epsilon"], json!(0.001));
        assert_eq!(c["gamma_initializer"]["class_name"], json!("Ones"));
        let e = BatchNormalization::new()
            .axis(1)
            .build(&[4, 4, 3], &mut Rng::new(0))
            .expect_err("axis");
        assert!(e.to_string().contains("last axis"), "{e}");
    }
}
