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
/// directory, so that later commands never read the bundle again).
pub fn load_raw(bundle: &Path) -> Result<(types::Spec, Vec<u8>)> {
    let path = bundle.join("config.json");
    let data = crate::files::read_path(&path, crate::files::CONFIG_LIMIT)?;
    Ok((parse(&data, &path.display().to_string())?, data))
}

/// Parses config.json's bytes (`what` names them in the error).
pub fn parse(data: &[u8], what: &str) -> Result<types::Spec> {
    crate::json::from_bytes(data).with_context(|| format!("parsing {what}"))
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
    let p: Parts = crate::json::from_bytes(data).with_context(|| format!("parsing {what}"))?;
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
}
