//! cgroup placement: where a container's cgroup lives in every hierarchy,
//! creating it, moving the init process into it and removing it.
//!
//! Resource limits beyond device rules are not applied by this version.

pub mod apply;
pub mod devices_v1;
pub mod devices_v2;
pub mod freeze;
pub mod kill;
pub mod layout;
pub mod resources;
pub mod stats;
pub mod systemd;

use anyhow::{bail, Context, Result};
use layout::{Hierarchy, Layout};
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// Where containers without a cgroupsPath go, in every hierarchy.
const DEFAULT_PARENT: &str = "berth";

/// One container's cgroup, as kept in its state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cgroup {
    /// Per hierarchy: the hierarchy and the container's directory in it.
    pub dirs: Vec<(Hierarchy, PathBuf)>,
    /// Directories berth made, parents before children.
    pub created: Vec<PathBuf>,
    /// The systemd unit holding the cgroup (`--systemd-cgroup`): stopped
    /// when the cgroup goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// Lexically cleans a cgroup path so that `..` cannot climb above its base.
pub fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n.to_str().unwrap_or("")),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    format!("/{}", out.join("/"))
}

/// The container's path in one hierarchy, following runc's rules: an
/// absolute cgroupsPath is taken from the hierarchy's root, a relative one
/// from the runtime's own cgroup, and none means `/berth/<id>`.
pub fn path_in(h: &Hierarchy, cgroups_path: Option<&str>, id: &str) -> PathBuf {
    let rel = match cgroups_path {
        None | Some("") => format!("/{DEFAULT_PARENT}/{id}"),
        Some(p) if p.starts_with('/') => clean(p),
        Some(p) => format!("{}{}", clean(&h.own).trim_end_matches('/'), clean(p)),
    };
    h.mount.join(rel.trim_start_matches('/'))
}

impl Cgroup {
    /// No cgroup at all (rootless without a writable one).
    pub fn none() -> Cgroup {
        Cgroup { dirs: Vec::new(), created: Vec::new(), unit: None }
    }

    /// Whether the container has a cgroup.
    pub fn exists(&self) -> bool {
        !self.dirs.is_empty()
    }

    /// What `create` would make: the directories, and in `created` every
    /// one of them (or of their parents) that does not exist yet. A create
    /// journals this before making anything.
    pub fn planned(layout: &Layout, cgroups_path: Option<&str>, id: &str) -> Cgroup {
        Cgroup::unmade(layout, cgroups_path, id).plan(|_| true)
    }

    /// The plan (as [`Cgroup::planned`]) for the hierarchies `which` picks.
    pub fn plan(&self, which: impl Fn(&Hierarchy) -> bool) -> Cgroup {
        let mut cg = Cgroup::none();
        for (h, dir) in self.dirs.iter().filter(|(h, _)| which(h)) {
            cg.created.extend(missing_dirs(h, dir));
            cg.dirs.push((h.clone(), dir.clone()));
        }
        cg
    }

    /// Creates the container's cgroup in every hierarchy.
    pub fn create(layout: &Layout, cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let mut cg = Cgroup::unmade(layout, cgroups_path, id);
        cg.make(|_| true)?;
        Ok(cg)
    }

    /// The container's directories in every hierarchy, none of them made yet.
    pub fn unmade(layout: &Layout, cgroups_path: Option<&str>, id: &str) -> Cgroup {
        let dirs = layout.hierarchies.iter().map(|h| (h.clone(), path_in(h, cgroups_path, id))).collect();
        Cgroup { dirs, created: Vec::new(), unit: None }
    }

    /// Makes the directories of the hierarchies `which` picks, adding what
    /// it made to `created` (create may make the v2 part before the clone
    /// and the v1 part beside init's start). A failure removes what this
    /// call made, and only that.
    pub fn make(&mut self, which: impl Fn(&Hierarchy) -> bool) -> Result<()> {
        let picked: Vec<(Hierarchy, PathBuf)> = self.dirs.iter().filter(|(h, _)| which(h)).cloned().collect();
        for (h, dir) in &picked {
            if freeze::frozen(h, dir) {
                bail!("container's cgroup unexpectedly frozen: {} (thaw it first)", dir.display());
            }
        }
        let mut done = Cgroup::none();
        for (h, dir) in picked {
            let mut made = done.mkdir_all(&h, &dir);
            for _ in 0..5 {
                // A concurrent delete may have removed the shared parent just now.
                match &made {
                    Err(e)
                        if e.downcast_ref::<std::io::Error>()
                            .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
                    {
                        made = done.mkdir_all(&h, &dir)
                    }
                    _ => break,
                }
            }
            if let Err(e) = made {
                done.remove();
                return Err(e);
            }
            if h.v2 {
                apply::enable_all_v2(&h, &dir);
            }
            done.dirs.push((h, dir));
        }
        self.created.extend(done.created);
        Ok(())
    }

