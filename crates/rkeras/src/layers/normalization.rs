//! `Normalization`: shifts and scales inputs by a mean and variance per feature, given in the
//! config or held as weights (EfficientNet's first layers).

use super::registry::{bad, Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode, Param};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Keras `Normalization(axis=-1, mean=None, variance=None, invert=False)`:
/// `(x - mean) / max(sqrt(variance), 1e-7)` per feature along `axis` (the last axis, or
/// `None` for one mean and variance over everything), or the inverse with `invert`. Without
/// `mean` and `variance` they are non-trainable weights (`mean`, `variance`, `count`, as
/// Keras stores them), zero and one until loaded or set.
///
/// ```
/// use rkeras::prelude::*;
/// let mut m = Sequential::new([Normalization::new()
///     .mean(vec![1.0, 2.0])
///     .variance(vec![4.0, 0.25])
///     .input_shape(2)
///     .into()])?;
/// let y = m.predict(&Tensor::new(vec![1, 2], vec![3.0, 3.0])?)?;
/// assert_eq!(y.data(), &[1.0, 2.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Normalization {
    base: LayerBase,
    /// `Some(-1)` (or the rank) for the last axis; `None` for one statistic over all.
    axis: Option<i64>,
    mean: Option<Vec<f64>>,
    variance: Option<Vec<f64>>,
    invert: bool,
    params: Vec<Param>,
    /// Per feature: the shift and the scale the forward pass applies (`y = (x - a) * b`, or
    /// `y = a + x * b` inverted), from the statistics at the last forward pass.
    shift: Vec<f32>,
    scale: Vec<f32>,
    features: usize,
    /// Statistics from [`adapt`](Normalization::adapt): the weights' values at build.
    adapted: Option<(Vec<f64>, Vec<f64>, u64)>,
}

const EPSILON: f64 = 1e-7;

/// Running sums for `adapt`: per feature, the sum and the sum of squares (in f64).
#[derive(Default)]
struct Moments {
    sum: Vec<f64>,
    sq: Vec<f64>,
    count: u64,
}

impl Moments {
    /// Adds values laid out as rows of `f` features.
    fn add(&mut self, data: &[f32], f: usize) {
        if self.sum.len() != f {
            self.sum = vec![0.0; f];
            self.sq = vec![0.0; f];
        }
        for row in data.chunks_exact(f) {
            for ((s, q), v) in self.sum.iter_mut().zip(self.sq.iter_mut()).zip(row) {
                let v = f64::from(*v);
                *s += v;
                *q += v * v;
            }
            self.count += 1;
        }
    }
}

impl Normalization {
    /// Per-feature statistics over the last axis, to be loaded or set.
    pub fn new() -> Self {
        Normalization {
            base: LayerBase::default(),
            axis: Some(-1),
            mean: None,
            variance: None,
            invert: false,
            params: Vec::new(),
            shift: Vec::new(),
            scale: Vec::new(),
            features: 1,
            adapted: None,
        }
    }
    /// Keras's `adapt(data)`: the mean and variance of `data` (samples first) per feature
    /// (the last axis; over all values with `axis(None)`), kept as the layer's weights
    /// when the model is built. Call it before adding the layer to a model.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let x = Tensor::new(vec![4, 2], vec![0.0, 10.0, 2.0, 10.0, 4.0, 30.0, 6.0, 30.0])?;
    /// let norm = Normalization::new().adapt(&x)?;
    /// let mut m = Sequential::new([norm.input_shape(2).into()])?;
    /// let y = m.predict(&x)?;
    /// assert!((y.data()[0] + 1.3416).abs() < 1e-4 && (y.data()[1] + 1.0).abs() < 1e-6);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// Empty data, or values that are not finite.
    pub fn adapt(self, data: &crate::Tensor) -> Result<Self> {
        let mut acc = Moments::default();
        let f = self.feature_count(data.shape().last().copied().unwrap_or(1));
        acc.add(data.data(), f);
        self.adapted_from(acc)
    }
    /// [`adapt`](Self::adapt) over the images of a folder dataset, batch by batch.
    ///
    /// # Errors
    /// An empty dataset, an unreadable image, or values that are not finite.
    pub fn adapt_dataset(self, ds: &crate::data::ImageDataset) -> Result<Self> {
        let mut acc = Moments::default();
        let f = self.feature_count(ds.image_shape()[2]);
        for batch in ds.in_order() {
            acc.add(&batch?.x, f);
        }
        self.adapted_from(acc)
    }

    fn feature_count(&self, last: usize) -> usize {
        if self.axis.is_none() {
            1
        } else {
            last.max(1)
        }
    }

