//! `restore`: a container made anew from a criu image — state directory,
//! cgroup and limits as create makes them, then criu restores the process
//! tree into that cgroup, as a child of berth, under the bundle's rootfs.

use super::checkpoint::{external_mounts, host_source};
use super::criu::{self, Common, RestoreInputs};
use crate::cgroups::{apply, layout::Layout, Cgroup};
use crate::container::journal::{self, Entry, Journal};
use crate::container::state::Record;
use crate::container::store::{Locked, Store};
use crate::linux::sys;
use crate::spec::namespaces::{Kind, Mode};
use crate::spec::validate;
use crate::{log, spec};
use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct Restored {
    pub locked: Locked,
    pub record: Record,
}

pub fn restore(store: &Store, id: &str, bundle: &Path, c: &Common) -> Result<Restored> {
    criu::check_common(c)?;
    let (spec, raw) = spec::load_raw(bundle)?;
    let checked = validate::check(spec)?;
    let linux = checked.spec.linux();
    if !linux.net_devices.is_empty() || linux.intel_rdt.is_some() {
        bail!("restore: linux.netDevices and linux.intelRdt are not restored by berth yet");
    }
    if !checked.namespaces.is_private(Kind::Mount) {
        bail!("restore: a container without a mount namespace cannot be restored (criu restores one)");
    }
    let root = checked.spec.root.as_ref().map(|r| r.path.clone()).unwrap_or_default();
    let rootfs =
        bundle.join(&root).canonicalize().with_context(|| format!("root.path: {}", bundle.join(&root).display()))?;
    let layout = Layout::detect()?;
    let locked = store.create(id)?;
    match restore_into(&locked, id, bundle, &rootfs, &checked, &raw, &layout, c) {
        Ok(record) => Ok(Restored { locked, record }),
        Err(e) => {
            journal::undo(&locked.dir);
            let _ = std::fs::remove_dir(locked.dir.join("criu-root"));
            let _ = locked.remove();
            Err(e)
        }
    }
}

/// criu mounts over the mount points the dumped container had: a fresh
/// rootfs (a new snapshot) may lack those create made. Made here as create
/// would (a file for a bind of a file), except under a tmpfs, whose
/// content criu restores itself.
fn make_mount_points(rootfs: &Path, checked: &validate::Checked, bundle: &Path) -> Result<()> {
    use crate::linux::inroot::{NodeKind, Root};
    let tmpfs: Vec<&str> = checked
        .mounts
        .iter()
        .filter(|(m, _)| m.kind.as_deref() == Some("tmpfs"))
        .map(|(m, _)| m.destination.as_str())
        .collect();
    let root = Root::open(rootfs).context("opening the rootfs")?;
    for (m, o) in &checked.mounts {
        let under_tmpfs = tmpfs.iter().any(|t| Path::new(&m.destination).starts_with(t) && m.destination != *t);
        if m.kind.as_deref() == Some("cgroup") || under_tmpfs {
            continue;
        }
        let file = crate::spec::mount_opts::is_bind(m, o) && !host_source(m, bundle).is_dir();
        root.ensure(&m.destination, if file { NodeKind::File } else { NodeKind::Dir })
            .with_context(|| format!("restore: making the mount point {}", m.destination))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn restore_into(
    locked: &Locked,
    id: &str,
    bundle: &Path,
    rootfs: &Path,
    checked: &validate::Checked,
    raw: &[u8],
    layout: &Layout,
    c: &Common,
) -> Result<Record> {
    let linux = checked.spec.linux();
    locked.save_config(raw)?;
    let mut journal = Journal::open(&locked.dir)?;
    let path = linux.cgroups_path.as_deref();
    journal.note(&Entry::Cgroup(Cgroup::planned(layout, path, id)))?;
    let cgroup = Cgroup::create(layout, path, id)?;
    if let Some(r) = &linux.resources {
        for w in apply::apply(&cgroup, r, false)? {
            log::warn(&w);
        }
    }
    // criu puts the restored tasks in the cgroup it runs in, under this root.
    let cgroup_root =
        cgroup.dirs.first().and_then(|(h, d)| d.strip_prefix(&h.mount).ok()).map(|r| format!("/{}", r.display()));

    let descriptors: Vec<String> = match std::fs::read(c.image_path.join(criu::DESCRIPTORS)) {
        Ok(d) => crate::json::from_bytes(&d).context("reading descriptors.json")?,
        Err(_) => Vec::new(),
    };
    let mut inherit = criu::pipes_to_inherit(&descriptors);
    // A network namespace joined by path is given, not restored.
    let netns: Option<OwnedFd> = match checked.namespaces.mode(Kind::Network) {
        Mode::Join(p) => {
            Some(sys::open(Path::new(p), libc::O_RDONLY, 0).with_context(|| format!("linux.namespaces: {p}"))?)
        }
        _ => None,
    };
    if let Some(fd) = &netns {
        inherit.push((fd.as_raw_fd(), criu::EXT_NETNS.to_string()));
    }
    let binds = external_mounts(checked, bundle);
    make_mount_points(rootfs, checked, bundle)?;
    let criu_root = locked.dir.join("criu-root");
    std::fs::create_dir(&criu_root).context("creating the criu root")?;
    let pid_file = locked.dir.join("criu.pid");
    let inputs = RestoreInputs { root: criu_root.clone(), pid_file: pid_file.clone(), binds, inherit, cgroup_root };
    let args = criu::restore_args(c, &inputs);

    let dirs: Vec<PathBuf> = cgroup.dirs.iter().map(|(_, d)| d.join("cgroup.procs")).collect();
    let (root_src, root_dst) = (rootfs.to_path_buf(), criu_root.clone());
    let netns_fd = netns.as_ref().map(|f| f.as_raw_fd());
    let log_dir = c.work_path.clone().unwrap_or_else(|| c.image_path.clone());
    let result = criu::run(&args, &log_dir, "restore.log", move || {
        // In the container's cgroup (the restored tasks follow), in a
        // mount namespace of its own (the root bind never reaches berth's).
        for f in &dirs {
            std::fs::write(f, b"0")?;
        }
        if let Some(fd) = netns_fd {
            // SAFETY: fd stays open in this child until criu takes it over.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()))?;
        }
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
        use nix::mount::{mount, MsFlags};
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)?;
        mount(Some(&root_src), &root_dst, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)?;
        Ok(())
    });
    let _ = std::fs::remove_dir(&criu_root);
    result?;
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .context("reading criu's pid file")?
        .trim()
        .parse()
        .context("criu's pid file holds no pid")?;
    let _ = std::fs::remove_file(&pid_file);
    let start = journal.note_pid(pid)?;
    Ok(Record::new(checked, id, bundle, rootfs, (pid, start), cgroup))
}
