//! [`Comm`] over MPI's world communicator (the `mpi` crate, Open MPI underneath).

use super::Comm;
use crate::error::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

pub(super) struct MpiComm {
    world: SimpleCommunicator,
}

// SAFETY: MPI is initialised with `Threading::Serialized` (checked in `init`): any thread
// may call it, one at a time. rkeras calls it only through the distribution's mutex, so the
// calls are serialised; the communicator handle itself is a plain integer/pointer that MPI
// lets any thread use under that level.
unsafe impl Send for MpiComm {}
// SAFETY: as above; `&MpiComm` is only used under the distribution's mutex.
unsafe impl Sync for MpiComm {}

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
    Ok((universe, MpiComm { world }))
}

impl Comm for MpiComm {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn size(&self) -> usize {
        self.world.size() as usize
    }
    fn all_reduce_f32(&self, send: &[f32], recv: &mut [f32]) {
        self.world
            .all_reduce_into(send, recv, SystemOperation::sum());
    }
    fn all_reduce_f64(&self, send: &[f64], recv: &mut [f64]) {
        self.world
            .all_reduce_into(send, recv, SystemOperation::sum());
    }
    fn broadcast_f32(&self, buf: &mut [f32]) {
        self.world.process_at_rank(0).broadcast_into(buf);
    }
    fn broadcast_u64(&self, buf: &mut [u64]) {
        self.world.process_at_rank(0).broadcast_into(buf);
    }
}
