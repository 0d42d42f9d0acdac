//! `fit`: the builder returned by `model.fit(&x, &y)` and the epoch loop.

use super::batches::{ArrayBatches, Batches, Cursor, ImageBatches};
use super::data::{self, Arrays};
use super::engine::{self, Buffers, CallbackList, EpochRun};
use super::in_pool;
use super::step::{self, TrainStep};
use super::weights::{self, ClassWeight};
use crate::callbacks::{Callback, History, LogValue, Logs, ProgbarLogger};
use crate::data::ImageDataset;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::tensor::Tensor;
use std::borrow::Cow;

/// Training configuration, Keras's `fit` arguments as builder methods; `.run()` trains.
///
/// Defaults as Keras: `batch_size=32`, `epochs=1`, `shuffle=true`, `validation_split=0`,
/// `verbose=1`, every epoch a full pass over the data, validation after every epoch.
pub struct Fit<'a> {
    model: &'a mut Model,
    data: Source<'a>,
    epochs: usize,
    initial_epoch: usize,
    batch_size: usize,
    validation_split: f32,
    validation_data: Option<Source<'a>>,
    shuffle: bool,
    verbose: u8,
    seed: Option<u64>,
    callbacks: Vec<&'a mut dyn Callback>,
    sample_weight: Option<&'a Tensor>,
    class_weight: Option<ClassWeight>,
    steps_per_epoch: Option<usize>,
    validation_steps: Option<usize>,
    validation_freq: ValidationFreq,
    train_step: Option<&'a mut dyn TrainStep>,
    mix: Option<crate::preprocessing::Mix>,
}

/// When `fit` validates (Keras's `validation_freq`): every `n` epochs, or after the listed
/// epochs (1-based, as Keras counts them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidationFreq {
    /// After epochs `n`, `2n`, ... (`Every(1)`: every epoch, the default).
    Every(usize),
    /// After these epochs (1-based).
    At(Vec<usize>),
}

impl ValidationFreq {
    /// Whether to validate after epoch `epoch` (0-based).
    pub fn due(&self, epoch: usize) -> bool {
        match self {
            ValidationFreq::Every(n) => (epoch + 1).is_multiple_of((*n).max(1)),
            ValidationFreq::At(list) => list.contains(&(epoch + 1)),
        }
    }
}

impl From<usize> for ValidationFreq {
    fn from(n: usize) -> Self {
        ValidationFreq::Every(n)
    }
}
impl From<Vec<usize>> for ValidationFreq {
    fn from(v: Vec<usize>) -> Self {
        ValidationFreq::At(v)
    }
}
impl From<&[usize]> for ValidationFreq {
    fn from(v: &[usize]) -> Self {
        ValidationFreq::At(v.to_vec())
    }
}

