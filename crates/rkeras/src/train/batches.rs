//! Where training and inference read their batches: the [`Batches`] trait, which arrays in
//! memory, folder datasets and user code implement alike (Keras's `PyDataset`), and the
//! cursor that walks one over epochs with `steps_per_epoch` as Keras's epoch iterator does.

use super::data::{self, Arrays};
use crate::data::ImageDataset;
use crate::error::{Error, Result};
use crate::model::heads::Head;
use crate::rng::Rng;
use crate::shape::batch_shape_str;
use crate::tensor::Tensor;

/// A source of batches for `fit`, `evaluate` and `predict` (Keras's `PyDataset`): it says how
/// many batches one pass holds and writes batch `index` into the buffers it is handed.
///
/// Arrays in memory and folder datasets implement it inside rkeras; implement it for your
/// own data (a generator, a file format, batches made on the fly) and train with
/// [`Model::fit_batches`](crate::Model::fit_batches).
///
/// ```
/// use rkeras::prelude::*;
/// use rkeras::train::{BatchMut, Batches};
///
/// /// Batches made on the fly: x is a ramp, y says whether it goes up.
/// struct Ramps;
/// impl Batches for Ramps {
///     fn len(&self) -> usize { 4 }
///     fn batch_size(&self) -> usize { 8 }
///     fn batch(&mut self, index: usize, out: &mut BatchMut<'_>) -> rkeras::Result<usize> {
///         let mut x = Vec::new();
///         let mut y = Vec::new();
///         for i in 0..8 {
///             let up = (index + i) % 2 == 0;
///             let s = if up { 1.0 } else { -1.0 };
///             x.extend([0.0, s * 0.5, s * 1.0]);
///             y.push(up as u8 as f32);
///         }
///         out.set(&Tensor::new(vec![8, 3], x)?, &Tensor::new(vec![8, 1], y)?)
///     }
/// }
///
/// let mut model = Sequential::new([Dense::new(1).activation("sigmoid").input_shape(3).into()])?;
/// model.compile("adam", "binary_crossentropy", &["accuracy"])?;
/// let history = model.fit_batches(Ramps).epochs(2).verbose(0).run()?;
/// assert_eq!(history.get("loss").map(|l| l.len()), Some(2));
/// # Ok::<(), rkeras::Error>(())
/// ```
pub trait Batches: Send {
    /// Batches in one pass over the data (Keras's `__len__`).
    fn len(&self) -> usize;
    /// True when a pass holds no batch.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The most samples a batch holds (buffers are sized for it).
    fn batch_size(&self) -> usize;
    /// Called before each pass over the data (`pass` counts from 0): reshuffle here. A pass
    /// is an epoch, unless `steps_per_epoch` makes epochs shorter.
    ///
    /// # Errors
    /// Whatever the source cannot do.
    fn begin_pass(&mut self, _pass: usize) -> Result<()> {
        Ok(())
    }
    /// Writes batch `index` (`0..len()`) of the current pass into `out` and returns how
    /// many samples it holds (0: nothing to train on, the batch is skipped).
    ///
    /// # Errors
    /// Data that cannot be read, or that does not fit the model (see [`BatchMut::set`]).
    fn batch(&mut self, index: usize, out: &mut BatchMut<'_>) -> Result<usize>;
    /// Positions, among the samples the last batch should have held, of those that could
    /// not be read and were left out (a folder read with `skip_bad_files`): `predict`
    /// gives them rows of NaN, so that rows stay in file order. Empty by default.
    fn last_skipped(&self) -> &[usize] {
        &[]
    }
}

/// The buffers a batch is written into: the model's input batch, the targets, and the
/// sample weights, each with room for [`max_rows`](Self::max_rows) samples. Use
/// [`set`](Self::set) (checked copies of arrays), or the raw buffers (the inputs of a model
/// with several packed side by side in each row, and the targets of several outputs too).
pub struct BatchMut<'b> {
    pub(crate) x: &'b mut [f32],
    pub(crate) y: &'b mut [f32],
    pub(crate) w: &'b mut [f32],
    pub(crate) x_len: usize,
    pub(crate) y_len: usize,
    pub(crate) max: usize,
    pub(crate) weighted: bool,
    pub(crate) want_y: bool,
    pub(crate) inputs: &'b [(String, Vec<usize>)],
    pub(crate) outputs: &'b [Vec<usize>],
    pub(crate) heads: &'b mut [Head],
}

