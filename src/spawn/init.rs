//! The container's init: runs in the child after clone, sets the
//! container up in the spec's order, reports "ready", waits for `start`
//! and execs the user's program. It never returns.

use super::clone::{clone3, Forked, CLONE_PARENT};
use super::sync::{Channel, Msg};
use super::Setup;
use crate::hooks;
use crate::linux::inroot::Root;
use crate::linux::namespaces::Kind;
use crate::linux::{caps, console, devices, idmap, mounts, rlimits, rootfs, sys, user};
use anyhow::{bail, Context, Result};
use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Entry point of the cloned child.
pub fn main(s: &Setup, ch: &Channel) -> ! {
    let err = match setup(s, ch) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = ch.send(&Msg::Error(format!("{err:#}")));
    // SAFETY: _exit ends this forked child without running the parent's destructors.
    unsafe { libc::_exit(1) }
}

fn setup(s: &Setup, ch: &Channel) -> Result<Infallible> {
    // SAFETY: closing our copy of the state lock; the parent keeps its own.
    unsafe { libc::close(s.lock_fd) };
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)?;
    // Nothing in the container may ptrace us or open /proc/<init>/exe while
    // berth's code runs here (CVE-2019-5736); execve resets this.
    sys::prctl(libc::PR_SET_DUMPABLE, 0)?;
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(0) };
    if s.general {
        enter_namespaces(s, ch)?;
    }
    let host_pid = match ch.recv()?.0 {
        Msg::Go { host_pid } => host_pid,
        Msg::Error(e) => bail!(e),
        other => bail!("sync: expected Go, got {other:?}"),
    };
    let linux = s.checked.spec.linux.clone().unwrap_or_default();
    if !s.general && s.checked.namespaces.is_new(Kind::User) {
        become_root(&linux.uid_mappings, &linux.gid_mappings)?;
    }
    container(s, ch, host_pid)
}

/// After a new user namespace: be root in it when root is mapped.
fn become_root(uids: &[crate::spec::types::IdMapping], gids: &[crate::spec::types::IdMapping]) -> Result<()> {
    if idmap::maps_inside(gids, 0) {
        // SAFETY: plain syscall with integer arguments.
        sys::cvt(unsafe { libc::setresgid(0, 0, 0) }).context("becoming gid 0 in the user namespace")?;
    }
    if idmap::maps_inside(uids, 0) {
        // SAFETY: plain syscall with integer arguments.
        sys::cvt(unsafe { libc::setresuid(0, 0, 0) }).context("becoming uid 0 in the user namespace")?;
    }
    Ok(())
}

/// The general path: join namespaces by path (user first), create the new
/// ones with unshare, and fork once more when a pid or time namespace only
/// applies to children. The parent is told which process is init.
fn enter_namespaces(s: &Setup, ch: &Channel) -> Result<()> {
    let ns = &s.checked.namespaces;
    let linux = s.checked.spec.linux.clone().unwrap_or_default();
    for (kind, path) in ns.joins() {
        let fd = sys::open(Path::new(path), libc::O_RDONLY, 0)
            .with_context(|| format!("linux.namespaces: opening {} namespace {path}", kind.spec_name()))?;
        sys::setns(fd.as_raw_fd(), kind.clone_flag())
            .with_context(|| format!("linux.namespaces: joining {} namespace {path}", kind.spec_name()))?;
        if kind == Kind::User {
            // SAFETY: plain syscalls; failing just leaves us with the ids we have.
            unsafe {
                libc::setresgid(0, 0, 0);
                libc::setresuid(0, 0, 0);
            }
        }
    }
    let (user, time) = (ns.is_new(Kind::User), ns.is_new(Kind::Time));
    if user {
        sys::unshare(libc::CLONE_NEWUSER).context("creating the user namespace")?;
    }
    if time {
        sys::unshare(Kind::Time.clone_flag()).context("creating the time namespace")?;
    }
    if user || time {
        ch.send(&Msg::MapsPlease)?;
        ch.expect(Msg::MapsDone)?;
        if user {
            become_root(&linux.uid_mappings, &linux.gid_mappings)?;
        }
    }
    let rest = ns.new_flags() & !(libc::CLONE_NEWUSER | libc::CLONE_NEWCGROUP | Kind::Time.clone_flag());
    if rest != 0 {
        sys::unshare(rest).context("creating namespaces")?;
    }
    if !s.needs_fork {
        return ch.send(&Msg::InitPid(0));
    }
    match clone3(CLONE_PARENT, None, false).context("forking into the pid/time namespace")? {
        Forked::Child => {
            sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)?;
            Ok(())
        }
        Forked::Parent { pid, .. } => {
            let _ = ch.send(&Msg::InitPid(pid));
            // SAFETY: the intermediate process is done; leave without destructors.
            unsafe { libc::_exit(0) }
        }
    }
}

