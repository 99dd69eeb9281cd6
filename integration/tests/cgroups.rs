//! Resource limits, update, pause/resume, ps and events — on whichever
//! cgroup layout the host has (v1 hybrid here, v2 in the VM).

use berth_integration::*;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;

fn v2() -> bool {
    cgroup_v2_only()
}

/// The file as the container sees it under its /sys/fs/cgroup.
fn inside(v1: &str, v2_file: &str) -> String {
    if v2() {
        format!("/sys/fs/cgroup/{v2_file}")
    } else {
        format!("/sys/fs/cgroup/{v1}")
    }
}

#[test]
fn memory_limit_is_set_and_enforced_with_an_oom_event() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    let limit = 32 << 20;
    b.config["linux"]["resources"]["memory"] = json!({"limit": limit, "swap": limit});
    b.sh(&format!("cat {}; exec tail /dev/zero", inside("memory/memory.limit_in_bytes", "memory.max")));
    let id = unique("oom");
    assert!(berth.create(&b, &id).status.success());
    let mut events = berth.cmd().args(["events", "--interval", "1s", &id]).stdout(Stdio::piped()).spawn().unwrap();
    // events prints its first stats line once it has read the OOM count it
    // compares against: only then may the container run.
    let mut out = std::io::BufReader::new(events.stdout.take().unwrap());
    let mut text = String::new();
    std::io::BufRead::read_line(&mut out, &mut text).unwrap();
    assert!(text.contains("\"stats\""), "{text}");
    berth.ok(&["start", &id]);
    berth.wait_status(&id, "stopped");
    std::io::Read::read_to_string(&mut out, &mut text).unwrap();
    events.wait().unwrap();
    assert!(text.lines().any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["type"] == "oom")), "{text}");
    let (code, stdout, _) = {
        // The same limit through `run`, which reports the container's exit status.
        let id2 = unique("oomrun");
        berth.run_bundle(&b, &id2)
    };
    assert_eq!(code, 137, "the OOM killer's SIGKILL");
    assert_eq!(stdout.trim(), limit.to_string());
    berth.ok(&["delete", &id]);
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn pids_limit_holds_a_fork_bomb() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["pids"] = json!({"limit": 8});
    let dir = if v2() { "/sys/fs/cgroup" } else { "/sys/fs/cgroup/pids" };
    b.sh(&format!(
        "cat {dir}/pids.max; (for i in $(seq 30); do sleep 2 & done) 2>/dev/null; read c < {dir}/pids.current; echo $c"
    ));
    let out = berth.output_of(&b, &unique("pids"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "8");
    let current: u32 = lines[1].parse().unwrap();
    assert!((7..=8).contains(&current), "pids.current {current}");
}

#[test]
fn cpu_values_follow_runc_conversions() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["cpu"] =
        json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"});
    if v2() {
        b.sh("cat /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpuset.cpus");
        assert_eq!(berth.output_of(&b, &unique("cpu")), "20\n50000 100000\n0\n");
    } else {
        b.sh("cd /sys/fs/cgroup; cat cpu/cpu.shares cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpuset/cpuset.cpus");
        assert_eq!(berth.output_of(&b, &unique("cpu")), "512\n50000\n100000\n0\n");
    }
}

#[test]
fn hugepage_limit_is_written() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 4194304}]);
    b.sh("sleep 100");
    let id = unique("huge");
    let out = berth.create(&b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = host_cgroup_dir(&id, "hugetlb");
    let file = if dir.join("hugetlb.2MB.max").exists() { "hugetlb.2MB.max" } else { "hugetlb.2MB.limit_in_bytes" };
    assert_eq!(read_trim(&dir.join(file)), "4194304");
    berth.ok(&["delete", &id]);
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn unified_keys_go_to_the_v2_hierarchy() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["unified"] = json!({"memory.high": "50000000"});
    b.sh("cat /sys/fs/cgroup/memory.high");
    let id = unique("unified");
    if v2() {
        assert_eq!(berth.output_of(&b, &id), "49999872\n", "the kernel rounds to pages");
    } else {
        // Hybrid: the memory controller is v1, so cgroup2 has no memory.high.
        let (code, _, err) = berth.run_bundle(&b, &id);
        assert_eq!(code, 1);
        assert!(err.contains("linux.resources.unified.memory.high"), "{err}");
        assert_nothing_left(&berth, &id, None);
    }
}

