//! Data-parallel training over MPI, Keras's `keras.distribution.DataParallel`: every process
//! (rank) of `mpirun -np N` holds a replica of the model, each global batch is split into
//! disjoint per-rank shards, the gradients are summed across ranks with an MPI all-reduce
//! before each optimizer step, so every replica takes the same step.
//!
//! Built with the cargo feature `mpi` (the `mpi` crate over the system's Open MPI); without
//! it, [`DataParallel::init`] explains how to get it. One line turns it on, before `fit`:
//!
//! ```no_run
//! use rkeras::distribution::DataParallel;
//! let dp = DataParallel::init()?; // MPI_Init; every later fit on this thread is data-parallel
//! println!("rank {} of {}", dp.rank(), dp.size());
//! // ... build, compile and fit the model as usual; rank 0 alone prints and writes files.
//! # Ok::<(), rkeras::Error>(())
//! ```
//!
//! What `fit` does then: at its start, rank 0's weights and seed go to every rank (so the
//! shuffles agree), and a model or data set that differs between ranks is an error naming
//! the rank; each batch's rows are split in order (rank `r` of `N` takes rows `[r * n / N,
//! (r + 1) * n / N)`), each rank's mean gradient is weighted by its share of the batch and
//! the weighted gradients are all-reduced, so the step equals one process's on the whole
//! batch (up to float reassociation). The all-reduce runs in buckets while the backward
//! pass goes on (see [`DataParallel::set_bucket_bytes`]), and a rank that waits too long in
//! a collective ends the job (see [`DataParallel::set_timeout`]). The epoch logs (loss, metrics) are averaged over the
//! ranks by samples, so every rank's callbacks decide alike (EarlyStopping,
//! ReduceLROnPlateau stop or change every rank together). Validation is sharded the same
//! way. BatchNormalization keeps per-replica statistics (Keras's default).

use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

mod buckets;
#[cfg(feature = "mpi")]
mod mpi_comm;

/// The default size of a gradient bucket: 4 MiB of `f32` (see [`DataParallel::bucket_bytes`]).
pub const DEFAULT_BUCKET_BYTES: usize = 4 << 20;

/// The collective operations a data-parallel fit needs. Called from whichever thread runs
/// the fit (rkeras's thread pool), one call at a time (MPI's "serialized" threading).
pub(crate) trait Comm: Send + Sync {
    fn rank(&self) -> usize;
    fn size(&self) -> usize;
    /// Element-wise sum over the ranks of `send`, into `recv` on every rank.
    fn all_reduce_f32(&self, send: &[f32], recv: &mut [f32]);
    fn all_reduce_f64(&self, send: &[f64], recv: &mut [f64]);
    /// Rank 0's `buf` into every rank's.
    fn broadcast_f32(&self, buf: &mut [f32]);
    fn broadcast_u64(&self, buf: &mut [u64]);
    /// Starts summing `send` over the ranks into `recv` without waiting (MPI_Iallreduce), on
    /// a communicator of the gradients' own, so that the sums may stay in flight across
    /// the other collectives (synchronized BatchNormalization's). Every rank starts the
    /// same sums in the same order.
    ///
    /// # Safety
    /// Both buffers stay alive, unmoved, unread (`recv`) and unwritten until
    /// [`wait_all`](Self::wait_all) returns.
    unsafe fn start_sum_f32(&self, send: &[f32], recv: &mut [f32]);
    /// Lets the started sums progress (MPI moves a non-blocking collective on only inside
    /// its calls); never waits.
    fn progress(&self);
    /// Waits for every started sum.
    fn wait_all(&self);
}

