//! Weight regularizers (Keras `keras.regularizers`): a penalty on a weight added to the
//! loss, and its gradient added to the weight's gradient.

use crate::error::{Error, Result};
use serde_json::{json, Value};

/// Keras's `L1`, `L2` and `L1L2` regularizers.
///
/// ```
/// use rkeras::prelude::*;
/// use rkeras::regularizers::Regularizer;
/// let layer = Dense::new(10).kernel_regularizer(Regularizer::L2(1e-4));
/// // By name, with Keras's default factor 0.01:
/// assert_eq!(Regularizer::from_name("l2")?, Regularizer::L2(0.01));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Regularizer {
    /// `l1 * sum(|w|)`.
    L1(f32),
    /// `l2 * sum(w^2)`.
    L2(f32),
    /// `l1 * sum(|w|) + l2 * sum(w^2)`.
    L1L2(f32, f32),
}

impl Regularizer {
    /// `"l1"`, `"l2"` (factor 0.01, as Keras) or `"l1_l2"` (both 0.01).
    ///
    /// # Errors
    /// Another name.
    pub fn from_name(name: &str) -> Result<Regularizer> {
        match name.to_ascii_lowercase().as_str() {
            "l1" => Ok(Regularizer::L1(0.01)),
            "l2" => Ok(Regularizer::L2(0.01)),
            "l1_l2" | "l1l2" => Ok(Regularizer::L1L2(0.01, 0.01)),
            _ => Err(Error::unknown("regularizer", name, &["l1", "l2", "l1_l2"])),
        }
    }

    /// From a Keras config: a name, or `{"class_name": "L2", "config": {"l2": 0.01}}`.
    ///
    /// # Errors
    /// An unknown class or a factor that is not a non-negative number.
    pub fn from_config(v: &Value) -> Result<Option<Regularizer>> {
        let factor = |o: &Value, k: &str| -> Result<f32> {
            match o.get("config").and_then(|c| c.get(k)) {
                None | Some(Value::Null) => Ok(0.0),
                Some(x) => x
                    .as_f64()
                    .filter(|f| *f >= 0.0 && f.is_finite())
                    .map(|f| f as f32)
                    .ok_or_else(|| {
                        Error::Data(format!(
                            "regularizer factor {k} = {x} is not a non-negative number"
                        ))
                    }),
            }
        };
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Regularizer::from_name(s).map(Some),
            Value::Object(_) => match v.get("class_name").and_then(Value::as_str) {
                Some("L1") => Ok(Some(Regularizer::L1(factor(v, "l1")?))),
                Some("L2") => Ok(Some(Regularizer::L2(factor(v, "l2")?))),
                Some("L1L2") => Ok(Some(Regularizer::L1L2(factor(v, "l1")?, factor(v, "l2")?))),
                other => Err(Error::unknown(
                    "regularizer",
                    other.unwrap_or("?"),
                    &["L1", "L2", "L1L2"],
                )),
            },
            other => Err(Error::Data(format!("a regularizer config, found {other}"))),
        }
    }

    /// Keras's serialized form.
    pub fn config(&self) -> Value {
        let f = crate::optimizers::py_float;
        let (class, cfg) = match *self {
            Regularizer::L1(a) => ("L1", json!({ "l1": f(a) })),
            Regularizer::L2(b) => ("L2", json!({ "l2": f(b) })),
            Regularizer::L1L2(a, b) => ("L1L2", json!({ "l1": f(a), "l2": f(b) })),
        };
        json!({"module": "keras.regularizers", "class_name": class, "config": cfg, "registered_name": null})
    }

    fn factors(&self) -> (f32, f32) {
        match *self {
            Regularizer::L1(a) => (a, 0.0),
            Regularizer::L2(b) => (0.0, b),
            Regularizer::L1L2(a, b) => (a, b),
        }
    }

    /// The penalty for weights `w`.
    pub fn penalty(&self, w: &[f32]) -> f64 {
        let (l1, l2) = self.factors();
        let (mut a, mut b) = (0.0f64, 0.0f64);
        for v in w {
            a += v.abs() as f64;
            b += (*v as f64) * (*v as f64);
        }
        l1 as f64 * a + l2 as f64 * b
    }

    /// Adds the penalty's gradient to `grad`.
    pub fn add_grad(&self, w: &[f32], grad: &mut [f32]) {
        let (l1, l2) = self.factors();
        for (g, v) in grad.iter_mut().zip(w) {
            let sign = if *v > 0.0 {
                1.0
            } else if *v < 0.0 {
                -1.0
            } else {
                0.0
            };
            *g += l1 * sign + 2.0 * l2 * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_gradient_by_finite_differences_and_config_round_trip() {
        let w = [0.5f32, -1.5, 2.0];
        for r in [
            Regularizer::L1(0.1),
            Regularizer::L2(0.2),
            Regularizer::L1L2(0.1, 0.3),
        ] {
            let mut g = [0.0f32; 3];
            r.add_grad(&w, &mut g);
            for i in 0..3 {
                let (mut a, mut b) = (w, w);
                a[i] += 1e-3;
                b[i] -= 1e-3;
                let num = (r.penalty(&a) - r.penalty(&b)) / 2e-3;
                assert!(
                    (num - g[i] as f64).abs() < 1e-3,
                    "{r:?} {i}: {num} vs {}",
                    g[i]
                );
            }
            assert_eq!(Regularizer::from_config(&r.config()).expect("cfg"), Some(r));
        }
        assert!((Regularizer::L2(0.2).penalty(&w) - 0.2 * 6.5).abs() < 1e-6);
        assert_eq!(Regularizer::L2(0.01).config()["config"]["l2"], json!(0.01));
        assert!(Regularizer::from_name("l3").is_err());
        assert_eq!(Regularizer::from_config(&Value::Null).expect("null"), None);
    }
}