fn hook_state(s: &Setup, host_pid: i32, status: &str) -> Vec<u8> {
    let spec = &s.checked.spec;
    let v = serde_json::json!({
        "ociVersion": spec.oci_version,
        "id": s.id,
        "status": status,
        "pid": host_pid,
        "bundle": s.bundle,
        "annotations": spec.annotations,
    });
    v.to_string().into_bytes()
}

fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    sys::write_file(&path, value.as_bytes()).with_context(|| format!("linux.sysctl: setting {key}={value}"))
}

fn container(s: &Setup, ch: &Channel, host_pid: i32) -> Result<Infallible> {
    let spec = &s.checked.spec;
    let ns = &s.checked.namespaces;
    let linux = spec.linux.clone().unwrap_or_default();
    if ns.is_new(Kind::Cgroup) {
        sys::unshare(libc::CLONE_NEWCGROUP).context("creating the cgroup namespace")?;
    }
    if let Some(h) = spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        // SAFETY: h is valid for h.len() bytes.
        sys::cvt(unsafe { libc::sethostname(h.as_ptr().cast(), h.len()) })
            .with_context(|| format!("hostname: {h:?}"))?;
    }
    if let Some(d) = spec.domainname.as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: d is valid for d.len() bytes.
        sys::cvt(unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) })
            .with_context(|| format!("domainname: {d:?}"))?;
    }
    if let Some(adj) = spec.process.as_ref().and_then(|p| p.oom_score_adj) {
        sys::write_file("/proc/self/oom_score_adj", adj.to_string().as_bytes())
            .with_context(|| format!("process.oomScoreAdj: {adj}"))?;
    }
    if s.new_keyring {
        join_session_keyring(&s.id)?;
    }

    let propagation = linux.rootfs_propagation.as_deref().filter(|p| !p.is_empty()).and_then(mounts::parse_flag);
    rootfs::prepare(&s.rootfs, propagation).context("preparing the rootfs")?;
    let root = Root::open(&s.rootfs).context("opening the rootfs")?;
    let in_userns = ns.is_private(Kind::User);
    let ctx = mounts::Ctx {
        root: &root,
        bundle: &s.bundle,
        in_userns,
        cgroup: &s.cgroup,
        cgroupns: ns.is_private(Kind::Cgroup),
    };
    mounts::mount_all(&ctx, &s.checked.mounts)?;
    devices::create_all(&root, &linux.devices, in_userns)?;
    devices::links(&root)?;
    if let Some(p) = &spec.process {
        root.mkdir_all(&p.cwd).with_context(|| format!("process.cwd: creating {}", p.cwd))?;
    }
    let fifo = sys::open(&s.fifo, libc::O_RDWR, 0).context("opening exec.fifo")?;
    drop(root);

    if !spec.hooks.prestart.is_empty() || !spec.hooks.create_runtime.is_empty() {
        ch.send(&Msg::HooksPlease)?;
        ch.expect(Msg::HooksDone)?;
    }
    hooks::run_all("createContainer", &spec.hooks.create_container, &hook_state(s, host_pid, "creating"))?;

    if s.no_pivot {
        rootfs::move_root(&s.rootfs)?;
    } else {
        rootfs::pivot(&s.rootfs)?;
    }
    if let Some(p) = propagation {
        sys::mount(None, "/", None, p, None).context("linux.rootfsPropagation")?;
    }
    for (k, v) in &linux.sysctl {
        write_sysctl(k, v)?;
    }
    let root = Root::open(Path::new("/"))?;
    mounts::readonly(&root, &linux.readonly_paths)?;
    mounts::mask(&root, &linux.masked_paths)?;
    drop(root);
    if spec.root.as_ref().is_some_and(|r| r.readonly) {
        rootfs::make_readonly()?;
    }

    let Some(plan) = &s.checked.process else {
        // A container without a process: it exists, and `start` refuses it.
        ready(ch, None)?;
        loop {
            // SAFETY: pause just waits for a signal.
            unsafe { libc::pause() };
        }
    };
    let p = &plan.process;
    let pty = if p.terminal { Some(console::setup(p.console_size.map(|c| (c.height, c.width)))?) } else { None };
    let mut env = p.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user::home_of(p.user.uid)));
    }
    if s.listen_fds > 0 {
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={}", s.listen_fds));
        // SAFETY: getpid cannot fail.
        env.push(format!("LISTEN_PID={}", unsafe { libc::getpid() }));
    }
    let cwd = sys::cstr(p.cwd.as_str())?;
    // SAFETY: cwd is a valid string.
    let cwd_ok = unsafe { libc::chdir(cwd.as_ptr()) } == 0;
    let prog = user::look_path(&p.args[0], &env)?;

    rlimits::apply(&plan.rlimits)?;
    if p.no_new_privileges {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).context("process.noNewPrivileges")?;
    }
    if let Some(c) = &plan.caps {
        sys::prctl(libc::PR_SET_KEEPCAPS, 1)?;
        caps::drop_bounding(c.bounding).context("process.capabilities.bounding")?;
    }
    user::set_ids(p.user.uid, p.user.gid, &p.user.additional_gids)?;
    if let Some(c) = &plan.caps {
        caps::apply(c).context("process.capabilities")?;
        sys::prctl(libc::PR_SET_KEEPCAPS, 0)?;
    }
    // SAFETY: cwd is a valid string.
    if !cwd_ok && unsafe { libc::chdir(cwd.as_ptr()) } != 0 {
        let e = std::io::Error::last_os_error();
        bail!("process.cwd: chdir {}: {e}", p.cwd);
    }
    sys::cloexec_from(3 + s.extra_fds).context("closing descriptors")?;
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(p.user.umask.unwrap_or(0o022)) };
    ready(ch, pty)?;

    wait_for_start(&fifo);
    drop(fifo);
    if let Err(e) = hooks::run_all("startContainer", &spec.hooks.start_container, &hook_state(s, host_pid, "created")) {
        fail_after_ready(&format!("{e:#}"));
    }
    exec(&prog, &p.args, &env)
}

