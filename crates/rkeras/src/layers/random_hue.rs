//! `RandomHue`: turns each training image's hue by a random amount.

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
    /// Shifts the hue of each training image by `±U(lower, upper) / 2` of a turn (Keras
    /// `RandomHue`; a factor `f` in `[0, 1]` means `(0, f)`, the sign is drawn per image);
    /// RGB images with values in `value_range` (default `(0, 255)`). The identity in inference.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let m = Sequential::new([RandomHue::new(0.2).input_shape((32, 32, 3)).into()])?;
    /// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    RandomHue, "RandomHue",
    bounds: (0.0, 1.0), zero_low: true, low: 0.0,
    default_factor: None::<f64>,
    op: |factor, value_range| ColorOp::Hue { factor, value_range }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_a_turn_swaps_red_and_cyan_and_config_is_keras() {
        // (1, 1): a shift of ±1/2 turn, the same either way.
        let mut l = RandomHue::new((1.0, 1.0)).name("h");
        l.build(&[1, 1, 3], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = [0.0f32; 3];
        l.forward(&[255.0, 0.0, 0.0], &mut y, 1, Mode::Train);
        assert!(
            y[0].abs() < 1e-3 && (y[1] - 255.0).abs() < 1e-3 && (y[2] - 255.0).abs() < 1e-3,
            "{y:?}"
        );
        l.forward(&[255.0, 0.0, 0.0], &mut y, 1, Mode::Infer);
        assert_eq!(y, [255.0, 0.0, 0.0]);
        let c = RandomHue::new(0.3).config();
        assert_eq!(c["factor"], json!([0, 0.3]));
        assert_eq!(c["value_range"], json!([0, 255]));
        let mut gray = RandomHue::new(0.3).name("g");
        assert!(gray.build(&[4, 4, 1], &mut Rng::new(0)).is_err());
    }
}
