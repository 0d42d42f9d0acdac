//! Keras 3 operations saved into a graph as layers: keras.applications write `x + 3.0` and
//! `x * (1 / 6)` (MobileNetV3's hard sigmoid), `x + y` (ConvNeXt) or `x + mean` with a
//! constant tensor (`preprocess_input` called on a symbolic tensor) as
//! `keras.src.ops.numpy.Add` and the like, with a number, a constant tensor or a second
//! tensor as argument. `op_from_call` reads any operation rkeras knows (these, and
//! [`GetItem`](super::GetItem) and [`Stack`](super::Stack)) from its saved call.

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

/// The constant operand of a [`KerasOp`].
#[derive(Clone, Debug, PartialEq)]
enum Operand {
    /// A number (`x + 3.0`).
    Number(f64),
    /// A constant tensor of `shape` (the batch axis included, as numpy broadcasts it:
    /// `(1, 1, 1, 3)` or `(3,)` against `(batch, h, w, 3)`), row-major `values`.
    Tensor { shape: Vec<usize>, values: Vec<f32> },
}

/// A Keras 3 arithmetic operation in a functional graph (`keras.ops.add(x, 3.0)`, `x * y`,
/// `x + np.array([...])`), as Keras saves it: `{"module": "keras.src.ops.numpy",
/// "class_name": "Add", ...}` with the number, the constant tensor (`__tensor__`) or the
/// second tensor among the call's arguments. Two tensors broadcast as the merge layers do;
/// a constant tensor broadcasts against the input (it may not grow it). Built from such
/// configs; saved back the same way.
///
/// ```
/// use rkeras::prelude::*;
/// use rkeras::layers::KerasOp;
/// let inputs = Input::new((4, 4, 3));
/// // x - [1, 2, 3] per channel, as numpy broadcasts a (1, 1, 1, 3) array.
/// let minus = KerasOp::with_tensor("Subtract", vec![1, 1, 1, 3], vec![1.0, 2.0, 3.0], false)?;
/// let y = minus.call(&inputs)?;
/// let mut m = Model::functional(&inputs, &y)?;
/// let x = Tensor::new(vec![1, 4, 4, 3], vec![5.0; 48])?;
/// assert_eq!(&m.predict(&x)?.data()[..3], &[4.0, 3.0, 2.0]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Debug)]
pub struct KerasOp {
    base: LayerBase,
    op: ArithOp,
    /// The Keras class name read (`"Add"`, `"TrueDivide"`, ...).
    class: &'static str,
    /// The constant, and whether it is the first argument (`3.0 - x`); `None` for two
    /// tensors.
    constant: Option<(Operand, bool)>,
    /// A constant tensor broadcast to one sample of the input (sized at build).
    per_sample: Vec<f32>,
    /// Two tensors: the merge layer that computes them.
    merge: Option<Box<dyn Layer>>,
}

/// The Keras class names of the arithmetic operations.
const CLASSES: [&str; 5] = ["Add", "Subtract", "Multiply", "Divide", "TrueDivide"];

impl KerasOp {
    /// The operation of Keras class `class` (`Add`, `Subtract`, `Multiply`, `Divide`,
    /// `TrueDivide`) on a tensor and `constant` (`Some((value, constant_first))`) or on two
    /// tensors (`None`).
    ///
    /// # Errors
    /// Another class, or a division of two tensors (not supported yet).
    pub fn new(class: &str, constant: Option<(f64, bool)>) -> Result<Self> {
        Self::with_operand(class, constant.map(|(c, f)| (Operand::Number(c), f)))
    }

    /// The operation of Keras class `class` on a tensor and a constant tensor of `shape`
    /// (numpy's broadcasting against the input with its batch axis: `[1, 1, 1, 3]` or `[3]`
    /// for one value per channel of images) with row-major `values`; `constant_first` for
    /// `c - x`.
    ///
    /// # Errors
    /// Another class, or `values` that do not fill `shape`.
    pub fn with_tensor(
        class: &str,
        shape: Vec<usize>,
        values: Vec<f32>,
        constant_first: bool,
    ) -> Result<Self> {
        if crate::shape::numel(&shape) != values.len() {
            return Err(Error::arg(
                "values",
                class,
                format!(
                    "expected {} values for a constant of shape {shape:?}, received {}",
                    crate::shape::numel(&shape),
                    values.len()
                ),
            ));
        }
        Self::with_operand(
            class,
            Some((Operand::Tensor { shape, values }, constant_first)),
        )
    }

