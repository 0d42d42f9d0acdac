//! [`LambdaCallback`]: a callback made of closures (Keras's `LambdaCallback`).

use super::{Callback, Control, Logs, TrainParams};
use crate::model::Model;

type EpochFn = Box<dyn FnMut(usize, &Logs) + Send>;
type BatchFn = Box<dyn FnMut(usize, &Logs) + Send>;
type LogsFn = Box<dyn FnMut(&Logs) + Send>;
type BeginFn = Box<dyn FnMut(&TrainParams) + Send>;
type EpochBeginFn = Box<dyn FnMut(usize) + Send>;

/// A callback built from closures, one per hook you need (Keras's `LambdaCallback`).
///
/// ```
/// use rkeras::prelude::*;
/// use rkeras::callbacks::LambdaCallback;
/// use std::sync::{Arc, Mutex};
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let mut cb = LambdaCallback::new()
///     .on_epoch_end(move |epoch, logs| log.lock().unwrap().push((epoch, logs.get("loss"))));
/// let mut model = Sequential::new([Dense::new(1).input_shape(2).into()])?;
/// model.compile("sgd", "mse", &[])?;
/// let x = Tensor::zeros(vec![4, 2]);
/// let y = Tensor::zeros(vec![4, 1]);
/// model.fit(&x, &y).epochs(3).verbose(0).callback(&mut cb).run()?;
/// assert_eq!(seen.lock().unwrap().len(), 3);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Default)]
pub struct LambdaCallback {
    train_begin: Option<BeginFn>,
    train_end: Option<LogsFn>,
    epoch_begin: Option<EpochBeginFn>,
    epoch_end: Option<EpochFn>,
    batch_begin: Option<EpochBeginFn>,
    batch_end: Option<BatchFn>,
}

impl std::fmt::Debug for LambdaCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaCallback").finish_non_exhaustive()
    }
}

impl LambdaCallback {
    /// A callback that does nothing until given closures.
    pub fn new() -> Self {
        LambdaCallback::default()
    }
    /// Called with the training parameters before the first epoch.
    pub fn on_train_begin(mut self, f: impl FnMut(&TrainParams) + Send + 'static) -> Self {
        self.train_begin = Some(Box::new(f));
        self
    }
    /// Called with the last epoch's logs after training.
    pub fn on_train_end(mut self, f: impl FnMut(&Logs) + Send + 'static) -> Self {
        self.train_end = Some(Box::new(f));
        self
    }
    /// Called with the epoch index (0-based) before each epoch.
    pub fn on_epoch_begin(mut self, f: impl FnMut(usize) + Send + 'static) -> Self {
        self.epoch_begin = Some(Box::new(f));
        self
    }
    /// Called with the epoch index and its logs after each epoch.
    pub fn on_epoch_end(mut self, f: impl FnMut(usize, &Logs) + Send + 'static) -> Self {
        self.epoch_end = Some(Box::new(f));
        self
    }
    /// Called with the batch index before each training batch.
    pub fn on_train_batch_begin(mut self, f: impl FnMut(usize) + Send + 'static) -> Self {
        self.batch_begin = Some(Box::new(f));
        self
    }
    /// Called with the batch index and the running logs after each training batch.
    pub fn on_train_batch_end(mut self, f: impl FnMut(usize, &Logs) + Send + 'static) -> Self {
        self.batch_end = Some(Box::new(f));
        self
    }
}

impl Callback for LambdaCallback {
    fn on_train_begin(&mut self, params: &TrainParams, _model: &mut Model) -> crate::Result<()> {
        if let Some(f) = self.train_begin.as_mut() {
            f(params);
        }
        Ok(())
    }
    fn on_train_end(&mut self, logs: &Logs, _model: &mut Model) {
        if let Some(f) = self.train_end.as_mut() {
            f(logs);
        }
    }
    fn on_epoch_begin(&mut self, epoch: usize, _model: &mut Model) {
        if let Some(f) = self.epoch_begin.as_mut() {
            f(epoch);
        }
    }
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        _model: &mut Model,
    ) -> crate::Result<Control> {
        if let Some(f) = self.epoch_end.as_mut() {
            f(epoch, logs);
        }
        Ok(Control::Continue)
    }
    fn on_train_batch_begin(&mut self, batch: usize, _model: &mut Model) {
        if let Some(f) = self.batch_begin.as_mut() {
            f(batch);
        }
    }
    fn on_train_batch_end(
        &mut self,
        batch: usize,
        logs: &Logs,
        _model: &mut Model,
    ) -> crate::Result<Control> {
        if let Some(f) = self.batch_end.as_mut() {
            f(batch, logs);
        }
        Ok(Control::Continue)
    }
}
