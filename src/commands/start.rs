//! `berth start ID`

use super::{id_arg, Ctx};
use crate::cli;
use anyhow::Result;

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[], None)?;
    let id = id_arg(&p, "start")?;
    ctx.rt.start(&id)?;
    Ok(0)
}