    fn with_operand(class: &str, constant: Option<(Operand, bool)>) -> Result<Self> {
        let (op, class) = match class {
            "Add" => (ArithOp::Add, "Add"),
            "Subtract" => (ArithOp::Subtract, "Subtract"),
            "Multiply" => (ArithOp::Multiply, "Multiply"),
            "Divide" => (ArithOp::Divide, "Divide"),
            "TrueDivide" => (ArithOp::Divide, "TrueDivide"),
            other => return Err(Error::unknown("Keras operation", other, &CLASSES)),
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
            per_sample: Vec::new(),
            merge,
        })
    }

    /// `x op c` (or `c op x`) and its derivative in `x`.
    fn apply(&self, x: f32, c: f32) -> (f32, f32) {
        let first = self.constant.as_ref().is_some_and(|k| k.1);
        match (self.op, first) {
            (ArithOp::Add, _) => (x + c, 1.0),
            (ArithOp::Subtract, false) => (x - c, 1.0),
            (ArithOp::Subtract, true) => (c - x, -1.0),
            (ArithOp::Multiply, _) => (x * c, c),
            (ArithOp::Divide, false) => (x / c, 1.0 / c),
            (ArithOp::Divide, true) => (c / x, -c / (x * x)),
        }
    }

    /// The constant for each element of `x` (`n` samples), or `None` with two tensors.
    fn constants(&self, len: usize) -> Option<Box<dyn Iterator<Item = f32> + '_>> {
        match &self.constant {
            Some((Operand::Number(c), _)) => Some(Box::new(std::iter::repeat_n(*c as f32, len))),
            Some((Operand::Tensor { .. }, _)) => {
                Some(Box::new(self.per_sample.iter().copied().cycle().take(len)))
            }
            None => None,
        }
    }

    /// Broadcasts a constant tensor of `shape` to one sample of `input` (per-sample shape).
    fn broadcast(&self, shape: &[usize], values: &[f32], input: &[usize]) -> Result<Vec<f32>> {
        let rank = input.len() + 1;
        let bad = || Error::IncompatibleShape {
            layer: self.base.label().to_string(),
            expected: format!(
                "a constant that broadcasts to the input {} without growing it",
                crate::shape::batch_shape_str(input)
            ),
            received: format!("a constant of shape {shape:?}"),
        };
        if shape.len() > rank {
            return Err(bad());
        }
        // The constant's stride along each axis of one sample (0 where it broadcasts).
        let mut strides = vec![0usize; input.len()];
        let mut stride = 1;
        for (k, &d) in shape.iter().enumerate().rev() {
            let axis = rank - shape.len() + k; // in the batched input
            if axis == 0 {
                if d != 1 {
                    return Err(bad());
                }
            } else if d == input[axis - 1] {
                strides[axis - 1] = if d == 1 { 0 } else { stride };
            } else if d != 1 {
                return Err(bad());
            }
            stride *= d;
        }
        let n = crate::shape::numel(input);
        let mut out = Vec::with_capacity(n);
        let mut index = vec![0usize; input.len()];
        for _ in 0..n {
            let at: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
            out.push(values[at]);
            for (i, &d) in index.iter_mut().zip(input).rev() {
                *i += 1;
                if *i < d {
                    break;
                }
                *i = 0;
            }
        }
        Ok(out)
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
            constant: self.constant.clone(),
            per_sample: self.per_sample.clone(),
            merge: self.merge.as_ref().and_then(|_| two_tensors(self.op)),
        }
    }
}

/// A constant tensor as Keras serializes one: `{"class_name": "__tensor__", "config":
/// {"value": [[...]], "dtype": "float32"}}`.
fn tensor_json(shape: &[usize], values: &[f32]) -> Value {
    fn nest(shape: &[usize], values: &[f32]) -> Value {
        match shape.split_first() {
            None => json!(values.first().map_or(0.0, |v| *v as f64)),
            Some((&d, rest)) => {
                let inner = crate::shape::numel(rest);
                Value::Array(
                    (0..d)
                        .map(|i| nest(rest, &values[i * inner..(i + 1) * inner]))
                        .collect(),
                )
            }
        }
    }
    json!({"class_name": "__tensor__", "config": {"value": nest(shape, values), "dtype": "float32"}})
}

