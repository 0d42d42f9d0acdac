//! `SwapEMAWeights`: evaluates (and optionally checkpoints) with the optimizer's moving
//! averages of the weights instead of the trained weights.

use super::{Callback, Control, Logs, TrainParams};
use crate::model::Model;

/// Puts the optimizer's exponential moving averages (`use_ema(true)`) into the model for
/// evaluation and prediction, and the trained weights back for training (Keras's
/// `SwapEMAWeights`). With `swap_on_epoch(true)` the averages are also in the model at each
/// epoch's end, for the callbacks after this one (a `ModelCheckpoint` saves them).
///
/// ```
/// use rkeras::prelude::*;
/// use rkeras::callbacks::SwapEMAWeights;
/// use rkeras::optimizers::Adam;
/// let mut m = Sequential::new([Dense::new(1).input_shape(2).into()])?;
/// m.compile(Adam::new().use_ema(true), "mse", &[])?;
/// let x = Tensor::new(vec![4, 2], vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0])?;
/// let y = Tensor::new(vec![4, 1], vec![1.0, 1.0, 2.0, 0.0])?;
/// let mut swap = SwapEMAWeights::new();
/// m.fit(&x, &y)
///     .epochs(2)
///     .verbose(0)
///     .validation_data(&x, &y)
///     .callback(&mut swap)
///     .run()?;
/// assert!(!m.ema_weights_in_model()); // fit ends with the averages written in.
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct SwapEMAWeights {
    swap_on_epoch: bool,
}

impl SwapEMAWeights {
    /// Swaps around evaluation and prediction only (Keras's default).
    pub fn new() -> Self {
        SwapEMAWeights::default()
    }
    /// Also holds the averages in the model from each epoch's end to the next epoch's
    /// start, for the callbacks that come after this one (Keras's `swap_on_epoch`).
    pub fn swap_on_epoch(mut self, on: bool) -> Self {
        self.swap_on_epoch = on;
        self
    }
}

/// Swaps when the model holds the trained weights and `want_averages`, or holds the
/// averages and not `want_averages`; nothing before the averages exist.
fn put(model: &mut Model, want_averages: bool) {
    if model.ema_weights_in_model() != want_averages {
        // No averages yet (no step taken): nothing to swap.
        let _ = model.swap_ema_weights();
    }
}

impl Callback for SwapEMAWeights {
    fn on_train_begin(&mut self, _params: &TrainParams, model: &mut Model) -> crate::Result<()> {
        if model.optimizer().is_some_and(|o| o.options().use_ema) {
            Ok(())
        } else {
            Err(crate::Error::arg(
                "use_ema",
                "SwapEMAWeights",
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer",
            ))
        }
    }
    fn on_epoch_begin(&mut self, _epoch: usize, model: &mut Model) {
        if self.swap_on_epoch {
            put(model, false);
        }
    }
    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        _logs: &Logs,
        model: &mut Model,
    ) -> crate::Result<Control> {
        if self.swap_on_epoch {
            put(model, true);
        }
        Ok(Control::Continue)
    }
    fn on_test_begin(&mut self, model: &mut Model) {
        put(model, true);
    }
    fn on_test_end(&mut self, _logs: &Logs, model: &mut Model) {
        put(model, false);
    }
    fn on_predict_begin(&mut self, model: &mut Model) {
        put(model, true);
    }
    fn on_predict_end(&mut self, model: &mut Model) {
        put(model, false);
    }
}
