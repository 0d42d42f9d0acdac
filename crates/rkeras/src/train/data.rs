//! Checks on the arrays handed to fit/evaluate/predict, target layout, and batch gathering.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::shape::batch_shape_str;
use crate::tensor::Tensor;

pub(crate) fn check_batch_size(b: usize) -> Result<()> {
    if b == 0 {
        return Err(Error::arg(
            "batch_size",
            "",
            "expected a positive integer, received 0",
        ));
    }
    Ok(())
}

/// Validates inputs `x` (packed) against the model, building it from `x` when needed.
pub(crate) fn prepare_x(model: &mut Model, x: &Tensor) -> Result<()> {
    if x.shape().len() < 2 {
        return Err(Error::Data(format!(
            "x must have a batch axis and at least one feature axis, received shape {:?}",
            x.shape()
        )));
    }
    if x.rows() == 0 {
        return Err(Error::Data(
            "x is empty: expected at least one sample".into(),
        ));
    }
    let sample = &x.shape()[1..];
    if !model.built() {
        model.build(sample)?;
    }
    let want = model.input_shape().unwrap_or(&[]).to_vec();
    if sample != want.as_slice() {
        return Err(Error::IncompatibleShape {
            layer: model
                .layers()
                .first()
                .map_or("input", |l| l.name())
                .to_string(),
            expected: format!("shape={}", batch_shape_str(&want)),
            received: batch_shape_str(sample),
        });
    }
    if let Some(i) = first_non_finite(x.data()) {
        let row = i / x.row_len().max(1);
        return Err(Error::Data(format!(
            "x contains a non-finite value (NaN or infinity) in sample {row}"
        )));
    }
    bind(model);
    Ok(())
}

/// Places the heads' columns from the built model's output shapes.
fn bind(model: &mut Model) {
    let shapes = model.output_shapes();
    if let Some(c) = model.compiled.as_mut() {
        c.bind(&shapes);
    }
}

/// Readies a model for a user's [`Batches`](super::Batches) source: it must be built (its
/// input shape known); the targets' layout follows from the outputs and the losses.
pub(crate) fn prepare_source(model: &mut Model) -> Result<()> {
    if !model.built() {
        return Err(Error::State(
            "the model is not built: give its first layer an input shape (or call build) before training on a Batches source".into(),
        ));
    }
    bind(model);
    let shapes = model.output_shapes();
    let Some(c) = model.compiled.as_mut() else {
        return Err(Error::State(
            "You must call `compile()` before using the model for training or evaluation.".into(),
        ));
    };
    let mut off = 0;
    for (h, out) in c.heads.iter_mut().zip(&shapes) {
        let cols = out.last().copied().unwrap_or(1);
        let row_len = if h.loss.is_sparse() {
            crate::shape::numel(out) / cols.max(1)
        } else {
            crate::shape::numel(out)
        };
        h.t_off = off;
        h.t_len = row_len;
        off += row_len;
    }
    Ok(())
}

/// Checks class weights against the model: one output, one class axis.
pub(crate) fn check_class_weight(model: &Model, cw: &super::ClassWeight) -> Result<()> {
    let shapes = model.output_shapes();
    if shapes.len() != 1 {
        return Err(Error::arg(
            "class_weight",
            "",
            "`class_weight` is only supported for Models with a single output.",
        ));
    }
    let out = &shapes[0];
    if out.len() > 1 {
        return Err(Error::arg(
            "class_weight",
            "",
            format!(
                "`class_weight` not supported for 3+ dimensional targets (the output is {})",
                batch_shape_str(out)
            ),
        ));
    }
    cw.check(out.last().copied().unwrap_or(1))
}

