//! User-namespace id maps and time-namespace offsets, written by the parent.

use super::procfs::Proc;
use crate::spec::types::{IdMapping, TimeOffset};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

pub fn format(maps: &[IdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size)).collect()
}

/// How the maps of one kind (uid or gid) get written.
#[derive(Debug, PartialEq, Eq)]
pub enum Writer {
    /// berth writes the file: it holds CAP_SETUID/CAP_SETGID in its
    /// namespace, or the map is only its own id (then, for gids, after
    /// `setgroups` is denied, as the kernel requires of an unprivileged writer).
    Direct { deny_setgroups: bool },
    /// newuidmap/newgidmap (setuid helpers that check /etc/subuid and
    /// /etc/subgid) for ranges an unprivileged user may not map itself.
    Helper,
}

/// The writer for `maps` of a caller whose own id is `own`.
pub fn writer(maps: &[IdMapping], own: u32, privileged: bool, gids: bool) -> Writer {
    if privileged {
        return Writer::Direct { deny_setgroups: false };
    }
    match maps {
        [m] if m.host_id == own && m.size == 1 => Writer::Direct { deny_setgroups: gids },
        _ => Writer::Helper,
    }
}

fn run_helper(helper: &str, field: &str, pid: i32, maps: &[IdMapping]) -> Result<()> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container_id.to_string(), m.host_id.to_string(), m.size.to_string()]);
    }
    let out = cmd.output().with_context(|| {
        format!("{field}: several ranges need {helper} (Debian's uidmap package), which could not run")
    })?;
    if !out.status.success() {
        bail!("{field}: {helper} refused {:?}: {}", format(maps).trim(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn write_one(proc: &Proc, pid: i32, maps: &[IdMapping], how: Writer, gids: bool) -> Result<()> {
    let (field, file, helper) = if gids {
        ("linux.gidMappings", "gid_map", "newgidmap")
    } else {
        ("linux.uidMappings", "uid_map", "newuidmap")
    };
    match how {
        Writer::Helper => run_helper(helper, field, pid, maps),
        Writer::Direct { deny_setgroups } => {
            if deny_setgroups {
                proc.write(&format!("{pid}/setgroups"), b"deny")
                    .with_context(|| format!("{field}: denying setgroups, as mapping a gid unprivileged needs"))?;
            }
            proc.write(&format!("{pid}/{file}"), format(maps).as_bytes())
                .with_context(|| format!("{field}: writing {:?}", format(maps).trim()))
        }
    }
}

/// Writes the uid and gid maps of `pid`: directly where berth may, through
/// newuidmap/newgidmap where it may not (rootless, several ranges).
pub fn write(proc: &Proc, pid: i32, uid: &[IdMapping], gid: &[IdMapping]) -> Result<()> {
    let (euid, egid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    const CAP_SETGID: u32 = 6;
    const CAP_SETUID: u32 = 7;
    // Root of the initial namespace, or of one with the capability.
    let may_uid = super::rootless::has_effective_cap(CAP_SETUID);
    let may_gid = super::rootless::has_effective_cap(CAP_SETGID);
    write_one(proc, pid, uid, writer(uid, euid, may_uid, false), false)?;
    write_one(proc, pid, gid, writer(gid, egid, may_gid, true), true)
}

/// A user namespace with these maps, for an idmapped mount: made by a
/// child that only waits, kept as a descriptor once the child is gone.
pub fn userns_with(uid: &[IdMapping], gid: &[IdMapping]) -> Result<std::os::fd::OwnedFd> {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: a fork-like clone of this single-threaded process into a new
    // user namespace; the child makes only raw syscalls and waits to be killed.
    let pid = unsafe {
        libc::syscall(libc::SYS_clone, (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64, 0usize, 0usize, 0usize, 0usize)
    } as i32;
    if pid == 0 {
        // SAFETY: plain syscalls. A create killed now must not leave this
        // child behind: it dies with berth (also if berth died already).
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0
                || libc::getppid() != parent
            {
                libc::_exit(1);
            }
            loop {
                libc::pause();
            }
        }
    }
    let pid = super::sys::cvt(pid).context("making a user namespace for an idmapped mount")?;
    let made = (|| {
        write(&Proc::host()?, pid, uid, gid)?;
        // The ns file is a magic link: opened by path, from /proc/<our child>.
        super::sys::open(std::path::Path::new(&format!("/proc/{pid}/ns/user")), libc::O_RDONLY, 0)
            .context("opening the idmapped mount's user namespace")
    })();
    let _ = super::sys::kill(pid, libc::SIGKILL);
    let _ = super::sys::waitpid(pid, 0);
    made
}

pub fn write_time_offsets(proc: &Proc, pid: i32, offsets: &BTreeMap<String, TimeOffset>) -> Result<()> {
    let text: String = offsets.iter().map(|(k, o)| format!("{k} {} {}\n", o.secs, o.nanosecs)).collect();
    proc.write(&format!("{pid}/timens_offsets"), text.as_bytes())
        .with_context(|| format!("linux.timeOffsets: writing {:?}", text.trim()))
}

/// Whether `id` is mapped by one of `maps` (inside the namespace).
pub fn maps_inside(maps: &[IdMapping], id: u32) -> bool {
    maps.iter().any(|m| id >= m.container_id && id - m.container_id < m.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_writes_the_maps() {
        let own = [IdMapping { container_id: 0, host_id: 1000, size: 1 }];
        let many = [
            IdMapping { container_id: 0, host_id: 1000, size: 1 },
            IdMapping { container_id: 1, host_id: 100000, size: 65536 },
        ];
        assert_eq!(writer(&own, 1000, false, false), Writer::Direct { deny_setgroups: false });
        assert_eq!(writer(&own, 1000, false, true), Writer::Direct { deny_setgroups: true });
        assert_eq!(writer(&own, 1001, false, false), Writer::Helper);
        assert_eq!(writer(&many, 1000, false, false), Writer::Helper);
        assert_eq!(writer(&many, 0, true, true), Writer::Direct { deny_setgroups: false });
    }

    #[test]
    fn several_ranges() {
        let m = [
            IdMapping { container_id: 0, host_id: 100000, size: 1 },
            IdMapping { container_id: 1, host_id: 200001, size: 65535 },
        ];
        assert_eq!(format(&m), "0 100000 1\n1 200001 65535\n");
        assert!(maps_inside(&m, 0) && maps_inside(&m, 65535) && !maps_inside(&m, 65536));
    }
}
