//! config.json: loading, validation and the default spec.

pub mod default;
pub mod types;
pub mod validate;

use anyhow::{Context, Result};
use std::path::Path;

pub fn load(bundle: &Path) -> Result<types::Spec> {
    let path = bundle.join("config.json");
    let data = crate::linux::files::read_path(&path, crate::linux::files::CONFIG_LIMIT)?;
    serde_json::from_slice(&data).with_context(|| format!("parsing {}", path.display()))
}
