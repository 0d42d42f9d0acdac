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
    /// The value now; for a vector-valued metric, the mean of its values (what Keras's
    /// progress bar shows).
    fn result(&self) -> f64;
    /// True when the value is a vector: one number per class or per threshold, as Keras's
    /// `F1Score(average=None)` or `Precision(thresholds=[0.3, 0.5, 0.7])`.
    fn is_vector(&self) -> bool {
        false
    }
    /// Writes the value into `out` (cleared first): the vector of a vector-valued metric,
    /// else the one number. Allocates nothing once `out` is long enough.
    fn result_vector(&self, out: &mut Vec<f64>) {
        out.clear();
        out.push(self.result());
    }
    /// Forgets everything accumulated.
    fn reset(&mut self);
    /// Told the width of the output rows before training or evaluation (a per-class metric
    /// sizes its vector here, so that it has one value per class before any update).
    fn build(&mut self, _cols: usize) {}
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
    /// The accumulated state as sums that add up over disjoint parts of the data (counts,
    /// weighted totals), handed to `f` slice by slice in a fixed order; `f` may change them.
    /// A data-parallel run ([`crate::distribution`]) sums each over the ranks before
    /// [`result`](Self::result), which is then exactly the metric of every rank's rows.
    /// Returns false (the default) for a state that does not add up: the ranks' results
    /// are then averaged by samples.
    ///
    /// ```
    /// use rkeras::metrics::{Confusion, ConfusionMetric, MetricState};
    /// let mut p = ConfusionMetric::new(Confusion::Precision);
    /// p.update(&[0.9, 0.8], &[1.0, 0.0], 2, 1, None); // one true, one false positive
    /// // Another rank's counts, added as a data-parallel run would: 3 true positives more.
    /// assert!(p.visit_sums(&mut |s| s[0] += 3.0));
    /// assert_eq!(p.result(), 4.0 / 5.0);
    /// ```
    fn visit_sums(&mut self, _f: &mut dyn FnMut(&mut [f64])) -> bool {
        false
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

/// Calls `f(column, prediction, target, weight)` for every output value of a batch of `n`
/// rows of `cols` (sparse targets one-hot encoded, rows weighted by their sample).
pub(crate) fn for_each_value(
    y_pred: &[f32],
    y_true: &[f32],
    n: usize,
    cols: usize,
    weights: Option<&[f32]>,
    mut f: impl FnMut(usize, f32, f32, f64),
) {
    for r in 0..n {
        let w = weight(weights, n, r);
        for j in 0..cols {
            f(j, y_pred[r * cols + j], target(y_true, n, cols, r, j), w);
        }
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

/// Keras's confusion-matrix metrics: every output value is a binary decision
/// (`> threshold`), or, with `top_k`, the `k` largest of a row are the positives;
/// `class_id` looks at one class only. With several thresholds (Keras's
/// `Precision(thresholds=[0.3, 0.5, 0.7])`) the value is a vector, one number per
/// threshold ([`MetricState::is_vector`]), as in Keras.
///
/// ```
/// use rkeras::metrics::{Confusion, ConfusionMetric, Metric};
/// let mut p = Metric::custom("precision", ConfusionMetric::new(Confusion::Precision).thresholds(vec![0.3, 0.5]));
/// p.update(&[0.4, 0.6, 0.9], &[0.0, 1.0, 1.0], 3, 1);
/// let mut v = Vec::new();
/// p.result_vector(&mut v);
/// assert!((v[0] - 2.0 / 3.0).abs() < 1e-12 && v[1] == 1.0);
/// ```
#[derive(Clone, Debug)]
pub struct ConfusionMetric {
    /// What it reports.
    pub what: Confusion,
    /// The decision thresholds; empty for Keras's default (0.5, or none with `top_k`).
    pub thresholds: Vec<f32>,
    /// Only the `k` largest outputs of a row count as positive.
    pub top_k: Option<usize>,
    /// Only this class (output column) counts.
    pub class_id: Option<usize>,
    /// Per threshold: true positives, false positives, true negatives, false negatives.
    counts: Vec<[f64; 4]>,
    /// A row's values sorted, for `top_k` (kept to avoid allocating per row).
    sorted: Vec<f32>,
}

impl ConfusionMetric {
    /// `what` at threshold 0.5 over every output.
    pub fn new(what: Confusion) -> Self {
        ConfusionMetric {
            what,
            thresholds: Vec::new(),
            top_k: None,
            class_id: None,
            counts: vec![[0.0; 4]],
            sorted: Vec::new(),
        }
    }
    /// At these thresholds (several: a vector value, one number per threshold; empty:
    /// Keras's default).
    pub fn thresholds(mut self, thresholds: Vec<f32>) -> Self {
        self.counts = vec![[0.0; 4]; thresholds.len().max(1)];
        self.thresholds = thresholds;
        self
    }
    fn value(&self, c: &[f64; 4]) -> f64 {
        let [tp, fp, tn, fn_] = *c;
        let div = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        match self.what {
            Confusion::Precision => div(tp, tp + fp),
            Confusion::Recall => div(tp, tp + fn_),
            Confusion::TruePositives => tp,
            Confusion::FalsePositives => fp,
            Confusion::TrueNegatives => tn,
            Confusion::FalseNegatives => fn_,
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
        let default = if self.top_k.is_some() {
            f32::NEG_INFINITY
        } else {
            0.5
        };
        let k = self.thresholds.len().max(1);
        if self.counts.len() != k {
            self.counts.resize(k, [0.0; 4]);
        }
        for r in 0..n {
            let w = weight(weights, n, r);
            let row = &y_pred[r * cols..(r + 1) * cols];
            // With top_k, the k-th largest value of the row is the bar to pass.
            let kth = self.top_k.map(|k| {
                self.sorted.clear();
                self.sorted.extend_from_slice(row);
                self.sorted.sort_by(|a, b| b.total_cmp(a));
                self.sorted[(k.min(cols)).saturating_sub(1)]
            });
            for (j, &p) in row.iter().enumerate() {
                if self.class_id.is_some_and(|c| c != j) {
                    continue;
                }
                let truth = target(y_true, n, cols, r, j) > 0.5;
                for (i, c) in self.counts.iter_mut().enumerate() {
                    let bar = self.thresholds.get(i).copied().unwrap_or(default);
                    let pos = kth.is_none_or(|k| p >= k) && p > bar;
                    let slot = match (pos, truth) {
                        (true, true) => 0,
                        (true, false) => 1,
                        (false, false) => 2,
                        (false, true) => 3,
                    };
                    c[slot] += w;
                }
            }
        }
    }
    fn result(&self) -> f64 {
        if self.counts.is_empty() {
            return 0.0;
        }
        let sum: f64 = self.counts.iter().map(|c| self.value(c)).sum();
        sum / self.counts.len() as f64
    }
    fn is_vector(&self) -> bool {
        self.thresholds.len() > 1
    }
    fn result_vector(&self, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.counts.iter().map(|c| self.value(c)));
    }
    fn reset(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = [0.0; 4]);
    }
    fn visit_sums(&mut self, f: &mut dyn FnMut(&mut [f64])) -> bool {
        // Every threshold's counts (the same number on every rank).
        f(self.counts.as_flattened_mut());
        true
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
        let t = match self.thresholds.as_slice() {
            [] => serde_json::Value::Null,
            [one] => serde_json::json!(crate::optimizers::py_float(*one)),
            many => serde_json::json!(many
                .iter()
                .map(|&x| crate::optimizers::py_float(x))
                .collect::<Vec<_>>()),
        };
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

/// Weighted positives and negatives by how many thresholds each prediction passes, as
/// Keras's `update_confusion_matrix_variables` buckets them: slot `b + 1` holds the values
/// decided positive at thresholds `0..=b` (slot 0: at none). Evenly spaced thresholds take
/// Keras's bucket `max(ceil(p * (k - 1)) - 1, 0)`, in `f32` as Keras computes it; others
/// count the thresholds `p` exceeds.
#[derive(Clone, Debug)]
struct ThresholdCounts {
    thresholds: Vec<f32>,
    evenly: bool,
    pos: Vec<f64>,
    neg: Vec<f64>,
}

impl ThresholdCounts {
    fn new(thresholds: Vec<f32>, evenly: bool) -> Self {
        let n = thresholds.len() + 1;
        ThresholdCounts {
            thresholds,
            evenly,
            pos: vec![0.0; n],
            neg: vec![0.0; n],
        }
    }
    fn add(&mut self, p: f32, truth: bool, w: f64) {
        let k = self.thresholds.len();
        let slot = if self.evenly {
            let b = ((p * (k - 1) as f32).ceil() - 1.0).max(0.0);
            (b as usize).min(k - 1) + 1
        } else {
            self.thresholds.iter().filter(|&&t| p > t).count()
        };
        if truth {
            self.pos[slot] += w;
        } else {
            self.neg[slot] += w;
        }
    }
    fn reset(&mut self) {
        self.pos.iter_mut().for_each(|x| *x = 0.0);
        self.neg.iter_mut().for_each(|x| *x = 0.0);
    }
    fn visit_sums(&mut self, f: &mut dyn FnMut(&mut [f64])) {
        f(&mut self.pos);
        f(&mut self.neg);
    }
    /// True positives, false positives, true negatives and false negatives per threshold.
    fn confusion(&self) -> [Vec<f64>; 4] {
        let k = self.thresholds.len();
        let (total_pos, total_neg): (f64, f64) = (self.pos.iter().sum(), self.neg.iter().sum());
        let (mut tp, mut fp) = (vec![0.0; k], vec![0.0; k]);
        let (mut above_p, mut above_n) = (0.0, 0.0);
        for i in (0..k).rev() {
            above_p += self.pos[i + 1];
            above_n += self.neg[i + 1];
            tp[i] = above_p;
            fp[i] = above_n;
        }
        let tn = fp.iter().map(|f| total_neg - f).collect();
        let fn_ = tp.iter().map(|t| total_pos - t).collect();
        [tp, fp, tn, fn_]
    }
}

/// How [`Auc`] sums the areas between thresholds (Keras's `summation_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Summation {
    /// Trapezoids for ROC; Davis & Goadrich's interpolation for PR (Keras's default).
    Interpolation,
    /// Rectangles under the lower of each pair of points.
    Minoring,
    /// Rectangles under the higher of each pair of points.
    Majoring,
}

impl Summation {
    /// Keras's name (`"interpolation"`).
    pub fn name(self) -> &'static str {
        match self {
            Summation::Interpolation => "interpolation",
            Summation::Minoring => "minoring",
            Summation::Majoring => "majoring",
        }
    }
    /// From Keras's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "interpolation" => Some(Summation::Interpolation),
            "minoring" => Some(Summation::Minoring),
            "majoring" => Some(Summation::Majoring),
            _ => None,
        }
    }
}

