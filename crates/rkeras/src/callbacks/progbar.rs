//! `ProgbarLogger`: Keras's progress line.
//!
//! On a terminal: the dynamic bar (`\b`/`\r` redraws, bold counter, green/white bar, ETA,
//! time per step, metrics in alphabetical order, at most every 0.05 s). When stdout is not a
//! terminal, only the final line of each epoch is printed and without colour codes, so logs
//! stay readable (Keras writes the escape codes to files too).

use super::{Callback, Control, Logs, TrainParams};
use crate::model::Model;
use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Prints `Epoch i/N` and the progress line, like Keras's `verbose=1` or `verbose=2`.
#[derive(Debug)]
pub struct ProgbarLogger {
    verbose: u8,
    epochs: usize,
    steps: usize,
    dynamic: bool,
    start: Instant,
    last_update: Option<Instant>,
    after_first: Option<Instant>,
    prev_width: usize,
    line: String,
}

impl ProgbarLogger {
    /// A progress logger for `verbose` 1 (bar) or 2 (one line per epoch).
    pub fn new(verbose: u8) -> Self {
        ProgbarLogger {
            verbose,
            epochs: 0,
            steps: 0,
            dynamic: std::io::stdout().is_terminal(),
            start: Instant::now(),
            last_update: None,
            after_first: None,
            prev_width: 0,
            line: String::with_capacity(256),
        }
    }

    fn time_per_step(&mut self, current: usize, now: Instant) -> f64 {
        if current == 0 {
            return 0.0;
        }
        let t = match self.after_first {
            Some(t1) if current > 1 => now.duration_since(t1).as_secs_f64() / (current - 1) as f64,
            _ => now.duration_since(self.start).as_secs_f64() / current as f64,
        };
        if current == 1 {
            self.after_first = Some(now);
        }
        t
    }

    fn update(&mut self, current: usize, logs: &Logs, finalize: bool) {
        use std::fmt::Write as _;
        let now = Instant::now();
        let tps = self.time_per_step(current, now);
        if !finalize {
            if !self.dynamic || self.verbose != 1 {
                return;
            }
            if self
                .last_update
                .is_some_and(|t| now.duration_since(t).as_secs_f64() < 0.05)
            {
                return;
            }
        }
        self.last_update = Some(now);
        let elapsed = now.duration_since(self.start).as_secs_f64();
        let digits = self.steps.max(1).to_string().len();
        let color = self.dynamic;
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let mut visible = 0usize;
        if self.verbose == 2 {
            let _ = write!(
                line,
                "{current:>digits$}/{} - {elapsed:.0}s -{}",
                self.steps,
                format_time(tps)
            );
        } else {
            let (b, e) = if color {
                ("\x1b[1m", "\x1b[0m")
            } else {
                ("", "")
            };
            let count = format!("{current:>digits$}/{}", self.steps);
            let _ = write!(line, "{b}{count}{e} ");
            let done = (20 * current / self.steps.max(1)).min(20);
            if color {
                if done > 0 {
                    let _ = write!(line, "\x1b[32m{}\x1b[0m", "━".repeat(done));
                }
                let _ = write!(line, "\x1b[37m{}\x1b[0m", "━".repeat(20 - done));
            } else {
                line.push_str(&"━".repeat(20));
            }
            let time = if finalize {
                format!("{elapsed:.0}s")
            } else {
                let eta = tps * (self.steps.saturating_sub(current)) as f64;
                if eta > 3600.0 {
                    format!(
                        "{}:{:02}:{:02}",
                        (eta / 3600.0) as u64,
                        (eta % 3600.0 / 60.0) as u64,
                        (eta % 60.0) as u64
                    )
                } else if eta > 60.0 {
                    format!("{}:{:02}", (eta / 60.0) as u64, (eta % 60.0) as u64)
                } else {
                    format!("{}s", eta as u64)
                }
            };
            let _ = write!(line, " {b}{time}{e}{}", format_time(tps));
            visible = count.chars().count()
                + 1
                + 20
                + 1
                + time.chars().count()
                + format_time(tps).chars().count();
        }
        // A vector value (one per class or threshold) shows its mean, as Keras's `np.mean`.
        let mut keys: Vec<(&str, f64)> = logs.values().map(|(k, v)| (k, v.mean())).collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in keys {
            let m = format!(" - {k}: {}", format_value(v));
            visible += m.chars().count();
            line.push_str(&m);
        }
        let mut out = std::io::stdout().lock();
        if self.verbose == 1 && self.dynamic {
            let back = "\u{8}".repeat(self.prev_width);
            let _ = write!(out, "{back}\r{line}");
            if self.prev_width > visible {
                let _ = write!(out, "{}", " ".repeat(self.prev_width - visible));
            }
            self.prev_width = visible;
        } else {
            let _ = write!(out, "{line}");
        }
        if finalize {
            let _ = writeln!(out);
            self.prev_width = 0;
        }
        let _ = out.flush();
        self.line = line;
    }
}

/// Keras's time-per-step text: ` 5s/step`, ` 69ms/step`, ` 120us/step`.
pub fn format_time(t: f64) -> String {
    if t >= 1.0 || t == 0.0 {
        format!(" {t:.0}s/step")
    } else if t >= 1e-3 {
        format!(" {:.0}ms/step", t * 1e3)
    } else {
        format!(" {:.0}us/step", t * 1e6)
    }
}

/// Keras's metric text: `%.4f`, or `%.4e` when `|v| <= 1e-3`.
pub fn format_value(v: f64) -> String {
    if v.abs() > 1e-3 {
        format!("{v:.4}")
    } else {
        // Python's exponent form: 1.2340e-04.
        let s = format!("{v:.4e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = if let Some(d) = e.strip_prefix('-') {
                    ('-', d)
                } else {
                    ('+', e)
                };
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        }
    }
}

impl Callback for ProgbarLogger {
    fn on_train_begin(&mut self, params: &TrainParams, _model: &mut Model) -> crate::Result<()> {
        self.epochs = params.epochs;
        self.steps = params.steps;
        Ok(())
    }
    fn on_epoch_begin(&mut self, epoch: usize, _model: &mut Model) {
        if self.epochs > 1 {
            println!("Epoch {}/{}", epoch + 1, self.epochs);
        }
        self.start = Instant::now();
        self.after_first = None;
        self.last_update = None;
        self.prev_width = 0;
    }
    fn on_train_batch_end(
        &mut self,
        batch: usize,
        logs: &Logs,
        _model: &mut Model,
    ) -> crate::Result<Control> {
        self.update(batch + 1, logs, false);
        Ok(Control::Continue)
    }
    fn on_epoch_end(
        &mut self,
        _epoch: usize,
        logs: &Logs,
        _model: &mut Model,
    ) -> crate::Result<Control> {
        self.update(self.steps, logs, true);
        Ok(Control::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn keras_number_formats() {
        assert_eq!(format_value(0.38541), "0.3854");
        assert_eq!(format_value(0.000123), "1.2300e-04");
        assert_eq!(format_time(0.069), " 69ms/step");
        assert_eq!(format_time(2.4), " 2s/step");
        assert_eq!(format_time(0.0005), " 500us/step");
    }
}
