//! `ModelCheckpoint`: saves the model (or its weights) after each epoch, or only when the
//! monitored quantity improves, to a path that may name the epoch and any logged metric.

use super::monitor::{Mode, Monitor, Said};
use super::{Callback, Control, Logs, TrainParams};
use crate::error::{Error, Result};
use crate::model::Model;
use std::path::PathBuf;

/// Saves the model at the end of every epoch (Keras `ModelCheckpoint`). The path is a
/// Python-style format string filled with `epoch` (1-based) and the epoch's logs:
/// `"ckpt/cnn-{epoch:02d}-{val_loss:.2f}.keras"`. Every save is atomic (a temporary file
/// renamed into place), so the previous checkpoint survives a crash. A save that fails (a
/// full disk, a path that cannot be formatted) stops `fit` with that error, as Keras raises
/// it, unless [`continue_on_error`](Self::continue_on_error) asks to warn and go on.
///
/// ```no_run
/// use rkeras::callbacks::ModelCheckpoint;
/// let best = ModelCheckpoint::new("best.keras")
///     .monitor("val_accuracy")
///     .mode("max")
///     .save_best_only(true);
/// ```
#[derive(Debug)]
pub struct ModelCheckpoint {
    filepath: String,
    monitor: String,
    verbose: u8,
    save_best_only: bool,
    save_weights_only: bool,
    mode: Mode,
    initial_value_threshold: Option<f64>,
    save_freq: Option<usize>,
    batches_seen: usize,
    epoch: usize,
    op: Option<Monitor>,
    best: Option<f64>,
    said: Said,
    saved: Vec<PathBuf>,
    continue_on_error: bool,
}

impl ModelCheckpoint {
    /// Checkpoints to `filepath` (ending in `.keras` or the legacy `.h5`, or `.weights.h5`
    /// with `save_weights_only`).
    pub fn new(filepath: &str) -> Self {
        ModelCheckpoint {
            filepath: filepath.into(),
            monitor: "val_loss".into(),
            verbose: 0,
            save_best_only: false,
            save_weights_only: false,
            mode: Mode::Auto,
            initial_value_threshold: None,
            save_freq: None,
            batches_seen: 0,
            epoch: 0,
            op: None,
            best: None,
            said: Said::default(),
            saved: Vec::new(),
            continue_on_error: false,
        }
    }
    /// The quantity `save_best_only` watches (default `val_loss`).
    pub fn monitor(mut self, m: &str) -> Self {
        self.monitor = m.into();
        self
    }
    /// 1 prints Keras's messages ("val_loss improved from ... saving model to ...").
    pub fn verbose(mut self, v: u8) -> Self {
        self.verbose = v;
        self
    }
    /// Save only when the monitored quantity improves. A vector-valued monitor (Keras's
    /// `F1Score()`, one score per class) has no best: as Keras, each epoch warns and saves
    /// as without `save_best_only`.
    pub fn save_best_only(mut self, b: bool) -> Self {
        self.save_best_only = b;
        self
    }
    /// Save the weights alone (`.weights.h5`).
    pub fn save_weights_only(mut self, w: bool) -> Self {
        self.save_weights_only = w;
        self
    }
    /// `"auto"`, `"min"` or `"max"`.
    pub fn mode(mut self, m: &str) -> Self {
        self.mode = Mode::parse(m, "ModelCheckpoint");
        self
    }
    /// The value to beat before the first save (with `save_best_only`).
    pub fn initial_value_threshold(mut self, v: f64) -> Self {
        self.initial_value_threshold = Some(v);
        self
    }
    /// Save every `n` training batches (counted across epochs) instead of at each epoch's
    /// end (Keras's `save_freq=n`); the path may then also use `{batch}`. The monitored
    /// value is the running mean of the epoch so far.
    pub fn save_freq(mut self, n: usize) -> Self {
        self.save_freq = Some(n);
        self
    }
    /// A save that fails is a warning and training goes on (default `false`: the error
    /// stops `fit`, which returns it, as Keras raises it).
    ///
    /// ```
    /// use rkeras::callbacks::ModelCheckpoint;
    /// let ckpt = ModelCheckpoint::new("ckpt/last.keras").continue_on_error(true);
    /// ```
    pub fn continue_on_error(mut self, yes: bool) -> Self {
        self.continue_on_error = yes;
        self
    }
    /// The messages and warnings printed so far.
    pub fn messages(&self) -> &[String] {
        &self.said.0
    }
    /// The files written, in order.
    pub fn saved(&self) -> &[PathBuf] {
        &self.saved
    }
}

