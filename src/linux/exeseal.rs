//! CVE-2019-5736: no berth process inside a container may be backed by the
//! host's berth binary. A container script whose first line is
//! `#!/proc/self/exe` makes the kernel run, as its interpreter, whatever
//! image the exec'ing process has: without this, the host binary, which a
//! second process in the container could then open through /proc/PID/exe
//! and overwrite. Non-dumpable does not help (execve resets it).
//!
//! So `create`, `run` and `exec` first move berth's image onto a copy
//! nothing can write through: a detached, read-only bind mount of the
//! binary (open_tree + mount_setattr, no copy, visible in no mount
//! namespace). The binary's ELF entry (src/entry.rs) maps every segment
//! again from the file opened through that mount, before glibc starts and
//! touches any of them; `ensure` then points /proc/self/exe at it
//! (PR_SET_MM_MAP, which the kernel allows only once no mapping of the old
//! file is left). Children cloned from then on (init, exec's process)
//! inherit both. No second exec, no second glibc start-up. The mount is
//! closed before anything of the image runs in the container (`dissolve`).
//!
//! Where that cannot be done, berth re-executes itself from the read-only
//! mount, or, where no mount is allowed, from a sealed memfd copy. A
//! binary already on a read-only mount, or already sealed, is used as it
//! is. `ensure` is the check that counts: it returns only when
//! /proc/self/exe is on a read-only mount or sealed.

use super::mmlayout::{self, MmMap};
use super::sys;
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// Set across the re-execution, so that a copy that still is not safe is
/// an error rather than a loop. The binary's ELF entry (src/entry.rs) sets
/// and reads it too.
pub const MARK: &str = "_BERTH_SEALED_EXE";

/// Set by the ELF entry (src/entry.rs) once every segment of the binary is
/// mapped from the read-only mount: the descriptors of that detached mount
/// (ENTRY_TREE) and of the binary opened through it (ENTRY_FILE), both
/// close-on-exec. 0 while the entry has not done so. Written before glibc
/// starts, read once by `ensure`.
pub static ENTRY_TREE: AtomicI32 = AtomicI32::new(0);
/// See ENTRY_TREE.
pub static ENTRY_FILE: AtomicI32 = AtomicI32::new(0);
/// Set by the entry with ENTRY_FILE: the stack pointer the kernel started
/// berth with (argc, then argv[] and envp[]), and the program break then,
/// the kernel's start_brk: what `swap_exe` must hand PR_SET_MM_MAP back.
pub static ENTRY_STACK: AtomicU64 = AtomicU64::new(0);
/// See ENTRY_STACK.
pub static ENTRY_BRK: AtomicU64 = AtomicU64::new(0);

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

/// The descriptor a re-execution left open for us, its number the
/// marker's value (src/entry.rs, or `reexec` with `pass`): the detached
/// mount berth now runs from. Taken only when it is an O_PATH handle on
/// the very file we run, so that a stray marker closes nothing else.
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

/// The detached mount `ensure` left open for `release`; -1 when none.
static PENDING: AtomicI32 = AtomicI32::new(-1);

/// Keeps `tree` open until `release`.
fn hold(tree: OwnedFd) {
    let old = PENDING.swap(tree.into_raw_fd(), Ordering::Relaxed);
    if old >= 0 {
        // SAFETY: a descriptor `hold` took earlier and nothing else owns.
        drop(unsafe { OwnedFd::from_raw_fd(old) });
    }
}

/// Lets the detached mount `ensure` ran berth from go, in a helper
/// (`release_apart`) that waits out the grace period beside the rest of
/// the command. A child cloned while berth holds the mount holds it too,
/// until it closes what it inherited, and whoever closes it last waits
/// out the grace period: had berth let go while a child still held it,
/// that would be the child, on its way into the container. So callers
/// call this before they clone a child, early enough for the helper to
/// be done by then, and `dissolve` makes sure of it. Only the first call
/// acts.
pub fn release() {
    if let Some(tree) = take_held() {
        release_apart(tree);
    }
}

