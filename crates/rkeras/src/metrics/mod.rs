//! Metrics, resolved like Keras: `"accuracy"` picks binary, sparse-categorical or categorical
//! accuracy from the shapes of outputs and targets. Each metric is a running mean over the
//! samples seen since its last reset (Keras's stateful metrics).

use crate::error::{Error, Result};
use rkeras_kernels::reduce::argmax;

/// What a metric computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// `"accuracy"`/`"acc"`: resolved from shapes at the start of training.
    Accuracy,
    /// Output above the threshold equals the 0/1 target.
    BinaryAccuracy(f32),
    /// argmax(output) == argmax(target).
    CategoricalAccuracy,
    /// argmax(output) == integer target.
    SparseCategoricalAccuracy,
    /// The target class is among the `k` largest outputs (`sparse`: integer targets).
    TopK {
        /// How many top classes count.
        k: usize,
        /// Integer targets.
        sparse: bool,
    },
    /// Mean squared error.
    MeanSquaredError,
    /// Mean absolute error.
    MeanAbsoluteError,
}

/// A named running metric.
///
/// ```
/// use rkeras::metrics::Metric;
/// let mut m = Metric::from_name("categorical_accuracy")?;
/// m.update(&[0.1, 0.9, 0.8, 0.2], &[0.0, 1.0, 0.0, 1.0], 2, 2);
/// assert_eq!(m.result(), 0.5);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Metric {
    name: String,
    kind: Kind,
    total: f64,
    count: f64,
}

const NAMES: &[&str] = &[
    "accuracy",
    "acc",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
];

impl Metric {
    /// A metric by Keras name; it is displayed and logged under that name.
    ///
    /// # Errors
    /// Unknown names, listing the known ones.
    pub fn from_name(name: &str) -> Result<Self> {
        let kind = match name {
            "accuracy" | "acc" => Kind::Accuracy,
            "binary_accuracy" => Kind::BinaryAccuracy(0.5),
            "categorical_accuracy" => Kind::CategoricalAccuracy,
            "sparse_categorical_accuracy" => Kind::SparseCategoricalAccuracy,
            "top_k_categorical_accuracy" => Kind::TopK {
                k: 5,
                sparse: false,
            },
            "sparse_top_k_categorical_accuracy" => Kind::TopK { k: 5, sparse: true },
            "mean_squared_error" | "mse" => Kind::MeanSquaredError,
            "mean_absolute_error" | "mae" => Kind::MeanAbsoluteError,
            _ => return Err(Error::unknown("metric", name, NAMES)),
        };
        Ok(Metric {
            name: name.into(),
            kind,
            total: 0.0,
            count: 0.0,
        })
    }

    /// A metric of `kind` under `name`.
    pub fn new(name: &str, kind: Kind) -> Self {
        Metric {
            name: name.into(),
            kind,
            total: 0.0,
            count: 0.0,
        }
    }

    /// The displayed name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The (resolved) kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// Higher is better (accuracy family), as Keras's `_direction == "up"`.
    pub fn higher_is_better(&self) -> bool {
        !matches!(self.kind, Kind::MeanSquaredError | Kind::MeanAbsoluteError)
    }

    /// Resolves `"accuracy"` from the output width and whether targets are class indices
    /// (Keras's rule: one output unit means binary; integer targets mean sparse).
    pub fn resolve(&mut self, cols: usize, sparse_targets: bool) {
        if self.kind == Kind::Accuracy {
            self.kind = if cols == 1 {
                Kind::BinaryAccuracy(0.5)
            } else if sparse_targets {
                Kind::SparseCategoricalAccuracy
            } else {
                Kind::CategoricalAccuracy
            };
        }
    }

    /// Forgets what was accumulated.
    pub fn reset(&mut self) {
        self.total = 0.0;
        self.count = 0.0;
    }

    /// Accumulates `n` samples. Targets: one value per row for sparse kinds, else `cols`.
    pub fn update(&mut self, y_pred: &[f32], y_true: &[f32], n: usize, cols: usize) {
        self.update_weighted(y_pred, y_true, n, cols, None);
    }

