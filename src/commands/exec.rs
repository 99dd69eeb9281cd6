//! `berth exec [--process F | ARGS…] [flags] ID`: a new process in a
//! running container. Exits with the process's status, or 255 when the
//! process could not be set up (as runc does).

use super::{abs, foreground, Ctx};
use crate::cli::{self, bool_flag, val, Parsed};
use anyhow::{bail, Context, Result};
use berth::container::state::Status;
use berth::files;
use berth::linux::inroot::Root;
use berth::linux::passwd;
use berth::spawn::exec::{self, Request};
use berth::spec::types::{Process, Spec};
use berth::spec::validate::check_process;
use berth::{log, spawn};
use std::path::Path;

const FLAGS: [cli::Flag; 17] = [
    val(&["process", "p"]),
    bool_flag(&["tty", "t"]),
    val(&["console-socket"]),
    bool_flag(&["detach", "d"]),
    val(&["pid-file"]),
    val(&["env", "e"]),
    val(&["cwd"]),
    val(&["user", "u"]),
    val(&["additional-gids", "g"]),
    val(&["cap", "c"]),
    bool_flag(&["no-new-privs"]),
    val(&["apparmor"]),
    val(&["process-label"]),
    val(&["preserve-fds"]),
    bool_flag(&["ignore-paused"]),
    val(&["cgroup"]),
    val(&["pidfd-socket"]),
];

/// uid[:gid], numbers or names from the container's /etc/passwd and
/// /etc/group, read inside its root. Without a group, a user found in
/// /etc/passwd gets its primary gid (runc's rule), else 0.
fn parse_user(s: &str, rootfs: &str) -> Result<(u32, u32)> {
    let root = Root::open(Path::new(rootfs)).with_context(|| format!("opening the rootfs {rootfs}"))?;
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let entry = passwd::read_db(&root, "passwd").and_then(|text| passwd::find_user(&text, u));
    let uid = match (u.parse::<u32>(), &entry) {
        (Ok(n), _) => n,
        (Err(_), Some(e)) => e.uid,
        (Err(_), None) => bail!("--user: no user {u:?} in the container's /etc/passwd"),
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => passwd::read_db(&root, "group")
                .and_then(|text| passwd::find_group(&text, g))
                .with_context(|| format!("--user: no group {g:?} in the container's /etc/group"))?,
        },
        None => entry.map_or(0, |e| e.gid),
    };
    Ok((uid, gid))
}

/// The process from --process, or the container's own process changed by the flags.
fn process(p: &Parsed, spec: &Spec, rootfs: &str) -> Result<Process> {
    if let Some(f) = p.get("process") {
        let text = files::read_path(Path::new(f), files::CONFIG_LIMIT).context("--process")?;
        return berth::spec::read_input(&text, &format!("--process {f}"), true);
    }
    let mut proc = spec.process.clone().unwrap_or_default();
    proc.args = p.args[1..].to_vec();
    if proc.args.is_empty() {
        bail!("exec: args must not be empty");
    }
    for kv in p.all("env") {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k).to_string();
        proc.env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        proc.env.push(kv);
    }
    if let Some(c) = p.get("cwd") {
        proc.cwd = c.to_string();
    }
    if let Some(u) = p.get("user") {
        let (uid, gid) = parse_user(u, rootfs)?;
        proc.user.uid = uid;
        proc.user.gid = gid;
    }
    for g in p.all("additional-gids") {
        proc.user.additional_gids.push(g.parse().with_context(|| format!("--additional-gids: {g:?} is not a number"))?);
    }
    let caps = p.all("cap");
    if !caps.is_empty() {
        let c = proc.capabilities.get_or_insert_with(Default::default);
        // Never inheritable (CVE-2022-29162), and ambient only when the
        // process asks for it itself.
        for cap in caps {
            for set in [&mut c.bounding, &mut c.effective, &mut c.permitted] {
                if !set.contains(&cap) {
                    set.push(cap.clone());
                }
            }
        }
    }
    if p.has("no-new-privs") {
        proc.no_new_privileges = true;
    }
    proc.terminal = p.has("tty");
    proc.console_size = None;
    if p.get("apparmor").is_some_and(|s| !s.is_empty()) {
        proc.apparmor_profile = p.get("apparmor").map(String::from);
    }
    if p.get("process-label").is_some_and(|s| !s.is_empty()) {
        proc.selinux_label = p.get("process-label").map(String::from);
    }
    Ok(proc)
}

fn run(ctx: &Ctx, p: &Parsed) -> Result<i32> {
    let Some(id) = p.args.first() else { bail!("exec: requires a container id") };
    let rec = ctx.store().read(id)?;
    let (init, status) = exec::Init::open(&rec, || ctx.store().status(&rec))?;
    match status {
        Status::Paused if !p.has("ignore-paused") => bail!("cannot exec in a paused container (use --ignore-paused)"),
        _ => {}
    }
    // What create read, never the bundle as it is now; of it only what
    // exec reads: process and linux.{namespaces, personality, memoryPolicy,
    // seccomp}.
    let spec = ctx.store().config_for_exec(&rec)?;
    let proc = process(p, &spec, &rec.rootfs)?;
    let mut plan = check_process(&proc)?;
    berth::spec::validate::linux_process_parts(&spec, &mut plan)?;
    spawn::process::check_lsm(&plan.process, None)?;
    for w in &plan.warnings {
        log::warn(w);
    }
    // The container's seccomp profile applies to every process in it: as
    // create compiled it, or compiled again where create kept none.
    let has_profile = spec.linux.as_ref().is_some_and(|l| l.seccomp.is_some());
    let saved = if has_profile { ctx.store().saved_filter(&rec)? } else { None };
    let seccomp = match saved {
        Some(data) => Some(berth::seccomp::saved::decode(&data).context("the state directory's seccomp.bpf")?),
        None => berth::seccomp::from_spec(&spec)?,
    };
    let detach = p.has("detach");
    let console_socket = p.get("console-socket").map(abs).transpose()?;
    if proc.terminal && console_socket.is_none() && detach {
        bail!("--tty: a detached exec with a terminal needs --console-socket");
    }
    let req = Request {
        plan,
        seccomp,
        console_socket,
        pidfd_socket: p.get("pidfd-socket").map(abs).transpose()?,
        preserve_fds: p.preserve_fds()?,
        sub_cgroup: exec::SubCgroups::parse(&p.all("cgroup"))?,
        made_ns: berth::spec::namespaces::Plan::from_spec(&spec.linux().namespaces)?.new_flags(),
    };
    let pid_file = p.get("pid-file").map(abs).transpose()?;
    let started = exec::spawn(&rec, init, &req)?;
    if let Some(pf) = pid_file {
        spawn::parent::write_pid_file(&pf, started.pid)?;
    }
    let code = if detach { 0 } else { foreground::wait(started.pid, started.pty)? };
    // berth exits next: freeing these would be ~20K instructions of work
    // that the exit does anyway, after the process (freed before the
    // wait instead, they cost more: the wait's allocations then sort the
    // freed chunks).
    std::mem::forget((req, proc, spec, rec));
    Ok(code)
}

pub fn main(ctx: &Ctx, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &FLAGS, Some(1))?;
    match run(ctx, &p) {
        Ok(code) => Ok(code),
        Err(e) => {
            // Failing before the program runs is 255, as runc exits.
            log::report(&e);
            Ok(255)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_users() {
        assert_eq!(parse_user("1000:1001", "/").unwrap(), (1000, 1001));
        assert_eq!(parse_user("7777:1", "/").unwrap(), (7777, 1));
        assert!(parse_user("nobody-here-at-all", "/").is_err());
    }
}
