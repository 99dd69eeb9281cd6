//! The library's front door: one value per state directory, one method per
//! runtime operation, with the same rules and errors as the `berth`
//! commands (which are built on it).
//!
//! ```no_run
//! use berth::runtime::{CreateOptions, Runtime};
//!
//! let rt = Runtime::new("/run/berth");
//! let pid = rt.create("web", &CreateOptions::new("/srv/bundles/web"))?;
//! rt.start("web")?;
//! println!("{} runs as pid {pid}: {}", "web", rt.state("web")?.status.as_str());
//! rt.kill("web", libc::SIGTERM, false)?;
//! rt.delete("web", true)?;
//! # Ok::<(), anyhow::Error>(())
//! ```

use crate::container::lifecycle;
use crate::container::state::{Record, Status};
use crate::container::store::Store;
pub use crate::spawn::parent::CreateOptions;
use crate::spawn::parent::{self, Request};
use crate::spec::state::OciState;
use anyhow::{Context, Result};
use std::path::Path;

/// Containers kept under one state directory (`--root`).
pub struct Runtime {
    store: Store,
}

/// A container as recorded, with its live status.
#[derive(Debug, Clone)]
pub struct Container {
    pub record: Record,
    pub status: Status,
}

impl Container {
    /// The state the OCI runtime spec defines (what `berth state` prints).
    pub fn oci_state(&self) -> OciState<'_> {
        self.record.oci_state(self.status)
    }
}

impl Runtime {
    pub fn new(root: impl AsRef<Path>) -> Runtime {
        Runtime { store: Store::new(root.as_ref()) }
    }

    /// The store underneath, for what the methods here do not cover.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Creates the container and returns its init's pid; the process waits
    /// for [`Runtime::start`]. Relative paths in config.json (root, bind
    /// sources) and the hooks see the bundle as working directory, so this
    /// changes the process's working directory to the bundle, as `berth
    /// create` does.
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        let req = self.request(id, opts, 0, false)?;
        Ok(self.create_request(&req)?.record.pid)
    }

    /// The request `create` and `run` hand to the parent side.
    pub fn request(&self, id: &str, opts: &CreateOptions, listen_fds: u32, attached: bool) -> Result<Request> {
        let bundle = opts.bundle.canonicalize().with_context(|| format!("bundle {}", opts.bundle.display()))?;
        Ok(Request {
            id: id.to_string(),
            opts: CreateOptions { bundle, ..opts.clone() },
            listen_fds,
            attached,
            start_at_once: false,
        })
    }

    /// Creates what `req` describes and saves its record.
    pub fn create_request(&self, req: &Request) -> Result<parent::Created> {
        std::env::set_current_dir(&req.opts.bundle)
            .with_context(|| format!("entering bundle {}", req.opts.bundle.display()))?;
        let created = parent::create(&self.store, req)?;
        // Written while init set the container up: state.json appears now.
        created.locked.commit()?;
        Ok(created)
    }

    /// Lets a created container's process run (and runs poststart hooks).
    pub fn start(&self, id: &str) -> Result<()> {
        let (locked, rec) = self.store.open(id)?;
        lifecycle::start(&locked, &rec)
    }

    pub fn state(&self, id: &str) -> Result<Container> {
        let record = self.store.read(id)?;
        let status = self.store.status(&record);
        Ok(Container { record, status })
    }

    /// Every container under the root, in name order.
    pub fn list(&self) -> Result<Vec<Container>> {
        Ok(self
            .store
            .records()?
            .into_iter()
            .map(|record| {
                let status = self.store.status(&record);
                Container { record, status }
            })
            .collect())
    }

    /// Sends `signal` to the init, or with `all` to every process in the
    /// container's cgroup.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let (locked, rec) = self.store.open(id)?;
        lifecycle::signal(&locked, &rec, signal, all)
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        let (locked, rec) = self.store.open(id)?;
        lifecycle::pause(&locked, &rec)
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        let (locked, rec) = self.store.open(id)?;
        lifecycle::resume(&locked, &rec)
    }

    /// Removes a stopped or created container (a running one only with
    /// `force`); also what an aborted create left. With `force` a missing
    /// container is not an error.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        match self.store.open(id) {
            Ok((locked, rec)) => lifecycle::delete(locked, &rec, force),
            Err(e) => {
                // A directory without state.json is what an aborted create leaves.
                self.store.remove_partial(id);
                if force {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}
