//! `Reshape`: the same values, another per-sample shape.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::shape::numel;
use serde_json::{json, Map, Value};

/// Gives each sample the shape `target_shape` (Keras `Reshape`); one dimension may be `-1`
/// and is then inferred.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([Reshape::new(&[7, -1, 4]).input_shape(196).into()])?;
/// assert_eq!(m.output_shape(), Some(&[7, 7, 4][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Reshape {
    base: LayerBase,
    target_shape: Vec<i64>,
}

impl Reshape {
    /// Reshapes to `target_shape` (without the batch axis).
    pub fn new(target_shape: &[i64]) -> Self {
        Reshape {
            base: LayerBase::default(),
            target_shape: target_shape.to_vec(),
        }
    }
}
common_builders!(Reshape);

impl Layer for Reshape {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Reshape"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let total = numel(input_shape);
        let unknown: Vec<usize> = (0..self.target_shape.len())
            .filter(|&i| self.target_shape[i] == -1)
            .collect();
        let bad = |msg: String| Error::arg("target_shape", &name, msg);
        if self.target_shape.is_empty()
            || unknown.len() > 1
            || self.target_shape.iter().any(|&d| d == 0 || d < -1)
        {
            return Err(bad(format!(
                "expected positive dimensions and at most one -1, received {:?}",
                self.target_shape
            )));
        }
        let known: usize = self
            .target_shape
            .iter()
            .filter(|&&d| d > 0)
            .map(|&d| d as usize)
            .product();
        let mut out: Vec<usize> = self
            .target_shape
            .iter()
            .map(|&d| d.max(0) as usize)
            .collect();
        if let Some(&i) = unknown.first() {
            if known == 0 || !total.is_multiple_of(known) {
                return Err(bad(format!(
                    "The total size of the input ({total}) cannot be reshaped to {:?}",
                    self.target_shape
                )));
            }
            out[i] = total / known;
        } else if known != total {
            return Err(bad(format!(
                "total size of new array must be unchanged, input_shape = {input_shape:?}, output_shape = {:?}",
                self.target_shape
            )));
        }
        Ok(out)
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        rkeras_kernels::elementwise::copy(x, y);
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
            rkeras_kernels::elementwise::copy(dy, dx);
        }
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({ "target_shape": self.target_shape }))
    }
}

impl FromConfig for Reshape {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(Reshape::new(&g.ints("target_shape", -1)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_shape_and_errors() {
        assert_eq!(
            check_layer(Box::new(Reshape::new(&[-1, 2])), &[2, 3, 2]),
            vec![6, 2]
        );
        let e = Reshape::new(&[5, -1])
            .build(&[12], &mut Rng::new(0))
            .expect_err("12 is not a multiple of 5");
        assert!(e.to_string().contains("cannot be reshaped"), "{e}");
        let e = Reshape::new(&[5, 3])
            .build(&[12], &mut Rng::new(0))
            .expect_err("15 != 12");
        assert!(e.to_string().contains("must be unchanged"), "{e}");
        assert!(Reshape::new(&[-1, -1])
            .build(&[4], &mut Rng::new(0))
            .is_err());
    }
}
