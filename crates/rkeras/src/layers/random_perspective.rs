//! `RandomPerspective`: moves the corners of training images and follows the homography.

use super::random_image::{
    delegate_to_core, f32_pair, parse_factor, seed_builder, FactorArg, RandomCore,
};
use super::registry::seeded;
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::preprocessing::{parse_interpolation, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Distorts the perspective of training images (Keras `RandomPerspective`): each image is
/// transformed with probability `p = U(factor)` (a number `f` means `(0, f)`, so the
/// default `1.0` transforms about half the images; `(1.0, 1.0)` transforms all). The
/// corners `(w-1, 0)`, `(0, h-1)` and `(w-1, h-1)` move by `U(-scale/2, scale/2)` times
/// their own coordinates (as in Keras, the corner at the origin stays put), and the image
/// follows the homography; pixels from outside read `fill_value`. The identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let layer = RandomPerspective::new((1.0, 1.0)).scale(0.3);
/// let m = Sequential::new([layer.input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomPerspective {
    base: LayerBase,
    factor: FactorArg,
    scale: f64,
    fill_value: f64,
    interpolation: String,
    core: RandomCore,
}

impl RandomPerspective {
    /// Probability range: `f` for `(0, f)` or `(lower, upper)`, in [0, 1].
    pub fn new(factor: impl Into<FactorArg>) -> Self {
        RandomPerspective {
            base: LayerBase::default(),
            factor: factor.into(),
            scale: 1.0,
            fill_value: 0.0,
            interpolation: "bilinear".into(),
            core: RandomCore::new(),
        }
    }
    /// Relative corner displacement, in [0, 1] (default 1).
    pub fn scale(mut self, scale: f64) -> Self {
        self.scale = scale;
        self
    }
    /// Value read outside the image (default 0).
    pub fn fill_value(mut self, v: f64) -> Self {
        self.fill_value = v;
        self
    }
    /// `"bilinear"` (default) or `"nearest"`.
    pub fn interpolation(mut self, i: &str) -> Self {
        self.interpolation = i.into();
        self
    }
    fn parsed(&self, name: &str) -> Result<(f64, f64)> {
        parse_factor(self.factor, (0.0, 1.0), true, "factor", name)
    }
}
impl Default for RandomPerspective {
    /// Keras's defaults: `factor=1.0`, `scale=1.0`.
    fn default() -> Self {
        RandomPerspective::new(1.0)
    }
}
common_builders!(RandomPerspective);
seed_builder!(RandomPerspective);

impl Layer for RandomPerspective {
    fn class_name(&self) -> &'static str {
        "RandomPerspective"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let factor = self.parsed(&name)?;
        if !(0.0..=1.0).contains(&self.scale) {
            return Err(Error::arg(
                "scale",
                &name,
                format!(
                    "The `scale` argument should be a number in the range [0,1]. Received: scale={}",
                    self.scale
                ),
            ));
        }
        let op = RandomOp::Perspective {
            factor: f32_pair(factor),
            scale: self.scale as f32,
            fill_value: self.fill_value as f32,
            interpolation: parse_interpolation(&self.interpolation, &name)?,
        };
        self.core.build(op, input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        let factor = match self.parsed("") {
            Ok((0.0, hi)) => json!([0, hi]),
            Ok((lo, hi)) => json!([lo, hi]),
            Err(_) => self.factor.json(),
        };
        super::object(json!({
            "data_format": "channels_last",
            "factor": factor,
            "scale": self.scale,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
            "seed": self.core.seed,
        }))
    }
}

impl FromConfig for RandomPerspective {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let factor = match g.c.get("factor") {
            None | Some(Value::Null) => FactorArg::Scalar(1.0),
            Some(_) => g.factor("factor")?,
        };
        let mut l = RandomPerspective::new(factor)
            .scale(g.f64_or("scale", 1.0)?)
            .interpolation(g.str_or("interpolation", "bilinear")?)
            .fill_value(g.f64_or("fill_value", 0.0)?);
        l = seeded!(l, g);
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::{check_layer, SameDraws};
    use crate::layers::{full_config, registry};
    use crate::preprocessing::perspective_matrix;

