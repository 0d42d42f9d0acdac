//! Stochastic gradient descent with optional (Nesterov) momentum, Keras's formulation.

use super::{base_config, wrap, Optimizer};
use serde_json::{json, Value};

/// SGD (Keras defaults: `learning_rate=0.01, momentum=0.0, nesterov=False`).
///
/// Without momentum `w -= lr * g`; with momentum `m = momentum * m - lr * g`, then
/// `w += m` (or `w += momentum * m - lr * g` with Nesterov).
///
/// ```
/// use rkeras::optimizers::{Optimizer, SGD};
/// let opt = SGD::default().momentum(0.9).nesterov(true);
/// assert_eq!(Optimizer::learning_rate(&opt), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct SGD {
    lr: f32,
    momentum: f32,
    nesterov: bool,
    iterations: u64,
    m: Vec<Vec<f32>>,
    built: bool,
    opts: super::Options,
}

super::options_builders!(SGD);

impl Default for SGD {
    fn default() -> Self {
        SGD {
            lr: 0.01,
            momentum: 0.0,
            nesterov: false,
            iterations: 0,
            m: Vec::new(),
            built: false,
            opts: super::Options::default(),
        }
    }
}

impl SGD {
    /// SGD with Keras defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the learning rate.
    pub fn learning_rate(mut self, lr: f32) -> Self {
        self.lr = lr;
        self
    }
    /// Sets the momentum (0 disables it).
    pub fn momentum(mut self, m: f32) -> Self {
        self.momentum = m;
        self
    }
    /// Uses Nesterov momentum.
    pub fn nesterov(mut self, n: bool) -> Self {
        self.nesterov = n;
        self
    }
}

impl Optimizer for SGD {
    fn options(&self) -> &super::Options {
        &self.opts
    }
    fn options_mut(&mut self) -> &mut super::Options {
        &mut self.opts
    }
    fn class_name(&self) -> &'static str {
        "SGD"
    }
    fn build(&mut self, sizes: &[usize]) {
        if self.momentum != 0.0 {
            self.m = sizes.iter().map(|&n| vec![0.0; n]).collect();
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
        let lr = self.lr;
        if self.momentum == 0.0 {
            value.iter_mut().zip(grad).for_each(|(w, g)| *w -= lr * g);
            return;
        }
        let mu = self.momentum;
        let m = &mut self.m[slot];
        for i in 0..value.len() {
            m[i] = mu * m[i] - lr * grad[i];
            if self.nesterov {
                value[i] += mu * m[i] - lr * grad[i];
            } else {
                value[i] += m[i];
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
        2 + self.m.iter().map(Vec::len).sum::<usize>()
    }
    fn config(&self) -> Value {
        let mut m = base_config("SGD", self.lr, &self.opts);
        m.insert("momentum".into(), super::py_float(self.momentum));
        m.insert("nesterov".into(), json!(self.nesterov));
        wrap("SGD", m)
    }
    fn set_iterations(&mut self, it: u64) {
        self.iterations = it;
    }
    fn state(&self) -> Vec<(usize, Vec<f32>)> {
        self.m.iter().cloned().enumerate().collect()
    }
    fn set_state(&mut self, state: &[Vec<f32>]) -> std::result::Result<(), String> {
        let mut m: Vec<&mut Vec<f32>> = self.m.iter_mut().collect();
        super::restore(&mut m, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn plain_momentum_and_nesterov_by_hand() {
        let mut o = SGD::default().learning_rate(0.1);
        o.build(&[1]);
        let mut w = [1.0f32];
        o.begin_step();
        o.update(0, &mut w, &[2.0]);
        assert!((w[0] - 0.8).abs() < 1e-7);

        let mut o = SGD::default().learning_rate(0.1).momentum(0.9);
        o.build(&[1]);
        let mut w = [1.0f32];
        o.update(0, &mut w, &[1.0]); // m = -0.1, w = 0.9
        o.update(0, &mut w, &[1.0]); // m = -0.09 - 0.1 = -0.19, w = 0.71
        assert!((w[0] - 0.71).abs() < 1e-6);

        let mut o = SGD::default()
            .learning_rate(0.1)
            .momentum(0.9)
            .nesterov(true);
        o.build(&[1]);
        let mut w = [1.0f32];
        o.update(0, &mut w, &[1.0]); // m = -0.1; w += 0.9*-0.1 - 0.1 = -0.19 -> 0.81
        assert!((w[0] - 0.81).abs() < 1e-6);
    }
}