/// A `__tensor__` or `__numpy__` constant of a saved call: its shape and values.
fn tensor_from_json(v: &Value) -> Option<(Vec<usize>, Vec<f32>)> {
    let class = v.get("class_name")?.as_str()?;
    if class != "__tensor__" && class != "__numpy__" {
        return None;
    }
    let value = v.get("config")?.get("value")?;
    let mut shape = Vec::new();
    let mut probe = value;
    while let Some(a) = probe.as_array() {
        shape.push(a.len());
        probe = a.first()?;
    }
    let mut values = Vec::new();
    fn flat(v: &Value, depth: usize, shape: &[usize], out: &mut Vec<f32>) -> Option<()> {
        match v {
            Value::Array(a) if depth < shape.len() && a.len() == shape[depth] => {
                for e in a {
                    flat(e, depth + 1, shape, out)?;
                }
                Some(())
            }
            _ if depth == shape.len() => {
                out.push(v.as_f64().or_else(|| v.as_bool().map(f64::from))? as f32);
                Some(())
            }
            _ => None,
        }
    }
    flat(value, 0, &shape, &mut values)?;
    Some((shape, values))
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
        if let Some((Operand::Tensor { shape, values }, _)) = &self.constant {
            self.per_sample = self.broadcast(shape, values, input_shape)?;
        }
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
                "layer \"{label}\" ({}) takes one tensor and a constant, it was given {} tensors",
                self.class,
                shapes.len()
            ))),
        }
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        match self.constants(x.len()) {
            Some(cs) => {
                for ((o, v), c) in y.iter_mut().zip(x).zip(cs) {
                    *o = self.apply(*v, c).0;
                }
            }
            None => y.copy_from_slice(x),
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
        let Some(dx) = dx else { return };
        match self.constants(x.len()) {
            Some(cs) => {
                for (((d, g), v), c) in dx.iter_mut().zip(dy.iter()).zip(x).zip(cs) {
                    *d = g * self.apply(*v, c).1;
                }
            }
            None => dx.copy_from_slice(dy),
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
        let constant = |c: &Operand| match c {
            Operand::Number(c) => json!(c),
            Operand::Tensor { shape, values } => tensor_json(shape, values),
        };
        let args = match (&self.constant, tensors) {
            (Some((c, false)), [t]) => json!([t, constant(c)]),
            (Some((c, true)), [t]) => json!([constant(c), t]),
            (_, ts) => json!(ts),
        };
        Some(("keras.src.ops.numpy", args))
    }
}

