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
    /// Appends the epochs of a later `fit` (fine-tuning after feature extraction, as the
    /// keras.io guide concatenates `history.history[k] + history_fine.history[k]`).
    ///
    /// ```
    /// let mut a = rkeras::callbacks::History::default();
    /// a.history.insert("loss".into(), vec![1.0, 0.5]);
    /// a.epoch = vec![0, 1];
    /// let mut b = rkeras::callbacks::History::default();
    /// b.history.insert("loss".into(), vec![0.4]);
    /// b.epoch = vec![2];
    /// a.extend(b);
    /// assert_eq!(a.get("loss"), Some(&[1.0, 0.5, 0.4][..]));
    /// assert_eq!(a.epoch, vec![0, 1, 2]);
    /// ```
    pub fn extend(&mut self, later: History) {
        self.epoch.extend(later.epoch);
        for (k, v) in later.history {
            self.history.entry(k).or_default().extend(v);
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
        crate::fsio::write_atomic(path, text.as_bytes())
    }

    /// Reads a history saved as JSON (`{"loss": [...], ...}`, as [`History::save`] or
    /// `json.dump(history.history, f)` write it) or CSV (`epoch,loss,...`, as
    /// [`CSVLogger`](super::CSVLogger) or Keras's `CSVLogger` write it). `null`, `NA` and
    /// `nan` read as NaN.
    ///
    /// ```no_run
    /// let history = rkeras::callbacks::History::load("history.csv")?;
    /// history.plot("history.png")?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// The file cannot be read or is not a history.
    pub fn load(path: impl AsRef<std::path::Path>) -> crate::Result<History> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| crate::Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let bad = |message: String| crate::Error::Format {
            path: path.to_path_buf(),
            message,
        };
        let history = if text.trim_start().starts_with('{') {
            Self::from_json(&text)
        } else {
            Self::from_csv(&text)
        };
        history.map_err(bad)
    }

    fn from_json(text: &str) -> Result<History, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let map = value
            .as_object()
            .ok_or("a history is a JSON object of metric lists")?;
        let mut h = History::default();
        for (k, v) in map {
            let list = v
                .as_array()
                .ok_or_else(|| format!("\"{k}\" is not a list of numbers"))?;
            let values = list
                .iter()
                .map(|x| match x {
                    serde_json::Value::Null => Ok(f64::NAN),
                    _ => x
                        .as_f64()
                        .ok_or_else(|| format!("\"{k}\" holds {x}, not a number")),
                })
                .collect::<Result<Vec<f64>, String>>()?;
            h.history.insert(k.clone(), values);
        }
        let epochs = h.history.values().map(Vec::len).max().unwrap_or(0);
        h.epoch = (0..epochs).collect();
        Ok(h)
    }

    fn from_csv(text: &str) -> Result<History, String> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines
            .next()
            .ok_or("the file is empty")?
            .split(',')
            .map(str::trim)
            .collect();
        let epoch_col = header.iter().position(|&c| c == "epoch");
        let mut h = History::default();
        for (row, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != header.len() {
                return Err(format!(
                    "line {} has {} values for {} columns",
                    row + 2,
                    cells.len(),
                    header.len()
                ));
            }
            for (col, (name, cell)) in header.iter().zip(&cells).enumerate() {
                let value = match cell.to_ascii_lowercase().as_str() {
                    "" | "na" | "nan" | "null" => f64::NAN,
                    _ => cell.parse::<f64>().map_err(|_| {
                        format!(
                            "line {}: \"{cell}\" in column \"{name}\" is not a number",
                            row + 2
                        )
                    })?,
                };
                if Some(col) == epoch_col {
                    h.epoch
                        .push(if value >= 0.0 { value as usize } else { row });
                } else {
                    h.history.entry(name.to_string()).or_default().push(value);
                }
            }
            if epoch_col.is_none() {
                h.epoch.push(row);
            }
        }
        if h.epoch.is_empty() {
            return Err("no epochs: the CSV has a header and no rows".into());
        }
        Ok(h)
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
        assert_eq!(History::from_json(&h.to_json()).expect("json"), h);
        assert_eq!(History::from_csv(&h.to_csv()).expect("csv"), h);
    }

    #[test]
    fn load_reads_keras_csv_and_json_with_missing_values() {
        let h = History::from_csv("epoch,accuracy,loss\n0,0.5,NA\n1,0.75,0.25\n").expect("csv");
        assert_eq!(h.epoch, [0, 1]);
        assert!(h.history["loss"][0].is_nan());
        let h = History::from_json(r#"{"loss": [1, null]}"#).expect("json");
        assert!(h.history["loss"][1].is_nan());
        let e = History::from_csv("epoch,loss\n0,0.5,7\n").expect_err("ragged");
        assert!(e.contains("line 2"), "{e}");
        let e = History::from_csv("epoch,loss\n0,abc\n").expect_err("text");
        assert!(e.contains("\"abc\" in column \"loss\""), "{e}");
        assert!(History::from_json(r#"{"loss": "x"}"#).is_err());
        assert!(History::from_csv("epoch,loss\n").is_err());
    }
}
