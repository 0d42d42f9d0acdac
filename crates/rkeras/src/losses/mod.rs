//! Losses with Keras's names, formulas and defaults (`epsilon = 1e-7` clipping of
//! probabilities, mean over the batch).
//!
//! A loss writes the gradient of the *mean* batch loss into the output's gradient buffer.
//! When the model's last activation is softmax (or sigmoid) and the loss is the matching
//! cross-entropy on probabilities, the gradient is written for the pre-activation directly
//! (`p - y`), which is both cheaper and numerically stable.

use crate::error::{Error, Result};
use rkeras_kernels::activation::sigmoid;
use rkeras_kernels::Act;

mod custom;
mod extra;

pub use custom::{register_loss, LossFn};

/// Keras's fuzz factor.
pub const EPSILON: f32 = 1e-7;

/// The loss functions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// One-hot (or soft) targets, softmax outputs.
    CategoricalCrossentropy,
    /// Integer class targets.
    SparseCategoricalCrossentropy,
    /// 0/1 targets per output unit.
    BinaryCrossentropy,
    /// Mean squared error over the last axis.
    MeanSquaredError,
    /// Mean absolute error over the last axis.
    MeanAbsoluteError,
    /// `Huber(delta)`: quadratic within `delta`, linear beyond.
    Huber {
        /// Keras's `delta` (default 1).
        delta: f32,
    },
    /// `LogCosh`: `log(cosh(p - t))`.
    LogCosh,
    /// `MeanAbsolutePercentageError`.
    MeanAbsolutePercentageError,
    /// `MeanSquaredLogarithmicError`.
    MeanSquaredLogarithmicError,
    /// `Poisson`: `p - t log(p + eps)`.
    Poisson,
    /// `Hinge` (0/1 targets become -1/1).
    Hinge,
    /// `SquaredHinge`.
    SquaredHinge,
    /// `CategoricalHinge`.
    CategoricalHinge,
    /// `KLDivergence`.
    KLDivergence,
    /// `CosineSimilarity` over the last axis (minimised: -1 is best).
    CosineSimilarity,
    /// `BinaryFocalCrossentropy(apply_class_balancing, alpha, gamma)`.
    BinaryFocalCrossentropy {
        /// Keras's `alpha` (default 0.25; used with class balancing).
        alpha: f32,
        /// Keras's `gamma` (default 2).
        gamma: f32,
        /// Keras's `apply_class_balancing`.
        balancing: bool,
    },
    /// `CategoricalFocalCrossentropy(alpha, gamma)`.
    CategoricalFocalCrossentropy {
        /// Keras's `alpha` (default 0.25).
        alpha: f32,
        /// Keras's `gamma` (default 2).
        gamma: f32,
    },
    /// `Dice`: `1 - 2 sum(t p) / (sum(t) + sum(p) + eps)` over the whole batch (Keras's
    /// default `axis=None`).
    Dice,
    /// `Tversky(alpha, beta)`: `1 - I / (I + alpha sum(t (1 - p)) + beta sum(p (1 - t)) +
    /// eps)` with `I = sum(t p)`, over the whole batch (Keras's `axis=None`).
    Tversky {
        /// Keras's `alpha` (default 0.5).
        alpha: f32,
        /// Keras's `beta` (default 0.5).
        beta: f32,
    },
    /// A loss of your own, registered with [`register_loss`].
    Custom(u32),
}

