//! `berth state ID`

use super::{id_arg, Ctx};
use crate::cli;
use anyhow::Result;

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[], None)?;
    let id = id_arg(&p, "state")?;
    let c = ctx.rt.state(&id)?;
    println!("{}", serde_json::to_string_pretty(&c.oci_state())?);
    Ok(0)
}
