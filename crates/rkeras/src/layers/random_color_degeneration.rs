//! `RandomColorDegeneration`: blends each training image with its grayscale version.

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
    /// Blends each training image towards its grayscale version: `x + f (gray(x) - x)`,
    /// `f = U(lower, upper)`, clipped to `value_range` (Keras `RandomColorDegeneration`; a
    /// factor `f` means `(-f, f)`, so it may also saturate). RGB images. The identity in
    /// inference.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let m = Sequential::new([RandomColorDegeneration::new(0.5).input_shape((32, 32, 3)).into()])?;
    /// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    RandomColorDegeneration, "RandomColorDegeneration",
    bounds: (-1.0, 1.0), zero_low: false, low: -1.0,
    default_factor: None::<f64>,
    op: |factor, value_range| ColorOp::Degeneration { factor, value_range }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn full_degeneration_is_grayscale() {
        let mut l = RandomColorDegeneration::new((1.0, 1.0)).name("d");
        l.build(&[1, 1, 3], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = [0.0f32; 3];
        l.forward(&[100.0, 50.0, 10.0], &mut y, 1, Mode::Train);
        let g = 0.2989 * 100.0 + 0.587 * 50.0 + 0.114 * 10.0;
        assert!(y.iter().all(|v| (v - g).abs() < 1e-3), "{y:?}");
        assert_eq!(
            RandomColorDegeneration::new(0.5).config()["factor"],
            json!([-0.5, 0.5])
        );
    }

    #[test]
    fn gradient_of_a_fixed_blend() {
        check_layer(
            Box::new(RandomColorDegeneration::new((0.3, 0.3)).value_range((-10.0, 10.0))),
            &[2, 3, 3],
        );
    }
}
