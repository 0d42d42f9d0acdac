//! Sample and class weights (Keras's `sample_weight` and `class_weight`): checks, and the
//! per-sample weights a batch of targets gets from its classes.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Keras's `class_weight`: a weight per class index; classes not listed weigh 1.
///
/// ```
/// use rkeras::train::ClassWeight;
/// let w = ClassWeight::from_pairs([(0, 1.0), (3, 5.0)]);
/// assert_eq!(w.get(3), 5.0);
/// assert_eq!(w.get(1), 1.0);
/// // "balanced": n_samples / (n_classes * count of the class).
/// let b = ClassWeight::balanced(&[0, 0, 0, 1]);
/// assert!((b.get(0) - 4.0 / 6.0).abs() < 1e-6 && (b.get(1) - 2.0).abs() < 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ClassWeight {
    weights: Vec<f32>,
    given: Vec<bool>,
}

impl ClassWeight {
    /// Weights from `(class, weight)` pairs (Keras's dict).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (usize, f32)>) -> Self {
        let mut w = ClassWeight {
            weights: Vec::new(),
            given: Vec::new(),
        };
        for (c, v) in pairs {
            if c >= w.weights.len() {
                w.weights.resize(c + 1, 1.0);
                w.given.resize(c + 1, false);
            }
            w.weights[c] = v;
            w.given[c] = true;
        }
        w
    }

    /// scikit-learn's "balanced" weights from the class of every sample:
    /// `n_samples / (n_classes * count)`, for the classes that occur.
    pub fn balanced(labels: &[usize]) -> Self {
        let k = labels.iter().max().map_or(0, |m| m + 1);
        let mut counts = vec![0usize; k];
        for &l in labels {
            counts[l] += 1;
        }
        ClassWeight::balanced_from_counts(&counts)
    }

    /// "balanced" weights from the number of samples of each class (classes with none
    /// are left out).
    ///
    /// ```
    /// use rkeras::train::ClassWeight;
    /// let w = ClassWeight::balanced_from_counts(&[30, 10]);
    /// assert!((w.get(0) - 40.0 / 60.0).abs() < 1e-6 && (w.get(1) - 2.0).abs() < 1e-6);
    /// ```
    pub fn balanced_from_counts(counts: &[usize]) -> Self {
        let present = counts.iter().filter(|c| **c > 0).count().max(1);
        let n: usize = counts.iter().sum();
        ClassWeight::from_pairs(
            counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, &c)| (i, (n as f64 / (present as f64 * c as f64)) as f32)),
        )
    }

    /// Parses `"0:1,3:5"` (the CLI's `--class-weight`).
    ///
    /// # Errors
    /// A pair that is not `CLASS:WEIGHT`, or a class given twice.
    pub fn parse(s: &str) -> Result<Self> {
        let mut pairs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || {
                Error::arg(
                    "class_weight",
                    part,
                    "expected CLASS:WEIGHT pairs separated by commas, such as 0:1,3:5, or \"balanced\"",
                )
            };
            let (c, w) = part.split_once(':').ok_or_else(bad)?;
            let c: usize = c.trim().parse().map_err(|_| bad())?;
            let w: f32 = w.trim().parse().map_err(|_| bad())?;
            if pairs.iter().any(|(p, _)| *p == c) {
                return Err(Error::arg(
                    "class_weight",
                    part,
                    format!("class {c} is given twice"),
                ));
            }
            pairs.push((c, w));
        }
        Ok(ClassWeight::from_pairs(pairs))
    }

    /// The weight of class `c` (1 when not given).
    pub fn get(&self, c: usize) -> f32 {
        self.weights.get(c).copied().unwrap_or(1.0)
    }

    /// The classes given, with their weights.
    pub fn pairs(&self) -> Vec<(usize, f32)> {
        self.weights
            .iter()
            .enumerate()
            .filter(|(i, _)| self.given[*i])
            .map(|(i, w)| (i, *w))
            .collect()
    }

    /// Checks the weights against a model output of `cols` classes (1: binary, classes 0
    /// and 1).
    pub(crate) fn check(&self, cols: usize) -> Result<()> {
        let classes = cols.max(2);
        for (c, w) in self.pairs() {
            if c >= classes {
                return Err(Error::arg(
                    "class_weight",
                    "",
                    format!(
                        "class {c} does not exist: the model output has {classes} classes (0 to {})",
                        classes - 1
                    ),
                ));
            }
            if !(w.is_finite() && w >= 0.0) {
                return Err(Error::arg(
                    "class_weight",
                    "",
                    format!("class {c}: expected a finite weight >= 0, received {w}"),
                ));
            }
        }
        Ok(())
    }

    /// Writes the weight of each of `n` target rows (class indices when `sparse`, else
    /// one-hot or probability rows of `cols`, or one 0/1 value when `cols == 1`), as
    /// Keras: argmax of a row, or the rounded value of a single one.
    pub(crate) fn fill(&self, y: &[f32], n: usize, row_len: usize, out: &mut [f32]) {
        for (i, o) in out[..n].iter_mut().enumerate() {
            let row = &y[i * row_len..(i + 1) * row_len];
            let c = if row_len == 1 {
                row[0].round().max(0.0) as usize
            } else {
                rkeras_kernels::reduce::argmax(row)
            };
            *o = self.get(c);
        }
    }
}

/// Checks sample weights: one finite value >= 0 per sample, `n` samples.
pub(crate) fn check_sample_weight(w: &Tensor, n: usize) -> Result<()> {
    if w.shape().len() != 1 && !(w.shape().len() == 2 && w.shape()[1] == 1) {
        return Err(Error::arg(
            "sample_weight",
            "",
            format!(
                "expected one weight per sample, shape ({n},), received shape {:?}",
                w.shape()
            ),
        ));
    }
    if w.rows() != n {
        return Err(Error::arg(
            "sample_weight",
            "",
            format!(
                "expected one weight per sample ({n}), received {}",
                w.rows()
            ),
        ));
    }
    if let Some(i) = w.data().iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(Error::arg(
            "sample_weight",
            "",
            format!(
                "sample {i}: expected a finite weight >= 0, received {}",
                w.data()[i]
            ),
        ));
    }
    Ok(())
}
