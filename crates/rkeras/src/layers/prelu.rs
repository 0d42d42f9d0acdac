//! `PReLU`: a leaky ReLU whose slopes are learned, one per value or shared along axes.

use super::registry::{bad, Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode, Param};
use crate::error::{Error, Result};
use crate::init::Initializer;
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Keras `PReLU(alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
/// shared_axes=None)`: `x` for `x > 0`, `alpha * x` below, with a weight `alpha` of the
/// input's shape, of size 1 along the `shared_axes` (counted from 1, as Keras does; `[1, 2]`
/// gives one slope per channel of an image).
///
/// ```
/// use rkeras::prelude::*;
/// let mut m = Sequential::new([PReLU::new()
///     .alpha_initializer("ones")
///     .shared_axes(&[1, 2])
///     .input_shape((4, 4, 3))
///     .into()])?;
/// assert_eq!(m.layers()[0].params()[0].shape, vec![1, 1, 3]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct PReLU {
    base: LayerBase,
    alpha_initializer: crate::init::InitArg,
    shared_axes: Option<Vec<usize>>,
    params: Vec<Param>,
    weights: super::weight_options::WeightOptions,
    /// For each value of a sample, the index of its slope.
    slope_of: Vec<u32>,
}

impl PReLU {
    /// Slopes initialised to zero (a ReLU until trained), one per value.
    pub fn new() -> Self {
        PReLU {
            base: LayerBase::default(),
            alpha_initializer: "zeros".into(),
            shared_axes: None,
            params: Vec::new(),
            weights: super::weight_options::WeightOptions::new(super::weight_options::ALPHA),
            slope_of: Vec::new(),
        }
    }
    /// The slopes' initializer: a Keras name or an [`Initializer`] (default `"zeros"`).
    pub fn alpha_initializer(mut self, init: impl Into<crate::init::InitArg>) -> Self {
        self.alpha_initializer = init.into();
        self
    }
    /// Axes along which one slope is shared (1-based, the batch being axis 0).
    pub fn shared_axes(mut self, axes: &[usize]) -> Self {
        self.shared_axes = Some(axes.to_vec());
        self
    }

    fn alpha(&self) -> &[f32] {
        self.params.first().map_or(&[], |p| &p.value)
    }
}

impl Default for PReLU {
    fn default() -> Self {
        PReLU::new()
    }
}
common_builders!(PReLU);
super::weight_options::weight_option_builders!(PReLU:
    "alpha" => alpha_regularizer, alpha_constraint;
);

impl Layer for PReLU {
    fn class_name(&self) -> &'static str {
        "PReLU"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let init = self
            .alpha_initializer
            .resolve()
            .map_err(|e| Error::arg("alpha_initializer", &name, e.to_string()))?;
        let mut shape = input_shape.to_vec();
        for &a in self.shared_axes.iter().flatten() {
            if a == 0 || a > shape.len() {
                return Err(Error::arg(
                    "shared_axes",
                    &name,
                    format!(
                        "axis {a} is not an axis of the input (1 to {}; 0 is the batch)",
                        shape.len()
                    ),
                ));
            }
            shape[a - 1] = 1;
        }
        self.params = vec![Param::init(&name, "alpha", shape.clone(), &init, rng)?];
        self.weights.check(&name, &self.params)?;
        // Row-major strides of the input and of alpha (0 along the shared axes).
        let numel = crate::shape::numel(input_shape);
        let mut astride = vec![0usize; shape.len()];
        let mut s = 1;
        for i in (0..shape.len()).rev() {
            astride[i] = if shape[i] == 1 { 0 } else { s };
            s *= shape[i];
        }
        self.slope_of = (0..numel)
            .map(|flat| {
                let (mut rest, mut k) = (flat, 0usize);
                for i in (0..input_shape.len()).rev() {
                    k += (rest % input_shape[i]) * astride[i];
                    rest /= input_shape[i];
                }
                k as u32
            })
            .collect();
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        let per = self.slope_of.len().max(1);
        let alpha = self.alpha();
        for (xs, ys) in x.chunks(per).zip(y.chunks_mut(per)) {
            for ((v, out), &k) in xs.iter().zip(ys.iter_mut()).zip(&self.slope_of) {
                *out = if *v > 0.0 { *v } else { alpha[k as usize] * *v };
            }
        }
    }
    fn backward(
        &mut self,
        x: &[f32],
        _y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        _ctx: Backward,
    ) {
        let per = self.slope_of.len().max(1);
        if let Some(p) = self.params.first_mut() {
            if p.trainable {
                for (xs, gs) in x.chunks(per).zip(dy.chunks(per)) {
                    for ((v, g), &k) in xs.iter().zip(gs).zip(&self.slope_of) {
                        if *v < 0.0 {
                            p.grad[k as usize] += g * v;
                        }
                    }
                }
            }
        }
        if let Some(dx) = dx {
            let alpha = self.alpha();
            for ((xs, gs), ds) in x.chunks(per).zip(dy.chunks(per)).zip(dx.chunks_mut(per)) {
                for (((v, g), d), &k) in xs.iter().zip(gs).zip(ds.iter_mut()).zip(&self.slope_of) {
                    *d = if *v > 0.0 { *g } else { alpha[k as usize] * g };
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
    super::weight_option_methods!(weights);
    fn config(&self) -> Map<String, Value> {
        self.weights.with_config(super::object(json!({
            "alpha_initializer": super::initializer_config(&self.alpha_initializer, Initializer::Zeros),
            "alpha_regularizer": null,
            "alpha_constraint": null,
            "shared_axes": self.shared_axes,
        })))
    }
}

impl FromConfig for PReLU {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let c = g.c;
        let name = g.name;
        let mut l = PReLU::new()
            .alpha_initializer(g.initializer("alpha_initializer", "zeros")?)
            .with_weight_options(g.weight_options(super::weight_options::ALPHA)?);
        match c.get("shared_axes") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let axes = v
                    .as_array()
                    .map(|a| a.iter().map(|x| x.as_u64().map(|x| x as usize)).collect())
                    .or_else(|| v.as_u64().map(|x| Some(vec![x as usize])))
                    .flatten()
                    .ok_or_else(|| bad(name, "shared_axes", "a list of axes", Some(v)))?;
                l = l.shared_axes(&axes);
            }
        }
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradients_per_value_and_shared() {
        check_layer(
            Box::new(PReLU::new().alpha_initializer("random_uniform")),
            &[2, 3],
        );
        let shape = check_layer(
            Box::new(
                PReLU::new()
                    .alpha_initializer("random_normal")
                    .shared_axes(&[1, 2]),
            ),
            &[3, 2, 4],
        );
        assert_eq!(shape, vec![3, 2, 4]);
    }

    #[test]
    fn shared_slopes_and_bad_axes() {
        let mut l = PReLU::new().shared_axes(&[1]);
        l.build(&[2, 2], &mut Rng::new(0)).expect("build");
        l.params[0].value = vec![0.5, 0.25];
        let x = [-2.0f32, -4.0, -2.0, 4.0];
        let mut y = [0.0f32; 4];
        l.forward(&x, &mut y, 1, Mode::Infer);
        assert_eq!(y, [-1.0, -1.0, -1.0, 4.0]);
        let e = PReLU::new()
            .shared_axes(&[3])
            .build(&[2, 2], &mut Rng::new(0))
            .expect_err("no axis 3");
        assert!(e.to_string().contains("shared_axes"), "{e}");
    }
}
