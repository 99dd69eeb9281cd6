//! Writes `linux.resources` into a container's cgroup. Each controller
//! goes to the hierarchy that holds it: its v1 mount if there is one,
//! else the unified (v2) hierarchy — so the hybrid layout works too.

use super::layout::Hierarchy;
use super::resources::{unified_writes, v1_writes, v2_writes, Ctrl, V2Host, Write};
use super::{devices_v1, Cgroup};
use crate::linux::sys;
use crate::spec::types::Resources;
use anyhow::{bail, Context, Result};
use std::path::Path;

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

/// The file a v1 write really goes to: with the BFQ scheduler the kernel
/// offers blkio.bfq.weight(_device) instead of blkio.weight(_device).
fn v1_file<'a>(dir: &Path, file: &'a str) -> std::borrow::Cow<'a, str> {
    if let Some(rest) = file.strip_prefix("blkio.weight") {
        let bfq = format!("blkio.bfq.weight{rest}");
        if !dir.join(file).exists() && dir.join(&bfq).exists() {
            return bfq.into();
        }
    }
    file.into()
}

fn write_one(dir: &Path, w: &Write, warnings: &mut Vec<String>) -> Result<()> {
    let path = dir.join(v1_file(dir, &w.file).as_ref());
    match sys::write_file(&path.to_string_lossy(), w.value.as_bytes()) {
        Ok(()) => Ok(()),
        Err(e) if w.optional => {
            warnings.push(format!("{}: {} not applied ({e})", w.field, path.display()));
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("{}: writing {:?} to {}", w.field, w.value, path.display())),
    }
}

/// Pairs whose order depends on the current values: a v1 memory limit above
/// the memory+swap limit, or a cpu period that with the old quota exceeds
/// what the parent allows, is refused until the other one is written.
const EITHER_ORDER: [(&str, &str); 2] =
    [("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"), ("cpu.cfs_period_us", "cpu.cfs_quota_us")];

fn run(dir: &Path, writes: &[Write], warnings: &mut Vec<String>) -> Result<()> {
    let mut i = 0;
    while i < writes.len() {
        let w = &writes[i];
        let next = writes.get(i + 1);
        if next.is_some_and(|n| EITHER_ORDER.contains(&(w.file.as_str(), n.file.as_str()))) {
            let path = dir.join(&w.file);
            if sys::write_file(&path.to_string_lossy(), w.value.as_bytes()).is_err() {
                write_one(dir, &writes[i + 1], warnings)?;
                write_one(dir, w, warnings)?;
            } else {
                write_one(dir, &writes[i + 1], warnings)?;
            }
            i += 2;
            continue;
        }
        write_one(dir, w, warnings)?;
        i += 1;
    }
    Ok(())
}

/// The ancestors of `dir` inside the hierarchy, from its root down to the
/// direct parent: where subtree_control decides what `dir` may use.
fn parents_top_down<'a>(h: &Hierarchy, dir: &'a Path) -> Vec<&'a Path> {
    let mut chain: Vec<&Path> = dir.ancestors().skip(1).take_while(|p| p.starts_with(&h.mount)).collect();
    chain.reverse();
    chain
}

/// Turns `+ctrl` on in every ancestor's cgroup.subtree_control, from the
/// hierarchy root down to the container's parent.
pub(super) fn enable_v2(h: &Hierarchy, dir: &Path, ctrl: &str) -> Result<()> {
    for p in parents_top_down(h, dir) {
        if read(p, "cgroup.subtree_control").split_whitespace().any(|c| c == ctrl) {
            continue;
        }
        let f = p.join("cgroup.subtree_control");
        sys::write_file(&f.to_string_lossy(), format!("+{ctrl}").as_bytes())
            .with_context(|| format!("enabling the {ctrl} controller in {}", f.display()))?;
    }
    Ok(())
}

/// Every controller the v2 hierarchy offers, as runc enables them, so that
/// limits and stats work in the container's cgroup: one read and one write
/// per parent. Best effort: a controller that cannot be enabled fails
/// later, by name, if it is used.
pub(super) fn enable_all_v2(h: &Hierarchy, dir: &Path) {
    let offered = read(&h.mount, "cgroup.controllers");
    for p in parents_top_down(h, dir) {
        let on = read(p, "cgroup.subtree_control");
        let missing: Vec<String> = offered
            .split_whitespace()
            .filter(|c| !on.split_whitespace().any(|o| o == *c))
            .map(|c| format!("+{c}"))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let f = p.join("cgroup.subtree_control");
        if sys::write_file(&f.to_string_lossy(), missing.join(" ").as_bytes()).is_err() {
            for m in &missing {
                let _ = sys::write_file(&f.to_string_lossy(), m.as_bytes());
            }
        }
    }
}

