//! `LayerNormalization`: normalizes each sample over its last axis.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode, Param};
use crate::error::{Error, Result};
use crate::init::Initializer;
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Keras `LayerNormalization` over the last axis: each row of the last axis is shifted to
/// mean 0 and scaled to variance 1 (`epsilon` added to the variance), then multiplied by
/// `gamma` and shifted by `beta`. The same in training and inference.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([LayerNormalization::new().input_shape((10, 32)).into()])?;
/// assert_eq!(m.layers()[0].params().len(), 2);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LayerNormalization {
    base: LayerBase,
    axis: i64,
    epsilon: f32,
    center: bool,
    scale: bool,
    params: Vec<Param>,
    weights: super::weight_options::WeightOptions,
    c: usize,
    /// Values per sample.
    len: usize,
    /// Normalized input and `1 / std` per row, of the last forward.
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
}

impl Default for LayerNormalization {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerNormalization {
    /// Keras's defaults: axis -1, epsilon 0.001, center and scale.
    pub fn new() -> Self {
        LayerNormalization {
            base: LayerBase::default(),
            axis: -1,
            epsilon: 1e-3,
            center: true,
            scale: true,
            params: Vec::new(),
            weights: super::weight_options::WeightOptions::new(super::weight_options::GAMMA_BETA),
            c: 0,
            len: 0,
            xhat: Vec::new(),
            inv_std: Vec::new(),
        }
    }
    /// The normalized axis: only the last one (`-1`, or its index) is supported.
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }
    /// Added to the variance (default 0.001).
    pub fn epsilon(mut self, e: f32) -> Self {
        self.epsilon = e;
        self
    }
    /// Learn an offset `beta` (default true).
    pub fn center(mut self, c: bool) -> Self {
        self.center = c;
        self
    }
    /// Learn a scale `gamma` (default true).
    pub fn scale(mut self, s: bool) -> Self {
        self.scale = s;
        self
    }
}
common_builders!(LayerNormalization);
super::weight_options::weight_option_builders!(LayerNormalization:
    "gamma" => gamma_regularizer, gamma_constraint;
    "beta" => beta_regularizer, beta_constraint;
);

