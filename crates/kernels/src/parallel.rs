//! Fixed work decomposition scheduled on rayon's pool, and per-thread scratch buffers.
//! Every region opened here can be accounted for by [`crate::regions`].
//!
//! The rule of this crate: the split of work into tasks never depends on the thread count.
//! Threads only pick up tasks, so any reduction order is fixed and results are bitwise
//! reproducible with 1, 2 or 64 threads.

use crate::regions::Probe;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// Runs `f(task)` for every task in `0..n_tasks`, in parallel when the pool has more than
/// one thread. `f` must only touch data owned by its task.
#[track_caller]
pub fn for_each_task<F: Fn(usize) + Sync + Send>(n_tasks: usize, f: F) {
    let probe = Probe::new(n_tasks);
    let f = |i: usize| probe.task(|| f(i));
    if n_tasks <= 1 || rayon::current_num_threads() <= 1 {
        (0..n_tasks).for_each(f);
    } else {
        (0..n_tasks).into_par_iter().for_each(f);
    }
}

/// Runs `a` and `b`, possibly side by side (`rayon::join`), as one region of two tasks.
///
/// ```
/// let (x, y) = rkeras_kernels::parallel::join(|| 1 + 1, || 2 * 2);
/// assert_eq!((x, y), (2, 4));
/// ```
#[track_caller]
pub fn join<RA: Send, RB: Send>(
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    let probe = Probe::new(2);
    rayon::join(|| probe.task(a), || probe.task(b))
}

/// Splits `data` into chunks of `chunk` elements (the last may be shorter) and runs
/// `f(chunk_index, chunk)` on each, in parallel when the pool has more than one thread.
#[track_caller]
pub fn for_each_chunk_mut<T: Send, F: Fn(usize, &mut [T]) + Sync + Send>(
    data: &mut [T],
    chunk: usize,
    f: F,
) {
    let chunk = chunk.max(1);
    let probe = Probe::new(data.len().div_ceil(chunk));
    let f = |i: usize, c: &mut [T]| probe.task(|| f(i, c));
    if data.len() <= chunk || rayon::current_num_threads() <= 1 {
        data.chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    } else {
        data.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    }
}

/// Like [`for_each_chunk_mut`] over two slices split in step: chunk `i` of `a` (size `ca`)
/// goes with chunk `i` of `b` (size `cb`). Both must yield the same number of chunks.
#[track_caller]
pub fn for_each_chunk_pair_mut<A: Send, B: Send, F>(
    a: &mut [A],
    ca: usize,
    b: &mut [B],
    cb: usize,
    f: F,
) where
    F: Fn(usize, &mut [A], &mut [B]) + Sync + Send,
{
    let (ca, cb) = (ca.max(1), cb.max(1));
    let probe = Probe::new(a.len().div_ceil(ca));
    let f = |i: usize, x: &mut [A], y: &mut [B]| probe.task(|| f(i, x, y));
    debug_assert_eq!(a.len().div_ceil(ca), b.len().div_ceil(cb));
    if a.len() <= ca || rayon::current_num_threads() <= 1 {
        a.chunks_mut(ca)
            .zip(b.chunks_mut(cb))
            .enumerate()
            .for_each(|(i, (x, y))| f(i, x, y));
    } else {
        a.par_chunks_mut(ca)
            .zip(b.par_chunks_mut(cb))
            .enumerate()
            .for_each(|(i, (x, y))| f(i, x, y));
    }
}