/// The state of the distribution on this thread.
struct Active {
    comm: Arc<dyn Comm>,
    /// This step's rows on this rank and in the whole batch.
    step: Option<(usize, usize)>,
    /// The index in the whole batch of this rank's first row, this training step.
    row0: usize,
    /// Flattened gradients, sent and received (sized once), in the buckets' order.
    send: Vec<f32>,
    recv: Vec<f32>,
    /// The gradient buckets of the model being trained, and their size in floats.
    plan: buckets::Plan,
    bucket_floats: usize,
    /// The buckets of this step started so far, and where the backward pass was when each
    /// started (the last step's, for tests and profiles).
    started: usize,
    started_at: Vec<isize>,
    /// A backward pass of a training step is under way, with its buckets in flight.
    overlapping: bool,
    /// This step's gradients were summed by the backward pass (the update takes them as
    /// they are).
    reduced: bool,
    /// This step's weight of each rank's mean gradient: its share of the batch.
    scale: f32,
    /// Seconds spent waiting for gradient sums after the backward passes, since `init`.
    waited: f64,
    /// What in-place sums send (sized to the largest so far).
    scratch32: Vec<f32>,
    scratch64: Vec<f64>,
}

/// The distribution of this process (fits run on rkeras's thread pool, not on the thread
/// that set it up, so it is process-wide).
static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

fn slot() -> std::sync::MutexGuard<'static, Option<Active>> {
    ACTIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keras's `keras.distribution.DataParallel` over MPI: see the [module](self).
pub struct DataParallel {
    rank: usize,
    size: usize,
    /// Keeps MPI initialised while the distribution lives (finalised on drop).
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
}

impl DataParallel {
    /// Initialises MPI (world communicator: every rank `mpirun` started) and makes later
    /// fits on this thread data-parallel, until the value is dropped.
    ///
    /// # Errors
    /// rkeras built without the `mpi` feature, or MPI that cannot start (already
    /// initialised, no MPI runtime).
    pub fn init() -> Result<DataParallel> {
        #[cfg(feature = "mpi")]
        {
            let (universe, comm) = mpi_comm::init()?;
            let (rank, size) = (comm.rank(), comm.size());
            activate(Arc::new(comm));
            Ok(DataParallel {
                rank,
                size,
                _universe: Some(universe),
            })
        }
        #[cfg(not(feature = "mpi"))]
        {
            Err(Error::State(format!(
                "data-parallel training needs rkeras built with MPI: `cargo build --release --features mpi` (Open MPI installed: openmpi-bin, libopenmpi-dev, libclang-dev){}",
                launched_by_mpirun()
                    .map(|n| format!("; this process is one of {n} started by mpirun"))
                    .unwrap_or_default()
            )))
        }
    }
    /// Sets the size of the gradient buckets (PyTorch's `bucket_cap_mb`; default
    /// [`DEFAULT_BUCKET_BYTES`], 4 MiB) for the fits that follow: the backward pass sums
    /// each bucket over the ranks as soon as its gradients are final, while it computes the
    /// layers below, so smaller buckets start earlier and larger ones pay fewer latencies.
    /// Every rank must set the same size (the buckets are part of the collective sequence).
    ///
    /// ```no_run
    /// let dp = rkeras::distribution::DataParallel::init()?;
    /// dp.set_bucket_bytes(1 << 20);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn set_bucket_bytes(&self, bytes: usize) {
        if let Some(a) = slot().as_mut() {
            a.bucket_floats = (bytes / 4).max(1);
        }
    }
    /// Sets how long a rank waits inside one collective operation (a gradient sum, a
    /// broadcast) before it concludes that another rank hung or died, prints so and ends,
    /// so that `mpirun` ends the job instead of every rank waiting forever. Default: 600 s,
    /// or `RKERAS_MPI_TIMEOUT` (seconds) from the environment. (A rank that dies is noticed
    /// by Open MPI at once; this bounds the wait for one that hangs.)
    ///
    /// ```no_run
    /// let dp = rkeras::distribution::DataParallel::init()?;
    /// dp.set_timeout(std::time::Duration::from_secs(120));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn set_timeout(&self, timeout: std::time::Duration) {
        #[cfg(feature = "mpi")]
        mpi_comm::set_timeout(timeout);
        #[cfg(not(feature = "mpi"))]
        let _ = timeout;
    }
    /// This process's rank (0 is the chief: it prints and writes files).
    pub fn rank(&self) -> usize {
        self.rank
    }
    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl Drop for DataParallel {
    fn drop(&mut self) {
        slot().take();
    }
}

