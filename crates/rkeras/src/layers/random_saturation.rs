//! `RandomSaturation`: scales each training image's saturation by a random factor.

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
    /// Scales the saturation of each training image by `f / (1 - f)`, `f = U(lower, upper)`
    /// (Keras `RandomSaturation`: 0.5 leaves it, 0 makes gray, 1 fully saturates); a factor
    /// `f` means `(-f, f)`, Keras's parsing. RGB images; the saturation is clipped to
    /// `value_range` as Keras does. The identity in inference.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let m = Sequential::new([RandomSaturation::new((0.3, 0.7)).input_shape((32, 32, 3)).into()])?;
    /// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    RandomSaturation, "RandomSaturation",
    bounds: (-1.0, 1.0), zero_low: false, low: -1.0,
    default_factor: None::<f64>,
    op: |factor, value_range| ColorOp::Saturation { factor, value_range }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_factor_makes_gray_and_half_keeps_the_image() {
        let mut l = RandomSaturation::new((0.0, 0.0)).name("s");
        l.build(&[1, 1, 3], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = [0.0f32; 3];
        l.forward(&[200.0, 100.0, 50.0], &mut y, 1, Mode::Train);
        assert!(y.iter().all(|v| (v - 200.0).abs() < 1e-3), "{y:?}");
        let mut l = RandomSaturation::new((0.5, 0.5)).name("s");
        l.build(&[1, 1, 3], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        l.forward(&[200.0, 100.0, 50.0], &mut y, 1, Mode::Train);
        assert!((y[1] - 100.0).abs() < 1e-2, "{y:?}");
        assert_eq!(
            RandomSaturation::new(0.4).config()["factor"],
            json!([-0.4, 0.4])
        );
    }
}
