//! `RandomFlip`: flips each image with probability 1/2 while training.

use super::random_image::{delegate_to_core, seed_builder, RandomCore};
use super::registry::seeded;
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::preprocessing::{FlipMode, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Flips each training image left-right and/or up-down with probability 1/2 (Keras
/// `RandomFlip`); the identity in inference. In `"horizontal_and_vertical"` mode one coin
/// decides both flips, so an image is either unchanged or turned by 180 degrees.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([RandomFlip::new("horizontal").input_shape((8, 8, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[8, 8, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomFlip {
    base: LayerBase,
    mode: String,
    core: RandomCore,
}

impl RandomFlip {
    /// `"horizontal"`, `"vertical"` or `"horizontal_and_vertical"` (Keras's default).
    pub fn new(mode: &str) -> Self {
        RandomFlip {
            base: LayerBase::default(),
            mode: mode.into(),
            core: RandomCore::new(),
        }
    }
}
impl Default for RandomFlip {
    fn default() -> Self {
        RandomFlip::new("horizontal_and_vertical")
    }
}
common_builders!(RandomFlip);
seed_builder!(RandomFlip);

impl Layer for RandomFlip {
    fn class_name(&self) -> &'static str {
        "RandomFlip"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let mode = match self.mode.as_str() {
            "horizontal" => FlipMode::Horizontal,
            "vertical" => FlipMode::Vertical,
            "horizontal_and_vertical" => FlipMode::HorizontalAndVertical,
            other => {
                return Err(Error::arg(
                    "mode",
                    self.base.label(),
                    format!("expected \"horizontal\", \"vertical\" or \"horizontal_and_vertical\", received \"{other}\" (Keras would silently not flip)"),
                ))
            }
        };
        self.core
            .build(RandomOp::Flip(mode), input_shape, rng, self.base.label())
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({
            "data_format": "channels_last",
            "seed": self.core.seed,
            "mode": self.mode,
        }))
    }
}

impl FromConfig for RandomFlip {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let mut l = RandomFlip::new(g.str_or("mode", "horizontal_and_vertical")?);
        l = seeded!(l, g);
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_some_images_and_none_in_inference() {
        let mut l = RandomFlip::new("horizontal").seed(3).name("f");
        l.build(&[1, 3, 1], &mut Rng::new(0)).expect("build");
        l.allocate(16);
        let x: Vec<f32> = (0..16).flat_map(|_| [1.0, 2.0, 3.0]).collect();
        let mut y = vec![0.0; 48];
        l.forward(&x, &mut y, 16, Mode::Train);
        let flipped = y.chunks(3).filter(|r| r == &[3.0, 2.0, 1.0]).count();
        let kept = y.chunks(3).filter(|r| r == &[1.0, 2.0, 3.0]).count();
        assert_eq!(flipped + kept, 16);
        assert!(flipped > 0 && kept > 0, "{flipped} flipped of 16");
        l.forward(&x, &mut y, 16, Mode::Infer);
        assert_eq!(x, y);
        // Backward undoes the same flips.
        l.forward(&x, &mut y, 16, Mode::Train);
        let mut dx = vec![0.0; 48];
        let mut dy = y.clone();
        l.backward(
            &x,
            &y,
            &mut dy,
            Some(&mut dx),
            Backward {
                n: 16,
                skip_activation: false,
                accumulate: false,
            },
        );
        assert_eq!(dx, x);
    }

    #[test]
    fn both_axes_share_one_coin() {
        let mut l = RandomFlip::default().seed(5).name("f");
        l.build(&[2, 2, 1], &mut Rng::new(0)).expect("build");
        l.allocate(20);
        let x: Vec<f32> = (0..20).flat_map(|_| [1.0, 2.0, 3.0, 4.0]).collect();
        let mut y = vec![0.0; 80];
        l.forward(&x, &mut y, 20, Mode::Train);
        for img in y.chunks(4) {
            assert!(
                img == [1.0, 2.0, 3.0, 4.0] || img == [4.0, 3.0, 2.0, 1.0],
                "{img:?}"
            );
        }
    }

    #[test]
    fn unknown_mode_is_an_error() {
        let mut l = RandomFlip::new("diagonal").name("f");
        let e = l.build(&[4, 4, 1], &mut Rng::new(0)).expect_err("bad mode");
        assert!(e.to_string().contains("diagonal"), "{e}");
    }
}
