//! `exec`: a new process in a running container. The parent joins the
//! container's pid namespace for its children, clones the child straight
//! into the container's cgroup (v2), and the child joins every other
//! namespace of init in one setns(pidfd), then becomes the process.

use super::clone::{clone3_into, Forked};
use super::process;
use super::sync::{self, ChildEnd, Order, ParentEnd, Received, Report};
use crate::cgroups::{clean, Cgroup};
use crate::container::state::{Record, Status};
use crate::linux::{console, rlimits, sys};
use crate::seccomp;
use crate::spec::namespaces::Kind;
use crate::spec::validate::ProcessPlan;
use anyhow::{bail, Context, Result};
use std::borrow::Cow;
use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

pub struct Request {
    pub plan: ProcessPlan,
    /// The container's seccomp filter, compiled.
    pub seccomp: Option<seccomp::Filter>,
    pub console_socket: Option<PathBuf>,
    /// `--pidfd-socket`: where a pidfd of the process goes once it runs.
    pub pidfd_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    /// Sub-cgroups of the container's cgroup to run in.
    pub sub_cgroup: SubCgroups,
    /// The namespace kinds create made for init (clone flags): the config
    /// lists them without a path.
    pub made_ns: i32,
}

/// The process, running: its host pid and, with a terminal kept by the
/// caller, the pty master.
pub struct Started {
    pub pid: i32,
    pub pty: Option<OwnedFd>,
}

/// Namespace flags where init differs from us: those the process must join.
/// `made` are the kinds create made for init (listed in the config without
/// a path): never ours, so joined without comparing. Every other kind is
/// compared: `theirs` is init's /proc/PID/ns, opened before init was found
/// alive, so it is init's or reads nothing. A kind is left out only where
/// berth's own link is missing too (a kernel without it); init's link
/// unreadable otherwise means init is gone, an error: never a namespace
/// left unjoined for the process to run in berth's. Comparing costs a new
/// process two procfs lookups per kind (~15 µs a kind here), so only where
/// needed.
fn differing(theirs: &OwnedFd, made: i32) -> Result<i32> {
    let compared = || Kind::ALL.into_iter().filter(|k| made & k.clone_flag() == 0);
    if compared().next().is_none() {
        return Ok(made);
    }
    let ours = sys::open(Path::new("/proc/self/ns"), libc::O_PATH | libc::O_DIRECTORY, 0).context("/proc/self/ns")?;
    let mut flags = made;
    for k in compared() {
        let mut name = [0u8; 8];
        name[..k.proc_name().len()].copy_from_slice(k.proc_name().as_bytes());
        let name = std::ffi::CStr::from_bytes_until_nul(&name).context("a namespace's name")?;
        let (mut a, mut b) = ([0u8; 40], [0u8; 40]);
        let init = sys::readlink_into(theirs, name, &mut a);
        let own = sys::readlink_into(&ours, name, &mut b);
        match (init, own) {
            (Err(_), Err(e)) if sys::errno_is(&e, libc::ENOENT) => {}
            (Err(e), _) => {
                let kind = k.proc_name();
                return Err(e).with_context(|| format!("cannot exec in a stopped container: init's {kind} namespace"));
            }
            (Ok(n), Ok(m)) if a[..n] == b[..m] => {}
            (Ok(_), _) => flags |= k.clone_flag(),
        }
    }
    Ok(flags)
}

/// `--cgroup` values: a path for every hierarchy, or runc's v1 form
/// `controller[,controller]:path` (given several times).
#[derive(Debug, Default, PartialEq)]
pub struct SubCgroups {
    all: Option<String>,
    by_controller: Vec<(String, String)>,
}

impl SubCgroups {
    pub fn parse(values: &[String]) -> Result<SubCgroups> {
        let mut out = SubCgroups::default();
        for v in values {
            let (ctrls, path) = match v.split_once(':') {
                Some((c, p)) => (Some(c), p),
                None => (None, v.as_str()),
            };
            if path.is_empty() || Path::new(path).components().any(|c| c == std::path::Component::ParentDir) {
                bail!("--cgroup: {path:?}: .. is not a sub cgroup path");
            }
            match ctrls {
                None | Some("") => out.all = Some(path.to_string()),
                Some(list) => {
                    for c in list.split(',') {
                        out.by_controller.push((c.to_string(), path.to_string()));
                    }
                }
            }
        }
        Ok(out)
    }

