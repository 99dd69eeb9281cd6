//! OCI seccomp profiles compiled to classic BPF by berth itself (no
//! libseccomp): several architectures, argument comparisons on 64-bit
//! values, every action, binary search over syscall numbers.

pub mod bpf;
pub mod load;
pub mod profile;
pub mod saved;
pub mod syscalls;

use anyhow::{bail, Result};
use bpf::{Asm, Label, AND, JEQ, JGE, JGT, LD_W_ABS};
use profile::{Arg, Profile, Rule};
use std::collections::BTreeMap;

pub use bpf::SockFilter;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_BIT: u32 = 0x4000_0000;

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;

/// The argument comparisons the compiler handles.
pub const OPERATORS: [&str; 7] =
    ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];
pub const FLAGS: [(&str, u32); 4] = [
    ("SECCOMP_FILTER_FLAG_TSYNC", 1),
    ("SECCOMP_FILTER_FLAG_LOG", 2),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", 4),
    ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 32),
];

/// A compiled profile, ready for seccomp(2).
#[derive(Debug, Clone)]
pub struct Filter {
    pub program: Vec<SockFilter>,
    pub flags: u32,
    /// Some rule uses SCMP_ACT_NOTIFY: the listener fd goes to this path.
    pub listener: Option<(String, String)>,
}

/// Every action: its return value, and whether errnoRet goes in its low bits.
pub const ACTIONS: [(&str, u32, bool); 9] = [
    ("SCMP_ACT_KILL", RET_KILL_THREAD, false),
    ("SCMP_ACT_KILL_PROCESS", RET_KILL_PROCESS, false),
    ("SCMP_ACT_KILL_THREAD", RET_KILL_THREAD, false),
    ("SCMP_ACT_TRAP", RET_TRAP, false),
    ("SCMP_ACT_ERRNO", RET_ERRNO, true),
    ("SCMP_ACT_TRACE", RET_TRACE, true),
    ("SCMP_ACT_ALLOW", RET_ALLOW, false),
    ("SCMP_ACT_LOG", RET_LOG, false),
    ("SCMP_ACT_NOTIFY", RET_USER_NOTIF, false),
];

/// Architectures whose syscalls can reach this (x86_64) kernel.
pub const ARCHS: [&str; 3] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

/// Architectures libseccomp knows whose syscalls never reach an x86_64
/// kernel: accepted in a profile, with nothing to filter.
const FOREIGN_ARCHS: [&str; 17] = [
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
];

fn action(field: &str, name: &str, errno: Option<u32>, default_errno: u32) -> Result<u32> {
    match ACTIONS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ret, true)) => Ok(ret | (errno.unwrap_or(default_errno) & 0xffff)),
        Some((_, ret, false)) => Ok(*ret),
        None => bail!("{field}: unknown seccomp action {name:?}"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arch {
    X86_64,
    X86,
    X32,
}

impl Arch {
    fn table(self) -> &'static Table {
        match self {
            Arch::X86_64 => &syscalls::X86_64,
            Arch::X86 => &syscalls::X86,
            Arch::X32 => &syscalls::X32,
        }
    }

    fn number(self, name: &str) -> Option<u32> {
        self.table().number(name)
    }
}

/// One architecture's syscalls (src/seccomp/syscalls.rs): their names
/// sorted and packed into one string, and a row (offset, length, number)
/// for each. Rows of (&str, u32) would hold a pointer each, which the
/// static-pie binary relocates at every start: over a thousand of them.
struct Table {
    names: &'static str,
    rows: &'static [(u16, u8, u32)],
}

impl Table {
    fn name(&self, row: &(u16, u8, u32)) -> &'static str {
        let names: &'static str = self.names;
        &names[row.0 as usize..row.0 as usize + row.1 as usize]
    }

    fn number(&self, name: &str) -> Option<u32> {
        self.rows.binary_search_by(|r| self.name(r).cmp(name)).ok().map(|i| self.rows[i].2)
    }

    /// (name, number) in name order.
    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        self.rows.iter().map(|r| (self.name(r), r.2))
    }
}

/// One syscall's rules, in profile order, as (action, argument checks).
type Rules = Vec<(u32, Vec<Arg>)>;

struct Plan {
    default: u32,
    /// Per syscall number: its rules.
    by_nr: BTreeMap<u32, Rules>,
}

