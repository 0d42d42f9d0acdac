//! `History`: per-epoch values of every logged metric, returned by `fit`.

use super::{LogValue, Logs, TrainParams};
use std::collections::BTreeMap;

/// Keras's `History`: `history` maps each metric (sorted by name) to its per-epoch values.
///
/// A vector-valued metric (Keras's `F1Score()`, one score per class, or
/// `Precision(thresholds=[...])`, one value per threshold), for which Keras's
/// `history.history` holds one numpy array per epoch, is kept in [`vectors`](Self::vectors)
/// with one `Vec` per epoch, and read with [`get_vector`](Self::get_vector).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// `{"accuracy": [...], "loss": [...], "val_accuracy": [...], "val_loss": [...]}`.
    pub history: BTreeMap<String, Vec<f64>>,
    /// The vector-valued metrics: `{"f1_score": [[0.5, 0.0, 1.0], ...]}`, one vector per
    /// epoch.
    pub vectors: BTreeMap<String, Vec<Vec<f64>>>,
    /// Epoch indices that ran (0-based).
    pub epoch: Vec<usize>,
    /// `verbose`, `epochs`, `steps`.
    pub params: Option<TrainParams>,
}

/// How Keras's `CSVLogger` writes a vector value (`f'"[{", ".join(map(str, k))}]"'` over a
/// float32 array): `"[0.49999994, 0.0, 1.0]"`, quotes included.
pub(crate) fn vector_cell(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|&x| numpy_f32(x)).collect();
    format!("\"[{}]\"", items.join(", "))
}

/// `str(np.float32(x))`: the shortest digits that read back as the same float32,
/// positional from 1e-4 to 1e16 (`0.5`, `1.0`), else scientific (`1e-05`).
pub(crate) fn numpy_f32(x: f64) -> String {
    let f = x as f32;
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{f:e}");
        return match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        };
    }
    let s = f.to_string();
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// One CSV line split at `sep`, with double-quoted fields unquoted (`""` inside is `"`).
pub(crate) fn split_csv(line: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let last = out.len() - 1;
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out[last].push('"');
            }
            '"' => quoted = !quoted,
            c if c == sep && !quoted => out.push(String::new()),
            c => out[last].push(c),
        }
    }
    out
}

/// A CSV cell read back: a number, `NA`/`nan`/empty as NaN, or a vector written as Keras's
/// `CSVLogger` writes one (`"[0.5, 0.0]"`, quotes optional).
fn parse_cell(cell: &str) -> Option<LogCell> {
    let t = cell.trim().trim_matches('"').trim();
    if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let v = inner
            .split([',', ' '])
            .filter(|x| !x.is_empty())
            .map(parse_number)
            .collect::<Option<Vec<f64>>>()?;
        return Some(LogCell::Vector(v));
    }
    parse_number(t).map(LogCell::Scalar)
}

fn parse_number(t: &str) -> Option<f64> {
    match t.to_ascii_lowercase().as_str() {
        "" | "na" | "nan" | "null" => Some(f64::NAN),
        _ => t.parse::<f64>().ok(),
    }
}

enum LogCell {
    Scalar(f64),
    Vector(Vec<f64>),
}

