//! The messages between berth (create's or exec's parent side) and the
//! child that enters the container, over one SOCK_SEQPACKET pair. Each end
//! has its own type and can only send what its side may send; a descriptor
//! that rides along (SCM_RIGHTS) is part of the message it belongs to.
//!
//! The handshake, in order (exec uses only the rows marked "exec"):
//!
//! | step | child → parent        | parent → child        | when                      |
//! |------|-----------------------|-----------------------|---------------------------|
//! | 0    |                       | `Made`                | the v1 cgroups were made after the clone |
//! | 0    | `Moved`               |                       | init moved itself into the v1 cgroups (exec too, when the parent places it in the others) |
//! | 1    |                       | `Placed`              | general path: in the cgroups, may fork |
//! | 2    | `MapsPlease`          | `MapsDone`            | general path, new user/time ns |
//! | 3    | `InitPid(pid or 0)`   |                       | general path              |
//! | 4    |                       | `Go { host_pid }`     | always; read just before the hooks with `Setup::go_late`; exec only when the parent places the child in a cgroup (v2 without CLONE_INTO_CGROUP, v1 from a user namespace) |
//! | 5    | `HooksPlease`         | `HooksDone`           | prestart/createRuntime hooks |
//! | 6    | `Listener(fd)`        |                       | a NOTIFY profile (exec too) |
//! | 7    | `Ready(pty)`          |                       | always (exec too)         |
//!
//! A child that fails sends its error chain instead and exits; a child that
//! dies closes the pair, which the parent reads as [`ChildExited`].

use crate::linux::{fdpass, sys};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// What travels: serialised compactly, descriptors beside it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
enum Wire {
    Go {
        host_pid: i32,
    },
    Placed,
    Made,
    MapsDone,
    HooksDone,
    Moved,
    MapsPlease,
    InitPid(i32),
    HooksPlease,
    Listener,
    Ready,
    /// The failure, outermost context first.
    Error(Vec<String>),
}

/// Parent → child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Maps written, cgroups joined; carries init's host pid.
    Go { host_pid: i32 },
    /// General path: the child is in every cgroup and may fork.
    Placed,
    /// The v1 directories exist now (made after the clone): move in.
    Made,
    /// The id maps (and time offsets) are written.
    MapsDone,
    /// prestart and createRuntime hooks ran.
    HooksDone,
}

/// Child → parent, as the child sends it.
#[derive(Debug, Clone, Copy)]
pub enum Report<'a> {
    /// The child moved itself into the container's v1 cgroups.
    Moved,
    /// The user (or time) namespace exists: write the maps.
    MapsPlease,
    /// General path: the process that becomes init (host pid; 0 = this one).
    InitPid(i32),
    /// Run prestart and createRuntime hooks now.
    HooksPlease,
    /// The seccomp notify listener, for the agent at listenerPath.
    Listener(BorrowedFd<'a>),
    /// Set up; the pty master when there is a terminal.
    Ready(Option<BorrowedFd<'a>>),
}

/// Child → parent, as the parent receives it.
#[derive(Debug)]
pub enum Received {
    Moved,
    MapsPlease,
    InitPid(i32),
    HooksPlease,
    Listener(OwnedFd),
    Ready(Option<OwnedFd>),
}

/// The other end closed: the child died before it could say why.
#[derive(Debug)]
pub struct ChildExited;

impl std::fmt::Display for ChildExited {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the container's init exited during setup")
    }
}

impl std::error::Error for ChildExited {}

/// The largest message: an error chain fits many times over.
const MAX_MESSAGE: usize = 16 << 10;

/// Where messages are received: in .bss, so that its pages are the
/// kernel's zero pages until a message is written there. A buffer on the
/// stack, zeroed for each message, wrote all four pages every time: after
/// create's clone that is a copy-on-write fault per page, on each side.
/// The lock keeps it to one message at a time.
static RECEIVED: std::sync::Mutex<[u8; MAX_MESSAGE]> = std::sync::Mutex::new([0; MAX_MESSAGE]);

struct End(OwnedFd);

