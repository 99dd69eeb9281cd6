//! Regression tests for known runc container escapes.

use berth_integration::*;
use serde_json::json;

/// CVE-2024-21626: a descriptor of a host directory leaked into the
/// container, reached through a `/proc/self/fd/N` working directory, gave
/// the process a cwd outside the rootfs. Every such cwd must be refused.
#[test]
fn cve_2024_21626_no_host_directory_through_proc_self_fd() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("cve21626");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    for n in 0..=20 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = berth.run(&["exec", "--cwd", &cwd, &id, "sh", "-c", "readlink /proc/self/cwd"]);
        assert_eq!(out.status.code(), Some(255), "exec with cwd {cwd} ran in {}", String::from_utf8_lossy(&out.stdout));
    }
    berth.ok(&["delete", "--force", &id]);
    for n in 3..=12 {
        let mut b = Bundle::new();
        b.config["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        b.sh("readlink /proc/self/cwd");
        let id = unique("cve21626run");
        let (code, out, _) = berth.run_bundle(&b, &id);
        assert_eq!(code, 1, "init with cwd /proc/self/fd/{n} ran in {out}");
        assert_nothing_left(&berth, &id, None);
    }
}

/// The exec'd process and init hold no descriptor but stdio (and what the
/// caller preserved): nothing of berth's reaches the container.
#[test]
fn cve_2024_21626_no_runtime_descriptor_reaches_the_container() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("ls -l /proc/self/fd > /tmp/init-fds; sleep 100");
    let id = unique("cvefds");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let out = berth.ok(&["exec", &id, "sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"]);
    assert_eq!(out.trim(), "0 1 2 3", "stdio and ls's own directory only");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let init = std::fs::read_to_string(b.rootfs().join("tmp/init-fds")).unwrap();
    let fds: Vec<u32> =
        init.lines().filter_map(|l| l.split_once(" -> ")?.0.split_whitespace().last()?.parse().ok()).collect();
    assert!(
        fds.starts_with(&[0, 1, 2]) && fds.iter().all(|f| *f <= 3),
        "init's program sees stdio (and ls's own directory) only: {init}"
    );
    berth.ok(&["delete", "--force", &id]);
}
