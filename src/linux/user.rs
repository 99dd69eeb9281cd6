//! The process's identity: groups, ids, HOME, and finding the program.

use anyhow::{bail, Context, Result};
use nix::unistd::{self, Gid, Uid};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub fn set_ids(uid: u32, gid: u32, groups: &[u32]) -> Result<()> {
    let list: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
    match unistd::setgroups(&list) {
        // A user namespace whose gid map an unprivileged user wrote denies
        // setgroups: with no groups asked for, there is nothing to drop.
        Err(nix::errno::Errno::EPERM) if groups.is_empty() && setgroups_denied() => {}
        Err(nix::errno::Errno::EPERM) if setgroups_denied() => bail!(
            "process.user.additionalGids: {groups:?} cannot be set: setgroups is denied in this user namespace              (a rootless container with a single gid mapping; map more gids through /etc/subgid)"
        ),
        r => r.with_context(|| format!("process.user.additionalGids: setgroups {groups:?}"))?,
    }
    let g = Gid::from_raw(gid);
    unistd::setresgid(g, g, g).with_context(|| format!("process.user.gid: setgid {gid}"))?;
    let u = Uid::from_raw(uid);
    unistd::setresuid(u, u, u).with_context(|| format!("process.user.uid: setuid {uid}"))?;
    Ok(())
}

fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// The home directory of `uid` from the container's /etc/passwd (read
/// inside our root, bounded, never blocking), or "/".
pub fn home_of(uid: u32) -> String {
    let Ok(root) = super::inroot::Root::open(Path::new("/")) else { return "/".into() };
    super::passwd::read_db(&root, "passwd")
        .and_then(|text| super::passwd::find_user(&text, &uid.to_string()))
        .map_or("/".into(), |u| u.home)
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves the program like Go's exec.LookPath with the process's PATH,
/// with runc's error wording (callers map these words to exit codes).
pub fn look_path(prog: &str, env: &[String]) -> Result<String> {
    if prog.contains('/') {
        match std::fs::metadata(prog) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("exec: {prog:?}: stat {prog}: no such file or directory")
            }
            Err(e) => bail!("exec: {prog:?}: stat {prog}: {e}"),
            Ok(m) if m.is_dir() || m.permissions().mode() & 0o111 == 0 => {
                bail!("exec: {prog:?}: permission denied")
            }
            Ok(_) => return Ok(prog.to_string()),
        }
    }
    let path = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(prog);
        if is_executable(&candidate) {
            return Ok(candidate.to_string_lossy().into_owned());
        }
    }
    bail!("exec: {prog:?}: executable file not found in $PATH")
}
