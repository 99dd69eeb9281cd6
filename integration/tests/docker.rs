//! A real caller: Docker (Debian's dockerd, through its containerd) with
//! `--add-runtime berth=… --default-runtime berth`, on a private socket,
//! data and exec roots, no iptables or bridge, an image from `docker import`.

use berth_integration::*;
use std::path::Path;
use std::process::{Child, Command, Output};

struct Docker {
    dir: TempDir,
    daemon: Child,
}

impl Drop for Docker {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "--force", "d1"]);
        stop_daemon(&mut self.daemon);
        let _ = Command::new("umount").arg("-R").arg(self.dir.0.join("data")).status();
        let _ = Command::new("umount").arg("-R").arg(self.dir.0.join("exec")).status();
    }
}

impl Docker {
    fn start() -> Docker {
        require_root();
        assert!(Path::new("/usr/sbin/dockerd").exists(), "dockerd is not installed (apt-get install docker.io)");
        let dir = TempDir::new("berth-docker");
        let d = &dir.0;
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let daemon = Command::new("dockerd")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver", "vfs"])
            .args(["--exec-opt", &format!("native.cgroupdriver={}", driver()), "--default-runtime", "berth"])
            .arg("--add-runtime")
            .arg(format!("berth={}", berth_bin().display()))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let docker = Docker { dir, daemon };
        assert!(wait_until(30, || docker.cmd(&["version"]).status.success()), "dockerd did not start");
        let tar = rootfs_tar(&docker.dir.0);
        let out = docker.cmd(&["import", tar.to_str().unwrap(), "berthbox:latest"]);
        assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
        docker
    }

    fn cmd(&self, args: &[&str]) -> Output {
        let mut c = Command::new("docker");
        c.arg("-H").arg(format!("unix://{}", self.dir.0.join("docker.sock").display())).args(args);
        capture(&mut c)
    }
}

/// Docker's default on a systemd host is the systemd cgroup driver.
fn driver() -> &'static str {
    if systemd_is_init() {
        "systemd"
    } else {
        "cgroupfs"
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn docker_runs_containers_on_berth() {
    let d = Docker::start();
    let out = d.cmd(&[
        "run",
        "--rm",
        "berthbox:latest",
        "sh",
        "-c",
        "echo hi from docker; grep Seccomp: /proc/self/status; exit 6",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text(&out), "hi from docker\nSeccomp:\t2\n", "Docker's default seccomp profile is active");
    // Docker maps runc's words to exit codes: not found → 127, not executable → 126.
    let out = d.cmd(&["run", "--rm", "berthbox:latest", "no-such-bin"]);
    assert_eq!(out.status.code(), Some(127), "{}", String::from_utf8_lossy(&out.stderr));
    let out = d.cmd(&["run", "--rm", "berthbox:latest", "/etc"]);
    assert_eq!(out.status.code(), Some(126), "{}", String::from_utf8_lossy(&out.stderr));
    let out = d.cmd(&[
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "-u",
        "7",
        "--read-only",
        "--cap-drop",
        "CHOWN",
        "berthbox:latest",
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; touch /x 2>/dev/null || echo ro",
    ]);
    assert_eq!(text(&out), "bar\n/tmp\n7\nro\n", "{}", String::from_utf8_lossy(&out.stderr));
    // Memory limit enforced: the OOM killer ends the container.
    let out = d.cmd(&[
        "run",
        "--rm",
        "-m",
        "32m",
        "--memory-swap",
        "32m",
        "berthbox:latest",
        "sh",
        "-c",
        "exec tail /dev/zero",
    ]);
    assert_eq!(out.status.code(), Some(137));
    // A detached container: exec, top, pause, signals, stop escalation.
    let out = d.cmd(&[
        "run",
        "-d",
        "--name",
        "d1",
        "--pids-limit",
        "20",
        "berthbox:latest",
        "sh",
        "-c",
        "trap 'echo usr1 > /tmp/got' USR1; trap '' TERM; while true; do sleep 0.1; done",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    if systemd_is_init() {
        // berth was asked for a scope in system.slice, with the limit in it.
        let pid: i64 = text(&d.cmd(&["inspect", "-f", "{{.State.Pid}}", "d1"])).trim().parse().unwrap();
        let dir = v2_cgroup_dir_of(pid);
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("docker-") && name.ends_with(".scope"), "{}", dir.display());
        assert!(dir.starts_with("/sys/fs/cgroup/system.slice"), "{}", dir.display());
        assert_eq!(read_trim(&dir.join("pids.max")), "20");
    }
    let out = d.cmd(&["exec", "-u", "1000", "d1", "sh", "-c", "id -u; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out), "1000\n");
    assert!(text(&d.cmd(&["top", "d1"])).contains("while true"));
    assert!(d.cmd(&["pause", "d1"]).status.success());
    assert!(text(&d.cmd(&["ps", "--format", "{{.Status}}"])).contains("Paused"));
    assert!(d.cmd(&["unpause", "d1"]).status.success());
    assert!(d.cmd(&["kill", "-s", "USR1", "d1"]).status.success());
    assert!(wait_until(10, || text(&d.cmd(&["exec", "d1", "cat", "/tmp/got"])) == "usr1\n"), "the trap did not run");
    assert!(d.cmd(&["stop", "-t", "1", "d1"]).status.success());
    assert!(d.cmd(&["rm", "d1"]).status.success());
    // A terminal.
    let out = d.cmd(&["run", "--rm", "-t", "berthbox:latest", "tty"]);
    assert!(text(&out).contains("/dev/pts/0"), "{}", String::from_utf8_lossy(&out.stderr));
}