    /// [`update`](Self::update) with sample weights, as Keras's
    /// `update_state(y_true, y_pred, sample_weight)`: the running value becomes the weighted
    /// mean `sum(w * value) / sum(w)`. `weights` holds one value per sample; an output with
    /// several rows per sample gives each row its sample's weight.
    ///
    /// ```
    /// use rkeras::metrics::Metric;
    /// let mut m = Metric::from_name("categorical_accuracy")?;
    /// // The first sample is right and weighs 3, the second is wrong and weighs 1.
    /// m.update_weighted(&[0.1, 0.9, 0.8, 0.2], &[0.0, 1.0, 0.0, 1.0], 2, 2, Some(&[3.0, 1.0]));
    /// assert_eq!(m.result(), 0.75);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn update_weighted(
        &mut self,
        y_pred: &[f32],
        y_true: &[f32],
        n: usize,
        cols: usize,
        weights: Option<&[f32]>,
    ) {
        let per = weights.map_or(1, |w| (n / w.len().max(1)).max(1));
        for r in 0..n {
            let w = weights.map_or(1.0, |w| {
                f64::from(w[(r / per).min(w.len().saturating_sub(1))])
            });
            let p = &y_pred[r * cols..(r + 1) * cols];
            let v = match self.kind {
                Kind::Accuracy | Kind::CategoricalAccuracy => {
                    let t = &y_true[r * cols..(r + 1) * cols];
                    (argmax(p) == argmax(t)) as u8 as f64
                }
                Kind::SparseCategoricalAccuracy => (argmax(p) == y_true[r] as usize) as u8 as f64,
                Kind::BinaryAccuracy(th) => {
                    let t = &y_true[r * cols..(r + 1) * cols];
                    let hits = p
                        .iter()
                        .zip(t)
                        .filter(|(a, b)| ((**a > th) as u8 as f32) == **b)
                        .count();
                    hits as f64 / cols as f64
                }
                Kind::TopK { k, sparse } => {
                    let c = if sparse {
                        y_true[r] as usize
                    } else {
                        argmax(&y_true[r * cols..(r + 1) * cols])
                    };
                    let above = p.iter().filter(|v| **v > p[c.min(cols - 1)]).count();
                    (above < k) as u8 as f64
                }
                Kind::MeanSquaredError | Kind::MeanAbsoluteError => {
                    let t = &y_true[r * cols..(r + 1) * cols];
                    let s: f64 = p
                        .iter()
                        .zip(t)
                        .map(|(a, b)| {
                            let d = (a - b) as f64;
                            if self.kind == Kind::MeanSquaredError {
                                d * d
                            } else {
                                d.abs()
                            }
                        })
                        .sum();
                    s / cols as f64
                }
            };
            self.total += v * w;
            self.count += w;
        }
    }

    /// The running mean (0 before any update).
    pub fn result(&self) -> f64 {
        if self.count == 0.0 {
            0.0
        } else {
            self.total / self.count
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn accuracy_resolves_like_keras() {
        let mut m = Metric::from_name("accuracy").expect("m");
        m.resolve(1, true);
        assert_eq!(m.kind(), Kind::BinaryAccuracy(0.5));
        let mut m = Metric::from_name("acc").expect("m");
        m.resolve(10, true);
        assert_eq!(m.kind(), Kind::SparseCategoricalAccuracy);
        assert_eq!(m.name(), "acc");
        let mut m = Metric::from_name("accuracy").expect("m");
        m.resolve(10, false);
        assert_eq!(m.kind(), Kind::CategoricalAccuracy);
        assert!(Metric::from_name("precisionz").is_err());
    }
    #[test]
    fn top_k_and_binary() {
        let mut m = Metric::new("t", Kind::TopK { k: 2, sparse: true });
        m.update(&[0.1, 0.5, 0.4, 0.0, 0.3, 0.2, 0.5, 0.0], &[2.0, 3.0], 2, 4);
        assert_eq!(m.result(), 0.5);
        let mut b = Metric::new("b", Kind::BinaryAccuracy(0.5));
        b.update(&[0.7, 0.2, 0.6], &[1.0, 1.0, 0.0], 3, 1);
        assert!((b.result() - 1.0 / 3.0).abs() < 1e-12);
    }
}
