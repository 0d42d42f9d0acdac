//! Adam and AdamW, Keras's formulation (epsilon added to the uncorrected `sqrt(v)`).

use super::{base_config, wrap, Optimizer};
use rkeras_kernels::parallel::for_each_chunk_pair_mut;
use serde_json::{json, Value};

const CHUNK: usize = 1 << 14;

/// Adam (Keras defaults: `learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7`).
///
/// Update with `t = iterations + 1`: `m += (g - m)(1 - b1)`, `v += (g^2 - v)(1 - b2)`,
/// `w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`.
///
/// ```
/// use rkeras::optimizers::{Adam, Optimizer};
/// let opt = Adam::default().learning_rate(3e-4);
/// assert_eq!(Optimizer::learning_rate(&opt), 3e-4);
/// ```
#[derive(Clone, Debug)]
pub struct Adam {
    lr: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    amsgrad: bool,
    iterations: u64,
    mv: Vec<Vec<f32>>,
    vhat: Vec<Vec<f32>>,
    built: bool,
    opts: super::Options,
    // per-step constants
    alpha: f32,
}

super::options_builders!(Adam);

impl Default for Adam {
    fn default() -> Self {
        Adam {
            lr: 0.001,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
            iterations: 0,
            mv: Vec::new(),
            vhat: Vec::new(),
            built: false,
            opts: super::Options::default(),
            alpha: 0.0,
        }
    }
}

impl Adam {
    /// Adam with Keras defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the learning rate.
    pub fn learning_rate(mut self, lr: f32) -> Self {
        self.lr = lr;
        self
    }
    /// Sets `beta_1`.
    pub fn beta_1(mut self, b: f32) -> Self {
        self.beta_1 = b;
        self
    }
    /// Sets `beta_2`.
    pub fn beta_2(mut self, b: f32) -> Self {
        self.beta_2 = b;
        self
    }
    /// Sets `epsilon`.
    pub fn epsilon(mut self, e: f32) -> Self {
        self.epsilon = e;
        self
    }
    /// Uses the AMSGrad variant.
    pub fn amsgrad(mut self, a: bool) -> Self {
        self.amsgrad = a;
        self
    }

    fn config_map(&self, name: &str) -> serde_json::Map<String, Value> {
        let mut m = base_config(name, self.lr, &self.opts);
        m.insert("beta_1".into(), super::py_float(self.beta_1));
        m.insert("beta_2".into(), super::py_float(self.beta_2));
        m.insert("epsilon".into(), super::py_float(self.epsilon));
        m.insert("amsgrad".into(), json!(self.amsgrad));
        m
    }
}

