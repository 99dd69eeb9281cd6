//! berth: a small, fast, runc-compatible OCI container runtime.

//! This binary is the command line: flags, logging, exit codes; the
//! runtime itself is the `berth` library (src/lib.rs).

// glibc calls our `main` itself: see there.
#![cfg_attr(not(test), no_main)]

mod cli;
mod commands;
#[cfg(target_arch = "x86_64")]
mod entry;

use berth::{linux, log, spec};

use anyhow::{bail, Result};
use berth::runtime::Runtime;
use cli::{bool_flag, val, Flag};
use commands::Ctx;
use std::path::PathBuf;

const VERSION: &str = env!("CARGO_PKG_VERSION");

const GLOBAL: [Flag; 9] = [
    val(&["root"]),
    val(&["log"]),
    val(&["log-format"]),
    bool_flag(&["debug"]),
    bool_flag(&["systemd-cgroup"]),
    val(&["rootless"]),
    val(&["criu"]),
    bool_flag(&["help", "h"]),
    bool_flag(&["version", "v"]),
];

const USAGE: &str = "berth - a runc-compatible OCI container runtime

usage: berth [global options] command [command options] [arguments...]

commands:
  create   create a container from a bundle
  start    start the user process of a created container
  run      create and start a container
  state    print the state of a container
  list     list containers
  kill     send a signal to a container's init
  delete   delete a container
  spec     write a default config.json
  pause    freeze every process of a container
  resume   thaw a paused container
  ps       list a container's processes
  update   change a container's resource limits
  events   show resource usage and OOM events
  exec     run a new process in a container
  features show what this build supports
  checkpoint  dump a running container with criu
  restore     make a container from a criu image

global options:
  --root DIR           state directory (default /run/berth)
  --log FILE           log to FILE (default stderr)
  --log-format FORMAT  text or json
  --debug              log debug messages
  --systemd-cgroup     the container's cgroup is a systemd scope (cgroupsPath slice:prefix:name)
  --rootless VALUE     true, false or auto
  --version, -v        print the version
";

fn version() -> String {
    let commit = option_env!("BERTH_COMMIT").unwrap_or("unknown");
    format!("berth version {VERSION}\ncommit: {commit}\nspec: {}", spec::SPEC_VERSION)
}

/// `$XDG_RUNTIME_DIR/berth` for an unprivileged user, and for root of a
/// user namespace that is not the host's root (rootless podman; runc's
/// rule); `/run/berth` otherwise.
fn default_root() -> PathBuf {
    let honour_xdg = || {
        !nix::unistd::geteuid().is_root()
            || (linux::rootless::in_user_namespace() && std::env::var("USER").map_or(true, |u| u != "root"))
    };
    // The environment first: /proc is read only when XDG_RUNTIME_DIR is set.
    match std::env::var("XDG_RUNTIME_DIR") {
        Ok(x) if !x.is_empty() && honour_xdg() => PathBuf::from(x).join("berth"),
        _ => PathBuf::from("/run/berth"),
    }
}

/// Makes the descriptors that `--preserve-fds` hands on survive execve;
/// each must be open already, so that none of berth's own lands there.
fn keep_preserved_fds(args: &[String]) -> Result<()> {
    let Some(v) = args.windows(2).find_map(|w| {
        let f = w[0].trim_start_matches('-');
        if f == "preserve-fds" {
            Some(w[1].as_str())
        } else {
            f.strip_prefix("preserve-fds=")
        }
    }) else {
        return Ok(());
    };
    // Bounded, so 3 + n neither wraps nor reaches past what a process may hold.
    let n = cli::preserve_fds(v)? as i32;
    for fd in 3..3 + n {
        // SAFETY: fcntl on descriptors we inherited; an invalid one just fails.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        // The entry's own descriptors (the mount berth runs from) took
        // numbers the caller left closed.
        if flags < 0 || linux::exeseal::is_entrys(fd) {
            bail!("--preserve-fds: descriptor {fd} is not open");
        }
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) };
    }
    Ok(())
}

