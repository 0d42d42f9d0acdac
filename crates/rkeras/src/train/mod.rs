//! Training and inference on in-memory tensors: [`Fit`] (the builder `model.fit(&x, &y)`
//! returns), `evaluate`, `predict`.
//!
//! One training step: gather the batch into the input buffer, forward, loss and its
//! gradient, backward, optimizer update, metrics. Everything runs on preallocated buffers
//! inside the rayon pool, so a step allocates nothing.

mod data;
mod fit;
mod heads;

pub use data::Arrays;
pub use fit::Fit;
pub(crate) use heads::{key_name, log_order, Head, Key};

use crate::data::ImageDataset;
use crate::error::Result;
use crate::layers::Mode;
use crate::model::Model;
use crate::tensor::Tensor;
use data::Targets;

/// Results of `evaluate`: the loss then the metrics, in compile order (Keras's list).
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// `["loss", "accuracy", ...]`.
    pub names: Vec<String>,
    /// Values in the same order.
    pub values: Vec<f64>,
}

impl Evaluation {
    /// The value of one metric.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| self.values[i])
    }
    /// The loss.
    pub fn loss(&self) -> f64 {
        self.values.first().copied().unwrap_or(f64::NAN)
    }
}

/// Runs `f` on a rayon worker, so parallel kernels push work to a local queue (no
/// allocation) instead of injecting it from outside the pool.
pub(crate) fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::join(f, || ()).0
    }
}

