//! The element-wise merge layers: `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`,
//! `Minimum`. They take several inputs of one shape and return one output of that shape.

use super::{Layer, LayerBase};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Add,
    Subtract,
    Multiply,
    Average,
    Maximum,
    Minimum,
}

/// Checks that merge inputs all have one shape; returns it.
pub(crate) fn same_shapes(
    layer: &str,
    shapes: &[Vec<usize>],
    exactly_two: bool,
) -> Result<Vec<usize>> {
    if shapes.len() < 2 || (exactly_two && shapes.len() != 2) {
        let want = if exactly_two {
            "exactly 2"
        } else {
            "at least 2"
        };
        return Err(Error::arg(
            "inputs",
            layer,
            format!(
                "a merge layer should be called on a list of {want} inputs, received {}",
                shapes.len()
            ),
        ));
    }
    if let Some(other) = shapes.iter().find(|s| **s != shapes[0]) {
        return Err(Error::IncompatibleShape {
            layer: layer.into(),
            expected: format!(
                "inputs of one shape ({})",
                crate::shape::batch_shape_str(&shapes[0])
            ),
            received: format!(
                "{} (Inputs have incompatible shapes. Received shapes {} and {})",
                crate::shape::batch_shape_str(other),
                crate::shape::batch_shape_str(&shapes[0]),
                crate::shape::batch_shape_str(other)
            ),
        });
    }
    Ok(shapes[0].clone())
}

fn forward(op: Op, xs: &[&[f32]], y: &mut [f32]) {
    let len = y.len();
    y.copy_from_slice(&xs[0][..len]);
    for x in &xs[1..] {
        let x = &x[..len];
        match op {
            Op::Add | Op::Average => y.iter_mut().zip(x).for_each(|(a, b)| *a += b),
            Op::Subtract => y.iter_mut().zip(x).for_each(|(a, b)| *a -= b),
            Op::Multiply => y.iter_mut().zip(x).for_each(|(a, b)| *a *= b),
            Op::Maximum => y.iter_mut().zip(x).for_each(|(a, b)| *a = a.max(*b)),
            Op::Minimum => y.iter_mut().zip(x).for_each(|(a, b)| *a = a.min(*b)),
        }
    }
    if op == Op::Average {
        let inv = 1.0 / xs.len() as f32;
        y.iter_mut().for_each(|a| *a *= inv);
    }
}

fn backward(op: Op, xs: &[&[f32]], y: &[f32], dy: &[f32], dxs: &mut [&mut [f32]]) {
    let len = dy.len();
    let k = dxs.len();
    for (i, dx) in dxs.iter_mut().enumerate() {
        let dx = &mut dx[..len];
        match op {
            Op::Add => dx.copy_from_slice(dy),
            Op::Subtract => {
                dx.copy_from_slice(dy);
                if i == 1 {
                    dx.iter_mut().for_each(|v| *v = -*v);
                }
            }
            Op::Average => {
                let inv = 1.0 / k as f32;
                dx.iter_mut().zip(dy).for_each(|(d, g)| *d = g * inv);
            }
            Op::Multiply => {
                // d/dx_i = dy * prod of the other inputs.
                dx.copy_from_slice(dy);
                for (j, x) in xs.iter().enumerate() {
                    if j != i {
                        dx.iter_mut().zip(&x[..len]).for_each(|(d, v)| *d *= v);
                    }
                }
            }
            Op::Maximum | Op::Minimum => {
                // The gradient goes to the first input holding the extreme value.
                for (p, d) in dx.iter_mut().enumerate() {
                    let winner = xs.iter().position(|x| x[p] == y[p]);
                    *d = if winner == Some(i) { dy[p] } else { 0.0 };
                }
            }
        }
    }
}

/// The `Layer` methods every merge layer shares: `build`, `forward` and `backward` on one
/// input (the merge is the identity then; models call the `*_merge` methods) and
/// `is_merge`.
macro_rules! merge_plumbing {
    () => {
        fn build(
            &mut self,
            input_shape: &[usize],
            rng: &mut $crate::rng::Rng,
        ) -> $crate::error::Result<Vec<usize>> {
            self.build_merge(&[input_shape.to_vec()], rng)
        }
        fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: $crate::layers::Mode) {
            y.copy_from_slice(x);
        }
        fn backward(
            &mut self,
            _x: &[f32],
            _y: &[f32],
            dy: &mut [f32],
            dx: Option<&mut [f32]>,
            _ctx: $crate::layers::Backward,
        ) {
            if let Some(dx) = dx {
                dx.copy_from_slice(dy);
            }
        }
        fn is_merge(&self) -> bool {
            true
        }
    };
}
pub(crate) use merge_plumbing;

