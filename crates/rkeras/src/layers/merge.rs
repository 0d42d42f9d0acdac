//! The element-wise merge layers: `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`,
//! `Minimum`. They take several inputs of one shape, or of shapes that broadcast as in
//! Keras (a squeeze-and-excite block's `(h, w, c)` times `(1, 1, c)`), and return one output.

use super::registry::{Cfg, FromConfig};
use super::{Layer, LayerBase};
use crate::error::{Error, Result};
use crate::rng::Rng;
use rkeras_kernels::parallel::for_each_chunk_mut;
use rkeras_kernels::Act;
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

/// For each input of a merge whose shape differs from the output's, the input position each
/// output position of a sample reads (broadcasting); `None` for an input of the output's
/// shape.
pub(crate) type Reads = Vec<Option<Vec<u32>>>;

/// The output shape of a merge of `shapes` under Keras's broadcasting (numpy's: shapes
/// aligned from the last axis, a dimension of 1 stretched), and how each input is read.
pub(crate) fn broadcast_shapes(
    layer: &str,
    shapes: &[Vec<usize>],
    exactly_two: bool,
) -> Result<(Vec<usize>, Reads)> {
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
    let rank = shapes.iter().map(Vec::len).max().unwrap_or(0);
    let padded = |s: &Vec<usize>| -> Vec<usize> {
        let mut p = vec![1; rank - s.len()];
        p.extend(s);
        p
    };
    let mut out = vec![1usize; rank];
    for s in shapes {
        for (o, &d) in out.iter_mut().zip(&padded(s)) {
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(Error::IncompatibleShape {
                    layer: layer.into(),
                    expected: format!(
                        "inputs of one shape, or shapes that broadcast ({})",
                        crate::shape::batch_shape_str(&shapes[0])
                    ),
                    received: format!(
                        "{} (Inputs have incompatible shapes. Received shapes {} and {})",
                        crate::shape::batch_shape_str(s),
                        crate::shape::batch_shape_str(&shapes[0]),
                        crate::shape::batch_shape_str(s)
                    ),
                });
            }
        }
    }
    let total = crate::shape::numel(&out);
    let reads = shapes
        .iter()
        .map(|s| {
            let s = padded(s);
            if s == out {
                return None;
            }
            // Row-major strides of the input, 0 along its stretched axes.
            let mut stride = vec![0usize; rank];
            let mut acc = 1;
            for i in (0..rank).rev() {
                stride[i] = if s[i] == 1 { 0 } else { acc };
                acc *= s[i];
            }
            Some(
                (0..total)
                    .map(|flat| {
                        let (mut rest, mut k) = (flat, 0usize);
                        for i in (0..rank).rev() {
                            k += (rest % out[i]) * stride[i];
                            rest /= out[i];
                        }
                        k as u32
                    })
                    .collect(),
            )
        })
        .collect();
    Ok((out, reads))
}

/// Values per parallel task of the element-wise merges.
const CHUNK: usize = rkeras_kernels::activation::ELEMWISE_CHUNK;

fn forward(op: Op, xs: &[&[f32]], y: &mut [f32]) {
    forward_act(op, xs, y, Act::Linear);
}

/// `act(op(xs))`, chunk by chunk (`act` element-wise).
fn forward_act(op: Op, xs: &[&[f32]], y: &mut [f32], act: Act) {
    for_each_chunk_mut(y, CHUNK, |ci, y| forward_chunk(op, xs, ci * CHUNK, y, act));
}

rkeras_kernels::simd_fn! {
    /// [`forward_act`] on the values `off .. off + y.len()` (compiled for the CPU's widest
    /// vectors; the same operations on every level).
    fn forward_chunk(op: Op, xs: &[&[f32]], off: usize, y: &mut [f32], act: Act) {
        let len = y.len();
        let inv = 1.0 / xs.len() as f32;
        y.copy_from_slice(&xs[0][off..off + len]);
        for x in &xs[1..] {
            let x = &x[off..off + len];
            match op {
                Op::Add | Op::Average => y.iter_mut().zip(x).for_each(|(a, b)| *a += b),
                Op::Subtract => y.iter_mut().zip(x).for_each(|(a, b)| *a -= b),
                Op::Multiply => y.iter_mut().zip(x).for_each(|(a, b)| *a *= b),
                Op::Maximum => y.iter_mut().zip(x).for_each(|(a, b)| *a = a.max(*b)),
                Op::Minimum => y.iter_mut().zip(x).for_each(|(a, b)| *a = a.min(*b)),
            }
        }
        if op == Op::Average {
            y.iter_mut().for_each(|a| *a *= inv);
        }
        if !act.is_linear() {
            rkeras_kernels::activation::apply_slice(act, y);
        }
    }
}