impl Model {
    /// Starts configuring training on inputs `x` (`(N, ...)`) and targets `y` (`(N, classes)`
    /// one-hot, or `(N,)` class indices for sparse losses). Finish with `.run()`.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut model = Sequential::new([Dense::new(2).activation("softmax").input_shape(3).into()])?;
    /// model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    /// let x = Tensor::new(vec![4, 3], vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0])?;
    /// let y = Tensor::new(vec![4], vec![0.0, 1.0, 0.0, 1.0])?;
    /// let history = model.fit(&x, &y).epochs(2).batch_size(2).verbose(0).run()?;
    /// assert_eq!(history.get("loss").map(|l| l.len()), Some(2));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// A model with several inputs or outputs takes one array per input and one per
    /// output, in order: `model.fit([&images, &meta], [&labels, &scores])`.
    pub fn fit<'a>(&'a mut self, x: impl Into<Arrays<'a>>, y: impl Into<Arrays<'a>>) -> Fit<'a> {
        Fit::new(self, fit::Source::Arrays(x.into(), y.into()))
    }

    /// Starts configuring training on a folder dataset (Keras's `model.fit(train_ds)`): the
    /// batch size is the dataset's; add `.validation_dataset(&val_ds)`. Finish with `.run()`.
    ///
    /// ```no_run
    /// use rkeras::prelude::*;
    /// let (train, val) = image_dataset_from_directory("photos")
    ///     .image_size((64, 64)).validation_split(0.2).seed(1).load_both()?;
    /// let mut model = Sequential::new([
    ///     Rescaling::new(1.0 / 255.0).input_shape((64, 64, 3)).into(),
    ///     Flatten::new().into(),
    ///     Dense::new(train.class_names().len()).activation("softmax").into(),
    /// ])?;
    /// model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    /// model.fit_dataset(&train).validation_dataset(&val).epochs(3).run()?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn fit_dataset<'a>(&'a mut self, ds: &'a ImageDataset) -> Fit<'a> {
        Fit::new(self, fit::Source::Images(ds))
    }

    /// Loss and metrics over a folder dataset, in file order (inference mode).
    ///
    /// # Errors
    /// Not compiled; images or labels that do not fit the model; an unreadable file.
    pub fn evaluate_dataset(&mut self, ds: &ImageDataset) -> Result<Evaluation> {
        data::prepare_images(self, ds, true)?;
        let vals = in_pool(|| evaluate_images(self, ds))?;
        let mut names = vec!["loss".to_string()];
        if let Some(c) = &self.compiled {
            names.extend(c.metrics.iter().map(|m| m.name().to_string()));
        }
        Ok(Evaluation {
            names,
            values: vals,
        })
    }

    /// Outputs for every image of a folder dataset, in file order (inference mode).
    ///
    /// # Errors
    /// Images that do not fit the model; an unreadable file.
    pub fn predict_dataset(&mut self, ds: &ImageDataset) -> Result<Tensor> {
        data::prepare_images(self, ds, false)?;
        let out_shape = self
            .output_shape()
            .map(<[usize]>::to_vec)
            .unwrap_or_default();
        let per = crate::shape::numel(&out_shape);
        let mut out = crate::budget::zeros(
            || {
                format!(
                    "the predictions for {} images of {per} values each",
                    ds.len()
                )
            },
            ds.len().saturating_mul(per),
        )?;
        in_pool(|| -> Result<()> {
            let bs = ds.batch_size().unwrap_or(1);
            self.chain.allocate(bs.min(ds.len()).max(1))?;
            let mut start = 0;
            for batch in ds.in_order() {
                let batch = batch?;
                let n = batch.n;
                let asked = n + batch.skipped.len();
                if n > 0 {
                    self.chain.input_mut(n).copy_from_slice(&batch.x);
                    self.chain.forward(n, Mode::Infer);
                }
                let y = self.chain.output(n);
                if batch.skipped.is_empty() {
                    out[start * per..(start + n) * per].copy_from_slice(y);
                    start += n;
                    continue;
                }
                // Rows in file order; a skipped file's row is NaN.
                let mut kept = 0;
                for pos in 0..asked {
                    let row = &mut out[(start + pos) * per..(start + pos + 1) * per];
                    if batch.skipped.contains(&pos) {
                        row.fill(f32::NAN);
                    } else {
                        row.copy_from_slice(&y[kept * per..(kept + 1) * per]);
                        kept += 1;
                    }
                }
                start += asked;
            }
            Ok(())
        })?;
        let mut shape = vec![ds.len()];
        shape.extend(out_shape);
        Tensor::new(shape, out)
    }

    /// Loss and metrics on `(x, y)` in batches of 32 (inference mode).
    ///
    /// # Errors
    /// Not compiled; shapes that do not fit the model; NaN inputs; empty data.
    ///
    /// A model with several inputs or outputs takes one array per input and per output.
    pub fn evaluate<'a>(
        &mut self,
        x: impl Into<Arrays<'a>>,
        y: impl Into<Arrays<'a>>,
    ) -> Result<Evaluation> {
        self.evaluate_batched(x, y, 32)
    }

    /// [`Model::evaluate`] with an explicit batch size.
    ///
    /// # Errors
    /// As [`Model::evaluate`]; a zero batch size.
    pub fn evaluate_batched<'a>(
        &mut self,
        x: impl Into<Arrays<'a>>,
        y: impl Into<Arrays<'a>>,
        batch_size: usize,
    ) -> Result<Evaluation> {
        data::check_batch_size(batch_size)?;
        let x = data::pack_inputs(self, x.into())?;
        let y = data::pack_targets(self, y.into())?;
        let targets = data::prepare(self, &x, Some(&y))?
            .ok_or_else(|| crate::Error::State("no targets".into()))?;
        let rows: Vec<usize> = (0..x.rows()).collect();
        let vals = in_pool(|| evaluate_rows(self, &x, &targets, &rows, batch_size))?;
        let names = self.metrics_names();
        Ok(Evaluation {
            names,
            values: vals,
        })
    }

    /// Outputs for every sample of `x`, in batches of 32 (inference mode).
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut model = Sequential::new([Dense::new(3).activation("softmax").input_shape(4).into()])?;
    /// let p = model.predict(&Tensor::zeros(vec![5, 4]))?;
    /// assert_eq!(p.shape(), &[5, 3]);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// Shapes that do not fit the model; NaN inputs; empty data.
    ///
    /// A model with several inputs takes one array per input; one with several outputs
    /// answers through [`Model::predict_outputs`].
    pub fn predict<'a>(&mut self, x: impl Into<Arrays<'a>>) -> Result<Tensor> {
        self.predict_batched(x, 32)
    }

    /// Every output of a model with several (one tensor per output, in order), for every
    /// sample of `x` (one array per input), in batches of 32.
    ///
    /// # Errors
    /// As [`Model::predict`].
    pub fn predict_outputs<'a>(&mut self, x: impl Into<Arrays<'a>>) -> Result<Vec<Tensor>> {
        let packed = self.predict_packed(x.into(), 32)?;
        let shapes = self.output_shapes();
        let n = packed.rows();
        let width = packed.row_len();
        let mut off = 0;
        let mut out = Vec::new();
        for s in shapes {
            let len = crate::shape::numel(&s);
            let mut v = vec![0.0f32; n * len];
            crate::model::graph::unpack_cols(packed.data(), width, off, len, n, &mut v);
            off += len;
            let mut shape = vec![n];
            shape.extend(s);
            out.push(Tensor::new(shape, v)?);
        }
        Ok(out)
    }

    /// [`Model::predict`] with an explicit batch size.
    ///
    /// # Errors
    /// As [`Model::predict`]; a zero batch size.
    pub fn predict_batched<'a>(
        &mut self,
        x: impl Into<Arrays<'a>>,
        batch_size: usize,
    ) -> Result<Tensor> {
        let names = self.output_names();
        if names.len() > 1 {
            return Err(crate::Error::State(format!(
                "the model has {} outputs {names:?}: use predict_outputs, which returns one tensor per output",
                names.len()
            )));
        }
        self.predict_packed(x.into(), batch_size)
    }

    /// Predictions with the outputs packed side by side in each row.
    fn predict_packed(&mut self, x: Arrays<'_>, batch_size: usize) -> Result<Tensor> {
        data::check_batch_size(batch_size)?;
        let x = data::pack_inputs(self, x)?;
        let x: &Tensor = &x;
        data::prepare(self, x, None)?;
        let out_shape = match self.output_shape() {
            Some(s) => s.to_vec(),
            None => vec![self
                .output_shapes()
                .iter()
                .map(|s| crate::shape::numel(s))
                .sum()],
        };
        let per = crate::shape::numel(&out_shape);
        let n_total = x.rows();
        let mut out = crate::budget::zeros(
            || format!("the predictions for {n_total} samples of {per} values each"),
            n_total.saturating_mul(per),
        )?;
        in_pool(|| {
            self.chain.allocate(batch_size.min(n_total).max(1))?;
            let bs = self.chain.max_batch().min(batch_size).max(1);
            for start in (0..n_total).step_by(bs) {
                let n = bs.min(n_total - start);
                self.chain
                    .input_mut(n)
                    .copy_from_slice(&x.data()[start * x.row_len()..(start + n) * x.row_len()]);
                self.chain.forward(n, Mode::Infer);
                out[start * per..(start + n) * per].copy_from_slice(self.chain.output(n));
            }
            Ok::<(), crate::Error>(())
        })?;
        let mut shape = vec![n_total];
        shape.extend(out_shape);
        Tensor::new(shape, out)
    }
}

