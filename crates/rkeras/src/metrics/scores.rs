//! Keras's F-scores (`F1Score`, `FBetaScore`) and intersection-over-union metrics (`IoU`,
//! `MeanIoU`, `BinaryIoU`, `OneHotIoU`, `OneHotMeanIoU`), as [`MetricState`]s.

use super::stateful::{keras_metric, target, weight, MetricState};
use serde_json::json;

/// Keras's `backend.epsilon()`.
const EPS: f64 = 1e-7;

/// How an F-score averages its classes (Keras's `average`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Average {
    /// Counts over every class together.
    Micro,
    /// The mean of the per-class scores.
    Macro,
    /// The per-class scores weighted by each class's (weighted) number of true samples.
    Weighted,
    /// No average (Keras's `average=None`, its default): one score per class, a vector
    /// value ([`MetricState::is_vector`]).
    PerClass,
}

impl Average {
    /// Keras's name (`"micro"`, `"macro"`, `"weighted"`; `None` for [`Average::PerClass`],
    /// Keras's `average=None`).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Average::Micro => Some("micro"),
            Average::Macro => Some("macro"),
            Average::Weighted => Some("weighted"),
            Average::PerClass => None,
        }
    }
    /// From Keras's name (`average=None` is [`Average::PerClass`]).
    pub fn parse(s: &str) -> Option<Average> {
        match s {
            "micro" => Some(Average::Micro),
            "macro" => Some(Average::Macro),
            "weighted" => Some(Average::Weighted),
            _ => None,
        }
    }
}

/// Keras's `FBetaScore(average, beta, threshold)` (and `F1Score`, beta 1): per class,
/// `(1 + b²)·P·R / (b²·P + R)`. Without a threshold a row's largest output is its predicted
/// class; with one, each output above it is a positive. With [`Average::PerClass`]
/// (Keras's default `average=None`) the value is one score per class.
///
/// ```
/// use rkeras::metrics::{Average, FBetaScore, Metric};
/// let mut f1 = Metric::custom("f1", FBetaScore::f1(Average::Macro, None));
/// // Two rows, three classes: both predicted right.
/// f1.update(&[0.7, 0.2, 0.1, 0.1, 0.1, 0.8], &[0.0, 2.0], 2, 3);
/// assert!((f1.result() - 2.0 / 3.0).abs() < 1e-6); // class 1 never occurs: its score is 0
///
/// // Keras's F1Score(): one score per class.
/// let mut f1 = Metric::custom("f1_score", FBetaScore::f1(Average::PerClass, None));
/// f1.update(&[0.7, 0.2, 0.1, 0.1, 0.1, 0.8], &[0.0, 2.0], 2, 3);
/// let mut scores = Vec::new();
/// f1.result_vector(&mut scores);
/// assert!(f1.is_vector() && scores.len() == 3);
/// assert!((scores[0] - 1.0).abs() < 1e-6 && scores[1] == 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct FBetaScore {
    beta: f64,
    average: Average,
    threshold: Option<f32>,
    /// Keras's class: `F1Score` or `FBetaScore`.
    f1: bool,
    tp: Vec<f64>,
    fp: Vec<f64>,
    fn_: Vec<f64>,
    support: Vec<f64>,
}

impl FBetaScore {
    /// An F-beta score.
    pub fn new(beta: f64, average: Average, threshold: Option<f32>) -> Self {
        FBetaScore {
            beta,
            average,
            threshold,
            f1: false,
            tp: Vec::new(),
            fp: Vec::new(),
            fn_: Vec::new(),
            support: Vec::new(),
        }
    }
    /// Keras's `F1Score`.
    pub fn f1(average: Average, threshold: Option<f32>) -> Self {
        FBetaScore {
            f1: true,
            ..FBetaScore::new(1.0, average, threshold)
        }
    }
}

impl FBetaScore {
    /// The score of class `c` (of every class together for micro).
    fn score(&self, c: usize) -> f64 {
        let b2 = self.beta * self.beta;
        let p = self.tp[c] / (self.tp[c] + self.fp[c] + EPS);
        let r = self.tp[c] / (self.tp[c] + self.fn_[c] + EPS);
        (1.0 + b2) * p * r / (b2 * p + r + EPS)
    }
}

