//! `RandomGrayscale`: turns some training images gray.

use super::random_image::{check_channels, delegate_to_core, seed_builder, RandomCore};
use super::registry::{seeded, Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::preprocessing::{ColorOp, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Turns each training image gray with probability `factor` (Keras `RandomGrayscale`,
/// default 0.5): every channel becomes `0.2989 R + 0.587 G + 0.114 B`, so the shape stays.
/// RGB or single-channel images (the latter unchanged). The identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([RandomGrayscale::new(0.2).input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomGrayscale {
    base: LayerBase,
    factor: f64,
    core: RandomCore,
}

impl RandomGrayscale {
    /// Gray with probability `factor` in `[0, 1]`.
    pub fn new(factor: f64) -> Self {
        RandomGrayscale {
            base: LayerBase::default(),
            factor,
            core: RandomCore::new(),
        }
    }
}
common_builders!(RandomGrayscale);
seed_builder!(RandomGrayscale);

impl Layer for RandomGrayscale {
    fn class_name(&self) -> &'static str {
        "RandomGrayscale"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        if !(0.0..=1.0).contains(&self.factor) {
            return Err(Error::arg(
                "factor",
                &name,
                format!(
                    "`factor` should be between 0 and 1. Received: factor={}",
                    self.factor
                ),
            ));
        }
        let op = ColorOp::Grayscale {
            factor: self.factor as f32,
        };
        check_channels(&op, input_shape, &name)?;
        self.core
            .build(RandomOp::Color(op), input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        // Keras writes no seed for this layer.
        super::object(json!({"data_format": "channels_last", "factor": self.factor}))
    }
}

impl FromConfig for RandomGrayscale {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let l = RandomGrayscale::new(g.f64_or("factor", 0.5)?);
        Ok(seeded!(l, g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn always_gray_at_factor_one() {
        let mut l = RandomGrayscale::new(1.0).name("g");
        l.build(&[1, 1, 3], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = [0.0f32; 3];
        l.forward(&[100.0, 50.0, 10.0], &mut y, 1, Mode::Train);
        let g = 0.2989 * 100.0 + 0.587 * 50.0 + 0.114 * 10.0;
        assert!(y.iter().all(|v| (v - g).abs() < 1e-3), "{y:?}");
        check_layer(Box::new(RandomGrayscale::new(1.0)), &[2, 2, 3]);
        let mut bad = RandomGrayscale::new(1.5).name("g");
        assert!(bad.build(&[2, 2, 3], &mut Rng::new(0)).is_err());
    }
}
