//! Stateful metrics behind an open trait ([`MetricState`]): Keras's confusion-matrix
//! metrics (`Precision`, `Recall`, `TruePositives`, ...), `AUC` (ROC and PR) and
//! `RootMeanSquaredError`, and any metric of your own.

use std::fmt::Debug;

/// A metric's state: updated batch by batch, read at any time, reset at each epoch (Keras's
/// `update_state` / `result` / `reset_state`). Implement it for a metric of your own and
/// wrap it with [`Metric::custom`](super::Metric::custom).
///
/// ```
/// use rkeras::metrics::{Metric, MetricState};
/// /// The largest absolute error seen.
/// #[derive(Clone, Debug, Default)]
/// struct MaxError(f64);
/// impl MetricState for MaxError {
///     fn update(&mut self, y_pred: &[f32], y_true: &[f32], _n: usize, _cols: usize, _w: Option<&[f32]>) {
///         for (p, t) in y_pred.iter().zip(y_true) {
///             self.0 = self.0.max(f64::from((p - t).abs()));
///         }
///     }
///     fn result(&self) -> f64 { self.0 }
///     fn reset(&mut self) { self.0 = 0.0 }
///     fn higher_is_better(&self) -> bool { false }
///     fn clone_box(&self) -> Box<dyn MetricState> { Box::new(self.clone()) }
/// }
/// let mut m = Metric::custom("max_error", MaxError::default());
/// m.update(&[1.0, 2.5], &[1.0, 2.0], 2, 1);
/// assert_eq!(m.result(), 0.5);
/// ```
pub trait MetricState: Send + Sync + Debug {
    /// Accumulates `n` rows of `cols` predictions; `y_true` holds one class index per row
    /// (sparse targets) or `cols` values; `weights` one per sample when given.
    fn update(
        &mut self,
        y_pred: &[f32],
        y_true: &[f32],
        n: usize,
        cols: usize,
        weights: Option<&[f32]>,
    );
    /// The value now.
    fn result(&self) -> f64;
    /// Forgets everything accumulated.
    fn reset(&mut self);
    /// Whether a higher value is better (for `mode="auto"` monitors).
    fn higher_is_better(&self) -> bool {
        true
    }
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn MetricState>;
    /// Keras's serialized form of this metric under `name` (`{"module": "keras.metrics",
    /// "class_name": ..., "config": ...}`), when it has a Keras class.
    fn config(&self, _name: &str) -> Option<serde_json::Value> {
        None
    }
}

/// Keras's serialized metric.
pub(crate) fn keras_metric(class: &str, config: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"module": "keras.metrics", "class_name": class, "config": config, "registered_name": null})
}

impl Clone for Box<dyn MetricState> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// The target of element `j` of row `r`: sparse targets are one-hot encoded on the fly.
pub(crate) fn target(y_true: &[f32], n: usize, cols: usize, r: usize, j: usize) -> f32 {
    if y_true.len() == n && cols > 1 {
        (y_true[r] as usize == j) as u8 as f32
    } else {
        y_true[r * cols + j]
    }
}

/// The weight of row `r` (rows of a sample share its weight).
pub(crate) fn weight(weights: Option<&[f32]>, n: usize, r: usize) -> f64 {
    weights.map_or(1.0, |w| {
        let per = (n / w.len().max(1)).max(1);
        f64::from(w[(r / per).min(w.len().saturating_sub(1))])
    })
}

/// Which of the confusion counts a metric reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confusion {
    /// TP / (TP + FP).
    Precision,
    /// TP / (TP + FN).
    Recall,
    /// TP.
    TruePositives,
    /// FP.
    FalsePositives,
    /// TN.
    TrueNegatives,
    /// FN.
    FalseNegatives,
}

/// Keras's confusion-matrix metrics at one threshold: every output value is a binary
/// decision (`> threshold`), or, with `top_k`, the `k` largest of a row are the positives;
/// `class_id` looks at one class only.
#[derive(Clone, Debug)]
pub struct ConfusionMetric {
    /// What it reports.
    pub what: Confusion,
    /// The decision threshold (Keras's default: 0.5, or none with `top_k`).
    pub threshold: Option<f32>,
    /// Only the `k` largest outputs of a row count as positive.
    pub top_k: Option<usize>,
    /// Only this class (output column) counts.
    pub class_id: Option<usize>,
    tp: f64,
    fp: f64,
    tn: f64,
    fn_: f64,
}