impl BatchMut<'_> {
    /// The most samples this batch can hold.
    pub fn max_rows(&self) -> usize {
        self.max
    }
    /// Whether targets are read (false in `predict`).
    pub fn wants_targets(&self) -> bool {
        self.want_y
    }
    /// The input buffer for `n` samples (inputs of a model with several: packed per row).
    ///
    /// # Panics
    /// `n` above [`max_rows`](Self::max_rows).
    pub fn x_mut(&mut self, n: usize) -> &mut [f32] {
        &mut self.x[..n * self.x_len]
    }
    /// The target buffer for `n` samples (several outputs: packed per row).
    ///
    /// # Panics
    /// `n` above [`max_rows`](Self::max_rows).
    pub fn y_mut(&mut self, n: usize) -> &mut [f32] {
        &mut self.y[..n * self.y_len]
    }
    /// The sample-weight buffer for `n` samples; using it weights this batch.
    ///
    /// # Panics
    /// `n` above [`max_rows`](Self::max_rows).
    pub fn sample_weight_mut(&mut self, n: usize) -> &mut [f32] {
        self.weighted = true;
        &mut self.w[..n]
    }

    /// Copies a batch in: `x` one array per model input, `y` one per output (ignored in
    /// `predict`); returns the number of samples.
    ///
    /// # Errors
    /// Arrays that do not match the model's inputs or outputs (named), a batch larger than
    /// [`BatchSize`](Batches::batch_size), NaN values, class indices out of range.
    pub fn set<'t>(&mut self, x: impl Into<Arrays<'t>>, y: impl Into<Arrays<'t>>) -> Result<usize> {
        let n = self.set_x(x)?;
        if self.want_y {
            self.set_y(y, n)?;
        }
        Ok(n)
    }

    /// As [`set`](Self::set), with one weight per sample (Keras's `(x, y, sample_weight)`).
    ///
    /// # Errors
    /// As [`set`](Self::set); weights of the wrong length, negative or NaN.
    pub fn set_weighted<'t>(
        &mut self,
        x: impl Into<Arrays<'t>>,
        y: impl Into<Arrays<'t>>,
        sample_weight: &Tensor,
    ) -> Result<usize> {
        let n = self.set(x, y)?;
        super::weights::check_sample_weight(sample_weight, n)?;
        self.sample_weight_mut(n)
            .copy_from_slice(sample_weight.data());
        Ok(n)
    }

    fn set_x<'t>(&mut self, x: impl Into<Arrays<'t>>) -> Result<usize> {
        let list = x.into().list();
        if list.len() != self.inputs.len() {
            return Err(Error::Data(format!(
                "the batch has {} input array(s), the model {} input(s) {:?}",
                list.len(),
                self.inputs.len(),
                self.inputs.iter().map(|i| &i.0).collect::<Vec<_>>()
            )));
        }
        let n = list.first().map_or(0, |t| t.rows());
        if n > self.max {
            return Err(Error::Data(format!(
                "the batch has {n} samples, more than the source's batch_size() {}",
                self.max
            )));
        }
        let mut off = 0;
        for (t, (name, shape)) in list.iter().zip(self.inputs) {
            if t.shape().len() < 2 || &t.shape()[1..] != shape.as_slice() || t.rows() != n {
                return Err(Error::IncompatibleShape {
                    layer: name.clone(),
                    expected: format!("shape={} with {n} samples", batch_shape_str(shape)),
                    received: format!("{:?}", t.shape()),
                });
            }
            if let Some(i) = data::first_non_finite(t.data()) {
                return Err(Error::Data(format!(
                    "input \"{name}\" contains a non-finite value (NaN or infinity) in sample {}",
                    i / t.row_len().max(1)
                )));
            }
            let len = t.row_len();
            crate::model::graph::pack_cols(
                t.data(),
                self.x_len,
                off,
                len,
                n,
                &mut self.x[..n * self.x_len],
            );
            off += len;
        }
        Ok(n)
    }

    fn set_y<'t>(&mut self, y: impl Into<Arrays<'t>>, n: usize) -> Result<()> {
        let list = y.into().list();
        if list.len() != self.heads.len() {
            return Err(Error::Data(format!(
                "the batch has {} target array(s), the model {} output(s)",
                list.len(),
                self.heads.len()
            )));
        }
        for ((h, t), shape) in self.heads.iter_mut().zip(&list).zip(self.outputs) {
            if t.rows() != n {
                return Err(Error::Data(format!(
                    "the batch has {n} samples of x but {} of y for output \"{}\"",
                    t.rows(),
                    h.name
                )));
            }
            let what = format!("y for output \"{}\"", h.name);
            let (row_len, _) = data::check_targets(h.loss, &mut h.metrics, shape, t, &what)?;
            if row_len != h.t_len {
                return Err(Error::Data(format!(
                    "{what}: {row_len} values per sample, expected {}",
                    h.t_len
                )));
            }
            crate::model::graph::pack_cols(
                t.data(),
                self.y_len,
                h.t_off,
                h.t_len,
                n,
                &mut self.y[..n * self.y_len],
            );
        }
        Ok(())
    }
}