#[test]
fn settings_the_host_cannot_take_are_errors_naming_the_field() {
    let berth = Berth::new();
    let cases = [
        ("linux.resources.network.classID", json!({"network": {"classID": 1048577}})),
        ("linux.resources.rdma", json!({"rdma": {"mlx5_0": {"hcaHandles": 3}}})),
        // The kernel refuses a CPU that does not exist: the error names field and file.
        ("linux.resources.cpu.cpus", json!({"cpu": {"cpus": "4095"}})),
    ];
    for (field, res) in cases {
        // Only where the host really lacks the controller.
        let ctrl = if field.contains("network") { "net_cls" } else { "rdma" };
        if !field.ends_with("cpus") && host_has_controller(ctrl) {
            eprintln!("{field}: this host has {ctrl}; the missing-controller error cannot be shown here");
            continue;
        }
        let mut b = Bundle::new();
        b.config["linux"]["resources"] = res;
        let id = unique("nohost");
        let (code, _, err) = berth.run_bundle(&b, &id);
        assert_eq!(code, 1, "{field}");
        assert!(err.contains(field), "{field}: {err}");
        if field.ends_with("cpus") {
            assert!(err.contains("cpuset.cpus"), "{err}");
        }
        assert_nothing_left(&berth, &id, None);
    }
}

