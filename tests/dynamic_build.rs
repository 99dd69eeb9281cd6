//! A build without crt-static (plain `cargo build`, as `cargo test`
//! makes here) starts behind glibc's dynamic loader. The ELF entry
//! (src/entry.rs) must leave such an image alone: mapping its segments
//! again from the file would undo the loader's relocations, and berth
//! crashed before main on every `create`, `run` and `exec`.

use std::process::{Command, Output};

/// `berth ARGS`, where the entry can make its detached mount: as root
/// directly, otherwise in a user and mount namespace of our own.
fn berth(args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_berth");
    // SAFETY: geteuid cannot fail.
    let cmd = if unsafe { libc::geteuid() } == 0 {
        Command::new(bin).args(args).output()
    } else {
        Command::new("unshare").args(["--user", "--map-root-user", "--mount", bin]).args(args).output()
    };
    cmd.expect("running berth")
}

#[test]
fn this_build_is_dynamic() {
    let elf = std::fs::read(env!("CARGO_BIN_EXE_berth")).unwrap();
    // The loader's path is in the interpreter segment of every dynamic build.
    assert!(elf.windows(16).any(|w| w == b"/lib64/ld-linux-"), "the test binary is static: this test proves nothing");
}

#[test]
fn a_dynamic_build_starts_for_every_command_that_enters_a_container() {
    for cmd in ["create", "run", "exec"] {
        let out = berth(&[cmd, "--help"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "berth {cmd} --help: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(cmd), "berth {cmd} --help: {stdout}");
    }
}