fn v2_has(h: &Hierarchy, ctrl: &str) -> bool {
    read(&h.mount, "cgroup.controllers").split_whitespace().any(|c| c == ctrl)
}

/// Where controller `c` lives for this container: (hierarchy, dir).
pub fn place(cg: &Cgroup, c: Ctrl) -> Option<(&Hierarchy, &Path)> {
    let v2 = || {
        cg.dirs.iter().find(|(h, _)| h.v2 && c.v2_name().is_some_and(|n| v2_has(h, n))).map(|(h, d)| (h, d.as_path()))
    };
    cg.v1_dir(c.v1_name()).or_else(v2)
}

/// Applies every resource in `r`; returns warnings for settings the host
/// cannot take (kernel memory on new kernels, v1-only knobs on v2).
pub fn apply(cg: &Cgroup, r: &Resources, update: bool) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for c in Ctrl::ALL {
        if !c.used_by(r) {
            continue;
        }
        let Some((h, dir)) = place(cg, c) else {
            bail!("{}: no cgroup hierarchy on this host has the {} controller", c.field(), c.v1_name());
        };
        if h.v2 {
            let name = c.v2_name().expect("place() only picks v2 for controllers v2 has");
            enable_v2(h, dir, name)?;
            let host = V2Host { bfq: dir.join("io.bfq.weight").exists() };
            let (writes, mut warn) = v2_writes(c, r, host)?;
            warnings.append(&mut warn);
            check_before_update(dir, r, update, "memory.current")?;
            run(dir, &writes, &mut warnings)?;
        } else {
            if c == Ctrl::Memory {
                check_before_update(dir, r, update, "memory.usage_in_bytes")?;
            }
            run(dir, &v1_writes(c, r), &mut warnings)?;
        }
    }
    if !r.unified.is_empty() {
        let Some((_, dir)) = cg.dirs.iter().find(|(h, _)| h.v2) else {
            bail!("linux.resources.unified: this host has no cgroup v2 hierarchy");
        };
        run(dir, &unified_writes(r)?, &mut warnings)?;
    }
    if !r.devices.is_empty() {
        apply_devices(cg, r)?;
    }
    Ok(warnings)
}

fn check_before_update(dir: &Path, r: &Resources, update: bool, usage_file: &str) -> Result<()> {
    let Some(m) = r.memory.as_ref().filter(|m| update && m.check_before_update == Some(true)) else {
        return Ok(());
    };
    let Some(limit) = m.limit.filter(|l| *l > 0) else { return Ok(()) };
    let usage: i64 = read(dir, usage_file).trim().parse().unwrap_or(0);
    if limit < usage {
        bail!("linux.resources.memory.limit: {limit} is below the current usage {usage} (checkBeforeUpdate)");
    }
    Ok(())
}

fn apply_devices(cg: &Cgroup, r: &Resources) -> Result<()> {
    let mut all = r.devices.clone();
    all.extend(devices_v1::default_rules());
    if let Some((_, dir)) = cg.v1_dir("devices") {
        return devices_v1::apply(dir, &all);
    }
    if let Some((_, dir)) = cg.dirs.iter().find(|(h, _)| h.v2) {
        return super::devices_v2::apply(dir, &all);
    }
    bail!("linux.resources.devices: no devices controller and no cgroup v2 on this host")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfq_weight_files_when_the_kernel_offers_them() {
        let dir = std::env::temp_dir().join(format!("berth-bfq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(v1_file(&dir, "blkio.weight"), "blkio.weight", "neither: the plain name");
        std::fs::write(dir.join("blkio.bfq.weight"), "").unwrap();
        std::fs::write(dir.join("blkio.bfq.weight_device"), "").unwrap();
        assert_eq!(v1_file(&dir, "blkio.weight"), "blkio.bfq.weight");
        assert_eq!(v1_file(&dir, "blkio.weight_device"), "blkio.bfq.weight_device");
        std::fs::write(dir.join("blkio.weight"), "").unwrap();
        assert_eq!(v1_file(&dir, "blkio.weight"), "blkio.weight", "CFQ's file wins when present");
        assert_eq!(v1_file(&dir, "blkio.leaf_weight"), "blkio.leaf_weight");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
