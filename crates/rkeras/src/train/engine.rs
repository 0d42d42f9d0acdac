//! The loops: one epoch of training, one evaluation and one prediction, each a short loop
//! over a [`Batches`] source, the same for arrays, folders and user data and for any number
//! of outputs; and the callback list that every hook goes through.

use super::batches::{BatchMut, Batches, Cursor, Next, RAN_OUT};
use super::step::{self, Step, TrainStep};
use super::weights::ClassWeight;
use crate::callbacks::{Callback, Control, Logs, TrainParams};
use crate::error::{Error, Result};
use crate::layers::Mode;
use crate::model::{heads, Model};

/// The buffers a batch is loaded into, besides the model's input buffer.
pub(crate) struct Buffers {
    y: Vec<f32>,
    w: Vec<f32>,
    inputs: Vec<(String, Vec<usize>)>,
    outputs: Vec<Vec<usize>>,
    x_len: usize,
    y_len: usize,
    max: usize,
    /// For training: each load makes sure the model's buffers still are (a callback may
    /// have predicted on a larger batch, which plans buffers for inference only).
    train: bool,
}

impl Buffers {
    /// Buffers for batches of up to `max` samples; the model is built and its buffers
    /// allocated for them: for training (`train`), or for inference only.
    pub fn new(model: &mut Model, max: usize, train: bool) -> Result<Buffers> {
        let max = max.max(1);
        model.chain.allocate_for(max, train)?;
        let inputs = super::batches::input_layout(model);
        let outputs = model.output_shapes();
        let x_len = inputs.iter().map(|(_, s)| crate::shape::numel(s)).sum();
        let y_len = model
            .compiled
            .as_ref()
            .map_or(0, |c| c.heads.iter().map(|h| h.t_len).sum());
        let y = crate::budget::zeros(|| format!("the targets of a batch of {max}"), max * y_len)?;
        Ok(Buffers {
            y,
            w: vec![1.0; max],
            inputs,
            outputs,
            x_len,
            y_len,
            max: max.min(model.chain.max_batch()).max(1),
            train,
        })
    }

    /// Loads batch `index` of `src`; returns its size and whether it is weighted.
    fn load(
        &mut self,
        model: &mut Model,
        src: &mut dyn Batches,
        index: usize,
        want_y: bool,
    ) -> Result<(usize, bool)> {
        if self.train {
            model.chain.allocate_for(self.max, true)?;
        }
        let Model {
            chain, compiled, ..
        } = model;
        let heads: &mut [heads::Head] = match compiled.as_mut() {
            Some(c) => &mut c.heads,
            None => &mut [],
        };
        let mut out = BatchMut {
            x: chain.input_mut(self.max),
            y: &mut self.y,
            w: &mut self.w,
            x_len: self.x_len,
            y_len: self.y_len,
            max: self.max,
            weighted: false,
            want_y,
            inputs: &self.inputs,
            outputs: &self.outputs,
            heads,
        };
        let n = src.batch(index, &mut out)?;
        let weighted = out.weighted;
        if n > self.max {
            return Err(Error::Data(format!(
                "a batch of {n} samples was written into room for {}",
                self.max
            )));
        }
        Ok((n, weighted))
    }

    /// In a data-parallel run, keeps this rank's rows of the batch of `n` just loaded
    /// (moved to the front of the input, target and weight buffers) and returns their
    /// number; without one, `n`.
    fn shard(&mut self, model: &mut Model, n: usize) -> usize {
        let (lo, hi) = crate::distribution::shard(n);
        if (lo, hi) != (0, n) && hi > lo {
            let (xl, yl) = (self.x_len, self.y_len);
            model
                .chain
                .input_mut(self.max)
                .copy_within(lo * xl..hi * xl, 0);
            self.y.copy_within(lo * yl..hi * yl, 0);
            self.w.copy_within(lo..hi, 0);
        }
        hi - lo
    }
}

/// The callbacks of one `fit`, `evaluate` or `predict`, the progress bar among them; a
/// callback that asks to stop sets `model.stop_training`, the one way training stops.
pub(crate) struct CallbackList<'c, 'a> {
    pub list: &'c mut [&'a mut dyn Callback],
}

