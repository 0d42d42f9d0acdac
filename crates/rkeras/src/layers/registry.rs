//! Layers from Keras configs (`{"class_name": "Conv2D", "config": {...}}`), the inverse of
//! [`full_config`]: what loading a `.keras` file or a `config.json` needs.

use super::weight_options::{self, WeightOptions};
use super::*;
use crate::error::{Error, Result};
use serde_json::Value;

/// The Keras classes [`from_config`] knows, in the order of the layer files.
pub const KNOWN_CLASSES: &[&str] = super::REGISTERED_CLASSES;

/// How a layer is read from its Keras config: implemented in each layer's own file, next to
/// its [`Layer::config`], and registered with one line in `layers/mod.rs`.
pub(crate) trait FromConfig: Layer + Sized + 'static {
    /// The layer from the config read through `g` (whose errors name the layer and key).
    fn from_config(g: &Cfg<'_>) -> Result<Self>;
}

/// A registry entry: reads one class.
pub(crate) type Reader = fn(&Cfg<'_>) -> Result<Box<dyn Layer>>;

/// The [`Reader`] of class `T`.
pub(crate) fn read<T: FromConfig>(g: &Cfg<'_>) -> Result<Box<dyn Layer>> {
    Ok(Box::new(T::from_config(g)?))
}

pub(crate) fn bad(layer: &str, key: &str, want: &str, got: Option<&Value>) -> Error {
    Error::arg(
        key,
        layer,
        format!(
            "expected {want} in the config, found {}",
            got.map_or("nothing".to_string(), |v| v.to_string())
        ),
    )
}

/// Typed access to one layer config, with errors naming the layer and key.
pub(crate) struct Cfg<'a> {
    pub(crate) name: &'a str,
    pub(crate) c: &'a Map<String, Value>,
}

