//! `RandomErasing`: fills a random rectangle of training images.

use super::random_image::{
    delegate_to_core, f32_pair, number, parse_factor, seed_builder, FactorArg, RandomCore,
};
use super::registry::seeded;
use super::registry::{bad, Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::preprocessing::{EraseFill, RandomOp};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// What fills the erased rectangle, as the user gave it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum FillArg {
    Noise,
    Value(f64),
    Channels([f64; 3]),
}

/// Random erasing (Keras `RandomErasing`): with probability `p = U(factor)` per image (a
/// number `f` means `(0, f)`, so the default `1.0` erases about half the images; pass
/// `(1.0, 1.0)` to erase every one), a rectangle `sqrt(U(scale))` of the width by
/// `sqrt(U(scale))` of the height, at a uniform position, is filled with `fill_value`, or,
/// by default, with normal noise times the upper bound of `value_range`; the fill is
/// clipped to `value_range` (default `(0, 255)`). The identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let layer = RandomErasing::new((1.0, 1.0)).scale((0.1, 0.3)).fill_value(0.0);
/// let m = Sequential::new([layer.input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomErasing {
    base: LayerBase,
    factor: FactorArg,
    scale: FactorArg,
    fill: FillArg,
    value_range: (f64, f64),
    core: RandomCore,
}

impl RandomErasing {
    /// Probability range: `f` for `(0, f)` or `(lower, upper)`, in [0, 1].
    pub fn new(factor: impl Into<FactorArg>) -> Self {
        RandomErasing {
            base: LayerBase::default(),
            factor: factor.into(),
            scale: FactorArg::Pair(0.02, 0.33),
            fill: FillArg::Noise,
            value_range: (0.0, 255.0),
            core: RandomCore::new(),
        }
    }
    /// Range of the squared side fractions: `s` for `(0, s)` or `(lower, upper)`, in
    /// [0, 1] (default `(0.02, 0.33)`).
    pub fn scale(mut self, scale: impl Into<FactorArg>) -> Self {
        self.scale = scale.into();
        self
    }
    /// One value for the rectangle (default: normal noise).
    pub fn fill_value(mut self, v: f64) -> Self {
        self.fill = FillArg::Value(v);
        self
    }
    /// One value per channel for three-channel images.
    pub fn fill_values(mut self, v: [f64; 3]) -> Self {
        self.fill = FillArg::Channels(v);
        self
    }
    /// Value range of the images (default `(0, 255)`).
    pub fn value_range(mut self, range: (f64, f64)) -> Self {
        self.value_range = range;
        self
    }
    fn parsed(&self, name: &str) -> Result<((f64, f64), (f64, f64))> {
        Ok((
            parse_factor(self.factor, (0.0, 1.0), true, "factor", name)?,
            parse_factor(self.scale, (0.0, 1.0), true, "scale", name)?,
        ))
    }
}
impl Default for RandomErasing {
    /// Keras's defaults: `factor=1.0`, `scale=(0.02, 0.33)`, noise fill.
    fn default() -> Self {
        RandomErasing::new(1.0)
    }
}
common_builders!(RandomErasing);
seed_builder!(RandomErasing);

/// Keras writes a parsed `(0, f)` with an integer zero.
fn zero_low_json(r: Result<(f64, f64)>, given: FactorArg) -> Value {
    match r {
        Ok((0.0, hi)) => json!([0, hi]),
        Ok((lo, hi)) => json!([lo, hi]),
        Err(_) => given.json(),
    }
}

