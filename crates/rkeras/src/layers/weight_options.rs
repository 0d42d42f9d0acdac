//! The regularizers and constraints of a layer's weights, shared by the layers that have
//! them (`Conv2D`, `Dense`, the depthwise, separable and transposed convolutions, the
//! normalizations): the builder methods, the penalty and its gradient, the constraints
//! applied after each update, and their Keras config keys.

use super::Param;
use crate::constraints::Constraint;
use crate::error::{Error, Result};
use crate::regularizers::Regularizer;
use serde_json::{Map, Value};

/// One weight a regularizer or constraint can apply to: the prefix of its Keras config keys
/// (`"kernel"` for `kernel_regularizer`) and the name of the [`Param`] it acts on.
pub(crate) type Slot = (&'static str, &'static str);

/// `Conv2D`, `Dense`, `Conv2DTranspose`.
pub(crate) const KERNEL_BIAS: &[Slot] = &[("kernel", "kernel"), ("bias", "bias")];
/// `DepthwiseConv2D` (its kernel variable is named `kernel`).
pub(crate) const DEPTHWISE_BIAS: &[Slot] = &[("depthwise", "kernel"), ("bias", "bias")];
/// `SeparableConv2D`.
pub(crate) const SEPARABLE: &[Slot] = &[
    ("depthwise", "depthwise_kernel"),
    ("pointwise", "pointwise_kernel"),
    ("bias", "bias"),
];
/// `PReLU`.
pub(crate) const ALPHA: &[Slot] = &[("alpha", "alpha")];
/// `BatchNormalization`, `LayerNormalization`.
pub(crate) const GAMMA_BETA: &[Slot] = &[("gamma", "gamma"), ("beta", "beta")];

/// Keras's `<weight>_regularizer` and `<weight>_constraint` arguments of one layer.
#[derive(Clone, Debug)]
pub(crate) struct WeightOptions {
    slots: &'static [Slot],
    regularizers: Vec<Option<Regularizer>>,
    constraints: Vec<Option<Constraint>>,
}

impl Default for WeightOptions {
    fn default() -> Self {
        WeightOptions::new(KERNEL_BIAS)
    }
}

impl WeightOptions {
    /// No regularizer or constraint on any of `slots`.
    pub fn new(slots: &'static [Slot]) -> Self {
        WeightOptions {
            slots,
            regularizers: vec![None; slots.len()],
            constraints: vec![None; slots.len()],
        }
    }

    fn index(&self, key: &str) -> Option<usize> {
        self.slots.iter().position(|(k, _)| *k == key)
    }

    /// Sets the regularizer of the weight whose config prefix is `key` (a known slot).
    pub fn set_regularizer(&mut self, key: &str, r: Regularizer) {
        debug_assert!(self.index(key).is_some(), "no weight slot {key}");
        if let Some(i) = self.index(key) {
            self.regularizers[i] = Some(r);
        }
    }

    /// Sets the constraint of the weight whose config prefix is `key` (a known slot).
    pub fn set_constraint(&mut self, key: &str, c: Constraint) {
        debug_assert!(self.index(key).is_some(), "no weight slot {key}");
        if let Some(i) = self.index(key) {
            self.constraints[i] = Some(c);
        }
    }

    /// The slot of a param (by its name), if it has one.
    fn slot(&self, p: &Param) -> Option<usize> {
        self.slots.iter().position(|(_, name)| *name == p.name)
    }

