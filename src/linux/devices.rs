//! Device nodes in the container's /dev: the default set, `linux.devices`,
//! and the /dev symlinks every container gets.

use super::inroot::{NodeKind, Root};
use super::mounts::bind;
use crate::spec::types::Device;
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{self, Mode, SFlag};
use nix::unistd::{self, Gid, Uid, UnlinkatFlags};
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// null, zero, full, random, urandom, tty: always there, read-write for all.
pub fn defaults() -> Vec<Device> {
    let d = |name: &str, major, minor| Device {
        kind: "c".into(),
        path: format!("/dev/{name}"),
        major,
        minor,
        file_mode: Some(0o666),
        uid: Some(0),
        gid: Some(0),
    };
    vec![d("null", 1, 3), d("zero", 1, 5), d("full", 1, 7), d("random", 1, 8), d("urandom", 1, 9), d("tty", 5, 0)]
}

fn file_type(kind: &str) -> u32 {
    match kind {
        "b" => libc::S_IFBLK,
        "p" => libc::S_IFIFO,
        _ => libc::S_IFCHR,
    }
}

/// Handles on the directories nodes go in, resolved inside the root once
/// per directory rather than once per node (all of /dev's are in one).
struct Parents<'r> {
    root: &'r Root,
    last: Option<(String, OwnedFd)>,
}

impl<'r> Parents<'r> {
    fn new(root: &'r Root) -> Self {
        Parents { root, last: None }
    }

    /// The handle on `rel`'s parent and its last component's name.
    fn of(&mut self, rel: &str) -> std::io::Result<(&OwnedFd, CString)> {
        let parent = Path::new(rel).parent().map_or("/".into(), |p| p.to_string_lossy().into_owned());
        let (fd, name) = match self.last.take() {
            Some((p, fd)) if p == parent => {
                let name = Path::new(rel).file_name().map(|n| CString::new(n.as_bytes()));
                match name {
                    Some(Ok(n)) => (fd, n),
                    // No name, or a NUL in it: the full call says why.
                    _ => self.root.parent_of(rel)?,
                }
            }
            _ => self.root.parent_of(rel)?,
        };
        let (_, fd) = self.last.insert((parent, fd));
        Ok((fd, name))
    }
}

fn create_one(parents: &mut Parents, d: &Device, in_userns: bool) -> Result<()> {
    if in_userns {
        // mknod is not allowed in a user namespace: show the host's node instead.
        let target = parents.root.ensure(&d.path, NodeKind::File)?;
        return bind(&d.path, &target, false);
    }
    let (dir, name) = parents.of(&d.path)?;
    let kind = SFlag::from_bits_retain(file_type(&d.kind));
    let perm = Mode::from_bits_retain(d.file_mode.unwrap_or(0o666) & 0o7777);
    let dev = stat::makedev(d.major as u64, d.minor as u64);
    // A node already there is replaced (on a fresh /dev there is none:
    // the unlink comes only after mknod found one).
    match stat::mknodat(dir, name.as_c_str(), kind, perm, dev) {
        Err(Errno::EEXIST) => {
            let _ = unistd::unlinkat(dir, name.as_c_str(), UnlinkatFlags::NoRemoveDir);
            stat::mknodat(dir, name.as_c_str(), kind, perm, dev).context("mknod")?;
        }
        r => r.context("mknod")?,
    }
    let (uid, gid) = (Uid::from_raw(d.uid.unwrap_or(0)), Gid::from_raw(d.gid.unwrap_or(0)));
    unistd::fchownat(dir, name.as_c_str(), Some(uid), Some(gid), AtFlags::AT_SYMLINK_NOFOLLOW).context("chown")?;
    Ok(())
}

pub fn create_all(root: &Root, devices: &[Device], in_userns: bool) -> Result<()> {
    let mut all: Vec<Device> = defaults().into_iter().filter(|d| !devices.iter().any(|x| x.path == d.path)).collect();
    all.extend(devices.iter().cloned());
    let mut parents = Parents::new(root);
    for (i, d) in all.iter().enumerate() {
        create_one(&mut parents, d, in_userns).with_context(|| format!("creating device {} ({i})", d.path))?;
    }
    Ok(())
}

/// /dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx → pts/ptmx.
/// Standard descriptors on a /dev/null other than the container's (the
/// caller's, e.g. conmon's stdin) are reopened on the container's, as runc
/// does: a descriptor on a mount outside the container is what CRIU cannot
/// checkpoint. Runs after the root changed.
pub fn reopen_stdio_dev_null() -> Result<()> {
    let Ok(ours) = stat::stat("/dev/null") else { return Ok(()) };
    if ours.st_mode & libc::S_IFMT != libc::S_IFCHR {
        return Ok(());
    }
    let mut null = None;
    for fd in 0..3 {
        // SAFETY: 0, 1, 2 stay open for the whole process.
        let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let Ok(st) = stat::fstat(b) else { continue };
        let same_node = st.st_dev == ours.st_dev && st.st_ino == ours.st_ino;
        if st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == ours.st_rdev && !same_node {
            if null.is_none() {
                // The node itself (no link followed), checked once open.
                let fd = super::sys::open(std::path::Path::new("/dev/null"), libc::O_RDWR | libc::O_NOFOLLOW, 0)
                    .context("opening /dev/null")?;
                let st = stat::fstat(&fd).context("fstat of /dev/null")?;
                if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != ours.st_rdev {
                    return Ok(());
                }
                null = Some(fd);
            }
            let n = null.as_ref().expect("opened just above");
            // SAFETY: dup2 onto a standard descriptor we own.
            super::sys::cvt(unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(n), fd) })
                .with_context(|| format!("reopening descriptor {fd} on the container's /dev/null"))?;
        }
    }
    Ok(())
}

pub fn links(root: &Root) -> Result<()> {
    let mut list = vec![
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
    ];
    if std::path::Path::new("/proc/kcore").exists() {
        list.push(("/proc/kcore", "/dev/core"));
    }
    let mut parents = Parents::new(root);
    for (to, at) in list {
        let (dir, name) = parents.of(at)?;
        match unistd::symlinkat(to, dir, name.as_c_str()) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e).with_context(|| format!("linking {at}")),
        }
    }
    let (dir, name) = parents.of("/dev/ptmx")?;
    // A node already there is replaced; a missing one is fine.
    let _ = unistd::unlinkat(dir, name.as_c_str(), UnlinkatFlags::NoRemoveDir);
    unistd::symlinkat("pts/ptmx", dir, name.as_c_str()).context("linking /dev/ptmx")?;
    Ok(())
}
