//! berth's ELF entry point (`berth_entry`, set by build.rs), which runs
//! before glibc's `_start`.
//!
//! `create`, `run` and `exec` must not run from the host's binary
//! (CVE-2019-5736, see `berth::linux::exeseal`): they re-execute berth from a
//! detached read-only bind mount of it. Done from Rust, that costs a whole
//! glibc start-up in an image that is thrown away at once, and glibc's
//! start-up is mostly CPUID instructions (features, then every cache level
//! through leaves 2 and 4), each one a trap to the hypervisor on a virtual
//! machine: about 0.8 ms on the development host, where the exec itself
//! takes 0.09 ms. So the entry does the re-execution itself, with raw
//! system calls and no memory but the stack, and only then lets glibc start.
//!
//! It re-executes when an argument is exactly `create`, `run` or `exec` (a
//! container named so costs one needless exec, nothing else), the marker is
//! not in the environment yet, and the image is neither on a read-only
//! mount nor a sealed memfd. Whatever it cannot do (no /proc, no
//! open_tree without CAP_SYS_ADMIN) it leaves to `exeseal::ensure`, which
//! runs in every case, checks the image and has the sealed-memfd fallback.
//! Nothing here decides safety: it only saves the first start-up.
//!
//! The mount's descriptor stays open across the execveat (its number is
//! the marker's value): closed by the exec, the detached mount would be
//! dissolved on the way back to user space, and that waits out an RCU
//! grace period. `exeseal::ensure` drops it in a helper instead.

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
    // open_tree(exe, "", OPEN_TREE_CLONE | AT_EMPTY_PATH): kept open
    // across the execveat, for exeseal::ensure to drop apart.
    ".Lbe_tree:",
    "    mov eax, 428",
    "    mov edi, ebp",
    "    lea rsi, [rip + .Lbe_empty]",
    "    mov edx, 0x1001",
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
    ".Lbe_empty: .byte 0",
    ".popsection",
    mark = sym SEALED_MARK,
);

#[cfg(test)]
mod tests {
    #[test]
    fn the_marker_is_exeseals() {
        let want = format!("{}=", berth::linux::exeseal::MARK);
        assert_eq!(super::SEALED_MARK.as_slice(), want.as_bytes());
    }
}
