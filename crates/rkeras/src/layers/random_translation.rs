//! `RandomTranslation`: shifts each training image by a random offset.

use super::random_image::{
    delegate_to_core, f32_pair, geometry_builders, geometry_keys, parse_span, FactorArg, RandomCore,
};
use super::registry::seeded;
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::preprocessing::{parse_fill, parse_interpolation, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Shifts each training image by `U(lower, upper)` of its height and width (Keras
/// `RandomTranslation`): positive moves the content down / right. Uncovered pixels follow
/// `fill_mode`, `"reflect"` by default (as Keras's code does, whatever its docstring says).
/// The identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([RandomTranslation::new(0.1, 0.1).input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomTranslation {
    base: LayerBase,
    height_factor: FactorArg,
    width_factor: FactorArg,
    fill_mode: String,
    fill_value: f64,
    interpolation: String,
    core: RandomCore,
}

impl RandomTranslation {
    /// Vertical and horizontal ranges, fractions of the height and width in [-1, 1]
    /// (`f` for `(-f, f)` or `(lower, upper)`).
    pub fn new(height_factor: impl Into<FactorArg>, width_factor: impl Into<FactorArg>) -> Self {
        RandomTranslation {
            base: LayerBase::default(),
            height_factor: height_factor.into(),
            width_factor: width_factor.into(),
            fill_mode: "reflect".into(),
            fill_value: 0.0,
            interpolation: "bilinear".into(),
            core: RandomCore::new(),
        }
    }
}
common_builders!(RandomTranslation);
geometry_builders!(RandomTranslation);

impl Layer for RandomTranslation {
    fn class_name(&self) -> &'static str {
        "RandomTranslation"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let range = (-1.0, 1.0);
        let height = parse_span(self.height_factor, false, range, "height_factor", &name)?;
        let width = parse_span(self.width_factor, false, range, "width_factor", &name)?;
        let op = RandomOp::Translation {
            height: f32_pair(height),
            width: f32_pair(width),
            fill: parse_fill(&self.fill_mode, self.fill_value as f32, &name)?,
            interpolation: parse_interpolation(&self.interpolation, &name)?,
        };
        self.core.build(op, input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        let mut m = super::object(json!({
            "data_format": "channels_last",
            "height_factor": self.height_factor.json(),
            "width_factor": self.width_factor.json(),
        }));
        geometry_keys(
            &mut m,
            &self.fill_mode,
            &self.interpolation,
            self.core.seed,
            self.fill_value,
        );
        m
    }
}

impl FromConfig for RandomTranslation {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let mut l = RandomTranslation::new(g.factor("height_factor")?, g.factor("width_factor")?)
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
    fn positive_shift_moves_content_right() {
        let mut l = RandomTranslation::new(0.0, (0.25, 0.25))
            .fill_mode("constant")
            .fill_value(-1.0)
            .name("t");
        l.build(&[1, 4, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let mut y = [0.0f32; 4];
        l.forward(&x, &mut y, 1, Mode::Train);
        assert_eq!(y, [-1.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn gradient_of_a_fixed_shift() {
        check_layer(
            Box::new(RandomTranslation::new((0.2, 0.2), (-0.3, -0.3)).fill_mode("constant")),
            &[5, 6, 2],
        );
    }

    #[test]
    fn factor_out_of_range_is_rejected() {
        let mut l = RandomTranslation::new(1.2, 0.1).name("t");
        let e = l.build(&[4, 4, 1], &mut Rng::new(0)).expect_err("range");
        assert!(e.to_string().contains("input_number=1.2"), "{e}");
    }
}
