//! `RandomInvert`: inverts some training images.

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
    /// Inverts each training image (`upper - x`, `upper` the top of `value_range`) with a
    /// probability drawn from `U(lower, upper)` of `factor` (Keras `RandomInvert`; default 1.0,
    /// i.e. a probability uniform in `[0, 1]`: half the images on average). The identity in
    /// inference.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let m = Sequential::new([RandomInvert::new(1.0).input_shape((28, 28, 1)).into()])?;
    /// assert_eq!(m.output_shape(), Some(&[28, 28, 1][..]));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    RandomInvert, "RandomInvert",
    bounds: (0.0, 1.0), zero_low: true, low: 0.0,
    default_factor: Some(1.0),
    op: |factor, value_range| ColorOp::Invert { factor, value_range }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn certain_inversion_and_keras_config() {
        let mut l = RandomInvert::new((1.0, 1.0)).name("i");
        l.build(&[1, 2, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = [0.0f32; 2];
        l.forward(&[5.0, 250.0], &mut y, 1, Mode::Train);
        assert_eq!(y, [250.0, 5.0]);
        assert_eq!(RandomInvert::new(1.0).config()["factor"], json!([0, 1]));
        check_layer(Box::new(RandomInvert::new((1.0, 1.0))), &[2, 2, 3]);
    }
}
