//! RMSprop, Keras's formulation (epsilon inside the square root).

use super::{base_config, wrap, Optimizer};
use serde_json::{json, Value};

/// RMSprop (Keras defaults: `learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
/// centered=False`).
///
/// `v = rho v + (1 - rho) g^2`; `inc = lr g / sqrt(v + eps)` (centered: `v - a^2 + eps` with
/// `a = rho a + (1 - rho) g`); with momentum `m = momentum m + inc; w -= m`, else `w -= inc`.
///
/// ```
/// use rkeras::optimizers::{Optimizer, RMSprop};
/// assert_eq!(Optimizer::learning_rate(&RMSprop::default()), 0.001);
/// ```
#[derive(Clone, Debug)]
pub struct RMSprop {
    lr: f32,
    rho: f32,
    momentum: f32,
    epsilon: f32,
    centered: bool,
    iterations: u64,
    v: Vec<Vec<f32>>,
    m: Vec<Vec<f32>>,
    a: Vec<Vec<f32>>,
    built: bool,
    opts: super::Options,
}

super::options_builders!(RMSprop);

impl Default for RMSprop {
    fn default() -> Self {
        RMSprop {
            lr: 0.001,
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
            iterations: 0,
            v: Vec::new(),
            m: Vec::new(),
            a: Vec::new(),
            built: false,
            opts: super::Options::default(),
        }
    }
}

impl RMSprop {
    /// RMSprop with Keras defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the learning rate.
    pub fn learning_rate(mut self, lr: f32) -> Self {
        self.lr = lr;
        self
    }
    /// Sets `rho`.
    pub fn rho(mut self, r: f32) -> Self {
        self.rho = r;
        self
    }
    /// Sets the momentum.
    pub fn momentum(mut self, m: f32) -> Self {
        self.momentum = m;
        self
    }
    /// Uses the centered variant.
    pub fn centered(mut self, c: bool) -> Self {
        self.centered = c;
        self
    }
    /// Sets epsilon (Keras default 1e-7).
    pub fn epsilon(mut self, e: f32) -> Self {
        self.epsilon = e;
        self
    }
}

impl Optimizer for RMSprop {
    fn options(&self) -> &super::Options {
        &self.opts
    }
    fn options_mut(&mut self) -> &mut super::Options {
        &mut self.opts
    }
    fn class_name(&self) -> &'static str {
        "RMSprop"
    }
    fn build(&mut self, sizes: &[usize]) {
        let z = || sizes.iter().map(|&n| vec![0.0; n]).collect::<Vec<_>>();
        self.v = z();
        if self.momentum > 0.0 {
            self.m = z();
        }
        if self.centered {
            self.a = z();
        }
        self.built = true;
    }
    fn is_built(&self) -> bool {
        self.built
    }
    fn begin_step(&mut self) {
        self.iterations += 1;
    }
    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let (rho, lr, eps) = (self.rho, self.lr, self.epsilon);
        let v = &mut self.v[slot];
        for i in 0..value.len() {
            let g = grad[i];
            v[i] = rho * v[i] + (1.0 - rho) * g * g;
            let denom = if self.centered {
                let a = &mut self.a[slot][i];
                *a = rho * *a + (1.0 - rho) * g;
                v[i] - *a * *a + eps
            } else {
                v[i] + eps
            };
            let inc = lr * g / denom.sqrt();
            if self.momentum > 0.0 {
                let m = &mut self.m[slot][i];
                *m = self.momentum * *m + inc;
                value[i] -= *m;
            } else {
                value[i] -= inc;
            }
        }
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
            .v
            .iter()
            .chain(&self.m)
            .chain(&self.a)
            .map(Vec::len)
            .sum::<usize>()
    }
    fn config(&self) -> Value {
        let mut m = base_config("rmsprop", self.lr, &self.opts);
        m.insert("rho".into(), super::py_float(self.rho));
        m.insert("momentum".into(), super::py_float(self.momentum));
        m.insert("epsilon".into(), super::py_float(self.epsilon));
        m.insert("centered".into(), json!(self.centered));
        wrap("RMSprop", m)
    }
    fn set_iterations(&mut self, it: u64) {
        self.iterations = it;
    }
    fn state(&self) -> Vec<(usize, Vec<f32>)> {
        // Keras: every velocity, then every momentum, then every average gradient.
        let tag = |v: &Vec<Vec<f32>>| v.iter().cloned().enumerate().collect::<Vec<_>>();
        let mut out = tag(&self.v);
        out.extend(tag(&self.m));
        out.extend(tag(&self.a));
        out
    }
    fn set_state(&mut self, state: &[Vec<f32>]) -> std::result::Result<(), String> {
        let mut all: Vec<&mut Vec<f32>> = self
            .v
            .iter_mut()
            .chain(self.m.iter_mut())
            .chain(self.a.iter_mut())
            .collect();
        super::restore(&mut all, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn matches_formula_by_hand() {
        let mut o = RMSprop::default().learning_rate(0.01);
        o.build(&[1]);
        let mut w = [1.0f32];
        o.begin_step();
        o.update(0, &mut w, &[0.5]);
        let v = 0.1 * 0.25f64;
        let want = 1.0 - 0.01 * 0.5 / (v + 1e-7).sqrt();
        assert!((w[0] as f64 - want).abs() < 1e-6);
        o.update(0, &mut w, &[-0.5]);
        let v2 = 0.9 * v + 0.1 * 0.25;
        let want2 = want + 0.01 * 0.5 / (v2 + 1e-7).sqrt();
        assert!((w[0] as f64 - want2).abs() < 1e-6);
    }
}
