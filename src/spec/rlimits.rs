//! `process.rlimits`: the names and their checks (setting them is
//! `linux::rlimits`).

use anyhow::{bail, Result};

const NAMES: [(&str, u32); 16] = [
    ("RLIMIT_CPU", 0),
    ("RLIMIT_FSIZE", 1),
    ("RLIMIT_DATA", 2),
    ("RLIMIT_STACK", 3),
    ("RLIMIT_CORE", 4),
    ("RLIMIT_RSS", 5),
    ("RLIMIT_NPROC", 6),
    ("RLIMIT_NOFILE", 7),
    ("RLIMIT_MEMLOCK", 8),
    ("RLIMIT_AS", 9),
    ("RLIMIT_LOCKS", 10),
    ("RLIMIT_SIGPENDING", 11),
    ("RLIMIT_MSGQUEUE", 12),
    ("RLIMIT_NICE", 13),
    ("RLIMIT_RTPRIO", 14),
    ("RLIMIT_RTTIME", 15),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

pub fn parse(list: &[crate::spec::types::Rlimit]) -> Result<Vec<Limit>> {
    let mut out: Vec<Limit> = Vec::new();
    for r in list {
        let Some((_, n)) = NAMES.iter().find(|(name, _)| *name == r.kind) else {
            bail!("process.rlimits: unknown rlimit type {:?}", r.kind);
        };
        if r.soft > r.hard {
            bail!("process.rlimits: {} soft limit {} is above its hard limit {}", r.kind, r.soft, r.hard);
        }
        if out.iter().any(|l| l.resource == *n) {
            bail!("process.rlimits: {} is listed twice", r.kind);
        }
        out.push(Limit { resource: *n, soft: r.soft, hard: r.hard });
    }
    Ok(out)
}

pub fn name(resource: u32) -> &'static str {
    NAMES.iter().find(|(_, n)| *n == resource).map_or("RLIMIT_?", |(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::Rlimit;

    #[test]
    fn parses_names_and_checks_order() {
        let ok = parse(&[Rlimit { kind: "RLIMIT_NOFILE".into(), soft: 10, hard: 20 }]).unwrap();
        assert_eq!(ok, vec![Limit { resource: 7, soft: 10, hard: 20 }]);
        assert!(parse(&[Rlimit { kind: "RLIMIT_NOPE".into(), soft: 1, hard: 1 }]).is_err());
        assert!(parse(&[Rlimit { kind: "RLIMIT_CORE".into(), soft: 2, hard: 1 }]).is_err());
    }
}
