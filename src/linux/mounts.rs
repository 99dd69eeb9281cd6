//! `mounts` from config.json, done inside the rootfs with every target
//! resolved through `inroot` (never following a path out of the rootfs).

use super::inroot::{NodeKind, Root};
use super::sys::{self, fd_path};
use crate::spec::mount_opts::{is_bind, Options};
use crate::spec::types::{IdMapping, Mount};
use anyhow::{bail, Context, Result};
use libc::c_ulong;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// One hierarchy's directory of the container (plain values: the mount
/// code knows nothing of how cgroups are managed).
pub struct CgroupDir {
    /// Where the hierarchy is mounted on the host.
    pub mount: PathBuf,
    pub v2: bool,
    /// The container's directory in it.
    pub dir: PathBuf,
}

pub struct Ctx<'a> {
    pub root: &'a Root,
    /// Bind sources the parent opened (outside any user namespace, with
    /// its own access), by mount index.
    pub sources: &'a [Option<OwnedFd>],
    pub in_userns: bool,
    /// The container's cgroup directories, for a `cgroup` mount.
    pub cgroup_dirs: &'a [CgroupDir],
    pub cgroupns: bool,
    /// `linux.mountLabel`, where SELinux is enabled: the label of the
    /// tmpfs and mqueue mounts.
    pub mount_label: Option<&'a str>,
}

const BIND_KEEP: c_ulong = libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT;

/// Flags of an existing mount that a user namespace may not drop.
fn locked_flags(target: &str) -> c_ulong {
    let Ok(c) = sys::cstr(target) else { return 0 };
    // SAFETY: statvfs writes into a zeroed struct we own.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid path and st a valid out pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    let map = [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
        (libc::ST_RDONLY, libc::MS_RDONLY),
    ];
    map.iter().filter(|(s, _)| st.f_flag & s != 0).fold(0, |a, (_, m)| a | m)
}

/// Changes the flags of the bind mount at `target`, keeping flags a user
/// namespace has locked when the kernel insists.
pub fn remount_bind(target: &str, flags: c_ulong) -> Result<()> {
    let want = libc::MS_BIND | libc::MS_REMOUNT | (flags & !BIND_KEEP);
    match sys::mount(None, target, None, want, None) {
        Err(e) if sys::errno_is(&e, libc::EPERM) => {
            let keep = locked_flags(target) & !libc::MS_RDONLY;
            sys::mount(None, target, None, want | keep, None)
        }
        r => r,
    }
    .with_context(|| format!("remounting {target}"))
}

pub fn bind(src: &str, target: &OwnedFd, recursive: bool) -> Result<()> {
    let flags = libc::MS_BIND | if recursive { libc::MS_REC } else { 0 };
    sys::mount(Some(src), &fd_path(target), None, flags, None).with_context(|| format!("bind-mounting {src}"))
}

pub fn set_attr(target: &OwnedFd, set: u64, clear: u64) -> Result<()> {
    #[repr(C)]
    struct MountAttr {
        set: u64,
        clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr { set, clr: clear, propagation: 0, userns_fd: 0 };
    let empty = sys::cstr("")?;
    // SAFETY: attr and empty are valid for the call; AT_EMPTY_PATH acts on the descriptor.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            target.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    sys::cvt(r as i32).context("mount_setattr")?;
    Ok(())
}

fn source_path(bundle: &Path, src: &str) -> PathBuf {
    let p = Path::new(src);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        bundle.join(p)
    }
}

/// Clones every bind source into a detached mount (open_tree), in the
/// parent: a source only the caller may reach is still bound once init is
/// in a user namespace, and what is bound is what the caller saw now.
pub fn open_sources(bundle: &Path, mounts: &[(Mount, Options)]) -> Result<Vec<Option<OwnedFd>>> {
    const OPEN_TREE_CLONE: u32 = 1;
    let mut out = Vec::with_capacity(mounts.len());
    for (i, (m, o)) in mounts.iter().enumerate() {
        if !is_bind(m, o) {
            out.push(None);
            continue;
        }
        let src = source_path(bundle, m.source.as_deref().unwrap_or(""));
        let c = sys::cpath(&src)?;
        let recursive = if o.flags & libc::MS_REC != 0 { libc::AT_RECURSIVE as u32 } else { 0 };
        let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | recursive;
        // SAFETY: open_tree with a valid path and plain flags.
        let fd = sys::owned(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) } as i32)
            .with_context(|| {
                format!("mounts[{i}]: {} on {}: source {}", src.display(), m.destination, src.display())
            })?;
        if let Some((uid, gid)) = &o.id_maps {
            let recursive = o.idmap == Some(true);
            idmap_tree(&fd, uid, gid, recursive)
                .with_context(|| format!("mounts[{i}]: idmapping {}", src.display()))?;
        }
        out.push(Some(fd));
    }
    Ok(out)
}