    /// Checks the constraints' axes against the weights, naming the layer and argument.
    pub fn check(&self, layer: &str, params: &[Param]) -> Result<()> {
        for p in params {
            let Some(si) = self.slot(p) else { continue };
            if let Some(c) = &self.constraints[si] {
                c.check(&p.shape).map_err(|e| {
                    Error::arg(
                        &format!("{}_constraint", self.slots[si].0),
                        layer,
                        e.to_string(),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Adds the penalties' gradients to the weights' and returns the penalty.
    pub fn regularize(&self, params: &mut [Param]) -> f64 {
        let mut total = 0.0;
        for p in params.iter_mut() {
            let Some(si) = self.slot(p) else { continue };
            if let Some(r) = &self.regularizers[si] {
                r.add_grad(&p.value, &mut p.grad);
                total += r.penalty(&p.value);
            }
        }
        total
    }

    /// The penalty alone.
    pub fn penalty(&self, params: &[Param]) -> f64 {
        params
            .iter()
            .filter_map(|p| Some((p, self.regularizers[self.slot(p)?]?)))
            .map(|(p, r)| r.penalty(&p.value))
            .sum()
    }

    /// Applies the constraints in place.
    pub fn constrain(&self, params: &mut [Param]) {
        for p in params.iter_mut() {
            let Some(si) = self.slot(p) else { continue };
            if let Some(c) = &self.constraints[si] {
                c.apply(&mut p.value, &p.shape);
            }
        }
    }

    /// Writes `<weight>_regularizer` and `<weight>_constraint` (config or `null`) for every
    /// slot into a layer config, replacing the entries already there.
    pub fn write_config(&self, config: &mut Map<String, Value>) {
        for (i, (key, _)) in self.slots.iter().enumerate() {
            config.insert(
                format!("{key}_regularizer"),
                self.regularizers[i].map_or(Value::Null, |r| r.config()),
            );
            config.insert(
                format!("{key}_constraint"),
                self.constraints[i]
                    .as_ref()
                    .map_or(Value::Null, |c| c.config()),
            );
        }
    }

    /// `config` with [`WeightOptions::write_config`] applied.
    pub fn with_config(&self, mut config: Map<String, Value>) -> Map<String, Value> {
        self.write_config(&mut config);
        config
    }

    /// Reads `<weight>_regularizer` and `<weight>_constraint` of every slot from a layer
    /// config; a malformed entry is an error naming the layer and the key.
    pub fn from_config(
        slots: &'static [Slot],
        layer: &str,
        config: &Map<String, Value>,
    ) -> Result<Self> {
        let mut w = WeightOptions::new(slots);
        for (i, (key, _)) in slots.iter().enumerate() {
            let k = format!("{key}_regularizer");
            w.regularizers[i] = Regularizer::from_config(config.get(&k).unwrap_or(&Value::Null))
                .map_err(|e| Error::arg(&k, layer, e.to_string()))?;
            let k = format!("{key}_constraint");
            w.constraints[i] = Constraint::from_config(config.get(&k).unwrap_or(&Value::Null))
                .map_err(|e| Error::arg(&k, layer, e.to_string()))?;
        }
        Ok(w)
    }
}

/// The builder methods of a layer with a `weights: WeightOptions` field: for each slot
/// `"prefix" => regularizer_method, constraint_method`, plus `with_weight_options` (used by
/// the config reader).
macro_rules! weight_option_builders {
    ($t:ty: $($key:literal => $reg:ident, $con:ident);+ $(;)?) => {
        impl $t {
            $(
                #[doc = concat!("A penalty on the ", $key, " weight, added to the loss (Keras `",
                    stringify!($reg), "`): `Regularizer::L2(0.01)` and the like.")]
                pub fn $reg(mut self, r: $crate::regularizers::Regularizer) -> Self {
                    self.weights.set_regularizer($key, r);
                    self
                }
                #[doc = concat!("A constraint applied to the ", $key,
                    " weight after each update (Keras `", stringify!($con), "`).")]
                pub fn $con(mut self, c: $crate::constraints::Constraint) -> Self {
                    self.weights.set_constraint($key, c);
                    self
                }
            )+
            /// Replaces all the regularizers and constraints (from a Keras config).
            pub(crate) fn with_weight_options(
                mut self,
                w: $crate::layers::weight_options::WeightOptions,
            ) -> Self {
                self.weights = w;
                self
            }
        }
    };
}
pub(crate) use weight_option_builders;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_param_names_not_positions() {
        let mut w = WeightOptions::new(SEPARABLE);
        w.set_regularizer("pointwise", Regularizer::L2(0.5));
        w.set_constraint("bias", Constraint::NonNeg);
        // Without a bias, and in any order, the options find their weights by name.
        let mut params = vec![
            Param::new("pointwise_kernel", vec![2], vec![1.0, -2.0]),
            Param::new("depthwise_kernel", vec![1], vec![3.0]),
            Param::new("bias", vec![2], vec![-1.0, 1.0]),
        ];
        assert_eq!(w.penalty(&params), 0.5 * 5.0);
        assert_eq!(w.regularize(&mut params), 2.5);
        assert_eq!(params[0].grad, vec![1.0, -2.0]);
        assert_eq!(params[1].grad, vec![0.0]);
        w.constrain(&mut params);
        assert_eq!(params[2].value, vec![0.0, 1.0]);
        let mut cfg = Map::new();
        w.write_config(&mut cfg);
        assert!(cfg["depthwise_regularizer"].is_null());
        assert_eq!(cfg["pointwise_regularizer"]["config"]["l2"], 0.5);
        let back = WeightOptions::from_config(SEPARABLE, "sep", &cfg).expect("read");
        assert_eq!(back.regularizers, w.regularizers);
        let mut bad = cfg.clone();
        bad.insert("bias_constraint".into(), Value::String("huge".into()));
        let e = WeightOptions::from_config(SEPARABLE, "sep", &bad).expect_err("bad");
        assert!(e.to_string().contains("bias_constraint") && e.to_string().contains("sep"));
    }
}
