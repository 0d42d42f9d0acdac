//! FTRL-Proximal ("follow the regularized leader"), Keras's formulation.

use super::{base_config, wrap, Optimizer};
use serde_json::Value;

/// Ftrl (Keras defaults: `learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1`, no regularization, `beta=0`); slots `accumulator`, `linear`.
///
/// ```
/// use rkeras::optimizers::{Ftrl, Optimizer};
/// let opt = Ftrl::default().learning_rate(0.01);
/// assert_eq!(opt.class_name(), "Ftrl");
/// assert_eq!(Optimizer::learning_rate(&opt), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct Ftrl {
    lr: f32,
    learning_rate_power: f32,
    initial_accumulator_value: f32,
    l1_regularization_strength: f32,
    l2_regularization_strength: f32,
    l2_shrinkage_regularization_strength: f32,
    beta: f32,
    iterations: u64,
    slots: Vec<Vec<f32>>,
    built: bool,
    opts: super::Options,
}

super::options_builders!(Ftrl);
super::hyperparameter_builders!(Ftrl: learning_rate_power, initial_accumulator_value, l1_regularization_strength, l2_regularization_strength, l2_shrinkage_regularization_strength, beta);

impl Default for Ftrl {
    fn default() -> Self {
        Ftrl {
            lr: 0.001,
            learning_rate_power: -0.5,
            initial_accumulator_value: 0.1,
            l1_regularization_strength: 0.0,
            l2_regularization_strength: 0.0,
            l2_shrinkage_regularization_strength: 0.0,
            beta: 0.0,
            iterations: 0,
            slots: Vec::new(),
            built: false,
            opts: super::Options::default(),
        }
    }
}

impl Ftrl {
    /// Slot variables per weight, in Keras's order.
    const SLOTS: usize = 2;
    fn slot_init(&self, slot: usize) -> f32 {
        if slot == 0 {
            self.initial_accumulator_value
        } else {
            0.0
        }
    }
}

impl Optimizer for Ftrl {
    fn class_name(&self) -> &'static str {
        "Ftrl"
    }

    super::slot_optimizer_methods!(with_step);

    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let lr = self.lr;
        let p = -self.learning_rate_power;
        let l1 = self.l1_regularization_strength;
        let l2 = self.l2_regularization_strength + self.beta / (2.0 * lr);
        let shrink = self.l2_shrinkage_regularization_strength;
        let (acc, lin) = super::slot_pair(&mut self.slots, slot);
        for i in 0..value.len() {
            let g = grad[i];
            let w = value[i];
            let g_use = g + 2.0 * shrink * w;
            let new_acc = acc[i] + g * g;
            lin[i] += g_use - (new_acc.powf(p) - acc[i].powf(p)) / lr * w;
            let quadratic = new_acc.powf(p) / lr + 2.0 * l2;
            let clipped = lin[i].clamp(-l1, l1);
            value[i] = (clipped - lin[i]) / quadratic;
            acc[i] = new_acc;
        }
    }
    fn config(&self) -> Value {
        let mut m = base_config("ftrl", self.lr, &self.opts);
        m.insert(
            "learning_rate_power".into(),
            super::py_float(self.learning_rate_power),
        );
        m.insert(
            "initial_accumulator_value".into(),
            super::py_float(self.initial_accumulator_value),
        );
        m.insert(
            "l1_regularization_strength".into(),
            super::py_float(self.l1_regularization_strength),
        );
        m.insert(
            "l2_regularization_strength".into(),
            super::py_float(self.l2_regularization_strength),
        );
        m.insert(
            "l2_shrinkage_regularization_strength".into(),
            super::py_float(self.l2_shrinkage_regularization_strength),
        );
        m.insert("beta".into(), super::py_float(self.beta));
        wrap("Ftrl", m)
    }
}
