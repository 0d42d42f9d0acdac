//! Adagrad: per-weight rates from the sum of squared gradients, Keras's formulation.

use super::{base_config, wrap, Optimizer};
use serde_json::Value;

/// Adagrad (Keras defaults: `learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7`).
///
/// ```
/// use rkeras::optimizers::{Adagrad, Optimizer};
/// let opt = Adagrad::default().learning_rate(0.01);
/// assert_eq!(opt.class_name(), "Adagrad");
/// assert_eq!(Optimizer::learning_rate(&opt), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct Adagrad {
    lr: f32,
    initial_accumulator_value: f32,
    epsilon: f32,
    iterations: u64,
    slots: Vec<Vec<f32>>,
    built: bool,
    opts: super::Options,
}

super::options_builders!(Adagrad);
super::hyperparameter_builders!(Adagrad: initial_accumulator_value, epsilon);

impl Default for Adagrad {
    fn default() -> Self {
        Adagrad {
            lr: 0.001,
            initial_accumulator_value: 0.1,
            epsilon: 1e-7,
            iterations: 0,
            slots: Vec::new(),
            built: false,
            opts: super::Options::default(),
        }
    }
}

impl Adagrad {
    /// Slot variables per weight, in Keras's order.
    const SLOTS: usize = 1;
    fn slot_init(&self, _slot: usize) -> f32 {
        self.initial_accumulator_value
    }
}

impl Optimizer for Adagrad {
    fn class_name(&self) -> &'static str {
        "Adagrad"
    }

    super::slot_optimizer_methods!(with_step);

    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let (lr, eps) = (self.lr, self.epsilon);
        let acc = &mut self.slots[slot];
        for i in 0..value.len() {
            let g = grad[i];
            acc[i] += g * g;
            value[i] -= lr * g / (acc[i] + eps).sqrt();
        }
    }
    fn config(&self) -> Value {
        let mut m = base_config("adagrad", self.lr, &self.opts);
        m.insert(
            "initial_accumulator_value".into(),
            super::py_float(self.initial_accumulator_value),
        );
        m.insert("epsilon".into(), super::py_float(self.epsilon));
        wrap("Adagrad", m)
    }
}