/// Runs `f(i, &mut items[i], a_i, b_i)` for every item, in parallel when the pool has more
/// than one thread, where `a_i` is chunk `i` of `a` (chunks of `ca` elements, the last may be
/// shorter) and `b_i` chunk `i` of `b` (chunks of `cb`), when given. `a` (and `b`) must
/// yield one chunk per item.
///
/// ```
/// let mut sums = [0.0f32; 2];
/// let mut data = [1.0f32, 2.0, 3.0, 4.0, 5.0];
/// rkeras_kernels::parallel::for_each_item_with_chunks(&mut sums, &mut data, 3, None, |_, s, a, _| {
///     *s = a.iter().sum();
/// });
/// assert_eq!(sums, [6.0, 9.0]);
/// ```
#[track_caller]
pub fn for_each_item_with_chunks<T: Send, F>(
    items: &mut [T],
    a: &mut [f32],
    ca: usize,
    b: Option<(&mut [f32], usize)>,
    f: F,
) where
    F: Fn(usize, &mut T, &mut [f32], Option<&mut [f32]>) + Sync + Send,
{
    let ca = ca.max(1);
    debug_assert_eq!(items.len(), a.len().div_ceil(ca));
    let probe = Probe::new(items.len());
    let f =
        |i: usize, t: &mut T, x: &mut [f32], y: Option<&mut [f32]>| probe.task(|| f(i, t, x, y));
    let serial = items.len() <= 1 || rayon::current_num_threads() <= 1;
    match b {
        None if serial => items
            .iter_mut()
            .zip(a.chunks_mut(ca))
            .enumerate()
            .for_each(|(i, (t, x))| f(i, t, x, None)),
        None => items
            .par_iter_mut()
            .zip(a.par_chunks_mut(ca))
            .enumerate()
            .for_each(|(i, (t, x))| f(i, t, x, None)),
        Some((b, cb)) => {
            let cb = cb.max(1);
            debug_assert_eq!(items.len(), b.len().div_ceil(cb));
            if serial {
                items
                    .iter_mut()
                    .zip(a.chunks_mut(ca))
                    .zip(b.chunks_mut(cb))
                    .enumerate()
                    .for_each(|(i, ((t, x), y))| f(i, t, x, Some(y)));
            } else {
                items
                    .par_iter_mut()
                    .zip(a.par_chunks_mut(ca))
                    .zip(b.par_chunks_mut(cb))
                    .enumerate()
                    .for_each(|(i, ((t, x), y))| f(i, t, x, Some(y)));
            }
        }
    }
}

/// Per-thread scratch buffers, and per-thread buffers of kernel-gradient partials, that any
/// number of layers may share.
///
/// A layer builds its own ([`Scratch::default`]); a model hands every layer one pool
/// ([`Scratch::share`]), so that the model holds scratch for its largest layer only, not
/// for the sum of its layers. [`Scratch::ensure`] and [`Scratch::ensure_partials`] grow
/// the pool (when a layer is allocated); [`Scratch::lock`] takes the calling thread's slot.
///
/// Scratch holds nothing between calls: a caller writes every float it reads. A slot held
/// by its thread while that thread, waiting inside a parallel call, runs another task that
/// asks for it again (or another model's task, or a thread beyond the slots) gets a spare
/// buffer instead: never a deadlock, and spares are kept for the next time.
///
/// ```
/// use rkeras_kernels::Scratch;
/// let mut own = Scratch::default();
/// let mut shared = own.share();
/// own.ensure(16);
/// shared.ensure(64);
/// assert_eq!(own.len(), 64);
/// let mut slot = own.lock();
/// slot[..4].copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(slot.len(), 64);
/// ```
#[derive(Debug, Default)]
pub struct Scratch {
    pool: Arc<Pool>,
}

/// Slots per pool; threads past this many share slots (then one of two gets a spare).
const SLOTS: usize = 64;

#[derive(Debug)]
struct Pool {
    slots: Vec<Mutex<Vec<f32>>>,
    /// One buffer of partials per thread: two sample groups' backward passes that overlap
    /// each find one, whenever they overlap (the first overlap may come at any step).
    partials: Vec<Mutex<Vec<f32>>>,
    /// Buffers handed out when a slot (or every partials buffer) was taken, kept for reuse.
    spares: Mutex<Vec<Vec<f32>>>,
    len: AtomicUsize,
    partials_len: AtomicUsize,
    /// Whether the partials of every thread have their length (set at their first use).
    partials_filled: AtomicBool,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            slots: (0..SLOTS).map(|_| Mutex::new(Vec::new())).collect(),
            partials: (0..SLOTS).map(|_| Mutex::new(Vec::new())).collect(),
            // Room for every spare a pool can hold at once: returning one never grows it.
            spares: Mutex::new(Vec::with_capacity(2 * SLOTS)),
            len: AtomicUsize::new(0),
            partials_len: AtomicUsize::new(0),
            partials_filled: AtomicBool::new(false),
        }
    }
}

