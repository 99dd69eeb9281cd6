//! Thin, safe wrappers over the raw syscalls berth needs.

use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Turns a -1 return value into the thread's errno.
pub fn cvt<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

pub fn cstr<P: AsRef<OsStr> + ?Sized>(s: &P) -> io::Result<CString> {
    CString::new(s.as_ref().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

pub fn cpath(p: &Path) -> io::Result<CString> {
    cstr(p.as_os_str())
}

/// Wraps a freshly returned descriptor.
pub fn owned(fd: i32) -> io::Result<OwnedFd> {
    let fd = cvt(fd)?;
    // SAFETY: the kernel just returned this descriptor to us and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(2) relative to `dir` with `resolve` restrictions (retried on
/// EAGAIN, which the kernel returns when a rename raced the lookup).
pub fn openat2(dir: &impl AsRawFd, rel: &str, flags: i32, mode: u32, resolve: u64) -> io::Result<OwnedFd> {
    let c = cstr(rel)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: if flags & libc::O_CREAT != 0 { mode as u64 } else { 0 },
        resolve,
    };
    loop {
        // SAFETY: how and c are valid for the duration of the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        } as i32;
        match owned(r) {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
            other => return other,
        }
    }
}

pub fn open(path: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let flags = OFlag::from_bits_retain(flags | libc::O_CLOEXEC);
    Ok(nix::fcntl::open(path, flags, Mode::from_bits_retain(mode))?)
}

/// readlinkat(2) of `name` in `dir` into `buf`: the length read. A link as
/// long as `buf` or longer is an error (ENAMETOOLONG), never cut short.
pub fn readlink_into(dir: &impl AsRawFd, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of its length; name is a C string.
    let n = cvt(unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) })?;
    if n as usize >= buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    Ok(n as usize)
}

pub fn fstat(fd: &impl AsFd) -> io::Result<libc::stat> {
    Ok(nix::sys::stat::fstat(fd)?)
}

/// The path through which the kernel reaches an open descriptor.
pub fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

pub fn mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let data = data.filter(|d| !d.is_empty());
    nix::mount::mount(src, target, fstype, MsFlags::from_bits_retain(flags), data)?;
    Ok(())
}

pub fn umount_detach(target: &str) -> io::Result<()> {
    Ok(nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH)?)
}

pub fn write_file(path: &str, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(data)
}

pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    owned(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32)
}

/// Sends `sig` to the process behind `pidfd` (never to a recycled pid).
pub fn pidfd_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor we own; no siginfo.
    cvt(unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, 0usize, 0u32) } as i32)?;
    Ok(())
}

/// Waits until the process behind `pidfd` has exited, up to `timeout_ms`
/// (-1 for ever). Returns whether it exited.
pub fn pidfd_wait(pidfd: &OwnedFd, timeout_ms: i32) -> io::Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let timeout = PollTimeout::try_from(timeout_ms.max(-1)).unwrap_or(PollTimeout::NONE);
    loop {
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return Ok(r? > 0),
        }
    }
}

/// kill(2) with a raw signal number: nix's `Signal` has no real-time
/// signals, which `berth kill` must be able to send.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    cvt(unsafe { libc::kill(pid, sig) })?;
    Ok(())
}

/// waitpid that retries on EINTR; returns the raw status.
pub fn waitpid(pid: i32, flags: i32) -> io::Result<(i32, i32)> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok((r, status));
    }
}

/// Exit code the way a shell reports it: the status, or 128 + signal.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

pub fn prctl(op: i32, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    cvt(unsafe { libc::prctl(op, arg, 0, 0, 0) })?;
    Ok(())
}

pub fn setns(fd: &impl AsFd, nstype: i32) -> io::Result<()> {
    Ok(nix::sched::setns(fd, CloneFlags::from_bits_retain(nstype))?)
}

pub fn unshare(flags: i32) -> io::Result<()> {
    Ok(nix::sched::unshare(CloneFlags::from_bits_retain(flags))?)
}

/// Marks every descriptor from `first` upwards close-on-exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOEXEC only changes descriptor flags.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    cvt(r as i32)?;
    Ok(())
}

/// Closes every descriptor from `first` upwards except those in `keep`:
/// a child must not carry the parent's descriptors (a host directory among
/// them would be a way out of the container, CVE-2024-21626).
pub fn close_from_except(first: u32, keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep.iter().filter(|k| **k >= 0).map(|k| *k as u32).filter(|k| *k >= first).collect();
    keep.sort_unstable();
    let mut from = first;
    for k in keep {
        if k > from {
            // SAFETY: closing descriptors this process owns; none is in use.
            unsafe { libc::syscall(libc::SYS_close_range, from, k - 1, 0) };
        }
        from = k + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0) };
}

/// Whether the working directory is reachable from our root (the kernel
/// says "(unreachable)" for one outside it).
pub fn cwd_inside_root() -> bool {
    let mut buf = [0u8; 4096];
    // SAFETY: the raw syscall writes at most buf.len() bytes into buf.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    n > 0 && buf[0] == b'/'
}

pub fn errno_is(e: &io::Error, code: i32) -> bool {
    e.raw_os_error() == Some(code)
}
