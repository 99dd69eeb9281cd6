//! The memory layout the kernel recorded for this process at its execve
//! (the mm fields /proc/PID/stat shows as 26-28 and 45-51), worked out
//! from the program headers and the initial stack rather than read from
//! /proc: PR_SET_MM_MAP sets every field at once, so swapping the
//! executable (`exeseal`) must hand them all back as they were. Reading
//! /proc/self/stat for them cost a fresh process ~30 µs (a new procfs
//! dentry and inode, and the kernel's formatting).
//!
//! The kernel's rules (load_elf_binary, create_elf_tables):
//! - code runs from the lowest executable PT_LOAD's address to the end of
//!   the file bytes of the highest one;
//! - data starts at the highest PT_LOAD's address and ends at the end of
//!   the file bytes furthest up;
//! - the stack starts where argc lies, the arguments' strings at argv[0],
//!   and the environment's strings right after the last argument's NUL,
//!   up to the last one's NUL.
//!
//! A unit test holds these against /proc/self/stat on the running kernel.

/// The kernel's `struct prctl_mm_map` (linux/prctl.h).
#[repr(C)]
#[derive(Debug, Default, PartialEq)]
pub struct MmMap {
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub brk: u64,
    pub start_stack: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    pub auxv: u64,
    pub auxv_size: u32,
    pub exe_fd: u32,
}

/// start_code, end_code, start_data and end_data of an image whose program
/// headers are `phdrs`, loaded `bias` above their addresses. None without
/// an executable PT_LOAD.
pub fn segments(phdrs: &[libc::Elf64_Phdr], bias: u64) -> Option<[u64; 4]> {
    let (mut start_code, mut end_code, mut start_data, mut end_data) = (u64::MAX, 0, 0, 0);
    for p in phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD) {
        let end = p.p_vaddr.checked_add(p.p_filesz)?;
        if p.p_flags & libc::PF_X != 0 {
            start_code = start_code.min(p.p_vaddr);
            end_code = end_code.max(end);
        }
        start_data = start_data.max(p.p_vaddr);
        end_data = end_data.max(end);
    }
    if start_code == u64::MAX {
        return None;
    }
    Some([start_code, end_code, start_data, end_data].map(|a| a.wrapping_add(bias)))
}

/// This process's own program headers (the auxiliary vector's AT_PHDR and
/// AT_PHNUM) and their load bias (from PT_PHDR, which places them).
pub fn own_program_headers() -> Option<(&'static [libc::Elf64_Phdr], u64)> {
    // SAFETY: getauxval only reads the auxiliary vector.
    let (at, n) = unsafe { (libc::getauxval(libc::AT_PHDR), libc::getauxval(libc::AT_PHNUM)) };
    if at == 0 || n == 0 {
        return None;
    }
    // SAFETY: the kernel points AT_PHDR at AT_PHNUM headers mapped with
    // the image, for the life of the process.
    let phdrs = unsafe { std::slice::from_raw_parts(at as *const libc::Elf64_Phdr, n as usize) };
    let own = phdrs.iter().find(|p| p.p_type == libc::PT_PHDR)?;
    Some((phdrs, at.wrapping_sub(own.p_vaddr)))
}

/// arg_start, arg_end, env_start and env_end, from the stack the kernel
/// started the process with: argc at `stack`, then argv[] and envp[], each
/// ending in a null pointer. None with no argument.
///
/// # Safety
/// `stack` must be the process's initial stack pointer, its vectors and
/// strings unchanged since the execve.
pub unsafe fn strings(stack: *const u64) -> Option<[u64; 4]> {
    // SAFETY (here and below): the caller's promise; the kernel laid out
    // argc, argc + 1 argument pointers, then the environment's, null-ended.
    let argc = unsafe { *stack } as usize;
    if argc == 0 {
        return None;
    }
    let argv = unsafe { stack.add(1) };
    let end_of = |s: u64| {
        // SAFETY: s is one of the kernel's NUL-terminated strings.
        s + unsafe { libc::strlen(s as *const libc::c_char) } as u64 + 1
    };
    let arg_start = unsafe { *argv };
    let arg_end = end_of(unsafe { *argv.add(argc - 1) });
    let envp = unsafe { argv.add(argc + 1) };
    let mut envc = 0;
    while unsafe { *envp.add(envc) } != 0 {
        envc += 1;
    }
    let env_end = if envc == 0 { arg_end } else { end_of(unsafe { *envp.add(envc - 1) }) };
    Some([arg_start, arg_end, arg_end, env_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields 3 and on of /proc/self/stat, by number.
    fn stat_fields() -> Vec<u64> {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let rest = stat.rsplit_once(')').unwrap().1;
        let mut out = vec![0, 0, 0];
        out.extend(rest.split_whitespace().map(|f| f.parse::<u64>().unwrap_or(0)));
        out
    }

    #[test]
    fn the_layout_is_the_kernels() {
        let f = stat_fields();
        let (phdrs, bias) = own_program_headers().unwrap();
        assert_eq!(segments(phdrs, bias).unwrap(), [f[26], f[27], f[45], f[46]], "code and data");
        // SAFETY: field 28 is the initial stack pointer, and nothing in a
        // test process rewrites argv or the environment's first vector.
        let got = unsafe { strings(f[28] as *const u64) }.unwrap();
        assert_eq!(got, [f[48], f[49], f[50], f[51]], "arguments and environment");
    }

    #[test]
    fn segments_follow_the_kernels_rules() {
        let load = |vaddr, filesz, flags| libc::Elf64_Phdr {
            p_type: libc::PT_LOAD,
            p_flags: flags,
            p_offset: 0,
            p_vaddr: vaddr,
            p_paddr: 0,
            p_filesz: filesz,
            p_memsz: filesz + 0x100,
            p_align: 0x1000,
        };
        let (r, rx, rw) = (libc::PF_R, libc::PF_R | libc::PF_X, libc::PF_R | libc::PF_W);
        let phdrs = [load(0, 0x500, r), load(0x1000, 0x800, rx), load(0x3000, 0x40, rw), load(0x2000, 0x1200, rw)];
        assert_eq!(segments(&phdrs, 0x10000), Some([0x11000, 0x11800, 0x13000, 0x13200]));
        assert_eq!(segments(&phdrs[..1], 0), None, "no code");
        assert_eq!(std::mem::size_of::<MmMap>(), 104, "the kernel's size");
    }

    #[test]
    fn strings_without_an_environment_end_with_the_arguments() {
        let (a, b) = (c"berth", c"exec");
        let stack = [2, a.as_ptr() as u64, b.as_ptr() as u64, 0, 0];
        // SAFETY: a stack of our own making, laid out as the kernel's.
        let got = unsafe { strings(stack.as_ptr()) }.unwrap();
        assert_eq!(got[0], a.as_ptr() as u64);
        assert_eq!(got[1], b.as_ptr() as u64 + 5);
        assert_eq!((got[2], got[3]), (got[1], got[1]));
        // SAFETY: as above, with no argument at all.
        assert_eq!(unsafe { strings([0u64, 0, 0].as_ptr()) }, None);
    }
}
