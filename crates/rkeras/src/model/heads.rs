//! What a compiled model trains against: one head per output, each with its own loss, loss
//! weight and metrics ([`Model::compile`](crate::model::Model::compile) makes one head,
//! [`Model::compile_outputs`](crate::model::Model::compile_outputs) one per output). Outputs
//! (and their targets) travel packed side by side in each row; a head takes its columns out,
//! computes its loss and gradient, and puts the weighted gradient back. A model with one
//! output reads its output and targets in place, with no copy.

use crate::losses::Loss;
use crate::metrics::Metric;
use crate::model::graph::{pack_cols, unpack_cols};

/// One output's loss and metrics.
#[derive(Debug)]
pub(crate) struct Head {
    /// The output layer's name (`cls` gives `cls_loss`, `cls_accuracy`).
    pub name: String,
    pub loss: Loss,
    pub weight: f32,
    pub metrics: Vec<Metric>,
    /// Columns of this output in a packed output row, and its last axis.
    pub off: usize,
    pub len: usize,
    pub cols: usize,
    /// Columns of its targets in a packed target row (set when targets are checked).
    pub t_off: usize,
    pub t_len: usize,
    /// Unweighted loss summed over samples, and the samples, since the last reset.
    loss_sum: f64,
    seen: usize,
    /// `loss_key` is `<name>_loss`; `metric_keys[i]` is `<name>_<metric i>` (a model with one
    /// output: the metric's own name).
    pub loss_key: String,
    pub metric_keys: Vec<String>,
    out: Vec<f32>,
    tgt: Vec<f32>,
    grad: Vec<f32>,
}

/// A value of the logs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Key {
    /// The total (weighted) loss.
    Loss,
    /// Head `h`'s loss.
    HeadLoss(usize),
    /// Head `h`'s metric `m`.
    HeadMetric(usize, usize),
}

impl Head {
    /// The head of output `name` of a model with several outputs.
    pub fn new(name: &str, loss: Loss, weight: f32, metrics: Vec<Metric>) -> Self {
        let metrics = plain_first(metrics);
        let metric_keys = keras_keys(&metrics, &format!("{name}_"));
        Head::with_keys(
            name,
            loss,
            weight,
            metrics,
            format!("{name}_loss"),
            metric_keys,
        )
    }

    /// The only head of a model with one output: its metrics log under their own names.
    pub fn single(name: &str, loss: Loss, metrics: Vec<Metric>) -> Self {
        let metrics = plain_first(metrics);
        let metric_keys = keras_keys(&metrics, "");
        Head::with_keys(name, loss, 1.0, metrics, "loss".into(), metric_keys)
    }

    fn with_keys(
        name: &str,
        loss: Loss,
        weight: f32,
        metrics: Vec<Metric>,
        loss_key: String,
        metric_keys: Vec<String>,
    ) -> Self {
        Head {
            name: name.to_string(),
            loss,
            weight,
            metrics,
            off: 0,
            len: 0,
            cols: 1,
            t_off: 0,
            t_len: 0,
            loss_sum: 0.0,
            seen: 0,
            loss_key,
            metric_keys,
            out: Vec::new(),
            tgt: Vec::new(),
            grad: Vec::new(),
        }
    }

    /// Forgets the accumulated loss and metrics.
    pub fn reset(&mut self) {
        self.loss_sum = 0.0;
        self.seen = 0;
        self.metrics.iter_mut().for_each(Metric::reset);
    }

    /// Mean unweighted loss since the last reset.
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }
}

/// The compiled `metrics` first, then the `weighted_metrics` (Keras's order).
fn plain_first(metrics: Vec<Metric>) -> Vec<Metric> {
    let (plain, weighted): (Vec<Metric>, Vec<Metric>) =
        metrics.into_iter().partition(|m| !m.is_weighted());
    plain.into_iter().chain(weighted).collect()
}

/// Keras's log keys (`CompileMetrics.result`): `prefix + name`; a repeated plain name gets
/// `_1`, `_2`; a weighted metric whose key is taken becomes `prefix + weighted_<name>`
/// (then numbered likewise).
fn keras_keys(metrics: &[Metric], prefix: &str) -> Vec<String> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut keys = Vec::new();
    for m in metrics {
        let mut key = format!("{prefix}{}", m.name());
        if let Some(k) = seen.get_mut(&key) {
            if m.is_weighted() {
                key = format!("{prefix}weighted_{}", m.name());
                if let Some(k) = seen.get_mut(&key) {
                    let numbered = format!("{key}_{k}");
                    *k += 1;
                    key = numbered;
                } else {
                    seen.insert(key.clone(), 1);
                }
            } else {
                let numbered = format!("{key}_{k}");
                *k += 1;
                key = numbered;
            }
        } else {
            seen.insert(key.clone(), 1);
        }
        keys.push(key);
    }
    keys
}