/// Tells the parent we are set up; it may exit now, so the parent-death
/// signal goes first.
fn ready(ch: &Channel, pty: Option<OwnedFd>) -> Result<()> {
    sys::prctl(libc::PR_SET_PDEATHSIG, 0)?;
    ch.send_fd(&Msg::Ready, pty.as_ref().map(|f| f.as_raw_fd()))
}

fn join_session_keyring(id: &str) -> Result<()> {
    let name = sys::cstr(format!("_ses.{id}").as_str())?;
    // SAFETY: KEYCTL_JOIN_SESSION_KEYRING (1) with a valid name.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, 1, name.as_ptr()) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if !sys::errno_is(&e, libc::ENOSYS) {
            return Err(e).context("joining a new session keyring");
        }
    }
    Ok(())
}

/// Blocks until `berth start` writes to exec.fifo.
fn wait_for_start(fifo: &OwnedFd) {
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reading one byte into a valid buffer.
        let r = unsafe { libc::read(fifo.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        if r >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// After "ready" the parent may be gone: the error goes to the container's stderr.
fn fail_after_ready(msg: &str) -> ! {
    eprintln!("berth: {msg}");
    // SAFETY: leave the child without running destructors.
    unsafe { libc::_exit(1) }
}

fn exec(prog: &str, args: &[String], env: &[String]) -> ! {
    let to_c = |v: &[String]| -> Vec<CString> { v.iter().filter_map(|a| sys::cstr(a.as_str()).ok()).collect() };
    let (cargs, cenv) = (to_c(args), to_c(env));
    let mut argv: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = cenv.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let Ok(cprog) = sys::cstr(prog) else { fail_after_ready("exec: program path holds a NUL byte") };
    // SAFETY: restoring default signal handling and an empty mask before
    // execve; argv and envp are NULL-terminated arrays of valid strings.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::execve(cprog.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    let e = std::io::Error::last_os_error();
    fail_after_ready(&format!("exec {prog}: {e}"))
}