/// Checks targets `y` (called `what` in messages) against an output of per-sample shape
/// `out` and its loss, resolves the metrics, and returns the values per sample and the
/// width of the output's last axis.
pub(crate) fn check_targets(
    loss: crate::losses::Loss,
    metrics: &mut [crate::metrics::Metric],
    out: &[usize],
    y: &Tensor,
    what: &str,
) -> Result<(usize, usize)> {
    let cols = out.last().copied().unwrap_or(1);
    let out_rows = crate::shape::numel(out) / cols.max(1);
    let sparse = loss.is_sparse();
    let row_len = if sparse {
        out_rows
    } else {
        crate::shape::numel(out)
    };
    if y.row_len() != row_len {
        let hint = if !sparse && y.row_len() == out_rows && cols > 1 {
            format!(
                "; integer labels need loss \"sparse_categorical_crossentropy\", or one-hot encode them with Tensor::one_hot(labels, {cols})"
            )
        } else {
            String::new()
        };
        return Err(Error::Data(format!(
            "targets {what} of shape {:?} do not match the model output {} for loss \"{}\": expected {} values per sample{hint}",
            y.shape(),
            batch_shape_str(out),
            loss.name(),
            row_len
        )));
    }
    if let Some(i) = first_non_finite(y.data()) {
        return Err(Error::Data(format!(
            "{what} contains a non-finite value (NaN or infinity) in sample {}",
            i / row_len.max(1)
        )));
    }
    if sparse {
        if let Some(i) = y
            .data()
            .iter()
            .position(|v| *v < 0.0 || *v >= cols as f32 || v.fract() != 0.0)
        {
            return Err(Error::Data(format!(
                "{what}[{i}] = {} is not a class index in [0, {cols}) for loss \"{}\"",
                y.data()[i],
                loss.name()
            )));
        }
    }
    let targets_sparse = sparse || (y.row_len() == out_rows && cols > 1);
    for m in metrics {
        m.resolve(cols, targets_sparse);
    }
    Ok((row_len, cols))
}

/// One array, or one per input (or output) of a model with several: `&x`, `[&a, &b]`,
/// `&[&a, &b]`, `vec![&a, &b]`.
#[derive(Clone, Debug)]
pub enum Arrays<'a> {
    /// A single array.
    One(&'a Tensor),
    /// One array per model input or output, in order.
    Many(Vec<&'a Tensor>),
}

impl<'a> From<&'a Tensor> for Arrays<'a> {
    fn from(t: &'a Tensor) -> Self {
        Arrays::One(t)
    }
}
impl<'a> From<&'a [&'a Tensor]> for Arrays<'a> {
    fn from(t: &'a [&'a Tensor]) -> Self {
        Arrays::Many(t.to_vec())
    }
}
impl<'a, const N: usize> From<[&'a Tensor; N]> for Arrays<'a> {
    fn from(t: [&'a Tensor; N]) -> Self {
        Arrays::Many(t.to_vec())
    }
}
impl<'a, const N: usize> From<&'a [&'a Tensor; N]> for Arrays<'a> {
    fn from(t: &'a [&'a Tensor; N]) -> Self {
        Arrays::Many(t.to_vec())
    }
}
impl<'a> From<Vec<&'a Tensor>> for Arrays<'a> {
    fn from(t: Vec<&'a Tensor>) -> Self {
        Arrays::Many(t)
    }
}

impl<'a> Arrays<'a> {
    pub(crate) fn list(&self) -> Vec<&'a Tensor> {
        match self {
            Arrays::One(t) => vec![*t],
            Arrays::Many(v) => v.clone(),
        }
    }
}

/// Packs `parts` (same number of samples) side by side in each row.
fn pack(parts: &[&Tensor]) -> Result<Tensor> {
    let n = parts.first().map_or(0, |t| t.rows());
    let width: usize = parts.iter().map(|t| t.row_len()).sum();
    let mut data = vec![0.0f32; n * width];
    let mut off = 0;
    for t in parts {
        let len = t.row_len();
        crate::model::graph::pack_cols(t.data(), width, off, len, n, &mut data);
        off += len;
    }
    Tensor::new(vec![n, width], data)
}

