//! `RandomZoom`: zooms each training image in or out about its centre.

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

/// Zooms each training image by `1 + U(lower, upper)` about its centre (Keras
/// `RandomZoom`): a **positive** factor zooms **out**, a negative one zooms in. Without a
/// `width_factor` the same zoom applies to both axes (aspect ratio kept). The identity in
/// inference.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([RandomZoom::new(0.1).input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomZoom {
    base: LayerBase,
    height_factor: FactorArg,
    width_factor: Option<FactorArg>,
    fill_mode: String,
    fill_value: f64,
    interpolation: String,
    core: RandomCore,
}

impl RandomZoom {
    /// Vertical zoom range: `f` for `(-f, f)` or `(lower, upper)`, each in (-1, 1].
    pub fn new(height_factor: impl Into<FactorArg>) -> Self {
        RandomZoom {
            base: LayerBase::default(),
            height_factor: height_factor.into(),
            width_factor: None,
            fill_mode: "reflect".into(),
            fill_value: 0.0,
            interpolation: "bilinear".into(),
            core: RandomCore::new(),
        }
    }
    /// Horizontal zoom range, drawn separately (default: reuse the vertical zoom).
    pub fn width_factor(mut self, f: impl Into<FactorArg>) -> Self {
        self.width_factor = Some(f.into());
        self
    }
}
common_builders!(RandomZoom);
geometry_builders!(RandomZoom);

impl Layer for RandomZoom {
    fn class_name(&self) -> &'static str {
        "RandomZoom"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let range = (-1.0, 1.0);
        let height = parse_span(self.height_factor, true, range, "height_factor", &name)?;
        let width = self
            .width_factor
            .map(|w| parse_span(w, true, range, "width_factor", &name))
            .transpose()?;
        let op = RandomOp::Zoom {
            height: f32_pair(height),
            width: width.map(f32_pair),
            fill: parse_fill(&self.fill_mode, self.fill_value as f32, &name)?,
            interpolation: parse_interpolation(&self.interpolation, &name)?,
        };
        self.core.build(op, input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        let mut m = super::object(json!({
            "data_format": "channels_last",
            "height_factor": self.height_factor.json(),
            "width_factor": self.width_factor.map_or(Value::Null, FactorArg::json),
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

impl FromConfig for RandomZoom {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let c = g.c;
        let mut l = RandomZoom::new(g.factor("height_factor")?)
            .fill_mode(g.str_or("fill_mode", "reflect")?)
            .interpolation(g.str_or("interpolation", "bilinear")?)
            .fill_value(g.f64_or("fill_value", 0.0)?);
        if !matches!(c.get("width_factor"), None | Some(Value::Null)) {
            l = l.width_factor(g.factor("width_factor")?);
        }
        l = seeded!(l, g);
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn zoom_in_by_half_doubles_the_centre() {
        // z = 0.5 reads the source at half the distance from the centre.
        let mut l = RandomZoom::new((-0.5, -0.5))
            .interpolation("nearest")
            .name("z");
        l.build(&[1, 5, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let x = [0.0f32, 1.0, 2.0, 3.0, 4.0];
        let mut y = [0.0f32; 5];
        l.forward(&x, &mut y, 1, Mode::Train);
        // Source x = 0.5 x + 1, rounded half away from zero: 1, 1.5, 2, 2.5, 3.
        assert_eq!(y, [1.0, 2.0, 2.0, 3.0, 3.0]);
    }

    #[test]
    fn gradient_of_a_fixed_zoom() {
        check_layer(
            Box::new(RandomZoom::new((0.3, 0.3)).width_factor((-0.2, -0.2))),
            &[5, 6, 2],
        );
    }

    #[test]
    fn factor_of_minus_one_is_rejected() {
        let mut l = RandomZoom::new(-1.0).name("z");
        let e = l.build(&[4, 4, 1], &mut Rng::new(0)).expect_err("range");
        assert!(e.to_string().contains("(-1.0, 1.0]"), "{e}");
    }
}
