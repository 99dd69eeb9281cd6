//! A real caller: containerd (Debian's), with `ctr run --runc-binary berth`,
//! on a private socket, root and state, with a busybox image imported from
//! a tarball built here (no registry).

use berth_integration::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

const IMAGE: &str = "docker.io/library/berthbox:latest";

struct Containerd {
    dir: TempDir,
    daemon: Child,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        stop_daemon(&mut self.daemon);
        // Snapshots may still be mounted under the root if a test failed half-way.
        let _ = Command::new("umount").arg("-R").arg(self.dir.0.join("root")).status();
    }
}

fn sh(cmd: &str) -> Output {
    Command::new("/bin/sh").args(["-c", cmd]).output().unwrap()
}

/// A docker-archive image of the busybox rootfs, for `ctr images import`.
fn image_tar(dir: &Path) -> PathBuf {
    let b = Bundle::new();
    let img = dir.join("img");
    std::fs::create_dir_all(&img).unwrap();
    let layer = img.join("layer.tar");
    assert!(Command::new("tar").arg("-C").arg(b.rootfs()).arg("-cf").arg(&layer).arg(".").status().unwrap().success());
    let digest = String::from_utf8(sh(&format!("sha256sum {}", layer.display())).stdout).unwrap();
    let digest = digest.split_whitespace().next().unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{digest}")]}
    });
    std::fs::write(img.join("config.json"), config.to_string()).unwrap();
    let manifest = serde_json::json!([{"Config": "config.json", "RepoTags": [IMAGE], "Layers": ["layer.tar"]}]);
    std::fs::write(img.join("manifest.json"), manifest.to_string()).unwrap();
    let out = dir.join("image.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&img)
        .arg("-cf")
        .arg(&out)
        .args(["manifest.json", "config.json", "layer.tar"])
        .status()
        .unwrap();
    assert!(ok.success());
    out
}

