//! The systemd cgroup driver (`--systemd-cgroup`). Where systemd is not the
//! init (this host) it is an error that names the flag and leaves nothing;
//! in the project's VM in systemd mode the container's cgroup is a
//! transient scope with the limits as unit properties and files.

use berth_integration::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

fn systemctl(args: &[&str]) -> String {
    let out = capture(Command::new("systemctl").args(args));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn show(unit: &str, prop: &str) -> String {
    systemctl(&["show", "-p", prop, "--value", unit])
}

#[test]
fn without_systemd_it_is_an_error_naming_the_flag() {
    if systemd_is_init() {
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("true");
    b.write();
    let id = unique("nosd");
    let logs = TempDir::new("sdlog");
    let log = logs.0.join("log.json");
    let out = berth.run(&[
        "--systemd-cgroup",
        "--log-format",
        "json",
        "--log",
        log.to_str().unwrap(),
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--systemd-cgroup"), "{err}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(log.lines().count(), 1, "one JSON line: {log}");
    assert!(log.contains("\"level\":\"error\"") && log.contains("--systemd-cgroup"), "{log}");
    assert_nothing_left(&berth, &id, None);
    assert!(processes_mentioning(&id).is_empty());
    // A cgroupsPath that is not slice:prefix:name is named as such.
    b.config["linux"]["cgroupsPath"] = json!("/not/systemd");
    b.write();
    let out = berth.run(&["--systemd-cgroup", "run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("linux.cgroupsPath"));
    assert_nothing_left(&berth, &id, None);
}

fn cgroup_of(pid: i64) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("").to_string()
}

#[test]
fn a_container_is_a_transient_scope_with_its_limits() {
    if !systemd_is_init() {
        eprintln!("systemd is not the init here: skipped (runs in the systemd VM)");
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 50},
                                            "cpu": {"shares": 512, "quota": 20000, "period": 100000}});
    b.sh("sleep 100");
    b.write();
    let id = unique("sd");
    let unit = format!("berth-{id}.scope");
    let out = berth.run(&["--systemd-cgroup", "run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pid = berth.state(&id)["pid"].as_i64().unwrap();
    assert_eq!(cgroup_of(pid), format!("/system.slice/{unit}"));
    assert_eq!(systemctl(&["is-active", &unit]), "active");
    assert_eq!(show(&unit, "MemoryMax"), "67108864");
    assert_eq!(show(&unit, "TasksMax"), "50");
    assert_eq!(show(&unit, "Delegate"), "yes");
    let dir = PathBuf::from("/sys/fs/cgroup/system.slice").join(&unit);
    assert_eq!(read_trim(&dir.join("memory.max")), "67108864");
    assert_eq!(read_trim(&dir.join("pids.max")), "50");
    assert_eq!(read_trim(&dir.join("cpu.max")), "20000 100000");
    // update changes the files and the unit.
    berth.ok(&["update", "--memory", "128M", "--pids-limit", "60", &id]);
    assert_eq!(read_trim(&dir.join("memory.max")), "134217728");
    assert_eq!(show(&unit, "MemoryMax"), "134217728");
    assert_eq!(show(&unit, "TasksMax"), "60");
    // exec lands in the scope too.
    let out = berth.ok(&["exec", &id, "cat", "/proc/self/cgroup"]);
    assert_eq!(out.trim(), "0::/", "the cgroup namespace is rooted at the scope");
    berth.ok(&["delete", "--force", &id]);
    assert_ne!(systemctl(&["is-active", &unit]), "active");
    assert!(!dir.exists(), "{} remains", dir.display());
    assert_nothing_left(&berth, &id, Some(pid as i32));
}

#[test]
fn a_custom_slice_and_prefix() {
    if !systemd_is_init() {
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    let id = unique("sdslice");
    b.config["linux"]["cgroupsPath"] = json!(format!("berthtest-a.slice:pfx:{id}"));
    b.sh("cat /proc/self/cgroup; sleep 100");
    b.write();
    let unit = format!("pfx-{id}.scope");
    let out = berth.run(&["--systemd-cgroup", "run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pid = berth.state(&id)["pid"].as_i64().unwrap();
    assert_eq!(cgroup_of(pid), format!("/berthtest.slice/berthtest-a.slice/{unit}"));
    assert_eq!(show(&unit, "Slice"), "berthtest-a.slice");
    // The same unit twice is refused by name.
    let again = Berth::new();
    let out = again.run(&["--systemd-cgroup", "run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_nothing_left(&again, &id, None);
    assert_eq!(systemctl(&["is-active", &unit]), "active", "the failed create stopped the other's unit");
    berth.ok(&["delete", "--force", &id]);
    assert_ne!(systemctl(&["is-active", &unit]), "active");
    assert!(!Path::new("/sys/fs/cgroup/berthtest.slice/berthtest-a.slice").join(&unit).exists());
}

/// A create killed midway leaves a unit that `delete` stops.
#[test]
fn a_killed_create_leaves_no_unit() {
    if !systemd_is_init() {
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    let marker = TempDir::new("sdkill");
    let hold = marker.0.join("hold");
    // The prestart hook runs after the unit exists: kill create there.
    b.config["hooks"] =
        json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}; sleep 30", hold.display())]}]});
    b.sh("true");
    b.write();
    let id = unique("sdkill");
    let unit = format!("berth-{id}.scope");
    let mut child =
        berth.cmd().args(["--systemd-cgroup", "create", "--bundle", b.path().to_str().unwrap(), &id]).spawn().unwrap();
    assert!(wait_until(30, || hold.exists()));
    assert_eq!(systemctl(&["is-active", &unit]), "active");
    child.kill().unwrap();
    child.wait().unwrap();
    berth.ok(&["delete", "--force", &id]);
    assert_ne!(systemctl(&["is-active", &unit]), "active");
    assert_nothing_left(&berth, &id, None);
}