/// Fills a Python format string: `{name}`, `{name:02d}`, `{name:.2f}`, `{name:.3e}`, with
/// `epoch` and `batch` 1-based as Keras passes them.
pub(crate) fn format_path(
    template: &str,
    epoch: usize,
    batch: Option<usize>,
    logs: &Logs,
) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        if rest[open..].starts_with("{{") {
            out.push('{');
            rest = &rest[open + 2..];
            continue;
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("unbalanced '{{' in \"{template}\""))?
            + open;
        let field = &rest[open + 1..close];
        let (key, spec) = field.split_once(':').unwrap_or((field, ""));
        let value = match (key, batch) {
            ("epoch", _) => Some(epoch as f64 + 1.0),
            ("batch", Some(b)) => Some(b as f64 + 1.0),
            _ => logs.get(key),
        };
        let v = value.ok_or_else(|| format!("KeyError: '{key}'"))?;
        out.push_str(
            &format_value(v, spec)
                .ok_or_else(|| format!("unsupported format spec '{spec}' for '{key}'"))?,
        );
        rest = &rest[close + 1..];
    }
    out.push_str(&rest.replace("}}", "}"));
    Ok(out)
}

fn format_value(v: f64, spec: &str) -> Option<String> {
    if spec.is_empty() {
        return Some(if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            format!("{v}")
        });
    }
    let last = spec.char_indices().last().map_or(0, |(i, _)| i);
    let (body, kind) = spec.split_at(last);
    let zero = body.starts_with('0');
    let (width, prec) = match body.split_once('.') {
        Some((w, p)) => (w.parse::<usize>().unwrap_or(0), p.parse::<usize>().ok()),
        None => (body.parse::<usize>().unwrap_or(0), None),
    };
    let s = match kind {
        "d" => format!("{}", v.round() as i64),
        "f" => format!("{v:.*}", prec.unwrap_or(6)),
        "e" => {
            let s = format!("{v:.*e}", prec.unwrap_or(6));
            // Python writes e-05 / e+00 where Rust writes e-5 / e0.
            let (m, e) = s.split_once('e')?;
            let e: i32 = e.parse().ok()?;
            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
        _ => return None,
    };
    Some(if s.len() >= width {
        s
    } else if zero {
        let neg = s.starts_with('-');
        let digits = s.trim_start_matches('-');
        format!(
            "{}{}{digits}",
            if neg { "-" } else { "" },
            "0".repeat(width - s.len())
        )
    } else {
        format!("{s:>width$}")
    })
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, _params: &TrainParams, _model: &mut Model) -> Result<()> {
        let lower = self.filepath.to_ascii_lowercase();
        if self.save_weights_only && !lower.ends_with(".weights.h5") {
            return Err(Error::arg(
                "filepath",
                "",
                format!("When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided must end in `.weights.h5` (Keras weights format). Received: filepath={}", self.filepath),
            ));
        }
        let model_file = (lower.ends_with(".keras") || lower.ends_with(".h5"))
            && !lower.ends_with(".weights.h5");
        if !self.save_weights_only && !model_file {
            return Err(Error::arg(
                "filepath",
                "",
                format!("The filepath provided must end in `.keras` (Keras model format). Received: filepath={}", self.filepath),
            ));
        }
        if self.save_best_only {
            self.op = Some(Monitor::new(
                &self.monitor,
                self.mode,
                0.0,
                "ModelCheckpoint",
            )?);
        }
        if self.save_freq == Some(0) {
            return Err(Error::arg(
                "save_freq",
                "",
                "Unrecognized save_freq: 0. Expected save_freq are 'epoch' or integer values",
            ));
        }
        self.batches_seen = 0;
        if self.best.is_none() {
            self.best = self.initial_value_threshold;
        }
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, _model: &mut Model) {
        self.epoch = epoch;
    }

    fn on_train_batch_end(
        &mut self,
        batch: usize,
        logs: &Logs,
        model: &mut Model,
    ) -> crate::Result<Control> {
        let Some(n) = self.save_freq.filter(|n| *n > 0) else {
            return Ok(Control::Continue);
        };
        self.batches_seen += 1;
        if !self.batches_seen.is_multiple_of(n) {
            return Ok(Control::Continue);
        }
        self.save(self.epoch, Some(batch), logs, model)
    }

    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        model: &mut Model,
    ) -> crate::Result<Control> {
        if self.save_freq.is_some() {
            return Ok(Control::Continue);
        }
        self.save(epoch, None, logs, model)
    }
}

