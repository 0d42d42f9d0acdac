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
    /// Normal with mean and stddev truncated at two stddevs (Keras defaults 0, 0.05).
    TruncatedNormal(f32, f32),
    /// Keras's `VarianceScaling`: variance `scale / fan` (fan by `mode`), drawn from
    /// `distribution`; the Glorot, He and Lecun initializers are special cases.
    VarianceScaling {
        /// Scale of the variance (default 1).
        scale: f32,
        /// Which fan divides it.
        mode: FanMode,
        /// The distribution drawn from.
        distribution: Distribution,
    },
    /// A (semi-)orthogonal matrix over the last axis times `gain` (Keras `Orthogonal`).
    Orthogonal(f32),
    /// `gain` times the identity matrix (Keras `Identity`; 2-D weights only).
    Identity(f32),
    /// An initializer with a fixed seed: the same values at every call, whatever the
    /// model's seed (Keras's `seed=` argument).
    Seeded(Box<Initializer>, u64),
}

/// The fan `VarianceScaling` divides its variance by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    /// The inputs per output (`"fan_in"`, default).
    FanIn,
    /// The outputs per input (`"fan_out"`).
    FanOut,
    /// Their mean (`"fan_avg"`).
    FanAvg,
}

/// The distribution `VarianceScaling` draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// Normal truncated at two stddevs, rescaled to the variance (default).
    TruncatedNormal,
    /// Normal (`"untruncated_normal"`, or `"normal"`).
    UntruncatedNormal,
    /// Uniform of the variance.
    Uniform,
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
    "truncated_normal",
    "variance_scaling",
    "orthogonal",
    "identity",
    "constant",
];

