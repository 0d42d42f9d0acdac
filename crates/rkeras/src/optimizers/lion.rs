//! Lion: the sign of an interpolated momentum, Keras's formulation.

use super::{base_config, wrap, Optimizer};
use serde_json::Value;

/// Lion (Keras defaults: `learning_rate=0.001, beta_1=0.9, beta_2=0.99`).
///
/// ```
/// use rkeras::optimizers::{Lion, Optimizer};
/// let opt = Lion::default().learning_rate(0.01);
/// assert_eq!(opt.class_name(), "Lion");
/// assert_eq!(Optimizer::learning_rate(&opt), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct Lion {
    lr: f32,
    beta_1: f32,
    beta_2: f32,
    iterations: u64,
    slots: Vec<Vec<f32>>,
    built: bool,
    opts: super::Options,
}

super::options_builders!(Lion);
super::hyperparameter_builders!(Lion: beta_1, beta_2);

impl Default for Lion {
    fn default() -> Self {
        Lion {
            lr: 0.001,
            beta_1: 0.9,
            beta_2: 0.99,
            iterations: 0,
            slots: Vec::new(),
            built: false,
            opts: super::Options::default(),
        }
    }
}

impl Lion {
    /// Slot variables per weight, in Keras's order.
    const SLOTS: usize = 1;
    fn slot_init(&self, _slot: usize) -> f32 {
        0.0
    }
}

impl Optimizer for Lion {
    fn class_name(&self) -> &'static str {
        "Lion"
    }

    super::slot_optimizer_methods!(with_step);

    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let (b1, b2, lr) = (self.beta_1, self.beta_2, self.lr);
        let m = &mut self.slots[slot];
        for i in 0..value.len() {
            let g = grad[i];
            let c = m[i] * b1 + g * (1.0 - b1);
            value[i] -= lr
                * if c > 0.0 {
                    1.0
                } else if c < 0.0 {
                    -1.0
                } else {
                    0.0
                };
            m[i] = m[i] * b2 + g * (1.0 - b2);
        }
    }
    fn config(&self) -> Value {
        let mut m = base_config("lion", self.lr, &self.opts);
        m.insert("beta_1".into(), super::py_float(self.beta_1));
        m.insert("beta_2".into(), super::py_float(self.beta_2));
        wrap("Lion", m)
    }
}
