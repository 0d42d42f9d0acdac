//! `Equalization`: equalizes each training image's histogram.

use super::random_image::{delegate_to_core, f32_pair, pair_json, RandomCore};
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::preprocessing::{ColorOp, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Equalizes the histogram of each channel over `bins` bins (Keras `Equalization`, default
/// 256): values map through the histogram's cumulative distribution, stretched to the
/// 0-255 scale of `value_range`. Each image has its own histogram (Keras's layer pools the
/// whole batch's; PIL and torchvision equalize per image). Piecewise constant, so its
/// gradient is zero. The identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([Equalization::new().input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Equalization {
    base: LayerBase,
    bins: usize,
    value_range: (f64, f64),
    core: RandomCore,
}

impl Equalization {
    /// With Keras's defaults: 256 bins, `value_range` `(0, 255)`.
    pub fn new() -> Self {
        Equalization {
            base: LayerBase::default(),
            bins: 256,
            value_range: (0.0, 255.0),
            core: RandomCore::new(),
        }
    }
    /// The number of histogram bins.
    pub fn bins(mut self, bins: usize) -> Self {
        self.bins = bins;
        self
    }
    /// Range of the pixel values.
    pub fn value_range(mut self, (a, b): (f64, f64)) -> Self {
        self.value_range = (a.min(b), a.max(b));
        self
    }
}
impl Default for Equalization {
    fn default() -> Self {
        Equalization::new()
    }
}
common_builders!(Equalization);

impl Layer for Equalization {
    fn class_name(&self) -> &'static str {
        "Equalization"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        if self.bins < 2 {
            return Err(Error::arg(
                "bins",
                &name,
                format!("expected at least 2 bins, received {}", self.bins),
            ));
        }
        let op = ColorOp::Equalization {
            bins: self.bins,
            value_range: f32_pair(self.value_range),
        };
        self.core
            .build(RandomOp::Color(op), input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({
            "data_format": "channels_last",
            "bins": self.bins,
            "value_range": pair_json(self.value_range),
        }))
    }
}

impl FromConfig for Equalization {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let bins = match g.c.get("bins") {
            None | Some(Value::Null) => 256,
            _ => g.usize("bins")?,
        };
        Ok(Equalization::new()
            .bins(bins)
            .value_range(g.range_or("value_range", (0.0, 255.0))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_levels_spread_to_the_ends_in_training_only() {
        let mut l = Equalization::new().name("e");
        l.build(&[2, 2, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = [0.0f32; 4];
        l.forward(&[10.0, 10.0, 10.0, 20.0], &mut y, 1, Mode::Train);
        assert_eq!(y, [0.0, 0.0, 0.0, 255.0]);
        l.forward(&[10.0, 10.0, 10.0, 20.0], &mut y, 1, Mode::Infer);
        assert_eq!(y, [10.0, 10.0, 10.0, 20.0]);
        assert_eq!(Equalization::new().config()["bins"], json!(256));
    }
}