impl MetricState for FBetaScore {
    fn update(
        &mut self,
        y_pred: &[f32],
        y_true: &[f32],
        n: usize,
        cols: usize,
        weights: Option<&[f32]>,
    ) {
        let k = if self.average == Average::Micro {
            1
        } else {
            cols
        };
        for v in [&mut self.tp, &mut self.fp, &mut self.fn_, &mut self.support] {
            if v.len() != k {
                v.resize(k, 0.0);
            }
        }
        for r in 0..n {
            let row = &y_pred[r * cols..(r + 1) * cols];
            let w = weight(weights, n, r);
            let top = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for (j, &p) in row.iter().enumerate() {
                let pred = match self.threshold {
                    Some(t) => p > t,
                    None => p >= top && p.abs() > 1e-9,
                };
                let (p, t) = (
                    f64::from(u8::from(pred)),
                    f64::from(target(y_true, n, cols, r, j)),
                );
                let c = if k == 1 { 0 } else { j };
                self.tp[c] += w * p * t;
                self.fp[c] += w * p * (1.0 - t);
                self.fn_[c] += w * (1.0 - p) * t;
                self.support[c] += w * t;
            }
        }
    }
    fn result(&self) -> f64 {
        let k = self.tp.len();
        if k == 0 {
            return 0.0;
        }
        match self.average {
            Average::Weighted => {
                let total: f64 = self.support.iter().sum();
                (0..k)
                    .map(|c| self.score(c) * self.support[c] / (total + EPS))
                    .sum()
            }
            _ => (0..k).map(|c| self.score(c)).sum::<f64>() / k as f64,
        }
    }
    fn is_vector(&self) -> bool {
        self.average == Average::PerClass
    }
    fn result_vector(&self, out: &mut Vec<f64>) {
        out.clear();
        if self.is_vector() {
            out.extend((0..self.tp.len()).map(|c| self.score(c)));
        } else {
            out.push(self.result());
        }
    }
    fn reset(&mut self) {
        for v in [&mut self.tp, &mut self.fp, &mut self.fn_, &mut self.support] {
            v.fill(0.0);
        }
    }
    fn build(&mut self, cols: usize) {
        let k = if self.average == Average::Micro {
            1
        } else {
            cols
        };
        for v in [&mut self.tp, &mut self.fp, &mut self.fn_, &mut self.support] {
            v.clear();
            v.resize(k, 0.0);
        }
    }
    fn visit_sums(&mut self, f: &mut dyn FnMut(&mut [f64])) -> bool {
        for v in [&mut self.tp, &mut self.fp, &mut self.fn_, &mut self.support] {
            f(v);
        }
        true
    }
    fn clone_box(&self) -> Box<dyn MetricState> {
        Box::new(self.clone())
    }
    fn config(&self, name: &str) -> Option<serde_json::Value> {
        let mut c = json!({"name": name, "dtype": "float32", "average": self.average.name(),
                           "threshold": self.threshold});
        if self.f1 {
            return Some(keras_metric("F1Score", c));
        }
        c["beta"] = json!(self.beta);
        Some(keras_metric("FBetaScore", c))
    }
}

/// Which flavour of Keras's IoU metrics (their class and defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IouKind {
    /// `IoU(num_classes, target_class_ids)`.
    IoU,
    /// `MeanIoU(num_classes)`: every class.
    MeanIoU,
    /// `BinaryIoU(target_class_ids, threshold)`: outputs `>= threshold` are class 1.
    BinaryIoU,
    /// `OneHotIoU(num_classes, target_class_ids)`: one-hot targets, scores as predictions.
    OneHotIoU,
    /// `OneHotMeanIoU(num_classes)`.
    OneHotMeanIoU,
}

/// ```
/// use rkeras::metrics::{Iou, IouKind, Metric};
/// // Keras's MeanIoU(num_classes=2, sparse_y_pred=False): scores in, argmax taken.
/// let mut iou = Metric::custom("mean_io_u", Iou::new(IouKind::MeanIoU, 2, vec![]).sparse_y_pred(false));
/// iou.update(&[0.9, 0.1, 0.2, 0.8, 0.6, 0.4], &[0.0, 1.0, 1.0], 3, 2);
/// assert!((iou.result() - 0.5).abs() < 1e-6); // class 0: 1/2, class 1: 1/2
/// ```
///
/// Keras's intersection-over-union metrics: a confusion matrix over `num_classes`
/// accumulated over every position (a row's classes, or each pixel's for segmentation
/// outputs), then `TP / (TP + FP + FN)` averaged over the target classes that occur. As in
/// Keras (whose IoU metrics hold int32), sample weights are truncated to integers.
#[derive(Clone, Debug)]
pub struct Iou {
    kind: IouKind,
    num_classes: usize,
    target_class_ids: Vec<usize>,
    threshold: f32,
    sparse_y_true: bool,
    sparse_y_pred: bool,
    ignore_class: Option<i64>,
    cm: Vec<f64>,
}

