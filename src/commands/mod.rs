//! One file per subcommand: read the inputs, call the library, print.

pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod foreground;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use crate::cli::{bool_flag, val, Flag, Parsed};
use anyhow::{bail, Result};
use berth::container::store::Store;
use berth::runtime::Runtime;
use std::path::{Path, PathBuf};

/// What every command gets from the global flags.
pub struct Ctx {
    pub rt: Runtime,
    /// `--systemd-cgroup`: new containers' cgroups are systemd units.
    pub systemd_cgroup: bool,
    /// `--rootless` true or false; None for auto.
    pub rootless: Option<bool>,
}

impl Ctx {
    /// `--rootless`, with auto resolved (an unprivileged user or a user
    /// namespace) only by the commands that need it.
    pub fn rootless(&self) -> bool {
        self.rootless.unwrap_or_else(berth::linux::rootless::detect)
    }

    pub fn store(&self) -> &Store {
        self.rt.store()
    }
}

/// The container id: the first positional argument.
pub fn id_arg(p: &Parsed, cmd: &str) -> Result<String> {
    match p.args.first() {
        Some(id) => Ok(id.clone()),
        None => bail!("{cmd}: requires a container id"),
    }
}

/// Flags shared by `create` and `run`.
pub const CREATE_FLAGS: [Flag; 7] = [
    val(&["bundle", "b"]),
    val(&["console-socket"]),
    val(&["pidfd-socket"]),
    val(&["pid-file"]),
    bool_flag(&["no-pivot"]),
    bool_flag(&["no-new-keyring"]),
    val(&["preserve-fds"]),
];

/// An absolute path from a flag value, relative to the caller's cwd.
pub fn abs(p: &str) -> Result<PathBuf> {
    let path = Path::new(p);
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()?.join(path))
}
