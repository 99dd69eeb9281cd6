//! The parent side of create: validate, make the state directory and
//! cgroup, clone the init, answer its requests, record the container.
//! A failure at any step removes everything made so far.

use super::clone::{clone3_into, Forked};
use super::sync::{self, ChildExited, Order, ParentEnd, Received};
use super::{init, Setup};
use crate::cgroups::{apply, layout::Hierarchy, layout::Layout, systemd, Cgroup};
use crate::container::journal::{self, Entry, Journal};
use crate::container::notify;
use crate::container::state::{Record, Status};
use crate::container::store::{Locked, Store};
use crate::linux::{console, idmap, netdev, procfs, resctrl, rlimits, rootfs, rootless, sys};
use crate::spec::namespaces::{Kind, Mode};
use crate::spec::validate::{self, Checked};
use crate::{hooks, log, seccomp, spec};
use anyhow::{bail, Context, Result};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What `create` takes besides the id (runc's flags of the same names).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The bundle directory: config.json and, relative to it, the rootfs.
    pub bundle: PathBuf,
    /// Where to send the pty master when `process.terminal` is true.
    pub console_socket: Option<PathBuf>,
    /// Where to send a pidfd of the container's init.
    pub pidfd_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Descriptors 3..3+n of the caller the process keeps.
    pub preserve_fds: u32,
    /// The cgroup is a systemd unit (`--systemd-cgroup`).
    pub systemd_cgroup: bool,
    /// Without the host's root: no writable cgroup is not an error, and
    /// bind sources are opened inside the container's user namespace.
    pub rootless: bool,
}

impl CreateOptions {
    /// Runc's defaults, with `rootless` as `--rootless auto` finds it.
    pub fn new(bundle: impl Into<PathBuf>) -> CreateOptions {
        CreateOptions { bundle: bundle.into(), rootless: rootless::detect(), ..CreateOptions::default() }
    }
}

pub struct Request {
    pub id: String,
    /// The options, with the bundle made absolute and canonical.
    pub opts: CreateOptions,
    pub listen_fds: u32,
    /// `run` in the foreground may take the pty itself.
    pub attached: bool,
    /// `run`: init is let go on to its process as soon as it is ready,
    /// without `start`'s round trip through exec.fifo. The start token is
    /// put in the fifo before Go (see [`prime_start`]); the caller then
    /// ends the start with `lifecycle::started`.
    pub start_at_once: bool,
}

pub struct Created {
    pub locked: Locked,
    pub record: Record,
    /// The pty master when `run` keeps the terminal.
    pub pty: Option<OwnedFd>,
    /// Init goes on to its process by itself (`Request::start_at_once`).
    pub released: bool,
}

/// config.json, checked against what a request can do.
pub struct Loaded {
    pub checked: Checked,
    /// linux.seccomp, compiled.
    pub filter: Option<seccomp::Filter>,
    /// The file's bytes, kept in the state directory.
    pub raw: Vec<u8>,
}

/// Loads and checks config.json against what this request can do and
/// compiles its seccomp profile.
pub fn load(req: &Request) -> Result<Loaded> {
    let (spec, raw) = spec::load_raw(&req.opts.bundle)?;
    let checked = validate::check(spec)?;
    if let Some(p) = &checked.spec.process {
        super::process::check_lsm(p, checked.spec.linux().mount_label.as_deref())?;
    }
    let filter = if checked.process.is_some() { seccomp::from_spec(&checked.spec)? } else { None };
    let terminal = checked.process.as_ref().is_some_and(|p| p.process.terminal);
    if terminal && req.opts.console_socket.is_none() && !req.attached {
        bail!("process.terminal: a detached container with a terminal needs --console-socket");
    }
    if !terminal && req.opts.console_socket.is_some() {
        bail!("--console-socket: process.terminal is false, so there is no terminal to send");
    }
    for w in checked.warnings.iter().chain(checked.process.iter().flat_map(|p| &p.warnings)) {
        log::warn(w);
    }
    Ok(Loaded { checked, filter, raw })
}

