//! `RandomBrightness`: adds a random offset to each training image.

use super::random_image::{
    delegate_to_core, f32_pair, parse_factor, seed_builder, FactorArg, RandomCore,
};
use super::registry::seeded;
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::preprocessing::RandomOp;
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Brightens or darkens each training image by `U(lower, upper)` times the width of
/// `value_range` (default `(0, 255)`), then clips to that range (Keras
/// `RandomBrightness`). A factor `f` means `(-f, f)`. The identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([RandomBrightness::new(0.2).input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomBrightness {
    base: LayerBase,
    factor: FactorArg,
    value_range: (f64, f64),
    core: RandomCore,
}

impl RandomBrightness {
    /// Brightness range in [-1, 1]: `f` for `(-f, f)` or `(lower, upper)`.
    pub fn new(factor: impl Into<FactorArg>) -> Self {
        RandomBrightness {
            base: LayerBase::default(),
            factor: factor.into(),
            value_range: (0.0, 255.0),
            core: RandomCore::new(),
        }
    }
    /// Range of the pixel values (default `(0, 255)`); sorted, as Keras does.
    pub fn value_range(mut self, (a, b): (f64, f64)) -> Self {
        self.value_range = (a.min(b), a.max(b));
        self
    }
}
common_builders!(RandomBrightness);
seed_builder!(RandomBrightness);

impl Layer for RandomBrightness {
    fn class_name(&self) -> &'static str {
        "RandomBrightness"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let factor = parse_factor(self.factor, (-1.0, 1.0), false, "factor", &name)?;
        let op = RandomOp::Brightness {
            factor: f32_pair(factor),
            value_range: f32_pair(self.value_range),
        };
        self.core.build(op, input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        let factor = parse_factor(self.factor, (-1.0, 1.0), false, "factor", "")
            .map_or(self.factor.json(), |(lo, hi)| json!([lo, hi]));
        super::object(json!({
            "data_format": "channels_last",
            "factor": factor,
            "value_range": [super::random_image::number(self.value_range.0), super::random_image::number(self.value_range.1)],
            "seed": self.core.seed,
        }))
    }
}

impl FromConfig for RandomBrightness {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let mut l = RandomBrightness::new(g.factor("factor")?)
            .value_range(g.range_or("value_range", (0.0, 255.0))?);
        l = seeded!(l, g);
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn fixed_factor_adds_a_fraction_of_the_range() {
        let mut l = RandomBrightness::new((0.2, 0.2)).name("b");
        l.build(&[1, 2, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = [0.0f32; 2];
        l.forward(&[10.0, 250.0], &mut y, 1, Mode::Train);
        assert_eq!(y, [61.0, 255.0]);
    }

    #[test]
    fn gradient_of_a_fixed_offset() {
        check_layer(
            Box::new(RandomBrightness::new((0.1, 0.1)).value_range((-100.0, 100.0))),
            &[3, 4, 2],
        );
    }
}
