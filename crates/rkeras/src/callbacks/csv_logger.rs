//! `CSVLogger`: one CSV row per epoch, rewritten atomically after every epoch.

use super::history::vector_cell;
use super::monitor::Said;
use super::{Callback, Control, LogValue, Logs, TrainParams};
use crate::error::{Error, Result};
use crate::fsio::write_atomic;
use crate::model::Model;
use std::path::{Path, PathBuf};

/// Writes `epoch,<metrics sorted by name>` rows to a CSV file after every epoch (Keras
/// `CSVLogger`). A vector value (Keras's `F1Score()`, one score per class) is written as
/// Keras writes it: the text `"[0.5, 0.0, 1.0]"`, quotes included, in a quoted field
/// (`"""[0.5, 0.0, 1.0]"""`), which [`History::load`](super::History::load) reads back. The whole file is rewritten to a temporary file and renamed into place each
/// time, so a crash never leaves a half-written line. With `append`, the rows of an earlier
/// run are kept (and the header is not repeated).
///
/// ```no_run
/// use rkeras::callbacks::CSVLogger;
/// let mut log = CSVLogger::new("history.csv");
/// ```
#[derive(Debug)]
pub struct CSVLogger {
    path: PathBuf,
    separator: char,
    append: bool,
    keys: Vec<String>,
    text: String,
    said: Said,
}

impl CSVLogger {
    /// Logs to `path` (created with its parent folders).
    pub fn new(path: impl AsRef<Path>) -> Self {
        CSVLogger {
            path: path.as_ref().to_path_buf(),
            separator: ',',
            append: false,
            keys: Vec::new(),
            text: String::new(),
            said: Said::default(),
        }
    }
    /// Field separator (default `,`).
    pub fn separator(mut self, s: char) -> Self {
        self.separator = s;
        self
    }
    /// Keep the rows already in the file.
    pub fn append(mut self, a: bool) -> Self {
        self.append = a;
        self
    }
    /// The warnings printed so far.
    pub fn messages(&self) -> &[String] {
        &self.said.0
    }
}

/// A CSV field: quoted when it holds the separator, a quote or a line break.
pub(crate) fn field(s: &str, sep: char) -> String {
    if s.contains([sep, '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Callback for CSVLogger {
    fn on_train_begin(&mut self, _params: &TrainParams, _model: &mut Model) -> Result<()> {
        self.keys.clear();
        self.text.clear();
        if self.append {
            match std::fs::read_to_string(&self.path) {
                Ok(t) => {
                    self.text = t;
                    if let Some(header) = self.text.lines().next() {
                        self.keys = header
                            .split(self.separator)
                            .skip(1)
                            .map(str::to_string)
                            .collect();
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Io {
                        path: self.path.clone(),
                        source: e,
                    })
                }
            }
        }
        // Fail now, not after the first epoch, if the file cannot be written.
        write_atomic(&self.path, self.text.as_bytes())
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        _model: &mut Model,
    ) -> crate::Result<Control> {
        let sep = self.separator.to_string();
        if self.keys.is_empty() {
            let mut keys: Vec<String> = logs.keys().map(str::to_string).collect();
            keys.sort();
            self.keys = keys;
            let mut header = vec!["epoch".to_string()];
            header.extend(self.keys.iter().map(|k| field(k, self.separator)));
            self.text.push_str(&header.join(&sep));
            self.text.push('\n');
        }
        let mut row = vec![epoch.to_string()];
        row.extend(self.keys.iter().map(|k| match logs.value(k) {
            None => "NA".to_string(),
            Some(LogValue::Scalar(v)) => format!("{v:?}"),
            // As Keras: the text `"[0.5, 0.0]"`, quotes included, then quoted as a field.
            Some(LogValue::Vector(v)) => field(&vector_cell(v), self.separator),
        }));
        self.text.push_str(&row.join(&sep));
        self.text.push('\n');
        write_atomic(&self.path, self.text.as_bytes())
            .map_err(|e| Error::State(format!("CSVLogger could not write: {e}")))?;
        Ok(Control::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn writes_a_sorted_header_and_one_row_per_epoch_and_appends() {
        let dir = std::env::temp_dir().join(format!("rkeras-csv-{}", std::process::id()));
        let path = dir.join("log/history.csv");
        let mut m = Sequential::new([Dense::new(1).input_shape(1).into()]).expect("model");
        m.compile("sgd", "mse", &["mae"]).expect("compile");
        let x = Tensor::new(vec![4, 1], vec![0.0, 1.0, 2.0, 3.0]).expect("x");
        let mut log = CSVLogger::new(&path);
        m.fit(&x, &x)
            .epochs(2)
            .verbose(0)
            .validation_data(&x, &x)
            .callback(&mut log)
            .run()
            .expect("fit");
        let text = std::fs::read_to_string(&path).expect("csv");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "epoch,loss,mae,val_loss,val_mae");
        assert_eq!(lines.len(), 3);
        assert!(lines[2].starts_with("1,"));
        let mut again = CSVLogger::new(&path).append(true);
        m.fit(&x, &x)
            .epochs(1)
            .verbose(0)
            .validation_data(&x, &x)
            .callback(&mut again)
            .run()
            .expect("fit");
        let text = std::fs::read_to_string(&path).expect("csv");
        assert_eq!(text.lines().count(), 4, "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("epoch")).count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
