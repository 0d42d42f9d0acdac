//! Metrics, resolved like Keras: `"accuracy"` picks binary, sparse-categorical or categorical
//! accuracy from the shapes of outputs and targets. Each metric is a running mean over the
//! samples seen since its last reset (Keras's stateful metrics).

use crate::error::{Error, Result};
use rkeras_kernels::reduce::argmax;

mod scores;
mod stateful;
pub use scores::{Average, FBetaScore, Iou, IouKind};
pub use stateful::{
    Auc, Confusion, ConfusionMetric, CurvePoint, CurvePointKind, MetricState, RootMeanSquaredError,
    Summation,
};

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
    /// A metric with its own state ([`MetricState`]): the confusion-matrix metrics, AUC,
    /// RMSE, and your own.
    Stateful,
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
    state: Option<Box<dyn MetricState>>,
    /// One of Keras's `weighted_metrics`: updated with the sample (and class) weights.
    weighted: bool,
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
    "precision",
    "recall",
    "auc",
    "true_positives",
    "false_positives",
    "true_negatives",
    "false_negatives",
    "root_mean_squared_error",
    "f1",
    "f1_score",
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
            "precision" => {
                return Ok(Metric::custom(
                    name,
                    ConfusionMetric::new(Confusion::Precision),
                ))
            }
            "recall" => {
                return Ok(Metric::custom(
                    name,
                    ConfusionMetric::new(Confusion::Recall),
                ))
            }
            "true_positives" => {
                return Ok(Metric::custom(
                    name,
                    ConfusionMetric::new(Confusion::TruePositives),
                ))
            }
            "false_positives" => {
                return Ok(Metric::custom(
                    name,
                    ConfusionMetric::new(Confusion::FalsePositives),
                ))
            }
            "true_negatives" => {
                return Ok(Metric::custom(
                    name,
                    ConfusionMetric::new(Confusion::TrueNegatives),
                ))
            }
            "false_negatives" => {
                return Ok(Metric::custom(
                    name,
                    ConfusionMetric::new(Confusion::FalseNegatives),
                ))
            }
            "auc" => return Ok(Metric::custom(name, Auc::new(200, false))),
            // The macro-averaged F1 (Keras's `F1Score(average="macro")`), a number.
            "f1" => return Ok(Metric::custom(name, FBetaScore::f1(Average::Macro, None))),
            // Keras's `F1Score()`: one score per class (a vector value).
            "f1_score" => {
                return Ok(Metric::custom(
                    name,
                    FBetaScore::f1(Average::PerClass, None),
                ))
            }
            "root_mean_squared_error" => {
                return Ok(Metric::custom(name, RootMeanSquaredError::default()))
            }
            _ => return Err(Error::unknown("metric", name, NAMES)),
        };
        Ok(Metric::new(name, kind))
    }

    /// A metric with a state of its own, logged as `name` (see [`MetricState`]).
    pub fn custom(name: &str, state: impl MetricState + 'static) -> Self {
        Metric {
            name: name.into(),
            kind: Kind::Stateful,
            total: 0.0,
            count: 0.0,
            state: Some(Box::new(state)),
            weighted: false,
        }
    }

    /// Keras's `Precision(thresholds, top_k, class_id)` (one threshold; None: 0.5, or none
    /// with `top_k`), logged as `name`.
    ///
    /// ```
    /// use rkeras::metrics::Metric;
    /// let mut m = Metric::precision("precision_at_0_3", Some(0.3), None, None)?;
    /// m.update(&[0.4, 0.2, 0.9], &[0.0, 0.0, 1.0], 3, 1);
    /// assert_eq!(m.result(), 0.5);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// A threshold outside `[0, 1]`, a `top_k` of 0.
    pub fn precision(
        name: &str,
        threshold: Option<f32>,
        top_k: Option<usize>,
        class_id: Option<usize>,
    ) -> Result<Self> {
        Self::confusion(name, Confusion::Precision, threshold, top_k, class_id)
    }

    /// Keras's `Recall(thresholds, top_k, class_id)`, as [`precision`](Self::precision).
    ///
    /// # Errors
    /// As [`precision`](Self::precision).
    pub fn recall(
        name: &str,
        threshold: Option<f32>,
        top_k: Option<usize>,
        class_id: Option<usize>,
    ) -> Result<Self> {
        Self::confusion(name, Confusion::Recall, threshold, top_k, class_id)
    }

    fn confusion(
        name: &str,
        what: Confusion,
        threshold: Option<f32>,
        top_k: Option<usize>,
        class_id: Option<usize>,
    ) -> Result<Self> {
        let thresholds: Vec<f32> = threshold.into_iter().collect();
        Self::confusion_at(name, what, &thresholds, top_k, class_id)
    }

    /// Keras's `Precision`, `Recall`, `TruePositives`, ... (`what`) at several
    /// `thresholds` (Keras's `thresholds=[0.3, 0.5, 0.7]`): a vector value, one number per
    /// threshold, as Keras returns; one threshold gives a number, none Keras's default.
    ///
    /// ```
    /// use rkeras::metrics::{Confusion, Metric};
    /// let mut m = Metric::confusion_at("precision", Confusion::Precision, &[0.3, 0.5, 0.7], None, None)?;
    /// m.update(&[0.4, 0.6, 0.9], &[0.0, 1.0, 1.0], 3, 1);
    /// let mut v = Vec::new();
    /// m.result_vector(&mut v);
    /// assert_eq!(v.len(), 3);
    /// assert!(m.is_vector());
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// A threshold outside `[0, 1]`, a `top_k` of 0.
    pub fn confusion_at(
        name: &str,
        what: Confusion,
        thresholds: &[f32],
        top_k: Option<usize>,
        class_id: Option<usize>,
    ) -> Result<Self> {
        for &t in thresholds {
            if !(0.0..=1.0).contains(&t) {
                return Err(Error::arg(
                    "thresholds",
                    name,
                    format!("Threshold values must be in [0, 1]. Received: {t}"),
                ));
            }
        }
        if top_k == Some(0) {
            return Err(Error::arg(
                "top_k",
                name,
                "expected a positive integer, received 0",
            ));
        }
        let mut c = ConfusionMetric::new(what).thresholds(thresholds.to_vec());
        c.top_k = top_k;
        c.class_id = class_id;
        Ok(Metric::custom(name, c))
    }

    /// Keras's `AUC(num_thresholds, curve)`: `curve` is `"ROC"` or `"PR"`.
    ///
    /// ```
    /// use rkeras::metrics::Metric;
    /// let mut m = Metric::auc("auc", 200, "ROC")?;
    /// m.update(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0], 4, 1);
    /// assert!((m.result() - 0.75).abs() < 1e-3);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// Fewer than 2 thresholds; an unknown curve.
    pub fn auc(name: &str, num_thresholds: usize, curve: &str) -> Result<Self> {
        if num_thresholds < 2 {
            return Err(Error::arg(
                "num_thresholds",
                name,
                format!("Argument `num_thresholds` must be an integer > 1. Received: num_thresholds={num_thresholds}"),
            ));
        }
        let pr = match curve.to_ascii_uppercase().as_str() {
            "ROC" => false,
            "PR" => true,
            _ => {
                return Err(Error::arg(
                    "curve",
                    name,
                    format!("expected \"ROC\" or \"PR\", received \"{curve}\""),
                ))
            }
        };
        Ok(Metric::custom(name, Auc::new(num_thresholds, pr)))
    }

    /// Keras's `PrecisionAtRecall`, `RecallAtPrecision`, `SensitivityAtSpecificity` or
    /// `SpecificityAtSensitivity` at `value`, over `num_thresholds` thresholds (Keras's
    /// default 200), optionally for one `class_id`; logged as `name`.
    ///
    /// ```
    /// use rkeras::metrics::{CurvePointKind, Metric};
    /// let mut m = Metric::curve_point("recall_at_precision", CurvePointKind::RecallAtPrecision, 0.8, 200, None)?;
    /// m.update(&[0.1, 0.6, 0.7, 0.9], &[0.0, 1.0, 0.0, 1.0], 4, 1);
    /// assert_eq!(m.result(), 0.5);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// A value outside `[0, 1]`; no thresholds.
    pub fn curve_point(
        name: &str,
        kind: CurvePointKind,
        value: f32,
        num_thresholds: usize,
        class_id: Option<usize>,
    ) -> Result<Self> {
        if !(0.0..=1.0).contains(&value) {
            return Err(Error::arg(
                kind.argument(),
                name,
                format!(
                    "Argument `{}` must be in the range [0, 1]. Received: {}={value}",
                    kind.argument(),
                    kind.argument()
                ),
            ));
        }
        if num_thresholds == 0 {
            return Err(Error::arg(
                "num_thresholds",
                name,
                "Argument `num_thresholds` must be an integer > 0. Received: num_thresholds=0",
            ));
        }
        let mut m = CurvePoint::with_thresholds(kind, value, num_thresholds);
        if let Some(c) = class_id {
            m = m.class_id(c);
        }
        Ok(Metric::custom(name, m))
    }

    /// Keras's `TopKCategoricalAccuracy(k)` (or the sparse one), logged as `name`.
    ///
    /// # Errors
    /// `k` of 0.
    pub fn top_k(name: &str, k: usize, sparse: bool) -> Result<Self> {
        if k == 0 {
            return Err(Error::arg(
                "k",
                name,
                "expected a positive integer, received 0",
            ));
        }
        Ok(Metric::new(name, Kind::TopK { k, sparse }))
    }

    /// A metric of `kind` under `name`.
    pub fn new(name: &str, kind: Kind) -> Self {
        Metric {
            name: name.into(),
            kind,
            total: 0.0,
            count: 0.0,
            state: None,
            weighted: false,
        }
    }

    /// What `compile_config` holds for this metric, as Keras writes it: the name when the
    /// metric is what that name gives, else Keras's serialized metric.
    pub fn to_config(&self) -> serde_json::Value {
        let plain = Metric::from_name(&self.name).ok();
        let same = match (&self.state, plain.as_ref().map(|p| (&p.state, p.kind))) {
            (Some(s), Some((Some(p), _))) => s.config(&self.name) == p.config(&self.name),
            (None, Some((None, k))) => {
                k == self.kind || (k == Kind::Accuracy && self.kind != Kind::Stateful)
            }
            _ => false,
        };
        if same {
            return serde_json::Value::from(self.name.clone());
        }
        match (&self.state, self.kind) {
            (Some(s), _) => s
                .config(&self.name)
                .unwrap_or_else(|| serde_json::Value::from(self.name.clone())),
            (None, Kind::TopK { k, sparse }) => stateful::keras_metric(
                if sparse {
                    "SparseTopKCategoricalAccuracy"
                } else {
                    "TopKCategoricalAccuracy"
                },
                serde_json::json!({"name": self.name, "dtype": "float32", "k": k}),
            ),
            _ => serde_json::Value::from(self.name.clone()),
        }
    }

    /// A metric from a `compile_config` entry: a Keras name, or a serialized Keras metric
    /// (`Precision`, `Recall`, `AUC`, the confusion counts, `RootMeanSquaredError`,
    /// `TopKCategoricalAccuracy`, ...; a class with a lower-case name works too).
    ///
    /// ```
    /// use rkeras::metrics::Metric;
    /// let v = serde_json::json!({"class_name": "Precision", "config": {"name": "p", "thresholds": 0.3}});
    /// assert_eq!(Metric::from_config(&v)?.name(), "p");
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// Unknown metrics, and arguments outside Keras's ranges.
    pub fn from_config(v: &serde_json::Value) -> Result<Metric> {
        use serde_json::Value;
        if let Some(s) = v.as_str() {
            return Metric::from_name(s);
        }
        let class = v.get("class_name").and_then(Value::as_str).unwrap_or("");
        let c = v.get("config").cloned().unwrap_or(Value::Null);
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| crate::layers::snake_case(class), str::to_string);
        // One threshold, a list of them (a vector value), or none (Keras's default).
        let thresholds: Vec<f32> = match c.get("thresholds") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|t| {
                    t.as_f64().map(|t| t as f32).ok_or_else(|| {
                        Error::arg(
                            "thresholds",
                            &name,
                            format!("expected numbers in [0, 1], received {t}"),
                        )
                    })
                })
                .collect::<Result<_>>()?,
            Some(t) => t.as_f64().map(|t| t as f32).into_iter().collect(),
            None => Vec::new(),
        };
        let int = |k: &str| c.get(k).and_then(Value::as_u64).map(|x| x as usize);
        match class {
            "Precision" => Metric::confusion_at(
                &name,
                Confusion::Precision,
                &thresholds,
                int("top_k"),
                int("class_id"),
            ),
            "Recall" => Metric::confusion_at(
                &name,
                Confusion::Recall,
                &thresholds,
                int("top_k"),
                int("class_id"),
            ),
            "TruePositives" | "FalsePositives" | "TrueNegatives" | "FalseNegatives" => {
                let what = match class {
                    "TruePositives" => Confusion::TruePositives,
                    "FalsePositives" => Confusion::FalsePositives,
                    "TrueNegatives" => Confusion::TrueNegatives,
                    _ => Confusion::FalseNegatives,
                };
                Metric::confusion_at(&name, what, &thresholds, None, None)
            }
            "AUC" => {
                let curve = c.get("curve").and_then(Value::as_str).unwrap_or("ROC");
                if c.get("thresholds").is_some_and(|t| !t.is_null()) {
                    return Err(Error::arg(
                        "thresholds",
                        &name,
                        "AUC with explicit thresholds is not supported: give num_thresholds",
                    ));
                }
                let num_thresholds = int("num_thresholds").unwrap_or(200);
                Metric::auc(&name, num_thresholds, curve)?;
                let mut auc = Auc::new(num_thresholds, curve.eq_ignore_ascii_case("PR"))
                    .multi_label(c.get("multi_label").and_then(Value::as_bool) == Some(true))
                    .from_logits(c.get("from_logits").and_then(Value::as_bool) == Some(true));
                if let Some(n) = int("num_labels") {
                    auc = auc.num_labels(n);
                }
                // A list, or Keras 3's serialized tensor `{"class_name": "__tensor__",
                // "config": {"value": [...]}}`.
                let lw = c
                    .get("label_weights")
                    .map(|v| v.pointer("/config/value").unwrap_or(v).clone());
                match lw {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(w)) => {
                        let w: Option<Vec<f32>> =
                            w.iter().map(|v| v.as_f64().map(|x| x as f32)).collect();
                        let w = w.ok_or_else(|| {
                            Error::arg("label_weights", &name, "expected a list of numbers")
                        })?;
                        auc = auc.label_weights(w);
                    }
                    Some(other) => {
                        return Err(Error::arg(
                            "label_weights",
                            &name,
                            format!("expected a list of numbers, received {other}"),
                        ))
                    }
                }
                if let Some(s) = c.get("summation_method").and_then(Value::as_str) {
                    let m = Summation::parse(s).ok_or_else(|| {
                        Error::arg(
                            "summation_method",
                            &name,
                            format!("expected \"interpolation\", \"minoring\" or \"majoring\", received \"{s}\""),
                        )
                    })?;
                    auc = auc.summation_method(m);
                }
                Ok(Metric::custom(&name, auc))
            }
            "PrecisionAtRecall"
            | "RecallAtPrecision"
            | "SensitivityAtSpecificity"
            | "SpecificityAtSensitivity" => {
                let kind = match class {
                    "PrecisionAtRecall" => CurvePointKind::PrecisionAtRecall,
                    "RecallAtPrecision" => CurvePointKind::RecallAtPrecision,
                    "SensitivityAtSpecificity" => CurvePointKind::SensitivityAtSpecificity,
                    _ => CurvePointKind::SpecificityAtSensitivity,
                };
                let arg = kind.argument();
                let value = c.get(arg).and_then(Value::as_f64).ok_or_else(|| {
                    Error::arg(
                        arg,
                        &name,
                        format!("{class} needs `{arg}`, a number in [0, 1]"),
                    )
                })?;
                Metric::curve_point(
                    &name,
                    kind,
                    value as f32,
                    int("num_thresholds").unwrap_or(200),
                    int("class_id"),
                )
            }
            "RootMeanSquaredError" => Ok(Metric::custom(&name, RootMeanSquaredError::default())),
            "F1Score" | "FBetaScore" => {
                let average = match c.get("average") {
                    Some(Value::String(a)) => Average::parse(a).ok_or_else(|| {
                        Error::arg(
                            "average",
                            &name,
                            format!("expected \"micro\", \"macro\", \"weighted\" or None, received \"{a}\""),
                        )
                    })?,
                    // Keras's default `average=None`: one score per class.
                    None | Some(Value::Null) => Average::PerClass,
                    Some(other) => {
                        return Err(Error::arg(
                            "average",
                            &name,
                            format!("expected \"micro\", \"macro\", \"weighted\" or None, received {other}"),
                        ))
                    }
                };
                let beta = c.get("beta").and_then(Value::as_f64).unwrap_or(1.0);
                if beta <= 0.0 {
                    return Err(Error::arg(
                        "beta",
                        &name,
                        format!("must be > 0, received {beta}"),
                    ));
                }
                let t = c.get("threshold").and_then(Value::as_f64).map(|t| t as f32);
                let state = if class == "F1Score" {
                    FBetaScore::f1(average, t)
                } else {
                    FBetaScore::new(beta, average, t)
                };
                Ok(Metric::custom(&name, state))
            }
            "IoU" | "MeanIoU" | "BinaryIoU" | "OneHotIoU" | "OneHotMeanIoU" => {
                let kind = match class {
                    "IoU" => IouKind::IoU,
                    "MeanIoU" => IouKind::MeanIoU,
                    "BinaryIoU" => IouKind::BinaryIoU,
                    "OneHotIoU" => IouKind::OneHotIoU,
                    _ => IouKind::OneHotMeanIoU,
                };
                let classes = if kind == IouKind::BinaryIoU {
                    2
                } else {
                    int("num_classes").filter(|&k| k > 0).ok_or_else(|| {
                        Error::arg(
                            "num_classes",
                            &name,
                            "a positive number of classes is required",
                        )
                    })?
                };
                let ids: Vec<usize> = c
                    .get("target_class_ids")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_u64().map(|x| x as usize))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(bad) = ids.iter().find(|&&i| i >= classes) {
                    return Err(Error::arg(
                        "target_class_ids",
                        &name,
                        format!("class id {bad} is not below num_classes={classes}"),
                    ));
                }
                let mut m = Iou::new(kind, classes, ids)
                    .ignore_class(c.get("ignore_class").and_then(Value::as_i64));
                if let Some(t) = c.get("threshold").and_then(Value::as_f64) {
                    m = m.threshold(t as f32);
                }
                if let Some(s) = c.get("sparse_y_true").and_then(Value::as_bool) {
                    m = m.sparse_y_true(s);
                }
                if let Some(s) = c.get("sparse_y_pred").and_then(Value::as_bool) {
                    m = m.sparse_y_pred(s);
                }
                Ok(Metric::custom(&name, m))
            }
            // tf.keras 2: a function wrapped under a name.
            "MeanMetricWrapper" => {
                let f = c.get("fn").and_then(Value::as_str).unwrap_or(&name);
                let mut m = Metric::from_name(f).or_else(|_| Metric::from_name(&name))?;
                m.name = name;
                Ok(m)
            }
            "TopKCategoricalAccuracy" => Metric::top_k(&name, int("k").unwrap_or(5), false),
            "SparseTopKCategoricalAccuracy" => Metric::top_k(&name, int("k").unwrap_or(5), true),
            _ => {
                let mut m = Metric::from_name(&crate::layers::snake_case(class))?;
                m.name = name;
                Ok(m)
            }
        }
    }

    /// Makes this one of Keras's `weighted_metrics` (`compile(weighted_metrics=[...])`): it
    /// is updated with the sample weights (and class weights) that weigh the loss, where the
    /// compiled `metrics` are not. Logged under its name, or `weighted_<name>` when a plain
    /// metric has that name, as Keras does.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// use rkeras::metrics::Metric;
    /// let mut m = Sequential::new([Dense::new(1).activation("sigmoid").input_shape(3).into()])?;
    /// m.compile_with_metrics("adam", "binary_crossentropy", vec![
    ///     Metric::from_name("accuracy")?,
    ///     Metric::from_name("accuracy")?.weighted(true),
    /// ])?;
    /// assert_eq!(m.metrics_names(), ["loss", "accuracy", "weighted_accuracy"]);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn weighted(mut self, yes: bool) -> Self {
        self.weighted = yes;
        self
    }
    /// True for a `weighted_metrics` entry.
    pub fn is_weighted(&self) -> bool {
        self.weighted
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
        if let Some(s) = &self.state {
            return s.higher_is_better();
        }
        !matches!(self.kind, Kind::MeanSquaredError | Kind::MeanAbsoluteError)
    }

    /// Resolves `"accuracy"` from the output width and whether targets are class indices
    /// (Keras's rule: one output unit means binary; integer targets mean sparse); a metric
    /// with a state of its own is told the width ([`MetricState::build`]).
    pub fn resolve(&mut self, cols: usize, sparse_targets: bool) {
        if let Some(s) = self.state.as_mut() {
            s.build(cols);
        }
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
        if let Some(s) = self.state.as_mut() {
            s.reset();
        }
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
        if let Some(s) = self.state.as_mut() {
            s.update(y_pred, y_true, n, cols, weights);
            return;
        }
        let per = weights.map_or(1, |w| (n / w.len().max(1)).max(1));
        for r in 0..n {
            let w = weights.map_or(1.0, |w| {
                f64::from(w[(r / per).min(w.len().saturating_sub(1))])
            });
            let p = &y_pred[r * cols..(r + 1) * cols];
            let v = match self.kind {
                Kind::Stateful => 0.0,
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

    /// True when the value is a vector, one number per class or threshold (Keras's
    /// `F1Score()`, `Precision(thresholds=[0.3, 0.5, 0.7])`): it is logged as a vector
    /// ([`Logs::get_vector`](crate::callbacks::Logs::get_vector)), and [`result`](Self::result)
    /// is its mean.
    pub fn is_vector(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.is_vector())
    }

    /// Writes the value into `out` (cleared first): the vector of a vector-valued metric,
    /// else the one number. Allocates nothing once `out` is long enough.
    pub fn result_vector(&self, out: &mut Vec<f64>) {
        match &self.state {
            Some(s) => s.result_vector(out),
            None => {
                out.clear();
                out.push(self.result());
            }
        }
    }

    /// The metric's state as sums over its rows (see [`MetricState::visit_sums`]): a mean
    /// metric's weighted total and count, a stateful metric's own; false when they do not
    /// add up.
    pub(crate) fn visit_sums(&mut self, f: &mut dyn FnMut(&mut [f64])) -> bool {
        match &mut self.state {
            Some(s) => s.visit_sums(f),
            None => {
                let mut s = [self.total, self.count];
                f(&mut s);
                [self.total, self.count] = s;
                true
            }
        }
    }

    /// The running mean (0 before any update); for a vector-valued metric, the mean of its
    /// values (what Keras's progress bar shows).
    pub fn result(&self) -> f64 {
        if let Some(s) = &self.state {
            return s.result();
        }
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
    fn per_class_f1_has_one_value_per_class_before_any_update() {
        let mut m = Metric::from_name("f1_score").expect("f1_score");
        m.resolve(3, false);
        let mut v = vec![9.0];
        m.result_vector(&mut v);
        assert_eq!(v, [0.0; 3]);
        m.update(&[0.9, 0.1, 0.0], &[1.0, 0.0, 0.0], 1, 3);
        m.reset();
        m.result_vector(&mut v);
        assert_eq!(v, [0.0; 3]);
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