/// Mean loss and metrics over `rows` of `(x, targets)`, inference mode. The model must be
/// compiled and built. Resets the metrics.
pub(crate) fn evaluate_rows(
    model: &mut Model,
    x: &Tensor,
    t: &Targets,
    rows: &[usize],
    batch_size: usize,
) -> Result<Vec<f64>> {
    model.chain.allocate(batch_size.min(rows.len()).max(1))?;
    let bs = batch_size.min(model.chain.max_batch()).max(1);
    let Some(c) = model.compiled.as_mut() else {
        return Ok(vec![]);
    };
    for m in &mut c.metrics {
        m.reset();
    }
    c.heads.iter_mut().for_each(Head::reset);
    let mut tbuf = vec![0.0f32; bs * t.row_len];
    let (mut total, mut count) = (0.0f64, 0usize);
    for chunk in rows.chunks(bs) {
        let n = chunk.len();
        data::gather(x, chunk, model.chain.input_mut(n));
        data::gather_rows(&t.values, t.row_len, chunk, &mut tbuf[..n * t.row_len]);
        model.chain.forward(n, Mode::Infer);
        let out = model.chain.output(n);
        if !c.heads.is_empty() {
            total += heads::compute(&mut c.heads, out, &tbuf[..n * t.row_len], n, None) * n as f64;
            count += n;
            continue;
        }
        let loss_rows = out.len() / t.cols;
        total += c
            .loss
            .compute(out, &tbuf[..n * t.row_len], loss_rows, t.cols, None, false)
            * n as f64;
        for m in &mut c.metrics {
            m.update(out, &tbuf[..n * t.row_len], loss_rows, t.cols);
        }
        count += n;
    }
    let reg = model.chain.regularization_loss();
    let loss = total / count.max(1) as f64 + reg;
    let mut v = vec![loss];
    v.extend(c.metrics.iter().map(|m| m.result()));
    v.extend(
        c.log_order
            .iter()
            .filter(|k| !matches!(k, Key::Loss))
            .map(|&k| heads::key_value(&c.heads, k, loss)),
    );
    Ok(v)
}

/// Mean loss and metrics over a folder dataset in file order, inference mode. The model
/// must be compiled, built and checked against the dataset. Resets the metrics.
pub(crate) fn evaluate_images(model: &mut Model, ds: &ImageDataset) -> Result<Vec<f64>> {
    let info = data::prepare_images(model, ds, true)?;
    let bs = ds.batch_size().unwrap_or(1);
    model.chain.allocate(bs.min(ds.len()).max(1))?;
    let Some(c) = model.compiled.as_mut() else {
        return Ok(vec![]);
    };
    for m in &mut c.metrics {
        m.reset();
    }
    let (mut total, mut count) = (0.0f64, 0usize);
    for batch in ds.in_order() {
        let batch = batch?;
        let n = batch.n;
        if n == 0 {
            continue;
        }
        model.chain.input_mut(n).copy_from_slice(&batch.x);
        model.chain.forward(n, Mode::Infer);
        let out = model.chain.output(n);
        let Some(c) = model.compiled.as_mut() else {
            break;
        };
        let rows = out.len() / info.cols.max(1);
        total += c.loss.compute(out, &batch.y, rows, info.cols, None, false) * n as f64;
        for m in &mut c.metrics {
            m.update(out, &batch.y, rows, info.cols);
        }
        count += n;
    }
    let Some(c) = model.compiled.as_ref() else {
        return Ok(vec![]);
    };
    let reg = model.chain.regularization_loss();
    let mut v = vec![total / count.max(1) as f64 + reg];
    v.extend(c.metrics.iter().map(|m| m.result()));
    Ok(v)
}
