//! `RandomShear`: shears each training image along x and y by random factors.

use super::random_image::{
    delegate_to_core, f32_pair, geometry_builders, geometry_keys, parse_span, FactorArg, RandomCore,
};
use super::registry::seeded;
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::preprocessing::{parse_fill, parse_interpolation, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Shears each training image (Keras `RandomShear`): output pixel `(x, y)` reads the source
/// at `(x + sx y, sy x + y)`, about the top-left corner as Keras does, with `sx` drawn from
/// `x_factor`, `sy` from `y_factor` and both negated together on a fair coin. A factor `f`
/// means `(-f, f)` (each number in [0, 1]); the default `0` leaves that axis alone. Pixels
/// from outside the image follow `fill_mode` (default `"reflect"`). The identity in
/// inference.
///
/// ```
/// use rkeras::prelude::*;
/// let layer = RandomShear::new(0.2, 0.1).fill_mode("constant");
/// let m = Sequential::new([layer.input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomShear {
    base: LayerBase,
    x_factor: FactorArg,
    y_factor: FactorArg,
    fill_mode: String,
    fill_value: f64,
    interpolation: String,
    core: RandomCore,
}

impl RandomShear {
    /// Horizontal and vertical shear ranges: `f` for `(-f, f)` or `(lower, upper)`, each
    /// number in [0, 1].
    pub fn new(x_factor: impl Into<FactorArg>, y_factor: impl Into<FactorArg>) -> Self {
        RandomShear {
            base: LayerBase::default(),
            x_factor: x_factor.into(),
            y_factor: y_factor.into(),
            fill_mode: "reflect".into(),
            fill_value: 0.0,
            interpolation: "bilinear".into(),
            core: RandomCore::new(),
        }
    }
    fn parsed(&self, name: &str) -> Result<((f64, f64), (f64, f64))> {
        Ok((
            parse_span(self.x_factor, false, (0.0, 1.0), "x_factor", name)?,
            parse_span(self.y_factor, false, (0.0, 1.0), "y_factor", name)?,
        ))
    }
}
common_builders!(RandomShear);
geometry_builders!(RandomShear);

impl Layer for RandomShear {
    fn class_name(&self) -> &'static str {
        "RandomShear"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let (x, y) = self.parsed(&name)?;
        let op = RandomOp::Shear {
            x: f32_pair(x),
            y: f32_pair(y),
            fill: parse_fill(&self.fill_mode, self.fill_value as f32, &name)?,
            interpolation: parse_interpolation(&self.interpolation, &name)?,
        };
        self.core.build(op, input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        // Keras writes the parsed ranges: `0.2` becomes `[-0.2, 0.2]`, `0` `[-0.0, 0.0]`.
        let (x, y) = match self.parsed("") {
            Ok(((a, b), (c, d))) => (json!([a, b]), json!([c, d])),
            Err(_) => (self.x_factor.json(), self.y_factor.json()),
        };
        let mut m = super::object(json!({
            "data_format": "channels_last",
            "x_factor": x,
            "y_factor": y,
        }));
        geometry_keys(
            &mut m,
            &self.fill_mode,
            &self.interpolation,
            self.core.seed,
            self.fill_value,
        );
        m
    }
}

/// A factor as Keras's config holds it: the symmetric pair `(-f, f)` that Keras writes for
/// a number `f` is read back as `f` (Keras 3.15 itself refuses its own negative bound).
fn config_factor(g: &Cfg<'_>, k: &str) -> Result<FactorArg> {
    Ok(match g.factor(k)? {
        FactorArg::Pair(a, b) if a <= 0.0 && a == -b => FactorArg::Scalar(b),
        f => f,
    })
}

impl FromConfig for RandomShear {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let x = match g.c.get("x_factor") {
            None | Some(Value::Null) => FactorArg::Scalar(0.0),
            Some(_) => config_factor(g, "x_factor")?,
        };
        let y = match g.c.get("y_factor") {
            None | Some(Value::Null) => FactorArg::Scalar(0.0),
            Some(_) => config_factor(g, "y_factor")?,
        };
        let mut l = RandomShear::new(x, y)
            .fill_mode(g.str_or("fill_mode", "reflect")?)
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