/// The model's input batch from `x`: one array as it is, or one per input of a model with
/// several, checked against each input (named in messages) and packed side by side.
pub(crate) fn pack_inputs<'a>(
    model: &Model,
    x: Arrays<'a>,
) -> Result<std::borrow::Cow<'a, Tensor>> {
    let shapes = model.input_shapes();
    let list = x.list();
    if shapes.len() <= 1 {
        return match list.as_slice() {
            [one] => Ok(std::borrow::Cow::Borrowed(*one)),
            many => Err(Error::Data(format!(
                "the model has one input, but {} arrays were given",
                many.len()
            ))),
        };
    }
    let names = model.input_names();
    if list.len() != shapes.len() {
        return Err(Error::Data(format!(
            "the model has {} inputs {names:?}, but {} array(s) were given: pass one per input, in order",
            shapes.len(),
            list.len()
        )));
    }
    let n = list[0].rows();
    for ((t, shape), name) in list.iter().zip(&shapes).zip(&names) {
        if t.shape().len() < 2 || &t.shape()[1..] != shape.as_slice() {
            return Err(Error::IncompatibleShape {
                layer: name.clone(),
                expected: format!("shape={}", batch_shape_str(shape)),
                received: format!("{:?}", t.shape()),
            });
        }
        if t.rows() != n {
            return Err(Error::Data(format!(
                "all inputs must have the same number of samples: \"{}\" has {n}, \"{name}\" has {}",
                names[0],
                t.rows()
            )));
        }
    }
    pack(&list).map(std::borrow::Cow::Owned)
}

/// The targets from `y` for `n` samples: one array per output (one array as it is), each
/// checked against its output and loss (named in messages) and packed side by side.
pub(crate) fn pack_targets<'a>(
    model: &mut Model,
    y: Arrays<'a>,
    n: usize,
) -> Result<std::borrow::Cow<'a, Tensor>> {
    let list = y.list();
    let shapes = model.output_shapes();
    let Some(c) = model.compiled.as_mut() else {
        return Err(Error::State(
            "You must call `compile()` before using the model for training or evaluation.".into(),
        ));
    };
    let single = c.heads.len() == 1;
    if list.len() != c.heads.len() {
        if single {
            return Err(Error::Data(format!(
                "the model has one output, but {} target arrays were given",
                list.len()
            )));
        }
        let names: Vec<&str> = c.heads.iter().map(|h| h.name.as_str()).collect();
        return Err(Error::Data(format!(
            "the model has {} outputs {names:?}, but {} target array(s) were given: pass one per output, in order",
            c.heads.len(),
            list.len()
        )));
    }
    let mut off = 0;
    for ((h, t), shape) in c.heads.iter_mut().zip(&list).zip(&shapes) {
        if t.rows() != n || t.shape().is_empty() {
            return Err(Error::Data(if single {
                format!(
                    "x and y must have the same number of samples: x has {n}, y has {} (shape {:?})",
                    t.rows(),
                    t.shape()
                )
            } else {
                format!(
                    "all targets must have the same number of samples: output \"{}\" has {} (shape {:?}), the inputs have {n}",
                    h.name,
                    t.rows(),
                    t.shape()
                )
            }));
        }
        let what = if single {
            "y".to_string()
        } else {
            format!("y for output \"{}\"", h.name)
        };
        let (row_len, _) = check_targets(h.loss, &mut h.metrics, shape, t, &what)?;
        h.t_off = off;
        h.t_len = row_len;
        off += row_len;
    }
    if single {
        return Ok(std::borrow::Cow::Borrowed(list[0]));
    }
    pack(&list).map(std::borrow::Cow::Owned)
}

/// Copies samples `rows` of `x` into `dst`.
pub(crate) fn gather(x: &Tensor, rows: &[usize], dst: &mut [f32]) {
    gather_rows(x.data(), x.row_len(), rows, dst);
}

/// Copies rows `rows` (each `len` values) of `src` into `dst`.
pub(crate) fn gather_rows(src: &[f32], len: usize, rows: &[usize], dst: &mut [f32]) {
    rkeras_kernels::elementwise::gather_rows(src, len, rows, dst);
}

