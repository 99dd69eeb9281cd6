//! The one loop that signals a cgroup's processes: `kill --all`, the end of
//! a container without its own pid namespace, and the removal of a cgroup
//! berth made all go through [`Cgroup::signal`].

use super::{freeze, procs_in_tree, Cgroup};
use crate::linux::sys;
use anyhow::Result;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Which of the container's directories a signal reaches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reach {
    /// Every hierarchy's directory (and what lies below).
    All,
    /// Only directories berth made: one that existed before create may hold
    /// other people's processes.
    Made,
}

impl Cgroup {
    fn reached(&self, reach: Reach) -> Vec<&Path> {
        self.dirs
            .iter()
            .map(|(_, d)| d.as_path())
            .filter(|d| reach == Reach::All || self.created.iter().any(|c| c == d))
            .collect()
    }

    /// Sends `sig` to every process in the reached directories and their
    /// sub-cgroups. When the container's freezer is among them it is frozen
    /// meanwhile, so that nothing forks past the signal, and thawed after —
    /// a cgroup that was paused before stays paused, except for SIGKILL
    /// (frozen tasks act on it only once thawed). Returns a pidfd for each
    /// process signalled, for [`wait_gone`].
    pub fn signal(&self, reach: Reach, sig: i32) -> Result<Vec<OwnedFd>> {
        let dirs = self.reached(reach);
        let freezer = freeze::freezer(self).filter(|(_, d)| dirs.contains(d));
        let was_frozen = freezer.is_some() && freeze::is_frozen(self);
        let froze = freezer.is_some() && !was_frozen && freeze::freeze(self).is_ok();
        let mut pids: Vec<i32> = dirs.iter().flat_map(|d| procs_in_tree(d)).collect();
        pids.sort_unstable();
        pids.dedup();
        let mut fds = Vec::with_capacity(pids.len());
        for pid in pids {
            // A pidfd first: the signal then cannot reach a recycled pid.
            let Ok(fd) = sys::pidfd_open(pid) else { continue };
            if sys::pidfd_signal(&fd, sig).is_ok() {
                fds.push(fd);
            }
        }
        if froze || (was_frozen && sig == libc::SIGKILL) {
            freeze::thaw(self)?;
        }
        Ok(fds)
    }

    /// SIGKILLs what lives in the reached directories until none is left
    /// (a process may fork between reading cgroup.procs and the signal where
    /// no freezer covers it), waiting on pidfds rather than sleeping.
    pub fn kill_until_empty(&self, reach: Reach, deadline: Instant) -> bool {
        loop {
            let fds = self.signal(reach, libc::SIGKILL).unwrap_or_default();
            if fds.is_empty() {
                return true;
            }
            if !wait_gone(&fds, deadline) || Instant::now() >= deadline {
                return false;
            }
        }
    }
}

/// Waits until every process behind `fds` has exited or `deadline` passes.
pub fn wait_gone(fds: &[OwnedFd], deadline: Instant) -> bool {
    fds.iter().all(|fd| {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        sys::pidfd_wait(fd, ms).unwrap_or(false)
    })
}

/// How long berth waits for SIGKILLed processes to go.
pub const KILL_WAIT: Duration = Duration::from_secs(10);
