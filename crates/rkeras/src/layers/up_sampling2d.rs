//! `UpSampling2D`: repeats rows and columns (nearest-neighbour upsampling) or interpolates
//! them (bilinear, the half-pixel resize of `keras.ops.image.resize`).

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::shape::IntoPair;
use rkeras_kernels::image::{ImageRef, Interpolation, Resize};
use serde_json::{json, Map, Value};

/// Upsamples rows by `size.0` and columns by `size.1` (Keras `UpSampling2D`).
///
/// `interpolation="nearest"` (the default) repeats each row and column; `"bilinear"`
/// resizes as Keras 3 does (`ops.image.resize`, half-pixel centres, no antialiasing, edges
/// clamped). Keras's other interpolations (bicubic, lanczos) are refused when the layer is
/// built.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([UpSampling2D::new(2).input_shape((7, 7, 8)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[14, 14, 8][..]));
/// let mut b = Sequential::new([UpSampling2D::new((1, 2))
///     .interpolation("bilinear")
///     .input_shape((1, 2, 1))
///     .into()])?;
/// let y = b.predict(&Tensor::new(vec![1, 1, 2, 1], vec![0.0, 4.0])?)?;
/// assert_eq!(y.data(), [0.0, 1.0, 3.0, 4.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct UpSampling2D {
    base: LayerBase,
    size: (usize, usize),
    interpolation: String,
    in_shape: (usize, usize, usize),
    /// The bilinear sampling tables (`None` for nearest).
    bilinear: Option<Resize>,
}

impl UpSampling2D {
    /// Upsampling by `size` (Keras's default is `(2, 2)`).
    pub fn new(size: impl IntoPair) -> Self {
        UpSampling2D {
            base: LayerBase::default(),
            size: size.into_pair(),
            interpolation: "nearest".into(),
            in_shape: (0, 0, 0),
            bilinear: None,
        }
    }
    /// `"nearest"` (default) or `"bilinear"` (lower-cased, as Keras).
    pub fn interpolation(mut self, i: &str) -> Self {
        self.interpolation = i.to_ascii_lowercase();
        self
    }
}
common_builders!(UpSampling2D);

impl Layer for UpSampling2D {
    fn per_sample(&self) -> bool {
        true
    }
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
        let bilinear = match self.interpolation.as_str() {
            "nearest" => false,
            "bilinear" => true,
            other => {
                return Err(Error::arg(
                    "interpolation",
                    &name,
                    format!(
                        "rkeras implements \"nearest\" and \"bilinear\" upsampling, \
                         received \"{other}\""
                    ),
                ))
            }
        };
        let (h, w, c) = super::image_shape(&name, input_shape)?;
        self.in_shape = (h, w, c);
        let out = (h * self.size.0, w * self.size.1);
        self.bilinear = bilinear.then(|| Resize::new((h, w), out, Interpolation::Bilinear));
        Ok(vec![out.0, out.1, c])
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let (h, w, c) = self.in_shape;
        let (sh, sw) = self.size;
        if let Some(r) = &self.bilinear {
            let (il, ol) = (h * w * c, h * sh * w * sw * c);
            for (xs, ys) in x[..n * il].chunks_exact(il).zip(y.chunks_exact_mut(ol)) {
                r.run(ImageRef::new(xs, h, w, c), ys);
            }
            return;
        }
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
        if let Some(r) = &self.bilinear {
            let (il, ol) = (h * w * c, h * sh * ow * c);
            for (dys, dxs) in dy[..ctx.n * ol]
                .chunks_exact(ol)
                .zip(dx.chunks_exact_mut(il))
            {
                r.backward_add(dys, c, dxs);
            }
            return;
        }
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

impl FromConfig for UpSampling2D {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(UpSampling2D::new(g.pair_or("size", (2, 2))?)
            .interpolation(g.str_or("interpolation", "nearest")?))
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
            .interpolation("bicubic")
            .name("up")
            .build(&[2, 2, 1], &mut Rng::new(0))
            .expect_err("bicubic");
        assert!(
            e.to_string().contains("bicubic") && e.to_string().contains("\"up\""),
            "{e}"
        );
    }

    #[test]
    fn bilinear_gradient_and_values() {
        let l = UpSampling2D::new((2, 3)).interpolation("Bilinear");
        assert_eq!(check_layer(Box::new(l), &[3, 2, 2]), vec![6, 6, 2]);
        // Half-pixel centres, edges clamped: [0, 4] -> [0, 1, 3, 4] per axis.
        let mut l = UpSampling2D::new(2).interpolation("bilinear");
        l.build(&[2, 2, 1], &mut Rng::new(0)).expect("build");
        let mut y = [0.0; 16];
        l.forward(&[0.0, 4.0, 8.0, 12.0], &mut y, 1, Mode::Infer);
        assert_eq!(&y[..4], [0.0, 1.0, 3.0, 4.0]);
        assert_eq!(&y[4..8], [2.0, 3.0, 5.0, 6.0]);
        assert_eq!(l.config()["interpolation"], json!("bilinear"));
    }
}
