//! Running OCI hooks: the state JSON on stdin, the hook's own env and
//! args, and its timeout.

use crate::linux::sys;
use crate::spec::state::OciState;
use crate::spec::types::{Hook, Spec};
use anyhow::{bail, Context, Result};
use std::io::{Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn output_file() -> Result<std::fs::File> {
    let name = sys::cstr("berth-hook")?;
    // SAFETY: name is a valid NUL-terminated string.
    let fd = sys::owned(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })
        .context("creating a buffer for hook output")?;
    Ok(std::fs::File::from(fd))
}

/// The state JSON a hook reads on stdin while the container is being set up
/// (before its record exists).
pub fn setup_state(spec: &Spec, id: &str, status: &str, pid: i32, bundle: &Path) -> Vec<u8> {
    let state = OciState {
        oci_version: &spec.oci_version,
        id,
        pid,
        status,
        bundle: &bundle.to_string_lossy(),
        rootfs: None,
        created: None,
        owner: None,
        annotations: &spec.annotations,
    };
    serde_json::to_vec(&state).unwrap_or_default()
}

/// Runs one hook to completion; `state` goes to its stdin.
pub fn run_one(kind: &str, i: usize, hook: &Hook, state: &[u8], cwd: Option<&Path>) -> Result<()> {
    let what = format!("{kind} hook #{i} ({})", hook.path);
    let mut out = output_file()?;
    let mut cmd = Command::new(&hook.path);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    if let Some((arg0, rest)) = hook.args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for e in &hook.env {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(out.try_clone()?).stderr(out.try_clone()?);
    // The hook dies with the berth that runs it (a create killed midway
    // must leave no hook behind), also when that happened before the prctl.
    let runner = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only
    // makes async-signal-safe syscalls.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0
                || libc::getppid() != runner
            {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().with_context(|| format!("{what}: starting"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: a broken pipe is not its failure.
        let _ = stdin.write_all(state);
    }
    let pidfd = sys::pidfd_open(child.id() as i32).with_context(|| format!("{what}: watching"))?;
    let timeout_ms = match hook.timeout {
        Some(t) if t <= 0 => bail!("{what}: timeout must be positive, got {t}"),
        Some(t) => i32::try_from(t.saturating_mul(1000)).unwrap_or(i32::MAX),
        None => -1,
    };
    if !sys::pidfd_wait(&pidfd, timeout_ms)? {
        let _ = child.kill();
        let _ = child.wait();
        bail!("{what}: timed out after {}s", hook.timeout.unwrap_or(0));
    }
    let status = child.wait().with_context(|| format!("{what}: waiting"))?;
    if !status.success() {
        // A hook may print without end: the message keeps the first 64 KiB.
        let mut raw = Vec::new();
        let _ = out.seek(std::io::SeekFrom::Start(0));
        let _ = (&mut out).take(64 << 10).read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        let text = text.trim();
        if text.is_empty() {
            bail!("{what}: {status}");
        }
        bail!("{what}: {status}, output: {text}");
    }
    Ok(())
}

/// Runs every hook of a list, each failure only a warning (the spec's rule
/// for poststart and poststop: the remaining hooks and the lifecycle go on).
pub fn run_all_warn(kind: &str, hooks: &[Hook], state: &[u8]) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(kind, i, h, state, None) {
            crate::log::warn(&format!("{e:#}"));
        }
    }
}

/// Runs a list of hooks in order and stops at the first failure.
pub fn run_all(kind: &str, hooks: &[Hook], state: &[u8]) -> Result<()> {
    run_all_in(kind, hooks, state, None)
}

/// Like [`run_all`], with `cwd` as the hooks' working directory
/// (createContainer hooks start in the container's root, as with runc).
pub fn run_all_in(kind: &str, hooks: &[Hook], state: &[u8], cwd: Option<&Path>) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(kind, i, h, state, cwd)?;
    }
    Ok(())
}
