//! Setting `process.rlimits` (parsed by `spec::rlimits`) on a process.

use crate::spec::rlimits::{name, Limit};
use anyhow::{bail, Result};

/// Sets `limits` on `pid` (0: the caller). The parent sets init's from
/// outside any user namespace, where raising a hard limit is allowed.
pub fn apply(pid: i32, limits: &[Limit]) -> Result<()> {
    for l in limits {
        let lim = libc::rlimit { rlim_cur: l.soft, rlim_max: l.hard };
        // SAFETY: lim is a valid rlimit; a null old-limit pointer is allowed.
        let r = unsafe { libc::prlimit(pid, l.resource as _, &lim, std::ptr::null_mut()) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            bail!("process.rlimits: setting {} to soft {} hard {}: {e}", name(l.resource), l.soft, l.hard);
        }
    }
    Ok(())
}
