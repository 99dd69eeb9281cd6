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
use std::os::fd::{AsRawFd, OwnedFd};
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

/// Re-executes berth from a safe copy unless it already runs from one.
/// Returns only when the running image is safe.
pub fn ensure() -> Result<()> {
    let exe = sys::open(Path::new("/proc/self/exe"), libc::O_RDONLY, 0).context("opening /proc/self/exe")?;
    if is_sealed(&exe) {
        if std::env::var_os(MARK).is_some() {
            std::env::remove_var(MARK);
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