impl Layer for RandomErasing {
    fn class_name(&self) -> &'static str {
        "RandomErasing"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let (factor, scale) = self.parsed(&name)?;
        let fill = match self.fill {
            FillArg::Noise => EraseFill::Noise,
            FillArg::Value(v) => EraseFill::Value(v as f32),
            FillArg::Channels(v) => {
                if input_shape.last() != Some(&3) {
                    return Err(Error::arg(
                        "fill_value",
                        &name,
                        format!("three fill values need images of three channels, received input shape {input_shape:?}"),
                    ));
                }
                EraseFill::Channels(v.map(|x| x as f32))
            }
        };
        let op = RandomOp::Erasing {
            factor: f32_pair(factor),
            scale: f32_pair(scale),
            fill,
            value_range: f32_pair(self.value_range),
        };
        self.core.build(op, input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        let fill = match self.fill {
            FillArg::Noise => Value::Null,
            FillArg::Value(v) => json!(v),
            FillArg::Channels(v) => json!(v.map(number)),
        };
        super::object(json!({
            "data_format": "channels_last",
            "factor": zero_low_json(parse_factor(self.factor, (0.0, 1.0), true, "factor", ""), self.factor),
            "scale": zero_low_json(parse_factor(self.scale, (0.0, 1.0), true, "scale", ""), self.scale),
            "fill_value": fill,
            "value_range": [number(self.value_range.0), number(self.value_range.1)],
            "seed": self.core.seed,
        }))
    }
}

