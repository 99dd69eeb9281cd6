//! The six hook kinds: order, namespace, state on stdin, failure.

use berth_integration::*;
use serde_json::{json, Value};

/// A hook that appends "<name> <state JSON>" to `log`.
fn hook(name: &str, log: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read s; echo \"{name} $s\" >> {log}")]})
}

#[test]
fn all_hooks_fire_in_order_with_state() {
    let berth = Berth::new();
    let logs = TempDir::new("berth-hooks");
    let host_log = logs.0.join("log");
    let host_log = host_log.to_str().unwrap();
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/hooklog", "type": "bind", "source": logs.0, "options": ["rbind"]}));
    b.config["hooks"] = json!({
        "prestart": [hook("prestart", host_log)],
        "createRuntime": [hook("createRuntime", host_log)],
        // Runs in the container's namespaces but before pivot_root: host paths still resolve.
        "createContainer": [hook("createContainer", host_log)],
        // Runs after pivot_root: the path is the container's /bin/sh and the log its bind mount.
        "startContainer": [hook("startContainer", "/hooklog/log")],
        "poststart": [hook("poststart", host_log)],
        "poststop": [hook("poststop", host_log)],
    });
    b.sh("echo main >> /hooklog/log");
    let id = unique("hooks");
    berth.output_of(&b, &id);
    let text = std::fs::read_to_string(host_log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let names: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    // poststart runs beside the program, so it may log before or after "main".
    let mut order: Vec<&str> = names.iter().copied().filter(|n| *n != "main" && *n != "poststart").collect();
    assert_eq!(order, ["prestart", "createRuntime", "createContainer", "startContainer", "poststop"], "{text}");
    assert!(names.contains(&"main") && names.contains(&"poststart"), "{text}");
    order.clear();
    let state = |name: &str| -> Value {
        let l = lines.iter().find(|l| l.starts_with(&format!("{name} "))).unwrap();
        serde_json::from_str(&l[name.len() + 1..]).unwrap()
    };
    assert_eq!(state("prestart")["status"], "creating");
    assert_eq!(state("prestart")["id"], id.as_str());
    assert!(state("createRuntime")["pid"].as_i64().unwrap() > 0);
    assert_eq!(state("poststart")["status"], "running");
    assert_eq!(state("poststop")["status"], "stopped");
    assert_eq!(state("prestart")["bundle"], b.path().canonicalize().unwrap().to_str().unwrap());
}

#[test]
fn failing_prestart_hook_rolls_back() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 7"]}]});
    let id = unique("hookfail");
    let (code, _, err) = berth.run_bundle(&b, &id);
    assert_eq!(code, 1);
    assert!(err.contains("createRuntime hook #0") && err.contains("nope"), "{err}");
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn hook_timeout_is_enforced() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["hooks"] = json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    let id = unique("hooktime");
    let start = std::time::Instant::now();
    let (code, _, err) = berth.run_bundle(&b, &id);
    assert_eq!(code, 1);
    assert!(err.contains("timed out"), "{err}");
    assert!(start.elapsed().as_secs() < 20);
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn hook_env_and_args_are_its_own() {
    let berth = Berth::new();
    let logs = TempDir::new("berth-hookenv");
    let log = logs.0.join("env");
    let mut b = Bundle::new();
    b.config["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh",
        "args": ["my-hook", "-c", format!("echo \"$0 $FOO ${{LEAK:-clean}}\" > {}", log.display())],
        "env": ["FOO=bar"]
    }]});
    b.sh("true");
    b.write();
    // berth's own environment must not reach the hook.
    let id = unique("hookenv");
    let out = capture(berth.cmd().env("LEAK", "leaked").args(["run", "--bundle", b.path().to_str().unwrap(), &id]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "my-hook bar clean\n");
}

/// The createRuntime hook (nvidia's, say, which grants devices to init's
/// cgroup) must find init in every one of the container's cgroups: init
/// moves itself into the v1 hierarchies now, before it asks for hooks.
#[test]
fn create_runtime_hook_finds_init_in_its_cgroups() {
    let berth = Berth::new();
    let logs = TempDir::new("berth-hookcg");
    let seen = logs.0.join("cgroup");
    let mut b = Bundle::new();
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c",
        format!("read s; pid=$(echo \"$s\" | sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); cat /proc/$pid/cgroup > {}", seen.display())]}]});
    b.sh("sleep 100");
    let id = unique("hookcg");
    let out = berth.create(&b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pid = berth.state(&id)["pid"].as_i64().unwrap();
    let now = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let then = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(then, now, "the hook saw init elsewhere than where it is");
    assert!(now.lines().all(|l| l.ends_with(&id)), "not in the container's cgroups: {now}");
    berth.ok(&["delete", "-f", &id]);
    assert_nothing_left(&berth, &id, Some(pid as i32));
}
