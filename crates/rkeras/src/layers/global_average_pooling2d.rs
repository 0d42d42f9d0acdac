//! `GlobalAveragePooling2D`: the mean of each channel over the spatial axes.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Averages each channel over height and width (Keras `GlobalAveragePooling2D`): `(H, W, C)`
/// becomes `(C,)`, or `(1, 1, C)` with `keepdims(true)`.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([GlobalAveragePooling2D::new().input_shape((7, 7, 64)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[64][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct GlobalAveragePooling2D {
    base: LayerBase,
    keepdims: bool,
    hw: usize,
    c: usize,
}

impl GlobalAveragePooling2D {
    /// Global average pooling.
    pub fn new() -> Self {
        Self::default()
    }
    /// Keeps the spatial axes, with size 1 (default `false`).
    pub fn keepdims(mut self, keep: bool) -> Self {
        self.keepdims = keep;
        self
    }
}
common_builders!(GlobalAveragePooling2D);

/// `(H * W, C)` of a rank-3 input, or the Keras rank error.
pub(crate) fn spatial(layer: &str, input_shape: &[usize]) -> Result<(usize, usize)> {
    let (h, w, c) = super::image_shape(layer, input_shape)?;
    Ok((h * w, c))
}

/// The output shape of a global pooling layer.
pub(crate) fn pooled_shape(c: usize, keepdims: bool) -> Vec<usize> {
    if keepdims {
        vec![1, 1, c]
    } else {
        vec![c]
    }
}

impl Layer for GlobalAveragePooling2D {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "GlobalAveragePooling2D"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        (self.hw, self.c) = spatial(self.base.label(), input_shape)?;
        Ok(pooled_shape(self.c, self.keepdims))
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        rkeras_kernels::channel::mean_pixels(x, n, self.hw, self.c, y);
    }
    fn backward(
        &mut self,
        _x: &[f32],
        _y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
    ) {
        let Some(dx) = dx else { return };
        rkeras_kernels::channel::mean_pixels_grad(dy, ctx.n, self.hw, self.c, dx);
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({"data_format": "channels_last", "keepdims": self.keepdims}))
    }
}

impl FromConfig for GlobalAveragePooling2D {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(GlobalAveragePooling2D::new().keepdims(g.bool_or("keepdims", false)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_shape_and_values() {
        assert_eq!(
            check_layer(Box::new(GlobalAveragePooling2D::new()), &[3, 2, 4]),
            vec![4]
        );
        let keep = GlobalAveragePooling2D::new().keepdims(true);
        assert_eq!(check_layer(Box::new(keep), &[2, 2, 3]), vec![1, 1, 3]);
        let mut l = GlobalAveragePooling2D::new();
        l.build(&[2, 1, 2], &mut Rng::new(0)).expect("build");
        let mut y = [0.0; 2];
        l.forward(&[1.0, 10.0, 3.0, 20.0], &mut y, 1, Mode::Infer);
        assert_eq!(y, [2.0, 15.0]);
        let e = l.build(&[4], &mut Rng::new(0)).expect_err("rank");
        assert!(
            e.to_string().contains("expected ndim=4, found ndim=2"),
            "{e}"
        );
    }
}