impl CallbackList<'_, '_> {
    pub fn train_begin(&mut self, p: &TrainParams, m: &mut Model) -> Result<()> {
        self.list
            .iter_mut()
            .try_for_each(|c| c.on_train_begin(p, m))
    }
    pub fn train_end(&mut self, logs: &Logs, m: &mut Model) {
        self.list.iter_mut().for_each(|c| c.on_train_end(logs, m));
    }
    pub fn epoch_begin(&mut self, e: usize, m: &mut Model) {
        self.list.iter_mut().for_each(|c| c.on_epoch_begin(e, m));
    }
    pub fn epoch_end(&mut self, e: usize, logs: &Logs, m: &mut Model) -> Result<()> {
        for c in self.list.iter_mut() {
            if c.on_epoch_end(e, logs, m)? == Control::Stop {
                m.stop_training = true;
            }
        }
        Ok(())
    }
    pub fn train_batch_begin(&mut self, b: usize, m: &mut Model) {
        self.list
            .iter_mut()
            .for_each(|c| c.on_train_batch_begin(b, m));
    }
    pub fn train_batch_end(&mut self, b: usize, logs: &Logs, m: &mut Model) -> Result<()> {
        for c in self.list.iter_mut() {
            if c.on_train_batch_end(b, logs, m)? == Control::Stop {
                m.stop_training = true;
            }
        }
        Ok(())
    }
    fn test_begin(&mut self, m: &mut Model) {
        self.list.iter_mut().for_each(|c| c.on_test_begin(m));
    }
    fn test_batch_begin(&mut self, b: usize, m: &mut Model) {
        self.list
            .iter_mut()
            .for_each(|c| c.on_test_batch_begin(b, m));
    }
    fn test_batch_end(&mut self, b: usize, logs: &Logs, m: &mut Model) {
        self.list
            .iter_mut()
            .for_each(|c| c.on_test_batch_end(b, logs, m));
    }
    fn test_end(&mut self, logs: &Logs, m: &mut Model) {
        self.list.iter_mut().for_each(|c| c.on_test_end(logs, m));
    }
    fn predict_begin(&mut self, m: &mut Model) {
        self.list.iter_mut().for_each(|c| c.on_predict_begin(m));
    }
    fn predict_batch_begin(&mut self, b: usize, m: &mut Model) {
        self.list
            .iter_mut()
            .for_each(|c| c.on_predict_batch_begin(b, m));
    }
    fn predict_batch_end(&mut self, b: usize, m: &mut Model) {
        self.list
            .iter_mut()
            .for_each(|c| c.on_predict_batch_end(b, m));
    }
    fn predict_end(&mut self, m: &mut Model) {
        self.list.iter_mut().for_each(|c| c.on_predict_end(m));
    }
}

/// Writes the running loss and metrics into `logs`, in Keras's order (a vector-valued
/// metric as a vector, written in place).
fn fill_logs(model: &Model, loss: f64, logs: &mut Logs) {
    if let Some(c) = model.compiled.as_ref() {
        for &k in &c.log_order {
            let name = heads::key_name(&c.heads, k);
            match heads::key_metric(&c.heads, k) {
                Some(m) if m.is_vector() => m.result_vector(logs.vector_mut(name)),
                _ => logs.set(name, heads::key_value(&c.heads, k, loss)),
            }
        }
    }
}

/// What one training epoch needs besides the model.
pub(crate) struct EpochRun<'r> {
    pub src: &'r mut dyn Batches,
    pub cursor: &'r mut Cursor,
    pub bufs: &'r mut Buffers,
    pub class_weight: Option<&'r ClassWeight>,
    pub custom: Option<&'r mut dyn TrainStep>,
    pub mixer: Option<&'r mut super::mixing::Mixer>,
    pub fused: bool,
    pub logs: &'r mut Logs,
}

