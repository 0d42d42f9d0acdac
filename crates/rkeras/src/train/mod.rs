//! Training and inference on in-memory tensors: [`Fit`] (the builder `model.fit(&x, &y)`
//! returns), `evaluate`, `predict`.
//!
//! One training step: gather the batch into the input buffer, forward, loss and its
//! gradient, backward, optimizer update, metrics. Everything runs on preallocated buffers
//! inside the rayon pool, so a step allocates nothing.

mod batches;
mod data;
mod engine;
mod fit;
mod mixing;
mod step;
mod weights;

pub use batches::{BatchMap, BatchMut, Batches, MappedDataset};
pub use data::Arrays;
pub use fit::{Fit, ValidationFreq};
pub use step::{Step, TrainStep};
pub use weights::ClassWeight;

use crate::callbacks::{Callback, LogValue, Logs};
use crate::data::ImageDataset;
use crate::error::Result;
use crate::model::Model;
use crate::tensor::Tensor;
use batches::{ArrayBatches, ImageBatches};
use engine::{Buffers, CallbackList};

/// Results of `evaluate`: the loss then the metrics, in compile order (Keras's list).
///
/// A vector-valued metric (Keras's `F1Score()`, one score per class, or
/// `Precision(thresholds=[...])`, one value per threshold) has its values in
/// [`vectors`](Self::vectors), where Keras's list holds an array, and their mean in
/// [`values`](Self::values).
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// `["loss", "accuracy", ...]`.
    pub names: Vec<String>,
    /// Values in the same order (a vector-valued metric: the mean of its values).
    pub values: Vec<f64>,
    /// In the same order: the values of a vector-valued metric, `None` for a number.
    pub vectors: Vec<Option<Vec<f64>>>,
}

