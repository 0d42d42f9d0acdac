//! Nadam: Adam with Nesterov momentum, Keras's formulation (the momentum schedule
//! `beta_1 * (1 - 0.5 * 0.96^t)`).

use super::{base_config, wrap, Optimizer};
use serde_json::Value;

/// Nadam (Keras defaults: `learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7`).
///
/// ```
/// use rkeras::optimizers::{Nadam, Optimizer};
/// let opt = Nadam::default().learning_rate(0.01);
/// assert_eq!(opt.class_name(), "Nadam");
/// assert_eq!(Optimizer::learning_rate(&opt), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct Nadam {
    lr: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    iterations: u64,
    slots: Vec<Vec<f32>>,
    built: bool,
    opts: super::Options,
    u_product: f64,
}

super::options_builders!(Nadam);
super::hyperparameter_builders!(Nadam: beta_1, beta_2, epsilon);

impl Default for Nadam {
    fn default() -> Self {
        Nadam {
            lr: 0.001,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            iterations: 0,
            slots: Vec::new(),
            built: false,
            opts: super::Options::default(),
            u_product: 1.0,
        }
    }
}

impl Nadam {
    /// Slot variables per weight, in Keras's order.
    const SLOTS: usize = 2;
    fn slot_init(&self, _slot: usize) -> f32 {
        0.0
    }
}

impl Optimizer for Nadam {
    fn class_name(&self) -> &'static str {
        "Nadam"
    }

    super::slot_optimizer_methods!(own_step);
    fn begin_step(&mut self) {
        self.iterations += 1;
        let t = self.iterations as f64;
        self.u_product *= f64::from(self.beta_1) * (1.0 - 0.5 * 0.96f64.powf(t));
    }
    fn set_iterations(&mut self, it: u64) {
        self.iterations = it;
        self.u_product = (1..=it)
            .map(|t| f64::from(self.beta_1) * (1.0 - 0.5 * 0.96f64.powf(t as f64)))
            .product();
    }

    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        // Keras reads the iterations before its increment: our counter is already past it.
        let t = self.iterations as f32;
        let (b1, b2) = (self.beta_1, self.beta_2);
        let u_t = b1 * (1.0 - 0.5 * 0.96f32.powf(t));
        let u_t1 = b1 * (1.0 - 0.5 * 0.96f32.powf(t + 1.0));
        let u_prod = self.u_product as f32;
        let u_prod1 = u_prod * u_t1;
        let b2p = b2.powf(t);
        let (lr, eps) = (self.lr, self.epsilon);
        let (m, v) = super::slot_pair(&mut self.slots, slot);
        for i in 0..value.len() {
            let g = grad[i];
            m[i] += (g - m[i]) * (1.0 - b1);
            v[i] += (g * g - v[i]) * (1.0 - b2);
            let m_hat = u_t1 * m[i] / (1.0 - u_prod1) + (1.0 - u_t) * g / (1.0 - u_prod);
            let v_hat = v[i] / (1.0 - b2p);
            value[i] -= m_hat * lr / (v_hat.sqrt() + eps);
        }
    }
    fn config(&self) -> Value {
        let mut m = base_config("nadam", self.lr, &self.opts);
        m.insert("beta_1".into(), super::py_float(self.beta_1));
        m.insert("beta_2".into(), super::py_float(self.beta_2));
        m.insert("epsilon".into(), super::py_float(self.epsilon));
        wrap("Nadam", m)
    }
}
