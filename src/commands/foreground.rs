//! A container process in the foreground: signals forwarded to it, the
//! caller's terminal relayed to its pty, its exit status returned.

use anyhow::{Context, Result};
use berth::linux::{console, sys};
use std::os::fd::{AsRawFd, OwnedFd};

struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        // SAFETY: tcgetattr/tcsetattr on stdin with valid termios structs.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawMode { saved: None };
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawMode { saved: Some(saved) }
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            // SAFETY: restoring the termios read in enter().
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

fn signalfd() -> Result<(OwnedFd, libc::sigset_t)> {
    // SAFETY: building a full signal set and blocking it for this process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for s in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGABRT] {
            libc::sigdelset(&mut set, s);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        sys::cvt(libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old)).context("blocking signals")?;
        let fd = sys::owned(libc::signalfd(-1, &set, libc::SFD_CLOEXEC)).context("signalfd")?;
        Ok((fd, old))
    }
}

/// Copies what is readable on `from` to `to`; false at end of input.
fn pump(from: i32, to: i32) -> bool {
    let mut buf = [0u8; 8192];
    // SAFETY: reading into and writing from a valid local buffer.
    let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return false;
    }
    let mut off = 0;
    while off < n as usize {
        // SAFETY: as above.
        let w = unsafe { libc::write(to, buf[off..].as_ptr().cast(), n as usize - off) };
        if w <= 0 {
            return false;
        }
        off += w as usize;
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
    while status.is_none() {
        let mut fds = vec![libc::pollfd { fd: sfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if let Some(m) = &pty {
            fds.push(libc::pollfd { fd: m.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            fds.push(libc::pollfd { fd: if stdin_open { 0 } else { -1 }, events: libc::POLLIN, revents: 0 });
        }
        // SAFETY: fds is a valid pollfd array.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
            continue;
        }
        if let Some(m) = &pty {
            if fds[1].revents != 0 && !pump(m.as_raw_fd(), 1) {
                // The slave side closed: nothing more to show.
            }
            if fds[2].revents != 0 && !pump(0, m.as_raw_fd()) {
                stdin_open = false;
            }
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // SAFETY: reading one signalfd_siginfo into a zeroed struct.
            let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: si is valid for `size` bytes.
            let n = unsafe { libc::read(sfd.as_raw_fd(), (&mut si as *mut libc::signalfd_siginfo).cast(), size) };
            if n as usize != size {
                continue;
            }
            match si.ssi_signo as i32 {
                libc::SIGCHLD => {
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
    }
    if let Some(m) = &pty {
        while pump(m.as_raw_fd(), 1) {}
    }
    // SAFETY: restoring the mask saved in signalfd().
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
    Ok(status.unwrap_or(0))
}
