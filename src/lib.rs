//! berth as a library: the OCI runtime operations behind the `berth`
//! binary, for tools that want to embed them.
//!
//! The modules, bottom layer first (`layers.rs` checks that imports only
//! point down):
//! - [`spec`]: config.json types, validation, the OCI state — no kernel;
//! - [`linux`]: kernel primitives (namespaces, mounts, procfs handles, …);
//! - [`seccomp`]: OCI profiles compiled to classic BPF; [`cgroups`]: v1,
//!   v2 and hybrid hosts, resources, freezer, stats;
//! - [`hooks`], [`container`] (state directory, lifecycle: start, signal,
//!   pause, delete), [`spawn`] (create's parent side, init, exec);
//! - [`runtime`]: the front door, one method per operation (create, start,
//!   state, list, kill, pause, resume, delete) — start there.
//!
//! ```
//! use berth::runtime::Runtime;
//! use berth::spec::{types::Spec, validate};
//!
//! // A config checked the way `berth create` checks it (no root needed).
//! let spec: Spec = serde_json::from_str(r#"{
//!     "ociVersion": "1.2.0", "root": {"path": "rootfs"},
//!     "process": {"args": ["sh"], "cwd": "/"},
//!     "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}
//! }"#)?;
//! let checked = validate::check(spec)?;
//! assert_eq!(checked.process.unwrap().process.args, ["sh"]);
//!
//! // A hostile value is refused with the field named.
//! let bad: Spec = serde_json::from_str(r#"{"root": {"path": "r"}, "process": {"args": [], "cwd": "/"}}"#)?;
//! assert!(validate::check(bad).unwrap_err().to_string().contains("process.args"));
//!
//! // The containers under a state directory, with their status.
//! let root = std::env::temp_dir().join(format!("berth-doc-{}", std::process::id()));
//! let rt = Runtime::new(&root);
//! for c in rt.list()? {
//!     println!("{}: {}", c.record.id, c.status.as_str());
//! }
//! assert!(rt.state("nothing-here").is_err());
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod cgroups;
pub mod container;
pub mod files;
pub mod hooks;
pub mod json;
#[cfg(test)]
mod layers;
pub mod linux;
pub mod log;
pub mod runtime;
pub mod seccomp;
pub mod spawn;
pub mod spec;
pub mod timefmt;
