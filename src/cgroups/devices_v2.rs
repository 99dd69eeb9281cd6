//! `linux.resources.devices` on cgroup v2: an eBPF program of type
//! BPF_PROG_TYPE_CGROUP_DEVICE, generated here (no libbpf) from the rule
//! list and attached to the container's cgroup; an update replaces the
//! previous program atomically (BPF_F_REPLACE).

use crate::linux::sys;
use crate::spec::types::DeviceRule;
use anyhow::{Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | dst, off, imm }
}

const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const MOV32_X: u8 = 0xbc; // w_dst = w_src
const AND32_K: u8 = 0x54; // w_dst &= imm
const RSH32_K: u8 = 0x74; // w_dst >>= imm
const MOV64_K: u8 = 0xb7; // dst = imm
const JNE_K: u8 = 0x55; // if dst != imm goto +off
const EXIT: u8 = 0x95;

const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |a, c| {
        a | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

/// The program: the last rule that matches the device and covers the
/// requested access decides; with none, access is allowed (a new v1
/// cgroup's default, which a leading "deny all" rule turns around).
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    // r1 = ctx { u32 access_type (access << 16 | type); u32 major; u32 minor }
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV32_X, 3, 2, 0, 0),
        insn(AND32_K, 3, 0, 0, 0xffff),
        insn(MOV32_X, 4, 2, 0, 0),
        insn(RSH32_K, 4, 0, 0, 16),
        insn(LDX_W, 5, 1, 4, 0),
        insn(LDX_W, 6, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut checks: Vec<Vec<Insn>> = Vec::new();
        match r.kind.as_deref().unwrap_or("a") {
            "c" => checks.push(vec![insn(JNE_K, 3, 0, 0, DEV_CHAR)]),
            "b" => checks.push(vec![insn(JNE_K, 3, 0, 0, DEV_BLOCK)]),
            _ => {}
        }
        let acc = access_bits(r.access.as_deref().unwrap_or("rwm"));
        if acc != ACC_MKNOD | ACC_READ | ACC_WRITE {
            checks.push(vec![insn(MOV32_X, 7, 4, 0, 0), insn(AND32_K, 7, 0, 0, !acc), insn(JNE_K, 7, 0, 0, 0)]);
        }
        if let Some(m) = r.major.filter(|m| *m >= 0) {
            checks.push(vec![insn(JNE_K, 5, 0, 0, m as i32)]);
        }
        if let Some(m) = r.minor.filter(|m| *m >= 0) {
            checks.push(vec![insn(JNE_K, 6, 0, 0, m as i32)]);
        }
        let block_len: usize = checks.iter().map(Vec::len).sum::<usize>() + 2;
        let mut emitted = 0;
        for c in checks {
            for mut i in c {
                emitted += 1;
                if i.code == JNE_K {
                    // Skip the rest of this rule's block.
                    i.off = (block_len - emitted) as i16;
                }
                p.push(i);
            }
        }
        p.push(insn(MOV64_K, 0, 0, 0, i32::from(r.allow)));
        p.push(insn(EXIT, 0, 0, 0, 0));
        if emitted == 0 {
            // This rule matches everything: what follows could never run,
            // and the verifier refuses unreachable instructions.
            return p;
        }
    }
    p.push(insn(MOV64_K, 0, 0, 0, 1));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: i64 = 5;
const BPF_PROG_ATTACH: i64 = 8;
const BPF_PROG_GET_FD_BY_ID: i64 = 13;
const BPF_PROG_QUERY: i64 = 16;
const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const ATTACH_CGROUP_DEVICE: u32 = 6;
const F_ALLOW_MULTI: u32 = 2;
const F_REPLACE: u32 = 4;

fn bpf(cmd: i64, attr: &mut [u8]) -> std::io::Result<i64> {
    // SAFETY: attr is a zero-padded bpf_attr of the given size.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r)
}