fn start() -> Containerd {
    require_root();
    assert!(
        Path::new("/usr/bin/containerd").exists(),
        "containerd is not installed (apt-get install containerd): the caller tests need it"
    );
    let dir = TempDir::new("berth-containerd");
    let sock = dir.0.join("containerd.sock");
    let config = format!(
        "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
         [grpc]\n  address = \"{1}\"\n[ttrpc]\n  address = \"{1}.ttrpc\"\n",
        dir.0.display(),
        sock.display()
    );
    std::fs::write(dir.0.join("config.toml"), config).unwrap();
    let log = std::fs::File::create(dir.0.join("containerd.log")).unwrap();
    let daemon = Command::new("containerd")
        .arg("--config")
        .arg(dir.0.join("config.toml"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let c = Containerd { dir, daemon };
    let started = wait_until(30, || sock.exists());
    assert!(
        started,
        "containerd did not start: {}",
        std::fs::read_to_string(c.dir.0.join("containerd.log")).unwrap_or_default()
    );
    let tar = image_tar(&c.dir.0);
    let out = c.ctr(&["images", "import", tar.to_str().unwrap()]);
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    c
}

impl Containerd {
    fn ctr(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(self.dir.0.join("containerd.sock")).args(args);
        capture(&mut cmd)
    }

    /// `ctr run --runc-binary berth [flags] IMAGE ID ARGS…`
    fn run(&self, flags: &[&str], id: &str, args: &[&str]) -> Output {
        let bin = berth_bin();
        let mut all = vec!["run", "--runc-binary", bin.to_str().unwrap()];
        // On a systemd host: the systemd driver and a slice:prefix:name path.
        let cgroup = format!("system.slice:ctr:{id}");
        if systemd_is_init() {
            all.extend(["--runc-systemd-cgroup", "--cgroup", &cgroup]);
        }
        all.extend_from_slice(flags);
        all.push(IMAGE);
        all.push(id);
        all.extend_from_slice(args);
        self.ctr(&all)
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn containerd_runs_containers_on_berth() {
    let c = start();
    // Output and exit status.
    let out = c.run(&["--rm"], &unique("ctr-exit"), &["sh", "-c", "echo hello from containerd; exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text(&out), "hello from containerd\n");
    // Env, workdir, read-only rootfs, capabilities.
    let out = c.run(
        &["--rm", "--env", "FOO=bar", "--cwd", "/tmp", "--read-only", "--cap-drop", "CAP_CHOWN"],
        &unique("ctr-opts"),
        &["sh", "-c", "echo $FOO; pwd; touch /x 2>/dev/null || echo ro; chown 1 /tmp 2>/dev/null || echo no-chown"],
    );
    assert_eq!(text(&out), "bar\n/tmp\nro\nno-chown\n", "{}", String::from_utf8_lossy(&out.stderr));

    // A detached task: exec, ps, pause/resume, signals, delete.
    let id = unique("ctr-task");
    let out = c.run(
        &["-d", "--memory-limit", "33554432"],
        &id,
        &["sh", "-c", "trap 'echo usr1 > /tmp/got' USR1; while true; do sleep 0.1; done"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // containerd puts the task in /default/<id>; its memory limit is berth's write.
    let (ctrl, file) = if cgroup_v2_only() { ("", "memory.max") } else { ("memory", "memory.limit_in_bytes") };
    let limit = if systemd_is_init() {
        PathBuf::from("/sys/fs/cgroup/system.slice").join(format!("ctr-{id}.scope")).join(file)
    } else {
        PathBuf::from("/sys/fs/cgroup").join(ctrl).join("default").join(&id).join(file)
    };
    assert_eq!(read_trim(&limit), "33554432");
    let out = c.ctr(&["task", "exec", "--exec-id", "e1", &id, "sh", "-c", "echo exec-ok; id -u; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out), "exec-ok\n0\n");
    let ps = text(&c.ctr(&["task", "ps", &id]));
    assert!(ps.lines().count() >= 2, "{ps}");
    assert!(c.ctr(&["task", "pause", &id]).status.success());
    assert!(text(&c.ctr(&["task", "ls"])).contains("PAUSED"));
    assert!(c.ctr(&["task", "resume", &id]).status.success());
    assert!(c.ctr(&["task", "kill", "-s", "USR1", &id]).status.success());
    let got = || text(&c.ctr(&["task", "exec", "--exec-id", &unique("e2"), &id, "cat", "/tmp/got"]));
    assert!(wait_until(10, || got() == "usr1\n"), "the trap did not run");
    assert!(c.ctr(&["task", "kill", "-s", "KILL", &id]).status.success());
    assert!(wait_until(5, || text(&c.ctr(&["task", "ls"])).contains("STOPPED")));
    assert!(c.ctr(&["task", "delete", &id]).status.success());
    assert!(c.ctr(&["container", "delete", &id]).status.success());
    for m in cgroup_mounts() {
        assert!(!m.join("default").join(&id).exists(), "cgroup of {id} left in {}", m.display());
    }
    assert!(!limit.parent().unwrap().exists(), "{} remains", limit.display());

    // A failing create shows berth's own words to the caller.
    let out = c.run(
        &["--rm", "--mount", "type=bind,src=/nonexistent-src-x,dst=/x,options=rbind"],
        &unique("ctr-bad"),
        &["true"],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("source /nonexistent-src-x"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ctr containers checkpoint --task` and `ctr containers restore --live`
/// (through containerd's shim, which drives `berth checkpoint/restore`):
/// a counter goes on from where it was. Needs a kernel criu runs on (the
/// project's VM) and cgroupfs (berth restores with cgroupfs only).
/// The counter keeps its file open on fd 3, so criu always has an open
/// file of the rootfs to restore: the rw layer must travel with the
/// checkpoint (`--rw`). Without it, restore fails whenever the dump lands
/// while the file is open.
#[test]
fn containerd_checkpoints_and_restores_on_berth() {
    let works = Command::new("criu").arg("check").output().is_ok_and(|o| o.status.success());
    if !works || systemd_is_init() {
        eprintln!("skipped: criu cannot run on this kernel, or systemd is the cgroup manager here");
        return;
    }
    let c = start();
    let id = unique("ctr-cr");
    let out = c.run(
        &["-d"],
        &id,
        &["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/c; exec 3</tmp/c; sleep 0.1; done"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let count = |id: &str| {
        text(&c.ctr(&["task", "exec", "--exec-id", &unique("e"), id, "cat", "/tmp/c"]))
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    assert!(wait_until(30, || count(&id) > 3), "the counter never ran");
    let image = format!("berth.test/checkpoint/{id}:1");
    let out = c.ctr(&["containers", "checkpoint", "--rw", "--task", &id, &image]);
    assert!(out.status.success(), "checkpoint: {}", String::from_utf8_lossy(&out.stderr));
    let at = count(&id);
    assert!(c.ctr(&["task", "kill", "-s", "KILL", &id]).status.success());
    assert!(wait_until(10, || text(&c.ctr(&["task", "ls"])).contains("STOPPED")));
    assert!(c.ctr(&["task", "delete", &id]).status.success());
    assert!(c.ctr(&["container", "delete", &id]).status.success());
    let id2 = unique("ctr-cr2");
    let out = c.ctr(&["containers", "restore", "--rw", "--live", &id2, &image]);
    assert!(out.status.success(), "restore: {}", String::from_utf8_lossy(&out.stderr));
    let first = count(&id2);
    assert!(first >= at.saturating_sub(50) && first > 3, "restored from the start: {first} (was {at})");
    assert!(wait_until(30, || count(&id2) > first), "the restored counter does not go on");
    let _ = c.ctr(&["task", "kill", "-s", "KILL", &id2]);
    assert!(wait_until(10, || text(&c.ctr(&["task", "ls"])).contains("STOPPED")));
    let _ = c.ctr(&["task", "delete", &id2]);
    let _ = c.ctr(&["container", "delete", &id2]);
}
