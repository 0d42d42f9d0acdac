//! `Cropping2D`: removes rows and columns at the edges of each image.

use super::registry::{Cfg, FromConfig};
use super::zero_padding2d::{IntoSides, Window};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Crops images (Keras `Cropping2D`): `cropping` rows and columns are removed per side.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([Cropping2D::new(((2, 2), (4, 4))).input_shape((28, 28, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[24, 20, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Cropping2D {
    base: LayerBase,
    cropping: ((usize, usize), (usize, usize)),
    in_shape: (usize, usize, usize),
}

impl Cropping2D {
    /// Crops `cropping` (default in Keras: 0 on every side).
    pub fn new(cropping: impl IntoSides) -> Self {
        Cropping2D {
            base: LayerBase::default(),
            cropping: cropping.into_sides(),
            in_shape: (0, 0, 0),
        }
    }
    fn window(&self) -> Window {
        let (h, w, c) = self.in_shape;
        let ((t, b), (l, r)) = self.cropping;
        Window {
            h: h - t - b,
            w: w - l - r,
            c,
            bw: w,
            top: t,
            left: l,
        }
    }
}
common_builders!(Cropping2D);

impl Layer for Cropping2D {
    fn class_name(&self) -> &'static str {
        "Cropping2D"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let (h, w, c) = super::image_shape(self.base.label(), input_shape)?;
        let ((t, b), (l, r)) = self.cropping;
        if t + b >= h || l + r >= w {
            return Err(Error::arg(
                "cropping",
                self.base.label(),
                format!(
                    "Values in `cropping` argument should be smaller than the corresponding spatial dimension of the input. Received: input_shape={}, cropping=(({t}, {b}), ({l}, {r}))",
                    crate::shape::batch_shape_str(input_shape)
                ),
            ));
        }
        self.in_shape = (h, w, c);
        let win = self.window();
        Ok(vec![win.h, win.w, c])
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let (h, w, c) = self.in_shape;
        let win = self.window();
        let ol = win.h * win.w * c;
        for s in 0..n {
            win.get(
                &x[s * h * w * c..(s + 1) * h * w * c],
                &mut y[s * ol..(s + 1) * ol],
            );
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
        let (h, w, c) = self.in_shape;
        let win = self.window();
        let ol = win.h * win.w * c;
        dx[..ctx.n * h * w * c].fill(0.0);
        for s in 0..ctx.n {
            win.put(
                &mut dx[s * h * w * c..(s + 1) * h * w * c],
                &dy[s * ol..(s + 1) * ol],
            );
        }
    }
    fn config(&self) -> Map<String, Value> {
        let ((t, b), (l, r)) = self.cropping;
        super::object(json!({"cropping": [[t, b], [l, r]], "data_format": "channels_last"}))
    }
}

impl FromConfig for Cropping2D {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(Cropping2D::new(g.sides("cropping")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_shape_and_errors() {
        let l = Cropping2D::new(((1, 0), (1, 2)));
        assert_eq!(check_layer(Box::new(l), &[4, 5, 2]), vec![3, 2, 2]);
        let mut l = Cropping2D::new(1);
        l.build(&[3, 3, 1], &mut Rng::new(0)).expect("build");
        let mut y = [0.0];
        l.forward(
            &[0., 1., 2., 3., 4., 5., 6., 7., 8.],
            &mut y,
            1,
            Mode::Infer,
        );
        assert_eq!(y, [4.0]);
        let e = Cropping2D::new(2)
            .build(&[4, 9, 1], &mut Rng::new(0))
            .expect_err("too much");
        assert!(e.to_string().contains("should be smaller"), "{e}");
    }
}
