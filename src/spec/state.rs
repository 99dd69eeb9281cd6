//! The state JSON of the OCI runtime spec: what `state` prints and what
//! hooks and seccomp agents read. One type for all of them.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'a str,
    pub bundle: &'a str,
    /// Known once the container exists (`state`, later hooks); absent while
    /// create runs its hooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
}
