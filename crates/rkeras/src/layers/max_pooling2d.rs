//! `MaxPooling2D`: maximum over windows, with the winners stored for the backward pass.

use super::registry::{Cfg, FromConfig};
use super::{
    check_pair, common_builders, parse_padding, rank_error, Backward, Layer, LayerBase, Mode,
};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::shape::IntoPair;
use rkeras_kernels::{pool2d, Pool2dGeom};
use serde_json::{json, Map, Value};

/// 2-D max pooling (Keras `MaxPooling2D`): `pool_size=(2, 2)`, `strides=None` (= pool size),
/// `padding="valid"`.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([MaxPooling2D::new((2, 2)).input_shape((62, 62, 32)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[31, 31, 32][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MaxPooling2D {
    base: LayerBase,
    pub(crate) pool_size: (usize, usize),
    pub(crate) strides: Option<(usize, usize)>,
    pub(crate) padding: String,
    geom: Option<Pool2dGeom>,
    /// Window position of each output of the last training-mode forward pass.
    argmax: Vec<u32>,
    /// `argmax` belongs to the last forward pass (an inference-mode one skips it).
    argmax_fresh: bool,
}

impl MaxPooling2D {
    /// Max pooling over `pool_size` windows.
    pub fn new(pool_size: impl IntoPair) -> Self {
        MaxPooling2D {
            base: LayerBase::default(),
            pool_size: pool_size.into_pair(),
            strides: None,
            padding: "valid".into(),
            geom: None,
            argmax: Vec::new(),
            argmax_fresh: false,
        }
    }
    /// Strides (default: the pool size).
    pub fn strides(mut self, s: impl IntoPair) -> Self {
        self.strides = Some(s.into_pair());
        self
    }
    /// `"valid"` (default) or `"same"`.
    pub fn padding(mut self, p: &str) -> Self {
        self.padding = p.into();
        self
    }
}
common_builders!(MaxPooling2D);

/// Builds the pooling geometry shared by max and average pooling.
pub(crate) fn pool_geom(
    name: &str,
    pool: (usize, usize),
    strides: Option<(usize, usize)>,
    padding: &str,
    input_shape: &[usize],
) -> Result<Pool2dGeom> {
    check_pair("pool_size", pool, name)?;
    let strides = strides.unwrap_or(pool);
    check_pair("strides", strides, name)?;
    let pad = parse_padding(padding, name)?;
    let &[h, w, c] = input_shape else {
        return Err(rank_error(
            name,
            "ndim=4 (batch, height, width, channels)",
            input_shape,
        ));
    };
    Pool2dGeom::new((h, w, c), pool, strides, pad).ok_or_else(|| Error::IncompatibleShape {
        layer: name.into(),
        expected: format!(
            "a spatial size of at least the pool size {pool:?} with padding \"{padding}\""
        ),
        received: crate::shape::batch_shape_str(input_shape),
    })
}

pub(crate) fn pool_config(
    pool: (usize, usize),
    strides: Option<(usize, usize)>,
    padding: &str,
) -> Map<String, Value> {
    let s = strides.unwrap_or(pool);
    super::object(json!({
        "pool_size": [pool.0, pool.1],
        "padding": padding,
        "strides": [s.0, s.1],
        "data_format": "channels_last"
    }))
}

impl Layer for MaxPooling2D {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "MaxPooling2D"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn max_pool_geom(&self) -> Option<Pool2dGeom> {
        self.geom
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let g = pool_geom(
            self.base.label(),
            self.pool_size,
            self.strides,
            &self.padding,
            input_shape,
        )?;
        self.geom = Some(g);
        Ok(vec![g.oh, g.ow, g.c])
    }
    fn allocate(&mut self, max_batch: usize) {
        if let Some(g) = self.geom {
            if self.argmax.len() < max_batch * g.out_len() {
                // Zeroed pages, mapped when a training-mode pass first writes them.
                self.argmax = vec![0; max_batch * g.out_len()];
                self.argmax_fresh = false;
            }
        }
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, mode: Mode) {
        if let Some(g) = self.geom {
            // Inference needs the maxima only.
            match mode {
                Mode::Train => pool2d::max_forward(&g, n, x, y, &mut self.argmax),
                Mode::Infer => pool2d::max_forward_infer(&g, n, x, y),
            }
            self.argmax_fresh = mode == Mode::Train;
        }
    }
    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
    ) {
        if let (Some(g), Some(dx)) = (self.geom, dx) {
            if !self.argmax_fresh {
                // After an inference-mode pass (not how models call layers): the positions
                // are found again from the input.
                let mut again = y.to_vec();
                pool2d::max_forward(&g, ctx.n, x, &mut again, &mut self.argmax);
                self.argmax_fresh = true;
            }
            pool2d::max_backward(&g, ctx.n, dy, &self.argmax, dx);
        }
    }
    fn config(&self) -> Map<String, Value> {
        pool_config(self.pool_size, self.strides, &self.padding)
    }
}

impl FromConfig for MaxPooling2D {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let pool = g.pair_or("pool_size", (2, 2))?;
        Ok(MaxPooling2D::new(pool)
            .strides(g.pair_or("strides", pool)?)
            .padding(g.str_or("padding", "valid")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn inference_skips_the_positions_and_backward_still_finds_them() {
        let (n, shape) = (2, [6, 6, 3]);
        let mut l = MaxPooling2D::new(2);
        l.build(&shape, &mut Rng::new(1)).expect("build");
        l.allocate(n);
        let mut r = Rng::new(2);
        let mut vec = |len: usize| (0..len).map(|_| r.uniform()).collect::<Vec<f32>>();
        let (x, other, dy) = (vec(n * 108), vec(n * 108), vec(n * 27));
        let ctx = Backward {
            n,
            skip_activation: false,
            accumulate: false,
        };
        let (mut y, mut yi) = (vec![0.0; n * 27], vec![0.0; n * 27]);
        let mut want = vec![f32::NAN; n * 108];
        l.forward(&x, &mut y, n, Mode::Train);
        l.backward(&x, &y, &mut dy.clone(), Some(&mut want), ctx);
        assert_eq!(want.iter().filter(|v| **v != 0.0).count(), n * 27);
        // The last training pass saw `other`; the inference pass on `x` keeps no window
        // positions, so the backward pass finds `x`'s again.
        l.forward(&other, &mut vec![0.0; n * 27], n, Mode::Train);
        l.forward(&x, &mut yi, n, Mode::Infer);
        assert_eq!(yi, y, "the same maxima in both modes");
        let mut dx = vec![f32::NAN; n * 108];
        l.backward(&x, &yi, &mut dy.clone(), Some(&mut dx), ctx);
        assert_eq!(dx, want);
    }

    #[test]
    fn gradients_and_shapes() {
        assert_eq!(
            check_layer(Box::new(MaxPooling2D::new(2)), &[5, 4, 2]),
            vec![2, 2, 2]
        );
        assert_eq!(
            check_layer(
                Box::new(MaxPooling2D::new(3).strides(2).padding("same")),
                &[5, 5, 1]
            ),
            vec![3, 3, 1]
        );
        let c = MaxPooling2D::new(2).config();
        assert_eq!(c["strides"], json!([2, 2]));
        assert!(MaxPooling2D::new(3)
            .build(&[2, 2, 1], &mut Rng::new(0))
            .is_err());
        assert!(MaxPooling2D::new(0)
            .build(&[4, 4, 1], &mut Rng::new(0))
            .is_err());
    }
}