impl ModelCheckpoint {
    fn save(
        &mut self,
        epoch: usize,
        batch: Option<usize>,
        logs: &Logs,
        model: &mut Model,
    ) -> Result<Control> {
        let path = match format_path(&self.filepath, epoch, batch, logs) {
            Ok(p) => p,
            Err(reason) => {
                return self.failed(format!(
                    "Failed to format this callback filepath: \"{}\". Reason: {reason}",
                    self.filepath
                ));
            }
        };
        let save = if !self.save_best_only {
            if self.verbose > 0 {
                self.said
                    .say(format!("\nEpoch {}: saving model to {path}", epoch + 1));
            }
            true
        } else if let Some(v) = logs.get_vector(&self.monitor) {
            // Keras: a warning, and this epoch saved as without save_best_only.
            let shown: Vec<String> = v.iter().map(|&x| super::history::numpy_f32(x)).collect();
            self.said.warn(format!(
                "Can save best model only when `monitor` is a scalar value. Received: [{}]. Falling back to `save_best_only=False`.",
                shown.join(" ")
            ));
            true
        } else if let Some(current) = logs.get(&self.monitor) {
            let best = self.best.map_or("None".to_string(), |b| format!("{b:.5}"));
            let improved = self.op.is_some_and(|op| op.improved(current, self.best));
            if improved {
                if self.verbose > 0 {
                    self.said.say(format!(
                        "\nEpoch {}: {} improved from {best} to {current:.5}, saving model to {path}",
                        epoch + 1,
                        self.monitor
                    ));
                }
                self.best = Some(current);
            } else if self.verbose > 0 {
                self.said.say(format!(
                    "\nEpoch {}: {} did not improve from {best}",
                    epoch + 1,
                    self.monitor
                ));
            }
            improved
        } else {
            self.said.warn(format!(
                "Can save best model only with {} available.",
                self.monitor
            ));
            true
        };
        if !save {
            return Ok(Control::Continue);
        }
        let result = if self.save_weights_only {
            model.save_weights(&path)
        } else {
            model.save(&path)
        };
        match result {
            Ok(()) => {
                if self.verbose > 0 {
                    self.said.say(format!(
                        "\nEpoch {}: finished saving model to {path}",
                        epoch + 1
                    ));
                }
                self.saved.push(PathBuf::from(path));
                Ok(Control::Continue)
            }
            Err(e) => self.failed(format!("ModelCheckpoint could not save {path}: {e}")),
        }
    }