impl End {
    /// The events of `events` (and POLLHUP/POLLERR) pending now, without waiting.
    fn pending(&self, events: i16) -> i16 {
        let mut pfd = libc::pollfd { fd: self.0.as_raw_fd(), events, revents: 0 };
        // SAFETY: pfd is a valid pollfd array of length one; zero timeout.
        match unsafe { libc::poll(&mut pfd, 1, 0) } {
            r if r > 0 => pfd.revents,
            _ => 0,
        }
    }

    fn send(&self, w: &Wire, fd: Option<RawFd>) -> Result<()> {
        let data = serde_json::to_vec(w).context("encoding a sync message")?;
        if data.len() > MAX_MESSAGE {
            bail!("sync: a {}-byte message is more than {MAX_MESSAGE}", data.len());
        }
        fdpass::send(&self.0, &data, fd).context("sending a sync message")
    }

    /// One message, or None when the other end closed.
    fn recv(&self) -> Result<Option<(Wire, Option<OwnedFd>)>> {
        // Poisoned by a panic or not, it holds nothing between messages.
        let mut guard = RECEIVED.lock().unwrap_or_else(|e| e.into_inner());
        let buf = &mut *guard;
        let (n, fd, truncated) = match fdpass::recv(&self.0, buf) {
            // The other end closed with a message of ours unread (init that
            // failed while running ahead of Go): the kernel reports that
            // before what the other end sent, and clears it; the next read
            // has the message.
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => fdpass::recv(&self.0, buf),
            r => r,
        }
        .context("receiving a sync message")?;
        if truncated {
            bail!("sync: a message longer than {MAX_MESSAGE} bytes was cut");
        }
        if n == 0 {
            return Ok(None);
        }
        let w = crate::json::from_bytes(&buf[..n]).context("decoding a sync message")?;
        Ok(Some((w, fd)))
    }
}

/// The parent's end.
pub struct ParentEnd(End);

/// The child's end.
pub struct ChildEnd(End);

/// A connected pair (close-on-exec), one end for each side of the fork.
pub fn pair() -> Result<(ParentEnd, ChildEnd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out array of two ints.
    sys::cvt(unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
    })
    .context("creating the sync socket pair")?;
    Ok((ParentEnd(End(sys::owned(fds[0])?)), ChildEnd(End(sys::owned(fds[1])?))))
}

/// Rebuilds a child's error with its whole chain of contexts.
fn error_from(chain: Vec<String>) -> anyhow::Error {
    let mut parts = chain.into_iter().rev();
    let mut e = anyhow::anyhow!(parts.next().unwrap_or_else(|| "unknown error".into()));
    for outer in parts {
        e = e.context(outer);
    }
    e
}

impl ParentEnd {
    pub fn raw(&self) -> RawFd {
        self.0 .0.as_raw_fd()
    }

    pub fn send(&self, o: Order) -> Result<()> {
        let w = match o {
            Order::Go { host_pid } => Wire::Go { host_pid },
            Order::Placed => Wire::Placed,
            Order::Made => Wire::Made,
            Order::MapsDone => Wire::MapsDone,
            Order::HooksDone => Wire::HooksDone,
        };
        self.0.send(&w, None)
    }

