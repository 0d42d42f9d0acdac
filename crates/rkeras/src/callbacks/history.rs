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

    /// `history.history` as JSON (`{"accuracy": [...], "loss": [...]}`, what
    /// `json.dump(history.history, f)` writes), as a string.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .history
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!(v)))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// `epoch,<metric>,...` with one row per epoch, as `CSVLogger` writes it.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("epoch");
        for k in self.history.keys() {
            out.push(',');
            out.push_str(k);
        }
        out.push('\n');
        for (i, e) in self.epoch.iter().enumerate() {
            out.push_str(&e.to_string());
            for v in self.history.values() {
                out.push(',');
                out.push_str(&v.get(i).map_or_else(|| "NA".into(), |x| format!("{x:?}")));
            }
            out.push('\n');
        }
        out
    }

    /// Saves the history as JSON (`.json`) or CSV (any other name), atomically.
    ///
    /// ```no_run
    /// # let history = rkeras::callbacks::History::default();
    /// history.save("history.json")?;
    /// history.save("history.csv")?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> crate::Result<()> {
        let path = path.as_ref();
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let text = if json { self.to_json() } else { self.to_csv() };
        super::csv_logger::write_atomic(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_csv_hold_every_epoch() {
        let mut h = History::default();
        for (e, (loss, acc)) in [(0.9, 0.5), (0.5, 0.75)].iter().enumerate() {
            let mut logs = Logs::new();
            logs.set("loss", *loss);
            logs.set("accuracy", *acc);
            h.record(e, &logs);
        }
        assert_eq!(h.to_json(), r#"{"accuracy":[0.5,0.75],"loss":[0.9,0.5]}"#);
        assert_eq!(h.to_csv(), "epoch,accuracy,loss\n0,0.5,0.9\n1,0.75,0.5\n");
    }
}
