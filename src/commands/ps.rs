//! `berth ps [--format table|json] ID [ps options]`

use super::{id_arg, Ctx};
use crate::cli::{self, val};
use anyhow::{bail, Context, Result};

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[val(&["format", "f"])], Some(1))?;
    let id = id_arg(&p, "ps")?;
    let rec = ctx.store().read(&id)?;
    // A stopped container has no processes (or leftovers in its cgroup):
    // the header and those, exit 0, as runc does.
    let pids = berth::container::lifecycle::processes(&rec);
    match p.get("format").unwrap_or("table") {
        "json" => {
            println!("{}", serde_json::to_string(&pids)?);
            Ok(0)
        }
        "table" => {
            let ps_args: Vec<String> = if p.args.len() > 1 { p.args[1..].to_vec() } else { vec!["-ef".to_string()] };
            let out = std::process::Command::new("ps").args(&ps_args).output().context("running ps")?;
            if !out.status.success() {
                bail!("ps {}: {}", ps_args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
            }
            print!("{}", filter_table(&String::from_utf8_lossy(&out.stdout), &pids)?);
            Ok(0)
        }
        other => bail!("invalid format option {other:?}: table or json"),
    }
}

/// Keeps the header and the rows whose PID column is one of `pids`.
pub fn filter_table(table: &str, pids: &[i32]) -> Result<String> {
    let mut lines = table.lines();
    let Some(header) = lines.next() else { return Ok(String::new()) };
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("ps output has no PID column");
    };
    let mut out = format!("{header}\n");
    for l in lines {
        if l.split_whitespace().nth(col).and_then(|v| v.parse::<i32>().ok()).is_some_and(|p| pids.contains(&p)) {
            out.push_str(l);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_container_rows() {
        let t = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sh\nroot 43 42 sleep\n";
        assert_eq!(filter_table(t, &[42, 43]).unwrap(), "UID PID PPID CMD\nroot 42 1 sh\nroot 43 42 sleep\n");
        assert!(filter_table("A B\n1 2\n", &[1]).is_err());
    }
}
