//! What the random augmentation layers share: per-image draws from the layer's own seeded
//! stream in training, the identity in inference, and the backward pass of the same draws.

use super::{rank_error, Mode};
use crate::error::Result;
use crate::preprocessing::{RandomOp, Sampled};
use crate::rng::Rng;
use rayon::prelude::*;

#[derive(Clone, Debug)]
pub(crate) struct RandomCore {
    pub op: Option<RandomOp>,
    pub seed: Option<u64>,
    base_seed: u64,
    rng: Rng,
    dims: [usize; 3],
    sampled: Vec<Sampled>,
    trained: bool,
}

impl RandomCore {
    pub fn new() -> Self {
        RandomCore {
            op: None,
            seed: None,
            base_seed: 0,
            rng: Rng::new(0),
            dims: [0; 3],
            sampled: Vec::new(),
            trained: false,
        }
    }

    /// Checks the input is one image per sample and seeds the layer's stream.
    pub fn build(
        &mut self,
        op: RandomOp,
        input_shape: &[usize],
        rng: &mut Rng,
        layer: &str,
    ) -> Result<Vec<usize>> {
        self.dims = image_dims(input_shape, layer)?;
        self.op = Some(op);
        self.base_seed = self.seed.unwrap_or_else(|| rng.fork(0xA06).next_u64());
        self.rng = Rng::new(self.base_seed);
        Ok(input_shape.to_vec())
    }

    pub fn reseed(&mut self, epoch: u64) {
        self.rng = crate::rng::epoch_stream(self.base_seed, epoch);
    }

    /// A training step without rows on this replica: the step's draw, as `forward` takes it.
    pub fn idle_forward(&mut self) {
        if self.op.is_some() {
            self.rng.next_u64();
        }
    }

    pub fn allocate(&mut self, max_batch: usize) {
        let fill = Sampled::Flip(false, false);
        if self.sampled.len() < max_batch {
            self.sampled.resize(max_batch, fill);
        }
    }

    pub fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, mode: Mode) {
        let Some(op) = &self.op else {
            y.copy_from_slice(x);
            return;
        };
        // AutoContrast acts in inference too, as in Keras.
        self.trained = mode == Mode::Train || op.always();
        if !self.trained {
            y.copy_from_slice(x);
            return;
        }
        let [h, w, _] = self.dims;
        // One draw of the layer's stream per step; each image's parameters from a stream
        // keyed by it and the image's row in the whole batch.
        let step = self.rng.next_u64();
        let row0 = crate::distribution::first_row() as u64;
        sample_rows(op, step, row0, &mut self.sampled[..n], h, w);
        let per = x.len() / n.max(1);
        let dims = self.dims;
        y.par_chunks_mut(per.max(1))
            .zip(x.par_chunks(per.max(1)))
            .zip(self.sampled[..n].par_iter())
            .for_each(|((yi, xi), s)| op.apply(s, xi, yi, dims));
    }

    pub fn backward(&self, x: &[f32], dy: &mut [f32], dx: Option<&mut [f32]>, n: usize) {
        let Some(dx) = dx else { return };
        let Some(op) = self.op.as_ref().filter(|_| self.trained) else {
            dx.copy_from_slice(dy);
            return;
        };
        let per = x.len() / n.max(1);
        let dims = self.dims;
        dx.par_chunks_mut(per.max(1))
            .zip(dy.par_chunks_mut(per.max(1)))
            .zip(x.par_chunks(per.max(1)))
            .zip(self.sampled[..n].par_iter())
            .for_each(|(((dxi, dyi), xi), s)| op.backward(s, xi, dyi, dxi, dims));
    }
}

