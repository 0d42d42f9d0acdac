//! `RandomPosterization`: keeps fewer bits of each training image's values.

use super::random_image::{
    check_channels, delegate_to_core, f32_pair, factor_color_layer, pair_json, parse_factor,
    seed_builder, FactorArg, RandomCore,
};
use super::registry::{seeded, Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::preprocessing::{ColorOp, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

factor_color_layer! {
    /// Keeps `b` bits of each 8-bit value, `b` drawn from `[lower, upper)` of `factor` (Keras
    /// `RandomPosterization`: a factor `f` in `[1, 8]` means `(1, f)`; values are taken to the
    /// 0-255 scale of `value_range` and back). Quantized, so its gradient is zero. The
    /// identity in inference.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let m = Sequential::new([RandomPosterization::new(4.0).input_shape((32, 32, 3)).into()])?;
    /// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    RandomPosterization, "RandomPosterization",
    bounds: (1.0, 8.0), zero_low: true, low: 1.0,
    default_factor: None::<f64>,
    op: |factor, value_range| ColorOp::Posterization {
        bits: (factor.0 as u8, factor.1 as u8),
        value_range,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_bits_and_keras_config() {
        let mut l = RandomPosterization::new((2.0, 2.0))
            .name("p")
            .value_range((0.0, 1.0));
        l.build(&[1, 2, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = [0.0f32; 2];
        l.forward(&[1.0, 0.3], &mut y, 1, Mode::Train);
        assert_eq!(y, [192.0 / 255.0, 64.0 / 255.0]);
        assert_eq!(
            RandomPosterization::new(4.0).config()["factor"],
            json!([1, 4])
        );
        let mut bad = RandomPosterization::new(9.0).name("p");
        assert!(bad.build(&[2, 2, 3], &mut Rng::new(0)).is_err());
    }
}
