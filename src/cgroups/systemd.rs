//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup is
//! a transient scope systemd makes for its init, asked for over D-Bus; the
//! limits systemd owns are set as unit properties as well as written to the
//! cgroup files (so that a `systemctl daemon-reload` does not undo them).

use super::resources::{blkio_to_io_weight, shares_to_weight, swap_to_v2};
use crate::linux::dbus::{CallError, Conn, Value};
use crate::spec::types::{DeviceRule, Resources};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// systemd's socket for root that needs no bus daemon; a user's own
/// systemd (`user@UID.service`) has one in its runtime directory.
const PRIVATE_SOCKET: &str = "/run/systemd/private";
const USER_PRIVATE_SOCKET: &str = "systemd/private";
const DEST: Option<&str> = Some("org.freedesktop.systemd1");
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// Where a container goes: its unit and that unit's cgroup path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// `berth-<id>.scope` (or a slice the config names).
    pub name: String,
    /// The slice a scope goes into.
    pub slice: String,
    /// The unit's cgroup below the hierarchy's root, `/system.slice/berth-x.scope`.
    pub path: String,
}

/// `slice:prefix:name` (runc's form; empty parts take runc's defaults)
/// into a unit; no cgroupsPath means `system.slice:berth:<id>` (for a
/// user's own systemd, `user.slice:berth:<id>`).
pub fn unit_for(cgroups_path: Option<&str>, id: &str, user: bool) -> Result<Unit> {
    let raw = cgroups_path.filter(|p| !p.is_empty());
    let default_slice = if user { "user.slice" } else { "system.slice" };
    let (slice, prefix, name) = match raw {
        None => (default_slice, "berth", id),
        Some(p) => {
            let parts: Vec<&str> = p.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                bail!("linux.cgroupsPath: expected \"slice:prefix:name\" for systemd cgroups, got {p:?}");
            };
            (if slice.is_empty() { default_slice } else { slice }, prefix, name)
        }
    };
    if name.is_empty() || name.contains('/') {
        bail!("linux.cgroupsPath: unit name {name:?} is not valid");
    }
    let unit = if name.ends_with(".slice") { name.to_string() } else { format!("{prefix}-{name}.scope") };
    let parent = expand_slice(slice)?;
    let path = if unit.ends_with(".slice") {
        expand_slice(&unit)?
    } else {
        format!("{}/{unit}", parent.trim_end_matches('/'))
    };
    Ok(Unit { name: unit, slice: slice.to_string(), path })
}

/// A slice's cgroup path: `a-b.slice` lives in `/a.slice/a-b.slice`, and
/// `-.slice` is the root.
pub fn expand_slice(slice: &str) -> Result<String> {
    let bad = || anyhow::anyhow!("linux.cgroupsPath: {slice:?} is not a valid systemd slice");
    let base = slice.strip_suffix(".slice").ok_or_else(bad)?;
    if base.contains('/') {
        return Err(bad());
    }
    if base == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in base.split('-') {
        if part.is_empty() {
            return Err(bad());
        }
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push('/');
        path.push_str(&prefix);
        path.push_str(".slice");
    }
    Ok(path)
}

/// A cpu or memory-node list (`0-2,5`) as systemd's bitmask bytes.
pub fn list_to_mask(list: &str, field: &str) -> Result<Vec<u8>> {
    let mut mask = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let parse = |s: &str| s.trim().parse::<usize>().ok().filter(|n| *n < 8192);
        let (Some(a), Some(b)) = (parse(a), parse(b)) else { bail!("{field}: {list:?} is not a list such as 0-2,5") };
        if a > b {
            bail!("{field}: {list:?} is not a list such as 0-2,5");
        }
        for bit in a..=b {
            if mask.len() <= bit / 8 {
                mask.resize(bit / 8 + 1, 0);
            }
            mask[bit / 8] |= 1 << (bit % 8);
        }
    }
    Ok(mask)
}

fn prop(name: &str, v: Value) -> Value {
    Value::Struct(vec![Value::Str(name.into()), Value::Variant(Box::new(v))])
}