fn dispatch(args: &[String]) -> Result<i32> {
    let g = cli::parse(args, &GLOBAL, Some(1))?;
    if g.has("version") {
        println!("{}", version());
        return Ok(0);
    }
    let Some((cmd, rest)) = g.args.split_first() else {
        print!("{USAGE}");
        return Ok(if g.has("help") { 0 } else { 1 });
    };
    keep_preserved_fds(rest)?;
    let format = match g.get("log-format").unwrap_or("text") {
        "text" => log::Format::Text,
        "json" => log::Format::Json,
        other => bail!("unknown log-format {other:?}: text or json"),
    };
    log::init(g.get("log"), format, g.has("debug"))?;
    let rootless = match g.get("rootless").unwrap_or("auto") {
        "auto" => None,
        "true" => Some(true),
        "false" => Some(false),
        other => bail!("--rootless: {other:?} is not true, false or auto"),
    };
    let command: fn(&Ctx, &[String]) -> Result<i32> = match cmd.as_str() {
        "create" => commands::create::main,
        "start" => commands::start::main,
        "run" => commands::run::main,
        "state" => commands::state::main,
        "list" | "ls" => commands::list::main,
        "kill" => commands::kill::main,
        "delete" | "rm" => commands::delete::main,
        "spec" => |_, rest| commands::spec::main(rest),
        "help" => |_, _| {
            print!("{USAGE}");
            Ok(0)
        },
        "pause" => commands::pause::pause,
        "resume" => commands::pause::resume,
        "ps" => commands::ps::main,
        "update" => commands::update::main,
        "events" => commands::events::main,
        "exec" => commands::exec::main,
        "features" => |_, rest| commands::features::main(rest),
        "checkpoint" => commands::checkpoint::checkpoint,
        "restore" => commands::checkpoint::restore,
        other => bail!("No help topic for '{other}'"),
    };
    if matches!(rest.first().map(String::as_str), Some("--help" | "-h")) {
        // Callers probe for a command this way (podman: `checkpoint --help`).
        println!("usage: berth {cmd} [command options] ID — see berth-{cmd}(8)");
        return Ok(0);
    }
    if matches!(cmd.as_str(), "create" | "run" | "exec") {
        // These put a berth process into a container (CVE-2019-5736).
        linux::exeseal::ensure()?;
        // create and run let go now, as measured best: the helper is
        // usually done before init's clone (`exeseal::dissolve` waits for
        // it before init goes on), and releasing after that clone
        // measured 0.8 ms slower (init started on berth's CPU more often,
        // and waited for it). exec closes the mount itself just before its
        // clone: a helper started now often has not run by then, and
        // waiting for it measured slower than the close (interleaved runs,
        // 0.2-1 ms).
        if cmd != "exec" {
            linux::exeseal::release();
        }
    }
    let ctx = Ctx {
        // Relative to where berth was started (runc's rule), not to the
        // bundle create changes into.
        rt: Runtime::new(
            g.get("root").map_or_else(default_root, |r| std::path::absolute(r).unwrap_or_else(|_| r.into())),
        ),
        systemd_cgroup: g.has("systemd-cgroup"),
        rootless,
    };
    log::debug(&format!("berth {cmd} {}", rest.join(" ")));
    command(&ctx, rest)
}

/// What glibc's start-up calls. Not Rust's `fn main`: the runtime Rust
/// sets up before that (a stack-overflow handler, which finds the main
/// thread's stack through pthread_getattr_np and so reads /proc/self/maps,
/// an alternate signal stack, ~15 system calls) costs about 50 µs of every
/// command on the development host. berth keeps what it needs of it:
/// descriptors 0-2 open, SIGPIPE ignored. A stack overflow is then a bare
/// SIGSEGV, without Rust's message. `std::env::args` works as before (on
/// glibc it is captured from .init_array).
#[cfg_attr(not(test), no_mangle)]
extern "C" fn main(_argc: std::ffi::c_int, _argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    standard_descriptors();
    // SAFETY: setting a signal's disposition to SIG_IGN runs no code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match dispatch(&args) {
        Ok(c) => c,
        Err(e) => {
            log::report(&e);
            1
        }
    };
    linux::exeseal::wait_helper();
    std::process::exit(code);
}

/// Opens /dev/null on whichever of descriptors 0-2 is closed, in order, so
/// that no file berth opens later becomes a process's stdout by accident.
/// Rust's runtime did this before `fn main`; a failure aborts, as there.
fn standard_descriptors() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
    // SAFETY: poll writes only into the three entries it is given.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    for p in fds {
        let closed = if polled < 0 {
            // SAFETY: F_GETFD reads a descriptor's flags and nothing else.
            let flags = unsafe { libc::fcntl(p.fd, libc::F_GETFD) };
            flags == -1
        } else {
            p.revents & libc::POLLNVAL != 0
        };
        // SAFETY: a NUL-terminated path; open returns the lowest free
        // descriptor, which is this closed one (those below are open).
        if closed && unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } != p.fd {
            std::process::abort();
        }
    }
}
