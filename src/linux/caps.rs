//! Applying capability sets (parsed by `spec::caps`) to the calling process.

use super::sys::{cvt, prctl};
use crate::spec::caps::{last_cap, Sets, NAMES};
use anyhow::{Context, Result};

/// Drops from the bounding set every capability not in `keep`.
pub fn drop_bounding(keep: u64) -> Result<()> {
    for n in 0..=last_cap() {
        if keep & (1 << n) == 0 {
            prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong)
                .with_context(|| format!("dropping {} from the bounding set", NAMES[n as usize]))?;
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets effective, permitted and inheritable, then the ambient set.
pub fn apply(s: &Sets) -> Result<()> {
    let hdr = CapHeader { version: 0x2008_0522, pid: 0 };
    let lo = |m: u64| m as u32;
    let hi = |m: u64| (m >> 32) as u32;
    let data = [
        CapData { effective: lo(s.effective), permitted: lo(s.permitted), inheritable: lo(s.inheritable) },
        CapData { effective: hi(s.effective), permitted: hi(s.permitted), inheritable: hi(s.inheritable) },
    ];
    // SAFETY: hdr and data are valid for the v3 capset ABI (two data words).
    cvt(unsafe { libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()) } as i32).context("setting capabilities")?;
    // SAFETY: prctl with integer arguments only.
    cvt(unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) })
        .context("clearing ambient capabilities")?;
    for n in 0..64u64 {
        if s.ambient & (1 << n) != 0 {
            // SAFETY: prctl with integer arguments only.
            cvt(unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, n, 0, 0) })
                .with_context(|| format!("raising ambient {}", NAMES[n as usize]))?;
        }
    }
    Ok(())
}
