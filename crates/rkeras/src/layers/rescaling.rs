//! `Rescaling`: `x * scale + offset`, always applied.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Multiplies the inputs by `scale` and adds `offset` (Keras `Rescaling`), in training and
/// inference alike: `Rescaling::new(1.0 / 255.0)` maps pixels to [0, 1].
///
/// ```
/// use rkeras::prelude::*;
/// let mut m = Sequential::new([Rescaling::new(1.0 / 255.0).input_shape((2, 2, 1)).into()])?;
/// let y = m.predict(&Tensor::new(vec![1, 2, 2, 1], vec![0.0, 51.0, 255.0, 102.0])?)?;
/// for (got, want) in y.data().iter().zip([0.0, 0.2, 1.0, 0.4]) {
///     assert!((got - want).abs() < 1e-6);
/// }
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Rescaling {
    base: LayerBase,
    scale: f64,
    offset: f64,
}

impl Rescaling {
    /// `x * scale`.
    pub fn new(scale: f64) -> Self {
        Rescaling {
            base: LayerBase::default(),
            scale,
            offset: 0.0,
        }
    }
    /// Adds `offset` after scaling (default 0): `Rescaling::new(1.0 / 127.5).offset(-1.0)`
    /// maps pixels to [-1, 1].
    pub fn offset(mut self, offset: f64) -> Self {
        self.offset = offset;
        self
    }
}
common_builders!(Rescaling);

impl Layer for Rescaling {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Rescaling"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        if !self.scale.is_finite() || !self.offset.is_finite() {
            return Err(Error::arg(
                "scale",
                self.base.label(),
                format!(
                    "expected finite numbers, received scale={} offset={}",
                    self.scale, self.offset
                ),
            ));
        }
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        let (s, o) = (self.scale as f32, self.offset as f32);
        for (yo, xi) in y.iter_mut().zip(x) {
            *yo = xi * s + o;
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
            let s = self.scale as f32;
            for (d, g) in dx.iter_mut().zip(dy.iter()) {
                *d = g * s;
            }
        }
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({"scale": self.scale, "offset": self.offset}))
    }
}

impl FromConfig for Rescaling {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(Rescaling::new(g.f64_or("scale", 1.0)?).offset(g.f64_or("offset", 0.0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_and_config() {
        check_layer(Box::new(Rescaling::new(2.0).offset(-1.0)), &[3, 2, 2]);
        let c = Value::Object(Rescaling::new(1.0 / 255.0).config()).to_string();
        assert_eq!(c, r#"{"scale":0.00392156862745098,"offset":0.0}"#);
    }
}
