//! `berth delete [--force] ID`

use super::{id_arg, Ctx};
use crate::cli::{self, bool_flag};
use anyhow::Result;

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[bool_flag(&["force", "f"])], None)?;
    let id = id_arg(&p, "delete")?;
    ctx.rt.delete(&id, p.has("force"))?;
    Ok(0)
}
