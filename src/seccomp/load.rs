//! Installing a compiled filter, and handing a notify listener to the
//! process at `listenerPath` the way runc does.

use super::Filter;
use crate::linux::{fdpass, sys};
use anyhow::{Context, Result};
use serde_json::value::RawValue;
use std::os::fd::{AsRawFd, OwnedFd};

const SECCOMP_SET_MODE_FILTER: u32 = 1;
const FLAG_NEW_LISTENER: u32 = 8;

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const super::SockFilter,
}

/// Loads the filter into the calling thread (and with TSYNC, all threads);
/// returns the notify listener when the profile has one.
pub fn install(f: &Filter) -> Result<Option<OwnedFd>> {
    let prog = SockFprog { len: f.program.len() as u16, filter: f.program.as_ptr() };
    let flags = f.flags | if f.listener.is_some() { FLAG_NEW_LISTENER } else { 0 };
    // SAFETY: prog points at a live program of `len` instructions.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog as *const SockFprog) };
    if r < 0 {
        return Err(std::io::Error::last_os_error()).context("linux.seccomp: loading the filter");
    }
    Ok(if f.listener.is_some() { Some(sys::owned(r as i32)?) } else { None })
}

/// Sends the listener fd and the container's state (`state`, the OCI
/// state as JSON text, put in as it is) to the agent at `path`: the
/// runtime spec's ContainerProcessState, its members in the spec's order.
pub fn send_listener(path: &str, metadata: &str, listener: &OwnedFd, pid: i32, state: &RawValue) -> Result<()> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ProcessState<'a> {
        oci_version: &'a str,
        fds: [&'a str; 1],
        pid: i32,
        metadata: &'a str,
        state: &'a RawValue,
    }
    let msg = ProcessState { oci_version: "1.2.0", fds: ["seccompFd"], pid, metadata, state };
    let msg = serde_json::to_vec(&msg).context("linux.seccomp.listenerPath: writing the container's state")?;
    let sock = std::os::unix::net::UnixStream::connect(path)
        .with_context(|| format!("failed to connect with seccomp agent specified in the seccomp profile ({path})"))?;
    fdpass::send(&sock, &msg, Some(listener.as_raw_fd()))
        .with_context(|| format!("linux.seccomp.listenerPath: sending the listener to {path}"))
}