/// Arrays in memory (already checked): rows visited in order or shuffled per pass.
pub(crate) struct ArrayBatches<'d> {
    pub x: &'d Tensor,
    pub y: Option<&'d Tensor>,
    pub w: Option<&'d [f32]>,
    pub rows: Vec<usize>,
    pub order: Vec<usize>,
    pub bs: usize,
    pub shuffle: Option<u64>,
}

impl<'d> ArrayBatches<'d> {
    pub fn new(x: &'d Tensor, y: Option<&'d Tensor>, rows: Vec<usize>, bs: usize) -> Self {
        ArrayBatches {
            x,
            y,
            w: None,
            order: rows.clone(),
            rows,
            bs,
            shuffle: None,
        }
    }
}

impl Batches for ArrayBatches<'_> {
    fn len(&self) -> usize {
        self.rows.len().div_ceil(self.bs.max(1))
    }
    fn batch_size(&self) -> usize {
        self.bs.min(self.rows.len()).max(1)
    }
    fn begin_pass(&mut self, pass: usize) -> Result<()> {
        self.order.copy_from_slice(&self.rows);
        if let Some(seed) = self.shuffle {
            Rng::new(seed ^ (pass as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .shuffle(&mut self.order);
        }
        Ok(())
    }
    fn batch(&mut self, index: usize, out: &mut BatchMut<'_>) -> Result<usize> {
        let start = (index * self.bs).min(self.order.len());
        let chunk = &self.order[start..(start + self.bs).min(self.order.len())];
        let n = chunk.len();
        data::gather(self.x, chunk, out.x_mut(n));
        if let (Some(y), true) = (self.y, out.want_y) {
            data::gather(y, chunk, out.y_mut(n));
        }
        if let Some(w) = self.w {
            data::gather_rows(w, 1, chunk, out.sample_weight_mut(n));
        }
        Ok(n)
    }
}

/// A folder dataset: shuffled and augmented per pass for training, in file order otherwise.
pub(crate) struct ImageBatches<'d> {
    pub ds: &'d ImageDataset,
    pub train: bool,
    stream: Option<crate::data::directory::Epoch>,
    skipped: Vec<usize>,
    /// In a data-parallel run, read only this rank's rows of each batch (false where the
    /// whole batch is needed: MixUp and CutMix mix it before the ranks take their rows).
    pub sharded: bool,
}

impl<'d> ImageBatches<'d> {
    pub fn new(ds: &'d ImageDataset, train: bool) -> Self {
        ImageBatches {
            ds,
            train,
            stream: None,
            skipped: Vec::new(),
            sharded: true,
        }
    }
}

impl ImageBatches<'_> {
    /// The next decoded batch of the current pass (noting the files it skipped).
    fn next_loaded(&mut self) -> Result<Option<crate::data::directory::Batch>> {
        let Some(batch) = self.stream.as_mut().and_then(|s| s.next_batch()) else {
            return Ok(None);
        };
        let batch = batch?;
        self.skipped.clear();
        self.skipped.extend_from_slice(&batch.skipped);
        Ok(Some(batch))
    }

    /// Hands a batch's buffers back to the loader.
    fn recycle(&mut self, batch: crate::data::directory::Batch) {
        if let Some(s) = self.stream.as_mut() {
            s.recycle(batch);
        }
    }
}