/// A fresh buffer of `len` floats: zeroed pages the system maps only when first written
/// (a batch of one touches a fraction of a slot sized for the largest batch). Debug builds
/// fill it with NaN, so that a caller reading a float it did not write shows up in tests.
fn fresh(len: usize) -> Vec<f32> {
    if cfg!(debug_assertions) {
        vec![f32::NAN; len]
    } else {
        vec![0.0; len]
    }
}

fn unpoisoned<T>(r: std::sync::LockResult<T>) -> T {
    r.unwrap_or_else(|e| e.into_inner())
}

/// The buffer behind `m` unless another caller holds it (a poisoned lock still gives it:
/// scratch holds nothing between calls).
fn try_hold(m: &Mutex<Vec<f32>>) -> Option<MutexGuard<'_, Vec<f32>>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

impl Clone for Scratch {
    /// A pool of its own with the same lengths (scratch holds nothing between calls).
    fn clone(&self) -> Self {
        let mut s = Scratch::new(self.len());
        s.ensure_partials(self.partials_len());
        s
    }
}

impl Scratch {
    /// Scratch of `len` floats for each thread of the current pool.
    pub fn new(len: usize) -> Self {
        let mut s = Scratch::default();
        s.ensure(len);
        s
    }

    /// Another handle on the same pool.
    pub fn share(&self) -> Scratch {
        Scratch {
            pool: Arc::clone(&self.pool),
        }
    }

    /// Makes sure there is a slot of at least `len` floats for every thread of the current
    /// pool. Allocates only when something grew.
    pub fn ensure(&mut self, len: usize) {
        let p = &self.pool;
        let grew = len > p.len.load(Ordering::Relaxed);
        if grew {
            p.len.store(len, Ordering::Relaxed);
            unpoisoned(p.spares.lock()).clear();
        }
        let len = p.len.load(Ordering::Relaxed);
        let threads = rayon::current_num_threads().clamp(1, SLOTS);
        for slot in &p.slots[..threads] {
            let mut v = unpoisoned(slot.lock());
            if v.len() < len {
                *v = fresh(len);
            }
        }
    }

    /// Makes sure the kernel-gradient partials will hold at least `len` floats. Allocates
    /// nothing: the first call of [`partials`](Self::partials) after a growth sizes the
    /// buffers of every thread of its pool at once (a model that only predicts never pays
    /// for them, and a training step allocates them in its first backward pass, not at
    /// whatever later step two sample groups first overlap).
    pub fn ensure_partials(&mut self, len: usize) {
        let p = &self.pool;
        if len > p.partials_len.load(Ordering::Relaxed) {
            p.partials_len.store(len, Ordering::Relaxed);
            p.partials_filled.store(false, Ordering::Relaxed);
            unpoisoned(p.spares.lock()).clear();
        }
    }

    /// Length of each slot.
    pub fn len(&self) -> usize {
        self.pool.len.load(Ordering::Relaxed)
    }

    /// Length of the partials.
    pub fn partials_len(&self) -> usize {
        self.pool.partials_len.load(Ordering::Relaxed)
    }

    /// True when the slots hold nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The calling thread's slot, [`len`](Self::len) floats (a spare when it is taken).
    #[inline]
    pub fn lock(&self) -> ScratchGuard<'_> {
        let i = rayon::current_thread_index().unwrap_or(0) % SLOTS;
        self.take(&self.pool.slots[i], self.len())
    }

    /// Kernel-gradient partials, [`partials_len`](Self::partials_len) floats: the first
    /// free buffer of the pool's (a spare when every one is held).
    #[inline]
    pub fn partials(&self) -> ScratchGuard<'_> {
        let len = self.partials_len();
        if !self.pool.partials_filled.load(Ordering::Relaxed) {
            let threads = rayon::current_num_threads().clamp(1, SLOTS);
            for m in &self.pool.partials[..threads] {
                // A held one was handed out, so it already has this length.
                let Some(mut v) = try_hold(m) else { continue };
                if v.len() < len {
                    *v = fresh(len);
                }
            }
            self.pool.partials_filled.store(true, Ordering::Relaxed);
        }
        for m in &self.pool.partials {
            let Some(g) = try_hold(m) else { continue };
            if g.len() < len {
                // The buffers past the pool's threads are empty: none of them is free.
                break;
            }
            return ScratchGuard {
                buf: Held::Slot(g),
                len,
                pool: &self.pool,
            };
        }
        self.take(&self.pool.partials[0], len)
    }

    fn take<'a>(&'a self, m: &'a Mutex<Vec<f32>>, len: usize) -> ScratchGuard<'a> {
        let buf = match try_hold(m) {
            Some(mut g) => {
                if g.len() < len {
                    *g = fresh(len);
                }
                Held::Slot(g)
            }
            None => {
                let mut spares = unpoisoned(self.pool.spares.lock());
                let spare = spares
                    .iter()
                    .position(|v| v.len() >= len)
                    .map(|i| spares.swap_remove(i));
                drop(spares);
                Held::Spare(spare.unwrap_or_else(|| fresh(len)))
            }
        };
        ScratchGuard {
            buf,
            len,
            pool: &self.pool,
        }
    }
}