fn limit(v: i64) -> Value {
    Value::U64(if v < 0 { u64::MAX } else { v as u64 })
}

/// The device rules as DevicePolicy/DeviceAllow, when they have the usual
/// shape (deny all, then allows of whole types or single nodes). Any other
/// shape is left to berth's own device program alone.
fn device_props(rules: &[DeviceRule]) -> Option<Vec<Value>> {
    let (first, allows) = rules.split_first()?;
    let denies_all =
        !first.allow && first.kind.as_deref().is_none_or(|k| k == "a") && first.major.is_none_or(|m| m < 0);
    if !denies_all || allows.iter().any(|r| !r.allow) {
        return None;
    }
    let mut entries = Vec::new();
    for r in allows {
        let access = r.access.clone().unwrap_or_else(|| "rwm".into());
        let kind = match r.kind.as_deref() {
            Some("c") => "char",
            Some("b") => "block",
            _ => return Some(vec![prop("DevicePolicy", Value::Str("auto".into()))]),
        };
        let node = match (r.major.filter(|m| *m >= 0), r.minor.filter(|m| *m >= 0)) {
            (Some(ma), Some(mi)) => format!("/dev/{kind}/{ma}:{mi}"),
            (None, _) => format!("{kind}-*"),
            // A whole major: systemd names it by its driver in /proc/devices.
            (Some(_), None) => return None,
        };
        entries.push(Value::Struct(vec![Value::Str(node), Value::Str(access)]));
    }
    Some(vec![
        prop("DevicePolicy", Value::Str("strict".into())),
        prop("DeviceAllow", Value::Array("(ss)".into(), entries)),
    ])
}

/// `linux.resources` as the unit properties systemd owns (`v2`: the
/// unified hierarchy's names; else the legacy ones systemd still takes).
pub fn properties(r: &Resources, v2: bool) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    if let Some(m) = &r.memory {
        // 0 is "not set" to Docker and runc alike.
        if let Some(l) = m.limit.filter(|l| *l != 0) {
            out.push(prop("MemoryMax", limit(l)));
        }
        if let Some(l) = m.reservation.filter(|l| v2 && *l != 0) {
            out.push(prop("MemoryLow", limit(l)));
        }
        if let (Some(s), true) = (m.swap.filter(|s| *s != 0), v2) {
            if let Some(v) = swap_to_v2(s, m.limit)? {
                out.push(prop("MemorySwapMax", Value::U64(v.parse().unwrap_or(u64::MAX))));
            }
        }
    }
    if let Some(c) = &r.cpu {
        if let Some(s) = c.shares.filter(|s| *s > 0) {
            out.push(if v2 {
                prop("CPUWeight", Value::U64(shares_to_weight(s)))
            } else {
                prop("CPUShares", Value::U64(s))
            });
        }
        if let Some(p) = c.period.filter(|p| *p > 0) {
            out.push(prop("CPUQuotaPeriodUSec", Value::U64(p)));
        }
        if let Some(q) = c.quota.filter(|q| *q != 0) {
            let per_sec = match c.period.filter(|p| *p > 0) {
                _ if q <= 0 => u64::MAX,
                Some(p) => {
                    // systemd keeps a quota in steps of 10 ms per second: round up.
                    let v = (q as u64).saturating_mul(1_000_000) / p;
                    v.div_ceil(10_000) * 10_000
                }
                None => (q as u64).saturating_mul(10), // the kernel's default period, 100 ms
            };
            out.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
        }
        if v2 {
            if let Some(list) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
                let mask = list_to_mask(list, "linux.resources.cpu.cpus")?;
                out.push(prop("AllowedCPUs", Value::Array("y".into(), mask.into_iter().map(Value::Byte).collect())));
            }
            if let Some(list) = c.mems.as_deref().filter(|s| !s.is_empty()) {
                let mask = list_to_mask(list, "linux.resources.cpu.mems")?;
                out.push(prop(
                    "AllowedMemoryNodes",
                    Value::Array("y".into(), mask.into_iter().map(Value::Byte).collect()),
                ));
            }
        }
    }
    if let Some(p) = r.pids.as_ref().filter(|p| p.limit != 0) {
        out.push(prop("TasksMax", limit(p.limit)));
    }
    if let Some(w) = r.block_io.as_ref().and_then(|b| b.weight).filter(|w| *w > 0) {
        out.push(if v2 {
            prop("IOWeight", Value::U64(blkio_to_io_weight(u64::from(w))))
        } else {
            prop("BlockIOWeight", Value::U64(u64::from(w)))
        });
    }
    if let Some(d) = device_props(&r.devices) {
        out.extend(d);
    }
    Ok(out)
}

