//! `MixUp` and `CutMix` as layers: each training image mixed with another image of its
//! batch (the labels are mixed by `fit(..).mix_up(alpha)` / `.cut_mix(factor)`).

use super::random_image::{pair_json, parse_factor, FactorArg};
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::preprocessing::mix::{Mix, MixDraw};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// What the two mixing layers share: the layer's seeded stream and the batch's draws.
#[derive(Clone, Debug)]
pub(crate) struct MixCore {
    pub seed: Option<u64>,
    base_seed: u64,
    rng: Rng,
    dims: [usize; 3],
    draw: MixDraw,
    trained: bool,
}

impl MixCore {
    fn new() -> Self {
        MixCore {
            seed: None,
            base_seed: 0,
            rng: Rng::new(0),
            dims: [0; 3],
            draw: MixDraw::default(),
            trained: false,
        }
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng, layer: &str) -> Result<Vec<usize>> {
        let [h, w, c] = super::random_image::image_dims(input_shape, layer)?;
        self.dims = [h, w, c];
        self.base_seed = self.seed.unwrap_or_else(|| rng.fork(0xA06).next_u64());
        self.rng = Rng::new(self.base_seed);
        Ok(input_shape.to_vec())
    }
    fn forward(&mut self, mix: Mix, x: &[f32], y: &mut [f32], n: usize, mode: Mode) {
        self.trained = mode == Mode::Train;
        if !self.trained {
            y.copy_from_slice(x);
            return;
        }
        let [h, w, _] = self.dims;
        self.draw.draw(mix, &mut self.rng, n, h, w);
        self.draw.mix_images(mix, x, y, self.dims);
    }
    fn backward(&self, mix: Mix, dy: &[f32], dx: Option<&mut [f32]>) {
        let Some(dx) = dx else { return };
        if self.trained {
            self.draw.mix_images_backward(mix, dy, dx, self.dims);
        } else {
            dx.copy_from_slice(dy);
        }
    }
}

/// The `Layer` methods of a mixing layer (fields `base`, `core`, and `fn mix(&self)`).
macro_rules! mix_layer_methods {
    () => {
        fn base(&self) -> &LayerBase {
            &self.base
        }
        fn base_mut(&mut self) -> &mut LayerBase {
            &mut self.base
        }
        fn allocate(&mut self, max_batch: usize) {
            self.core.draw = MixDraw::with_capacity(max_batch);
        }
        fn reseed(&mut self, epoch: u64) {
            self.core.rng = crate::rng::epoch_stream(self.core.base_seed, epoch);
        }
        fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, mode: Mode) {
            let mix = self.mix();
            self.core.forward(mix, x, y, n, mode);
        }
        fn backward(
            &mut self,
            _x: &[f32],
            _y: &[f32],
            dy: &mut [f32],
            dx: Option<&mut [f32]>,
            _ctx: Backward,
        ) {
            self.core.backward(self.mix(), dy, dx);
        }
    };
}

/// Keras's `MixUp(alpha)` in a model: in training, each image becomes `w x + (1 - w) x'`
/// with `x'` another image of the batch and `w ~ Beta(alpha, alpha)`; the identity in
/// inference. A layer sees no labels, so they stay as they are (as in Keras when the layer
/// is called on images alone); to mix the labels too, train with
/// [`Fit::mix_up`](crate::train::Fit::mix_up).
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([MixUp::new(0.2).input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MixUp {
    base: LayerBase,
    alpha: f64,
    core: MixCore,
}

impl MixUp {
    /// Mixing with `Beta(alpha, alpha)` weights (Keras's default 0.2).
    pub fn new(alpha: f64) -> Self {
        MixUp {
            base: LayerBase::default(),
            alpha,
            core: MixCore::new(),
        }
    }
    /// Fixes the layer's random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.core.seed = Some(seed);
        self
    }
    fn mix(&self) -> Mix {
        Mix::MixUp {
            alpha: self.alpha as f32,
        }
    }
}
common_builders!(MixUp);

impl Layer for MixUp {
    fn class_name(&self) -> &'static str {
        "MixUp"
    }
    mix_layer_methods!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(Error::arg(
                "alpha",
                &name,
                format!("expected a positive number, received {}", self.alpha),
            ));
        }
        self.core.build(input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({
            "data_format": "channels_last",
            "alpha": self.alpha,
            "seed": self.core.seed,
        }))
    }
}

impl FromConfig for MixUp {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let mut l = MixUp::new(g.f64_or("alpha", 0.2)?);
        if let Some(s) = g.seed() {
            l = l.seed(s);
        }
        Ok(l)
    }
}

/// Keras's `CutMix(factor)` in a model: in training, a box of another image of the batch is
/// pasted into each image, its sides `sqrt(1 - w)` of the image's with `w ~ Beta(a, a)`,
/// `a = U(factor)` per batch (a number `f` means `(0, f)`; default `(0, 1)`); the identity
/// in inference. The labels are mixed by [`Fit::cut_mix`](crate::train::Fit::cut_mix).
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([CutMix::new(1.0).input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CutMix {
    base: LayerBase,
    factor: FactorArg,
    core: MixCore,
}

impl CutMix {
    /// Keras's `factor`: a number in `[0, 1]` or a `(lower, upper)` pair.
    pub fn new(factor: impl Into<FactorArg>) -> Self {
        CutMix {
            base: LayerBase::default(),
            factor: factor.into(),
            core: MixCore::new(),
        }
    }
    /// Fixes the layer's random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.core.seed = Some(seed);
        self
    }
    fn parsed(&self, name: &str) -> Result<(f64, f64)> {
        parse_factor(self.factor, (0.0, 1.0), true, "factor", name)
    }
    fn mix(&self) -> Mix {
        let (a, b) = self.parsed("").unwrap_or((0.0, 1.0));
        Mix::CutMix {
            factor: (a as f32, b as f32),
        }
    }
}
common_builders!(CutMix);

impl Layer for CutMix {
    fn class_name(&self) -> &'static str {
        "CutMix"
    }
    mix_layer_methods!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        self.parsed(&name)?;
        self.core.build(input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        let factor = self.parsed("").map_or(self.factor.json(), pair_json);
        super::object(json!({
            "data_format": "channels_last",
            "factor": factor,
            "seed": self.core.seed,
        }))
    }
}

impl FromConfig for CutMix {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let factor = match g.c.get("factor") {
            None | Some(Value::Null) => FactorArg::Scalar(1.0),
            _ => g.factor("factor")?,
        };
        let mut l = CutMix::new(factor);
        if let Some(s) = g.seed() {
            l = l.seed(s);
        }
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_only_in_training_and_keeps_each_pixel_a_blend() {
        let mut l = MixUp::new(0.4).name("m");
        l.build(&[2, 2, 1], &mut Rng::new(0)).expect("build");
        l.allocate(3);
        let x: Vec<f32> = (0..3).flat_map(|i| vec![i as f32 * 10.0; 4]).collect();
        let mut y = vec![0.0; 12];
        l.forward(&x, &mut y, 3, Mode::Infer);
        assert_eq!(y, x);
        l.forward(&x, &mut y, 3, Mode::Train);
        assert!(y.iter().all(|v| (0.0..=20.0).contains(v)), "{y:?}");
        assert_eq!(CutMix::new(1.0).config()["factor"], json!([0, 1]));
    }
}
