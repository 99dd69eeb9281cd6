//! sd_notify through a container. When berth runs with `NOTIFY_SOCKET` set
//! (a systemd service of Type=notify, `podman --sdnotify=container`),
//! create bind-mounts a directory of the state dir into the container and
//! points the process's `NOTIFY_SOCKET` at a socket there; start binds that
//! socket, lets the process run, waits for its `READY=1` and passes it on
//! to berth's own `NOTIFY_SOCKET` with `MAINPID` set to the container's init
//! as the host sees it.

use crate::linux::sys;
use anyhow::{Context, Result};
use std::os::fd::AsFd;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};

/// The directory under the container's state dir that the container sees.
pub const DIR: &str = "notify";
const SOCKET: &str = "notify.sock";
/// Where the socket appears in the container when its env does not say.
pub const DEFAULT_INNER: &str = "/run/notify/notify.sock";

/// berth's own `NOTIFY_SOCKET`: where READY=1 goes.
pub fn host_socket() -> Option<String> {
    std::env::var("NOTIFY_SOCKET").ok().filter(|s| !s.is_empty())
}

/// The socket's path inside the container: the config's NOTIFY_SOCKET if
/// its env has one, else runc's default.
pub fn inner_path(env: &[String]) -> String {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix("NOTIFY_SOCKET="))
        .filter(|p| p.starts_with('/'))
        .unwrap_or(DEFAULT_INNER)
        .to_string()
}

/// Makes the directory the container will see (create).
pub fn make_dir(state_dir: &Path) -> Result<PathBuf> {
    let dir = state_dir.join(DIR);
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// Binds the container's socket (start), when create made its directory.
pub fn listen(state_dir: &Path) -> Result<Option<UnixDatagram>> {
    let dir = state_dir.join(DIR);
    if !dir.is_dir() {
        return Ok(None);
    }
    let path = dir.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    // Any user in the container may report: the socket is made 0777 by
    // binding under an empty umask. Never a chmod by path afterwards — the
    // container can write in this directory, and a chmod follows a link it
    // could put there in between.
    use nix::sys::stat::{umask, Mode};
    let old = umask(Mode::empty());
    let bound = UnixDatagram::bind(&path);
    umask(old);
    Ok(Some(bound.with_context(|| format!("binding {}", path.display()))?))
}

/// What to tell the host for one datagram from the container: None until
/// it says READY=1; then its lines with MAINPID set to `pid`.
pub fn forwarded(msg: &str, pid: i32) -> Option<String> {
    if !msg.lines().any(|l| l == "READY=1") {
        return None;
    }
    let mut out: String =
        msg.lines().filter(|l| !l.is_empty() && !l.starts_with("MAINPID=")).map(|l| format!("{l}\n")).collect();
    out.push_str(&format!("MAINPID={pid}\n"));
    Some(out)
}

fn send_to_host(host: &str, text: &str) -> Result<()> {
    let out = UnixDatagram::unbound()?;
    let r = match host.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
            out.send_to_addr(text.as_bytes(), &addr)
        }
        None => out.send_to(text.as_bytes(), host),
    };
    r.with_context(|| format!("NOTIFY_SOCKET: sending READY=1 to {host}"))?;
    Ok(())
}

/// Waits for the container's READY=1 and passes it on; returns early (with
/// nothing sent) when the container's init exits first.
pub fn relay_ready(sock: &UnixDatagram, host: &str, pid: i32) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let pidfd = sys::pidfd_open(pid).context("watching the container's init")?;
    let mut buf = vec![0u8; 4096];
    loop {
        let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN), PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => {
                r.context("waiting for READY=1")?;
            }
        }
        if fds[0].any().unwrap_or(false) {
            let n = sock.recv(&mut buf).context("reading the container's notification")?;
            if let Some(text) = forwarded(&String::from_utf8_lossy(&buf[..n]), pid) {
                return send_to_host(host, &text);
            }
            continue;
        }
        if fds[1].any().unwrap_or(false) {
            crate::log::debug("NOTIFY_SOCKET: the container's init exited before it said READY=1");
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inner_path_comes_from_the_env() {
        assert_eq!(inner_path(&[]), DEFAULT_INNER);
        assert_eq!(inner_path(&["NOTIFY_SOCKET=/x/s".into()]), "/x/s");
        assert_eq!(inner_path(&["NOTIFY_SOCKET=@abstract".into()]), DEFAULT_INNER);
    }

    #[test]
    fn ready_gets_the_host_pid() {
        assert_eq!(forwarded("STATUS=starting", 42), None);
        assert_eq!(forwarded("READY=1\nMAINPID=1\nSTATUS=up", 42).unwrap(), "READY=1\nSTATUS=up\nMAINPID=42\n");
    }
}