fn backward(op: Op, xs: &[&[f32]], y: &[f32], dy: &[f32], dxs: &mut [&mut [f32]]) {
    let len = dy.len();
    let k = dxs.len();
    for (i, dx) in dxs.iter_mut().enumerate() {
        for_each_chunk_mut(&mut dx[..len], CHUNK, |ci, dx| {
            let off = ci * CHUNK;
            let dy = &dy[off..off + dx.len()];
            backward_chunk(op, xs, &y[off..off + dx.len()], dy, dx, i, k, off);
        });
    }
}

/// [`backward`] of input `i` (of `k`) on the values `off .. off + dx.len()`.
#[allow(clippy::too_many_arguments)]
fn backward_chunk(
    op: Op,
    xs: &[&[f32]],
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    i: usize,
    k: usize,
    off: usize,
) {
    let len = dx.len();
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
                    let x = &x[off..off + len];
                    dx.iter_mut().zip(x).for_each(|(d, v)| *d *= v);
                }
            }
        }
        Op::Maximum | Op::Minimum => {
            // The gradient goes to the first input holding the extreme value.
            for (p, d) in dx.iter_mut().enumerate() {
                let winner = xs.iter().position(|x| x[off + p] == y[p]);
                *d = if winner == Some(i) { dy[p] } else { 0.0 };
            }
        }
    }
}

/// How a merge whose input shapes differ reads its inputs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Broadcast {
    /// See [`Reads`].
    reads: Reads,
    /// Values per sample of each input.
    per: Vec<usize>,
    /// Two inputs, one of the output's shape and one read per channel (`(1, 1, c)` against
    /// `(h, w, c)`: a squeeze-and-excite gate): the full input's index and `c`.
    channels: Option<(usize, usize)>,
}

impl Broadcast {
    fn new(reads: Reads, per: Vec<usize>, per_out: usize) -> Self {
        let channels = match (reads.len(), reads.first(), reads.get(1)) {
            (2, Some(None), Some(Some(r))) => Some((0, 1, r)),
            (2, Some(Some(r)), Some(None)) => Some((1, 0, r)),
            _ => None,
        }
        .and_then(|(full, chan, r)| {
            let c = per[chan];
            let per_channel = c > 0
                && per[full] == per_out
                && per_out.is_multiple_of(c)
                && r.iter().enumerate().all(|(p, &q)| q as usize == p % c);
            per_channel.then_some((full, c))
        });
        Broadcast {
            reads,
            per,
            channels,
        }
    }
    /// The position in input `j`'s sample that output position `p` reads.
    #[inline]
    fn pos(&self, j: usize, p: usize) -> usize {
        self.reads[j].as_ref().map_or(p, |r| r[p] as usize)
    }
    /// Input `j`'s value at output position `p` of sample `s`.
    #[inline]
    fn read(&self, xs: &[&[f32]], j: usize, s: usize, p: usize) -> f32 {
        xs[j][s * self.per[j] + self.pos(j, p)]
    }
}

/// [`forward`] with broadcasting: `per_out` values per output sample, `n` samples.
fn forward_broadcast(op: Op, b: &Broadcast, xs: &[&[f32]], y: &mut [f32], n: usize) {
    let per_out = y.len() / n.max(1);
    if let (Some((full, c)), Op::Multiply | Op::Add) = (b.channels, op) {
        // A per-channel gate: rows of `c` against the sample's `c` values, samples in
        // parallel (the same operations as the general loop below, so the same bits).
        let mul = op == Op::Multiply;
        rkeras_kernels::channel::gate(xs[full], xs[1 - full], n, per_out, c, mul, y);
        return;
    }
    for s in 0..n {
        for p in 0..per_out {
            let mut v = b.read(xs, 0, s, p);
            for j in 1..xs.len() {
                let x = b.read(xs, j, s, p);
                v = match op {
                    Op::Add | Op::Average => v + x,
                    Op::Subtract => v - x,
                    Op::Multiply => v * x,
                    Op::Maximum => v.max(x),
                    Op::Minimum => v.min(x),
                };
            }
            if op == Op::Average {
                v *= 1.0 / xs.len() as f32;
            }
            y[s * per_out + p] = v;
        }
    }
}

