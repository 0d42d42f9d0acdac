//! `GlobalMaxPooling2D`: the maximum of each channel over the spatial axes.

use super::global_average_pooling2d::{pooled_shape, spatial};
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// The maximum of each channel over height and width (Keras `GlobalMaxPooling2D`): `(H, W,
/// C)` becomes `(C,)`, or `(1, 1, C)` with `keepdims(true)`. The gradient goes to the first
/// maximum.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([GlobalMaxPooling2D::new().input_shape((7, 7, 64)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[64][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct GlobalMaxPooling2D {
    base: LayerBase,
    keepdims: bool,
    hw: usize,
    c: usize,
    /// Spatial index of each (sample, channel) maximum, from the last forward.
    argmax: Vec<u32>,
}

impl GlobalMaxPooling2D {
    /// Global max pooling.
    pub fn new() -> Self {
        Self::default()
    }
    /// Keeps the spatial axes, with size 1 (default `false`).
    pub fn keepdims(mut self, keep: bool) -> Self {
        self.keepdims = keep;
        self
    }
}
common_builders!(GlobalMaxPooling2D);

impl Layer for GlobalMaxPooling2D {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "GlobalMaxPooling2D"
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
    fn allocate(&mut self, max_batch: usize) {
        if self.argmax.len() < max_batch * self.c {
            self.argmax.resize(max_batch * self.c, 0);
        }
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let (hw, c) = (self.hw, self.c);
        if self.argmax.len() < n * c {
            self.argmax.resize(n * c, 0);
        }
        for s in 0..n {
            let ys = &mut y[s * c..(s + 1) * c];
            let am = &mut self.argmax[s * c..(s + 1) * c];
            ys.fill(f32::NEG_INFINITY);
            am.fill(0);
            for (p, px) in x[s * hw * c..(s + 1) * hw * c].chunks_exact(c).enumerate() {
                for ((m, i), v) in ys.iter_mut().zip(am.iter_mut()).zip(px) {
                    // NaN propagates, as max does in TensorFlow.
                    if *v > *m || v.is_nan() && !m.is_nan() {
                        *m = *v;
                        *i = p as u32;
                    }
                }
            }
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
        let Some(dx) = dx else { return };
        let (hw, c) = (self.hw, self.c);
        dx[..ctx.n * hw * c].fill(0.0);
        for s in 0..ctx.n {
            for ch in 0..c {
                let p = self.argmax[s * c + ch] as usize;
                dx[(s * hw + p) * c + ch] = dy[s * c + ch];
            }
        }
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({"data_format": "channels_last", "keepdims": self.keepdims}))
    }
}

impl FromConfig for GlobalMaxPooling2D {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(GlobalMaxPooling2D::new().keepdims(g.bool_or("keepdims", false)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_shape_and_values() {
        assert_eq!(
            check_layer(Box::new(GlobalMaxPooling2D::new()), &[3, 2, 4]),
            vec![4]
        );
        let mut l = GlobalMaxPooling2D::new().keepdims(true);
        assert_eq!(
            l.build(&[2, 1, 2], &mut Rng::new(0)).expect("build"),
            vec![1, 1, 2]
        );
        l.allocate(1);
        let mut y = [0.0; 2];
        l.forward(&[1.0, 30.0, 3.0, 20.0], &mut y, 1, Mode::Train);
        assert_eq!(y, [3.0, 30.0]);
        let mut dx = [9.0; 4];
        l.backward(
            &[],
            &y,
            &mut [1.0, 2.0],
            Some(&mut dx),
            Backward {
                n: 1,
                skip_activation: false,
                accumulate: false,
            },
        );
        assert_eq!(dx, [0.0, 2.0, 1.0, 0.0]);
    }
}
