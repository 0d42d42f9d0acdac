//! `AutoContrast`: stretches each image's channels to the full value range.

use super::random_image::{delegate_to_core, f32_pair, pair_json, RandomCore};
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::preprocessing::{ColorOp, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Stretches each channel of each image linearly so that its lowest value becomes the bottom
/// of `value_range` and its highest the top (Keras `AutoContrast`); a constant channel is left
/// as it is. As in Keras, it acts in inference too, not only in training.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([AutoContrast::new().input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AutoContrast {
    base: LayerBase,
    value_range: (f64, f64),
    core: RandomCore,
}

impl AutoContrast {
    /// With Keras's default `value_range` `(0, 255)`.
    pub fn new() -> Self {
        AutoContrast {
            base: LayerBase::default(),
            value_range: (0.0, 255.0),
            core: RandomCore::new(),
        }
    }
    /// Range of the pixel values.
    pub fn value_range(mut self, (a, b): (f64, f64)) -> Self {
        self.value_range = (a.min(b), a.max(b));
        self
    }
}
impl Default for AutoContrast {
    fn default() -> Self {
        AutoContrast::new()
    }
}
common_builders!(AutoContrast);

impl Layer for AutoContrast {
    fn class_name(&self) -> &'static str {
        "AutoContrast"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let op = ColorOp::AutoContrast {
            value_range: f32_pair(self.value_range),
        };
        self.core
            .build(RandomOp::Color(op), input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({
            "data_format": "channels_last",
            "value_range": pair_json(self.value_range),
        }))
    }
}

impl FromConfig for AutoContrast {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(AutoContrast::new().value_range(g.range_or("value_range", (0.0, 255.0))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn stretches_each_channel_in_inference_too() {
        let mut l = AutoContrast::new().name("a");
        l.build(&[1, 3, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = [0.0f32; 3];
        l.forward(&[50.0, 100.0, 150.0], &mut y, 1, Mode::Infer);
        assert_eq!(y, [0.0, 127.5, 255.0]);
        l.forward(&[7.0, 7.0, 7.0], &mut y, 1, Mode::Train);
        assert_eq!(y, [7.0; 3]);
        check_layer(
            Box::new(AutoContrast::new().value_range((-1.0, 1.0))),
            &[2, 3, 2],
        );
    }
}
