//! `linux.resources` as cgroup file writes, for v1 and v2. Pure: the
//! writer (`apply`) decides where each controller lives.

use crate::spec::types::{Resources, ThrottleDevice};
use anyhow::{bail, Result};

/// One value for one cgroup file, and the field it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub file: String,
    pub value: String,
    pub field: String,
    /// The kernel may lack this file: a failure is a warning, not an error.
    pub optional: bool,
}

fn w(file: impl Into<String>, value: impl ToString, field: impl Into<String>) -> Write {
    Write { file: file.into(), value: value.to_string(), field: field.into(), optional: false }
}

fn opt(file: impl Into<String>, value: impl ToString, field: impl Into<String>) -> Write {
    Write { optional: true, ..w(file, value, field) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctrl {
    Memory,
    Cpu,
    Cpuset,
    Pids,
    Io,
    Hugetlb,
    NetCls,
    NetPrio,
    Rdma,
}

impl Ctrl {
    pub const ALL: [Ctrl; 9] = [
        Ctrl::Cpuset,
        Ctrl::Cpu,
        Ctrl::Memory,
        Ctrl::Pids,
        Ctrl::Io,
        Ctrl::Hugetlb,
        Ctrl::NetCls,
        Ctrl::NetPrio,
        Ctrl::Rdma,
    ];

    pub fn v1_name(self) -> &'static str {
        match self {
            Ctrl::Memory => "memory",
            Ctrl::Cpu => "cpu",
            Ctrl::Cpuset => "cpuset",
            Ctrl::Pids => "pids",
            Ctrl::Io => "blkio",
            Ctrl::Hugetlb => "hugetlb",
            Ctrl::NetCls => "net_cls",
            Ctrl::NetPrio => "net_prio",
            Ctrl::Rdma => "rdma",
        }
    }

    /// The v2 controller, if cgroup v2 has one.
    pub fn v2_name(self) -> Option<&'static str> {
        match self {
            Ctrl::Io => Some("io"),
            Ctrl::NetCls | Ctrl::NetPrio => None,
            c => Some(c.v1_name()),
        }
    }

    /// The config field that uses this controller.
    pub fn field(self) -> &'static str {
        match self {
            Ctrl::Memory => "linux.resources.memory",
            Ctrl::Cpu => "linux.resources.cpu",
            Ctrl::Cpuset => "linux.resources.cpu.cpus/mems",
            Ctrl::Pids => "linux.resources.pids",
            Ctrl::Io => "linux.resources.blockIO",
            Ctrl::Hugetlb => "linux.resources.hugepageLimits",
            Ctrl::NetCls => "linux.resources.network.classID",
            Ctrl::NetPrio => "linux.resources.network.priorities",
            Ctrl::Rdma => "linux.resources.rdma",
        }
    }

    /// Whether `r` asks anything of this controller.
    pub fn used_by(self, r: &Resources) -> bool {
        let cpu = r.cpu.as_ref();
        match self {
            Ctrl::Memory => r.memory.as_ref().is_some_and(|m| m != &Default::default()),
            Ctrl::Cpu => cpu.is_some_and(|c| {
                c.shares.is_some_and(|s| s != 0)
                    || c.quota.is_some_and(|q| q != 0)
                    || c.period.is_some_and(|p| p != 0)
                    || c.burst.is_some()
                    || c.realtime_runtime.is_some_and(|v| v != 0)
                    || c.realtime_period.is_some_and(|v| v != 0)
                    || c.idle.is_some()
            }),
            Ctrl::Cpuset => cpu.is_some_and(|c| {
                c.cpus.as_deref().is_some_and(|s| !s.is_empty()) || c.mems.as_deref().is_some_and(|s| !s.is_empty())
            }),
            Ctrl::Pids => r.pids.as_ref().is_some_and(|p| p.limit != 0),
            Ctrl::Io => r.block_io.as_ref().is_some_and(|b| {
                b.weight.is_some_and(|w| w != 0)
                    || b.leaf_weight.is_some_and(|w| w != 0)
                    || !b.weight_device.is_empty()
                    || !b.throttle_read_bps_device.is_empty()
                    || !b.throttle_write_bps_device.is_empty()
                    || !b.throttle_read_iops_device.is_empty()
                    || !b.throttle_write_iops_device.is_empty()
            }),
            Ctrl::Hugetlb => !r.hugepage_limits.is_empty(),
            Ctrl::NetCls => r.network.as_ref().is_some_and(|n| n.class_id.is_some()),
            Ctrl::NetPrio => r.network.as_ref().is_some_and(|n| !n.priorities.is_empty()),
            Ctrl::Rdma => !r.rdma.is_empty(),
        }
    }
}

