//! [`Comm`] over MPI's world communicator (the `mpi` crate, Open MPI underneath).

use super::Comm;
use crate::error::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(super) struct MpiComm {
    world: SimpleCommunicator,
    /// A duplicate of the world for the gradients' non-blocking sums: collectives match
    /// per communicator, so the sums in flight never meet the world's other collectives.
    grads: SimpleCommunicator,
    /// The sums started and not yet waited for.
    pending: Mutex<Vec<Request>>,
}

/// A raw MPI request (laid out as one, so that a slice of them is MPI's array).
#[repr(transparent)]
struct Request(ffi::MPI_Request);

// SAFETY: MPI is initialised with `Threading::Serialized` (checked in `init`): any thread
// may call it, one at a time. rkeras calls it only through the distribution's mutex, so the
// calls are serialised; the communicator and request handles are plain pointers that MPI
// lets any thread use under that level.
unsafe impl Send for MpiComm {}
// SAFETY: as above; `&MpiComm` is only used under the distribution's mutex.
unsafe impl Sync for MpiComm {}
// SAFETY: as above (a request handle used by one thread at a time, under the mutex).
unsafe impl Send for Request {}

/// How long a rank waits inside one collective operation before it concludes that another
/// rank hung or died: 600 s unless `RKERAS_MPI_TIMEOUT` (seconds) says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The watchdog's view: since when (milliseconds after `start`, 0: not waiting) this rank
/// waits inside a collective, and the limit.
struct Watch {
    start: Instant,
    since_ms: AtomicU64,
    what: Mutex<&'static str>,
    timeout_ms: AtomicU64,
}

static WATCH: std::sync::OnceLock<Watch> = std::sync::OnceLock::new();

fn watch() -> &'static Watch {
    WATCH.get_or_init(|| Watch {
        start: Instant::now(),
        since_ms: AtomicU64::new(0),
        what: Mutex::new(""),
        timeout_ms: AtomicU64::new(DEFAULT_TIMEOUT.as_millis() as u64),
    })
}

/// Marks this rank as waiting inside a collective until dropped.
struct Waiting;

impl Waiting {
    fn new(what: &'static str) -> Waiting {
        let w = watch();
        if let Ok(mut g) = w.what.lock() {
            *g = what;
        }
        let now = w.start.elapsed().as_millis() as u64;
        w.since_ms.store(now.max(1), Ordering::Release);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        watch().since_ms.store(0, Ordering::Release);
    }
}

/// Sets how long a rank may wait inside one collective operation (see [`start_watchdog`]).
pub(super) fn set_timeout(t: Duration) {
    watch().timeout_ms.store(
        t.as_millis().clamp(1, u128::from(u64::MAX)) as u64,
        Ordering::Release,
    );
}

