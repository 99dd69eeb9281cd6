//! `checkpoint`: the container's process tree dumped by criu into an image
//! directory; the container is removed afterwards unless it is left running
//! (or this is a pre-dump), as runc does.

use super::criu::{self, Dump};
use crate::container::lifecycle;
use crate::container::state::{Record, Status};
use crate::container::store::Locked;
use crate::spec::mount_opts::is_bind;
use crate::spec::namespaces::{Kind, Mode};
use crate::spec::validate::Checked;
use anyhow::{bail, Context, Result};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Made if missing (a container can be checkpointed again into the same one).
pub fn ensure_dir(p: &Path) -> Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(p) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(e).with_context(|| format!("creating {}", p.display()))
        }
        _ => Ok(()),
    }
}

/// Where a mount's source is on the host (relative sources are the
/// bundle's, as create reads them).
pub fn host_source(m: &crate::spec::types::Mount, bundle: &Path) -> PathBuf {
    bundle.join(m.source.as_deref().unwrap_or_default())
}

/// The mounts criu must treat as external, as (destination, host source):
/// bind mounts and, in a user namespace, the device nodes berth binds from
/// the host. The destination is the key in the image.
pub fn external_mounts(checked: &Checked, bundle: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = checked
        .mounts
        .iter()
        .filter(|(m, o)| is_bind(m, o))
        .map(|(m, _)| (crate::cgroups::clean(&m.destination), host_source(m, bundle).display().to_string()))
        .collect();
    if checked.namespaces.is_private(Kind::User) {
        out.extend(checked.spec.linux().devices.iter().map(|d| (crate::cgroups::clean(&d.path), d.path.clone())));
    }
    out
}

pub fn checkpoint(locked: Locked, rec: &Record, checked: &Checked, d: &Dump) -> Result<()> {
    criu::check_common(&d.common)?;
    match locked.status(rec) {
        Status::Running | Status::Paused => {}
        s => bail!("container {} is not running: {}", rec.id, s.as_str()),
    }
    ensure_dir(&d.common.image_path)?;
    if let Some(w) = &d.common.work_path {
        ensure_dir(w)?;
    }
    let netns_ino = match checked.namespaces.mode(Kind::Network) {
        Mode::Join(p) => Some(std::fs::metadata(p).with_context(|| format!("linux.namespaces: {p}"))?),
        _ => None,
    }
    .map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    if !d.pre_dump {
        // What init's stdio were: restore gives its own pipes in their place.
        let fds: Vec<String> = (0..3)
            .map(|i| std::fs::read_link(format!("/proc/{}/fd/{i}", rec.pid)).map(|l| l.to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .context("reading the descriptors of the container's init")?;
        std::fs::write(d.common.image_path.join(criu::DESCRIPTORS), serde_json::to_vec(&fds)?)
            .context("writing descriptors.json")?;
    }
    let freezer = rec.cgroup.v2_dir().or_else(|| rec.cgroup.v1_dir("freezer").map(|(_, d)| d));
    let keys: Vec<String> =
        external_mounts(checked, Path::new(&rec.bundle)).into_iter().map(|(dest, _)| dest).collect();
    let args = criu::dump_args(d, rec.pid, &keys, netns_ino, freezer);
    let log_dir = d.common.work_path.as_deref().unwrap_or(&d.common.image_path);
    criu::run(&args, log_dir, if d.pre_dump { "pre-dump.log" } else { "dump.log" }, || Ok(()))?;
    if !d.leave_running && !d.pre_dump {
        lifecycle::destroy(locked, rec)?;
    }
    Ok(())
}
