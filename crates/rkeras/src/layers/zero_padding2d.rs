//! `ZeroPadding2D`: zero rows and columns around each image.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Amounts per side `((top, bottom), (left, right))`, as Keras's padding and cropping
/// arguments take them: one number for all four sides, `(vertical, horizontal)`, or the
/// four amounts.
pub trait IntoSides {
    /// `((top, bottom), (left, right))`.
    fn into_sides(self) -> ((usize, usize), (usize, usize));
}
impl IntoSides for usize {
    fn into_sides(self) -> ((usize, usize), (usize, usize)) {
        ((self, self), (self, self))
    }
}
impl IntoSides for (usize, usize) {
    fn into_sides(self) -> ((usize, usize), (usize, usize)) {
        ((self.0, self.0), (self.1, self.1))
    }
}
impl IntoSides for ((usize, usize), (usize, usize)) {
    fn into_sides(self) -> ((usize, usize), (usize, usize)) {
        self
    }
}

/// Where an `(h, w, c)` image sits inside a bigger `(_, bw, c)` one: its size, the big
/// image's row width, and the window's top-left corner.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub bw: usize,
    pub top: usize,
    pub left: usize,
}

impl Window {
    fn row(&self, r: usize) -> std::ops::Range<usize> {
        let start = ((self.top + r) * self.bw + self.left) * self.c;
        start..start + self.w * self.c
    }
    /// Writes `small` into the window of `big`.
    pub fn put(&self, big: &mut [f32], small: &[f32]) {
        let wc = self.w * self.c;
        for r in 0..self.h {
            big[self.row(r)].copy_from_slice(&small[r * wc..(r + 1) * wc]);
        }
    }
    /// The output rows `r0 ..` of a padded batch (row `r` is row `r % oh` of sample `r /
    /// oh`) that `rows` holds, from the batch `x` of small images: each input row copied
    /// into its window, every other value zeroed, each written once.
    pub fn put_rows(&self, rows: &mut [f32], r0: usize, oh: usize, x: &[f32]) {
        let (wc, il, l) = (
            self.w * self.c,
            self.h * self.w * self.c,
            self.left * self.c,
        );
        for (i, out) in rows.chunks_mut(self.bw * self.c).enumerate() {
            let (s, r) = ((r0 + i) / oh, (r0 + i) % oh);
            if r < self.top || r >= self.top + self.h {
                out.fill(0.0);
                continue;
            }
            out[..l].fill(0.0);
            out[l..l + wc].copy_from_slice(&x[s * il + (r - self.top) * wc..][..wc]);
            out[l + wc..].fill(0.0);
        }
    }
    /// Reads the window of `big` into `small`.
    pub fn get(&self, big: &[f32], small: &mut [f32]) {
        let wc = self.w * self.c;
        for r in 0..self.h {
            small[r * wc..(r + 1) * wc].copy_from_slice(&big[self.row(r)]);
        }
    }
}

