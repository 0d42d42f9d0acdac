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
    /// Lion with Keras defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the learning rate.
    pub fn learning_rate(mut self, lr: f32) -> Self {
        self.lr = lr;
        self
    }
    /// Sets `beta_1` (Keras's argument of that name).
    pub fn beta_1(mut self, v: f32) -> Self {
        self.beta_1 = v;
        self
    }
    /// Sets `beta_2` (Keras's argument of that name).
    pub fn beta_2(mut self, v: f32) -> Self {
        self.beta_2 = v;
        self
    }

    fn slot_init(&self) -> f32 {
        0.0
    }
}

impl Optimizer for Lion {
    fn class_name(&self) -> &'static str {
        "Lion"
    }

    fn options(&self) -> &super::Options {
        &self.opts
    }
    fn options_mut(&mut self) -> &mut super::Options {
        &mut self.opts
    }
    fn is_built(&self) -> bool {
        self.built
    }
    fn begin_step(&mut self) {
        self.iterations += 1;
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
    fn set_iterations(&mut self, it: u64) {
        self.iterations = it;
    }
    fn variable_count(&self) -> usize {
        2 + self.slots.iter().map(Vec::len).sum::<usize>()
    }
    fn state(&self) -> Vec<(usize, Vec<f32>)> {
        let k = Self::SLOTS;
        self.slots
            .iter()
            .enumerate()
            .map(|(i, v)| (i / k, v.clone()))
            .collect()
    }
    fn set_state(&mut self, state: &[Vec<f32>]) -> std::result::Result<(), String> {
        let mut s: Vec<&mut Vec<f32>> = self.slots.iter_mut().collect();
        super::restore(&mut s, state)
    }
    fn build(&mut self, sizes: &[usize]) {
        let init = self.slot_init();
        self.slots = sizes
            .iter()
            .flat_map(|&n| (0..Self::SLOTS).map(move |_| vec![init; n]))
            .collect();
        self.built = true;
    }

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
        let mut m = base_config("lion", self.lr, None, &self.opts);
        m.insert("beta_1".into(), super::py_float(self.beta_1));
        m.insert("beta_2".into(), super::py_float(self.beta_2));
        wrap("Lion", m)
    }
}
