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

/// No mount namespace of the container's own: the rootfs is bound onto
/// itself and that tree made private, so that nothing mounted in it for
/// the container propagates anywhere else. `/` is left as it is.
pub fn prepare_in_host_namespace(rootfs: &Path) -> Result<()> {
    let r = rootfs.to_string_lossy();
    sys::mount(Some(&r), &r, None, libc::MS_BIND | libc::MS_REC, None).context("bind-mounting the rootfs")?;
    sys::mount(None, &r, None, libc::MS_PRIVATE | libc::MS_REC, None).context("making the rootfs private")?;
    Ok(())
}

/// chroot into `rootfs` (what a container in the host's mount namespace
/// gets instead of pivot_root, as with runc).
pub fn chroot(rootfs: &Path) -> Result<()> {
    unistd::chdir(rootfs).context("entering the rootfs")?;
    unistd::chroot(".").context("chroot")?;
    unistd::chdir("/").context("chdir /")?;
    Ok(())
}

/// What a container without a mount namespace of its own mounts in
/// berth's: everything at or under `rootfs` but the mounts in `before`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostMounts {
    pub rootfs: std::path::PathBuf,
    pub before: Vec<u64>,
}

impl HostMounts {
    /// Taken before the first mount.
    pub fn now(rootfs: &Path) -> Result<HostMounts> {
        let mounts = mountinfo::read().context("reading the mount table")?;
        let before = mounts_under(&mounts, rootfs).into_iter().map(|(id, _)| id).collect();
        Ok(HostMounts { rootfs: rootfs.to_path_buf(), before })
    }

    pub fn remove(&self) -> usize {
        unmount_new_under(&self.rootfs, &self.before)
    }
}

/// The ids of the mounts at or under `rootfs`.
pub fn mounts_under(mounts: &[Entry], rootfs: &Path) -> Vec<(u64, String)> {
    let base = mountinfo::escape(&rootfs.to_string_lossy());
    mounts
        .iter()
        .filter(|e| e.mount_point == base || e.mount_point.strip_prefix(&base).is_some_and(|r| r.starts_with('/')))
        .map(|e| (e.id, e.mount_point.clone()))
        .collect()
}

/// Unmounts (detached) every mount at or under `rootfs` whose id is not in
/// `before`, the latest first: what a container without a mount namespace
/// of its own left in berth's. Returns how many were unmounted.
pub fn unmount_new_under(rootfs: &Path, before: &[u64]) -> usize {
    let Ok(mounts) = mountinfo::read() else { return 0 };
    let mut n = 0;
    for (id, mp) in mounts_under(&mounts, rootfs).into_iter().rev() {
        if !before.contains(&id) && sys::umount_detach(&mountinfo::unescape(&mp)).is_ok() {
            n += 1;
        }
    }
    n
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

    #[test]
    fn mounts_under_the_rootfs_and_only_those() {
        let info = "\
30 1 0:5 / /b/rootfs rw - overlay overlay rw
31 30 0:6 / /b/rootfs/proc rw - proc proc rw
32 1 0:7 / /b/rootfs2 rw - tmpfs tmpfs rw
33 1 0:8 / /b/r\\040fs/dev rw - tmpfs tmpfs rw
";
        let m = mountinfo::parse(info);
        let ids = |p: &str| mounts_under(&m, Path::new(p)).into_iter().map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(ids("/b/rootfs"), [30, 31]);
        assert_eq!(ids("/b/r fs"), [33]);
    }
}
