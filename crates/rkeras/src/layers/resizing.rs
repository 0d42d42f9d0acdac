//! `Resizing`: resizes every image to a fixed size (optionally cropping or padding to the
//! target aspect ratio first), in training and inference.

use super::registry::{Cfg, FromConfig};
use super::{check_pair, common_builders, not_differentiable, rank_error, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::preprocessing::parse_interpolation;
use crate::rng::Rng;
use rkeras_kernels::image::{aspect_crop, ImageRef, Resize};
use serde_json::{json, Map, Value};

/// Resizes images to `(height, width)` (Keras `Resizing`), with TensorFlow's half-pixel
/// bilinear or nearest kernel. `crop_to_aspect_ratio` first keeps the largest centred
/// window of the target aspect ratio; `pad_to_aspect_ratio` first pads with `fill_value`
/// (Keras's symmetric padding, which drops a row or column when the difference is odd).
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([Resizing::new(32, 32).input_shape((64, 48, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Resizing {
    base: LayerBase,
    height: usize,
    width: usize,
    interpolation: String,
    crop_to_aspect_ratio: bool,
    pad_to_aspect_ratio: bool,
    fill_mode: String,
    fill_value: f64,
    antialias: bool,
    plan: Option<Plan>,
}

#[derive(Debug, Clone)]
struct Plan {
    src: [usize; 3],
    kind: Kind,
    /// Sampling tables from the cropped or padded size to the target.
    resize: Resize,
    /// One cropped or padded image.
    scratch: Vec<f32>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Stretch,
    Crop(usize, usize, usize, usize),
    Pad(usize, usize),
}

impl Resizing {
    /// Resize to `height x width`.
    pub fn new(height: usize, width: usize) -> Self {
        Resizing {
            base: LayerBase::default(),
            height,
            width,
            interpolation: "bilinear".into(),
            crop_to_aspect_ratio: false,
            pad_to_aspect_ratio: false,
            fill_mode: "constant".into(),
            fill_value: 0.0,
            antialias: false,
            plan: None,
        }
    }
    /// `"bilinear"` (default) or `"nearest"`.
    pub fn interpolation(mut self, i: &str) -> Self {
        self.interpolation = i.into();
        self
    }
    /// Crop to the target aspect ratio before resizing.
    pub fn crop_to_aspect_ratio(mut self, c: bool) -> Self {
        self.crop_to_aspect_ratio = c;
        self
    }
    /// Pad to the target aspect ratio before resizing.
    pub fn pad_to_aspect_ratio(mut self, p: bool) -> Self {
        self.pad_to_aspect_ratio = p;
        self
    }
    /// Padding mode; Keras supports only `"constant"`.
    pub fn fill_mode(mut self, m: &str) -> Self {
        self.fill_mode = m.into();
        self
    }
    /// Padding value (default 0).
    pub fn fill_value(mut self, v: f64) -> Self {
        self.fill_value = v;
        self
    }
    /// Anti-aliased downscaling (not implemented: only `false` is accepted).
    pub fn antialias(mut self, a: bool) -> Self {
        self.antialias = a;
        self
    }
}
common_builders!(Resizing);

/// Resizes one image `x` (`src` dims) into `y` following the plan; no allocation.
fn run(p: &mut Plan, fill: f32, x: &[f32], y: &mut [f32]) {
    let [h, w, c] = p.src;
    match p.kind {
        Kind::Stretch => p.resize.run(ImageRef::new(x, h, w, c), y),
        Kind::Crop(top, left, ch, cw) => {
            for r in 0..ch {
                let s = ((top + r) * w + left) * c;
                p.scratch[r * cw * c..(r + 1) * cw * c].copy_from_slice(&x[s..s + cw * c]);
            }
            p.resize.run(ImageRef::new(&p.scratch, ch, cw, c), y);
        }
        Kind::Pad(hs, ws) => {
            let (ph, pw) = (h + 2 * hs, w + 2 * ws);
            p.scratch.fill(fill);
            for r in 0..h {
                let d = ((r + hs) * pw + ws) * c;
                p.scratch[d..d + w * c].copy_from_slice(&x[r * w * c..(r + 1) * w * c]);
            }
            p.resize.run(ImageRef::new(&p.scratch, ph, pw, c), y);
        }
    }
}

impl Layer for Resizing {
    fn class_name(&self) -> &'static str {
        "Resizing"
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
        let interp = parse_interpolation(&self.interpolation, &name)?;
        if self.fill_mode != "constant" {
            return Err(Error::arg(
                "fill_mode",
                &name,
                format!(
                    "Only `'constant'` is supported. Received: fill_mode={}",
                    self.fill_mode
                ),
            ));
        }
        if self.crop_to_aspect_ratio && self.pad_to_aspect_ratio {
            return Err(Error::arg(
                "pad_to_aspect_ratio",
                &name,
                "Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`.",
            ));
        }
        if self.antialias {
            return Err(Error::arg(
                "antialias",
                &name,
                "antialiased resizing is not implemented in rkeras; use antialias=false",
            ));
        }
        let (th, tw) = (self.height, self.width);
        let (kind, (ih, iw)) = if self.crop_to_aspect_ratio {
            let (t, l, ch, cw) = aspect_crop(h, w, th, tw);
            (Kind::Crop(t, l, ch, cw), (ch, cw))
        } else if self.pad_to_aspect_ratio {
            let ph = h.max(((w * th) as f32 / tw as f32) as usize);
            let pw = w.max(((h * tw) as f32 / th as f32) as usize);
            let (hs, ws) = ((ph - h) / 2, (pw - w) / 2);
            (Kind::Pad(hs, ws), (h + 2 * hs, w + 2 * ws))
        } else {
            (Kind::Stretch, (h, w))
        };
        let scratch_len = if matches!(kind, Kind::Stretch) {
            0
        } else {
            ih * iw * c
        };
        self.plan = Some(Plan {
            src: [h, w, c],
            kind,
            resize: Resize::new((ih, iw), (th, tw), interp),
            scratch: vec![0.0; scratch_len],
        });
        Ok(vec![th, tw, c])
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let fill = self.fill_value as f32;
        let Some(p) = self.plan.as_mut() else { return };
        let (il, ol) = (x.len() / n.max(1), y.len() / n.max(1));
        for (xi, yi) in x.chunks(il.max(1)).zip(y.chunks_mut(ol.max(1))) {
            run(p, fill, xi, yi);
        }
    }
    not_differentiable!();
    fn config(&self) -> Map<String, Value> {
        super::object(json!({
            "data_format": "channels_last",
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
        }))
    }
}

impl FromConfig for Resizing {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(Resizing::new(g.usize("height")?, g.usize("width")?)
            .interpolation(g.str_or("interpolation", "bilinear")?)
            .crop_to_aspect_ratio(g.bool_or("crop_to_aspect_ratio", false)?)
            .pad_to_aspect_ratio(g.bool_or("pad_to_aspect_ratio", false)?)
            .fill_mode(g.str_or("fill_mode", "constant")?)
            .fill_value(g.f64_or("fill_value", 0.0)?)
            .antialias(g.bool_or("antialias", false)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(l: Resizing, shape: &[usize], x: &[f32]) -> Vec<f32> {
        let mut l = l.name("r");
        let out = l.build(shape, &mut Rng::new(0)).expect("build");
        let mut y = vec![0.0; out.iter().product()];
        l.forward(x, &mut y, 1, Mode::Infer);
        y
    }

    #[test]
    fn bilinear_halves_a_ramp() {
        let x: Vec<f32> = (0..25).map(|v| v as f32).collect();
        assert_eq!(
            apply(Resizing::new(2, 2), &[5, 5, 1], &x),
            [4.5, 7.0, 17.0, 19.5]
        );
    }

    #[test]
    fn crop_keeps_the_centre() {
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        // 2x4 to 2x2: the centre 2x2 window, unchanged.
        let y = apply(
            Resizing::new(2, 2).crop_to_aspect_ratio(true),
            &[2, 4, 1],
            &x,
        );
        assert_eq!(y, [1.0, 2.0, 5.0, 6.0]);
    }

    #[test]
    fn both_aspect_options_are_an_error() {
        let mut l = Resizing::new(2, 2)
            .crop_to_aspect_ratio(true)
            .pad_to_aspect_ratio(true)
            .name("r");
        assert!(l.build(&[4, 4, 1], &mut Rng::new(0)).is_err());
    }
}
