use super::*;
use serde_json::json;

/// Runs a program the way the kernel would on one seccomp_data.
fn run(p: &[SockFilter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let i = p[pc];
        pc += 1;
        match i.code {
            LD_W_ABS => {
                let o = i.k as usize;
                acc = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
            }
            AND => acc &= i.k,
            bpf::RET => return i.k,
            bpf::JA => pc += i.k as usize,
            JEQ | JGT | JGE => {
                let t = match i.code {
                    JEQ => acc == i.k,
                    JGT => acc > i.k,
                    _ => acc >= i.k,
                };
                pc += if t { i.jt } else { i.jf } as usize;
            }
            c => panic!("opcode {c:#x}"),
        }
    }
}

fn profile(v: serde_json::Value) -> Profile {
    serde_json::from_value(v).unwrap()
}

const X64: u32 = AUDIT_ARCH_X86_64;
const NONE: [u64; 6] = [0; 6];
fn nr(name: &str) -> u32 {
    Arch::X86_64.number(name).unwrap()
}

#[test]
fn default_action_and_allow_list() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["read", "write", "exit_group", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                     {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
    }));
    let f = compile(&p).unwrap();
    assert_eq!(run(&f.program, X64, nr("read"), NONE), RET_ALLOW);
    assert_eq!(run(&f.program, X64, nr("exit_group"), NONE), RET_ALLOW);
    assert_eq!(run(&f.program, X64, nr("open"), NONE), RET_ERRNO | 1);
    assert_eq!(run(&f.program, X64, nr("mkdir"), NONE), RET_ERRNO | 13);
    // Newer than anything the profile names: ENOSYS so libc falls back.
    assert_eq!(run(&f.program, X64, nr("clone3"), NONE), RET_ERRNO | libc::ENOSYS as u32);
    // An architecture the profile does not list is killed (int 0x80 would skip the rules).
    assert_eq!(run(&f.program, AUDIT_ARCH_I386, 3, NONE), RET_KILL_PROCESS);
    // x32 syscall numbers without SCMP_ARCH_X32 too.
    assert_eq!(run(&f.program, X64, X32_BIT, NONE), RET_KILL_PROCESS);
}

#[test]
fn conditions_on_one_argument_are_alternatives() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                      "args": [{"index": 0, "value": 100, "op": "SCMP_CMP_EQ"},
                               {"index": 0, "value": 1337, "op": "SCMP_CMP_EQ"}]}]
    }));
    let f = compile(&p).unwrap();
    let call = |a0: u64| run(&f.program, X64, nr("personality"), [a0, 0, 0, 0, 0, 0]);
    assert_eq!(call(100), RET_ERRNO | 1);
    assert_eq!(call(1337), RET_ERRNO | 1);
    assert_eq!(call(5), RET_ALLOW);
}

#[test]
fn notify_is_refused_on_write_and_as_default() {
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
        "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}));
    assert!(compile(&p).unwrap_err().to_string().contains("cannot be used for the write syscall"));
    let p = profile(json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}));
    assert!(compile(&p).unwrap_err().to_string().contains("default action"));
}

#[test]
fn deny_list_holds_on_every_abi() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    }));
    let f = compile(&p).unwrap();
    assert_eq!(run(&f.program, X64, nr("mkdir"), NONE), RET_ERRNO | 1);
    // i386 mkdir (39) and x32 mkdir are not listed: killed, never allowed.
    assert_eq!(run(&f.program, AUDIT_ARCH_I386, 39, NONE), RET_KILL_PROCESS);
    assert_eq!(run(&f.program, X64, X32_BIT + nr("mkdir"), NONE), RET_KILL_PROCESS);
    assert_eq!(run(&f.program, 0xdead_beef, 1, NONE), RET_KILL_PROCESS);
}

#[test]
fn native_architecture_is_always_filtered() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    }));
    let f = compile(&p).unwrap();
    assert_eq!(run(&f.program, X64, nr("mkdir"), NONE), RET_ERRNO | 1);
    assert_eq!(run(&f.program, AUDIT_ARCH_I386, 39, NONE), RET_ERRNO | 1);
}

#[test]
fn x86_multiplexers_carry_the_rules() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["connect", "shmget"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                     {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
                      "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}]},
                     {"names": ["bind"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]
    }));
    let f = compile(&p).unwrap();
    let i386 = |nr: u32, a0: u64| run(&f.program, AUDIT_ARCH_I386, nr, [a0, 0, 0, 0, 0, 0]);
    assert_eq!(i386(362, 0), RET_ERRNO | 1, "direct i386 connect");
    assert_eq!(i386(102, 3), RET_ERRNO | 1, "socketcall(SYS_CONNECT)");
    assert_eq!(i386(102, 2), RET_ALLOW, "socketcall(SYS_BIND): an allow rule with arguments is not widened");
    assert_eq!(i386(102, 1), RET_ERRNO | 2, "socketcall(SYS_SOCKET): a deny rule with arguments applies to every use");
    assert_eq!(i386(117, 23), RET_ERRNO | 1, "ipc(SHMGET)");
    assert_eq!(i386(117, 0x1_0017), RET_ERRNO | 1, "ipc(SHMGET) with a version");
    assert_eq!(i386(117, 21), RET_ALLOW, "ipc(SHMAT)");
}

