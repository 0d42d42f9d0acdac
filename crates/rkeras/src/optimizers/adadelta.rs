//! Adadelta: per-weight rates from running averages of squared gradients and updates, Keras's formulation.

use super::{base_config, wrap, Optimizer};
use serde_json::Value;

/// Adadelta (Keras defaults: `learning_rate=0.001, rho=0.95, epsilon=1e-7`); slots `accumulated_grad`, `accumulated_delta_var`.
///
/// ```
/// use rkeras::optimizers::{Adadelta, Optimizer};
/// let opt = Adadelta::default().learning_rate(0.01);
/// assert_eq!(opt.class_name(), "Adadelta");
/// assert_eq!(Optimizer::learning_rate(&opt), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct Adadelta {
    lr: f32,
    rho: f32,
    epsilon: f32,
    iterations: u64,
    slots: Vec<Vec<f32>>,
    built: bool,
    opts: super::Options,
}

super::options_builders!(Adadelta);
super::hyperparameter_builders!(Adadelta: rho, epsilon);

impl Default for Adadelta {
    fn default() -> Self {
        Adadelta {
            lr: 0.001,
            rho: 0.95,
            epsilon: 1e-7,
            iterations: 0,
            slots: Vec::new(),
            built: false,
            opts: super::Options::default(),
        }
    }
}

impl Adadelta {
    /// Slot variables per weight, in Keras's order.
    const SLOTS: usize = 2;
    fn slot_init(&self, _slot: usize) -> f32 {
        0.0
    }
}

impl Optimizer for Adadelta {
    fn class_name(&self) -> &'static str {
        "Adadelta"
    }

    super::slot_optimizer_methods!(with_step);

    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let (rho, eps, lr) = (self.rho, self.epsilon, self.lr);
        let (acc_g, acc_d) = super::slot_pair(&mut self.slots, slot);
        for i in 0..value.len() {
            let g = grad[i];
            acc_g[i] = rho * acc_g[i] + (1.0 - rho) * g * g;
            let delta = -((acc_d[i] + eps).sqrt() * g) / (acc_g[i] + eps).sqrt();
            acc_d[i] = rho * acc_d[i] + (1.0 - rho) * delta * delta;
            value[i] += lr * delta;
        }
    }
    fn config(&self) -> Value {
        let mut m = base_config("adadelta", self.lr, &self.opts);
        m.insert("rho".into(), super::py_float(self.rho));
        m.insert("epsilon".into(), super::py_float(self.epsilon));
        wrap("Adadelta", m)
    }
}
