//! Reading facts about processes from /proc, and writing to procfs only
//! through handles berth verified itself.

use super::sys;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const PROC_ROOT_INO: u64 = 1;

fn is_procfs(fd: &impl AsRawFd) -> io::Result<bool> {
    // SAFETY: fstatfs writes into a zeroed struct we own.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open and st a valid out pointer.
    sys::cvt(unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st.f_type == PROC_SUPER_MAGIC)
}

fn not_procfs(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, format!("{what} is not on procfs"))
}

/// The root of a procfs that berth verified. Files are opened beneath it
/// without following any link and without crossing into another mount, so
/// a bind mount or a symlink put there by someone else is refused, never
/// written through (the CVE-2025-52881 class of attacks).
pub struct Proc {
    root: OwnedFd,
}

impl Proc {
    /// The host's /proc, as the parent sees it.
    pub fn host() -> io::Result<Proc> {
        Proc::mounted(Path::new("/proc"))
    }

    /// The procfs mounted at `path` (inside a container: its own /proc),
    /// verified to be the root of a procfs.
    pub fn mounted(path: &Path) -> io::Result<Proc> {
        let root = sys::open(path, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
        let st = sys::fstat(&root)?;
        if !is_procfs(&root)? || st.st_ino != PROC_ROOT_INO {
            return Err(not_procfs(&path.to_string_lossy()));
        }
        Ok(Proc { root })
    }

    /// A fresh procfs instance for the calling process's pid namespace,
    /// mounted nowhere (fsopen + fsmount): nothing in the container can
    /// reach it, let alone cover a file in it.
    pub fn private() -> io::Result<Proc> {
        let name = sys::cstr("proc")?;
        // SAFETY: fsopen with a valid name and FSOPEN_CLOEXEC.
        let fs = sys::owned(unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), 1) } as i32)?;
        // SAFETY: FSCONFIG_CMD_CREATE (6) takes no key or value.
        let r = unsafe {
            libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), 6, std::ptr::null::<u8>(), std::ptr::null::<u8>(), 0)
        };
        sys::cvt(r as i32)?;
        // SAFETY: fsmount with FSMOUNT_CLOEXEC and no attributes.
        let root = sys::owned(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), 1, 0) } as i32)?;
        if !is_procfs(&root)? {
            return Err(not_procfs("the new proc instance"));
        }
        Ok(Proc { root })
    }

    /// Opens `rel` (e.g. `sys/net/ipv4/ip_forward`, `1234/uid_map`) beneath
    /// the root: no symlinks, no magic links, no mount crossings, and the
    /// file itself must be procfs.
    pub fn open(&self, rel: &str, flags: i32) -> io::Result<OwnedFd> {
        let resolve =
            sys::RESOLVE_BENEATH | sys::RESOLVE_NO_SYMLINKS | sys::RESOLVE_NO_MAGICLINKS | sys::RESOLVE_NO_XDEV;
        let fd = sys::openat2(&self.root, rel, flags | libc::O_NOFOLLOW, 0, resolve)?;
        if !is_procfs(&fd)? {
            return Err(not_procfs(rel));
        }
        Ok(fd)
    }

    /// Writes `data` to `rel` in one write, as procfs files want.
    pub fn write(&self, rel: &str, data: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let fd = self.open(rel, libc::O_WRONLY)?;
        std::fs::File::from(fd).write_all(data)
    }
}

/// (state letter, start time in clock ticks) of `pid`, from /proc/PID/stat.
pub fn stat(pid: i32) -> Option<(char, u64)> {
    stat_in(None, pid)
}

/// [`stat`] from `proc`, a handle on /proc (`list` opens one for all its
/// containers), or from `/proc` by path when None.
pub fn stat_in(proc: Option<BorrowedFd>, pid: i32) -> Option<(char, u64)> {
    // `list` asks this of every container: the path is built in a stack
    // buffer and the file read with plain system calls (std's open, the
    // formatting and a returned array cost more than the kernel's read).
    let mut path = [0u8; 32];
    let mut n = 0;
    if proc.is_none() {
        path[..6].copy_from_slice(b"/proc/");
        n = 6;
    }
    n += write_decimal(&mut path[n..], u32::try_from(pid).ok().filter(|&p| p > 0)?);
    path[n..n + 6].copy_from_slice(b"/stat\0");
    let path = std::ffi::CStr::from_bytes_until_nul(&path).ok()?;
    // The line is some 300 bytes, but its 52 numbers may reach ~1000 (large
    // counters, addresses, rsslim's 20 digits); a line that does not fit
    // reads as no process, which would make a running container stopped.
    let mut buf = [0u8; 1024];
    let len = crate::files::read_small_into(proc, path, &mut buf)?;
    parse_stat(&buf[..len])
}

