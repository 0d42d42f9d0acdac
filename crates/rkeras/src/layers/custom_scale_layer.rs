//! `CustomScaleLayer`: InceptionResNetV2's scaled residual sum.

use super::merge::broadcast_shapes;
use super::registry::{Cfg, FromConfig};
use super::{Layer, LayerBase};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// keras.applications.inception_resnet_v2's `CustomScaleLayer(scale)`: of two inputs of one
/// shape, `inputs[0] + inputs[1] * scale`.
///
/// ```
/// use rkeras::prelude::*;
/// let a = Input::new(4);
/// let b = Dense::new(4).call(&a)?;
/// let y = CustomScaleLayer::new(0.17).call_on(&[&a, &b])?;
/// assert_eq!(y.shape(), &[4]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CustomScaleLayer {
    base: LayerBase,
    scale: f64,
}

impl CustomScaleLayer {
    /// The sum with the second input scaled by `scale`.
    pub fn new(scale: f64) -> Self {
        CustomScaleLayer {
            base: LayerBase::default(),
            scale,
        }
    }
    /// Sets the layer's name (default: an automatic Keras name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.base.name = Some(name.into());
        self
    }
}

impl From<CustomScaleLayer> for Box<dyn Layer> {
    fn from(l: CustomScaleLayer) -> Self {
        Box::new(l)
    }
}

impl Layer for CustomScaleLayer {
    fn class_name(&self) -> &'static str {
        "CustomScaleLayer"
    }
    fn module(&self) -> &'static str {
        "keras.src.applications.inception_resnet_v2"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    super::merge::merge_plumbing!();
    fn build_merge(&mut self, shapes: &[Vec<usize>], _rng: &mut Rng) -> Result<Vec<usize>> {
        let (out, reads) = broadcast_shapes(self.base.label(), shapes, true)?;
        if reads.iter().any(Option::is_some) {
            return Err(Error::arg(
                "inputs",
                self.base.label(),
                "CustomScaleLayer takes two inputs of one shape",
            ));
        }
        Ok(out)
    }
    fn forward_merge(&mut self, xs: &[&[f32]], y: &mut [f32], _n: usize) {
        let s = self.scale as f32;
        for ((o, a), b) in y.iter_mut().zip(xs[0]).zip(xs[1]) {
            *o = a + b * s;
        }
    }
    fn backward_merge(
        &mut self,
        _xs: &[&[f32]],
        _y: &[f32],
        dy: &[f32],
        dxs: &mut [&mut [f32]],
        _n: usize,
    ) {
        let s = self.scale as f32;
        let len = dy.len();
        dxs[0][..len].copy_from_slice(dy);
        for (d, g) in dxs[1][..len].iter_mut().zip(dy) {
            *d = g * s;
        }
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({ "scale": self.scale }))
    }
}

impl FromConfig for CustomScaleLayer {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(CustomScaleLayer::new(g.f64_or("scale", 1.0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_merge;

    #[test]
    fn gradients_and_shapes() {
        let l = CustomScaleLayer::new(0.17);
        assert_eq!(
            check_merge(Box::new(l), &[vec![2, 3], vec![2, 3]]),
            vec![2, 3]
        );
        let e = CustomScaleLayer::new(1.0)
            .build_merge(&[vec![2, 3], vec![1, 3]], &mut Rng::new(0))
            .expect_err("one shape");
        assert!(e.to_string().contains("one shape"), "{e}");
    }
}
