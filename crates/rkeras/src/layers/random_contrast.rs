//! `RandomContrast`: scales each training image's contrast by a random factor.

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

/// Adjusts the contrast of each training image (Keras `RandomContrast`): per channel,
/// `(x - mean) * k + mean`, clipped to `value_range` (default `(0, 255)`), with one
/// `k = U(1 - lower, 1 + upper)` per image. The identity in inference.
///
/// Keras quirk, reproduced: a single factor `f` is stored as `(0, f)`, so
/// `RandomContrast::new(0.5)` draws `k` in `[1, 1.5]` and only ever *increases* contrast;
/// pass `(0.5, 0.5)` for `[0.5, 1.5]`.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([RandomContrast::new((0.2, 0.2)).input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomContrast {
    base: LayerBase,
    factor: FactorArg,
    value_range: (f64, f64),
    core: RandomCore,
}

impl RandomContrast {
    /// Contrast range: `f` (stored as `(0, f)`) or `(lower, upper)`, in [0, 1].
    pub fn new(factor: impl Into<FactorArg>) -> Self {
        RandomContrast {
            base: LayerBase::default(),
            factor: factor.into(),
            value_range: (0.0, 255.0),
            core: RandomCore::new(),
        }
    }
    /// Range the output is clipped to (default `(0, 255)`; `(0, 1)` after rescaling).
    pub fn value_range(mut self, range: (f64, f64)) -> Self {
        self.value_range = range;
        self
    }
    fn parsed(&self, name: &str) -> Result<(f64, f64)> {
        parse_factor(self.factor, (0.0, 1.0), true, "factor", name)
    }
}
common_builders!(RandomContrast);
seed_builder!(RandomContrast);

impl Layer for RandomContrast {
    fn class_name(&self) -> &'static str {
        "RandomContrast"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let op = RandomOp::Contrast {
            factor: f32_pair(self.parsed(&name)?),
            value_range: f32_pair(self.value_range),
        };
        self.core.build(op, input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        let factor = match self.parsed("") {
            Ok((0.0, hi)) => json!([0, hi]),
            Ok((lo, hi)) => json!([lo, hi]),
            Err(_) => self.factor.json(),
        };
        super::object(json!({
            "data_format": "channels_last",
            "factor": factor,
            "value_range": [super::random_image::number(self.value_range.0), super::random_image::number(self.value_range.1)],
            "seed": self.core.seed,
        }))
    }
}

impl FromConfig for RandomContrast {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let mut l = RandomContrast::new(g.factor("factor")?)
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
    fn scalar_factor_only_increases_contrast_like_keras() {
        let mut l = RandomContrast::new(0.5).name("c");
        l.build(&[1, 2, 1], &mut Rng::new(0)).expect("build");
        l.allocate(64);
        let x: Vec<f32> = (0..64).flat_map(|_| [100.0, 150.0]).collect();
        let mut y = vec![0.0; 128];
        l.forward(&x, &mut y, 64, Mode::Train);
        for img in y.chunks(2) {
            let spread = img[1] - img[0];
            assert!((50.0 - 1e-3..=75.0 + 1e-3).contains(&spread), "{img:?}");
        }
    }

    #[test]
    fn gradient_of_a_fixed_contrast() {
        // (-0.3, 0.3) passes Keras's check and gives exactly k = 1.3; inputs stay unclipped.
        check_layer(
            Box::new(RandomContrast::new((-0.3, 0.3)).value_range((-10.0, 10.0))),
            &[3, 4, 2],
        );
    }

    #[test]
    fn factor_outside_unit_range_is_rejected() {
        let mut l = RandomContrast::new(-0.2).name("c");
        assert!(l.build(&[4, 4, 1], &mut Rng::new(0)).is_err());
    }
}