/// runc's cpu.shares → cpu.weight conversion (0 stays "unset").
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// runc's blkio.weight (10..1000) → io.weight (1..10000) conversion.
pub fn blkio_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (weight.saturating_sub(10) * 9999) / 990
}

/// v1 memsw (memory+swap) → v2 memory.swap.max (swap alone), as runc does.
/// `None` means "leave memory.swap.max alone".
pub fn swap_to_v2(swap: i64, limit: Option<i64>) -> Result<Option<String>> {
    let limit = limit.unwrap_or(0);
    if limit == -1 && swap == 0 {
        return Ok(Some("max".into()));
    }
    match swap {
        -1 => return Ok(Some("max".into())),
        0 => return Ok(None),
        _ => {}
    }
    if limit == 0 || limit == -1 {
        bail!("linux.resources.memory.swap: {swap} needs a memory limit too");
    }
    if swap < limit {
        bail!("linux.resources.memory.swap: {swap} is below memory.limit {limit} (swap counts memory+swap)");
    }
    Ok(Some((swap - limit).to_string()))
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

fn v1_limit(v: i64) -> String {
    if v < 0 {
        "-1".into()
    } else {
        v.to_string()
    }
}

/// The writes for controller `c` on cgroup v1, in the order the kernel needs.
pub fn v1_writes(c: Ctrl, r: &Resources) -> Vec<Write> {
    let mut out = Vec::new();
    let f = "linux.resources";
    match c {
        Ctrl::Memory => {
            let Some(m) = &r.memory else { return out };
            if let Some(l) = m.limit {
                out.push(w("memory.limit_in_bytes", v1_limit(l), format!("{f}.memory.limit")));
            }
            let swap = match (m.swap, m.limit) {
                (Some(s), _) if s != 0 => Some(s),
                (_, Some(-1)) => Some(-1),
                _ => None,
            };
            if let Some(s) = swap {
                out.push(opt("memory.memsw.limit_in_bytes", v1_limit(s), format!("{f}.memory.swap")));
            }
            if let Some(v) = m.reservation {
                out.push(w("memory.soft_limit_in_bytes", v1_limit(v), format!("{f}.memory.reservation")));
            }
            if let Some(v) = m.kernel {
                out.push(opt("memory.kmem.limit_in_bytes", v1_limit(v), format!("{f}.memory.kernel")));
            }
            if let Some(v) = m.kernel_tcp {
                out.push(opt("memory.kmem.tcp.limit_in_bytes", v1_limit(v), format!("{f}.memory.kernelTCP")));
            }
            if let Some(v) = m.swappiness {
                out.push(w("memory.swappiness", v, format!("{f}.memory.swappiness")));
            }
            if m.disable_oom_killer == Some(true) {
                out.push(w("memory.oom_control", 1, format!("{f}.memory.disableOOMKiller")));
            }
            if let Some(h) = m.use_hierarchy {
                out.push(opt("memory.use_hierarchy", u8::from(h), format!("{f}.memory.useHierarchy")));
            }
        }
        Ctrl::Cpu => {
            let Some(cpu) = &r.cpu else { return out };
            if let Some(s) = cpu.shares.filter(|s| *s != 0) {
                out.push(w("cpu.shares", s, format!("{f}.cpu.shares")));
            }
            if let Some(p) = cpu.period.filter(|p| *p != 0) {
                out.push(w("cpu.cfs_period_us", p, format!("{f}.cpu.period")));
            }
            if let Some(q) = cpu.quota.filter(|q| *q != 0) {
                out.push(w("cpu.cfs_quota_us", if q < 0 { -1 } else { q }, format!("{f}.cpu.quota")));
            }
            if let Some(b) = cpu.burst {
                out.push(w("cpu.cfs_burst_us", b, format!("{f}.cpu.burst")));
            }
            if let Some(p) = cpu.realtime_period.filter(|p| *p != 0) {
                out.push(w("cpu.rt_period_us", p, format!("{f}.cpu.realtimePeriod")));
            }
            if let Some(rt) = cpu.realtime_runtime.filter(|v| *v != 0) {
                out.push(w("cpu.rt_runtime_us", rt, format!("{f}.cpu.realtimeRuntime")));
            }
            if let Some(i) = cpu.idle {
                out.push(w("cpu.idle", i, format!("{f}.cpu.idle")));
            }
        }
        Ctrl::Cpuset => cpuset_writes(r, &mut out),
        Ctrl::Pids => {
            if let Some(p) = r.pids.as_ref().filter(|p| p.limit != 0) {
                out.push(w("pids.max", max_or(if p.limit > 0 { p.limit } else { -1 }), format!("{f}.pids.limit")));
            }
        }
        Ctrl::Io => {
            let Some(b) = &r.block_io else { return out };
            if let Some(wt) = b.weight.filter(|w| *w != 0) {
                out.push(w("blkio.weight", wt, format!("{f}.blockIO.weight")));
            }
            if let Some(lw) = b.leaf_weight.filter(|w| *w != 0) {
                out.push(w("blkio.leaf_weight", lw, format!("{f}.blockIO.leafWeight")));
            }
            for (i, d) in b.weight_device.iter().enumerate() {
                if let Some(wt) = d.weight {
                    let v = format!("{}:{} {wt}", d.major, d.minor);
                    out.push(w("blkio.weight_device", v, format!("{f}.blockIO.weightDevice[{i}].weight")));
                }
                if let Some(lw) = d.leaf_weight {
                    let v = format!("{}:{} {lw}", d.major, d.minor);
                    out.push(w("blkio.leaf_weight_device", v, format!("{f}.blockIO.weightDevice[{i}].leafWeight")));
                }
            }
            let throttle = |list: &[ThrottleDevice], file: &str, name: &str, out: &mut Vec<Write>| {
                for (i, d) in list.iter().enumerate() {
                    out.push(w(
                        file,
                        format!("{}:{} {}", d.major, d.minor, d.rate),
                        format!("{f}.blockIO.{name}[{i}]"),
                    ));
                }
            };
            throttle(&b.throttle_read_bps_device, "blkio.throttle.read_bps_device", "throttleReadBpsDevice", &mut out);
            throttle(
                &b.throttle_write_bps_device,
                "blkio.throttle.write_bps_device",
                "throttleWriteBpsDevice",
                &mut out,
            );
            throttle(
                &b.throttle_read_iops_device,
                "blkio.throttle.read_iops_device",
                "throttleReadIOPSDevice",
                &mut out,
            );
            throttle(
                &b.throttle_write_iops_device,
                "blkio.throttle.write_iops_device",
                "throttleWriteIOPSDevice",
                &mut out,
            );
        }
        Ctrl::Hugetlb => {
            for (i, h) in r.hugepage_limits.iter().enumerate() {
                let file = format!("hugetlb.{}.limit_in_bytes", h.page_size);
                out.push(w(file, h.limit, format!("{f}.hugepageLimits[{i}]")));
            }
        }
        Ctrl::NetCls => {
            if let Some(id) = r.network.as_ref().and_then(|n| n.class_id) {
                out.push(w("net_cls.classid", id, format!("{f}.network.classID")));
            }
        }
        Ctrl::NetPrio => {
            for (i, p) in r.network.iter().flat_map(|n| n.priorities.iter()).enumerate() {
                let v = format!("{} {}", p.name, p.priority);
                out.push(w("net_prio.ifpriomap", v, format!("{f}.network.priorities[{i}]")));
            }
        }
        Ctrl::Rdma => rdma_writes(r, &mut out),
    }
    out
}

fn cpuset_writes(r: &Resources, out: &mut Vec<Write>) {
    let Some(cpu) = &r.cpu else { return };
    if let Some(c) = cpu.cpus.as_deref().filter(|s| !s.is_empty()) {
        out.push(w("cpuset.cpus", c, "linux.resources.cpu.cpus"));
    }
    if let Some(m) = cpu.mems.as_deref().filter(|s| !s.is_empty()) {
        out.push(w("cpuset.mems", m, "linux.resources.cpu.mems"));
    }
}

fn rdma_writes(r: &Resources, out: &mut Vec<Write>) {
    for (dev, l) in &r.rdma {
        let mut v = dev.clone();
        if let Some(h) = l.hca_handles {
            v.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects {
            v.push_str(&format!(" hca_object={o}"));
        }
        out.push(w("rdma.max", v, format!("linux.resources.rdma.{dev}")));
    }
}

/// What the v2 writer needs to know about the host.
#[derive(Debug, Clone, Copy, Default)]
pub struct V2Host {
    /// io.bfq.weight exists (BFQ scheduler): weights go there unconverted.
    pub bfq: bool,
}

/// The writes for controller `c` on cgroup v2, plus warnings for fields
/// that v2 has no equivalent for.
pub fn v2_writes(c: Ctrl, r: &Resources, host: V2Host) -> Result<(Vec<Write>, Vec<String>)> {
    let mut out = Vec::new();
    let mut warn = Vec::new();
    let f = "linux.resources";
    match c {
        Ctrl::Memory => {
            let Some(m) = &r.memory else { return Ok((out, warn)) };
            if let Some(swap) = swap_to_v2(m.swap.unwrap_or(0), m.limit)? {
                out.push(w("memory.swap.max", swap, format!("{f}.memory.swap")));
            }
            if let Some(l) = m.limit.filter(|l| *l != 0) {
                out.push(w("memory.max", max_or(l), format!("{f}.memory.limit")));
            }
            if let Some(v) = m.reservation.filter(|v| *v != 0) {
                out.push(w("memory.low", max_or(v), format!("{f}.memory.reservation")));
            }
            for (set, name) in [
                (m.kernel.is_some(), "kernel"),
                (m.kernel_tcp.is_some(), "kernelTCP"),
                (m.swappiness.is_some(), "swappiness"),
                (m.disable_oom_killer == Some(true), "disableOOMKiller"),
                (m.use_hierarchy == Some(false), "useHierarchy"),
            ] {
                if set {
                    warn.push(format!("{f}.memory.{name}: cgroup v2 has no such setting; not applied"));
                }
            }
        }
        Ctrl::Cpu => {
            let Some(cpu) = &r.cpu else { return Ok((out, warn)) };
            if let Some(s) = cpu.shares.filter(|s| *s != 0) {
                out.push(w("cpu.weight", shares_to_weight(s), format!("{f}.cpu.shares")));
            }
            let (q, p) = (cpu.quota.unwrap_or(0), cpu.period.unwrap_or(0));
            if q != 0 || p != 0 {
                let mut v = if q > 0 { q.to_string() } else { "max".into() };
                if p != 0 {
                    v.push_str(&format!(" {p}"));
                }
                out.push(w("cpu.max", v, format!("{f}.cpu.quota")));
            }
            if let Some(b) = cpu.burst {
                out.push(w("cpu.max.burst", b, format!("{f}.cpu.burst")));
            }
            if let Some(i) = cpu.idle {
                out.push(w("cpu.idle", i, format!("{f}.cpu.idle")));
            }
            if cpu.realtime_runtime.is_some_and(|v| v != 0) || cpu.realtime_period.is_some_and(|v| v != 0) {
                bail!("{f}.cpu.realtimeRuntime: realtime scheduling limits do not exist on cgroup v2");
            }
        }
        Ctrl::Cpuset => cpuset_writes(r, &mut out),
        Ctrl::Pids => out = v1_writes(c, r),
        Ctrl::Io => {
            let Some(b) = &r.block_io else { return Ok((out, warn)) };
            let (file, conv): (&str, fn(u64) -> u64) =
                if host.bfq { ("io.bfq.weight", |w| w) } else { ("io.weight", blkio_to_io_weight) };
            if let Some(wt) = b.weight.filter(|w| *w != 0) {
                let v = if host.bfq { wt.to_string() } else { format!("default {}", conv(wt.into())) };
                out.push(w(file, v, format!("{f}.blockIO.weight")));
            }
            if b.leaf_weight.is_some_and(|w| w != 0) {
                warn.push(format!("{f}.blockIO.leafWeight: cgroup v2 has no leaf weight; not applied"));
            }
            for (i, d) in b.weight_device.iter().enumerate() {
                if let Some(wt) = d.weight {
                    let v = format!("{}:{} {}", d.major, d.minor, conv(wt.into()));
                    out.push(w(file, v, format!("{f}.blockIO.weightDevice[{i}].weight")));
                }
            }
            let throttle = |list: &[ThrottleDevice], key: &str, name: &str, out: &mut Vec<Write>| {
                for (i, d) in list.iter().enumerate() {
                    let v = format!("{}:{} {key}={}", d.major, d.minor, d.rate);
                    out.push(w("io.max", v, format!("{f}.blockIO.{name}[{i}]")));
                }
            };
            throttle(&b.throttle_read_bps_device, "rbps", "throttleReadBpsDevice", &mut out);
            throttle(&b.throttle_write_bps_device, "wbps", "throttleWriteBpsDevice", &mut out);
            throttle(&b.throttle_read_iops_device, "riops", "throttleReadIOPSDevice", &mut out);
            throttle(&b.throttle_write_iops_device, "wiops", "throttleWriteIOPSDevice", &mut out);
        }
        Ctrl::Hugetlb => {
            for (i, h) in r.hugepage_limits.iter().enumerate() {
                out.push(w(format!("hugetlb.{}.max", h.page_size), h.limit, format!("{f}.hugepageLimits[{i}]")));
            }
        }
        Ctrl::NetCls | Ctrl::NetPrio => {
            if c.used_by(r) {
                bail!("{}: net_cls/net_prio do not exist on cgroup v2", c.field());
            }
        }
        Ctrl::Rdma => rdma_writes(r, &mut out),
    }
    Ok((out, warn))
}

/// `linux.resources.unified`: only plain file names of the container's own cgroup.
pub fn unified_writes(r: &Resources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    for (k, v) in &r.unified {
        crate::spec::validate::check_unified_key(k)?;
        out.push(w(k.clone(), v, format!("linux.resources.unified.{k}")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::{BlockIo, Cpu, HugepageLimit, Memory, Pids};

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10000);
        assert_eq!(swap_to_v2(-1, Some(100)).unwrap(), Some("max".into()));
        assert_eq!(swap_to_v2(0, Some(-1)).unwrap(), Some("max".into()));
        assert_eq!(swap_to_v2(0, Some(100)).unwrap(), None);
        assert_eq!(swap_to_v2(300, Some(100)).unwrap(), Some("200".into()));
        assert!(swap_to_v2(50, Some(100)).is_err());
        assert!(swap_to_v2(50, None).is_err());
    }

    fn res() -> Resources {
        Resources {
            memory: Some(Memory { limit: Some(1 << 20), swap: Some(2 << 20), ..Default::default() }),
            cpu: Some(Cpu { shares: Some(512), quota: Some(50000), period: Some(100000), ..Default::default() }),
            pids: Some(Pids { limit: 10 }),
            block_io: Some(BlockIo { weight: Some(500), ..Default::default() }),
            hugepage_limits: vec![HugepageLimit { page_size: "2MB".into(), limit: 4 << 20 }],
            ..Default::default()
        }
    }

    fn files(v: &[Write]) -> Vec<(String, String)> {
        v.iter().map(|w| (w.file.clone(), w.value.clone())).collect()
    }

    #[test]
    fn v1_files_and_order() {
        let r = res();
        assert_eq!(
            files(&v1_writes(Ctrl::Memory, &r)),
            [
                ("memory.limit_in_bytes".into(), "1048576".into()),
                ("memory.memsw.limit_in_bytes".into(), "2097152".into())
            ]
        );
        let cpu = files(&v1_writes(Ctrl::Cpu, &r));
        assert_eq!(cpu[1], ("cpu.cfs_period_us".into(), "100000".into()), "period before quota");
        assert_eq!(cpu[2], ("cpu.cfs_quota_us".into(), "50000".into()));
        assert_eq!(files(&v1_writes(Ctrl::Pids, &r)), [("pids.max".into(), "10".into())]);
        assert_eq!(files(&v1_writes(Ctrl::Hugetlb, &r))[0].0, "hugetlb.2MB.limit_in_bytes");
        let unlimited = Resources { pids: Some(Pids { limit: -1 }), ..Default::default() };
        assert_eq!(files(&v1_writes(Ctrl::Pids, &unlimited)), [("pids.max".into(), "max".into())]);
    }

    #[test]
    fn v2_files_and_values() {
        let r = res();
        let (mem, _) = v2_writes(Ctrl::Memory, &r, V2Host::default()).unwrap();
        assert_eq!(
            files(&mem),
            [("memory.swap.max".into(), "1048576".into()), ("memory.max".into(), "1048576".into())]
        );
        let (cpu, _) = v2_writes(Ctrl::Cpu, &r, V2Host::default()).unwrap();
        assert_eq!(files(&cpu), [("cpu.weight".into(), "20".into()), ("cpu.max".into(), "50000 100000".into())]);
        let (io, _) = v2_writes(Ctrl::Io, &r, V2Host::default()).unwrap();
        assert_eq!(files(&io), [("io.weight".into(), "default 4950".into())]);
        let (io, _) = v2_writes(Ctrl::Io, &r, V2Host { bfq: true }).unwrap();
        assert_eq!(files(&io), [("io.bfq.weight".into(), "500".into())]);
        let (h, _) = v2_writes(Ctrl::Hugetlb, &r, V2Host::default()).unwrap();
        assert_eq!(h[0].file, "hugetlb.2MB.max");
    }

    #[test]
    fn zero_means_unset() {
        let r = Resources {
            cpu: Some(Cpu { shares: Some(0), ..Default::default() }),
            block_io: Some(BlockIo { weight: Some(0), ..Default::default() }),
            ..Default::default()
        };
        assert!(!Ctrl::Cpu.used_by(&r));
        assert!(!Ctrl::Io.used_by(&r));
        assert!(v1_writes(Ctrl::Cpu, &r).is_empty());
    }

    #[test]
    fn unified_keys_stay_in_the_cgroup() {
        let mut r = Resources::default();
        r.unified.insert("../x".into(), "1".into());
        assert!(unified_writes(&r).is_err());
        r.unified.clear();
        r.unified.insert("memory.high".into(), "1000000".into());
        assert_eq!(unified_writes(&r).unwrap()[0].file, "memory.high");
    }
}
