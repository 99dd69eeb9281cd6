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
    let (file, is_frozen): (&str, fn(&str) -> bool) = if h.v2 {
        ("cgroup.freeze", |s| s.trim() == "1")
    } else if h.has_v1("freezer") {
        ("freezer.state", |s| s.trim() != "THAWED")
    } else {
        return false;
    };
    crate::files::read_small::<64>(&dir.join(file))
        .is_some_and(|(b, n)| std::str::from_utf8(&b[..n]).is_ok_and(is_frozen))
}

/// The one freezer that governs the container: the v1 freezer if the host
/// has one, else cgroup v2.
pub(crate) fn freezer(cg: &Cgroup) -> Option<(&Hierarchy, &Path)> {
    cg.v1_dir("freezer").or_else(|| cg.dirs.iter().find(|(h, _)| h.v2).map(|(h, d)| (h, d.as_path())))
}

/// Whether the container is paused.
pub fn is_frozen(cg: &Cgroup) -> bool {
    freezer(cg).is_some_and(|(h, d)| frozen(h, d))
}

fn set(cg: &Cgroup, freeze: bool) -> Result<()> {
    let Some((h, dir)) = freezer(cg) else { bail!("no freezer cgroup on this host") };
    let (file, value, done_file, done): (&str, &str, &str, fn(&str) -> bool) = match (h.v2, freeze) {
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
