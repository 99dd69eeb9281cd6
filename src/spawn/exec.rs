//! `exec`: a new process in a running container. The parent joins the
//! container's pid namespace for its children, clones the child straight
//! into the container's cgroup (v2), and the child joins every other
//! namespace of init in one setns(pidfd), then becomes the process.

use super::clone::{clone3_into, Forked};
use super::process;
use super::sync::{Channel, InitExited, Msg};
use crate::cgroups::{clean, Cgroup};
use crate::container::state::Record;
use crate::linux::namespaces::Kind;
use crate::linux::{console, rlimits, sys};
use crate::seccomp;
use crate::spec::validate::ProcessPlan;
use anyhow::{bail, Context, Result};
use std::convert::Infallible;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct Request {
    pub plan: ProcessPlan,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    /// A sub-cgroup of the container's cgroup to run in.
    pub sub_cgroup: Option<String>,
    /// The container's state, for a seccomp notify agent.
    pub state: serde_json::Value,
}

/// The process, running: its host pid and, with a terminal kept by the
/// caller, the pty master.
pub struct Started {
    pub pid: i32,
    pub pty: Option<OwnedFd>,
}

/// Namespace flags where init differs from us: those the process must join.
fn differing(init: i32) -> i32 {
    Kind::ALL
        .iter()
        .filter(|k| {
            let ours = std::fs::read_link(format!("/proc/self/ns/{}", k.proc_name()));
            let theirs = std::fs::read_link(format!("/proc/{init}/ns/{}", k.proc_name()));
            matches!((ours, theirs), (Ok(a), Ok(b)) if a != b)
        })
        .fold(0, |acc, k| acc | k.clone_flag())
}

/// The cgroup directories the process goes to (with `--cgroup`, a sub-cgroup
/// that must stay inside the container's).
fn target(rec: &Record, sub: Option<&str>) -> Result<Cgroup> {
    let mut out = Cgroup { dirs: Vec::new(), created: Vec::new() };
    for (h, dir) in &rec.cgroup.dirs {
        let d = match sub {
            None => dir.clone(),
            Some(s) => {
                if Path::new(s).components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                    bail!("--cgroup: {s:?} climbs out of the container's cgroup");
                }
                dir.join(clean(s).trim_start_matches('/'))
            }
        };
        if !d.is_dir() {
            bail!("--cgroup: {} does not exist", d.display());
        }
        out.dirs.push((h.clone(), d));
    }
    Ok(out)
}

pub fn spawn(rec: &Record, req: &Request) -> Result<Started> {
    let pidfd = sys::pidfd_open(rec.pid).context("opening the container's init")?;
    if !rec.init_alive() {
        bail!("cannot exec in a stopped container");
    }
    let flags = differing(rec.pid);
    let cgroup = target(rec, req.sub_cgroup.as_deref())?;
    if flags & libc::CLONE_NEWPID != 0 {
        // Our children (not us) are born in the container's pid namespace.
        sys::setns(pidfd.as_raw_fd(), libc::CLONE_NEWPID).context("joining the container's pid namespace")?;
    }
    let v2_fd = cgroup.open_v2()?;
    let (parent_ch, child_ch) = Channel::pair()?;
    let (forked, in_v2) =
        clone3_into(0, v2_fd.as_ref().map(|f| f.as_raw_fd()), false).context("forking the exec process")?;
    let pid = match forked {
        Forked::Child => {
            drop(parent_ch);
            child_main(&child_ch, &pidfd, flags & !libc::CLONE_NEWPID, req)
        }
        Forked::Parent { pid, .. } => pid,
    };
    drop(child_ch);
    match drive(&parent_ch, pid, &cgroup, in_v2, req) {
        Ok(pty) => Ok(Started { pid, pty }),
        Err(e) => {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
            Err(e)
        }
    }
}

fn drive(ch: &Channel, pid: i32, cgroup: &Cgroup, in_v2: bool, req: &Request) -> Result<Option<OwnedFd>> {
    cgroup.enter(pid, in_v2)?;
    ch.send(&Msg::Go { host_pid: pid })?;
    let pty = loop {
        match ch.recv()? {
            (Msg::Listener, Some(fd)) => {
                if let Some((path, meta)) = req.plan.seccomp.as_ref().and_then(|f| f.listener.as_ref()) {
                    seccomp::load::send_listener(path, meta, &fd, pid, req.state.clone())?;
                }
            }
            (Msg::Ready, fd) => break fd,
            (Msg::Error(e), _) => bail!(e),
            (other, _) => bail!("sync: unexpected {other:?}"),
        }
    };
    // The channel closes on a successful execve; an error arrives instead.
    match ch.recv() {
        Err(e) if e.is::<InitExited>() => {}
        Ok((Msg::Error(e), _)) => bail!(e),
        Ok((other, _)) => bail!("sync: unexpected {other:?}"),
        Err(e) => return Err(e),
    }
    match (&req.console_socket, pty) {
        (Some(sock), Some(master)) => {
            console::send_to_socket(sock, &master)?;
            Ok(None)
        }
        (_, pty) => Ok(pty),
    }
}

fn child_main(ch: &Channel, pidfd: &OwnedFd, flags: i32, req: &Request) -> ! {
    let err = match child(ch, pidfd, flags, req) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = ch.send(&Msg::Error(format!("{err:#}")));
    // SAFETY: _exit ends this forked child without running the parent's destructors.
    unsafe { libc::_exit(255) }
}

fn child(ch: &Channel, pidfd: &OwnedFd, flags: i32, req: &Request) -> Result<Infallible> {
    // Nothing of the parent's but stdio, preserved fds, the channel and the pidfd.
    sys::close_from_except(3 + req.preserve_fds, &[ch.raw(), pidfd.as_raw_fd()]);
    ch.tie_to_parent()?;
    // Nothing in the container may ptrace us or reach /proc/<pid>/exe before execve.
    sys::prctl(libc::PR_SET_DUMPABLE, 0)?;
    match ch.recv()?.0 {
        Msg::Go { .. } => {}
        other => bail!("sync: expected Go, got {other:?}"),
    }
    // Outside the user namespace, where a hard limit may still be raised.
    rlimits::apply(0, &req.plan.rlimits)?;
    if flags != 0 {
        sys::setns(pidfd.as_raw_fd(), flags).context("joining the container's namespaces")?;
    }
    let mut prepared = process::prepare(&req.plan, req.preserve_fds, 0, false)?;
    if let Some(l) = prepared.listener.take() {
        ch.send_fd(&Msg::Listener, Some(l.as_raw_fd()))?;
    }
    // The parent-death signal survives execve: a detached process must
    // outlive `berth exec`.
    sys::prctl(libc::PR_SET_PDEATHSIG, 0)?;
    ch.send_fd(&Msg::Ready, prepared.pty.as_ref().map(|f| f.as_raw_fd()))?;
    exec_or_report(ch, &prepared)
}

/// execve; on failure the error goes back to the parent (still listening).
fn exec_or_report(ch: &Channel, p: &process::Prepared) -> ! {
    let e = process::execve(p);
    let _ = ch.send(&Msg::Error(format!("exec {}: {e}", p.prog)));
    // SAFETY: leave the child without running destructors.
    unsafe { libc::_exit(255) }
}