pub fn create(store: &Store, req: &Request) -> Result<Created> {
    let loaded = load(req)?;
    let checked = &loaded.checked;
    let root = checked.spec.root.as_ref().map(|r| r.path.clone()).unwrap_or_default();
    let rootfs = req
        .opts
        .bundle
        .join(&root)
        .canonicalize()
        .with_context(|| format!("root.path: {}", req.opts.bundle.join(&root).display()))?;
    let layout = Layout::detect()?;
    if let Some(k) = checked.spec.linux().resources.as_ref().and_then(|r| r.unified.keys().next()) {
        if !layout.is_v2_only() {
            bail!("linux.resources.unified.{k}: invalid configuration: unified resources need a cgroup v2 host");
        }
    }
    let locked = store.create(&req.id)?;
    match build(&locked, req, loaded, rootfs, &layout) {
        Ok((record, pty)) => Ok(Created { locked, record, pty, released: req.start_at_once }),
        Err(e) => {
            let _ = locked.remove();
            Err(e)
        }
    }
}

fn build(
    locked: &Locked,
    req: &Request,
    loaded: Loaded,
    rootfs: PathBuf,
    layout: &Layout,
) -> Result<(Record, Option<OwnedFd>)> {
    let Loaded { mut checked, filter, raw } = loaded;
    if notify::host_socket().is_some() {
        add_notify_socket(&mut checked, &locked.dir)?;
    }
    let sources = match crate::linux::mounts::open_sources(&req.opts.bundle, &checked.mounts) {
        // Cloning a mount needs CAP_SYS_ADMIN: rootless, init does it in its
        // own user namespace.
        Err(e) if req.opts.rootless && rootless::is_denied(&e) => Vec::new(),
        r => r?,
    };
    let (general, needs_fork) = Setup::plan_paths(&checked);
    // The v1 directories are made after the clone, while init makes its
    // namespaces, when init then moves itself into them (see Setup).
    let v1_after_clone = !req.opts.systemd_cgroup
        && !req.opts.rootless
        && !general
        && !checked.namespaces.is_new(Kind::User)
        && layout.hierarchies.iter().any(|h| !h.v2);
    let saved_filter = filter.as_ref().and_then(seccomp::saved::encode);
    let files = StateFiles { locked, raw: &raw, filter: saved_filter.as_deref() };
    if !v1_after_clone {
        files.write(&checked)?;
    }
    let fifo = locked.fifo();
    let linux = checked.spec.linux();
    // Written down before it exists, so that a create killed from here on
    // leaves nothing `delete` cannot find.
    let mut journal = Journal::open(&locked.dir)?;
    // systemd is asked before anything exists that it would have to undo.
    let mut unit = match req.opts.systemd_cgroup {
        true => Some(Placement {
            unit: systemd::unit_for(linux.cgroups_path.as_deref(), &req.id, !nix::unistd::geteuid().is_root())?,
            sd: systemd::Systemd::connect()?,
            started: false,
        }),
        false => None,
    };
    let path = unit.as_ref().map(|p| p.unit.path.as_str()).or(linux.cgroups_path.as_deref());
    // The unit is not in the plan: it is journalled once this create has
    // started it (a name taken by someone else must never be stopped here).
    // (With v1_after_clone, the v1 part is planned and made after the clone.)
    let before_clone = |h: &Hierarchy| !v1_after_clone || h.v2;
    let mut cgroup = Cgroup::unmade(layout, path, &req.id);
    let planned = cgroup.plan(before_clone);
    journal.note(&Entry::Cgroup(planned.clone()))?;
    // systemd makes a unit's cgroup once it has a process to put there.
    if unit.is_some() {
        cgroup = planned;
    } else if let Err(e) = cgroup.make(before_clone) {
        if !(req.opts.rootless && rootless::is_denied(&e)) {
            return Err(e);
        }
        // runc's rule: rootless without a cgroup of its own, limits are
        // a warning here and an error for `update`.
        if linux.resources.as_ref().is_some_and(|r| *r != Default::default()) {
            log::warn("rootless: no writable cgroup here, so linux.resources is not applied");
        }
        log::debug(&format!("rootless: running without a cgroup ({e:#})"));
        cgroup = Cgroup::none();
    }
    let host_mounts = match checked.namespaces.is_private(Kind::Mount) {
        true => None,
        false => {
            let m = rootfs::HostMounts::now(&rootfs)?;
            journal.note(&Entry::HostMounts(m.clone()))?;
            Some(m)
        }
    };
    if !v1_after_clone {
        warn_if_busy(&cgroup);
    }
    let dumpable_until_go = req.opts.rootless && checked.namespaces.is_new(Kind::User);
    let setup = Setup {
        seccomp: filter,
        sources,
        id: req.id.clone(),
        checked,
        bundle: req.opts.bundle.clone(),
        rootfs,
        cgroup,
        fifo,
        extra_fds: req.listen_fds + req.opts.preserve_fds,
        listen_fds: req.listen_fds,
        no_pivot: req.opts.no_pivot,
        new_keyring: !req.opts.no_new_keyring,
        dumpable_until_go,
        rootless: req.opts.rootless,
        general,
        needs_fork,
        host_mounts,
        v1_after_clone,
    };
    let mut kids = Vec::new();
    // What exists of the cgroup, as the parent knows it.
    let mut made = setup.cgroup.clone();
    match spawn(&setup, &files, &mut made, unit.as_mut(), req, &mut kids, &mut journal) {
        Ok(r) => Ok(r),
        Err(mut e) => {
            if e.is::<ChildExited>() {
                // It is gone already: say how it died (SIGKILL here is usually the OOM killer).
                if let Some(&pid) = kids.last() {
                    if let Ok((p, st)) = sys::waitpid(pid, 0) {
                        if p == pid {
                            e = anyhow::anyhow!("{e} ({})", describe_exit(st));
                        }
                    }
                }
            }
            let entries = journal::read(&locked.dir).unwrap_or_default();
            journal::give_back_net_devices(&entries);
            for pid in kids.iter().rev() {
                let _ = sys::kill(*pid, libc::SIGKILL);
                let _ = sys::waitpid(*pid, 0);
            }
            journal::remove_leftovers(&entries);
            if let Some(p) = unit.as_mut().filter(|p| p.started) {
                let _ = p.sd.stop(&p.unit.name);
            }
            made.remove();
            Err(e)
        }
    }
}

