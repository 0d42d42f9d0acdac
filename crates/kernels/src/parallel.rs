//! Fixed work decomposition scheduled on rayon's pool, and per-thread scratch buffers.
//! Every region opened here can be accounted for by [`crate::regions`].
//!
//! The rule of this crate: the split of work into tasks never depends on the thread count.
//! Threads only pick up tasks, so any reduction order is fixed and results are bitwise
//! reproducible with 1, 2 or 64 threads.

use crate::regions::Probe;
use rayon::prelude::*;
use std::sync::Mutex;

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

/// One scratch buffer per pool thread, picked by `rayon::current_thread_index()`.
///
/// Allocated once (when a layer is built); [`Scratch::ensure`] grows it if the pool or the
/// needed length grew. Each slot sits behind an uncontended mutex, so sharing is safe even
/// when a task runs outside the pool.
#[derive(Debug, Default)]
pub struct Scratch {
    slots: Vec<Mutex<Vec<f32>>>,
    len: usize,
}

impl Clone for Scratch {
    /// Slots of the same length for the current pool, zeroed (scratch holds nothing
    /// between calls, so a copy has its own).
    fn clone(&self) -> Self {
        Scratch::new(self.len)
    }
}

impl Scratch {
    /// Scratch of `len` floats for each thread of the current pool.
    pub fn new(len: usize) -> Self {
        let mut s = Scratch::default();
        s.ensure(len);
        s
    }

    /// Makes sure there is a slot of at least `len` floats for every thread of the current
    /// pool. Allocates only when something grew.
    pub fn ensure(&mut self, len: usize) {
        let threads = rayon::current_num_threads().max(1);
        if len > self.len {
            self.len = len;
            for slot in &mut self.slots {
                let v = slot.get_mut().unwrap_or_else(|e| e.into_inner());
                // Scratch holds nothing between calls: a fresh zeroed allocation, whose
                // pages the system maps only when a call first writes them (a batch of
                // one touches a fraction of a slot sized for the largest batch).
                *v = vec![0.0; len];
            }
        }
        while self.slots.len() < threads {
            self.slots.push(Mutex::new(vec![0.0; self.len]));
        }
    }

    /// Length of each slot.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the slots hold nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Locks the calling thread's slot (uncontended: one slot per pool thread).
    #[inline]
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Vec<f32>> {
        let i = rayon::current_thread_index().unwrap_or(0) % self.slots.len().max(1);
        self.slots[i].lock().unwrap_or_else(|e| e.into_inner())
    }
}
