//! Adamax: Adam with the infinity norm, Keras's formulation.

use super::{base_config, wrap, Optimizer};
use serde_json::Value;

/// Adamax (Keras defaults: `learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7`).
///
/// ```
/// use rkeras::optimizers::{Adamax, Optimizer};
/// let opt = Adamax::default().learning_rate(0.01);
/// assert_eq!(opt.class_name(), "Adamax");
/// assert_eq!(Optimizer::learning_rate(&opt), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct Adamax {
    lr: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    iterations: u64,
    slots: Vec<Vec<f32>>,
    built: bool,
    opts: super::Options,
}

super::options_builders!(Adamax);
super::hyperparameter_builders!(Adamax: beta_1, beta_2, epsilon);

impl Default for Adamax {
    fn default() -> Self {
        Adamax {
            lr: 0.001,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            iterations: 0,
            slots: Vec::new(),
            built: false,
            opts: super::Options::default(),
        }
    }
}

impl Adamax {
    /// Slot variables per weight, in Keras's order.
    const SLOTS: usize = 2;
    fn slot_init(&self, _slot: usize) -> f32 {
        0.0
    }
}

impl Optimizer for Adamax {
    fn class_name(&self) -> &'static str {
        "Adamax"
    }

    super::slot_optimizer_methods!(with_step);

    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let t = self.iterations as f32;
        let (b1, b2, lr, eps) = (self.beta_1, self.beta_2, self.lr, self.epsilon);
        let b1p = b1.powf(t);
        let (m, u) = super::slot_pair(&mut self.slots, slot);
        for i in 0..value.len() {
            let g = grad[i];
            m[i] += (g - m[i]) * (1.0 - b1);
            u[i] = (b2 * u[i]).max(g.abs());
            value[i] -= lr * m[i] / ((1.0 - b1p) * (u[i] + eps));
        }
    }
    fn config(&self) -> Value {
        let mut m = base_config("adamax", self.lr, &self.opts);
        m.insert("beta_1".into(), super::py_float(self.beta_1));
        m.insert("beta_2".into(), super::py_float(self.beta_2));
        m.insert("epsilon".into(), super::py_float(self.epsilon));
        wrap("Adamax", m)
    }
}