/// Draws `op`'s parameters for the `out.len()` images of rows `row0..` of the batch, each
/// from a stream keyed by `step` and its row ([`crate::rng::row_stream`]), then shares
/// what Keras draws once per batch (from row 0's draw): a data-parallel rank draws for its
/// rows what one process draws for them.
pub(crate) fn sample_rows(
    op: &RandomOp,
    step: u64,
    row0: u64,
    out: &mut [Sampled],
    h: usize,
    w: usize,
) {
    for (i, s) in out.iter_mut().enumerate() {
        *s = op.sample(&mut crate::rng::row_stream(step, row0 + i as u64), h, w);
    }
    if let Some(&first) = out.first() {
        let lead = if row0 == 0 {
            first
        } else {
            op.sample(&mut crate::rng::row_stream(step, 0), h, w)
        };
        op.share_batch(&lead, out);
    }
}

/// The `[height, width, channels]` of one image, or the error naming `layer` when the
/// input is not a batch of images.
pub(crate) fn image_dims(input_shape: &[usize], layer: &str) -> Result<[usize; 3]> {
    <[usize; 3]>::try_from(input_shape).map_err(|_| {
        rank_error(
            layer,
            "an image tensor of rank 4 (batch, height, width, channels)",
            input_shape,
        )
    })
}

/// Keras's factor parsing of the base layer (`_set_factor`): a number `f` in `[lo, hi]`
/// becomes `(-|f|, |f|)` (or `(0, f)` when `zero_low`), a pair is checked loosely and sorted.
pub(crate) fn parse_factor(
    f: FactorArg,
    (lo, hi): (f64, f64),
    zero_low: bool,
    arg: &str,
    layer: &str,
) -> Result<(f64, f64)> {
    let err = |shown: String| {
        crate::Error::arg(
            arg,
            layer,
            format!("The `{arg}` argument should be a number (or a list of two numbers) in the range [{lo}, {hi}]. Received: {arg}={shown}"),
        )
    };
    match f {
        FactorArg::Scalar(v) => {
            if !(lo..=hi).contains(&v) {
                return Err(err(format!("{v}")));
            }
            Ok(if zero_low {
                (0.0, v)
            } else {
                (-v.abs(), v.abs())
            })
        }
        FactorArg::Pair(a, b) => {
            if a > hi || b < lo || a.is_nan() || b.is_nan() {
                return Err(err(format!("({a}, {b})")));
            }
            Ok((a.min(b), a.max(b)))
        }
    }
}

/// Zoom and translation factors: each number in the allowed range (open below when
/// `low_open`), a scalar `f` means `(-|f|, |f|)`, a pair is sorted.
pub(crate) fn parse_span(
    f: FactorArg,
    low_open: bool,
    (lo, hi): (f64, f64),
    arg: &str,
    layer: &str,
) -> Result<(f64, f64)> {
    let ok = |v: f64| (if low_open { v > lo } else { v >= lo }) && v <= hi;
    let range = if low_open {
        format!("({lo:?}, {hi:?}]")
    } else {
        format!("[{lo:?}, {hi:?}]")
    };
    let vals = match f {
        FactorArg::Scalar(v) => vec![v],
        FactorArg::Pair(a, b) => vec![a, b],
    };
    if let Some(bad) = vals.iter().find(|v| !ok(**v)) {
        return Err(crate::Error::arg(
            arg,
            layer,
            format!("The `{arg}` argument should be a number (or a list of two numbers) in the range {range}. Received: input_number={bad:?}"),
        ));
    }
    Ok(match f {
        FactorArg::Scalar(v) => (-v.abs(), v.abs()),
        FactorArg::Pair(a, b) => (a.min(b), a.max(b)),
    })
}

/// A factor as the user gave it: one number or a `(lower, upper)` pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FactorArg {
    /// One number.
    Scalar(f64),
    /// Lower and upper bounds.
    Pair(f64, f64),
}

impl FactorArg {
    /// As Keras writes it verbatim in a config.
    pub(crate) fn json(self) -> serde_json::Value {
        match self {
            FactorArg::Scalar(v) => serde_json::json!(v),
            FactorArg::Pair(a, b) => serde_json::json!([a, b]),
        }
    }
}

