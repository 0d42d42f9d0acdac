//! Streaming an epoch of an [`ImageDataset`]: background threads read, decode, resize and
//! augment whole batches ahead of the consumer, into a bounded number of buffers.
//!
//! Batch `b` is built by worker `b % workers`, and the consumer takes batches in order, so
//! the stream is the same whatever the number of workers; each worker keeps at most
//! `PREFETCH` finished batches waiting, so memory stays bounded for any folder size.

use super::{image_file, Aspect, ImageDataset, LabelMode};
use crate::error::{Error, Result};
use rkeras_kernels::image::{self as kimage, ImageRef};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Finished batches each worker may hold ahead of the consumer.
pub(super) const PREFETCH: usize = 8;

/// One batch: `n` images (`n * h * w * c` values, 0..255) and their label rows.
#[derive(Debug, Default)]
pub struct Batch {
    /// Images, NHWC.
    pub x: Vec<f32>,
    /// Label rows (`n * label_len` values; empty without labels).
    pub y: Vec<f32>,
    /// Images in this batch.
    pub n: usize,
    /// Position of the batch in the epoch.
    pub index: usize,
    /// Positions in the batch (of the files asked for) whose file could not be decoded and
    /// was left out, with `skip_bad_files`; empty otherwise.
    pub skipped: Vec<usize>,
}

/// The batches of one epoch, produced in the background. Iterate it, or call
/// [`next_batch`](Self::next_batch) and hand buffers back with [`recycle`](Self::recycle)
/// so that no batch is allocated after the first few.
pub struct Epoch {
    ready: Vec<Receiver<Result<Batch>>>,
    free: Vec<SyncSender<Batch>>,
    next: usize,
    total: usize,
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Epoch")
            .field("next", &self.next)
            .field("total", &self.total)
            .finish()
    }
}

impl Epoch {
    pub(super) fn start(
        ds: &ImageDataset,
        epoch: usize,
        order: Vec<usize>,
        workers: usize,
        shard: Option<(usize, usize)>,
    ) -> Epoch {
        let bs = ds.batch_size().unwrap_or(1);
        let total = order.len().div_ceil(bs);
        let workers = workers.clamp(1, total.max(1));
        let order = Arc::new(order);
        let stop = Arc::new(AtomicBool::new(false));
        let mut ready = Vec::with_capacity(workers);
        let mut free = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel::<Result<Batch>>(PREFETCH);
            let (ftx, frx) = sync_channel::<Batch>(PREFETCH + 2);
            let job = Job {
                ds: ds.clone(),
                order: order.clone(),
                epoch,
                bs,
                shard,
            };
            let stop = stop.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("rkeras-data-{w}"))
                .spawn(move || {
                    lower_priority();
                    job.run(w, workers, total, &tx, &frx, &stop)
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // No thread: the consumer sees the error at this worker's first batch.
                    let (etx, erx) = sync_channel::<Result<Batch>>(1);
                    let _ = etx.send(Err(Error::State(format!(
                        "cannot start a data loading thread: {e}"
                    ))));
                    ready.push(erx);
                    free.push(ftx);
                    continue;
                }
            }
            ready.push(rx);
            free.push(ftx);
        }
        Epoch {
            ready,
            free,
            next: 0,
            total,
            stop,
            handles,
        }
    }

    /// Number of batches in the epoch.
    pub fn len(&self) -> usize {
        self.total
    }
    /// True for an epoch without batches.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The next batch, in order; `None` after the last.
    ///
    /// # Errors
    /// A file that cannot be read or decoded (named in the error).
    pub fn next_batch(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.total {
            return None;
        }
        let w = self.next % self.ready.len();
        self.next += 1;
        Some(self.ready[w].recv().unwrap_or_else(|_| {
            Err(Error::State(
                "a data loading thread stopped unexpectedly".into(),
            ))
        }))
    }

    /// Gives a consumed batch's buffers back to the worker that will fill them next.
    pub fn recycle(&mut self, batch: Batch) {
        let w = batch.index % self.free.len().max(1);
        if let Some(f) = self.free.get(w) {
            let _ = f.try_send(batch);
        }
    }
}

impl Iterator for Epoch {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch()
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.ready.clear();
        self.free.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

struct Job {
    ds: ImageDataset,
    order: Arc<Vec<usize>>,
    epoch: usize,
    bs: usize,
    /// `(rank, size)`: read only this rank's rows of each batch (the others stay zero).
    shard: Option<(usize, usize)>,
}

impl Job {
    fn run(
        &self,
        w: usize,
        workers: usize,
        total: usize,
        tx: &SyncSender<Result<Batch>>,
        free: &Receiver<Batch>,
        stop: &AtomicBool,
    ) {
        let mut scratch = Vec::new();
        for b in (w..total).step_by(workers) {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let mut batch = match free.try_recv() {
                Ok(batch) => batch,
                Err(TryRecvError::Empty) => Batch::default(),
                Err(TryRecvError::Disconnected) => return,
            };
            let r = self.fill(b, &mut batch, &mut scratch).map(|()| batch);
            let failed = r.is_err();
            if tx.send(r).is_err() || failed {
                return;
            }
        }
    }