impl Batches for ImageBatches<'_> {
    fn len(&self) -> usize {
        self.ds.num_batches()
    }
    fn batch_size(&self) -> usize {
        self.ds.batch_size().unwrap_or(1).min(self.ds.len()).max(1)
    }
    fn begin_pass(&mut self, pass: usize) -> Result<()> {
        // End the previous stream first: its loader threads stop before new ones start.
        self.stream = None;
        let shard = crate::distribution::world().filter(|_| self.sharded);
        self.stream = Some(if self.train {
            self.ds.epoch_shard(pass, shard)
        } else {
            self.ds.in_order_shard(shard)
        });
        Ok(())
    }
    fn batch(&mut self, _index: usize, out: &mut BatchMut<'_>) -> Result<usize> {
        let Some(batch) = self.next_loaded()? else {
            return Ok(0);
        };
        let n = batch.n;
        out.x_mut(n).copy_from_slice(&batch.x);
        if out.want_y && !batch.y.is_empty() {
            out.y_mut(n).copy_from_slice(&batch.y);
        }
        self.recycle(batch);
        Ok(n)
    }
    fn last_skipped(&self) -> &[usize] {
        &self.skipped
    }
}

/// What a [`MappedDataset`] does to each batch: the images `[n, h, w, c]` and labels
/// (`[n]` for `label_mode` int, `[n, classes]` categorical, `[n, 1]` binary, `[n, 0]` none)
/// in, one array per model input and one per model output out.
pub type BatchMap<'f> = dyn FnMut(Tensor, Tensor) -> Result<(Vec<Tensor>, Vec<Tensor>)> + Send + 'f;

/// A folder dataset with a function applied to every batch, as Keras's
/// `dataset.map(lambda x, y: ...)`: what feeds a model with several inputs or outputs (the
/// same image to two branches, the label to two heads, a second input computed from the
/// image) from `image_dataset_from_directory`. Train with
/// [`Model::fit_batches`](crate::Model::fit_batches), validate with
/// [`Fit::validation_batches`](super::Fit::validation_batches), and use
/// [`ordered`](Self::ordered) for `evaluate_batches`/`predict_batches` in file order.
///
/// ```no_run
/// use rkeras::prelude::*;
/// use rkeras::train::MappedDataset;
///
/// let ds = image_dataset_from_directory("photos").image_size((32, 32)).load()?;
/// // A model with one image input and two heads (class and an auxiliary classifier).
/// let x = Input::new([32, 32, 3]);
/// let h = GlobalAveragePooling2D::new().call(&Conv2D::new(8, 3).call(&x)?)?;
/// let main = Dense::new(ds.class_names().len()).activation("softmax").name("main").call(&h)?;
/// let aux = Dense::new(ds.class_names().len()).activation("softmax").name("aux").call(&h)?;
/// let mut model = Model::functional([&x], [&main, &aux])?;
/// model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
/// let both_heads = MappedDataset::new(&ds, |x, y| Ok((vec![x], vec![y.clone(), y])));
/// model.fit_batches(both_heads).epochs(2).run()?;
/// # Ok::<(), rkeras::Error>(())
/// ```
pub struct MappedDataset<'d> {
    images: ImageBatches<'d>,
    map: Box<BatchMap<'d>>,
}

impl<'d> MappedDataset<'d> {
    /// `ds` with `map` applied to each batch; passes are read as `fit` reads a folder
    /// dataset (reshuffled per epoch when the dataset says so, augmented when it has a
    /// pipeline).
    pub fn new(
        ds: &'d ImageDataset,
        map: impl FnMut(Tensor, Tensor) -> Result<(Vec<Tensor>, Vec<Tensor>)> + Send + 'd,
    ) -> Self {
        let mut images = ImageBatches::new(ds, true);
        // The map sees whole batches (it may mix rows): every rank reads all of them.
        images.sharded = false;
        MappedDataset {
            images,
            map: Box::new(map),
        }
    }

    /// Reads the files in order, without reshuffling or augmentation (what `evaluate` and
    /// `predict` read).
    pub fn ordered(mut self) -> Self {
        self.images.train = false;
        self
    }
}