/// What `fit` trains or validates on: arrays in memory, a folder dataset, or any source.
pub(crate) enum Source<'a> {
    Arrays(Arrays<'a>, Arrays<'a>),
    Images(&'a ImageDataset),
    Batches(Box<dyn Batches + 'a>),
}

impl<'a> Fit<'a> {
    pub(crate) fn new(model: &'a mut Model, data: Source<'a>) -> Self {
        Fit {
            model,
            data,
            epochs: 1,
            initial_epoch: 0,
            batch_size: 32,
            validation_split: 0.0,
            validation_data: None,
            shuffle: true,
            verbose: 1,
            seed: None,
            callbacks: Vec::new(),
            sample_weight: None,
            class_weight: None,
            steps_per_epoch: None,
            validation_steps: None,
            validation_freq: ValidationFreq::Every(1),
            train_step: None,
            mix: None,
        }
    }
    /// Number of epochs (default 1).
    pub fn epochs(mut self, e: usize) -> Self {
        self.epochs = e;
        self
    }
    /// Epoch to start from (resuming; default 0): epochs `initial_epoch..epochs` run.
    pub fn initial_epoch(mut self, e: usize) -> Self {
        self.initial_epoch = e;
        self
    }
    /// Samples per step (default 32; a folder dataset or a [`Batches`] source has its own).
    pub fn batch_size(mut self, b: usize) -> Self {
        self.batch_size = b;
        self
    }
    /// Fraction of the data, taken from the end before shuffling, held out for validation.
    pub fn validation_split(mut self, s: f32) -> Self {
        self.validation_split = s;
        self
    }
    /// Explicit validation data (overrides `validation_split`); one array per input and
    /// output for a model with several.
    pub fn validation_data(mut self, x: impl Into<Arrays<'a>>, y: impl Into<Arrays<'a>>) -> Self {
        self.validation_data = Some(Source::Arrays(x.into(), y.into()));
        self
    }
    /// A folder dataset for validation (e.g. the validation subset of
    /// `image_dataset_from_directory`).
    pub fn validation_dataset(mut self, ds: &'a ImageDataset) -> Self {
        self.validation_data = Some(Source::Images(ds));
        self
    }
    /// Any [`Batches`] source for validation.
    pub fn validation_batches(mut self, src: impl Batches + 'a) -> Self {
        self.validation_data = Some(Source::Batches(Box::new(src)));
        self
    }
    /// Reshuffle the training samples every epoch (default `true`).
    pub fn shuffle(mut self, s: bool) -> Self {
        self.shuffle = s;
        self
    }
    /// 0 = silent, 1 = progress bar, 2 = one line per epoch.
    pub fn verbose(mut self, v: u8) -> Self {
        self.verbose = v;
        self
    }
    /// Mixes each training batch with Keras's `MixUp(alpha)`: every image becomes
    /// `w x + (1 - w) x'` and its label `w y + (1 - w) y'`, with `x'` another image of the
    /// batch and `w ~ Beta(alpha, alpha)` (Keras's default alpha is 0.2). Labels must be
    /// one-hot (`categorical_crossentropy`); validation batches are not mixed.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut m = Sequential::new([Flatten::new().input_shape((4, 4, 1)).into(), Dense::new(2).activation("softmax").into()])?;
    /// m.compile("adam", "categorical_crossentropy", &["accuracy"])?;
    /// let x = Tensor::new(vec![8, 4, 4, 1], (0..128).map(|i| (i % 7) as f32).collect())?;
    /// let y = Tensor::new(vec![8, 2], (0..8).flat_map(|i| if i % 2 == 0 { [1.0, 0.0] } else { [0.0, 1.0] }).collect())?;
    /// m.fit(&x, &y).epochs(2).batch_size(4).mix_up(0.2).verbose(0).run()?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn mix_up(mut self, alpha: f32) -> Self {
        self.mix = Some(crate::preprocessing::Mix::MixUp { alpha });
        self
    }
    /// Mixes each training batch with Keras's `CutMix(factor)`: a box of another image of
    /// the batch is pasted into each image, and the labels are mixed by the share of the
    /// area each image keeps (`factor`: Keras's bounds of the Beta parameter, default
    /// `(0, 1)`). Image models with one-hot labels; validation batches are not mixed.
    pub fn cut_mix(mut self, factor: (f32, f32)) -> Self {
        self.mix = Some(crate::preprocessing::Mix::CutMix { factor });
        self
    }
    /// Seed of the per-epoch shuffles (default: derived from the model's seed).
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = Some(s);
        self
    }
    /// Adds a callback.
    pub fn callback(mut self, c: &'a mut dyn Callback) -> Self {
        self.callbacks.push(c);
        self
    }
    /// One weight per training sample (Keras's `sample_weight`, shape `(N,)`): each
    /// sample's loss is multiplied by it (the compiled metrics stay unweighted, as Keras's
    /// `metrics`). With
    /// `validation_split`, the held-out samples keep their weights for validation.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut m = Sequential::new([Dense::new(1).input_shape(1).into()])?;
    /// m.compile("sgd", "mse", &["mae"])?;
    /// let x = Tensor::new(vec![4, 1], vec![0.0, 1.0, 2.0, 3.0])?;
    /// let y = Tensor::new(vec![4, 1], vec![0.0, 1.0, 2.0, 3.0])?;
    /// let w = Tensor::new(vec![4], vec![1.0, 1.0, 0.0, 5.0])?;
    /// m.fit(&x, &y).sample_weight(&w).verbose(0).run()?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn sample_weight(mut self, w: &'a Tensor) -> Self {
        self.sample_weight = Some(w);
        self
    }
    /// A weight per class (Keras's `class_weight`): each training sample weighs its class's
    /// weight (classes not given weigh 1). Not with `sample_weight` (Keras refuses both).
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// use rkeras::train::ClassWeight;
    /// let mut m = Sequential::new([Dense::new(2).activation("softmax").input_shape(1).into()])?;
    /// m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    /// let x = Tensor::new(vec![4, 1], vec![0.0, 1.0, 2.0, 3.0])?;
    /// let y = Tensor::new(vec![4], vec![0.0, 0.0, 0.0, 1.0])?;
    /// m.fit(&x, &y).class_weight(ClassWeight::from_pairs([(1, 3.0)])).verbose(0).run()?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn class_weight(mut self, w: ClassWeight) -> Self {
        self.class_weight = Some(w);
        self
    }
    /// Batches per epoch (Keras's `steps_per_epoch`): the next epoch goes on where this
    /// one stopped, and a new pass (reshuffled) starts when the data runs out. An epoch
    /// that asks for more batches than are left ends early with Keras's warning.
    pub fn steps_per_epoch(mut self, s: usize) -> Self {
        self.steps_per_epoch = Some(s);
        self
    }
    /// Batches per validation (Keras's `validation_steps`): each validation goes on where
    /// the last one stopped, as in Keras.
    pub fn validation_steps(mut self, s: usize) -> Self {
        self.validation_steps = Some(s);
        self
    }
    /// When to validate (Keras's `validation_freq`): `2` every second epoch,
    /// `vec![1, 5]` after epochs 1 and 5 (1-based).
    pub fn validation_freq(mut self, f: impl Into<ValidationFreq>) -> Self {
        self.validation_freq = f.into();
        self
    }
    /// Replaces what one training step does (Keras's overridden `train_step`); see
    /// [`TrainStep`].
    pub fn train_step(mut self, s: &'a mut dyn TrainStep) -> Self {
        self.train_step = Some(s);
        self
    }

    /// Trains and returns the [`History`].
    ///
    /// # Errors
    /// Not compiled; data that does not fit the model (shapes, lengths, NaN, labels out of
    /// range); `validation_split` outside `[0, 1)`; a zero batch size, `steps_per_epoch`,
    /// `validation_steps` or `validation_freq`; an empty split; class weights for classes the
    /// model does not have, negative or NaN weights; sample weights of the wrong length.
    pub fn run(self) -> Result<History> {
        let Fit {
            model,
            data,
            epochs,
            initial_epoch,
            batch_size,
            validation_split,
            validation_data,
            shuffle,
            verbose,
            seed,
            mut callbacks,
            sample_weight,
            class_weight,
            steps_per_epoch,
            validation_steps,
            validation_freq,
            mut train_step,
            mix,
        } = self;
        data::check_batch_size(batch_size)?;
        if !(0.0..1.0).contains(&validation_split) {
            return Err(Error::arg(
                "validation_split",
                "",
                format!("expected a float in [0, 1), received {validation_split}"),
            ));
        }
        if verbose > 2 {
            return Err(Error::arg(
                "verbose",
                "",
                format!("expected 0, 1 or 2, received {verbose}"),
            ));
        }
        for (name, v) in [
            ("steps_per_epoch", steps_per_epoch),
            ("validation_steps", validation_steps),
        ] {
            if v == Some(0) {
                return Err(Error::arg(name, "0", "expected a positive integer or None"));
            }
        }
        match &validation_freq {
            ValidationFreq::Every(0) => {
                return Err(Error::arg(
                    "validation_freq",
                    "0",
                    "expected a positive integer",
                ))
            }
            ValidationFreq::At(v) if v.contains(&0) => {
                return Err(Error::arg(
                    "validation_freq",
                    "",
                    "epochs are counted from 1 in validation_freq",
                ))
            }
            _ => {}
        }
        if model.compiled.is_none() {
            return Err(Error::State(
                "You must call `compile()` before `fit()`.".into(),
            ));
        }
        if sample_weight.is_some() && class_weight.is_some() {
            return Err(Error::arg(
                "class_weight",
                "",
                "You cannot `class_weight` and `sample_weight` at the same time.",
            ));
        }
        // Data-parallel: rank 0's weights and seed on every rank, the same model everywhere.
        crate::distribution::prepare_fit(model)?;
        // Training data, checked against the model, and Keras's tail split.
        let seed_ = seed.unwrap_or(model.seed ^ 0x5348_5546);
        let mut owned_x: Option<Cow<'a, Tensor>> = None;
        let mut owned_y: Option<Cow<'a, Tensor>> = None;
        let mut train_rows = Vec::new();
        let mut split_rows = Vec::new();
        let mut images: Option<&'a ImageDataset> = None;
        let mut user: Option<Box<dyn Batches + 'a>> = None;
        match data {
            Source::Arrays(x, y) => {
                let x = data::pack_inputs(model, x)?;
                data::prepare_x(model, &x)?;
                let y = data::pack_targets(model, y, x.rows())?;
                let n = x.rows();
                if let Some(w) = sample_weight {
                    weights::check_sample_weight(w, n)?;
                }
                if validation_data.is_none() && validation_split > 0.0 {
                    let at = split_at(n, validation_split);
                    train_rows = (0..at).collect();
                    split_rows = (at..n).collect();
                } else {
                    train_rows = (0..n).collect();
                }
                if train_rows.is_empty() {
                    return Err(Error::Data(format!(
                        "validation_split={validation_split} leaves no training samples out of {n}"
                    )));
                }
                owned_x = Some(x);
                owned_y = Some(y);
            }
            Source::Images(ds) => {
                if validation_split > 0.0 {
                    return Err(Error::arg(
                        "validation_split",
                        "",
                        "`validation_split` is only supported for in-memory arrays; pass the validation subset of image_dataset_from_directory with validation_dataset()",
                    ));
                }
                if sample_weight.is_some() {
                    return Err(Error::arg(
                        "sample_weight",
                        "",
                        "`sample_weight` is for arrays; a folder dataset can take class_weight",
                    ));
                }
                data::prepare_images(model, ds, true)?;
                images = Some(ds);
            }
            Source::Batches(src) => {
                if validation_split > 0.0 || sample_weight.is_some() {
                    return Err(Error::arg(
                        if sample_weight.is_some() {
                            "sample_weight"
                        } else {
                            "validation_split"
                        },
                        "",
                        "a Batches source gives its own sample weights and validation data",
                    ));
                }
                data::prepare_source(model)?;
                user = Some(src);
            }
        }
        if let Some(cw) = &class_weight {
            data::check_class_weight(model, cw)?;
        }
        // Validation data.
        let mut val_x: Option<Cow<'a, Tensor>> = None;
        let mut val_y: Option<Cow<'a, Tensor>> = None;
        let mut val_images: Option<&'a ImageDataset> = None;
        let mut val_user: Option<Box<dyn Batches + 'a>> = None;
        match validation_data {
            Some(Source::Arrays(vx, vy)) => {
                let vx = data::pack_inputs(model, vx)?;
                data::prepare_x(model, &vx)?;
                let vy = data::pack_targets(model, vy, vx.rows())?;
                val_x = Some(vx);
                val_y = Some(vy);
            }
            Some(Source::Images(ds)) => {
                data::prepare_images(model, ds, true)?;
                val_images = Some(ds);
            }
            Some(Source::Batches(src)) => {
                data::prepare_source(model)?;
                val_user = Some(src);
            }
            None => {}
        }

        in_pool(move || -> Result<History> {
            let model: &mut Model = model;
            // The sources, borrowing what was checked above.
            let mut arr_train = owned_x.as_deref().zip(owned_y.as_deref()).map(|(x, y)| {
                let mut b = ArrayBatches::new(x, Some(y), train_rows.clone(), batch_size);
                b.w = sample_weight.map(Tensor::data);
                b.shuffle = shuffle.then_some(seed_);
                b
            });
            let mut img_train = images.map(|ds| {
                let mut b = ImageBatches::new(ds, true);
                // MixUp / CutMix read other rows of the batch: each rank reads all of them.
                b.sharded = mix.is_none();
                b
            });
            let mut user = user;
            let train: &mut dyn Batches = if let Some(b) = arr_train.as_mut() {
                b
            } else if let Some(b) = img_train.as_mut() {
                b
            } else if let Some(u) = user.as_mut() {
                u.as_mut()
            } else {
                return Err(Error::State("no training data".into()));
            };
            let mut arr_val = match (val_x.as_deref(), val_y.as_deref()) {
                (Some(x), Some(y)) => Some(ArrayBatches::new(
                    x,
                    Some(y),
                    (0..x.rows()).collect(),
                    batch_size,
                )),
                _ if !split_rows.is_empty() => {
                    owned_x.as_deref().zip(owned_y.as_deref()).map(|(x, y)| {
                        let mut b = ArrayBatches::new(x, Some(y), split_rows.clone(), batch_size);
                        b.w = sample_weight.map(Tensor::data);
                        b
                    })
                }
                _ => None,
            };
            let mut img_val = val_images.map(|ds| ImageBatches::new(ds, false));
            let mut val_user = val_user;
            let mut val: Option<&mut dyn Batches> = if let Some(b) = arr_val.as_mut() {
                Some(b)
            } else if let Some(b) = img_val.as_mut() {
                Some(b)
            } else if let Some(u) = val_user.as_mut() {
                Some(u.as_mut())
            } else {
                None
            };
            let max = train
                .batch_size()
                .max(val.as_ref().map_or(1, |v| v.batch_size()));
            let mut bufs = Buffers::new(model, max, true)?;
            let mut mixer = mix
                .map(|m| super::mixing::Mixer::new(model, m, seed_ ^ 0x4D49_5855, max))
                .transpose()?;
            step::ensure_optimizer(model);
            let fused = step::fuses(model);
            let mut cursor = Cursor::new(steps_per_epoch);
            let mut val_cursor = Cursor::new(validation_steps);
            crate::distribution::check_data(train.len(), train.batch_size())?;
            // Data-parallel: rank 0 alone prints.
            let verbose = if crate::distribution::is_chief() {
                verbose
            } else {
                0
            };
            let params = engine::params(verbose, epochs, cursor.steps(&*train));
            let mut progbar = (verbose > 0).then(|| ProgbarLogger::new(verbose));
            // The progress bar is one more callback, the last (as Keras appends it).
            let mut list: Vec<&mut dyn Callback> = callbacks
                .iter_mut()
                .map(|c| &mut **c as &mut dyn Callback)
                .collect();
            if let Some(p) = progbar.as_mut() {
                list.push(p);
            }
            let mut cbs = CallbackList { list: &mut list };
            let mut history = History {
                params: Some(params),
                ..History::default()
            };
            model.stop_training = false;
            cbs.train_begin(&params, model)?;
            // A restored backup says where training stopped.
            let first_epoch = model
                .resume_epoch
                .take()
                .map_or(initial_epoch, |e| e.max(initial_epoch));
            let mut logs = Logs::new();
            for epoch in first_epoch..epochs {
                for layer in model.chain.layers.iter_mut() {
                    layer.reseed(epoch as u64);
                }
                model.chain.reseed_twins(epoch as u64);
                if let Some(m) = mixer.as_mut() {
                    m.reseed(epoch as u64);
                }
                cbs.epoch_begin(epoch, model);
                let run = EpochRun {
                    src: &mut *train,
                    cursor: &mut cursor,
                    bufs: &mut bufs,
                    class_weight: class_weight.as_ref(),
                    custom: train_step.as_mut().map(|s| &mut **s as &mut dyn TrainStep),
                    mixer: mixer.as_mut(),
                    fused,
                    logs: &mut logs,
                };
                engine::train_epoch(model, epoch, run, &mut cbs)?;
                // Epoch logs: training metrics, then validation (Keras's key order).
                if let Some(v) = val.as_mut().filter(|_| validation_freq.due(epoch)) {
                    let cur = validation_steps.map(|_| &mut val_cursor);
                    let vals = engine::evaluate(model, &mut **v, cur, &mut bufs, &mut cbs)?;
                    let names = model.metrics_names();
                    for name in names.iter().skip(1).chain(names.first()) {
                        match vals.value(name) {
                            Some(LogValue::Scalar(x)) => logs.set(&format!("val_{name}"), x),
                            Some(LogValue::Vector(x)) => {
                                logs.set_vector(&format!("val_{name}"), x);
                            }
                            None => {}
                        }
                    }
                }
                cbs.epoch_end(epoch, &logs, model)?;
                history.record(epoch, &logs);
                if model.stop_training {
                    break;
                }
            }
            if epochs > first_epoch {
                model.finalize_optimizer();
            }
            cbs.train_end(&logs, model);
            Ok(history)
        })
    }
}

/// The first validation row of a `validation_split` of `n` rows, as Keras computes it in
/// Python floats: `floor(n * (1 - split))`. The `f32` argument is read as the decimal the
/// user wrote (`0.1`, not `0.100000001490116`), or 60000 rows at 0.1 would keep 53999 for
/// training instead of Keras's 54000.
fn split_at(n: usize, validation_split: f32) -> usize {
    let split = validation_split
        .to_string()
        .parse::<f64>()
        .unwrap_or(f64::from(validation_split));
    ((n as f64 * (1.0 - split)).floor() as usize).min(n)
}

#[cfg(test)]
mod tests {
    use super::split_at;

    #[test]
    fn validation_split_rows_match_keras_python_floats() {
        assert_eq!(split_at(60000, 0.1), 54000);
        assert_eq!(split_at(10, 0.1), 9);
        assert_eq!(split_at(1000, 0.7), 300);
        assert_eq!(split_at(3, 0.5), 1);
        assert_eq!(split_at(7, 0.0), 7);
    }
}