    fn is_empty(&self) -> bool {
        self.all.is_none() && self.by_controller.is_empty()
    }
}

/// The cgroup directories the process goes to: the container's own (the
/// record's, not copied), or with `--cgroup` sub-cgroups that stay inside
/// them.
fn target<'a>(rec: &'a Record, sub: &SubCgroups) -> Result<Cow<'a, Cgroup>> {
    if sub.is_empty() {
        return Ok(Cow::Borrowed(&rec.cgroup));
    }
    for (c, _) in &sub.by_controller {
        if !rec.cgroup.dirs.iter().any(|(h, _)| h.has_v1(c)) {
            bail!("--cgroup: controller {c:?} is not present on this host's cgroup v1 hierarchies");
        }
    }
    let mut out = Cgroup::none();
    for (h, dir) in &rec.cgroup.dirs {
        let named = sub.by_controller.iter().find(|(c, _)| h.has_v1(c)).map(|(_, p)| p);
        let d = match named.or(sub.all.as_ref()) {
            None => dir.clone(),
            Some(s) => dir.join(clean(s).trim_start_matches('/')),
        };
        if !d.is_dir() {
            bail!("--cgroup: {} does not exist", d.display());
        }
        out.dirs.push((h.clone(), d));
    }
    Ok(Cow::Owned(out))
}

/// init's handles, opened before the one look at init that tells they are
/// its (`Init::open`): exec reads /proc/PID/stat once.
pub struct Init {
    pidfd: OwnedFd,
    /// Its root, when the process must chroot into it.
    root: Option<OwnedFd>,
    /// Its /proc/PID/ns; an error reads as a stopped container.
    ns: std::io::Result<OwnedFd>,
}

impl Init {
    /// Opens init's handles, then takes `status` (the container's, which
    /// looks whether the pid is still init: `Store::status`). Stopped (init
    /// gone, or its pid another process's) is an error; otherwise the
    /// handles are init's, and the status is returned beside them.
    pub fn open(rec: &Record, status: impl FnOnce() -> Status) -> Result<(Init, Status)> {
        let pidfd = match sys::pidfd_open(rec.pid) {
            Err(e) if sys::errno_is(&e, libc::ESRCH) => bail!("cannot exec in a stopped container"),
            r => r.context("opening the container's init")?,
        };
        // In berth's own mount namespace the container is a chroot: the
        // process gets init's root.
        let root = match rec.host_mounts {
            Some(_) => Some(
                sys::open(Path::new(&format!("/proc/{}/root", rec.pid)), libc::O_PATH | libc::O_DIRECTORY, 0)
                    .context("opening the container's root")?,
            ),
            None => None,
        };
        let ns = sys::open(Path::new(&format!("/proc/{}/ns", rec.pid)), libc::O_PATH | libc::O_DIRECTORY, 0);
        match status() {
            Status::Stopped => bail!("cannot exec in a stopped container"),
            s => Ok((Init { pidfd, root, ns }, s)),
        }
    }
}

