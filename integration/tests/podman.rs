//! A real caller: podman (Debian's, with conmon) using `--runtime berth`,
//! cgroupfs, `--network none`, private storage, an image imported from a
//! local tarball — and its default seccomp profile.

use berth_integration::*;
use std::path::Path;
use std::process::{Command, Output};

struct Podman {
    dir: TempDir,
    /// One podman at a time: a fresh --root opens podman's shared-memory
    /// lock (/libpod_lock, one per host), and when two start together both
    /// find it missing and the second to create it fails ("file exists").
    _serial: std::sync::MutexGuard<'static, ()>,
}

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Podman {
    fn new() -> Podman {
        require_root();
        assert!(Path::new("/usr/bin/podman").exists(), "podman is not installed (apt-get install podman)");
        // A test that failed holding it poisons it; the next still runs.
        let serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let p = Podman { dir: TempDir::new("berth-podman"), _serial: serial };
        let tar = rootfs_tar(&p.dir.0);
        let out = p.cmd(&["import", tar.to_str().unwrap(), "localhost/berthbox:latest"]);
        assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
        p
    }

    fn cmd(&self, args: &[&str]) -> Output {
        let d = &self.dir.0;
        let mut c = Command::new("podman");
        c.arg("--root").arg(d.join("root"));
        c.arg("--runroot").arg(d.join("runroot"));
        c.arg("--tmpdir").arg(d.join("tmp"));
        let manager = if systemd_is_init() { "systemd" } else { "cgroupfs" };
        c.args(["--cgroup-manager", manager, "--events-backend", "file", "--storage-driver", "vfs"]);
        c.arg("--runtime").arg(berth_bin());
        c.args(args);
        capture(&mut c)
    }

    /// `podman run` with what this host allows: its hard rlimits (the
    /// machine lacks CAP_SYS_RESOURCE, so podman's default 1048576 would fail
    /// with any runtime) and no network.
    fn run(&self, flags: &[&str], args: &[&str]) -> Output {
        // SAFETY: getrlimit into a zeroed struct.
        let nofile = unsafe {
            let mut r: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
            r.rlim_max
        };
        let ulimit = format!("nofile={nofile}:{nofile}");
        let mut all = vec!["run", "--network", "none", "--ulimit", &ulimit, "--ulimit", "nproc=1024:1024"];
        all.extend_from_slice(flags);
        all.push("localhost/berthbox:latest");
        all.extend_from_slice(args);
        self.cmd(&all)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "--all", "--force"]);
        let _ = Command::new("umount").arg("-R").arg(self.dir.0.join("root")).status();
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn podman_runs_containers_on_berth() {
    let p = Podman::new();
    let out = p.run(
        &["--rm", "--env", "FOO=bar", "--workdir", "/tmp", "--user", "7"],
        &["sh", "-c", "echo $FOO; pwd; id -u; grep Seccomp: /proc/self/status; exit 4"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text(&out), "bar\n/tmp\n7\nSeccomp:\t2\n", "podman's default seccomp profile is active");

    let out = p.run(
        &["--rm", "--read-only", "--cap-drop", "CHOWN"],
        &["sh", "-c", "touch /x 2>/dev/null || echo ro; chown 1 /tmp 2>/dev/null || echo no-chown"],
    );
    assert_eq!(text(&out), "ro\nno-chown\n", "{}", String::from_utf8_lossy(&out.stderr));

    // A detached container: exec, top, pause, signals, stop escalation, rm.
    let out = p.run(
        &["-d", "--name", "p1", "--memory", "64m", "--pids-limit", "50"],
        &["sh", "-c", "trap 'echo usr1 > /tmp/got' USR1; trap '' TERM; while true; do sleep 0.1; done"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = text(&out).trim().to_string();
    let out = p.cmd(&["exec", "--user", "1000", "p1", "sh", "-c", "id -u; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out), "1000\n");
    let top = p.cmd(&["top", "p1"]);
    assert!(text(&top).contains("sleep"), "podman top: {}{}", text(&top), String::from_utf8_lossy(&top.stderr));
    assert!(p.cmd(&["pause", "p1"]).status.success());
    assert!(text(&p.cmd(&["inspect", "--format", "{{.State.Status}}", "p1"])).contains("paused"));
    assert!(p.cmd(&["unpause", "p1"]).status.success());
    assert!(p.cmd(&["kill", "--signal", "USR1", "p1"]).status.success());
    assert!(wait_until(10, || text(&p.cmd(&["exec", "p1", "cat", "/tmp/got"])) == "usr1\n"), "the trap did not run");
    let file = if cgroup_v2_only() { "memory.max" } else { "memory.limit_in_bytes" };
    let dir = if systemd_is_init() {
        // The systemd manager: a scope in machine.slice.
        let pid: i64 = text(&p.cmd(&["inspect", "--format", "{{.State.Pid}}", "p1"])).trim().parse().unwrap();
        let dir = v2_cgroup_dir_of(pid);
        assert_eq!(dir, Path::new("/sys/fs/cgroup/machine.slice").join(format!("libpod-{id}.scope")));
        dir
    } else {
        let limit =
            if cgroup_v2_only() { "/sys/fs/cgroup/libpod_parent" } else { "/sys/fs/cgroup/memory/libpod_parent" };
        Path::new(limit).join(format!("libpod-{id}"))
    };
    assert_eq!(read_trim(&dir.join(file)), "67108864");
    // TERM is ignored: podman escalates to KILL after the timeout.
    assert!(p.cmd(&["stop", "-t", "1", "p1"]).status.success());
    assert!(p.cmd(&["rm", "p1"]).status.success());
    assert!(!dir.exists(), "the container's cgroup is gone after rm");

    // A terminal.
    let out = p.run(&["--rm", "-t"], &["tty"]);
    assert!(text(&out).contains("/dev/pts/0"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `podman container checkpoint` and `restore` on berth: a counter goes on
/// from where it was. Needs a kernel criu runs on (the project's VM).
#[test]
fn podman_checkpoints_and_restores_on_berth() {
    let works = Command::new("criu").arg("check").output().is_ok_and(|o| o.status.success());
    if !works || systemd_is_init() {
        // (In the systemd VM, after criu ran, pid 1 answered D-Bus so slowly
        // that the systemd tests after it timed out: this one runs in the
        // plain VM, with cgroupfs, as the containerd one does.)
        eprintln!("skipped: criu cannot run on this kernel, or systemd is init here");
        return;
    }
    let p = Podman::new();
    let out = p.run(
        &["-d", "--name", "cr1"],
        &["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/c; sleep 0.1; done"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let count = || text(&p.cmd(&["exec", "cr1", "cat", "/tmp/c"])).trim().parse::<u64>().unwrap_or(0);
    assert!(wait_until(30, || count() > 3), "the counter never ran");
    let out = p.cmd(&["container", "checkpoint", "cr1"]);
    assert!(out.status.success(), "checkpoint: {}", String::from_utf8_lossy(&out.stderr));
    assert!(text(&p.cmd(&["inspect", "--format", "{{.State.Status}}", "cr1"])).contains("exited"));
    let out = p.cmd(&["container", "restore", "cr1"]);
    assert!(out.status.success(), "restore: {}", String::from_utf8_lossy(&out.stderr));
    let first = count();
    assert!(first > 3, "restored from the start, not from where it was: {first}");
    assert!(wait_until(30, || count() > first), "the restored counter does not go on");
    assert!(p.cmd(&["rm", "--force", "cr1"]).status.success());
}
