//! `Rescaling`: `x * scale + offset`, always applied.

use super::registry::{bad, Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Multiplies the inputs by `scale` and adds `offset` (Keras `Rescaling`), in training and
/// inference alike: `Rescaling::new(1.0 / 255.0)` maps pixels to [0, 1].
///
/// ```
/// use rkeras::prelude::*;
/// let mut m = Sequential::new([Rescaling::new(1.0 / 255.0).input_shape((2, 2, 1)).into()])?;
/// let y = m.predict(&Tensor::new(vec![1, 2, 2, 1], vec![0.0, 51.0, 255.0, 102.0])?)?;
/// for (got, want) in y.data().iter().zip([0.0, 0.2, 1.0, 0.4]) {
///     assert!((got - want).abs() < 1e-6);
/// }
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Rescaling {
    base: LayerBase,
    /// One scale for all values, or one per channel (the last axis).
    scale: Vec<f64>,
    /// One offset, or one per channel.
    offset: Vec<f64>,
    /// Per channel, the scale and offset in `f32` (set at build).
    s32: Vec<f32>,
    o32: Vec<f32>,
}

impl Rescaling {
    /// `x * scale`.
    pub fn new(scale: f64) -> Self {
        Rescaling::per_channel(vec![scale])
    }
    /// `x * scale[c]` for each channel `c` of the last axis (Keras's `Rescaling` with a list
    /// of scales, as EfficientNet's ImageNet models have): one value, or one per channel.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut m = Sequential::new([Rescaling::per_channel(vec![1.0, 2.0, 3.0])
    ///     .input_shape((1, 1, 3))
    ///     .into()])?;
    /// let y = m.predict(&Tensor::new(vec![1, 1, 1, 3], vec![1.0, 1.0, 1.0])?)?;
    /// assert_eq!(y.data(), &[1.0, 2.0, 3.0]);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn per_channel(scale: Vec<f64>) -> Self {
        Rescaling {
            base: LayerBase::default(),
            scale,
            offset: vec![0.0],
            s32: Vec::new(),
            o32: Vec::new(),
        }
    }
    /// Adds `offset` after scaling (default 0): `Rescaling::new(1.0 / 127.5).offset(-1.0)`
    /// maps pixels to [-1, 1].
    pub fn offset(mut self, offset: f64) -> Self {
        self.offset = vec![offset];
        self
    }
    /// One offset per channel of the last axis (or one for all).
    pub fn offsets(mut self, offset: Vec<f64>) -> Self {
        self.offset = offset;
        self
    }
}
common_builders!(Rescaling);

impl Layer for Rescaling {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Rescaling"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let label = self.base.label().to_string();
        let channels = input_shape.last().copied().unwrap_or(1).max(1);
        for (what, v) in [("scale", &self.scale), ("offset", &self.offset)] {
            if v.iter().any(|x| !x.is_finite()) {
                return Err(Error::arg(
                    what,
                    &label,
                    format!(
                        "expected finite numbers, received scale={:?} offset={:?}",
                        self.scale, self.offset
                    ),
                ));
            }
            if v.len() != 1 && v.len() != channels {
                return Err(Error::arg(
                    what,
                    &label,
                    format!(
                        "expected one value or one per channel ({channels}), received {}",
                        v.len()
                    ),
                ));
            }
        }
        let per = |v: &[f64]| -> Vec<f32> {
            (0..channels)
                .map(|c| (if v.len() == 1 { v[0] } else { v[c] }) as f32)
                .collect()
        };
        self.s32 = per(&self.scale);
        self.o32 = per(&self.offset);
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        if let ([s], [o]) = (self.s32.as_slice(), self.o32.as_slice()) {
            for (yo, xi) in y.iter_mut().zip(x) {
                *yo = xi * s + o;
            }
            return;
        }
        let c = self.s32.len().max(1);
        for (ys, xs) in y.chunks_mut(c).zip(x.chunks(c)) {
            for (((yo, xi), s), o) in ys.iter_mut().zip(xs).zip(&self.s32).zip(&self.o32) {
                *yo = xi * s + o;
            }
        }
    }
    fn backward(
        &mut self,
        _x: &[f32],
        _y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        _ctx: Backward,
    ) {
        if let Some(dx) = dx {
            let c = self.s32.len().max(1);
            for (ds, gs) in dx.chunks_mut(c).zip(dy.chunks(c)) {
                for ((d, g), s) in ds.iter_mut().zip(gs).zip(&self.s32) {
                    *d = g * s;
                }
            }
        }
    }
    fn config(&self) -> Map<String, Value> {
        // A number, or Keras's list for one value per channel.
        let one = |v: &[f64]| match v {
            [x] => json!(x),
            v => json!(v),
        };
        super::object(json!({"scale": one(&self.scale), "offset": one(&self.offset)}))
    }
}

impl FromConfig for Rescaling {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let values = |k: &str, d: f64| -> Result<Vec<f64>> {
            match g.c.get(k) {
                None | Some(Value::Null) => Ok(vec![d]),
                Some(Value::Array(a)) if !a.is_empty() => a
                    .iter()
                    .map(Value::as_f64)
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| bad(g.name, k, "a number or a list of numbers", g.c.get(k))),
                Some(v) => v
                    .as_f64()
                    .map(|x| vec![x])
                    .ok_or_else(|| bad(g.name, k, "a number or a list of numbers", Some(v))),
            }
        };
        Ok(Rescaling::per_channel(values("scale", 1.0)?).offsets(values("offset", 0.0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_and_config() {
        check_layer(Box::new(Rescaling::new(2.0).offset(-1.0)), &[3, 2, 2]);
        let c = Value::Object(Rescaling::new(1.0 / 255.0).config()).to_string();
        assert_eq!(c, r#"{"scale":0.00392156862745098,"offset":0.0}"#);
        // Per channel, as Keras's EfficientNet with ImageNet weights has it.
        let l = Rescaling::per_channel(vec![2.0, 0.5]).offsets(vec![1.0, -1.0]);
        check_layer(Box::new(l.clone()), &[3, 2]);
        let c = Value::Object(l.config()).to_string();
        assert_eq!(c, r#"{"scale":[2.0,0.5],"offset":[1.0,-1.0]}"#);
        let mut l = Rescaling::per_channel(vec![2.0, 0.5]).offset(1.0);
        l.build(&[2], &mut Rng::new(0)).expect("build");
        let mut y = [0.0f32; 4];
        l.forward(&[1.0, 2.0, 3.0, 4.0], &mut y, 2, Mode::Infer);
        assert_eq!(y, [3.0, 2.0, 7.0, 3.0]);
        let e = Rescaling::per_channel(vec![1.0, 2.0])
            .build(&[4, 3], &mut Rng::new(0))
            .expect_err("3 channels");
        assert!(e.to_string().contains("one per channel"), "{e}");
    }
}
