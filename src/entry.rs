//! berth's ELF entry point (`berth_entry`, set by build.rs), which runs
//! before glibc's `_start`.
//!
//! `create`, `run` and `exec` must not run from the host's binary
//! (CVE-2019-5736, see `berth::linux::exeseal`): every page of berth's
//! image must come from a detached read-only bind mount of it. The entry
//! makes that mount and maps every PT_LOAD segment again from the binary
//! opened through it: the same pages, offsets and protections, at the same
//! addresses. That must happen here, before glibc's start-up relocates the
//! writable segments: mapped again now, they are still as the file has
//! them (but for the zeroed tail past a segment's file bytes, which the
//! entry zeroes again). `exeseal::ensure` then makes the file
//! /proc/self/exe; the kernel allows that only once no mapping of the old
//! one is left, so a segment missed here fails safe.
//!
//! This replaced a re-execution from the mount: a second exec, ~0.3 ms of
//! `exec` on the development host. Where the mapping cannot be done (no
//! header at file offset 0, a refused mmap) the entry still re-executes,
//! from raw system calls, before glibc starts: glibc's start-up is mostly
//! CPUID instructions, each a trap to the hypervisor on a virtual machine.
//!
//! While it maps, it also spares berth page faults, each a trap and a
//! page (~3 µs on the development host): writable segments are mapped
//! with MAP_POPULATE, since glibc's relocation writes to nearly every page
//! of them, and the stack these commands reach is populated in one call.
//! `exec`: 58 faults in berth, then 28; 26-96 µs less CPU in interleaved
//! runs on the development host, as its load varied.
//!
//! It acts only in an image the kernel started itself (the static-pie
//! `make build` gives): behind a dynamic loader, which has relocated the
//! segments already, it leaves everything to `exeseal::ensure`'s
//! re-execution. It acts when an argument is exactly `create`, `run` or
//! `exec` (a container named so costs the mapping, and the mount is
//! dissolved at exit, nothing else), the marker is not in the environment
//! yet, and the image is neither on a read-only mount nor a sealed memfd.
//! Whatever it cannot do (no /proc, no open_tree without CAP_SYS_ADMIN)
//! it leaves to `exeseal::ensure`, which runs in every case, checks the
//! image and has the sealed-memfd fallback. Nothing here decides safety.
//!
//! The mount's descriptor stays open: closed, the detached mount would be
//! dissolved, and that waits out an RCU grace period. `exeseal::release`
//! drops it in a helper instead, when no child holds it, or
//! `exeseal::dissolve` closes it before a process enters the container
//! (held, its read-only flag could be cleared from there); across a
//! re-execution its number is the marker's value.

/// The marker the re-executed image finds in its environment: `NAME=` and
/// the descriptor of the read-only mount it runs from (`exeseal::MARK` is
/// the name; a unit test keeps them the same). The entry matches a marker
/// up to and including the `=`.
#[used]
static SEALED_MARK: [u8; 18] = *b"_BERTH_SEALED_EXE=";

