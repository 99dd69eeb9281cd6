//! The last steps of any process that enters a container (init or exec):
//! terminal, environment, cwd, rlimits, NNP, ids, capabilities, descriptors,
//! then execve.

use crate::linux::procfs::Proc;
use crate::linux::{caps, console, lsm, sched, sys, user};
use crate::log;
use crate::seccomp;
use crate::spec::types::Process;
use crate::spec::validate::ProcessPlan;
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::Path;

/// A process ready for execve.
pub struct Prepared {
    pub prog: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// The pty master, when process.terminal is set.
    pub pty: Option<OwnedFd>,
    /// The seccomp filter still to load, right before execve (with
    /// noNewPrivileges and no notify listener): nothing of berth's runs
    /// under it but the execve itself.
    pub filter_at_exec: Option<seccomp::Filter>,
    /// `process.execCPUAffinity.final`, set right before execve.
    pub final_cpus: Option<Vec<usize>>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Whether this host can give the process the labels it asks for: an
/// AppArmor profile needs AppArmor (runc's rule); SELinux labels where
/// SELinux is off are left aside with a debug line (crun's and podman's
/// way; runc errors only on the process label).
pub fn check_lsm(p: &Process, mount_label: Option<&str>) -> Result<()> {
    if let Some(profile) = non_empty(&p.apparmor_profile) {
        if !lsm::apparmor_enabled() {
            bail!("process.apparmorProfile: {profile:?}: AppArmor is not enabled on this host");
        }
    }
    let labels = [("process.selinuxLabel", non_empty(&p.selinux_label)), ("linux.mountLabel", mount_label)];
    let asked: Vec<_> = labels.iter().filter_map(|(f, v)| Some((f, (*v).filter(|v| !v.is_empty())?))).collect();
    // SELinux is looked up only when a label asks for it (create's hot path).
    if !asked.is_empty() && !lsm::selinux_enabled() {
        for (field, v) in asked {
            log::debug(&format!("{field}: {v:?} left aside: SELinux is not enabled on this host"));
        }
    }
    Ok(())
}

/// The labels the next execve enters, written through the container's
/// /proc once verified (procfs, its root, no link or mount on the way).
fn apply_lsm(p: &Process) -> Result<()> {
    let profile = non_empty(&p.apparmor_profile);
    let label = non_empty(&p.selinux_label).filter(|_| lsm::selinux_enabled());
    if profile.is_none() && label.is_none() {
        return Ok(());
    }
    let proc = Proc::mounted(Path::new("/proc")).context("opening /proc for the process's labels")?;
    if let Some(profile) = profile {
        lsm::apparmor_exec(&proc, profile).with_context(|| format!("process.apparmorProfile: {profile:?}"))?;
    }
    if let Some(label) = label {
        lsm::selinux_exec(&proc, label).with_context(|| format!("process.selinuxLabel: {label:?}"))?;
    }
    Ok(())
}

/// Applies process.* to the calling process, which is already inside the
/// container's namespaces and root (rlimits and oomScoreAdj were set from
/// outside them). `as_console` makes the pty the container's /dev/console
/// too (init only). A notify listener goes to `send_listener` the moment
/// the filter exists, before berth makes any call the agent may have to
/// answer.
pub fn prepare(
    plan: &ProcessPlan,
    filter: Option<&seccomp::Filter>,
    extra_fds: u32,
    listen_fds: u32,
    as_console: bool,
    send_listener: &dyn Fn(&OwnedFd) -> Result<()>,
) -> Result<Prepared> {
    let p = &plan.process;
    if let Some(cpus) = &plan.affinity.initial {
        sched::set_affinity(cpus).context("process.execCPUAffinity.initial")?;
    }
    let pty = if p.terminal {
        Some(console::setup(p.console_size.map(|c| (c.height, c.width)), as_console, p.user.uid)?)
    } else {
        if as_console {
            // init leads a session of its own, as with runc (CRIU will not
            // dump a tree whose session leader is outside its pid namespace).
            nix::unistd::setsid().context("setsid")?;
        }
        None
    };
    let mut env = p.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user::home_of(p.user.uid)));
    }
    if listen_fds > 0 {
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={listen_fds}"));
        env.push(format!("LISTEN_PID={}", std::process::id()));
    }
    let cwd = sys::cstr(p.cwd.as_str())?;
    let cwd_ok = nix::unistd::chdir(cwd.as_c_str()).is_ok();
    if cwd_ok {
        check_cwd(&p.cwd)?;
    }
    let prog = user::look_path(&p.args[0], &env)?;
    // Nothing of berth's may reach the program (CVE-2024-21626); marked
    // before any filter, which may not allow close_range.
    sys::cloexec_from(3 + extra_fds).context("closing descriptors")?;
    // Before the filter and the switch of user, which could stand in the
    // way of opening /proc or of the write.
    apply_lsm(p)?;
    // While privileged: a real-time policy or I/O class needs capabilities.
    if let Some(s) = &plan.scheduler {
        sched::set_scheduler(s).with_context(|| format!("process.scheduler: {s:?}"))?;
    }
    if let Some(v) = plan.io_priority {
        sched::set_io_priority(v).context("process.ioPriority")?;
    }
    if let Some(m) = &plan.memory_policy {
        sched::set_memory_policy(m).with_context(|| format!("linux.memoryPolicy: {m:?}"))?;
    }
    if let Some(persona) = plan.personality {
        sched::set_personality(persona).context("linux.personality")?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_retain(p.user.umask.unwrap_or(0o022)));
    if p.no_new_privileges {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).context("process.noNewPrivileges")?;
    }
    // Without NNP the kernel wants CAP_SYS_ADMIN for a filter: load it while
    // we still have it.
    if let Some(f) = filter.filter(|_| !p.no_new_privileges) {
        if let Some(l) = seccomp::load::install(f)? {
            send_listener(&l)?;
        }
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
    // A cwd only the target user may enter is entered after the switch.
    if !cwd_ok {
        if let Err(e) = nix::unistd::chdir(cwd.as_c_str()) {
            bail!("process.cwd: chdir {}: {}", p.cwd, std::io::Error::from(e));
        }
        check_cwd(&p.cwd)?;
    }
    let mut filter_at_exec = None;
    if let Some(f) = filter.filter(|_| p.no_new_privileges) {
        if f.listener.is_some() {
            // The agent needs its listener while the parent can still pass it on.
            if let Some(l) = seccomp::load::install(f)? {
                send_listener(&l)?;
            }
        } else {
            filter_at_exec = Some(f.clone());
        }
    }
    let final_cpus = plan.affinity.last.clone();
    Ok(Prepared { prog, args: p.args.clone(), env, pty, filter_at_exec, final_cpus })
}