    fn adapted_from(mut self, acc: Moments) -> Result<Self> {
        if acc.count == 0 {
            return Err(Error::Data(
                "Normalization.adapt() was given no data (an empty array or dataset)".into(),
            ));
        }
        let mean: Vec<f64> = acc.sum.iter().map(|s| s / acc.count as f64).collect();
        let var: Vec<f64> = acc
            .sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| (q / acc.count as f64 - m * m).max(0.0))
            .collect();
        if mean.iter().chain(&var).any(|v| !v.is_finite()) {
            return Err(Error::Data(
                "Normalization.adapt(): the data holds NaN or infinite values".into(),
            ));
        }
        self.adapted = Some((mean, var, acc.count));
        Ok(self)
    }
    /// `Some(-1)` (the last axis, default) or `None` (one mean and variance for all values).
    pub fn axis(mut self, axis: Option<i64>) -> Self {
        self.axis = axis;
        self
    }
    /// The means, one per feature or one for all (then no weights are kept).
    pub fn mean(mut self, mean: Vec<f64>) -> Self {
        self.mean = Some(mean);
        self
    }
    /// The variances, as `mean`.
    pub fn variance(mut self, variance: Vec<f64>) -> Self {
        self.variance = Some(variance);
        self
    }
    /// Undo the normalization instead: `mean + x * sqrt(variance)`.
    pub fn invert(mut self, invert: bool) -> Self {
        self.invert = invert;
        self
    }

    /// Recomputes the per-feature shift and scale from the statistics (the config's, or the
    /// weights'), in place: no allocation after the first call.
    fn refresh(&mut self) {
        let f = self.features;
        self.shift.resize(f, 0.0);
        self.scale.resize(f, 1.0);
        let at = |v: &[f64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
        let at32 = |v: &[f32], i: usize| f64::from(if v.len() == 1 { v[0] } else { v[i] });
        for i in 0..f {
            let (mean, var) = match (&self.mean, &self.variance, self.params.as_slice()) {
                (Some(m), Some(v), _) => (at(m, i), at(v, i)),
                (_, _, [m, v, ..]) => (at32(&m.value, i), at32(&v.value, i)),
                _ => (0.0, 1.0),
            };
            let sd = var.sqrt().max(EPSILON);
            self.shift[i] = mean as f32;
            self.scale[i] = (if self.invert { sd } else { 1.0 / sd }) as f32;
        }
    }
}

impl Default for Normalization {
    fn default() -> Self {
        Normalization::new()
    }
}
common_builders!(Normalization);

impl Layer for Normalization {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Normalization"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let rank = input_shape.len() as i64;
        self.features = match self.axis {
            None => 1,
            Some(a) if a == -1 || a == rank => input_shape.last().copied().unwrap_or(1),
            Some(a) => {
                return Err(Error::arg(
                    "axis",
                    &name,
                    format!("rkeras normalizes along the last axis (-1 or {rank}) or all values (None); received {a}"),
                ))
            }
        };
        let f = self.features;
        match (&self.mean, &self.variance) {
            (Some(m), Some(v)) => {
                for (what, s) in [("mean", m), ("variance", v)] {
                    if s.len() != 1 && s.len() != f {
                        return Err(Error::arg(
                            what,
                            &name,
                            format!(
                                "expected 1 or {f} values (one per feature), received {}",
                                s.len()
                            ),
                        ));
                    }
                }
                if v.iter().any(|x| x.is_nan() || *x < 0.0) {
                    return Err(Error::arg(
                        "variance",
                        &name,
                        "variances must be at least 0",
                    ));
                }
                self.params.clear();
            }
            (None, None) => {
                let shape = if self.axis.is_none() { vec![] } else { vec![f] };
                let (m0, v0, n0) = match &self.adapted {
                    Some((m, v, n)) if m.len() == f => (
                        m.iter().map(|x| *x as f32).collect(),
                        v.iter().map(|x| *x as f32).collect(),
                        *n as f32,
                    ),
                    Some((m, ..)) => {
                        return Err(Error::arg(
                            "adapt",
                            &name,
                            format!("adapted to {} features, but the input has {f}", m.len()),
                        ))
                    }
                    None => (vec![0.0; f], vec![1.0; f], 0.0),
                };
                let mut mean = Param::new("mean", shape.clone(), m0);
                let mut variance = Param::new("variance", shape, v0);
                let mut count = Param::new("count", vec![], vec![n0]);
                for p in [&mut mean, &mut variance, &mut count] {
                    p.trainable = false;
                }
                self.params = vec![mean, variance, count];
            }
            _ => {
                return Err(Error::arg(
                    "mean",
                    &name,
                    "When setting values for mean or variance, both variables should be set",
                ))
            }
        }
        self.refresh();
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        // The weights may have been loaded or set since the last call.
        self.refresh();
        let f = self.features.max(1);
        for (xs, ys) in x.chunks(f).zip(y.chunks_mut(f)) {
            for i in 0..xs.len() {
                ys[i] = if self.invert {
                    self.shift[i] + xs[i] * self.scale[i]
                } else {
                    (xs[i] - self.shift[i]) * self.scale[i]
                };
            }
        }
    }
    fn backward(
        &mut self,
        _x: &[f32],
        _y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        _ctx: Backward,
    ) {
        if let Some(dx) = dx {
            let f = self.features.max(1);
            for (gs, ds) in dy.chunks(f).zip(dx.chunks_mut(f)) {
                for i in 0..gs.len() {
                    ds[i] = gs[i] * self.scale[i];
                }
            }
        }
    }
    fn params(&self) -> &[Param] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }
    fn config(&self) -> Map<String, Value> {
        let one = |v: &Option<Vec<f64>>| match v.as_deref() {
            None => Value::Null,
            Some([x]) => json!(x),
            Some(v) => json!(v),
        };
        super::object(json!({
            // Keras writes its axis tuple as a list: `[-1]`, `[3]`, or null.
            "axis": self.axis.map(|a| [a]),
            "invert": self.invert,
            "mean": one(&self.mean),
            "variance": one(&self.variance),
        }))
    }
}

