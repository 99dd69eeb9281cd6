//! Scheduling of the container's process: policy (sched_setattr), I/O
//! priority, CPU affinity and execution domain (personality).

use super::sys::cvt;
use crate::spec::sched::{MemoryPolicy, Scheduler};
use std::io;

/// struct sched_attr as of SCHED_ATTR_SIZE_VER0 (48 bytes).
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

pub fn set_scheduler(s: &Scheduler) -> io::Result<()> {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: s.policy,
        flags: s.flags,
        nice: s.nice,
        priority: s.priority,
        runtime: s.runtime,
        deadline: s.deadline,
        period: s.period,
    };
    // SAFETY: sched_setattr on ourselves (pid 0) with a valid attr of the size it states.
    cvt(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0u32) } as i32)?;
    Ok(())
}

/// ioprio_set(IOPRIO_WHO_PROCESS, self, value).
pub fn set_io_priority(value: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: i32 = 1;
    // SAFETY: plain syscall with integer arguments.
    cvt(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } as i32)?;
    Ok(())
}

pub fn set_affinity(cpus: &[usize]) -> io::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for c in cpus {
        set.set(*c)?;
    }
    Ok(nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)?)
}

/// set_mempolicy(mode | flags, nodes).
pub fn set_memory_policy(p: &MemoryPolicy) -> io::Result<()> {
    let bits = p.nodes.iter().max().map_or(0, |m| m + 1);
    let mut mask = vec![0 as libc::c_ulong; bits.div_ceil(64).max(1)];
    for n in &p.nodes {
        mask[n / 64] |= 1 << (n % 64);
    }
    // maxnode counts bits, and the kernel reads one fewer than it is given.
    let maxnode = (mask.len() * 64 + 1) as libc::c_ulong;
    let ptr = if p.nodes.is_empty() { std::ptr::null() } else { mask.as_ptr() };
    // SAFETY: the mask holds maxnode - 1 bits; a null mask goes with no nodes.
    cvt(unsafe { libc::syscall(libc::SYS_set_mempolicy, p.mode, ptr, if p.nodes.is_empty() { 0 } else { maxnode }) }
        as i32)?;
    Ok(())
}

pub fn set_personality(persona: u64) -> io::Result<()> {
    // SAFETY: personality takes a plain integer; -1 is the error.
    cvt(unsafe { libc::personality(persona as libc::c_ulong) })?;
    Ok(())
}