/// Keras's `AUC`: the area under the ROC or precision-recall curve, from confusion counts at
/// `num_thresholds` evenly spaced thresholds (default 200), summed as Keras does
/// (trapezoids for ROC, Davis & Goadrich for PR, or `minoring`/`majoring` rectangles). With
/// `multi_label`, each output column is its own label with its own curve, and the result is
/// the mean of their areas (weighted by `label_weights` when given); without it, every
/// output value is one more decision on one curve (`label_weights` then weigh the columns).
///
/// ```
/// use rkeras::metrics::{Auc, MetricState};
/// let mut auc = Auc::new(200, false).multi_label(true);
/// // Two labels: the first ranked perfectly, the second backwards.
/// auc.update(&[0.9, 0.1, 0.2, 0.8], &[1.0, 1.0, 0.0, 0.0], 2, 2, None);
/// assert!((auc.result() - 0.5).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct Auc {
    /// True: the precision-recall curve; false: ROC.
    pub pr: bool,
    thresholds: Vec<f32>,
    multi_label: bool,
    num_labels: Option<usize>,
    label_weights: Option<Vec<f32>>,
    from_logits: bool,
    summation: Summation,
    /// Counts per label (one label unless `multi_label`).
    counts: Vec<ThresholdCounts>,
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
            counts: vec![ThresholdCounts::new(thresholds.clone(), true)],
            thresholds,
            multi_label: false,
            num_labels: None,
            label_weights: None,
            from_logits: false,
            summation: Summation::Interpolation,
        }
    }
    /// One curve per output column, their areas averaged (Keras's `multi_label`).
    pub fn multi_label(mut self, on: bool) -> Self {
        self.multi_label = on;
        self
    }
    /// The number of labels with `multi_label` (else taken from the first batch).
    pub fn num_labels(mut self, n: usize) -> Self {
        self.num_labels = Some(n);
        self
    }
    /// Weights of the labels (columns): the average of the areas with `multi_label`, the
    /// decisions' weights without.
    pub fn label_weights(mut self, w: Vec<f32>) -> Self {
        self.label_weights = Some(w);
        self
    }
    /// The outputs are logits: a sigmoid first (Keras's `from_logits`).
    pub fn from_logits(mut self, on: bool) -> Self {
        self.from_logits = on;
        self
    }
    /// How the areas between thresholds are summed.
    pub fn summation_method(mut self, s: Summation) -> Self {
        self.summation = s;
        self
    }
    /// The area of one label's curve, from its counts.
    fn area(&self, tp: &[f64], fp: &[f64], tn: &[f64], fn_: &[f64]) -> f64 {
        let div = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        let k = self.thresholds.len();
        if self.pr && self.summation == Summation::Interpolation {
            // Keras's interpolate_pr_auc.
            let mut total = 0.0;
            for i in 0..k - 1 {
                let dtp = tp[i] - tp[i + 1];
                let p0 = tp[i] + fp[i];
                let p1 = tp[i + 1] + fp[i + 1];
                let dp = p0 - p1;
                let slope = div(dtp, dp.max(0.0));
                let intercept = tp[i + 1] - slope * p1;
                let ratio = if p0 > 0.0 && p1 > 0.0 {
                    div(p0, p1.max(0.0))
                } else {
                    1.0
                };
                total += div(
                    slope * (dtp + intercept * ratio.ln()),
                    (tp[i + 1] + fn_[i + 1]).max(0.0),
                );
            }
            return total;
        }
        let recall: Vec<f64> = (0..k).map(|i| div(tp[i], tp[i] + fn_[i])).collect();
        let (x, y): (Vec<f64>, Vec<f64>) = if self.pr {
            let precision = (0..k).map(|i| div(tp[i], tp[i] + fp[i])).collect();
            (recall, precision)
        } else {
            let fpr = (0..k).map(|i| div(fp[i], fp[i] + tn[i])).collect();
            (fpr, recall)
        };
        (0..k - 1)
            .map(|i| {
                let h = match self.summation {
                    Summation::Interpolation => (y[i] + y[i + 1]) / 2.0,
                    Summation::Minoring => y[i].min(y[i + 1]),
                    Summation::Majoring => y[i].max(y[i + 1]),
                };
                (x[i] - x[i + 1]) * h
            })
            .sum()
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
        if self.multi_label && self.counts.len() != self.num_labels.unwrap_or(cols) {
            // Built on the first batch (Keras's `_build`), unless `num_labels` said.
            let labels = self.num_labels.unwrap_or(cols).max(1);
            self.counts = vec![ThresholdCounts::new(self.thresholds.clone(), true); labels];
        }
        let labels = self.counts.len();
        let (multi, logits) = (self.multi_label, self.from_logits);
        let column_weights = self.label_weights.as_deref().filter(|_| !multi);
        let counts = &mut self.counts;
        for_each_value(y_pred, y_true, n, cols, weights, |j, p, t, w| {
            let p = if logits {
                rkeras_kernels::activation::sigmoid(p)
            } else {
                p
            };
            let lw = column_weights
                .and_then(|l| l.get(j))
                .map_or(1.0, |v| f64::from(*v));
            let label = if multi { j % labels } else { 0 };
            counts[label].add(p, t > 0.5, w * lw);
        });
    }
    fn result(&self) -> f64 {
        let by_label: Vec<f64> = self
            .counts
            .iter()
            .map(|c| {
                let [tp, fp, tn, fn_] = c.confusion();
                self.area(&tp, &fp, &tn, &fn_)
            })
            .collect();
        if !self.multi_label {
            return by_label.first().copied().unwrap_or(0.0);
        }
        match &self.label_weights {
            None => by_label.iter().sum::<f64>() / by_label.len().max(1) as f64,
            Some(lw) => {
                let num: f64 = by_label
                    .iter()
                    .zip(lw)
                    .map(|(a, w)| a * f64::from(*w))
                    .sum();
                let den: f64 = lw.iter().map(|w| f64::from(*w)).sum();
                if den == 0.0 {
                    0.0
                } else {
                    num / den
                }
            }
        }
    }
    fn config(&self, name: &str) -> Option<serde_json::Value> {
        Some(keras_metric(
            "AUC",
            serde_json::json!({"name": name, "dtype": "float32", "num_thresholds": self.thresholds.len(),
                "curve": if self.pr { "PR" } else { "ROC" }, "summation_method": self.summation.name(),
                "multi_label": self.multi_label, "num_labels": self.num_labels,
                "label_weights": self.label_weights.as_ref().map(|w| serde_json::json!(
                    {"class_name": "__tensor__", "config": {"value": w, "dtype": "float32"}})),
                "from_logits": self.from_logits}),
        ))
    }
    fn reset(&mut self) {
        self.counts.iter_mut().for_each(ThresholdCounts::reset);
    }
    fn visit_sums(&mut self, f: &mut dyn FnMut(&mut [f64])) -> bool {
        self.counts.iter_mut().for_each(|c| c.visit_sums(&mut *f));
        true
    }
    fn clone_box(&self) -> Box<dyn MetricState> {
        Box::new(self.clone())
    }
}

