//! Optimizers with Keras's update formulas, defaults and config keys: [`Adam`], [`AdamW`],
//! [`SGD`], [`RMSprop`], [`Nadam`], [`Adamax`], [`Adagrad`], [`Adadelta`], [`Adafactor`],
//! [`Ftrl`], [`Lion`], [`Lamb`]; every one takes Keras's base options ([`Options`]).
//!
//! An optimizer is built once for the list of trainable weight sizes (its slots), then each
//! step calls [`Optimizer::begin_step`] and [`Optimizer::update`] for every trainable weight,
//! in model order, in place and without allocating.

use crate::error::{Error, Result};
use serde_json::Value;

mod adadelta;
mod adafactor;
mod adagrad;
mod adam;
mod adamax;
mod ftrl;
mod lamb;
mod lion;
mod nadam;
mod options;
mod rmsprop;
pub mod schedules;
mod sgd;

pub use adadelta::Adadelta;
pub use adafactor::Adafactor;
pub use adagrad::Adagrad;
pub use adam::{Adam, AdamW};
pub use adamax::Adamax;
pub use ftrl::Ftrl;
pub use lamb::Lamb;
pub use lion::Lion;
pub use nadam::Nadam;
pub(crate) use options::options_builders;

/// The `Optimizer` methods of an optimizer whose state is `slots` (`SLOTS` per weight, in
/// Keras's order, initialised by `slot_init()`), with `lr`, `iterations`, `built` and `opts`
/// fields: `with_step` adds the plain step counter, `own_step` leaves `begin_step` and
/// `set_iterations` to the optimizer (Nadam keeps a running product).
macro_rules! slot_optimizer_methods {
    (with_step) => {
        fn begin_step(&mut self) {
            self.iterations += 1;
        }
        fn set_iterations(&mut self, it: u64) {
            self.iterations = it;
        }
        $crate::optimizers::slot_optimizer_methods!(own_step);
    };
    (own_step) => {
        fn options(&self) -> &super::Options {
            &self.opts
        }
        fn options_mut(&mut self) -> &mut super::Options {
            &mut self.opts
        }
        fn is_built(&self) -> bool {
            self.built
        }
        fn learning_rate(&self) -> f32 {
            self.lr
        }
        fn set_learning_rate(&mut self, lr: f32) {
            self.lr = lr;
        }
        fn iterations(&self) -> u64 {
            self.iterations
        }
        fn variable_count(&self) -> usize {
            2 + self.slots.iter().map(Vec::len).sum::<usize>()
        }
        fn state(&self) -> Vec<(usize, Vec<f32>)> {
            let k = Self::SLOTS;
            self.slots
                .iter()
                .enumerate()
                .map(|(i, v)| (i / k, v.clone()))
                .collect()
        }
        fn set_state(&mut self, state: &[Vec<f32>]) -> std::result::Result<(), String> {
            let mut s: Vec<&mut Vec<f32>> = self.slots.iter_mut().collect();
            super::restore(&mut s, state)
        }
        fn build(&mut self, sizes: &[usize]) {
            let inits: Vec<f32> = (0..Self::SLOTS).map(|k| self.slot_init(k)).collect();
            self.slots = sizes
                .iter()
                .flat_map(|&n| inits.iter().map(move |&v| vec![v; n]))
                .collect();
            self.built = true;
        }
    };
}
pub(crate) use slot_optimizer_methods;

/// `new()` (Keras's defaults), `learning_rate(lr)` and one setter per listed `f32`
/// hyperparameter field, named as Keras's arguments, for an optimizer with an `lr` field.
macro_rules! hyperparameter_builders {
    ($t:ty: $($name:ident),* $(,)?) => {
        impl $t {
            #[doc = concat!("`", stringify!($t), "` with Keras's defaults.")]
            pub fn new() -> Self {
                Self::default()
            }
            /// Sets the learning rate.
            pub fn learning_rate(mut self, lr: f32) -> Self {
                self.lr = lr;
                self
            }
            $(
                #[doc = concat!("Sets `", stringify!($name), "` (Keras's argument of that name).")]
                pub fn $name(mut self, v: f32) -> Self {
                    self.$name = v;
                    self
                }
            )*
        }
    };
}
pub(crate) use hyperparameter_builders;