/// A slot (or the partials) of a [`Scratch`], held until dropped.
#[derive(Debug)]
pub struct ScratchGuard<'a> {
    buf: Held<'a>,
    len: usize,
    pool: &'a Pool,
}

#[derive(Debug)]
enum Held<'a> {
    Slot(MutexGuard<'a, Vec<f32>>),
    Spare(Vec<f32>),
}

impl std::ops::Deref for ScratchGuard<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match &self.buf {
            Held::Slot(g) => &g[..self.len],
            Held::Spare(v) => &v[..self.len],
        }
    }
}

impl std::ops::DerefMut for ScratchGuard<'_> {
    fn deref_mut(&mut self) -> &mut [f32] {
        match &mut self.buf {
            Held::Slot(g) => &mut g[..self.len],
            Held::Spare(v) => &mut v[..self.len],
        }
    }
}

impl Drop for ScratchGuard<'_> {
    fn drop(&mut self) {
        if let Held::Spare(v) = &mut self.buf {
            let v = std::mem::take(v);
            unpoisoned(self.pool.spares.lock()).push(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Handles on one pool see one length: the largest any of them asked for.
    #[test]
    fn a_shared_pool_is_sized_for_its_largest_user() {
        let mut a = Scratch::default();
        let mut b = a.share();
        a.ensure(100);
        b.ensure(40);
        a.ensure_partials(7);
        b.ensure_partials(30);
        assert_eq!((a.len(), b.len()), (100, 100));
        assert_eq!((a.partials_len(), b.partials_len()), (30, 30));
        assert_eq!(a.lock().len(), 100);
        assert_eq!(b.partials().len(), 30);
        // A clone is a pool of its own, of the same lengths.
        let mut c = a.clone();
        c.ensure(500);
        assert_eq!((a.len(), c.len(), c.partials_len()), (100, 500, 30));
    }

    /// A slot asked for again while held (a thread that picked up another task while
    /// waiting) is a spare, not a deadlock; the spare is kept for the next time.
    #[test]
    fn a_held_slot_gives_a_spare() {
        let s = Scratch::new(8);
        let mut first = s.lock();
        first.fill(1.0);
        {
            let mut second = s.lock();
            second.fill(2.0);
            let mut third = s.partials();
            assert!(third.is_empty());
            third.fill(3.0);
        }
        assert!(first.iter().all(|&v| v == 1.0));
        assert_eq!(unpoisoned(s.pool.spares.lock()).len(), 1);
        {
            let again = s.lock();
            assert_eq!(again.len(), 8);
            assert!(unpoisoned(s.pool.spares.lock()).is_empty());
        }
        drop(first);
        let mut p = s.partials();
        assert!(p.is_empty());
        p.fill(0.0);
    }

    /// Every thread of the pool has partials of its own: two held at once (two sample
    /// groups' backward passes that overlap) take no spare and allocate nothing.
    #[test]
    fn overlapping_partials_take_no_spare() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("pool");
        pool.install(|| {
            let mut s = Scratch::default();
            s.ensure_partials(16);
            let mut a = s.partials();
            let mut b = s.partials();
            a.fill(1.0);
            b.fill(2.0);
            assert!(a.iter().all(|&v| v == 1.0) && b.iter().all(|&v| v == 2.0));
            assert!(matches!(a.buf, Held::Slot(_)) && matches!(b.buf, Held::Slot(_)));
            // A third at once (a nested task) gets a spare, kept for the next time.
            let c = s.partials();
            assert!(matches!(c.buf, Held::Spare(_)));
            drop(c);
            assert_eq!(unpoisoned(s.pool.spares.lock()).len(), 1);
        });
    }
}
