//! The compiled filter as create keeps it in the state directory, beside
//! the config it came from: `exec` loads it instead of parsing and
//! compiling the profile again (about 0.5 ms for a profile like Docker's
//! on the development host). A filter with a notify listener is not kept:
//! its exec compiles the profile, as before.
//!
//! Layout: "berthbpf", the flags (u32), the instruction count (u32), then
//! each instruction as the kernel's sock_filter (code u16, jt u8, jf u8,
//! k u32); numbers little-endian.

use super::bpf::SockFilter;
use super::Filter;
use anyhow::{bail, Result};

const MAGIC: &[u8; 8] = b"berthbpf";
const HEADER: usize = MAGIC.len() + 8;
/// The kernel's limit (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

/// `f` as the state directory keeps it; None when it has a listener.
pub fn encode(f: &Filter) -> Option<Vec<u8>> {
    if f.listener.is_some() {
        return None;
    }
    let mut out = Vec::with_capacity(HEADER + 8 * f.program.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&f.flags.to_le_bytes());
    out.extend_from_slice(&(f.program.len() as u32).to_le_bytes());
    for i in &f.program {
        out.extend_from_slice(&i.code.to_le_bytes());
        out.extend_from_slice(&[i.jt, i.jf]);
        out.extend_from_slice(&i.k.to_le_bytes());
    }
    Some(out)
}

/// A filter `encode` wrote; anything else is refused, never loaded.
pub fn decode(data: &[u8]) -> Result<Filter> {
    let word = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    if data.len() < HEADER || &data[..MAGIC.len()] != MAGIC {
        bail!("not a filter berth compiled");
    }
    let (flags, count) = (word(8), word(12) as usize);
    if count == 0 || count > MAX_INSNS || data.len() != HEADER + 8 * count {
        bail!("a filter of {count} instructions in {} bytes", data.len());
    }
    let program = data[HEADER..]
        .chunks_exact(8)
        .map(|c| SockFilter {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Ok(Filter { program, flags, listener: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(profile: serde_json::Value) -> Filter {
        super::super::compile(&serde_json::from_value(profile).unwrap()).unwrap()
    }

    #[test]
    fn a_saved_filter_loads_as_it_was_compiled() {
        let f = filter(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
                          "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}]}]
        }));
        assert_ne!(f.flags, 0);
        let back = decode(&encode(&f).unwrap()).unwrap();
        assert_eq!((back.program, back.flags, back.listener), (f.program, f.flags, None));
    }

    #[test]
    fn a_filter_with_a_listener_is_not_saved() {
        let f = filter(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        assert!(encode(&f).is_none());
    }

    #[test]
    fn damaged_files_are_refused() {
        let f = filter(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        let good = encode(&f).unwrap();
        let mut wrong_magic = good.clone();
        wrong_magic[0] = b'B';
        let mut too_many = good.clone();
        too_many[12..16].copy_from_slice(&5000u32.to_le_bytes());
        for (what, bad) in [
            ("empty", Vec::new()),
            ("header only", good[..HEADER].to_vec()),
            ("cut", good[..good.len() - 1].to_vec()),
            ("longer", [good.as_slice(), &[0]].concat()),
            ("magic", wrong_magic),
            ("count", too_many),
        ] {
            assert!(decode(&bad).is_err(), "{what}");
        }
    }
}