/// The two slot variables of weight `slot` of an optimizer with two slots per weight
/// (slots `2 * slot` and `2 * slot + 1`), both mutable.
pub(crate) fn slot_pair(slots: &mut [Vec<f32>], slot: usize) -> (&mut [f32], &mut [f32]) {
    let (a, b) = slots[2 * slot..2 * slot + 2].split_at_mut(1);
    (&mut a[0], &mut b[0])
}

pub use options::Options;
pub use rmsprop::RMSprop;
pub use sgd::SGD;

/// An optimizer.
pub trait Optimizer: Send + std::fmt::Debug {
    /// Keras class name (`Adam`).
    fn class_name(&self) -> &'static str;
    /// Creates the slots for trainable weights of these sizes (model order).
    fn build(&mut self, sizes: &[usize]);
    /// Creates the slots for trainable weights of these shapes (model order); optimizers
    /// whose state depends on the shape (Adafactor's factored moments) override it.
    fn build_shapes(&mut self, shapes: &[Vec<usize>]) {
        let sizes: Vec<usize> = shapes.iter().map(|s| s.iter().product()).collect();
        self.build(&sizes);
    }
    /// True once built.
    fn is_built(&self) -> bool;
    /// Advances the iteration counter; call once per step before the updates.
    fn begin_step(&mut self);
    /// Updates weight `slot` in place from its gradient.
    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]);
    /// Current learning rate.
    fn learning_rate(&self) -> f32;
    /// Sets the learning rate (schedulers, ReduceLROnPlateau).
    fn set_learning_rate(&mut self, lr: f32);
    /// Completed steps.
    fn iterations(&self) -> u64;
    /// Number of scalars in the optimizer's variables (iteration, learning rate, slots), as
    /// Keras counts them in `summary()`.
    fn variable_count(&self) -> usize;
    /// Keras `get_config()`.
    fn config(&self) -> Value;
    /// Sets the completed-steps counter (restoring a saved state).
    fn set_iterations(&mut self, it: u64);
    /// The slot variables in Keras's order (what `optimizer.variables` lists after the
    /// iteration and learning rate), each tagged with the index of its trainable weight.
    fn state(&self) -> Vec<(usize, Vec<f32>)>;
    /// Restores [`state`](Self::state)'s arrays, in the same order; the optimizer must be
    /// built for the same weights.
    ///
    /// # Errors
    /// A count or a size that does not match, in words.
    fn set_state(&mut self, state: &[Vec<f32>]) -> std::result::Result<(), String>;
    /// The options every Keras optimizer has: a learning-rate schedule and gradient
    /// clipping.
    fn options(&self) -> &Options;
    /// The options, mutable.
    fn options_mut(&mut self) -> &mut Options;
}

/// The step count Keras saves (its `iterations` variable): every step, also those that only
/// accumulate gradients, whereas [`Optimizer::iterations`] counts the updates (Keras's
/// `optimizer.iterations` property divides by the accumulation steps).
pub(crate) fn saved_iterations(o: &dyn Optimizer) -> u64 {
    match o.options().accumulating() {
        Some(_) => o.options().micro_steps,
        None => o.iterations(),
    }
}

/// Restores [`saved_iterations`]'s count.
pub(crate) fn restore_iterations(o: &mut dyn Optimizer, it: u64) {
    match o.options().accumulating() {
        Some(steps) => {
            o.options_mut().micro_steps = it;
            o.set_iterations(it / steps);
        }
        None => o.set_iterations(it),
    }
}

/// Copies `src` into `dst`, each array of the same length.
pub(crate) fn restore(
    dst: &mut [&mut Vec<f32>],
    src: &[Vec<f32>],
) -> std::result::Result<(), String> {
    if dst.len() != src.len() {
        return Err(format!(
            "the optimizer has {} slot variables, the file {}",
            dst.len(),
            src.len()
        ));
    }
    for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
        if d.len() != s.len() {
            return Err(format!(
                "optimizer variable {} holds {} values, the file {}",
                i + 2,
                d.len(),
                s.len()
            ));
        }
        d.copy_from_slice(s);
    }
    Ok(())
}