/// Every loss: its Keras function name, class name, and kind with Keras's defaults.
const TABLE: &[(&str, &str, Kind)] = &[
    (
        "categorical_crossentropy",
        "CategoricalCrossentropy",
        Kind::CategoricalCrossentropy,
    ),
    (
        "sparse_categorical_crossentropy",
        "SparseCategoricalCrossentropy",
        Kind::SparseCategoricalCrossentropy,
    ),
    (
        "binary_crossentropy",
        "BinaryCrossentropy",
        Kind::BinaryCrossentropy,
    ),
    (
        "mean_squared_error",
        "MeanSquaredError",
        Kind::MeanSquaredError,
    ),
    (
        "mean_absolute_error",
        "MeanAbsoluteError",
        Kind::MeanAbsoluteError,
    ),
    ("huber", "Huber", Kind::Huber { delta: 1.0 }),
    ("log_cosh", "LogCosh", Kind::LogCosh),
    (
        "mean_absolute_percentage_error",
        "MeanAbsolutePercentageError",
        Kind::MeanAbsolutePercentageError,
    ),
    (
        "mean_squared_logarithmic_error",
        "MeanSquaredLogarithmicError",
        Kind::MeanSquaredLogarithmicError,
    ),
    ("poisson", "Poisson", Kind::Poisson),
    ("hinge", "Hinge", Kind::Hinge),
    ("squared_hinge", "SquaredHinge", Kind::SquaredHinge),
    (
        "categorical_hinge",
        "CategoricalHinge",
        Kind::CategoricalHinge,
    ),
    ("kl_divergence", "KLDivergence", Kind::KLDivergence),
    (
        "cosine_similarity",
        "CosineSimilarity",
        Kind::CosineSimilarity,
    ),
    (
        "binary_focal_crossentropy",
        "BinaryFocalCrossentropy",
        Kind::BinaryFocalCrossentropy {
            alpha: 0.25,
            gamma: 2.0,
            balancing: false,
        },
    ),
    (
        "categorical_focal_crossentropy",
        "CategoricalFocalCrossentropy",
        Kind::CategoricalFocalCrossentropy {
            alpha: 0.25,
            gamma: 2.0,
        },
    ),
    ("dice", "Dice", Kind::Dice),
    (
        "tversky",
        "Tversky",
        Kind::Tversky {
            alpha: 0.5,
            beta: 0.5,
        },
    ),
];

/// A configured loss.
///
/// ```
/// use rkeras::losses::Loss;
/// let l = Loss::from_name("categorical_crossentropy")?;
/// let y_pred = [0.7f32, 0.2, 0.1];
/// let y_true = [1.0f32, 0.0, 0.0];
/// let v = l.compute(&y_pred, &y_true, 1, 3, None, false);
/// assert!((v - -(0.7f64).ln()).abs() < 1e-6);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loss {
    /// Which loss.
    pub kind: Kind,
    /// Outputs are logits, not probabilities (cross-entropies only).
    pub from_logits: bool,
    /// Label smoothing (categorical and binary cross-entropy).
    pub label_smoothing: f32,
}

const NAMES: &[&str] = &[
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
    "huber",
    "log_cosh",
    "mean_absolute_percentage_error",
    "mape",
    "mean_squared_logarithmic_error",
    "msle",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "kl_divergence",
    "kld",
    "cosine_similarity",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "dice",
    "tversky",
];

impl Loss {
    /// A loss of `kind` with defaults.
    pub fn new(kind: Kind) -> Self {
        Loss {
            kind,
            from_logits: false,
            label_smoothing: 0.0,
        }
    }
    /// `keras.losses.CategoricalCrossentropy()`.
    pub fn categorical_crossentropy() -> Self {
        Self::new(Kind::CategoricalCrossentropy)
    }
    /// `keras.losses.SparseCategoricalCrossentropy()`.
    pub fn sparse_categorical_crossentropy() -> Self {
        Self::new(Kind::SparseCategoricalCrossentropy)
    }
    /// `keras.losses.BinaryCrossentropy()`.
    pub fn binary_crossentropy() -> Self {
        Self::new(Kind::BinaryCrossentropy)
    }
    /// `keras.losses.MeanSquaredError()`.
    pub fn mean_squared_error() -> Self {
        Self::new(Kind::MeanSquaredError)
    }
    /// Outputs are logits.
    pub fn from_logits(mut self, v: bool) -> Self {
        self.from_logits = v;
        self
    }
    /// Label smoothing in `[0, 1]`.
    pub fn label_smoothing(mut self, v: f32) -> Self {
        self.label_smoothing = v;
        self
    }