impl Initializer {
    /// Parses a Keras name (`"glorot_uniform"`) or class name (`"GlorotUniform"`), with
    /// Keras's defaults for the initializer's settings.
    ///
    /// ```
    /// use rkeras::init::Initializer;
    /// assert_eq!(Initializer::from_name("HeNormal")?, Initializer::HeNormal);
    /// assert_eq!(Initializer::from_name("truncated_normal")?, Initializer::TruncatedNormal(0.0, 0.05));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
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
            "constant" => Initializer::Constant(0.0),
            "randomnormal" => Initializer::RandomNormal(0.0, 0.05),
            "randomuniform" => Initializer::RandomUniform(-0.05, 0.05),
            "truncatednormal" => Initializer::TruncatedNormal(0.0, 0.05),
            "variancescaling" => Initializer::VarianceScaling {
                scale: 1.0,
                mode: FanMode::FanIn,
                distribution: Distribution::TruncatedNormal,
            },
            "orthogonal" | "orthogonalinitializer" => Initializer::Orthogonal(1.0),
            "identity" | "identityinitializer" => Initializer::Identity(1.0),
            _ => return Err(Error::unknown("initializer", name, NAMES)),
        })
    }

    /// Parses an initializer as a Keras config holds it: a name, or the dict form
    /// `{"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_out",
    /// "distribution": "truncated_normal", "seed": null}}`, settings and seed included.
    ///
    /// ```
    /// use rkeras::init::{Distribution, FanMode, Initializer};
    /// let v = serde_json::json!({"class_name": "VarianceScaling",
    ///     "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform", "seed": 7}});
    /// let want = Initializer::VarianceScaling { scale: 2.0, mode: FanMode::FanOut, distribution: Distribution::Uniform };
    /// assert_eq!(Initializer::from_config(&v)?, Initializer::Seeded(Box::new(want), 7));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// An unknown class or name, or a setting of the wrong type or value (named).
    pub fn from_config(v: &Value) -> Result<Self> {
        let (class, cfg) = match v {
            Value::String(s) => return Initializer::from_name(s),
            Value::Object(o) => (
                o.get("class_name").and_then(Value::as_str).unwrap_or(""),
                o.get("config").and_then(Value::as_object),
            ),
            other => {
                return Err(Error::Data(format!(
                    "an initializer is a name or a {{\"class_name\": ..., \"config\": ...}} object, received {other}"
                )))
            }
        };
        let empty = serde_json::Map::new();
        let cfg = cfg.unwrap_or(&empty);
        let num = |k: &str, d: f32| -> Result<f32> {
            match cfg.get(k) {
                None | Some(Value::Null) => Ok(d),
                Some(v) => v.as_f64().map(|x| x as f32).ok_or_else(|| {
                    Error::Data(format!(
                        "initializer {class}: `{k}` must be a number, received {v}"
                    ))
                }),
            }
        };
        let text = |k: &str, d: &str| -> Result<String> {
            match cfg.get(k) {
                None | Some(Value::Null) => Ok(d.to_string()),
                Some(Value::String(s)) => Ok(s.to_lowercase()),
                Some(v) => Err(Error::Data(format!(
                    "initializer {class}: `{k}` must be a string, received {v}"
                ))),
            }
        };
        let base = match Initializer::from_name(class)? {
            Initializer::Constant(_) => Initializer::Constant(num("value", 0.0)?),
            Initializer::RandomNormal(..) => {
                Initializer::RandomNormal(num("mean", 0.0)?, num("stddev", 0.05)?)
            }
            Initializer::RandomUniform(..) => {
                Initializer::RandomUniform(num("minval", -0.05)?, num("maxval", 0.05)?)
            }
            Initializer::TruncatedNormal(..) => {
                Initializer::TruncatedNormal(num("mean", 0.0)?, num("stddev", 0.05)?)
            }
            Initializer::Orthogonal(_) => Initializer::Orthogonal(num("gain", 1.0)?),
            Initializer::Identity(_) => Initializer::Identity(num("gain", 1.0)?),
            Initializer::VarianceScaling { .. } => {
                let scale = num("scale", 1.0)?;
                if scale.is_nan() || scale <= 0.0 {
                    return Err(Error::Data(format!(
                        "initializer VarianceScaling: `scale` must be positive, received {scale}"
                    )));
                }
                let mode = match text("mode", "fan_in")?.as_str() {
                    "fan_in" => FanMode::FanIn,
                    "fan_out" => FanMode::FanOut,
                    "fan_avg" => FanMode::FanAvg,
                    m => {
                        return Err(Error::Data(format!(
                            "initializer VarianceScaling: `mode` must be fan_in, fan_out or fan_avg, received {m}"
                        )))
                    }
                };
                let distribution = match text("distribution", "truncated_normal")?.as_str() {
                    "truncated_normal" => Distribution::TruncatedNormal,
                    "untruncated_normal" | "normal" => Distribution::UntruncatedNormal,
                    "uniform" => Distribution::Uniform,
                    d => {
                        return Err(Error::Data(format!(
                            "initializer VarianceScaling: `distribution` must be truncated_normal, untruncated_normal or uniform, received {d}"
                        )))
                    }
                };
                Initializer::VarianceScaling {
                    scale,
                    mode,
                    distribution,
                }
            }
            other => other,
        };
        Ok(match cfg.get("seed").and_then(Value::as_u64) {
            Some(seed) => Initializer::Seeded(Box::new(base), seed),
            None => base,
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
            Initializer::TruncatedNormal(..) => "TruncatedNormal",
            Initializer::VarianceScaling { .. } => "VarianceScaling",
            Initializer::Orthogonal(_) => "Orthogonal",
            Initializer::Identity(_) => "Identity",
            Initializer::Seeded(inner, _) => inner.class_name(),
        }
    }

    /// Keras's serialised form.
    pub fn config(&self) -> Value {
        let cfg = self.settings(Value::Null);
        json!({ "module": "keras.initializers", "class_name": self.class_name(), "config": cfg, "registered_name": null })
    }

    /// The `config` object of [`config`](Self::config), with `seed`.
    fn settings(&self, seed: Value) -> Value {
        match self {
            Initializer::Zeros | Initializer::Ones => json!({}),
            Initializer::Constant(v) => json!({ "value": v }),
            Initializer::RandomNormal(m, s) | Initializer::TruncatedNormal(m, s) => {
                json!({ "seed": seed, "mean": m, "stddev": s })
            }
            Initializer::RandomUniform(a, b) => json!({ "seed": seed, "minval": a, "maxval": b }),
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => json!({
                "scale": scale,
                "mode": match mode {
                    FanMode::FanIn => "fan_in",
                    FanMode::FanOut => "fan_out",
                    FanMode::FanAvg => "fan_avg",
                },
                "distribution": match distribution {
                    Distribution::TruncatedNormal => "truncated_normal",
                    Distribution::UntruncatedNormal => "untruncated_normal",
                    Distribution::Uniform => "uniform",
                },
                "seed": seed,
            }),
            Initializer::Orthogonal(g) => json!({ "gain": g, "seed": seed }),
            Initializer::Identity(g) => json!({ "gain": g }),
            Initializer::Seeded(inner, s) => inner.settings(json!(s)),
            _ => json!({ "seed": seed }),
        }
    }

    /// Fills `out` for a weight of `shape` (fans as Keras computes them).
    ///
    /// # Errors
    /// `Identity` on a weight that is not 2-D.
    pub fn try_fill(&self, shape: &[usize], out: &mut [f32], rng: &mut Rng) -> Result<()> {
        let (fan_in, fan_out) = fans(shape);
        let uniform = |l: f32, out: &mut [f32], rng: &mut Rng| {
            out.iter_mut().for_each(|v| *v = rng.uniform_range(-l, l))
        };
        let trunc = |std: f32, out: &mut [f32], rng: &mut Rng| {
            out.iter_mut()
                .for_each(|v| *v = std * rng.truncated_normal())
        };
        match self {
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
            Initializer::Constant(c) => out.fill(*c),
            Initializer::RandomNormal(m, s) => {
                out.iter_mut().for_each(|v| *v = m + s * rng.normal())
            }
            Initializer::RandomUniform(a, b) => {
                out.iter_mut().for_each(|v| *v = rng.uniform_range(*a, *b))
            }
            Initializer::TruncatedNormal(m, s) => out
                .iter_mut()
                .for_each(|v| *v = m + s * rng.truncated_normal()),
            Initializer::VarianceScaling {
                scale,
                mode,
                distribution,
            } => {
                let fan = match mode {
                    FanMode::FanIn => fan_in,
                    FanMode::FanOut => fan_out,
                    FanMode::FanAvg => (fan_in + fan_out) / 2.0,
                };
                let var = scale / fan.max(1.0);
                match distribution {
                    Distribution::TruncatedNormal => trunc(var.sqrt() / TRUNC_STD, out, rng),
                    Distribution::UntruncatedNormal => {
                        let s = var.sqrt();
                        out.iter_mut().for_each(|v| *v = s * rng.normal())
                    }
                    Distribution::Uniform => uniform((3.0 * var).sqrt(), out, rng),
                }
            }
            Initializer::Orthogonal(gain) => orthogonal(shape, *gain, out, rng),
            Initializer::Identity(gain) => {
                let [rows, cols] = shape else {
                    return Err(Error::Data(format!(
                        "the Identity initializer makes 2-D weights only, this one has shape {shape:?}"
                    )));
                };
                out.fill(0.0);
                for i in 0..*rows.min(cols) {
                    out[i * cols + i] = *gain;
                }
            }
            Initializer::Seeded(inner, seed) => inner.try_fill(shape, out, &mut Rng::new(*seed))?,
        }
        Ok(())
    }

    /// [`try_fill`](Self::try_fill) for the initializers that cannot fail.
    ///
    /// # Panics
    /// `Identity` on a weight that is not 2-D (use `try_fill`).
    pub fn fill(&self, shape: &[usize], out: &mut [f32], rng: &mut Rng) {
        if let Err(e) = self.try_fill(shape, out, rng) {
            panic!("{e}");
        }
    }
}