impl ConfusionMetric {
    /// `what` at threshold 0.5 over every output.
    pub fn new(what: Confusion) -> Self {
        ConfusionMetric {
            what,
            threshold: None,
            top_k: None,
            class_id: None,
            tp: 0.0,
            fp: 0.0,
            tn: 0.0,
            fn_: 0.0,
        }
    }
}

impl MetricState for ConfusionMetric {
    fn update(
        &mut self,
        y_pred: &[f32],
        y_true: &[f32],
        n: usize,
        cols: usize,
        weights: Option<&[f32]>,
    ) {
        for r in 0..n {
            let w = weight(weights, n, r);
            let row = &y_pred[r * cols..(r + 1) * cols];
            // With top_k, the k-th largest value of the row is the bar to pass.
            let kth = self.top_k.map(|k| {
                let mut v: Vec<f32> = row.to_vec();
                v.sort_by(|a, b| b.total_cmp(a));
                v[(k.min(cols)).saturating_sub(1)]
            });
            let bar = self.threshold.unwrap_or(if self.top_k.is_some() {
                f32::NEG_INFINITY
            } else {
                0.5
            });
            for (j, &p) in row.iter().enumerate() {
                if self.class_id.is_some_and(|c| c != j) {
                    continue;
                }
                let pos = kth.is_none_or(|k| p >= k) && p > bar;
                let truth = target(y_true, n, cols, r, j) > 0.5;
                match (pos, truth) {
                    (true, true) => self.tp += w,
                    (true, false) => self.fp += w,
                    (false, false) => self.tn += w,
                    (false, true) => self.fn_ += w,
                }
            }
        }
    }
    fn result(&self) -> f64 {
        let div = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        match self.what {
            Confusion::Precision => div(self.tp, self.tp + self.fp),
            Confusion::Recall => div(self.tp, self.tp + self.fn_),
            Confusion::TruePositives => self.tp,
            Confusion::FalsePositives => self.fp,
            Confusion::TrueNegatives => self.tn,
            Confusion::FalseNegatives => self.fn_,
        }
    }
    fn reset(&mut self) {
        self.tp = 0.0;
        self.fp = 0.0;
        self.tn = 0.0;
        self.fn_ = 0.0;
    }
    fn higher_is_better(&self) -> bool {
        !matches!(
            self.what,
            Confusion::FalsePositives | Confusion::FalseNegatives
        )
    }
    fn config(&self, name: &str) -> Option<serde_json::Value> {
        let class = match self.what {
            Confusion::Precision => "Precision",
            Confusion::Recall => "Recall",
            Confusion::TruePositives => "TruePositives",
            Confusion::FalsePositives => "FalsePositives",
            Confusion::TrueNegatives => "TrueNegatives",
            Confusion::FalseNegatives => "FalseNegatives",
        };
        let t = self.threshold.map(crate::optimizers::py_float);
        let c = if matches!(self.what, Confusion::Precision | Confusion::Recall) {
            serde_json::json!({"name": name, "dtype": "float32", "thresholds": t,
                "top_k": self.top_k, "class_id": self.class_id})
        } else {
            serde_json::json!({"name": name, "dtype": "float32", "thresholds": t})
        };
        Some(keras_metric(class, c))
    }
    fn clone_box(&self) -> Box<dyn MetricState> {
        Box::new(self.clone())
    }
}

/// Keras's `AUC`: the area under the ROC or precision-recall curve, from confusion counts at
/// `num_thresholds` evenly spaced thresholds (default 200), interpolated as Keras does
/// (trapezoids for ROC, Davis & Goadrich for PR).
#[derive(Clone, Debug)]
pub struct Auc {
    /// True: the precision-recall curve; false: ROC.
    pub pr: bool,
    thresholds: Vec<f32>,
    tp: Vec<f64>,
    fp: Vec<f64>,
    tn: Vec<f64>,
    fn_: Vec<f64>,
}

impl Auc {
    /// ROC (`pr == false`) or PR AUC over `num_thresholds` thresholds (at least 2).
    pub fn new(num_thresholds: usize, pr: bool) -> Self {
        let k = num_thresholds.max(2);
        let eps = 1e-7f32;
        let mut thresholds = vec![0.0 - eps];
        thresholds.extend((1..k - 1).map(|i| i as f32 / (k - 1) as f32));
        thresholds.push(1.0 + eps);
        Auc {
            pr,
            tp: vec![0.0; k],
            fp: vec![0.0; k],
            tn: vec![0.0; k],
            fn_: vec![0.0; k],
            thresholds,
        }
    }
}

