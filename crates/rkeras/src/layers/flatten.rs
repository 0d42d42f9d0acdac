//! `Flatten`: collapses every axis but the batch axis (row-major, as Keras).

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::rng::Rng;
use crate::shape::numel;
use serde_json::{json, Map, Value};

/// Flattens each sample to one axis (Keras `Flatten`).
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([Flatten::new().input_shape((12, 12, 64)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[9216][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Flatten {
    base: LayerBase,
}

impl Flatten {
    /// A flatten layer.
    pub fn new() -> Self {
        Flatten::default()
    }
}
common_builders!(Flatten);

impl Layer for Flatten {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Flatten"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        Ok(vec![numel(input_shape)])
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
        super::object(json!({"data_format": "channels_last"}))
    }
}

impl FromConfig for Flatten {
    fn from_config(_g: &Cfg<'_>) -> Result<Self> {
        Ok(Flatten::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;
    #[test]
    fn gradient_and_shape() {
        assert_eq!(check_layer(Box::new(Flatten::new()), &[2, 3, 2]), vec![12]);
    }
}