/// Keras's `Orthogonal`: the weight seen as a `(rows, cols)` matrix (`cols` the last axis),
/// from the QR decomposition of a normal matrix, signs fixed by `R`'s diagonal, times `gain`.
fn orthogonal(shape: &[usize], gain: f32, out: &mut [f32], rng: &mut Rng) {
    let cols = shape.last().copied().unwrap_or(1).max(1);
    let rows = (out.len() / cols).max(1);
    // Orthonormalize the columns of a (tall, short) normal matrix, in f64, by modified
    // Gram-Schmidt; transpose when the weight is wider than tall.
    let (tall, short) = (rows.max(cols), rows.min(cols));
    let mut q: Vec<f64> = (0..tall * short).map(|_| rng.normal() as f64).collect();
    for j in 0..short {
        for k in 0..j {
            let dot: f64 = (0..tall).map(|i| q[i * short + j] * q[i * short + k]).sum();
            for i in 0..tall {
                q[i * short + j] -= dot * q[i * short + k];
            }
        }
        let norm = (0..tall)
            .map(|i| q[i * short + j].powi(2))
            .sum::<f64>()
            .sqrt();
        for i in 0..tall {
            q[i * short + j] /= norm.max(f64::MIN_POSITIVE);
        }
    }
    for r in 0..rows {
        for c in 0..cols {
            let v = if rows >= cols {
                q[r * short + c]
            } else {
                q[c * short + r]
            };
            out[r * cols + c] = gain * v as f32;
        }
    }
}