/// The number of processes `mpirun` (Open MPI, MPICH, Slurm's PMI) says it started, when
/// this process is one of several.
///
/// ```
/// // A plain process (no OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_SIZE above 1):
/// if std::env::var("OMPI_COMM_WORLD_SIZE").is_err()
///     && std::env::var("PMI_SIZE").is_err()
///     && std::env::var("PMIX_SIZE").is_err()
/// {
///     assert_eq!(rkeras::distribution::launched_by_mpirun(), None);
/// }
/// ```
pub fn launched_by_mpirun() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.parse::<usize>().ok())
        .filter(|&n| n > 1)
}

fn activate(comm: Arc<dyn Comm>) {
    *slot() = Some(Active {
        comm,
        step: None,
        row0: 0,
        send: Vec::new(),
        recv: Vec::new(),
        plan: buckets::Plan::default(),
        bucket_floats: DEFAULT_BUCKET_BYTES / 4,
        started: 0,
        started_at: Vec::new(),
        overlapping: false,
        reduced: false,
        scale: 1.0,
        waited: 0.0,
        scratch32: Vec::new(),
        scratch64: Vec::new(),
    });
}

/// Runs `f` as a single process, the distribution set aside (a reference run on one rank,
/// a local evaluation), then restores it. The distribution is process-wide: nothing else
/// should train meanwhile.
///
/// ```
/// let local = rkeras::distribution::suspended(|| rkeras::distribution::world());
/// assert_eq!(local, None);
/// ```
pub fn suspended<R>(f: impl FnOnce() -> R) -> R {
    let saved = slot().take();
    let r = f();
    *slot() = saved;
    r
}

/// Runs `f` with the active distribution of more than one rank, if any.
fn with_active<R>(f: impl FnOnce(&mut Active) -> R) -> Option<R> {
    slot().as_mut().filter(|s| s.comm.size() > 1).map(f)
}

/// True unless this process is a rank other than 0 of a data-parallel run: the one that
/// prints progress and writes files.
///
/// ```
/// // Without a distribution, every process is the chief and alone in its world.
/// assert!(rkeras::distribution::is_chief());
/// assert_eq!(rkeras::distribution::world(), None);
/// ```
pub fn is_chief() -> bool {
    with_active(|a| a.comm.rank() == 0).unwrap_or(true)
}

/// `(rank, size)` of the active distribution of several ranks.
pub fn world() -> Option<(usize, usize)> {
    with_active(|a| (a.comm.rank(), a.comm.size()))
}

/// This rank's rows `[lo, hi)` of a batch of `n` (all of them without a distribution).
pub(crate) fn shard(n: usize) -> (usize, usize) {
    world().map_or((0, n), |(r, p)| (r * n / p, (r + 1) * n / p))
}

/// Records the rows of the coming training step: this rank's first row in the whole
/// batch, its number of rows, the whole batch's.
pub(crate) fn begin_step(row0: usize, local: usize, global: usize) {
    with_active(|a| {
        a.step = Some((local, global));
        a.row0 = row0;
    });
}

/// The index in the whole (global) batch of this replica's first row in the current
/// training step: 0 without a distribution. Layers that draw per sample (Dropout, the
/// random augmentation layers) key each row's draws by `first_row() + i`, so a sample gets
/// the draws one process would give it.
pub(crate) fn first_row() -> usize {
    with_active(|a| a.row0).unwrap_or(0)
}

/// The weights of `layers` that train, in layer order, and their signature (which
/// weights, their lengths, the bucket size). Allocates nothing.
fn signature(layers: &[Box<dyn crate::layers::Layer>], bucket_floats: usize) -> u64 {
    let mut h = fnv_u64(0xcbf2_9ce4_8422_2325, bucket_floats as u64);
    for (i, l) in layers.iter().enumerate() {
        if !l.base().trainable {
            continue;
        }
        for (k, p) in l.params().iter().enumerate().filter(|(_, p)| p.trainable) {
            h = fnv_u64(fnv_u64(fnv_u64(h, i as u64), k as u64), p.grad.len() as u64);
        }
    }
    h
}