/// An optimizer given by name (`"adam"`) or as a value (`Adam::default()`).
pub enum OptimizerSpec {
    /// A Keras name, resolved by `compile`.
    Name(String),
    /// A configured optimizer.
    Value(Box<dyn Optimizer>),
}

impl From<&str> for OptimizerSpec {
    fn from(s: &str) -> Self {
        OptimizerSpec::Name(s.into())
    }
}
impl From<String> for OptimizerSpec {
    fn from(s: String) -> Self {
        OptimizerSpec::Name(s)
    }
}
impl From<Box<dyn Optimizer>> for OptimizerSpec {
    fn from(o: Box<dyn Optimizer>) -> Self {
        OptimizerSpec::Value(o)
    }
}
macro_rules! spec_from {
    ($($t:ty),*) => {$(
        impl From<$t> for OptimizerSpec {
            fn from(o: $t) -> Self {
                OptimizerSpec::Value(Box::new(o))
            }
        }
    )*};
}
spec_from!(
    Adam, AdamW, SGD, RMSprop, Nadam, Adamax, Adagrad, Lion, Adadelta, Ftrl, Lamb, Adafactor
);

const NAMES: &[&str] = &[
    "adam",
    "adamw",
    "sgd",
    "rmsprop",
    "nadam",
    "adamax",
    "adagrad",
    "lion",
    "adadelta",
    "ftrl",
    "lamb",
    "adafactor",
];

impl OptimizerSpec {
    /// Resolves to an optimizer with Keras defaults.
    ///
    /// # Errors
    /// Unknown names, listing the known ones.
    pub fn resolve(self) -> Result<Box<dyn Optimizer>> {
        match self {
            OptimizerSpec::Value(o) => Ok(o),
            OptimizerSpec::Name(n) => from_name(&n, None),
        }
    }
}

/// An optimizer by Keras name, with an optional learning rate.
///
/// # Errors
/// Unknown names; a learning rate that is not positive and finite.
pub fn from_name(name: &str, learning_rate: Option<f32>) -> Result<Box<dyn Optimizer>> {
    let mut o: Box<dyn Optimizer> = match name.to_ascii_lowercase().as_str() {
        "adam" => Box::new(Adam::default()),
        "adamw" => Box::new(AdamW::default()),
        "sgd" => Box::new(SGD::default()),
        "rmsprop" => Box::new(RMSprop::default()),
        "nadam" => Box::new(Nadam::default()),
        "adamax" => Box::new(Adamax::default()),
        "adagrad" => Box::new(Adagrad::default()),
        "lion" => Box::new(Lion::default()),
        "adadelta" => Box::new(Adadelta::default()),
        "ftrl" => Box::new(Ftrl::default()),
        "lamb" => Box::new(Lamb::default()),
        "adafactor" => Box::new(Adafactor::default()),
        _ => return Err(Error::unknown("optimizer", name, NAMES)),
    };
    if let Some(lr) = learning_rate {
        check_lr(lr)?;
        o.set_learning_rate(lr);
    }
    Ok(o)
}

pub(crate) fn check_lr(lr: f32) -> Result<()> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::arg(
            "learning_rate",
            "",
            format!("expected a positive finite float, received {lr}"),
        ));
    }
    Ok(())
}

/// A hyperparameter as Keras writes it: a Python float, so `0.9` and not the `f32` value
/// widened (`0.8999999761581421`). (The learning rate is a `float32` variable in Keras and
/// is written widened, as Keras does.)
pub(crate) fn py_float(x: f32) -> Value {
    Value::from(x.to_string().parse::<f64>().unwrap_or(x as f64))
}

