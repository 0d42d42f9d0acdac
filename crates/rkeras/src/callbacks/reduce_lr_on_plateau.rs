//! `ReduceLROnPlateau`: lowers the learning rate when a monitored quantity stops improving.

use super::monitor::{missing, Mode, Monitor, Said};
use super::{Callback, Control, Logs, TrainParams};
use crate::error::{Error, Result};
use crate::model::Model;

/// Multiplies the learning rate by `factor` once `monitor` has not improved for `patience`
/// epochs, then waits `cooldown` epochs (Keras `ReduceLROnPlateau`; defaults: `val_loss`,
/// factor 0.1, patience 10, min_delta 1e-4, min_lr 0).
///
/// ```
/// use rkeras::callbacks::ReduceLROnPlateau;
/// let cb = ReduceLROnPlateau::new().monitor("val_loss").factor(0.2).patience(3).min_lr(1e-5);
/// ```
#[derive(Debug)]
pub struct ReduceLROnPlateau {
    monitor: String,
    factor: f64,
    patience: usize,
    verbose: u8,
    mode: Mode,
    min_delta: f64,
    cooldown: usize,
    min_lr: f64,
    op: Option<Monitor>,
    best: Option<f64>,
    wait: usize,
    cooldown_counter: usize,
    said: Said,
}

impl Default for ReduceLROnPlateau {
    fn default() -> Self {
        ReduceLROnPlateau::new()
    }
}

impl ReduceLROnPlateau {
    /// Keras's defaults.
    pub fn new() -> Self {
        ReduceLROnPlateau {
            monitor: "val_loss".into(),
            factor: 0.1,
            patience: 10,
            verbose: 0,
            mode: Mode::Auto,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            op: None,
            best: None,
            wait: 0,
            cooldown_counter: 0,
            said: Said::default(),
        }
    }
    /// The quantity to watch.
    ///
    /// A vector-valued metric (Keras's `F1Score()`, one score per class, or
    /// `Precision(thresholds=[...])`) cannot be monitored: `fit` fails at the end of the
    /// first epoch, naming it (Keras fails too, comparing two epochs' arrays).
    pub fn monitor(mut self, m: &str) -> Self {
        self.monitor = m.into();
        self
    }
    /// New rate = rate * factor (must be below 1).
    pub fn factor(mut self, f: f64) -> Self {
        self.factor = f;
        self
    }
    /// Epochs without improvement before reducing.
    pub fn patience(mut self, p: usize) -> Self {
        self.patience = p;
        self
    }
    /// 1 prints each reduction.
    pub fn verbose(mut self, v: u8) -> Self {
        self.verbose = v;
        self
    }
    /// `"auto"`, `"min"` or `"max"`.
    pub fn mode(mut self, m: &str) -> Self {
        self.mode = Mode::parse(m, "ReduceLROnPlateau");
        self
    }
    /// Smallest change that counts as an improvement.
    pub fn min_delta(mut self, d: f64) -> Self {
        self.min_delta = d;
        self
    }
    /// Epochs to wait after a reduction before counting again.
    pub fn cooldown(mut self, c: usize) -> Self {
        self.cooldown = c;
        self
    }
    /// The rate never goes below this.
    pub fn min_lr(mut self, m: f64) -> Self {
        self.min_lr = m;
        self
    }
    /// The messages and warnings printed so far.
    pub fn messages(&self) -> &[String] {
        &self.said.0
    }
}

impl Callback for ReduceLROnPlateau {
    fn on_train_begin(&mut self, _params: &TrainParams, _model: &mut Model) -> Result<()> {
        if self.factor >= 1.0 || self.factor.is_nan() {
            return Err(Error::arg(
                "factor",
                "",
                format!(
                    "ReduceLROnPlateau does not support a factor >= 1.0. Received factor={}",
                    self.factor
                ),
            ));
        }
        self.op = Some(Monitor::new(
            &self.monitor,
            self.mode,
            self.min_delta,
            "ReduceLROnPlateau",
        )?);
        self.best = None;
        self.wait = 0;
        self.cooldown_counter = 0;
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        model: &mut Model,
    ) -> crate::Result<Control> {
        let Some(op) = self.op else {
            return Ok(Control::Continue);
        };
        if let Some(v) = logs.get_vector(&self.monitor) {
            return Err(super::monitor::vector_monitor(
                "ReduceLROnPlateau",
                &self.monitor,
                v,
            ));
        }
        let Some(current) = logs.get(&self.monitor) else {
            let w = missing(
                "Learning rate reduction is conditioned on metric",
                &self.monitor,
                logs,
            );
            self.said.warn(format!("{w}."));
            return Ok(Control::Continue);
        };
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        if op.improved(current, self.best) {
            self.best = Some(current);
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                if let Some(opt) = model.optimizer_mut() {
                    let old = opt.learning_rate() as f64;
                    if old > self.min_lr as f32 as f64 {
                        let new = (old * self.factor).max(self.min_lr);
                        opt.set_learning_rate(new as f32);
                        if self.verbose > 0 {
                            self.said.say(format!(
                                "\nEpoch {}: ReduceLROnPlateau reducing learning rate to {new}.",
                                epoch + 1
                            ));
                        }
                        self.cooldown_counter = self.cooldown;
                        self.wait = 0;
                    }
                }
            }
        }
        Ok(Control::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn reduces_after_patience_then_cools_down_and_stops_at_min_lr() {
        let mut m = Sequential::new([Dense::new(1).input_shape(1).into()]).expect("model");
        m.compile(SGD::new().learning_rate(0.1), "mse", &[])
            .expect("compile");
        let mut cb = ReduceLROnPlateau::new()
            .patience(1)
            .cooldown(1)
            .factor(0.5)
            .min_lr(0.02);
        let params = TrainParams {
            verbose: 0,
            epochs: 8,
            steps: 1,
        };
        cb.on_train_begin(&params, &mut m).expect("begin");
        let lr = |m: &Model| m.optimizer().map(|o| o.learning_rate()).unwrap_or(0.0);
        let mut seen = Vec::new();
        for (e, v) in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0].iter().enumerate() {
            let mut logs = Logs::new();
            logs.set("val_loss", *v);
            cb.on_epoch_end(e, &logs, &mut m).expect("hook");
            seen.push(lr(&m));
        }
        // Keras: the cooldown counter is decremented before the test, so with cooldown 1 the
        // next epoch already counts again. Epoch 1: 0.05, epoch 2: 0.025, epoch 3: 0.0125
        // clipped to 0.02, then nothing (the rate is at the floor).
        let want = [0.1, 0.05, 0.025, 0.02, 0.02, 0.02, 0.02];
        for (a, b) in seen.iter().zip(want) {
            assert!((a - b).abs() < 1e-7, "{seen:?}");
        }
    }

    #[test]
    fn a_factor_of_one_is_rejected() {
        let mut m = Sequential::new([Dense::new(1).input_shape(1).into()]).expect("model");
        m.compile("sgd", "mse", &[]).expect("compile");
        let mut cb = ReduceLROnPlateau::new().factor(1.0);
        let params = TrainParams {
            verbose: 0,
            epochs: 1,
            steps: 1,
        };
        assert!(cb.on_train_begin(&params, &mut m).is_err());
    }
}