/// Makes the detached tree `tree` an idmapped mount (the kernel allows it
/// only before the tree is attached anywhere).
fn idmap_tree(tree: &OwnedFd, uid: &[IdMapping], gid: &[IdMapping], recursive: bool) -> Result<()> {
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let userns = super::idmap::userns_with(uid, gid)?;
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr =
        MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns.as_raw_fd() as u64 };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: mount_setattr on a descriptor we own, an empty path, and an attr of the size given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags as u32,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    match sys::cvt(r as i32) {
        Err(e) if sys::errno_is(&e, libc::EINVAL) => {
            Err(e).context("mount_setattr(MOUNT_ATTR_IDMAP): this filesystem (or kernel) cannot idmap a mount")
        }
        r => r.map(drop).context("mount_setattr(MOUNT_ATTR_IDMAP)"),
    }
}

/// Attaches a detached mount (from [`open_sources`]) at `target`.
fn move_mount(tree: &OwnedFd, target: &OwnedFd) -> Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
    // SAFETY: both descriptors are ours; empty paths with the EMPTY_PATH flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    sys::cvt(r as i32).context("attaching the bind source")?;
    Ok(())
}

fn bind_mount(ctx: &Ctx, m: &Mount, o: &Options, src: Option<&OwnedFd>) -> Result<()> {
    let Some(src) = src else { anyhow::bail!("bind source was not opened") };
    let is_dir = sys::fstat(src)?.st_mode & libc::S_IFMT == libc::S_IFDIR;
    let kind = if is_dir { NodeKind::Dir } else { NodeKind::File };
    let target = ctx.root.ensure(&m.destination, kind).context("creating the target")?;
    move_mount(src, &target)?;
    if o.flags & !BIND_KEEP != 0 {
        let t = ctx.root.handle(&m.destination)?;
        remount_bind(&fd_path(&t), o.flags)?;
    }
    Ok(())
}

/// The type of the node at `rel` itself (a final symlink not followed),
/// or None when nothing is there.
fn node_type(root: &Root, rel: &str) -> Result<Option<u32>> {
    let fd = match root.open_at(rel, libc::O_PATH | libc::O_NOFOLLOW, 0) {
        Ok(fd) => fd,
        Err(e) if sys::errno_is(&e, libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("looking at {rel}")),
    };
    Ok(Some(sys::fstat(&fd)?.st_mode & libc::S_IFMT))
}

fn fs_mount(ctx: &Ctx, kind: &str, m: &Mount, o: &Options) -> Result<()> {
    if kind == "proc" || kind == "sysfs" {
        // A link here would put procfs where the image chose, and berth's
        // later writes under /proc could be steered (runc refuses it too).
        if node_type(ctx.root, &m.destination)?.is_some_and(|t| t != libc::S_IFDIR) {
            bail!("{kind} cannot be mounted on {}: must be mounted on ordinary directory", m.destination);
        }
    }
    let target = ctx.root.mkdir_all(&m.destination).context("creating the target")?;
    let src = m.source.as_deref().filter(|s| !s.is_empty()).unwrap_or(kind);
    let mut data = o.data();
    if let Some(label) = ctx.mount_label.filter(|_| kind == "tmpfs") {
        data = super::lsm::with_mount_label(&data, label);
    }
    if o.tmpcopyup && kind == "tmpfs" {
        return tmpfs_copyup(ctx, m, &target, o.flags, &data);
    }
    match sys::mount(Some(src), &fd_path(&target), Some(kind), o.flags, Some(&data)) {
        Ok(()) if kind == "mqueue" && ctx.mount_label.is_some() => {
            // mqueue takes no context= option: label its root instead.
            let t = ctx.root.handle(&m.destination)?;
            super::lsm::set_file_label(&fd_path(&t), ctx.mount_label.unwrap_or_default())
                .with_context(|| format!("linux.mountLabel on {}", m.destination))
        }
        Ok(()) => Ok(()),
        Err(e) if kind == "sysfs" && ctx.in_userns && sys::errno_is(&e, libc::EPERM) => {
            // Without its own network namespace a user namespace may not mount
            // sysfs: show the host's, read-only as asked.
            bind("/sys", &target, true)?;
            let t = ctx.root.handle(&m.destination)?;
            remount_bind(&fd_path(&t), o.flags)
        }
        Err(e) => Err(e).with_context(|| format!("mounting {kind}")),
    }
}

