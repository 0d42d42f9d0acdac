//! `UpSampling2D`: repeats rows and columns (nearest-neighbour upsampling).

use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::shape::IntoPair;
use serde_json::{json, Map, Value};

/// Repeats each row `size.0` times and each column `size.1` times (Keras `UpSampling2D`
/// with `interpolation="nearest"`, the default; `"bilinear"` is not supported yet and is
/// refused when the layer is built).
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([UpSampling2D::new(2).input_shape((7, 7, 8)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[14, 14, 8][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Debug)]
pub struct UpSampling2D {
    base: LayerBase,
    size: (usize, usize),
    interpolation: String,
    in_shape: (usize, usize, usize),
}

impl UpSampling2D {
    /// Upsampling by `size` (Keras's default is `(2, 2)`).
    pub fn new(size: impl IntoPair) -> Self {
        UpSampling2D {
            base: LayerBase::default(),
            size: size.into_pair(),
            interpolation: "nearest".into(),
            in_shape: (0, 0, 0),
        }
    }
    /// `"nearest"` (the only one rkeras implements so far).
    pub fn interpolation(mut self, i: &str) -> Self {
        self.interpolation = i.into();
        self
    }
}
common_builders!(UpSampling2D);

impl Layer for UpSampling2D {
    fn class_name(&self) -> &'static str {
        "UpSampling2D"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        super::check_pair("size", self.size, &name)?;
        if self.interpolation != "nearest" {
            return Err(Error::arg(
                "interpolation",
                &name,
                format!(
                    "rkeras implements \"nearest\" upsampling only, received \"{}\"",
                    self.interpolation
                ),
            ));
        }
        let (h, w, c) = super::image_shape(&name, input_shape)?;
        self.in_shape = (h, w, c);
        Ok(vec![h * self.size.0, w * self.size.1, c])
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let (h, w, c) = self.in_shape;
        let (sh, sw) = self.size;
        let ow = w * sw;
        for s in 0..n {
            let xs = &x[s * h * w * c..(s + 1) * h * w * c];
            let ys = &mut y[s * h * sh * ow * c..(s + 1) * h * sh * ow * c];
            for i in 0..h {
                let row = &mut ys[i * sh * ow * c..(i * sh + 1) * ow * c];
                for j in 0..w {
                    let px = &xs[(i * w + j) * c..(i * w + j + 1) * c];
                    for b in 0..sw {
                        row[(j * sw + b) * c..(j * sw + b + 1) * c].copy_from_slice(px);
                    }
                }
                for a in 1..sh {
                    let (first, rest) = ys[i * sh * ow * c..].split_at_mut(ow * c);
                    rest[(a - 1) * ow * c..a * ow * c].copy_from_slice(first);
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
        let (h, w, c) = self.in_shape;
        let (sh, sw) = self.size;
        let ow = w * sw;
        dx[..ctx.n * h * w * c].fill(0.0);
        for s in 0..ctx.n {
            let dys = &dy[s * h * sh * ow * c..(s + 1) * h * sh * ow * c];
            let dxs = &mut dx[s * h * w * c..(s + 1) * h * w * c];
            for oy in 0..h * sh {
                for ox in 0..ow {
                    let src = &dys[(oy * ow + ox) * c..(oy * ow + ox + 1) * c];
                    let d = ((oy / sh) * w + ox / sw) * c;
                    for (a, v) in dxs[d..d + c].iter_mut().zip(src) {
                        *a += v;
                    }
                }
            }
        }
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({
            "size": [self.size.0, self.size.1],
            "data_format": "channels_last",
            "interpolation": self.interpolation,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_shape_and_values() {
        assert_eq!(
            check_layer(Box::new(UpSampling2D::new((2, 3))), &[2, 2, 2]),
            vec![4, 6, 2]
        );
        let mut l = UpSampling2D::new(2);
        l.build(&[1, 2, 1], &mut Rng::new(0)).expect("build");
        let mut y = [0.0; 8];
        l.forward(&[1.0, 2.0], &mut y, 1, Mode::Infer);
        assert_eq!(y, [1., 1., 2., 2., 1., 1., 2., 2.]);
        let e = UpSampling2D::new(2)
            .interpolation("bilinear")
            .build(&[2, 2, 1], &mut Rng::new(0))
            .expect_err("bilinear");
        assert!(e.to_string().contains("nearest"), "{e}");
    }
}
