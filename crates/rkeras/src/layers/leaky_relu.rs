//! `LeakyReLU`: `x` for `x >= 0`, `negative_slope * x` below.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Layer, LayerBase};
use crate::error::{Error, Result};
use rkeras_kernels::Act;
use serde_json::{json, Map, Value};

/// Keras `LeakyReLU(negative_slope=0.3)`.
///
/// ```
/// use rkeras::prelude::*;
/// let mut m = Sequential::new([LeakyReLU::new().negative_slope(0.5).input_shape(2).into()])?;
/// let y = m.predict(&Tensor::new(vec![1, 2], vec![-2.0, 3.0])?)?;
/// assert_eq!(y.data(), &[-1.0, 3.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LeakyReLU {
    base: LayerBase,
    negative_slope: f64,
    act: Act,
    last: usize,
}

impl LeakyReLU {
    /// Slope 0.3, Keras's default.
    pub fn new() -> Self {
        LeakyReLU {
            base: LayerBase::default(),
            negative_slope: 0.3,
            act: Act::LeakyRelu(0.3),
            last: 1,
        }
    }
    /// Slope for negative inputs; at least 0.
    pub fn negative_slope(mut self, s: f64) -> Self {
        self.negative_slope = s;
        self
    }

    fn resolve(&self, _input_shape: &[usize]) -> Result<Act> {
        if !(self.negative_slope.is_finite() && self.negative_slope >= 0.0) {
            return Err(Error::arg(
                "negative_slope",
                self.base.label(),
                format!(
                    "The negative_slope value of a Leaky ReLU layer cannot be None or negative value. Expected a float. Received: negative_slope={}",
                    self.negative_slope
                ),
            ));
        }
        Ok(Act::LeakyRelu(self.negative_slope as f32))
    }
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU::new()
    }
}
common_builders!(LeakyReLU);

impl Layer for LeakyReLU {
    super::activation_layer_methods!("LeakyReLU");
    fn config(&self) -> Map<String, Value> {
        super::object(json!({ "negative_slope": self.negative_slope }))
    }
}

// Keras 2 called the slope `alpha`.
impl FromConfig for LeakyReLU {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(LeakyReLU::new().negative_slope(g.f64_or("negative_slope", g.f64_or("alpha", 0.3)?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradients_and_bad_slope() {
        check_layer(Box::new(LeakyReLU::new()), &[2, 3]);
        check_layer(Box::new(LeakyReLU::new().negative_slope(0.05)), &[4]);
        let e = LeakyReLU::new()
            .negative_slope(-0.1)
            .resolve(&[1])
            .expect_err("negative");
        assert!(e.to_string().contains("negative_slope"), "{e}");
    }
}
