//! `GetItem`: Keras 3's `x[key]` on a symbolic tensor (`keras.src.ops.numpy.GetItem`), as
//! `preprocess_input` saves `x[..., 2]` in a functional graph.

use super::{Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// One entry of a [`GetItem`] key, as in numpy: `x[..., 0]`, `x[:, 1:3]`, `x[:, None]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyItem {
    /// `...`: every axis the other entries leave.
    Ellipsis,
    /// An index (negative counts from the end); the axis goes away.
    Index(i64),
    /// `start:stop:step`, numpy's defaults where `None`.
    Slice {
        /// First index.
        start: Option<i64>,
        /// End (excluded).
        stop: Option<i64>,
        /// Step (not 0).
        step: Option<i64>,
    },
    /// `None` (numpy's `newaxis`): a new axis of size 1.
    NewAxis,
}

impl KeyItem {
    /// `:`, the whole axis.
    pub const ALL: KeyItem = KeyItem::Slice {
        start: None,
        stop: None,
        step: None,
    };

    fn to_json(&self) -> Value {
        match self {
            KeyItem::Ellipsis => json!({"class_name": "__ellipsis__", "config": {}}),
            KeyItem::Index(i) => json!(i),
            KeyItem::Slice { start, stop, step } => json!({"class_name": "__slice__",
                "config": {"start": start, "stop": stop, "step": step}}),
            KeyItem::NewAxis => Value::Null,
        }
    }

