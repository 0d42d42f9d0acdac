//! `EarlyStopping`: stops training when a monitored quantity stops improving, with Keras 3's
//! semantics (patience, min_delta, baseline, start_from_epoch, restoring the best weights
//! even when training ran to its last epoch).

use super::monitor::{missing, Mode, Monitor, Said};
use super::{Callback, Control, Logs, TrainParams};
use crate::error::Result;
use crate::model::Model;
use crate::tensor::Tensor;

/// Stops training once `monitor` has not improved for `patience` epochs (Keras
/// `EarlyStopping`).
///
/// ```
/// use rkeras::callbacks::EarlyStopping;
/// use rkeras::prelude::*;
/// let mut model = Sequential::new([Dense::new(2).activation("softmax").input_shape(3).into()])?;
/// model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
/// let x = Tensor::zeros(vec![8, 3]);
/// let y = Tensor::zeros(vec![8]);
/// let mut stop = EarlyStopping::new().monitor("loss").patience(2).restore_best_weights(true);
/// model.fit(&x, &y).epochs(20).verbose(0).callback(&mut stop).run()?;
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Debug)]
pub struct EarlyStopping {
    monitor: String,
    min_delta: f64,
    patience: usize,
    verbose: u8,
    mode: Mode,
    baseline: Option<f64>,
    restore_best_weights: bool,
    start_from_epoch: usize,
    op: Option<Monitor>,
    wait: usize,
    best: Option<f64>,
    best_epoch: usize,
    best_weights: Option<Vec<Tensor>>,
    stopped_epoch: usize,
    said: Said,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping::new()
    }
}

