//! `LayerScale`: ConvNeXt's learned per-channel scale of a residual branch.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode, Param};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// keras.applications.convnext's `LayerScale(init_values, projection_dim)`: multiplies each
/// of the last axis's `projection_dim` channels by a learned `gamma`, initialised to
/// `init_values`.
///
/// ```
/// use rkeras::prelude::*;
/// let mut m = Sequential::new([LayerScale::new(0.5, 2).input_shape(2).into()])?;
/// let y = m.predict(&Tensor::new(vec![1, 2], vec![2.0, 4.0])?)?;
/// assert_eq!(y.data(), &[1.0, 2.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LayerScale {
    base: LayerBase,
    init_values: f64,
    projection_dim: usize,
    params: Vec<Param>,
}

impl LayerScale {
    /// Scales `projection_dim` channels, each starting at `init_values`.
    pub fn new(init_values: f64, projection_dim: usize) -> Self {
        LayerScale {
            base: LayerBase::default(),
            init_values,
            projection_dim,
            params: Vec::new(),
        }
    }
}
common_builders!(LayerScale);

impl Layer for LayerScale {
    fn class_name(&self) -> &'static str {
        "LayerScale"
    }
    fn module(&self) -> &'static str {
        "keras.src.applications.convnext"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let c = self.projection_dim;
        if input_shape.last() != Some(&c) {
            return Err(Error::IncompatibleShape {
                layer: self.base.label().to_string(),
                expected: format!("a last axis of projection_dim={c}"),
                received: crate::shape::batch_shape_str(input_shape),
            });
        }
        self.params = vec![Param::new(
            "gamma",
            vec![c],
            vec![self.init_values as f32; c],
        )];
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        let gamma = &self.params[0].value;
        for (xs, ys) in x.chunks(gamma.len()).zip(y.chunks_mut(gamma.len())) {
            for ((o, v), g) in ys.iter_mut().zip(xs).zip(gamma) {
                *o = v * g;
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
        let c = self.projection_dim;
        let p = &mut self.params[0];
        if p.trainable {
            for (xs, gs) in x.chunks(c).zip(dy.chunks(c)) {
                for ((acc, v), g) in p.grad.iter_mut().zip(xs).zip(gs) {
                    *acc += v * g;
                }
            }
        }
        if let Some(dx) = dx {
            for (gs, ds) in dy.chunks(c).zip(dx.chunks_mut(c)) {
                for ((d, g), w) in ds.iter_mut().zip(gs).zip(&p.value) {
                    *d = g * w;
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
        super::object(json!({
            "init_values": self.init_values,
            "projection_dim": self.projection_dim,
        }))
    }
}

impl FromConfig for LayerScale {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(LayerScale::new(
            g.f64_or("init_values", 1e-6)?,
            g.usize("projection_dim")?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradients_and_a_wrong_width() {
        assert_eq!(
            check_layer(Box::new(LayerScale::new(0.7, 3)), &[2, 3]),
            vec![2, 3]
        );
        let e = LayerScale::new(1.0, 4)
            .build(&[2, 3], &mut Rng::new(0))
            .expect_err("3 channels, not 4");
        assert!(e.to_string().contains("projection_dim=4"), "{e}");
    }
}