/// Checks a folder dataset against the model (building it from the image shape when
/// needed) and, with `targets`, its labels against the loss.
pub(crate) fn prepare_images(
    model: &mut Model,
    ds: &crate::data::ImageDataset,
    targets: bool,
) -> Result<()> {
    use crate::data::LabelMode;
    if model.input_shapes().len() > 1 || model.output_shapes().len() > 1 {
        return Err(Error::Data(
            "a folder dataset feeds one input and one output; this model has several: map its batches to the inputs and outputs with rkeras::train::MappedDataset (Keras's dataset.map) and train with fit_batches".into(),
        ));
    }
    if ds.is_empty() {
        return Err(Error::Data("the dataset has no images".into()));
    }
    let sample = ds.image_shape().to_vec();
    if !model.built() {
        model.build(&sample)?;
    }
    let want = model.input_shape().unwrap_or(&[]).to_vec();
    if sample != want {
        return Err(Error::IncompatibleShape {
            layer: model
                .layers()
                .first()
                .map_or("input", |l| l.name())
                .to_string(),
            expected: format!("shape={}", batch_shape_str(&want)),
            received: format!(
                "{} (the dataset's images; set image_size and color_mode to match the model)",
                batch_shape_str(&sample)
            ),
        });
    }
    let out = model.output_shape().unwrap_or(&[]).to_vec();
    let cols = out.last().copied().unwrap_or(1);
    if !targets {
        return Ok(());
    }
    let Some(c) = &model.compiled else {
        return Err(Error::State(
            "You must call `compile()` before using the model for training or evaluation.".into(),
        ));
    };
    let sparse = c.loss().is_sparse();
    let out_rows = crate::shape::numel(&out) / cols.max(1);
    let row_len = if sparse {
        out_rows
    } else {
        crate::shape::numel(&out)
    };
    let mode = ds.label_mode();
    if mode == LabelMode::None {
        return Err(Error::Data(
            "the dataset has no labels (label_mode none); training and evaluation need labels"
                .into(),
        ));
    }
    if ds.label_len() != row_len {
        let hint = match mode {
            LabelMode::Int => "label_mode \"int\" needs loss \"sparse_categorical_crossentropy\"",
            LabelMode::Categorical => {
                "label_mode \"categorical\" needs loss \"categorical_crossentropy\" and one output unit per class"
            }
            LabelMode::Binary => {
                "label_mode \"binary\" needs loss \"binary_crossentropy\" and one output unit"
            }
            LabelMode::None => "",
        };
        return Err(Error::Data(format!(
            "the dataset's labels ({} value(s) per image, label_mode {mode:?}) do not match the model output {} for loss \"{}\": {hint}",
            ds.label_len(),
            batch_shape_str(&out),
            c.loss().name()
        )));
    }
    if mode == LabelMode::Int && sparse && ds.class_names().len() > cols {
        return Err(Error::Data(format!(
            "the dataset has {} classes but the model outputs {cols} values per image: the last Dense layer needs {} units",
            ds.class_names().len(),
            ds.class_names().len()
        )));
    }
    let targets_sparse = mode == LabelMode::Int && cols > 1;
    bind(model);
    if let Some(h) = model.compiled.as_mut().and_then(|c| c.heads.first_mut()) {
        for m in &mut h.metrics {
            m.resolve(cols, targets_sparse);
        }
        h.t_off = 0;
        h.t_len = row_len;
    }
    Ok(())
}

/// Index of the first NaN or infinity in `data`. Scans blocks in parallel with a branch-free
/// (vectorised) test, since the inputs can be hundreds of megabytes and this check is part of
/// the time to the first training step.
pub(crate) fn first_non_finite(data: &[f32]) -> Option<usize> {
    use rayon::prelude::*;
    const BLOCK: usize = 1 << 16;
    let bad = |v: &f32| v.to_bits() & 0x7f80_0000 == 0x7f80_0000;
    let block = data
        .par_chunks(BLOCK)
        .position_first(|c| c.iter().fold(false, |a, v| a | bad(v)))?;
    let start = block * BLOCK;
    data[start..].iter().position(bad).map(|i| start + i)
}

#[cfg(test)]
mod non_finite_tests {
    use super::first_non_finite;

    #[test]
    fn finds_the_first_nan_or_infinity() {
        let mut v = vec![1.0f32; 300_000];
        assert_eq!(first_non_finite(&v), None);
        v[250_001] = f32::INFINITY;
        v[140_000] = f32::NAN;
        assert_eq!(first_non_finite(&v), Some(140_000));
        v[3] = f32::NEG_INFINITY;
        assert_eq!(first_non_finite(&v), Some(3));
        assert_eq!(first_non_finite(&[f32::MAX, f32::MIN, 0.0, -0.0]), None);
        assert_eq!(first_non_finite(&[]), None);
    }
}
