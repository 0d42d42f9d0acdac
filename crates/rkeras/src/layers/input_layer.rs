//! `InputLayer`: declares the per-sample input shape of a model.

use super::registry::{bad, Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::rng::Rng;
use crate::shape::IntoShape;
use serde_json::{json, Map, Value};

/// The input of a model (Keras `InputLayer` / `keras.Input(shape=...)`). As the first
/// element of a Sequential model it sets the input shape and is not listed in the summary.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([InputLayer::new((28, 28, 1)).into(), Flatten::new().into()])?;
/// assert_eq!(m.output_shape(), Some(&[784][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct InputLayer {
    base: LayerBase,
    shape: Vec<usize>,
}

impl InputLayer {
    /// An input of per-sample `shape` (no batch axis).
    pub fn new(shape: impl IntoShape) -> Self {
        let shape = shape.into_shape();
        InputLayer {
            base: LayerBase {
                input_shape: Some(shape.clone()),
                ..LayerBase::default()
            },
            shape,
        }
    }
    /// The declared shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
}
common_builders!(InputLayer);

impl Layer for InputLayer {
    fn class_name(&self) -> &'static str {
        "InputLayer"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        y.copy_from_slice(x);
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
            dx.copy_from_slice(dy);
        }
    }
    fn config(&self) -> Map<String, Value> {
        let mut batch: Vec<Value> = vec![Value::Null];
        batch.extend(self.shape.iter().map(|d| json!(d)));
        super::object(
            json!({"batch_shape": batch, "dtype": "float32", "sparse": false, "ragged": false, "optional": false}),
        )
    }
}

impl FromConfig for InputLayer {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let c = g.c;
        let name = g.name;
        let shape = c
            .get("batch_shape")
            .or_else(|| c.get("batch_input_shape"))
            .and_then(Value::as_array)
            .ok_or_else(|| bad(name, "batch_shape", "a shape", c.get("batch_shape")))?;
        let dims: Option<Vec<usize>> = shape
            .get(1..)
            .filter(|d| !d.is_empty())
            .and_then(|d| d.iter().map(|v| v.as_u64().map(|v| v as usize)).collect());
        let dims = dims.ok_or_else(|| {
            bad(
                name,
                "batch_shape",
                "known dimensions after the batch axis",
                c.get("batch_shape"),
            )
        })?;
        Ok(InputLayer::new(dims))
    }
}