    #[test]
    fn config_matches_keras_and_reads_back() {
        // KERAS_BACKEND=jax python -c "import keras; print(keras.layers.RandomShear(0.2).get_config())"
        let c = RandomShear::new(0.2, 0.0).name("random_shear").config();
        assert_eq!(c["x_factor"], json!([-0.2, 0.2]));
        assert_eq!(c["y_factor"], json!([-0.0, 0.0]));
        assert_eq!(c["fill_mode"], "reflect");
        assert_eq!(c["interpolation"], "bilinear");
        assert_eq!(c["fill_value"], json!(0.0));
        assert_eq!(c["seed"], Value::Null);
        assert_eq!(c["data_format"], "channels_last");
        // RandomShear((0.1, 0.3), 0.4, fill_mode='constant', fill_value=2.5, seed=3,
        // interpolation='nearest').get_config()
        let l = RandomShear::new((0.1, 0.3), 0.4)
            .fill_mode("constant")
            .fill_value(2.5)
            .interpolation("nearest")
            .seed(3)
            .name("s");
        let c = l.config();
        assert_eq!(c["x_factor"], json!([0.1, 0.3]));
        assert_eq!(c["y_factor"], json!([-0.4, 0.4]));
        assert_eq!(c["fill_value"], json!(2.5));
        assert_eq!(c["seed"], json!(3));
        for layer in [l.into(), RandomShear::new(0.2, 0.0).name("t").into()] {
            let layer: Box<dyn Layer> = layer;
            let entry = json!({"class_name": "RandomShear", "config": full_config(layer.as_ref())});
            let back = registry::from_config(&entry).expect("read");
            assert_eq!(back.config(), layer.config());
        }
    }

    #[test]
    fn fixed_factors_give_keras_shear_matrix() {
        // x_factor = y_factor = (a, a): sx = sy = +-a (one coin for both), so output (x, y)
        // reads (x + s y, s x + y); with nearest sampling pixel (1, 1) reads (1 + s, 1 + s).
        let a = 0.5f32;
        let mut l = RandomShear::new((a, a), (a, a))
            .interpolation("nearest")
            .fill_mode("constant")
            .fill_value(-1.0)
            .seed(5)
            .name("s");
        l.build(&[4, 4, 1], &mut Rng::new(0)).expect("build");
        l.allocate(8);
        let x: Vec<f32> = (0..8 * 16).map(|v| (v % 16) as f32).collect();
        let mut y = vec![0.0; 8 * 16];
        l.forward(&x, &mut y, 8, Mode::Train);
        let mut seen = [false; 2];
        for img in y.chunks(16) {
            // Source (x + s y, s x + y), rounded half away from zero.
            let expect = |s: f32| -> Vec<f32> {
                (0..16)
                    .map(|i| {
                        let (ox, oy) = ((i % 4) as f32, (i / 4) as f32);
                        let (sx, sy) = ((ox + s * oy).round(), (s * ox + oy).round());
                        if (0.0..4.0).contains(&sx) && (0.0..4.0).contains(&sy) {
                            sy * 4.0 + sx
                        } else {
                            -1.0
                        }
                    })
                    .collect()
            };
            if img == expect(a).as_slice() {
                seen[0] = true;
            } else {
                assert_eq!(img, expect(-a).as_slice());
                seen[1] = true;
            }
        }
        assert_eq!(seen, [true, true], "both signs over 8 draws");
    }

    #[test]
    fn gradient_of_a_shear_draw() {
        // The same draws on every forward (the sign coin too); both fills' adjoints.
        for (seed, fill) in [(1, "constant"), (2, "reflect"), (3, "nearest")] {
            let l = RandomShear::new(0.4, (0.1, 0.3)).fill_mode(fill).seed(seed);
            check_layer(Box::new(SameDraws(l)), &[5, 6, 2]);
        }
    }

    #[test]
    fn inference_is_the_identity() {
        let mut l = RandomShear::new(0.5, 0.5).name("s");
        l.build(&[3, 4, 2], &mut Rng::new(0)).expect("build");
        l.allocate(2);
        let x: Vec<f32> = (0..48).map(|v| v as f32 * 0.5).collect();
        let mut y = vec![0.0; 48];
        l.forward(&x, &mut y, 2, Mode::Infer);
        assert_eq!(x, y);
    }

    #[test]
    fn factors_outside_the_unit_range_are_rejected() {
        for l in [
            RandomShear::new(1.5, 0.0),
            RandomShear::new(0.0, (-0.1, 0.2)),
        ] {
            let mut l = l.name("s");
            let e = l.build(&[4, 4, 1], &mut Rng::new(0)).expect_err("range");
            assert!(e.to_string().contains("[0.0, 1.0]"), "{e}");
        }
        let mut l = RandomShear::new(0.1, 0.1).fill_mode("mirror").name("s");
        assert!(l.build(&[4, 4, 1], &mut Rng::new(0)).is_err());
    }
}
