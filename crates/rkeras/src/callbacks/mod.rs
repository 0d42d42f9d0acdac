//! Callbacks: the [`Callback`] trait `fit` calls at each stage, the [`Logs`] it passes, the
//! [`History`] it returns, and the Keras progress bar ([`ProgbarLogger`]).
//!
//! Hooks return `Ok(`[`Control::Stop`]`)` to end training after the current epoch, instead of
//! setting a flag on the model (both work: `model.stop_training = true` too), and an error
//! when they cannot do their job (a checkpoint that cannot be written): `fit` then stops at
//! once and returns that error, as Keras raises the callback's exception.

mod backup_and_restore;
mod csv_logger;
mod early_stopping;
mod history;
mod history_plot;
mod lambda_callback;
mod learning_rate_scheduler;
mod model_checkpoint;
mod monitor;
mod progbar;
mod reduce_lr_on_plateau;
mod swap_ema_weights;
mod tensorboard;
mod terminate_on_nan;

pub use backup_and_restore::BackupAndRestore;
pub use csv_logger::CSVLogger;
pub use early_stopping::EarlyStopping;
pub use history::History;
pub use lambda_callback::LambdaCallback;
pub use learning_rate_scheduler::LearningRateScheduler;
pub use model_checkpoint::ModelCheckpoint;
pub use monitor::Mode;
pub use progbar::ProgbarLogger;
pub use reduce_lr_on_plateau::ReduceLROnPlateau;
pub use swap_ema_weights::SwapEMAWeights;
pub use tensorboard::{TensorBoard, UpdateFreq};
pub use terminate_on_nan::TerminateOnNaN;

use crate::model::Model;

/// Whether training goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop after the current epoch.
    Stop,
}

/// Named metric values (`loss`, `accuracy`, `val_loss`, ...), in insertion order.
///
/// Updating an existing key never allocates, so per-batch logs are free.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logs {
    entries: Vec<(String, f64)>,
}

impl Logs {
    /// Empty logs.
    pub fn new() -> Self {
        Logs::default()
    }
    /// Sets `name` to `value`.
    pub fn set(&mut self, name: &str, value: f64) {
        match self.entries.iter_mut().find(|(k, _)| k == name) {
            Some(e) => e.1 = value,
            None => self.entries.push((name.to_string(), value)),
        }
    }
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.entries.iter().find(|(k, _)| k == name).map(|e| e.1)
    }
    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }
    /// Names in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
    /// Removes every entry (keeps the capacity).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What `fit` tells callbacks when training begins (Keras's `callback.params`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainParams {
    /// Verbosity given to fit.
    pub verbose: u8,
    /// Total epochs.
    pub epochs: usize,
    /// Steps (batches) per epoch.
    pub steps: usize,
}

/// A training callback. Every hook is optional.
///
/// ```
/// use rkeras::callbacks::{Callback, Control, Logs};
/// use rkeras::Model;
/// /// Stops once training accuracy reaches a target.
/// struct StopAt(f64);
/// impl Callback for StopAt {
///     fn on_epoch_end(&mut self, _epoch: usize, logs: &Logs, _model: &mut Model) -> rkeras::Result<Control> {
///         Ok(if logs.get("accuracy").unwrap_or(0.0) >= self.0 { Control::Stop } else { Control::Continue })
///     }
/// }
/// ```
pub trait Callback: Send {
    /// Before the first epoch. An error (a bad setting found now) stops `fit` before it
    /// trains.
    ///
    /// # Errors
    /// Whatever the callback cannot work with.
    fn on_train_begin(&mut self, _params: &TrainParams, _model: &mut Model) -> crate::Result<()> {
        Ok(())
    }
    /// At the start of each epoch (0-based); the model is there to change (learning rate).
    fn on_epoch_begin(&mut self, _epoch: usize, _model: &mut Model) {}
    /// After each training batch; `logs` hold the running epoch means.
    ///
    /// # Errors
    /// Whatever the callback could not do; `fit` stops at once and returns it.
    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        _model: &mut Model,
    ) -> crate::Result<Control> {
        Ok(Control::Continue)
    }
    /// After each epoch, with training and validation results.
    ///
    /// # Errors
    /// Whatever the callback could not do (a checkpoint not written); `fit` stops at once
    /// and returns it.
    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        _logs: &Logs,
        _model: &mut Model,
    ) -> crate::Result<Control> {
        Ok(Control::Continue)
    }
    /// After the last epoch.
    fn on_train_end(&mut self, _logs: &Logs, _model: &mut Model) {}
    /// Before each training batch.
    fn on_train_batch_begin(&mut self, _batch: usize, _model: &mut Model) {}
    /// Before an evaluation (the validation at the end of an epoch).
    fn on_test_begin(&mut self, _model: &mut Model) {}
    /// Before each evaluation batch.
    fn on_test_batch_begin(&mut self, _batch: usize, _model: &mut Model) {}
    /// After each evaluation batch; `logs` hold the running means.
    fn on_test_batch_end(&mut self, _batch: usize, _logs: &Logs, _model: &mut Model) {}
    /// After an evaluation, with its results (`loss`, metrics; no `val_` prefix).
    fn on_test_end(&mut self, _logs: &Logs, _model: &mut Model) {}
    /// Before a prediction.
    fn on_predict_begin(&mut self, _model: &mut Model) {}
    /// Before each prediction batch.
    fn on_predict_batch_begin(&mut self, _batch: usize, _model: &mut Model) {}
    /// After each prediction batch.
    fn on_predict_batch_end(&mut self, _batch: usize, _model: &mut Model) {}
    /// After a prediction.
    fn on_predict_end(&mut self, _model: &mut Model) {}
}