impl Batches for MappedDataset<'_> {
    fn len(&self) -> usize {
        self.images.len()
    }
    fn batch_size(&self) -> usize {
        self.images.batch_size()
    }
    fn begin_pass(&mut self, pass: usize) -> Result<()> {
        self.images.begin_pass(pass)
    }
    fn batch(&mut self, _index: usize, out: &mut BatchMut<'_>) -> Result<usize> {
        let Some(batch) = self.images.next_loaded()? else {
            return Ok(0);
        };
        let ds = self.images.ds;
        let n = batch.n;
        let [h, w, c] = ds.image_shape();
        let labels = match ds.label_mode() {
            crate::data::LabelMode::Int => vec![n],
            _ => vec![n, ds.label_len()],
        };
        let x = Tensor::new(vec![n, h, w, c], batch.x[..n * h * w * c].to_vec())?;
        let y_len = if batch.y.is_empty() {
            0
        } else {
            n * ds.label_len()
        };
        let y = Tensor::new(labels, batch.y[..y_len].to_vec())?;
        self.images.recycle(batch);
        let (xs, ys) = (self.map)(x, y)?;
        let xs: Vec<&Tensor> = xs.iter().collect();
        let ys: Vec<&Tensor> = ys.iter().collect();
        out.set(Arrays::Many(xs), Arrays::Many(ys))
    }
    fn last_skipped(&self) -> &[usize] {
        self.images.last_skipped()
    }
}

/// Walks a source over epochs as Keras's epoch iterator: without `steps_per_epoch`, an
/// epoch is one pass; with it, an epoch takes that many batches and the next epoch goes on
/// where it stopped, a new pass starting when the data runs out (an epoch cut short by the
/// end of the data is reported, as Keras warns).
pub(crate) struct Cursor {
    steps: Option<usize>,
    pass: usize,
    seen: usize,
    started: bool,
}

impl Cursor {
    pub fn new(steps: Option<usize>) -> Self {
        Cursor {
            steps,
            pass: 0,
            seen: 0,
            started: false,
        }
    }

    /// Steps an epoch shows in the progress bar.
    pub fn steps(&self, src: &dyn Batches) -> usize {
        self.steps.unwrap_or_else(|| src.len())
    }

    /// Starts an epoch: a new pass when needed (numbered `epoch` without
    /// `steps_per_epoch`, so shuffles follow the epoch).
    pub fn begin_epoch(&mut self, src: &mut dyn Batches, epoch: usize) -> Result<()> {
        if self.steps.is_none() {
            self.pass = epoch;
            self.seen = 0;
            return src.begin_pass(epoch);
        }
        if !self.started || self.seen >= src.len() {
            if self.started {
                self.pass += 1;
            }
            self.started = true;
            self.seen = 0;
            src.begin_pass(self.pass)?;
        }
        Ok(())
    }

    /// The index of the next batch for step `step` of the epoch, or why there is none.
    pub fn next(&mut self, src: &dyn Batches, step: usize) -> Next {
        let limit = self.steps.unwrap_or(usize::MAX);
        if step >= limit {
            return Next::EndOfEpoch;
        }
        if self.seen >= src.len() {
            return if self.steps.is_some() {
                Next::RanOut
            } else {
                Next::EndOfEpoch
            };
        }
        self.seen += 1;
        Next::Batch(self.seen - 1)
    }
}

/// What the cursor gives for a step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Batch(usize),
    EndOfEpoch,
    /// `steps_per_epoch` asked for more batches than the data holds.
    RanOut,
}

/// Keras's warning when `steps_per_epoch` outruns the data.
pub(crate) const RAN_OUT: &str = "Your input ran out of data; interrupting training. Make sure that your dataset or generator can generate at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` function when building your dataset.";

/// Every input of a model: its name and per-sample shape.
pub(crate) fn input_layout(model: &crate::Model) -> Vec<(String, Vec<usize>)> {
    let mut names = model.input_names();
    let shapes = model.input_shapes();
    if names.len() != shapes.len() {
        let first = model.layers().first().map_or("input", |l| l.name());
        names = vec![first.to_string(); shapes.len()];
    }
    names.into_iter().zip(shapes).collect()
}