    /// Sends `o`; when the child has ended already (it failed while the
    /// parent worked beside it), its own error instead of a broken pipe.
    pub fn send_or_why(&self, o: Order) -> Result<()> {
        let Err(e) = self.send(o) else { return Ok(()) };
        let gone = e
            .root_cause()
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| matches!(io.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)));
        if !gone {
            return Err(e);
        }
        // What it said before its error (Moved) is passed over.
        while self.next()?.is_some() {}
        Err(ChildExited.into())
    }

    /// The child's error if it has sent one already, without waiting: with
    /// init running ahead (`Setup::go_late`), a step of the parent's that
    /// failed because init died meanwhile (its OOM score: no mm) says less.
    pub fn pending_error(&self) -> Option<anyhow::Error> {
        loop {
            if self.0.pending(libc::POLLIN) == 0 {
                return None;
            }
            match self.next() {
                Ok(Some(_)) => {}
                Ok(None) => return Some(ChildExited.into()),
                Err(e) => return Some(e),
            }
        }
    }

    /// The child's next report; its error (with its chain) becomes ours, and
    /// a closed pair is [`ChildExited`].
    pub fn recv(&self) -> Result<Received> {
        self.next()?.ok_or_else(|| ChildExited.into())
    }

    /// The child's next report, or `None` once the pair is closed (no
    /// error made where closing is the good outcome: an error costs a
    /// backtrace walk when RUST_BACKTRACE is set).
    fn next(&self) -> Result<Option<Received>> {
        let Some((w, fd)) = self.0.recv()? else { return Ok(None) };
        Ok(Some(match (w, fd) {
            (Wire::Moved, _) => Received::Moved,
            (Wire::MapsPlease, _) => Received::MapsPlease,
            (Wire::InitPid(p), _) => Received::InitPid(p),
            (Wire::HooksPlease, _) => Received::HooksPlease,
            (Wire::Listener, Some(fd)) => Received::Listener(fd),
            (Wire::Ready, fd) => Received::Ready(fd),
            (Wire::Error(chain), _) => return Err(error_from(chain)),
            (other, _) => bail!("sync: the child sent {other:?}"),
        }))
    }

    /// Waits for the child's word that it moved itself into its cgroups.
    pub fn expect_moved(&self) -> Result<()> {
        match self.recv()? {
            Received::Moved => Ok(()),
            other => bail!("sync: expected Moved, got {other:?}"),
        }
    }

    /// After `Ready` of an exec child that has let us go (`vfork`): it has
    /// passed execve's point of no return, or it has ended, having sent the
    /// error first. So an error is here now or never: no wait (which would
    /// last until execve closes the child's end, and wake us once more while
    /// the process starts).
    pub fn exec_outcome_now(&self) -> Result<()> {
        if self.0.pending(libc::POLLIN) == 0 {
            return Ok(());
        }
        self.wait_exec()
    }

    /// After `Ready` of an exec: the pair closes when execve succeeds; an
    /// error arrives when it fails.
    pub fn wait_exec(&self) -> Result<()> {
        match self.next()? {
            None => Ok(()),
            Some(r) => bail!("sync: unexpected {r:?} after Ready"),
        }
    }
}

impl ChildEnd {
    pub fn raw(&self) -> RawFd {
        self.0 .0.as_raw_fd()
    }

    pub fn send(&self, r: Report) -> Result<()> {
        let (w, fd) = match r {
            Report::Moved => (Wire::Moved, None),
            Report::MapsPlease => (Wire::MapsPlease, None),
            Report::InitPid(p) => (Wire::InitPid(p), None),
            Report::HooksPlease => (Wire::HooksPlease, None),
            Report::Listener(fd) => (Wire::Listener, Some(fd.as_raw_fd())),
            Report::Ready(fd) => (Wire::Ready, fd.map(|f| f.as_raw_fd())),
        };
        self.0.send(&w, fd)
    }

    /// Tells the parent why this child gives up (outermost context first).
    pub fn fail(&self, e: &anyhow::Error) {
        let chain = e.chain().map(|c| c.to_string()).collect();
        let _ = self.0.send(&Wire::Error(chain), None);
    }

    pub fn recv(&self) -> Result<Order> {
        let Some((w, _)) = self.0.recv()? else { bail!("the parent exited during setup") };
        Ok(match w {
            Wire::Go { host_pid } => Order::Go { host_pid },
            Wire::Placed => Order::Placed,
            Wire::Made => Order::Made,
            Wire::MapsDone => Order::MapsDone,
            Wire::HooksDone => Order::HooksDone,
            other => bail!("sync: the parent sent {other:?}"),
        })
    }

    /// Waits for one exact order.
    pub fn expect(&self, want: Order) -> Result<()> {
        match self.recv()? {
            o if o == want => Ok(()),
            other => bail!("sync: expected {want:?}, got {other:?}"),
        }
    }

    /// Whether the parent's end is closed (it died).
    fn parent_gone(&self) -> bool {
        self.0.pending(libc::POLLRDHUP) & (libc::POLLHUP | libc::POLLRDHUP) != 0
    }

    /// Dies with the parent: the parent-death signal, and a check that the
    /// parent did not die before it was set.
    pub fn tie_to_parent(&self) -> Result<()> {
        sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)?;
        if self.parent_gone() {
            bail!("the parent exited during setup");
        }
        Ok(())
    }
}