fn fnv_u64(h: u64, v: u64) -> u64 {
    v.to_le_bytes()
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Cuts the buckets again when the trainable weights changed (a new model, a layer frozen
/// or unfrozen); `keys` gives each layer's backward position (see [`begin_backward`]).
fn ensure_plan(
    a: &mut Active,
    layers: &[Box<dyn crate::layers::Layer>],
    keys: impl FnOnce() -> Vec<isize>,
) {
    let sig = signature(layers, a.bucket_floats);
    if sig == a.plan.signature && !a.plan.items.is_empty() {
        return;
    }
    let keys = keys();
    let weights: Vec<buckets::Weight> = layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.base().trainable)
        .flat_map(|(i, l)| {
            let key = keys.get(i).copied().unwrap_or(-1);
            l.params()
                .iter()
                .enumerate()
                .filter(|(_, p)| p.trainable)
                .map(move |(k, p)| buckets::Weight {
                    layer: i,
                    param: k,
                    len: p.grad.len(),
                    key,
                })
        })
        .collect();
    a.plan = buckets::Plan::new(&weights, a.bucket_floats, sig);
    a.send.resize(a.plan.total, 0.0);
    a.recv.resize(a.plan.total, 0.0);
    a.started_at.resize(a.plan.buckets.len(), 0);
}

/// Starts the sum of every bucket whose gradients are final once the backward pass has
/// done its position `done` and everything after it (`isize::MIN`: all of them).
fn start_ready(a: &mut Active, layers: &[Box<dyn crate::layers::Layer>], done: isize) {
    while let Some(b) = a.plan.buckets.get(a.started) {
        if b.ready < done {
            break;
        }
        for it in &a.plan.items[b.items.clone()] {
            let g = &layers[it.layer].params()[it.param].grad;
            for (s, g) in a.send[it.off..it.off + it.len].iter_mut().zip(g) {
                *s = g * a.scale;
            }
        }
        let span = b.off..b.off + b.len;
        // SAFETY: `send` and `recv` are resized only in `ensure_plan`, which runs with no
        // sum in flight (a step's sums are all waited for in `finish` before the next
        // step begins), and neither is touched until `finish`'s `wait_all`.
        unsafe {
            a.comm
                .start_sum_f32(&a.send[span.clone()], &mut a.recv[span]);
        }
        a.started_at[a.started] = done;
        a.started += 1;
    }
}

/// Starts what is left, waits for every bucket and writes the sums into the gradients.
fn finish(a: &mut Active, layers: &mut [Box<dyn crate::layers::Layer>]) {
    start_ready(a, layers, isize::MIN);
    let t = std::time::Instant::now();
    a.comm.wait_all();
    a.waited += t.elapsed().as_secs_f64();
    for it in &a.plan.items {
        layers[it.layer].params_mut()[it.param]
            .grad
            .copy_from_slice(&a.recv[it.off..it.off + it.len]);
    }
    a.started = 0;
    a.overlapping = false;
}

/// This step's weight of a rank's mean gradient: its share of the batch.
fn step_scale(a: &Active) -> f32 {
    match a.step {
        Some((l, g)) if g > 0 => l as f32 / g as f32,
        _ => 1.0 / a.comm.size() as f32,
    }
}

/// At the start of a training step's backward pass (the weight gradients zeroed): from
/// here the gradients are summed over the ranks in buckets while the pass goes on.
/// `keys()` gives, per layer, the backward position from which its weight gradients are
/// final (a sequential model's layer index, a functional model's first call; -1 for a
/// layer whose gradient is complete only at the end, a shared one). No-op outside a
/// data-parallel training step.
pub(crate) fn begin_backward(
    layers: &[Box<dyn crate::layers::Layer>],
    keys: impl FnOnce() -> Vec<isize>,
) {
    with_active(|a| {
        if a.overlapping {
            // A backward pass that did not reach its end (a panic caught above): let its
            // sums land before the buffers are reused.
            a.comm.wait_all();
            a.started = 0;
        }
        a.reduced = false;
        if a.step.is_none() {
            return;
        }
        ensure_plan(a, layers, keys);
        a.scale = step_scale(a);
        a.started = 0;
        a.overlapping = true;
    });
}

/// The backward pass has finished its position `done` and everything after it: starts
/// the buckets now complete, and lets those in flight progress.
pub(crate) fn backward_done(done: isize, layers: &[Box<dyn crate::layers::Layer>]) {
    with_active(|a| {
        if a.overlapping {
            start_ready(a, layers, done);
            if a.started > 0 {
                a.comm.progress();
            }
        }
    });
}

/// At the end of the backward pass: the remaining buckets, then every gradient replaced by
/// its sum over the ranks (each rank's weighted by its share of the batch).
pub(crate) fn end_backward(layers: &mut [Box<dyn crate::layers::Layer>]) {
    with_active(|a| {
        if a.overlapping {
            finish(a, layers);
            a.reduced = true;
        }
    });
}

/// Sums every trainable gradient of `layers` over the ranks, each rank's weighted by its
/// share of the batch (its mean gradient times `local / global`): the gradient of the mean
/// loss over the whole batch. Already done when the step's backward pass summed them in
/// buckets; otherwise (a rank without rows in the step, a custom step that wrote its own
/// gradients) the same buckets, in the same order. No-op without a distribution.
pub(crate) fn reduce_gradients(chain: &mut crate::model::graph::Chain) {
    with_active(|a| {
        let reduced = std::mem::take(&mut a.reduced);
        a.scale = step_scale(a);
        a.step = None;
        if reduced {
            return;
        }
        if a.overlapping {
            a.comm.wait_all();
        }
        ensure_plan(a, &chain.layers, || chain.grad_keys());
        a.started = 0;
        a.overlapping = true;
        finish(a, &mut chain.layers);
    });
}

/// Times the all-reduce of `len` floats (a gradient of `len` weights) over the active
/// ranks: the median of `reps` calls, in seconds; `None` without a distribution. Every rank
/// must call it with the same arguments (BENCHMARKS.md's scaling figures come from it).
pub fn time_all_reduce(len: usize, reps: usize) -> Option<f64> {
    with_active(|a| {
        let send = vec![1.0f32; len];
        let mut recv = vec![0.0f32; len];
        let mut times: Vec<f64> = (0..reps.max(1))
            .map(|_| {
                let t = std::time::Instant::now();
                a.comm.all_reduce_f32(&send, &mut recv);
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    })
}

/// Sums `values` over the ranks (in place). No-op without a distribution.
pub(crate) fn sum_f32(values: &mut [f32]) {
    with_active(|a| {
        if a.scratch32.len() < values.len() {
            a.scratch32.resize(values.len(), 0.0);
        }
        let send = &mut a.scratch32[..values.len()];
        send.copy_from_slice(values);
        a.comm.all_reduce_f32(send, values);
    });
}

/// Sums `values` over the ranks (in place); returns whether it did (false without a
/// distribution). Allocates nothing once the largest size has been seen.
pub(crate) fn sum_f64(values: &mut [f64]) -> bool {
    with_active(|a| {
        if a.scratch64.len() < values.len() {
            a.scratch64.resize(values.len(), 0.0);
        }
        let send = &mut a.scratch64[..values.len()];
        send.copy_from_slice(values);
        a.comm.all_reduce_f64(send, values);
    })
    .is_some()
}

/// Replaces each log value but those named in `exact` by its mean over the ranks weighted
/// by each rank's `samples`; a vector value (one number per class or threshold) is averaged
/// element by element.
pub(crate) fn average_logs(logs: &mut crate::callbacks::Logs, samples: usize, exact: &[String]) {
    if world().is_none() {
        return;
    }
    let names: Vec<String> = logs
        .keys()
        .filter(|k| !exact.iter().any(|e| e == k))
        .map(str::to_string)
        .collect();
    let mut v: Vec<f64> = Vec::new();
    for name in &names {
        match logs.get_vector(name) {
            Some(xs) => v.extend(xs.iter().map(|x| x * samples as f64)),
            None => v.push(logs.get(name).unwrap_or(0.0) * samples as f64),
        }
    }
    v.push(samples as f64);
    sum_f64(&mut v);
    let total = v.pop().unwrap_or(0.0).max(1.0);
    let mut at = 0;
    for name in &names {
        if let Some(out) = logs.get_vector(name).map(<[f64]>::len) {
            let dst = logs.vector_mut(name);
            for (d, x) in dst.iter_mut().zip(&v[at..at + out]) {
                *d = x / total;
            }
            at += out;
        } else {
            logs.set(name, v[at] / total);
            at += 1;
        }
    }
}

/// Sums the compiled metrics' states over the ranks (each metric's
/// [`MetricState::visit_sums`](crate::metrics::MetricState::visit_sums): counts of AUC,
/// precision, recall, IoU, F-scores, the totals and counts of mean metrics), so that every
/// rank's `result()` is the metric of all the ranks' rows; returns the log keys of the
/// metrics so summed. A metric whose state does not add up, or differs in size between the
/// ranks (one never updated), is left alone (its result is averaged by samples). No-op
/// without a distribution; collective otherwise. Called once per epoch or evaluation.
pub(crate) fn sum_metrics(model: &mut crate::Model) -> Vec<String> {
    let Some((_, size)) = world() else {
        return Vec::new();
    };
    let Some(c) = model.compiled.as_mut() else {
        return Vec::new();
    };
    // Each metric's state, flattened; whether it adds up, and its length.
    let mut flat = Vec::new();
    let mut spans = Vec::new();
    let mut info = Vec::new();
    for m in c.heads.iter_mut().flat_map(|h| h.metrics.iter_mut()) {
        let start = flat.len();
        let ok = m.visit_sums(&mut |s| flat.extend_from_slice(s));
        if !ok {
            flat.truncate(start);
        }
        let len = (flat.len() - start) as f64;
        info.extend([f64::from(u8::from(ok)), len, len * len]);
        spans.push((start, flat.len()));
    }
    sum_f64(&mut info);
    // Summed where every rank's adds up and has the same length (the sum of squares of the
    // lengths is `size` times the square of their mean only when they are all equal).
    let n = size as f64;
    let agreed: Vec<bool> = info
        .chunks_exact(3)
        .map(|v| v[0] == n && v[2] * n == v[1] * v[1])
        .collect();
    let mut send: Vec<f64> = spans
        .iter()
        .zip(&agreed)
        .filter(|(_, a)| **a)
        .flat_map(|(&(s, e), _)| flat[s..e].iter().copied())
        .collect();
    sum_f64(&mut send);
    let mut keys = Vec::new();
    let (mut off, mut k) = (0, 0);
    for h in c.heads.iter_mut() {
        for (m, key) in h.metrics.iter_mut().zip(&h.metric_keys) {
            if agreed[k] {
                m.visit_sums(&mut |s| {
                    let n = s.len();
                    s.copy_from_slice(&send[off..off + n]);
                    off += n;
                });
                keys.push(key.clone());
            }
            k += 1;
        }
    }
    keys
}

/// Checks that every rank walks the same number of batches of the same size.
///
/// # Errors
/// A rank whose data differs from rank 0's (every rank gets the error).
pub(crate) fn check_data(batches: usize, batch_size: usize) -> Result<()> {
    let Some((rank, _)) = world() else {
        return Ok(());
    };
    agree(rank, "number of training batches", batches as u64)?;
    agree(rank, "batch size", batch_size as u64)
}

/// At the start of a data-parallel `fit`: checks that every rank holds the same model
/// (architecture), then gives every rank rank 0's weights and seed.
///
/// # Errors
/// A rank whose model differs from rank 0's (every rank gets the error).
pub(crate) fn prepare_fit(model: &mut crate::Model) -> Result<()> {
    let Some((rank, _)) = world() else {
        return Ok(());
    };
    agree(rank, "model architecture", fnv(model.to_json().as_bytes()))?;
    let mut seed = [model.seed];
    with_active(|a| a.comm.broadcast_u64(&mut seed));
    model.seed = seed[0];
    let mut flat: Vec<f32> = model
        .chain
        .layers
        .iter()
        .flat_map(|l| l.params().iter().flat_map(|p| p.value.iter().copied()))
        .collect();
    with_active(|a| a.comm.broadcast_f32(&mut flat));
    let mut off = 0;
    for l in model.chain.layers.iter_mut() {
        for p in l.params_mut() {
            let n = p.value.len();
            p.value.copy_from_slice(&flat[off..off + n]);
            off += n;
        }
    }
    Ok(())
}

/// Fails on every rank when `value` differs between rank 0 and any rank.
fn agree(rank: usize, what: &str, value: u64) -> Result<()> {
    let mut chief = [value];
    with_active(|a| a.comm.broadcast_u64(&mut chief));
    let differs = f64::from(u8::from(chief[0] != value));
    // Which ranks differ: a bit of a sum per rank would overflow; the count and the
    // lowest one are enough to name.
    let mut v = [differs, if differs > 0.0 { rank as f64 } else { 0.0 }];
    sum_f64(&mut v);
    if v[0] > 0.0 {
        return Err(Error::State(format!(
            "data-parallel fit: the {what} differs between ranks ({} rank(s) differ from rank 0{}); every rank must run the same model on the same data",
            v[0],
            if differs > 0.0 {
                format!(", this one, rank {rank}, among them")
            } else {
                String::new()
            }
        )));
    }
    Ok(())
}

/// FNV-1a, 64 bits.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A distribution of `size` ranks simulated in one process (rank `rank` of `size`, every
/// collective over this process alone: a sum is a copy), for tests of the sharding and the
/// gradient buckets without MPI.
struct Simulated {
    rank: usize,
    size: usize,
}

impl Comm for Simulated {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_reduce_f32(&self, send: &[f32], recv: &mut [f32]) {
        recv.copy_from_slice(send);
    }
    fn all_reduce_f64(&self, send: &[f64], recv: &mut [f64]) {
        recv.copy_from_slice(send);
    }
    fn broadcast_f32(&self, _buf: &mut [f32]) {}
    fn broadcast_u64(&self, _buf: &mut [u64]) {}
    unsafe fn start_sum_f32(&self, send: &[f32], recv: &mut [f32]) {
        recv.copy_from_slice(send);
    }
    fn progress(&self) {}
    fn wait_all(&self) {}
}

/// Seconds this rank has waited for the sums of gradients over the ranks after its
/// backward passes (the communication the overlap did not hide), since the distribution
/// started; `None` without one.
///
/// ```
/// assert_eq!(rkeras::distribution::gradient_wait_seconds(), None);
/// ```
pub fn gradient_wait_seconds() -> Option<f64> {
    with_active(|a| a.waited)
}

/// Test support, not part of the API: a data-parallel world simulated in one process.
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// Makes later fits behave as rank `rank` of `size` (each takes its shard of every
    /// batch; sums over the ranks are copies), with gradient buckets of `bucket_floats`
    /// floats, until [`end`] (process-wide: one test per process).
    pub fn simulate(rank: usize, size: usize, bucket_floats: usize) {
        activate(Arc::new(Simulated { rank, size }));
        if let Some(a) = slot().as_mut() {
            a.bucket_floats = bucket_floats.max(1);
        }
    }

    /// Ends the simulated world.
    pub fn end() {
        slot().take();
    }

    /// Where the backward pass was when each gradient bucket of the last training step
    /// started (positions count down: a sequential model's layer index, a functional
    /// model's call; `isize::MIN`: after the pass).
    pub fn last_bucket_starts() -> Vec<isize> {
        with_active(|a| a.started_at.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order() {
        activate(Arc::new(Simulated { rank: 1, size: 3 }));
        assert_eq!(shard(10), (3, 6));
        assert!(!is_chief());
        slot().take();
        assert_eq!(shard(10), (0, 10));
        assert!(is_chief());
        let all: Vec<(usize, usize)> = (0..3).map(|r| (r * 10 / 3, (r + 1) * 10 / 3)).collect();
        assert_eq!(all, [(0, 3), (3, 6), (6, 10)]);
    }

    #[test]
    fn without_mpi_the_error_says_how_to_get_it() {
        #[cfg(not(feature = "mpi"))]
        {
            let e = DataParallel::init().err().expect("no mpi feature");
            assert!(e.to_string().contains("--features mpi"), "{e}");
        }
    }
}
