//! Optimizers with Keras's update formulas and defaults: [`Adam`], [`AdamW`], [`SGD`],
//! [`RMSprop`].
//!
//! An optimizer is built once for the list of trainable weight sizes (its slots), then each
//! step calls [`Optimizer::begin_step`] and [`Optimizer::update`] for every trainable weight,
//! in model order, in place and without allocating.

use crate::error::{Error, Result};
use serde_json::Value;

mod adam;
mod rmsprop;
mod sgd;

pub use adam::{Adam, AdamW};
pub use rmsprop::RMSprop;
pub use sgd::SGD;

/// An optimizer.
pub trait Optimizer: Send + std::fmt::Debug {
    /// Keras class name (`Adam`).
    fn class_name(&self) -> &'static str;
    /// Creates the slots for trainable weights of these sizes (model order).
    fn build(&mut self, sizes: &[usize]);
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
spec_from!(Adam, AdamW, SGD, RMSprop);

const NAMES: &[&str] = &["adam", "adamw", "sgd", "rmsprop"];

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

/// Keras's base optimizer config keys.
pub(crate) fn base_config(
    name: &str,
    lr: f32,
    weight_decay: Option<f32>,
) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), Value::from(name));
    m.insert("learning_rate".into(), Value::from(lr as f64));
    m.insert(
        "weight_decay".into(),
        weight_decay.map_or(Value::Null, py_float),
    );
    for k in ["clipnorm", "global_clipnorm", "clipvalue"] {
        m.insert(k.into(), Value::Null);
    }
    m.insert("use_ema".into(), Value::from(false));
    m.insert("ema_momentum".into(), Value::from(0.99));
    for k in [
        "ema_overwrite_frequency",
        "loss_scale_factor",
        "gradient_accumulation_steps",
    ] {
        m.insert(k.into(), Value::Null);
    }
    m
}

pub(crate) fn wrap(class: &str, cfg: serde_json::Map<String, Value>) -> Value {
    serde_json::json!({"module": "keras.optimizers", "class_name": class, "config": cfg, "registered_name": null})
}
