//! Capability names and the five sets as config.json names them, turned
//! into bit masks (the kernel side is `linux::caps`).

use anyhow::{bail, Result};

pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Every capability name berth knows, in number order.
pub fn all_names() -> &'static [&'static str] {
    &NAMES
}

/// The highest capability number the running kernel knows. Found once per
/// process: create's check finds it before the clone, so init (and exec's
/// child) have it in the memory they start with.
pub fn last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        probed_last_cap()
            .or_else(|| {
                crate::files::read_small::<16>(std::path::Path::new("/proc/sys/kernel/cap_last_cap"))
                    .and_then(|(b, n)| std::str::from_utf8(&b[..n]).ok()?.trim().parse().ok())
            })
            .unwrap_or(NAMES.len() as u32 - 1)
    })
}

/// The kernel's last capability as PR_CAPBSET_READ tells it: that call
/// answers EINVAL exactly for numbers above it (the value
/// /proc/sys/kernel/cap_last_cap shows), so six calls of a binary search
/// do without /proc (whose sysctl lookup cost every exec ~10 µs). None
/// where prctl answers nothing (a filter refusing it).
fn probed_last_cap() -> Option<u32> {
    // SAFETY: PR_CAPBSET_READ only reads the caller's bounding set.
    let known = |n: u32| unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(n), 0, 0, 0) } >= 0;
    if !known(0) {
        return None;
    }
    // known(lo) and !known(hi): capability numbers are below 64.
    let (mut lo, mut hi) = (0u32, 64u32);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        match known(mid) {
            true => lo = mid,
            false => hi = mid,
        }
    }
    Some(lo)
}

/// The five sets as bit masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sets {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

/// Turns a list of names into a mask. Unknown names are an error; names the
/// running kernel lacks (numbers above `last`) are returned for a warning.
pub fn parse_set(field: &str, names: &[String], last: u32) -> Result<(u64, Vec<String>)> {
    let mut mask = 0u64;
    let mut unsupported = Vec::new();
    for name in names {
        let upper = name.to_ascii_uppercase();
        let Some(n) = NAMES.iter().position(|c| *c == upper) else {
            bail!("{field}: unknown capability {name:?}");
        };
        if n as u32 > last {
            unsupported.push(name.clone());
            continue;
        }
        mask |= 1 << n;
    }
    Ok((mask, unsupported))
}

/// The five sets, and warnings for what was skipped: names this kernel
/// lacks, and ambient capabilities that are not also inheritable and
/// permitted (the kernel refuses to raise those; runc and crun skip them,
/// and `runc spec` writes such a config).
pub fn parse(c: &crate::spec::types::Capabilities) -> Result<(Sets, Vec<String>)> {
    let last = last_cap();
    let mut unknown = Vec::new();
    let mut one = |field: &str, names: &[String]| -> Result<u64> {
        let (m, mut w) = parse_set(field, names, last)?;
        unknown.append(&mut w);
        Ok(m)
    };
    let mut sets = Sets {
        bounding: one("process.capabilities.bounding", &c.bounding)?,
        effective: one("process.capabilities.effective", &c.effective)?,
        inheritable: one("process.capabilities.inheritable", &c.inheritable)?,
        permitted: one("process.capabilities.permitted", &c.permitted)?,
        ambient: one("process.capabilities.ambient", &c.ambient)?,
    };
    unknown.sort();
    unknown.dedup();
    let mut warn: Vec<String> = unknown
        .iter()
        .map(|c| format!("process.capabilities: {c} is unknown to this kernel and was skipped"))
        .collect();
    let skipped = sets.ambient & !(sets.inheritable & sets.permitted);
    for n in (0..64).filter(|n| skipped & (1u64 << n) != 0) {
        warn.push(format!(
            "process.capabilities.ambient: {} is not also inheritable and permitted; skipped",
            NAMES[n as usize]
        ));
    }
    sets.ambient &= !skipped;
    Ok((sets, warn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probed_last_cap_is_the_kernels() {
        let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap();
        assert_eq!(probed_last_cap(), Some(text.trim().parse().unwrap()));
    }

    #[test]
    fn ambient_needs_inheritable_and_permitted() {
        let c = crate::spec::types::Capabilities {
            bounding: vec!["CAP_KILL".into(), "CAP_CHOWN".into()],
            permitted: vec!["CAP_KILL".into(), "CAP_CHOWN".into()],
            inheritable: vec!["CAP_CHOWN".into()],
            ambient: vec!["CAP_KILL".into(), "CAP_CHOWN".into()],
            ..Default::default()
        };
        let (s, w) = parse(&c).unwrap();
        assert_eq!(s.ambient, 1, "only CAP_CHOWN stays ambient");
        assert!(w.len() == 1 && w[0].contains("CAP_KILL"), "{w:?}");
    }

    #[test]
    fn names_map_to_bits() {
        let (m, w) = parse_set("x", &["CAP_CHOWN".into(), "cap_kill".into()], 40).unwrap();
        assert_eq!(m, 1 | (1 << 5));
        assert!(w.is_empty());
    }

    #[test]
    fn unknown_name_is_an_error_and_new_one_a_warning() {
        let e = parse_set("process.capabilities.bounding", &["CAP_FLY".into()], 40).unwrap_err();
        assert!(e.to_string().contains("process.capabilities.bounding"));
        assert!(e.to_string().contains("CAP_FLY"));
        let (m, w) = parse_set("x", &["CAP_BPF".into()], 37).unwrap();
        assert_eq!(m, 0);
        assert_eq!(w, vec!["CAP_BPF".to_string()]);
    }
}
