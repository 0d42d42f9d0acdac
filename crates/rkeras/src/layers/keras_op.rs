//! Keras 3 operations saved into a graph as layers: keras.applications write `x + 3.0` and
//! `x * (1 / 6)` (MobileNetV3's hard sigmoid) or `x + y` (ConvNeXt) as
//! `keras.src.ops.numpy.Add` and the like, with a number or a second tensor as argument.

use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// The arithmetic of a [`KerasOp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Subtract,
    /// `a * b`.
    Multiply,
    /// `a / b`.
    Divide,
}

/// A Keras 3 arithmetic operation in a functional graph (`keras.ops.add(x, 3.0)`, `x * y`),
/// as Keras saves it: `{"module": "keras.src.ops.numpy", "class_name": "Add", ...}` with the
/// number or the second tensor among the call's arguments. Two tensors broadcast as the merge
/// layers do. Built from such configs; saved back the same way.
#[derive(Debug)]
pub struct KerasOp {
    base: LayerBase,
    op: ArithOp,
    /// The Keras class name read (`"Add"`, `"TrueDivide"`, ...).
    class: &'static str,
    /// The number, and whether it is the first argument (`3.0 - x`); `None` for two tensors.
    constant: Option<(f64, bool)>,
    /// Two tensors: the merge layer that computes them.
    merge: Option<Box<dyn Layer>>,
}

impl KerasOp {
    /// The operation of Keras class `class` (`Add`, `Subtract`, `Multiply`, `Divide`,
    /// `TrueDivide`) on a tensor and `constant` (`Some((value, constant_first))`) or on two
    /// tensors (`None`).
    ///
    /// # Errors
    /// Another class, or a division of two tensors (not supported yet).
    pub fn new(class: &str, constant: Option<(f64, bool)>) -> Result<Self> {
        let (op, class) = match class {
            "Add" => (ArithOp::Add, "Add"),
            "Subtract" => (ArithOp::Subtract, "Subtract"),
            "Multiply" => (ArithOp::Multiply, "Multiply"),
            "Divide" => (ArithOp::Divide, "Divide"),
            "TrueDivide" => (ArithOp::Divide, "TrueDivide"),
            other => {
                return Err(Error::unknown(
                    "Keras operation",
                    other,
                    &["Add", "Subtract", "Multiply", "Divide", "TrueDivide"],
                ))
            }
        };
        let merge = match constant {
            Some(_) => None,
            None => Some(two_tensors(op).ok_or_else(|| {
                Error::Data(
                    "a Keras divide operation of two tensors: rkeras does not implement it yet"
                        .into(),
                )
            })?),
        };
        Ok(KerasOp {
            base: LayerBase::default(),
            op,
            class,
            constant,
            merge,
        })
    }

    /// `x op c` (or `c op x`) and its derivative in `x`.
    fn apply(&self, x: f32) -> (f32, f32) {
        let Some((c, first)) = self.constant else {
            return (x, 1.0);
        };
        let c = c as f32;
        match (self.op, first) {
            (ArithOp::Add, _) => (x + c, 1.0),
            (ArithOp::Subtract, false) => (x - c, 1.0),
            (ArithOp::Subtract, true) => (c - x, -1.0),
            (ArithOp::Multiply, _) => (x * c, c),
            (ArithOp::Divide, false) => (x / c, 1.0 / c),
            (ArithOp::Divide, true) => (c / x, -c / (x * x)),
        }
    }
}

common_builders!(KerasOp);

/// The merge layer computing `op` on two tensors (none for a division).
fn two_tensors(op: ArithOp) -> Option<Box<dyn Layer>> {
    match op {
        ArithOp::Add => Some(Box::new(super::Add::new())),
        ArithOp::Subtract => Some(Box::new(super::Subtract::new())),
        ArithOp::Multiply => Some(Box::new(super::Multiply::new())),
        ArithOp::Divide => None,
    }
}

impl Clone for KerasOp {
    /// The same operation; a two-tensor one gets a fresh merge layer (rebuilt before use).
    fn clone(&self) -> Self {
        KerasOp {
            base: self.base.clone(),
            op: self.op,
            class: self.class,
            constant: self.constant,
            merge: self.merge.as_ref().and_then(|_| two_tensors(self.op)),
        }
    }
}

impl Layer for KerasOp {
    fn class_name(&self) -> &'static str {
        self.class
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn per_sample(&self) -> bool {
        self.constant.is_some()
    }
    fn is_merge(&self) -> bool {
        self.merge.is_some()
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        match self.merge.as_mut() {
            Some(m) => m.build_merge(&[input_shape.to_vec()], rng),
            None => Ok(input_shape.to_vec()),
        }
    }
    fn build_merge(&mut self, shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<usize>> {
        let label = self.base.label().to_string();
        match self.merge.as_mut() {
            Some(m) => {
                m.base_mut().name = Some(label);
                m.build_merge(shapes, rng)
            }
            None => Err(Error::State(format!(
                "layer \"{label}\" ({}) takes one tensor and a number, it was given {} tensors",
                self.class,
                shapes.len()
            ))),
        }
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        for (o, v) in y.iter_mut().zip(x) {
            *o = self.apply(*v).0;
        }
    }
    fn backward(
        &mut self,
        x: &[f32],
        _y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        _ctx: Backward,
    ) {
        if let Some(dx) = dx {
            for ((d, g), v) in dx.iter_mut().zip(dy.iter()).zip(x) {
                *d = g * self.apply(*v).1;
            }
        }
    }
    fn forward_merge(&mut self, xs: &[&[f32]], y: &mut [f32], n: usize) {
        if let Some(m) = self.merge.as_mut() {
            m.forward_merge(xs, y, n);
        }
    }
    fn backward_merge(
        &mut self,
        xs: &[&[f32]],
        y: &[f32],
        dy: &[f32],
        dxs: &mut [&mut [f32]],
        n: usize,
    ) {
        if let Some(m) = self.merge.as_mut() {
            m.backward_merge(xs, y, dy, dxs, n);
        }
    }
    fn config(&self) -> Map<String, Value> {
        Map::new()
    }
    fn full_config_override(&self) -> Option<Map<String, Value>> {
        super::object(json!({ "name": self.name() })).into()
    }
    fn op_call(&self, tensors: &[Value]) -> Option<(&'static str, Value)> {
        let args = match (self.constant, tensors) {
            (Some((c, false)), [t]) => json!([t, c]),
            (Some((c, true)), [t]) => json!([c, t]),
            (_, ts) => json!(ts),
        };
        Some(("keras.src.ops.numpy", args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::{check_layer, check_merge};

    #[test]
    fn gradients_with_a_number_on_either_side_and_with_two_tensors() {
        for class in ["Add", "Subtract", "Multiply", "TrueDivide"] {
            for first in [false, true] {
                let op = KerasOp::new(class, Some((2.5, first))).expect("op");
                check_layer(Box::new(op), &[2, 3]);
            }
        }
        for class in ["Add", "Subtract", "Multiply"] {
            let op = KerasOp::new(class, None).expect("op");
            assert_eq!(
                check_merge(Box::new(op), &[vec![2, 3], vec![1, 3]]),
                vec![2, 3]
            );
        }
        assert!(KerasOp::new("Divide", None).is_err());
        assert!(KerasOp::new("Power", Some((2.0, false))).is_err());
        let (y, _) = KerasOp::new("Subtract", Some((3.0, true)))
            .expect("op")
            .apply(1.0);
        assert_eq!(y, 2.0);
    }
}
