//! Resource usage of a container's cgroup, in the shape of runc's
//! `events --stats` data (cpu, memory, pids, blkio, hugetlb).

use super::apply::place;
use super::resources::Ctrl;
use super::Cgroup;
use serde_json::{json, Map, Value};
use std::path::Path;

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

fn num(dir: &Path, file: &str) -> u64 {
    read(dir, file).trim().parse().unwrap_or(0)
}

/// "key value" lines as a map.
fn kv(dir: &Path, file: &str) -> Map<String, Value> {
    read(dir, file)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| Some((k.to_string(), json!(v.trim().parse::<u64>().ok()?))))
        .collect()
}

fn get(m: &Map<String, Value>, k: &str) -> u64 {
    m.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// Page sizes as cgroup file names spell them ("2MB", "1GB").
pub fn hugepage_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else { return Vec::new() };
    let mut sizes: Vec<u64> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok())
        .collect();
    sizes.sort();
    sizes
        .into_iter()
        .map(|kb| match kb {
            kb if kb >= 1 << 20 => format!("{}GB", kb >> 20),
            kb if kb >= 1 << 10 => format!("{}MB", kb >> 10),
            kb => format!("{kb}KB"),
        })
        .collect()
}

fn entry(usage: u64, max: u64, limit: u64, failcnt: u64) -> Value {
    json!({"usage": usage, "max": max, "limit": limit, "failcnt": failcnt})
}

fn max_value(dir: &Path, file: &str) -> u64 {
    let s = read(dir, file);
    if s.trim() == "max" {
        u64::MAX
    } else {
        s.trim().parse().unwrap_or(0)
    }
}

fn cpu(cg: &Cgroup) -> Value {
    let mut out = json!({"usage": {}, "throttling": {}});
    if let Some((h, dir)) = place(cg, Ctrl::Cpu) {
        let st = kv(dir, "cpu.stat");
        if h.v2 {
            out["usage"] = json!({
                "total": get(&st, "usage_usec") * 1000,
                "user": get(&st, "user_usec") * 1000,
                "kernel": get(&st, "system_usec") * 1000,
            });
            out["throttling"] = json!({
                "periods": get(&st, "nr_periods"),
                "throttledPeriods": get(&st, "nr_throttled"),
                "throttledTime": get(&st, "throttled_usec") * 1000,
            });
            return out;
        }
        out["throttling"] = json!({
            "periods": get(&st, "nr_periods"),
            "throttledPeriods": get(&st, "nr_throttled"),
            "throttledTime": get(&st, "throttledTime"),
        });
    }
    if let Some((_, dir)) = cg.v1_dir("cpuacct") {
        let ticks = kv(dir, "cpuacct.stat");
        // USER_HZ is 100 on Linux: ticks → nanoseconds.
        let ns = |k: &str| get(&ticks, k) * 10_000_000;
        let percpu: Vec<u64> =
            read(dir, "cpuacct.usage_percpu").split_whitespace().filter_map(|v| v.parse().ok()).collect();
        out["usage"] = json!({
            "total": num(dir, "cpuacct.usage"),
            "percpu": percpu,
            "user": ns("user"),
            "kernel": ns("system"),
        });
    }
    out
}

fn memory(cg: &Cgroup) -> Value {
    let Some((h, dir)) = place(cg, Ctrl::Memory) else { return json!({}) };
    let raw = kv(dir, "memory.stat");
    if h.v2 {
        let events = kv(dir, "memory.events");
        let usage = num(dir, "memory.current");
        let swap = num(dir, "memory.swap.current");
        return json!({
            "cache": get(&raw, "file"),
            "usage": entry(usage, num(dir, "memory.peak"), max_value(dir, "memory.max"), get(&events, "max")),
            "swap": entry(usage + swap, 0, max_value(dir, "memory.swap.max"), get(&events, "max")),
            "raw": raw,
        });
    }
    let e = |p: &str| {
        entry(
            num(dir, &format!("{p}.usage_in_bytes")),
            num(dir, &format!("{p}.max_usage_in_bytes")),
            num(dir, &format!("{p}.limit_in_bytes")),
            num(dir, &format!("{p}.failcnt")),
        )
    };
    json!({
        "cache": get(&raw, "cache"),
        "usage": e("memory"),
        "swap": e("memory.memsw"),
        "kernel": e("memory.kmem"),
        "kernelTCP": e("memory.kmem.tcp"),
        "raw": raw,
    })
}

