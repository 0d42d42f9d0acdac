//! `Stack`: Keras 3's `keras.ops.stack` on symbolic tensors (`keras.src.ops.numpy.Stack`),
//! as `preprocess_input` saves the channels it put in BGR order.

use super::{Layer, LayerBase};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Keras 3's `keras.ops.stack(tensors, axis)` as a layer (`keras.src.ops.numpy.Stack`):
/// tensors of one shape joined along a new axis. Keras saves "caffe" `preprocess_input` on
/// a symbolic tensor as three [`GetItem`](super::GetItem) and this, with `axis=-1`.
///
/// # Shapes
/// `k` inputs of shape `s` give `s` with a new axis of size `k` at `axis` (counted with the
/// batch axis, negative from the end; the batch axis itself cannot be stacked along).
///
/// ```
/// use rkeras::prelude::*;
/// use rkeras::layers::{GetItem, Stack};
/// let inputs = Input::new((4, 4, 3));
/// let channels: Vec<KerasTensor> = [2, 1, 0]
///     .iter()
///     .map(|&c| GetItem::last_axis(c).call(&inputs))
///     .collect::<rkeras::Result<_>>()?;
/// let bgr = Stack::new(-1).call_on(&channels.iter().collect::<Vec<_>>())?;
/// assert_eq!(bgr.shape(), &[4, 4, 3]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Stack {
    base: LayerBase,
    axis: i64,
    /// Number of outer blocks (the product of the dimensions before the new axis).
    outer: usize,
    /// Values after the new axis (the product of the dimensions after it).
    inner: usize,
}

impl Stack {
    /// Stacks along `axis` (Keras's default is 0, the batch axis, which a model cannot
    /// take: use -1 for a last axis, as `preprocess_input`).
    pub fn new(axis: i64) -> Self {
        Stack {
            base: LayerBase::default(),
            axis,
            outer: 0,
            inner: 0,
        }
    }
    /// Sets the layer's name (default: an automatic Keras name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.base.name = Some(name.into());
        self
    }
}

impl From<Stack> for Box<dyn Layer> {
    fn from(l: Stack) -> Self {
        Box::new(l)
    }
}

impl Layer for Stack {
    fn class_name(&self) -> &'static str {
        "Stack"
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
        let Some(first) = shapes.first() else {
            return Err(Error::arg(
                "inputs",
                &name,
                "Stack needs at least one input",
            ));
        };
        if let Some(other) = shapes.iter().find(|s| *s != first) {
            return Err(Error::IncompatibleShape {
                layer: name,
                expected: format!(
                    "every input of shape {}",
                    crate::shape::batch_shape_str(first)
                ),
                received: crate::shape::batch_shape_str(other),
            });
        }
        // The output has rank len + 2 with the batch axis.
        let rank = first.len() as i64 + 2;
        let ax = if self.axis < 0 {
            rank + self.axis
        } else {
            self.axis
        };
        if ax < 1 || ax >= rank {
            return Err(Error::arg(
                "axis",
                &name,
                format!(
                    "axis {} is out of range for an output of rank {rank} (the batch axis cannot be stacked along)",
                    self.axis
                ),
            ));
        }
        let a = (ax - 1) as usize;
        self.outer = first[..a].iter().product();
        self.inner = first[a..].iter().product();
        let mut out = first.clone();
        out.insert(a, shapes.len());
        Ok(out)
    }
    fn forward_merge(&mut self, xs: &[&[f32]], y: &mut [f32], n: usize) {
        let (k, inner) = (xs.len(), self.inner);
        for b in 0..n * self.outer {
            for (j, x) in xs.iter().enumerate() {
                let at = (b * k + j) * inner;
                y[at..at + inner].copy_from_slice(&x[b * inner..(b + 1) * inner]);
            }
        }
    }
    fn backward_merge(
        &mut self,
        _xs: &[&[f32]],
        _y: &[f32],
        dy: &[f32],
        dxs: &mut [&mut [f32]],
        n: usize,
    ) {
        let (k, inner) = (dxs.len(), self.inner);
        for b in 0..n * self.outer {
            for (j, dx) in dxs.iter_mut().enumerate() {
                let at = (b * k + j) * inner;
                dx[b * inner..(b + 1) * inner].copy_from_slice(&dy[at..at + inner]);
            }
        }
    }
    fn config(&self) -> Map<String, Value> {
        Map::new()
    }
    fn full_config_override(&self) -> Option<Map<String, Value>> {
        super::object(json!({ "name": self.name(), "axis": self.axis })).into()
    }
    fn op_call(&self, tensors: &[Value]) -> Option<(&'static str, Value)> {
        Some(("keras.src.ops.numpy", json!([tensors])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_merge;

    #[test]
    fn stacks_along_any_axis_but_the_batch() {
        let shapes = [vec![2, 3], vec![2, 3], vec![2, 3]];
        assert_eq!(check_merge(Box::new(Stack::new(-1)), &shapes), [2, 3, 3]);
        assert_eq!(check_merge(Box::new(Stack::new(1)), &shapes), [3, 2, 3]);
        assert_eq!(check_merge(Box::new(Stack::new(-2)), &shapes), [2, 3, 3]);
        let mut s = Stack::new(-1);
        s.build_merge(&[vec![2], vec![2]], &mut Rng::new(0))
            .expect("build");
        let mut y = vec![0.0; 4];
        s.forward_merge(&[&[1.0, 2.0], &[3.0, 4.0]], &mut y, 1);
        assert_eq!(y, [1.0, 3.0, 2.0, 4.0]);
        for axis in [0, 4, -4, -5] {
            let mut s = Stack::new(axis);
            assert!(s.build_merge(&shapes, &mut Rng::new(0)).is_err(), "{axis}");
        }
        let mut s = Stack::new(-1);
        assert!(s
            .build_merge(&[vec![2], vec![3]], &mut Rng::new(0))
            .is_err());
    }
}
