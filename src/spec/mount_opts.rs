//! Parsing of OCI mount options into mount(2) flags, propagation changes,
//! recursive mount_setattr(2) attributes and filesystem data.

use anyhow::Result;
use libc::c_ulong;

pub const MS_NOSYMFOLLOW: c_ulong = 256;

pub const ATTR_RDONLY: u64 = 0x1;
pub const ATTR_NOSUID: u64 = 0x2;
pub const ATTR_NODEV: u64 = 0x4;
pub const ATTR_NOEXEC: u64 = 0x8;
pub const ATTR_ATIME: u64 = 0x70;
pub const ATTR_NOATIME: u64 = 0x10;
pub const ATTR_STRICTATIME: u64 = 0x20;
pub const ATTR_NODIRATIME: u64 = 0x80;
pub const ATTR_NOSYMFOLLOW: u64 = 0x200000;

/// What a list of mount options asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Options {
    /// Flags for mount(2).
    pub flags: c_ulong,
    /// Propagation changes, applied one call each after the mount.
    pub propagation: Vec<c_ulong>,
    /// Recursive attributes to set and clear with mount_setattr(2).
    pub rec_set: u64,
    pub rec_clear: u64,
    /// Everything else, joined with commas, for the filesystem.
    pub data: Vec<String>,
    /// `tmpcopyup`: a tmpfs starts with a copy of what it covers.
    pub tmpcopyup: bool,
    /// `idmap` (false) or `ridmap` (true, recursive): an idmapped mount.
    pub idmap: Option<bool>,
    /// The idmapped mount's maps (the mount's own, else the container's),
    /// filled in by validation.
    pub id_maps: Option<(Vec<crate::spec::types::IdMapping>, Vec<crate::spec::types::IdMapping>)>,
}

impl Options {
    pub fn is_bind(&self) -> bool {
        self.flags & libc::MS_BIND != 0
    }

    pub fn data(&self) -> String {
        self.data.join(",")
    }
}

const FLAGS: [(&str, bool, c_ulong); 35] = [
    ("defaults", false, 0),
    ("ro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("suid", true, libc::MS_NOSUID),
    ("nosuid", false, libc::MS_NOSUID),
    ("dev", true, libc::MS_NODEV),
    ("nodev", false, libc::MS_NODEV),
    ("exec", true, libc::MS_NOEXEC),
    ("noexec", false, libc::MS_NOEXEC),
    ("sync", false, libc::MS_SYNCHRONOUS),
    ("async", true, libc::MS_SYNCHRONOUS),
    ("dirsync", false, libc::MS_DIRSYNC),
    ("remount", false, libc::MS_REMOUNT),
    ("mand", false, libc::MS_MANDLOCK),
    ("nomand", true, libc::MS_MANDLOCK),
    ("atime", true, libc::MS_NOATIME),
    ("noatime", false, libc::MS_NOATIME),
    ("diratime", true, libc::MS_NODIRATIME),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("bind", false, libc::MS_BIND),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
    ("relatime", false, libc::MS_RELATIME),
    ("norelatime", true, libc::MS_RELATIME),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("nostrictatime", true, libc::MS_STRICTATIME),
    ("iversion", false, libc::MS_I_VERSION),
    ("noiversion", true, libc::MS_I_VERSION),
    ("lazytime", false, libc::MS_LAZYTIME),
    ("nolazytime", true, libc::MS_LAZYTIME),
    ("silent", false, libc::MS_SILENT),
    ("loud", true, libc::MS_SILENT),
    ("acl", false, libc::MS_POSIXACL),
    ("noacl", true, libc::MS_POSIXACL),
    ("nosymfollow", false, MS_NOSYMFOLLOW),
    ("symfollow", true, MS_NOSYMFOLLOW),
];

fn flag(o: &str) -> Option<(bool, c_ulong)> {
    FLAGS.iter().find(|(n, _, _)| *n == o).map(|(_, c, f)| (*c, *f))
}

const PROPAGATION: [(&str, c_ulong); 8] = [
    ("private", libc::MS_PRIVATE),
    ("rprivate", libc::MS_PRIVATE | libc::MS_REC),
    ("shared", libc::MS_SHARED),
    ("rshared", libc::MS_SHARED | libc::MS_REC),
    ("slave", libc::MS_SLAVE),
    ("rslave", libc::MS_SLAVE | libc::MS_REC),
    ("unbindable", libc::MS_UNBINDABLE),
    ("runbindable", libc::MS_UNBINDABLE | libc::MS_REC),
];

fn propagation(o: &str) -> Option<c_ulong> {
    PROPAGATION.iter().find(|(n, _)| *n == o).map(|(_, f)| *f)
}

const RECURSIVE: [(&str, bool, u64); 18] = [
    ("rro", false, ATTR_RDONLY),
    ("rrw", true, ATTR_RDONLY),
    ("rnosuid", false, ATTR_NOSUID),
    ("rsuid", true, ATTR_NOSUID),
    ("rnodev", false, ATTR_NODEV),
    ("rdev", true, ATTR_NODEV),
    ("rnoexec", false, ATTR_NOEXEC),
    ("rexec", true, ATTR_NOEXEC),
    ("rnodiratime", false, ATTR_NODIRATIME),
    ("rdiratime", true, ATTR_NODIRATIME),
    ("rrelatime", true, ATTR_ATIME),
    ("rnorelatime", false, ATTR_NOATIME),
    ("rnoatime", false, ATTR_NOATIME),
    ("ratime", true, ATTR_ATIME),
    ("rstrictatime", false, ATTR_STRICTATIME),
    ("rnostrictatime", true, ATTR_ATIME),
    ("rnosymfollow", false, ATTR_NOSYMFOLLOW),
    ("rsymfollow", true, ATTR_NOSYMFOLLOW),
];

/// (clear?, attribute) for the recursive `r*` options.
fn recursive(o: &str) -> Option<(bool, u64)> {
    RECURSIVE.iter().find(|(n, _, _)| *n == o).map(|(_, c, a)| (*c, *a))
}

/// Every option name berth understands (for `features`).
pub fn known() -> Vec<&'static str> {
    let mut v: Vec<&str> = FLAGS.iter().map(|f| f.0).collect();
    v.extend(PROPAGATION.iter().map(|p| p.0));
    v.extend(RECURSIVE.iter().map(|r| r.0));
    v.extend(["tmpcopyup", "idmap", "ridmap"]);
    v
}