/// `tmpcopyup`: the handle taken before the mount still reaches the covered
/// directory, so its content is copied into the fresh tmpfs (read-only, if
/// asked, only afterwards).
fn tmpfs_copyup(ctx: &Ctx, m: &Mount, under: &OwnedFd, flags: c_ulong, data: &str) -> Result<()> {
    let rw = flags & !libc::MS_RDONLY;
    sys::mount(Some("tmpfs"), &fd_path(under), Some("tmpfs"), rw, Some(data)).context("mounting tmpfs")?;
    let top = ctx.root.handle(&m.destination)?;
    copy_tree(Path::new(&fd_path(under)), Path::new(&fd_path(&top))).context("tmpcopyup")?;
    if flags & libc::MS_RDONLY != 0 {
        sys::mount(None, &fd_path(&top), None, flags | libc::MS_REMOUNT, Some(data)).context("tmpcopyup: read-only")?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let meta = std::fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    let meta = std::fs::metadata(from)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()))
}

/// A `cgroup` mount: cgroup2 itself on a pure v2 host with a cgroup
/// namespace; otherwise a tmpfs with the container's directory of every
/// hierarchy bound under it.
fn cgroup_mount(ctx: &Ctx, m: &Mount, o: &Options) -> Result<()> {
    let target = ctx.root.mkdir_all(&m.destination).context("creating the target")?;
    let only_v2 = ctx.cgroup_dirs.len() == 1 && ctx.cgroup_dirs[0].v2;
    if only_v2 && ctx.cgroupns {
        return sys::mount(Some("cgroup2"), &fd_path(&target), Some("cgroup2"), o.flags, None)
            .context("mounting cgroup2");
    }
    if only_v2 {
        bind(&ctx.cgroup_dirs[0].dir.to_string_lossy(), &target, false)?;
        let t = ctx.root.handle(&m.destination)?;
        return remount_bind(&fd_path(&t), o.flags);
    }
    let tmpfs_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    sys::mount(Some("tmpfs"), &fd_path(&target), Some("tmpfs"), tmpfs_flags, Some("mode=755"))
        .context("mounting the cgroup tmpfs")?;
    for CgroupDir { mount, dir, .. } in ctx.cgroup_dirs {
        let name = mount.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let sub = format!("{}/{name}", m.destination);
        let t = ctx.root.mkdir_all(&sub)?;
        bind(&dir.to_string_lossy(), &t, false)?;
        let t = ctx.root.handle(&sub)?;
        remount_bind(&fd_path(&t), o.flags | tmpfs_flags)?;
        if name.contains(',') {
            for part in name.split(',') {
                let link = format!("{}/{part}", m.destination);
                let (dirfd, leaf) = ctx.root.parent_of(&link)?;
                let to = sys::cstr(name.as_str())?;
                // SAFETY: valid strings and directory descriptor.
                unsafe { libc::symlinkat(to.as_ptr(), dirfd.as_raw_fd(), leaf.as_ptr()) };
            }
        }
    }
    if o.flags & libc::MS_RDONLY != 0 {
        let t = ctx.root.handle(&m.destination)?;
        sys::mount(None, &fd_path(&t), None, libc::MS_REMOUNT | libc::MS_RDONLY | tmpfs_flags, Some("mode=755"))
            .context("making the cgroup tmpfs read-only")?;
    }
    Ok(())
}

/// How one entry of `mounts` is made (the rootfs plan decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// A bind of a source the parent opened.
    Bind,
    /// `cgroup`: the container's own cgroup directories.
    Cgroup,
    /// A new filesystem instance (proc, tmpfs, mqueue, …).
    Fs,
}

