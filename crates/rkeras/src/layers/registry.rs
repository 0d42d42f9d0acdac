//! Layers from Keras configs (`{"class_name": "Conv2D", "config": {...}}`), the inverse of
//! [`full_config`]: what loading a `.keras` file or a `config.json` needs.

use super::weight_options::{self, WeightOptions};
use super::*;
use crate::error::{Error, Result};
use serde_json::Value;

/// The classes [`from_config`] knows.
pub const KNOWN_CLASSES: [&str; 48] = [
    "InputLayer",
    "Conv2D",
    "Conv2DTranspose",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Dense",
    "MaxPooling2D",
    "AveragePooling2D",
    "Flatten",
    "Dropout",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "PReLU",
    "Rescaling",
    "Resizing",
    "CenterCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
    "RandomCrop",
    "BatchNormalization",
    "LayerNormalization",
    "Normalization",
    "UnitNormalization",
    "GroupNormalization",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "ZeroPadding2D",
    "Cropping2D",
    "UpSampling2D",
    "Reshape",
    "Permute",
    "SpatialDropout2D",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "LayerScale",
    "CustomScaleLayer",
];

fn bad(layer: &str, key: &str, want: &str, got: Option<&Value>) -> Error {
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
struct Cfg<'a> {
    name: &'a str,
    c: &'a Map<String, Value>,
}

