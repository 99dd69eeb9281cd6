//! A container process in the foreground: signals forwarded to it, the
//! caller's terminal relayed to its pty, its exit status returned.

use anyhow::{Context, Result};
use berth::linux::{console, sys};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = termios::tcgetattr(&stdin) else { return RawMode { saved: None } };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, t);
        }
    }
}

/// Every signal but the synchronous ones blocked and readable from a
/// signalfd; returns it with the mask to restore.
fn signalfd() -> Result<(SignalFd, SigSet)> {
    let mut set = SigSet::all();
    for s in [Signal::SIGSEGV, Signal::SIGBUS, Signal::SIGILL, Signal::SIGFPE, Signal::SIGABRT] {
        set.remove(s);
    }
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).context("blocking signals")?;
    let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).context("signalfd")?;
    Ok((fd, old))
}

/// Copies what is readable on `from` to `to`; false at end of input.
fn pump(from: BorrowedFd, to: BorrowedFd) -> bool {
    let mut buf = [0u8; 8192];
    let n = match nix::unistd::read(from, &mut buf) {
        Ok(n) if n > 0 => n,
        _ => return false,
    };
    let mut off = 0;
    while off < n {
        match nix::unistd::write(to, &buf[off..n]) {
            Ok(w) if w > 0 => off += w,
            _ => return false,
        }
    }
    true
}

fn copy_winsize(master: &OwnedFd) {
    // SAFETY: TIOCGWINSZ into a valid winsize.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            let _ = console::set_size(master, ws.ws_row, ws.ws_col);
        }
    }
}

/// Forwards signals to `pid` (and the terminal, if any) until it exits.
pub fn wait(pid: i32, pty: Option<OwnedFd>) -> Result<i32> {
    let (sfd, old_mask) = signalfd()?;
    // Its SIGCHLD may have come before the signalfd.
    berth::linux::exeseal::reap_helper();
    let _raw = pty.as_ref().map(|m| {
        copy_winsize(m);
        RawMode::enter()
    });
    let mut stdin_open = pty.is_some();
    // The container may have exited before the signalfd existed.
    let mut status = match sys::waitpid(pid, libc::WNOHANG) {
        Ok((p, st)) if p == pid => Some(sys::exit_code(st)),
        _ => None,
    };
    let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
    while status.is_none() {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &pty {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        if let Some(m) = &pty {
            // A false pump from the master: the slave side closed, nothing
            // more to show.
            if ready[1] {
                pump(m.as_fd(), stdout.as_fd());
            }
            if ready.get(2) == Some(&true) && !pump(stdin.as_fd(), m.as_fd()) {
                stdin_open = false;
            }
        }
        if !ready[0] {
            continue;
        }
        let Ok(Some(si)) = sfd.read_signal() else { continue };
        match si.ssi_signo as i32 {
            libc::SIGCHLD => {
                berth::linux::exeseal::reap_helper();
                if let Ok((p, st)) = sys::waitpid(pid, libc::WNOHANG) {
                    if p == pid {
                        status = Some(sys::exit_code(st));
                    }
                }
            }
            libc::SIGWINCH if pty.is_some() => copy_winsize(pty.as_ref().expect("checked by the guard")),
            sig => {
                let _ = sys::kill(pid, sig);
            }
        }
    }
    if let Some(m) = &pty {
        while pump(m.as_fd(), stdout.as_fd()) {}
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    Ok(status.unwrap_or(0))
}