/// The process, in the container whose init `init` holds.
pub fn spawn(rec: &Record, init: Init, req: &Request) -> Result<Started> {
    let Init { pidfd, root, ns } = init;
    let flags = differing(&ns.context("opening the container's namespaces")?, req.made_ns)?;
    let cgroup = target(rec, &req.sub_cgroup)?;
    let mut joined = 0;
    if flags & libc::CLONE_NEWPID != 0 {
        // Our children (not us) are born in the container's pid namespace.
        joined = libc::CLONE_NEWPID;
        match sys::setns(&pidfd, joined) {
            // Unprivileged (rootless): only from inside the container's user
            // namespace, which berth has nothing left to do outside of.
            Err(e) if sys::errno_is(&e, libc::EPERM) && flags & libc::CLONE_NEWUSER != 0 => {
                joined |= libc::CLONE_NEWUSER;
                sys::setns(&pidfd, joined)
            }
            r => r,
        }
        .context("joining the container's pid namespace")?;
    }
    let v2_fd = cgroup.open_v2()?;
    let v2 = v2_fd.as_ref().map(|f| f.as_raw_fd());
    let (parent_ch, child_ch) = sync::pair()?;
    // The child moves itself into the v1 hierarchies (see init's), unless
    // it is already in the container's user namespace.
    let self_v1 = joined & libc::CLONE_NEWUSER == 0;
    let mut c = Child {
        ch: &child_ch,
        parent_end: parent_ch.raw(),
        pidfd: &pidfd,
        root: root.as_ref(),
        flags: flags & !joined,
        self_cgroup: self_v1.then_some(&cgroup),
        placed_by_parent: false,
    };
    // berth's read-only mount goes before the process exists (CVE-2019-5736).
    crate::linux::exeseal::dissolve();
    // `forked`: whether the child is a copy of us (and then whether it was
    // cloned into v2), or shares our memory (`shared`: it is past execve).
    let (pid, forked) = match shared(&c, req, &cgroup, v2) {
        Some(pid) => (pid, None),
        None => {
            let (forked, in_v2) = clone3_into(0, v2, false).context("forking the exec process")?;
            // Where the child places itself (cloned into v2, moved into
            // v1) it goes on without waiting for the parent.
            c.placed_by_parent = cgroup.enter_writes(in_v2, self_v1);
            match forked {
                Forked::Child => {
                    // 255: the process could not be set up (runc's exit status).
                    super::sync::child_main(&child_ch, 255, || child(&c, req))
                }
                Forked::Parent { pid, .. } => (pid, Some(in_v2)),
            }
        }
    };
    drop(child_ch);
    let placed = match forked {
        Some(in_v2) => place(&parent_ch, pid, &cgroup, in_v2, self_v1),
        None => Ok(()),
    };
    match placed.and_then(|()| drive(&parent_ch, pid, forked.is_none(), req, rec)) {
        Ok(pty) => Ok(Started { pid, pty }),
        Err(e) => {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
            Err(e)
        }
    }
}

/// The child started in our memory while we wait (`vfork`), where it
/// needs nothing from us before its execve: it places itself in every
/// cgroup (cloned into v2, v1 moved by itself) and joins no time
/// namespace. Not with a seccomp listener either: the parent hands that
/// to its agent while the child is still being set up, and could only
/// after the execve here. Its pid, once it has exec'd or failed; `None`
/// to fork.
fn shared(c: &Child, req: &Request, cgroup: &Cgroup, v2: Option<i32>) -> Option<i32> {
    let listener = req.seccomp.as_ref().is_some_and(|f| f.listener.is_some());
    let placed = cgroup.enter_writes(v2.is_some(), c.self_cgroup.is_some());
    if listener || placed || c.flags & libc::CLONE_NEWTIME != 0 {
        return None;
    }
    let mut work = || -> Infallible { super::sync::child_main(c.ch, 255, || child(c, req)) };
    super::vfork::spawn(v2, &mut work).ok()
}

/// The hierarchies the forked child did not enter itself; it waits for
/// Go only then (its `placed_by_parent`).
fn place(ch: &ParentEnd, pid: i32, cgroup: &Cgroup, in_v2: bool, self_v1: bool) -> Result<()> {
    if cgroup.enter_writes(in_v2, self_v1) {
        cgroup.enter(pid, in_v2, self_v1)?;
        if self_v1 {
            ch.expect_moved()?;
        }
        ch.send(Order::Go { host_pid: pid })?;
    }
    Ok(())
}

/// The child's reports up to its execve. A `shared` child has exec'd or
/// ended by now, so all it said is here already.
fn drive(ch: &ParentEnd, pid: i32, shared: bool, req: &Request, rec: &Record) -> Result<Option<OwnedFd>> {
    let pty = loop {
        match ch.recv()? {
            Received::Listener(fd) => {
                if let Some((path, meta)) = req.seccomp.as_ref().and_then(|f| f.listener.as_ref()) {
                    // The container's state, as the agent is told it.
                    let state = serde_json::value::to_raw_value(&rec.oci_state(Status::Running))?;
                    seccomp::load::send_listener(path, meta, &fd, pid, &state)?;
                }
            }
            Received::Ready(fd) => break fd,
            other => bail!("sync: unexpected {other:?}"),
        }
    };
    match shared {
        true => ch.exec_outcome_now()?,
        false => ch.wait_exec()?,
    }
    if let Some(sock) = &req.pidfd_socket {
        let fd = sys::pidfd_open(pid).context("opening a pidfd for the process")?;
        crate::linux::fdpass::send_to(sock, "pidfd socket", b"pidfd", &fd)?;
    }
    match (&req.console_socket, pty) {
        (Some(sock), Some(master)) => {
            console::send_to_socket(sock, &master)?;
            Ok(None)
        }
        (_, pty) => Ok(pty),
    }
}