    #[test]
    fn config_matches_keras_and_reads_back() {
        // keras.layers.RandomPerspective().get_config()
        let c = RandomPerspective::default().name("p").config();
        assert_eq!(c["factor"], json!([0, 1.0]));
        assert_eq!(c["scale"], json!(1.0));
        assert_eq!(c["interpolation"], "bilinear");
        assert_eq!(c["fill_value"], json!(0.0));
        assert_eq!(c["seed"], Value::Null);
        assert_eq!(c["data_format"], "channels_last");
        // RandomPerspective((0.2, 0.8), scale=0.5, seed=1).get_config()
        let l = RandomPerspective::new((0.2, 0.8))
            .scale(0.5)
            .seed(1)
            .name("q");
        let c = l.config();
        assert_eq!(c["factor"], json!([0.2, 0.8]));
        assert_eq!(c["scale"], json!(0.5));
        assert_eq!(c["seed"], json!(1));
        let layer: Box<dyn Layer> = l.into();
        let entry =
            json!({"class_name": "RandomPerspective", "config": full_config(layer.as_ref())});
        let back = registry::from_config(&entry).expect("read");
        assert_eq!(back.config(), layer.config());
    }

    #[test]
    fn homography_matches_keras() {
        // keras.src.backend.jax.image.compute_homography_matrix for a 5 x 6 image whose
        // corners move by p * shift.
        let shift = [0.1, -0.2, 0.3, 0.05, -0.15, 0.2, 0.25, -0.1];
        let t = perspective_matrix(&shift, 5, 6).expect("regular");
        let keras = [
            0.569_230_7,
            0.0,
            0.0,
            0.0,
            0.790_598_3,
            0.0,
            -0.040_000_01,
            -0.010_683_756,
        ];
        for (a, b) in t.iter().zip(keras) {
            assert!((a - b).abs() < 1e-5, "{t:?}");
        }
        // Each moved corner reads its original position.
        let (w, h) = (5.0f32, 4.0f32);
        for (i, (sx, sy)) in [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
            .into_iter()
            .enumerate()
        {
            let (ex, ey) = (sx + sx * shift[2 * i], sy + sy * shift[2 * i + 1]);
            let k = t[6] * ex + t[7] * ey + 1.0;
            let (x, y) = (
                (t[0] * ex + t[1] * ey + t[2]) / k,
                (t[3] * ex + t[4] * ey + t[5]) / k,
            );
            assert!(
                (x - sx).abs() < 1e-4 && (y - sy).abs() < 1e-4,
                "{i}: {x} {y}"
            );
        }
        assert_eq!(
            perspective_matrix(&[0.0; 8], 5, 6),
            Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
        );
        assert_eq!(perspective_matrix(&shift, 1, 6), None);
    }

    #[test]
    fn factor_zero_never_transforms_and_one_always_does() {
        let x: Vec<f32> = (0..4 * 36).map(|v| (v % 36) as f32).collect();
        let run = |f: (f64, f64)| {
            let mut l = RandomPerspective::new(f).scale(0.5).seed(7).name("p");
            l.build(&[6, 6, 1], &mut Rng::new(0)).expect("build");
            l.allocate(4);
            let mut y = vec![0.0; 4 * 36];
            l.forward(&x, &mut y, 4, Mode::Train);
            y
        };
        assert_eq!(run((0.0, 0.0)), x);
        let y = run((1.0, 1.0));
        for (img, src) in y.chunks(36).zip(x.chunks(36)) {
            assert_ne!(img, src);
            assert_eq!(img[0], src[0], "the origin corner stays");
        }
    }

    #[test]
    fn gradient_of_a_perspective_draw() {
        for seed in [1, 2] {
            let l = RandomPerspective::new((1.0, 1.0))
                .scale(0.4)
                .fill_value(0.5)
                .seed(seed);
            check_layer(Box::new(SameDraws(l)), &[5, 6, 2]);
        }
    }

    #[test]
    fn inference_is_the_identity() {
        let mut l = RandomPerspective::new((1.0, 1.0)).name("p");
        l.build(&[3, 4, 2], &mut Rng::new(0)).expect("build");
        l.allocate(2);
        let x: Vec<f32> = (0..48).map(|v| v as f32 * 0.5).collect();
        let mut y = vec![0.0; 48];
        l.forward(&x, &mut y, 2, Mode::Infer);
        assert_eq!(x, y);
    }

    #[test]
    fn bad_arguments_are_rejected() {
        for l in [
            RandomPerspective::new(1.5),
            RandomPerspective::new(0.5).scale(1.2),
            RandomPerspective::new(0.5).interpolation("bicubic"),
        ] {
            let mut l = l.name("p");
            assert!(l.build(&[4, 4, 1], &mut Rng::new(0)).is_err());
        }
    }
}
