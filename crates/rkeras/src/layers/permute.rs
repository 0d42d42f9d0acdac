//! `Permute`: reorders the non-batch axes.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Permutes the axes of each sample (Keras `Permute`): `dims` are 1-based, as in Keras
/// (`(2, 1)` swaps the two axes of a `(steps, features)` input).
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([Permute::new(&[2, 1]).input_shape((10, 64)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[64, 10][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Permute {
    base: LayerBase,
    dims: Vec<usize>,
    in_shape: Vec<usize>,
    /// For each output element (row-major), its offset in the input sample.
    source: Vec<u32>,
}

impl Permute {
    /// Permutation `dims` of the axes `1..=rank`.
    pub fn new(dims: &[usize]) -> Self {
        Permute {
            base: LayerBase::default(),
            dims: dims.to_vec(),
            in_shape: Vec::new(),
            source: Vec::new(),
        }
    }
}
common_builders!(Permute);

impl Layer for Permute {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "Permute"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let r = input_shape.len();
        let mut sorted = self.dims.clone();
        sorted.sort_unstable();
        if sorted != (1..=r).collect::<Vec<_>>() {
            return Err(Error::arg(
                "dims",
                self.base.label(),
                format!(
                    "Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` must be consecutive and start from 1. Received dims={:?} for an input of rank {}",
                    self.dims,
                    r + 1
                ),
            ));
        }
        let out: Vec<usize> = self.dims.iter().map(|&d| input_shape[d - 1]).collect();
        // Input strides, then the input offset of every output position.
        let mut stride = vec![1usize; r];
        for i in (0..r.saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * input_shape[i + 1];
        }
        let total: usize = out.iter().product();
        let mut idx = vec![0usize; r];
        self.source = Vec::with_capacity(total);
        for _ in 0..total {
            let off: usize = (0..r).map(|a| idx[a] * stride[self.dims[a] - 1]).sum();
            self.source.push(off as u32);
            for a in (0..r).rev() {
                idx[a] += 1;
                if idx[a] < out[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
        self.in_shape = input_shape.to_vec();
        Ok(out)
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let len = self.source.len();
        for s in 0..n {
            let xs = &x[s * len..(s + 1) * len];
            for (o, &src) in y[s * len..(s + 1) * len].iter_mut().zip(&self.source) {
                *o = xs[src as usize];
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
        let len = self.source.len();
        for s in 0..ctx.n {
            let dxs = &mut dx[s * len..(s + 1) * len];
            for (g, &src) in dy[s * len..(s + 1) * len].iter().zip(&self.source) {
                dxs[src as usize] = *g;
            }
        }
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({ "dims": self.dims }))
    }
}

impl FromConfig for Permute {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let dims: Vec<usize> = g.ints("dims", 1)?.into_iter().map(|d| d as usize).collect();
        Ok(Permute::new(&dims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradient_shape_and_values() {
        assert_eq!(
            check_layer(Box::new(Permute::new(&[3, 1, 2])), &[2, 3, 4]),
            vec![4, 2, 3]
        );
        let mut l = Permute::new(&[2, 1]);
        l.build(&[2, 3], &mut Rng::new(0)).expect("build");
        let mut y = [0.0; 6];
        l.forward(&[0., 1., 2., 3., 4., 5.], &mut y, 1, Mode::Infer);
        assert_eq!(y, [0., 3., 1., 4., 2., 5.]);
        assert!(Permute::new(&[0, 1])
            .build(&[2, 3], &mut Rng::new(0))
            .is_err());
    }
}