    fn from_json(v: &Value) -> Result<Self> {
        let bad = || {
            Error::Data(format!(
                "a GetItem key entry rkeras cannot read: {}",
                super::keras_op::snippet(v)
            ))
        };
        let int = |v: Option<&Value>| -> Result<Option<i64>> {
            match v {
                None | Some(Value::Null) => Ok(None),
                Some(x) => x.as_i64().map(Some).ok_or_else(bad),
            }
        };
        match v {
            Value::Null => Ok(KeyItem::NewAxis),
            Value::Number(n) => n.as_i64().map(KeyItem::Index).ok_or_else(bad),
            Value::Object(o) => match o.get("class_name").and_then(Value::as_str) {
                Some("__ellipsis__") => Ok(KeyItem::Ellipsis),
                Some("__slice__") => {
                    let c = o.get("config");
                    Ok(KeyItem::Slice {
                        start: int(c.and_then(|c| c.get("start")))?,
                        stop: int(c.and_then(|c| c.get("stop")))?,
                        step: int(c.and_then(|c| c.get("step")))?,
                    })
                }
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// Keras 3's `x[key]` as a layer (`keras.src.ops.numpy.GetItem`): numpy indexing by
/// integers, slices, one ellipsis and new axes, on every axis but the batch axis (which
/// the key must keep whole). Keras saves `keras.applications`' "caffe" `preprocess_input`
/// on a symbolic tensor as three of these (`x[..., 2]`, `x[..., 1]`, `x[..., 0]`) and a
/// [`Stack`](super::Stack).
///
/// # Shapes
/// The indexed axes go away, sliced ones keep the slice's length, new axes are of size 1.
///
/// ```
/// use rkeras::prelude::*;
/// use rkeras::layers::{GetItem, KeyItem};
/// let inputs = Input::new((4, 4, 3));
/// let blue = GetItem::last_axis(2).call(&inputs)?; // x[..., 2]
/// assert_eq!(blue.shape(), &[4, 4]);
/// let key = vec![KeyItem::ALL, KeyItem::Slice { start: Some(1), stop: None, step: None }];
/// let rows = GetItem::new(key).call(&inputs)?; // x[:, 1:]
/// assert_eq!(rows.shape(), &[3, 4, 3]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct GetItem {
    base: LayerBase,
    key: Vec<KeyItem>,
    /// The key was one entry, not a tuple (`x[0]` rather than `x[(0,)]`): saved the same way.
    single: bool,
    /// For each value of one output sample, its offset in the input sample.
    source: Vec<usize>,
    /// Values in one input sample.
    in_len: usize,
}

impl GetItem {
    /// `x[key]`, the entries of a tuple key in order.
    pub fn new(key: Vec<KeyItem>) -> Self {
        GetItem {
            base: LayerBase::default(),
            key,
            single: false,
            source: Vec::new(),
            in_len: 0,
        }
    }

    /// `x[..., index]`: one entry of the last axis (a channel of images).
    pub fn last_axis(index: i64) -> Self {
        GetItem::new(vec![KeyItem::Ellipsis, KeyItem::Index(index)])
    }

    /// The key of a saved call (`[{"class_name": "__ellipsis__", ...}, 2]`, or one entry).
    pub(crate) fn from_key_json(key: &Value) -> Result<Self> {
        match key {
            Value::Array(items) => Ok(GetItem::new(
                items
                    .iter()
                    .map(KeyItem::from_json)
                    .collect::<Result<_>>()?,
            )),
            one => {
                let mut g = GetItem::new(vec![KeyItem::from_json(one)?]);
                g.single = true;
                Ok(g)
            }
        }
    }

    fn key_json(&self) -> Value {
        match (self.single, self.key.as_slice()) {
            (true, [one]) => one.to_json(),
            _ => Value::Array(self.key.iter().map(KeyItem::to_json).collect()),
        }
    }

    fn refuse(&self, input: &[usize], why: &str) -> Error {
        Error::arg(
            "key",
            self.base.label(),
            format!(
                "cannot index an input {} with {:?}: {why}",
                crate::shape::batch_shape_str(input),
                self.key
            ),
        )
    }
}

super::common_builders!(GetItem);

/// The indices numpy's `slice(start, stop, step).indices(len)` walks.
fn slice_indices(start: Option<i64>, stop: Option<i64>, step: i64, len: usize) -> Vec<usize> {
    let len = len as i64;
    let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
    let norm = |v: i64| if v < 0 { v + len } else { v };
    let (lo, hi) = if step > 0 { (0, len) } else { (-1, len - 1) };
    let start = start.map_or(if step > 0 { lo } else { hi }, |s| clamp(norm(s), lo, hi));
    let stop = stop.map_or(if step > 0 { hi } else { lo }, |s| clamp(norm(s), lo, hi));
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        i += step;
    }
    out
}

impl Layer for GetItem {
    fn class_name(&self) -> &'static str {
        "GetItem"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn per_sample(&self) -> bool {
        true
    }
    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        // The batched input's axes, and the key with its ellipsis made explicit.
        let rank = input_shape.len() + 1;
        let dim = |a: usize| if a == 0 { 1 } else { input_shape[a - 1] };
        let ellipses = self.key.iter().filter(|k| **k == KeyItem::Ellipsis).count();
        if ellipses > 1 {
            return Err(self.refuse(input_shape, "a key has at most one ellipsis"));
        }
        let mut key = self.key.clone();
        if ellipses == 0 {
            key.push(KeyItem::Ellipsis);
        }
        let consumed = key
            .iter()
            .filter(|k| !matches!(k, KeyItem::Ellipsis | KeyItem::NewAxis))
            .count();
        if consumed > rank {
            return Err(self.refuse(input_shape, "too many indices for the input's rank"));
        }
        // Each output axis: the input axis and the indices it takes (`None`: a new axis),
        // and the fixed offset of the indexed axes.
        let mut strides = vec![1usize; rank];
        for a in (0..rank.saturating_sub(1)).rev() {
            strides[a] = strides[a + 1] * dim(a + 1);
        }
        let mut outputs: Vec<(Option<usize>, Vec<usize>)> = Vec::new();
        let mut offset = 0usize;
        let mut axis = 0usize;
        for k in &key {
            match k {
                KeyItem::Ellipsis => {
                    for _ in 0..rank - consumed {
                        outputs.push((Some(axis), (0..dim(axis)).collect()));
                        axis += 1;
                    }
                }
                KeyItem::NewAxis => outputs.push((None, vec![0])),
                KeyItem::Index(i) => {
                    if axis == 0 {
                        return Err(self.refuse(input_shape, "the batch axis cannot be indexed"));
                    }
                    let d = dim(axis) as i64;
                    let j = if *i < 0 { i + d } else { *i };
                    if j < 0 || j >= d {
                        return Err(self.refuse(
                            input_shape,
                            &format!("index {i} is out of bounds for an axis of size {d}"),
                        ));
                    }
                    offset += j as usize * strides[axis];
                    axis += 1;
                }
                KeyItem::Slice { start, stop, step } => {
                    let step = step.unwrap_or(1);
                    if step == 0 {
                        return Err(self.refuse(input_shape, "a slice step cannot be zero"));
                    }
                    if axis == 0 {
                        if *k != KeyItem::ALL && !(start.is_none() && stop.is_none() && step == 1) {
                            return Err(
                                self.refuse(input_shape, "the batch axis must be kept whole")
                            );
                        }
                        outputs.push((Some(0), vec![0]));
                    } else {
                        outputs.push((Some(axis), slice_indices(*start, *stop, step, dim(axis))));
                    }
                    axis += 1;
                }
            }
        }
        if outputs.first().map(|o| o.0) != Some(Some(0)) {
            return Err(self.refuse(
                input_shape,
                "the batch axis must stay first (no new axis before it)",
            ));
        }
        let per_sample = &outputs[1..];
        let shape: Vec<usize> = per_sample.iter().map(|o| o.1.len()).collect();
        let n = crate::shape::numel(&shape);
        crate::budget::check(
            || format!("the index map of layer \"{}\"", self.base.label()),
            Some(n),
            std::mem::size_of::<usize>(),
        )?;
        let mut source = Vec::with_capacity(n);
        let mut index = vec![0usize; shape.len()];
        for _ in 0..n {
            let at: usize = per_sample
                .iter()
                .zip(&index)
                .map(|((a, idx), &i)| a.map_or(0, |a| idx[i] * strides[a]))
                .sum();
            source.push(offset + at);
            for (i, &d) in index.iter_mut().zip(&shape).rev() {
                *i += 1;
                if *i < d {
                    break;
                }
                *i = 0;
            }
        }
        self.source = source;
        self.in_len = crate::shape::numel(input_shape);
        Ok(shape)
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let out = self.source.len();
        for s in 0..n {
            let (xs, ys) = (
                &x[s * self.in_len..(s + 1) * self.in_len],
                &mut y[s * out..(s + 1) * out],
            );
            for (o, &k) in ys.iter_mut().zip(&self.source) {
                *o = xs[k];
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
        dx.fill(0.0);
        let out = self.source.len();
        for s in 0..ctx.n {
            let d = &mut dx[s * self.in_len..(s + 1) * self.in_len];
            for (g, &k) in dy[s * out..(s + 1) * out].iter().zip(&self.source) {
                d[k] += g;
            }
        }
    }
    fn config(&self) -> Map<String, Value> {
        Map::new()
    }
    fn full_config_override(&self) -> Option<Map<String, Value>> {
        super::object(json!({ "name": self.name() })).into()
    }
    fn op_call(&self, tensors: &[Value]) -> Option<(&'static str, Value)> {
        let t = tensors.first().cloned().unwrap_or(Value::Null);
        Some(("keras.src.ops.numpy", json!([t, self.key_json()])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    fn built(key: Vec<KeyItem>, shape: &[usize]) -> Result<(GetItem, Vec<usize>)> {
        let mut g = GetItem::new(key);
        g.base.name = Some("g".into());
        let out = g.build(shape, &mut Rng::new(0))?;
        Ok((g, out))
    }

    #[test]
    fn channels_slices_and_new_axes_index_as_numpy() {
        let (mut g, shape) =
            built(vec![KeyItem::Ellipsis, KeyItem::Index(2)], &[2, 3]).expect("ok");
        assert_eq!(shape, [2]);
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut y = vec![0.0; 4];
        g.forward(&x, &mut y, 2, Mode::Infer);
        assert_eq!(y, [2.0, 5.0, 8.0, 11.0]);
        let (mut g, shape) = built(
            vec![
                KeyItem::ALL,
                KeyItem::Slice {
                    start: None,
                    stop: None,
                    step: Some(-1),
                },
                KeyItem::NewAxis,
                KeyItem::Index(-1),
            ],
            &[2, 3],
        )
        .expect("ok");
        assert_eq!(shape, [2, 1]);
        g.forward(&x, &mut y, 2, Mode::Infer);
        assert_eq!(y, [5.0, 2.0, 11.0, 8.0]);
        assert_eq!(slice_indices(Some(1), Some(-1), 1, 5), [1, 2, 3]);
        assert_eq!(slice_indices(None, None, -2, 5), [4, 2, 0]);
        assert_eq!(slice_indices(Some(7), None, 1, 5), Vec::<usize>::new());
        check_layer(Box::new(GetItem::last_axis(1)), &[2, 3]);
        check_layer(
            Box::new(GetItem::new(vec![
                KeyItem::ALL,
                KeyItem::Slice {
                    start: Some(1),
                    stop: None,
                    step: Some(2),
                },
            ])),
            &[4, 2],
        );
    }

    #[test]
    fn the_batch_axis_stays_and_bad_keys_are_refused() {
        for key in [
            vec![KeyItem::Index(0)],
            vec![KeyItem::NewAxis, KeyItem::Ellipsis],
            vec![KeyItem::Ellipsis, KeyItem::Ellipsis],
            vec![KeyItem::Ellipsis, KeyItem::Index(3)],
            vec![
                KeyItem::ALL,
                KeyItem::Index(0),
                KeyItem::Index(0),
                KeyItem::Index(0),
            ],
        ] {
            assert!(built(key.clone(), &[2, 3]).is_err(), "{key:?}");
        }
    }

    #[test]
    fn keys_are_saved_as_keras_saves_them() {
        let key = json!([{"class_name": "__ellipsis__", "config": {}}, 2]);
        let g = GetItem::from_key_json(&key).expect("ok");
        assert_eq!(g.key, [KeyItem::Ellipsis, KeyItem::Index(2)]);
        assert_eq!(g.key_json(), key);
        let one =
            json!({"class_name": "__slice__", "config": {"start": 1, "stop": null, "step": null}});
        assert_eq!(GetItem::from_key_json(&one).expect("ok").key_json(), one);
        assert!(GetItem::from_key_json(&json!(["text"])).is_err());
    }
}
