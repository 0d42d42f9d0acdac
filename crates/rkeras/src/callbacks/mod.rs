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

/// One logged value: a number, or one number per class or threshold (Keras's vector-valued
/// metrics: `F1Score(average=None)`, `Precision(thresholds=[...])`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LogValue<'a> {
    /// A number.
    Scalar(f64),
    /// One number per class or per threshold.
    Vector(&'a [f64]),
}

impl LogValue<'_> {
    /// The number, or the mean of the vector (what Keras's progress bar shows for it:
    /// `np.mean`; NaN for an empty vector).
    pub fn mean(&self) -> f64 {
        match self {
            LogValue::Scalar(x) => *x,
            LogValue::Vector(v) => v.iter().sum::<f64>() / v.len() as f64,
        }
    }
}

/// A number, or (`vector`) the values of `v`; `v` keeps its capacity across both.
#[derive(Clone, Debug, Default, PartialEq)]
struct Slot {
    x: f64,
    v: Vec<f64>,
    vector: bool,
}

/// Named metric values (`loss`, `accuracy`, `val_loss`, ...), in insertion order.
///
/// Most values are numbers ([`get`](Self::get), [`iter`](Self::iter)); a vector-valued
/// metric (Keras's `F1Score()`, whose default `average=None` gives one score per class, or
/// `Precision(thresholds=[0.3, 0.5, 0.7])`) logs one number per class or threshold, read
/// with [`get_vector`](Self::get_vector) or [`values`](Self::values), as Keras's logs hold
/// a numpy array for it.
///
/// Updating an existing key never allocates, so per-batch logs are free.
///
/// ```
/// use rkeras::callbacks::{LogValue, Logs};
/// let mut logs = Logs::new();
/// logs.set("loss", 0.5);
/// logs.set_vector("f1_score", &[0.25, 0.75]);
/// assert_eq!(logs.get("loss"), Some(0.5));
/// assert_eq!(logs.get("f1_score"), None); // not a number
/// assert_eq!(logs.get_vector("f1_score"), Some(&[0.25, 0.75][..]));
/// assert_eq!(logs.value("f1_score").map(|v| v.mean()), Some(0.5));
/// assert_eq!(logs.keys().collect::<Vec<_>>(), ["loss", "f1_score"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logs {
    entries: Vec<(String, Slot)>,
}

impl Logs {
    /// Empty logs.
    pub fn new() -> Self {
        Logs::default()
    }
    fn slot(&mut self, name: &str) -> &mut Slot {
        let i = match self.entries.iter().position(|(k, _)| k == name) {
            Some(i) => i,
            None => {
                self.entries.push((name.to_string(), Slot::default()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[i].1
    }
    /// Sets `name` to the number `value`.
    pub fn set(&mut self, name: &str, value: f64) {
        let s = self.slot(name);
        s.x = value;
        s.vector = false;
    }
    /// Sets `name` to one number per class or threshold (no allocation once `name` has
    /// held a vector at least as long).
    pub fn set_vector(&mut self, name: &str, values: &[f64]) {
        let v = self.vector_mut(name);
        v.clear();
        v.extend_from_slice(values);
    }
    /// The vector of `name` to fill in place (created empty, or turned into a vector).
    pub fn vector_mut(&mut self, name: &str) -> &mut Vec<f64> {
        let s = self.slot(name);
        s.vector = true;
        &mut s.v
    }
    /// The number of `name`; `None` when it is missing or a vector.
    pub fn get(&self, name: &str) -> Option<f64> {
        match self.value(name)? {
            LogValue::Scalar(x) => Some(x),
            LogValue::Vector(_) => None,
        }
    }
    /// The vector of `name`; `None` when it is missing or a number.
    pub fn get_vector(&self, name: &str) -> Option<&[f64]> {
        match self.value(name)? {
            LogValue::Vector(v) => Some(v),
            LogValue::Scalar(_) => None,
        }
    }
    /// The value of `name`, number or vector.
    pub fn value(&self, name: &str) -> Option<LogValue<'_>> {
        self.entries
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, s)| view(s))
    }
    /// The numbers, in insertion order (vectors left out: see [`values`](Self::values)).
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.entries
            .iter()
            .filter(|(_, s)| !s.vector)
            .map(|(k, s)| (k.as_str(), s.x))
    }
    /// Every entry, numbers and vectors, in insertion order.
    pub fn values(&self) -> impl Iterator<Item = (&str, LogValue<'_>)> {
        self.entries.iter().map(|(k, s)| (k.as_str(), view(s)))
    }
    /// Names in insertion order (vectors included).
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

fn view(s: &Slot) -> LogValue<'_> {
    if s.vector {
        LogValue::Vector(&s.v)
    } else {
        LogValue::Scalar(s.x)
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
