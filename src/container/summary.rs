//! What `list` reads of each record: the fields it prints and where the
//! container's freezer is. Parsed from the same state.json as [`Record`],
//! without building the rest (the cgroup hierarchies, the directories to
//! remove, the hooks): `list` reads every container, so its cost per
//! container is what grows. A record older than version 2 has no
//! `freezer`: it is picked from the hierarchies then, in a second pass.
//!
//! [`Record`]: super::state::Record

use crate::cgroups::freeze;
use crate::spec::state::OciState;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Deserialize, PartialEq)]
pub struct Summary {
    #[serde(default)]
    pub(super) version: u32,
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub pid_start: u64,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The governing freezer: (v2, its directory).
    #[serde(default)]
    pub freezer: Option<(bool, PathBuf)>,
}

/// A hierarchy as state.json holds it, only as much as picking the
/// freezer takes (borrowed from the file's bytes where it has no escapes).
#[derive(Deserialize)]
struct Hierarchy<'a> {
    v2: bool,
    #[serde(borrow)]
    options: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Dirs<'a> {
    #[serde(borrow)]
    dirs: Vec<(Hierarchy<'a>, Cow<'a, str>)>,
}

#[derive(Deserialize)]
struct Before2<'a> {
    #[serde(borrow)]
    cgroup: Dirs<'a>,
}

impl Summary {
    /// Reads one record: from its head alone when it is a version 3
    /// record as berth writes it (super::head), else all of it.
    pub fn parse(data: &[u8]) -> serde_json::Result<Summary> {
        if let Some(s) = super::head::read(data) {
            return Ok(s);
        }
        let mut s: Summary = crate::json::from_bytes(data)?;
        if s.version < 2 {
            let old: Before2 = crate::json::from_bytes(data)?;
            let dirs = old.cgroup.dirs;
            let picked = freeze::governing(dirs.iter().map(|(h, d)| (h.v2, h.options.as_ref(), d.as_ref())));
            s.freezer = picked.map(|(v2, dir): (bool, &str)| (v2, PathBuf::from(dir)));
        }
        Ok(s)
    }