/// Trains one epoch; returns the mean loss (weight penalties included). The logs hold the
/// epoch's running values when it returns.
pub(crate) fn train_epoch(
    model: &mut Model,
    epoch: usize,
    run: EpochRun<'_>,
    cbs: &mut CallbackList<'_, '_>,
) -> Result<f64> {
    let EpochRun {
        src,
        cursor,
        bufs,
        class_weight,
        mut custom,
        mut mixer,
        fused,
        logs,
    } = run;
    cursor.begin_epoch(src, epoch)?;
    if let Some(c) = model.compiled.as_mut() {
        c.reset();
    }
    let (mut loss_sum, mut seen) = (0.0f64, 0usize);
    for step_i in 0.. {
        let index = match cursor.next(src, step_i) {
            Next::Batch(i) => i,
            Next::EndOfEpoch => break,
            Next::RanOut => {
                eprintln!("UserWarning: {RAN_OUT}");
                break;
            }
        };
        cbs.train_batch_begin(step_i, model);
        let (n_batch, mut weighted) = bufs.load(model, src, index, true)?;
        if n_batch == 0 {
            continue;
        }
        // MixUp / CutMix over the whole batch, before a data-parallel run takes its shard.
        if let Some(m) = mixer.as_deref_mut() {
            let x = model.chain.input_mut(n_batch);
            m.apply(x, &mut bufs.y, n_batch, bufs.y_len);
        }
        let n = bufs.shard(model, n_batch);
        crate::distribution::begin_step(crate::distribution::shard(n_batch).0, n, n_batch);
        if n == 0 {
            // A batch smaller than the number of ranks: this rank has no rows, but it
            // joins the gradient sum (with zeros) so that every replica steps alike.
            step::zero_step(model);
            cbs.train_batch_end(step_i, logs, model)?;
            continue;
        }
        if let Some(cw) = class_weight {
            cw.fill(&bufs.y, n, bufs.y_len, &mut bufs.w);
            weighted = true;
        }
        let y = &bufs.y[..n * bufs.y_len];
        let w = weighted.then_some(&bufs.w[..n]);
        let mut step = Step::new(model, n, y, w, fused);
        let loss = match custom.as_deref_mut() {
            Some(s) => s.train_step(&mut step)?,
            None => step::default_step(&mut step),
        };
        loss_sum += loss * n as f64;
        seen += n;
        fill_logs(model, loss_sum / seen as f64, logs);
        cbs.train_batch_end(step_i, logs, model)?;
        if model.stop_training {
            break;
        }
    }
    let loss = loss_sum / seen.max(1) as f64;
    // Data-parallel: the metrics' states summed over the ranks (exact AUC, precision...),
    // the rest averaged over all ranks' samples.
    let exact = crate::distribution::sum_metrics(model);
    logs.clear();
    fill_logs(model, loss, logs);
    crate::distribution::average_logs(logs, seen, &exact);
    Ok(logs.get("loss").unwrap_or(loss))
}