impl MetricState for Auc {
    fn update(
        &mut self,
        y_pred: &[f32],
        y_true: &[f32],
        n: usize,
        cols: usize,
        weights: Option<&[f32]>,
    ) {
        for r in 0..n {
            let w = weight(weights, n, r);
            for j in 0..cols {
                let p = y_pred[r * cols + j];
                let truth = target(y_true, n, cols, r, j) > 0.5;
                for (i, &t) in self.thresholds.iter().enumerate() {
                    match (p > t, truth) {
                        (true, true) => self.tp[i] += w,
                        (true, false) => self.fp[i] += w,
                        (false, false) => self.tn[i] += w,
                        (false, true) => self.fn_[i] += w,
                    }
                }
            }
        }
    }
    fn result(&self) -> f64 {
        let div = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        let k = self.thresholds.len();
        if self.pr {
            // Keras's interpolate_pr_auc.
            let mut total = 0.0;
            for i in 0..k - 1 {
                let dtp = self.tp[i] - self.tp[i + 1];
                let p0 = self.tp[i] + self.fp[i];
                let p1 = self.tp[i + 1] + self.fp[i + 1];
                let dp = p0 - p1;
                let slope = div(dtp, dp.max(0.0));
                let intercept = self.tp[i + 1] - slope * p1;
                let ratio = if p0 > 0.0 && p1 > 0.0 {
                    div(p0, p1.max(0.0))
                } else {
                    1.0
                };
                total += div(
                    slope * (dtp + intercept * ratio.ln()),
                    (self.tp[i + 1] + self.fn_[i + 1]).max(0.0),
                );
            }
            return total;
        }
        let recall: Vec<f64> = (0..k)
            .map(|i| div(self.tp[i], self.tp[i] + self.fn_[i]))
            .collect();
        let fpr: Vec<f64> = (0..k)
            .map(|i| div(self.fp[i], self.fp[i] + self.tn[i]))
            .collect();
        (0..k - 1)
            .map(|i| (fpr[i] - fpr[i + 1]) * (recall[i] + recall[i + 1]) / 2.0)
            .sum()
    }
    fn config(&self, name: &str) -> Option<serde_json::Value> {
        Some(keras_metric(
            "AUC",
            serde_json::json!({"name": name, "dtype": "float32", "num_thresholds": self.thresholds.len(),
                "curve": if self.pr { "PR" } else { "ROC" }, "summation_method": "interpolation",
                "multi_label": false, "num_labels": null, "label_weights": null, "from_logits": false}),
        ))
    }
    fn reset(&mut self) {
        for v in [&mut self.tp, &mut self.fp, &mut self.tn, &mut self.fn_] {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
    }
    fn clone_box(&self) -> Box<dyn MetricState> {
        Box::new(self.clone())
    }
}

/// Keras's `RootMeanSquaredError`: `sqrt(sum(w * se) / sum(w))` over every value.
#[derive(Clone, Debug, Default)]
pub struct RootMeanSquaredError {
    total: f64,
    count: f64,
}

impl MetricState for RootMeanSquaredError {
    fn update(
        &mut self,
        y_pred: &[f32],
        y_true: &[f32],
        n: usize,
        cols: usize,
        weights: Option<&[f32]>,
    ) {
        for r in 0..n {
            let w = weight(weights, n, r);
            for j in 0..cols {
                let d = f64::from(y_pred[r * cols + j] - target(y_true, n, cols, r, j));
                self.total += w * d * d;
                self.count += w;
            }
        }
    }
    fn result(&self) -> f64 {
        if self.count == 0.0 {
            0.0
        } else {
            (self.total / self.count).sqrt()
        }
    }
    fn reset(&mut self) {
        *self = RootMeanSquaredError::default();
    }
    fn config(&self, name: &str) -> Option<serde_json::Value> {
        Some(keras_metric(
            "RootMeanSquaredError",
            serde_json::json!({"name": name, "dtype": "float32"}),
        ))
    }
    fn higher_is_better(&self) -> bool {
        false
    }
    fn clone_box(&self) -> Box<dyn MetricState> {
        Box::new(self.clone())
    }
}