/// Keras's base optimizer config keys (the learning rate, or its schedule; the clipping
/// options).
pub(crate) fn base_config(name: &str, lr: f32, opts: &Options) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), Value::from(name));
    m.insert(
        "learning_rate".into(),
        opts.schedule
            .as_ref()
            .map_or_else(|| Value::from(lr as f64), schedules::Schedule::config),
    );
    m.insert(
        "weight_decay".into(),
        opts.weight_decay.map_or(Value::Null, py_float),
    );
    for (k, v) in [
        ("clipnorm", opts.clipnorm),
        ("global_clipnorm", opts.global_clipnorm),
        ("clipvalue", opts.clipvalue),
    ] {
        m.insert(k.into(), v.map_or(Value::Null, py_float));
    }
    m.insert("use_ema".into(), Value::from(opts.use_ema));
    m.insert("ema_momentum".into(), py_float(opts.ema_momentum));
    m.insert(
        "ema_overwrite_frequency".into(),
        opts.ema_overwrite_frequency
            .map_or(Value::Null, Value::from),
    );
    m.insert("loss_scale_factor".into(), Value::Null);
    m.insert(
        "gradient_accumulation_steps".into(),
        opts.gradient_accumulation_steps
            .map_or(Value::Null, Value::from),
    );
    m
}

pub(crate) fn wrap(class: &str, cfg: serde_json::Map<String, Value>) -> Value {
    serde_json::json!({"module": "keras.optimizers", "class_name": class, "config": cfg, "registered_name": null})
}

