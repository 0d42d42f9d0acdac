//! `RandomSharpness`: sharpens or blurs each training image by a random amount.

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
    /// Sharpens (or blurs) each training image: `x + (1 - 2f)(smooth(x) - x)`,
    /// `f = U(lower, upper)`, with Keras's 3x3 smoothing kernel (5/13 at the centre, 1/13
    /// around, zero padding), clipped to `value_range` (Keras `RandomSharpness`; a factor `f`
    /// in `[0, 1]` means `(0, f)`; 0.5 leaves the image). The identity in inference.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let m = Sequential::new([RandomSharpness::new(0.3).input_shape((32, 32, 3)).into()])?;
    /// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    RandomSharpness, "RandomSharpness",
    bounds: (0.0, 1.0), zero_low: true, low: 0.0,
    default_factor: None::<f64>,
    op: |factor, value_range| ColorOp::Sharpness { factor, value_range }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn half_factor_keeps_the_image_and_zero_smooths() {
        let x: Vec<f32> = (0..9).map(|i| i as f32 * 10.0).collect();
        let mut y = vec![0.0f32; 9];
        let mut l = RandomSharpness::new((0.5, 0.5)).name("s");
        l.build(&[3, 3, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        l.forward(&x, &mut y, 1, Mode::Train);
        assert_eq!(y, x);
        let mut l = RandomSharpness::new((0.0, 0.0)).name("s");
        l.build(&[3, 3, 1], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        l.forward(&x, &mut y, 1, Mode::Train);
        // The centre: 5/13 of itself and 1/13 of each neighbour.
        let want = (5.0 * 40.0 + (0.0 + 10.0 + 20.0 + 30.0 + 50.0 + 60.0 + 70.0 + 80.0)) / 13.0;
        assert!((y[4] - want).abs() < 1e-3, "{} vs {want}", y[4]);
        assert_eq!(
            RandomSharpness::new(0.3).config()["factor"],
            json!([0, 0.3])
        );
    }

    #[test]
    fn gradient_of_a_fixed_sharpening() {
        check_layer(
            Box::new(RandomSharpness::new((0.8, 0.8)).value_range((-10.0, 10.0))),
            &[3, 4, 2],
        );
    }
}
