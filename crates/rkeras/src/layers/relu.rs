//! `ReLU`: the rectifier as a layer, with Keras's `max_value`, `negative_slope` and
//! `threshold` (MobileNet's `ReLU(6.0)`).

use super::registry::{bad, Cfg, FromConfig};
use super::{common_builders, Layer, LayerBase};
use crate::error::{Error, Result};
use rkeras_kernels::Act;
use serde_json::{json, Map, Value};

/// Keras `ReLU(max_value=None, negative_slope=0.0, threshold=0.0)`: `x` above `threshold`
/// (below it `negative_slope * (x - threshold)`), clipped at `max_value` when given.
///
/// ```
/// use rkeras::prelude::*;
/// let mut m = Sequential::new([ReLU::new().max_value(6.0).input_shape(3).into()])?;
/// let y = m.predict(&Tensor::new(vec![1, 3], vec![-1.0, 2.0, 9.0])?)?;
/// assert_eq!(y.data(), &[0.0, 2.0, 6.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ReLU {
    base: LayerBase,
    max_value: Option<f64>,
    negative_slope: f64,
    threshold: f64,
    act: Act,
    last: usize,
}

impl ReLU {
    /// A plain ReLU.
    pub fn new() -> Self {
        ReLU {
            base: LayerBase::default(),
            max_value: None,
            negative_slope: 0.0,
            threshold: 0.0,
            act: Act::Relu,
            last: 1,
        }
    }
    /// Upper bound of the output (`6.0` for MobileNet's ReLU6); at least 0.
    pub fn max_value(mut self, m: impl Into<Option<f64>>) -> Self {
        self.max_value = m.into();
        self
    }
    /// Slope below the threshold (default 0); at least 0.
    pub fn negative_slope(mut self, s: f64) -> Self {
        self.negative_slope = s;
        self
    }
    /// Values at or below it are cut (default 0); at least 0.
    pub fn threshold(mut self, t: f64) -> Self {
        self.threshold = t;
        self
    }

    fn resolve(&self, _input_shape: &[usize]) -> Result<Act> {
        let label = self.base.label();
        if let Some(m) = self.max_value.filter(|m| !(m.is_finite() && *m >= 0.0)) {
            return Err(Error::arg(
                "max_value",
                label,
                format!("max_value of a ReLU layer cannot be a negative value. Received: {m}"),
            ));
        }
        if !(self.negative_slope.is_finite() && self.negative_slope >= 0.0) {
            return Err(Error::arg(
                "negative_slope",
                label,
                format!(
                    "negative_slope of a ReLU layer cannot be a negative value. Received: {}",
                    self.negative_slope
                ),
            ));
        }
        if !(self.threshold.is_finite() && self.threshold >= 0.0) {
            return Err(Error::arg(
                "threshold",
                label,
                format!(
                    "threshold of a ReLU layer cannot be None or a negative value. Received: threshold={}",
                    self.threshold
                ),
            ));
        }
        let (s, t) = (self.negative_slope as f32, self.threshold as f32);
        Ok(match (self.max_value, s, t) {
            (None, 0.0, 0.0) => Act::Relu,
            (Some(6.0), 0.0, 0.0) => Act::Relu6,
            (None, s, 0.0) => Act::LeakyRelu(s),
            (m, s, t) => Act::ReluWith {
                max_value: m.map_or(f32::INFINITY, |m| m as f32),
                negative_slope: s,
                threshold: t,
            },
        })
    }
}

impl Default for ReLU {
    fn default() -> Self {
        ReLU::new()
    }
}
common_builders!(ReLU);

impl Layer for ReLU {
    super::activation_layer_methods!("ReLU");
    fn config(&self) -> Map<String, Value> {
        super::object(json!({
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }))
    }
}

impl FromConfig for ReLU {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let c = g.c;
        let name = g.name;
        let max_value = match c.get("max_value") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .ok_or_else(|| bad(name, "max_value", "a number or null", Some(v)))?,
            ),
        };
        Ok(ReLU::new()
            .max_value(max_value)
            .negative_slope(g.f64_or("negative_slope", 0.0)?)
            .threshold(g.f64_or("threshold", 0.0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradients_for_every_setting() {
        for l in [
            ReLU::new(),
            ReLU::new().max_value(6.0),
            ReLU::new().max_value(0.5),
            ReLU::new().negative_slope(0.1),
            ReLU::new()
                .threshold(0.3)
                .negative_slope(0.2)
                .max_value(0.8),
            ReLU::new().threshold(0.4),
        ] {
            check_layer(Box::new(l), &[2, 3]);
        }
    }

    #[test]
    fn keras_values_and_bad_arguments() {
        let x = [-2.0f32, -0.5, 0.0, 0.25, 0.5, 1.0, 7.0];
        // keras.layers.ReLU(max_value=..., negative_slope=..., threshold=...)(x), Keras 3.15.
        let cases: [(ReLU, [f32; 7]); 4] = [
            (
                ReLU::new().max_value(6.0),
                [0.0, 0.0, 0.0, 0.25, 0.5, 1.0, 6.0],
            ),
            (
                ReLU::new().negative_slope(0.1),
                [-0.2, -0.05, 0.0, 0.25, 0.5, 1.0, 7.0],
            ),
            (
                ReLU::new()
                    .threshold(0.5)
                    .negative_slope(0.1)
                    .max_value(2.0),
                [-0.25, -0.1, -0.05, -0.025, 0.0, 1.0, 2.0],
            ),
            (
                ReLU::new().threshold(0.3),
                [0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 7.0],
            ),
        ];
        for (l, want) in cases {
            let act = l.resolve(&[1]).expect("valid");
            let got: Vec<f32> = x.iter().map(|&v| act.apply(v)).collect();
            assert_eq!(got, want, "{l:?}");
        }
        let e = ReLU::new()
            .max_value(-1.0)
            .resolve(&[1])
            .expect_err("negative");
        assert!(e.to_string().contains("max_value"), "{e}");
        let e = ReLU::new()
            .negative_slope(-1.0)
            .resolve(&[1])
            .expect_err("negative");
        assert!(e.to_string().contains("negative_slope"), "{e}");
        let e = ReLU::new()
            .threshold(-1.0)
            .resolve(&[1])
            .expect_err("negative");
        assert!(e.to_string().contains("threshold"), "{e}");
    }
}
