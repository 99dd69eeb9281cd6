//! Rootless berth: an unprivileged user runs containers. Each test makes a
//! user of its own (useradd, with a subordinate id range in /etc/subuid and
//! /etc/subgid for newuidmap/newgidmap) and removes it afterwards.

use berth_integration::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// useradd/userdel lock /etc/passwd: one at a time in this process.
static ACCOUNTS: Mutex<()> = Mutex::new(());

struct User {
    name: String,
    uid: u32,
    gid: u32,
    /// The start of its subordinate uid and gid range (65536 ids).
    sub: u32,
    home: TempDir,
    runtime: PathBuf,
}

fn id_of(flag: &str, name: &str) -> u32 {
    let out = Command::new("id").args([flag, name]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

impl User {
    fn new() -> User {
        require_root();
        let name: String = format!("bt{}", unique("")).chars().filter(char::is_ascii_alphanumeric).take(24).collect();
        let home = TempDir::new("rootless-home");
        let _g = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        // A range of subordinate ids no other test user has.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let slot = (std::process::id() % 1000) * 16 + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 16;
        let sub = 1_000_000 + slot * 65_536;
        let out = Command::new("useradd")
            .args(["--no-create-home", "--home-dir"])
            .arg(&home.0)
            .args(["--shell", "/bin/sh", &name])
            .output()
            .unwrap();
        assert!(out.status.success(), "useradd: {}", String::from_utf8_lossy(&out.stderr));
        let range = format!("{sub}-{}", sub + 65_535);
        let out =
            Command::new("usermod").args(["--add-subuids", &range, "--add-subgids", &range, &name]).output().unwrap();
        assert!(out.status.success(), "usermod: {}", String::from_utf8_lossy(&out.stderr));
        let (uid, gid) = (id_of("-u", &name), id_of("-g", &name));
        std::os::unix::fs::chown(&home.0, Some(uid), Some(gid)).unwrap();
        let runtime = home.0.join("run");
        std::fs::create_dir(&runtime).unwrap();
        std::os::unix::fs::chown(&runtime, Some(uid), Some(gid)).unwrap();
        User { name, uid, gid, sub, home, runtime }
    }

    /// berth as this user, with its XDG_RUNTIME_DIR (so the default --root).
    fn berth(&self, args: &[&str]) -> Output {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", &self.uid.to_string(), "--regid", &self.gid.to_string(), "--clear-groups"])
            .arg("--")
            .arg(berth_bin())
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("HOME", &self.home.0)
            .current_dir(&self.home.0);
        capture(&mut c)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(out.status.success(), "berth {args:?} as {}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A busybox bundle from `berth spec --rootless` as this user, owned by it.
    fn bundle(&self, script: &str) -> (TempDir, PathBuf) {
        let b = Bundle::new();
        let dir = TempDir::new("rootless-bundle");
        let out = Command::new("cp").arg("-a").arg(b.rootfs()).arg(dir.0.join("rootfs")).output().unwrap();
        assert!(out.status.success());
        let out =
            Command::new("chown").arg("-R").arg(format!("{}:{}", self.uid, self.gid)).arg(&dir.0).output().unwrap();
        assert!(out.status.success());
        let path = dir.0.clone();
        self.ok(&["spec", "--rootless", "--bundle", path.to_str().unwrap()]);
        let file = path.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(["sh", "-c", script]);
        config["root"]["readonly"] = json!(false);
        write_config(&file, &config, self);
        (dir, path)
    }
}

fn write_config(file: &Path, config: &Value, user: &User) {
    std::fs::write(file, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    std::os::unix::fs::chown(file, Some(user.uid), Some(user.gid)).unwrap();
}

impl Drop for User {
    fn drop(&mut self) {
        // Never a panic here: the user must go whatever happened.
        for id in text(&self.berth(&["list", "-q"])).lines() {
            let _ = self.berth(&["delete", "--force", id]);
        }
        let _g = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("pkill").args(["-KILL", "-u", &self.name]).status();
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_user_runs_a_container_of_its_own() {
    let u = User::new();
    let (_d, bundle) = u.bundle("cat /proc/self/uid_map; hostname; echo pid $$; id -u");
    let id = unique("rl");
    let out = u.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<String> = text(&out).lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(lines, [format!("0 {} 1", u.uid), "berth".into(), "pid 1".into(), "0".into()]);
    // The default root is $XDG_RUNTIME_DIR/berth, for its owner only.
    let root = u.runtime.join("berth");
    let meta = std::fs::metadata(&root).unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!((meta.uid(), meta.permissions().mode() & 0o777), (u.uid, 0o700));
    assert!(u.ok(&["list", "-q"]).is_empty(), "run removed it");
    assert!(processes_mentioning(&id).is_empty());
}

#[test]
fn several_ranges_go_through_newuidmap() {
    if !Path::new("/usr/bin/newuidmap").exists() {
        panic!("newuidmap is not installed (apt-get install uidmap)");
    }
    let u = User::new();
    let (_d, bundle) =
        u.bundle("cat /proc/self/uid_map /proc/self/gid_map; touch /tmp/x; chown 1000:1000 /tmp/x && echo chowned");
    let file = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let maps = |own: u32| json!([{"containerID": 0, "hostID": own, "size": 1}, {"containerID": 1, "hostID": u.sub, "size": 65536}]);
    config["linux"]["uidMappings"] = maps(u.uid);
    config["linux"]["gidMappings"] = maps(u.gid);
    for set in ["bounding", "effective", "permitted"] {
        config["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_CHOWN"));
    }
    write_config(&file, &config, &u);
    let id = unique("rlmulti");
    let out = u.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let norm: Vec<String> = text(&out).lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    let want = |own: u32| [format!("0 {own} 1"), format!("1 {} 65536", u.sub)];
    assert_eq!(norm[..2], want(u.uid));
    assert_eq!(norm[2..4], want(u.gid));
    assert_eq!(norm[4], "chowned", "container uid 1000 maps to a subordinate id");
    // A range the user was not given is refused by newuidmap, named.
    config["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": u.uid, "size": 1}, {"containerID": 1, "hostID": 1, "size": 10}]);
    write_config(&file, &config, &u);
    let id = unique("rlbad");
    let out = u.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("linux.uidMappings") && err.contains("newuidmap"), "{err}");
    assert!(u.ok(&["list", "-q"]).is_empty());
}

#[test]
fn exec_kill_ps_and_delete_work_and_limits_do_not() {
    let u = User::new();
    let (_d, bundle) = u.bundle("sleep 100 & sleep 101");
    let file = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    config["linux"]["resources"] = json!({"pids": {"limit": 10}});
    write_config(&file, &config, &u);
    let id = unique("rlexec");
    let out = u.berth(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("linux.resources"), "a limit it cannot apply is a warning: {err}");
    u.ok(&["start", &id]);
    assert_eq!(u.ok(&["exec", &id, "id", "-u"]), "0\n");
    // No cgroup: ps finds the container's processes by its pid namespace.
    let init: i64 = serde_json::from_str::<Value>(&u.ok(&["state", &id])).unwrap()["pid"].as_i64().unwrap();
    assert!(wait_until(10, || serde_json::from_str::<Vec<i64>>(&u.ok(&["ps", "--format", "json", &id]))
        .unwrap()
        .len()
        == 2));
    let pids: Vec<i64> = serde_json::from_str(&u.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(pids.contains(&init), "{pids:?}");
    let out = u.berth(&["update", "--pids-limit", "20", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no cgroup"));
    assert!(!u.berth(&["pause", &id]).status.success());
    // Root's containers are not the user's to see.
    let out = u.berth(&["--root", "/run/berth", "list"]);
    assert!(!out.status.success() || text(&out).lines().count() <= 1);
    u.ok(&["kill", "--all", &id, "KILL"]);
    assert!(wait_until(10, || serde_json::from_str::<Value>(&u.ok(&["state", &id])).unwrap()["status"] == "stopped"));
    u.ok(&["delete", &id]);
    assert!(u.ok(&["list", "-q"]).is_empty());
    assert!(processes_mentioning(&id).is_empty());
    let _ = std::fs::metadata(&u.home.0);
}

/// Rootless podman: podman as the user makes the user namespace (newuidmap
/// with the user's subordinate ids) and calls berth inside it, as root there.
#[test]
fn rootless_podman_runs_containers_on_berth() {
    assert!(Path::new("/usr/bin/podman").exists(), "podman is not installed (apt-get install podman)");
    let u = User::new();
    let tar = {
        let dir = TempDir::new("rootless-img");
        let t = rootfs_tar(&dir.0);
        let dest = u.home.0.join("image.tar");
        std::fs::copy(&t, &dest).unwrap();
        std::os::unix::fs::chown(&dest, Some(u.uid), Some(u.gid)).unwrap();
        dest
    };
    let podman = |args: &[&str]| {
        let h = &u.home.0;
        let mut c = Command::new("setpriv");
        c.args(["--reuid", &u.uid.to_string(), "--regid", &u.gid.to_string(), "--clear-groups", "--"])
            .arg("podman")
            .arg("--root")
            .arg(h.join("storage"))
            .arg("--runroot")
            .arg(u.runtime.join("containers"))
            .arg("--tmpdir")
            .arg(u.runtime.join("libpod"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file", "--storage-driver", "vfs"])
            .arg("--runtime")
            .arg(berth_bin())
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("XDG_RUNTIME_DIR", &u.runtime)
            .env("HOME", h)
            .current_dir(h);
        capture(&mut c)
    };
    let out = podman(&["import", tar.to_str().unwrap(), "localhost/berthbox:latest"]);
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    let run = |flags: &[&str], args: &[&str]| {
        let mut all = vec!["run", "--network", "none"];
        all.extend_from_slice(flags);
        all.push("localhost/berthbox:latest");
        all.extend_from_slice(args);
        podman(&all)
    };
    let out = run(
        &["--rm", "--env", "FOO=bar", "--workdir", "/tmp"],
        &["sh", "-c", "echo $FOO; pwd; id -u; head -1 /proc/self/uid_map; exit 4"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<String> = text(&out).lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(lines[..3], ["bar", "/tmp", "0"]);
    assert_eq!(lines[3], format!("0 {} 1", u.uid), "container root is the user");
    // Detached: exec, ps, stop, rm.
    let out = run(&["-d", "--name", "r1"], &["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = podman(&["exec", "r1", "sh", "-c", "echo exec-ok; exit 3"]);
    assert_eq!(
        (out.status.code(), text(&out)),
        (Some(3), "exec-ok\n".into()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text(&podman(&["ps"])).contains("r1"));
    assert!(podman(&["stop", "-t", "1", "r1"]).status.success());
    assert!(podman(&["rm", "r1"]).status.success());
    assert!(!text(&podman(&["ps", "-a"])).contains("r1"));
    let _ = podman(&["system", "migrate"]);
}

/// In the systemd VM: the user's own systemd (user@UID.service, with
/// Delegate=) gives a rootless container a cgroup with limits:
/// `--systemd-cgroup` as the user asks it for a scope.
#[test]
fn the_users_systemd_gives_a_rootless_container_limits() {
    if !systemd_is_init() {
        eprintln!("systemd is not the init here: skipped (runs in the systemd VM)");
        return;
    }
    let mut u = User::new();
    let service = format!("user@{}.service", u.uid);
    let out = capture(Command::new("systemctl").args(["start", &service]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    u.runtime = PathBuf::from(format!("/run/user/{}", u.uid));
    assert!(wait_until(30, || u.runtime.join("systemd/private").exists()), "the user's systemd did not start");
    let (_d, bundle) = u.bundle("sleep 100");
    let file = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    config["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 30}});
    write_config(&file, &config, &u);
    let id = unique("rlsd");
    let out = u.berth(&["--systemd-cgroup", "run", "-d", "--bundle", bundle.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pid = serde_json::from_str::<Value>(&u.ok(&["state", &id])).unwrap()["pid"].as_i64().unwrap();
    let dir = v2_cgroup_dir_of(pid);
    let want = format!("user@{}.service/user.slice/berth-{id}.scope", u.uid);
    assert!(dir.to_string_lossy().ends_with(&want), "{} is not in the user's systemd", dir.display());
    assert_eq!(read_trim(&dir.join("memory.max")), "67108864");
    assert_eq!(read_trim(&dir.join("pids.max")), "30");
    u.ok(&["update", "--pids-limit", "40", &id]);
    assert_eq!(read_trim(&dir.join("pids.max")), "40");
    u.ok(&["delete", "--force", &id]);
    assert!(!dir.exists(), "{} remains", dir.display());
    let _ = capture(Command::new("systemctl").args(["stop", &service]));
}