/// i386 reaches socket and SysV IPC calls through the `socketcall` (102)
/// and `ipc` (117) multiplexers too: (name, multiplexer, call number in arg0).
const X86_MULTIPLEXED: [(&str, u32, u32); 32] = [
    ("socket", 102, 1),
    ("bind", 102, 2),
    ("connect", 102, 3),
    ("listen", 102, 4),
    ("accept", 102, 5),
    ("getsockname", 102, 6),
    ("getpeername", 102, 7),
    ("socketpair", 102, 8),
    ("send", 102, 9),
    ("recv", 102, 10),
    ("sendto", 102, 11),
    ("recvfrom", 102, 12),
    ("shutdown", 102, 13),
    ("setsockopt", 102, 14),
    ("getsockopt", 102, 15),
    ("sendmsg", 102, 16),
    ("recvmsg", 102, 17),
    ("accept4", 102, 18),
    ("recvmmsg", 102, 19),
    ("sendmmsg", 102, 20),
    ("semop", 117, 1),
    ("semget", 117, 2),
    ("semctl", 117, 3),
    ("semtimedop", 117, 4),
    ("msgsnd", 117, 11),
    ("msgrcv", 117, 12),
    ("msgget", 117, 13),
    ("msgctl", 117, 14),
    ("shmat", 117, 21),
    ("shmdt", 117, 22),
    ("shmget", 117, 23),
    ("shmctl", 117, 24),
];

/// The rule on a multiplexer that stands for `name`'s rule: arg0 selects the
/// call (ipc keeps a version in its high 16 bits). The multiplexed call's own
/// arguments sit in memory, out of the filter's reach: a rule with argument
/// checks is carried over only when it restricts (then for every use of the
/// call), never when it allows.
fn multiplexed(name: &str, act: u32, has_args: bool) -> Option<(u32, (u32, Vec<Arg>))> {
    let &(_, mux, call) = X86_MULTIPLEXED.iter().find(|(n, _, _)| *n == name)?;
    if has_args && (act == RET_ALLOW || act == RET_LOG) {
        return None;
    }
    let mask = if mux == 117 { 0xffff } else { 0xffff_ffff };
    let arg = Arg { index: 0, value: mask, value_two: call as u64, op: "SCMP_CMP_MASKED_EQ".into() };
    Some((mux, (act, vec![arg])))
}

fn plan(p: &Profile, arch: Arch, default: u32, default_errno: u32) -> Result<Plan> {
    let mut by_nr: BTreeMap<u32, Rules> = BTreeMap::new();
    let mut mux: BTreeMap<u32, Rules> = BTreeMap::new();
    for (i, r) in p.syscalls.iter().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let act = action(&format!("{field}.action"), &r.action, r.errno_ret, default_errno)?;
        check_args(&field, r)?;
        for name in &r.names {
            if arch == Arch::X86 {
                if let Some((nr, rule)) = multiplexed(name, act, !r.args.is_empty()) {
                    mux.entry(nr).or_default().push(rule);
                }
            }
            // A name this architecture does not have is skipped, as runc does.
            let Some(nr) = arch.number(name) else { continue };
            let rules = by_nr.entry(nr).or_default();
            if r.args.iter().enumerate().any(|(j, a)| r.args[..j].iter().any(|b| b.index == a.index)) {
                // Several conditions on one argument are alternatives (runc
                // and libseccomp make each its own rule).
                rules.extend(r.args.iter().map(|a| (act, vec![a.clone()])));
            } else {
                rules.push((act, r.args.clone()));
            }
        }
    }
    // The calls' own rules come before any rule on the multiplexer itself.
    for (nr, mut rules) in mux {
        let own = by_nr.entry(nr).or_default();
        rules.append(own);
        *own = rules;
    }
    Ok(Plan { default, by_nr })
}

fn check_args(field: &str, r: &Rule) -> Result<()> {
    for (j, a) in r.args.iter().enumerate() {
        if a.index > 5 {
            bail!("{field}.args[{j}].index: {} is not 0..5", a.index);
        }
        if !OPERATORS.contains(&a.op.as_str()) {
            bail!("{field}.args[{j}].op: unknown operator {:?}", a.op);
        }
    }
    Ok(())
}

