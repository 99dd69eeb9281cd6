//! Sending and receiving one file descriptor with a message (SCM_RIGHTS).

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Room for one control message carrying one descriptor, aligned as
/// cmsghdr wants.
#[repr(C, align(8))]
struct CmsgBuf([u8; 32]);

/// Connects to the unix socket at `path` and sends `fd` with `data`
/// (`--console-socket`, `--pidfd-socket`; `what` names it in errors).
pub fn send_to(path: &std::path::Path, what: &str, data: &[u8], fd: &impl AsRawFd) -> anyhow::Result<()> {
    use anyhow::Context;
    let s = std::os::unix::net::UnixStream::connect(path)
        .with_context(|| format!("connecting to {what} {}", path.display()))?;
    send(&s, data, Some(fd.as_raw_fd())).with_context(|| format!("sending to {what} {}", path.display()))
}

pub fn send(sock: &impl AsRawFd, data: &[u8], fd: Option<RawFd>) -> io::Result<()> {
    let fds = fd.map(|f| [f]);
    let rights = fds.as_ref().map(|f| ControlMessage::ScmRights(f));
    let cmsgs = rights.as_slice();
    loop {
        match sendmsg::<UnixAddr>(sock.as_raw_fd(), &[IoSlice::new(data)], cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(Errno::EINTR) => continue,
            r => return r.map(drop).map_err(io::Error::from),
        }
    }
}

/// Receives one message into `buf`; returns its length (0 at end of stream),
/// the descriptor that came with it, if any, and whether the message was
/// longer than `buf` (the rest is lost: MSG_TRUNC).
pub fn recv(sock: &impl AsRawFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>, bool)> {
    let mut cbuf = CmsgBuf([0; 32]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg::<UnixAddr>(sock.as_raw_fd(), &mut iov, Some(&mut cbuf.0), MsgFlags::MSG_CMSG_CLOEXEC) {
            Err(Errno::EINTR) => continue,
            r => break r?,
        }
    };
    let mut fd = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: the kernel just installed this descriptor in our
                // table for us (MSG_CMSG_CLOEXEC); nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                // One descriptor is expected: any extra is closed here.
                fd.get_or_insert(owned);
            }
        }
    }
    Ok((msg.bytes, fd, msg.flags.contains(MsgFlags::MSG_TRUNC)))
}