/// An optimizer from Keras's serialized form (`{"class_name": "Adam", "config": {...}}`, as
/// `compile_config` holds it) or a bare name: its hyperparameters, learning rate or schedule
/// and clipping options, with Keras's defaults for what is missing.
///
/// ```
/// let cfg = serde_json::json!({"class_name": "SGD", "config": {
///     "learning_rate": 0.05, "momentum": 0.9, "nesterov": true, "clipnorm": 1.0}});
/// let opt = rkeras::optimizers::from_config(&cfg)?;
/// assert_eq!(opt.config()["config"]["momentum"], 0.9);
/// assert_eq!(opt.options().clipnorm, Some(1.0));
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// An unknown class (the known ones are listed), a mistyped value, a schedule or clipping
/// setting outside Keras's ranges, or an option rkeras does not implement
/// (`loss_scale_factor`), which is refused rather than ignored.
pub fn from_config(v: &Value) -> Result<Box<dyn Optimizer>> {
    let (class, empty) = match v {
        Value::String(s) => (s.clone(), serde_json::Map::new()),
        _ => (
            v.get("class_name")
                .and_then(Value::as_str)
                .unwrap_or("Adam")
                .to_string(),
            serde_json::Map::new(),
        ),
    };
    let c = v.get("config").and_then(Value::as_object).unwrap_or(&empty);
    // tf.keras 2 writes "Custom>Adam".
    let class = class.rsplit('>').next().unwrap_or(&class).to_string();
    let f = |k: &str| -> Result<Option<f32>> {
        match c.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x
                .as_f64()
                .map(|x| Some(x as f32))
                .ok_or_else(|| Error::arg(k, &class, format!("expected a number, received {x}"))),
        }
    };
    let b = |k: &str| c.get(k).and_then(Value::as_bool);
    let lr = c.get("learning_rate");
    let (rate, schedule) = match lr {
        Some(s @ Value::Object(_)) => (None, Some(schedules::Schedule::from_config(s)?)),
        _ => (f("learning_rate")?, None),
    };
    macro_rules! set {
        ($o:expr, $($k:literal => $m:ident),*) => {{
            let mut o = $o;
            $(if let Some(x) = f($k)? { o = o.$m(x); })*
            o
        }};
    }
    let mut o: Box<dyn Optimizer> = match class.to_ascii_lowercase().as_str() {
        "adam" => {
            let mut o =
                set!(Adam::default(), "beta_1" => beta_1, "beta_2" => beta_2, "epsilon" => epsilon);
            if let Some(a) = b("amsgrad") {
                o = o.amsgrad(a);
            }
            Box::new(o)
        }
        "adamw" => {
            let o = AdamW::default();
            let inner =
                set!(o.into_adam(), "beta_1" => beta_1, "beta_2" => beta_2, "epsilon" => epsilon);
            let inner = match b("amsgrad") {
                Some(a) => inner.amsgrad(a),
                None => inner,
            };
            Box::new(AdamW::from_adam(inner))
        }
        "sgd" => {
            let mut o = set!(SGD::default(), "momentum" => momentum);
            if let Some(n) = b("nesterov") {
                o = o.nesterov(n);
            }
            Box::new(o)
        }
        "rmsprop" => {
            let mut o = set!(RMSprop::default(), "rho" => rho, "momentum" => momentum, "epsilon" => epsilon);
            if let Some(x) = b("centered") {
                o = o.centered(x);
            }
            Box::new(o)
        }
        "nadam" => Box::new(
            set!(Nadam::default(), "beta_1" => beta_1, "beta_2" => beta_2, "epsilon" => epsilon),
        ),
        "adamax" => Box::new(
            set!(Adamax::default(), "beta_1" => beta_1, "beta_2" => beta_2, "epsilon" => epsilon),
        ),
        "adagrad" => Box::new(
            set!(Adagrad::default(), "initial_accumulator_value" => initial_accumulator_value, "epsilon" => epsilon),
        ),
        "lion" => Box::new(set!(Lion::default(), "beta_1" => beta_1, "beta_2" => beta_2)),
        "adadelta" => Box::new(set!(Adadelta::default(), "rho" => rho, "epsilon" => epsilon)),
        "ftrl" => Box::new(set!(Ftrl::default(),
            "learning_rate_power" => learning_rate_power,
            "initial_accumulator_value" => initial_accumulator_value,
            "l1_regularization_strength" => l1_regularization_strength,
            "l2_regularization_strength" => l2_regularization_strength,
            "l2_shrinkage_regularization_strength" => l2_shrinkage_regularization_strength,
            "beta" => beta)),
        "lamb" => Box::new(
            set!(Lamb::default(), "beta_1" => beta_1, "beta_2" => beta_2, "epsilon" => epsilon),
        ),
        "adafactor" => {
            let mut o = set!(Adafactor::default(),
                "beta_2_decay" => beta_2_decay, "epsilon_1" => epsilon_1,
                "epsilon_2" => epsilon_2, "clip_threshold" => clip_threshold);
            if let Some(r) = b("relative_step") {
                o = o.relative_step(r);
            }
            Box::new(o)
        }
        _ => return Err(Error::unknown("optimizer", &class, NAMES)),
    };
    if let Some(r) = rate {
        check_lr(r)?;
        o.set_learning_rate(r);
    }
    let int = |k: &str| -> Result<Option<u64>> {
        match c.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x
                .as_u64()
                .or_else(|| {
                    x.as_f64()
                        .filter(|v| v.fract() == 0.0 && *v >= 0.0)
                        .map(|v| v as u64)
                })
                .map(Some)
                .ok_or_else(|| {
                    Error::arg(
                        k,
                        &class,
                        format!("expected a non-negative integer, received {x}"),
                    )
                }),
        }
    };
    if f("loss_scale_factor")?.is_some_and(|s| s != 1.0) {
        return Err(Error::arg(
            "loss_scale_factor",
            &class,
            "loss scaling (mixed precision) is not implemented in rkeras, which trains in float32",
        ));
    }
    let opts = o.options_mut();
    opts.schedule = schedule;
    opts.clipnorm = f("clipnorm")?;
    opts.global_clipnorm = f("global_clipnorm")?;
    opts.clipvalue = f("clipvalue")?;
    // AdamW's default decay stays unless the config names one (`null` included).
    if c.contains_key("weight_decay") {
        opts.weight_decay = f("weight_decay")?;
    }
    opts.use_ema = b("use_ema").unwrap_or(false);
    if let Some(m) = f("ema_momentum")? {
        opts.ema_momentum = m;
    }
    opts.ema_overwrite_frequency = int("ema_overwrite_frequency")?;
    // Keras treats 0 and 1 as no accumulation only when falsy (0); 1 is refused.
    opts.gradient_accumulation_steps = int("gradient_accumulation_steps")?.filter(|s| *s != 0);
    o.options().validate()?;
    Ok(o)
}
