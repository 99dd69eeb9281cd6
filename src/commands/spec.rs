//! `berth spec [--rootless] [--bundle B]`: writes a default config.json.

use crate::cli::{self, bool_flag, val};
use anyhow::{bail, Context, Result};
use std::path::Path;

pub fn main(args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[bool_flag(&["rootless"]), val(&["bundle", "b"])], None)?;
    let dir = Path::new(p.get("bundle").unwrap_or("."));
    let path = dir.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // A cgroup namespace only where cgroup v2 is all there is (runc 1.1's rule).
    let cgroupns = berth::cgroups::layout::Layout::detect().is_ok_and(|l| l.is_v2_only());
    let spec = berth::spec::default::spec(p.has("rootless"), uid, gid, cgroupns);
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}