/// Emits the checks of one argument comparison: falls through when it
/// holds, jumps to `fail` when not.
fn emit_arg(a: &mut Asm, arg: &Arg, wide: bool, fail: Label) {
    let lo_off = 16 + 8 * arg.index;
    let hi_off = lo_off + 4;
    let (v, v2) = (arg.value, arg.value_two);
    let (vh, vl) = ((v >> 32) as u32, v as u32);
    let pass = a.label();
    let next = a.label();
    match arg.op.as_str() {
        "SCMP_CMP_MASKED_EQ" => {
            let (dh, dl) = ((v2 >> 32) as u32, v2 as u32);
            if wide {
                a.stmt(LD_W_ABS, hi_off);
                a.stmt(AND, vh);
                let n = a.label();
                a.jump(JEQ, dh, n, fail);
                a.mark(n);
            }
            a.stmt(LD_W_ABS, lo_off);
            a.stmt(AND, vl);
            a.jump(JEQ, dl, pass, fail);
        }
        op => {
            // (jump on the high word deciding, low-word test, low-word pass when true)
            let (code, lo_true_passes) = match op {
                "SCMP_CMP_EQ" => (JEQ, true),
                "SCMP_CMP_NE" => (JEQ, false),
                "SCMP_CMP_GT" => (JGT, true),
                "SCMP_CMP_GE" => (JGE, true),
                "SCMP_CMP_LT" => (JGE, false),
                _ => (JGT, false), // SCMP_CMP_LE
            };
            if wide {
                a.stmt(LD_W_ABS, hi_off);
                match op {
                    "SCMP_CMP_EQ" => a.jump(JEQ, vh, next, fail),
                    "SCMP_CMP_NE" => a.jump(JEQ, vh, next, pass),
                    "SCMP_CMP_GT" | "SCMP_CMP_GE" => {
                        let eq = a.label();
                        a.jump(JGT, vh, pass, eq);
                        a.mark(eq);
                        a.jump(JEQ, vh, next, fail);
                    }
                    _ => {
                        let eq = a.label();
                        a.jump(JGT, vh, fail, eq);
                        a.mark(eq);
                        a.jump(JEQ, vh, next, pass);
                    }
                }
                a.mark(next);
            }
            a.stmt(LD_W_ABS, lo_off);
            if lo_true_passes {
                a.jump(code, vl, pass, fail);
            } else {
                a.jump(code, vl, fail, pass);
            }
        }
    }
    a.mark(pass);
}

/// One syscall's block: its rules in order, the first whose checks all hold decides.
fn emit_rules(a: &mut Asm, rules: &Rules, default: u32, wide: bool) {
    for (act, args) in rules {
        if args.is_empty() {
            a.ret(*act);
            return;
        }
        let next = a.label();
        for arg in args {
            emit_arg(a, arg, wide, next);
        }
        a.ret(*act);
        a.mark(next);
        // The checks clobbered the accumulator: the next rule reloads what it needs.
    }
    a.ret(default);
}

/// Binary search over `ranges` (lo, hi, target) on the syscall number in A.
fn emit_search(a: &mut Asm, ranges: &[(u32, u32, Label)], default: Label) {
    if ranges.len() <= 2 {
        for &(lo, hi, target) in ranges {
            let next = a.label();
            if lo == hi {
                a.jump(JEQ, lo, target, next);
            } else {
                let in_lo = a.label();
                a.jump(JGT, hi, next, in_lo);
                a.mark(in_lo);
                a.jump(JGE, lo, target, next);
            }
            a.mark(next);
        }
        a.ja(default);
        return;
    }
    let mid = ranges.len() / 2;
    let (left, right) = (a.label(), a.label());
    a.jump(JGE, ranges[mid].0, right, left);
    a.mark(left);
    emit_search(a, &ranges[..mid], default);
    a.mark(right);
    emit_search(a, &ranges[mid..], default);
}

/// The dispatch on the syscall number for one architecture.
fn emit_arch(a: &mut Asm, plan: &Plan, wide: bool, enosys_above: Option<u32>) {
    let default = a.label();
    a.stmt(LD_W_ABS, 0);
    if let Some(max) = enosys_above {
        // Syscalls newer than the profile get ENOSYS, so libc falls back (clone3 → clone).
        let (newer, known) = (a.label(), a.label());
        a.jump(JGT, max, newer, known);
        a.mark(newer);
        a.ret(RET_ERRNO | libc::ENOSYS as u32);
        a.mark(known);
    }
    // Shared return blocks per plain action; one block per syscall with arguments.
    let mut plain: BTreeMap<u32, Label> = BTreeMap::new();
    let mut blocks: Vec<(Label, &Rules)> = Vec::new();
    let mut targets: Vec<(u32, Label)> = Vec::new();
    for (nr, rules) in &plan.by_nr {
        let target = match rules.first() {
            Some((act, args)) if args.is_empty() => *plain.entry(*act).or_insert_with(|| a.label()),
            _ => {
                let l = a.label();
                blocks.push((l, rules));
                l
            }
        };
        targets.push((*nr, target));
    }
    let mut ranges: Vec<(u32, u32, Label)> = Vec::new();
    for (nr, t) in targets {
        match ranges.last_mut() {
            Some(last) if last.1 + 1 == nr && last.2 == t => last.1 = nr,
            _ => ranges.push((nr, nr, t)),
        }
    }
    emit_search(a, &ranges, default);
    for (act, l) in plain {
        a.mark(l);
        a.ret(act);
    }
    for (l, rules) in blocks {
        a.mark(l);
        emit_rules(a, rules, plan.default, wide);
    }
    a.mark(default);
    a.ret(plan.default);
}

