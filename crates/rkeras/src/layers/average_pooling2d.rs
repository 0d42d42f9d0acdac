//! `AveragePooling2D`: mean over windows (padding excluded from the count, as TF).

use super::max_pooling2d::{pool_config, pool_geom};
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::rng::Rng;
use crate::shape::IntoPair;
use rkeras_kernels::{pool2d, Pool2dGeom};
use serde_json::{Map, Value};

/// 2-D average pooling (Keras `AveragePooling2D`), same arguments as
/// [`MaxPooling2D`](super::MaxPooling2D).
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([AveragePooling2D::new(2).padding("same").input_shape((5, 5, 1)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[3, 3, 1][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AveragePooling2D {
    base: LayerBase,
    pool_size: (usize, usize),
    strides: Option<(usize, usize)>,
    padding: String,
    geom: Option<Pool2dGeom>,
}

impl AveragePooling2D {
    /// Average pooling over `pool_size` windows.
    pub fn new(pool_size: impl IntoPair) -> Self {
        AveragePooling2D {
            base: LayerBase::default(),
            pool_size: pool_size.into_pair(),
            strides: None,
            padding: "valid".into(),
            geom: None,
        }
    }
    /// Strides (default: the pool size).
    pub fn strides(mut self, s: impl IntoPair) -> Self {
        self.strides = Some(s.into_pair());
        self
    }
    /// `"valid"` (default) or `"same"`.
    pub fn padding(mut self, p: &str) -> Self {
        self.padding = p.into();
        self
    }
}
common_builders!(AveragePooling2D);

impl Layer for AveragePooling2D {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "AveragePooling2D"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let g = pool_geom(
            self.base.label(),
            self.pool_size,
            self.strides,
            &self.padding,
            input_shape,
        )?;
        self.geom = Some(g);
        Ok(vec![g.oh, g.ow, g.c])
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        if let Some(g) = self.geom {
            pool2d::avg_forward(&g, n, x, y);
        }
    }
    fn backward(
        &mut self,
        _x: &[f32],
        _y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
    ) {
        if let (Some(g), Some(dx)) = (self.geom, dx) {
            pool2d::avg_backward(&g, ctx.n, dy, dx);
        }
    }
    fn config(&self) -> Map<String, Value> {
        pool_config(self.pool_size, self.strides, &self.padding)
    }
}

impl FromConfig for AveragePooling2D {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let pool = g.pair_or("pool_size", (2, 2))?;
        Ok(AveragePooling2D::new(pool)
            .strides(g.pair_or("strides", pool)?)
            .padding(g.str_or("padding", "valid")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradients_and_shapes() {
        assert_eq!(
            check_layer(Box::new(AveragePooling2D::new(2)), &[4, 5, 2]),
            vec![2, 2, 2]
        );
        assert_eq!(
            check_layer(
                Box::new(AveragePooling2D::new(2).padding("same")),
                &[3, 3, 1]
            ),
            vec![2, 2, 1]
        );
        assert_eq!(
            check_layer(
                Box::new(AveragePooling2D::new((2, 3)).strides(1)),
                &[4, 4, 1]
            ),
            vec![3, 2, 1]
        );
    }
}
