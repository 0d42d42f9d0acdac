//! `UnitNormalization`: scales each sample's feature vector to unit L2 norm.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Keras's `normalize`'s floor on the norm.
const EPSILON: f32 = 1e-12;

/// Keras `UnitNormalization(axis=-1)`: `x * min(1 / ||x||, 1e12)` over the last axis.
///
/// ```
/// use rkeras::prelude::*;
/// let mut m = Sequential::new([UnitNormalization::new().input_shape(2).into()])?;
/// let y = m.predict(&Tensor::new(vec![1, 2], vec![3.0, 4.0])?)?;
/// assert_eq!(y.data(), &[0.6, 0.8]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct UnitNormalization {
    base: LayerBase,
    axis: i64,
    last: usize,
}

impl UnitNormalization {
    /// Over the last axis.
    pub fn new() -> Self {
        UnitNormalization {
            base: LayerBase::default(),
            axis: -1,
            last: 1,
        }
    }
    /// The axis: the last one (`-1` or the rank); rkeras implements no other.
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }
}

impl Default for UnitNormalization {
    fn default() -> Self {
        UnitNormalization::new()
    }
}
common_builders!(UnitNormalization);

/// `1 / ||row||`, at most `1 / EPSILON`, and whether that bound applied.
fn inv_norm(row: &[f32]) -> (f32, bool) {
    let s: f32 = row.iter().map(|v| v * v).sum();
    let r = 1.0 / s.sqrt();
    if r > 1.0 / EPSILON || !r.is_finite() {
        (1.0 / EPSILON, true)
    } else {
        (r, false)
    }
}

impl Layer for UnitNormalization {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "UnitNormalization"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let rank = input_shape.len() as i64;
        if self.axis != -1 && self.axis != rank {
            return Err(Error::arg(
                "axis",
                self.base.label(),
                format!(
                    "rkeras normalizes the last axis only (-1 or {rank}); received {}",
                    self.axis
                ),
            ));
        }
        self.last = input_shape.last().copied().unwrap_or(1).max(1);
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        for (xs, ys) in x.chunks(self.last).zip(y.chunks_mut(self.last)) {
            let (r, _) = inv_norm(xs);
            for (o, v) in ys.iter_mut().zip(xs) {
                *o = v * r;
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
        let Some(dx) = dx else { return };
        let c = self.last;
        for ((xs, gs), ds) in x.chunks(c).zip(dy.chunks(c)).zip(dx.chunks_mut(c)) {
            let (r, clipped) = inv_norm(xs);
            // d(x r)/dx = r (I - r^2 x x^T) where the norm is not clipped.
            let dot: f32 = if clipped {
                0.0
            } else {
                xs.iter().zip(gs.iter()).map(|(v, g)| v * g).sum()
            };
            for ((d, g), v) in ds.iter_mut().zip(gs.iter()).zip(xs) {
                *d = r * g - r * r * r * v * dot;
            }
        }
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({ "axis": self.axis }))
    }
}

impl FromConfig for UnitNormalization {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(UnitNormalization::new().axis(g.axis()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradients_and_keras_values() {
        check_layer(Box::new(UnitNormalization::new()), &[2, 3]);
        let mut l = UnitNormalization::new();
        l.build(&[3], &mut Rng::new(0)).expect("build");
        let mut y = [0.0f32; 6];
        // keras.layers.UnitNormalization()([[1, 2, 2], [0, 0, 0]]), Keras 3.15.
        l.forward(&[1.0, 2.0, 2.0, 0.0, 0.0, 0.0], &mut y, 2, Mode::Infer);
        let want = [1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 0.0, 0.0, 0.0];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-7, "{y:?}");
        }
        assert!(UnitNormalization::new()
            .axis(1)
            .build(&[2, 3], &mut Rng::new(0))
            .is_err());
    }
}
