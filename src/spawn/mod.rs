//! How a process enters a container: the parent side of create
//! (`parent`), the container's init (`init`), their messages (`sync`)
//! and the fork primitive (`clone`).

pub mod checkpoint;
pub mod clone;
pub mod criu;
pub mod exec;
pub mod init;
pub mod parent;
pub mod process;
pub mod restore;
pub mod rootfs_plan;
pub mod sync;
pub mod vfork;

use crate::cgroups::Cgroup;
use crate::spec::namespaces::Kind;
use crate::spec::validate::Checked;
use std::path::PathBuf;

/// Everything init needs, prepared by the parent before the fork.
pub struct Setup {
    pub id: String,
    pub checked: Checked,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub cgroup: Cgroup,
    pub fifo: PathBuf,
    /// linux.seccomp, compiled.
    pub seccomp: Option<crate::seccomp::Filter>,
    /// Bind sources opened by the parent, by mount index.
    pub sources: Vec<Option<std::os::fd::OwnedFd>>,
    /// Descriptors from 3 on that the process keeps (LISTEN_FDS + --preserve-fds).
    pub extra_fds: u32,
    /// Socket-activation descriptors passed on (LISTEN_FDS).
    pub listen_fds: u32,
    pub no_pivot: bool,
    pub new_keyring: bool,
    /// Rootless with a new user namespace: the maps are written by an
    /// unprivileged parent (or newuidmap), which must be able to open init's
    /// /proc files, so init stays dumpable until they are written.
    pub dumpable_until_go: bool,
    /// berth runs without the host's root (rootless, or in a user namespace
    /// as under rootless podman): device nodes are bound, never made.
    pub rootless: bool,
    /// Namespaces are joined or time offsets set: init unshares step by step.
    pub general: bool,
    /// A second fork is needed to enter a pid or time namespace.
    pub needs_fork: bool,
    /// No mount namespace of its own: the mounts under the rootfs before
    /// create (delete unmounts the rest).
    pub host_mounts: Option<crate::linux::rootfs::HostMounts>,
    /// The two slowest steps of a create on a cgroup v1 host (ten
    /// hierarchies) need not wait for each other: the parent makes the v1
    /// directories after the clone while init makes its namespaces with
    /// unshare (a network namespace alone takes ~0.6 ms), then init moves
    /// itself in on `Made`. Not with systemd, a new user namespace or the
    /// general path, nor rootless.
    pub v1_after_clone: bool,
}

impl Setup {
    pub fn plan_paths(checked: &Checked) -> (bool, bool) {
        let ns = &checked.namespaces;
        let general = !ns.joins().is_empty() || ns.is_new(Kind::Time);
        let needs_fork = general && (ns.is_private(Kind::Pid) || ns.is_new(Kind::Time));
        (general, needs_fork)
    }

    /// With `v1_after_clone` and no network devices to move: init is in
    /// its cgroups once it has moved itself, so it sets the container up
    /// without waiting for Go (which it reads before the hooks, the first
    /// step that needs the parent's work: rlimits, OOM score, devices).
    /// The parent's part and the handshake's round trip then run beside
    /// init's mounts. (A device-specific linux.sysctl needs its device.)
    pub fn go_late(&self) -> bool {
        self.v1_after_clone && self.checked.spec.linux().net_devices.is_empty()
    }

    /// The namespaces clone3 makes: the new ones but cgroup and time (init
    /// makes those later), and with `v1_after_clone` only pid.
    pub fn clone_flags(&self) -> i32 {
        self.checked.namespaces.new_flags() & !(libc::CLONE_NEWCGROUP | Kind::Time.clone_flag() | self.init_unshares())
    }

    /// With `v1_after_clone`: the new namespaces init makes itself at once
    /// (all that clone3 would have made but pid, which only a clone enters).
    pub fn init_unshares(&self) -> i32 {
        match self.v1_after_clone {
            true => {
                self.checked.namespaces.new_flags()
                    & (libc::CLONE_NEWNET | libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC)
            }
            false => 0,
        }
    }
}