    fn fill(&self, b: usize, batch: &mut Batch, scratch: &mut Vec<f32>) -> Result<()> {
        let ds = &self.ds;
        let rows = &self.order[b * self.bs..((b + 1) * self.bs).min(self.order.len())];
        let [h, w, c] = ds.image_shape();
        let per = h * w * c;
        let ll = ds.label_len();
        batch.index = b;
        batch.skipped.clear();
        batch.x.resize(rows.len() * per, 0.0);
        batch.y.resize(rows.len() * ll, 0.0);
        // `k` counts the images kept; `pos` the files asked for (augmentation streams and
        // skipped positions follow the file's place in the epoch).
        let mut k = 0;
        let n = rows.len();
        let (lo, hi) = self
            .shard
            .map_or((0, n), |(r, p)| (r * n / p, (r + 1) * n / p));
        for (pos, &i) in rows.iter().enumerate() {
            let out = &mut batch.x[k * per..(k + 1) * per];
            if !(lo..hi).contains(&pos) {
                // Another rank's row: its label only (cheap), the image left blank.
                out.fill(0.0);
                if ll > 0 {
                    let label = ds.inner.labels.as_ref().map_or(0, |l| l[i]);
                    encode_label(ds, label, &mut batch.y[k * ll..(k + 1) * ll]);
                }
                k += 1;
                continue;
            }
            if let Err(e) = load_image(ds, i, out) {
                if !ds.spec.skip_bad_files {
                    return Err(Error::State(format!(
                        "{e} (skip_bad_files / --skip-bad-files skips such files)"
                    )));
                }
                ds.note_skipped(i, &e);
                batch.skipped.push(pos);
                continue;
            }
            if let Some(aug) = &ds.augment {
                let stream = (self.epoch as u64) << 32 | (b * self.bs + pos) as u64;
                aug.apply_one(out, [h, w, c], ds.seed() as u64, stream, scratch);
            }
            if ll > 0 {
                let label = ds.inner.labels.as_ref().map_or(0, |l| l[i]);
                encode_label(ds, label, &mut batch.y[k * ll..(k + 1) * ll]);
            }
            k += 1;
        }
        batch.n = k;
        batch.x.truncate(k * per);
        batch.y.truncate(k * ll);
        Ok(())
    }
}

fn encode_label(ds: &ImageDataset, label: i64, out: &mut [f32]) {
    match ds.label_mode() {
        LabelMode::Categorical => {
            out.fill(0.0);
            // tf.one_hot: an out-of-range value gives a row of zeros.
            if let Some(v) = usize::try_from(label).ok().and_then(|k| out.get_mut(k)) {
                *v = 1.0;
            }
        }
        LabelMode::Int | LabelMode::Binary => out[0] = label as f32,
        LabelMode::None => {}
    }
}

/// Writes image `i` of `ds`, decoded and resized, into `out` (from the cache when there).
pub(crate) fn load_image(ds: &ImageDataset, i: usize, out: &mut [f32]) -> Result<()> {
    if let Some(cache) = &ds.inner.cache {
        if let Some(img) = cache[i].get() {
            out.copy_from_slice(img);
            return Ok(());
        }
    }
    let path = &ds.inner.paths[i];
    ds.inner.decoded.fetch_add(1, Ordering::Relaxed);
    let bytes = image_file::read(path)?;
    let d = image_file::decode(path, &bytes, ds.spec.color.channels())?;
    let [th, tw, c] = ds.image_shape();
    let src = ImageRef::new(&d.pixels, d.h, d.w, c);
    let interp = ds.spec.interpolation;
    match ds.spec.aspect {
        Aspect::Stretch => kimage::resize(src, th, tw, interp, out),
        Aspect::Crop => {
            let (top, left, ch, cw) = kimage::aspect_crop(d.h, d.w, th, tw);
            let window = kimage::crop(src, top, left, ch, cw);
            kimage::resize(ImageRef::new(&window, ch, cw, c), th, tw, interp, out);
        }
        Aspect::Pad => {
            let (top, left, rh, rw) = kimage::aspect_pad(d.h, d.w, th, tw);
            let mut inner = vec![0.0f32; rh * rw * c];
            kimage::resize(src, rh, rw, interp, &mut inner);
            out.fill(0.0);
            for y in 0..rh {
                let dst = ((top + y) * tw + left) * c;
                out[dst..dst + rw * c].copy_from_slice(&inner[y * rw * c..(y + 1) * rw * c]);
            }
        }
    }
    if let Some(cache) = &ds.inner.cache {
        let _ = cache[i].set(Arc::from(&*out));
    }
    Ok(())
}

/// Lowers the calling thread's scheduling priority, so that on a machine whose cores are all
/// busy training, decoding uses the gaps instead of pre-empting the training threads (a
/// pre-empted worker stalls every parallel section it belongs to).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; on Linux, `who = 0` with
    // PRIO_PROCESS names the calling thread. A failure just leaves the priority unchanged.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}
