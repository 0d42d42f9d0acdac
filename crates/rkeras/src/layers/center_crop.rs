//! `CenterCrop`: the centred `height x width` window of every image.

use super::registry::{Cfg, FromConfig};
use super::{check_pair, common_builders, not_differentiable, rank_error, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::rng::Rng;
use rkeras_kernels::image::{aspect_crop, ImageRef, Interpolation, Resize};
use serde_json::{json, Map, Value};

/// Crops the centred `height x width` window of each image (Keras `CenterCrop`), in
/// training and inference. When the image is smaller than the target on a side, Keras's
/// behaviour is kept: crop to the target aspect ratio, then resize (bilinear).
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([CenterCrop::new(24, 24).input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[24, 24, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CenterCrop {
    base: LayerBase,
    height: usize,
    width: usize,
    cropper: Option<Cropper>,
}

impl CenterCrop {
    /// Keep a `height x width` window.
    pub fn new(height: usize, width: usize) -> Self {
        CenterCrop {
            base: LayerBase::default(),
            height,
            width,
            cropper: None,
        }
    }
}
common_builders!(CenterCrop);

/// Keras's centre crop of `src`-sized images to `th x tw`, with everything it needs
/// computed once: a plain slice when the image is large enough, else `smart_resize` (crop
/// to the target aspect ratio, then bilinear resize) through a preallocated window.
#[derive(Clone, Debug)]
pub(crate) struct Cropper {
    src: [usize; 3],
    out: (usize, usize),
    window: (usize, usize, usize, usize),
    resize: Option<Resize>,
    scratch: Vec<f32>,
}

impl Cropper {
    pub fn new(src: [usize; 3], th: usize, tw: usize) -> Cropper {
        let [h, w, c] = src;
        if h >= th && w >= tw {
            return Cropper {
                src,
                out: (th, tw),
                window: ((h - th) / 2, (w - tw) / 2, th, tw),
                resize: None,
                scratch: Vec::new(),
            };
        }
        let (top, left, ch, cw) = aspect_crop(h, w, th, tw);
        Cropper {
            src,
            out: (th, tw),
            window: (top, left, ch, cw),
            resize: Some(Resize::new((ch, cw), (th, tw), Interpolation::Bilinear)),
            scratch: vec![0.0; ch * cw * c],
        }
    }

    /// Crops (and resizes) one image `x` into `y`.
    pub fn apply(&mut self, x: &[f32], y: &mut [f32]) {
        let [_, w, c] = self.src;
        let (top, left, ch, cw) = self.window;
        let target: &mut [f32] = if self.resize.is_some() {
            &mut self.scratch
        } else {
            &mut *y
        };
        for r in 0..ch {
            let s = ((top + r) * w + left) * c;
            target[r * cw * c..(r + 1) * cw * c].copy_from_slice(&x[s..s + cw * c]);
        }
        if let Some(rs) = &self.resize {
            rs.run(ImageRef::new(&self.scratch, ch, cw, c), y);
        }
        debug_assert_eq!(y.len(), self.out.0 * self.out.1 * c);
    }
}

impl Layer for CenterCrop {
    fn class_name(&self) -> &'static str {
        "CenterCrop"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let [h, w, c] = <[usize; 3]>::try_from(input_shape)
            .map_err(|_| rank_error(&name, "an image tensor of rank 4", input_shape))?;
        check_pair("height/width", (self.height, self.width), &name)?;
        self.cropper = Some(Cropper::new([h, w, c], self.height, self.width));
        Ok(vec![self.height, self.width, c])
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let Some(cropper) = self.cropper.as_mut() else {
            return;
        };
        let (il, ol) = (x.len() / n.max(1), y.len() / n.max(1));
        for (xi, yi) in x.chunks(il.max(1)).zip(y.chunks_mut(ol.max(1))) {
            cropper.apply(xi, yi);
        }
    }
    not_differentiable!();
    fn config(&self) -> Map<String, Value> {
        super::object(json!({
            "data_format": "channels_last",
            "height": self.height,
            "width": self.width,
        }))
    }
}

impl FromConfig for CenterCrop {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(CenterCrop::new(g.usize("height")?, g.usize("width")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_the_centre_and_resizes_when_too_small() {
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut y = vec![0.0; 4];
        Cropper::new([4, 4, 1], 2, 2).apply(&x, &mut y);
        assert_eq!(y, [5.0, 6.0, 9.0, 10.0]);
        // 4x4 to 8x8: same aspect, so the whole image is upscaled.
        let mut big = vec![0.0; 64];
        Cropper::new([4, 4, 1], 8, 8).apply(&x, &mut big);
        assert_eq!(big[0], 0.0);
        assert_eq!(big[63], 15.0);
    }
}
