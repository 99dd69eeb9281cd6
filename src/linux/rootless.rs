//! Running without the host's root: as an unprivileged user, or as root of
//! a user namespace that is not the initial one (rootless podman calls the
//! runtime so).

/// The identity map of the initial user namespace.
const INITIAL_MAP: &str = "0 0 4294967295";

/// Whether this process is in a user namespace other than the initial one.
pub fn in_user_namespace() -> bool {
    crate::files::read_kernel_text(std::path::Path::new("/proc/self/uid_map"))
        .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" ") != INITIAL_MAP)
        .unwrap_or(false)
}

/// `--rootless auto`: an unprivileged user, or a user namespace.
pub fn detect() -> bool {
    !nix::unistd::geteuid().is_root() || in_user_namespace()
}

/// Whether the process has `cap` in its effective set (in its own user
/// namespace), from /proc/self/status.
pub fn has_effective_cap(cap: u32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return false };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|eff| eff & (1 << cap) != 0)
}

/// Whether an error says "not allowed" (what a cgroup or mount operation
/// answers an unprivileged caller).
pub fn is_denied(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .is_some_and(|n| n == libc::EACCES || n == libc::EPERM || n == libc::EROFS)
    })
}
