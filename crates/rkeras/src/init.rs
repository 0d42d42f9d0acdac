//! Weight initializers with Keras's names, formulas and defaults.

use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Value};

/// Keras's truncated-normal correction: the stddev of a standard normal truncated to
/// `[-2, 2]`.
const TRUNC_STD: f32 = 0.879_625_7;

/// A weight initializer.
#[derive(Clone, Debug, PartialEq)]
pub enum Initializer {
    /// `U(-l, l)`, `l = sqrt(6 / (fan_in + fan_out))` (Keras default for kernels).
    GlorotUniform,
    /// Truncated normal, `std = sqrt(2 / (fan_in + fan_out)) / 0.8796`.
    GlorotNormal,
    /// `U(-l, l)`, `l = sqrt(6 / fan_in)`.
    HeUniform,
    /// Truncated normal, `std = sqrt(2 / fan_in) / 0.8796`.
    HeNormal,
    /// `U(-l, l)`, `l = sqrt(3 / fan_in)`.
    LecunUniform,
    /// Truncated normal, `std = sqrt(1 / fan_in) / 0.8796`.
    LecunNormal,
    /// All zeros (Keras default for biases).
    Zeros,
    /// All ones.
    Ones,
    /// A constant.
    Constant(f32),
    /// Normal with mean and stddev (Keras defaults 0, 0.05).
    RandomNormal(f32, f32),
    /// Uniform in `[min, max)` (Keras defaults -0.05, 0.05).
    RandomUniform(f32, f32),
}

const NAMES: &[&str] = &[
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "zeros",
    "ones",
    "random_normal",
    "random_uniform",
];

impl Initializer {
    /// Parses a Keras name (`"glorot_uniform"`) or class name (`"GlorotUniform"`).
    ///
    /// # Errors
    /// Unknown names, with the list of known ones.
    pub fn from_name(name: &str) -> Result<Self> {
        let key: String = name
            .chars()
            .filter(|c| *c != '_')
            .collect::<String>()
            .to_lowercase();
        Ok(match key.as_str() {
            "glorotuniform" => Initializer::GlorotUniform,
            "glorotnormal" => Initializer::GlorotNormal,
            "heuniform" => Initializer::HeUniform,
            "henormal" => Initializer::HeNormal,
            "lecununiform" => Initializer::LecunUniform,
            "lecunnormal" => Initializer::LecunNormal,
            "zeros" | "zero" => Initializer::Zeros,
            "ones" | "one" => Initializer::Ones,
            "randomnormal" => Initializer::RandomNormal(0.0, 0.05),
            "randomuniform" => Initializer::RandomUniform(-0.05, 0.05),
            _ => return Err(Error::unknown("initializer", name, NAMES)),
        })
    }

    /// Keras class name.
    pub fn class_name(&self) -> &'static str {
        match self {
            Initializer::GlorotUniform => "GlorotUniform",
            Initializer::GlorotNormal => "GlorotNormal",
            Initializer::HeUniform => "HeUniform",
            Initializer::HeNormal => "HeNormal",
            Initializer::LecunUniform => "LecunUniform",
            Initializer::LecunNormal => "LecunNormal",
            Initializer::Zeros => "Zeros",
            Initializer::Ones => "Ones",
            Initializer::Constant(_) => "Constant",
            Initializer::RandomNormal(..) => "RandomNormal",
            Initializer::RandomUniform(..) => "RandomUniform",
        }
    }

    /// Keras's serialised form.
    pub fn config(&self) -> Value {
        let cfg = match *self {
            Initializer::Zeros | Initializer::Ones => json!({}),
            Initializer::Constant(v) => json!({ "value": v }),
            Initializer::RandomNormal(m, s) => json!({ "seed": null, "mean": m, "stddev": s }),
            Initializer::RandomUniform(a, b) => json!({ "seed": null, "minval": a, "maxval": b }),
            _ => json!({ "seed": null }),
        };
        json!({ "module": "keras.initializers", "class_name": self.class_name(), "config": cfg, "registered_name": null })
    }

    /// Fills `out` for a weight of `shape` (fans as Keras computes them).
    pub fn fill(&self, shape: &[usize], out: &mut [f32], rng: &mut Rng) {
        let (fan_in, fan_out) = fans(shape);
        let uniform = |l: f32, out: &mut [f32], rng: &mut Rng| {
            out.iter_mut().for_each(|v| *v = rng.uniform_range(-l, l))
        };
        let trunc = |std: f32, out: &mut [f32], rng: &mut Rng| {
            out.iter_mut()
                .for_each(|v| *v = std * rng.truncated_normal())
        };
        match *self {
            Initializer::GlorotUniform => uniform((6.0 / (fan_in + fan_out)).sqrt(), out, rng),
            Initializer::GlorotNormal => {
                trunc((2.0 / (fan_in + fan_out)).sqrt() / TRUNC_STD, out, rng)
            }
            Initializer::HeUniform => uniform((6.0 / fan_in).sqrt(), out, rng),
            Initializer::HeNormal => trunc((2.0 / fan_in).sqrt() / TRUNC_STD, out, rng),
            Initializer::LecunUniform => uniform((3.0 / fan_in).sqrt(), out, rng),
            Initializer::LecunNormal => trunc((1.0 / fan_in).sqrt() / TRUNC_STD, out, rng),
            Initializer::Zeros => out.fill(0.0),
            Initializer::Ones => out.fill(1.0),
            Initializer::Constant(c) => out.fill(c),
            Initializer::RandomNormal(m, s) => {
                out.iter_mut().for_each(|v| *v = m + s * rng.normal())
            }
            Initializer::RandomUniform(a, b) => {
                out.iter_mut().for_each(|v| *v = rng.uniform_range(a, b))
            }
        }
    }
}

/// `(fan_in, fan_out)` of a weight shape, as Keras computes them (at least 1).
pub fn fans(shape: &[usize]) -> (f32, f32) {
    let (fi, fo) = match shape.len() {
        0 => (1, 1),
        1 => (shape[0], shape[0]),
        2 => (shape[0], shape[1]),
        n => {
            let receptive: usize = shape[..n - 2].iter().product();
            (receptive * shape[n - 2], receptive * shape[n - 1])
        }
    };
    (fi.max(1) as f32, fo.max(1) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn glorot_uniform_limit_and_fans() {
        assert_eq!(fans(&[3, 3, 3, 32]), (27.0, 288.0));
        let mut rng = Rng::new(0);
        let mut w = vec![0.0; 3 * 3 * 3 * 32];
        Initializer::GlorotUniform.fill(&[3, 3, 3, 32], &mut w, &mut rng);
        let l = (6.0f32 / (27.0 + 288.0)).sqrt();
        assert!(w.iter().all(|v| v.abs() <= l));
        assert!(w.iter().any(|v| v.abs() > 0.9 * l));
        assert_eq!(
            Initializer::from_name("HeNormal").ok(),
            Some(Initializer::HeNormal)
        );
        assert!(Initializer::from_name("glorot").is_err());
    }
}
