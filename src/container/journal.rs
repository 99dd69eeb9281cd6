//! What a create is about to make, written down before it makes it: the
//! cgroup directories it may create and every process it forks. A create
//! killed at any moment (SIGKILL, OOM) leaves a state directory without
//! `state.json` but with this journal, and `delete` undoes it all.

use crate::cgroups::Cgroup;
use crate::files;
use crate::linux::netdev::Move;
use crate::linux::resctrl;
use crate::linux::rootfs::HostMounts;
use crate::linux::{procfs, sys};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub const FILE: &str = "create.journal";

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum Entry {
    /// The cgroup, with every directory this create may make in `created`.
    Cgroup(Cgroup),
    /// A process create forked, with its start time (pids get recycled).
    Pid { pid: i32, start: u64 },
    /// The systemd unit create started (`--systemd-cgroup`).
    Unit(String),
    /// Network devices about to be moved into the container, and the
    /// namespace path it joined, if any.
    NetDevices { moves: Vec<Move>, netns: Option<String> },
    /// An Intel RDT group this create is about to make.
    RdtGroup(std::path::PathBuf),
    /// No mount namespace of the container's own: the mounts under the
    /// rootfs before this create started (the rest are its).
    HostMounts(HostMounts),
}

pub struct Journal(std::fs::File);

impl Journal {
    pub fn open(dir: &Path) -> Result<Journal> {
        let f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(dir.join(FILE))
            .context("creating the create journal")?;
        Ok(Journal(f))
    }

    /// Appends one entry in one write, before the thing it names exists.
    pub fn note(&mut self, e: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(e).context("encoding a journal entry")?;
        line.push(b'\n');
        self.0.write_all(&line).context("writing the create journal")
    }

    /// Notes a forked child with its start time (it cannot be recycled
    /// before we reap it), and gives that time (the record keeps it too).
    pub fn note_pid(&mut self, pid: i32) -> Result<u64> {
        let (_, start) = procfs::stat(pid).with_context(|| format!("reading the start time of pid {pid}"))?;
        self.note(&Entry::Pid { pid, start })?;
        Ok(start)
    }
}

pub fn parse(text: &str) -> Vec<Entry> {
    // A line cut short by the kill is skipped: its thing was not made yet.
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Undoes what a dead create left in `dir`: kills the processes it forked
/// (those still alive with their recorded start time) and everything in
/// the cgroups it made, and removes those cgroups.
pub fn undo(dir: &Path) {
    let Some(entries) = read(dir) else { return };
    give_back_net_devices(&entries);
    for e in &entries {
        if let Entry::Pid { pid, start } = e {
            if procfs::alive(*pid, *start) {
                let fd = sys::pidfd_open(*pid).ok();
                let _ = sys::kill(*pid, libc::SIGKILL);
                if let Some(fd) = fd {
                    let _ = sys::pidfd_wait(&fd, 5_000);
                }
            }
        }
    }
    let unit = entries.iter().find_map(|e| match e {
        Entry::Unit(u) => Some(u.clone()),
        _ => None,
    });
    for e in &entries {
        if let Entry::Cgroup(cg) = e {
            Cgroup { unit: unit.clone(), ..cg.clone() }.remove();
        }
    }
    remove_leftovers(&entries);
}

/// The entries of the journal in `dir`, if it has one.
pub fn read(dir: &Path) -> Option<Vec<Entry>> {
    let data = files::read_path(&dir.join(FILE), files::CONFIG_LIMIT).ok()?;
    Some(parse(&String::from_utf8_lossy(&data)))
}

/// Network devices go back before the processes holding their namespace die.
pub fn give_back_net_devices(entries: &[Entry]) {
    // The newest process first: the intermediate one of the general path may be gone.
    let pids: Vec<(i32, u64)> = entries
        .iter()
        .rev()
        .filter_map(|e| match e {
            Entry::Pid { pid, start } => Some((*pid, *start)),
            _ => None,
        })
        .collect();
    for e in entries {
        if let Entry::NetDevices { moves, netns } = e {
            super::netdevs::give_back(moves, netns.as_deref(), &pids);
        }
    }
}

/// The Intel RDT groups this create made and the mounts it made in
/// berth's mount namespace, removed (after its processes).
pub fn remove_leftovers(entries: &[Entry]) {
    for e in entries {
        match e {
            Entry::RdtGroup(dir) => resctrl::remove(&resctrl::Group { dir: dir.clone(), created: true }),
            Entry::HostMounts(m) => drop(m.remove()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_skipped() {
        let text = "{\"Pid\":{\"pid\":12,\"start\":34}}\n{\"Pid\":{\"pid\":5";
        assert_eq!(parse(text), vec![Entry::Pid { pid: 12, start: 34 }]);
    }
}
