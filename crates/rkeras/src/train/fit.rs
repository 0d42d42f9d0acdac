//! `fit`: the builder returned by `model.fit(&x, &y)` and the training loop.

use super::data::{self, Arrays, Targets};
use super::{evaluate_rows, in_pool};
use crate::callbacks::{Callback, Control, History, Logs, ProgbarLogger, TrainParams};
use crate::data::ImageDataset;
use crate::error::{Error, Result};
use crate::layers::Mode;
use crate::model::Model;
use crate::rng::Rng;
use crate::tensor::Tensor;
use std::borrow::Cow;

/// Training configuration, Keras's `fit` arguments as builder methods; `.run()` trains.
///
/// Defaults as Keras: `batch_size=32`, `epochs=1`, `shuffle=true`, `validation_split=0`,
/// `verbose=1`.
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
}

/// What `fit` trains or validates on: arrays in memory or a folder dataset.
pub(crate) enum Source<'a> {
    Arrays(Arrays<'a>, Arrays<'a>),
    Images(&'a ImageDataset),
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
        }
    }
    /// Number of epochs (default 1).
    pub fn epochs(mut self, e: usize) -> Self {
        self.epochs = e;
        self
    }
    /// Epoch to start from (resuming; default 0).
    pub fn initial_epoch(mut self, e: usize) -> Self {
        self.initial_epoch = e;
        self
    }
    /// Samples per step (default 32).
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

    /// Trains and returns the [`History`].
    ///
    /// # Errors
    /// Not compiled; data that does not fit the model (shapes, lengths, NaN, labels out of
    /// range); `validation_split` outside `[0, 1)`; a zero batch size; an empty split.
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
        if model.compiled.is_none() {
            return Err(Error::State(
                "You must call `compile()` before `fit()`.".into(),
            ));
        }
        // Arrays: targets in memory, rows to visit, Keras's tail split. Datasets: batches
        // come from the loader, at the dataset's batch size.
        let (train, n_total, bs_wanted) = match data {
            Source::Arrays(x, y) => {
                let x = data::pack_inputs(model, x)?;
                let y = data::pack_targets(model, y)?;
                let t = data::prepare(model, &x, Some(&y))?
                    .ok_or_else(|| Error::State("no targets".into()))?;
                let n = x.rows();
                (Train::Arrays(x, t), n, batch_size)
            }
            Source::Images(ds) => {
                if validation_split > 0.0 {
                    return Err(Error::arg(
                        "validation_split",
                        "",
                        "`validation_split` is only supported for in-memory arrays; pass the validation subset of image_dataset_from_directory with validation_dataset()",
                    ));
                }
                let info = data::prepare_images(model, ds, true)?;
                let bs = ds.batch_size().unwrap_or(1);
                (Train::Images(ds, info), ds.len(), bs)
            }
        };
        // Keras: the validation split is the *last* fraction, taken before any shuffling.
        let (train_rows, split_rows): (Vec<usize>, Vec<usize>) = match &train {
            Train::Arrays(..) if validation_data.is_none() && validation_split > 0.0 => {
                let split_at = split_at(n_total, validation_split);
                ((0..split_at).collect(), (split_at..n_total).collect())
            }
            Train::Arrays(..) => ((0..n_total).collect(), Vec::new()),
            Train::Images(..) => (Vec::new(), Vec::new()),
        };
        if train_rows.is_empty() && matches!(train, Train::Arrays(..)) {
            return Err(Error::Data(format!(
                "validation_split={validation_split} leaves no training samples out of {n_total}"
            )));
        }
        let val: Option<Val> = match validation_data {
            Some(Source::Arrays(vx, vy)) => {
                let vx = data::pack_inputs(model, vx)?;
                let vy = data::pack_targets(model, vy)?;
                let t = data::prepare(model, &vx, Some(&vy))?
                    .ok_or_else(|| Error::State("no targets".into()))?;
                let rows = (0..vx.rows()).collect();
                Some(Val::Arrays(vx, t, rows))
            }
            Some(Source::Images(ds)) => {
                data::prepare_images(model, ds, true)?;
                Some(Val::Images(ds))
            }
            None => None,
        };
        let has_val = val.is_some() || !split_rows.is_empty();
        let steps = match &train {
            Train::Arrays(..) => train_rows.len().div_ceil(bs_wanted),
            Train::Images(ds, _) => ds.num_batches(),
        };
        let params = TrainParams {
            verbose,
            epochs,
            steps,
        };
        let mut progbar = (verbose > 0).then(|| ProgbarLogger::new(verbose));
        let shuffle_seed = seed.unwrap_or(model.seed ^ 0x5348_5546);

        in_pool(move || -> Result<History> {
            let model: &mut Model = model;
            model.chain.allocate(bs_wanted.min(n_total).max(1))?;
            let bs = bs_wanted.min(model.chain.max_batch()).max(1);
            ensure_optimizer(model);
            let fused = {
                let last = model.chain.output_activation();
                let c = model
                    .compiled
                    .as_ref()
                    .ok_or_else(|| Error::State("not compiled".into()))?;
                last.is_some_and(|a| c.loss.fuses_with(a))
            };
            let (row_len, cols) = match &train {
                Train::Arrays(_, t) => (t.row_len, t.cols),
                Train::Images(_, i) => (i.row_len, i.cols),
            };
            let mut history = History {
                params: Some(params),
                ..History::default()
            };
            model.stop_training = false;
            for cb in callbacks.iter_mut() {
                cb.on_train_begin(&params, model)?;
            }
            if let Some(p) = progbar.as_mut() {
                p.on_train_begin(&params, model)?;
            }
            // A restored backup says where training stopped.
            let first_epoch = model
                .resume_epoch
                .take()
                .map_or(initial_epoch, |e| e.max(initial_epoch));
            let mut order = train_rows.clone();
            let mut tbuf = vec![0.0f32; bs * row_len];
            let mut logs = Logs::new();
            let mut epoch_logs = Logs::new();
            for epoch in first_epoch..epochs {
                for layer in model.chain.layers.iter_mut() {
                    layer.reseed(epoch as u64);
                }
                model.chain.reseed_twins(epoch as u64);
                for cb in callbacks.iter_mut() {
                    cb.on_epoch_begin(epoch, model);
                }
                if let Some(p) = progbar.as_mut() {
                    p.on_epoch_begin(epoch, model);
                }
                if let Some(c) = model.compiled.as_mut() {
                    c.metrics.iter_mut().for_each(|m| m.reset());
                    c.heads.iter_mut().for_each(|h| h.reset());
                }
                let (mut loss_sum, mut seen) = (0.0f64, 0usize);
                let mut stop = false;
                let mut stream = match &train {
                    Train::Images(ds, _) => Some(ds.epoch(epoch)),
                    Train::Arrays(..) => {
                        order.copy_from_slice(&train_rows);
                        if shuffle {
                            Rng::new(
                                shuffle_seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                            )
                            .shuffle(&mut order);
                        }
                        None
                    }
                };
                let mut chunks = order.chunks(bs);
                for step in 0.. {
                    // Fill the input buffer and the targets with the next batch.
                    let n = match (&train, stream.as_mut()) {
                        (Train::Images(..), Some(ep)) => {
                            let Some(batch) = ep.next_batch() else { break };
                            let batch = batch?;
                            let n = batch.n;
                            if n == 0 {
                                // Every file of the batch was skipped (skip_bad_files).
                                ep.recycle(batch);
                                continue;
                            }
                            model.chain.input_mut(n).copy_from_slice(&batch.x);
                            tbuf[..n * row_len].copy_from_slice(&batch.y);
                            ep.recycle(batch);
                            n
                        }
                        (Train::Arrays(x, t), _) => {
                            let Some(chunk) = chunks.next() else { break };
                            let n = chunk.len();
                            data::gather(x.as_ref(), chunk, model.chain.input_mut(n));
                            data::gather_rows(&t.values, row_len, chunk, &mut tbuf[..n * row_len]);
                            n
                        }
                        _ => break,
                    };
                    let loss = train_step(model, n, &tbuf[..n * row_len], cols, fused);
                    loss_sum += loss * n as f64;
                    seen += n;
                    if let Some(c) = model.compiled.as_ref() {
                        for m in &c.metrics {
                            logs.set(m.name(), m.result());
                        }
                        super::heads::fill_logs(
                            &c.heads,
                            &c.log_order,
                            loss_sum / seen as f64,
                            &mut logs,
                        );
                    }
                    logs.set("loss", loss_sum / seen as f64);
                    for cb in callbacks.iter_mut() {
                        if cb.on_train_batch_end(step, &logs, model)? == Control::Stop {
                            stop = true;
                        }
                    }
                    if let Some(p) = progbar.as_mut() {
                        p.on_train_batch_end(step, &logs, model)?;
                    }
                    if stop || model.stop_training {
                        break;
                    }
                }
                drop(stream);
                // Epoch logs: training metrics, then validation (Keras's key order).
                epoch_logs.clear();
                if let Some(c) = model.compiled.as_ref() {
                    for m in &c.metrics {
                        epoch_logs.set(m.name(), m.result());
                    }
                    let loss = loss_sum / seen.max(1) as f64;
                    super::heads::fill_logs(&c.heads, &c.log_order, loss, &mut epoch_logs);
                }
                epoch_logs.set("loss", loss_sum / seen.max(1) as f64);
                if has_val {
                    let vals = match (&val, &train) {
                        (Some(Val::Arrays(vx, vt, rows)), _) => {
                            evaluate_rows(model, vx, vt, rows, bs)?
                        }
                        (Some(Val::Images(ds)), _) => super::evaluate_images(model, ds)?,
                        (None, Train::Arrays(x, t)) => evaluate_rows(model, x, t, &split_rows, bs)?,
                        (None, Train::Images(..)) => Vec::new(),
                    };
                    let names: Vec<String> = model.metrics_names();
                    for (name, v) in names.iter().zip(&vals).skip(1) {
                        epoch_logs.set(&format!("val_{name}"), *v);
                    }
                    if let Some(v) = vals.first() {
                        epoch_logs.set("val_loss", *v);
                    }
                }
                for cb in callbacks.iter_mut() {
                    if cb.on_epoch_end(epoch, &epoch_logs, model)? == Control::Stop {
                        stop = true;
                    }
                }
                if let Some(p) = progbar.as_mut() {
                    p.on_epoch_end(epoch, &epoch_logs, model)?;
                }
                history.record(epoch, &epoch_logs);
                if stop || model.stop_training {
                    break;
                }
            }
            for cb in callbacks.iter_mut() {
                cb.on_train_end(&epoch_logs, model);
            }
            Ok(history)
        })
    }
}