/// The detached mount `hold` keeps, once: None when none is held (any more).
fn take_held() -> Option<OwnedFd> {
    let fd = PENDING.swap(-1, Ordering::Relaxed);
    // SAFETY: a descriptor `hold` took and nothing else owns; swapped to -1
    // above, so it is taken once.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes sure the detached mount is gone before anything of the image
/// runs in the container: closes it here if `release` was not called, or
/// waits for the helper that closes it. `exec` calls it just before its
/// clone; create and run just before init is told to go on (Go), before
/// which init runs no hook and no program, and has closed every
/// descriptor it inherited (the mount's too) first thing after the clone.
/// Until then nothing in the container can open init's /proc/PID/exe:
/// init is non-dumpable, or holds capabilities the container's processes
/// lack (ptrace's rule for a process of the same user). Waiting there
/// rather than at the clone costs nothing: the helper has long finished
/// (interleaved `run`s: 0.1-0.2 ms less than waiting at the clone).
///
/// While berth holds it, the mount is the root of an anonymous mount
/// namespace, and mount_setattr(2) lets a process with CAP_SYS_ADMIN over
/// its own mount namespace, in any mount namespace, clear its read-only
/// flag (Linux 6.1 and 6.18 alike): a container that reached it through
/// /proc/PID/exe of a `#!/proc/self/exe` program could then write the
/// host's binary once berth was gone. Closed (the last descriptor of the
/// tree), it is unmounted, and no flag of it can change any more; the
/// pages berth runs from keep it alive.
pub fn dissolve() {
    // Closed here, it waits out the grace period (the close's task work).
    drop(take_held());
    wait_helper();
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

/// Whether `fd` is one the ELF entry opened for this process, until
/// `ensure` takes them: never a descriptor the caller handed over
/// (`--preserve-fds`), though it may have taken a number the caller left
/// free. A re-executed image needs no such check: the image before it
/// made it on the same arguments.
pub fn is_entrys(fd: i32) -> bool {
    fd >= 3 && (fd == ENTRY_TREE.load(Ordering::Relaxed) || fd == ENTRY_FILE.load(Ordering::Relaxed))
}

/// What the ELF entry left (ENTRY_FILE, ENTRY_TREE), taken once.
fn entry_swap() -> Option<(OwnedFd, OwnedFd)> {
    let (file, tree) = (ENTRY_FILE.swap(0, Ordering::Relaxed), ENTRY_TREE.swap(0, Ordering::Relaxed));
    if file < 3 || tree < 3 {
        return None;
    }
    // SAFETY: the entry opened both for this process and left them for
    // this function alone; swapped to 0 above, they are taken only once.
    Some(unsafe { (OwnedFd::from_raw_fd(file), OwnedFd::from_raw_fd(tree)) })
}

/// Makes `file` this process's executable (/proc/self/exe), its layout
/// otherwise unchanged. The kernel refuses (EBUSY) while any mapping of
/// the old executable is left, and without CAP_SYS_ADMIN or
/// CAP_CHECKPOINT_RESTORE (EPERM).
fn swap_exe(file: &OwnedFd) -> std::io::Result<()> {
    let map = entry_layout(file.as_raw_fd() as u32)
        .ok_or_else(|| std::io::Error::other("the layout berth started with is not known"))?;
    // SAFETY: PR_SET_MM_MAP reads size_of::<MmMap>() bytes at &map, which
    // lives across the call.
    sys::cvt(unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            libc::PR_SET_MM_MAP as libc::c_ulong,
            &map as *const MmMap as libc::c_ulong,
            std::mem::size_of::<MmMap>() as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })?;
    Ok(())
}

/// The layout the kernel gave berth at its execve (what the entry saw),
/// with the current program break and a new executable: what PR_SET_MM_MAP
/// sets, all but the executable as they were. No auxiliary vector: the
/// kernel keeps its own.
fn entry_layout(exe_fd: u32) -> Option<MmMap> {
    let (stack, start_brk) = (ENTRY_STACK.load(Ordering::Relaxed), ENTRY_BRK.load(Ordering::Relaxed));
    if stack == 0 || start_brk == 0 {
        return None;
    }
    let (phdrs, bias) = mmlayout::own_program_headers()?;
    let [start_code, end_code, start_data, end_data] = mmlayout::segments(phdrs, bias)?;
    // SAFETY: the entry's stack pointer is the kernel's initial one, and
    // nothing writes into the vectors or strings there.
    let [arg_start, arg_end, env_start, env_end] = unsafe { mmlayout::strings(stack as *const u64) }?;
    // SAFETY: brk(0) moves nothing; it returns the current break.
    let brk = unsafe { libc::syscall(libc::SYS_brk, 0) } as u64;
    Some(MmMap {
        start_code,
        end_code,
        start_data,
        end_data,
        start_brk,
        brk,
        start_stack: stack,
        arg_start,
        arg_end,
        env_start,
        env_end,
        auxv: 0,
        auxv_size: 0,
        exe_fd,
    })
}

fn own_exe() -> Result<OwnedFd> {
    sys::open(Path::new("/proc/self/exe"), libc::O_RDONLY, 0).context("opening /proc/self/exe")
}

/// Makes sure berth runs from an image nothing can write through: as the
/// entry left it, by pointing /proc/self/exe at the read-only mount it
/// mapped the binary from, or by re-executing from a safe copy. Returns
/// only when the running image is safe.
pub fn ensure() -> Result<()> {
    // The entry acts only on a writable image without the marker.
    if let Some((file, tree)) = entry_swap() {
        // Once PR_SET_MM_MAP takes it, `file` is /proc/self/exe: checked
        // through our descriptor, without opening /proc/self/exe again.
        if swap_exe(&file).is_ok() && is_sealed(&file) {
            hold(tree);
            return Ok(());
        }
        // Not allowed here: the mount the entry made serves a re-execution.
        return reexec(tree, true);
    }
    let exe = own_exe()?;
    if is_sealed(&exe) {
        if let Some(mark) = std::env::var_os(MARK) {
            std::env::remove_var(MARK);
            if let Some(tree) = mark.to_str().and_then(|m| m.parse().ok()).and_then(|fd| entry_tree(fd, &exe)) {
                hold(tree);
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
    reexec(copy, false)
}

/// Executes berth again from `copy`, with the marker set. With `pass`,
/// `copy` stays open across the exec and the marker holds its number, so
/// that `ensure` in the new image drops the mount apart (`entry_tree`);
/// otherwise the exec closes it.
fn reexec(copy: OwnedFd, pass: bool) -> Result<()> {
    let args: Vec<CString> =
        std::env::args_os().map(|a| CString::new(a.as_bytes())).collect::<Result<_, _>>().context("arguments")?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    if pass {
        // SAFETY: F_SETFD on a descriptor we own.
        sys::cvt(unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_SETFD, 0) }).context("keeping the copy open")?;
        std::env::set_var(MARK, copy.as_raw_fd().to_string());
    } else {
        std::env::set_var(MARK, "1");
    }
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