#[test]
fn x86_and_x32_get_their_own_numbers() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]
    }));
    let f = compile(&p).unwrap();
    assert_eq!(run(&f.program, X64, 39, NONE), RET_ALLOW, "x86_64 getpid is 39");
    assert_eq!(run(&f.program, AUDIT_ARCH_I386, 20, NONE), RET_ALLOW, "i386 getpid is 20");
    assert_eq!(run(&f.program, AUDIT_ARCH_I386, 3, NONE), RET_KILL_PROCESS, "read is not allowed");
    assert_eq!(run(&f.program, AUDIT_ARCH_I386, 39, NONE), RET_ERRNO | 38, "above the profile's highest i386 number");
    assert_eq!(run(&f.program, X64, X32_BIT + 39, NONE), RET_ALLOW, "x32 getpid");
}

#[test]
fn argument_comparisons_on_64_bits() {
    let rule = |op: &str, v: u64, v2: u64| {
        profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                          "args": [{"index": 1, "value": v, "valueTwo": v2, "op": op}]}]
        }))
    };
    let call = |f: &Filter, arg: u64| run(&f.program, X64, nr("personality"), [0, arg, 0, 0, 0, 0]) == RET_ERRNO | 22;
    let big = 0x1_0000_0005u64;
    type Case<'a> = (&'a str, u64, u64, &'a [(u64, bool)]);
    let cases: [Case; 7] = [
        ("SCMP_CMP_EQ", big, 0, &[(big, true), (5, false), (big + 1, false)]),
        ("SCMP_CMP_NE", big, 0, &[(big, false), (5, true)]),
        ("SCMP_CMP_GT", big, 0, &[(big + 1, true), (big, false), (0x2_0000_0000, true), (6, false)]),
        ("SCMP_CMP_GE", big, 0, &[(big, true), (big - 1, false)]),
        ("SCMP_CMP_LT", big, 0, &[(big - 1, true), (big, false), (7, true)]),
        ("SCMP_CMP_LE", big, 0, &[(big, true), (big + 1, false)]),
        ("SCMP_CMP_MASKED_EQ", 0xff00_0000_00ff, 0x1200_0000_0034, &[(0x1234_0000_5634, true), (0x1234, false)]),
    ];
    for (op, v, v2, checks) in cases {
        let f = compile(&rule(op, v, v2)).unwrap();
        for (arg, hit) in checks {
            assert_eq!(call(&f, *arg), *hit, "{op} {v:#x} against {arg:#x}");
        }
    }
}

#[test]
fn first_matching_rule_of_a_syscall_wins() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 0}]},
            {"names": ["clone"], "action": "SCMP_ACT_TRAP"}
        ]
    }));
    let f = compile(&p).unwrap();
    assert_eq!(run(&f.program, X64, nr("clone"), [0x11, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run(&f.program, X64, nr("clone"), [0x10000000, 0, 0, 0, 0, 0]), RET_TRAP);
}

#[test]
fn many_syscalls_stay_small_and_correct() {
    let names: Vec<&str> = syscalls::X86_64.iter().map(|(n, _)| n).filter(|n| !n.starts_with('k')).collect();
    let p =
        profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}));
    let f = compile(&p).unwrap();
    assert!(f.program.len() < 200, "{} instructions for one action", f.program.len());
    for (n, v) in syscalls::X86_64.iter() {
        let want = if n.starts_with('k') { RET_ERRNO | 1 } else { RET_ALLOW };
        assert_eq!(run(&f.program, X64, v, NONE), want, "{n}");
    }
}

#[test]
fn errors_name_the_field() {
    let spec: crate::spec::types::Spec =
        serde_json::from_value(json!({"linux": {"seccomp": {"defaultAction": "NOPE"}}})).unwrap();
    assert!(from_spec(&spec).unwrap_err().to_string().contains("linux.seccomp.defaultAction"));
    let e = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]})));
    assert!(e.unwrap_err().to_string().contains("linux.seccomp.architectures[0]"));
    assert!(
        compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64"]}))).is_ok()
    );
    let bad = profile(json!({"defaultAction": "SCMP_ACT_NOPE"}));
    assert!(compile(&bad).unwrap_err().to_string().contains("linux.seccomp.defaultAction"));
    let bad = profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
    );
    assert!(compile(&bad).unwrap_err().to_string().contains("syscalls[0].args[0].index"));
    let bad = profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    assert!(compile(&bad).unwrap_err().to_string().contains("listenerPath"));
}

#[test]
fn every_table_finds_each_of_its_names_in_order() {
    for arch in [Arch::X86_64, Arch::X86, Arch::X32] {
        let rows: Vec<(&str, u32)> = arch.table().iter().collect();
        assert!(rows.len() > 300);
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "sorted, no name twice");
        for (name, nr) in rows {
            assert_eq!(arch.number(name), Some(nr), "{name}");
        }
        assert_eq!(arch.number("no_such_syscall"), None);
    }
    assert_eq!(Arch::X86_64.number("openat2"), Some(437));
    assert_eq!(Arch::X86.number("socketcall"), Some(102));
    assert_eq!(Arch::X32.number("read"), Some(0x4000_0000));
}
