//! pause/resume: the v1 freezer or cgroup v2's cgroup.freeze, waiting
//! until the kernel reports the change done.

use super::layout::Hierarchy;
use super::Cgroup;
use crate::linux::sys;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// Whether the cgroup at `dir` in hierarchy `h` is frozen (or freezing).
pub fn frozen(h: &Hierarchy, dir: &Path) -> bool {
    if h.v2 || h.has_v1("freezer") {
        frozen_at(h.v2, dir)
    } else {
        false
    }
}

/// Whether the freezer cgroup at `dir` (v2's, or else v1's) is frozen (or freezing).
pub fn frozen_at(v2: bool, dir: &Path) -> bool {
    let (file, is_frozen): (&str, fn(&str) -> bool) =
        if v2 { ("cgroup.freeze", |s| s.trim() == "1") } else { ("freezer.state", |s| s.trim() != "THAWED") };
    crate::files::read_small::<64>(&dir.join(file))
        .is_some_and(|(b, n)| std::str::from_utf8(&b[..n]).is_ok_and(is_frozen))
}

/// Of a container's hierarchies, given as (v2, v1 mount options, its
/// directory), the one freezer that governs it: the v1 freezer if the host
/// has one, else cgroup v2. Says whether it is v2.
pub fn governing<'a, P: ?Sized>(dirs: impl Iterator<Item = (bool, &'a str, &'a P)> + Clone) -> Option<(bool, &'a P)> {
    let v1_freezer = |(v2, opts, _): &(bool, &str, &P)| !v2 && opts.split(',').any(|o| o == "freezer");
    dirs.clone().find(v1_freezer).or_else(|| dirs.into_iter().find(|(v2, ..)| *v2)).map(|(v2, _, d)| (v2, d))
}

/// The container's freezer: see [`governing`].
pub(crate) fn freezer(cg: &Cgroup) -> Option<(bool, &Path)> {
    governing(cg.dirs.iter().map(|(h, d)| (h.v2, h.options.as_str(), d.as_path())))
}

/// Whether the container is paused.
pub fn is_frozen(cg: &Cgroup) -> bool {
    freezer(cg).is_some_and(|(v2, d)| frozen_at(v2, d))
}

fn set(cg: &Cgroup, freeze: bool) -> Result<()> {
    let Some((v2, dir)) = freezer(cg) else { bail!("no freezer cgroup on this host") };
    let (file, value, done_file, done): (&str, &str, &str, fn(&str) -> bool) = match (v2, freeze) {
        (true, true) => ("cgroup.freeze", "1", "cgroup.events", |s| s.lines().any(|l| l == "frozen 1")),
        (true, false) => ("cgroup.freeze", "0", "cgroup.events", |s| s.lines().any(|l| l == "frozen 0")),
        (false, true) => ("freezer.state", "FROZEN", "freezer.state", |s| s.trim() == "FROZEN"),
        (false, false) => ("freezer.state", "THAWED", "freezer.state", |s| s.trim() == "THAWED"),
    };
    let path = dir.join(file);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // v1 may stay in FREEZING while tasks are busy: writing again retries.
        sys::write_file(&path.to_string_lossy(), value.as_bytes())
            .with_context(|| format!("writing {value} to {}", path.display()))?;
        if done(&std::fs::read_to_string(dir.join(done_file)).unwrap_or_default()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} did not reach {value} within 10s", dir.display());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub fn freeze(cg: &Cgroup) -> Result<()> {
    set(cg, true)
}

pub fn thaw(cg: &Cgroup) -> Result<()> {
    set(cg, false)
}