/// Which point of the curve a [`CurvePoint`] metric reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurvePointKind {
    /// Keras's `PrecisionAtRecall(recall)`: the best precision where recall >= the value.
    PrecisionAtRecall,
    /// Keras's `RecallAtPrecision(precision)`: the best recall where precision >= the value.
    RecallAtPrecision,
    /// Keras's `SensitivityAtSpecificity(specificity)`.
    SensitivityAtSpecificity,
    /// Keras's `SpecificityAtSensitivity(sensitivity)`.
    SpecificityAtSensitivity,
}

impl CurvePointKind {
    /// Keras's class name.
    pub fn class_name(self) -> &'static str {
        match self {
            CurvePointKind::PrecisionAtRecall => "PrecisionAtRecall",
            CurvePointKind::RecallAtPrecision => "RecallAtPrecision",
            CurvePointKind::SensitivityAtSpecificity => "SensitivityAtSpecificity",
            CurvePointKind::SpecificityAtSensitivity => "SpecificityAtSensitivity",
        }
    }
    /// Keras's name of the constrained value's argument (`recall` for PrecisionAtRecall).
    pub fn argument(self) -> &'static str {
        match self {
            CurvePointKind::PrecisionAtRecall => "recall",
            CurvePointKind::RecallAtPrecision => "precision",
            CurvePointKind::SensitivityAtSpecificity => "specificity",
            CurvePointKind::SpecificityAtSensitivity => "sensitivity",
        }
    }
}

