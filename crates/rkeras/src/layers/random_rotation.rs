//! `RandomRotation`: rotates each training image by a random angle about its centre.

use super::random_image::{
    delegate_to_core, f32_pair, geometry_builders, parse_factor, FactorArg, RandomCore,
};
use super::registry::seeded;
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::preprocessing::{parse_fill, parse_interpolation, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Rotates each training image by `U(lower, upper)` of a full turn, counter-clockwise for
/// positive angles, about the image centre (Keras `RandomRotation`); the identity in
/// inference. A factor `f` means `(-f, f)`: `RandomRotation::new(0.1)` turns by up to 36
/// degrees either way. Pixels from outside the image follow `fill_mode` (default
/// `"reflect"`).
///
/// ```
/// use rkeras::prelude::*;
/// let layer = RandomRotation::new(0.1).fill_mode("constant").fill_value(0.0);
/// let m = Sequential::new([layer.input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomRotation {
    base: LayerBase,
    factor: FactorArg,
    parsed: (f64, f64),
    fill_mode: String,
    fill_value: f64,
    interpolation: String,
    core: RandomCore,
}

impl RandomRotation {
    /// Rotation range as a fraction of a full turn: `f` for `(-f, f)` or `(lower, upper)`.
    pub fn new(factor: impl Into<FactorArg>) -> Self {
        RandomRotation {
            base: LayerBase::default(),
            factor: factor.into(),
            parsed: (0.0, 0.0),
            fill_mode: "reflect".into(),
            fill_value: 0.0,
            interpolation: "bilinear".into(),
            core: RandomCore::new(),
        }
    }
}
common_builders!(RandomRotation);
geometry_builders!(RandomRotation);

impl Layer for RandomRotation {
    fn class_name(&self) -> &'static str {
        "RandomRotation"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        self.parsed = parse_factor(self.factor, (-1.0, 1.0), false, "factor", &name)?;
        let op = RandomOp::Rotation {
            factor: f32_pair(self.parsed),
            fill: parse_fill(&self.fill_mode, self.fill_value as f32, &name)?,
            interpolation: parse_interpolation(&self.interpolation, &name)?,
        };
        self.core.build(op, input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        let (lo, hi) =
            parse_factor(self.factor, (-1.0, 1.0), false, "factor", "").unwrap_or(self.parsed);
        super::object(json!({
            "data_format": "channels_last",
            "factor": [lo, hi],
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "interpolation": self.interpolation,
            "seed": self.core.seed,
        }))
    }
}

impl FromConfig for RandomRotation {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let mut l = RandomRotation::new(g.factor("factor")?)
            .fill_mode(g.str_or("fill_mode", "reflect")?)
            .interpolation(g.str_or("interpolation", "bilinear")?)
            .fill_value(g.f64_or("fill_value", 0.0)?);
        l = seeded!(l, g);
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn quarter_turn_moves_the_right_column_to_the_top() {
        let mut l = RandomRotation::new((0.25, 0.25))
            .interpolation("nearest")
            .name("r");
        l.build(&[3, 3, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut y = vec![0.0; 9];
        l.forward(&x, &mut y, 1, Mode::Train);
        assert_eq!(y, [3.0, 6.0, 9.0, 2.0, 5.0, 8.0, 1.0, 4.0, 7.0]);
        l.forward(&x, &mut y, 1, Mode::Infer);
        assert_eq!(x, y);
    }

    #[test]
    fn same_seed_same_draws_other_seed_differs() {
        let run = |seed: u64| {
            let mut l = RandomRotation::new(0.2).seed(seed).name("r");
            l.build(&[6, 6, 1], &mut Rng::new(0)).expect("build");
            l.allocate(4);
            let x: Vec<f32> = (0..144).map(|v| v as f32).collect();
            let mut y = vec![0.0; 144];
            l.forward(&x, &mut y, 4, Mode::Train);
            y
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn gradient_of_a_fixed_rotation() {
        check_layer(Box::new(RandomRotation::new((0.1, 0.1))), &[5, 6, 2]);
    }

    #[test]
    fn factor_out_of_range_is_an_error() {
        let mut l = RandomRotation::new(1.5).name("r");
        let e = l.build(&[4, 4, 1], &mut Rng::new(0)).expect_err("range");
        assert!(e.to_string().contains("[-1, 1]"), "{e}");
        let mut l = RandomRotation::new(0.1).fill_mode("mirror").name("r");
        assert!(l.build(&[4, 4, 1], &mut Rng::new(0)).is_err());
    }
}
