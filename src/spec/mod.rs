//! config.json: loading, validation and the default spec.

pub mod default;
pub mod types;
pub mod validate;

use anyhow::{Context, Result};
use std::path::Path;

pub fn load(bundle: &Path) -> Result<types::Spec> {
    let path = bundle.join("config.json");
    let data = crate::linux::files::read_path(&path, crate::linux::files::CONFIG_LIMIT)?;
    parse(&data, &path.display().to_string())
}

/// Parses config.json's bytes (`what` names them in the error).
pub fn parse(data: &[u8], what: &str) -> Result<types::Spec> {
    serde_json::from_slice(data).with_context(|| format!("parsing {what}"))
}

#[cfg(test)]
mod fuzz;