/// A cwd outside the container's root (through a magic link, say) is a
/// way out of it (CVE-2024-21626).
fn check_cwd(cwd: &str) -> Result<()> {
    if !sys::cwd_inside_root() {
        bail!("process.cwd: {cwd} is outside the container");
    }
    Ok(())
}

/// After "ready" the parent may be gone: the error goes to the process's stderr.
pub fn fail_after_ready(msg: &str) -> ! {
    eprintln!("berth: {msg}");
    // SAFETY: leave the child without running destructors.
    unsafe { libc::_exit(1) }
}

/// Default SIGPIPE handling (Rust ignores it) and an empty signal mask:
/// what a program expects to inherit.
pub fn reset_signals() {
    // SAFETY: plain signal calls with a zeroed, then emptied, set.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// execve with default signal handling and an empty signal mask; returns
/// only on failure, with the reason.
pub fn execve(p: &Prepared) -> std::io::Error {
    let to_c = |v: &[String]| -> Vec<CString> { v.iter().filter_map(|a| sys::cstr(a.as_str()).ok()).collect() };
    let (cargs, cenv) = (to_c(&p.args), to_c(&p.env));
    let mut argv: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = cenv.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let Ok(cprog) = sys::cstr(p.prog.as_str()) else {
        return std::io::Error::new(std::io::ErrorKind::InvalidInput, "program path holds a NUL byte");
    };
    reset_signals();
    if let Some(cpus) = &p.final_cpus {
        if let Err(e) = sched::set_affinity(cpus) {
            return std::io::Error::other(format!("process.execCPUAffinity.final: {e}"));
        }
    }
    if let Some(f) = &p.filter_at_exec {
        // The last thing before execve; nothing above allocates after it.
        if let Err(e) = seccomp::load::install(f) {
            return std::io::Error::other(format!("{e:#}"));
        }
    }
    // SAFETY: argv and envp are NULL-terminated arrays of valid strings.
    unsafe { libc::execve(cprog.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    std::io::Error::last_os_error()
}

/// execve, or the error on the process's stderr (the parent may be gone).
pub fn exec(p: &Prepared) -> ! {
    let e = execve(p);
    fail_after_ready(&format!("exec {}: {e}", p.prog))
}