impl Evaluation {
    /// The results named `names` in `logs` (missing ones NaN).
    pub(crate) fn from_logs(names: Vec<String>, logs: &Logs) -> Evaluation {
        let mut values = Vec::with_capacity(names.len());
        let mut vectors = Vec::with_capacity(names.len());
        for name in &names {
            match logs.value(name) {
                Some(v @ LogValue::Vector(x)) => {
                    values.push(v.mean());
                    vectors.push(Some(x.to_vec()));
                }
                Some(LogValue::Scalar(x)) => {
                    values.push(x);
                    vectors.push(None);
                }
                None => {
                    values.push(f64::NAN);
                    vectors.push(None);
                }
            }
        }
        Evaluation {
            names,
            values,
            vectors,
        }
    }
    /// The value of one metric (a vector-valued one: the mean of its values).
    pub fn get(&self, name: &str) -> Option<f64> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| self.values[i])
    }
    /// The values of a vector-valued metric (one per class or threshold); `None` for a
    /// number or an unknown name.
    pub fn get_vector(&self, name: &str) -> Option<&[f64]> {
        self.names
            .iter()
            .position(|n| n == name)
            .and_then(|i| self.vectors.get(i)?.as_deref())
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

    /// Starts configuring training on any [`Batches`] source: your own dataset or
    /// generator (Keras's `model.fit(py_dataset)`). The model must be built. Finish with
    /// `.run()`; see [`Batches`] for an example.
    pub fn fit_batches<'a>(&'a mut self, src: impl Batches + 'a) -> Fit<'a> {
        Fit::new(self, fit::Source::Batches(Box::new(src)))
    }

    /// Loss and metrics over a [`Batches`] source (inference mode), in
    /// [`metrics_names`](Model::metrics_names) order; `callbacks` see the test hooks.
    ///
    /// # Errors
    /// Not compiled or not built; batches that do not fit the model.
    pub fn evaluate_batches(
        &mut self,
        src: &mut dyn Batches,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<Evaluation> {
        data::prepare_source(self)?;
        let logs = in_pool(|| -> Result<Logs> {
            let mut bufs = Buffers::new(self, src.batch_size(), false)?;
            engine::evaluate(
                self,
                src,
                None,
                &mut bufs,
                &mut CallbackList { list: callbacks },
            )
        })?;
        Ok(Evaluation::from_logs(self.metrics_names(), &logs))
    }

    /// Outputs for every sample of a [`Batches`] source, in order (several outputs: packed
    /// side by side in each row); `callbacks` see the predict hooks.
    ///
    /// # Errors
    /// Not built; batches that do not fit the model.
    pub fn predict_batches(
        &mut self,
        src: &mut dyn Batches,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<Tensor> {
        if !self.built() {
            return Err(crate::Error::State(
                "the model is not built: give its first layer an input shape (or call build) before predicting on a Batches source".into(),
            ));
        }
        let per: usize = self
            .output_shapes()
            .iter()
            .map(|s| crate::shape::numel(s))
            .sum();
        let cap = src.len().saturating_mul(src.batch_size());
        let mut out = crate::budget::zeros(
            || format!("the predictions for up to {cap} samples of {per} values each"),
            cap.saturating_mul(per),
        )?;
        let rows = in_pool(|| -> Result<usize> {
            let mut bufs = Buffers::new(self, src.batch_size(), false)?;
            engine::predict(
                self,
                src,
                &mut bufs,
                &mut out,
                per,
                &mut CallbackList { list: callbacks },
            )
        })?;
        out.truncate(rows * per);
        let mut shape = vec![rows];
        match self.output_shape() {
            Some(s) => shape.extend_from_slice(s),
            None => shape.push(per),
        }
        Tensor::new(shape, out)
    }

    /// Runs one training step on exactly this batch (Keras's `train_on_batch`) and returns
    /// the batch's loss and metrics.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut m = Sequential::new([Dense::new(2).activation("softmax").input_shape(3).into()])?;
    /// m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    /// let x = Tensor::new(vec![2, 3], vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0])?;
    /// let y = Tensor::new(vec![2], vec![0.0, 1.0])?;
    /// let r = m.train_on_batch(&x, &y)?;
    /// assert_eq!(r.names, ["loss", "accuracy"]);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Fit::run`].
    pub fn train_on_batch<'a>(
        &mut self,
        x: impl Into<Arrays<'a>>,
        y: impl Into<Arrays<'a>>,
    ) -> Result<Evaluation> {
        let x = data::pack_inputs(self, x.into())?;
        data::prepare_x(self, &x)?;
        let y = data::pack_targets(self, y.into(), x.rows())?;
        let n = x.rows();
        let fused = step::fuses(self);
        in_pool(|| -> Result<Evaluation> {
            let mut src = ArrayBatches::new(&x, Some(&y), (0..n).collect(), n);
            let mut bufs = Buffers::new(self, n, true)?;
            step::ensure_optimizer(self);
            let mut cursor = batches::Cursor::new(None);
            let mut logs = crate::callbacks::Logs::new();
            let run = engine::EpochRun {
                src: &mut src,
                cursor: &mut cursor,
                bufs: &mut bufs,
                class_weight: None,
                custom: None,
                mixer: None,
                fused,
                logs: &mut logs,
            };
            engine::train_epoch(self, 0, run, &mut CallbackList { list: &mut [] })?;
            Ok(Evaluation::from_logs(self.metrics_names(), &logs))
        })
    }

    /// Loss and metrics of exactly this batch, in inference mode (Keras's `test_on_batch`).
    ///
    /// # Errors
    /// As [`Model::evaluate`].
    pub fn test_on_batch<'a>(
        &mut self,
        x: impl Into<Arrays<'a>>,
        y: impl Into<Arrays<'a>>,
    ) -> Result<Evaluation> {
        let x = x.into();
        let n = x.list().first().map_or(1, |t| t.rows()).max(1);
        self.evaluate_batched(x, y, n)
    }

    /// Outputs for exactly this batch (Keras's `predict_on_batch`).
    ///
    /// # Errors
    /// As [`Model::predict`].
    pub fn predict_on_batch<'a>(&mut self, x: impl Into<Arrays<'a>>) -> Result<Tensor> {
        let x = x.into();
        let n = x.list().first().map_or(1, |t| t.rows()).max(1);
        self.predict_batched(x, n)
    }

    /// Loss and metrics over a folder dataset, in file order (inference mode).
    ///
    /// # Errors
    /// Not compiled; images or labels that do not fit the model; an unreadable file.
    pub fn evaluate_dataset(&mut self, ds: &ImageDataset) -> Result<Evaluation> {
        data::prepare_images(self, ds, true)?;
        let logs = in_pool(|| -> Result<Logs> {
            let mut src = ImageBatches::new(ds, false);
            let mut bufs = Buffers::new(self, src.batch_size(), false)?;
            engine::evaluate(
                self,
                &mut src,
                None,
                &mut bufs,
                &mut CallbackList { list: &mut [] },
            )
        })?;
        Ok(Evaluation::from_logs(self.metrics_names(), &logs))
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
        in_pool(|| -> Result<usize> {
            let mut src = ImageBatches::new(ds, false);
            let mut bufs = Buffers::new(self, src.batch_size(), false)?;
            let mut cbs = CallbackList { list: &mut [] };
            engine::predict(self, &mut src, &mut bufs, &mut out, per, &mut cbs)
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
        data::prepare_x(self, &x)?;
        let y = data::pack_targets(self, y.into(), x.rows())?;
        let logs = in_pool(|| -> Result<Logs> {
            let mut src = ArrayBatches::new(&x, Some(&y), (0..x.rows()).collect(), batch_size);
            let mut bufs = Buffers::new(self, src.batch_size(), false)?;
            engine::evaluate(
                self,
                &mut src,
                None,
                &mut bufs,
                &mut CallbackList { list: &mut [] },
            )
        })?;
        Ok(Evaluation::from_logs(self.metrics_names(), &logs))
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
        data::prepare_x(self, &x)?;
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
        in_pool(|| -> Result<usize> {
            let mut src = ArrayBatches::new(&x, None, (0..n_total).collect(), batch_size);
            let mut bufs = Buffers::new(self, src.batch_size(), false)?;
            let mut cbs = CallbackList { list: &mut [] };
            engine::predict(self, &mut src, &mut bufs, &mut out, per, &mut cbs)
        })?;
        let mut shape = vec![n_total];
        shape.extend(out_shape);
        Tensor::new(shape, out)
    }
}