/// Keras's log order. One output: the metrics in compile order, then `loss`. Several: every
/// key sorted by name (`cls_accuracy`, `cls_loss`, `loss`, ...).
pub(crate) fn log_order(heads: &[Head]) -> Vec<Key> {
    if let [one] = heads {
        let mut keys: Vec<Key> = (0..one.metrics.len())
            .map(|m| Key::HeadMetric(0, m))
            .collect();
        keys.push(Key::Loss);
        return keys;
    }
    let mut keys: Vec<(String, Key)> = vec![("loss".into(), Key::Loss)];
    for (h, head) in heads.iter().enumerate() {
        keys.push((head.loss_key.clone(), Key::HeadLoss(h)));
        for (m, k) in head.metric_keys.iter().enumerate() {
            keys.push((k.clone(), Key::HeadMetric(h, m)));
        }
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys.into_iter().map(|(_, k)| k).collect()
}

/// The name of a log key.
pub(crate) fn key_name(heads: &[Head], k: Key) -> &str {
    match k {
        Key::Loss => "loss",
        Key::HeadLoss(h) => &heads[h].loss_key,
        Key::HeadMetric(h, m) => &heads[h].metric_keys[m],
    }
}

/// The metric behind a log key (`None` for a loss).
pub(crate) fn key_metric(heads: &[Head], k: Key) -> Option<&crate::metrics::Metric> {
    match k {
        Key::HeadMetric(h, m) => heads[h].metrics.get(m),
        Key::Loss | Key::HeadLoss(_) => None,
    }
}

/// The value of a log key (`loss` is given: it includes weight penalties).
pub(crate) fn key_value(heads: &[Head], k: Key, loss: f64) -> f64 {
    match k {
        Key::Loss => loss,
        Key::HeadLoss(h) => heads[h].mean_loss(),
        Key::HeadMetric(h, m) => heads[h].metrics[m].result(),
    }
}

/// Weighted loss of a batch of `n` packed rows (each sample's loss weighted by `weights`
/// when given; the metrics are not, as Keras's compiled `metrics`); accumulates each head's loss and metrics, and with `grad` writes the weighted
/// gradient in the packed layout. `fused`: the loss gradient is taken with respect to the
/// pre-activation of the (single) output's softmax or sigmoid.
pub(crate) fn compute(
    heads: &mut [Head],
    out: &[f32],
    targets: &[f32],
    n: usize,
    weights: Option<&[f32]>,
    grad: Option<&mut [f32]>,
    fused: bool,
) -> f64 {
    if let [h] = heads {
        if h.off == 0 && h.t_off == 0 {
            // One output: read it in place.
            let rows = out.len() / h.cols.max(1);
            let l = h
                .loss
                .compute_weighted(out, targets, rows, h.cols, weights, grad, fused);
            // Keras weighs the loss and the `weighted_metrics`, not the compiled `metrics`.
            for m in &mut h.metrics {
                let w = weights.filter(|_| m.is_weighted());
                m.update_weighted(out, targets, rows, h.cols, w);
            }
            h.loss_sum += l * n as f64;
            h.seen += n;
            return f64::from(h.weight) * l;
        }
    }
    let mut grad = grad;
    let width: usize = heads.iter().map(|h| h.len).sum();
    let t_width: usize = heads.iter().map(|h| h.t_len).sum();
    let mut total = 0.0;
    for h in heads.iter_mut() {
        let (len, t_len) = (n * h.len, n * h.t_len);
        if h.out.len() < len {
            h.out.resize(len, 0.0);
            h.grad.resize(len, 0.0);
        }
        if h.tgt.len() < t_len {
            h.tgt.resize(t_len, 0.0);
        }
        unpack_cols(out, width, h.off, h.len, n, &mut h.out[..len]);
        unpack_cols(targets, t_width, h.t_off, h.t_len, n, &mut h.tgt[..t_len]);
        let rows = len / h.cols.max(1);
        let g = grad.is_some().then_some(&mut h.grad[..len]);
        let l = h.loss.compute_weighted(
            &h.out[..len],
            &h.tgt[..t_len],
            rows,
            h.cols,
            weights,
            g,
            false,
        );
        for m in &mut h.metrics {
            let w = weights.filter(|_| m.is_weighted());
            m.update_weighted(&h.out[..len], &h.tgt[..t_len], rows, h.cols, w);
        }
        h.loss_sum += l * n as f64;
        h.seen += n;
        total += h.weight as f64 * l;
        if let Some(g) = grad.as_deref_mut() {
            let w = h.weight;
            h.grad[..len].iter_mut().for_each(|v| *v *= w);
            pack_cols(&h.grad[..len], width, h.off, h.len, n, g);
        }
    }
    total
}
