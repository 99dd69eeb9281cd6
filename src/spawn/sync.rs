//! The typed messages between `berth create` and the container's init,
//! over one SOCK_SEQPACKET pair (descriptors ride along with SCM_RIGHTS).

use crate::linux::{fdpass, sys};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum Msg {
    /// Parent → init: maps written, cgroup joined; carries init's host pid.
    Go { host_pid: i32 },
    /// Parent → init (general path): it is in every cgroup now and may fork.
    Placed,
    /// Init → parent (general path): the user namespace exists, write the maps.
    MapsPlease,
    /// Parent → init: maps are written.
    MapsDone,
    /// Init (general path) → parent: the process that becomes init (host pid).
    InitPid(i32),
    /// Init → parent: run prestart and createRuntime hooks now.
    HooksPlease,
    /// Parent → init: those hooks ran.
    HooksDone,
    /// Init → parent: the seccomp notify listener rides along, for listenerPath.
    Listener,
    /// Init → parent: set up, waiting for start (a pty master may ride along).
    Ready,
    /// Init → parent: this step failed.
    Error(String),
}

/// Runs a forked child's work; an error goes to the parent over `ch` and
/// the child leaves with `code` (without the parent's destructors).
pub fn child_main(ch: &Channel, code: i32, work: impl FnOnce() -> Result<std::convert::Infallible>) -> ! {
    let err = match work() {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = ch.send(&Msg::Error(format!("{err:#}")));
    // SAFETY: _exit ends this forked child without running the parent's destructors.
    unsafe { libc::_exit(code) }
}

/// The other end closed: init died before it could say why.
#[derive(Debug)]
pub struct InitExited;

impl std::fmt::Display for InitExited {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the container's init exited during setup")
    }
}

impl std::error::Error for InitExited {}

pub struct Channel(OwnedFd);

impl Channel {
    pub fn pair() -> Result<(Channel, Channel)> {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid out array of two ints.
        sys::cvt(unsafe {
            libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
        })
        .context("creating the sync socket pair")?;
        Ok((Channel(sys::owned(fds[0])?), Channel(sys::owned(fds[1])?)))
    }

    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> Result<()> {
        self.send_fd(msg, None)
    }

    pub fn send_fd(&self, msg: &Msg, fd: Option<RawFd>) -> Result<()> {
        let data = serde_json::to_vec(msg).context("encoding a sync message")?;
        fdpass::send(&self.0, &data, fd).context("sending a sync message")
    }

    pub fn recv(&self) -> Result<(Msg, Option<OwnedFd>)> {
        let mut buf = vec![0u8; 65536];
        let (n, fd) = fdpass::recv(&self.0, &mut buf).context("receiving a sync message")?;
        if n == 0 {
            return Err(InitExited.into());
        }
        let msg = serde_json::from_slice(&buf[..n]).context("decoding a sync message")?;
        Ok((msg, fd))
    }

    /// Whether the other end is closed (its process died).
    pub fn peer_gone(&self) -> bool {
        let mut pfd = libc::pollfd { fd: self.0.as_raw_fd(), events: libc::POLLRDHUP, revents: 0 };
        // SAFETY: pfd is a valid pollfd array of length one; zero timeout.
        let r = unsafe { libc::poll(&mut pfd, 1, 0) };
        r > 0 && pfd.revents & (libc::POLLHUP | libc::POLLRDHUP) != 0
    }

    /// Dies with the parent: the parent-death signal, and a check that the
    /// parent did not die before it was set.
    pub fn tie_to_parent(&self) -> Result<()> {
        sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)?;
        if self.peer_gone() {
            bail!("the parent exited during setup");
        }
        Ok(())
    }

    /// Waits for one exact message; an `Error` from the other side becomes ours.
    pub fn expect(&self, want: Msg) -> Result<()> {
        match self.recv()?.0 {
            m if m == want => Ok(()),
            Msg::Error(e) => bail!(e),
            other => bail!("sync: expected {want:?}, got {other:?}"),
        }
    }
}
