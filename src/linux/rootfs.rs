//! Switching the container to its root filesystem.

use super::sys::{self, cpath};
use anyhow::{Context, Result};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Makes the mount tree private to the container (rslave unless
/// `rootfsPropagation` says otherwise) and turns the rootfs into a mount point.
pub fn prepare(rootfs: &Path, propagation: Option<libc::c_ulong>) -> Result<()> {
    let flags = propagation.unwrap_or(libc::MS_SLAVE | libc::MS_REC);
    sys::mount(None, "/", None, flags, None).context("setting propagation of /")?;
    if flags & libc::MS_SHARED != 0 {
        // pivot_root refuses a new root whose parent mount is shared.
        if let Some(mp) = mount_point_of(rootfs.parent().unwrap_or(rootfs)) {
            sys::mount(None, &mp, None, libc::MS_PRIVATE, None).context("making the rootfs parent private")?;
        }
    }
    let r = rootfs.to_string_lossy();
    sys::mount(Some(&r), &r, None, libc::MS_BIND | libc::MS_REC, None).context("bind-mounting the rootfs")?;
    Ok(())
}

/// The mount point under which `p` lives (longest matching prefix).
fn mount_point_of(p: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| p.starts_with(mp))
        .max_by_key(|mp| mp.len())
        .map(String::from)
}

/// pivot_root into `rootfs` and detach the old root.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let old = sys::open(Path::new("/"), libc::O_DIRECTORY | libc::O_RDONLY, 0).context("opening /")?;
    let new = sys::open(rootfs, libc::O_DIRECTORY | libc::O_RDONLY, 0).context("opening the rootfs")?;
    // SAFETY: plain syscalls on descriptors we own and static strings.
    unsafe {
        sys::cvt(libc::fchdir(new.as_raw_fd())).context("entering the rootfs")?;
        let dot = c".";
        sys::cvt(libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) as i32).context("pivot_root")?;
        sys::cvt(libc::fchdir(old.as_raw_fd())).context("entering the old root")?;
    }
    // The old root must not propagate its unmount back to the host.
    sys::mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None).context("making the old root a slave")?;
    sys::umount_detach(".").context("detaching the old root")?;
    // SAFETY: chdir to a static path.
    sys::cvt(unsafe { libc::chdir(c"/".as_ptr()) }).context("chdir /")?;
    Ok(())
}

/// `--no-pivot`: move the rootfs over / and chroot into it.
pub fn move_root(rootfs: &Path) -> Result<()> {
    let c = cpath(rootfs)?;
    // SAFETY: valid path strings.
    unsafe {
        sys::cvt(libc::chdir(c.as_ptr())).context("entering the rootfs")?;
    }
    sys::mount(Some(&rootfs.to_string_lossy()), "/", None, libc::MS_MOVE, None).context("moving the rootfs to /")?;
    // SAFETY: static path strings.
    unsafe {
        sys::cvt(libc::chroot(c".".as_ptr())).context("chroot")?;
        sys::cvt(libc::chdir(c"/".as_ptr())).context("chdir /")?;
    }
    Ok(())
}

/// `root.readonly`: remount / read-only once everything is in place.
pub fn make_readonly() -> Result<()> {
    super::mounts::remount_bind("/", libc::MS_RDONLY).context("making the rootfs read-only")
}