impl History {
    pub(crate) fn record(&mut self, epoch: usize, logs: &Logs) {
        self.epoch.push(epoch);
        for (k, v) in logs.values() {
            match v {
                LogValue::Scalar(x) => self.history.entry(k.to_string()).or_default().push(x),
                LogValue::Vector(x) => self
                    .vectors
                    .entry(k.to_string())
                    .or_default()
                    .push(x.to_vec()),
            }
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
        for (k, v) in later.vectors {
            self.vectors.entry(k).or_default().extend(v);
        }
    }
    /// The values of one metric (`None` for a vector-valued one: see
    /// [`get_vector`](Self::get_vector)).
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.history.get(name).map(Vec::as_slice)
    }
    /// The per-epoch vectors of a vector-valued metric (one number per class or
    /// threshold).
    ///
    /// ```
    /// let mut h = rkeras::callbacks::History::default();
    /// h.vectors.insert("f1_score".into(), vec![vec![0.5, 0.0], vec![0.75, 0.25]]);
    /// assert_eq!(h.get_vector("f1_score").map(|v| v[1][0]), Some(0.75));
    /// ```
    pub fn get_vector(&self, name: &str) -> Option<&[Vec<f64>]> {
        self.vectors.get(name).map(Vec::as_slice)
    }
    /// Every name, numbers and vectors, sorted.
    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .history
            .keys()
            .chain(self.vectors.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names
    }
    /// The last value of one metric.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(|v| v.last().copied())
    }

    /// `history.history` as JSON (`{"accuracy": [...], "loss": [...]}`, what
    /// `json.dump(history.history, f)` writes), as a string; a vector-valued metric is a
    /// list of lists (`{"f1_score": [[0.5, 0.0], ...]}`, as `.tolist()` of its arrays).
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .names()
            .into_iter()
            .map(|k| {
                let v = match self.history.get(k) {
                    Some(v) => serde_json::json!(v),
                    None => serde_json::json!(self.vectors.get(k)),
                };
                (k.to_string(), v)
            })
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// `epoch,<metric>,...` with one row per epoch, as `CSVLogger` writes it (a vector as
    /// Keras's `CSVLogger` writes one: `"""[0.5, 0.0]"""`).
    pub fn to_csv(&self) -> String {
        let names = self.names();
        let mut out = String::from("epoch");
        for k in &names {
            out.push(',');
            out.push_str(&super::csv_logger::field(k, ','));
        }
        out.push('\n');
        for (i, e) in self.epoch.iter().enumerate() {
            out.push_str(&e.to_string());
            for k in &names {
                out.push(',');
                let cell = match self.history.get(*k) {
                    Some(v) => v.get(i).map_or_else(|| "NA".into(), |x| format!("{x:?}")),
                    None => self
                        .vectors
                        .get(*k)
                        .and_then(|v| v.get(i))
                        .map_or_else(|| "NA".into(), |x| vector_cell(x)),
                };
                out.push_str(&super::csv_logger::field(&cell, ','));
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
        let number = |k: &str, x: &serde_json::Value| match x {
            serde_json::Value::Null => Ok(f64::NAN),
            _ => x
                .as_f64()
                .ok_or_else(|| format!("\"{k}\" holds {x}, not a number")),
        };
        let mut h = History::default();
        for (k, v) in map {
            let list = v
                .as_array()
                .ok_or_else(|| format!("\"{k}\" is not a list of numbers"))?;
            if list.first().is_some_and(serde_json::Value::is_array) {
                // A vector-valued metric: one list per epoch.
                let epochs = list
                    .iter()
                    .map(|e| {
                        e.as_array()
                            .ok_or_else(|| format!("\"{k}\" mixes lists and numbers"))?
                            .iter()
                            .map(|x| number(k, x))
                            .collect::<Result<Vec<f64>, String>>()
                    })
                    .collect::<Result<Vec<Vec<f64>>, String>>()?;
                h.vectors.insert(k.clone(), epochs);
                continue;
            }
            let values = list
                .iter()
                .map(|x| number(k, x))
                .collect::<Result<Vec<f64>, String>>()?;
            h.history.insert(k.clone(), values);
        }
        let epochs = h
            .history
            .values()
            .map(Vec::len)
            .chain(h.vectors.values().map(Vec::len))
            .max()
            .unwrap_or(0);
        h.epoch = (0..epochs).collect();
        Ok(h)
    }

    fn from_csv(text: &str) -> Result<History, String> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<String> = split_csv(lines.next().ok_or("the file is empty")?, ',')
            .into_iter()
            .map(|c| c.trim().to_string())
            .collect();
        let epoch_col = header.iter().position(|c| c == "epoch");
        let mut h = History::default();
        for (row, line) in lines.enumerate() {
            let cells = split_csv(line, ',');
            if cells.len() != header.len() {
                return Err(format!(
                    "line {} has {} values for {} columns",
                    row + 2,
                    cells.len(),
                    header.len()
                ));
            }
            for (col, (name, cell)) in header.iter().zip(&cells).enumerate() {
                let value = parse_cell(cell).ok_or_else(|| {
                    format!(
                        "line {}: \"{}\" in column \"{name}\" is not a number",
                        row + 2,
                        cell.trim()
                    )
                })?;
                match value {
                    LogCell::Scalar(value) if Some(col) == epoch_col => h
                        .epoch
                        .push(if value >= 0.0 { value as usize } else { row }),
                    LogCell::Scalar(value) => {
                        h.history.entry(name.clone()).or_default().push(value);
                    }
                    LogCell::Vector(v) => h.vectors.entry(name.clone()).or_default().push(v),
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
    fn vectors_are_kept_per_epoch_and_written_as_keras() {
        let mut h = History::default();
        for (e, f1) in [[0.5, 0.0, 1.0], [0.75, 1e-5, 0.49999994]]
            .iter()
            .enumerate()
        {
            let mut logs = Logs::new();
            logs.set("loss", 0.5);
            logs.set_vector("f1_score", f1);
            h.record(e, &logs);
        }
        assert_eq!(h.get("f1_score"), None);
        assert_eq!(h.get_vector("f1_score").map(<[_]>::len), Some(2));
        assert_eq!(
            h.to_json(),
            r#"{"f1_score":[[0.5,0.0,1.0],[0.75,0.00001,0.49999994]],"loss":[0.5,0.5]}"#
        );
        assert_eq!(
            h.to_csv(),
            "epoch,f1_score,loss\n0,\"\"\"[0.5, 0.0, 1.0]\"\"\",0.5\n1,\"\"\"[0.75, 1e-05, 0.49999994]\"\"\",0.5\n"
        );
        let back = History::from_csv(&h.to_csv()).expect("csv");
        assert_eq!(back.vectors["f1_score"][1][1] as f32, 1e-5);
        assert_eq!(History::from_json(&h.to_json()).expect("json"), h);
        let mut later = History::default();
        later
            .vectors
            .insert("f1_score".into(), vec![vec![1.0, 1.0, 1.0]]);
        later.epoch = vec![2];
        h.extend(later);
        assert_eq!(h.vectors["f1_score"].len(), 3);
    }

    #[test]
    fn numpy_float32_text() {
        for (x, s) in [
            (0.0, "0.0"),
            (1.0, "1.0"),
            (0.49999994, "0.49999994"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (2e16, "2e+16"),
            (12.5, "12.5"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(numpy_f32(x), s);
        }
        assert_eq!(vector_cell(&[0.5, 0.0]), "\"[0.5, 0.0]\"");
        assert_eq!(
            split_csv("1,\"\"\"[0.5, 0.0]\"\"\",x", ','),
            ["1", "\"[0.5, 0.0]\"", "x"]
        );
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