impl Cfg<'_> {
    /// A count (units, filters, sizes): a positive integer no larger than 2^20.
    fn usize(&self, k: &str) -> Result<usize> {
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
    fn f64_or(&self, k: &str, d: f64) -> Result<f64> {
        match self.c.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| bad(self.name, k, "a number", Some(v))),
        }
    }
    fn str_or<'b>(&'b self, k: &str, d: &'b str) -> Result<&'b str> {
        match self.c.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => v
                .as_str()
                .ok_or_else(|| bad(self.name, k, "a string", Some(v))),
        }
    }
    fn bool_or(&self, k: &str, d: bool) -> Result<bool> {
        match self.c.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| bad(self.name, k, "true or false", Some(v))),
        }
    }
    fn pair(&self, k: &str) -> Result<(usize, usize)> {
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
    fn pair_or(&self, k: &str, d: (usize, usize)) -> Result<(usize, usize)> {
        match self.c.get(k) {
            None | Some(Value::Null) => Ok(d),
            _ => self.pair(k),
        }
    }
    /// `((top, bottom), (left, right))` from a number, two numbers or two pairs.
    fn sides(&self, k: &str) -> Result<((usize, usize), (usize, usize))> {
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
    fn ints(&self, k: &str, lo: i64) -> Result<Vec<i64>> {
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
    fn axis(&self) -> Result<i64> {
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
    fn weight_options(&self, slots: &'static [weight_options::Slot]) -> Result<WeightOptions> {
        WeightOptions::from_config(slots, self.name, self.c)
    }
    /// Refuses keys rkeras does not implement for this layer unless they are unset (`null`).
    fn unsupported_if_set(&self, keys: &[&str]) -> Result<()> {
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
    fn seed(&self) -> Option<u64> {
        self.c.get("seed").and_then(Value::as_u64)
    }
    /// An activation: a string, or a serialized object with a `config.name`.
    fn activation(&self) -> Result<String> {
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
    fn initializer(&self, k: &str, d: &str) -> Result<crate::init::InitArg> {
        match self.c.get(k) {
            None | Some(Value::Null) => Ok(d.into()),
            Some(Value::String(s)) => Ok(s.as_str().into()),
            Some(v @ Value::Object(_)) => crate::init::Initializer::from_config(v)
                .map(Into::into)
                .map_err(|e| Error::arg(k, self.name, e.to_string())),
            other => Err(bad(self.name, k, "an initializer", other)),
        }
    }
    fn factor(&self, k: &str) -> Result<FactorArg> {
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
    fn range_or(&self, k: &str, d: (f64, f64)) -> Result<(f64, f64)> {
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
        "InputLayer" => {
            let shape = c
                .get("batch_shape")
                .or_else(|| c.get("batch_input_shape"))
                .and_then(Value::as_array)
                .ok_or_else(|| bad(name, "batch_shape", "a shape", c.get("batch_shape")))?;
            let dims: Option<Vec<usize>> = shape
                .get(1..)
                .filter(|d| !d.is_empty())
                .and_then(|d| d.iter().map(|v| v.as_u64().map(|v| v as usize)).collect());
            let dims = dims.ok_or_else(|| {
                bad(
                    name,
                    "batch_shape",
                    "known dimensions after the batch axis",
                    c.get("batch_shape"),
                )
            })?;
            InputLayer::new(dims).into()
        }
        "Conv2D" => {
            let groups = match c.get("groups") {
                None | Some(Value::Null) => 1,
                Some(_) => g.usize("groups")?,
            };
            let conv = Conv2D::new(g.usize("filters")?, g.pair("kernel_size")?)
                .groups(groups)
                .strides(g.pair_or("strides", (1, 1))?)
                .padding(g.str_or("padding", "valid")?)
                .dilation_rate(g.pair_or("dilation_rate", (1, 1))?)
                .activation(&g.activation()?)
                .use_bias(g.bool_or("use_bias", true)?)
                .kernel_initializer(g.initializer("kernel_initializer", "glorot_uniform")?)
                .bias_initializer(g.initializer("bias_initializer", "zeros")?);
            conv.with_weight_options(g.weight_options(weight_options::KERNEL_BIAS)?)
                .into()
        }
        "Conv2DTranspose" => {
            let mut conv = Conv2DTranspose::new(g.usize("filters")?, g.pair("kernel_size")?)
                .strides(g.pair_or("strides", (1, 1))?)
                .padding(g.str_or("padding", "valid")?)
                .dilation_rate(g.pair_or("dilation_rate", (1, 1))?)
                .activation(&g.activation()?)
                .use_bias(g.bool_or("use_bias", true)?)
                .kernel_initializer(g.initializer("kernel_initializer", "glorot_uniform")?)
                .bias_initializer(g.initializer("bias_initializer", "zeros")?);
            if !matches!(c.get("output_padding"), None | Some(Value::Null)) {
                conv = conv.output_padding(g.pair("output_padding")?);
            }
            conv.with_weight_options(g.weight_options(weight_options::KERNEL_BIAS)?)
                .into()
        }
        "SeparableConv2D" => SeparableConv2D::new(g.usize("filters")?, g.pair("kernel_size")?)
            .strides(g.pair_or("strides", (1, 1))?)
            .padding(g.str_or("padding", "valid")?)
            .dilation_rate(g.pair_or("dilation_rate", (1, 1))?)
            .depth_multiplier(match c.get("depth_multiplier") {
                None | Some(Value::Null) => 1,
                Some(_) => g.usize("depth_multiplier")?,
            })
            .activation(&g.activation()?)
            .use_bias(g.bool_or("use_bias", true)?)
            .depthwise_initializer(g.initializer("depthwise_initializer", "glorot_uniform")?)
            .pointwise_initializer(g.initializer("pointwise_initializer", "glorot_uniform")?)
            .bias_initializer(g.initializer("bias_initializer", "zeros")?)
            .with_weight_options(g.weight_options(weight_options::SEPARABLE)?)
            .into(),
        "Dense" => {
            let dense = Dense::new(g.usize("units")?)
                .activation(&g.activation()?)
                .use_bias(g.bool_or("use_bias", true)?)
                .kernel_initializer(g.initializer("kernel_initializer", "glorot_uniform")?)
                .bias_initializer(g.initializer("bias_initializer", "zeros")?);
            dense
                .with_weight_options(g.weight_options(weight_options::KERNEL_BIAS)?)
                .into()
        }
        "MaxPooling2D" | "AveragePooling2D" => {
            let pool = g.pair_or("pool_size", (2, 2))?;
            let strides = g.pair_or("strides", pool)?;
            let padding = g.str_or("padding", "valid")?;
            if class == "MaxPooling2D" {
                MaxPooling2D::new(pool)
                    .strides(strides)
                    .padding(padding)
                    .into()
            } else {
                AveragePooling2D::new(pool)
                    .strides(strides)
                    .padding(padding)
                    .into()
            }
        }
        "Flatten" => Flatten::new().into(),
        "Dropout" => {
            let mut d = Dropout::new(g.f64_or("rate", 0.5)? as f32);
            d = seeded!(d, g);
            match c.get("noise_shape") {
                None | Some(Value::Null) => {}
                Some(Value::Array(a)) if !a.is_empty() && a[0].is_null() => {
                    let dims = a[1..]
                        .iter()
                        .map(|v| match v {
                            Value::Null => Some(None),
                            v => v.as_u64().map(|n| Some(n as usize)),
                        })
                        .collect::<Option<Vec<Option<usize>>>>()
                        .ok_or_else(|| bad(name, "noise_shape", "sizes or nulls", c.get("noise_shape")))?;
                    d = d.noise_shape(&dims);
                }
                Some(v) => {
                    return Err(bad(
                        name,
                        "noise_shape",
                        "a shape whose batch axis is null (one draw per sample)",
                        Some(v),
                    ))
                }
            }
            d.into()
        }
        "Activation" => Activation::new(&g.activation()?).into(),
        "ReLU" => {
            let max_value = match c.get("max_value") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_f64()
                        .ok_or_else(|| bad(name, "max_value", "a number or null", Some(v)))?,
                ),
            };
            ReLU::new()
                .max_value(max_value)
                .negative_slope(g.f64_or("negative_slope", 0.0)?)
                .threshold(g.f64_or("threshold", 0.0)?)
                .into()
        }
        // Keras 2 called the slope `alpha`.
        "LeakyReLU" => LeakyReLU::new()
            .negative_slope(g.f64_or("negative_slope", g.f64_or("alpha", 0.3)?)?)
            .into(),
        "ELU" => ELU::new().alpha(g.f64_or("alpha", 1.0)?).into(),
        "PReLU" => {
            let mut l = PReLU::new()
                .alpha_initializer(g.initializer("alpha_initializer", "zeros")?)
                .with_weight_options(g.weight_options(weight_options::ALPHA)?);
            match c.get("shared_axes") {
                None | Some(Value::Null) => {}
                Some(v) => {
                    let axes = v
                        .as_array()
                        .map(|a| a.iter().map(|x| x.as_u64().map(|x| x as usize)).collect())
                        .or_else(|| v.as_u64().map(|x| Some(vec![x as usize])))
                        .flatten()
                        .ok_or_else(|| bad(name, "shared_axes", "a list of axes", Some(v)))?;
                    l = l.shared_axes(&axes);
                }
            }
            l.into()
        }
        "Softmax" => {
            let axis = match c.get("axis") {
                None | Some(Value::Null) => Some(-1),
                Some(Value::Array(a)) if a.len() == 1 => a[0].as_i64(),
                Some(v) => v.as_i64(),
            }
            .ok_or_else(|| bad(name, "axis", "an integer", c.get("axis")))?;
            Softmax::new().axis(axis).into()
        }
        "Rescaling" => Rescaling::new(g.f64_or("scale", 1.0)?)
            .offset(g.f64_or("offset", 0.0)?)
            .into(),
        "Resizing" => Resizing::new(g.usize("height")?, g.usize("width")?)
            .interpolation(g.str_or("interpolation", "bilinear")?)
            .crop_to_aspect_ratio(g.bool_or("crop_to_aspect_ratio", false)?)
            .pad_to_aspect_ratio(g.bool_or("pad_to_aspect_ratio", false)?)
            .fill_mode(g.str_or("fill_mode", "constant")?)
            .fill_value(g.f64_or("fill_value", 0.0)?)
            .antialias(g.bool_or("antialias", false)?)
            .into(),
        "CenterCrop" => CenterCrop::new(g.usize("height")?, g.usize("width")?).into(),
        "RandomCrop" => {
            let mut l = RandomCrop::new(g.usize("height")?, g.usize("width")?);
            l = seeded!(l, g);
            l.into()
        }
        "RandomFlip" => {
            let mut l = RandomFlip::new(g.str_or("mode", "horizontal_and_vertical")?);
            l = seeded!(l, g);
            l.into()
        }
        "RandomRotation" => {
            let mut l = RandomRotation::new(g.factor("factor")?)
                .fill_mode(g.str_or("fill_mode", "reflect")?)
                .interpolation(g.str_or("interpolation", "bilinear")?)
                .fill_value(g.f64_or("fill_value", 0.0)?);
            l = seeded!(l, g);
            l.into()
        }
        "RandomZoom" => {
            let mut l = RandomZoom::new(g.factor("height_factor")?)
                .fill_mode(g.str_or("fill_mode", "reflect")?)
                .interpolation(g.str_or("interpolation", "bilinear")?)
                .fill_value(g.f64_or("fill_value", 0.0)?);
            if !matches!(c.get("width_factor"), None | Some(Value::Null)) {
                l = l.width_factor(g.factor("width_factor")?);
            }
            l = seeded!(l, g);
            l.into()
        }
        "RandomTranslation" => {
            let mut l =
                RandomTranslation::new(g.factor("height_factor")?, g.factor("width_factor")?)
                    .fill_mode(g.str_or("fill_mode", "reflect")?)
                    .interpolation(g.str_or("interpolation", "bilinear")?)
                    .fill_value(g.f64_or("fill_value", 0.0)?);
            l = seeded!(l, g);
            l.into()
        }
        "RandomContrast" => {
            let mut l = RandomContrast::new(g.factor("factor")?)
                .value_range(g.range_or("value_range", (0.0, 255.0))?);
            l = seeded!(l, g);
            l.into()
        }
        "RandomBrightness" => {
            let mut l = RandomBrightness::new(g.factor("factor")?)
                .value_range(g.range_or("value_range", (0.0, 255.0))?);
            l = seeded!(l, g);
            l.into()
        }
        "BatchNormalization" => BatchNormalization::new()
            .axis(g.axis()?)
            .momentum(g.f64_or("momentum", 0.99)? as f32)
            .epsilon(g.f64_or("epsilon", 1e-3)? as f32)
            .center(g.bool_or("center", true)?)
            .scale(g.bool_or("scale", true)?)
            .with_weight_options(g.weight_options(weight_options::GAMMA_BETA)?)
            .into(),
        "Normalization" => {
            let axis = match c.get("axis") {
                None => Some(-1),
                Some(Value::Null) => None,
                Some(Value::Array(a)) if a.len() == 1 => a[0].as_i64(),
                Some(v) => Some(
                    v.as_i64()
                        .ok_or_else(|| bad(name, "axis", "an axis or null", Some(v)))?,
                ),
            };
            let stat = |k: &str| -> Result<Option<Vec<f64>>> {
                match c.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(Value::as_f64)
                        .collect::<Option<Vec<f64>>>()
                        .map(Some)
                        .ok_or_else(|| bad(name, k, "numbers", c.get(k))),
                    Some(v) => v
                        .as_f64()
                        .map(|x| Some(vec![x]))
                        .ok_or_else(|| bad(name, k, "a number or a list", Some(v))),
                }
            };
            let mut l = Normalization::new()
                .axis(axis)
                .invert(g.bool_or("invert", false)?);
            if let Some(m) = stat("mean")? {
                l = l.mean(m);
            }
            if let Some(v) = stat("variance")? {
                l = l.variance(v);
            }
            l.into()
        }
        "UnitNormalization" => UnitNormalization::new().axis(g.axis()?).into(),
        "GroupNormalization" => GroupNormalization::new(g.usize("groups")?)
            .axis(g.axis()?)
            .epsilon(g.f64_or("epsilon", 1e-3)? as f32)
            .center(g.bool_or("center", true)?)
            .scale(g.bool_or("scale", true)?)
            .gamma_initializer(g.initializer("gamma_initializer", "ones")?)
            .beta_initializer(g.initializer("beta_initializer", "zeros")?)
            .with_weight_options(g.weight_options(weight_options::GAMMA_BETA)?)
            .into(),
        "LayerNormalization" => LayerNormalization::new()
            .axis(g.axis()?)
            .epsilon(g.f64_or("epsilon", 1e-3)? as f32)
            .center(g.bool_or("center", true)?)
            .scale(g.bool_or("scale", true)?)
            .with_weight_options(g.weight_options(weight_options::GAMMA_BETA)?)
            .into(),
        "GlobalAveragePooling2D" => GlobalAveragePooling2D::new()
            .keepdims(g.bool_or("keepdims", false)?)
            .into(),
        "GlobalMaxPooling2D" => GlobalMaxPooling2D::new()
            .keepdims(g.bool_or("keepdims", false)?)
            .into(),
        "ZeroPadding2D" => ZeroPadding2D::new(g.sides("padding")?).into(),
        "Cropping2D" => Cropping2D::new(g.sides("cropping")?).into(),
        "UpSampling2D" => UpSampling2D::new(g.pair_or("size", (2, 2))?)
            .interpolation(g.str_or("interpolation", "nearest")?)
            .into(),
        "Reshape" => Reshape::new(&g.ints("target_shape", -1)?).into(),
        "Permute" => {
            let dims: Vec<usize> = g.ints("dims", 1)?.into_iter().map(|d| d as usize).collect();
            Permute::new(&dims).into()
        }
        "SpatialDropout2D" => {
            let mut d = SpatialDropout2D::new(g.f64_or("rate", 0.5)? as f32);
            d = seeded!(d, g);
            d.into()
        }
        "DepthwiseConv2D" => DepthwiseConv2D::new(g.pair("kernel_size")?)
            .strides(g.pair_or("strides", (1, 1))?)
            .padding(g.str_or("padding", "valid")?)
            .dilation_rate(g.pair_or("dilation_rate", (1, 1))?)
            .depth_multiplier(g.usize("depth_multiplier").unwrap_or(1))
            .activation(&g.activation()?)
            .use_bias(g.bool_or("use_bias", true)?)
            .depthwise_initializer(g.initializer("depthwise_initializer", "glorot_uniform")?)
            .bias_initializer(g.initializer("bias_initializer", "zeros")?)
            .with_weight_options(g.weight_options(weight_options::DEPTHWISE_BIAS)?)
            .into(),
        "Add" => Add::new().into(),
        "Subtract" => Subtract::new().into(),
        "Multiply" => Multiply::new().into(),
        "Average" => Average::new().into(),
        "Maximum" => Maximum::new().into(),
        "Minimum" => Minimum::new().into(),
        "Concatenate" => {
            let axis = c.get("axis").and_then(Value::as_i64).unwrap_or(-1);
            Concatenate::new().axis(axis).into()
        }
        "LayerScale" => LayerScale::new(
            g.f64_or("init_values", 1e-6)?,
            g.usize("projection_dim")?,
        )
        .into(),
        "CustomScaleLayer" => CustomScaleLayer::new(g.f64_or("scale", 1.0)?).into(),
        "Sequential" | "Functional" | "Model" => {
            return Err(Error::Data(format!(
                "layer \"{name}\" is a whole {class} model: it is read with rkeras::saving::from_config (a model nested in a model config is read with the model that holds it)"
            )))
        }
        other => return Err(Error::unknown("layer", other, &KNOWN_CLASSES)),
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

    #[test]
    fn unknown_classes_are_named() {
        let e = from_config(&serde_json::json!({"class_name": "GroupNormalization", "config": {}}))
            .expect_err("unknown");
        assert!(e.to_string().contains("GroupNormalization"), "{e}");
    }
}