/// A connection to systemd (root: its private socket).
pub struct Systemd {
    conn: Conn,
}

/// How long berth waits for a job systemd runs for it (runc waits 30 s;
/// twice that, for machines under load).
const JOB_WAIT: Duration = Duration::from_secs(60);

impl Systemd {
    /// The system's systemd for root, the user's own for anyone else.
    pub fn connect() -> Result<Systemd> {
        let conn = if nix::unistd::geteuid().is_root() {
            Conn::connect(Path::new(PRIVATE_SOCKET), false)
                .context("--systemd-cgroup: systemd is not reachable (is it the init system here?)")?
        } else {
            let dir = std::env::var("XDG_RUNTIME_DIR")
                .ok()
                .filter(|d| !d.is_empty())
                .context("--systemd-cgroup: as a user it needs XDG_RUNTIME_DIR, where the user's systemd listens")?;
            Conn::connect(&Path::new(&dir).join(USER_PRIVATE_SOCKET), false)
                .context("--systemd-cgroup: the user's systemd (user@UID.service) is not reachable")?
        };
        let mut s = Systemd { conn };
        // Job signals come to subscribers.
        s.conn.call(DEST, MANAGER_PATH, MANAGER, "Subscribe", &[])?;
        Ok(s)
    }

    /// Waits for the job behind `job` (an object path) to finish.
    fn wait_job(&mut self, job: &str, what: &str) -> Result<()> {
        let deadline = Instant::now() + JOB_WAIT;
        let m = self
            .conn
            .wait_signal(deadline, |m| {
                m.member.as_deref() == Some("JobRemoved") && m.body.get(1).and_then(Value::as_str) == Some(job)
            })
            .with_context(|| format!("waiting for systemd to {what}"))?;
        match m.body.get(3).and_then(Value::as_str) {
            Some("done") => Ok(()),
            r => bail!("systemd could not {what}: job {}", r.unwrap_or("?")),
        }
    }

    /// Starts the transient unit with `pid` in it, `props` on top of the
    /// driver's own (delegation, accounting, no default dependencies).
    pub fn start(&mut self, unit: &Unit, id: &str, pid: i32, props: Vec<Value>) -> Result<()> {
        let scope = unit.name.ends_with(".scope");
        let mut all = vec![
            prop("Description", Value::Str(format!("berth container {id}"))),
            prop("DefaultDependencies", Value::Bool(false)),
            prop("MemoryAccounting", Value::Bool(true)),
            prop("CPUAccounting", Value::Bool(true)),
            prop("TasksAccounting", Value::Bool(true)),
        ];
        if scope {
            all.push(prop("Slice", Value::Str(unit.slice.clone())));
            all.push(prop("Delegate", Value::Bool(true)));
            all.push(prop("PIDs", Value::Array("u".into(), vec![Value::U32(pid as u32)])));
        }
        all.extend(props);
        let args = [
            Value::Str(unit.name.clone()),
            Value::Str("replace".into()),
            Value::Array("(sv)".into(), all),
            Value::Array("(sa(sv))".into(), vec![]),
        ];
        let what = format!("start {}", unit.name);
        let reply = match self.conn.call(DEST, MANAGER_PATH, MANAGER, "StartTransientUnit", &args) {
            Err(e) if is_error(&e, "org.freedesktop.systemd1.UnitExists") => {
                bail!("linux.cgroupsPath: systemd unit {} already exists", unit.name)
            }
            r => r.with_context(|| format!("asking systemd to {what}"))?,
        };
        let job = reply.first().and_then(Value::as_str).context("StartTransientUnit: no job in the reply")?.to_string();
        self.wait_job(&job, &what)
    }