/// Makes `mounts[index]`, read-write first when `rw_first` (a read-only
/// /dev that still needs its nodes; [`remount`] makes it read-only later).
pub fn mount(ctx: &Ctx, index: usize, (m, o): &(Mount, Options), kind: MountKind, rw_first: bool) -> Result<()> {
    let rw;
    let o = if rw_first {
        rw = Options { flags: o.flags & !libc::MS_RDONLY, ..o.clone() };
        &rw
    } else {
        o
    };
    let src = ctx.sources.get(index).and_then(Option::as_ref);
    mount_one(ctx, m, o, kind, src).with_context(|| {
        format!(
            "mounts[{index}]: {} on {}",
            m.source.as_deref().unwrap_or(m.kind.as_deref().unwrap_or("none")),
            m.destination
        )
    })
}

fn mount_one(ctx: &Ctx, m: &Mount, o: &Options, kind: MountKind, src: Option<&OwnedFd>) -> Result<()> {
    match kind {
        MountKind::Bind => bind_mount(ctx, m, o, src)?,
        MountKind::Cgroup => cgroup_mount(ctx, m, o)?,
        MountKind::Fs => {
            let fs = m.kind.as_deref().filter(|k| !k.is_empty()).unwrap_or("none");
            fs_mount(ctx, fs, m, o)?
        }
    }
    if !o.propagation.is_empty() || o.rec_set != 0 || o.rec_clear != 0 {
        let t = ctx.root.handle(&m.destination)?;
        for p in &o.propagation {
            sys::mount(None, &fd_path(&t), None, *p, None).context("changing propagation")?;
        }
        if o.rec_set != 0 || o.rec_clear != 0 {
            set_attr(&t, o.rec_set, o.rec_clear)?;
        }
    }
    Ok(())
}

/// Remounts a filesystem mount with its configured flags (the last step of
/// a read-only /dev).
pub fn remount(root: &Root, (m, o): &(Mount, Options)) -> Result<()> {
    let t = root.handle(&m.destination)?;
    sys::mount(None, &fd_path(&t), None, o.flags | libc::MS_REMOUNT, Some(&o.data()))
        .with_context(|| format!("making {} read-only", m.destination))
}

/// A handle on `p` in the container, or None when it does not exist there.
fn existing(root: &Root, p: &str, field: &str) -> Result<Option<OwnedFd>> {
    match root.handle(p) {
        Ok(h) => Ok(Some(h)),
        Err(e) if sys::errno_is(&e, libc::ENOENT) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("{field}: {p}")),
    }
}

/// The container's /dev/null, verified to be the 1:3 character device
/// itself (not a link, not a file a hook or the image put there): masks are
/// bound from this very handle (the CVE-2025-31133 class of attacks).
fn null_device(root: &Root) -> Result<OwnedFd> {
    let fd = root.open_at("/dev/null", libc::O_PATH | libc::O_NOFOLLOW, 0).context("opening /dev/null")?;
    let st = sys::fstat(&fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        bail!("/dev/null in the container is not the null device (mode {:o})", st.st_mode);
    }
    Ok(fd)
}

/// `linux.maskedPaths`: directories get an empty read-only tmpfs, files /dev/null.
pub fn mask(root: &Root, paths: &[String]) -> Result<()> {
    let mut null = None;
    for p in paths {
        let Some(h) = existing(root, p, "linux.maskedPaths")? else {
            continue;
        };
        let is_dir = sys::fstat(&h)?.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let r = if is_dir {
            sys::mount(Some("tmpfs"), &fd_path(&h), Some("tmpfs"), libc::MS_RDONLY, None)
        } else {
            if null.is_none() {
                null = Some(null_device(root).context("linux.maskedPaths")?);
            }
            let src = fd_path(null.as_ref().expect("set just above"));
            sys::mount(Some(&src), &fd_path(&h), None, libc::MS_BIND, None)
        };
        r.with_context(|| format!("linux.maskedPaths: masking {p}"))?;
    }
    Ok(())
}

/// `linux.readonlyPaths`: bind each onto itself, then remount read-only.
pub fn readonly(root: &Root, paths: &[String]) -> Result<()> {
    for p in paths {
        let Some(h) = existing(root, p, "linux.readonlyPaths")? else {
            continue;
        };
        let path = fd_path(&h);
        sys::mount(Some(&path), &path, None, libc::MS_BIND | libc::MS_REC, None)
            .with_context(|| format!("linux.readonlyPaths: binding {p}"))?;
        let h = root.handle(p)?;
        remount_bind(&fd_path(&h), libc::MS_RDONLY | libc::MS_REC)
            .with_context(|| format!("linux.readonlyPaths: {p}"))?;
    }
    Ok(())
}