impl Optimizer for Adam {
    fn options(&self) -> &super::Options {
        &self.opts
    }
    fn options_mut(&mut self) -> &mut super::Options {
        &mut self.opts
    }
    fn class_name(&self) -> &'static str {
        "Adam"
    }
    fn build(&mut self, sizes: &[usize]) {
        self.mv = sizes.iter().map(|&n| vec![0.0; 2 * n]).collect();
        if self.amsgrad {
            self.vhat = sizes.iter().map(|&n| vec![0.0; n]).collect();
        }
        self.built = true;
    }
    fn is_built(&self) -> bool {
        self.built
    }
    fn begin_step(&mut self) {
        let t = (self.iterations + 1) as f32;
        let b1p = self.beta_1.powf(t);
        let b2p = self.beta_2.powf(t);
        self.alpha = self.lr * (1.0 - b2p).sqrt() / (1.0 - b1p);
        self.iterations += 1;
    }
    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let (b1, b2, eps, alpha) = (
            1.0 - self.beta_1,
            1.0 - self.beta_2,
            self.epsilon,
            self.alpha,
        );
        let mv = &mut self.mv[slot][..];
        if self.amsgrad {
            let vh = &mut self.vhat[slot];
            for i in 0..value.len() {
                let g = grad[i];
                mv[2 * i] += (g - mv[2 * i]) * b1;
                mv[2 * i + 1] += (g * g - mv[2 * i + 1]) * b2;
                vh[i] = vh[i].max(mv[2 * i + 1]);
                value[i] -= alpha * mv[2 * i] / (vh[i].sqrt() + eps);
            }
            return;
        }
        // Element-parallel in fixed chunks: bitwise identical for any thread count. The
        // moments are interleaved (m, v) so one chunk of weights pairs with one chunk of them.
        for_each_chunk_pair_mut(value, CHUNK, mv, 2 * CHUNK, |ci, w, mv| {
            let g = &grad[ci * CHUNK..ci * CHUNK + w.len()];
            update_chunk(w, g, mv, b1, b2, alpha, eps);
        });
    }
    fn learning_rate(&self) -> f32 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn iterations(&self) -> u64 {
        self.iterations
    }
    fn variable_count(&self) -> usize {
        2 + self
            .mv
            .iter()
            .chain(&self.vhat)
            .map(Vec::len)
            .sum::<usize>()
    }
    fn config(&self) -> Value {
        wrap("Adam", self.config_map("adam"))
    }
    fn set_iterations(&mut self, it: u64) {
        self.iterations = it;
    }
    fn state(&self) -> Vec<(usize, Vec<f32>)> {
        // Keras: momentum and velocity per weight, interleaved; then every velocity_hat.
        let mut out = Vec::new();
        for (i, mv) in self.mv.iter().enumerate() {
            out.push((i, mv.iter().step_by(2).copied().collect()));
            out.push((i, mv.iter().skip(1).step_by(2).copied().collect()));
        }
        out.extend(self.vhat.iter().cloned().enumerate());
        out
    }
    fn set_state(&mut self, state: &[Vec<f32>]) -> std::result::Result<(), String> {
        let want = 2 * self.mv.len() + self.vhat.len();
        if state.len() != want {
            return Err(format!(
                "Adam has {want} slot variables for these weights, the file {}",
                state.len()
            ));
        }
        for (i, mv) in self.mv.iter_mut().enumerate() {
            let (m, v) = (&state[2 * i], &state[2 * i + 1]);
            if 2 * m.len() != mv.len() || m.len() != v.len() {
                return Err(format!(
                    "Adam slot {i} holds {} values, the file {}",
                    mv.len() / 2,
                    m.len()
                ));
            }
            for (k, pair) in mv.chunks_exact_mut(2).enumerate() {
                pair[0] = m[k];
                pair[1] = v[k];
            }
        }
        let base = 2 * self.mv.len();
        let mut vh: Vec<&mut Vec<f32>> = self.vhat.iter_mut().collect();
        super::restore(&mut vh, &state[base..])
    }
}

/// AdamW: Adam with decoupled weight decay (Keras defaults: `learning_rate=0.001,
/// weight_decay=0.004`); each step first does `w -= w * weight_decay * lr`.
///
/// ```
/// use rkeras::optimizers::{AdamW, Optimizer};
/// assert_eq!(AdamW::default().class_name(), "AdamW");
/// ```
#[derive(Clone, Debug)]
pub struct AdamW(Adam);

super::options_builders!(AdamW);

impl Default for AdamW {
    fn default() -> Self {
        let mut a = Adam::default();
        a.opts.weight_decay = Some(0.004);
        AdamW(a)
    }
}

impl AdamW {
    /// AdamW with Keras defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the learning rate.
    pub fn learning_rate(self, lr: f32) -> Self {
        AdamW(self.0.learning_rate(lr))
    }
    /// The Adam inside (its weight decay set).
    pub(crate) fn into_adam(self) -> Adam {
        self.0
    }
    /// AdamW from an Adam with weight decay.
    pub(crate) fn from_adam(a: Adam) -> Self {
        AdamW(a)
    }
}