    /// `update`: the unit's properties, for the running unit only.
    pub fn set(&mut self, unit: &str, props: Vec<Value>) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        let args = [Value::Str(unit.into()), Value::Bool(true), Value::Array("(sv)".into(), props)];
        self.conn
            .call(DEST, MANAGER_PATH, MANAGER, "SetUnitProperties", &args)
            .with_context(|| format!("setting properties of {unit}"))?;
        Ok(())
    }

    /// Stops the unit and waits; a unit that is gone already is fine.
    pub fn stop(&mut self, unit: &str) -> Result<()> {
        let args = [Value::Str(unit.into()), Value::Str("replace".into())];
        let reply = match self.conn.call(DEST, MANAGER_PATH, MANAGER, "StopUnit", &args) {
            Err(e) if is_error(&e, "org.freedesktop.systemd1.NoSuchUnit") => return Ok(()),
            r => r.with_context(|| format!("asking systemd to stop {unit}"))?,
        };
        let job = reply.first().and_then(Value::as_str).context("StopUnit: no job in the reply")?.to_string();
        self.wait_job(&job, &format!("stop {unit}"))?;
        // A failed scope stays loaded until reset; its name would be taken.
        let _ = self.conn.call(DEST, MANAGER_PATH, MANAGER, "ResetFailedUnit", &[Value::Str(unit.into())]);
        Ok(())
    }
}

