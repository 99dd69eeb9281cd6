//! `process.scheduler`, `process.ioPriority`, `process.execCPUAffinity` and
//! `linux.personality`, parsed into the numbers the kernel takes. No
//! kernel here: `linux::sched` applies them.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

/// sched_setattr's arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scheduler {
    pub policy: u32,
    pub nice: i32,
    pub priority: u32,
    pub flags: u64,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

const POLICIES: [(&str, u32); 7] = [
    ("SCHED_OTHER", 0),
    ("SCHED_FIFO", 1),
    ("SCHED_RR", 2),
    ("SCHED_BATCH", 3),
    ("SCHED_ISO", 4),
    ("SCHED_IDLE", 5),
    ("SCHED_DEADLINE", 6),
];

const SCHED_FLAGS: [(&str, u64); 7] = [
    ("SCHED_FLAG_RESET_ON_FORK", 0x01),
    ("SCHED_FLAG_RECLAIM", 0x02),
    ("SCHED_FLAG_DL_OVERRUN", 0x04),
    ("SCHED_FLAG_KEEP_POLICY", 0x08),
    ("SCHED_FLAG_KEEP_PARAMS", 0x10),
    ("SCHED_FLAG_UTIL_CLAMP_MIN", 0x20),
    ("SCHED_FLAG_UTIL_CLAMP_MAX", 0x40),
];

#[derive(Deserialize)]
struct RawScheduler {
    policy: String,
    #[serde(default)]
    nice: i32,
    #[serde(default)]
    priority: u32,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    runtime: u64,
    #[serde(default)]
    deadline: u64,
    #[serde(default)]
    period: u64,
}

fn typed<T: serde::de::DeserializeOwned>(field: &str, v: &Value) -> Result<T> {
    serde_json::from_value(v.clone()).with_context(|| format!("{field}: {v}"))
}

pub fn scheduler(v: &Value) -> Result<Scheduler> {
    let r: RawScheduler = typed("process.scheduler", v)?;
    let Some(&(_, policy)) = POLICIES.iter().find(|(n, _)| *n == r.policy) else {
        bail!("process.scheduler.policy: {:?} is not a scheduling policy", r.policy);
    };
    if !(-20..=19).contains(&r.nice) {
        bail!("process.scheduler.nice: {} is outside -20..19", r.nice);
    }
    let realtime = matches!(policy, 1 | 2);
    if realtime && !(1..=99).contains(&r.priority) || !realtime && r.priority != 0 {
        bail!("process.scheduler.priority: {} does not suit {}", r.priority, r.policy);
    }
    let mut flags = 0;
    for f in &r.flags {
        let Some(&(_, bit)) = SCHED_FLAGS.iter().find(|(n, _)| n == f) else {
            bail!("process.scheduler.flags: {f:?} is not a scheduler flag");
        };
        flags |= bit;
    }
    if policy == 6 && !(r.runtime <= r.deadline && (r.period == 0 || r.deadline <= r.period) && r.runtime > 0) {
        bail!("process.scheduler: SCHED_DEADLINE needs 0 < runtime <= deadline <= period");
    }
    Ok(Scheduler {
        policy,
        nice: r.nice,
        priority: r.priority,
        flags,
        runtime: r.runtime,
        deadline: r.deadline,
        period: r.period,
    })
}

#[derive(Deserialize)]
struct RawIoPriority {
    class: String,
    #[serde(default)]
    priority: u32,
}

/// ioprio_set's value: class << 13 | level.
pub fn io_priority(v: &Value) -> Result<u32> {
    let r: RawIoPriority = typed("process.ioPriority", v)?;
    let class = match r.class.as_str() {
        "IOPRIO_CLASS_RT" => 1,
        "IOPRIO_CLASS_BE" => 2,
        "IOPRIO_CLASS_IDLE" => 3,
        other => bail!("process.ioPriority.class: {other:?} is not an I/O priority class"),
    };
    if r.priority > 7 {
        bail!("process.ioPriority.priority: {} is outside 0..7", r.priority);
    }
    Ok(class << 13 | r.priority)
}

/// A cpu list (`0-2,5`) as cpu numbers.
pub fn cpu_list(field: &str, list: &str) -> Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let n = |s: &str| s.trim().parse::<usize>().ok().filter(|n| *n < 8192);
        match (n(a), n(b)) {
            (Some(a), Some(b)) if a <= b => cpus.extend(a..=b),
            _ => bail!("{field}: {list:?} is not a cpu list such as 0-2,5"),
        }
    }
    Ok(cpus)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Affinity {
    /// Applied as the process enters the container.
    pub initial: Option<Vec<usize>>,
    /// Applied right before execve.
    pub last: Option<Vec<usize>>,
}

pub fn affinity(v: &Value) -> Result<Affinity> {
    #[derive(Deserialize)]
    struct Raw {
        initial: Option<String>,
        #[serde(rename = "final")]
        last: Option<String>,
    }
    let r: Raw = typed("process.execCPUAffinity", v)?;
    let list = |f: &str, s: Option<String>| s.filter(|s| !s.is_empty()).map(|s| cpu_list(f, &s)).transpose();
    Ok(Affinity {
        initial: list("process.execCPUAffinity.initial", r.initial)?,
        last: list("process.execCPUAffinity.final", r.last)?,
    })
}

/// set_mempolicy's arguments for `linux.memoryPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryPolicy {
    /// The mode with its MPOL_F_* flags.
    pub mode: i32,
    pub nodes: Vec<usize>,
}