#[test]
fn update_changes_limits_of_a_running_container() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("update");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    berth.ok(&[
        "update",
        &id,
        "--memory",
        "64M",
        "--pids-limit",
        "30",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
    ]);
    let mem = host_cgroup_dir(&id, "memory");
    let pids = host_cgroup_dir(&id, "pids");
    let cpu = host_cgroup_dir(&id, "cpu");
    if v2() {
        assert_eq!(read_trim(&mem.join("memory.max")), "67108864");
        assert_eq!(read_trim(&cpu.join("cpu.max")), "20000 100000");
    } else {
        assert_eq!(read_trim(&mem.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(read_trim(&cpu.join("cpu.cfs_quota_us")), "20000");
    }
    assert_eq!(read_trim(&pids.join("pids.max")), "30");
    // --resources - reads LinuxResources JSON from stdin.
    let mut child = berth.cmd().args(["update", "--resources", "-", &id]).stdin(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(br#"{"pids": {"limit": 12}}"#).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(read_trim(&pids.join("pids.max")), "12");
    let bad = berth.run(&["update", "--memory", "lots", &id]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--memory"));
    berth.ok(&["delete", "--force", &id]);
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn pause_stops_progress_and_resume_restarts_it() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.02; done");
    let id = unique("pause");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    // The shell truncates before it writes: retry a read that lands in between.
    let count = || {
        (0..100)
            .find_map(|_| {
                let v = std::fs::read_to_string(b.rootfs().join("tmp/count")).ok()?.trim().parse::<u64>().ok();
                if v.is_none() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                v
            })
            .unwrap_or(0)
    };
    assert!(wait_until(5, || count() > 0), "the counter did not start");
    berth.ok(&["pause", &id]);
    assert_eq!(berth.status(&id), "paused");
    // list reads its own summary of the record: the same freezer.
    let listed = |id: &str| -> String {
        let all: serde_json::Value = serde_json::from_str(&berth.ok(&["list", "-f", "json"])).unwrap();
        let mine = all.as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap_or_default();
        mine["status"].as_str().unwrap_or("").to_string()
    };
    assert_eq!(listed(&id), "paused");
    let a = count();
    // "No progress" needs a window of time: 15 turns of the loop.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(), a, "a frozen container made progress");
    assert!(!berth.run(&["pause", &id]).status.success());
    berth.ok(&["resume", &id]);
    assert_eq!(berth.status(&id), "running");
    assert_eq!(listed(&id), "running");
    assert!(wait_until(5, || count() > a), "no progress after resume");
    let out = berth.run(&["resume", &id]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not paused"));
    // SIGKILL reaches a paused container.
    berth.ok(&["pause", &id]);
    berth.ok(&["kill", &id, "KILL"]);
    berth.wait_status(&id, "stopped");
    berth.ok(&["delete", &id]);
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn ps_lists_the_container_processes() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100 & exec sleep 101");
    let id = unique("ps");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let init = berth.state(&id)["pid"].as_i64().unwrap();
    // Both sleeps exist once init has exec'd `sleep 101`.
    let cmdline = || std::fs::read(format!("/proc/{init}/cmdline")).unwrap_or_default();
    assert!(wait_until(5, || cmdline().starts_with(b"sleep\x00101")));
    let pids: Vec<i64> = serde_json::from_str(&berth.ok(&["ps", "--format", "json", &id])).unwrap();
    assert_eq!(pids.len(), 2);
    assert!(pids.contains(&init));
    let table = berth.ok(&["ps", &id, "-o", "pid,args"]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains("PID"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows.iter().any(|r| r.contains("sleep 101")));
    berth.ok(&["kill", &id, "KILL"]);
    berth.wait_status(&id, "stopped");
    let out = berth.run(&["ps", &id]);
    assert_eq!(out.status.code(), Some(0), "ps on a stopped container prints the header, as runc");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    berth.ok(&["delete", &id]);
}

#[test]
fn events_stats_reports_usage() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["pids"] = json!({"limit": 50});
    b.sh("sleep 100");
    let id = unique("stats");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let v: Value = serde_json::from_str(berth.ok(&["events", "--stats", &id]).trim()).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    assert!(v["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["data"]["pids"]["current"], 1);
    assert_eq!(v["data"]["pids"]["limit"], 50);
    assert!(v["data"]["cpu"]["usage"]["total"].as_u64().is_some());
    berth.ok(&["delete", "--force", &id]);
}

#[test]
fn blkio_throttle_on_the_root_disk() {
    let berth = Berth::new();
    // The block device that holds the bundle, if there is one.
    let dev = std::fs::read_dir("/sys/block").ok().and_then(|rd| {
        rd.flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with("loop"))
            .find_map(|e| std::fs::read_to_string(e.path().join("dev")).ok())
    });
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("blkio");
    let Some(dev) = dev else {
        // No disk (the v2 VM): the write must fail and name the field.
        b.config["linux"]["resources"]["blockIO"] =
            json!({"throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}]});
        let out = berth.create(&b, &id);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("linux.resources.blockIO.throttleReadBpsDevice[0]"));
        assert_nothing_left(&berth, &id, None);
        return;
    };
    let (major, minor) = dev.trim().split_once(':').unwrap();
    let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
    b.config["linux"]["resources"]["blockIO"] =
        json!({"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]});
    let out = berth.create(&b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = host_cgroup_dir(&id, "blkio");
    let text =
        if v2() { read_trim(&dir.join("io.max")) } else { read_trim(&dir.join("blkio.throttle.read_bps_device")) };
    assert!(text.contains(&format!("{major}:{minor}")) && (text.contains("1048576")), "{text}");
    berth.ok(&["delete", &id]);
}

#[test]
fn device_rules_can_be_replaced_by_update() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    let caps = json!(["CAP_MKNOD"]);
    b.config["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    b.sh("mknod /dev/berth-kmsg c 1 11; while [ ! -e /tmp/go ]; do sleep 0.02; done; \
          (echo berth-test > /dev/berth-kmsg 2>/dev/null && echo opened || echo denied) > /tmp/result");
    let id = unique("devupd");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let rules = r#"{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]}"#;
    let file = b.path().join("res.json");
    std::fs::write(&file, rules).unwrap();
    berth.ok(&["update", "--resources", file.to_str().unwrap(), &id]);
    std::fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    berth.wait_status(&id, "stopped");
    assert_eq!(std::fs::read_to_string(b.rootfs().join("tmp/result")).unwrap(), "opened\n");
    berth.ok(&["delete", &id]);
}

#[test]
fn relative_cgroups_path_is_under_our_own_cgroup() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    let id = unique("relcg");
    b.config["linux"]["cgroupsPath"] = json!(format!("berth-rel-{id}/inner"));
    b.sh("sleep 100");
    assert!(berth.create(&b, &id).status.success());
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let (mount, rel) = if v2() {
        ("/sys/fs/cgroup".to_string(), own.lines().find(|l| l.starts_with("0::")).unwrap()[3..].to_string())
    } else {
        let line = own.lines().find(|l| l.split(':').nth(1) == Some("pids")).unwrap();
        ("/sys/fs/cgroup/pids".to_string(), line.splitn(3, ':').nth(2).unwrap().to_string())
    };
    let parent =
        std::path::PathBuf::from(format!("{mount}{}", rel.trim_end_matches('/'))).join(format!("berth-rel-{id}"));
    let pid = berth.state(&id)["pid"].to_string();
    assert!(read_trim(&parent.join("inner/cgroup.procs")).lines().any(|l| l == pid));
    berth.ok(&["delete", &id]);
    assert!(!parent.exists(), "the parents berth made are removed too");
}

/// Whether the host has `ctrl` mounted as a v1 hierarchy or enabled at the
/// root of cgroup v2.
fn host_has_controller(ctrl: &str) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines().any(|l| {
        let Some((pre, post)) = l.split_once(" - ") else { return false };
        let mut post = post.split_whitespace();
        let (fstype, opts) = (post.next().unwrap_or(""), post.nth(1).unwrap_or(""));
        let mount_point = pre.split_whitespace().nth(4).unwrap_or("");
        match fstype {
            "cgroup" => opts.split(',').any(|o| o == ctrl),
            "cgroup2" => std::fs::read_to_string(format!("{mount_point}/cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == ctrl)),
            _ => false,
        }
    })
}
