//! clone3(2) without a new stack: the child continues like fork().

use crate::linux::sys;
use std::io;
use std::os::fd::{OwnedFd, RawFd};

pub const CLONE_PIDFD: u64 = 0x1000;
pub const CLONE_PARENT: u64 = 0x8000;
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

#[repr(C)]
#[derive(Default)]
pub(super) struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

/// clone3 straight into the v2 cgroup `cgroup` when given; on a kernel
/// without CLONE_INTO_CGROUP, a plain clone. Also says whether the child
/// landed in the cgroup (else the caller moves it).
pub fn clone3_into(flags: u64, cgroup: Option<RawFd>, want_pidfd: bool) -> io::Result<(Forked, bool)> {
    match (clone3(flags, cgroup, want_pidfd), cgroup) {
        (Err(_), Some(_)) => Ok((clone3(flags, None, want_pidfd)?, false)),
        (r, c) => Ok((r?, c.is_some())),
    }
}

pub enum Forked {
    Parent { pid: i32, pidfd: Option<OwnedFd> },
    Child,
}

/// Forks with `flags` (namespace flags, CLONE_PARENT, …), optionally
/// straight into the cgroup v2 directory `cgroup`.
pub fn clone3(flags: u64, cgroup: Option<RawFd>, want_pidfd: bool) -> io::Result<Forked> {
    let mut pidfd: i32 = -1;
    let mut args = CloneArgs { flags, exit_signal: libc::SIGCHLD as u64, ..Default::default() };
    if flags & CLONE_PARENT != 0 {
        // clone3 refuses an exit signal with CLONE_PARENT; the child inherits ours.
        args.exit_signal = 0;
    }
    if want_pidfd {
        args.flags |= CLONE_PIDFD;
        args.pidfd = &mut pidfd as *mut i32 as u64;
    }
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: args is a valid clone_args; without CLONE_VM the child gets a
    // copy of this single-threaded process and returns here with 0.
    let mut r = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) && cgroup.is_none() {
        // No clone3 here (a kernel before 5.3, or a seccomp profile that
        // answers ENOSYS, as Docker's default does, or valgrind): the
        // legacy clone takes the same flags below 2^32, the exit signal in
        // its low byte and the pidfd through the parent_tid pointer.
        let legacy = (args.flags & 0xffff_ffff) | args.exit_signal;
        // SAFETY: no new stack and no CLONE_VM: the child continues on a
        // copy of this single-threaded process, as with fork().
        r = unsafe {
            libc::syscall(libc::SYS_clone, legacy, 0usize, &mut pidfd as *mut i32, std::ptr::null_mut::<i32>(), 0usize)
        };
    }
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if r == 0 {
        return Ok(Forked::Child);
    }
    let pidfd = if want_pidfd { Some(sys::owned(pidfd)?) } else { None };
    Ok(Forked::Parent { pid: r as i32, pidfd })
}
