//! `RandomCrop`: a random `height x width` window of each training batch.

use super::center_crop::Cropper;
use super::registry::seeded;
use super::registry::{Cfg, FromConfig};
use super::{check_pair, common_builders, not_differentiable, rank_error, Layer, LayerBase, Mode};
use crate::error::Result;
use crate::rng::Rng;
use rkeras_kernels::image::{aspect_crop, ImageRef, Interpolation, Resize};
use serde_json::{json, Map, Value};

/// Crops a random `height x width` window while training (Keras `RandomCrop`: one window
/// per batch, drawn uniformly). When the image is not larger than the target on both
/// sides, Keras's deterministic fallback is kept (a window at the `smart_resize` offsets,
/// resized if needed).
///
/// In inference rkeras returns the **centred** window. (Keras 3.15 returns the input
/// uncropped, which contradicts its own output shape and its documentation.)
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([RandomCrop::new(24, 24).input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[24, 24, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomCrop {
    base: LayerBase,
    height: usize,
    width: usize,
    seed: Option<u64>,
    base_seed: u64,
    rng: Rng,
    src: [usize; 3],
    /// Inference: the centred window.
    center: Option<Cropper>,
    /// Training when the image is not larger than the target: Keras's fixed window, resized.
    fallback: Option<(Resize, Vec<f32>)>,
}

impl RandomCrop {
    /// Crop to `height x width`.
    pub fn new(height: usize, width: usize) -> Self {
        RandomCrop {
            base: LayerBase::default(),
            height,
            width,
            seed: None,
            base_seed: 0,
            rng: Rng::new(0),
            src: [0; 3],
            center: None,
            fallback: None,
        }
    }
    /// Fixes the layer's random seed (default: derived from the model's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}
common_builders!(RandomCrop);

fn slice(
    x: &[f32],
    [_, w, c]: [usize; 3],
    top: usize,
    left: usize,
    th: usize,
    tw: usize,
    y: &mut [f32],
) {
    for r in 0..th {
        let s = ((top + r) * w + left) * c;
        y[r * tw * c..(r + 1) * tw * c].copy_from_slice(&x[s..s + tw * c]);
    }
}

impl Layer for RandomCrop {
    fn class_name(&self) -> &'static str {
        "RandomCrop"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let [h, w, c] = <[usize; 3]>::try_from(input_shape)
            .map_err(|_| rank_error(&name, "an image tensor of rank 4", input_shape))?;
        check_pair("height/width", (self.height, self.width), &name)?;
        self.src = [h, w, c];
        let (th, tw) = (self.height, self.width);
        self.center = Some(Cropper::new([h, w, c], th, tw));
        self.fallback = (h <= th || w <= tw).then(|| {
            let (top, left, _, _) = aspect_crop(h, w, th, tw);
            let (sh, sw) = ((h - top).min(th), (w - left).min(tw));
            (
                Resize::new((sh, sw), (th, tw), Interpolation::Bilinear),
                vec![0.0; sh * sw * c],
            )
        });
        self.base_seed = self.seed.unwrap_or_else(|| rng.fork(0xC80).next_u64());
        self.rng = Rng::new(self.base_seed);
        Ok(vec![self.height, self.width, c])
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, mode: Mode) {
        let [h, w, c] = self.src;
        let (th, tw) = (self.height, self.width);
        let (il, ol) = (x.len() / n.max(1), y.len() / n.max(1));
        let pairs = x.chunks(il.max(1)).zip(y.chunks_mut(ol.max(1)));
        if mode == Mode::Infer {
            if let Some(cropper) = self.center.as_mut() {
                pairs.for_each(|(xi, yi)| cropper.apply(xi, yi));
            }
        } else if h > th && w > tw {
            let top = self.rng.below(h - th + 1);
            let left = self.rng.below(w - tw + 1);
            pairs.for_each(|(xi, yi)| slice(xi, self.src, top, left, th, tw, yi));
        } else {
            // Keras: offsets of smart_resize, a target-sized slice clipped to the image,
            // stretched to the target when it falls short.
            let (top, left, _, _) = aspect_crop(h, w, th, tw);
            let (sh, sw) = ((h - top).min(th), (w - left).min(tw));
            if let Some((rs, win)) = self.fallback.as_mut() {
                for (xi, yi) in pairs {
                    slice(xi, self.src, top, left, sh, sw, win);
                    rs.run(ImageRef::new(win, sh, sw, c), yi);
                }
            }
        }
    }
    fn idle_forward(&mut self) {
        // The batch's crop offsets, as a training forward draws them.
        let [h, w, _] = self.src;
        if h > self.height && w > self.width {
            self.rng.below(h - self.height + 1);
            self.rng.below(w - self.width + 1);
        }
    }
    fn reseed(&mut self, epoch: u64) {
        self.rng = crate::rng::epoch_stream(self.base_seed, epoch);
    }
    not_differentiable!();
    fn config(&self) -> Map<String, Value> {
        super::object(json!({
            "data_format": "channels_last",
            "height": self.height,
            "width": self.width,
            "seed": self.seed,
        }))
    }
}

impl FromConfig for RandomCrop {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let mut l = RandomCrop::new(g.usize("height")?, g.usize("width")?);
        l = seeded!(l, g);
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_window_per_batch_inside_the_image_and_centred_in_inference() {
        let mut l = RandomCrop::new(2, 2).seed(1).name("c");
        l.build(&[4, 4, 1], &mut Rng::new(0)).expect("build");
        let x: Vec<f32> = (0..32).map(|v| (v % 16) as f32).collect();
        let mut y = vec![0.0; 8];
        l.forward(&x, &mut y, 2, Mode::Train);
        assert_eq!(y[..4], y[4..], "same window for the whole batch");
        assert_eq!(y[1] - y[0], 1.0);
        assert_eq!(y[2] - y[0], 4.0);
        l.forward(&x, &mut y, 2, Mode::Infer);
        assert_eq!(y[..4], [5.0, 6.0, 9.0, 10.0]);
    }
}
