//! What init does to the container's filesystem, and in which order, as a
//! pure function of the checked config: tested without mounting anything.
//! `init` carries the steps out with the primitives of `linux::mounts`
//! and `linux::rootfs`.

pub use crate::linux::mounts::MountKind;
use crate::spec::mount_opts::{is_bind, Options};
use crate::spec::types::Mount;
use crate::spec::validate::Checked;
use libc::c_ulong;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Set the propagation of `/` (MS_* flags), then bind the rootfs onto
    /// itself so that it is a mount point.
    Prepare {
        propagation: c_ulong,
    },
    /// No mount namespace of the container's own: bind the rootfs onto
    /// itself, private, leaving `/` alone (everything after is mounted
    /// in that private tree, and removed by delete).
    PrepareInHost,
    /// `mounts[index]`; `rw_first`: a read-only /dev that is mounted
    /// read-write so that its nodes can be made, and `DevReadonly` later.
    Mount {
        index: usize,
        kind: MountKind,
        rw_first: bool,
    },
    /// The default device nodes, `linux.devices` and the /dev links (only
    /// when /dev is not a bind: then berth would change the host's).
    Devices,
    /// `mounts[index]` (the last /dev) read-only again.
    DevReadonly {
        index: usize,
    },
    /// `process.cwd` made inside the rootfs.
    Cwd(String),
    /// The createContainer hooks (and, before them, createRuntime/prestart
    /// in the parent), run in the container's mount namespace before the
    /// root changes.
    Hooks,
    /// pivot_root into the rootfs and detach the old root.
    Pivot,
    /// `--no-pivot`: move the rootfs over / and chroot.
    MoveRoot,
    /// No mount namespace of the container's own: chroot (runc's way).
    Chroot,
    /// `linux.rootfsPropagation` applied to the new /.
    RootPropagation(c_ulong),
    ReadonlyPaths,
    MaskedPaths,
    /// `root.readonly`.
    RootReadonly,
}

pub fn kind_of(m: &Mount, o: &Options) -> MountKind {
    if is_bind(m, o) {
        MountKind::Bind
    } else if m.kind.as_deref() == Some("cgroup") {
        MountKind::Cgroup
    } else {
        MountKind::Fs
    }
}

fn is_dev(m: &Mount) -> bool {
    Path::new(&m.destination).components().eq(Path::new("/dev").components())
}

/// The MS_* propagation flag a `rootfsPropagation` value names.
pub fn propagation_flag(name: &str) -> Option<c_ulong> {
    crate::spec::mount_opts::parse("", &[name.to_string()]).ok()?.propagation.first().copied()
}

