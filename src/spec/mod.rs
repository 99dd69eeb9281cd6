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
    serde_json::from_slice(data).with_context(|| format!("parsing {what}"))
}

#[cfg(test)]
mod fuzz;
