//! `Activation`: applies an activation function as its own layer.

use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::activations;
use crate::error::{Error, Result};
use crate::rng::Rng;
use rkeras_kernels::{activation, Act};
use serde_json::{json, Map, Value};

/// Applies an activation (Keras `Activation("relu")`).
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([Activation::new("elu").input_shape(4).into()])?;
/// assert_eq!(m.output_shape(), Some(&[4][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Debug)]
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

impl Layer for Activation {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Activation"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.act = activations::parse(&self.name)
            .map_err(|e| Error::arg("activation", self.base.label(), e.to_string()))?;
        self.last = input_shape.last().copied().unwrap_or(1).max(1);
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        y.copy_from_slice(x);
        activation::forward_inplace(self.act, y, self.last);
    }
    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
    ) {
        if !ctx.skip_activation {
            activation::backward_inplace(self.act, Some(x), y, dy, self.last);
        }
        if let Some(dx) = dx {
            dx.copy_from_slice(dy);
        }
    }
    fn activation(&self) -> Option<Act> {
        Some(self.act)
    }
    fn config(&self) -> Map<String, Value> {
        let n = activations::parse(&self.name)
            .map(activations::name)
            .unwrap_or("linear");
        super::object(json!({ "activation": n }))
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
