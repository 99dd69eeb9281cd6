//! What berth remembers about a container, and its live status.

use crate::cgroups::Cgroup;
use crate::spec::namespaces::Kind;
use crate::spec::state::OciState;
use crate::spec::types::Hooks;
use crate::spec::validate::Checked;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The format of state.json this berth writes. Fields added later take
/// `serde(default)`, so a record an older berth wrote still reads.
/// 2 added `freezer`. 3 writes everything `list` reads before `hooks`
/// (container::summary reads no further).
pub const VERSION: u32 = 3;

/// The record kept in `<root>/<id>/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// 0 for records written before the field existed.
    #[serde(default)]
    pub version: u32,
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` (clock ticks), so a recycled pid is never taken for it.
    pub pid_start: u64,
    pub bundle: String,
    pub rootfs: String,
    /// RFC 3339 with nanoseconds, UTC.
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The freezer that governs the container, (v2, directory), as picked
    /// from `cgroup`: kept apart so that `list` need not parse the
    /// hierarchies of every container (from version 2). The last field
    /// `list` reads: keep those above `hooks` (version 3).
    #[serde(default)]
    pub freezer: Option<(bool, std::path::PathBuf)>,
    /// The hooks that run after create: poststart and poststop.
    #[serde(default)]
    pub hooks: Hooks,
    pub cgroup: Cgroup,
    /// Whether the init has its own pid namespace (then killing it kills all).
    #[serde(default)]
    pub pid_ns: bool,
    /// A config without `process` can be created but not started.
    #[serde(default = "yes")]
    pub has_process: bool,
    /// `linux.netDevices` moved in at create, moved back at delete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub net_devices: Vec<crate::linux::netdev::Move>,
    /// The network namespace joined by path, if any (it outlives init).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_path: Option<String>,
    /// The Intel RDT group init joined (`linux.intelRdt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdt: Option<crate::linux::resctrl::Group>,
    /// No mount namespace of its own: what to unmount in berth's at delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_mounts: Option<crate::linux::rootfs::HostMounts>,
}

fn yes() -> bool {
    true
}

impl Record {
    /// A new container's record, as create and restore both write it: what
    /// the checked config says, init's pid and start time (as the journal
    /// noted them), its cgroup. The fields of features in use are filled in
    /// by the caller.
    pub fn new(checked: &Checked, id: &str, bundle: &Path, rootfs: &Path, init: (i32, u64), cgroup: Cgroup) -> Record {
        let (pid, pid_start) = init;
        let spec = &checked.spec;
        Record {
            version: VERSION,
            oci_version: spec.oci_version.clone(),
            id: id.to_string(),
            pid,
            pid_start,
            bundle: bundle.to_string_lossy().into_owned(),
            rootfs: rootfs.to_string_lossy().into_owned(),
            created: crate::timefmt::now(),
            owner: String::new(),
            annotations: spec.annotations.clone(),
            hooks: Hooks {
                poststart: spec.hooks.poststart.clone(),
                poststop: spec.hooks.poststop.clone(),
                ..Default::default()
            },
            freezer: crate::cgroups::freeze::freezer(&cgroup).map(|(v2, d)| (v2, d.to_path_buf())),
            cgroup,
            pid_ns: checked.namespaces.is_private(Kind::Pid),
            has_process: spec.process.is_some(),
            net_devices: Vec::new(),
            netns_path: None,
            rdt: None,
            host_mounts: None,
        }
    }

    pub fn oci_state(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: &self.oci_version,
            id: &self.id,
            pid: if status == Status::Stopped { 0 } else { self.pid },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: Some(&self.rootfs),
            created: Some(&self.created),
            owner: Some(&self.owner),
            annotations: &self.annotations,
        }
    }

    pub fn init_alive(&self) -> bool {
        crate::linux::procfs::alive(self.pid, self.pid_start)
    }
}

/// The status of a container whose init is (or is not) alive, from what is
/// in its state directory.
pub fn status_of(alive: bool, fifo_exists: bool, frozen: bool) -> Status {
    match (alive, fifo_exists, frozen) {
        (false, _, _) => Status::Stopped,
        (true, _, true) => Status::Paused,
        (true, true, false) => Status::Created,
        (true, false, false) => Status::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        assert_eq!(status_of(false, true, false), Status::Stopped);
        assert_eq!(status_of(true, true, false), Status::Created);
        assert_eq!(status_of(true, false, false), Status::Running);
        assert_eq!(status_of(true, false, true), Status::Paused);
    }
}
