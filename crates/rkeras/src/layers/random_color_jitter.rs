//! `RandomColorJitter`: random brightness, contrast, saturation and hue in one layer.

use super::random_image::{
    delegate_to_core, f32_pair, pair_json, parse_factor, seed_builder, FactorArg, RandomCore,
};
use super::registry::{seeded, Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::preprocessing::{ColorOp, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Keras's `RandomColorJitter`: `RandomBrightness`, `RandomContrast`, `RandomSaturation`
/// and `RandomHue` applied in that order to each training image, each only when its factor
/// is given (parsed as that layer parses it). The identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let jitter = RandomColorJitter::new()
///     .brightness_factor(0.2)
///     .contrast_factor(0.2)
///     .saturation_factor((0.4, 0.6))
///     .hue_factor(0.1);
/// let m = Sequential::new([jitter.input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomColorJitter {
    base: LayerBase,
    value_range: (f64, f64),
    brightness: Option<FactorArg>,
    contrast: Option<FactorArg>,
    saturation: Option<FactorArg>,
    hue: Option<FactorArg>,
    core: RandomCore,
}

impl RandomColorJitter {
    /// No jitter until a factor is given; `value_range` `(0, 255)`.
    pub fn new() -> Self {
        RandomColorJitter {
            base: LayerBase::default(),
            value_range: (0.0, 255.0),
            brightness: None,
            contrast: None,
            saturation: None,
            hue: None,
            core: RandomCore::new(),
        }
    }
    /// Range of the pixel values.
    pub fn value_range(mut self, (a, b): (f64, f64)) -> Self {
        self.value_range = (a.min(b), a.max(b));
        self
    }
    /// `RandomBrightness`'s factor.
    pub fn brightness_factor(mut self, f: impl Into<FactorArg>) -> Self {
        self.brightness = Some(f.into());
        self
    }
    /// `RandomContrast`'s factor.
    pub fn contrast_factor(mut self, f: impl Into<FactorArg>) -> Self {
        self.contrast = Some(f.into());
        self
    }
    /// `RandomSaturation`'s factor.
    pub fn saturation_factor(mut self, f: impl Into<FactorArg>) -> Self {
        self.saturation = Some(f.into());
        self
    }
    /// `RandomHue`'s factor.
    pub fn hue_factor(mut self, f: impl Into<FactorArg>) -> Self {
        self.hue = Some(f.into());
        self
    }
}
impl Default for RandomColorJitter {
    fn default() -> Self {
        RandomColorJitter::new()
    }
}
common_builders!(RandomColorJitter);
seed_builder!(RandomColorJitter);

impl Layer for RandomColorJitter {
    fn class_name(&self) -> &'static str {
        "RandomColorJitter"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let parse = |f: Option<FactorArg>, bounds: (f64, f64), zero_low: bool, arg: &str| {
            f.map(|f| parse_factor(f, bounds, zero_low, arg, &name).map(f32_pair))
                .transpose()
        };
        let op = ColorOp::Jitter {
            brightness: parse(self.brightness, (-1.0, 1.0), false, "brightness_factor")?,
            contrast: parse(self.contrast, (0.0, 1.0), true, "contrast_factor")?,
            saturation: parse(self.saturation, (-1.0, 1.0), false, "saturation_factor")?,
            hue: parse(self.hue, (0.0, 1.0), true, "hue_factor")?,
            value_range: f32_pair(self.value_range),
        };
        super::random_image::check_channels(&op, input_shape, &name)?;
        self.core
            .build(RandomOp::Color(op), input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        // Keras writes the factors as given.
        let f = |v: Option<FactorArg>| v.map_or(Value::Null, FactorArg::json);
        super::object(json!({
            "data_format": "channels_last",
            "value_range": pair_json(self.value_range),
            "brightness_factor": f(self.brightness),
            "contrast_factor": f(self.contrast),
            "saturation_factor": f(self.saturation),
            "hue_factor": f(self.hue),
            "seed": self.core.seed,
        }))
    }
}

impl FromConfig for RandomColorJitter {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let f = |k: &str| match g.c.get(k) {
            None | Some(Value::Null) => Ok(None),
            _ => g.factor(k).map(Some),
        };
        let mut l = RandomColorJitter::new().value_range(g.range_or("value_range", (0.0, 255.0))?);
        l.brightness = f("brightness_factor")?;
        l.contrast = f("contrast_factor")?;
        l.saturation = f("saturation_factor")?;
        l.hue = f("hue_factor")?;
        Ok(seeded!(l, g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn fixed_brightness_then_contrast_and_gradient() {
        // Brightness +0.1 of the range, then contrast x1.5 about each channel's mean.
        let mut l = RandomColorJitter::new()
            .brightness_factor((0.1, 0.1))
            .contrast_factor((-0.5, 0.5))
            .value_range((-100.0, 100.0))
            .name("j");
        l.build(&[1, 2, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = [0.0f32; 2];
        l.forward(&[0.0, 10.0], &mut y, 1, Mode::Train);
        // +20, then (v - 25) * 1.5 + 25.
        assert_eq!(y, [17.5, 32.5]);
        check_layer(
            Box::new(
                RandomColorJitter::new()
                    .brightness_factor((0.01, 0.01))
                    .contrast_factor((-0.3, 0.3))
                    .saturation_factor((0.7, 0.7))
                    .value_range((-50.0, 50.0)),
            ),
            &[2, 2, 3],
        );
        assert_eq!(
            RandomColorJitter::new().hue_factor(0.1).config()["hue_factor"],
            json!(0.1)
        );
    }
}
