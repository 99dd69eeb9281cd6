//! `berth pause ID` and `berth resume ID`

use super::{id_arg, Ctx};
use crate::cli;
use anyhow::Result;

pub fn pause(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[], None)?;
    ctx.rt.pause(&id_arg(&p, "pause")?)?;
    Ok(0)
}

pub fn resume(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[], None)?;
    ctx.rt.resume(&id_arg(&p, "resume")?)?;
    Ok(0)
}