/// A layer's initializer argument, as Keras takes it: a name (`"he_normal"`, checked when
/// the layer is built) or an [`Initializer`] with its settings.
///
/// ```
/// use rkeras::prelude::*;
/// use rkeras::init::{Distribution, FanMode, Initializer};
/// let named = Dense::new(4).kernel_initializer("he_normal");
/// let scaled = Dense::new(4).kernel_initializer(Initializer::VarianceScaling {
///     scale: 2.0, mode: FanMode::FanOut, distribution: Distribution::TruncatedNormal,
/// });
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum InitArg {
    /// A Keras name or class name.
    Name(String),
    /// An initializer value.
    Init(Initializer),
}

impl From<&str> for InitArg {
    fn from(s: &str) -> Self {
        InitArg::Name(s.to_string())
    }
}
impl From<String> for InitArg {
    fn from(s: String) -> Self {
        InitArg::Name(s)
    }
}
impl From<Initializer> for InitArg {
    fn from(i: Initializer) -> Self {
        InitArg::Init(i)
    }
}

impl InitArg {
    /// The initializer.
    ///
    /// # Errors
    /// An unknown name.
    pub fn resolve(&self) -> Result<Initializer> {
        match self {
            InitArg::Name(n) => Initializer::from_name(n),
            InitArg::Init(i) => Ok(i.clone()),
        }
    }
    /// Keras's serialised form; `default`'s for a name that does not resolve (which
    /// building the layer refuses).
    pub fn config_or(&self, default: Initializer) -> Value {
        self.resolve().unwrap_or(default).config()
    }
}

thread_local! {
    static SKIP_FILL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `build` with weight initialization skipped (weights left at zero): for a model
/// every one of whose weights is read from a file right after (`load_model`, which refuses
/// a file that lacks any of them), so that loading does not draw millions of random numbers
/// only to overwrite them.
pub(crate) fn without_fill<T>(build: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SKIP_FILL.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SKIP_FILL.with(|s| s.replace(true)));
    build()
}