/// Keras's `SensitivitySpecificityBase` metrics: confusion counts at `num_thresholds`
/// thresholds evenly spaced over `[0, 1]` (default 200), and the best value of one rate
/// among the thresholds where the other reaches `value` (0 when none does).
///
/// ```
/// use rkeras::metrics::{CurvePoint, CurvePointKind, MetricState};
/// let mut m = CurvePoint::new(CurvePointKind::PrecisionAtRecall, 0.5);
/// m.update(&[0.0, 0.3, 0.8, 0.9], &[0.0, 0.0, 1.0, 1.0], 4, 1, None);
/// assert_eq!(m.result(), 1.0);
/// ```
#[derive(Clone, Debug)]
pub struct CurvePoint {
    kind: CurvePointKind,
    value: f32,
    class_id: Option<usize>,
    counts: ThresholdCounts,
}

impl CurvePoint {
    /// The metric at `value` with Keras's 200 thresholds.
    pub fn new(kind: CurvePointKind, value: f32) -> Self {
        CurvePoint::with_thresholds(kind, value, 200)
    }
    /// With `num_thresholds` thresholds (1: the single threshold 0.5).
    pub fn with_thresholds(kind: CurvePointKind, value: f32, num_thresholds: usize) -> Self {
        let k = num_thresholds.max(1);
        let thresholds = if k == 1 {
            vec![0.5]
        } else {
            let mut t = vec![0.0];
            t.extend((0..k - 2).map(|i| (i + 1) as f32 / (k - 1) as f32));
            t.push(1.0);
            t
        };
        CurvePoint {
            kind,
            value,
            counts: ThresholdCounts::new(thresholds, k > 1),
            class_id: None,
        }
    }
    /// Only this class (output column) counts.
    pub fn class_id(mut self, id: usize) -> Self {
        self.class_id = Some(id);
        self
    }
}

