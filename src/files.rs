//! Reading files that a bundle or an image controls (config.json,
//! `--process`, /etc/passwd, /etc/group): regular files only, opened
//! without blocking (a FIFO never stalls berth) and never more than a limit
//! (a link to /dev/zero never eats memory).

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Largest config.json or --process file berth reads.
pub const CONFIG_LIMIT: u64 = 32 << 20;
/// Largest /etc/passwd or /etc/group berth reads from an image.
pub const DB_LIMIT: u64 = 4 << 20;

/// The flags every such open uses.
pub const OPEN_FLAGS: i32 = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;

/// Reads an already opened descriptor: it must be a regular file of at most `limit` bytes.
pub fn read_fd(fd: OwnedFd, limit: u64, what: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::from(fd);
    let meta = file.metadata().with_context(|| format!("{what}: fstat"))?;
    if !meta.file_type().is_file() {
        bail!("{what}: not a regular file");
    }
    if meta.len() > limit {
        bail!("{what}: {} bytes is more than the {limit} berth reads", meta.len());
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut data).with_context(|| format!("{what}: reading"))?;
    if data.len() as u64 > limit {
        bail!("{what}: more than the {limit} bytes berth reads");
    }
    Ok(data)
}

/// Opens `path` for reading as berth reads every file here (without
/// blocking, never as a terminal), beneath `dir` when it is relative.
fn open_at(dir: Option<BorrowedFd>, path: &std::ffi::CStr) -> std::io::Result<std::fs::File> {
    let dir = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: a NUL-terminated path (beneath `dir` when relative), plain flags.
    let fd = unsafe { libc::openat(dir, path.as_ptr(), OPEN_FLAGS | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// [`read_small`] into the caller's buffer, a relative `path` taken
/// beneath `dir`: the number of bytes read, None when the file fills `buf`
/// (or fails). No allocation: `list` reads /proc/PID/stat through it.
pub fn read_small_into(dir: Option<BorrowedFd>, path: &std::ffi::CStr, buf: &mut [u8]) -> Option<usize> {
    let mut f = open_at(dir, path).ok()?;
    loop {
        match f.read(buf) {
            Ok(n) if n < buf.len() => return Some(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => return None,
        }
    }
}

/// Whether `path` exists (following a final link, like `Path::exists`),
/// in one fstatat: std's first failing stat in a process also probes
/// whether statx works, a second system call.
pub fn exists(path: &Path) -> bool {
    std::ffi::CString::new(path.as_os_str().as_bytes()).is_ok_and(|c| exists_at(None, &c))
}

/// Whether `rel` beneath `dir` (or the working directory) exists,
/// following a final link like `Path::exists`.
pub fn exists_at(dir: Option<BorrowedFd>, rel: &std::ffi::CStr) -> bool {
    let dir = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: fstatat writes into a zeroed struct we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: an open directory or AT_FDCWD, a NUL-terminated path, a
    // valid out pointer.
    unsafe { libc::fstatat(dir, rel.as_ptr(), &mut st, 0) == 0 }
}

/// A small kernel file (/proc or cgroupfs: one record, which the kernel
/// gives whole to the first read) read with one open, one read, one close:
/// no stat, no second read for the end. Up to `N` bytes; None when it
/// cannot be read or fills the buffer (then it may be longer). `list`
/// reads two of these per container.
pub fn read_small<const N: usize>(path: &Path) -> Option<([u8; N], usize)> {
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut buf = [0u8; N];
    let n = read_small_into(None, &path, &mut buf)?;
    Some((buf, n))
}

/// A kernel text file (/proc, cgroupfs) read to its end: open, read until
/// a read returns nothing, close. No stat first (these say size 0, and std
/// then starts at 32 bytes and doubles: seven reads for a mountinfo), and
/// a short read is not taken for the end (a seq file gives a page of
/// records at a time).
pub fn read_kernel_text(path: &Path) -> std::io::Result<String> {
    let f = std::fs::File::open(path)?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(4096);
        }
        if read_on(&f, &mut buf)? == 0 {
            break;
        }
    }
    String::from_utf8(buf).map_err(std::io::Error::other)
}

/// One read(2) into `buf`'s spare capacity, appended; gives the count.
/// Not zeroed first: the kernel fills what read reports, and only that is kept.
fn read_on(f: &std::fs::File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    loop {
        let spare = buf.spare_capacity_mut();
        // SAFETY: reads at most spare.len() bytes into memory the Vec owns.
        let n = unsafe { libc::read(f.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
        if n >= 0 {
            // SAFETY: the kernel wrote n bytes right after the initialized ones.
            unsafe { buf.set_len(buf.len() + n as usize) };
            return Ok(n as usize);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A regular file berth wrote itself (state.json), up to `limit` bytes,
/// without a stat: a read that returns less than it asked for has reached
/// the end (POSIX, for regular files), so a file smaller than the first
/// buffer costs one read.
pub fn read_own(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    // Without blocking: a FIFO planted in its place gives an empty read, not a hang.
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)?;
    let mut data = Vec::new();
    read_own_file(f, path, limit, &mut data)?;
    Ok(data)
}

/// [`read_own`] of `rel` beneath the directory `dir`, into `data` (emptied
/// first), whose room is kept from one file to the next: `list` reads
/// every container's record through one, opened from a handle on the
/// state root (no walk of the root's path per container).
pub fn read_own_at(dir: BorrowedFd, rel: &std::ffi::CStr, limit: usize, data: &mut Vec<u8>) -> std::io::Result<()> {
    let f = open_at(Some(dir), rel)?;
    read_own_file(f, Path::new(std::ffi::OsStr::from_bytes(rel.to_bytes())), limit, data)
}

fn read_own_file(f: std::fs::File, path: &Path, limit: usize, data: &mut Vec<u8>) -> std::io::Result<()> {
    data.clear();
    data.reserve(16 << 10);
    loop {
        let room = data.capacity() - data.len();
        if read_on(&f, data)? < room {
            return Ok(());
        }
        if data.len() > limit {
            return Err(std::io::Error::other(format!("{}: more than {limit} bytes", path.display())));
        }
        data.reserve(data.len().min(limit + 1 - data.len()).max(1));
    }
}

/// Opens `path` (following links, as callers expect of config.json) and reads it like [`read_fd`].
pub fn read_path(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let what = path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .with_context(|| format!("reading {what}"))?;
    read_fd(file.into(), limit, &what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_reads_take_the_whole_file_or_nothing() {
        let dir = std::env::temp_dir().join(format!("berth-small-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f"), b"hello").unwrap();
        let (b, n) = read_small::<8>(&dir.join("f")).unwrap();
        assert_eq!(&b[..n], b"hello");
        assert!(read_small::<4>(&dir.join("f")).is_none(), "longer than the buffer");
        assert!(read_small::<8>(&dir.join("missing")).is_none());
        let (b, n) = read_small::<4096>(Path::new("/proc/self/stat")).unwrap();
        assert!(std::str::from_utf8(&b[..n]).unwrap().contains(')'));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kernel_text_is_read_to_its_end() {
        // A seq file longer than one read's page, and one that fits in it.
        for p in ["/proc/self/maps", "/proc/self/mountinfo", "/proc/self/status"] {
            // maps changes while other test threads map memory: compare line
            // counts, and only of a read that std's reads on both sides agree with.
            let lines = |t: String| t.lines().count();
            let agreed = (0..20).any(|_| {
                let before = lines(std::fs::read_to_string(p).unwrap());
                let ours = lines(read_kernel_text(Path::new(p)).unwrap());
                let after = lines(std::fs::read_to_string(p).unwrap());
                before == after && ours == before
            });
            assert!(agreed, "{p}: read_kernel_text never agreed with a whole read");
        }
        let dir = std::env::temp_dir().join(format!("berth-kt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data = "x".repeat(10_000);
        std::fs::write(dir.join("f"), &data).unwrap();
        assert_eq!(read_kernel_text(&dir.join("f")).unwrap(), data);
        assert!(read_kernel_text(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn own_files_read_whole_at_every_size() {
        let dir = std::env::temp_dir().join(format!("berth-own-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for len in [0usize, 1, 16 << 10, (16 << 10) + 1, 100_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(dir.join("f"), &data).unwrap();
            assert_eq!(read_own(&dir.join("f"), 1 << 20).unwrap(), data, "{len} bytes");
        }
        assert!(read_own(&dir.join("f"), 50_000).is_err(), "over the limit");
        assert!(read_own(&dir.join("missing"), 10).is_err());
        let fifo = std::ffi::CString::new(dir.join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: fifo is a valid path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert_eq!(read_own(&dir.join("fifo"), 10).unwrap(), b"", "a FIFO must not block");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_devices_fifos_and_big_files() {
        assert!(read_path(Path::new("/dev/zero"), 10).unwrap_err().to_string().contains("not a regular file"));
        let dir = std::env::temp_dir().join(format!("berth-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: c is a valid path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read_path(&fifo, 10).unwrap_err().to_string().contains("not a regular file"));
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; 11]).unwrap();
        assert!(read_path(&big, 10).is_err());
        assert_eq!(read_path(&big, 11).unwrap().len(), 11);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