impl EarlyStopping {
    /// Keras's defaults: monitor `val_loss`, patience 0, min_delta 0, mode auto.
    pub fn new() -> Self {
        EarlyStopping {
            monitor: "val_loss".into(),
            min_delta: 0.0,
            patience: 0,
            verbose: 0,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            op: None,
            wait: 0,
            best: None,
            best_epoch: 0,
            best_weights: None,
            stopped_epoch: 0,
            said: Said::default(),
        }
    }
    /// The quantity to watch (`val_loss`, `val_accuracy`, `loss`, ...).
    ///
    /// A vector-valued metric (Keras's `F1Score()`, one score per class, or
    /// `Precision(thresholds=[...])`) cannot be monitored: `fit` fails at the end of the
    /// first epoch, naming it (Keras fails too, comparing two epochs' arrays).
    pub fn monitor(mut self, m: &str) -> Self {
        self.monitor = m.into();
        self
    }
    /// Smallest change that counts as an improvement (its absolute value is used).
    pub fn min_delta(mut self, d: f64) -> Self {
        self.min_delta = d;
        self
    }
    /// Epochs without improvement before stopping.
    pub fn patience(mut self, p: usize) -> Self {
        self.patience = p;
        self
    }
    /// 1 prints "Epoch N: early stopping" and the restore message.
    pub fn verbose(mut self, v: u8) -> Self {
        self.verbose = v;
        self
    }
    /// `"auto"`, `"min"` or `"max"` (unknown: a warning and auto).
    pub fn mode(mut self, m: &str) -> Self {
        self.mode = Mode::parse(m, "EarlyStopping");
        self
    }
    /// Training stops unless the quantity beats this value within `patience` epochs.
    pub fn baseline(mut self, b: f64) -> Self {
        self.baseline = Some(b);
        self
    }
    /// Put back the weights of the best epoch when training ends (stopped early or not).
    pub fn restore_best_weights(mut self, r: bool) -> Self {
        self.restore_best_weights = r;
        self
    }
    /// Epochs to wait before watching at all (warm-up).
    pub fn start_from_epoch(mut self, e: usize) -> Self {
        self.start_from_epoch = e;
        self
    }
    /// The epoch (0-based) training stopped at, 0 if it did not stop early.
    pub fn stopped_epoch(&self) -> usize {
        self.stopped_epoch
    }
    /// The best epoch seen (0-based).
    pub fn best_epoch(&self) -> usize {
        self.best_epoch
    }
    /// The best monitored value seen.
    pub fn best(&self) -> Option<f64> {
        self.best
    }
    /// The messages and warnings printed so far.
    pub fn messages(&self) -> &[String] {
        &self.said.0
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, _params: &TrainParams, _model: &mut Model) -> Result<()> {
        self.op = Some(Monitor::new(
            &self.monitor,
            self.mode,
            self.min_delta,
            "EarlyStopping",
        )?);
        self.wait = 0;
        self.stopped_epoch = 0;
        self.best = None;
        self.best_weights = None;
        self.best_epoch = 0;
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
                "EarlyStopping",
                &self.monitor,
                v,
            ));
        }
        let Some(current) = logs.get(&self.monitor) else {
            let w = missing("Early stopping conditioned on metric", &self.monitor, logs);
            self.said.warn(w);
            return Ok(Control::Continue);
        };
        if epoch < self.start_from_epoch {
            return Ok(Control::Continue);
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(model.get_weights());
            self.best_epoch = epoch;
        }
        self.wait += 1;
        if op.improved(current, self.best) {
            self.best = Some(current);
            self.best_epoch = epoch;
            if self.restore_best_weights {
                self.best_weights = Some(model.get_weights());
            }
            if self.baseline.is_none() || op.improved(current, self.baseline) {
                self.wait = 0;
            }
            return Ok(Control::Continue);
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = epoch;
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, _logs: &Logs, model: &mut Model) {
        if self.stopped_epoch > 0 && self.verbose > 0 {
            self.said
                .say(format!("Epoch {}: early stopping", self.stopped_epoch + 1));
        }
        if self.restore_best_weights {
            if let Some(w) = self.best_weights.take() {
                if self.verbose > 0 {
                    self.said.say(format!(
                        "Restoring model weights from the end of the best epoch: {}.",
                        self.best_epoch + 1
                    ));
                }
                if let Err(e) = model.set_weights(&w) {
                    self.said
                        .warn(format!("could not restore the best weights: {e}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    fn model() -> Model {
        let mut m = Sequential::new([Dense::new(2).input_shape(2).into()]).expect("model");
        m.compile("sgd", "mse", &[]).expect("compile");
        m
    }

    /// Feeds `values` of `monitor` epoch by epoch; returns the epoch it stopped at.
    fn run(cb: &mut EarlyStopping, monitor: &str, values: &[f64]) -> Option<usize> {
        let mut m = model();
        let params = TrainParams {
            verbose: 0,
            epochs: values.len(),
            steps: 1,
        };
        cb.on_train_begin(&params, &mut m).expect("begin");
        let mut stopped = None;
        for (e, v) in values.iter().enumerate() {
            // Mark the weights with the epoch, to see which are restored.
            let w: Vec<Tensor> = m
                .get_weights()
                .iter()
                .map(|t| Tensor::new(t.shape().to_vec(), vec![e as f32; t.len()]).expect("t"))
                .collect();
            m.set_weights(&w).expect("set");
            let mut logs = Logs::new();
            logs.set(monitor, *v);
            if cb.on_epoch_end(e, &logs, &mut m).expect("hook") == Control::Stop {
                stopped = Some(e);
                break;
            }
        }
        cb.on_train_end(&Logs::new(), &mut m);
        stopped
    }

    #[test]
    fn patience_counts_epochs_without_improvement() {
        let mut cb = EarlyStopping::new().patience(2).verbose(1);
        assert_eq!(
            run(&mut cb, "val_loss", &[1.0, 0.9, 0.95, 0.93, 0.8]),
            Some(3)
        );
        assert_eq!(cb.messages(), ["Epoch 4: early stopping"]);
        // patience 0 stops at the first epoch that does not improve.
        let mut cb = EarlyStopping::new();
        assert_eq!(run(&mut cb, "val_loss", &[1.0, 1.0, 0.5]), Some(1));
    }

    #[test]
    fn min_delta_and_max_mode() {
        let mut cb = EarlyStopping::new()
            .monitor("val_accuracy")
            .min_delta(0.05)
            .patience(1);
        // 0.52 and 0.54 are within min_delta of 0.5: no improvement.
        assert_eq!(
            run(&mut cb, "val_accuracy", &[0.5, 0.52, 0.54, 0.9]),
            Some(1)
        );
        let mut cb = EarlyStopping::new().monitor("val_accuracy").patience(1);
        assert_eq!(run(&mut cb, "val_accuracy", &[0.5, 0.52, 0.54, 0.9]), None);
    }

    #[test]
    fn baseline_must_be_beaten_within_patience() {
        let mut cb = EarlyStopping::new().baseline(0.5).patience(2);
        // Improves every epoch but never below 0.5: wait keeps growing.
        assert_eq!(
            run(&mut cb, "val_loss", &[0.9, 0.8, 0.7, 0.6]),
            None,
            "improving epochs never stop"
        );
        let mut cb = EarlyStopping::new().baseline(0.5).patience(2);
        assert_eq!(run(&mut cb, "val_loss", &[0.9, 0.95, 0.96]), Some(1));
    }

    #[test]
    fn restores_the_best_weights_even_at_the_end() {
        let mut cb = EarlyStopping::new()
            .patience(10)
            .restore_best_weights(true)
            .verbose(1);
        let mut m = model();
        let params = TrainParams {
            verbose: 0,
            epochs: 3,
            steps: 1,
        };
        cb.on_train_begin(&params, &mut m).expect("begin");
        for (e, v) in [0.9, 0.3, 0.7].iter().enumerate() {
            let w: Vec<Tensor> = m
                .get_weights()
                .iter()
                .map(|t| Tensor::new(t.shape().to_vec(), vec![e as f32; t.len()]).expect("t"))
                .collect();
            m.set_weights(&w).expect("set");
            let mut logs = Logs::new();
            logs.set("val_loss", *v);
            assert_eq!(
                cb.on_epoch_end(e, &logs, &mut m).expect("hook"),
                Control::Continue
            );
        }
        cb.on_train_end(&Logs::new(), &mut m);
        assert_eq!(
            cb.messages(),
            ["Restoring model weights from the end of the best epoch: 2."]
        );
        assert!(m.get_weights()[0].data().iter().all(|v| *v == 1.0));
    }

    #[test]
    fn start_from_epoch_and_missing_monitor() {
        let mut cb = EarlyStopping::new().start_from_epoch(2);
        assert_eq!(run(&mut cb, "val_loss", &[1.0, 2.0, 3.0, 4.0]), Some(3));
        let mut cb = EarlyStopping::new();
        assert_eq!(run(&mut cb, "loss", &[1.0, 2.0]), None);
        assert!(cb.messages()[0].contains("Early stopping conditioned on metric `val_loss` which is not available. Available metrics are: loss"));
    }
}
