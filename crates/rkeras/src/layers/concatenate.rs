//! `Concatenate`: joins its inputs along one axis.

use super::registry::{Cfg, FromConfig};
use super::{Layer, LayerBase};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Joins its inputs along `axis` (default -1, the channels; Keras `Concatenate`). The
/// other dimensions must agree.
///
/// ```
/// use rkeras::prelude::*;
/// let x = Input::new((8, 8, 3));
/// let a = Conv2D::new(4, 1).call(&x)?;
/// let b = Conv2D::new(6, 3).padding("same").call(&x)?;
/// let both = Concatenate::new().call_on(&[&a, &b])?;
/// assert_eq!(both.shape(), &[8, 8, 10]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Concatenate {
    base: LayerBase,
    axis: i64,
    /// Per input: the length of its slab along the axis times the inner size.
    slabs: Vec<usize>,
    /// Number of outer blocks (product of the dimensions before the axis).
    outer: usize,
}

impl Default for Concatenate {
    fn default() -> Self {
        Self::new()
    }
}

impl Concatenate {
    /// Concatenation along the last axis.
    pub fn new() -> Self {
        Concatenate {
            base: LayerBase::default(),
            axis: -1,
            slabs: Vec::new(),
            outer: 0,
        }
    }
    /// The axis (negative counts from the end; 0 is the batch axis and is refused).
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }
    /// Sets the layer's name (default: an automatic Keras name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.base.name = Some(name.into());
        self
    }
}

impl From<Concatenate> for Box<dyn Layer> {
    fn from(l: Concatenate) -> Self {
        Box::new(l)
    }
}

impl Layer for Concatenate {
    fn class_name(&self) -> &'static str {
        "Concatenate"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    super::merge::merge_plumbing!();
    fn build_merge(&mut self, shapes: &[Vec<usize>], _rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        if shapes.len() < 2 {
            return Err(Error::arg(
                "inputs",
                &name,
                format!("a Concatenate layer should be called on a list of at least 2 inputs, received {}", shapes.len()),
            ));
        }
        let rank = shapes[0].len() as i64;
        let ax = if self.axis < 0 {
            rank + 1 + self.axis
        } else {
            self.axis
        };
        if ax < 1 || ax > rank {
            return Err(Error::arg(
                "axis",
                &name,
                format!("axis {} is out of range for inputs of rank {} (the batch axis cannot be concatenated)", self.axis, rank + 1),
            ));
        }
        let a = (ax - 1) as usize;
        let compatible = shapes.iter().all(|s| {
            s.len() == shapes[0].len()
                && s.iter()
                    .zip(&shapes[0])
                    .enumerate()
                    .all(|(i, (x, y))| i == a || x == y)
        });
        if !compatible {
            let list: Vec<String> = shapes
                .iter()
                .map(|s| crate::shape::batch_shape_str(s))
                .collect();
            return Err(Error::IncompatibleShape {
                layer: name,
                expected: format!(
                    "inputs with matching shapes except for the concatenation axis {}",
                    self.axis
                ),
                received: list.join(", "),
            });
        }
        let inner: usize = shapes[0][a + 1..].iter().product();
        self.outer = shapes[0][..a].iter().product();
        self.slabs = shapes.iter().map(|s| s[a] * inner).collect();
        let mut out = shapes[0].clone();
        out[a] = shapes.iter().map(|s| s[a]).sum();
        Ok(out)
    }
    fn forward_merge(&mut self, xs: &[&[f32]], y: &mut [f32], n: usize) {
        rkeras_kernels::elementwise::concat_rows(xs, &self.slabs, n * self.outer, y);
    }
    fn backward_merge_into(
        &mut self,
        dy: &[f32],
        dxs: &mut [&mut [f32]],
        accumulate: &[bool],
        n: usize,
    ) -> bool {
        let rows = n * self.outer;
        rkeras_kernels::elementwise::split_rows(dy, &self.slabs, rows, dxs, accumulate);
        true
    }
    fn backward_merge(
        &mut self,
        _xs: &[&[f32]],
        _y: &[f32],
        dy: &[f32],
        dxs: &mut [&mut [f32]],
        n: usize,
    ) {
        rkeras_kernels::elementwise::split_rows(dy, &self.slabs, n * self.outer, dxs, &[]);
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({ "axis": self.axis }))
    }
}

impl FromConfig for Concatenate {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let c = g.c;
        let axis = c.get("axis").and_then(Value::as_i64).unwrap_or(-1);
        Ok(Concatenate::new().axis(axis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_merge;

    #[test]
    fn gradient_shapes_and_errors() {
        let l = Box::new(Concatenate::new());
        assert_eq!(
            check_merge(l, &[vec![2, 2, 1], vec![2, 2, 3]]),
            vec![2, 2, 4]
        );
        let l = Box::new(Concatenate::new().axis(1));
        assert_eq!(check_merge(l, &[vec![1, 3], vec![2, 3]]), vec![3, 3]);
        let mut c = Concatenate::new();
        let mut y = [0.0; 4];
        c.build_merge(&[vec![1], vec![1]], &mut Rng::new(0))
            .expect("build");
        c.forward_merge(&[&[1.0, 2.0], &[3.0, 4.0]], &mut y, 2);
        assert_eq!(y, [1.0, 3.0, 2.0, 4.0]);
        let e = Concatenate::new()
            .build_merge(&[vec![2, 2, 1], vec![3, 2, 1]], &mut Rng::new(0))
            .expect_err("shapes");
        assert!(e.to_string().contains("matching shapes"), "{e}");
        assert!(Concatenate::new()
            .axis(0)
            .build_merge(&[vec![2], vec![2]], &mut Rng::new(0))
            .is_err());
    }
}
