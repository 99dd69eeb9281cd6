//! Switching the container to its root filesystem.

use super::mountinfo::{self, Entry};
use super::sys;
use anyhow::{Context, Result};
use nix::unistd;
use std::path::Path;

/// Sets the propagation of the whole mount tree (`flags`: what the rootfs
/// plan chose) and turns the rootfs into a mount point.
pub fn prepare(rootfs: &Path, flags: libc::c_ulong) -> Result<()> {
    sys::mount(None, "/", None, flags, None).context("setting propagation of /")?;
    if flags & libc::MS_SHARED != 0 {
        // pivot_root refuses a new root whose parent mount is shared: make
        // the mount holding the rootfs private (the rootfs itself, when it
        // is a mount point, as containerd's overlay always is).
        if let Some(mp) = mount_point_of(rootfs) {
            sys::mount(None, &mp, None, libc::MS_PRIVATE, None).context("making the rootfs parent private")?;
        }
    }
    let r = rootfs.to_string_lossy();
    sys::mount(Some(&r), &r, None, libc::MS_BIND | libc::MS_REC, None).context("bind-mounting the rootfs")?;
    Ok(())
}

/// The mount point under which `p` lives (longest matching prefix; `p`
/// itself when it is a mount point).
fn mount_point_of(p: &Path) -> Option<String> {
    mountinfo::read().ok()?.into_iter().map(|e| e.mount_point).filter(|mp| p.starts_with(mp)).max_by_key(|mp| mp.len())
}

/// pivot_root into `rootfs` and detach the old root.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let old = sys::open(Path::new("/"), libc::O_DIRECTORY | libc::O_RDONLY, 0).context("opening /")?;
    let new = sys::open(rootfs, libc::O_DIRECTORY | libc::O_RDONLY, 0).context("opening the rootfs")?;
    unistd::fchdir(&new).context("entering the rootfs")?;
    unistd::pivot_root(".", ".").context("pivot_root")?;
    unistd::fchdir(&old).context("entering the old root")?;
    // The old root must not propagate its unmount back to the host.
    sys::mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None).context("making the old root a slave")?;
    sys::umount_detach(".").context("detaching the old root")?;
    unistd::chdir("/").context("chdir /")?;
    Ok(())
}

/// Full procfs and sysfs mounts outside `rootfs` (mount points from
/// /proc/self/mountinfo, deepest first).
fn full_proc_and_sys_outside(mounts: &[Entry], rootfs: &Path) -> Vec<String> {
    let mut out: Vec<String> = mounts
        .iter()
        .filter(|e| e.root == "/" && (e.fstype == "proc" || e.fstype == "sysfs"))
        .filter(|e| !Path::new(&e.mount_point).starts_with(rootfs))
        .map(|e| e.mount_point.clone())
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.len()));
    out
}

/// `--no-pivot`: move the rootfs over / and chroot into it. The old root
/// stays in the mount namespace underneath, so first every full procfs and
/// sysfs mount of the host's is removed (or covered): else the kernel would
/// let a user namespace in the container mount a fresh, unmasked procfs.
pub fn move_root(rootfs: &Path) -> Result<()> {
    let mounts = mountinfo::read().context("reading /proc/self/mountinfo")?;
    for mp in full_proc_and_sys_outside(&mounts, rootfs) {
        // No unmount may reach the host.
        match sys::mount(None, &mp, None, libc::MS_SLAVE | libc::MS_REC, None) {
            Err(e) if sys::errno_is(&e, libc::ENOENT) => continue,
            r => r.with_context(|| format!("--no-pivot: making {mp} a slave"))?,
        }
        if let Err(e) = sys::umount_detach(&mp) {
            if !sys::errno_is(&e, libc::EINVAL) && !sys::errno_is(&e, libc::EPERM) {
                return Err(e).with_context(|| format!("--no-pivot: unmounting {mp}"));
            }
            sys::mount(Some("tmpfs"), &mp, Some("tmpfs"), 0, None)
                .with_context(|| format!("--no-pivot: covering {mp}"))?;
        }
    }
    unistd::chdir(rootfs).context("entering the rootfs")?;
    sys::mount(Some(&rootfs.to_string_lossy()), "/", None, libc::MS_MOVE, None).context("moving the rootfs to /")?;
    unistd::chroot(".").context("chroot")?;
    unistd::chdir("/").context("chdir /")?;
    Ok(())
}

/// `root.readonly`: remount / read-only once everything is in place.
pub fn make_readonly() -> Result<()> {
    super::mounts::remount_bind("/", libc::MS_RDONLY).context("making the rootfs read-only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_hosts_full_proc_and_sys() {
        let info = "\
22 1 0:5 / /proc rw - proc proc rw
23 1 0:6 / /sys rw - sysfs sysfs rw
24 22 0:7 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw
25 1 0:5 /sys /mnt/procsys rw - proc proc rw
26 1 0:8 / /b/rootfs/proc rw - proc proc rw
27 23 0:9 / /sys/kernel/security rw - securityfs securityfs rw
";
        assert_eq!(full_proc_and_sys_outside(&mountinfo::parse(info), Path::new("/b/rootfs")), ["/proc", "/sys"]);
    }
}
