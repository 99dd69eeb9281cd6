//! Path resolution scoped to the container's root filesystem.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT), so `..` and symlinks
//! (absolute or relative) can never lead outside the rootfs, whatever the
//! image contains.

use super::sys::{cstr, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

fn readlinkat(dir: &OwnedFd, name: &std::ffi::CStr) -> io::Result<PathBuf> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: buf is valid for its length; dir is a directory handle.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(std::ffi::OsString::from_vec(buf)))
}

pub struct Root {
    fd: OwnedFd,
}

/// What kind of node a mount target must be.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeKind {
    Dir,
    File,
}

impl Root {
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = super::sys::open(path, libc::O_PATH | libc::O_DIRECTORY, 0)?;
        Ok(Root { fd })
    }

    /// Opens `rel` (absolute paths are taken as relative to the root).
    pub fn open_at(&self, rel: &str, flags: i32, mode: u32) -> io::Result<OwnedFd> {
        let rel = rel.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        super::sys::openat2(&self.fd, rel, flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    }

    /// An O_PATH handle on `rel`.
    pub fn handle(&self, rel: &str) -> io::Result<OwnedFd> {
        self.open_at(rel, libc::O_PATH, 0)
    }

    /// Creates every missing directory of `rel` (mode 0755) and returns a
    /// handle on the last one. A dangling symlink on the way is followed
    /// (inside the root) and its target created, as runc does.
    pub fn mkdir_all(&self, rel: &str) -> io::Result<OwnedFd> {
        // Mostly it exists (an image's /proc, /dev): one lookup, the same
        // one the walk below ends with.
        if let Ok(fd) = self.open_at(rel, libc::O_PATH | libc::O_DIRECTORY, 0) {
            return Ok(fd);
        }
        // Else mostly only the last level is missing (dev/pts in a new
        // /dev): made in its parent; anything else takes the walk.
        if let Some(fd) = self.mkdir_last(rel) {
            return Ok(fd);
        }
        self.mkdir_all_depth(Path::new(rel), 0)
    }

    /// `rel`'s last directory made in its existing parent, or None to
    /// leave it to the walk (a missing parent, a `..`, a dangling link).
    fn mkdir_last(&self, rel: &str) -> Option<OwnedFd> {
        let p = Path::new(rel);
        if p.components().any(|c| c == Component::ParentDir) {
            return None;
        }
        let name = cstr(p.file_name()?).ok()?;
        let parent = self.open_at(&p.parent()?.to_string_lossy(), libc::O_PATH | libc::O_DIRECTORY, 0).ok()?;
        // SAFETY: parent is a directory handle, name a valid one-component string.
        if unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) } != 0 {
            return None;
        }
        self.open_at(rel, libc::O_PATH | libc::O_DIRECTORY, 0).ok()
    }

    fn mkdir_all_depth(&self, rel: &Path, depth: u32) -> io::Result<OwnedFd> {
        if depth > 40 {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let comps: Vec<Component> = rel.components().collect();
        let mut cur = self.handle("/")?;
        let mut walked = PathBuf::from("/");
        for (i, comp) in comps.iter().enumerate() {
            let name = match comp {
                Component::Normal(n) => *n,
                Component::ParentDir => {
                    walked.push("..");
                    cur = self.handle(&walked.to_string_lossy())?;
                    continue;
                }
                _ => continue,
            };
            let parent = walked.clone();
            walked.push(name);
            let w = walked.to_string_lossy().into_owned();
            cur = match self.open_at(&w, libc::O_PATH | libc::O_DIRECTORY, 0) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let c = cstr(name)?;
                    // SAFETY: cur is a directory handle, c a valid string.
                    if unsafe { libc::mkdirat(cur.as_raw_fd(), c.as_ptr(), 0o755) } == 0 {
                        self.open_at(&w, libc::O_PATH | libc::O_DIRECTORY, 0)?
                    } else {
                        let e = io::Error::last_os_error();
                        if e.raw_os_error() != Some(libc::EEXIST) {
                            return Err(e);
                        }
                        // A dangling symlink: create what it points at, inside the root.
                        let target = readlinkat(&cur, &c)?;
                        let mut next = if target.is_absolute() { target } else { parent.join(target) };
                        for rest in &comps[i + 1..] {
                            next.push(rest.as_os_str());
                        }
                        return self.mkdir_all_depth(&next, depth + 1);
                    }
                }
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }

    /// Makes sure `rel` exists as `kind` (creating parents) and returns an
    /// O_PATH handle on it.
    pub fn ensure(&self, rel: &str, kind: NodeKind) -> io::Result<OwnedFd> {
        if kind == NodeKind::Dir {
            return self.mkdir_all(rel);
        }
        match self.handle(rel) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
            Err(_) => {}
        }
        if let Some(parent) = Path::new(rel).parent() {
            self.mkdir_all(&parent.to_string_lossy())?;
        }
        drop(self.open_at(rel, libc::O_RDONLY | libc::O_CREAT | libc::O_NOCTTY, 0o644)?);
        self.handle(rel)
    }

    /// Splits `rel` into a handle on its (existing or created) parent and the
    /// last component's name.
    pub fn parent_of(&self, rel: &str) -> io::Result<(OwnedFd, std::ffi::CString)> {
        let p = Path::new(rel);
        let name = p
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{rel:?} has no file name")))?;
        let parent = p.parent().map_or("/".into(), |x| x.to_string_lossy().into_owned());
        Ok((self.mkdir_all(&parent)?, cstr(name)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A scratch root with an outside directory beside it.
    fn scratch(name: &str) -> (PathBuf, PathBuf) {
        let base = std::env::temp_dir().join(format!("berth-inroot-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        (root, outside)
    }

    fn real(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(super::super::sys::fd_path(fd)).unwrap()
    }

    #[test]
    fn links_and_dotdot_stay_inside() {
        let (root, outside) = scratch("links");
        std::fs::write(outside.join("secret"), "x").unwrap();
        symlink(&outside, root.join("abs")).unwrap();
        symlink("../../outside", root.join("rel")).unwrap();
        let r = Root::open(&root).unwrap();
        // An absolute link and climbing with .. resolve inside the root: no secret.
        for p in ["abs/secret", "rel/secret", "../outside/secret", "/../../outside/secret"] {
            assert!(r.handle(p).is_err(), "{p} reached outside");
        }
        assert_eq!(real(&r.handle("/..").unwrap()), root, "/.. is the root itself");
        std::fs::remove_dir_all(root.parent().unwrap()).unwrap();
    }

    #[test]
    fn mkdir_all_follows_dangling_links_inside_the_root() {
        let (root, outside) = scratch("mkdir");
        symlink("/made/here", root.join("dangling")).unwrap();
        symlink(&outside, root.join("out")).unwrap();
        let r = Root::open(&root).unwrap();
        let fd = r.mkdir_all("/dangling/sub").unwrap();
        assert_eq!(real(&fd), root.join("made/here/sub"));
        let fd = r.mkdir_all("/out/x").unwrap();
        assert_eq!(real(&fd), root.join(outside.strip_prefix("/").unwrap()).join("x"), "created inside, never outside");
        assert!(!outside.join("x").exists());
        let (dir, name) = r.parent_of("/a/b/c").unwrap();
        assert_eq!((real(&dir), name.to_str().unwrap()), (root.join("a/b"), "c"));
        // Only the last level missing: made in its parent.
        assert_eq!(real(&r.mkdir_all("/a/b/c").unwrap()), root.join("a/b/c"));
        // The last level a dangling link, its parent there: still followed inside.
        symlink("/made/last", root.join("a/last")).unwrap();
        assert_eq!(real(&r.mkdir_all("/a/last").unwrap()), root.join("made/last"));
        // Its parent a link out of the root: the walk, inside.
        assert_eq!(real(&r.mkdir_all("/out/y").unwrap()), root.join(outside.strip_prefix("/").unwrap()).join("y"));
        assert!(!outside.join("y").exists());
        let f = r.ensure("/etc/file", NodeKind::File).unwrap();
        assert_eq!(real(&f), root.join("etc/file"));
        std::fs::remove_dir_all(root.parent().unwrap()).unwrap();
    }
}
