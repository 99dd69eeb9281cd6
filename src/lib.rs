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
//!   pause, delete), [`spawn`] (create's parent side, init, exec).
//!
//! ```no_run
//! use berth::container::store::Store;
//! use berth::spec::validate;
//!
//! // What is in a bundle, checked the way `berth create` checks it.
//! let spec = berth::spec::load(std::path::Path::new("/path/to/bundle"))?;
//! let checked = validate::check(spec)?;
//! println!("{} mounts", checked.mounts.len());
//!
//! // The containers berth keeps under its default root, with their status.
//! let store = Store::new(std::path::Path::new("/run/berth"));
//! for id in store.ids()? {
//!     let rec = store.read(&id)?;
//!     println!("{id}: {}", store.status(&rec).as_str());
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod cgroups;
pub mod container;
pub mod files;
pub mod hooks;
#[cfg(test)]
mod layers;
pub mod linux;
pub mod log;
pub mod seccomp;
pub mod spawn;
pub mod spec;
pub mod timefmt;
