//! `berth checkpoint [flags] ID` and `berth restore [flags] ID`: runc's
//! flags, carried out by criu (see `berth::spawn::criu`).

use super::foreground;
use super::{abs, id_arg, Ctx};
use crate::cli::{self, bool_flag, val, Flag, Parsed};
use anyhow::{bail, Result};
use berth::container::lifecycle;
use berth::spawn::criu::{self, Common, Dump};
use berth::spec::validate;

const COMMON: [Flag; 9] = [
    val(&["image-path"]),
    val(&["work-path"]),
    bool_flag(&["tcp-established"]),
    bool_flag(&["ext-unix-sk"]),
    bool_flag(&["shell-job"]),
    bool_flag(&["file-locks"]),
    val(&["manage-cgroups-mode"]),
    val(&["empty-ns"]),
    bool_flag(&["lazy-pages"]),
];

fn common(p: &Parsed) -> Result<Common> {
    let c = Common {
        // runc's default: ./checkpoint
        image_path: abs(p.get("image-path").unwrap_or("checkpoint"))?,
        work_path: p.get("work-path").map(abs).transpose()?,
        tcp_established: p.has("tcp-established"),
        ext_unix_sk: p.has("ext-unix-sk"),
        shell_job: p.has("shell-job"),
        file_locks: p.has("file-locks"),
        manage_cgroups_mode: p.get("manage-cgroups-mode").map(Into::into),
        empty_netns: p.get("empty-ns").map(criu::empty_ns).transpose()?.unwrap_or(false),
        lazy_pages: p.has("lazy-pages"),
    };
    criu::check_common(&c)?;
    Ok(c)
}

pub fn checkpoint(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let mut flags = COMMON.to_vec();
    flags.extend([
        val(&["parent-path"]),
        bool_flag(&["leave-running"]),
        bool_flag(&["pre-dump"]),
        val(&["page-server"]),
        val(&["status-fd"]),
    ]);
    let p = cli::parse(args, &flags, None)?;
    let id = id_arg(&p, "checkpoint")?;
    let status_fd = match p.get("status-fd") {
        Some(v) => Some(v.parse::<i32>().map_err(|_| anyhow::anyhow!("--status-fd: {v:?} is not a descriptor"))?),
        None => None,
    };
    let common = common(&p)?;
    let d = Dump {
        common,
        // criu takes the parent relative to the image directory: kept as given.
        parent_path: p.get("parent-path").map(Into::into),
        leave_running: p.has("leave-running"),
        pre_dump: p.has("pre-dump"),
        page_server: p.get("page-server").map(Into::into),
        status_fd,
    };
    if d.page_server.as_deref().is_some_and(|s| !s.contains(':')) {
        bail!("--page-server: {:?} is not ADDRESS:PORT", d.page_server.unwrap_or_default());
    }
    let (locked, rec) = ctx.store().open(&id)?;
    let checked = validate::check(ctx.store().config(&rec)?)?;
    berth::spawn::checkpoint::checkpoint(locked, &rec, &checked, &d)?;
    Ok(0)
}

pub fn restore(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let mut flags = COMMON.to_vec();
    flags.extend([
        val(&["bundle", "b"]),
        bool_flag(&["detach", "d"]),
        val(&["pid-file"]),
        val(&["console-socket"]),
        bool_flag(&["no-pivot"]),
        bool_flag(&["no-subreaper"]),
    ]);
    let p = cli::parse(args, &flags, None)?;
    let id = id_arg(&p, "restore")?;
    if p.get("console-socket").is_some() {
        bail!("--console-socket: berth restores through the criu command line, which cannot hand a terminal back (criu's RPC can); not supported yet");
    }
    if ctx.systemd_cgroup {
        bail!("--systemd-cgroup: restore places containers with cgroupfs only, for now");
    }
    // --no-pivot is accepted: criu makes the root itself, pivot or not.
    let bundle = abs(p.get("bundle").unwrap_or("."))?;
    let detach = p.has("detach");
    if !detach && !p.has("no-subreaper") {
        berth::linux::sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1)?;
    }
    let r = berth::spawn::restore::restore(ctx.store(), &id, &bundle, &common(&p)?)?;
    if let Err(e) = r.locked.save(&r.record) {
        let _ = lifecycle::destroy(r.locked, &r.record);
        return Err(e);
    }
    if let Some(pf) = p.get("pid-file").map(abs).transpose()? {
        if let Err(e) = berth::spawn::parent::write_pid_file(&pf, r.record.pid) {
            let _ = lifecycle::destroy(r.locked, &r.record);
            return Err(e);
        }
    }
    if detach {
        return Ok(0);
    }
    let rec = r.record;
    drop(r.locked);
    let code = foreground::wait(rec.pid, None)?;
    if let Ok((locked, rec)) = ctx.store().open(&rec.id) {
        lifecycle::destroy(locked, &rec)?;
    }
    Ok(code)
}
