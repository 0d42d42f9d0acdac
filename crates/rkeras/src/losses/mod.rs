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
}

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
        let kind = match name {
            "categorical_crossentropy" | "CategoricalCrossentropy" => Kind::CategoricalCrossentropy,
            "sparse_categorical_crossentropy" | "SparseCategoricalCrossentropy" => {
                Kind::SparseCategoricalCrossentropy
            }
            "binary_crossentropy" | "BinaryCrossentropy" => Kind::BinaryCrossentropy,
            "mean_squared_error" | "mse" | "MeanSquaredError" => Kind::MeanSquaredError,
            "mean_absolute_error" | "mae" | "MeanAbsoluteError" => Kind::MeanAbsoluteError,
            _ => return Err(Error::unknown("loss", name, NAMES)),
        };
        Ok(Loss::new(kind))
    }

    /// The Keras name (as stored in `compile_config`).
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::CategoricalCrossentropy => "categorical_crossentropy",
            Kind::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Kind::BinaryCrossentropy => "binary_crossentropy",
            Kind::MeanSquaredError => "mean_squared_error",
            Kind::MeanAbsoluteError => "mean_absolute_error",
        }
    }

    /// Targets are one integer class per sample.
    pub fn is_sparse(&self) -> bool {
        self.kind == Kind::SparseCategoricalCrossentropy
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
        let inv_n = 1.0 / n.max(1) as f32;
        let per = weights.map_or(1, |w| (n / w.len().max(1)).max(1));
        let mut total = 0.0f64;
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