pub fn memory_policy(v: &Value) -> Result<MemoryPolicy> {
    #[derive(Deserialize)]
    struct Raw {
        mode: String,
        #[serde(default)]
        nodes: String,
        #[serde(default)]
        flags: Vec<String>,
    }
    let r: Raw = typed("linux.memoryPolicy", v)?;
    const MODES: [(&str, i32); 7] = [
        ("MPOL_DEFAULT", 0),
        ("MPOL_PREFERRED", 1),
        ("MPOL_BIND", 2),
        ("MPOL_INTERLEAVE", 3),
        ("MPOL_LOCAL", 4),
        ("MPOL_PREFERRED_MANY", 5),
        ("MPOL_WEIGHTED_INTERLEAVE", 6),
    ];
    const FLAGS: [(&str, i32); 3] =
        [("MPOL_F_STATIC_NODES", 1 << 15), ("MPOL_F_RELATIVE_NODES", 1 << 14), ("MPOL_F_NUMA_BALANCING", 1 << 13)];
    let Some(&(_, mut mode)) = MODES.iter().find(|(n, _)| *n == r.mode) else {
        bail!("linux.memoryPolicy.mode: {:?} is not a memory policy mode", r.mode);
    };
    let nodes = match r.nodes.trim() {
        "" => Vec::new(),
        list => cpu_list("linux.memoryPolicy.nodes", list)?,
    };
    let needs_nodes = matches!(mode, 2 | 3 | 5 | 6);
    if needs_nodes && nodes.is_empty() || matches!(mode, 0 | 4) && !nodes.is_empty() {
        bail!("linux.memoryPolicy.nodes: {:?} does not suit {}", r.nodes, r.mode);
    }
    for f in &r.flags {
        let Some(&(_, bit)) = FLAGS.iter().find(|(n, _)| n == f) else {
            bail!("linux.memoryPolicy.flags: {f:?} is not a memory policy flag");
        };
        mode |= bit;
    }
    Ok(MemoryPolicy { mode, nodes })
}

/// personality(2)'s value for `linux.personality`, and a warning for
/// flags: the spec lists no values for them and runc ignores them with a
/// warning, so berth does the same rather than refuse the config.
pub fn personality(v: &Value) -> Result<(u64, Option<String>)> {
    #[derive(Deserialize)]
    struct Raw {
        domain: String,
        #[serde(default)]
        flags: Vec<String>,
    }
    let r: Raw = typed("linux.personality", v)?;
    let domain = match r.domain.as_str() {
        "LINUX" => 0x0000,
        "LINUX32" => 0x0008,
        other => bail!("linux.personality.domain: {other:?} is not LINUX or LINUX32"),
    };
    let warning = (!r.flags.is_empty())
        .then(|| format!("linux.personality.flags: {:?} ignored: no personality flag is supported", r.flags));
    Ok((domain, warning))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scheduler_values_and_errors() {
        let s =
            scheduler(&json!({"policy": "SCHED_RR", "priority": 10, "flags": ["SCHED_FLAG_RESET_ON_FORK"]})).unwrap();
        assert_eq!((s.policy, s.priority, s.flags), (2, 10, 1));
        assert_eq!(scheduler(&json!({"policy": "SCHED_BATCH", "nice": 5})).unwrap().nice, 5);
        for (bad, field) in [
            (json!({"policy": "SCHED_X"}), "process.scheduler.policy"),
            (json!({"policy": "SCHED_OTHER", "nice": 40}), "process.scheduler.nice"),
            (json!({"policy": "SCHED_FIFO"}), "process.scheduler.priority"),
            (json!({"policy": "SCHED_OTHER", "flags": ["NOPE"]}), "process.scheduler.flags"),
            (json!({"policy": "SCHED_DEADLINE", "runtime": 5, "deadline": 1}), "SCHED_DEADLINE"),
            (json!({"nice": 1}), "process.scheduler"),
        ] {
            let e = format!("{:#}", scheduler(&bad).unwrap_err());
            assert!(e.contains(field), "{bad}: {e}");
        }
    }

    #[test]
    fn io_priority_affinity_personality() {
        assert_eq!(io_priority(&json!({"class": "IOPRIO_CLASS_BE", "priority": 6})).unwrap(), 2 << 13 | 6);
        assert!(io_priority(&json!({"class": "IOPRIO_CLASS_BE", "priority": 8})).is_err());
        assert!(format!("{:#}", io_priority(&json!({"class": "X"})).unwrap_err()).contains("ioPriority.class"));
        let a = affinity(&json!({"initial": "0-2,5", "final": "1"})).unwrap();
        assert_eq!(a, Affinity { initial: Some(vec![0, 1, 2, 5]), last: Some(vec![1]) });
        assert!(format!("{:#}", affinity(&json!({"final": "3-1"})).unwrap_err()).contains("execCPUAffinity.final"));
        assert_eq!(personality(&json!({"domain": "LINUX32"})).unwrap(), (8, None));
        let (_, w) = personality(&json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]})).unwrap();
        assert!(w.unwrap().contains("linux.personality.flags"));
        let m = memory_policy(&json!({"mode": "MPOL_BIND", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"]})).unwrap();
        assert_eq!(m, MemoryPolicy { mode: 2 | 1 << 15, nodes: vec![0, 1] });
        for (bad, field) in [
            (json!({"mode": "MPOL_X"}), "memoryPolicy.mode"),
            (json!({"mode": "MPOL_BIND"}), "memoryPolicy.nodes"),
            (json!({"mode": "MPOL_LOCAL", "nodes": "0"}), "memoryPolicy.nodes"),
            (json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_X"]}), "memoryPolicy.flags"),
        ] {
            assert!(format!("{:#}", memory_policy(&bad).unwrap_err()).contains(field), "{bad}");
        }
        assert!(format!("{:#}", personality(&json!({"domain": "BSD"})).unwrap_err()).contains("personality.domain"));
    }
}