/// What the exec child works with, besides the request.
struct Child<'a> {
    ch: &'a ChildEnd,
    /// The parent's end of the pair, closed first: close_from_except may
    /// keep its number (within a --preserve-fds range).
    parent_end: RawFd,
    pidfd: &'a OwnedFd,
    /// The container's root, when berth must chroot into it (no mount namespace).
    root: Option<&'a OwnedFd>,
    /// The namespaces still to join with setns.
    flags: i32,
    /// Move into these cgroups' v1 hierarchies first.
    self_cgroup: Option<&'a Cgroup>,
    /// The parent places it in the rest of its cgroups: wait for its Go.
    placed_by_parent: bool,
}

fn child(c: &Child, req: &Request) -> Result<Infallible> {
    let Child { ch, parent_end, pidfd, root, flags, self_cgroup, placed_by_parent } = *c;
    // SAFETY: the child's descriptor table is its own (no CLONE_FILES);
    // the parent's copy of this descriptor stays open.
    unsafe { libc::close(parent_end) };
    // Nothing of the parent's but stdio, preserved fds, the channel, the
    // pidfd and the container's root.
    let keep: Vec<i32> = [ch.raw(), pidfd.as_raw_fd()].into_iter().chain(root.map(|r| r.as_raw_fd())).collect();
    sys::close_from_except(3 + req.preserve_fds, &keep);
    ch.tie_to_parent()?;
    if let Some(cg) = self_cgroup {
        cg.enter_v1_self()?;
        if placed_by_parent {
            ch.send(Report::Moved)?;
        }
    }
    // Nothing in the container may ptrace us or reach /proc/<pid>/exe before execve.
    sys::prctl(libc::PR_SET_DUMPABLE, 0)?;
    if placed_by_parent {
        match ch.recv()? {
            Order::Go { .. } => {}
            other => bail!("sync: expected Go, got {other:?}"),
        }
    }
    // Outside the user namespace, where a hard limit may still be raised.
    rlimits::apply(0, &req.plan.rlimits)?;
    if flags != 0 {
        sys::setns(&pidfd, flags).context("joining the container's namespaces")?;
    }
    if let Some(r) = root {
        nix::unistd::fchdir(r).context("entering the container's root")?;
        nix::unistd::chroot(".").context("chroot into the container's root")?;
        nix::unistd::chdir("/").context("chdir /")?;
    }
    let send_listener = |l: &OwnedFd| ch.send(Report::Listener(l.as_fd()));
    let prepared = process::prepare(&req.plan, req.seccomp.as_ref(), req.preserve_fds, 0, false, &send_listener)?;
    // The parent-death signal survives execve: a detached process must
    // outlive `berth exec`.
    sys::prctl(libc::PR_SET_PDEATHSIG, 0)?;
    ch.send(Report::Ready(prepared.pty.as_ref().map(|f| f.as_fd())))?;
    exec_or_report(ch, &prepared)
}

/// execve; on failure the error goes back to the parent (still listening).
fn exec_or_report(ch: &ChildEnd, p: &process::Prepared) -> ! {
    let e = process::execve(p);
    ch.fail(&anyhow::Error::new(e).context(format!("exec {}", p.prog)));
    // SAFETY: leave the child without running destructors.
    unsafe { libc::_exit(255) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn runc_cgroup_forms() {
        let s = SubCgroups::parse(&v(&["cpu,cpuacct:a", "memory:b/c", "d"])).unwrap();
        assert_eq!(s.all.as_deref(), Some("d"));
        assert_eq!(s.by_controller.len(), 3);
        assert_eq!(s.by_controller[2], ("memory".to_string(), "b/c".to_string()));
        for bad in ["../x", "memory:../../x", "a/../../b"] {
            let e = SubCgroups::parse(&v(&[bad])).unwrap_err().to_string();
            assert!(e.contains(".. is not a sub cgroup path"), "{bad}: {e}");
        }
    }
}