/// The state directory's files of a create: config.json, which exec and
/// later commands read instead of the bundle, the seccomp filter compiled
/// from it, which exec loads, and exec.fifo, which init opens before the
/// hooks.
struct StateFiles<'a> {
    locked: &'a Locked,
    raw: &'a [u8],
    filter: Option<&'a [u8]>,
}

impl StateFiles<'_> {
    fn write(&self, checked: &Checked) -> Result<()> {
        self.locked.save_config(self.raw)?;
        if let Some(f) = self.filter {
            self.locked.save_filter(f)?;
        }
        let fifo = self.locked.fifo();
        let c = sys::cpath(&fifo)?;
        // SAFETY: c is a valid path.
        sys::cvt(unsafe { libc::mkfifo(c.as_ptr(), 0o622) }).context("creating exec.fifo")?;
        let linux = checked.spec.linux();
        if checked.namespaces.is_new(Kind::User) {
            // Root in the container must be able to open the fifo.
            let host = |maps: &[spec::types::IdMapping]| maps.iter().find(|m| m.container_id == 0).map(|m| m.host_id);
            if let (Some(uid), Some(gid)) = (host(&linux.uid_mappings), host(&linux.gid_mappings)) {
                std::os::unix::fs::chown(&fifo, Some(uid), Some(gid)).context("chown of exec.fifo")?;
            }
        }
        Ok(())
    }
}

/// A cgroup that existed before may hold processes already: said, not refused.
fn warn_if_busy(cgroup: &Cgroup) {
    let busy = cgroup.pids_before().len();
    if busy > 0 {
        log::warn(&format!("container's cgroup is not empty: {busy} process(es) found"));
    }
}