impl Layer for LayerNormalization {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "LayerNormalization"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let rank = input_shape.len() as i64 + 1;
        if self.axis != -1 && self.axis != rank - 1 {
            return Err(Error::arg(
                "axis",
                &name,
                format!(
                    "rkeras normalizes the last axis only (-1 or {}), received {}",
                    rank - 1,
                    self.axis
                ),
            ));
        }
        let Some(&c) = input_shape.last().filter(|c| **c > 0) else {
            return Err(super::rank_error(&name, "min_ndim=2", input_shape));
        };
        self.c = c;
        self.len = crate::shape::numel(input_shape);
        self.params.clear();
        if self.scale {
            self.params.push(Param::new("gamma", vec![c], vec![1.0; c]));
        }
        if self.center {
            self.params.push(Param::new("beta", vec![c], vec![0.0; c]));
        }
        self.weights.check(self.base.label(), &self.params)?;
        Ok(input_shape.to_vec())
    }
    fn allocate(&mut self, max_batch: usize) {
        let len = max_batch * self.len;
        if self.xhat.len() < len {
            self.xhat.resize(len, 0.0);
            self.inv_std.resize(len / self.c.max(1), 0.0);
        }
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        let c = self.c;
        let rows = x.len() / c;
        if self.xhat.len() < x.len() {
            self.xhat.resize(x.len(), 0.0);
        }
        if self.inv_std.len() < rows {
            self.inv_std.resize(rows, 0.0);
        }
        let gamma = self.scale.then(|| &self.params[0].value);
        let beta = self
            .center
            .then(|| &self.params[usize::from(self.scale)].value);
        for (r, (xr, yr)) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)).enumerate() {
            let mean = xr.iter().map(|v| *v as f64).sum::<f64>() / c as f64;
            let var = xr.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / c as f64;
            let inv = 1.0 / (var as f32 + self.epsilon).sqrt();
            self.inv_std[r] = inv;
            let hr = &mut self.xhat[r * c..(r + 1) * c];
            for (k, ((h, yv), xv)) in hr.iter_mut().zip(yr.iter_mut()).zip(xr).enumerate() {
                *h = (xv - mean as f32) * inv;
                let g = gamma.map_or(1.0, |g| g[k]);
                let b = beta.map_or(0.0, |b| b[k]);
                *yv = *h * g + b;
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
        let c = self.c;
        let rows = dy.len() / c;
        if self.base.trainable {
            let mut i = 0;
            if self.scale {
                let g = &mut self.params[0].grad;
                for (dyr, hr) in dy.chunks_exact(c).zip(self.xhat.chunks_exact(c)) {
                    for ((a, d), h) in g.iter_mut().zip(dyr).zip(hr) {
                        *a += d * h;
                    }
                }
                i += 1;
            }
            if self.center {
                let b = &mut self.params[i].grad;
                for dyr in dy.chunks_exact(c) {
                    for (a, d) in b.iter_mut().zip(dyr) {
                        *a += d;
                    }
                }
            }
        }
        let Some(dx) = dx else { return };
        let gamma = self.scale.then(|| &self.params[0].value);
        for r in 0..rows {
            let (dyr, hr) = (&dy[r * c..(r + 1) * c], &self.xhat[r * c..(r + 1) * c]);
            // g = dy * gamma; dx = inv / c * (c * g - sum(g) - xhat * sum(g * xhat)).
            let (mut sg, mut sgh) = (0.0f64, 0.0f64);
            for k in 0..c {
                let g = dyr[k] * gamma.map_or(1.0, |v| v[k]);
                sg += g as f64;
                sgh += (g * hr[k]) as f64;
            }
            let inv = self.inv_std[r] / c as f32;
            for k in 0..c {
                let g = dyr[k] * gamma.map_or(1.0, |v| v[k]);
                dx[r * c + k] = inv * (c as f32 * g - sg as f32 - hr[k] * sgh as f32);
            }
        }
    }
    fn params(&self) -> &[Param] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }
    super::weight_option_methods!(weights);
    fn config(&self) -> Map<String, Value> {
        // Keras turns the axis into a list when the layer is built (`[-1]`) and writes it so.
        let axis = if self.c > 0 {
            json!([self.axis])
        } else {
            json!(self.axis)
        };
        self.weights.with_config(super::object(json!({
            "axis": axis,
            "epsilon": crate::optimizers::py_float(self.epsilon),
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": false,
            "beta_initializer": Initializer::Zeros.config(),
            "gamma_initializer": Initializer::Ones.config(),
            "beta_regularizer": null,
            "gamma_regularizer": null,
            "beta_constraint": null,
            "gamma_constraint": null,
        })))
    }
}

impl FromConfig for LayerNormalization {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(LayerNormalization::new()
            .axis(g.axis()?)
            .epsilon(g.f64_or("epsilon", 1e-3)? as f32)
            .center(g.bool_or("center", true)?)
            .scale(g.bool_or("scale", true)?)
            .with_weight_options(g.weight_options(super::weight_options::GAMMA_BETA)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_check_and_values() {
        assert_eq!(
            check_layer(Box::new(LayerNormalization::new()), &[3, 4]),
            vec![3, 4]
        );
        let mut l = LayerNormalization::new().epsilon(0.0);
        l.build(&[2], &mut Rng::new(0)).expect("build");
        let mut y = [0.0; 2];
        l.forward(&[1.0, 3.0], &mut y, 1, Mode::Infer);
        assert!(
            (y[0] + 1.0).abs() < 1e-6 && (y[1] - 1.0).abs() < 1e-6,
            "{y:?}"
        );
    }
}
