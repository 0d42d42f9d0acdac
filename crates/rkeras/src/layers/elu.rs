//! `ELU`: `x` for `x > 0`, `alpha * (exp(x) - 1)` below.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Layer, LayerBase};
use crate::error::{Error, Result};
use rkeras_kernels::Act;
use serde_json::{json, Map, Value};

/// Keras `ELU(alpha=1.0)`.
///
/// ```
/// use rkeras::prelude::*;
/// let mut m = Sequential::new([ELU::new().input_shape(2).into()])?;
/// let y = m.predict(&Tensor::new(vec![1, 2], vec![0.0, 2.0])?)?;
/// assert_eq!(y.data(), &[0.0, 2.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ELU {
    base: LayerBase,
    alpha: f64,
    act: Act,
    last: usize,
}

impl ELU {
    /// `alpha` 1.0, Keras's default.
    pub fn new() -> Self {
        ELU {
            base: LayerBase::default(),
            alpha: 1.0,
            act: Act::Elu(1.0),
            last: 1,
        }
    }
    /// Scale of the negative part.
    pub fn alpha(mut self, a: f64) -> Self {
        self.alpha = a;
        self
    }

    fn resolve(&self, _input_shape: &[usize]) -> Result<Act> {
        if !self.alpha.is_finite() {
            return Err(Error::arg(
                "alpha",
                self.base.label(),
                format!("expected a finite number, received {}", self.alpha),
            ));
        }
        Ok(Act::Elu(self.alpha as f32))
    }
}

impl Default for ELU {
    fn default() -> Self {
        ELU::new()
    }
}
common_builders!(ELU);

impl Layer for ELU {
    super::activation_layer_methods!("ELU");
    fn config(&self) -> Map<String, Value> {
        super::object(json!({ "alpha": self.alpha }))
    }
}

impl FromConfig for ELU {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(ELU::new().alpha(g.f64_or("alpha", 1.0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradients() {
        check_layer(Box::new(ELU::new()), &[2, 3]);
        check_layer(Box::new(ELU::new().alpha(0.5)), &[5]);
    }
}
