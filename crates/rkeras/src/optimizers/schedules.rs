//! Learning-rate schedules (Keras's `keras.optimizers.schedules`): the learning rate as a
//! function of the optimizer's step, applied before every update and saved in the
//! optimizer's config as Keras saves them.

use crate::error::{Error, Result};
use serde_json::{json, Map, Value};
use std::f64::consts::PI;

/// A learning-rate schedule, with Keras's formulas, arguments and defaults.
///
/// ```
/// use rkeras::optimizers::schedules::Schedule;
/// let s = Schedule::cosine_decay(0.1, 100).warmup(0.5, 10);
/// assert_eq!(s.at(0), 0.1);                    // warm-up from initial_learning_rate...
/// assert!((s.at(10) - 0.5).abs() < 1e-6);      // ...to warmup_target,
/// assert!((s.at(110) - 0.0).abs() < 1e-6);     // then cosine down to alpha * 0.5.
/// let lr = rkeras::optimizers::Adam::default().learning_rate_schedule(s);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// `initial * decay_rate ^ (step / decay_steps)` (the exponent floored when `staircase`).
    ExponentialDecay {
        /// Keras's `initial_learning_rate`.
        initial_learning_rate: f64,
        /// Keras's `decay_steps`.
        decay_steps: f64,
        /// Keras's `decay_rate`.
        decay_rate: f64,
        /// Keras's `staircase`.
        staircase: bool,
    },
    /// `values[i]` while `step <= boundaries[i]`, the last value after the last boundary.
    PiecewiseConstantDecay {
        /// Keras's `boundaries` (increasing steps).
        boundaries: Vec<f64>,
        /// Keras's `values` (one more than the boundaries).
        values: Vec<f64>,
    },
    /// `(initial - end) * (1 - step / decay_steps) ^ power + end`.
    PolynomialDecay {
        /// Keras's `initial_learning_rate`.
        initial_learning_rate: f64,
        /// Keras's `decay_steps`.
        decay_steps: f64,
        /// Keras's `end_learning_rate` (default 0.0001).
        end_learning_rate: f64,
        /// Keras's `power` (default 1).
        power: f64,
        /// Keras's `cycle`: start again after `decay_steps`, with a longer period.
        cycle: bool,
    },
    /// `initial / (1 + decay_rate * step / decay_steps)`.
    InverseTimeDecay {
        /// Keras's `initial_learning_rate`.
        initial_learning_rate: f64,
        /// Keras's `decay_steps`.
        decay_steps: f64,
        /// Keras's `decay_rate`.
        decay_rate: f64,
        /// Keras's `staircase`.
        staircase: bool,
    },
    /// Cosine from the initial rate (or `warmup_target` after a linear warm-up) down to
    /// `alpha` times it over `decay_steps`.
    CosineDecay {
        /// Keras's `initial_learning_rate`.
        initial_learning_rate: f64,
        /// Keras's `decay_steps`.
        decay_steps: f64,
        /// Keras's `alpha` (default 0).
        alpha: f64,
        /// Keras's `warmup_target` (None: no warm-up).
        warmup_target: Option<f64>,
        /// Keras's `warmup_steps` (default 0).
        warmup_steps: f64,
    },
    /// Cosine decay with warm restarts (SGDR).
    CosineDecayRestarts {
        /// Keras's `initial_learning_rate`.
        initial_learning_rate: f64,
        /// Keras's `first_decay_steps`.
        first_decay_steps: f64,
        /// Keras's `t_mul` (default 2): each period is this many times longer.
        t_mul: f64,
        /// Keras's `m_mul` (default 1): each restart starts this many times lower.
        m_mul: f64,
        /// Keras's `alpha` (default 0).
        alpha: f64,
    },
}

/// The schedules' Keras class names.
pub const NAMES: &[&str] = &[
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
];