/// `linux.seccomp` of a config, parsed and compiled (the same filter for
/// init and every exec); None without one.
pub fn from_spec(spec: &crate::spec::types::Spec) -> Result<Option<Filter>> {
    let Some(raw) = spec.linux.as_ref().and_then(|l| l.seccomp.as_deref()) else { return Ok(None) };
    let profile: profile::Profile = crate::spec::read_input(raw.get().as_bytes(), "linux.seccomp", true)?;
    Ok(Some(compile(&profile)?))
}

/// Compiles a profile for this (x86_64) host.
pub fn compile(p: &Profile) -> Result<Filter> {
    let default_errno = p.default_errno_ret.unwrap_or(libc::EPERM as u32);
    let default = action("linux.seccomp.defaultAction", &p.default_action, p.default_errno_ret, default_errno)?;
    // The native architecture is always filtered (libseccomp adds it too).
    let mut archs = vec![Arch::X86_64];
    for (i, a) in p.architectures.iter().enumerate() {
        match a.as_str() {
            "SCMP_ARCH_X86_64" => {}
            "SCMP_ARCH_X86" => archs.push(Arch::X86),
            "SCMP_ARCH_X32" => archs.push(Arch::X32),
            // Other architectures' syscalls cannot reach an x86_64 kernel.
            a if FOREIGN_ARCHS.contains(&a) => {}
            a => bail!("linux.seccomp.architectures[{i}]: unknown architecture {a:?}"),
        }
    }
    let mut flags = 0;
    for f in &p.flags {
        match FLAGS.iter().find(|(n, _)| n == f) {
            Some((_, v)) => flags |= v,
            None => bail!("linux.seccomp.flags: unknown flag {f:?}"),
        }
    }
    if p.default_action == "SCMP_ACT_NOTIFY" {
        bail!("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action");
    }
    for (i, r) in p.syscalls.iter().enumerate() {
        // berth and the agent would deadlock on the agent's own output.
        if r.action == "SCMP_ACT_NOTIFY" && r.names.iter().any(|n| n == "write") {
            bail!("linux.seccomp.syscalls[{i}]: SCMP_ACT_NOTIFY cannot be used for the write syscall");
        }
    }
    let uses_notify = p.syscalls.iter().any(|r| r.action == "SCMP_ACT_NOTIFY");
    let listener = match (uses_notify, &p.listener_path) {
        (true, Some(path)) if !path.is_empty() => Some((path.clone(), p.listener_metadata.clone().unwrap_or_default())),
        (true, _) => bail!("linux.seccomp.listenerPath: SCMP_ACT_NOTIFY needs a listener path"),
        (false, _) => None,
    };
    let enosys = default != RET_ALLOW && default != RET_LOG;

    let mut a = Asm::default();
    let labels: Vec<(Arch, Label)> = archs.iter().filter(|x| **x != Arch::X86_64).map(|x| (*x, a.label())).collect();
    let has = |x: Arch| labels.iter().find(|(y, _)| *y == x).map(|(_, l)| *l);
    a.stmt(LD_W_ABS, 4);
    let (native, other) = (a.label(), a.label());
    a.jump(JEQ, AUDIT_ARCH_X86_64, native, other);
    a.mark(other);
    if let Some(l) = has(Arch::X86) {
        let next = a.label();
        a.jump(JEQ, AUDIT_ARCH_I386, l, next);
        a.mark(next);
    }
    // A syscall of an architecture the profile does not list is killed, as
    // libseccomp does: otherwise `int 0x80` or x32 numbers skip every rule.
    a.ret(RET_KILL_PROCESS);
    a.mark(native);
    a.stmt(LD_W_ABS, 0);
    let (x32, x64) = (a.label(), a.label());
    a.jump(JGE, X32_BIT, x32, x64);
    a.mark(x64);
    let pl = plan(p, Arch::X86_64, default, default_errno)?;
    let max = pl.by_nr.keys().last().copied().filter(|_| enosys);
    emit_arch(&mut a, &pl, true, max);
    a.mark(x32);
    match has(Arch::X32) {
        Some(_) => {
            let pl = plan(p, Arch::X32, default, default_errno)?;
            let max = pl.by_nr.keys().last().copied().filter(|_| enosys);
            emit_arch(&mut a, &pl, true, max);
        }
        None => a.ret(RET_KILL_PROCESS),
    }
    if let Some(l) = has(Arch::X86) {
        a.mark(l);
        let pl = plan(p, Arch::X86, default, default_errno)?;
        let max = pl.by_nr.keys().last().copied().filter(|_| enosys);
        emit_arch(&mut a, &pl, false, max);
    }
    let program = a.finish();
    if program.len() > 4096 {
        bail!("linux.seccomp: the profile compiles to {} BPF instructions; the kernel takes 4096", program.len());
    }
    Ok(Filter { program, flags, listener })
}

#[cfg(test)]
mod tests;
