//! Which cgroup hierarchies the host has mounted: pure v1, pure v2, or the
//! hybrid layout (v1 controllers plus a cgroup2 mount).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    /// Where the hierarchy is mounted on the host.
    pub mount: PathBuf,
    /// The cgroup this process belongs to in it (relative to the mount).
    pub own: String,
    /// cgroup v2 (unified)?
    pub v2: bool,
    /// Mount options of a v1 hierarchy (its controllers and `name=`).
    pub options: String,
}

impl Hierarchy {
    /// Whether this is a v1 hierarchy holding `controller`.
    pub fn has_v1(&self, controller: &str) -> bool {
        !self.v2 && self.options.split(',').any(|o| o == controller)
    }
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub hierarchies: Vec<Hierarchy>,
}

impl Layout {
    /// Only the unified hierarchy (cgroup v2) is mounted.
    pub fn is_v2_only(&self) -> bool {
        !self.hierarchies.is_empty() && self.hierarchies.iter().all(|h| h.v2)
    }

    pub fn detect() -> Result<Layout> {
        let mountinfo = crate::files::read_kernel_text(Path::new("/proc/self/mountinfo"))
            .context("reading /proc/self/mountinfo")?;
        let own =
            crate::files::read_kernel_text(Path::new("/proc/self/cgroup")).context("reading /proc/self/cgroup")?;
        Ok(Layout::parse(&mountinfo, &own))
    }

    pub fn parse(mountinfo: &str, own_cgroups: &str) -> Layout {
        // /proc/self/cgroup's lines: hierarchy id, controllers, path.
        let own_cgroups: Vec<(&str, &str, &str)> = own_cgroups
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ':');
                Some((parts.next()?, parts.next()?, parts.next()?))
            })
            .collect();
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        for e in crate::linux::mountinfo::lines(mountinfo) {
            // The last mount wins: a later mount at a hierarchy's path, or
            // above it, hides it (a tmpfs over /sys/fs/cgroup/unified, say).
            hierarchies.retain(|h| !at_or_under(&h.mount, e.mount_point));
            let v2 = match e.fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => continue,
            };
            let mut options = String::new();
            if !v2 {
                for o in e.super_options.split(',').filter(|o| is_controller_option(o)) {
                    if !options.is_empty() {
                        options.push(',');
                    }
                    options.push_str(o);
                }
            }
            // One mount per hierarchy: the first (the host's own). A later
            // one elsewhere — the cgroup mount of a container that shares
            // berth's mount namespace, a bind — must not be taken for it.
            if hierarchies.iter().any(|h| h.v2 == v2 && h.options == options) {
                continue;
            }
            let own = own_path(&own_cgroups, v2, &options, e.root);
            hierarchies.push(Hierarchy { mount: PathBuf::from(e.mount_point), own, v2, options });
        }
        Layout { hierarchies }
    }
}

/// Whether `path` is the mount point `mp` or lies under it. Both come
/// from mountinfo, absolute and clean, so comparing text is enough (and
/// far cheaper than by components).
fn at_or_under(path: &std::path::Path, mp: &str) -> bool {
    let p = path.as_os_str().as_encoded_bytes();
    let m = mp.trim_end_matches('/').as_bytes();
    p.starts_with(m) && (p.len() == m.len() || p[m.len()] == b'/')
}

/// Whether a v1 super option names a controller (or a named hierarchy).
fn is_controller_option(o: &str) -> bool {
    const NOT: [&str; 6] = ["rw", "ro", "xattr", "clone_children", "cpuset_v2_mode", "noprefix"];
    !NOT.contains(&o) && !o.starts_with("release_agent=") && !o.is_empty()
}

/// This process's cgroup in one hierarchy, relative to the mount's root.
fn own_path(own_cgroups: &[(&str, &str, &str)], v2: bool, options: &str, mount_root: &str) -> String {
    for &(id, ctrls, path) in own_cgroups {
        let matches = if v2 {
            id == "0" && ctrls.is_empty()
        } else {
            !ctrls.is_empty() && ctrls.split(',').all(|c| !c.is_empty() && options.split(',').any(|o| o == c))
        };
        if matches {
            let rel = path.strip_prefix(mount_root).unwrap_or(path);
            return if rel.starts_with('/') { rel.to_string() } else { format!("/{rel}") };
        }
    }
    "/".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_a_mount_point_by_whole_components() {
        let p = std::path::Path::new("/sys/fs/cgroup/unified");
        assert!(at_or_under(p, "/sys/fs/cgroup/unified"));
        assert!(at_or_under(p, "/sys/fs/cgroup"));
        assert!(at_or_under(p, "/"));
        assert!(!at_or_under(p, "/sys/fs/cgroup/uni"));
        assert!(!at_or_under(p, "/sys/fs/cgroup/unified/x"));
    }

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const OWN: &str = "3:cpu:/a\n4:memory:/b\n1:name=systemd:/c\n0::/d\n";

    #[test]
    fn hybrid_layout_is_seen() {
        let l = Layout::parse(HYBRID, OWN);
        assert!(l.hierarchies.iter().any(|h| h.v2) && l.hierarchies.iter().any(|h| !h.v2));
        assert_eq!(l.hierarchies.len(), 4);
        let own: Vec<&str> = l.hierarchies.iter().map(|h| h.own.as_str()).collect();
        assert_eq!(own, ["/a", "/b", "/c", "/d"]);
        assert_eq!(l.hierarchies[2].options, "name=systemd");
    }

    #[test]
    fn the_last_mount_wins() {
        let over = format!("{HYBRID}50 41 0:60 / /sys/fs/cgroup/unified rw - tmpfs none rw\n");
        let l = Layout::parse(&over, OWN);
        assert!(!l.hierarchies.iter().any(|h| h.v2), "the covered cgroup2 is not used");
        assert_eq!(l.hierarchies.len(), 3);
        let again = format!("{over}51 50 0:61 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
        assert_eq!(Layout::parse(&again, OWN).hierarchies.iter().filter(|h| h.v2).count(), 1);
        // A container's cgroup mount in berth's mount namespace (no mount
        // namespace of its own) is not the host's hierarchy.
        let more = format!(
            "{HYBRID}90 30 0:26 / /tmp/b/rootfs/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             91 30 0:27 /berth/c1 /tmp/b/rootfs/sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        );
        let l = Layout::parse(&more, OWN);
        assert_eq!(l.hierarchies.len(), Layout::parse(HYBRID, OWN).hierarchies.len());
        assert!(l.hierarchies.iter().all(|h| !h.mount.starts_with("/tmp")), "{:?}", l.hierarchies);
        let all = format!("{HYBRID}52 23 0:62 / /sys/fs/cgroup rw - tmpfs none rw\n");
        assert!(Layout::parse(&all, OWN).hierarchies.is_empty());
    }

    #[test]
    fn pure_v2() {
        let l = Layout::parse("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", "0::/x/y\n");
        assert!(l.hierarchies.len() == 1 && l.hierarchies[0].v2);
        assert_eq!(l.hierarchies[0].own, "/x/y");
    }
}