/// Writes `v` in decimal at the start of `out` (room for 10 digits); the
/// number of bytes written.
fn write_decimal(out: &mut [u8], mut v: u32) -> usize {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let d = &digits[i..];
    out[..d.len()].copy_from_slice(d);
    d.len()
}

/// The state letter and start time (field 22) of a /proc/PID/stat line.
pub fn parse_stat(line: &[u8]) -> Option<(char, u64)> {
    // The command name may hold spaces and parentheses: split after the
    // last ')'. memchr's portable word-at-a-time search: its top-level
    // functions detect the CPU's features on their first call, a dozen
    // CPUID traps on a virtual machine (~20 µs of every exec here).
    let at = memchr::arch::all::memchr::One::new(b')').rfind(line)?;
    let rest = line.get(at + 2..)?;
    let state = *rest.first()?;
    // Field 22 of the whole line is the 20th after "pid (comm)": after the 19th space.
    let mut spaces = 0;
    let from = rest.iter().position(|&c| {
        spaces += usize::from(c == b' ');
        spaces == 19
    })? + 1;
    let field = &rest[from..];
    let field = &field[..field.iter().position(|&c| c == b' ' || c == b'\n').unwrap_or(field.len())];
    if field.is_empty() || field.len() > 20 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let start = field.iter().try_fold(0u64, |a, &c| a.checked_mul(10)?.checked_add(u64::from(c - b'0')))?;
    Some((char::from(state), start))
}

/// Whether `pid` is the same, still living process that started at `start`.
pub fn alive(pid: i32, start: u64) -> bool {
    live_state(pid, start).is_some()
}

/// The state letter of `pid` if it is the same, still living process that
/// started at `start`.
pub fn live_state(pid: i32, start: u64) -> Option<char> {
    live_state_in(None, pid, start)
}

/// [`live_state`], reading from `proc` as [`stat_in`] does.
pub fn live_state_in(proc: Option<BorrowedFd>, pid: i32, start: u64) -> Option<char> {
    match stat_in(proc, pid) {
        Some((st, s)) if s == start && st != 'Z' && st != 'X' => Some(st),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_odd_command_names() {
        let line = "42 (a b) c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(parse_stat(line.as_bytes()), Some(('S', 123456)));
        assert_eq!(parse_stat(b"42 (x) S 1"), None);
        assert_eq!(parse_stat(b"42 (x)"), None);
        let tail = " 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0";
        assert_eq!(parse_stat(format!("7 (y) R{tail} 99\n").as_bytes()), Some(('R', 99)));
        assert_eq!(parse_stat(format!("7 (y) R{tail} 9x 1").as_bytes()), None);
        assert_eq!(parse_stat(format!("7 (y) R{tail} 99999999999999999999999 1").as_bytes()), None);
        // The longest name the kernel prints (a workqueue worker's, 63
        // bytes, with parentheses), and a longer one full of them.
        let worker = format!("4194304 (kworker/u8:2-{}) I{tail} 77 5", ")".repeat(48));
        assert_eq!(parse_stat(worker.as_bytes()), Some(('I', 77)));
        let long = format!("7 ({}) D{tail} 88 5", "x)".repeat(100));
        assert_eq!(parse_stat(long.as_bytes()), Some(('D', 88)));
    }

    #[test]
    fn stat_of_this_process_and_of_no_process() {
        let me = std::process::id() as i32;
        let (state, start) = stat(me).unwrap();
        assert!("RSD".contains(state), "{state}");
        let text = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
        let field22 = text.rsplit_once(')').unwrap().1.split(' ').nth(20).unwrap();
        assert_eq!(start.to_string(), field22);
        assert_eq!(stat(0), None);
        assert_eq!(stat(-1), None);
        assert_eq!(stat(i32::MAX), None);
        let mut b = [0u8; 10];
        let n = write_decimal(&mut b, u32::MAX);
        assert_eq!(&b[..n], b"4294967295");
        let n = write_decimal(&mut b, 0);
        assert_eq!(&b[..n], b"0");
    }

    #[test]
    fn writes_go_to_verified_procfs_only() {
        let p = Proc::host().unwrap();
        let me = std::process::id();
        let adj = std::fs::read_to_string(format!("/proc/{me}/oom_score_adj")).unwrap();
        p.write(&format!("{me}/oom_score_adj"), adj.trim().as_bytes()).unwrap();
        // "self" is a symlink: refused, never followed.
        assert!(p.open("self/oom_score_adj", libc::O_WRONLY).is_err());
        assert!(p.open("../etc/passwd", libc::O_RDONLY).is_err());
    }

    #[test]
    fn own_process_is_alive() {
        let me = std::process::id() as i32;
        let (_, start) = stat(me).unwrap();
        assert!(alive(me, start));
        assert!(!alive(me, start + 1));
    }
}