/// The training data, checked against the model.
enum Train<'a> {
    Arrays(Cow<'a, Tensor>, Targets),
    Images(&'a ImageDataset, data::TargetInfo),
}

/// The validation data, checked against the model.
enum Val<'a> {
    Arrays(Cow<'a, Tensor>, Targets, Vec<usize>),
    Images(&'a ImageDataset),
}

/// Builds the optimizer's slots for the current trainable weights, if needed.
fn ensure_optimizer(model: &mut Model) {
    let sizes: Vec<usize> = model
        .chain
        .layers
        .iter()
        .filter(|l| l.base().trainable)
        .flat_map(|l| {
            l.params()
                .iter()
                .filter(|p| p.trainable)
                .map(|p| p.value.len())
        })
        .collect();
    if let Some(c) = model.compiled.as_mut() {
        if c.slot_sizes != sizes || !c.optimizer.is_built() {
            c.optimizer.build(&sizes);
            c.slot_sizes = sizes;
        }
    }
}

/// One optimisation step on the batch already in the input buffer; returns the batch loss.
pub(crate) fn train_step(
    model: &mut Model,
    n: usize,
    targets: &[f32],
    cols: usize,
    fused: bool,
) -> f64 {
    let Model {
        chain, compiled, ..
    } = model;
    let Some(c) = compiled.as_mut() else {
        return f64::NAN;
    };
    chain.forward(n, Mode::Train);
    if !c.heads.is_empty() {
        let heads = &mut c.heads;
        let loss = chain.with_output_grad(n, |out, grad| {
            super::heads::compute(heads, out, targets, n, Some(grad))
        });
        chain.backward(n, false);
        return loss + update(chain, c);
    }
    let loss = chain.with_output_grad(n, |out, grad| {
        let rows = out.len() / cols.max(1);
        let l = c.loss.compute(out, targets, rows, cols, Some(grad), fused);
        for m in &mut c.metrics {
            m.update(out, targets, rows, cols);
        }
        l
    });
    chain.backward(n, fused);
    loss + update(chain, c)
}

/// Adds the weight penalties' gradients, steps the optimizer and applies the constraints;
/// returns the penalty.
fn update(chain: &mut crate::model::graph::Chain, c: &mut crate::model::Compiled) -> f64 {
    // Weight penalties join the loss and their gradients the weights' (Keras adds
    // `model.losses`, which count the trainable weights only: a frozen layer adds nothing).
    let mut penalty = 0.0;
    for layer in chain.layers.iter_mut() {
        if layer.base().trainable {
            penalty += layer.regularize();
        }
    }
    c.optimizer.begin_step();
    let mut slot = 0;
    for layer in chain.layers.iter_mut() {
        let layer_trainable = layer.base().trainable;
        for p in layer.params_mut() {
            if p.trainable && layer_trainable {
                c.optimizer.update(slot, &mut p.value, &p.grad);
                slot += 1;
            }
        }
        if layer_trainable {
            layer.constrain();
        }
    }
    penalty
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
