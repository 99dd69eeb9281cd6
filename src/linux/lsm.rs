//! Linux security modules: the AppArmor profile and SELinux label the
//! container's process enters at execve, written through a procfs handle
//! berth verified (never through the container's /proc).

use super::procfs::Proc;
use std::io;

/// Whether AppArmor is enabled: in the kernel, and with its securityfs
/// there for profiles to be loaded (runc's test).
pub fn apparmor_enabled() -> bool {
    std::path::Path::new("/sys/kernel/security/apparmor").is_dir()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.starts_with('Y'))
}

const SELINUX_MAGIC: i64 = 0xf97c_ff8c;

/// Whether SELinux is enabled: selinuxfs is mounted where userspace looks.
pub fn selinux_enabled() -> bool {
    nix::sys::statfs::statfs("/sys/fs/selinux").is_ok_and(|s| s.filesystem_type().0 == SELINUX_MAGIC)
        && std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// The calling thread's `attr` directory beneath a procfs root (no
/// `thread-self` link: links are not followed there).
fn attr_dir() -> String {
    format!("{}/task/{}/attr", nix::unistd::getpid(), nix::unistd::gettid())
}

/// The AppArmor profile the next execve of this thread enters.
pub fn apparmor_exec(proc: &Proc, profile: &str) -> io::Result<()> {
    let data = format!("exec {profile}");
    let dir = attr_dir();
    // The stacking-aware file first; kernels before 5.1 have only attr/exec.
    let fd = match proc.open(&format!("{dir}/apparmor/exec"), libc::O_WRONLY) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => proc.open(&format!("{dir}/exec"), libc::O_WRONLY)?,
        r => r?,
    };
    use std::io::Write;
    // One write, as procfs wants; AppArmor answers ENOENT for a profile it
    // does not have.
    std::fs::File::from(fd).write_all(data.as_bytes()).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => io::Error::new(io::ErrorKind::NotFound, "no profile of that name is loaded"),
        _ => e,
    })
}

/// The SELinux label the next execve of this thread enters.
pub fn selinux_exec(proc: &Proc, label: &str) -> io::Result<()> {
    proc.write(&format!("{}/exec", attr_dir()), label.as_bytes())
}

/// The SELinux label of keyrings this thread creates (the session keyring).
pub fn selinux_keycreate(proc: &Proc, label: &str) -> io::Result<()> {
    proc.write(&format!("{}/keycreate", attr_dir()), label.as_bytes())
}

/// Sets the SELinux label of the file at `path`.
pub fn set_file_label(path: &str, label: &str) -> io::Result<()> {
    let p = super::sys::cstr(path)?;
    // SAFETY: valid NUL-terminated name and path, a value of label.len() bytes.
    let r = unsafe { libc::setxattr(p.as_ptr(), c"security.selinux".as_ptr(), label.as_ptr().cast(), label.len(), 0) };
    super::sys::cvt(r)?;
    Ok(())
}

/// Mount data with the SELinux `context=` option added (runc's rule: only
/// for filesystems that take it, and never twice).
pub fn with_mount_label(data: &str, label: &str) -> String {
    if label.is_empty() || data.split(',').any(|o| o.starts_with("context=")) {
        return data.to_string();
    }
    let ctx = format!("context=\"{label}\"");
    if data.is_empty() {
        ctx
    } else {
        format!("{data},{ctx}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_label_goes_into_the_data_once() {
        let l = "system_u:object_r:container_file_t:s0:c1,c2";
        assert_eq!(with_mount_label("", l), format!("context=\"{l}\""));
        assert_eq!(with_mount_label("mode=755", l), format!("mode=755,context=\"{l}\""));
        assert_eq!(with_mount_label("context=\"x\"", l), "context=\"x\"");
        assert_eq!(with_mount_label("size=1m", ""), "size=1m");
    }
}