impl MetricState for CurvePoint {
    fn update(
        &mut self,
        y_pred: &[f32],
        y_true: &[f32],
        n: usize,
        cols: usize,
        weights: Option<&[f32]>,
    ) {
        let (class_id, counts) = (self.class_id, &mut self.counts);
        for_each_value(y_pred, y_true, n, cols, weights, |j, p, t, w| {
            if class_id.is_none_or(|c| c == j) {
                counts.add(p, t > 0.5, w);
            }
        });
    }
    fn result(&self) -> f64 {
        // In float32 as Keras: a recall of 12/30 meets `recall=0.4`.
        let div = |a: f64, b: f64| {
            if b == 0.0 {
                0.0
            } else {
                a as f32 / b as f32
            }
        };
        let v = self.value;
        let [tp, fp, tn, fn_] = self.counts.confusion();
        let best = (0..tp.len())
            .filter_map(|i| {
                let (tp, fp, tn, fn_) = (tp[i], fp[i], tn[i], fn_[i]);
                let recall = div(tp, tp + fn_);
                let precision = div(tp, tp + fp);
                let specificity = div(tn, tn + fp);
                let (constrained, dependent) = match self.kind {
                    CurvePointKind::PrecisionAtRecall => (recall, precision),
                    CurvePointKind::RecallAtPrecision => (precision, recall),
                    CurvePointKind::SensitivityAtSpecificity => (specificity, recall),
                    CurvePointKind::SpecificityAtSensitivity => (recall, specificity),
                };
                (constrained >= v).then_some(dependent)
            })
            .fold(0.0f32, f32::max);
        f64::from(best)
    }
    fn reset(&mut self) {
        self.counts.reset();
    }
    fn visit_sums(&mut self, f: &mut dyn FnMut(&mut [f64])) -> bool {
        self.counts.visit_sums(f);
        true
    }
    fn config(&self, name: &str) -> Option<serde_json::Value> {
        let mut c = serde_json::json!({"name": name, "dtype": "float32",
            "num_thresholds": self.counts.thresholds.len(), "class_id": self.class_id});
        c[self.kind.argument()] = crate::optimizers::py_float(self.value);
        Some(keras_metric(self.kind.class_name(), c))
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
        for_each_value(y_pred, y_true, n, cols, weights, |_, p, t, w| {
            let d = f64::from(p - t);
            self.total += w * d * d;
            self.count += w;
        });
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
    fn visit_sums(&mut self, f: &mut dyn FnMut(&mut [f64])) -> bool {
        let mut s = [self.total, self.count];
        f(&mut s);
        [self.total, self.count] = s;
        true
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