impl Optimizer for AdamW {
    fn options(&self) -> &super::Options {
        &self.0.opts
    }
    fn options_mut(&mut self) -> &mut super::Options {
        &mut self.0.opts
    }
    fn class_name(&self) -> &'static str {
        "AdamW"
    }
    fn build(&mut self, sizes: &[usize]) {
        self.0.build(sizes)
    }
    fn is_built(&self) -> bool {
        self.0.is_built()
    }
    fn begin_step(&mut self) {
        self.0.begin_step()
    }
    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        self.0.update(slot, value, grad)
    }
    fn learning_rate(&self) -> f32 {
        self.0.lr
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.0.lr = lr
    }
    fn iterations(&self) -> u64 {
        self.0.iterations
    }
    fn variable_count(&self) -> usize {
        self.0.variable_count()
    }
    fn config(&self) -> Value {
        wrap("AdamW", self.0.config_map("adamw"))
    }
    fn set_iterations(&mut self, it: u64) {
        self.0.set_iterations(it)
    }
    fn state(&self) -> Vec<(usize, Vec<f32>)> {
        self.0.state()
    }
    fn set_state(&mut self, state: &[Vec<f32>]) -> std::result::Result<(), String> {
        self.0.set_state(state)
    }
}

rkeras_kernels::simd_fn! {
    /// One chunk of [`Adam::update`] (compiled for the CPU's widest vectors: the square
    /// root and the division are most of its time on a ResNet's 23M weights).
    fn update_chunk(w: &mut [f32], g: &[f32], mv: &mut [f32], b1: f32, b2: f32, alpha: f32, eps: f32) {
        for ((wi, gi), s) in w.iter_mut().zip(g).zip(mv.chunks_exact_mut(2)) {
            s[0] += (gi - s[0]) * b1;
            s[1] += (gi * gi - s[1]) * b2;
            *wi -= alpha * s[0] / (s[1].sqrt() + eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_writes_hyperparameters_as_keras_python_floats() {
        let c = Adam::default().config()["config"].clone();
        assert_eq!(c["beta_1"], serde_json::json!(0.9));
        assert_eq!(c["beta_2"], serde_json::json!(0.999));
        assert_eq!(c["epsilon"], serde_json::json!(1e-7));
        // The learning rate is a float32 variable in Keras, written widened.
        assert_eq!(c["learning_rate"], serde_json::json!(0.001f32 as f64));
    }

    /// Two Adam steps computed by hand with Keras's formula (f64), compared to ours.
    #[test]
    fn adam_matches_keras_formula_by_hand() {
        let mut opt = Adam::default();
        opt.build(&[2]);
        let mut w = [0.5f32, -1.0];
        let grads = [[0.1f32, -0.2], [0.3, 0.05]];
        let (mut m, mut v, mut wr) = ([0.0f64; 2], [0.0f64; 2], [0.5f64, -1.0]);
        for (t, g) in grads.iter().enumerate() {
            opt.begin_step();
            opt.update(0, &mut w, g);
            let t = (t + 1) as f64;
            let alpha = 0.001 * (1.0 - 0.999f64.powf(t)).sqrt() / (1.0 - 0.9f64.powf(t));
            for i in 0..2 {
                m[i] += (g[i] as f64 - m[i]) * 0.1;
                v[i] += ((g[i] as f64).powi(2) - v[i]) * 0.001;
                wr[i] -= alpha * m[i] / (v[i].sqrt() + 1e-7);
            }
        }
        for i in 0..2 {
            assert!((w[i] as f64 - wr[i]).abs() < 1e-6, "{} vs {}", w[i], wr[i]);
        }
        // First Adam step moves each weight by ~lr against the gradient sign.
        assert_eq!(opt.iterations(), 2);
        assert_eq!(opt.variable_count(), 2 + 4);
    }

    #[test]
    fn adamw_carries_keras_default_weight_decay() {
        // The training step applies the decay (Keras's base optimizer), for every optimizer;
        // AdamW only differs by its default.
        let opt = AdamW::default();
        assert_eq!(opt.options().weight_decay, Some(0.004));
        assert_eq!(opt.config()["config"]["weight_decay"], json!(0.004));
        assert_eq!(Adam::default().options().weight_decay, None);
        let opt = AdamW::default().weight_decay(0.1);
        assert_eq!(opt.config()["config"]["weight_decay"], json!(0.1));
    }
}
