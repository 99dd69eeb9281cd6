//! `berth state ID`

use super::{id_arg, Ctx};
use crate::cli;
use anyhow::Result;

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[], None)?;
    let id = id_arg(&p, "state")?;
    let rec = ctx.store.read(&id)?;
    let status = ctx.store.status(&rec);
    println!("{}", serde_json::to_string_pretty(&rec.oci_state(status))?);
    Ok(0)
}