/// [`backward`] with broadcasting: each input's gradient sums over the output positions
/// that read it.
fn backward_broadcast(
    op: Op,
    b: &Broadcast,
    xs: &[&[f32]],
    y: &[f32],
    dy: &[f32],
    dxs: &mut [&mut [f32]],
    n: usize,
) {
    let k = xs.len();
    let per_out = dy.len() / n.max(1);
    if let (Some((full, c)), Op::Multiply | Op::Add, 2) = (b.channels, op, dxs.len()) {
        // A per-channel gate, samples in parallel; each gate gradient sums its channel's
        // positions in order, as the general loop below.
        let (xf, xc) = (xs[full], xs[1 - full]);
        let mul = op == Op::Multiply;
        let (d0, d1) = dxs.split_at_mut(1);
        let (dfull, dchan) = if full == 0 {
            (&mut *d0[0], &mut *d1[0])
        } else {
            (&mut *d1[0], &mut *d0[0])
        };
        rkeras_kernels::channel::gate_backward(
            xf,
            xc,
            dy,
            n,
            per_out,
            c,
            mul,
            Some(dfull),
            Some(dchan),
        );
        return;
    }
    for (i, dx) in dxs.iter_mut().enumerate() {
        dx[..n * b.per[i]].fill(0.0);
        for s in 0..n {
            for p in 0..per_out {
                let g = dy[s * per_out + p];
                let local = match op {
                    Op::Add => 1.0,
                    Op::Subtract => {
                        if i == 1 {
                            -1.0
                        } else {
                            1.0
                        }
                    }
                    Op::Average => 1.0 / k as f32,
                    Op::Multiply => (0..k)
                        .filter(|&j| j != i)
                        .map(|j| b.read(xs, j, s, p))
                        .product(),
                    Op::Maximum | Op::Minimum => {
                        let out = y[s * per_out + p];
                        let winner = (0..k).find(|&j| b.read(xs, j, s, p) == out);
                        if winner == Some(i) {
                            1.0
                        } else {
                            0.0
                        }
                    }
                };
                dx[s * b.per[i] + b.pos(i, p)] += g * local;
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
        #[derive(Clone, Debug, Default)]
        pub struct $t {
            base: LayerBase,
            /// How the inputs are read when their shapes differ.
            broadcast: Option<Broadcast>,
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

        /// No settings beyond the name.
        impl FromConfig for $t {
            fn from_config(_g: &Cfg<'_>) -> Result<Self> {
                Ok(Self::new())
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
                let (out, reads) = broadcast_shapes(self.base.label(), shapes, $two)?;
                let per = shapes.iter().map(|s| crate::shape::numel(s)).collect();
                let per_out = crate::shape::numel(&out);
                self.broadcast = reads
                    .iter()
                    .any(Option::is_some)
                    .then(|| Broadcast::new(reads, per, per_out));
                Ok(out)
            }
            fn forward_merge(&mut self, xs: &[&[f32]], y: &mut [f32], n: usize) {
                match &self.broadcast {
                    None => forward($op, xs, y),
                    Some(b) => forward_broadcast($op, b, xs, y, n),
                }
            }
            fn forward_merge_act(&mut self, xs: &[&[f32]], y: &mut [f32], _n: usize, act: Act) -> bool {
                if self.broadcast.is_some() || act == Act::Softmax {
                    return false;
                }
                forward_act($op, xs, y, act);
                true
            }
            fn passes_gradient(&self) -> bool {
                $op == Op::Add && self.broadcast.is_none()
            }
            fn backward_merge(
                &mut self,
                xs: &[&[f32]],
                y: &[f32],
                dy: &[f32],
                dxs: &mut [&mut [f32]],
                n: usize,
            ) {
                match &self.broadcast {
                    None => backward($op, xs, y, dy, dxs),
                    Some(b) => backward_broadcast($op, b, xs, y, dy, dxs, n),
                }
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

    /// The per-channel path (a squeeze-and-excite gate) gives the general broadcasting
    /// loop's bits, forward and backward, with the gate first or second.
    #[test]
    fn per_channel_gates_match_the_general_broadcast() {
        let (n, c) = (3, 8);
        let full = vec![4, 5, c];
        let gate = vec![1, 1, c];
        let per_out = 4 * 5 * c;
        let xf: Vec<f32> = (0..n * per_out)
            .map(|i| ((i * 37) % 23) as f32 * 0.1 - 1.0)
            .collect();
        let xc: Vec<f32> = (0..n * c)
            .map(|i| ((i * 11) % 7) as f32 * 0.3 - 0.8)
            .collect();
        let dy: Vec<f32> = (0..n * per_out)
            .map(|i| ((i * 13) % 17) as f32 * 0.05 - 0.4)
            .collect();
        for op in [Op::Multiply, Op::Add] {
            for gate_first in [false, true] {
                let shapes = if gate_first {
                    vec![gate.clone(), full.clone()]
                } else {
                    vec![full.clone(), gate.clone()]
                };
                let (_, reads) = broadcast_shapes("m", &shapes, false).expect("shapes");
                let per: Vec<usize> = shapes.iter().map(|s| crate::shape::numel(s)).collect();
                let fast = Broadcast::new(reads.clone(), per.clone(), per_out);
                assert!(fast.channels.is_some());
                let general = Broadcast {
                    reads,
                    per,
                    channels: None,
                };
                let xs: Vec<&[f32]> = if gate_first {
                    vec![&xc, &xf]
                } else {
                    vec![&xf, &xc]
                };
                let (mut y1, mut y2) = (vec![0.0; n * per_out], vec![0.0; n * per_out]);
                forward_broadcast(op, &fast, &xs, &mut y1, n);
                forward_broadcast(op, &general, &xs, &mut y2, n);
                assert_eq!(y1, y2, "{op:?} forward");
                let sizes: Vec<usize> = xs.iter().map(|x| x.len()).collect();
                let mut d1: Vec<Vec<f32>> = sizes.iter().map(|&l| vec![9.0; l]).collect();
                let mut d2 = d1.clone();
                let mut r1: Vec<&mut [f32]> = d1.iter_mut().map(|v| &mut v[..]).collect();
                let mut r2: Vec<&mut [f32]> = d2.iter_mut().map(|v| &mut v[..]).collect();
                backward_broadcast(op, &fast, &xs, &y1, &dy, &mut r1, n);
                backward_broadcast(op, &general, &xs, &y2, &dy, &mut r2, n);
                assert_eq!(d1, d2, "{op:?} backward");
            }
        }
    }

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
    fn gradients_of_every_merge_when_shapes_broadcast() {
        let three = [vec![2, 3, 4], vec![1, 1, 4], vec![2, 1, 1]];
        for l in [
            Box::new(Add::new()) as Box<dyn Layer>,
            Box::new(Subtract::new()),
            Box::new(Multiply::new()),
            Box::new(Average::new()),
            Box::new(Maximum::new()),
            Box::new(Minimum::new()),
        ] {
            let shapes = if l.class_name() == "Subtract" {
                &three[..2]
            } else {
                &three[..]
            };
            assert_eq!(check_merge(l, shapes), vec![2, 3, 4]);
        }
        // Inputs of lower rank align from the last axis, as in numpy.
        assert_eq!(
            check_merge(Box::new(Multiply::new()), &[vec![4], vec![3, 4]]),
            vec![3, 4]
        );
    }

    #[test]
    fn squeeze_excite_scales_each_channel() {
        let mut m = Multiply::new();
        m.build_merge(&[vec![2, 2, 2], vec![1, 1, 2]], &mut Rng::new(0))
            .expect("broadcasts");
        let x: Vec<f32> = (1..=8).map(|v| v as f32).collect();
        let mut y = [0.0f32; 8];
        m.forward_merge(&[&x, &[10.0, 0.5]], &mut y, 1);
        assert_eq!(y, [10.0, 1.0, 30.0, 2.0, 50.0, 3.0, 70.0, 4.0]);
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