/// Mean loss and metrics over a source in inference mode (Keras's `evaluate`), as the logs
/// `on_test_end` sees. `cursor` walks it (validation with `validation_steps` goes
/// on where the last one stopped); without one, the whole source from the start.
pub(crate) fn evaluate(
    model: &mut Model,
    src: &mut dyn Batches,
    cursor: Option<&mut Cursor>,
    bufs: &mut Buffers,
    cbs: &mut CallbackList<'_, '_>,
) -> Result<Logs> {
    let mut fresh = Cursor::new(None);
    let cursor = cursor.unwrap_or(&mut fresh);
    cursor.begin_epoch(src, 0)?;
    if let Some(c) = model.compiled.as_mut() {
        c.reset();
    }
    cbs.test_begin(model);
    let mut logs = Logs::new();
    let (mut total, mut count) = (0.0f64, 0usize);
    for step_i in 0.. {
        let index = match cursor.next(src, step_i) {
            Next::Batch(i) => i,
            Next::EndOfEpoch => break,
            Next::RanOut => {
                eprintln!("UserWarning: {}", RAN_OUT.replace("training", "evaluation"));
                break;
            }
        };
        cbs.test_batch_begin(step_i, model);
        let (n, weighted) = bufs.load(model, src, index, true)?;
        if n == 0 {
            continue;
        }
        let n = bufs.shard(model, n);
        if n == 0 {
            continue;
        }
        model.chain.forward(n, Mode::Infer);
        let Model {
            chain, compiled, ..
        } = &mut *model;
        let Some(c) = compiled.as_mut() else {
            return Err(Error::State(
                "You must call `compile()` before using the model for training or evaluation."
                    .into(),
            ));
        };
        let out = chain.output(n);
        let w = weighted.then_some(&bufs.w[..n]);
        let y = &bufs.y[..n * bufs.y_len];
        total += heads::compute(&mut c.heads, out, y, n, w, None, false) * n as f64;
        count += n;
        fill_logs(model, total / count as f64, &mut logs);
        cbs.test_batch_end(step_i, &logs, model);
    }
    let loss = total / count.max(1) as f64 + model.chain.regularization_loss();
    let exact = crate::distribution::sum_metrics(model);
    logs.clear();
    if model.compiled.is_none() {
        logs.set("loss", loss);
    }
    fill_logs(model, loss, &mut logs);
    // Data-parallel: the means over all ranks' samples (the summed metrics are exact).
    crate::distribution::average_logs(&mut logs, count, &exact);
    cbs.test_end(&logs, model);
    Ok(logs)
}

/// The outputs (packed per row) for every sample of a source, in order, into `out`
/// (`per` values per sample); the rows of samples the source left out
/// ([`Batches::last_skipped`]) are NaN. Returns the rows written.
pub(crate) fn predict(
    model: &mut Model,
    src: &mut dyn Batches,
    bufs: &mut Buffers,
    out: &mut [f32],
    per: usize,
    cbs: &mut CallbackList<'_, '_>,
) -> Result<usize> {
    src.begin_pass(0)?;
    cbs.predict_begin(model);
    // Data-parallel: each rank predicts its rows of each batch into a zeroed buffer, and a
    // sum over the ranks assembles the whole (x + 0 is exact, NaN stays NaN).
    let dist = crate::distribution::world().is_some();
    let mut start = 0;
    for index in 0..src.len() {
        cbs.predict_batch_begin(index, model);
        let (n_batch, _) = bufs.load(model, src, index, false)?;
        let skipped = src.last_skipped();
        let (lo, hi) = if dist && skipped.is_empty() {
            crate::distribution::shard(n_batch)
        } else {
            (0, n_batch)
        };
        let n = if (lo, hi) == (0, n_batch) {
            n_batch
        } else {
            bufs.shard(model, n_batch)
        };
        if n > 0 {
            model.chain.forward(n, Mode::Infer);
        }
        let rows = n_batch + skipped.len();
        let end = (start + rows) * per;
        if end > out.len() {
            return Err(Error::Data(format!(
                "the source gave more samples than the {} it announced",
                out.len() / per.max(1)
            )));
        }
        let y = model.chain.output(n);
        if skipped.is_empty() {
            out[(start + lo) * per..(start + hi) * per].copy_from_slice(y);
        } else if dist && !crate::distribution::is_chief() {
            // A batch with skipped files is predicted whole on every rank; rank 0 keeps it.
        } else {
            let mut kept = 0;
            for pos in 0..rows {
                let row = &mut out[(start + pos) * per..(start + pos + 1) * per];
                if skipped.contains(&pos) {
                    row.fill(f32::NAN);
                } else {
                    row.copy_from_slice(&y[kept * per..(kept + 1) * per]);
                    kept += 1;
                }
            }
        }
        start += rows;
        cbs.predict_batch_end(index, model);
    }
    if dist {
        crate::distribution::sum_f32(&mut out[..start * per]);
    }
    cbs.predict_end(model);
    Ok(start)
}

/// The parameters callbacks see at the start of `fit`.
pub(crate) fn params(verbose: u8, epochs: usize, steps: usize) -> TrainParams {
    TrainParams {
        verbose,
        epochs,
        steps,
    }
}
