//! `berth pause ID` and `berth resume ID`

use super::{id_arg, Ctx};
use crate::cli;
use anyhow::Result;
use berth::container::lifecycle;

pub fn pause(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[], None)?;
    let (locked, rec) = ctx.store.open(&id_arg(&p, "pause")?)?;
    lifecycle::pause(&locked, &rec)?;
    Ok(0)
}

pub fn resume(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[], None)?;
    let (locked, rec) = ctx.store.open(&id_arg(&p, "resume")?)?;
    lifecycle::resume(&locked, &rec)?;
    Ok(0)
}
