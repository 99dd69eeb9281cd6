//! CVE-2019-5736: no berth process inside a container may be backed by the
//! host's berth binary. A container script whose first line is
//! `#!/proc/self/exe` makes the kernel run, as its interpreter, whatever
//! image the exec'ing process has: without this, the host binary, which a
//! second process in the container could then open through /proc/PID/exe
//! and overwrite. Non-dumpable does not help (execve resets it).
//!
//! So `create`, `run` and `exec` first re-execute berth from a copy nothing
//! can write through: a detached, read-only bind mount of the binary
//! (open_tree + mount_setattr, no copy, visible in no mount namespace), or,
//! where that is not allowed, a sealed memfd copy. A binary already on a
//! read-only mount, or already sealed, is used as it is.
//!
//! The binary's ELF entry point does the read-only bind and the
//! re-execution before glibc starts (src/entry.rs), which saves a glibc
//! start-up; `ensure` then finds the image safe. It stays the check that
//! counts, and the path for whatever the entry could not do.

use super::sys;
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Set across the re-execution, so that a copy that still is not safe is
/// an error rather than a loop. The binary's ELF entry (src/entry.rs) sets
/// and reads it too.
pub const MARK: &str = "_BERTH_SEALED_EXE";

const F_SEAL_SEAL: i32 = 0x1;
const F_SEAL_SHRINK: i32 = 0x2;
const F_SEAL_GROW: i32 = 0x4;
const F_SEAL_WRITE: i32 = 0x8;

/// Whether writing through `fd`'s path is impossible: a read-only mount,
/// or a memfd sealed against writes.
pub fn is_sealed(fd: &impl AsRawFd) -> bool {
    // SAFETY: fstatvfs writes into a zeroed struct we own.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open and st a valid out pointer.
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) } == 0 && st.f_flag & libc::ST_RDONLY != 0 {
        return true;
    }
    // SAFETY: F_GET_SEALS takes no argument; other files just fail.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals > 0 && seals & F_SEAL_WRITE != 0
}

/// A detached read-only bind mount of `exe`: an O_PATH handle whose
/// mount refuses every write, reachable from no mount namespace.
fn read_only_bind(exe: &OwnedFd) -> std::io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: u32 = 1;
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    const MOUNT_ATTR_NODEV: u64 = 0x4;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | libc::AT_EMPTY_PATH as u32;
    // SAFETY: open_tree on our descriptor with an empty path and AT_EMPTY_PATH.
    let tree = sys::owned(unsafe { libc::syscall(libc::SYS_open_tree, exe.as_raw_fd(), c"".as_ptr(), flags) } as i32)?;
    super::mounts::set_attr(&tree, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0)
        .map_err(std::io::Error::other)?;
    Ok(tree)
}

