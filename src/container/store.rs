//! The state directory: `<root>/<id>/` with `state.json` (written
//! tmp+rename) and `exec.fifo`, one flock per container.

use super::state::{status_of, Record, Status};
use super::summary::Summary;
use crate::linux::sys;
use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
/// The config.json create read, as it was then.
pub const CONFIG_FILE: &str = "config.json";
pub const FIFO: &str = "exec.fifo";
/// The seccomp filter create compiled from that config (`seccomp::saved`).
pub const FILTER_FILE: &str = "seccomp.bpf";
/// A record written and not yet renamed to state.json.
const STAGED_FILE: &str = ".state.json.tmp";

pub struct Store {
    root: PathBuf,
}

/// A container directory whose lock this process holds.
pub struct Locked {
    pub id: String,
    pub dir: PathBuf,
    _lock: Flock<OwnedFd>,
}

pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if !ok {
        bail!("invalid id format: {id}");
    }
    Ok(())
}

fn lock(dir: &Path) -> std::io::Result<Flock<OwnedFd>> {
    let mut fd = sys::open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    loop {
        match Flock::lock(fd, FlockArg::LockExclusive) {
            Ok(locked) => return Ok(locked),
            Err((back, Errno::EINTR)) => fd = back,
            Err((_, e)) => return Err(e.into()),
        }
    }
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store { root: root.to_path_buf() }
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Makes a new container directory and locks it.
    pub fn create(&self, id: &str) -> Result<Locked> {
        check_id(id)?;
        if !self.root.exists() {
            std::fs::create_dir_all(&self.root)
                .with_context(|| format!("creating state root {}", self.root.display()))?;
            use std::os::unix::fs::PermissionsExt;
            // Rootless: nobody else may even look (runc makes it 0700 too).
            let mode = if nix::unistd::geteuid().is_root() { 0o711 } else { 0o700 };
            let _ = std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(mode));
        }
        let dir = self.dir(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("container \"{id}\" already exists")
            }
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
        let l = lock(&dir).with_context(|| format!("locking {}", dir.display()))?;
        Ok(Locked { id: id.to_string(), dir, _lock: l })
    }

    /// Locks an existing container and reads its record.
    pub fn open(&self, id: &str) -> Result<(Locked, Record)> {
        check_id(id)?;
        let dir = self.dir(id);
        let l = match lock(&dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("container \"{id}\" does not exist")
            }
            Err(e) => return Err(e).with_context(|| format!("locking {}", dir.display())),
        };
        let locked = Locked { id: id.to_string(), dir, _lock: l };
        let rec = locked.read()?;
        Ok((locked, rec))
    }

    /// Reads a record without taking the lock (state, list).
    pub fn read(&self, id: &str) -> Result<Record> {
        check_id(id)?;
        read_record(&self.dir(id), id)
    }

    pub fn status(&self, rec: &Record) -> Status {
        status_in(&self.dir(&rec.id), rec)
    }

    /// The container's config as create read it: an edited or deleted
    /// bundle cannot change what `exec` does. A container an older berth
    /// created has no copy: its bundle is read instead.
    pub fn config(&self, rec: &Record) -> Result<crate::spec::types::Spec> {
        self.config_with(rec, crate::spec::parse)
    }

    /// The parts of that config `exec` reads, and nothing else of it
    /// (`spec::parse_exec_parts`: exec parses ~1 KB of a config instead of
    /// building all of it, ~35 µs of every exec).
    pub fn config_for_exec(&self, rec: &Record) -> Result<crate::spec::types::Spec> {
        self.config_with(rec, crate::spec::parse_exec_parts)
    }

    fn config_with(
        &self,
        rec: &Record,
        parse: fn(&[u8], &str) -> Result<crate::spec::types::Spec>,
    ) -> Result<crate::spec::types::Spec> {
        let saved = self.dir(&rec.id).join(CONFIG_FILE);
        // berth's own copy, read as its records are: one read where it
        // fits (no stat first, no second read for the end).
        match crate::files::read_own(&saved, crate::files::CONFIG_LIMIT as usize) {
            Ok(data) => parse(&data, &saved.display().to_string()),
            Err(_) if rec.version == 0 => crate::spec::load(Path::new(&rec.bundle)),
            Err(e) => Err(e).with_context(|| format!("reading {}", saved.display())),
        }
    }

    /// The seccomp filter create saved for the container (`seccomp::saved`):
    /// None when it kept none (no profile, a notify listener, an older
    /// berth).
    pub fn saved_filter(&self, rec: &Record) -> Result<Option<Vec<u8>>> {
        let p = self.dir(&rec.id).join(FILTER_FILE);
        // A filter is at most 32 KiB (4096 instructions).
        match crate::files::read_own(&p, 64 << 10) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            r => r.map(Some).with_context(|| format!("reading {}", p.display())),
        }
    }

    /// The names in the root that are container ids, unsorted.
    fn entries(&self) -> Result<Vec<String>> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.root.display())),
        };
        Ok(rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| check_id(id).is_ok())
            .collect())
    }

    /// Every container's record, read once each, sorted by id (a directory
    /// without a readable state.json is skipped).
    pub fn records(&self) -> Result<Vec<Record>> {
        let mut recs: Vec<Record> =
            self.entries()?.into_iter().filter_map(|id| read_record(&self.dir(&id), &id).ok()).collect();
        recs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(recs)
    }

    /// What `list` shows of every container, with its status, sorted by id:
    /// one read of each state.json and only the look-ups its status needs.
    pub fn summaries(&self) -> Result<Vec<(Summary, Status)>> {
        let ids = self.entries()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Files are opened beneath handles on the root and on /proc: no
        // walk of their paths per container. One relative path and one
        // read buffer serve all: a container costs no allocation but its
        // summary's.
        let root = sys::open(&self.root, libc::O_PATH | libc::O_DIRECTORY, 0)
            .with_context(|| format!("opening {}", self.root.display()))?;
        let proc = sys::open(Path::new("/proc"), libc::O_PATH | libc::O_DIRECTORY, 0).ok();
        let proc = proc.as_ref().map(|p| p.as_fd());
        let mut path: Vec<u8> = Vec::with_capacity(64);
        let mut data = Vec::new();
        let mut out: Vec<(Summary, Status)> = Vec::new();
        for id in ids {
            path.clear();
            path.extend_from_slice(id.as_bytes());
            path.push(b'/');
            let dir_len = path.len();
            path.extend_from_slice(STATE_FILE.as_bytes());
            path.push(0);
            let Ok(rel) = std::ffi::CStr::from_bytes_with_nul(&path) else { continue };
            if crate::files::read_own_at(root.as_fd(), rel, RECORD_LIMIT, &mut data).is_err() {
                continue;
            }
            let Ok(s) = Summary::parse(&data) else { continue };
            path.truncate(dir_len);
            path.extend_from_slice(FIFO.as_bytes());
            path.push(0);
            let fifo = std::ffi::CStr::from_bytes_with_nul(&path).ok();
            let fifo_exists = || fifo.is_some_and(|f| crate::files::exists_at(Some(root.as_fd()), f));
            let freezer = s.freezer.as_ref().map(|(v2, d)| (*v2, d.as_path()));
            let status = live_status(proc, fifo_exists, s.pid, s.pid_start, freezer);
            out.push((s, status));
        }
        // Ids are unique: an unstable sort orders them all the same, for less.
        out.sort_unstable_by(|a, b| a.0.id.cmp(&b.0.id));
        Ok(out)
    }

    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> =
            self.entries()?.into_iter().filter(|id| self.dir(id).join(STATE_FILE).exists()).collect();
        ids.sort();
        Ok(ids)
    }

    /// Removes what an aborted create left (a directory without
    /// state.json): its processes and cgroups from the journal, then the
    /// directory. Under the lock, so a create still running is waited for
    /// and a container it finished is left alone.
    pub fn remove_partial(&self, id: &str) {
        if check_id(id).is_err() {
            return;
        }
        let dir = self.dir(id);
        let Ok(_lock) = lock(&dir) else { return };
        if dir.join(STATE_FILE).exists() {
            return;
        }
        super::journal::undo(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The most of a state.json berth reads (records are a few KiB).
const RECORD_LIMIT: usize = 16 << 20;

fn read_record(dir: &Path, id: &str) -> Result<Record> {
    let p = dir.join(STATE_FILE);
    let data = match crate::files::read_own(&p, RECORD_LIMIT) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("container \"{id}\" does not exist")
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
    };
    crate::json::from_bytes(&data).with_context(|| format!("parsing {}", p.display()))
}

/// The live status: a dead init needs no more look-ups (no freezer read,
/// no fifo stat), which keeps `list` cheap with many stopped containers.
pub fn status_in(dir: &Path, rec: &Record) -> Status {
    let fifo = dir.join(FIFO);
    live_status(
        None,
        || crate::files::exists(&fifo),
        rec.pid,
        rec.pid_start,
        crate::cgroups::freeze::freezer(&rec.cgroup),
    )
}

/// The status of a container whose init is `pid`, its /proc/PID/stat read
/// beneath `proc` (or by path), `fifo_exists` saying whether its
/// exec.fifo is still there.
fn live_status(
    proc: Option<BorrowedFd>,
    fifo_exists: impl FnOnce() -> bool,
    pid: i32,
    pid_start: u64,
    freezer: Option<(bool, &Path)>,
) -> Status {
    let Some(state) = crate::linux::procfs::live_state_in(proc, pid, pid_start) else {
        return status_of(false, false, false);
    };
    let frozen = freezer.is_some_and(|(v2, d)| may_be_frozen(v2, state) && crate::cgroups::freeze::frozen_at(v2, d));
    status_of(true, !frozen && fifo_exists(), frozen)
}

/// Whether a container whose init is in `state` may be paused, before its
/// freezer is read (a cgroup file's open is the dearest look-up of a
/// status). A task the v1 freezer holds is reported as uninterruptible
/// ('D'), so any other letter means a v1 freezer that is not frozen. The
/// v2 freezer parks tasks in an interruptible sleep ('S'), like any
/// sleeping task: it is always read.
fn may_be_frozen(v2: bool, state: char) -> bool {
    v2 || state == 'D'
}

impl Locked {
    pub fn read(&self) -> Result<Record> {
        read_record(&self.dir, &self.id)
    }

    pub fn status(&self, rec: &Record) -> Status {
        status_in(&self.dir, rec)
    }

    pub fn fifo(&self) -> PathBuf {
        self.dir.join(FIFO)
    }

    /// Keeps config.json's bytes (read-only for everyone but root).
    pub fn save_config(&self, data: &[u8]) -> Result<()> {
        self.save_new(CONFIG_FILE, data)
    }

    /// Keeps the compiled seccomp filter beside the config (`seccomp::saved`).
    pub fn save_filter(&self, data: &[u8]) -> Result<()> {
        self.save_new(FILTER_FILE, data)
    }

    /// A file of the state directory, made now (mode 0600).
    fn save_new(&self, name: &str, data: &[u8]) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let p = self.dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
            .with_context(|| format!("writing {}", p.display()))?;
        f.write_all(data).with_context(|| format!("writing {}", p.display()))
    }

    /// Writes the record as state.json (in full, or not at all).
    pub fn save(&self, rec: &Record) -> Result<()> {
        self.stage(rec)?;
        self.commit()
    }

    /// Writes the record beside state.json, under a name no reader looks
    /// at; [`Locked::commit`] puts it in place. create stages the record
    /// while init sets the container up, so that only the rename is left
    /// once init is ready.
    pub fn stage(&self, rec: &Record) -> Result<()> {
        let tmp = self.dir.join(STAGED_FILE);
        let data = serde_json::to_vec(rec).context("encoding state")?;
        std::fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))
    }

    /// Puts the staged record in place as state.json.
    pub fn commit(&self) -> Result<()> {
        std::fs::rename(self.dir.join(STAGED_FILE), self.dir.join(STATE_FILE)).context("renaming state file")
    }

    /// Removes the directory and everything in it; the lock goes with it.
    /// The files berth makes there are unlinked by name, state.json first
    /// (a directory without it is an aborted create's, whatever else is
    /// left); only a directory that still holds something is walked.
    pub fn remove(self) -> Result<()> {
        for name in [STATE_FILE, CONFIG_FILE, FILTER_FILE, super::journal::FILE, FIFO, STAGED_FILE] {
            match std::fs::remove_file(self.dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", self.dir.join(name).display()))
                }
                _ => {}
            }
        }
        match std::fs::remove_dir(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => std::fs::remove_dir_all(&self.dir),
            r => r,
        }
        .with_context(|| format!("removing {}", self.dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("abc-1_2.3+x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