impl Schedule {
    /// `CosineDecay(initial_learning_rate, decay_steps)`, Keras's defaults otherwise.
    pub fn cosine_decay(initial_learning_rate: f64, decay_steps: usize) -> Self {
        Schedule::CosineDecay {
            initial_learning_rate,
            decay_steps: decay_steps as f64,
            alpha: 0.0,
            warmup_target: None,
            warmup_steps: 0.0,
        }
    }
    /// `ExponentialDecay(initial_learning_rate, decay_steps, decay_rate)`.
    pub fn exponential_decay(
        initial_learning_rate: f64,
        decay_steps: usize,
        decay_rate: f64,
    ) -> Self {
        Schedule::ExponentialDecay {
            initial_learning_rate,
            decay_steps: decay_steps as f64,
            decay_rate,
            staircase: false,
        }
    }
    /// `PolynomialDecay(initial_learning_rate, decay_steps)`, Keras's defaults otherwise.
    pub fn polynomial_decay(initial_learning_rate: f64, decay_steps: usize) -> Self {
        Schedule::PolynomialDecay {
            initial_learning_rate,
            decay_steps: decay_steps as f64,
            end_learning_rate: 0.0001,
            power: 1.0,
            cycle: false,
        }
    }
    /// `InverseTimeDecay(initial_learning_rate, decay_steps, decay_rate)`.
    pub fn inverse_time_decay(
        initial_learning_rate: f64,
        decay_steps: usize,
        decay_rate: f64,
    ) -> Self {
        Schedule::InverseTimeDecay {
            initial_learning_rate,
            decay_steps: decay_steps as f64,
            decay_rate,
            staircase: false,
        }
    }
    /// `PiecewiseConstantDecay(boundaries, values)`.
    pub fn piecewise_constant(boundaries: &[usize], values: &[f64]) -> Self {
        Schedule::PiecewiseConstantDecay {
            boundaries: boundaries.iter().map(|&b| b as f64).collect(),
            values: values.to_vec(),
        }
    }
    /// `CosineDecayRestarts(initial_learning_rate, first_decay_steps)`, Keras's defaults.
    pub fn cosine_decay_restarts(initial_learning_rate: f64, first_decay_steps: usize) -> Self {
        Schedule::CosineDecayRestarts {
            initial_learning_rate,
            first_decay_steps: first_decay_steps as f64,
            t_mul: 2.0,
            m_mul: 1.0,
            alpha: 0.0,
        }
    }
    /// A `CosineDecay` with a linear warm-up to `target` over `steps` steps.
    pub fn warmup(self, target: f64, steps: usize) -> Self {
        match self {
            Schedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                ..
            } => Schedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target: Some(target),
                warmup_steps: steps as f64,
            },
            other => other,
        }
    }
    /// `staircase=True` for the exponential and inverse-time decays.
    pub fn staircase(self, on: bool) -> Self {
        match self {
            Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                ..
            } => Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase: on,
            },
            Schedule::InverseTimeDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                ..
            } => Schedule::InverseTimeDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase: on,
            },
            other => other,
        }
    }

    /// Keras's class name.
    pub fn class_name(&self) -> &'static str {
        match self {
            Schedule::ExponentialDecay { .. } => "ExponentialDecay",
            Schedule::PiecewiseConstantDecay { .. } => "PiecewiseConstantDecay",
            Schedule::PolynomialDecay { .. } => "PolynomialDecay",
            Schedule::InverseTimeDecay { .. } => "InverseTimeDecay",
            Schedule::CosineDecay { .. } => "CosineDecay",
            Schedule::CosineDecayRestarts { .. } => "CosineDecayRestarts",
        }
    }

    /// Checks the arguments against Keras's ranges.
    ///
    /// # Errors
    /// A non-positive `decay_steps`, boundaries and values that do not pair up or do not
    /// increase, a negative or non-finite rate, `t_mul` or `m_mul` not positive.
    pub fn validate(&self) -> Result<()> {
        let bad = |arg: &str, msg: String| Err(Error::arg(arg, self.class_name(), msg));
        let steps = |arg: &str, v: f64| -> Result<()> {
            if !(v.is_finite() && v > 0.0) {
                return bad(
                    arg,
                    format!("Argument `{arg}` must be > 0. Received: {arg}={v}"),
                );
            }
            Ok(())
        };
        let rate = |arg: &str, v: f64| -> Result<()> {
            if !(v.is_finite() && v >= 0.0) {
                return bad(arg, format!("expected a finite number >= 0, received {v}"));
            }
            Ok(())
        };
        match self {
            Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                ..
            }
            | Schedule::InverseTimeDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                ..
            } => {
                rate("initial_learning_rate", *initial_learning_rate)?;
                steps("decay_steps", *decay_steps)?;
                rate("decay_rate", *decay_rate)
            }
            Schedule::PiecewiseConstantDecay { boundaries, values } => {
                if values.len() != boundaries.len() + 1 {
                    return bad(
                        "values",
                        format!(
                            "The length of boundaries should be 1 less than the length of values. Received: boundaries={boundaries:?} of length {}, and values={values:?} of length {}.",
                            boundaries.len(),
                            values.len()
                        ),
                    );
                }
                if boundaries.windows(2).any(|w| w[1] <= w[0]) {
                    return bad(
                        "boundaries",
                        format!("expected increasing steps, received {boundaries:?}"),
                    );
                }
                values.iter().try_for_each(|v| rate("values", *v))
            }
            Schedule::PolynomialDecay {
                initial_learning_rate,
                decay_steps,
                end_learning_rate,
                power,
                ..
            } => {
                rate("initial_learning_rate", *initial_learning_rate)?;
                steps("decay_steps", *decay_steps)?;
                rate("end_learning_rate", *end_learning_rate)?;
                rate("power", *power)
            }
            Schedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            } => {
                rate("initial_learning_rate", *initial_learning_rate)?;
                steps("decay_steps", *decay_steps)?;
                rate("alpha", *alpha)?;
                if let Some(t) = warmup_target {
                    rate("warmup_target", *t)?;
                }
                rate("warmup_steps", *warmup_steps)
            }
            Schedule::CosineDecayRestarts {
                initial_learning_rate,
                first_decay_steps,
                t_mul,
                m_mul,
                alpha,
            } => {
                rate("initial_learning_rate", *initial_learning_rate)?;
                steps("first_decay_steps", *first_decay_steps)?;
                steps("t_mul", *t_mul)?;
                rate("m_mul", *m_mul)?;
                rate("alpha", *alpha)
            }
        }
    }

    /// The learning rate at `step` (the optimizer's iterations before the update).
    pub fn at(&self, step: u64) -> f32 {
        let s = step as f64;
        let lr = match self {
            Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let mut p = s / decay_steps;
                if *staircase {
                    p = p.floor();
                }
                initial_learning_rate * decay_rate.powf(p)
            }
            Schedule::InverseTimeDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let mut p = s / decay_steps;
                if *staircase {
                    p = p.floor();
                }
                initial_learning_rate / (1.0 + decay_rate * p)
            }
            Schedule::PiecewiseConstantDecay { boundaries, values } => {
                let i = boundaries
                    .iter()
                    .position(|&b| s <= b)
                    .unwrap_or(boundaries.len());
                values.get(i).copied().unwrap_or(0.0)
            }
            Schedule::PolynomialDecay {
                initial_learning_rate,
                decay_steps,
                end_learning_rate,
                power,
                cycle,
            } => {
                let (mut step, mut steps) = (s, *decay_steps);
                if *cycle {
                    let mult = if step == 0.0 {
                        1.0
                    } else {
                        (step / decay_steps).ceil()
                    };
                    steps *= mult;
                } else {
                    step = step.min(steps);
                }
                let p = step / steps;
                (initial_learning_rate - end_learning_rate) * (1.0 - p).powf(*power)
                    + end_learning_rate
            }
            Schedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            } => {
                let cosine = |step: f64, from: f64| {
                    let c = 0.5 * (1.0 + (PI * step / decay_steps).cos());
                    from * ((1.0 - alpha) * c + alpha)
                };
                match warmup_target {
                    None => cosine(s.min(*decay_steps), *initial_learning_rate),
                    Some(target) => {
                        let step = s.min(decay_steps + warmup_steps);
                        if step < *warmup_steps {
                            (target - initial_learning_rate) * (step / warmup_steps)
                                + initial_learning_rate
                        } else {
                            cosine(step - warmup_steps, *target)
                        }
                    }
                }
            }
            Schedule::CosineDecayRestarts {
                initial_learning_rate,
                first_decay_steps,
                t_mul,
                m_mul,
                alpha,
            } => {
                let mut fraction = s / first_decay_steps;
                let restart = if *t_mul == 1.0 {
                    let r = fraction.floor();
                    fraction -= r;
                    r
                } else {
                    let r = ((1.0 - fraction * (1.0 - t_mul)).ln() / t_mul.ln()).floor();
                    let sum = (1.0 - t_mul.powf(r)) / (1.0 - t_mul);
                    fraction = (fraction - sum) / t_mul.powf(r);
                    r
                };
                let cosine = 0.5 * m_mul.powf(restart) * (1.0 + (PI * fraction).cos());
                initial_learning_rate * ((1.0 - alpha) * cosine + alpha)
            }
        };
        lr as f32
    }

    /// Keras's serialized form (`{"module": "keras.optimizers.schedules", ...}`).
    pub fn config(&self) -> Value {
        let c = match self {
            Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            }
            | Schedule::InverseTimeDecay {
                initial_learning_rate,
                decay_steps,
                decay_rate,
                staircase,
            } => json!({
                "initial_learning_rate": initial_learning_rate,
                "decay_steps": int_like(*decay_steps),
                "decay_rate": decay_rate,
                "staircase": staircase,
                "name": self.class_name(),
            }),
            Schedule::PiecewiseConstantDecay { boundaries, values } => json!({
                "boundaries": boundaries.iter().map(|b| int_like(*b)).collect::<Vec<_>>(),
                "values": values,
                "name": self.class_name(),
            }),
            Schedule::PolynomialDecay {
                initial_learning_rate,
                decay_steps,
                end_learning_rate,
                power,
                cycle,
            } => json!({
                "initial_learning_rate": initial_learning_rate,
                "decay_steps": int_like(*decay_steps),
                "end_learning_rate": end_learning_rate,
                "power": power,
                "cycle": cycle,
                "name": self.class_name(),
            }),
            Schedule::CosineDecay {
                initial_learning_rate,
                decay_steps,
                alpha,
                warmup_target,
                warmup_steps,
            } => json!({
                "initial_learning_rate": initial_learning_rate,
                "decay_steps": int_like(*decay_steps),
                "alpha": alpha,
                "name": self.class_name(),
                "warmup_target": warmup_target,
                "warmup_steps": int_like(*warmup_steps),
            }),
            Schedule::CosineDecayRestarts {
                initial_learning_rate,
                first_decay_steps,
                t_mul,
                m_mul,
                alpha,
            } => json!({
                "initial_learning_rate": initial_learning_rate,
                "first_decay_steps": int_like(*first_decay_steps),
                "t_mul": t_mul,
                "m_mul": m_mul,
                "alpha": alpha,
                "name": "SGDRDecay",
            }),
        };
        json!({
            "module": "keras.optimizers.schedules",
            "class_name": self.class_name(),
            "config": c,
            "registered_name": null,
        })
    }

    /// A schedule from Keras's serialized form (or its bare `{"class_name", "config"}`).
    ///
    /// # Errors
    /// An unknown class (the known ones are listed), a missing or mistyped argument, or
    /// arguments outside Keras's ranges.
    pub fn from_config(v: &Value) -> Result<Schedule> {
        let class = v.get("class_name").and_then(Value::as_str).ok_or_else(|| {
            Error::arg("learning_rate", "", "a schedule config needs a class_name")
        })?;
        let empty = Map::new();
        let c = v.get("config").and_then(Value::as_object).unwrap_or(&empty);
        let num = |k: &str, default: Option<f64>| -> Result<f64> {
            match c.get(k) {
                Some(x) if x.is_number() => Ok(x.as_f64().unwrap_or(0.0)),
                None | Some(Value::Null) => {
                    default.ok_or_else(|| Error::arg(k, class, format!("{class} needs `{k}`")))
                }
                Some(x) => Err(Error::arg(
                    k,
                    class,
                    format!("expected a number, received {x}"),
                )),
            }
        };
        let flag = |k: &str| c.get(k).and_then(Value::as_bool).unwrap_or(false);
        let list = |k: &str| -> Result<Vec<f64>> {
            c.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect())
                .ok_or_else(|| Error::arg(k, class, format!("{class} needs a list `{k}`")))
        };
        let s = match class {
            "ExponentialDecay" => Schedule::ExponentialDecay {
                initial_learning_rate: num("initial_learning_rate", None)?,
                decay_steps: num("decay_steps", None)?,
                decay_rate: num("decay_rate", None)?,
                staircase: flag("staircase"),
            },
            "InverseTimeDecay" => Schedule::InverseTimeDecay {
                initial_learning_rate: num("initial_learning_rate", None)?,
                decay_steps: num("decay_steps", None)?,
                decay_rate: num("decay_rate", None)?,
                staircase: flag("staircase"),
            },
            "PiecewiseConstantDecay" => Schedule::PiecewiseConstantDecay {
                boundaries: list("boundaries")?,
                values: list("values")?,
            },
            "PolynomialDecay" => Schedule::PolynomialDecay {
                initial_learning_rate: num("initial_learning_rate", None)?,
                decay_steps: num("decay_steps", None)?,
                end_learning_rate: num("end_learning_rate", Some(0.0001))?,
                power: num("power", Some(1.0))?,
                cycle: flag("cycle"),
            },
            "CosineDecay" => Schedule::CosineDecay {
                initial_learning_rate: num("initial_learning_rate", None)?,
                decay_steps: num("decay_steps", None)?,
                alpha: num("alpha", Some(0.0))?,
                warmup_target: match c.get("warmup_target") {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(num("warmup_target", None)?),
                },
                warmup_steps: num("warmup_steps", Some(0.0))?,
            },
            "CosineDecayRestarts" => Schedule::CosineDecayRestarts {
                initial_learning_rate: num("initial_learning_rate", None)?,
                first_decay_steps: num("first_decay_steps", None)?,
                t_mul: num("t_mul", Some(2.0))?,
                m_mul: num("m_mul", Some(1.0))?,
                alpha: num("alpha", Some(0.0))?,
            },
            other => return Err(Error::unknown("learning rate schedule", other, NAMES)),
        };
        s.validate()?;
        Ok(s)
    }
}

/// A step count as Keras writes it: an integer when it is one.
fn int_like(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}
