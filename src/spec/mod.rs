//! config.json: loading, validation and the default spec.

/// The runtime-spec version berth implements.
pub const SPEC_VERSION: &str = "1.2.0";

pub mod caps;
pub mod default;
pub mod mount_opts;
pub mod namespaces;
pub mod rdt;
pub mod rlimits;
pub mod sched;
pub mod state;
pub mod types;
pub mod validate;

use anyhow::{Context, Result};
use std::path::Path;

pub fn load(bundle: &Path) -> Result<types::Spec> {
    Ok(load_raw(bundle)?.0)
}

/// config.json parsed, and its bytes (create keeps a copy in the state
/// directory, so that later commands never read the bundle again). What
/// runc reads and plain JSON does not say (see `json::from_input`) is read
/// as runc reads it, with a warning for each place.
pub fn load_raw(bundle: &Path) -> Result<(types::Spec, Vec<u8>)> {
    let path = bundle.join("config.json");
    let data = crate::files::read_path(&path, crate::files::CONFIG_LIMIT)?;
    Ok((read_input(&data, &path.display().to_string(), true)?, data))
}

/// Parses config.json's bytes (`what` names them in the error), as
/// `load_raw` does, without its warnings (the copy create kept, read again).
pub fn parse(data: &[u8], what: &str) -> Result<types::Spec> {
    read_input(data, what, false)
}

/// JSON a user wrote (config.json, `linux.seccomp`, `exec --process`,
/// `update --resources`), read as runc reads it (`json::from_input`).
/// `what` names it in the error and, with `warn`, in a warning for each
/// place read so.
pub fn read_input<T: serde::de::DeserializeOwned>(data: &[u8], what: &str, warn: bool) -> Result<T> {
    let (value, notes) = crate::json::from_input(data).with_context(|| format!("parsing {what}"))?;
    if warn {
        notes.iter().for_each(|n| crate::log::warn(&format!("{what}: {n}")));
    }
    Ok(value)
}

/// A config parsed for `exec`, which reads only `process` and
/// `linux.{namespaces, personality, memoryPolicy, seccomp}` of it (a config create
/// checked): a Spec holding those alone, the rest skipped unbuilt.
pub fn parse_exec_parts(data: &[u8], what: &str) -> Result<types::Spec> {
    #[derive(serde::Deserialize)]
    struct Parts {
        process: Option<types::Process>,
        linux: Option<LinuxParts>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct LinuxParts {
        #[serde(default)]
        namespaces: Vec<types::Namespace>,
        personality: Option<serde_json::Value>,
        memory_policy: Option<serde_json::Value>,
        seccomp: Option<Box<serde_json::value::RawValue>>,
    }
    let p: Parts = read_input(data, what, false)?;
    Ok(types::Spec {
        process: p.process,
        linux: p.linux.map(|l| types::Linux {
            namespaces: l.namespaces,
            personality: l.personality,
            memory_policy: l.memory_policy,
            seccomp: l.seccomp,
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    /// exec's parts of a config with every field are the full parse's.
    #[test]
    fn exec_parts_are_the_full_configs() {
        let data = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/every-field.json")).unwrap();
        let full = super::parse(&data, "every-field.json").unwrap();
        let parts = super::parse_exec_parts(&data, "every-field.json").unwrap();
        assert!(full.process.is_some() && full.linux().seccomp.is_some());
        assert!(full.linux().personality.is_some() && full.linux().memory_policy.is_some());
        assert_eq!(format!("{:?}", parts.process), format!("{:?}", full.process));
        let (f, p) = (full.linux(), parts.linux());
        assert_eq!(f.seccomp.as_ref().map(|r| r.get()), p.seccomp.as_ref().map(|r| r.get()));
        assert_eq!(f.personality, p.personality);
        assert_eq!(f.memory_policy, p.memory_policy);
        assert!(!f.namespaces.is_empty());
        assert_eq!(format!("{:?}", f.namespaces), format!("{:?}", p.namespaces));
        // And nothing else: a part exec does not read is not built.
        assert!(parts.mounts.is_empty() && p.devices.is_empty() && p.uid_mappings.is_empty());
        assert!(!f.devices.is_empty() && !f.uid_mappings.is_empty());
    }

    /// A config serde_json reads is read the same by runc's rules (the
    /// second reading, for configs with a `null` or a key named twice),
    /// every field of it; and a `null` for each field that is no option
    /// is read as its zero value, as runc does.
    #[test]
    fn the_go_reading_of_a_full_config_is_the_plain_one() {
        let data = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/every-field.json")).unwrap();
        let plain = super::parse(&data, "every-field.json").unwrap();
        let root: crate::json::tree::Node = serde_json::from_slice(&data).unwrap();
        let mut go: super::types::Spec = crate::json::go::decode(&root).unwrap();
        let mut plain = plain;
        // linux.seccomp is kept as text: the same JSON, not the same spaces.
        let (a, b) = (go.linux.as_mut().unwrap().seccomp.take(), plain.linux.as_mut().unwrap().seccomp.take());
        let value = |r: Option<Box<serde_json::value::RawValue>>| -> serde_json::Value {
            serde_json::from_str(r.unwrap().get()).unwrap()
        };
        assert_eq!(value(a), value(b));
        assert_eq!(format!("{go:?}"), format!("{plain:?}"));
        // Each member set to null in turn: read, and not as the plain text.
        let mut v: serde_json::Value = serde_json::from_slice(&data).unwrap();
        let mut paths = Vec::new();
        fn members(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
            if let Some(m) = v.as_object() {
                for (k, x) in m {
                    let p = format!("{at}/{k}");
                    out.push(p.clone());
                    members(x, p, out);
                }
            }
        }
        members(&v, String::new(), &mut paths);
        assert!(paths.len() > 100, "{}", paths.len());
        let mut refused_by_serde = 0;
        for p in &paths {
            let was = std::mem::replace(v.pointer_mut(p).unwrap(), serde_json::Value::Null);
            let text = serde_json::to_vec(&v).unwrap();
            refused_by_serde += usize::from(crate::json::from_bytes::<super::types::Spec>(&text).is_err());
            if let Err(e) = super::parse(&text, "config.json") {
                // Only a field berth needs: as runc, which refuses a zero
                // there later (an empty mount destination, no rlimit type).
                assert!(format!("{e:#}").contains("missing field"), "{p}: {e:#}");
            }
            *v.pointer_mut(p).unwrap() = was;
        }
        assert!(refused_by_serde > 50, "{refused_by_serde}");
    }
}
