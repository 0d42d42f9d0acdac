//! Weight constraints (Keras `keras.constraints`): applied to a weight after every
//! optimizer update.

use crate::error::{Error, Result};
use serde_json::{json, Value};

/// Keras's `MaxNorm`, `NonNeg` and `UnitNorm`. `axis` lists the axes the norm runs over
/// (Keras's default is axis 0: for a Dense kernel `(in, out)`, the norm of each unit's
/// incoming weights; for a Conv2D kernel, Keras suggests `[0, 1, 2]`).
///
/// ```
/// use rkeras::prelude::*;
/// use rkeras::constraints::Constraint;
/// let layer = Dense::new(64).kernel_constraint(Constraint::MaxNorm { max_value: 3.0, axis: vec![0] });
/// assert_eq!(Constraint::from_name("non_neg")?, Constraint::NonNeg);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    /// Rescales so that the norm over `axis` is at most `max_value`.
    MaxNorm {
        /// The largest norm allowed.
        max_value: f32,
        /// The axes the norm runs over.
        axis: Vec<usize>,
    },
    /// Sets negative weights to zero.
    NonNeg,
    /// Rescales to norm 1 over `axis`.
    UnitNorm {
        /// The axes the norm runs over.
        axis: Vec<usize>,
    },
}

/// Keras's `backend.epsilon()`.
const EPSILON: f32 = 1e-7;

impl Constraint {
    /// `"max_norm"` (max_value 2, axis 0), `"non_neg"` or `"unit_norm"` (axis 0).
    ///
    /// # Errors
    /// Another name.
    pub fn from_name(name: &str) -> Result<Constraint> {
        match name.to_ascii_lowercase().as_str() {
            "max_norm" | "maxnorm" => Ok(Constraint::MaxNorm {
                max_value: 2.0,
                axis: vec![0],
            }),
            "non_neg" | "nonneg" => Ok(Constraint::NonNeg),
            "unit_norm" | "unitnorm" => Ok(Constraint::UnitNorm { axis: vec![0] }),
            _ => Err(Error::unknown(
                "constraint",
                name,
                &["max_norm", "non_neg", "unit_norm"],
            )),
        }
    }