impl FromConfig for Normalization {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let c = g.c;
        let name = g.name;
        let axis = match c.get("axis") {
            None => Some(-1),
            Some(Value::Null) => None,
            Some(Value::Array(a)) if a.len() == 1 => a[0].as_i64(),
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| bad(name, "axis", "an axis or null", Some(v)))?,
            ),
        };
        let stat = |k: &str| -> Result<Option<Vec<f64>>> {
            match c.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(Value::as_f64)
                    .collect::<Option<Vec<f64>>>()
                    .map(Some)
                    .ok_or_else(|| bad(name, k, "numbers", c.get(k))),
                Some(v) => v
                    .as_f64()
                    .map(|x| Some(vec![x]))
                    .ok_or_else(|| bad(name, k, "a number or a list", Some(v))),
            }
        };
        let mut l = Normalization::new()
            .axis(axis)
            .invert(g.bool_or("invert", false)?);
        if let Some(m) = stat("mean")? {
            l = l.mean(m);
        }
        if let Some(v) = stat("variance")? {
            l = l.variance(v);
        }
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradients_weights_and_configs() {
        check_layer(
            Box::new(
                Normalization::new()
                    .mean(vec![0.5, -1.0, 2.0])
                    .variance(vec![4.0, 0.5, 9.0]),
            ),
            &[2, 3],
        );
        check_layer(
            Box::new(
                Normalization::new()
                    .mean(vec![1.0])
                    .variance(vec![2.0])
                    .axis(None)
                    .invert(true),
            ),
            &[4],
        );
        // Weights: mean, variance, count, non-trainable; zero and one until set.
        let mut l = Normalization::new();
        l.build(&[2, 2], &mut Rng::new(0)).expect("build");
        let names: Vec<&str> = l.params().iter().map(|p| p.name).collect();
        assert_eq!(names, ["mean", "variance", "count"]);
        assert!(l.params().iter().all(|p| !p.trainable));
        l.params_mut()[0].value = vec![1.0, -1.0];
        l.params_mut()[1].value = vec![0.25, 0.0];
        let mut y = [0.0f32; 4];
        l.forward(&[2.0, 1.0, 0.0, -1.0], &mut y, 1, Mode::Infer);
        // A variance of 0 divides by Keras's epsilon, 1e-7.
        assert_eq!(y, [2.0, 2e7, -2.0, 0.0]);
        let e = Normalization::new()
            .mean(vec![1.0, 2.0, 3.0])
            .variance(vec![1.0])
            .build(&[2, 2], &mut Rng::new(0))
            .expect_err("3 means for 2 features");
        assert!(e.to_string().contains("mean"), "{e}");
        let e = Normalization::new()
            .axis(Some(1))
            .build(&[2, 2], &mut Rng::new(0));
        assert!(e.is_err());
    }

    #[test]
    fn adapt_sets_numpys_mean_and_population_variance() {
        // numpy: x.reshape(-1, 2).mean(0) = [1.5, 6.5], .var(0) = [1.25, 10.25].
        let x = crate::Tensor::new(vec![2, 2, 2], vec![0.0, 2.0, 1.0, 5.0, 2.0, 9.0, 3.0, 10.0])
            .expect("x");
        let mut l = Normalization::new().adapt(&x).expect("adapt");
        l.build(&[2, 2], &mut Rng::new(0)).expect("build");
        assert_eq!(l.params()[0].value, [1.5, 6.5]);
        assert_eq!(l.params()[1].value, [1.25, 10.25]);
        assert_eq!(l.params()[2].value, [4.0]);
        let mut all = Normalization::new().axis(None).adapt(&x).expect("adapt");
        all.build(&[2, 2], &mut Rng::new(0)).expect("build");
        assert_eq!(all.params()[0].value, [4.0]);
        let empty = crate::Tensor::new(vec![0, 2], vec![]).expect("empty");
        let e = Normalization::new().adapt(&empty).expect_err("empty data");
        assert!(e.to_string().contains("no data"), "{e}");
        let e = Normalization::new()
            .adapt(&x)
            .expect("adapt")
            .build(&[3], &mut Rng::new(0))
            .expect_err("2 features adapted, 3 given");
        assert!(e.to_string().contains("adapted"), "{e}");
    }
}