/// sd_notify: the state dir's notify directory bound where the process's
/// NOTIFY_SOCKET (the config's, or runc's default) says, and that variable
/// set for it.
fn add_notify_socket(checked: &mut Checked, state_dir: &Path) -> Result<()> {
    let Some(plan) = checked.process.as_mut() else { return Ok(()) };
    let inner = notify::inner_path(&plan.process.env);
    let dir = notify::make_dir(state_dir)?;
    let target = Path::new(&inner).parent().map_or("/".into(), |p| p.to_string_lossy().into_owned());
    let opts: Vec<String> = ["bind", "nosuid", "nodev", "noexec"].map(String::from).to_vec();
    let parsed = spec::mount_opts::parse("NOTIFY_SOCKET", &opts)?;
    let m = spec::types::Mount {
        destination: target,
        kind: Some("bind".into()),
        source: Some(dir.to_string_lossy().into_owned()),
        options: opts,
        ..Default::default()
    };
    checked.mounts.push((m, parsed));
    plan.process.env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
    plan.process.env.push(format!("NOTIFY_SOCKET={inner}"));
    Ok(())
}

/// Writes `linux.resources` to the container's cgroup files (none when
/// rootless left it without a cgroup: create warned about that).
fn apply_resources(s: &Setup, cgroup: &Cgroup) -> Result<()> {
    if !cgroup.exists() {
        return Ok(());
    }
    if let Some(r) = s.checked.spec.linux.as_ref().and_then(|l| l.resources.as_ref()) {
        for w in apply::apply(cgroup, r, false)? {
            log::warn(&w);
        }
    }
    Ok(())
}

/// `--systemd-cgroup`: the unit, systemd, and whether this create started it.
struct Placement {
    unit: systemd::Unit,
    sd: systemd::Systemd,
    started: bool,
}

/// `--systemd-cgroup`: systemd starts the unit with init in it (and the
/// limits it owns as properties); berth makes the rest and writes the files.
/// Returns the cgroup systemd put init in: the planned one for the system's
/// systemd; below `user@UID.service` for a user's own.
fn start_unit(s: &Setup, p: &mut Placement, pid: i32, journal: &mut Journal) -> Result<Cgroup> {
    let v2 = s.cgroup.dirs.iter().all(|(h, _)| h.v2);
    let props = match s.checked.spec.linux().resources.as_ref() {
        Some(r) => systemd::properties(r, v2)?,
        None => Vec::new(),
    };
    p.sd.start(&p.unit, &s.id, pid, props)?;
    p.started = true;
    journal.note(&Entry::Unit(p.unit.name.clone()))?;
    let mut placed = s.cgroup.clone();
    if let Some(actual) = own_v2_cgroup(pid) {
        for (h, dir) in placed.dirs.iter_mut().filter(|(h, _)| h.v2) {
            let d = h.mount.join(actual.trim_start_matches('/'));
            placed.created.retain(|c| c != dir);
            placed.created.push(d.clone());
            *dir = d;
        }
    }
    placed.make_rest()?;
    apply_resources(s, &placed)?;
    Ok(placed)
}

/// The cgroup v2 path of `pid`, where systemd put it.
fn own_v2_cgroup(pid: i32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|l| l.strip_prefix("0::")).map(String::from)
}

