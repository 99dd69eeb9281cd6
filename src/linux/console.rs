//! The container's terminal: a pty from the container's devpts, its slave
//! as stdio and /dev/console, its master handed to the caller.

use super::inroot::{NodeKind, Root};
use super::sys;
use anyhow::{Context, Result};
use nix::sys::termios;
use nix::unistd::{fchown, Gid, Uid};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

/// Opens a new pty in the container (after pivot_root), makes its slave our
/// controlling terminal and stdio, and with `as_console` also the
/// container's /dev/console; returns the master.
pub fn setup(size: Option<(u16, u16)>, as_console: bool, uid: u32) -> Result<OwnedFd> {
    let master = sys::open(Path::new("/dev/ptmx"), libc::O_RDWR | libc::O_NOCTTY, 0).context("opening /dev/ptmx")?;
    let mut n: libc::c_int = 0;
    // SAFETY: ioctls on the master we own, with valid out pointers.
    unsafe {
        let unlock: libc::c_int = 0;
        sys::cvt(libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock)).context("unlocking the pty")?;
        sys::cvt(libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n)).context("reading the pty number")?;
    }
    if let Some((rows, cols)) = size {
        set_size(&master, rows, cols)?;
    }
    let slave_path = format!("/dev/pts/{n}");
    let slave = sys::open(Path::new(&slave_path), libc::O_RDWR | libc::O_NOCTTY, 0)
        .with_context(|| format!("opening {slave_path}"))?;
    // The process's own terminal, group tty (5) as devpts gives it; without
    // that group mapped (a user namespace) the group stays.
    let owner = Some(Uid::from_raw(uid));
    if fchown(&slave, owner, Some(Gid::from_raw(TTY_GID))).is_err() {
        fchown(&slave, owner, None).with_context(|| format!("process.user.uid: giving {slave_path} to {uid}"))?;
    }
    no_onlcr(&slave)?;
    if as_console {
        let root = Root::open(Path::new("/"))?;
        let console = root.ensure("/dev/console", NodeKind::File).context("creating /dev/console")?;
        sys::mount(Some(&slave_path), &sys::fd_path(&console), None, libc::MS_BIND, None)
            .context("binding /dev/console")?;
    }
    nix::unistd::setsid().context("setsid")?;
    // SAFETY: an ioctl with an integer argument on a descriptor we own.
    sys::cvt(unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) })
        .context("setting the controlling terminal")?;
    nix::unistd::dup2_stdin(&slave).context("dup2 of the pty")?;
    nix::unistd::dup2_stdout(&slave).context("dup2 of the pty")?;
    nix::unistd::dup2_stderr(&slave).context("dup2 of the pty")?;
    Ok(master)
}

const TTY_GID: u32 = 5;

/// Output as written: no "\n" to "\r\n" translation (runc clears ONLCR too).
fn no_onlcr(fd: &impl AsFd) -> Result<()> {
    let mut t = termios::tcgetattr(fd).context("reading the terminal settings")?;
    t.output_flags.remove(termios::OutputFlags::ONLCR);
    termios::tcsetattr(fd, termios::SetArg::TCSANOW, &t).context("clearing ONLCR")?;
    Ok(())
}

pub fn set_size(fd: &impl AsRawFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: ws is a valid winsize.
    sys::cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).context("setting the terminal size")?;
    Ok(())
}

/// Hands the pty master to whoever listens on `--console-socket`.
pub fn send_to_socket(socket: &Path, master: &OwnedFd) -> Result<()> {
    super::fdpass::send_to(socket, "console socket", b"/dev/ptmx", master)
}