    /// `--systemd-cgroup`, once systemd has started the unit: what systemd
    /// did not make (hierarchies it does not manage) is made here; every
    /// directory is already in `created`, as planned.
    pub fn make_rest(&self) -> Result<()> {
        let mut scratch = Cgroup::none();
        for (h, dir) in &self.dirs {
            scratch.mkdir_all(h, dir)?;
            if h.v2 {
                apply::enable_all_v2(h, dir);
            }
        }
        Ok(())
    }

    fn mkdir_all(&mut self, h: &Hierarchy, dir: &Path) -> Result<()> {
        self.mkdir_p(h, dir)?;
        if h.has_v1("cpuset") {
            // Every level needs cpus and mems before a task may join, including
            // a shared parent another create made a moment ago.
            let mut chain: Vec<&Path> =
                dir.ancestors().take_while(|p| p.starts_with(&h.mount) && *p != h.mount).collect();
            chain.reverse();
            inherit_cpusets(&chain, &self.created)?;
        }
        Ok(())
    }

    /// mkdir -p inside the hierarchy, leaf first (its parent mostly exists:
    /// one mkdir, no stat of every level); what it makes goes to `created`,
    /// parents before children.
    fn mkdir_p(&mut self, h: &Hierarchy, d: &Path) -> Result<()> {
        let made = match std::fs::create_dir(d) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match d.parent() {
                Some(p) if p.starts_with(&h.mount) && p != h.mount => {
                    self.mkdir_p(h, p)?;
                    std::fs::create_dir(d)
                }
                _ => Err(e),
            },
            r => r,
        };
        match made {
            Ok(()) => self.created.push(d.to_path_buf()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating cgroup {}", d.display())),
        }
        Ok(())
    }

    /// The container's directory in the v1 hierarchy holding `controller`.
    pub fn v1_dir(&self, controller: &str) -> Option<(&Hierarchy, &Path)> {
        self.dirs.iter().find(|(h, _)| h.has_v1(controller)).map(|(h, d)| (h, d.as_path()))
    }

    /// The v2 directory, for CLONE_INTO_CGROUP.
    pub fn v2_dir(&self) -> Option<&Path> {
        self.dirs.iter().find(|(h, _)| h.v2).map(|(_, d)| d.as_path())
    }

    pub fn open_v2(&self) -> Result<Option<OwnedFd>> {
        let Some(d) = self.v2_dir() else {
            return Ok(None);
        };
        let fd = crate::linux::sys::open(d, libc::O_PATH | libc::O_DIRECTORY, 0)
            .with_context(|| format!("opening cgroup {}", d.display()))?;
        Ok(Some(fd))
    }

    /// Moves `pid` into every hierarchy, but v2 when CLONE_INTO_CGROUP put
    /// it there (`skip_v2`) and v1 when it moved itself (`skip_v1`, see
    /// [`Cgroup::enter_v1_self`]).
    pub fn enter(&self, pid: i32, skip_v2: bool, skip_v1: bool) -> Result<()> {
        for (h, d) in &self.dirs {
            if Self::skipped(h, skip_v2, skip_v1) {
                continue;
            }
            let f = d.join("cgroup.procs");
            crate::linux::sys::write_file(&f.to_string_lossy(), pid.to_string().as_bytes())
                .with_context(|| format!("moving pid {pid} into {}", f.display()))?;
        }
        Ok(())
    }

    /// Whether [`Cgroup::enter`] with these skips has anything to write.
    pub fn enter_writes(&self, skip_v2: bool, skip_v1: bool) -> bool {
        self.dirs.iter().any(|(h, _)| !Self::skipped(h, skip_v2, skip_v1))
    }

    fn skipped(h: &Hierarchy, skip_v2: bool, skip_v1: bool) -> bool {
        (h.v2 && skip_v2) || (!h.v2 && skip_v1)
    }

    /// Moves the calling process, which must have one thread (a child
    /// just cloned), into every v1 hierarchy by writing "0" to `tasks`.
    /// The kernel moves the caller itself without taking the global
    /// threadgroup lock, whose first writer waits out an RCU grace period:
    /// a pid written into cgroup.procs by the parent costs 10–15 ms on a
    /// quiet host, this ≈ 0.3 ms for all hierarchies (measured on 6.18).
    pub fn enter_v1_self(&self) -> Result<()> {
        for (_, d) in self.dirs.iter().filter(|(h, _)| !h.v2) {
            let f = d.join("tasks");
            crate::linux::sys::write_file(&f.to_string_lossy(), b"0")
                .with_context(|| format!("moving into {}", f.display()))?;
        }
        Ok(())
    }