/// Every step, in order.
pub fn plan(checked: &Checked, no_pivot: bool) -> Vec<Step> {
    let spec = &checked.spec;
    let linux = spec.linux();
    let root_prop = linux.rootfs_propagation.as_deref().filter(|p| !p.is_empty()).and_then(propagation_flag);
    let mut prepare = root_prop.unwrap_or(libc::MS_SLAVE | libc::MS_REC);
    if prepare & libc::MS_UNBINDABLE != 0 {
        // An unbindable tree cannot give the rootfs bind: private for the
        // set-up, unbindable once pivoted (RootPropagation).
        prepare = libc::MS_PRIVATE | libc::MS_REC;
    }
    let own_mount_ns = checked.namespaces.is_private(crate::spec::namespaces::Kind::Mount);
    let mut steps = vec![if own_mount_ns { Step::Prepare { propagation: prepare } } else { Step::PrepareInHost }];

    let last_dev = checked.mounts.iter().rposition(|(m, _)| is_dev(m));
    let dev_bound = checked.mounts.iter().any(|(m, o)| is_dev(m) && is_bind(m, o));
    let mut dev_ro_at = None;
    for (index, (m, o)) in checked.mounts.iter().enumerate() {
        let kind = kind_of(m, o);
        let rw_first = is_dev(m) && o.flags & libc::MS_RDONLY != 0 && kind != MountKind::Bind;
        if rw_first && Some(index) == last_dev {
            dev_ro_at = Some(index);
        }
        steps.push(Step::Mount { index, kind, rw_first });
    }
    if !dev_bound {
        steps.push(Step::Devices);
    }
    if let Some(index) = dev_ro_at {
        steps.push(Step::DevReadonly { index });
    }
    if let Some(p) = &spec.process {
        steps.push(Step::Cwd(p.cwd.clone()));
    }
    steps.push(Step::Hooks);
    steps.push(match (own_mount_ns, no_pivot) {
        (false, _) => Step::Chroot,
        (true, true) => Step::MoveRoot,
        (true, false) => Step::Pivot,
    });
    if let Some(p) = root_prop {
        steps.push(Step::RootPropagation(p));
    }
    if !linux.readonly_paths.is_empty() {
        steps.push(Step::ReadonlyPaths);
    }
    if !linux.masked_paths.is_empty() {
        steps.push(Step::MaskedPaths);
    }
    if spec.root.as_ref().is_some_and(|r| r.readonly) {
        steps.push(Step::RootReadonly);
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::MountKind::*;
    use super::*;
    use crate::spec::validate;

    fn checked(extra: serde_json::Value) -> Checked {
        let mut v = crate::spec::default::spec(false, 0, 0, true);
        for (k, val) in extra.as_object().unwrap() {
            let (top, sub) = k.split_once('.').map_or((k.as_str(), None), |(a, b)| (a, Some(b)));
            match sub {
                None => v[top] = val.clone(),
                Some(s) => v[top][s] = val.clone(),
            }
        }
        validate::check(serde_json::from_value(v).unwrap()).unwrap()
    }

    fn mounts(s: &[Step]) -> Vec<(usize, MountKind, bool)> {
        s.iter()
            .filter_map(|s| match s {
                Step::Mount { index, kind, rw_first } => Some((*index, *kind, *rw_first)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn default_spec_order() {
        let c = checked(serde_json::json!({}));
        let s = plan(&c, false);
        assert_eq!(s[0], Step::Prepare { propagation: libc::MS_SLAVE | libc::MS_REC });
        // proc, /dev tmpfs, devpts, shm, mqueue, sysfs, cgroup — in config order.
        let m = mounts(&s);
        assert_eq!(m.len(), c.mounts.len());
        assert!(m.iter().enumerate().all(|(i, (idx, _, _))| i == *idx));
        assert_eq!(m.iter().filter(|x| x.1 == Cgroup).count(), 1);
        assert!(m.iter().all(|x| x.1 != Bind && !x.2));
        let tail: Vec<&Step> = s.iter().skip(1 + m.len()).collect();
        assert_eq!(
            tail,
            [
                &Step::Devices,
                &Step::Cwd("/".into()),
                &Step::Hooks,
                &Step::Pivot,
                &Step::ReadonlyPaths,
                &Step::MaskedPaths,
                &Step::RootReadonly
            ]
        );
    }

    #[test]
    fn bound_dev_gets_no_nodes_and_bind_wins_over_type() {
        let c = checked(serde_json::json!({"mounts": [
            {"destination": "/dev", "type": "tmpfs", "source": "/dev", "options": ["rbind", "ro"]},
            {"destination": "/x", "type": "bind", "source": "/tmp"},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
        ]}));
        let s = plan(&c, true);
        assert_eq!(mounts(&s), [(0, Bind, false), (1, Bind, false), (2, Cgroup, false)]);
        assert!(!s.contains(&Step::Devices));
        assert!(!s.iter().any(|x| matches!(x, Step::DevReadonly { .. })));
        assert!(s.contains(&Step::MoveRoot) && !s.contains(&Step::Pivot));
    }

    #[test]
    fn readonly_dev_is_made_rw_then_readonly_after_its_nodes() {
        let c = checked(serde_json::json!({"mounts": [
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
        ]}));
        let s = plan(&c, false);
        assert_eq!(mounts(&s), [(0, Fs, true), (1, Fs, false)]);
        let at = |want: &Step| s.iter().position(|x| x == want).unwrap();
        assert!(at(&Step::Devices) < at(&Step::DevReadonly { index: 0 }));
        assert!(at(&Step::DevReadonly { index: 0 }) < at(&Step::Hooks));
    }

    #[test]
    fn only_the_last_dev_mount_is_made_readonly() {
        let c = checked(serde_json::json!({"mounts": [
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]},
            {"destination": "/dev/", "type": "tmpfs", "source": "tmpfs"},
        ]}));
        let s = plan(&c, false);
        assert_eq!(mounts(&s), [(0, Fs, true), (1, Fs, false)]);
        assert!(!s.iter().any(|x| matches!(x, Step::DevReadonly { .. })));
    }

    #[test]
    fn unbindable_root_is_private_during_setup() {
        let c = checked(serde_json::json!({"linux.rootfsPropagation": "unbindable"}));
        let s = plan(&c, false);
        assert_eq!(s[0], Step::Prepare { propagation: libc::MS_PRIVATE | libc::MS_REC });
        let pivot = s.iter().position(|x| *x == Step::Pivot).unwrap();
        assert_eq!(s[pivot + 1], Step::RootPropagation(libc::MS_UNBINDABLE));
        let c = checked(serde_json::json!({"linux.rootfsPropagation": "rshared"}));
        assert_eq!(plan(&c, false)[0], Step::Prepare { propagation: libc::MS_SHARED | libc::MS_REC });
    }

    #[test]
    fn without_a_mount_namespace_root_stays_and_the_rootfs_is_chrooted() {
        let mut c = checked(serde_json::json!({}));
        c.namespaces = crate::spec::namespaces::Plan::from_spec(
            &c.spec.linux().namespaces.iter().filter(|n| n.kind != "mount").cloned().collect::<Vec<_>>(),
        )
        .unwrap();
        for no_pivot in [false, true] {
            let s = plan(&c, no_pivot);
            assert_eq!(s[0], Step::PrepareInHost, "/ is never touched");
            assert!(!s.iter().any(|x| matches!(x, Step::Prepare { .. } | Step::Pivot | Step::MoveRoot)));
            let at = |want: &Step| s.iter().position(|x| x == want).unwrap();
            // masked and read-only paths and a read-only root: in the chroot
            assert!(at(&Step::Hooks) < at(&Step::Chroot));
            assert!(at(&Step::Chroot) < at(&Step::MaskedPaths));
            assert_eq!(s.last(), Some(&Step::RootReadonly));
        }
    }

    #[test]
    fn no_process_no_cwd_and_no_optional_steps() {
        let c = checked(serde_json::json!({
            "process": null, "root": {"path": "rootfs"},
            "linux.maskedPaths": [], "linux.readonlyPaths": []
        }));
        let s = plan(&c, false);
        assert!(!s.iter().any(|x| matches!(x, Step::Cwd(_))));
        assert_eq!(s.last(), Some(&Step::Pivot));
    }
}
