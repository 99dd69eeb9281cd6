//! A failed create says what failed and leaves nothing behind.

use berth_integration::*;
use serde_json::json;

#[test]
fn missing_bind_source_names_it_and_leaves_nothing() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/x", "type": "bind", "source": "/no/such/source-dir", "options": ["rbind"]}));
    b.sh("true");
    b.write();
    let id = unique("nosrc");
    let log = TempDir::new("berth-log");
    let logfile = log.0.join("log.json");
    let out = berth.run(&[
        "--log",
        logfile.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/no/such/source-dir"), "{stderr}");
    let text = std::fs::read_to_string(&logfile).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one log line: {text}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("/no/such/source-dir"));
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
    assert_nothing_left(&berth, &id, None);
    // No process of this container survives either.
    let procs = std::process::Command::new("pgrep").args(["-f", &id]).output().unwrap();
    assert!(procs.stdout.is_empty(), "leftover processes: {}", String::from_utf8_lossy(&procs.stdout));
}

#[test]
fn bad_config_values_name_the_field() {
    let berth = Berth::new();
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("process.cwd", json!({"process": {"cwd": "relative"}})),
        ("linux.resources.memory.swappiness", json!({"linux": {"resources": {"memory": {"swappiness": 200}}}})),
        ("linux.resources.unified", json!({"linux": {"resources": {"unified": {"../../x": "1"}}}})),
        ("linux.seccomp.defaultAction", json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_BOGUS"}}})),
        ("process.rlimits", json!({"process": {"rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]}})),
        ("linux.namespaces", json!({"linux": {"namespaces": [{"type": "bogus"}]}})),
        ("linux.intelRdt.closID", json!({"linux": {"intelRdt": {"closID": "../x"}}})),
        ("linux.intelRdt.memBwSchema", json!({"linux": {"intelRdt": {"memBwSchema": "L3:0=f"}}})),
    ];
    for (field, patch) in cases {
        let mut b = Bundle::new();
        merge(&mut b.config, &patch);
        let id = unique("bad");
        let (code, _, err) = berth.run_bundle(&b, &id);
        assert_eq!(code, 1, "{field}");
        assert!(err.contains(field), "{field} not named in {err}");
        assert_nothing_left(&berth, &id, None);
    }
}

/// No resctrl here: intelRdt is an error naming it, with nothing left
/// (the cgroup made before it included), and `update` of the RDT schemas of
/// a container without a group says why.
#[test]
fn intel_rdt_without_resctrl_is_an_error_with_nothing_left() {
    if std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(" - resctrl ") {
        eprintln!("skipped: resctrl is mounted on this machine");
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["intelRdt"] = json!({"l3CacheSchema": "L3:0=f"});
    let id = unique("rdt");
    let (code, _, err) = berth.run_bundle(&b, &id);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("linux.intelRdt: no resctrl filesystem is mounted"), "{err}");
    assert_nothing_left(&berth, &id, None);

    let mut plain = Bundle::new();
    plain.sh("sleep 100");
    let id = unique("rdt-update");
    assert!(berth.create(&plain, &id).status.success());
    let out = berth.run(&["update", "--l3-cache-schema", "L3:0=f", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no Intel RDT group"));
    let out = berth.run(&["update", "--mem-bw-schema", "L3:0=f", &id]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("linux.intelRdt.memBwSchema"));
    berth.ok(&["delete", "--force", &id]);
}

fn merge(into: &mut serde_json::Value, patch: &serde_json::Value) {
    match (into, patch) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[test]
fn unsupported_global_flags_are_refused() {
    let berth = Berth::new();
    let out = berth.run(&["--rootless", "maybe", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rootless"));
}

/// On a v1 host init makes its own network, mount, uts and ipc namespaces
/// while the parent makes the v1 cgroups. When init cannot, the error is
/// init's (not a broken pipe on the parent's side), and nothing is left.
/// strace makes unshare fail.
#[test]
fn an_init_that_cannot_make_its_namespaces_says_why_and_leaves_nothing() {
    if cgroup_v2_only() {
        eprintln!("skipped: on a cgroup v2 host clone3 makes every namespace");
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("true");
    b.write();
    let id = unique("nounshare");
    let out = capture(
        std::process::Command::new("strace")
            .args(["-f", "-o", "/dev/null", "-e", "trace=unshare", "-e", "inject=unshare:error=ENOSPC", "--"])
            .arg(&berth.bin)
            .arg("--root")
            .arg(&berth.root.0)
            .args(["run", "--bundle", b.path().to_str().unwrap(), &id]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("creating namespaces: No space left on device"), "{err}");
    assert_nothing_left(&berth, &id, None);
    assert_eq!(processes_mentioning(&id), Vec::<i32>::new(), "a process of {id} remains");
}

/// init sets the container up while the parent still writes its OOM score
/// and sends Go: when init fails then (a sysctl the kernel lacks), its own
/// error is told, never the parent's step that found it gone (EINVAL from
/// oom_score_adj) nor the reset of a socket closed with Go unread.
#[test]
fn an_init_failing_beside_the_parents_part_is_heard() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["sysctl"] = json!({"net.ipv4.no_such_knob": "1"});
    b.config["process"]["oomScoreAdj"] = json!(100);
    b.sh("true");
    for round in 0..30 {
        let id = unique("ahead");
        let (code, _, err) = berth.run_bundle(&b, &id);
        assert_eq!(code, 1, "round {round}: {err}");
        assert!(err.contains("linux.sysctl: setting net.ipv4.no_such_knob=1"), "round {round}: {err}");
        assert_nothing_left(&berth, &id, None);
    }
}