    /// Pids in the container's cgroup (from the first hierarchy that lists any).
    pub fn pids(&self) -> Vec<i32> {
        self.dirs.iter().map(|(_, d)| procs_in(d)).find(|v| !v.is_empty()).unwrap_or_default()
    }

    /// Like [`Cgroup::pids`], but only where the directory existed before
    /// this create: one berth just made holds nothing (create's check for a
    /// busy cgroup read ten empty cgroup.procs files on a v1 host).
    pub fn pids_before(&self) -> Vec<i32> {
        self.dirs
            .iter()
            .filter(|(_, d)| !listed(&self.created, d))
            .map(|(_, d)| procs_in(d))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    }

    /// Kills what is left inside and removes what berth created. Errors
    /// are not fatal: a leftover is reported by the caller's checks.
    pub fn remove(&self) {
        // Only a cgroup berth made is emptied: a pre-existing one may hold
        // others' processes (a create that failed never owned it).
        self.remove_dirs(false);
    }

    /// `delete`: the container's own directories go with every sub-cgroup
    /// made inside them, also when they existed before create (runc's
    /// rule); their parents only when berth made them.
    pub fn destroy(&self) {
        self.remove_dirs(true);
    }

    fn remove_dirs(&self, own_all: bool) {
        let ours: Vec<&PathBuf> =
            self.dirs.iter().map(|(_, d)| d).filter(|d| own_all || listed(&self.created, d)).collect();
        // Mostly the container is gone by now (its init ended, and with it
        // its pid namespace): then one rmdir per directory does it, with no
        // freezing, reading or signalling. Anything left makes rmdir fail.
        let gone = self.unit.is_none()
            && ours.iter().all(|d| match std::fs::remove_dir(d) {
                Ok(()) => true,
                Err(e) => e.kind() == std::io::ErrorKind::NotFound,
            });
        if !gone {
            // Processes are killed only where berth made the cgroup: a
            // directory that existed before may hold others' (runc leaves
            // those too).
            self.kill_until_empty(kill::Reach::Made, std::time::Instant::now() + kill::KILL_WAIT);
            if let Some(unit) = &self.unit {
                // Empty now, so the stop is immediate; systemd removes its cgroup.
                match systemd::Systemd::connect().and_then(|mut sd| sd.stop(unit)) {
                    Ok(()) => {}
                    Err(e) => crate::log::warn(&format!("stopping systemd unit {unit}: {e:#}")),
                }
            }
            for d in &ours {
                rmdir_tree(d);
            }
        }
        // The parents berth made (the container's own directories are gone).
        for d in self.created.iter().rev().filter(|d| !listed(&ours, d)) {
            let _ = std::fs::remove_dir(d);
        }
        // The shared default parent `/berth` goes when its last container
        // does (once: the pass above took it when this create made it).
        // Other containers use it in every hierarchy: the first one that
        // is still in use ends the pass (with hundreds of containers, as
        // on a busy host, that is one failed rmdir rather than nine).
        for (h, d) in &self.dirs {
            let shared = h.mount.join(DEFAULT_PARENT);
            if d.parent() == Some(shared.as_path()) && !listed(&self.created, &shared) {
                if let Err(e) = std::fs::remove_dir(&shared) {
                    if e.raw_os_error() == Some(libc::EBUSY) {
                        break;
                    }
                }
            }
        }
    }
}

/// Whether `p` is in `list`, byte for byte: the paths all come from
/// `path_in`, and a Path's own comparison walks the components of both
/// (a quarter of create's instructions went to it).
fn listed<P: AsRef<Path>>(list: &[P], p: &Path) -> bool {
    list.iter().any(|c| c.as_ref().as_os_str() == p.as_os_str())
}

/// `dir` and its parents inside the hierarchy that do not exist, outermost first.
fn missing_dirs(h: &Hierarchy, dir: &Path) -> Vec<PathBuf> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.exists() {
        missing.push(cur.to_path_buf());
        match cur.parent() {
            Some(p) if p.starts_with(&h.mount) => cur = p,
            _ => break,
        }
    }
    missing.reverse();
    missing
}

fn procs_in(dir: &Path) -> Vec<i32> {
    let s = crate::files::read_kernel_text(&dir.join("cgroup.procs")).unwrap_or_default();
    s.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Processes in `dir` and every cgroup below it.
pub(crate) fn procs_in_tree(dir: &Path) -> Vec<i32> {
    let mut pids = procs_in(dir);
    for sub in sub_cgroups(dir) {
        pids.extend(procs_in_tree(&sub));
    }
    pids
}

fn sub_cgroups(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
}

/// Removes `dir` after every cgroup below it, deepest first.
fn rmdir_tree(dir: &Path) {
    for sub in sub_cgroups(dir) {
        rmdir_tree(&sub);
    }
    rmdir_retry(dir);
}

fn rmdir_retry(d: &Path) {
    for _ in 0..100 {
        match std::fs::remove_dir(d) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(std::time::Duration::from_millis(5)),
            _ => return,
        }
    }
}

