//! `TerminateOnNaN`: stops training as soon as the loss is NaN or infinite.

use super::monitor::Said;
use super::{Callback, Control, Logs};
use crate::model::Model;

/// Stops training at the end of the batch whose running loss is NaN or infinite (Keras
/// `TerminateOnNaN`).
///
/// ```
/// let mut cb = rkeras::callbacks::TerminateOnNaN::new();
/// ```
#[derive(Debug, Default)]
pub struct TerminateOnNaN {
    said: Said,
}

impl TerminateOnNaN {
    /// The callback.
    pub fn new() -> Self {
        TerminateOnNaN::default()
    }
    /// The messages printed so far.
    pub fn messages(&self) -> &[String] {
        &self.said.0
    }
}

impl Callback for TerminateOnNaN {
    fn on_train_batch_end(
        &mut self,
        batch: usize,
        logs: &Logs,
        _model: &mut Model,
    ) -> crate::Result<Control> {
        match logs.get("loss") {
            Some(l) if !l.is_finite() => {
                self.said
                    .say(format!("Batch {batch}: Invalid loss, terminating training"));
                Ok(Control::Stop)
            }
            _ => Ok(Control::Continue),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_on_nan_and_infinity_only() {
        let mut cb = TerminateOnNaN::new();
        let mut m =
            crate::model::Sequential::new([crate::layers::Dense::new(1).input_shape(1).into()])
                .expect("model");
        let mut logs = Logs::new();
        logs.set("loss", 0.5);
        assert_eq!(
            cb.on_train_batch_end(0, &logs, &mut m).expect("hook"),
            Control::Continue
        );
        logs.set("loss", f64::INFINITY);
        assert_eq!(
            cb.on_train_batch_end(3, &logs, &mut m).expect("hook"),
            Control::Stop
        );
        logs.set("loss", f64::NAN);
        assert_eq!(
            cb.on_train_batch_end(4, &logs, &mut m).expect("hook"),
            Control::Stop
        );
        assert_eq!(
            cb.messages()[0],
            "Batch 3: Invalid loss, terminating training"
        );
    }
}