    /// A save that did not happen: an error, or a warning with `continue_on_error`.
    fn failed(&mut self, message: String) -> Result<Control> {
        if self.continue_on_error {
            self.said
                .warn(format!("{message}; training goes on (continue_on_error)"));
            Ok(Control::Continue)
        } else {
            Err(Error::State(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn paths_follow_python_formatting() {
        let mut logs = Logs::new();
        logs.set("val_loss", 1.0943999);
        logs.set("acc", 0.000123);
        assert_eq!(
            format_path("cnn-{epoch:02d}-{val_loss:.2f}.keras", 1, None, &logs).as_deref(),
            Ok("cnn-02-1.09.keras")
        );
        assert_eq!(
            format_path("m{epoch}.keras", 9, None, &logs).as_deref(),
            Ok("m10.keras")
        );
        assert_eq!(
            format_path("{acc:.2e}", 0, None, &logs).as_deref(),
            Ok("1.23e-04")
        );
        assert!(format_path("{nope}.keras", 0, None, &logs)
            .expect_err("unknown key")
            .contains("KeyError: 'nope'"));
    }

    #[test]
    fn saves_only_improvements_with_keras_messages() {
        let dir = std::env::temp_dir().join(format!("rkeras-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut m = Sequential::new([Dense::new(2).activation("softmax").input_shape(2).into()])
            .expect("model");
        m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])
            .expect("compile");
        let path = dir.join("best.keras").to_string_lossy().into_owned();
        let mut cb = ModelCheckpoint::new(&path)
            .monitor("val_accuracy")
            .mode("max")
            .save_best_only(true)
            .verbose(1);
        let params = TrainParams {
            verbose: 0,
            epochs: 3,
            steps: 1,
        };
        cb.on_train_begin(&params, &mut m).expect("begin");
        for (e, acc) in [0.5, 0.4, 0.75].iter().enumerate() {
            let mut logs = Logs::new();
            logs.set("val_accuracy", *acc);
            assert_eq!(
                cb.on_epoch_end(e, &logs, &mut m).expect("saved"),
                Control::Continue
            );
        }
        assert_eq!(cb.saved().len(), 2);
        assert_eq!(
            cb.messages()[0],
            format!(
                "\nEpoch 1: val_accuracy improved from None to 0.50000, saving model to {path}"
            )
        );
        assert_eq!(
            cb.messages()[2],
            "\nEpoch 2: val_accuracy did not improve from 0.50000"
        );
        assert!(crate::saving::load_model(&path).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn save_freq_counts_batches_across_epochs() {
        let dir = std::env::temp_dir().join(format!("rkeras-ckpt-freq-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut m = Sequential::new([Dense::new(1).input_shape(1).into()]).expect("model");
        m.compile("sgd", "mse", &[]).expect("compile");
        let x = Tensor::new(vec![6, 1], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).expect("x");
        let path = dir
            .join("m-{epoch}-{batch}.keras")
            .to_string_lossy()
            .into_owned();
        let mut cb = ModelCheckpoint::new(&path).save_freq(2);
        // 3 batches per epoch, 2 epochs: saves after batches 2, 4 and 6.
        m.fit(&x, &x)
            .epochs(2)
            .batch_size(2)
            .verbose(0)
            .callback(&mut cb)
            .run()
            .expect("fit");
        let names: Vec<String> = cb
            .saved()
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(names, ["m-1-2.keras", "m-2-1.keras", "m-2-3.keras"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_save_stops_fit_with_the_error_unless_asked_to_go_on() {
        let dir = std::env::temp_dir().join(format!("rkeras-ckpt-fail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        // The checkpoint's folder is a file: every save fails, as on a full disk.
        let blocker = dir.join("not-a-folder");
        std::fs::write(&blocker, b"x").expect("file");
        let path = blocker.join("m.keras").to_string_lossy().into_owned();
        let mut m = Sequential::new([Dense::new(1).input_shape(1).into()]).expect("model");
        m.compile("sgd", "mse", &[]).expect("compile");
        let x = Tensor::new(vec![4, 1], vec![0.0, 1.0, 2.0, 3.0]).expect("x");
        let mut cb = ModelCheckpoint::new(&path);
        let err = m
            .fit(&x, &x)
            .epochs(3)
            .verbose(0)
            .callback(&mut cb)
            .run()
            .expect_err("the save fails");
        let text = err.to_string();
        assert!(text.contains("ModelCheckpoint could not save"), "{text}");
        assert!(text.contains("not-a-folder"), "{text}");
        let mut cb = ModelCheckpoint::new(&path).continue_on_error(true);
        let h = m
            .fit(&x, &x)
            .epochs(3)
            .verbose(0)
            .callback(&mut cb)
            .run()
            .expect("goes on");
        assert_eq!(h.epoch, vec![0, 1, 2]);
        assert_eq!(cb.messages().len(), 3, "{:?}", cb.messages());
        assert!(cb.messages()[0].contains("training goes on"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn suffixes_are_checked_before_training() {
        let mut m = Sequential::new([Dense::new(1).input_shape(1).into()]).expect("model");
        let params = TrainParams {
            verbose: 0,
            epochs: 1,
            steps: 1,
        };
        let e = ModelCheckpoint::new("x.txt")
            .on_train_begin(&params, &mut m)
            .expect_err("h5")
            .to_string();
        assert!(e.contains("must end in `.keras`"), "{e}");
        let e = ModelCheckpoint::new("x.keras")
            .save_weights_only(true)
            .on_train_begin(&params, &mut m)
            .expect_err("weights")
            .to_string();
        assert!(e.contains("`.weights.h5`"), "{e}");
    }
}
