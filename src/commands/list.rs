//! `berth list [--format table|json] [-q]`

use super::Ctx;
use crate::cli::{self, bool_flag, val};
use anyhow::{bail, Result};
use std::borrow::Cow;

/// Columns padded like Go's tabwriter(minwidth 12, padding 3).
pub fn table<S: AsRef<str>>(rows: &[Vec<S>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols.saturating_sub(1)) {
            widths[i] = widths[i].max((c.as_ref().chars().count() + 3).max(12));
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            let c = c.as_ref();
            out.push_str(c);
            if i + 1 < r.len() {
                // Padded by hand: format!'s width costs ~1000 instructions a cell.
                let pad = widths[i].saturating_sub(c.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[val(&["format", "f"]), bool_flag(&["quiet", "q"])], None)?;
    if p.has("quiet") {
        // Ids only: no record needs reading, no status computing.
        for id in ctx.store().ids()? {
            println!("{id}");
        }
        return Ok(0);
    }
    let recs = ctx.store().summaries()?;
    match p.get("format").unwrap_or("table") {
        "table" => {
            // Cells borrowed from the summaries: only the pids are new text.
            let mut rows: Vec<Vec<Cow<str>>> =
                vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(Cow::from).to_vec()];
            for (r, st) in &recs {
                let pid = if *st == berth::container::state::Status::Stopped { 0 } else { r.pid };
                rows.push(vec![
                    Cow::from(r.id.as_str()),
                    Cow::from(pid.to_string()),
                    Cow::from(st.as_str()),
                    Cow::from(r.bundle.as_str()),
                    Cow::from(r.created.as_str()),
                    Cow::from(r.owner.as_str()),
                ]);
            }
            print!("{}", table(&rows));
        }
        "json" => {
            let states: Vec<_> = recs.iter().map(|(r, st)| r.oci_state(*st)).collect();
            if states.is_empty() {
                println!("null");
            } else {
                println!("{}", serde_json::to_string(&states)?);
            }
        }
        other => bail!("invalid format option {other:?}: table or json"),
    }
    // The process ends next: freeing every summary's strings one by one
    // would cost some 800 instructions a container for nothing.
    std::mem::forget(recs);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_like_tabwriter() {
        let rows = vec![
            vec!["ID".to_string(), "PID".into(), "X".into()],
            vec!["a-long-container-id".into(), "1".into(), "y".into()],
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], format!("{:<22}{:<12}X", "ID", "PID"));
        assert_eq!(lines[1], format!("{:<22}{:<12}y", "a-long-container-id", "1"));
    }
}