impl FromConfig for RandomErasing {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let factor = match g.c.get("factor") {
            None | Some(Value::Null) => FactorArg::Scalar(1.0),
            Some(_) => g.factor("factor")?,
        };
        let mut l =
            RandomErasing::new(factor).value_range(g.range_or("value_range", (0.0, 255.0))?);
        if !matches!(g.c.get("scale"), None | Some(Value::Null)) {
            l = l.scale(g.factor("scale")?);
        }
        match g.c.get("fill_value") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                let v: Option<Vec<f64>> = a.iter().map(Value::as_f64).collect();
                match v.as_deref() {
                    Some(&[r, gr, b]) => l = l.fill_values([r, gr, b]),
                    _ => {
                        return Err(bad(
                            g.name,
                            "fill_value",
                            "a number or three numbers",
                            g.c.get("fill_value"),
                        ))
                    }
                }
            }
            Some(_) => l = l.fill_value(g.f64_or("fill_value", 0.0)?),
        }
        l = seeded!(l, g);
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::{check_layer, SameDraws};
    use crate::layers::{full_config, registry};

    fn round_trip(layer: Box<dyn Layer>) {
        let entry = json!({"class_name": "RandomErasing", "config": full_config(layer.as_ref())});
        let back = registry::from_config(&entry).expect("read");
        assert_eq!(back.config(), layer.config());
    }

    #[test]
    fn config_matches_keras_and_reads_back() {
        // keras.layers.RandomErasing().get_config()
        let c = RandomErasing::default().name("e").config();
        assert_eq!(c["factor"], json!([0, 1.0]));
        assert_eq!(c["scale"], json!([0.02, 0.33]));
        assert_eq!(c["fill_value"], Value::Null);
        assert_eq!(c["value_range"], json!([0, 255]));
        assert_eq!(c["seed"], Value::Null);
        assert_eq!(c["data_format"], "channels_last");
        // RandomErasing(0.5, scale=0.3, fill_value=[1, 2, 3], value_range=(0, 1), seed=2)
        let l = RandomErasing::new(0.5)
            .scale(0.3)
            .fill_values([1.0, 2.0, 3.0])
            .value_range((0.0, 1.0))
            .seed(2)
            .name("f");
        let c = l.config();
        assert_eq!(c["factor"], json!([0, 0.5]));
        assert_eq!(c["scale"], json!([0, 0.3]));
        assert_eq!(c["fill_value"], json!([1, 2, 3]));
        assert_eq!(c["value_range"], json!([0, 1]));
        assert_eq!(c["seed"], json!(2));
        round_trip(l.into());
        // RandomErasing(fill_value=4.0).get_config()["fill_value"] == 4.0
        let l = RandomErasing::default().fill_value(4.0).name("g");
        assert_eq!(l.config()["fill_value"], json!(4.0));
        round_trip(l.into());
        round_trip(RandomErasing::default().name("h").into());
    }

    #[test]
    fn factor_one_erases_one_rectangle_of_the_drawn_size() {
        // scale (0.25, 0.25): sides sqrt(0.25) * 8 = 4 columns and sqrt(0.25) * 6 = 3 rows;
        // a half-open interval of length 4 holds exactly 4 pixel indices.
        let (h, w, c, n) = (6, 8, 2, 16);
        let mut l = RandomErasing::new((1.0, 1.0))
            .scale((0.25, 0.25))
            .fill_value(300.0)
            .seed(3)
            .name("e");
        l.build(&[h, w, c], &mut Rng::new(0)).expect("build");
        l.allocate(n);
        let x: Vec<f32> = (0..n * h * w * c).map(|v| (v % 97) as f32).collect();
        let mut y = vec![0.0; x.len()];
        l.forward(&x, &mut y, n, Mode::Train);
        let mut corners = std::collections::HashSet::new();
        for (img, src) in y.chunks(h * w * c).zip(x.chunks(h * w * c)) {
            let erased: Vec<(usize, usize)> = (0..h * w)
                .filter(|p| img[p * c..p * c + c] != src[p * c..p * c + c])
                .map(|p| (p / w, p % w))
                .collect();
            assert_eq!(erased.len(), 12, "{erased:?}");
            let (r0, c0) = erased[0];
            for (i, &(r, col)) in erased.iter().enumerate() {
                assert_eq!((r, col), (r0 + i / 4, c0 + i % 4));
                // 300 clipped to the value range's 255.
                assert!(img[(r * w + col) * c..][..c].iter().all(|&v| v == 255.0));
            }
            corners.insert((r0, c0));
        }
        assert!(corners.len() > 1, "positions vary");
    }

    #[test]
    fn noise_fill_stays_in_the_value_range_and_factor_zero_erases_nothing() {
        let x: Vec<f32> = vec![0.5; 4 * 64 * 3];
        let run = |f: (f64, f64)| {
            let mut l = RandomErasing::new(f)
                .value_range((0.0, 1.0))
                .seed(1)
                .name("e");
            l.build(&[8, 8, 3], &mut Rng::new(0)).expect("build");
            l.allocate(4);
            let mut y = vec![0.0; x.len()];
            l.forward(&x, &mut y, 4, Mode::Train);
            y
        };
        assert_eq!(run((0.0, 0.0)), x);
        let y = run((1.0, 1.0));
        assert!(y.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(y.iter().any(|&v| v != 0.5));
    }

    #[test]
    fn gradient_of_an_erasing_draw() {
        let l = RandomErasing::new((1.0, 1.0))
            .scale((0.2, 0.5))
            .fill_value(0.0)
            .seed(4);
        check_layer(Box::new(SameDraws(l)), &[5, 6, 2]);
    }

    #[test]
    fn inference_is_the_identity() {
        let mut l = RandomErasing::new((1.0, 1.0)).name("e");
        l.build(&[3, 4, 2], &mut Rng::new(0)).expect("build");
        l.allocate(2);
        let x: Vec<f32> = (0..48).map(|v| v as f32 * 0.5).collect();
        let mut y = vec![0.0; 48];
        l.forward(&x, &mut y, 2, Mode::Infer);
        assert_eq!(x, y);
    }

    #[test]
    fn bad_arguments_are_rejected() {
        for (l, shape) in [
            (RandomErasing::new(1.5), [4, 4, 3]),
            (RandomErasing::new(0.5).scale(2.0), [4, 4, 3]),
            (
                RandomErasing::new(0.5).fill_values([1.0, 2.0, 3.0]),
                [4, 4, 1],
            ),
        ] {
            let mut l = l.name("e");
            assert!(l.build(&shape, &mut Rng::new(0)).is_err());
        }
    }
}
