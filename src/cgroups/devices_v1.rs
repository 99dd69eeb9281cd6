//! `linux.resources.devices` on the cgroup v1 devices controller.

use crate::spec::types::DeviceRule;
use anyhow::{Context, Result};
use std::path::Path;

/// Devices every container may use, as runc allows them.
pub fn default_rules() -> Vec<DeviceRule> {
    let r = |kind: &str, major: Option<i64>, minor: Option<i64>, access: &str| DeviceRule {
        allow: true,
        kind: Some(kind.into()),
        major,
        minor,
        access: Some(access.into()),
    };
    vec![
        r("c", None, None, "m"),
        r("b", None, None, "m"),
        r("c", Some(1), Some(3), "rwm"),
        r("c", Some(1), Some(5), "rwm"),
        r("c", Some(1), Some(7), "rwm"),
        r("c", Some(5), Some(0), "rwm"),
        r("c", Some(1), Some(9), "rwm"),
        r("c", Some(1), Some(8), "rwm"),
        r("c", Some(136), None, "rwm"),
        r("c", Some(5), Some(2), "rwm"),
    ]
}

/// The line the kernel reads, e.g. `c 1:3 rwm` or `a *:* rwm` (values
/// were checked by spec validation).
pub fn rule_line(r: &DeviceRule) -> String {
    let kind = r.kind.as_deref().unwrap_or("a");
    let access = r.access.as_deref().unwrap_or("rwm");
    let num = |n: Option<i64>| n.filter(|n| *n >= 0).map_or("*".to_string(), |n| n.to_string());
    format!("{kind} {}:{} {access}", num(r.major), num(r.minor))
}

pub fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    for (i, r) in rules.iter().enumerate() {
        let line = rule_line(r);
        let file = dir.join(if r.allow { "devices.allow" } else { "devices.deny" });
        crate::linux::sys::write_file(&file.to_string_lossy(), line.as_bytes())
            .with_context(|| format!("linux.resources.devices[{i}]: writing {line:?} to {}", file.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_kernel_format() {
        let deny_all = DeviceRule { allow: false, kind: None, major: None, minor: None, access: Some("rwm".into()) };
        assert_eq!(rule_line(&deny_all), "a *:* rwm");
        assert_eq!(rule_line(&default_rules()[2]), "c 1:3 rwm");
    }
}