fn put32(a: &mut [u8], off: usize, v: u32) {
    a[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(a: &mut [u8], off: usize, v: u64) {
    a[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

fn load_with_log(prog: &[Insn], log: &mut [u8]) -> std::io::Result<i64> {
    let license = c"Apache-2.0";
    let mut a = [0u8; 72];
    put32(&mut a, 0, PROG_TYPE_CGROUP_DEVICE);
    put32(&mut a, 4, prog.len() as u32);
    put64(&mut a, 8, prog.as_ptr() as u64);
    put64(&mut a, 16, license.as_ptr() as u64);
    if !log.is_empty() {
        put32(&mut a, 24, 1);
        put32(&mut a, 28, log.len() as u32);
        put64(&mut a, 32, log.as_mut_ptr() as u64);
    }
    a[48..57].copy_from_slice(b"berth_dev");
    put32(&mut a, 68, ATTACH_CGROUP_DEVICE);
    bpf(BPF_PROG_LOAD, &mut a)
}

fn load(prog: &[Insn]) -> Result<OwnedFd> {
    // Without a log first: a verbose verifier log that overflows its buffer
    // is itself an error (ENOSPC).
    match load_with_log(prog, &mut []) {
        Ok(fd) => Ok(sys::owned(fd as i32)?),
        Err(e) => {
            let mut log = vec![0u8; 1 << 20];
            let _ = load_with_log(prog, &mut log);
            let text = String::from_utf8_lossy(&log);
            let last = text.trim_end_matches('\0').trim().lines().last().unwrap_or("").to_string();
            Err(e).with_context(|| format!("loading the device program (verifier: {last})"))
        }
    }
}

/// Ids of the device programs attached directly to `cgroup`.
fn attached(cgroup: &OwnedFd) -> Vec<u32> {
    let mut ids = [0u32; 64];
    let mut a = [0u8; 40];
    put32(&mut a, 0, cgroup.as_raw_fd() as u32);
    put32(&mut a, 4, ATTACH_CGROUP_DEVICE);
    put64(&mut a, 16, ids.as_mut_ptr() as u64);
    put32(&mut a, 24, ids.len() as u32);
    if bpf(BPF_PROG_QUERY, &mut a).is_err() {
        return Vec::new();
    }
    let n = u32::from_ne_bytes([a[24], a[25], a[26], a[27]]) as usize;
    ids[..n.min(ids.len())].to_vec()
}

fn fd_by_id(id: u32) -> Result<OwnedFd> {
    let mut a = [0u8; 12];
    put32(&mut a, 0, id);
    let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut a).with_context(|| format!("opening device program {id}"))?;
    Ok(sys::owned(fd as i32)?)
}

/// Loads the program for `rules` and attaches it to the cgroup at `dir`,
/// replacing a program berth attached before.
pub fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let prog = load(&program(rules)).context("linux.resources.devices")?;
    let cgroup = sys::open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .with_context(|| format!("linux.resources.devices: opening {}", dir.display()))?;
    let old = attached(&cgroup).into_iter().next().map(fd_by_id).transpose()?;
    let mut a = [0u8; 20];
    put32(&mut a, 0, cgroup.as_raw_fd() as u32);
    put32(&mut a, 4, prog.as_raw_fd() as u32);
    put32(&mut a, 8, ATTACH_CGROUP_DEVICE);
    match &old {
        Some(o) => {
            put32(&mut a, 12, F_ALLOW_MULTI | F_REPLACE);
            put32(&mut a, 16, o.as_raw_fd() as u32);
        }
        None => put32(&mut a, 12, F_ALLOW_MULTI),
    }
    bpf(BPF_PROG_ATTACH, &mut a)
        .with_context(|| format!("linux.resources.devices: attaching the device program to {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the instructions `program` emits.
    fn run(p: &[Insn], kind: i32, access: i32, major: u32, minor: u32) -> i64 {
        let mut r = [0u64; 11];
        let ctx = [((access as u32) << 16) | kind as u32, major, minor];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (d, s) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[d] = ctx[i.off as usize / 4] as u64,
                MOV32_X => r[d] = r[s] as u32 as u64,
                AND32_K => r[d] = (r[d] as u32 & i.imm as u32) as u64,
                RSH32_K => r[d] = ((r[d] as u32) >> i.imm) as u64,
                MOV64_K => r[d] = i.imm as i64 as u64,
                JNE_K => {
                    if r[d] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                EXIT => return r[0] as i64,
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    fn rule(allow: bool, kind: &str, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
        DeviceRule { allow, kind: Some(kind.into()), major, minor, access: Some(access.into()) }
    }

    #[test]
    fn deny_all_then_allow_some() {
        let mut rules = vec![rule(false, "a", None, None, "rwm")];
        rules.extend(crate::cgroups::devices_v1::default_rules());
        let p = program(&rules);
        let rw = ACC_READ | ACC_WRITE;
        assert_eq!(run(&p, DEV_CHAR, rw, 1, 3), 1, "/dev/null is allowed");
        assert_eq!(run(&p, DEV_CHAR, rw, 1, 1), 0, "/dev/mem is denied");
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 1, 1), 1, "mknod of any char device is allowed");
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 8, 0), 0, "block devices are denied");
        assert_eq!(run(&p, DEV_CHAR, rw, 136, 4), 1, "/dev/pts/* is allowed");
        assert_eq!(p.last().map(|i| i.code), Some(EXIT));
        assert_eq!(p[p.len() - 2], insn(MOV64_K, 0, 0, 0, 0), "the deny-all rule ends the program");
    }

    #[test]
    fn later_rules_win_and_access_must_be_covered() {
        let rules = vec![rule(true, "c", Some(10), None, "r"), rule(false, "c", Some(10), Some(200), "rwm")];
        let p = program(&rules);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 10, 200), 0);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 10, 1), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 10, 1), 1, "nothing denies it: the default allows");
        let p = program(&[rule(false, "a", None, None, "rwm"), rule(true, "c", Some(10), None, "r")]);
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE | ACC_READ, 10, 1), 0, "rw is not covered by an r rule");
    }
}
