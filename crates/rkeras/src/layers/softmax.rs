//! `Softmax`: the softmax as a layer, over the last axis.

use super::registry::{bad, Cfg, FromConfig};
use super::{common_builders, Layer, LayerBase};
use crate::error::{Error, Result};
use rkeras_kernels::Act;
use serde_json::{json, Map, Value};

/// Keras `Softmax(axis=-1)`. Like an output `Dense(..., activation="softmax")`, a `Softmax`
/// layer at the end of a model is fused with a cross-entropy loss.
///
/// ```
/// use rkeras::prelude::*;
/// let mut m = Sequential::new([Softmax::new().input_shape(2).into()])?;
/// let y = m.predict(&Tensor::new(vec![1, 2], vec![1.0, 1.0])?)?;
/// assert_eq!(y.data(), &[0.5, 0.5]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Softmax {
    base: LayerBase,
    axis: i64,
    act: Act,
    last: usize,
}

impl Softmax {
    /// Over the last axis.
    pub fn new() -> Self {
        Softmax {
            base: LayerBase::default(),
            axis: -1,
            act: Act::Softmax,
            last: 1,
        }
    }
    /// The axis, counted from 1 (the batch is 0) or from the end (`-1`); rkeras implements the
    /// last axis only.
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }

    fn resolve(&self, input_shape: &[usize]) -> Result<Act> {
        // Keras counts the batch axis: the last axis is the per-sample rank, or -1.
        let rank = input_shape.len();
        if self.axis != -1 && self.axis != rank as i64 {
            return Err(Error::arg(
                "axis",
                self.base.label(),
                format!(
                    "rkeras computes the softmax over the last axis (-1 or {}); received {}",
                    rank, self.axis
                ),
            ));
        }
        Ok(Act::Softmax)
    }
}

impl Default for Softmax {
    fn default() -> Self {
        Softmax::new()
    }
}
common_builders!(Softmax);

impl Layer for Softmax {
    super::activation_layer_methods!("Softmax");
    fn config(&self) -> Map<String, Value> {
        super::object(json!({ "axis": self.axis }))
    }
}

impl FromConfig for Softmax {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let c = g.c;
        let name = g.name;
        let axis = match c.get("axis") {
            None | Some(Value::Null) => Some(-1),
            Some(Value::Array(a)) if a.len() == 1 => a[0].as_i64(),
            Some(v) => v.as_i64(),
        }
        .ok_or_else(|| bad(name, "axis", "an integer", c.get("axis")))?;
        Ok(Softmax::new().axis(axis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradients_and_axes() {
        check_layer(Box::new(Softmax::new()), &[2, 3]);
        check_layer(Box::new(Softmax::new().axis(2)), &[2, 3]);
        let mut l = Softmax::new().axis(1);
        let e = l
            .build(&[2, 3], &mut crate::rng::Rng::new(0))
            .expect_err("not the last axis");
        assert!(e.to_string().contains("last axis"), "{e}");
    }
}