/// A thread that ends this rank with a message when it has waited longer than the timeout
/// inside one collective: another rank hung (or died without the runtime noticing), and
/// `mpirun` then ends the job instead of every rank waiting forever.
fn start_watchdog(rank: usize) {
    let w = watch();
    if let Some(t) = std::env::var("RKERAS_MPI_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t > 0.0)
    {
        set_timeout(Duration::from_secs_f64(t));
    }
    let spawned = std::thread::Builder::new()
        .name("rkeras-mpi-watchdog".into())
        .spawn(move || loop {
            let limit = w.timeout_ms.load(Ordering::Acquire);
            std::thread::sleep(Duration::from_millis((limit / 4).clamp(10, 1000)));
            let since = w.since_ms.load(Ordering::Acquire);
            if since == 0 {
                continue;
            }
            let waited = (w.start.elapsed().as_millis() as u64).saturating_sub(since);
            if waited > limit {
                let what = w.what.lock().map(|g| *g).unwrap_or("a collective");
                eprintln!(
                    "error: rank {rank} waited {:.1} s in {what} for the other ranks: a rank hung or died; ending this rank so that mpirun ends the job (the limit is {:.1} s: RKERAS_MPI_TIMEOUT=SECONDS or DataParallel::set_timeout)",
                    waited as f64 / 1e3,
                    limit as f64 / 1e3
                );
                // SAFETY: `_exit` ends the process at once, without running exit handlers
                // (MPI's could wait on the ranks that do not answer).
                unsafe { libc::_exit(75) };
            }
        });
    if spawned.is_err() {
        eprintln!("warning: rank {rank}: no watchdog thread; a hung rank would make this one wait forever");
    }
}

/// Initialises MPI: the universe (finalised when dropped) and the world communicator.
pub(super) fn init() -> Result<(mpi::environment::Universe, MpiComm)> {
    let (universe, level) =
        mpi::initialize_with_threading(mpi::Threading::Serialized).ok_or_else(|| {
            Error::State(
                "MPI is already initialised in this process (one DataParallel per process)".into(),
            )
        })?;
    if level < mpi::Threading::Serialized {
        return Err(Error::State(format!(
            "this MPI library offers thread level {level:?}; rkeras's data-parallel fit needs Serialized (Open MPI 4 does)"
        )));
    }
    let world = universe.world();
    let grads = world.duplicate();
    start_watchdog(world.rank() as usize);
    Ok((
        universe,
        MpiComm {
            world,
            grads,
            pending: Mutex::new(Vec::new()),
        },
    ))
}

impl MpiComm {
    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<Request>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Comm for MpiComm {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn size(&self) -> usize {
        self.world.size() as usize
    }
    fn all_reduce_f32(&self, send: &[f32], recv: &mut [f32]) {
        let _w = Waiting::new("a sum over the ranks");
        self.world
            .all_reduce_into(send, recv, SystemOperation::sum());
    }
    fn all_reduce_f64(&self, send: &[f64], recv: &mut [f64]) {
        let _w = Waiting::new("a sum over the ranks");
        self.world
            .all_reduce_into(send, recv, SystemOperation::sum());
    }
    fn broadcast_f32(&self, buf: &mut [f32]) {
        let _w = Waiting::new("a broadcast from rank 0");
        self.world.process_at_rank(0).broadcast_into(buf);
    }
    fn broadcast_u64(&self, buf: &mut [u64]) {
        let _w = Waiting::new("a broadcast from rank 0");
        self.world.process_at_rank(0).broadcast_into(buf);
    }
    unsafe fn start_sum_f32(&self, send: &[f32], recv: &mut [f32]) {
        let n = send.len().min(recv.len());
        let Ok(count) = i32::try_from(n) else {
            // Beyond MPI's int count (8 GB of one bucket): sum it now, in one blocking call.
            self.all_reduce_f32(send, recv);
            return;
        };
        // SAFETY: the buffers hold `count` floats and, by this function's contract, stay
        // valid and untouched until `wait_all`; the datatype, operation and communicator
        // handles are live for the whole run; MPI_REQUEST_NULL is a constant.
        let request = unsafe {
            let mut request = ffi::RSMPI_REQUEST_NULL;
            ffi::MPI_Iallreduce(
                send.as_ptr().cast(),
                recv.as_mut_ptr().cast(),
                count,
                f32::equivalent_datatype().as_raw(),
                SystemOperation::sum().as_raw(),
                self.grads.as_raw(),
                &mut request,
            );
            request
        };
        self.pending().push(Request(request));
    }
    fn progress(&self) {
        let mut pending = self.pending();
        // Testing one request runs MPI's progress engine for all of them.
        if let Some(r) = pending.first_mut() {
            let mut flag = 0;
            // SAFETY: `r` is a request started above and not yet completed (a completed
            // one is set to MPI_REQUEST_NULL, which MPI_Test accepts).
            unsafe {
                ffi::MPI_Test(&mut r.0, &mut flag, ffi::RSMPI_STATUS_IGNORE);
            }
        }
    }
    fn wait_all(&self) {
        let mut pending = self.pending();
        if pending.is_empty() {
            return;
        }
        let _w = Waiting::new("the gradient sum");
        let count = i32::try_from(pending.len()).unwrap_or(i32::MAX);
        // SAFETY: every request was started above (completed ones are MPI_REQUEST_NULL);
        // `Request` is a transparent wrapper, so the vector is an array of MPI_Request.
        unsafe {
            ffi::MPI_Waitall(
                count,
                pending.as_mut_ptr().cast::<ffi::MPI_Request>(),
                ffi::RSMPI_STATUSES_IGNORE,
            );
        }
        pending.clear();
    }
}