    pub fn oci_state(&self, status: super::state::Status) -> OciState<'_> {
        OciState {
            oci_version: &self.oci_version,
            id: &self.id,
            pid: if status == super::state::Status::Stopped { 0 } else { self.pid },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: Some(&self.rootfs),
            created: Some(&self.created),
            owner: Some(&self.owner),
            annotations: &self.annotations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::layout::Hierarchy as Full;
    use crate::cgroups::Cgroup;
    use crate::container::state::Record;

    /// A record as create writes it, and as a berth before version 2 wrote it.
    fn record(dirs: Vec<(Full, PathBuf)>) -> (Vec<u8>, Vec<u8>) {
        let cgroup = Cgroup { dirs, created: vec!["/sys/fs/cgroup/x".into()], unit: None };
        let rec = Record {
            version: crate::container::state::VERSION,
            oci_version: "1.2.0".into(),
            id: "c1".into(),
            pid: 42,
            pid_start: 7,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-11-30T00:00:00Z".into(),
            owner: "".into(),
            annotations: [("a".to_string(), "b\"c".to_string())].into(),
            hooks: Default::default(),
            freezer: crate::cgroups::freeze::freezer(&cgroup).map(|(v2, d)| (v2, d.to_path_buf())),
            cgroup,
            pid_ns: true,
            has_process: true,
            net_devices: vec![],
            netns_path: None,
            rdt: None,
            host_mounts: None,
        };
        let mut old = serde_json::to_value(&rec).unwrap();
        old["version"] = 1.into();
        old.as_object_mut().unwrap().remove("freezer");
        (serde_json::to_vec(&rec).unwrap(), serde_json::to_vec(&old).unwrap())
    }

    fn h(mount: &str, v2: bool, options: &str) -> Full {
        Full { mount: mount.into(), own: "/".into(), v2, options: options.into() }
    }

    #[test]
    fn reads_only_the_head_of_a_version_3_record() {
        let v1 = (h("/sys/fs/cgroup/freezer", false, "freezer"), PathBuf::from("/sys/fs/cgroup/freezer/c1"));
        let (new, _) = record(vec![v1]);
        // An escaped quote is serde's to read; a plain record is the head's.
        assert!(super::super::head::read(&new).is_none());
        let mut rec: Record = serde_json::from_slice(&new).unwrap();
        rec.annotations = [("a".to_string(), "b c".to_string())].into();
        let plain = serde_json::to_vec(&rec).unwrap();
        let head = super::super::head::read(&plain).expect("a version 3 record parses from its head");
        assert_eq!(head.freezer, Some((false, "/sys/fs/cgroup/freezer/c1".into())));
        assert_eq!(head.annotations["a"], "b c");
        assert_eq!(Summary::parse(&plain).unwrap(), head);
        // The cgroup is not needed: a head followed by garbage still reads.
        let cut = memchr::memmem::find(&plain, b",\"hooks\":").unwrap();
        let mut torn = plain[..cut].to_vec();
        torn.extend_from_slice(b",\"hooks\":{not json");
        assert_eq!(super::super::head::read(&torn), Some(head));
    }

    #[test]
    fn an_annotation_named_hooks_is_an_annotation() {
        let v1 = (h("/sys/fs/cgroup/freezer", false, "freezer"), PathBuf::from("/sys/fs/cgroup/freezer/c1"));
        let (new, _) = record(vec![v1]);
        let mut rec: Record = serde_json::from_slice(&new).unwrap();
        rec.annotations = [("a", "x"), ("hooks", "{}"), ("z", "y")].map(|(k, v)| (k.to_string(), v.to_string())).into();
        let data = serde_json::to_vec(&rec).unwrap();
        let s = super::super::head::read(&data).unwrap();
        assert_eq!((s.annotations.len(), s.freezer.is_some()), (3, true));
        // One whose value spells the key out keeps its quotes escaped: serde reads it.
        rec.annotations.insert("hooks".into(), ",\"hooks\":{}".into());
        let data = serde_json::to_vec(&rec).unwrap();
        assert!(super::super::head::read(&data).is_none());
        let s = Summary::parse(&data).unwrap();
        assert_eq!((s.annotations.len(), s.freezer.is_some()), (3, true));
        // Before version 3 the order was another: no head is taken.
        rec.version = 2;
        let data = serde_json::to_vec(&rec).unwrap();
        assert!(super::super::head::read(&data).is_none());
        assert_eq!(Summary::parse(&data).unwrap().freezer, Some((false, "/sys/fs/cgroup/freezer/c1".into())));
    }

    #[test]
    fn reads_what_list_prints_from_a_full_record() {
        let (new, old) = record(vec![(h("/sys/fs/cgroup/pids", false, "pids"), "/sys/fs/cgroup/pids/c1".into())]);
        for data in [new, old] {
            let s = Summary::parse(&data).unwrap();
            assert_eq!((s.id.as_str(), s.pid, s.pid_start, s.bundle.as_str()), ("c1", 42, 7, "/b"));
            assert_eq!(s.annotations["a"], "b\"c");
            assert_eq!(s.freezer, None);
        }
    }

    #[test]
    fn picks_the_v1_freezer_before_v2_like_pause_does() {
        let (new, old) = record(vec![
            (h("/sys/fs/cgroup/unified", true, ""), "/sys/fs/cgroup/unified/c1".into()),
            (h("/sys/fs/cgroup/freezer", false, "freezer"), "/sys/fs/cgroup/freezer/c\"1".into()),
        ]);
        for data in [new, old] {
            let s = Summary::parse(&data).unwrap();
            assert_eq!(s.freezer, Some((false, PathBuf::from("/sys/fs/cgroup/freezer/c\"1"))));
        }
        let (new, old) = record(vec![
            (h("/sys/fs/cgroup/cpu", false, "cpu,cpuacct"), "/sys/fs/cgroup/cpu/c1".into()),
            (h("/sys/fs/cgroup", true, ""), "/sys/fs/cgroup/c1".into()),
        ]);
        for data in [new, old] {
            assert_eq!(Summary::parse(&data).unwrap().freezer, Some((true, PathBuf::from("/sys/fs/cgroup/c1"))));
        }
    }
}
