//! `linux.netDevices`: host network devices moved into the container's
//! network namespace (renamed, with their permanent addresses, up) and
//! moved back, under their old names, when the container is deleted.

use super::netlink::Route;
use super::sys;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// One device: its name on the host and in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub host: String,
    pub inside: String,
}

/// Berth's own network namespace (where devices come back to).
pub fn own_namespace() -> Result<OwnedFd> {
    sys::open(Path::new("/proc/self/ns/net"), libc::O_RDONLY, 0).context("opening berth's network namespace")
}

/// Whether `ns` is berth's own network namespace (nothing to move then).
pub fn is_own_namespace(ns: &impl AsFd) -> Result<bool> {
    let (own, theirs) = (sys::fstat(&own_namespace()?)?, sys::fstat(ns)?);
    Ok((own.st_dev, own.st_ino) == (theirs.st_dev, theirs.st_ino))
}

/// Moves every device into the namespace `ns` refers to.
pub fn move_in(devices: &[Move], ns: BorrowedFd<'_>) -> Result<()> {
    let mut host = Route::open()?;
    let mut inside = Route::open_in(ns, own_namespace()?.as_fd())?;
    for d in devices {
        let field = || format!("linux.netDevices.{}", d.host);
        let index = host.index(&d.host)?.ok_or_else(|| anyhow!("{}: no such network device on the host", field()))?;
        if inside.index(&d.inside)?.is_some() {
            bail!("{}: the container already has a network device called {:?}", field(), d.inside);
        }
        // Moving a device flushes its addresses: they are copied over.
        let addresses =
            host.permanent_addresses(index).with_context(|| format!("{}: reading its addresses", field()))?;
        host.move_to(index, &d.inside, ns)
            .with_context(|| format!("{}: moving it into the container as {:?}", field(), d.inside))?;
        let moved = inside.index(&d.inside)?.ok_or_else(|| anyhow!("{}: gone right after the move", field()))?;
        for a in &addresses {
            inside.add_address(moved, a).with_context(|| format!("{}: restoring an address", field()))?;
        }
        inside.set_up(moved, true).with_context(|| format!("{}: setting it up", field()))?;
    }
    Ok(())
}

/// Moves every device still in the namespace `ns` refers to back into
/// berth's own, under its host name, down (as it was before the container
/// configured it). Tries them all; the first failure is returned.
pub fn move_back(devices: &[Move], ns: BorrowedFd<'_>) -> Result<()> {
    let own = own_namespace()?;
    let mut inside = Route::open_in(ns, own.as_fd())?;
    let mut first = None;
    for d in devices {
        let r = (|| -> Result<()> {
            let Some(index) = inside.index(&d.inside)? else { return Ok(()) };
            inside.set_up(index, false)?;
            inside.move_to(index, &d.host, own.as_fd())
        })();
        if let Err(e) = r {
            first.get_or_insert(e.context(format!("linux.netDevices.{}: moving it back from the container", d.host)));
        }
    }
    first.map_or(Ok(()), Err)
}