std::arch::global_asm!(
    ".pushsection .text.berth_entry,\"ax\",@progbits",
    ".globl berth_entry",
    ".type berth_entry,@function",
    "berth_entry:",
    // The kernel's stack: argc, argv[], NULL, envp[], NULL, auxv. glibc's
    // _start wants it untouched and rdx as it came (rtld_fini, 0 when
    // static); r12-r15, rbx and rbp survive system calls.
    "    mov r12, rsp",
    "    mov r15, rdx",
    // A dynamic loader ran first (a build without crt-static): it passes
    // its finaliser in rdx, where the kernel leaves 0, and it relocated
    // the segments a new mapping would put back as the file has them.
    "    test r15, r15",
    "    jnz .Lbe_libc",
    "    mov rbx, [r12]",
    "    mov r14d, 1",
    // Is one of the arguments a command that enters a container?
    ".Lbe_args:",
    "    cmp r14, rbx",
    "    jae .Lbe_libc",
    "    mov r13, [r12 + 8 + r14*8]",
    "    lea rdi, [rip + .Lbe_create]",
    "    mov rsi, r13",
    "    call .Lbe_streq",
    "    test eax, eax",
    "    jnz .Lbe_env",
    "    lea rdi, [rip + .Lbe_run]",
    "    mov rsi, r13",
    "    call .Lbe_streq",
    "    test eax, eax",
    "    jnz .Lbe_env",
    "    lea rdi, [rip + .Lbe_exec]",
    "    mov rsi, r13",
    "    call .Lbe_streq",
    "    test eax, eax",
    "    jnz .Lbe_env",
    "    inc r14",
    "    jmp .Lbe_args",
    // Already re-executed? Then exeseal::ensure judges the image. r14
    // counts the environment's entries.
    ".Lbe_env:",
    "    lea r13, [r12 + 16 + rbx*8]",
    "    xor r14d, r14d",
    ".Lbe_env_next:",
    "    mov rsi, [r13 + r14*8]",
    "    test rsi, rsi",
    "    jz .Lbe_open",
    "    lea rdi, [rip + {mark}]",
    "    call .Lbe_is_mark",
    "    test eax, eax",
    "    jnz .Lbe_libc",
    "    inc r14",
    "    jmp .Lbe_env_next",
    // openat(AT_FDCWD, "/proc/self/exe", O_RDONLY | O_CLOEXEC)
    ".Lbe_open:",
    "    mov eax, 257",
    "    mov edi, -100",
    "    lea rsi, [rip + .Lbe_self_exe]",
    "    mov edx, 0x80000",
    "    syscall",
    "    test eax, eax",
    "    js .Lbe_libc",
    "    mov ebp, eax",
    // A closed stdin, stdout or stderr would take the descriptor: whatever
    // the entry left there would pass for it. main opens /dev/null on
    // them first; exeseal::ensure then does what is needed.
    "    cmp eax, 3",
    "    jl .Lbe_close_exe",
    // fstatfs: on a read-only mount (ST_RDONLY in f_flags, offset 80)?
    "    sub rsp, 128",
    "    mov eax, 138",
    "    mov edi, ebp",
    "    mov rsi, rsp",
    "    syscall",
    "    test eax, eax",
    "    jnz .Lbe_close_exe",
    "    test byte ptr [rsp + 80], 1",
    "    jnz .Lbe_close_exe",
    // fcntl(F_GET_SEALS): a memfd sealed against writes?
    "    mov eax, 72",
    "    mov edi, ebp",
    "    mov esi, 1034",
    "    syscall",
    "    test eax, eax",
    "    js .Lbe_tree",
    "    test eax, 8",
    "    jnz .Lbe_close_exe",
    // open_tree(exe, "", OPEN_TREE_CLONE | AT_EMPTY_PATH | O_CLOEXEC)
    ".Lbe_tree:",
    "    mov eax, 428",
    "    mov edi, ebp",
    "    lea rsi, [rip + .Lbe_empty]",
    "    mov edx, 0x81001",
    "    syscall",
    "    mov ebx, eax",
    "    mov eax, 3",
    "    mov edi, ebp",
    "    syscall",
    "    test ebx, ebx",
    "    js .Lbe_libc",
    // mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE,
    //   { RDONLY | NOSUID | NODEV, 0, 0, 0 }, 32)
    "    mov qword ptr [rsp], 7",
    "    mov qword ptr [rsp + 8], 0",
    "    mov qword ptr [rsp + 16], 0",
    "    mov qword ptr [rsp + 24], 0",
    "    mov eax, 442",
    "    mov edi, ebx",
    "    lea rsi, [rip + .Lbe_empty]",
    "    mov edx, 0x9000",
    "    mov r10, rsp",
    "    mov r8d, 32",
    "    syscall",
    "    test eax, eax",
    "    jnz .Lbe_close_tree",
    // The binary through the mount: open("/proc/self/fd/<tree>") at
    // rsp + 32, O_RDONLY | O_CLOEXEC, into ebp.
    "    lea rsi, [rip + .Lbe_fd_dir]",
    "    lea rdi, [rsp + 32]",
    ".Lbe_fd_path:",
    "    mov al, [rsi]",
    "    mov [rdi], al",
    "    inc rsi",
    "    inc rdi",
    "    test al, al",
    "    jnz .Lbe_fd_path",
    "    dec rdi",
    "    call .Lbe_utoa",
    "    mov eax, 257",
    "    mov edi, -100",
    "    lea rsi, [rsp + 32]",
    "    mov edx, 0x80000",
    "    syscall",
    "    test eax, eax",
    "    js .Lbe_reexec",
    "    mov ebp, eax",
    // Every PT_LOAD again, from that file: the same pages, offsets and
    // protections, none touched yet (glibc has not relocated anything).
    // r13 walks the program headers and r14 counts them down; the
    // environment's, which they held, waits at rsp + 64. rsp + 0 holds the
    // load bias, rsp + 8 the headers' size, rsp + 16 the address mapped.
    "    mov [rsp + 64], r13",
    "    mov [rsp + 72], r14",
    "    lea rax, [rip + __ehdr_start]",
    "    mov r13, [rax + 0x20]",
    "    add r13, rax",
    "    movzx ecx, word ptr [rax + 0x36]",
    "    mov [rsp + 8], rcx",
    "    movzx r14d, word ptr [rax + 0x38]",
    // The bias: the ELF header's address less the vaddr of the first
    // PT_LOAD, which must hold the header (file offset 0).
    "    mov rdi, r13",
    "    mov rsi, r14",
    ".Lbe_first:",
    "    test rsi, rsi",
    "    jz .Lbe_no_swap",
    "    cmp dword ptr [rdi], 1",
    "    je .Lbe_bias",
    "    add rdi, rcx",
    "    dec rsi",
    "    jmp .Lbe_first",
    ".Lbe_bias:",
    "    cmp qword ptr [rdi + 8], 0",
    "    jne .Lbe_no_swap",
    "    sub rax, [rdi + 16]",
    "    mov [rsp], rax",
    ".Lbe_seg:",
    "    test r14, r14",
    "    jz .Lbe_swapped",
    "    cmp dword ptr [r13], 1",
    "    jne .Lbe_seg_next",
    // Pages from p_vaddr down to p_vaddr + p_filesz up.
    "    mov rdi, [r13 + 16]",
    "    mov rsi, rdi",
    "    add rsi, [r13 + 32]",
    "    add rsi, 0xfff",
    "    and rsi, -4096",
    "    and rdi, -4096",
    "    sub rsi, rdi",
    "    jz .Lbe_seg_next",
    "    add rdi, [rsp]",
    "    mov [rsp + 16], rdi",
    // p_flags X 1, W 2, R 4 to PROT_EXEC 4, PROT_WRITE 2, PROT_READ 1.
    "    mov ecx, [r13 + 4]",
    "    xor edx, edx",
    "    test ecx, 4",
    "    jz .Lbe_not_r",
    "    or edx, 1",
    ".Lbe_not_r:",
    "    test ecx, 2",
    "    jz .Lbe_not_w",
    "    or edx, 2",
    ".Lbe_not_w:",
    "    test ecx, 1",
    "    jz .Lbe_not_x",
    "    or edx, 4",
    ".Lbe_not_x:",
    // mmap(addr, len, prot, MAP_PRIVATE | MAP_FIXED, file, p_offset down),
    // writable segments with MAP_POPULATE: glibc's relocation writes to
    // nearly every page of them, one copy-on-write fault each; populated,
    // the kernel copies them all in this one call.
    "    mov r10d, 0x12",
    "    test ecx, 2",
    "    jz .Lbe_no_populate",
    "    or r10d, 0x8000",
    ".Lbe_no_populate:",
    "    mov r8d, ebp",
    "    mov r9, [r13 + 8]",
    "    and r9, -4096",
    "    mov eax, 9",
    "    syscall",
    "    cmp rax, [rsp + 16]",
    "    jne .Lbe_no_swap",
    // The kernel zeroed a writable segment's last file page past
    // p_filesz when more memory follows (.bss): so again.
    "    test byte ptr [r13 + 4], 2",
    "    jz .Lbe_seg_next",
    "    mov rax, [r13 + 40]",
    "    cmp rax, [r13 + 32]",
    "    jbe .Lbe_seg_next",
    "    mov rdi, [r13 + 16]",
    "    add rdi, [r13 + 32]",
    "    add rdi, [rsp]",
    "    mov rcx, rdi",
    "    neg rcx",
    "    and rcx, 0xfff",
    "    xor eax, eax",
    "    rep stosb",
    ".Lbe_seg_next:",
    "    add r13, [rsp + 8]",
    "    dec r14",
    "    jmp .Lbe_seg",
    // Done: exeseal::ensure points /proc/self/exe at the file.
    // It needs the layout the kernel gave berth, which PR_SET_MM_MAP sets
    // again: the stack it started on, and the program break (brk(0)).
    ".Lbe_swapped:",
    // First, madvise(MADV_POPULATE_WRITE) the 32 KiB (stackpop) of stack
    // below the pages the kernel filled: the depth these commands reach
    // (exec's child runs there too, src/spawn/vfork.rs), one fault each
    // otherwise. The kernel's stack mapping reaches 128 KiB below them; a
    // refusal (an old kernel, a tiny RLIMIT_STACK) changes nothing.
    "    lea rdi, [r12 - {stackpop}]",
    "    and rdi, -4096",
    "    mov rsi, r12",
    "    and rsi, -4096",
    "    sub rsi, rdi",
    "    mov edx, 23",
    "    mov eax, 28",
    "    syscall",
    "    mov dword ptr [rip + {file}], ebp",
    "    mov dword ptr [rip + {tree}], ebx",
    "    mov qword ptr [rip + {stack}], r12",
    "    mov eax, 12",
    "    xor edi, edi",
    "    syscall",
    "    mov qword ptr [rip + {brk}], rax",
    "    jmp .Lbe_libc",
    // Not done (no header at offset 0, a refused mmap, which leaves the
    // old mapping): re-execute from the mount instead.
    ".Lbe_no_swap:",
    "    mov eax, 3",
    "    mov edi, ebp",
    "    syscall",
    "    mov r13, [rsp + 64]",
    "    mov r14, [rsp + 72]",
    // The mount stays open across the execveat, for exeseal::ensure to
    // drop apart: fcntl(tree, F_SETFD, 0).
    ".Lbe_reexec:",
    "    mov eax, 72",
    "    mov edi, ebx",
    "    mov esi, 2",
    "    xor edx, edx",
    "    syscall",
    // The marker, NAME=<tree's descriptor>, at rsp + 32 (rbp).
    "    lea rsi, [rip + {mark}]",
    "    lea rdi, [rsp + 32]",
    "    mov rbp, rdi",
    ".Lbe_name:",
    "    mov al, [rsi]",
    "    mov [rdi], al",
    "    inc rsi",
    "    inc rdi",
    "    cmp al, 0x3d",
    "    jne .Lbe_name",
    "    call .Lbe_utoa",
    // The environment with the marker after it, on the stack.
    "    lea rax, [r14*8 + 16]",
    "    sub rsp, rax",
    "    and rsp, -16",
    "    xor ecx, ecx",
    ".Lbe_copy:",
    "    cmp rcx, r14",
    "    jae .Lbe_exec_copy",
    "    mov rax, [r13 + rcx*8]",
    "    mov [rsp + rcx*8], rax",
    "    inc rcx",
    "    jmp .Lbe_copy",
    // execveat(tree, "", argv, envp, AT_EMPTY_PATH): no return on success.
    ".Lbe_exec_copy:",
    "    mov [rsp + rcx*8], rbp",
    "    mov qword ptr [rsp + rcx*8 + 8], 0",
    "    mov eax, 322",
    "    mov edi, ebx",
    "    lea rsi, [rip + .Lbe_empty]",
    "    lea rdx, [r12 + 8]",
    "    mov r10, rsp",
    "    mov r8d, 0x1000",
    "    syscall",
    ".Lbe_close_tree:",
    "    mov eax, 3",
    "    mov edi, ebx",
    "    syscall",
    "    jmp .Lbe_libc",
    ".Lbe_close_exe:",
    "    mov eax, 3",
    "    mov edi, ebp",
    "    syscall",
    // glibc starts as if the kernel had jumped straight to _start.
    ".Lbe_libc:",
    "    mov rsp, r12",
    "    mov rdx, r15",
    "    jmp _start",
    // Writes ebx in decimal at rdi, then a NUL. Uses rax, rcx, rdx, r8.
    ".Lbe_utoa:",
    "    mov r8, rdi",
    "    mov eax, ebx",
    "    mov ecx, 10",
    ".Lbe_digits:",
    "    inc r8",
    "    xor edx, edx",
    "    div ecx",
    "    test eax, eax",
    "    jnz .Lbe_digits",
    "    mov byte ptr [r8], 0",
    "    mov eax, ebx",
    ".Lbe_digit:",
    "    dec r8",
    "    xor edx, edx",
    "    div ecx",
    "    add dl, 0x30",
    "    mov [r8], dl",
    "    test eax, eax",
    "    jnz .Lbe_digit",
    "    ret",
    // eax = 1 when the strings at rdi and rsi are equal.
    ".Lbe_streq:",
    "    mov al, [rdi]",
    "    cmp al, [rsi]",
    "    jne .Lbe_no",
    "    inc rdi",
    "    inc rsi",
    "    test al, al",
    "    jnz .Lbe_streq",
    "    mov eax, 1",
    "    ret",
    ".Lbe_no:",
    "    xor eax, eax",
    "    ret",
    // eax = 1 when rsi starts with rdi's text up to and including its '='.
    ".Lbe_is_mark:",
    "    mov al, [rdi]",
    "    cmp al, [rsi]",
    "    jne .Lbe_no",
    "    cmp al, 0x3d",
    "    je .Lbe_yes",
    "    test al, al",
    "    jz .Lbe_no",
    "    inc rdi",
    "    inc rsi",
    "    jmp .Lbe_is_mark",
    ".Lbe_yes:",
    "    mov eax, 1",
    "    ret",
    ".size berth_entry, . - berth_entry",
    ".popsection",
    ".pushsection .rodata.berth_entry,\"a\",@progbits",
    ".Lbe_create: .asciz \"create\"",
    ".Lbe_run: .asciz \"run\"",
    ".Lbe_exec: .asciz \"exec\"",
    ".Lbe_self_exe: .asciz \"/proc/self/exe\"",
    ".Lbe_fd_dir: .asciz \"/proc/self/fd/\"",
    ".Lbe_empty: .byte 0",
    ".popsection",
    mark = sym SEALED_MARK,
    file = sym berth::linux::exeseal::ENTRY_FILE,
    tree = sym berth::linux::exeseal::ENTRY_TREE,
    stack = sym berth::linux::exeseal::ENTRY_STACK,
    brk = sym berth::linux::exeseal::ENTRY_BRK,
    stackpop = const 32 * 1024,
);

#[cfg(test)]
mod tests {
    #[test]
    fn the_marker_is_exeseals() {
        let want = format!("{}=", berth::linux::exeseal::MARK);
        assert_eq!(super::SEALED_MARK.as_slice(), want.as_bytes());
    }
}