/// A memfd holding a copy of `exe`, sealed against any change.
fn sealed_copy(exe: &OwnedFd) -> std::io::Result<OwnedFd> {
    // SAFETY: a valid name and flags.
    let mfd =
        sys::owned(unsafe { libc::memfd_create(c"berth".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) })?;
    let mut from = std::fs::File::from(exe.try_clone()?);
    let mut to = std::fs::File::from(mfd.try_clone()?);
    std::io::copy(&mut from, &mut to)?;
    let seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS on our memfd with plain flags.
    sys::cvt(unsafe { libc::fcntl(mfd.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
    Ok(mfd)
}

extern "C" {
    static environ: *const *const libc::c_char;
}

/// The descriptor the ELF entry left open for us (src/entry.rs): the
/// detached mount berth runs from. Taken only when it is an O_PATH handle
/// on the very file we run, so that a stray marker closes nothing else.
fn entry_tree(fd: i32, exe: &OwnedFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFL on any number is harmless; -1 when it is not open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fd < 3 || flags < 0 || flags & libc::O_PATH == 0 {
        return None;
    }
    // SAFETY: fstat into zeroed structs we own.
    let (mut a, mut b): (libc::stat, libc::stat) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    // SAFETY: both descriptors are open; a and b are valid out pointers.
    let same = unsafe { libc::fstat(fd, &mut a) == 0 && libc::fstat(exe.as_raw_fd(), &mut b) == 0 }
        && (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino);
    if !same {
        return None;
    }
    // The entry left it inheritable: no child of ours (a hook, init) may
    // get it, should one be born before the helper closes it.
    // SAFETY: F_SETFD on a descriptor that is open.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: fd is open, ours (the entry opened it for this process) and
    // closed nowhere else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Closes `tree`, the last reference to a detached mount, in a helper
/// process that shares our descriptor table. Dissolving the mount waits
/// out an expedited RCU grace period (namespace_unlock), 0.6-0.9 ms on
/// the development host when the other CPU is busy: the helper waits it
/// out beside berth's own work instead of in front of it. The helper is
/// berth's child, waited for before berth exits (`wait_helper`).
fn release_apart(tree: OwnedFd) {
    // A child that shares our memory runs only this: a raw system call
    // (glibc's close would set errno, which is berth's thread-local), then
    // glibc's clone stub makes it exit.
    extern "C" fn close_it(fd: *mut libc::c_void) -> libc::c_int {
        // SAFETY: close(2) of the number we were handed; no memory is touched.
        unsafe {
            std::arch::asm!("syscall", inlateout("rax") libc::SYS_close => _, in("rdi") fd as usize,
                lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        0
    }
    const STACK: usize = 16 * 1024;
    // Leaked on purpose: the helper may still run on it when we return.
    let stack: &'static mut [u8] = Box::leak(vec![0u8; STACK].into_boxed_slice());
    // SAFETY: the stack is ours for good and its top 16-byte aligned enough
    // for the stub; CLONE_VM | CLONE_FILES shares memory and descriptors,
    // and close_it touches neither beyond the one close.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(STACK - 64);
        libc::clone(
            close_it,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_FILES | libc::SIGCHLD,
            tree.as_raw_fd() as usize as *mut _,
        )
    };
    if pid > 0 {
        // The helper closes it; from here the number is not ours.
        std::mem::forget(tree);
        HELPER.store(pid, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The helper of `release_apart`, until reaped.
static HELPER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Reaps the helper if it has finished: for a berth that stays (a
/// foreground `run` or `exec`), so no zombie stays beside it.
pub fn reap_helper() {
    reap(libc::WNOHANG);
}

/// Waits for the helper: berth leaves no process of its own behind. By
/// the time a command ends the helper is long done, unless the command
/// failed within its first millisecond.
pub fn wait_helper() {
    reap(0);
}

fn reap(flags: i32) {
    let pid = HELPER.load(std::sync::atomic::Ordering::Relaxed);
    // In a process cloned from berth (init) the helper is not a child: ECHILD.
    if pid > 0 && matches!(sys::waitpid(pid, flags), Ok((p, _)) if p == pid) {
        HELPER.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Re-executes berth from a safe copy unless it already runs from one.
/// Returns only when the running image is safe.
pub fn ensure() -> Result<()> {
    let exe = sys::open(Path::new("/proc/self/exe"), libc::O_RDONLY, 0).context("opening /proc/self/exe")?;
    if is_sealed(&exe) {
        if let Some(mark) = std::env::var_os(MARK) {
            std::env::remove_var(MARK);
            if let Some(tree) = mark.to_str().and_then(|m| m.parse().ok()).and_then(|fd| entry_tree(fd, &exe)) {
                release_apart(tree);
            }
        }
        return Ok(());
    }
    if std::env::var_os(MARK).is_some() {
        bail!("berth was re-executed from a sealed copy, yet its image is still writable");
    }
    let copy = read_only_bind(&exe)
        .or_else(|_| sealed_copy(&exe))
        .context("making a read-only copy of the berth binary (CVE-2019-5736)")?;
    let args: Vec<CString> =
        std::env::args_os().map(|a| CString::new(a.as_bytes())).collect::<Result<_, _>>().context("arguments")?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    std::env::set_var(MARK, "1");
    // SAFETY: argv is a NULL-terminated array of valid strings; environ is
    // the process's own environment; AT_EMPTY_PATH executes the descriptor.
    unsafe {
        libc::syscall(libc::SYS_execveat, copy.as_raw_fd(), c"".as_ptr(), argv.as_ptr(), environ, libc::AT_EMPTY_PATH)
    };
    let e = std::io::Error::last_os_error();
    std::env::remove_var(MARK);
    Err(e).context("re-executing berth from its read-only copy")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_takes_only_a_handle_on_our_own_binary() {
        use std::os::fd::IntoRawFd;
        let exe = sys::open(Path::new("/proc/self/exe"), libc::O_RDONLY, 0).unwrap();
        let other = sys::open(Path::new("/proc/self/exe"), libc::O_RDONLY, 0).unwrap().into_raw_fd();
        assert!(entry_tree(other, &exe).is_none(), "not O_PATH");
        let dir = sys::open(Path::new("/"), libc::O_PATH, 0).unwrap().into_raw_fd();
        assert!(entry_tree(dir, &exe).is_none(), "another file");
        assert!(entry_tree(-1, &exe).is_none() && entry_tree(1, &exe).is_none());
        let ours = sys::open(Path::new("/proc/self/exe"), libc::O_PATH, 0).unwrap().into_raw_fd();
        // SAFETY: F_SETFD/F_GETFD on our own open descriptor.
        unsafe { libc::fcntl(ours, libc::F_SETFD, 0) };
        let tree = entry_tree(ours, &exe).expect("an O_PATH handle on our binary");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fcntl(tree.as_raw_fd(), libc::F_GETFD) }, libc::FD_CLOEXEC, "taken close-on-exec");
        // SAFETY: the two refused descriptors are still ours to close.
        unsafe {
            libc::close(other);
            libc::close(dir);
        }
    }

    #[test]
    fn sealed_copies_refuse_writes() {
        let exe = sys::open(Path::new("/proc/self/exe"), libc::O_RDONLY, 0).unwrap();
        let copy = sealed_copy(&exe).unwrap();
        assert!(is_sealed(&copy));
        let path = sys::fd_path(&copy);
        // Reopening for writing may succeed; no byte gets through.
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&path) {
            use std::io::Write;
            assert!(f.write_all(b"PWNED").is_err(), "a write reached the sealed copy");
        }
    }
}