macro_rules! merge_layer {
    ($(#[$doc:meta])* $t:ident, $op:expr, $two:expr) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        pub struct $t {
            base: LayerBase,
        }

        impl $t {
            /// The merge layer.
            pub fn new() -> Self {
                Self::default()
            }
            /// Sets the layer's name (default: an automatic Keras name).
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.base.name = Some(name.into());
                self
            }
        }

        impl From<$t> for Box<dyn Layer> {
            fn from(l: $t) -> Self {
                Box::new(l)
            }
        }

        impl Layer for $t {
            fn class_name(&self) -> &'static str {
                stringify!($t)
            }
            fn base(&self) -> &LayerBase {
                &self.base
            }
            fn base_mut(&mut self) -> &mut LayerBase {
                &mut self.base
            }
            $crate::layers::merge::merge_plumbing!();
            fn build_merge(&mut self, shapes: &[Vec<usize>], _rng: &mut Rng) -> Result<Vec<usize>> {
                same_shapes(self.base.label(), shapes, $two)
            }
            fn forward_merge(&mut self, xs: &[&[f32]], y: &mut [f32], _n: usize) {
                forward($op, xs, y);
            }
            fn backward_merge(
                &mut self,
                xs: &[&[f32]],
                y: &[f32],
                dy: &[f32],
                dxs: &mut [&mut [f32]],
                _n: usize,
            ) {
                backward($op, xs, y, dy, dxs);
            }
            fn config(&self) -> Map<String, Value> {
                Map::new()
            }
        }
    };
}

merge_layer!(
    /// Sums its inputs (Keras `Add`), the join of a residual block.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let x = Input::new((8, 8, 16));
    /// let y = Conv2D::new(16, 3).padding("same").activation("relu").call(&x)?;
    /// let out = Add::new().call_on(&[&x, &y])?;
    /// assert_eq!(out.shape(), &[8, 8, 16]);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    Add,
    Op::Add,
    false
);
merge_layer!(
    /// The first input minus the second (Keras `Subtract`; exactly two inputs).
    Subtract,
    Op::Subtract,
    true
);
merge_layer!(
    /// The element-wise product of its inputs (Keras `Multiply`).
    Multiply,
    Op::Multiply,
    false
);
merge_layer!(
    /// The element-wise mean of its inputs (Keras `Average`).
    Average,
    Op::Average,
    false
);
merge_layer!(
    /// The element-wise maximum of its inputs (Keras `Maximum`).
    Maximum,
    Op::Maximum,
    false
);
merge_layer!(
    /// The element-wise minimum of its inputs (Keras `Minimum`).
    Minimum,
    Op::Minimum,
    false
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_merge;

    #[test]
    fn gradients_of_every_merge() {
        for l in [
            Box::new(Add::new()) as Box<dyn Layer>,
            Box::new(Subtract::new()),
            Box::new(Multiply::new()),
            Box::new(Average::new()),
            Box::new(Maximum::new()),
            Box::new(Minimum::new()),
        ] {
            let k = if l.class_name() == "Subtract" { 2 } else { 3 };
            assert_eq!(check_merge(l, &vec![vec![2, 3]; k]), vec![2, 3]);
        }
    }

    #[test]
    fn values_and_shape_errors() {
        let mut l = Subtract::new();
        let mut y = [0.0; 2];
        l.build_merge(&[vec![2], vec![2]], &mut Rng::new(0))
            .expect("build");
        l.forward_merge(&[&[5.0, 1.0], &[2.0, 3.0]], &mut y, 1);
        assert_eq!(y, [3.0, -2.0]);
        let mut a = Add::new();
        a.base.name = Some("add".into());
        let e = a
            .build_merge(&[vec![4, 4, 8], vec![4, 4, 16]], &mut Rng::new(0))
            .expect_err("shapes");
        assert!(
            e.to_string()
                .contains("(None, 4, 4, 8) and (None, 4, 4, 16)"),
            "{e}"
        );
        assert!(Subtract::new()
            .build_merge(&vec![vec![2]; 3], &mut Rng::new(0))
            .is_err());
    }
}