/// Pads images with zeros (Keras `ZeroPadding2D`).
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([ZeroPadding2D::new(((1, 2), (0, 3))).input_shape((4, 4, 1)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[7, 7, 1][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ZeroPadding2D {
    base: LayerBase,
    padding: ((usize, usize), (usize, usize)),
    in_shape: (usize, usize, usize),
}

impl ZeroPadding2D {
    /// Padding of `padding` (default in Keras: 1 on every side).
    pub fn new(padding: impl IntoSides) -> Self {
        ZeroPadding2D {
            base: LayerBase::default(),
            padding: padding.into_sides(),
            in_shape: (0, 0, 0),
        }
    }
    fn out_hw(&self) -> (usize, usize) {
        let ((t, b), (l, r)) = self.padding;
        (self.in_shape.0 + t + b, self.in_shape.1 + l + r)
    }
    fn window(&self) -> Window {
        let (h, w, c) = self.in_shape;
        let ((top, _), (left, _)) = self.padding;
        Window {
            h,
            w,
            c,
            bw: self.out_hw().1,
            top,
            left,
        }
    }
}
common_builders!(ZeroPadding2D);

impl Layer for ZeroPadding2D {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "ZeroPadding2D"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let (h, w, c) = super::image_shape(self.base.label(), input_shape)?;
        self.in_shape = (h, w, c);
        let (oh, ow) = self.out_hw();
        Ok(vec![oh, ow, c])
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let c = self.in_shape.2;
        let (oh, ow) = self.out_hw();
        let win = self.window();
        // Tasks of whole rows, of any sample: one image's padding is shared by the threads
        // too (ResNet50's 112x112x64 `pool1_pad` at batch 1).
        let rows = rkeras_kernels::elementwise::rows_per_task(ow * c);
        let y = &mut y[..n * oh * ow * c];
        rkeras_kernels::parallel::for_each_chunk_mut(y, rows * ow * c, |b, ys| {
            win.put_rows(ys, b * rows, oh, x)
        });
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
        let (oh, ow) = self.out_hw();
        let win = self.window();
        let (il, ol) = (h * w * c, oh * ow * c);
        let dy = &*dy;
        rkeras_kernels::parallel::for_each_chunk_mut(&mut dx[..ctx.n * il], il, |s, dxs| {
            win.get(&dy[s * ol..(s + 1) * ol], dxs);
        });
    }
    fn config(&self) -> Map<String, Value> {
        let ((t, b), (l, r)) = self.padding;
        super::object(json!({"padding": [[t, b], [l, r]], "data_format": "channels_last"}))
    }
}

impl FromConfig for ZeroPadding2D {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(ZeroPadding2D::new(g.sides("padding")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_shape_and_placement() {
        let l = ZeroPadding2D::new(((1, 0), (2, 1)));
        assert_eq!(check_layer(Box::new(l), &[2, 3, 2]), vec![3, 6, 2]);
        let mut l = ZeroPadding2D::new(1);
        l.build(&[1, 1, 1], &mut Rng::new(0)).expect("build");
        let mut y = [9.0; 9];
        l.forward(&[5.0], &mut y, 1, Mode::Infer);
        assert_eq!(y, [0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(
            serde_json::Value::Object(l.config())["padding"],
            json!([[1, 1], [1, 1]])
        );
    }

    /// Every value of the padded batch is written (over whatever the buffer held): the image
    /// where the window is, zero elsewhere, for uneven sides and several samples.
    #[test]
    fn forward_writes_every_value() {
        // The second shape's rows are tasks of their own, across samples.
        for ((t, b), (l, r), (h, w, c)) in
            [((2, 0), (1, 3), (3, 2, 2)), ((1, 2), (3, 1), (5, 40, 512))]
        {
            forward_writes_every_value_of(((t, b), (l, r)), (h, w, c));
        }
    }

    fn forward_writes_every_value_of(
        ((t, b), (l, r)): ((usize, usize), (usize, usize)),
        (h, w, c): (usize, usize, usize),
    ) {
        let n = 3;
        let mut layer = ZeroPadding2D::new(((t, b), (l, r)));
        layer.build(&[h, w, c], &mut Rng::new(0)).expect("build");
        let (oh, ow) = (h + t + b, w + l + r);
        let x: Vec<f32> = (0..n * h * w * c).map(|v| v as f32 + 1.0).collect();
        let mut y = vec![f32::NAN; n * oh * ow * c];
        layer.forward(&x, &mut y, n, Mode::Infer);
        for s in 0..n {
            for row in 0..oh {
                for col in 0..ow {
                    for ch in 0..c {
                        let got = y[((s * oh + row) * ow + col) * c + ch];
                        let inside = (t..t + h).contains(&row) && (l..l + w).contains(&col);
                        let want = if inside {
                            x[((s * h + row - t) * w + col - l) * c + ch]
                        } else {
                            0.0
                        };
                        assert_eq!(got, want, "sample {s} at ({row}, {col}, {ch})");
                    }
                }
            }
        }
    }
}
