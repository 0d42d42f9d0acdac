//! What the monitoring callbacks share (Keras's `MonitorCallback`): the direction of the
//! monitored quantity and the improvement test with `min_delta`.

use crate::error::{Error, Result};

/// Whether the monitored quantity should go down or up (Keras's `mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// From the name: losses and errors go down, accuracies go up.
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

impl Mode {
    /// Parses `"auto"`, `"min"` or `"max"`; anything else falls back to auto with a warning,
    /// as Keras does.
    pub fn parse(s: &str, callback: &str) -> Mode {
        match s {
            "auto" => Mode::Auto,
            "min" => Mode::Min,
            "max" => Mode::Max,
            other => {
                eprintln!("Warning: {callback} mode '{other}' is unknown, fallback to auto mode.");
                Mode::Auto
            }
        }
    }
}

/// The improvement test of one monitor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Monitor {
    /// Lower is better.
    pub lower: bool,
    /// Signed: negative in min mode.
    pub min_delta: f64,
}

/// The direction Keras infers for a metric: losses and the error metrics go down, the
/// accuracy family goes up. `None` when rkeras cannot tell.
pub(crate) fn direction(metric: &str) -> Option<bool> {
    let m = metric.strip_prefix("val_").unwrap_or(metric);
    let ends = |suffixes: &[&str]| {
        suffixes
            .iter()
            .any(|s| m == *s || m.ends_with(&format!("_{s}")))
    };
    match m {
        "loss" => Some(true),
        _ if ends(&[
            "loss",
            "mse",
            "mae",
            "mean_squared_error",
            "mean_absolute_error",
            "root_mean_squared_error",
            "false_positives",
            "false_negatives",
        ]) =>
        {
            Some(true)
        }
        _ if m.ends_with("accuracy")
            || ends(&[
                "precision",
                "recall",
                "auc",
                "true_positives",
                "true_negatives",
                "f1_score",
                "fbeta_score",
            ]) =>
        {
            Some(false)
        }
        _ => None,
    }
}

impl Monitor {
    /// The test for `monitor` in `mode` (Keras's `_set_monitor_op`).
    pub fn new(monitor: &str, mode: Mode, min_delta: f64, callback: &str) -> Result<Monitor> {
        let lower = match mode {
            Mode::Min => true,
            Mode::Max => false,
            Mode::Auto => direction(monitor).ok_or_else(|| {
                Error::arg(
                    "monitor",
                    "",
                    format!("{callback} callback received monitor={monitor}, but Keras isn't able to automatically determine whether that metric should be maximized or minimized. Pass `mode='max'` in order to monitor based on the highest metric value, or pass `mode='min'` in order to use the lowest value."),
                )
            })?,
        };
        let d = min_delta.abs();
        Ok(Monitor {
            lower,
            min_delta: if lower { -d } else { d },
        })
    }

    /// `current - min_delta OP reference`; no reference yet counts as an improvement.
    pub fn improved(&self, current: f64, reference: Option<f64>) -> bool {
        match reference {
            None => true,
            Some(r) if self.lower => current - self.min_delta < r,
            Some(r) => current - self.min_delta > r,
        }
    }
}

/// The error for a monitored value that is a vector (one number per class or threshold):
/// Keras fails on it too, with `ValueError: The truth value of an array with more than one
/// element is ambiguous`, when it compares two epochs' arrays.
pub(crate) fn vector_monitor(callback: &str, monitor: &str, values: &[f64]) -> Error {
    let shown: Vec<String> = values
        .iter()
        .map(|&x| super::history::numpy_f32(x))
        .collect();
    Error::arg(
        "monitor",
        callback,
        format!(
            "`{monitor}` is a vector, one value per class or threshold ([{}]), and {callback} compares numbers; monitor a number: an averaged metric (F1Score(average=\"macro\"), \"f1\"), a single-threshold one, or a loss",
            shown.join(", ")
        ),
    )
}

/// Keras's warning for a monitored value missing from the logs.
pub(crate) fn missing(what: &str, monitor: &str, logs: &super::Logs) -> String {
    let keys: Vec<&str> = logs.keys().collect();
    format!(
        "{what} `{monitor}` which is not available. Available metrics are: {}",
        keys.join(",")
    )
}

/// Prints a callback message and keeps it, so programs and tests can read what was said.
#[derive(Clone, Debug, Default)]
pub(crate) struct Said(pub Vec<String>);

impl Said {
    pub fn say(&mut self, line: String) {
        println!("{line}");
        self.0.push(line);
    }
    pub fn warn(&mut self, line: String) {
        eprintln!("Warning: {line}");
        self.0.push(format!("Warning: {line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_and_min_delta_follow_keras() {
        let m = Monitor::new("val_loss", Mode::Auto, 0.1, "EarlyStopping").expect("auto");
        assert!(m.lower);
        assert!(m.improved(1.0, None));
        assert!(m.improved(0.85, Some(1.0)));
        assert!(!m.improved(0.95, Some(1.0)), "within min_delta");
        let m = Monitor::new("val_accuracy", Mode::Auto, 0.0, "EarlyStopping").expect("auto");
        assert!(!m.lower);
        assert!(m.improved(0.6, Some(0.5)));
        assert!(!m.improved(0.5, Some(0.5)));
        let e = Monitor::new("val_f1", Mode::Auto, 0.0, "EarlyStopping").expect_err("unknown");
        assert!(e.to_string().contains("mode='max'"), "{e}");
        assert!(Monitor::new("val_f1", Mode::Max, 0.0, "EarlyStopping").is_ok());
    }
}
