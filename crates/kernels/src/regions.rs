//! Accounting of the parallel regions, to find where a core waits (`rkeras bench w1
//! --regions` prints it).
//!
//! Off by default, when a region costs one relaxed atomic load. When on, every top-level
//! region of [`crate::parallel`] (one not nested in another region's task) adds to its call
//! site's totals:
//! - its wall time, and the time its tasks ran (summed over threads);
//! - the start delay: from the first thread's first task to the last thread's;
//! - the tail: from the first thread's last task end to the last thread's.
//!
//! With `t` threads, `t * wall - task time` is what the threads spent waiting in the region.
//!
//! ```
//! use rkeras_kernels::{parallel, regions};
//! regions::enable(true);
//! parallel::for_each_task(4, |_| {});
//! regions::enable(false);
//! let stats = regions::take();
//! assert_eq!(stats.len(), 1);
//! assert_eq!((stats[0].calls, stats[0].tasks), (1, 4));
//! ```

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

static ON: AtomicBool = AtomicBool::new(false);

type Key = (&'static Location<'static>, usize);
static TOTALS: Mutex<Option<HashMap<Key, RegionStats>>> = Mutex::new(None);

thread_local! {
    /// Regions' tasks this thread is inside (a region opened inside a task is not counted
    /// apart: its time belongs to the task).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Threads told apart by a region's start and tail (thread index modulo this).
const SLOTS: usize = 8;

/// The totals of one call site of a parallel region, for one task count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegionStats {
    /// Source file of the call site.
    pub file: &'static str,
    /// Line of the call site.
    pub line: u32,
    /// Tasks per call.
    pub tasks: usize,
    /// Calls counted.
    pub calls: u64,
    /// Wall time, seconds.
    pub wall: f64,
    /// Time the tasks ran, summed over threads, seconds.
    pub busy: f64,
    /// Start delays, seconds (see the module's documentation).
    pub start: f64,
    /// Tails, seconds.
    pub tail: f64,
}

impl RegionStats {
    /// Seconds the `threads` threads spent waiting inside the region.
    pub fn idle(&self, threads: usize) -> f64 {
        (threads as f64 * self.wall - self.busy).max(0.0)
    }
}

/// Turns the accounting on (clearing earlier totals) or off.
pub fn enable(on: bool) {
    if on {
        *TOTALS.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    ON.store(on, Ordering::Relaxed);
}

/// The totals counted so far, one entry per call site and task count, largest wall time
/// first; clears them.
pub fn take() -> Vec<RegionStats> {
    let totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner()).take();
    let mut v: Vec<RegionStats> = totals
        .map(|m| m.into_values().collect())
        .unwrap_or_default();
    v.sort_by(|a, b| b.wall.total_cmp(&a.wall));
    v
}

/// One region's measurement, alive for the region's duration.
pub(crate) struct Probe {
    on: Option<Measure>,
}

struct Measure {
    key: Key,
    t0: Instant,
    busy: AtomicU64,
    first: [AtomicU64; SLOTS],
    last: [AtomicU64; SLOTS],
}

impl Probe {
    /// Starts measuring a region of `tasks` tasks called from the caller's call site, when
    /// the accounting is on and the region is not nested in a task.
    #[track_caller]
    #[inline]
    pub(crate) fn new(tasks: usize) -> Self {
        if !ON.load(Ordering::Relaxed) || DEPTH.with(Cell::get) > 0 {
            return Probe { on: None };
        }
        Probe {
            on: Some(Measure {
                key: (Location::caller(), tasks),
                t0: Instant::now(),
                busy: AtomicU64::new(0),
                first: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
                last: std::array::from_fn(|_| AtomicU64::new(0)),
            }),
        }
    }

    /// Runs one task of the region.
    #[inline]
    pub(crate) fn task<R>(&self, f: impl FnOnce() -> R) -> R {
        let Some(m) = &self.on else { return f() };
        let slot = rayon::current_thread_index().unwrap_or(0) % SLOTS;
        let begin = m.t0.elapsed().as_nanos() as u64;
        m.first[slot].fetch_min(begin, Ordering::Relaxed);
        DEPTH.with(|d| d.set(d.get() + 1));
        let r = f();
        DEPTH.with(|d| d.set(d.get() - 1));
        let end = m.t0.elapsed().as_nanos() as u64;
        m.busy.fetch_add(end - begin, Ordering::Relaxed);
        m.last[slot].fetch_max(end, Ordering::Relaxed);
        r
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let Some(m) = &self.on else { return };
        let wall = m.t0.elapsed().as_secs_f64();
        let used = || (0..SLOTS).filter(|&s| m.first[s].load(Ordering::Relaxed) != u64::MAX);
        let spread = |a: &[AtomicU64; SLOTS]| {
            let v = used().map(|s| a[s].load(Ordering::Relaxed));
            let (lo, hi) = v.fold((u64::MAX, 0), |(lo, hi), x| (lo.min(x), hi.max(x)));
            hi.saturating_sub(lo) as f64 * 1e-9
        };
        let (start, tail) = (spread(&m.first), spread(&m.last));
        let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
        let (loc, tasks) = m.key;
        let e = totals
            .get_or_insert_with(HashMap::new)
            .entry(m.key)
            .or_insert(RegionStats {
                file: loc.file(),
                line: loc.line(),
                tasks,
                calls: 0,
                wall: 0.0,
                busy: 0.0,
                start: 0.0,
                tail: 0.0,
            });
        e.calls += 1;
        e.wall += wall;
        e.busy += m.busy.load(Ordering::Relaxed) as f64 * 1e-9;
        e.start += start;
        e.tail += tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::{for_each_chunk_mut, for_each_task};

    #[test]
    fn counts_top_level_regions_per_call_site() {
        // One test drives the global switch (tests of other modules run with it off, and a
        // region they open meanwhile would only add an entry of its own call site).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("pool");
        pool.install(|| {
            enable(true);
            let mut data = vec![0.0f32; 64];
            for _ in 0..3 {
                for_each_chunk_mut(&mut data, 16, |_, c| {
                    // Nested: part of the task, not a region of its own.
                    for_each_task(2, |_| std::hint::black_box(()));
                    c.fill(1.0);
                });
            }
            enable(false);
            for_each_task(5, |_| {});
        });
        let stats = take();
        let ours: Vec<_> = stats
            .iter()
            .filter(|s| s.file.ends_with("regions.rs"))
            .collect();
        assert_eq!(ours.len(), 1, "{stats:?}");
        let s = ours[0];
        assert_eq!((s.calls, s.tasks), (3, 4));
        assert!(s.wall > 0.0 && s.busy > 0.0 && s.start >= 0.0 && s.tail >= 0.0);
        assert!(s.idle(2) <= 2.0 * s.wall);
    }
}