impl From<f32> for FactorArg {
    fn from(v: f32) -> Self {
        FactorArg::Scalar(v as f64)
    }
}
impl From<f64> for FactorArg {
    fn from(v: f64) -> Self {
        FactorArg::Scalar(v)
    }
}
impl From<(f32, f32)> for FactorArg {
    fn from((a, b): (f32, f32)) -> Self {
        FactorArg::Pair(a as f64, b as f64)
    }
}
impl From<(f64, f64)> for FactorArg {
    fn from((a, b): (f64, f64)) -> Self {
        FactorArg::Pair(a, b)
    }
}

/// `(a, b)` as f32 for the operations.
pub(crate) fn f32_pair((a, b): (f64, f64)) -> (f32, f32) {
    (a as f32, b as f32)
}

/// The config keys every random geometric layer shares, after its factors.
pub(crate) fn geometry_keys(
    m: &mut serde_json::Map<String, serde_json::Value>,
    fill_mode: &str,
    interpolation: &str,
    seed: Option<u64>,
    fill_value: f64,
) {
    m.insert("fill_mode".into(), fill_mode.into());
    m.insert("interpolation".into(), interpolation.into());
    m.insert(
        "seed".into(),
        seed.map_or(serde_json::Value::Null, Into::into),
    );
    m.insert("fill_value".into(), fill_value.into());
}

/// A config number as Keras writes a Python literal: integral values as integers.
pub(crate) fn number(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        serde_json::json!(v as i64)
    } else {
        serde_json::json!(v)
    }
}

/// The `seed` builder of the random layers (their `core: RandomCore` holds it).
macro_rules! seed_builder {
    ($t:ty) => {
        impl $t {
            /// Fixes the layer's random seed (default: derived from the model's seed).
            pub fn seed(mut self, seed: u64) -> Self {
                self.core.seed = Some(seed);
                self
            }
        }
    };
}
pub(crate) use seed_builder;

/// The resampling builders of the geometric random layers (fields `fill_mode`,
/// `fill_value`, `interpolation`), plus `seed`.
macro_rules! geometry_builders {
    ($t:ty) => {
        impl $t {
            /// `"reflect"` (default), `"wrap"`, `"constant"` or `"nearest"`.
            pub fn fill_mode(mut self, mode: &str) -> Self {
                self.fill_mode = mode.into();
                self
            }
            /// Value outside the image with `fill_mode("constant")` (default 0).
            pub fn fill_value(mut self, v: f64) -> Self {
                self.fill_value = v;
                self
            }
            /// `"bilinear"` (default) or `"nearest"`.
            pub fn interpolation(mut self, i: &str) -> Self {
                self.interpolation = i.into();
                self
            }
        }
        $crate::layers::random_image::seed_builder!($t);
    };
}
pub(crate) use geometry_builders;

/// The `Layer` methods a random layer hands to its `core: RandomCore`.
macro_rules! delegate_to_core {
    () => {
        fn base(&self) -> &LayerBase {
            &self.base
        }
        fn base_mut(&mut self) -> &mut LayerBase {
            &mut self.base
        }
        fn allocate(&mut self, max_batch: usize) {
            self.core.allocate(max_batch);
        }
        fn reseed(&mut self, epoch: u64) {
            self.core.reseed(epoch);
        }
        fn idle_forward(&mut self) {
            self.core.idle_forward();
        }
        fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, mode: Mode) {
            self.core.forward(x, y, n, mode);
        }
        fn backward(
            &mut self,
            x: &[f32],
            _y: &[f32],
            dy: &mut [f32],
            dx: Option<&mut [f32]>,
            ctx: Backward,
        ) {
            self.core.backward(x, dy, dx, ctx.n);
        }
    };
}
pub(crate) use delegate_to_core;