/// True inside [`without_fill`].
pub(crate) fn fill_skipped() -> bool {
    SKIP_FILL.with(std::cell::Cell::get)
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

    /// Mean and standard deviation of `v`.
    fn stats(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().map(|x| *x as f64).sum::<f64>() / n;
        let var = v.iter().map(|x| (*x as f64 - m).powi(2)).sum::<f64>() / n;
        (m, var.sqrt())
    }

    #[test]
    fn variance_scaling_has_keras_variance_for_every_mode_and_distribution() {
        let shape = [3, 3, 16, 64]; // fan_in 144, fan_out 576
        for (mode, fan) in [
            (FanMode::FanIn, 144.0),
            (FanMode::FanOut, 576.0),
            (FanMode::FanAvg, 360.0),
        ] {
            for distribution in [
                Distribution::TruncatedNormal,
                Distribution::UntruncatedNormal,
                Distribution::Uniform,
            ] {
                let init = Initializer::VarianceScaling {
                    scale: 2.0,
                    mode,
                    distribution,
                };
                let mut w = vec![0.0; 9 * 16 * 64];
                init.fill(&shape, &mut w, &mut Rng::new(3));
                let (m, sd) = stats(&w);
                let want = (2.0f64 / fan).sqrt();
                assert!(m.abs() < 0.05 * want, "{mode:?} {distribution:?}: mean {m}");
                assert!(
                    (sd / want - 1.0).abs() < 0.05,
                    "{mode:?} {distribution:?}: sd {sd} vs {want}"
                );
            }
        }
    }

    #[test]
    fn truncated_normal_orthogonal_and_identity() {
        let mut w = vec![0.0; 4000];
        Initializer::TruncatedNormal(1.0, 0.5).fill(&[4000], &mut w, &mut Rng::new(1));
        assert!(w.iter().all(|v| (v - 1.0).abs() <= 1.0 + 1e-6));
        let (m, _) = stats(&w);
        assert!((m - 1.0).abs() < 0.03, "{m}");
        for (rows, cols) in [(6, 4), (4, 6), (5, 5)] {
            let mut q = vec![0.0; rows * cols];
            Initializer::Orthogonal(2.0).fill(&[rows, cols], &mut q, &mut Rng::new(2));
            // Q^T Q (or Q Q^T when wide) is gain^2 times the identity.
            let (short, tall_rows) = (rows.min(cols), rows >= cols);
            for a in 0..short {
                for b in 0..short {
                    let dot: f32 = if tall_rows {
                        (0..rows).map(|r| q[r * cols + a] * q[r * cols + b]).sum()
                    } else {
                        (0..cols).map(|c| q[a * cols + c] * q[b * cols + c]).sum()
                    };
                    let want = if a == b { 4.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-4, "{rows}x{cols} ({a},{b}): {dot}");
                }
            }
        }
        let mut eye = vec![9.0; 6];
        Initializer::Identity(0.5).fill(&[2, 3], &mut eye, &mut Rng::new(0));
        assert_eq!(eye, [0.5, 0.0, 0.0, 0.0, 0.5, 0.0]);
        let e = Initializer::Identity(1.0)
            .try_fill(&[2, 2, 2], &mut [0.0; 8], &mut Rng::new(0))
            .expect_err("3-D");
        assert!(e.to_string().contains("2-D"), "{e}");
    }

    #[test]
    fn dict_configs_read_settings_and_seeds_and_write_them_back() {
        for v in [
            json!({"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal", "seed": 5}}),
            json!({"module": "keras.initializers", "class_name": "TruncatedNormal", "config": {"mean": 0.5, "stddev": 0.1, "seed": null}}),
            json!({"class_name": "Constant", "config": {"value": 0.25}}),
            json!({"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 2.0, "seed": 9}}),
            json!({"class_name": "RandomUniform", "config": {"minval": -1.0, "maxval": 3.0, "seed": null}}),
            json!({"class_name": "Orthogonal", "config": {"gain": 1.5, "seed": 1}}),
            json!({"class_name": "Identity", "config": {"gain": 2.0}}),
            json!({"class_name": "HeNormal", "config": {"seed": 3}}),
        ] {
            let init = Initializer::from_config(&v).expect("parses");
            let back = Initializer::from_config(&init.config()).expect("round trip");
            assert_eq!(back, init, "{v}");
        }
        // A seed gives the same values whatever the layer's generator.
        let seeded = Initializer::from_config(
            &json!({"class_name": "GlorotUniform", "config": {"seed": 42}}),
        )
        .expect("seeded");
        let (mut a, mut b) = (vec![0.0; 12], vec![0.0; 12]);
        seeded.fill(&[3, 4], &mut a, &mut Rng::new(1));
        seeded.fill(&[3, 4], &mut b, &mut Rng::new(2));
        assert_eq!(a, b);
        let bad = json!({"class_name": "VarianceScaling", "config": {"mode": "fan_sideways"}});
        let e = Initializer::from_config(&bad)
            .expect_err("bad mode")
            .to_string();
        assert!(e.contains("mode") && e.contains("fan_sideways"), "{e}");
        assert!(Initializer::from_config(&json!({"class_name": "Glorious"})).is_err());
    }
}