fn pids(cg: &Cgroup) -> Value {
    let Some((_, dir)) = place(cg, Ctrl::Pids) else { return json!({}) };
    let limit = match read(dir, "pids.max").trim() {
        "max" => 0,
        v => v.parse().unwrap_or(0),
    };
    json!({"current": num(dir, "pids.current"), "limit": limit})
}

fn blkio(cg: &Cgroup) -> Value {
    let Some((h, dir)) = place(cg, Ctrl::Io) else { return json!({}) };
    let dev = |d: &str| -> Option<(u64, u64)> {
        let (a, b) = d.split_once(':')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    if h.v2 {
        for line in read(dir, "io.stat").lines() {
            let mut parts = line.split_whitespace();
            let Some((major, minor)) = parts.next().and_then(dev) else { continue };
            for kv in parts {
                let Some((k, v)) = kv.split_once('=') else { continue };
                let v: u64 = v.parse().unwrap_or(0);
                let item = |op: &str| json!({"major": major, "minor": minor, "op": op, "value": v});
                match k {
                    "rbytes" => bytes.push(item("Read")),
                    "wbytes" => bytes.push(item("Write")),
                    "rios" => ios.push(item("Read")),
                    "wios" => ios.push(item("Write")),
                    _ => {}
                }
            }
        }
    } else {
        let parse = |file: &str, out: &mut Vec<Value>| {
            for line in read(dir, file).lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if let (3, Some((major, minor))) = (f.len(), f.first().and_then(|d| dev(d))) {
                    let v: u64 = f[2].parse().unwrap_or(0);
                    out.push(json!({"major": major, "minor": minor, "op": f[1], "value": v}));
                }
            }
        };
        parse("blkio.throttle.io_service_bytes_recursive", &mut bytes);
        parse("blkio.throttle.io_serviced_recursive", &mut ios);
    }
    json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios})
}

fn hugetlb(cg: &Cgroup) -> Value {
    let Some((h, dir)) = place(cg, Ctrl::Hugetlb) else { return json!({}) };
    let mut out = Map::new();
    for size in hugepage_sizes() {
        let v = if h.v2 {
            let events = kv(dir, &format!("hugetlb.{size}.events"));
            json!({"usage": num(dir, &format!("hugetlb.{size}.current")), "max": 0, "failcnt": get(&events, "max")})
        } else {
            json!({
                "usage": num(dir, &format!("hugetlb.{size}.usage_in_bytes")),
                "max": num(dir, &format!("hugetlb.{size}.max_usage_in_bytes")),
                "failcnt": num(dir, &format!("hugetlb.{size}.failcnt")),
            })
        };
        out.insert(size, v);
    }
    Value::Object(out)
}

/// Everything `events --stats` reports for one container.
pub fn collect(cg: &Cgroup) -> Value {
    json!({
        "cpu": cpu(cg),
        "memory": memory(cg),
        "pids": pids(cg),
        "blkio": blkio(cg),
        "hugetlb": hugetlb(cg),
    })
}

/// The count of OOM kills so far (v2 memory.events, v1 memory.oom_control).
pub fn oom_kills(cg: &Cgroup) -> u64 {
    let Some((h, dir)) = place(cg, Ctrl::Memory) else { return 0 };
    if h.v2 {
        get(&kv(dir, "memory.events"), "oom_kill")
    } else {
        get(&kv(dir, "memory.oom_control"), "oom_kill")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_files() {
        let dir = std::env::temp_dir().join(format!("berth-stats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n").unwrap();
        let m = kv(&dir, "memory.events");
        assert_eq!(get(&m, "max"), 3);
        assert_eq!(get(&m, "oom_kill"), 1);
        std::fs::write(dir.join("pids.max"), "max\n").unwrap();
        assert_eq!(max_value(&dir, "pids.max"), u64::MAX);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
