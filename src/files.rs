//! Reading files that a bundle or an image controls (config.json,
//! `--process`, /etc/passwd, /etc/group): regular files only, opened
//! without blocking (a FIFO never stalls berth) and never more than a limit
//! (a link to /dev/zero never eats memory).

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::os::fd::OwnedFd;
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

/// A small file read without a stat: open, read to the end, close (a
/// /proc or cgroup file gives its content to the first read). Up to `N`
/// bytes; None when it cannot be read or is longer. `list` reads three of
/// these per container.
pub fn read_small<const N: usize>(path: &Path) -> Option<([u8; N], usize)> {
    let mut f =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path).ok()?;
    let mut buf = [0u8; N];
    let mut len = 0;
    while len < N {
        match f.read(&mut buf[len..]) {
            Ok(0) => return Some((buf, len)),
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
    None
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