fn is_error(e: &anyhow::Error, name: &str) -> bool {
    e.downcast_ref::<CallError>().is_some_and(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::{Cpu, Memory, Pids};

    #[test]
    fn cgroups_path_follows_runc() {
        let u = unit_for(None, "c1", false).unwrap();
        assert_eq!(
            u,
            Unit {
                name: "berth-c1.scope".into(),
                slice: "system.slice".into(),
                path: "/system.slice/berth-c1.scope".into()
            }
        );
        let u = unit_for(Some("machine-web.slice:docker:abc"), "x", false).unwrap();
        assert_eq!(u.name, "docker-abc.scope");
        assert_eq!(u.path, "/machine.slice/machine-web.slice/docker-abc.scope");
        let u = unit_for(Some(":libpod:abc"), "x", false).unwrap();
        assert_eq!(u.path, "/system.slice/libpod-abc.scope");
        let u = unit_for(Some(":libpod:abc"), "x", true).unwrap();
        assert_eq!(u.path, "/user.slice/libpod-abc.scope");
        let u = unit_for(Some(":libpod:abc"), "x", false).unwrap();
        assert_eq!(u.path, "/system.slice/libpod-abc.scope");
        let u = unit_for(Some("-.slice:p:my.slice"), "x", false).unwrap();
        assert_eq!((u.name.as_str(), u.path.as_str()), ("my.slice", "/my.slice"));
        for bad in ["/a/b", "a:b", "a:b:c:d", "x.service:p:n", "a--b.slice:p:n", "system.slice:p:", "a/b.slice:p:n"] {
            let e = unit_for(Some(bad), "x", false).unwrap_err().to_string();
            assert!(e.contains("linux.cgroupsPath"), "{bad}: {e}");
        }
    }

    #[test]
    fn slices_expand_to_their_parents() {
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(expand_slice("a-b-c.slice").unwrap(), "/a.slice/a-b.slice/a-b-c.slice");
        assert!(expand_slice("a-.slice").is_err());
        assert!(expand_slice("a").is_err());
    }

    #[test]
    fn cpu_lists_become_masks() {
        assert_eq!(list_to_mask("0-2,5", "f").unwrap(), [0b0010_0111]);
        assert_eq!(list_to_mask("9", "f").unwrap(), [0, 0b10]);
        assert!(list_to_mask("3-1", "f").is_err());
        assert!(list_to_mask("x", "f").unwrap_err().to_string().contains("f:"));
    }

    fn names(p: &[Value]) -> Vec<(String, Value)> {
        p.iter()
            .map(|v| match v {
                Value::Struct(f) => match (&f[0], &f[1]) {
                    (Value::Str(n), Value::Variant(v)) => (n.clone(), (**v).clone()),
                    _ => panic!("{v:?}"),
                },
                _ => panic!("{v:?}"),
            })
            .collect()
    }

    #[test]
    fn resources_become_properties() {
        let r = Resources {
            memory: Some(Memory {
                limit: Some(1 << 30),
                reservation: Some(1 << 20),
                swap: Some(2 << 30),
                ..Memory::default()
            }),
            cpu: Some(Cpu {
                shares: Some(1024),
                quota: Some(50_000),
                period: Some(100_000),
                cpus: Some("0-1".into()),
                ..Cpu::default()
            }),
            pids: Some(Pids { limit: 100 }),
            ..Resources::default()
        };
        let p = names(&properties(&r, true).unwrap());
        let get = |n: &str| p.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("MemoryMax"), Some(Value::U64(1 << 30)));
        assert_eq!(get("MemoryLow"), Some(Value::U64(1 << 20)));
        assert_eq!(get("MemorySwapMax"), Some(Value::U64(1 << 30)));
        assert_eq!(get("CPUWeight"), Some(Value::U64(shares_to_weight(1024))));
        assert_eq!(get("CPUQuotaPerSecUSec"), Some(Value::U64(500_000)));
        assert_eq!(get("CPUQuotaPeriodUSec"), Some(Value::U64(100_000)));
        assert_eq!(get("AllowedCPUs"), Some(Value::Array("y".into(), vec![Value::Byte(3)])));
        assert_eq!(get("TasksMax"), Some(Value::U64(100)));
        let v1 = names(&properties(&r, false).unwrap());
        assert!(v1.iter().any(|(k, v)| k == "CPUShares" && *v == Value::U64(1024)));
        assert!(!v1.iter().any(|(k, _)| k == "MemorySwapMax" || k == "AllowedCPUs"));
    }

    /// Docker sends 0 for what is not set: systemd refuses some of those
    /// values (IOWeight=0), and none of them is a limit.
    #[test]
    fn zeros_are_not_limits() {
        let r: Resources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 0, "reservation": 0, "swap": 0}, "cpu": {"shares": 0, "quota": 0, "period": 0},
            "pids": {"limit": 0}, "blockIO": {"weight": 0}
        }))
        .unwrap();
        assert!(properties(&r, true).unwrap().is_empty());
    }

    #[test]
    fn usual_device_rules_become_device_allow() {
        let rule = |allow: bool, kind: Option<&str>, major: Option<i64>, minor: Option<i64>| DeviceRule {
            allow,
            kind: kind.map(String::from),
            major,
            minor,
            access: Some("rwm".into()),
        };
        let rules =
            [rule(false, None, None, None), rule(true, Some("c"), Some(1), Some(3)), rule(true, Some("c"), None, None)];
        let p = names(&device_props(&rules).unwrap());
        assert_eq!(p[0], ("DevicePolicy".into(), Value::Str("strict".into())));
        let Value::Array(_, allow) = &p[1].1 else { panic!() };
        assert_eq!(allow[0], Value::Struct(vec![Value::Str("/dev/char/1:3".into()), Value::Str("rwm".into())]));
        assert_eq!(allow[1], Value::Struct(vec![Value::Str("char-*".into()), Value::Str("rwm".into())]));
        // A deny after an allow cannot be said to systemd: left to berth's program.
        assert!(device_props(&[
            rule(false, None, None, None),
            rule(true, Some("c"), None, None),
            rule(false, Some("c"), Some(1), Some(3))
        ])
        .is_none());
    }
}
