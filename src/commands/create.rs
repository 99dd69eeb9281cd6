//! `berth create [flags] ID`

use super::{abs, id_arg, Ctx, CREATE_FLAGS};
use crate::cli::{self, Parsed};
use anyhow::Result;
use berth::runtime::CreateOptions;
use berth::spawn::parent::{self, Created};

/// Socket-activation descriptors berth was started with (LISTEN_FDS for us).
fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse().ok()).unwrap_or(0)
}

pub fn options(p: &Parsed, ctx: &Ctx) -> Result<CreateOptions> {
    Ok(CreateOptions {
        bundle: abs(p.get("bundle").unwrap_or("."))?,
        console_socket: p.get("console-socket").map(abs).transpose()?,
        pidfd_socket: p.get("pidfd-socket").map(abs).transpose()?,
        no_pivot: p.has("no-pivot"),
        no_new_keyring: p.has("no-new-keyring"),
        preserve_fds: p.preserve_fds()?,
        systemd_cgroup: ctx.systemd_cgroup,
        rootless: ctx.rootless(),
    })
}

/// Creates the container and writes the pid file; shared with `run`, which
/// passes `start` to have init go on to its process at once where nothing
/// must happen between the create and the start: no pid file to write, no
/// console socket to hand the terminal to, no sd_notify socket to bind.
/// Not rootless: exec.fifo may belong to the container's root there, and
/// berth may not read it.
pub fn create(ctx: &Ctx, p: &Parsed, id: String, attached: bool, start: bool) -> Result<Created> {
    let pid_file = p.get("pid-file").map(abs).transpose()?;
    let mut req = ctx.rt.request(&id, &options(p, ctx)?, listen_fds(), attached)?;
    req.start_at_once = start
        && !req.opts.rootless
        && pid_file.is_none()
        && req.opts.console_socket.is_none()
        && berth::container::notify::host_socket().is_none();
    let created = ctx.rt.create_request(&req)?;
    if let Some(pf) = pid_file {
        if let Err(e) = parent::write_pid_file(&pf, created.record.pid) {
            let _ = berth::container::lifecycle::destroy(created.locked, &created.record);
            return Err(e);
        }
    }
    Ok(created)
}

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &CREATE_FLAGS, None)?;
    let id = id_arg(&p, "create")?;
    create(ctx, &p, id, false, false)?;
    Ok(0)
}
