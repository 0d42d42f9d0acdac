//! MixUp and CutMix on `fit`'s training batches (Keras's `MixUp` / `CutMix` applied to
//! `{"images": x, "labels": y}` in the input pipeline): images and labels mixed alike.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::preprocessing::mix::{Mix, MixDraw};
use crate::rng::Rng;

/// The mixing of one `fit`: its draws, its stream and its buffers (sized once).
pub(crate) struct Mixer {
    mix: Mix,
    base_seed: u64,
    rng: Rng,
    dims: [usize; 3],
    draw: MixDraw,
    x: Vec<f32>,
    y: Vec<f32>,
}

impl Mixer {
    /// Checks the model can be trained on mixed batches and sizes the buffers.
    ///
    /// # Errors
    /// Sparse (class index) labels, which cannot be mixed; several inputs; CutMix on an
    /// input that is not an image; mixing parameters out of range.
    pub fn new(model: &Model, mix: Mix, seed: u64, max: usize) -> Result<Self> {
        let (arg, what) = match mix {
            Mix::MixUp { .. } => ("mix_up", "MixUp"),
            Mix::CutMix { .. } => ("cut_mix", "CutMix"),
        };
        match mix {
            Mix::MixUp { alpha } if !(alpha.is_finite() && alpha > 0.0) => {
                return Err(Error::arg(
                    "alpha",
                    what,
                    format!("expected a positive number, received {alpha}"),
                ));
            }
            Mix::CutMix { factor: (a, b) }
                if !(0.0..=1.0).contains(&a) || !(a..=1.0).contains(&b) =>
            {
                return Err(Error::arg(
                    "factor",
                    what,
                    format!("expected 0 <= lower <= upper <= 1, received ({a}, {b})"),
                ));
            }
            _ => {}
        }
        let c = model
            .compiled
            .as_ref()
            .ok_or_else(|| Error::State("You must call `compile()` before `fit()`.".into()))?;
        if c.heads.iter().any(|h| h.loss.is_sparse()) {
            return Err(Error::arg(
                arg,
                what,
                format!("{what} mixes the labels, so they must be one-hot (categorical_crossentropy, label_mode=\"categorical\"), not class indices (sparse_categorical_crossentropy)"),
            ));
        }
        let inputs = super::batches::input_layout(model);
        let [(_, shape)] = inputs.as_slice() else {
            return Err(Error::arg(
                arg,
                what,
                format!("{what} takes a model with one input"),
            ));
        };
        let dims = match (mix, shape.as_slice()) {
            (_, &[h, w, ch]) => [h, w, ch],
            (Mix::MixUp { .. }, s) => [1, 1, crate::shape::numel(s)],
            (Mix::CutMix { .. }, s) => {
                return Err(Error::arg(
                    arg,
                    what,
                    format!("CutMix pastes boxes of images (height, width, channels); the model's input is {s:?}"),
                ))
            }
        };
        let y_len: usize = c.heads.iter().map(|h| h.t_len).sum();
        Ok(Mixer {
            mix,
            base_seed: seed,
            rng: Rng::new(seed),
            dims,
            draw: MixDraw::with_capacity(max),
            x: vec![0.0; max * crate::shape::numel(&dims)],
            y: vec![0.0; max * y_len],
        })
    }

    /// Restarts the stream for `epoch`.
    pub fn reseed(&mut self, epoch: u64) {
        self.rng = crate::rng::epoch_stream(self.base_seed, epoch);
    }

    /// Mixes the batch of `n` just loaded: the images in `x`, the label rows (`y_len` each)
    /// in `y`.
    pub fn apply(&mut self, x: &mut [f32], y: &mut [f32], n: usize, y_len: usize) {
        let [h, w, _] = self.dims;
        self.draw.draw(self.mix, &mut self.rng, n, h, w);
        let len = crate::shape::numel(&self.dims) * n;
        self.x[..len].copy_from_slice(&x[..len]);
        self.draw
            .mix_images(self.mix, &self.x[..len], &mut x[..len], self.dims);
        self.draw.mix_labels(y, y_len, &mut self.y);
    }
}
