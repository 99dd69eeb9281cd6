//! Giving `linux.netDevices` back: on delete, and when a create dies
//! halfway. The devices are in the container's network namespace while a
//! process of it lives (or while the namespace it joined by path exists);
//! once that namespace is gone the kernel has already returned physical
//! devices to the initial namespace and destroyed virtual ones.

use crate::linux::netdev::{self, Move};
use crate::linux::{procfs, sys};
use crate::log;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// The container's network namespace: the one it joined by `path`, else
/// that of the first live process of `pids` (pid, start time).
fn namespace(path: Option<&str>, pids: &[(i32, u64)]) -> Option<OwnedFd> {
    if let Some(p) = path {
        return sys::open(Path::new(p), libc::O_RDONLY, 0).ok();
    }
    pids.iter().find_map(|&(pid, start)| {
        let fd = sys::open(Path::new(&format!("/proc/{pid}/ns/net")), libc::O_RDONLY, 0).ok()?;
        // Opened first, checked after: a recycled pid is never taken for it.
        procfs::alive(pid, start).then_some(fd)
    })
}

/// Moves the devices back to berth's namespace if they can still be
/// reached; a failure is a warning (the container is removed anyway).
pub fn give_back(moves: &[Move], path: Option<&str>, pids: &[(i32, u64)]) {
    if moves.is_empty() {
        return;
    }
    let Some(ns) = namespace(path, pids) else {
        log::debug("linux.netDevices: the container's network namespace is gone, and its devices with it");
        return;
    };
    if netdev::is_own_namespace(&ns).unwrap_or(false) {
        return;
    }
    if let Err(e) = netdev::move_back(moves, ns.as_fd()) {
        log::warn(&format!("{e:#}"));
    }
}
