//! The container's init: runs in the child after clone, sets the
//! container up in the spec's order, reports "ready", waits for `start`
//! and execs the user's program. It never returns.

use super::clone::{clone3, Forked, CLONE_PARENT};
use super::rootfs_plan::{self, Step};
use super::sync::{ChildEnd, Order, Report};
use super::{process, Setup};
use crate::hooks;
use crate::linux::inroot::Root;
use crate::linux::procfs::Proc;
use crate::linux::{devices, idmap, lsm, mounts, rootfs, sys};
use crate::spec::mount_opts::is_bind;
use crate::spec::namespaces::Kind;
use anyhow::{bail, Context, Result};
use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

/// Entry point of the cloned child; `self_v1`: it moves itself into the
/// container's v1 cgroups first.
pub fn main(s: &Setup, ch: &ChildEnd, self_v1: bool) -> ! {
    super::sync::child_main(ch, 1, || setup(s, ch, self_v1))
}

fn setup(s: &Setup, ch: &ChildEnd, self_v1: bool) -> Result<Infallible> {
    // Only stdio, the preserved descriptors and our channel come along
    // (the state lock, the cgroup handle and the log file stay with the parent).
    let mut keep: Vec<RawFd> = s.sources.iter().flatten().map(|f| f.as_raw_fd()).collect();
    keep.push(ch.raw());
    sys::close_from_except(3 + s.extra_fds, &keep);
    ch.tie_to_parent()?;
    if s.v1_after_clone {
        let flags = s.init_unshares();
        if flags != 0 {
            sys::unshare(flags).context("creating namespaces")?;
        }
        ch.expect(Order::Made)?;
    }
    if self_v1 {
        s.cgroup.enter_v1_self()?;
        ch.send(Report::Moved)?;
    }
    // Nothing in the container may ptrace us or open /proc/<init>/exe while
    // berth's code runs here (CVE-2019-5736); execve resets this. Rootless,
    // only once the maps are written: nothing else is in the container then.
    if !s.dumpable_until_go {
        sys::prctl(libc::PR_SET_DUMPABLE, 0)?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    if s.general {
        enter_namespaces(s, ch)?;
    }
    // Without a user namespace, in its cgroups already, init may set the
    // container up while the parent does its part; Go is read before the
    // hooks (see Setup::go_late).
    let host_pid = match s.go_late() {
        true => None,
        false => Some(expect_go(ch)?),
    };
    if s.dumpable_until_go {
        sys::prctl(libc::PR_SET_DUMPABLE, 0)?;
    }
    let linux = s.checked.spec.linux();
    if !s.general && s.checked.namespaces.is_new(Kind::User) {
        become_root(&linux.uid_mappings, &linux.gid_mappings)?;
    }
    container(s, ch, host_pid)
}

/// After a new user namespace: be root in it when root is mapped.
fn become_root(uids: &[crate::spec::types::IdMapping], gids: &[crate::spec::types::IdMapping]) -> Result<()> {
    if idmap::maps_inside(gids, 0) {
        let root = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(root, root, root).context("becoming gid 0 in the user namespace")?;
    }
    if idmap::maps_inside(uids, 0) {
        let root = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresuid(root, root, root).context("becoming uid 0 in the user namespace")?;
    }
    Ok(())
}

/// The general path: join namespaces by path (user first), create the new
/// ones with unshare, and fork once more when a pid or time namespace only
/// applies to children. The parent is told which process is init.
fn enter_namespaces(s: &Setup, ch: &ChildEnd) -> Result<()> {
    // No process of the container may run outside its cgroups, even briefly.
    ch.expect(Order::Placed)?;
    let ns = &s.checked.namespaces;
    let linux = s.checked.spec.linux();
    for (kind, path) in ns.joins() {
        let fd = sys::open(Path::new(path), libc::O_RDONLY, 0)
            .with_context(|| format!("linux.namespaces: opening {} namespace {path}", kind.spec_name()))?;
        sys::setns(&fd, kind.clone_flag())
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
        ch.send(Report::MapsPlease)?;
        ch.expect(Order::MapsDone)?;
        if user {
            become_root(&linux.uid_mappings, &linux.gid_mappings)?;
        }
    }
    let rest = ns.new_flags() & !(libc::CLONE_NEWUSER | libc::CLONE_NEWCGROUP | Kind::Time.clone_flag());
    if rest != 0 {
        sys::unshare(rest).context("creating namespaces")?;
    }
    if !s.needs_fork {
        return ch.send(Report::InitPid(0));
    }
    match clone3(CLONE_PARENT, None, false).context("forking into the pid/time namespace")? {
        Forked::Child => {
            ch.tie_to_parent()?;
            Ok(())
        }
        Forked::Parent { pid, .. } => {
            let _ = ch.send(Report::InitPid(pid));
            // SAFETY: the intermediate process is done; leave without destructors.
            unsafe { libc::_exit(0) }
        }
    }
}

fn expect_go(ch: &ChildEnd) -> Result<i32> {
    match ch.recv()? {
        Order::Go { host_pid } => Ok(host_pid),
        other => bail!("sync: expected Go, got {other:?}"),
    }
}

fn hook_state(s: &Setup, host_pid: i32, status: &str) -> Vec<u8> {
    hooks::setup_state(&s.checked.spec, &s.id, status, host_pid, &s.bundle)
}

/// `linux.sysctl`, written through a procfs instance of our own: no mount,
/// link or file in the container can redirect the writes.
fn write_sysctls(sysctl: &std::collections::BTreeMap<String, String>) -> Result<()> {
    if sysctl.is_empty() {
        return Ok(());
    }
    let proc = Proc::private().context("linux.sysctl: opening a procfs instance")?;
    for (key, value) in sysctl {
        proc.write(&format!("sys/{}", key.replace('.', "/")), value.as_bytes())
            .with_context(|| format!("linux.sysctl: setting {key}={value}"))?;
    }
    Ok(())
}

fn container(s: &Setup, ch: &ChildEnd, host_pid: Option<i32>) -> Result<Infallible> {
    let spec = &s.checked.spec;
    let ns = &s.checked.namespaces;
    let linux = spec.linux();
    if ns.is_new(Kind::Cgroup) {
        sys::unshare(libc::CLONE_NEWCGROUP).context("creating the cgroup namespace")?;
    }
    if let Some(h) = spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).with_context(|| format!("hostname: {h:?}"))?;
    }
    if let Some(d) = spec.domainname.as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: d is valid for d.len() bytes.
        sys::cvt(unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) })
            .with_context(|| format!("domainname: {d:?}"))?;
    }
    write_sysctls(&linux.sysctl)?;
    if s.new_keyring {
        let label = spec.process.as_ref().and_then(|p| p.selinux_label.as_deref()).filter(|l| !l.is_empty());
        if let Some(label) = label.filter(|_| lsm::selinux_enabled()) {
            // The session keyring carries the process's label.
            let proc = Proc::host().context("opening /proc for the keyring's label")?;
            lsm::selinux_keycreate(&proc, label).with_context(|| format!("process.selinuxLabel: {label:?}"))?;
        }
        join_session_keyring(&s.id)?;
    }

    // Also when berth itself runs in one (rootless podman): no mknod there.
    let in_userns = ns.is_private(Kind::User) || s.rootless;
    let mount_label = linux.mount_label.as_deref().filter(|l| !l.is_empty() && lsm::selinux_enabled());
    // Rootless: the parent could not clone the bind sources (that needs
    // CAP_SYS_ADMIN); here, in the container's user namespace, init can.
    let opened_here;
    let sources = if s.sources.is_empty() && s.checked.mounts.iter().any(|(m, o)| is_bind(m, o)) {
        opened_here = mounts::open_sources(&s.bundle, &s.checked.mounts).context("opening the bind sources")?;
        &opened_here
    } else {
        &s.sources
    };
    let cgroup_dirs: Vec<mounts::CgroupDir> = s
        .cgroup
        .dirs
        .iter()
        .map(|(h, d)| mounts::CgroupDir { mount: h.mount.clone(), v2: h.v2, dir: d.clone() })
        .collect();
    let mut root: Option<Root> = None;
    let mut fifo = None;
    let mut go = host_pid;
    for step in rootfs_plan::plan(&s.checked, s.no_pivot) {
        // The handle on the rootfs: opened once it is a mount point, again
        // as `/` once the root has changed, dropped before the change.
        let r = || root.as_ref().context("rootfs plan: no root open at this step");
        match step {
            Step::Prepare { propagation } => {
                rootfs::prepare(&s.rootfs, propagation).context("preparing the rootfs")?;
                root = Some(Root::open(&s.rootfs).context("opening the rootfs")?);
            }
            Step::Mount { index, kind, rw_first } => {
                let ctx = mounts::Ctx {
                    root: r()?,
                    sources,
                    in_userns,
                    cgroup_dirs: &cgroup_dirs,
                    cgroupns: ns.is_private(Kind::Cgroup),
                    mount_label,
                };
                mounts::mount(&ctx, index, &s.checked.mounts[index], kind, rw_first)?;
            }
            Step::Devices => {
                devices::create_all(r()?, &linux.devices, in_userns)?;
                devices::links(r()?)?;
            }
            Step::DevReadonly { index } => mounts::remount(r()?, &s.checked.mounts[index])?,
            Step::Cwd(cwd) => {
                r()?.mkdir_all(&cwd).with_context(|| format!("process.cwd: creating {cwd}"))?;
            }
            Step::Hooks => {
                // Nothing from here on may start before the parent's Go.
                let host_pid = match go {
                    Some(p) => p,
                    None => *go.insert(expect_go(ch)?),
                };
                fifo = Some(sys::open(&s.fifo, libc::O_RDWR, 0).context("opening exec.fifo")?);
                root = None;
                if !spec.hooks.prestart.is_empty() || !spec.hooks.create_runtime.is_empty() {
                    ch.send(Report::HooksPlease)?;
                    ch.expect(Order::HooksDone)?;
                }
                let state = hook_state(s, host_pid, "creating");
                hooks::run_all_in("createContainer", &spec.hooks.create_container, &state, Some(&s.rootfs))?;
            }
            Step::PrepareInHost => {
                rootfs::prepare_in_host_namespace(&s.rootfs).context("preparing the rootfs")?;
                root = Some(Root::open(&s.rootfs).context("opening the rootfs")?);
            }
            Step::Pivot | Step::MoveRoot | Step::Chroot => {
                match step {
                    Step::Pivot => rootfs::pivot(&s.rootfs)?,
                    Step::MoveRoot => rootfs::move_root(&s.rootfs)?,
                    _ => rootfs::chroot(&s.rootfs)?,
                }
                root = Some(Root::open(Path::new("/"))?);
            }
            Step::RootPropagation(p) => sys::mount(None, "/", None, p, None).context("linux.rootfsPropagation")?,
            Step::ReadonlyPaths => mounts::readonly(r()?, &linux.readonly_paths)?,
            Step::MaskedPaths => mounts::mask(r()?, &linux.masked_paths)?,
            Step::RootReadonly => {
                root = None;
                rootfs::make_readonly()?;
            }
        }
    }
    drop(root);
    devices::reopen_stdio_dev_null()?;
    let fifo = fifo.context("rootfs plan: no Hooks step")?;
    let host_pid = go.context("rootfs plan: no Go before the hooks")?;

    let Some(plan) = &s.checked.process else {
        // A container without a process: it exists, and `start` refuses it.
        ready(ch, None)?;
        loop {
            nix::unistd::pause();
        }
    };
    let send_listener = |l: &OwnedFd| ch.send(Report::Listener(l.as_fd()));
    let prepared = process::prepare(plan, s.seccomp.as_ref(), s.extra_fds, s.listen_fds, true, &send_listener)?;
    ready(ch, prepared.pty.as_ref().map(|f| f.as_fd()))?;

    wait_for_start(&fifo);
    drop(fifo);
    if let Err(e) = hooks::run_all("startContainer", &spec.hooks.start_container, &hook_state(s, host_pid, "created")) {
        process::fail_after_ready(&format!("{e:#}"));
    }
    process::exec(&prepared)
}

/// Tells the parent we are set up; it may exit now, so the parent-death
/// signal goes first.
fn ready(ch: &ChildEnd, pty: Option<BorrowedFd>) -> Result<()> {
    sys::prctl(libc::PR_SET_PDEATHSIG, 0)?;
    ch.send(Report::Ready(pty))
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
        if nix::unistd::read(fifo, &mut b) != Err(nix::errno::Errno::EINTR) {
            return;
        }
    }
}
