//! clone3(2) with CLONE_VM | CLONE_VFORK: a child that runs one function
//! in this process's memory while the parent waits, until the child's
//! execve or exit.
//!
//! Why: a forked child copies berth's page tables, and every page either
//! side then writes is copied again on a fault (the child's text is even
//! faulted in anew: fork does not copy file-backed entries). The exec
//! child of a running container needs nothing from the parent between
//! the clone and its execve in the common case, so it can borrow the
//! parent's memory instead: `berth exec /bin/true` ≈ 0.2 ms faster here
//! (26 fewer page faults; no copied address space to tear down at execve).
//!
//! The rules that make sharing sound, which the caller keeps:
//! - the parent is single-threaded and stopped in clone3 until the child
//!   execs or exits (CLONE_VFORK; only a fatal signal ends that wait, and
//!   then the parent is gone), so no one else touches the memory;
//! - the child never returns: it ends in execve or `_exit`;
//! - it frees nothing the parent owns (it borrows; what it allocates
//!   itself it may free or leave, as if the parent had done it);
//! - it needs no answer from the parent (it would wait forever);
//! - it joins no time namespace (the kernel refuses that to a shared mm).
//!
//! The child's stack is the parent's own, `GAP` below the frame that
//! calls clone3: that part is unused while the parent waits (nothing runs
//! on it then: the wait ends only with the child's execve or exit, or a
//! fatal signal), and it is faulted in already, by the parent's deeper
//! calls before and by the ELF entry's populated stack (src/entry.rs),
//! where a fresh stack would cost a fault per page. The stack mapping
//! grows downwards for the child as for the parent.

use super::clone::{CloneArgs, CLONE_INTO_CGROUP};
use std::convert::Infallible;
use std::ffi::c_void;
use std::io;
use std::os::fd::RawFd;

/// The child's stack pointer starts this far below the caller's frame:
/// past the frames of `call` and the trampoline, and the red zone.
const GAP: u64 = 8 * 1024;

// berth_clone3_call(args, size, f, data): clone3(args, size); the child
// calls f(data) on the stack clone3 gave it and must not return (ud2 if
// it does); the parent returns clone3's result (the pid, or -errno).
// Only rax, rcx and r11 change across a system call, so f and data wait
// in r8 and r9; the child starts with the parent's registers and the new
// stack pointer.
#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".pushsection .text.berth_clone3_call,\"ax\",@progbits",
    ".globl berth_clone3_call",
    ".type berth_clone3_call,@function",
    "berth_clone3_call:",
    "    mov r8, rdx",
    "    mov r9, rcx",
    "    mov eax, 435",
    "    syscall",
    "    test rax, rax",
    "    jnz 1f",
    "    xor ebp, ebp",
    "    and rsp, -16",
    "    mov rdi, r9",
    "    call r8",
    "    ud2",
    "1:",
    "    ret",
    ".size berth_clone3_call, . - berth_clone3_call",
    ".popsection",
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    fn berth_clone3_call(
        args: *const CloneArgs,
        size: usize,
        f: extern "C" fn(*mut c_void) -> !,
        data: *mut c_void,
    ) -> i64;
}

type Work<'a> = &'a mut dyn FnMut() -> Infallible;

extern "C" fn start(data: *mut c_void) -> ! {
    // SAFETY: data points at the `Work` that `spawn` passed, in the frame
    // of the parent, which is stopped in clone3 until this child is gone.
    let work = unsafe { &mut *(data as *mut Work) };
    match work() {}
}

/// Starts a child running `work` in our memory (see the module's rules),
/// optionally straight into the cgroup v2 directory `cgroup`, and returns
/// its pid once it has called execve or ended. Where this build has no
/// trampoline, ENOSYS: the caller forks instead, as on any error (none
/// leaves a child behind).
#[inline(never)]
pub fn spawn(cgroup: Option<RawFd>, mut work: Work) -> io::Result<i32> {
    let mut args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK) as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // The child's stack: from GAP below this frame down. clone3 wants a
    // base and a size and starts the child at their sum; the size is
    // nominal (the mapping grows as for the parent).
    let here = std::hint::black_box(&args) as *const CloneArgs as u64;
    let top = (here - GAP) & !63;
    args.stack_size = 1 << 20;
    args.stack = top - args.stack_size;
    let data = &mut work as *mut Work as *mut c_void;
    call(&args, data)
}

#[cfg(target_arch = "x86_64")]
fn call(args: &CloneArgs, data: *mut c_void) -> io::Result<i32> {
    // SAFETY: args is a valid clone_args with CLONE_VM | CLONE_VFORK and a
    // stack below every live frame of ours; `start` runs the child there
    // and never returns; we stay stopped in clone3 until the child has
    // exec'd or exited, so `data` (in our frame) outlives its use.
    let r = unsafe { berth_clone3_call(args, std::mem::size_of::<CloneArgs>(), start, data) };
    match r {
        r if r < 0 => Err(io::Error::from_raw_os_error(-r as i32)),
        pid => Ok(pid as i32),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn call(_: &CloneArgs, _: *mut c_void) -> io::Result<i32> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    fn wait(pid: i32) -> i32 {
        let mut st = 0;
        // SAFETY: st is a valid out pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
        assert!(libc::WIFEXITED(st), "status {st:#x}");
        libc::WEXITSTATUS(st)
    }

    /// Fills `depth` KiB of stack below the caller with a pattern.
    #[inline(never)]
    fn dig(depth: usize) -> u8 {
        let mut page = [0xa5u8; 1024];
        std::hint::black_box(&mut page);
        match depth {
            0 => page[7],
            _ => dig(depth - 1).wrapping_add(page[depth % 1024]),
        }
    }

    #[test]
    fn the_child_writes_our_memory_and_we_wait_for_it() {
        let mut seen = 0u32;
        let pid = {
            let seen = &mut seen;
            let mut work = || -> Infallible {
                *seen = 42;
                // SAFETY: leaves the child without touching the parent's state.
                unsafe { libc::_exit(7) }
            };
            spawn(None, &mut work).unwrap()
        };
        // clone3 returned only once the child was gone: its write is here.
        assert_eq!(seen, 42);
        assert_eq!(wait(pid), 7);
    }

    #[test]
    fn a_deep_child_stack_leaves_our_frames_alone() {
        // A canary in this frame, then a child that uses 512 KiB of stack
        // (more than GAP many times over) and a parent frame that must
        // come back unchanged.
        let canary = [0x3cu8; 4096];
        let pid = {
            let mut work = || -> Infallible {
                let v = dig(512);
                // SAFETY: as above.
                unsafe { libc::_exit(i32::from(v != 0)) }
            };
            spawn(None, &mut work).unwrap()
        };
        assert_eq!(wait(pid), 1);
        assert!(std::hint::black_box(&canary).iter().all(|&b| b == 0x3c));
    }

    #[test]
    fn an_execve_ends_the_wait() {
        let prog = c"/bin/true";
        let argv = [prog.as_ptr(), std::ptr::null()];
        let pid = {
            let mut work = || -> Infallible {
                // SAFETY: NUL-terminated program and argument vector.
                unsafe {
                    libc::execve(prog.as_ptr(), argv.as_ptr(), [std::ptr::null()].as_ptr());
                    libc::_exit(127)
                }
            };
            spawn(None, &mut work).unwrap()
        };
        assert_eq!(wait(pid), 0);
    }
}
