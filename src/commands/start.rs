//! `berth start ID`

use super::{id_arg, Ctx};
use crate::cli;
use anyhow::Result;
use berth::container::lifecycle;

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[], None)?;
    let id = id_arg(&p, "start")?;
    let (locked, rec) = ctx.store.open(&id)?;
    lifecycle::start(&locked, &rec)?;
    Ok(0)
}