/// Keras's `[a, b]` of a `(lower, upper)` pair in a config (integral values as integers).
pub(crate) fn pair_json((a, b): (f64, f64)) -> serde_json::Value {
    serde_json::json!([number(a), number(b)])
}

/// Checks that a colour operation accepts the image's channels.
pub(crate) fn check_channels(
    op: &crate::preprocessing::ColorOp,
    input_shape: &[usize],
    layer: &str,
) -> crate::error::Result<()> {
    let c = input_shape.last().copied().unwrap_or(0);
    match op.channels() {
        Some(ok) if !ok.contains(&c) => Err(crate::Error::arg(
            "input_shape",
            layer,
            format!(
                "Input images must have {} channels, but received images with {c} channels.",
                ok.iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        )),
        _ => Ok(()),
    }
}

/// A colour augmentation layer of Keras 3 with the arguments `factor`, `value_range` and
/// `seed` (`RandomHue`, `RandomSaturation`, ...): its struct, builders, `Layer` impl and
/// `FromConfig`. `bounds` and `zero_low` are Keras's `_FACTOR_BOUNDS` (a number `f` means
/// `(max(-f, lower bound), f)`), `low` raises the lower end (posterization's 1 bit), `op`
/// makes the [`ColorOp`](crate::preprocessing::ColorOp) from the parsed `(f32, f32)` factor
/// and value range.
macro_rules! factor_color_layer {
    (
        $(#[$doc:meta])*
        $t:ident, $class:literal,
        bounds: ($lo:expr, $hi:expr), zero_low: $zl:expr, low: $min:expr,
        default_factor: $default:expr,
        op: |$f:ident, $vr:ident| $op:expr
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $t {
            base: LayerBase,
            factor: FactorArg,
            value_range: (f64, f64),
            core: RandomCore,
        }

        impl $t {
            #[doc = concat!("`", $class, "` with this `factor` (a number or a `(lower, upper)` pair).")]
            pub fn new(factor: impl Into<FactorArg>) -> Self {
                $t {
                    base: LayerBase::default(),
                    factor: factor.into(),
                    value_range: (0.0, 255.0),
                    core: RandomCore::new(),
                }
            }
            /// Range of the pixel values (default `(0, 255)`); sorted, as Keras does.
            pub fn value_range(mut self, (a, b): (f64, f64)) -> Self {
                self.value_range = (a.min(b), a.max(b));
                self
            }
            fn parsed(&self, name: &str) -> Result<(f64, f64)> {
                let (lo, hi) = parse_factor(self.factor, ($lo, $hi), $zl, "factor", name)?;
                Ok((lo.max($min), hi))
            }
        }
        common_builders!($t);
        seed_builder!($t);

        impl Layer for $t {
            fn class_name(&self) -> &'static str {
                $class
            }
            delegate_to_core!();
            fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
                let name = self.base.label().to_string();
                let $f = f32_pair(self.parsed(&name)?);
                let $vr = f32_pair(self.value_range);
                let op: ColorOp = $op;
                check_channels(&op, input_shape, &name)?;
                self.core.build(RandomOp::Color(op), input_shape, rng, &name)
            }
            fn config(&self) -> Map<String, Value> {
                let factor = self.parsed("").map_or(self.factor.json(), pair_json);
                super::object(json!({
                    "data_format": "channels_last",
                    "factor": factor,
                    "value_range": pair_json(self.value_range),
                    "seed": self.core.seed,
                }))
            }
        }

        impl FromConfig for $t {
            fn from_config(g: &Cfg<'_>) -> Result<Self> {
                let factor = match $default {
                    Some(d) if g.c.get("factor").is_none_or(Value::is_null) => FactorArg::Scalar(d),
                    _ => g.factor("factor")?,
                };
                let l = $t::new(factor).value_range(g.range_or("value_range", (0.0, 255.0))?);
                Ok(seeded!(l, g))
            }
        }
    };
}
pub(crate) use factor_color_layer;