impl Iou {
    /// A metric of `kind` over `num_classes` (2 for `BinaryIoU`); `target_class_ids` empty
    /// for every class.
    pub fn new(kind: IouKind, num_classes: usize, target_class_ids: Vec<usize>) -> Self {
        let num_classes = if kind == IouKind::BinaryIoU {
            2
        } else {
            num_classes
        };
        let (sparse_y_true, sparse_y_pred) = match kind {
            IouKind::OneHotIoU | IouKind::OneHotMeanIoU => (false, false),
            _ => (true, true),
        };
        let target_class_ids = if target_class_ids.is_empty() {
            (0..num_classes).collect()
        } else {
            target_class_ids
        };
        Iou {
            kind,
            num_classes,
            target_class_ids,
            threshold: 0.5,
            sparse_y_true,
            sparse_y_pred,
            ignore_class: None,
            cm: vec![0.0; num_classes * num_classes],
        }
    }
    /// `BinaryIoU`'s threshold (default 0.5).
    pub fn threshold(mut self, t: f32) -> Self {
        self.threshold = t;
        self
    }
    /// Whether targets are class indices (default) or one-hot/scores.
    pub fn sparse_y_true(mut self, s: bool) -> Self {
        self.sparse_y_true = s;
        self
    }
    /// Whether predictions are class indices (default) or scores (argmax taken).
    pub fn sparse_y_pred(mut self, s: bool) -> Self {
        self.sparse_y_pred = s;
        self
    }
    /// A class whose positions are left out (Keras's `ignore_class`).
    pub fn ignore_class(mut self, c: Option<i64>) -> Self {
        self.ignore_class = c;
        self
    }
    /// The class ids the result averages over.
    pub fn target_class_ids(&self) -> &[usize] {
        &self.target_class_ids
    }
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

impl MetricState for Iou {
    fn update(
        &mut self,
        y_pred: &[f32],
        y_true: &[f32],
        n: usize,
        cols: usize,
        weights: Option<&[f32]>,
    ) {
        let k = self.num_classes;
        let binary = self.kind == IouKind::BinaryIoU;
        // Positions per row: each value (sparse or thresholded), or each group of k scores.
        let per = if self.sparse_y_pred || binary {
            cols
        } else {
            cols / k.max(1)
        };
        let t_len = y_true.len() / n.max(1);
        for r in 0..n {
            // Keras's IoU metrics hold int32 (their dtype): sample weights are truncated.
            let w = weight(weights, n, r).trunc();
            let row = &y_pred[r * cols..(r + 1) * cols];
            let trow = &y_true[r * t_len..(r + 1) * t_len];
            for q in 0..per {
                let pred = if binary {
                    usize::from(row[q] >= self.threshold)
                } else if self.sparse_y_pred {
                    row[q] as usize
                } else {
                    argmax(&row[q * k..(q + 1) * k])
                };
                let truth = if self.sparse_y_true || binary {
                    trow.get(q).map_or(0.0, |v| *v) as i64
                } else {
                    argmax(&trow[(q * k).min(trow.len())..((q + 1) * k).min(trow.len())]) as i64
                };
                if Some(truth) == self.ignore_class {
                    continue;
                }
                let (t, p) = (truth as usize, pred);
                if t < k && p < k {
                    self.cm[t * k + p] += w;
                }
            }
        }
    }
    fn result(&self) -> f64 {
        let k = self.num_classes;
        let (mut sum, mut valid) = (0.0, 0.0);
        for &c in &self.target_class_ids {
            if c >= k {
                continue;
            }
            let tp = self.cm[c * k + c];
            let predicted: f64 = (0..k).map(|t| self.cm[t * k + c]).sum();
            let actual: f64 = (0..k).map(|p| self.cm[c * k + p]).sum();
            let denominator = predicted + actual - tp;
            if denominator > 1e-9 {
                valid += 1.0;
            }
            sum += tp / (denominator + EPS);
        }
        sum / (valid + EPS)
    }
    fn reset(&mut self) {
        self.cm.iter_mut().for_each(|v| *v = 0.0);
    }
    fn visit_sums(&mut self, f: &mut dyn FnMut(&mut [f64])) -> bool {
        f(&mut self.cm);
        true
    }
    fn clone_box(&self) -> Box<dyn MetricState> {
        Box::new(self.clone())
    }
    fn config(&self, name: &str) -> Option<serde_json::Value> {
        let ids = &self.target_class_ids;
        let (class, c) = match self.kind {
            IouKind::IoU => (
                "IoU",
                json!({"name": name, "dtype": "float32", "num_classes": self.num_classes,
                       "target_class_ids": ids, "ignore_class": self.ignore_class,
                       "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                       "axis": -1}),
            ),
            IouKind::MeanIoU => (
                "MeanIoU",
                json!({"name": name, "dtype": "float32", "num_classes": self.num_classes,
                       "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                       "sparse_y_pred": self.sparse_y_pred, "axis": -1}),
            ),
            IouKind::BinaryIoU => (
                "BinaryIoU",
                json!({"name": name, "dtype": "float32", "target_class_ids": ids,
                       "threshold": self.threshold}),
            ),
            IouKind::OneHotIoU => (
                "OneHotIoU",
                json!({"name": name, "dtype": "float32", "num_classes": self.num_classes,
                       "target_class_ids": ids, "ignore_class": self.ignore_class,
                       "sparse_y_pred": self.sparse_y_pred, "axis": -1}),
            ),
            IouKind::OneHotMeanIoU => (
                "OneHotMeanIoU",
                json!({"name": name, "dtype": "float32", "num_classes": self.num_classes,
                       "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                       "axis": -1}),
            ),
        };
        Some(keras_metric(class, c))
    }
}
