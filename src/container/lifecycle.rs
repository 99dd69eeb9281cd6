//! Operations on an existing container: start, signal, destroy.

use super::notify;
use super::state::{Record, Status};
use super::store::Locked;
use crate::cgroups::freeze;
use crate::cgroups::kill::{self, Reach};
use crate::linux::sys;
use crate::{hooks, log};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Instant;

fn hook_state(rec: &Record, status: Status) -> Vec<u8> {
    serde_json::to_vec(&rec.oci_state(status)).unwrap_or_default()
}

/// Lets a created container's init exec its program, then runs poststart
/// hooks. A failing poststart hook is a warning and the rest still run (the
/// runtime spec's rule; runc 1.1 stops the container instead).
pub fn start(locked: &Locked, rec: &Record) -> Result<()> {
    match locked.status(rec) {
        Status::Created => {}
        Status::Stopped => bail!("cannot start a container that has stopped"),
        Status::Running | Status::Paused => bail!("cannot start an already running container"),
        Status::Creating => bail!("cannot start a container that is still being created"),
    }
    has_process(rec)?;
    let fifo = locked.fifo();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .with_context(|| format!("opening {}: the container's init is not waiting", fifo.display()))?;
    // Bound before the process runs, so that no notification is lost.
    let notify = match notify::host_socket() {
        Some(host) => notify::listen(&locked.dir)?.map(|s| (s, host)),
        None => None,
    };
    f.write_all(b"0").context("releasing the container's init")?;
    after_start(locked, rec)?;
    if let Some((sock, host)) = notify {
        notify::relay_ready(&sock, &host, rec.pid)?;
    }
    Ok(())
}

/// The end of `run`'s start when create let init go on by itself (the
/// start token was in exec.fifo before init was ready): what `start` does
/// after releasing init.
pub fn started(locked: &Locked, rec: &Record) -> Result<()> {
    has_process(rec)?;
    after_start(locked, rec)
}

/// A container created without a process exists, and cannot be started.
fn has_process(rec: &Record) -> Result<()> {
    if !rec.has_process {
        bail!("cannot start container {}: config.json has no process", rec.id);
    }
    Ok(())
}

/// exec.fifo removed (the container is running from now on), then the
/// poststart hooks.
fn after_start(locked: &Locked, rec: &Record) -> Result<()> {
    let fifo = locked.fifo();
    std::fs::remove_file(&fifo).with_context(|| format!("removing {}", fifo.display()))?;
    hooks::run_all_warn("poststart", &rec.hooks.poststart, &hook_state(rec, Status::Running));
    Ok(())
}

/// The container's processes: those in its cgroup, or, without one
/// (rootless), those in its pid namespace (only init when it has none).
pub fn processes(rec: &Record) -> Vec<i32> {
    if rec.cgroup.exists() {
        return rec.cgroup.pids();
    }
    if !rec.init_alive() {
        return Vec::new();
    }
    if !rec.pid_ns {
        return vec![rec.pid];
    }
    let ns_of = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(ns) = ns_of(&rec.pid.to_string()) else { return vec![rec.pid] };
    let Ok(rd) = std::fs::read_dir("/proc") else { return vec![rec.pid] };
    let mut pids: Vec<i32> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| ns_of(&p.to_string()).as_ref() == Some(&ns))
        .collect();
    pids.sort_unstable();
    pids
}

/// Sends `sig` to init, or with `all` to every process in the container's
/// cgroup: that also works once init has exited, for what it left behind
/// (containerd sends it whenever a container's main process exits).
pub fn signal(locked: &Locked, rec: &Record, sig: i32, all: bool) -> Result<()> {
    if !all && locked.status(rec) == Status::Stopped {
        bail!("container not running");
    }
    if all && !rec.cgroup.exists() {
        // Rootless without a cgroup: the pid namespace says who is inside.
        for pid in processes(rec) {
            let _ = sys::kill(pid, sig);
        }
        return Ok(());
    }
    if all {
        rec.cgroup.signal(Reach::All, sig)?;
        return Ok(());
    }
    sys::kill(rec.pid, sig).with_context(|| format!("sending signal {sig} to pid {}", rec.pid))?;
    if sig == libc::SIGKILL && freeze::is_frozen(&rec.cgroup) {
        freeze::thaw(&rec.cgroup)?;
    }
    Ok(())
}

/// `pause`: freezes every process of a running container.
pub fn pause(locked: &Locked, rec: &Record) -> Result<()> {
    if !rec.cgroup.exists() {
        bail!("cannot pause container {}: it has no cgroup (rootless, without a writable cgroup)", rec.id);
    }
    match locked.status(rec) {
        Status::Running => freeze::freeze(&rec.cgroup),
        Status::Paused => bail!("container {} is already paused", rec.id),
        _ => bail!("container not running"),
    }
}

/// `resume`: thaws a paused container.
pub fn resume(locked: &Locked, rec: &Record) -> Result<()> {
    match locked.status(rec) {
        Status::Paused => freeze::thaw(&rec.cgroup),
        _ => bail!("container not paused"),
    }
}

/// SIGKILLs init (and, without a pid namespace, everything in the cgroup)
/// and waits until init is gone.
pub fn kill_and_wait(rec: &Record) -> Result<()> {
    if !rec.init_alive() {
        return Ok(());
    }
    let pidfd = sys::pidfd_open(rec.pid).ok();
    if rec.pid_ns {
        // The kernel kills the rest of the pid namespace with its init.
        let _ = sys::kill(rec.pid, libc::SIGKILL);
        if freeze::is_frozen(&rec.cgroup) {
            // Frozen (v1) tasks act on SIGKILL only once thawed.
            let _ = freeze::thaw(&rec.cgroup);
        }
    } else {
        let _ = sys::kill(rec.pid, libc::SIGKILL);
        // Without a pid namespace the rest lives on: the cgroup knows it.
        let _ = rec.cgroup.signal(Reach::All, libc::SIGKILL);
    }
    if let Some(fd) = pidfd {
        if !kill::wait_gone(&[fd], Instant::now() + kill::KILL_WAIT) {
            bail!("container init {} did not die after SIGKILL", rec.pid);
        }
    }
    Ok(())
}

/// Removes a stopped (or forced) container: its cgroup, its state, then
/// runs poststop hooks (whose failure is only a warning).
pub fn destroy(locked: Locked, rec: &Record) -> Result<()> {
    // While init lives it holds the namespace the devices are in.
    super::netdevs::give_back(&rec.net_devices, rec.netns_path.as_deref(), &[(rec.pid, rec.pid_start)]);
    kill_and_wait(rec)?;
    rec.cgroup.destroy();
    if let Some(g) = &rec.rdt {
        crate::linux::resctrl::remove(g);
    }
    if let Some(m) = &rec.host_mounts {
        m.remove();
    }
    locked.remove()?;
    hooks::run_all_warn("poststop", &rec.hooks.poststop, &hook_state(rec, Status::Stopped));
    Ok(())
}

/// `delete`: created containers are killed (as runc allows), running ones
/// only with `force`.
pub fn delete(locked: Locked, rec: &Record, force: bool) -> Result<()> {
    match locked.status(rec) {
        Status::Stopped | Status::Created => {}
        s if force => log::debug(&format!("deleting {} container {} by force", s.as_str(), rec.id)),
        s => bail!("cannot delete container {} that is not stopped: {}", rec.id, s.as_str()),
    }
    destroy(locked, rec)
}
