//! `Solarization`: inverts the values above a random threshold.

use super::random_image::{
    delegate_to_core, f32_pair, pair_json, parse_factor, seed_builder, FactorArg, RandomCore,
};
use super::registry::{seeded, Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::preprocessing::{ColorOp, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Solarizes each training image (Keras `Solarization`): on the 0-255 scale of
/// `value_range`, adds `a`, clips, and inverts (`255 - v`) every value at or above a
/// threshold `t`. Keras draws `a = U(lower, upper * 255)` from `addition_factor` and `t`
/// likewise from `threshold_factor` (a number `f` means `(0, f)`), quirks kept. The identity
/// in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([Solarization::new(0.0, 0.5).input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Solarization {
    base: LayerBase,
    addition: FactorArg,
    threshold: FactorArg,
    value_range: (f64, f64),
    core: RandomCore,
}

impl Solarization {
    /// `addition_factor` and `threshold_factor`, each a number or a pair in `[0, 1]`.
    pub fn new(addition: impl Into<FactorArg>, threshold: impl Into<FactorArg>) -> Self {
        Solarization {
            base: LayerBase::default(),
            addition: addition.into(),
            threshold: threshold.into(),
            value_range: (0.0, 255.0),
            core: RandomCore::new(),
        }
    }
    /// Range of the pixel values (default `(0, 255)`).
    pub fn value_range(mut self, (a, b): (f64, f64)) -> Self {
        self.value_range = (a.min(b), a.max(b));
        self
    }
    fn parsed(&self, name: &str) -> Result<((f64, f64), (f64, f64))> {
        Ok((
            parse_factor(self.addition, (0.0, 1.0), true, "addition_factor", name)?,
            parse_factor(self.threshold, (0.0, 1.0), true, "threshold_factor", name)?,
        ))
    }
}
common_builders!(Solarization);
seed_builder!(Solarization);

impl Layer for Solarization {
    fn class_name(&self) -> &'static str {
        "Solarization"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let (addition, threshold) = self.parsed(&name)?;
        let op = ColorOp::Solarization {
            addition: f32_pair(addition),
            threshold: f32_pair(threshold),
            value_range: f32_pair(self.value_range),
        };
        self.core
            .build(RandomOp::Color(op), input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        let (a, t) = self.parsed("").map_or_else(
            |_| (self.addition.json(), self.threshold.json()),
            |(a, t)| (pair_json(a), pair_json(t)),
        );
        super::object(json!({
            "data_format": "channels_last",
            "value_range": pair_json(self.value_range),
            "addition_factor": a,
            "threshold_factor": t,
            "seed": self.core.seed,
        }))
    }
}

impl FromConfig for Solarization {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let f = |k: &str| match g.c.get(k) {
            None | Some(Value::Null) => Ok(FactorArg::Scalar(0.0)),
            _ => g.factor(k),
        };
        let l = Solarization::new(f("addition_factor")?, f("threshold_factor")?)
            .value_range(g.range_or("value_range", (0.0, 255.0))?);
        Ok(seeded!(l, g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn fixed_threshold_inverts_the_bright_values() {
        // threshold (0.5, 0.5): t = U(0.5, 127.5), Keras's quirk: the lower end is not scaled.
        let mut l = Solarization::new(0.0, (0.0, 0.0)).name("s");
        l.build(&[1, 2, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = [0.0f32; 2];
        // t = 0: every value is inverted.
        l.forward(&[10.0, 200.0], &mut y, 1, Mode::Train);
        assert_eq!(y, [245.0, 55.0]);
        let c = Solarization::new(0.2, 0.5).config();
        assert_eq!(c["addition_factor"], json!([0, 0.2]));
        assert_eq!(c["threshold_factor"], json!([0, 0.5]));
        check_layer(
            Box::new(Solarization::new(0.0, 0.0).value_range((-2.0, 2.0))),
            &[2, 2, 1],
        );
    }
}