impl Cfg<'_> {
    /// A count (units, filters, sizes): a positive integer no larger than 2^20.
    pub(crate) fn usize(&self, k: &str) -> Result<usize> {
        self.c
            .get(k)
            .and_then(Value::as_u64)
            .filter(|v| (1..=1 << 20).contains(v))
            .map(|v| v as usize)
            .ok_or_else(|| {
                bad(
                    self.name,
                    k,
                    "a positive integer up to 1048576",
                    self.c.get(k),
                )
            })
    }
    pub(crate) fn f64_or(&self, k: &str, d: f64) -> Result<f64> {
        match self.c.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| bad(self.name, k, "a number", Some(v))),
        }
    }
    pub(crate) fn str_or<'b>(&'b self, k: &str, d: &'b str) -> Result<&'b str> {
        match self.c.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => v
                .as_str()
                .ok_or_else(|| bad(self.name, k, "a string", Some(v))),
        }
    }
    pub(crate) fn bool_or(&self, k: &str, d: bool) -> Result<bool> {
        match self.c.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| bad(self.name, k, "true or false", Some(v))),
        }
    }
    pub(crate) fn pair(&self, k: &str) -> Result<(usize, usize)> {
        match self.c.get(k) {
            Some(Value::Array(a)) if a.len() == 2 => {
                let x = a[0]
                    .as_u64()
                    .ok_or_else(|| bad(self.name, k, "two integers", self.c.get(k)))?;
                let y = a[1]
                    .as_u64()
                    .ok_or_else(|| bad(self.name, k, "two integers", self.c.get(k)))?;
                Ok((x as usize, y as usize))
            }
            Some(Value::Number(n)) if n.as_u64().is_some() => {
                let v = n.as_u64().unwrap_or(0) as usize;
                Ok((v, v))
            }
            other => Err(bad(self.name, k, "two integers", other)),
        }
    }
    pub(crate) fn pair_or(&self, k: &str, d: (usize, usize)) -> Result<(usize, usize)> {
        match self.c.get(k) {
            None | Some(Value::Null) => Ok(d),
            _ => self.pair(k),
        }
    }
    /// `((top, bottom), (left, right))` from a number, two numbers or two pairs.
    pub(crate) fn sides(&self, k: &str) -> Result<((usize, usize), (usize, usize))> {
        let err = || {
            bad(
                self.name,
                k,
                "a number, two numbers or two pairs",
                self.c.get(k),
            )
        };
        let num = |v: &Value| v.as_u64().filter(|n| *n <= 1 << 20).map(|n| n as usize);
        let pair = |v: &Value| match v {
            Value::Array(a) if a.len() == 2 => Some((num(&a[0])?, num(&a[1])?)),
            other => num(other).map(|n| (n, n)),
        };
        match self.c.get(k) {
            Some(Value::Array(a)) if a.len() == 2 => {
                Ok((pair(&a[0]).ok_or_else(err)?, pair(&a[1]).ok_or_else(err)?))
            }
            Some(v) => num(v).map(|n| ((n, n), (n, n))).ok_or_else(err),
            None => Err(err()),
        }
    }
    /// A list of integers (`target_shape`, `dims`), each within `lo..=2^20`.
    pub(crate) fn ints(&self, k: &str, lo: i64) -> Result<Vec<i64>> {
        let err = || bad(self.name, k, "a list of integers", self.c.get(k));
        self.c
            .get(k)
            .and_then(Value::as_array)
            .ok_or_else(err)?
            .iter()
            .map(|v| {
                v.as_i64()
                    .filter(|n| (lo..=1 << 20).contains(n))
                    .ok_or_else(err)
            })
            .collect()
    }
    /// The normalization axis: an integer or a one-element list.
    pub(crate) fn axis(&self) -> Result<i64> {
        match self.c.get("axis") {
            None | Some(Value::Null) => Ok(-1),
            Some(Value::Array(a)) if a.len() == 1 => a[0]
                .as_i64()
                .ok_or_else(|| bad(self.name, "axis", "an integer", self.c.get("axis"))),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| bad(self.name, "axis", "an integer", Some(v))),
        }
    }
    /// The config's `<weight>_regularizer` and `<weight>_constraint` entries.
    pub(crate) fn weight_options(
        &self,
        slots: &'static [weight_options::Slot],
    ) -> Result<WeightOptions> {
        WeightOptions::from_config(slots, self.name, self.c)
    }
    /// Refuses keys rkeras does not implement for this layer unless they are unset (`null`).
    pub(crate) fn unsupported_if_set(&self, keys: &[&str]) -> Result<()> {
        for k in keys {
            if let Some(v) = self.c.get(*k).filter(|v| !v.is_null()) {
                return Err(Error::arg(
                    k,
                    self.name,
                    format!("expected null (rkeras does not implement it here yet), found {v}"),
                ));
            }
        }
        Ok(())
    }
    pub(crate) fn seed(&self) -> Option<u64> {
        self.c.get("seed").and_then(Value::as_u64)
    }
    /// An activation: a string, or a serialized object with a `config.name`.
    pub(crate) fn activation(&self) -> Result<String> {
        match self.c.get("activation") {
            None | Some(Value::Null) => Ok("linear".into()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Object(o)) => o
                .get("config")
                .and_then(|c| c.get("name"))
                .or_else(|| o.get("class_name"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    bad(
                        self.name,
                        "activation",
                        "an activation name",
                        self.c.get("activation"),
                    )
                }),
            other => Err(bad(self.name, "activation", "an activation name", other)),
        }
    }
    /// An initializer: a name, or `{"class_name": "VarianceScaling", "config": {...}}` with
    /// its settings and seed.
    pub(crate) fn initializer(&self, k: &str, d: &str) -> Result<crate::init::InitArg> {
        match self.c.get(k) {
            None | Some(Value::Null) => Ok(d.into()),
            Some(Value::String(s)) => Ok(s.as_str().into()),
            Some(v @ Value::Object(_)) => crate::init::Initializer::from_config(v)
                .map(Into::into)
                .map_err(|e| Error::arg(k, self.name, e.to_string())),
            other => Err(bad(self.name, k, "an initializer", other)),
        }
    }
    pub(crate) fn factor(&self, k: &str) -> Result<FactorArg> {
        match self.c.get(k) {
            Some(Value::Array(a)) if a.len() == 2 => match (a[0].as_f64(), a[1].as_f64()) {
                (Some(x), Some(y)) => Ok(FactorArg::Pair(x, y)),
                _ => Err(bad(self.name, k, "a number or two numbers", self.c.get(k))),
            },
            Some(v) => v
                .as_f64()
                .map(FactorArg::Scalar)
                .ok_or_else(|| bad(self.name, k, "a number or two numbers", Some(v))),
            None => Err(bad(self.name, k, "a number or two numbers", None)),
        }
    }
    pub(crate) fn range_or(&self, k: &str, d: (f64, f64)) -> Result<(f64, f64)> {
        match self.c.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(Value::Array(a)) if a.len() == 2 => match (a[0].as_f64(), a[1].as_f64()) {
                (Some(x), Some(y)) => Ok((x, y)),
                _ => Err(bad(self.name, k, "two numbers", self.c.get(k))),
            },
            other => Err(bad(self.name, k, "two numbers", other)),
        }
    }
}

/// Applies the config's `seed`, when it has one, to a layer builder.
macro_rules! seeded {
    ($layer:expr, $cfg:expr) => {
        match $cfg.seed() {
            Some(s) => $layer.seed(s),
            None => $layer,
        }
    };
}
pub(crate) use seeded;