    /// From a Keras config: a name or `{"class_name": "MaxNorm", "config": {...}}`.
    ///
    /// # Errors
    /// An unknown class or a bad value.
    pub fn from_config(v: &Value) -> Result<Option<Constraint>> {
        let axis = |v: &Value| -> Result<Vec<usize>> {
            match v.get("config").and_then(|c| c.get("axis")) {
                None | Some(Value::Null) => Ok(vec![0]),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_u64()
                            .filter(|n| *n < 8)
                            .map(|n| n as usize)
                            .ok_or_else(|| {
                                Error::Data(format!("constraint axis {x} is not an axis"))
                            })
                    })
                    .collect(),
                Some(x) => x
                    .as_u64()
                    .filter(|n| *n < 8)
                    .map(|n| vec![n as usize])
                    .ok_or_else(|| Error::Data(format!("constraint axis {x} is not an axis"))),
            }
        };
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Constraint::from_name(s).map(Some),
            Value::Object(_) => match v.get("class_name").and_then(Value::as_str) {
                Some("MaxNorm") => {
                    let max_value = match v.get("config").and_then(|c| c.get("max_value")) {
                        None | Some(Value::Null) => 2.0,
                        Some(x) => x.as_f64().filter(|f| *f >= 0.0).ok_or_else(|| {
                            Error::Data(format!("max_value {x} is not a non-negative number"))
                        })? as f32,
                    };
                    Ok(Some(Constraint::MaxNorm {
                        max_value,
                        axis: axis(v)?,
                    }))
                }
                Some("NonNeg") => Ok(Some(Constraint::NonNeg)),
                Some("UnitNorm") => Ok(Some(Constraint::UnitNorm { axis: axis(v)? })),
                other => Err(Error::unknown(
                    "constraint",
                    other.unwrap_or("?"),
                    &["MaxNorm", "NonNeg", "UnitNorm"],
                )),
            },
            other => Err(Error::Data(format!("a constraint config, found {other}"))),
        }
    }

    /// Keras's serialized form.
    pub fn config(&self) -> Value {
        let axis = |a: &[usize]| if a.len() == 1 { json!(a[0]) } else { json!(a) };
        let (class, cfg) = match self {
            Constraint::MaxNorm { max_value, axis: a } => (
                "MaxNorm",
                json!({"max_value": crate::optimizers::py_float(*max_value), "axis": axis(a)}),
            ),
            Constraint::NonNeg => ("NonNeg", json!({})),
            Constraint::UnitNorm { axis: a } => ("UnitNorm", json!({"axis": axis(a)})),
        };
        json!({"module": "keras.constraints", "class_name": class, "config": cfg, "registered_name": null})
    }

    /// Checks the axes against a weight's rank.
    ///
    /// # Errors
    /// An axis the weight does not have.
    pub fn check(&self, shape: &[usize]) -> Result<()> {
        let axes = match self {
            Constraint::MaxNorm { axis, .. } | Constraint::UnitNorm { axis } => axis,
            Constraint::NonNeg => return Ok(()),
        };
        match axes.iter().find(|a| **a >= shape.len()) {
            Some(a) => Err(Error::Data(format!(
                "constraint axis {a} is out of range for a weight of shape {shape:?}"
            ))),
            None => Ok(()),
        }
    }

    /// Applies the constraint to `w` of `shape` in place.
    pub fn apply(&self, w: &mut [f32], shape: &[usize]) {
        let (axes, max) = match self {
            Constraint::NonNeg => {
                w.iter_mut().for_each(|v| *v = v.max(0.0));
                return;
            }
            Constraint::MaxNorm { max_value, axis } => (axis, Some(*max_value)),
            Constraint::UnitNorm { axis } => (axis, None),
        };
        // Group of an element: its index with the reduced axes dropped.
        let rank = shape.len();
        let mut group_of = Vec::with_capacity(w.len());
        let mut idx = vec![0usize; rank];
        let kept: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
        for _ in 0..w.len() {
            let g = kept.iter().fold(0usize, |acc, &a| acc * shape[a] + idx[a]);
            group_of.push(g);
            for a in (0..rank).rev() {
                idx[a] += 1;
                if idx[a] < shape[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
        let groups: usize = kept.iter().map(|&a| shape[a]).product();
        let mut sq = vec![0.0f64; groups.max(1)];
        for (v, &g) in w.iter().zip(&group_of) {
            sq[g] += (*v as f64) * (*v as f64);
        }
        let scale: Vec<f32> = sq
            .iter()
            .map(|s| {
                let norm = s.sqrt() as f32;
                let desired = max.map_or(1.0, |m| norm.clamp(0.0, m));
                desired / (EPSILON + norm)
            })
            .collect();
        for (v, &g) in w.iter_mut().zip(&group_of) {
            *v *= scale[g];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_formulas_on_a_dense_kernel() {
        // A (2, 2) kernel: column norms 5 and 0.5.
        let w0 = [3.0f32, 0.3, 4.0, 0.4];
        let mut w = w0;
        Constraint::MaxNorm {
            max_value: 2.0,
            axis: vec![0],
        }
        .apply(&mut w, &[2, 2]);
        let n0 = (w[0] * w[0] + w[2] * w[2]).sqrt();
        assert!((n0 - 2.0).abs() < 1e-5, "clipped to 2, got {n0}");
        assert!(
            (w[1] - 0.3).abs() < 1e-5 && (w[3] - 0.4).abs() < 1e-5,
            "small column kept"
        );
        let mut w = w0;
        Constraint::UnitNorm { axis: vec![0] }.apply(&mut w, &[2, 2]);
        assert!((w[1] * w[1] + w[3] * w[3] - 1.0).abs() < 1e-5);
        let mut w = [-1.0f32, 2.0];
        Constraint::NonNeg.apply(&mut w, &[2]);
        assert_eq!(w, [0.0, 2.0]);
        // All axes but the last of a conv kernel: one norm per filter.
        let mut k = vec![1.0f32; 3 * 3 * 2 * 4];
        Constraint::MaxNorm {
            max_value: 1.0,
            axis: vec![0, 1, 2],
        }
        .apply(&mut k, &[3, 3, 2, 4]);
        let norm: f32 = k.iter().step_by(4).map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn configs_round_trip() {
        for c in [
            Constraint::MaxNorm {
                max_value: 3.0,
                axis: vec![0],
            },
            Constraint::MaxNorm {
                max_value: 1.5,
                axis: vec![0, 1, 2],
            },
            Constraint::NonNeg,
            Constraint::UnitNorm { axis: vec![1] },
        ] {
            assert_eq!(Constraint::from_config(&c.config()).expect("cfg"), Some(c));
        }
        assert!(Constraint::from_name("min_max_norm").is_err());
        assert!(Constraint::MaxNorm {
            max_value: 1.0,
            axis: vec![4]
        }
        .check(&[2, 2])
        .is_err());
    }
}
