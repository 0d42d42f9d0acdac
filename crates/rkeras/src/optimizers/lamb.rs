//! Lamb: Adam's step scaled per weight tensor by the ratio of the weight norm to the step norm (layer-wise adaptation), Keras's formulation.

use super::{base_config, wrap, Optimizer};
use serde_json::Value;

/// Lamb (Keras defaults: `learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7`); slots `momentum`, `velocity`.
///
/// ```
/// use rkeras::optimizers::{Lamb, Optimizer};
/// let opt = Lamb::default().learning_rate(0.01);
/// assert_eq!(opt.class_name(), "Lamb");
/// assert_eq!(Optimizer::learning_rate(&opt), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct Lamb {
    lr: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    iterations: u64,
    slots: Vec<Vec<f32>>,
    built: bool,
    opts: super::Options,
}

super::options_builders!(Lamb);
super::hyperparameter_builders!(Lamb: beta_1, beta_2, epsilon);

impl Default for Lamb {
    fn default() -> Self {
        Lamb {
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

impl Lamb {
    /// Slot variables per weight, in Keras's order.
    const SLOTS: usize = 2;
    fn slot_init(&self, _slot: usize) -> f32 {
        0.0
    }
}

impl Optimizer for Lamb {
    fn class_name(&self) -> &'static str {
        "Lamb"
    }

    super::slot_optimizer_methods!(with_step);

    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let t = self.iterations as f64;
        let (b1, b2, lr, eps) = (self.beta_1, self.beta_2, self.lr, self.epsilon);
        let c1 = (1.0 - f64::from(b1).powf(t)) as f32;
        let c2 = (1.0 - f64::from(b2).powf(t)) as f32;
        let (m, v) = super::slot_pair(&mut self.slots, slot);
        let (mut w2, mut u2) = (0.0f64, 0.0f64);
        for i in 0..value.len() {
            let g = grad[i];
            m[i] += (g - m[i]) * (1.0 - b1);
            v[i] += (g * g - v[i]) * (1.0 - b2);
            let u = (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
            w2 += f64::from(value[i]) * f64::from(value[i]);
            u2 += f64::from(u) * f64::from(u);
        }
        let (w_norm, u_norm) = (w2.sqrt(), u2.sqrt());
        let ratio = if w_norm > 0.0 && u_norm > 0.0 {
            (w_norm / u_norm) as f32
        } else {
            1.0
        };
        for i in 0..value.len() {
            let u = (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
            value[i] -= ratio * lr * u;
        }
    }
    fn config(&self) -> Value {
        let mut m = base_config("lamb", self.lr, &self.opts);
        m.insert("beta_1".into(), super::py_float(self.beta_1));
        m.insert("beta_2".into(), super::py_float(self.beta_2));
        m.insert("epsilon".into(), super::py_float(self.epsilon));
        wrap("Lamb", m)
    }
}
