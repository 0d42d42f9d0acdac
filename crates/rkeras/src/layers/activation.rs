//! `Activation`: applies an activation function as its own layer.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Layer, LayerBase};
use crate::activations;
use crate::error::{Error, Result};
use rkeras_kernels::Act;
use serde_json::{json, Map, Value};

/// Applies an activation (Keras `Activation("relu")`).
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([Activation::new("elu").input_shape(4).into()])?;
/// assert_eq!(m.output_shape(), Some(&[4][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Activation {
    base: LayerBase,
    name: String,
    act: Act,
    last: usize,
}

impl Activation {
    /// An activation layer by Keras name.
    pub fn new(activation: &str) -> Self {
        Activation {
            base: LayerBase::default(),
            name: activation.into(),
            act: Act::Linear,
            last: 1,
        }
    }
}
common_builders!(Activation);

impl Activation {
    fn resolve(&self, _input_shape: &[usize]) -> Result<Act> {
        activations::parse(&self.name)
            .map_err(|e| Error::arg("activation", self.base.label(), e.to_string()))
    }
}

impl Layer for Activation {
    super::activation_layer_methods!("Activation");
    fn config(&self) -> Map<String, Value> {
        let n = activations::parse(&self.name)
            .map(activations::name)
            .unwrap_or("linear");
        super::object(json!({ "activation": n }))
    }
}

impl FromConfig for Activation {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(Activation::new(&g.activation()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;
    #[test]
    fn gradients_for_every_activation() {
        for a in activations::known() {
            check_layer(Box::new(Activation::new(a)), &[2, 3]);
        }
    }
}