    /// Parses a Keras loss name.
    ///
    /// # Errors
    /// Unknown names, listing the known ones.
    pub fn from_name(name: &str) -> Result<Self> {
        let alias = match name {
            "mse" => "mean_squared_error",
            "mae" => "mean_absolute_error",
            "mape" => "mean_absolute_percentage_error",
            "msle" => "mean_squared_logarithmic_error",
            "kld" | "kullback_leibler_divergence" => "kl_divergence",
            "logcosh" => "log_cosh",
            other => other,
        };
        TABLE
            .iter()
            .find(|(f, c, _)| *f == alias || *c == alias)
            .map(|(_, _, k)| Loss::new(*k))
            .or_else(|| custom::find(name).map(|id| Loss::new(Kind::Custom(id))))
            .ok_or_else(|| Error::unknown("loss", name, NAMES))
    }

    /// The Keras name (as stored in `compile_config`).
    pub fn name(&self) -> &'static str {
        if let Kind::Custom(id) = self.kind {
            return custom::get(id).map_or("loss", |(n, _)| n);
        }
        TABLE
            .iter()
            .find(|(_, _, k)| std::mem::discriminant(k) == std::mem::discriminant(&self.kind))
            .map_or("loss", |(f, _, _)| f)
    }

    /// Keras's class name (`BinaryFocalCrossentropy`).
    pub fn class_name(&self) -> &'static str {
        if let Kind::Custom(_) = self.kind {
            return self.name();
        }
        TABLE
            .iter()
            .find(|(_, _, k)| std::mem::discriminant(k) == std::mem::discriminant(&self.kind))
            .map_or("Loss", |(_, c, _)| c)
    }

    /// What `compile_config` holds for this loss, as Keras writes it: the name when the
    /// loss has Keras's defaults, else the serialized loss with its arguments.
    pub fn to_config(&self) -> serde_json::Value {
        use serde_json::json;
        if Loss::from_name(self.name()).is_ok_and(|d| d == *self) {
            return json!(self.name());
        }
        let py = crate::optimizers::py_float;
        let mut c = serde_json::Map::new();
        c.insert("name".into(), json!(self.name()));
        c.insert("reduction".into(), json!("sum_over_batch_size"));
        match self.kind {
            Kind::CategoricalCrossentropy
            | Kind::SparseCategoricalCrossentropy
            | Kind::BinaryCrossentropy => {
                c.insert("from_logits".into(), json!(self.from_logits));
                if self.kind != Kind::SparseCategoricalCrossentropy {
                    c.insert("label_smoothing".into(), py(self.label_smoothing));
                }
                c.insert("axis".into(), json!(-1));
            }
            Kind::Huber { delta } => {
                c.insert("delta".into(), py(delta));
            }
            Kind::BinaryFocalCrossentropy {
                alpha,
                gamma,
                balancing,
            } => {
                c.insert("apply_class_balancing".into(), json!(balancing));
                c.insert("alpha".into(), py(alpha));
                c.insert("gamma".into(), py(gamma));
                c.insert("from_logits".into(), json!(self.from_logits));
                c.insert("label_smoothing".into(), py(self.label_smoothing));
            }
            Kind::CategoricalFocalCrossentropy { alpha, gamma } => {
                c.insert("alpha".into(), py(alpha));
                c.insert("gamma".into(), py(gamma));
                c.insert("from_logits".into(), json!(self.from_logits));
                c.insert("label_smoothing".into(), py(self.label_smoothing));
            }
            Kind::Dice => {
                c.insert("axis".into(), serde_json::Value::Null);
            }
            Kind::Tversky { alpha, beta } => {
                c.insert("alpha".into(), py(alpha));
                c.insert("beta".into(), py(beta));
                c.insert("axis".into(), serde_json::Value::Null);
            }
            _ => {}
        }
        json!({"module": "keras.losses", "class_name": self.class_name(), "config": c, "registered_name": null})
    }

    /// A loss from a `compile_config` entry: a Keras name, or a serialized loss with its
    /// arguments (`from_logits`, `label_smoothing`, `delta`, `alpha`, `gamma`,
    /// `apply_class_balancing`).
    ///
    /// ```
    /// use rkeras::losses::Loss;
    /// let v = serde_json::json!({"class_name": "BinaryCrossentropy", "config": {"from_logits": true}});
    /// assert!(Loss::from_config(&v)?.from_logits);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// Unknown losses, a reduction other than Keras's default, arguments out of range.
    pub fn from_config(v: &serde_json::Value) -> Result<Self> {
        use serde_json::Value;
        if let Some(s) = v.as_str() {
            return Loss::from_name(s);
        }
        let class = v.get("class_name").and_then(Value::as_str).unwrap_or("");
        let c = v.get("config").cloned().unwrap_or(Value::Null);
        // A function saved by name: {"class_name": "function", "config": "mse"}.
        if let Some(f) = c.as_str() {
            return Loss::from_name(f);
        }
        let mut l = Loss::from_name(class)
            .or_else(|_| Loss::from_name(c.get("name").and_then(Value::as_str).unwrap_or(class)))?;
        let f = |k: &str| c.get(k).and_then(Value::as_f64).map(|x| x as f32);
        if let Some(b) = c.get("from_logits").and_then(Value::as_bool) {
            l.from_logits = b;
        }
        if let Some(s) = f("label_smoothing") {
            l.label_smoothing = s;
        }
        match &mut l.kind {
            Kind::Huber { delta } => *delta = f("delta").unwrap_or(1.0),
            Kind::BinaryFocalCrossentropy {
                alpha,
                gamma,
                balancing,
            } => {
                *alpha = f("alpha").unwrap_or(0.25);
                *gamma = f("gamma").unwrap_or(2.0);
                *balancing = c
                    .get("apply_class_balancing")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            }
            Kind::CategoricalFocalCrossentropy { alpha, gamma } => {
                *alpha = f("alpha").unwrap_or(0.25);
                *gamma = f("gamma").unwrap_or(2.0);
            }
            Kind::Tversky { alpha, beta } => {
                *alpha = f("alpha").unwrap_or(0.5);
                *beta = f("beta").unwrap_or(0.5);
            }
            _ => {}
        }
        if matches!(l.kind, Kind::Dice | Kind::Tversky { .. })
            && c.get("axis").is_some_and(|a| !a.is_null())
        {
            return Err(Error::arg(
                "axis",
                class,
                format!(
                    "axis={} is not supported: rkeras computes {class} over the whole batch (Keras's default axis=None)",
                    c["axis"]
                ),
            ));
        }
        match c.get("reduction").and_then(Value::as_str) {
            None | Some("sum_over_batch_size") | Some("auto") => {}
            Some(r) => {
                return Err(Error::arg(
                    "reduction",
                    class,
                    format!("reduction=\"{r}\" is not supported: rkeras averages over the batch (\"sum_over_batch_size\")"),
                ))
            }
        }
        l.validate()?;
        Ok(l)
    }

    /// Targets are one integer class per sample.
    pub fn is_sparse(&self) -> bool {
        match self.kind {
            Kind::SparseCategoricalCrossentropy => true,
            Kind::Custom(id) => custom::get(id).is_some_and(|(_, f)| f.sparse()),
            _ => false,
        }
    }

    /// Whether the gradient can be written for the pre-activation of `act` directly.
    pub fn fuses_with(&self, act: Act) -> bool {
        !self.from_logits
            && matches!(
                (self.kind, act),
                (
                    Kind::CategoricalCrossentropy | Kind::SparseCategoricalCrossentropy,
                    Act::Softmax
                ) | (Kind::BinaryCrossentropy, Act::Sigmoid)
            )
    }

    /// Validates the loss's own arguments.
    ///
    /// # Errors
    /// `label_smoothing` outside `[0, 1]`.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.label_smoothing) {
            return Err(Error::arg(
                "label_smoothing",
                "",
                format!(
                    "expected a float in [0, 1], received {}",
                    self.label_smoothing
                ),
            ));
        }
        Ok(())
    }

    /// Mean loss over `n` rows of `cols` predictions. With `grad`, also writes the gradient
    /// of that mean with respect to `y_pred` (or its pre-activation when `fused`).
    ///
    /// # Shapes
    /// `y_pred`: `n * cols`; `y_true`: `n` class indices (sparse) or `n * cols`.
    ///
    /// ```
    /// use rkeras::losses::Loss;
    /// let mse = Loss::mean_squared_error();
    /// assert_eq!(mse.compute(&[1.0, 3.0], &[0.0, 1.0], 2, 1, None, false), 2.5);
    /// ```
    pub fn compute(
        &self,
        y_pred: &[f32],
        y_true: &[f32],
        n: usize,
        cols: usize,
        grad: Option<&mut [f32]>,
        fused: bool,
    ) -> f64 {
        self.compute_weighted(y_pred, y_true, n, cols, None, grad, fused)
    }

    /// [`compute`](Self::compute) with sample weights, as Keras's `sample_weight`: each row's
    /// loss (and gradient) is multiplied by its sample's weight, and the sum is divided by
    /// the number of rows (Keras's `sum_over_batch_size`, not by the sum of the weights).
    /// `weights` holds one value per sample; when the output has several rows per sample
    /// (a spatial output), each row takes its sample's weight.
    ///
    /// ```
    /// use rkeras::losses::Loss;
    /// let mse = Loss::mean_squared_error();
    /// let w = [2.0, 0.0];
    /// assert_eq!(mse.compute_weighted(&[1.0, 3.0], &[0.0, 1.0], 2, 1, Some(&w), None, false), 1.0);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn compute_weighted(
        &self,
        y_pred: &[f32],
        y_true: &[f32],
        n: usize,
        cols: usize,
        weights: Option<&[f32]>,
        mut grad: Option<&mut [f32]>,
        fused: bool,
    ) -> f64 {
        if let Kind::Dice | Kind::Tversky { .. } = self.kind {
            let len = (n * cols).min(y_pred.len()).min(y_true.len());
            return extra::overlap(self.kind, &y_pred[..len], &y_true[..len], weights, grad);
        }
        let inv_n = 1.0 / n.max(1) as f32;
        let per = weights.map_or(1, |w| (n / w.len().max(1)).max(1));
        let mut total = 0.0f64;
        let user = match self.kind {
            Kind::Custom(id) => custom::get(id).map(|(_, f)| f),
            _ => None,
        };
        let user_sparse = user.as_ref().is_some_and(|f| f.sparse());
        for r in 0..n {
            let p = &y_pred[r * cols..(r + 1) * cols];
            let w = weights.map(|w| w[(r / per).min(w.len().saturating_sub(1))]);
            let mut g = grad
                .as_deref_mut()
                .map(|g| &mut g[r * cols..(r + 1) * cols]);
            let row = match self.kind {
                Kind::CategoricalCrossentropy => {
                    let t = &y_true[r * cols..(r + 1) * cols];
                    self.cce_row(p, |j| t[j], g.as_deref_mut(), inv_n, fused)
                }
                Kind::SparseCategoricalCrossentropy => {
                    let c = y_true[r] as usize;
                    self.cce_row(
                        p,
                        |j| if j == c { 1.0 } else { 0.0 },
                        g.as_deref_mut(),
                        inv_n,
                        fused,
                    )
                }
                Kind::BinaryCrossentropy => self.bce_row(
                    p,
                    &y_true[r * cols..(r + 1) * cols],
                    g.as_deref_mut(),
                    inv_n,
                    fused,
                ),
                Kind::MeanSquaredError | Kind::MeanAbsoluteError => {
                    let t = &y_true[r * cols..(r + 1) * cols];
                    let mut s = 0.0f64;
                    let scale = inv_n / cols as f32;
                    let mut g = g.as_deref_mut();
                    for j in 0..cols {
                        let d = p[j] - t[j];
                        if self.kind == Kind::MeanSquaredError {
                            s += (d * d) as f64;
                            if let Some(g) = g.as_deref_mut() {
                                g[j] = 2.0 * d * scale;
                            }
                        } else {
                            s += d.abs() as f64;
                            if let Some(g) = g.as_deref_mut() {
                                g[j] = d.signum() * if d == 0.0 { 0.0 } else { scale };
                            }
                        }
                    }
                    s / cols as f64
                }
                Kind::Custom(_) => {
                    let t = if user_sparse {
                        &y_true[r..r + 1]
                    } else {
                        &y_true[r * cols..(r + 1) * cols]
                    };
                    let l = user
                        .as_ref()
                        .map_or(f64::NAN, |f| f.row(p, t, g.as_deref_mut()));
                    if let Some(g) = g.as_deref_mut() {
                        g.iter_mut().for_each(|v| *v *= inv_n);
                    }
                    l
                }
                other => {
                    let t = &y_true[r * cols..(r + 1) * cols];
                    let l = extra::row(
                        other,
                        self.from_logits,
                        self.label_smoothing,
                        p,
                        t,
                        g.as_deref_mut(),
                    );
                    if let Some(g) = g.as_deref_mut() {
                        g.iter_mut().for_each(|v| *v *= inv_n);
                    }
                    l
                }
            };
            match w {
                Some(w) => {
                    total += row * f64::from(w);
                    if let Some(g) = g {
                        g.iter_mut().for_each(|v| *v *= w);
                    }
                }
                None => total += row,
            }
        }
        total / n.max(1) as f64
    }

    fn smooth(&self, t: f32, cols: usize) -> f32 {
        if self.label_smoothing > 0.0 {
            t * (1.0 - self.label_smoothing) + self.label_smoothing / cols as f32
        } else {
            t
        }
    }

    #[allow(clippy::needless_range_loop)] // index loops mirror the formulas
    fn cce_row(
        &self,
        p: &[f32],
        t: impl Fn(usize) -> f32,
        g: Option<&mut [f32]>,
        inv_n: f32,
        fused: bool,
    ) -> f64 {
        let cols = p.len();
        let t = |j: usize| self.smooth(t(j), cols);
        if self.from_logits {
            let max = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max + p.iter().map(|z| (z - max).exp()).sum::<f32>().ln();
            let mut loss = 0.0f64;
            let mut tsum = 0.0f32;
            for j in 0..cols {
                loss -= (t(j) * (p[j] - lse)) as f64;
                tsum += t(j);
            }
            if let Some(g) = g {
                for j in 0..cols {
                    g[j] = ((p[j] - lse).exp() * tsum - t(j)) * inv_n;
                }
            }
            return loss;
        }
        let s: f32 = p.iter().sum();
        let mut loss = 0.0f64;
        for j in 0..cols {
            let q = (p[j] / s).clamp(EPSILON, 1.0 - EPSILON);
            loss -= (t(j) * q.ln()) as f64;
        }
        if let Some(g) = g {
            if fused {
                let tsum: f32 = (0..cols).map(&t).sum();
                for j in 0..cols {
                    g[j] = (p[j] * tsum - t(j)) * inv_n;
                }
            } else {
                // dL/dq_i = -t_i / q_i where unclipped; dL/dp_j = (dq_j - sum_i dq_i q_i) / s.
                let mut dot = 0.0f32;
                for j in 0..cols {
                    let q = p[j] / s;
                    let dq = if (EPSILON..=1.0 - EPSILON).contains(&q) {
                        -t(j) / q
                    } else {
                        0.0
                    };
                    g[j] = dq;
                    dot += dq * q;
                }
                for gj in g.iter_mut() {
                    *gj = (*gj - dot) / s * inv_n;
                }
            }
        }
        loss
    }

    #[allow(clippy::needless_range_loop)]
    fn bce_row(&self, p: &[f32], t: &[f32], g: Option<&mut [f32]>, inv_n: f32, fused: bool) -> f64 {
        let cols = p.len();
        let scale = inv_n / cols as f32;
        let mut loss = 0.0f64;
        let mut g = g;
        for j in 0..cols {
            let y = if self.label_smoothing > 0.0 {
                t[j] * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
            } else {
                t[j]
            };
            if self.from_logits {
                let z = p[j];
                loss += (z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()) as f64;
                if let Some(g) = g.as_deref_mut() {
                    g[j] = (sigmoid(z) - y) * scale;
                }
            } else {
                let q = p[j].clamp(EPSILON, 1.0 - EPSILON);
                loss -= (y * q.ln() + (1.0 - y) * (1.0 - q).ln()) as f64;
                if let Some(g) = g.as_deref_mut() {
                    g[j] = if fused {
                        (p[j] - y) * scale
                    } else if (EPSILON..=1.0 - EPSILON).contains(&p[j]) {
                        (-y / q + (1.0 - y) / (1.0 - q)) * scale
                    } else {
                        0.0
                    };
                }
            }
        }
        loss / cols as f64
    }
}