/// A layer from one entry of a Keras `layers` list: `{"class_name": ..., "config": {...}}`.
///
/// # Errors
/// An unknown class (named, with the list of known ones) or a config key of the wrong type.
pub fn from_config(entry: &Value) -> Result<Box<dyn Layer>> {
    let class = entry
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Data(format!("a layer entry has no \"class_name\": {entry}")))?;
    let empty = Map::new();
    let c = entry
        .get("config")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let name = c.get("name").and_then(Value::as_str).unwrap_or(class);
    let g = Cfg { name, c };
    g.unsupported_if_set(&["activity_regularizer"])?;
    let mut layer: Box<dyn Layer> = match class {
        "Sequential" | "Functional" | "Model" => {
            return Err(Error::Data(format!(
                "layer \"{name}\" is a whole {class} model: it is read with rkeras::saving::from_config (a model nested in a model config is read with the model that holds it)"
            )))
        }
        other => match super::REGISTRY.iter().find(|(c, _)| *c == other) {
            Some((_, read)) => read(&g)?,
            None => return Err(Error::unknown("layer", other, KNOWN_CLASSES)),
        },
    };
    if let Some(n) = c.get("name").and_then(Value::as_str) {
        layer.base_mut().name = Some(n.to_string());
    }
    if let Some(t) = c.get("trainable").and_then(Value::as_bool) {
        layer.base_mut().trainable = t;
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_configs_of_every_layer() {
        let layers: Vec<Box<dyn Layer>> = vec![
            Conv2D::new(8, (3, 2))
                .strides(2)
                .padding("same")
                .activation("relu")
                .use_bias(false)
                .kernel_initializer("he_normal")
                .into(),
            Dense::new(5).activation("softmax").into(),
            Dense::new(2)
                .kernel_regularizer(crate::regularizers::Regularizer::L1L2(0.01, 0.02))
                .bias_regularizer(crate::regularizers::Regularizer::L1(0.5))
                .kernel_constraint(crate::constraints::Constraint::MaxNorm {
                    max_value: 3.0,
                    axis: vec![0],
                })
                .bias_constraint(crate::constraints::Constraint::NonNeg)
                .into(),
            Conv2D::new(4, 3)
                .groups(2)
                .dilation_rate((2, 1))
                .activation("tanh")
                .into(),
            Conv2D::new(2, 3)
                .kernel_regularizer(crate::regularizers::Regularizer::L2(1e-4))
                .into(),
            MaxPooling2D::new((3, 3)).strides(2).into(),
            AveragePooling2D::new(2).padding("same").into(),
            Flatten::new().into(),
            Dropout::new(0.25).seed(3).into(),
            Activation::new("elu").into(),
            Rescaling::new(1.0 / 255.0).offset(-1.0).into(),
            Resizing::new(4, 5).interpolation("nearest").into(),
            CenterCrop::new(3, 3).into(),
            RandomFlip::new("horizontal").seed(2).into(),
            RandomRotation::new(0.1).fill_mode("constant").into(),
            RandomZoom::new((0.1, 0.2)).width_factor(0.3).into(),
            RandomTranslation::new(0.1, (-0.2, 0.2)).into(),
            RandomContrast::new(0.2).into(),
            RandomBrightness::new((0.1, 0.3)).into(),
            RandomCrop::new(3, 3).seed(1).into(),
            RandomShear::new(0.2, (0.1, 0.3))
                .fill_mode("nearest")
                .into(),
            BatchNormalization::new().momentum(0.9).epsilon(1e-5).into(),
            BatchNormalization::new().center(false).into(),
            BatchNormalization::new()
                .gamma_regularizer(crate::regularizers::Regularizer::L2(0.1))
                .beta_constraint(crate::constraints::Constraint::NonNeg)
                .into(),
            LayerNormalization::new().scale(false).into(),
            LayerNormalization::new()
                .beta_regularizer(crate::regularizers::Regularizer::L1(0.2))
                .into(),
            GlobalAveragePooling2D::new().keepdims(true).into(),
            GlobalMaxPooling2D::new().into(),
            ZeroPadding2D::new(((1, 2), (3, 4))).into(),
            Cropping2D::new((1, 2)).into(),
            UpSampling2D::new((2, 3)).into(),
            UpSampling2D::new(2).interpolation("bilinear").into(),
            SeparableConv2D::new(4, (3, 2))
                .strides(2)
                .padding("same")
                .depth_multiplier(2)
                .dilation_rate(1)
                .activation("relu")
                .use_bias(false)
                .pointwise_initializer("he_normal")
                .into(),
            SeparableConv2D::new(2, 3)
                .depthwise_regularizer(crate::regularizers::Regularizer::L2(0.01))
                .pointwise_regularizer(crate::regularizers::Regularizer::L1(0.02))
                .bias_regularizer(crate::regularizers::Regularizer::L1L2(0.1, 0.2))
                .pointwise_constraint(crate::constraints::Constraint::UnitNorm { axis: vec![2] })
                .into(),
            Conv2DTranspose::new(3, 3)
                .strides(2)
                .padding("same")
                .output_padding(1)
                .activation("sigmoid")
                .kernel_regularizer(crate::regularizers::Regularizer::L2(1e-3))
                .into(),
            Conv2DTranspose::new(2, (2, 3)).into(),
            Reshape::new(&[4, -1]).into(),
            Permute::new(&[2, 1, 3]).into(),
            SpatialDropout2D::new(0.3).seed(5).into(),
            DepthwiseConv2D::new((3, 2))
                .strides(2)
                .padding("same")
                .depth_multiplier(2)
                .activation("relu")
                .into(),
            DepthwiseConv2D::new(3)
                .depthwise_regularizer(crate::regularizers::Regularizer::L2(0.3))
                .depthwise_constraint(crate::constraints::Constraint::MaxNorm {
                    max_value: 2.0,
                    axis: vec![0, 1, 2],
                })
                .bias_constraint(crate::constraints::Constraint::NonNeg)
                .into(),
            Add::new().into(),
            Subtract::new().into(),
            Multiply::new().into(),
            Average::new().into(),
            Maximum::new().into(),
            Minimum::new().into(),
            Concatenate::new().axis(2).into(),
        ];
        for mut l in layers {
            l.base_mut().name = Some("x".into());
            let cfg = serde_json::json!({"class_name": l.class_name(), "config": full_config(l.as_ref())});
            let back = from_config(&cfg).expect("from_config");
            assert_eq!(
                full_config(back.as_ref()),
                full_config(l.as_ref()),
                "{}",
                l.class_name()
            );
        }
    }

    /// Keras's regularizer and constraint entries of the depthwise, separable and
    /// normalization layers are read (not dropped); the activity regularizer, which rkeras
    /// does not implement, is refused by name rather than ignored.
    #[test]
    fn weight_options_of_every_layer_are_read_or_refused() {
        let l2 = serde_json::json!({"class_name": "L2", "config": {"l2": 0.25}});
        let sep = from_config(
            &serde_json::json!({"class_name": "SeparableConv2D", "config": {
                "name": "sep", "filters": 2, "kernel_size": [3, 3], "pointwise_regularizer": l2
            }}),
        )
        .expect("separable");
        assert_eq!(
            full_config(sep.as_ref())["pointwise_regularizer"]["config"]["l2"],
            0.25
        );
        let bn = from_config(
            &serde_json::json!({"class_name": "BatchNormalization", "config": {
                "name": "bn", "gamma_regularizer": l2
            }}),
        )
        .expect("bn");
        assert_eq!(
            full_config(bn.as_ref())["gamma_regularizer"]["config"]["l2"],
            0.25
        );
        for class in ["Dense", "Conv2D", "DepthwiseConv2D"] {
            let e = from_config(&serde_json::json!({"class_name": class, "config": {
                "name": "act", "units": 2, "filters": 2, "kernel_size": [3, 3],
                "activity_regularizer": l2
            }}))
            .expect_err("activity regularizer");
            assert!(
                e.to_string().contains("activity_regularizer") && e.to_string().contains("act"),
                "{e}"
            );
        }
        let e = from_config(
            &serde_json::json!({"class_name": "DepthwiseConv2D", "config": {
                "name": "dw", "kernel_size": [3, 3], "depthwise_regularizer": "l3"
            }}),
        )
        .expect_err("unknown regularizer");
        assert!(e.to_string().contains("depthwise_regularizer"), "{e}");
    }

    /// Every registered class is read by its own reader: one config holding every
    /// required key of every layer gives each class a layer of that class.
    #[test]
    fn every_registered_class_reads_its_own_layer() {
        let config = serde_json::json!({
            "name": "x", "batch_shape": [null, 2], "filters": 2, "kernel_size": [3, 3],
            "units": 2, "height": 2, "width": 2, "factor": 0.1, "height_factor": 0.1,
            "width_factor": 0.1, "groups": 1, "cropping": 1,
            "target_shape": [2], "dims": [1], "projection_dim": 2
        });
        assert_eq!(KNOWN_CLASSES.len(), super::super::REGISTRY.len());
        for class in KNOWN_CLASSES {
            let mut config = config.clone();
            if *class == "ZeroPadding2D" {
                config["padding"] = 1.into(); // a number here, a string for convolutions
            }
            let layer = from_config(&serde_json::json!({"class_name": class, "config": config}))
                .unwrap_or_else(|e| panic!("{class}: {e}"));
            assert_eq!(layer.class_name(), *class);
            assert_eq!(layer.name(), "x");
        }
    }

    #[test]
    fn unknown_classes_are_named() {
        let e = from_config(&serde_json::json!({"class_name": "GroupNormalization", "config": {}}))
            .expect_err("unknown");
        assert!(e.to_string().contains("GroupNormalization"), "{e}");
    }
}
