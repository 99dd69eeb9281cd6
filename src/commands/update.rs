//! `berth update [--resources FILE|-] [--memory …] ID`

use super::{id_arg, Ctx};
use crate::cli::{self, val, Parsed};
use anyhow::{bail, Context, Result};
use berth::cgroups::{apply, systemd};
use berth::container::state::Status;
use berth::log;
use berth::spec::types::{BlockIo, Cpu, IntelRdt, Memory, Pids, Resources};
use berth::spec::validate::{check_resources, normalize_device_access};
use std::io::Read;

const FLAGS: [cli::Flag; 18] = [
    val(&["resources", "r"]),
    val(&["blkio-weight"]),
    val(&["cpu-period"]),
    val(&["cpu-quota"]),
    val(&["cpu-burst"]),
    val(&["cpu-share"]),
    val(&["cpu-rt-period"]),
    val(&["cpu-rt-runtime"]),
    val(&["cpuset-cpus"]),
    val(&["cpuset-mems"]),
    val(&["memory"]),
    val(&["memory-reservation"]),
    val(&["memory-swap"]),
    val(&["kernel-memory"]),
    val(&["kernel-memory-tcp"]),
    val(&["pids-limit"]),
    val(&["l3-cache-schema"]),
    val(&["mem-bw-schema"]),
];

/// Sizes as runc reads them: a number with an optional k, m, g, t (and b)
/// suffix in powers of 1024; -1 means unlimited.
pub fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (digits, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = digits.trim().parse().map_err(|_| anyhow::anyhow!("--{flag}: {s:?} is not a size"))?;
    if n < 0.0 {
        bail!("--{flag}: {s:?} is negative");
    }
    Ok((n * mult as f64) as i64)
}

fn int<T: std::str::FromStr>(p: &Parsed, flag: &str) -> Result<Option<T>> {
    p.get(flag).map(|v| v.parse::<T>().map_err(|_| anyhow::anyhow!("--{flag}: {v:?} is not a number"))).transpose()
}

fn bytes(p: &Parsed, flag: &str) -> Result<Option<i64>> {
    p.get(flag).map(|v| parse_bytes(flag, v)).transpose()
}

/// The resources the flags ask for (on top of --resources, flags win).
pub fn from_flags(p: &Parsed, mut r: Resources) -> Result<Resources> {
    let mem = Memory {
        limit: bytes(p, "memory")?,
        reservation: bytes(p, "memory-reservation")?,
        swap: bytes(p, "memory-swap")?,
        kernel: bytes(p, "kernel-memory")?,
        kernel_tcp: bytes(p, "kernel-memory-tcp")?,
        ..Default::default()
    };
    if mem != Memory::default() {
        let m = r.memory.get_or_insert_with(Default::default);
        m.limit = mem.limit.or(m.limit);
        m.reservation = mem.reservation.or(m.reservation);
        m.swap = mem.swap.or(m.swap);
        m.kernel = mem.kernel.or(m.kernel);
        m.kernel_tcp = mem.kernel_tcp.or(m.kernel_tcp);
    }
    let cpu = Cpu {
        shares: int(p, "cpu-share")?,
        quota: int(p, "cpu-quota")?,
        burst: int(p, "cpu-burst")?,
        period: int(p, "cpu-period")?,
        realtime_runtime: int(p, "cpu-rt-runtime")?,
        realtime_period: int(p, "cpu-rt-period")?,
        cpus: p.get("cpuset-cpus").map(String::from),
        mems: p.get("cpuset-mems").map(String::from),
        idle: None,
    };
    if cpu != Cpu::default() {
        let c = r.cpu.get_or_insert_with(Default::default);
        c.shares = cpu.shares.or(c.shares);
        c.quota = cpu.quota.or(c.quota);
        c.burst = cpu.burst.or(c.burst);
        c.period = cpu.period.or(c.period);
        c.realtime_runtime = cpu.realtime_runtime.or(c.realtime_runtime);
        c.realtime_period = cpu.realtime_period.or(c.realtime_period);
        c.cpus = cpu.cpus.or(c.cpus.take());
        c.mems = cpu.mems.or(c.mems.take());
    }
    if let Some(l) = int::<i64>(p, "pids-limit")? {
        r.pids = Some(Pids { limit: l });
    }
    if let Some(w) = int::<u16>(p, "blkio-weight")? {
        r.block_io.get_or_insert_with(BlockIo::default).weight = Some(w);
    }
    Ok(r)
}

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &FLAGS, None)?;
    let id = id_arg(&p, "update")?;
    let base = match p.get("resources") {
        None => Resources::default(),
        Some(src) => {
            let data = if src == "-" {
                let mut data = Vec::new();
                std::io::stdin().read_to_end(&mut data).context("reading resources from stdin")?;
                data
            } else {
                berth::files::read_path(std::path::Path::new(src), berth::files::CONFIG_LIMIT)?
            };
            berth::spec::read_input(&data, &format!("--resources {src}"), true)?
        }
    };
    let mut r = from_flags(&p, base)?;
    for w in normalize_device_access(&mut r) {
        berth::log::warn(&w);
    }
    check_resources(&r)?;
    let rdt = IntelRdt {
        l3_cache_schema: p.get("l3-cache-schema").map(Into::into),
        mem_bw_schema: p.get("mem-bw-schema").map(Into::into),
        ..Default::default()
    };
    berth::spec::rdt::check(&rdt)?;
    let (locked, rec) = ctx.store().open(&id)?;
    if locked.status(&rec) == Status::Stopped {
        bail!("container {id} is not running");
    }
    if let Some(w) = berth::spec::rdt::writes(&rdt).first() {
        // runc's rule: only a container that was given a group at create.
        let Some(g) = &rec.rdt else {
            bail!(
                "--l3-cache-schema/--mem-bw-schema: container {id} has no Intel RDT group (linux.intelRdt was not set)"
            );
        };
        berth::linux::resctrl::write_schemata(&g.dir, w)?;
    }
    if !rec.cgroup.exists() {
        bail!("cannot update resources of container {id}: it has no cgroup (rootless, without a writable cgroup)");
    }
    for w in apply::apply(&rec.cgroup, &r, true)? {
        log::warn(&w);
    }
    if let Some(unit) = &rec.cgroup.unit {
        // The unit's properties too, or a daemon-reload would undo the files.
        let v2 = rec.cgroup.dirs.iter().all(|(h, _)| h.v2);
        systemd::Systemd::connect()?.set(unit, systemd::properties(&r, v2)?)?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_runc() {
        assert_eq!(parse_bytes("memory", "1M").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("memory", "512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("memory", "2gb").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("memory", "1000").unwrap(), 1000);
        assert_eq!(parse_bytes("memory", "-1").unwrap(), -1);
        assert!(parse_bytes("memory", "lots").unwrap_err().to_string().contains("--memory"));
    }

    #[test]
    fn flags_override_the_file() {
        let p = cli::parse(&["--memory".to_string(), "1M".to_string(), "x".to_string()], &FLAGS, None).unwrap();
        let base = Resources { pids: Some(Pids { limit: 5 }), ..Default::default() };
        let r = from_flags(&p, base).unwrap();
        assert_eq!(r.memory.unwrap().limit, Some(1 << 20));
        assert_eq!(r.pids.unwrap().limit, 5);
    }
}
