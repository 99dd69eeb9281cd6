//! `berth events [--stats] [--interval D] ID`: one stats object, or a
//! stream of stats and OOM events, one JSON object a line.

use super::{id_arg, Ctx};
use crate::cli::{self, bool_flag, val};
use anyhow::{bail, Result};
use berth::cgroups::stats;
use berth::container::state::Status;
use std::time::Duration;

/// Go-style durations: "5s", "100ms", "1m", "1.5s".
pub fn parse_duration(s: &str) -> Result<Duration> {
    let units = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)];
    for (u, mult) in units {
        if let Some(n) = s.strip_suffix(u) {
            if let Ok(v) = n.parse::<f64>() {
                if v > 0.0 {
                    return Ok(Duration::from_secs_f64(v * mult));
                }
            }
        }
    }
    bail!("--interval: {s:?} is not a positive duration such as 5s or 100ms")
}

/// One event as runc prints it: keys in the order type, id, data.
#[derive(serde::Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
}

fn event_line(kind: &str, id: &str, data: Option<serde_json::Value>) -> String {
    serde_json::to_string(&Event { kind, id, data }).unwrap_or_default()
}

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[bool_flag(&["stats"]), val(&["interval"])], None)?;
    let id = id_arg(&p, "events")?;
    let interval = parse_duration(p.get("interval").unwrap_or("5s"))?;
    let rec = ctx.store().read(&id)?;
    if ctx.store().status(&rec) == Status::Stopped {
        bail!("container with id {id} is not running");
    }
    let emit = |kind: &str, data: serde_json::Value| println!("{}", event_line(kind, &id, Some(data)));
    if p.has("stats") {
        emit("stats", stats::collect(&rec.cgroup));
        return Ok(0);
    }
    let step = Duration::from_millis(100).min(interval);
    let mut ooms = stats::oom_kills(&rec.cgroup);
    let mut since_stats = interval;
    loop {
        if since_stats >= interval {
            emit("stats", stats::collect(&rec.cgroup));
            since_stats = Duration::ZERO;
        }
        let now = stats::oom_kills(&rec.cgroup);
        if now > ooms {
            println!("{}", event_line("oom", &id, None));
            ooms = now;
        }
        if ctx.store().status(&rec) == Status::Stopped {
            return Ok(0);
        }
        std::thread::sleep(step);
        since_stats += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_in_runc_order() {
        assert_eq!(event_line("oom", "c1", None), r#"{"type":"oom","id":"c1"}"#);
        assert_eq!(
            event_line("stats", "c1", Some(serde_json::json!({"a": 1}))),
            r#"{"type":"stats","id":"c1","data":{"a":1}}"#
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