/// Runs a forked child's work; an error goes to the parent and the child
/// leaves with `code` (without the parent's destructors).
pub fn child_main(ch: &ChildEnd, code: i32, work: impl FnOnce() -> Result<std::convert::Infallible>) -> ! {
    let err = match work() {
        Ok(never) => match never {},
        Err(e) => e,
    };
    ch.fail(&err);
    // SAFETY: _exit ends this forked child without running the parent's destructors.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_childs_error_keeps_its_chain() {
        let (parent, child) = pair().unwrap();
        let e = anyhow::anyhow!("EACCES").context("mounts[3]: /a on /b").context("setting up the rootfs");
        child.fail(&e);
        let got = parent.recv().unwrap_err();
        assert_eq!(format!("{got:#}"), "setting up the rootfs: mounts[3]: /a on /b: EACCES");
        assert_eq!(got.chain().count(), 3);
    }

    #[test]
    fn descriptors_ride_with_their_message_and_order_is_checked() {
        let (parent, child) = pair().unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        child.send(Report::Ready(Some(f.as_fd()))).unwrap();
        assert!(matches!(parent.recv().unwrap(), Received::Ready(Some(_))));
        parent.send(Order::Placed).unwrap();
        assert!(child.expect(Order::MapsDone).unwrap_err().to_string().contains("expected MapsDone"));
        drop(child);
        assert!(parent.recv().unwrap_err().is::<ChildExited>());
    }

    #[test]
    fn an_exec_succeeds_when_the_pair_closes_and_fails_with_the_childs_error() {
        let (parent, child) = pair().unwrap();
        drop(child);
        parent.wait_exec().unwrap();
        let (parent, child) = pair().unwrap();
        child.fail(&anyhow::anyhow!("ENOENT").context("executing /nope"));
        assert_eq!(format!("{:#}", parent.wait_exec().unwrap_err()), "executing /nope: ENOENT");
        let (parent, child) = pair().unwrap();
        child.send(Report::Moved).unwrap();
        assert!(parent.wait_exec().unwrap_err().to_string().contains("after Ready"));
    }

    #[test]
    fn a_child_that_failed_with_an_order_unread_is_heard() {
        let (parent, child) = pair().unwrap();
        parent.send(Order::Go { host_pid: 7 }).unwrap();
        child.fail(&anyhow::anyhow!("ENOENT").context("linux.sysctl"));
        drop(child);
        assert_eq!(format!("{:#}", parent.recv().unwrap_err()), "linux.sysctl: ENOENT");
    }

    #[test]
    fn an_order_to_a_child_that_failed_gives_its_error_not_a_broken_pipe() {
        let (parent, child) = pair().unwrap();
        child.send(Report::Moved).unwrap();
        child.fail(&anyhow::anyhow!("EACCES").context("mounts[2]: /x"));
        drop(child);
        let e = parent.send_or_why(Order::Go { host_pid: 7 }).unwrap_err();
        assert_eq!(format!("{e:#}"), "mounts[2]: /x: EACCES");
        let (parent, child) = pair().unwrap();
        drop(child);
        assert!(parent.send_or_why(Order::Made).unwrap_err().is::<ChildExited>());
        let (parent, child) = pair().unwrap();
        parent.send_or_why(Order::Made).unwrap();
        assert!(parent.pending_error().is_none(), "nothing sent yet");
        child.send(Report::Moved).unwrap();
        assert!(parent.pending_error().is_none(), "no error among what was sent");
        child.fail(&anyhow::anyhow!("EINVAL").context("hostname"));
        assert_eq!(format!("{:#}", parent.pending_error().unwrap()), "hostname: EINVAL");
        drop(child);
        assert!(parent.pending_error().unwrap().is::<ChildExited>());
    }

    #[test]
    fn an_oversized_message_is_refused() {
        let (_parent, child) = pair().unwrap();
        let e = anyhow::anyhow!("x".repeat(MAX_MESSAGE + 1));
        let r = child.0.send(&Wire::Error(vec![e.to_string()]), None);
        assert!(r.is_err());
    }

    use std::os::fd::AsFd;
}
