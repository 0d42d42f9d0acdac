//! `LearningRateScheduler`: sets the learning rate at the start of each epoch.

use super::monitor::Said;
use super::Callback;
use crate::model::Model;

/// Sets the learning rate to `schedule(epoch, current_rate)` at the start of each epoch
/// (Keras `LearningRateScheduler`; epochs are 0-based).
///
/// ```
/// use rkeras::callbacks::LearningRateScheduler;
/// // Keep the rate for 10 epochs, then decay it by exp(-0.1) per epoch.
/// let cb = LearningRateScheduler::new(|epoch, lr| if epoch < 10 { lr } else { lr * (-0.1f64).exp() });
/// ```
pub struct LearningRateScheduler {
    schedule: Box<dyn FnMut(usize, f64) -> f64 + Send>,
    verbose: u8,
    said: Said,
}

impl std::fmt::Debug for LearningRateScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearningRateScheduler")
            .field("verbose", &self.verbose)
            .finish()
    }
}

impl LearningRateScheduler {
    /// A scheduler calling `schedule(epoch, current_rate)`.
    pub fn new(schedule: impl FnMut(usize, f64) -> f64 + Send + 'static) -> Self {
        LearningRateScheduler {
            schedule: Box::new(schedule),
            verbose: 0,
            said: Said::default(),
        }
    }
    /// 1 prints each new rate.
    pub fn verbose(mut self, v: u8) -> Self {
        self.verbose = v;
        self
    }
    /// The messages printed so far.
    pub fn messages(&self) -> &[String] {
        &self.said.0
    }
}

impl Callback for LearningRateScheduler {
    fn on_epoch_begin(&mut self, epoch: usize, model: &mut Model) {
        let Some(opt) = model.optimizer_mut() else {
            return;
        };
        let lr = (self.schedule)(epoch, opt.learning_rate() as f64);
        if !(lr.is_finite() && lr >= 0.0) {
            self.said.warn(format!(
                "LearningRateScheduler: the schedule returned {lr} for epoch {epoch}; keeping the learning rate"
            ));
            return;
        }
        opt.set_learning_rate(lr as f32);
        if self.verbose > 0 {
            self.said.say(format!(
                "\nEpoch {}: LearningRateScheduler setting learning rate to {lr}.",
                epoch + 1
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn the_schedule_sets_the_rate_each_epoch() {
        let mut m = Sequential::new([Dense::new(1).input_shape(1).into()]).expect("model");
        m.compile(SGD::new().learning_rate(0.1), "mse", &[])
            .expect("compile");
        let x = Tensor::new(vec![4, 1], vec![0.0, 1.0, 2.0, 3.0]).expect("x");
        let mut cb = LearningRateScheduler::new(|epoch, lr| if epoch == 0 { lr } else { lr / 2.0 })
            .verbose(1);
        m.fit(&x, &x)
            .epochs(3)
            .verbose(0)
            .callback(&mut cb)
            .run()
            .expect("fit");
        let lr = m.optimizer().map(|o| o.learning_rate()).unwrap_or(0.0);
        assert!((lr - 0.025).abs() < 1e-7, "{lr}");
        assert_eq!(cb.messages().len(), 3);
        assert_eq!(
            cb.messages()[1],
            "\nEpoch 2: LearningRateScheduler setting learning rate to 0.05000000074505806."
        );
    }
}