/// A loss given by name (`"categorical_crossentropy"`) or as a value.
#[derive(Clone, Debug)]
pub enum LossSpec {
    /// A Keras name, resolved by `compile`.
    Name(String),
    /// A configured loss.
    Value(Loss),
}
impl From<&str> for LossSpec {
    fn from(s: &str) -> Self {
        LossSpec::Name(s.into())
    }
}
impl From<String> for LossSpec {
    fn from(s: String) -> Self {
        LossSpec::Name(s)
    }
}
impl From<Loss> for LossSpec {
    fn from(l: Loss) -> Self {
        LossSpec::Value(l)
    }
}
impl LossSpec {
    /// Resolves to a loss.
    ///
    /// # Errors
    /// Unknown names; bad arguments.
    pub fn resolve(self) -> Result<Loss> {
        let l = match self {
            LossSpec::Name(n) => Loss::from_name(&n)?,
            LossSpec::Value(l) => l,
        };
        l.validate()?;
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkeras_kernels::softmax::softmax_row;

    fn fd_check(loss: Loss, z: &[f32], t: &[f32], n: usize, cols: usize, act: Act) {
        // Gradient with respect to the pre-activation z, through `act`, checked numerically.
        let apply = |z: &[f32]| -> Vec<f32> {
            let mut p = z.to_vec();
            match act {
                Act::Softmax => p.chunks_mut(cols).for_each(softmax_row),
                a => p.iter_mut().for_each(|v| *v = a.apply(*v)),
            }
            p
        };
        let fused = loss.fuses_with(act);
        let p = apply(z);
        let mut g = vec![0.0f32; z.len()];
        loss.compute(&p, t, n, cols, Some(&mut g), fused);
        if !fused {
            rkeras_kernels::activation::backward_inplace(act, Some(z), &p, &mut g, cols);
        }
        for i in 0..z.len() {
            let f = |e: f32| {
                let mut zz = z.to_vec();
                zz[i] += e;
                loss.compute(&apply(&zz), t, n, cols, None, false)
            };
            let num = (f(1e-3) - f(-1e-3)) / 2e-3;
            assert!(
                (num - g[i] as f64).abs() < 2e-3 * num.abs().max(1.0),
                "{loss:?} {act:?} i={i}: {num} vs {}",
                g[i]
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let z = [0.2f32, -0.5, 1.1, 0.3, 0.9, -1.4];
        let onehot = [0.0f32, 0.0, 1.0, 1.0, 0.0, 0.0];
        let sparse = [2.0f32, 0.0];
        let bin = [1.0f32, 0.0, 1.0, 0.0, 0.0, 1.0];
        let cce = Loss::categorical_crossentropy();
        fd_check(cce, &z, &onehot, 2, 3, Act::Softmax);
        fd_check(cce.label_smoothing(0.1), &z, &onehot, 2, 3, Act::Softmax);
        fd_check(cce.from_logits(true), &z, &onehot, 2, 3, Act::Linear);
        fd_check(
            Loss::sparse_categorical_crossentropy(),
            &z,
            &sparse,
            2,
            3,
            Act::Softmax,
        );
        fd_check(
            Loss::sparse_categorical_crossentropy().from_logits(true),
            &z,
            &sparse,
            2,
            3,
            Act::Linear,
        );
        let bce = Loss::binary_crossentropy();
        fd_check(bce, &z, &bin, 2, 3, Act::Sigmoid);
        fd_check(bce.from_logits(true), &z, &bin, 2, 3, Act::Linear);
        fd_check(Loss::mean_squared_error(), &z, &bin, 2, 3, Act::Linear);
        fd_check(
            Loss::new(Kind::MeanAbsoluteError),
            &z,
            &bin,
            2,
            3,
            Act::Tanh,
        );
        // The non-fused path of softmax + CCE (gradient through the softmax Jacobian).
        let p: Vec<f32> = {
            let mut p = z.to_vec();
            p.chunks_mut(3).for_each(softmax_row);
            p
        };
        let mut g1 = vec![0.0; 6];
        let mut g2 = vec![0.0; 6];
        cce.compute(&p, &onehot, 2, 3, Some(&mut g1), true);
        cce.compute(&p, &onehot, 2, 3, Some(&mut g2), false);
        rkeras_kernels::softmax::softmax_rows_backward_inplace(&p, &mut g2, 3);
        for (a, b) in g1.iter().zip(&g2) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn the_other_losses_gradients_match_finite_differences() {
        let z = [0.2f32, -0.5, 1.1, 0.3, 0.9, -1.4];
        let onehot = [0.0f32, 0.0, 1.0, 1.0, 0.0, 0.0];
        let bin = [1.0f32, 0.0, 1.0, 0.0, 0.0, 1.0];
        let pos = [0.5f32, 1.2, 0.1, 2.0, 0.7, 0.3];
        let soft = [0.2f32, 0.3, 0.5, 0.6, 0.1, 0.3];
        let k = |name: &str| Loss::from_name(name).expect(name);
        fd_check(
            Loss::new(Kind::Huber { delta: 0.5 }),
            &z,
            &bin,
            2,
            3,
            Act::Linear,
        );
        fd_check(k("log_cosh"), &z, &pos, 2, 3, Act::Linear);
        fd_check(k("mape"), &z, &pos, 2, 3, Act::Linear);
        fd_check(k("msle"), &z, &pos, 2, 3, Act::Sigmoid);
        fd_check(k("poisson"), &z, &pos, 2, 3, Act::Sigmoid);
        fd_check(k("hinge"), &z, &bin, 2, 3, Act::Linear);
        fd_check(k("squared_hinge"), &z, &bin, 2, 3, Act::Linear);
        fd_check(k("categorical_hinge"), &z, &onehot, 2, 3, Act::Linear);
        fd_check(k("kl_divergence"), &z, &soft, 2, 3, Act::Softmax);
        fd_check(k("cosine_similarity"), &z, &pos, 2, 3, Act::Linear);
        let bfc = k("binary_focal_crossentropy");
        fd_check(bfc, &z, &bin, 2, 3, Act::Sigmoid);
        fd_check(bfc.from_logits(true), &z, &bin, 2, 3, Act::Linear);
        fd_check(bfc.label_smoothing(0.1), &z, &bin, 2, 3, Act::Sigmoid);
        let balanced = Loss::new(Kind::BinaryFocalCrossentropy {
            alpha: 0.3,
            gamma: 1.5,
            balancing: true,
        });
        fd_check(balanced, &z, &bin, 2, 3, Act::Sigmoid);
        let cfc = k("categorical_focal_crossentropy");
        fd_check(cfc, &z, &onehot, 2, 3, Act::Softmax);
        fd_check(cfc.from_logits(true), &z, &onehot, 2, 3, Act::Linear);
        fd_check(cfc.label_smoothing(0.2), &z, &onehot, 2, 3, Act::Softmax);
        fd_check(k("dice"), &z, &bin, 2, 3, Act::Sigmoid);
        let tversky = Loss::new(Kind::Tversky {
            alpha: 0.3,
            beta: 0.7,
        });
        fd_check(tversky, &z, &bin, 2, 3, Act::Sigmoid);
        fd_check(tversky, &z, &soft, 2, 3, Act::Softmax);
    }

    #[test]
    fn keras_values_and_clipping() {
        let cce = Loss::categorical_crossentropy();
        // p = 0 for the true class is clipped to 1e-7: -ln(1e-7) = 16.118
        let v = cce.compute(&[0.0, 1.0], &[1.0, 0.0], 1, 2, None, false);
        assert!((v - 16.118_095).abs() < 1e-3, "{v}");
        let bce = Loss::binary_crossentropy();
        let v = bce.compute(&[0.8, 0.4], &[1.0, 0.0], 1, 2, None, false);
        let want = -(0.8f64.ln() + 0.6f64.ln()) / 2.0;
        assert!((v - want).abs() < 1e-6);
        let mse = Loss::from_name("mse").expect("mse");
        assert!((mse.compute(&[1.0, 3.0], &[0.0, 0.0], 1, 2, None, false) - 5.0).abs() < 1e-9);
        let e = Loss::from_name("crossentropy").expect_err("unknown");
        assert!(e.to_string().contains("categorical_crossentropy"));
    }
}