fn spawn(
    s: &Setup,
    files: &StateFiles,
    made: &mut Cgroup,
    mut unit: Option<&mut Placement>,
    req: &Request,
    kids: &mut Vec<i32>,
    journal: &mut Journal,
) -> Result<(Record, Option<OwnedFd>)> {
    let spec = &s.checked.spec;
    if unit.is_none() && !s.v1_after_clone {
        apply_resources(s, made)?;
    }
    let (parent_ch, child_ch) = sync::pair()?;
    let flags = if s.general { 0 } else { s.clone_flags() };
    let cg_fd = if unit.is_some() { None } else { s.cgroup.open_v2()? };
    // The child moves itself into the v1 hierarchies (far cheaper than our
    // writing its pid) unless systemd places it or it is born in a user
    // namespace, where it may not write the host's cgroup files.
    let self_v1 = unit.is_none() && flags & libc::CLONE_NEWUSER == 0;
    let (forked, in_v2) = clone3_into(flags as u64, cg_fd.as_ref().map(|f| f.as_raw_fd()), true)
        .context("cloning the container's init")?;
    let (pid, pidfd) = match forked {
        Forked::Child => {
            drop(parent_ch);
            init::main(s, &child_ch, self_v1)
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_ch);
    kids.push(pid);
    let start = journal.note_pid(pid)?;
    if s.v1_after_clone {
        // Beside init's unshare: what the clone did not need.
        journal.note(&Entry::Cgroup(made.plan(|h| !h.v2)))?;
        made.make(|h| !h.v2)?;
        warn_if_busy(made);
        apply_resources(s, made)?;
        // Placed in v2 (when the clone could not) before init goes on.
        made.enter(pid, in_v2, true)?;
        parent_ch.send_or_why(Order::Made)?;
        // Beside init's move and mounts: init opens exec.fifo only after Go.
        files.write(&s.checked)?;
    }
    let placed = match unit.as_deref_mut() {
        Some(p) => start_unit(s, p, pid, journal)?,
        None => made.clone(),
    };
    if !s.v1_after_clone {
        placed.enter(pid, in_v2, self_v1)?;
    }
    if self_v1 {
        parent_ch.expect_moved()?;
    }
    // With go_late init runs on from here: when a step below fails because
    // init died meanwhile, init's own error is the one to tell.
    let ahead = |e: anyhow::Error| match s.go_late() {
        true => parent_ch.pending_error().unwrap_or(e),
        false => e,
    };
    let ParentPart { rdt, init, net_devices } =
        parent_part(s, (pid, start), &parent_ch, kids, journal).map_err(ahead)?;
    let init_pid = init.0;
    // Held until init, which opens the fifo after Go, is ready.
    let _started = match req.start_at_once {
        true => Some(prime_start(&s.fifo)?),
        false => None,
    };
    crate::linux::exeseal::dissolve();
    parent_ch.send_or_why(Order::Go { host_pid: init_pid })?;
    // The record is whole now: written while init works, renamed once it is ready.
    let cgroup = Cgroup { unit: unit.map(|p| p.unit.name.clone()), ..placed };
    let record = Record {
        net_devices,
        netns_path: netns_path(s),
        rdt,
        host_mounts: s.host_mounts.clone(),
        ..Record::new(&s.checked, &s.id, &s.bundle, &s.rootfs, init, cgroup)
    };
    files.locked.stage(&record)?;

    let state_for_hooks = |status: Status| hooks::setup_state(spec, &s.id, status.as_str(), init_pid, &s.bundle);
    let pty = loop {
        match parent_ch.recv()? {
            Received::HooksPlease => {
                let st = state_for_hooks(Status::Creating);
                hooks::run_all("prestart", &spec.hooks.prestart, &st)?;
                hooks::run_all("createRuntime", &spec.hooks.create_runtime, &st)?;
                parent_ch.send(Order::HooksDone)?;
            }
            Received::Listener(fd) => {
                if let Some((path, meta)) = s.seccomp.as_ref().and_then(|f| f.listener.as_ref()) {
                    // The hooks' JSON text, checked as JSON, not built into a tree.
                    let state = String::from_utf8(state_for_hooks(Status::Creating)).context("the state")?;
                    let state = serde_json::value::RawValue::from_string(state).context("the state")?;
                    seccomp::load::send_listener(path, meta, &fd, init_pid, &state)?;
                }
            }
            Received::Ready(fd) => break fd,
            other => bail!("sync: unexpected {other:?}"),
        }
    };
    let pty = match (&req.opts.console_socket, pty) {
        (Some(sock), Some(master)) => {
            console::send_to_socket(sock, &master)?;
            None
        }
        (_, pty) => pty,
    };
    if let Some(sock) = &req.opts.pidfd_socket {
        let fd = match (&pidfd, init_pid == pid) {
            (Some(fd), true) => fd.try_clone()?,
            _ => sys::pidfd_open(init_pid).context("opening a pidfd for init")?,
        };
        send_pidfd(sock, &fd)?;
    }
    Ok((record, pty))
}

/// Puts `start`'s token in exec.fifo ahead of time: init, which reads it
/// once it is ready, then goes on to its process at once. The descriptor
/// keeps the token in the fifo until init has the fifo open itself.
fn prime_start(fifo: &Path) -> Result<OwnedFd> {
    // Read and write: no reader is needed for the open, and none blocks.
    let f = sys::open(fifo, libc::O_RDWR, 0).context("opening exec.fifo")?;
    nix::unistd::write(&f, b"0").context("writing the start token to exec.fifo")?;
    Ok(f)
}

/// What [`parent_part`] gives the record.
struct ParentPart {
    rdt: Option<resctrl::Group>,
    /// init's pid and start time (the general path's second child).
    init: (i32, u64),
    net_devices: Vec<netdev::Move>,
}

/// The parent's part between init's move into its cgroups and Go: the
/// Intel RDT group, the general path's id maps and second fork, rlimits and
/// the OOM score from out here, network devices.
fn parent_part(
    s: &Setup,
    (pid, start): (i32, u64),
    parent_ch: &ParentEnd,
    kids: &mut Vec<i32>,
    journal: &mut Journal,
) -> Result<ParentPart> {
    let rdt = join_rdt_group(s, pid, journal)?;
    let linux = s.checked.spec.linux();
    let user_new = s.checked.namespaces.is_new(Kind::User);
    let mut init = (pid, start);
    let proc = std::cell::OnceCell::new();
    let host_proc = || -> Result<&procfs::Proc> {
        if proc.get().is_none() {
            let _ = proc.set(procfs::Proc::host().context("opening the host's /proc")?);
        }
        Ok(proc.get().expect("set just above"))
    };
    if s.general {
        // In every cgroup before it may fork: a child it makes inherits them.
        parent_ch.send(Order::Placed)?;
        loop {
            match parent_ch.recv()? {
                Received::MapsPlease => {
                    if user_new {
                        idmap::write(host_proc()?, pid, &linux.uid_mappings, &linux.gid_mappings)?;
                    }
                    if s.checked.namespaces.is_new(Kind::Time) {
                        idmap::write_time_offsets(host_proc()?, pid, &linux.time_offsets)?;
                    }
                    parent_ch.send(Order::MapsDone)?;
                }
                Received::InitPid(0) => break,
                Received::InitPid(g) => {
                    kids.push(g);
                    init = (g, journal.note_pid(g)?);
                    let _ = sys::waitpid(pid, 0);
                    break;
                }
                other => bail!("sync: unexpected {other:?}"),
            }
        }
    } else if user_new {
        idmap::write(host_proc()?, pid, &linux.uid_mappings, &linux.gid_mappings)?;
    }
    let init_pid = init.0;
    // From out here, where a user namespace does not stand in the way of
    // raising a hard limit or lowering the OOM score.
    if let Some(p) = &s.checked.process {
        rlimits::apply(init_pid, &p.rlimits)?;
        if let Some(adj) = p.process.oom_score_adj {
            host_proc()?.write(&format!("{init_pid}/oom_score_adj"), adj.to_string().as_bytes()).map_err(
                |e| match e.raw_os_error() {
                    // Lowering the score needs CAP_SYS_RESOURCE, which rootless lacks.
                    Some(libc::EACCES) => anyhow::anyhow!(
                        "process.oomScoreAdj: {adj} is below berth's own score: only a privileged user may lower it"
                    ),
                    _ => anyhow::Error::from(e).context(format!("process.oomScoreAdj: {adj}")),
                },
            )?;
        }
    }
    let net_devices = move_net_devices(s, init_pid, journal)?;
    Ok(ParentPart { rdt, init, net_devices })
}

/// `linux.intelRdt`: init joins its resctrl group (made, and given its
/// schemata, when it does not exist) before it can fork.
fn join_rdt_group(s: &Setup, pid: i32, journal: &mut Journal) -> Result<Option<resctrl::Group>> {
    let Some(rdt) = &s.checked.spec.linux().intel_rdt else { return Ok(None) };
    let root = resctrl::mount_point()?;
    let dir = root.join(spec::rdt::group_name(rdt, &s.id));
    let writes = spec::rdt::writes(rdt);
    let asked = rdt.l3_cache_schema.is_some() || rdt.mem_bw_schema.is_some();
    let created = !dir.exists();
    if created {
        if rdt.clos_id.is_some() && writes.is_empty() {
            bail!("linux.intelRdt.closID: no group {} exists, and no schema is given to make it", dir.display());
        }
        journal.note(&Entry::RdtGroup(dir.clone()))?;
        resctrl::make(&dir)?;
    }
    let group = resctrl::Group { dir, created };
    let result = (|| -> Result<()> {
        if !created && rdt.clos_id.is_some() && asked {
            // A group someone else made: it must already be what was asked.
            let have = resctrl::read_schemata(&group.dir)?;
            if !spec::rdt::satisfied(&have, &writes[0]) {
                bail!(
                    "linux.intelRdt: group {} holds {:?}, not the {:?} asked for",
                    group.dir.display(),
                    have.trim(),
                    writes[0].trim()
                );
            }
            for w in &writes[1..] {
                resctrl::write_schemata(&group.dir, w)?;
            }
        } else {
            for w in &writes {
                resctrl::write_schemata(&group.dir, w)?;
            }
        }
        for (on, field, feature) in
            [(rdt.enable_cmt, "enableCMT", "llc_occupancy"), (rdt.enable_mbm, "enableMBM", "mbm_total_bytes")]
        {
            if on && !resctrl::monitors(&root, feature) {
                bail!("linux.intelRdt.{field}: this machine's resctrl does not monitor {feature}");
            }
        }
        resctrl::add_task(&group.dir, pid)
    })();
    if let Err(e) = result {
        resctrl::remove(&group);
        return Err(e);
    }
    Ok(Some(group))
}

fn netns_path(s: &Setup) -> Option<String> {
    match s.checked.namespaces.mode(Kind::Network) {
        Mode::Join(p) => Some(p.clone()),
        _ => None,
    }
}

/// `linux.netDevices`, moved into init's network namespace (final by now:
/// made by clone or unshare, or joined) before the hooks and the process
/// can look for them.
fn move_net_devices(s: &Setup, init_pid: i32, journal: &mut Journal) -> Result<Vec<netdev::Move>> {
    let linux = s.checked.spec.linux();
    let moves: Vec<netdev::Move> = linux
        .net_devices
        .iter()
        .map(|(host, d)| netdev::Move { host: host.clone(), inside: d.name.clone().unwrap_or_else(|| host.clone()) })
        .collect();
    if moves.is_empty() {
        return Ok(moves);
    }
    let ns = sys::open(Path::new(&format!("/proc/{init_pid}/ns/net")), libc::O_RDONLY, 0)
        .context("linux.netDevices: opening the container's network namespace")?;
    if netdev::is_own_namespace(&ns)? {
        bail!("linux.netDevices: the container's network namespace is berth's own");
    }
    journal.note(&Entry::NetDevices { moves: moves.clone(), netns: netns_path(s) })?;
    netdev::move_in(&moves, ns.as_fd())?;
    Ok(moves)
}

fn describe_exit(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        let hint = if sig == libc::SIGKILL { ", perhaps by the OOM killer" } else { "" };
        format!("killed by signal {sig}{hint}")
    } else {
        format!("exit status {}", libc::WEXITSTATUS(status))
    }
}

fn send_pidfd(sock: &Path, fd: &OwnedFd) -> Result<()> {
    crate::linux::fdpass::send_to(sock, "pidfd socket", b"pidfd", fd)
}

/// Writes `pid` to `path` atomically, without a trailing newline.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    std::fs::write(&tmp, pid.to_string()).with_context(|| format!("writing pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing pid file {}", path.display()))
}