/// A new v1 cpuset cgroup starts empty and accepts no task: each level of
/// `chain` (top first) that has no cpus or mems gets its parent's. A level
/// berth made just now (in `created`) is empty without a read; the values
/// a level ends with serve the level below, so no file is read twice.
fn inherit_cpusets(chain: &[&Path], created: &[PathBuf]) -> Result<()> {
    let mut above: [Option<String>; 2] = [None, None];
    for d in chain {
        let fresh = listed(created, d);
        for (f, above) in ["cpuset.cpus", "cpuset.mems"].into_iter().zip(above.iter_mut()) {
            let own = match fresh {
                true => String::new(),
                false => crate::files::read_kernel_text(&d.join(f)).unwrap_or_default().trim().to_string(),
            };
            let empty = own.is_empty();
            let value = match (empty, above.take()) {
                (false, _) => own,
                (true, Some(v)) => v,
                (true, None) => {
                    let parent = d.parent().unwrap_or(d).join(f);
                    let v = crate::files::read_kernel_text(&parent)
                        .with_context(|| format!("reading {}", parent.display()))?;
                    v.trim().to_string()
                }
            };
            if empty {
                crate::linux::sys::write_file(&d.join(f).to_string_lossy(), value.as_bytes())
                    .with_context(|| format!("writing {}", d.join(f).display()))?;
            }
            *above = Some(value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(own: &str) -> Hierarchy {
        Hierarchy { mount: "/sys/fs/cgroup/memory".into(), own: own.into(), v2: false, options: "memory".into() }
    }

    #[test]
    fn cpusets_are_inherited_level_by_level() {
        let top = std::env::temp_dir().join(format!("berth-cpuset-{}", std::process::id()));
        let (a, b, c) = (top.join("a"), top.join("a/b"), top.join("a/b/c"));
        std::fs::create_dir_all(&c).unwrap();
        let put = |d: &Path, cpus: &str, mems: &str| {
            std::fs::write(d.join("cpuset.cpus"), cpus).unwrap();
            std::fs::write(d.join("cpuset.mems"), mems).unwrap();
        };
        put(&a, "0-3\n", "0\n");
        // b existed with its own cpus and no mems; c is new (empty, as the kernel makes it).
        put(&b, "1\n", "");
        put(&c, "", "");
        inherit_cpusets(&[&b, &c], std::slice::from_ref(&c)).unwrap();
        let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
        assert_eq!((read(&b, "cpuset.cpus"), read(&b, "cpuset.mems")), ("1\n".into(), "0".into()));
        assert_eq!((read(&c, "cpuset.cpus"), read(&c, "cpuset.mems")), ("1".into(), "0".into()));
        std::fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn enter_writes_only_where_the_child_did_not_place_itself() {
        let v2 = Hierarchy { mount: "/sys/fs/cgroup/unified".into(), own: "/".into(), v2: true, options: "".into() };
        let both = Cgroup { dirs: vec![(h("/"), "/m/c".into()), (v2.clone(), "/u/c".into())], ..Cgroup::none() };
        // (cloned into v2, moved itself into v1)
        assert!(!both.enter_writes(true, true));
        assert!(both.enter_writes(false, true));
        assert!(both.enter_writes(true, false));
        let v2_only = Cgroup { dirs: vec![(v2, "/u/c".into())], ..Cgroup::none() };
        assert!(!v2_only.enter_writes(true, false));
        assert!(!Cgroup::none().enter_writes(false, false));
    }

    #[test]
    fn paths_follow_runc_rules() {
        assert_eq!(path_in(&h("/user"), None, "c1"), PathBuf::from("/sys/fs/cgroup/memory/berth/c1"));
        assert_eq!(path_in(&h("/user"), Some("/a/b"), "c1"), PathBuf::from("/sys/fs/cgroup/memory/a/b"));
        assert_eq!(path_in(&h("/user"), Some("a/b"), "c1"), PathBuf::from("/sys/fs/cgroup/memory/user/a/b"));
        assert_eq!(path_in(&h("/"), Some("x"), "c1"), PathBuf::from("/sys/fs/cgroup/memory/x"));
    }

    #[test]
    fn dotdot_cannot_climb_out() {
        assert_eq!(clean("/../../etc"), "/etc");
        assert_eq!(path_in(&h("/user"), Some("../../x"), "c"), PathBuf::from("/sys/fs/cgroup/memory/user/x"));
    }
}
