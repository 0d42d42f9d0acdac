//! `History`: per-epoch values of every logged metric, returned by `fit`.

use super::{Logs, TrainParams};
use std::collections::BTreeMap;

/// Keras's `History`: `history` maps each metric (sorted by name) to its per-epoch values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// `{"accuracy": [...], "loss": [...], "val_accuracy": [...], "val_loss": [...]}`.
    pub history: BTreeMap<String, Vec<f64>>,
    /// Epoch indices that ran (0-based).
    pub epoch: Vec<usize>,
    /// `verbose`, `epochs`, `steps`.
    pub params: Option<TrainParams>,
}

impl History {
    pub(crate) fn record(&mut self, epoch: usize, logs: &Logs) {
        self.epoch.push(epoch);
        for (k, v) in logs.iter() {
            self.history.entry(k.to_string()).or_default().push(v);
        }
    }
    /// The values of one metric.
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.history.get(name).map(Vec::as_slice)
    }
    /// The last value of one metric.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(|v| v.last().copied())
    }
}
