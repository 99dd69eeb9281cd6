//! `berth run [flags] ID`: create + start; in the foreground it forwards
//! signals (and the terminal), waits, removes the container and exits
//! with the container's status.

use super::create::create;
use super::foreground;
use super::{id_arg, Ctx, CREATE_FLAGS};
use crate::cli::{self, bool_flag};
use anyhow::Result;
use berth::container::lifecycle;

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let mut flags = CREATE_FLAGS.to_vec();
    flags.extend([bool_flag(&["detach", "d"]), bool_flag(&["keep"]), bool_flag(&["no-subreaper"])]);
    let p = cli::parse(args, &flags, None)?;
    let id = id_arg(&p, "run")?;
    let detach = p.has("detach");
    if !detach && !p.has("no-subreaper") {
        // runc's default: what the container's processes orphan (without a
        // pid namespace of their own) comes to berth, not to the host's init.
        berth::linux::sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1)?;
    }
    let created = create(ctx, &p, id, !detach, true)?;
    let rec = created.record.clone();
    let started = match created.released {
        true => lifecycle::started(&created.locked, &rec),
        false => lifecycle::start(&created.locked, &rec),
    };
    if let Err(e) = started {
        let _ = lifecycle::destroy(created.locked, &rec);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    // Release the lock while the container runs, so kill/state/delete work.
    drop(created.locked);
    let code = foreground::wait(rec.pid, created.pty)?;
    if !p.has("keep") {
        if let Ok((locked, rec)) = ctx.store().open(&rec.id) {
            lifecycle::destroy(locked, &rec)?;
        }
    }
    Ok(code)
}
