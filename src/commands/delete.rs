//! `berth delete [--force] ID`

use super::{id_arg, Ctx};
use crate::cli::{self, bool_flag};
use anyhow::Result;
use berth::container::lifecycle;

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[bool_flag(&["force", "f"])], None)?;
    let id = id_arg(&p, "delete")?;
    let force = p.has("force");
    match ctx.store.open(&id) {
        Ok((locked, rec)) => lifecycle::delete(locked, &rec, force)?,
        Err(e) => {
            // A directory without state.json is what an aborted create leaves.
            ctx.store.remove_partial(&id);
            if !force {
                return Err(e);
            }
        }
    }
    Ok(0)
}
