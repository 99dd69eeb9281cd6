//! Intel RDT through the resctrl filesystem: a group is a directory of
//! the resctrl mount, its `schemata` file holds the allocations and its
//! `tasks` file the processes in it.

use super::mountinfo;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A group a container is in; `created` when berth made it (and so
/// removes it on delete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub dir: PathBuf,
    pub created: bool,
}

/// Where resctrl is mounted in berth's mount namespace.
pub fn mount_point() -> Result<PathBuf> {
    let mounts = mountinfo::read().context("reading the mount table")?;
    match mounts.into_iter().rev().find(|m| m.fstype == "resctrl") {
        Some(m) => Ok(PathBuf::from(m.mount_point)),
        None => bail!("linux.intelRdt: no resctrl filesystem is mounted (Intel RDT needs one: mount -t resctrl resctrl /sys/fs/resctrl)"),
    }
}

pub fn make(dir: &Path) -> Result<()> {
    std::fs::create_dir(dir).with_context(|| format!("linux.intelRdt: creating the group {}", dir.display()))
}

pub fn read_schemata(dir: &Path) -> Result<String> {
    std::fs::read_to_string(dir.join("schemata"))
        .with_context(|| format!("linux.intelRdt: reading {}/schemata", dir.display()))
}

pub fn write_schemata(dir: &Path, text: &str) -> Result<()> {
    std::fs::write(dir.join("schemata"), text).with_context(|| {
        let why = std::fs::read_to_string(dir.parent().unwrap_or(dir).join("info/last_cmd_status")).unwrap_or_default();
        format!("linux.intelRdt: writing {:?} to {}/schemata ({})", text.trim_end(), dir.display(), why.trim())
    })
}

pub fn add_task(dir: &Path, pid: i32) -> Result<()> {
    std::fs::write(dir.join("tasks"), pid.to_string())
        .with_context(|| format!("linux.intelRdt: adding pid {pid} to {}/tasks", dir.display()))
}

/// Whether the L3 monitoring features include `feature` (llc_occupancy
/// for CMT, mbm_total_bytes for MBM).
pub fn monitors(root: &Path, feature: &str) -> bool {
    std::fs::read_to_string(root.join("info/L3_MON/mon_features")).is_ok_and(|f| f.lines().any(|l| l == feature))
}

/// Removes a group berth made; its tasks fall back to the default group.
pub fn remove(g: &Group) {
    if g.created {
        let _ = std::fs::remove_dir(&g.dir);
    }
}