/// The start of `v`'s JSON, for a message.
pub(crate) fn snippet(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

/// Whether `v` is a saved symbolic tensor (`__keras_tensor__`, with its `keras_history`).
pub(crate) fn is_tensor_ref(v: &Value) -> bool {
    v.get("config")
        .and_then(|c| c.get("keras_history"))
        .is_some()
}

/// The symbolic tensors among a saved call's positional arguments, in order (lists, as
/// `Stack`'s, are searched too).
pub(crate) fn tensor_refs(args: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for a in args {
        match a {
            Value::Array(list) => out.extend(tensor_refs(list)),
            v if is_tensor_ref(v) => out.push(v.clone()),
            _ => {}
        }
    }
    out
}

/// The layer of a Keras 3 operation saved in a functional config (`module`
/// `keras.src.ops...`): its `class` (`Add`, `TrueDivide`, `GetItem`, `Stack`, ...), its
/// `config` and the positional arguments of its first call (the tensors, and the number,
/// constant tensor or key they go with).
///
/// # Errors
/// An operation rkeras does not implement, or arguments it cannot read.
pub(crate) fn op_from_call(class: &str, config: &Value, args: &[Value]) -> Result<Box<dyn Layer>> {
    match class {
        "GetItem" => {
            let key = args
                .get(1)
                .ok_or_else(|| Error::Data("a GetItem operation saved without its key".into()))?;
            Ok(Box::new(super::GetItem::from_key_json(key)?))
        }
        "Stack" => {
            let axis = match config.get("axis") {
                None => 0,
                Some(a) => a.as_i64().ok_or_else(|| {
                    Error::Data(format!(
                        "a Stack operation's axis: expected an integer, received {a}"
                    ))
                })?,
            };
            Ok(Box::new(super::Stack::new(axis)))
        }
        _ if CLASSES.contains(&class) => {
            let mut operand = None;
            for (k, a) in args.iter().enumerate() {
                if let Some(c) = a.as_f64() {
                    operand = Some((Operand::Number(c), k == 0));
                } else if let Some((shape, values)) = tensor_from_json(a) {
                    operand = Some((Operand::Tensor { shape, values }, k == 0));
                } else if !is_tensor_ref(a) {
                    return Err(Error::Data(format!(
                        "a Keras {class} operation with an argument rkeras cannot read: {}",
                        snippet(a)
                    )));
                }
            }
            Ok(Box::new(KerasOp::with_operand(class, operand)?))
        }
        other => {
            let mut known = CLASSES.to_vec();
            known.extend(["GetItem", "Stack"]);
            Err(Error::unknown("Keras operation", other, &known))
        }
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
        let op = KerasOp::new("Subtract", Some((3.0, true))).expect("op");
        assert_eq!(op.apply(1.0, 3.0).0, 2.0);
    }

    #[test]
    fn constant_tensors_broadcast_per_channel_and_round_trip() {
        for class in ["Add", "Subtract", "Multiply", "TrueDivide"] {
            for first in [false, true] {
                let op = KerasOp::with_tensor(class, vec![1, 1, 3], vec![1.5, -2.0, 2.5], first)
                    .expect("op");
                check_layer(Box::new(op), &[2, 3]);
            }
        }
        let mut op = KerasOp::with_tensor("Add", vec![3], vec![1.0, 2.0, 3.0], false).expect("op");
        op.build(&[2, 3], &mut Rng::new(0)).expect("build");
        let mut y = vec![0.0; 6];
        op.forward(&[0.0; 6], &mut y, 1, Mode::Infer);
        assert_eq!(y, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        // A (2, 1) constant runs along the first axis.
        let mut op = KerasOp::with_tensor("Add", vec![2, 1], vec![1.0, 2.0], false).expect("op");
        op.build(&[2, 3], &mut Rng::new(0)).expect("build");
        op.forward(&[0.0; 6], &mut y, 1, Mode::Infer);
        assert_eq!(y, [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        // A constant that would grow the input, or a batch of constants, is refused.
        for shape in [vec![4], vec![2, 1, 3], vec![1, 1, 1, 3]] {
            let n = crate::shape::numel(&shape);
            let mut op = KerasOp::with_tensor("Add", shape, vec![0.0; n], false).expect("op");
            assert!(op.build(&[2, 3], &mut Rng::new(0)).is_err());
        }
        assert!(KerasOp::with_tensor("Add", vec![2], vec![1.0], false).is_err());
        // Saved as Keras saves it, and read back.
        let op = KerasOp::with_tensor("Add", vec![1, 1, 1, 3], vec![-1.5, 2.0, 0.25], false)
            .expect("op");
        let t = json!({"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}});
        let (_, args) = op.op_call(std::slice::from_ref(&t)).expect("op call");
        assert_eq!(
            args[1],
            json!({"class_name": "__tensor__", "config": {"value": [[[[-1.5, 2.0, 0.25]]]], "dtype": "float32"}})
        );
        let args = args.as_array().expect("args").clone();
        assert_eq!(tensor_refs(&args), vec![t.clone()]);
        let back = op_from_call("Add", &json!({"name": "add"}), &args).expect("read back");
        assert_eq!(
            back.op_call(&[t]).expect("op call").1.as_array(),
            Some(&args)
        );
    }

    #[test]
    fn unknown_operations_and_arguments_are_named() {
        let e = op_from_call("Power", &json!({}), &[]).expect_err("refused");
        assert!(e.to_string().contains("Power"), "{e}");
        let e = op_from_call("Add", &json!({}), &[json!("text")]).expect_err("refused");
        assert!(e.to_string().contains("cannot read"), "{e}");
    }
}
