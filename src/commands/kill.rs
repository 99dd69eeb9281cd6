//! `berth kill [--all] ID [SIGNAL]`

use super::{id_arg, Ctx};
use crate::cli::{self, bool_flag};
use anyhow::Result;
use berth::linux::signals;

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[bool_flag(&["all", "a"])], None)?;
    let id = id_arg(&p, "kill")?;
    let sig = signals::parse(p.args.get(1).map_or("SIGTERM", String::as_str))?;
    ctx.rt.kill(&id, sig, p.has("all"))?;
    Ok(0)
}