/// Every option is known or passed on as data: none is an error today, but
/// callers say which field they parse for when one becomes one.
pub fn parse(_field: &str, opts: &[String]) -> Result<Options> {
    let mut o = Options::default();
    for opt in opts {
        let s = opt.as_str();
        if s == "tmpcopyup" {
            o.tmpcopyup = true;
            continue;
        }
        if s == "idmap" || s == "ridmap" {
            o.idmap = Some(s == "ridmap");
            continue;
        }
        if let Some((clear, f)) = flag(s) {
            if clear {
                o.flags &= !f;
            } else {
                o.flags |= f;
            }
        } else if let Some(p) = propagation(s) {
            o.propagation.push(p);
        } else if let Some((clear, a)) = recursive(s) {
            if a == ATTR_ATIME || a & ATTR_ATIME != 0 {
                // The atime attributes are one field: setting one clears the others.
                o.rec_clear |= ATTR_ATIME;
                o.rec_set &= !ATTR_ATIME;
                if !clear {
                    o.rec_set |= a;
                }
            } else if clear {
                o.rec_clear |= a;
                o.rec_set &= !a;
            } else {
                o.rec_set |= a;
                o.rec_clear &= !a;
            }
        } else {
            o.data.push(opt.clone());
        }
    }
    Ok(o)
}

/// Whether mount `m` is a bind mount: the `bind`/`rbind` option or the
/// type `bind`.
pub fn is_bind(m: &crate::spec::types::Mount, o: &Options) -> bool {
    o.is_bind() || m.kind.as_deref() == Some("bind")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> Options {
        parse("mounts[0].options", &opts.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn flags_set_and_clear_in_order() {
        let o = p(&["nosuid", "ro", "rw", "nodev"]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NODEV);
        assert!(!p(&["bind"]).is_bind() || p(&["bind"]).flags == libc::MS_BIND);
        assert_eq!(p(&["rbind"]).flags, libc::MS_BIND | libc::MS_REC);
    }

    #[test]
    fn data_and_propagation_are_split_out() {
        let o = p(&["mode=755", "size=65536k", "rslave", "newinstance"]);
        assert_eq!(o.data(), "mode=755,size=65536k,newinstance");
        assert_eq!(o.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
    }

    #[test]
    fn recursive_attributes() {
        let o = p(&["rro", "rnosuid", "rnoatime"]);
        assert_eq!(o.rec_set, ATTR_RDONLY | ATTR_NOSUID | ATTR_NOATIME);
        assert_eq!(o.rec_clear, ATTR_ATIME);
        let o = p(&["rro", "rrw"]);
        assert_eq!(o.rec_set, 0);
        assert_eq!(o.rec_clear, ATTR_RDONLY);
    }

    #[test]
    fn tmpcopyup_and_idmap_are_options_not_data() {
        assert!(p(&["tmpcopyup"]).tmpcopyup);
        assert_eq!(p(&["idmap"]).idmap, Some(false));
        assert_eq!(p(&["rbind", "ridmap"]).idmap, Some(true));
        assert!(p(&["idmap", "ridmap"]).data.is_empty());
    }
}
