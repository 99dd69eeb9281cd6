//! create / start / state / list / kill / delete, seen from outside.

use berth_integration::*;
use std::process::{Command, Stdio};

#[test]
fn run_returns_the_exit_code_and_signal() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("exit 3");
    assert_eq!(berth.run_bundle(&b, &unique("exit")).0, 3);
    // pid 1 of a pid namespace ignores SIGKILL from inside: share the host's.
    let mut nopid = Bundle::new();
    nopid.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
    nopid.sh("kill -9 $$");
    assert_eq!(berth.run_bundle(&nopid, &unique("sig")).0, 137);
    let id = unique("ok");
    b.sh("echo hello");
    assert_eq!(berth.output_of(&b, &id), "hello\n");
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn state_goes_created_running_stopped() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("states");
    let out = berth.create(&b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let st = berth.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], b.path().canonicalize().unwrap().to_str().unwrap());
    assert_eq!(st["ociVersion"], "1.2.0");
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0);
    for dir in default_cgroup_dirs(&id) {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert!(procs.lines().any(|l| l == pid.to_string()), "{} lacks init", dir.display());
    }
    berth.ok(&["start", &id]);
    assert_eq!(berth.status(&id), "running");
    let again = berth.run(&["start", &id]);
    assert!(!again.status.success());
    berth.ok(&["kill", &id, "KILL"]);
    berth.wait_status(&id, "stopped");
    assert_eq!(berth.state(&id)["pid"], 0);
    let out = berth.run(&["kill", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("container not running"));
    berth.ok(&["delete", &id]);
    assert_nothing_left(&berth, &id, Some(pid));
}

#[test]
fn kill_takes_names_and_numbers() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("trap 'echo got-usr1 > /tmp/usr1; exit 0' USR1; touch /tmp/trapped; while true; do sleep 0.1; done");
    let id = unique("kill");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    assert!(wait_until(10, || b.rootfs().join("tmp/trapped").exists()), "the trap was not set");
    berth.ok(&["kill", &id, "SIGUSR1"]);
    berth.wait_status(&id, "stopped");
    assert_eq!(std::fs::read_to_string(b.rootfs().join("tmp/usr1")).unwrap(), "got-usr1\n");
    berth.ok(&["delete", &id]);
    let id = unique("kill9");
    b.sh("sleep 100");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    berth.ok(&["kill", &id, "9"]);
    berth.wait_status(&id, "stopped");
    berth.ok(&["delete", &id]);
}

#[test]
fn delete_refuses_running_and_kills_created() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("del");
    assert!(berth.create(&b, &id).status.success());
    let pid = berth.state(&id)["pid"].as_i64().unwrap() as i32;
    berth.ok(&["delete", &id]);
    assert_nothing_left(&berth, &id, Some(pid));

    let id = unique("delrun");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let out = berth.run(&["delete", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not stopped"));
    let pid = berth.state(&id)["pid"].as_i64().unwrap() as i32;
    berth.ok(&["delete", "--force", &id]);
    assert_nothing_left(&berth, &id, Some(pid));
    // A second forced delete of a gone id is harmless.
    berth.ok(&["delete", "--force", &id]);
}

#[test]
fn unknown_and_duplicate_ids_use_runc_words() {
    let berth = Berth::new();
    let out = berth.run(&["state", "nope-does-not-exist"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("container \\\"nope-does-not-exist\\\" does not exist"));
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("dup");
    assert!(berth.create(&b, &id).status.success());
    let out = berth.create(&b, &id);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(berth.status(&id), "created", "the failed create must not touch the first");
    berth.ok(&["delete", &id]);
}

/// A berth started with stdout closed must not hand that number to the
/// first file it opens: `state` would then print into nothing (or into
/// its own record), and a container would get berth's file as its stdout.
#[test]
fn a_closed_stdout_becomes_dev_null() {
    use std::os::unix::process::CommandExt;
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("nostdout");
    assert!(berth.create(&b, &id).status.success());
    let closed = |args: &[&str]| {
        let mut c = berth.cmd();
        c.args(args).stdin(Stdio::null()).stderr(Stdio::piped());
        // SAFETY: close is async-signal-safe; it runs in the forked child.
        unsafe { c.pre_exec(|| if libc::close(1) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }) };
        c.output().unwrap()
    };
    let out = closed(&["state", &id]);
    assert!(
        out.status.success(),
        "state with stdout closed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // The container's stdout is berth's: /dev/null, so its echo succeeds.
    let mut echo = Bundle::new();
    echo.sh("echo to-nowhere");
    echo.write();
    let run_id = unique("nostdout-run");
    let out = closed(&["run", "--bundle", echo.path().to_str().unwrap(), &run_id]);
    assert!(out.status.success(), "run with stdout closed: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    berth.ok(&["delete", "-f", &id]);
    assert_nothing_left(&berth, &run_id, None);
}

#[test]
fn concurrent_deletes_of_one_id_succeed_once() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("true");
    let id = unique("race");
    assert!(berth.create(&b, &id).status.success());
    let kids: Vec<_> = (0..10)
        .map(|_| berth.cmd().args(["delete", &id]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
        .collect();
    let ok = kids.into_iter().map(|mut k| k.wait().unwrap().success()).filter(|s| *s).count();
    assert_eq!(ok, 1);
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn a_recycled_pid_is_not_the_container() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("recycle");
    assert!(berth.create(&b, &id).status.success());
    let state_file = berth.root.0.join(&id).join("state.json");
    let mut rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    let real = rec["pid"].as_i64().unwrap();
    // Point the record at a live process that is not the init (this test itself).
    rec["pid"] = serde_json::json!(std::process::id());
    std::fs::write(&state_file, serde_json::to_vec(&rec).unwrap()).unwrap();
    assert_eq!(berth.status(&id), "stopped");
    rec["pid"] = serde_json::json!(real);
    std::fs::write(&state_file, serde_json::to_vec(&rec).unwrap()).unwrap();
    assert_eq!(berth.status(&id), "created");
    berth.ok(&["delete", &id]);
}

#[test]
fn list_formats() {
    let berth = Berth::new();
    assert_eq!(berth.ok(&["list", "--format", "json"]).trim(), "null");
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("list");
    assert!(berth.create(&b, &id).status.success());
    let table = berth.ok(&["list"]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("ID "));
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[0], id);
    assert_eq!(row[2], "created");
    let json: serde_json::Value = serde_json::from_str(&berth.ok(&["list", "--format=json"])).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["status"], "created");
    assert_eq!(berth.ok(&["list", "-q"]).trim(), id);
    berth.ok(&["delete", &id]);
}

#[test]
fn pid_file_is_atomic_and_relative_to_cwd() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    b.write();
    let id = unique("pidfile");
    let cwd = TempDir::new("berth-cwd");
    let out = capture(berth.cmd().current_dir(&cwd.0).args([
        "create",
        "--pid-file",
        "my.pid",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(cwd.0.join("my.pid")).unwrap();
    assert!(!text.ends_with('\n'));
    assert_eq!(text, berth.state(&id)["pid"].to_string());
    berth.ok(&["delete", &id]);
}

#[test]
fn run_detach_then_delete() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    b.write();
    let id = unique("detach");
    berth.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(berth.status(&id), "running");
    berth.ok(&["kill", &id, "KILL"]);
    berth.wait_status(&id, "stopped");
    berth.ok(&["delete", &id]);
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn config_without_process_can_be_created_not_started() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config.as_object_mut().unwrap().remove("process");
    let id = unique("noproc");
    let out = berth.create(&b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(berth.status(&id), "created");
    let out = berth.run(&["start", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no process"));
    berth.ok(&["delete", &id]);
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn spec_and_version() {
    let dir = TempDir::new("berth-spec");
    let out = Command::new(berth_bin()).args(["spec", "--bundle"]).arg(&dir.0).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.0.join("config.json")).unwrap()).unwrap();
    assert_eq!(v["process"]["args"][0], "sh");
    let again = Command::new(berth_bin()).args(["spec", "--bundle"]).arg(&dir.0).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    let out = Command::new(berth_bin()).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().unwrap().starts_with("berth version "));
    assert!(text.contains("\nspec: 1.2"));
}

#[test]
fn kill_all_reaches_every_process() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    // Without a pid namespace the init is not special: every process gets the signal.
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
    b.sh("sleep 100 & sleep 100 & wait");
    let id = unique("killall");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let cg = default_cgroup_dirs(&id).into_iter().find(|d| d.join("cgroup.procs").exists()).unwrap();
    let procs = |d: &std::path::Path| std::fs::read_to_string(d.join("cgroup.procs")).unwrap().lines().count();
    assert!(wait_until(5, || procs(&cg) >= 3));
    assert_eq!(procs(&cg), 3);
    berth.ok(&["kill", "--all", &id, "KILL"]);
    berth.wait_status(&id, "stopped");
    berth.ok(&["delete", &id]);
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn debug_and_json_logging() {
    let berth = Berth::new();
    let dir = TempDir::new("berth-dbg");
    let log = dir.0.join("log");
    let out = berth.run(&["--debug", "--log", log.to_str().unwrap(), "--log-format", "json", "state", "nope-x"]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let levels: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["level"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(levels.first().map(String::as_str), Some("debug"));
    assert_eq!(levels.last().map(String::as_str), Some("error"));
    // With --log the error is also printed plainly on stderr.
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "container \"nope-x\" does not exist");
}

/// The runtime spec: a failing poststart or poststop hook is a warning; the
/// remaining hooks run and the lifecycle goes on.
#[test]
fn failing_poststart_and_poststop_hooks_warn_and_go_on() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let marks = TempDir::new("berth-hookmarks");
    let touch = |name: &str| serde_json::json!({"path": "/bin/touch", "args": ["touch", marks.0.join(name)]});
    b.config["hooks"] = serde_json::json!({
        "poststart": [{"path": "/bin/false"}, touch("poststart-2")],
        "poststop": [{"path": "/bin/false"}, touch("poststop-2")],
    });
    let id = unique("poststart");
    assert!(berth.create(&b, &id).status.success());
    let out = berth.run(&["start", &id]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("poststart hook #0"));
    assert!(marks.0.join("poststart-2").exists(), "the second poststart hook ran");
    assert_eq!(berth.status(&id), "running");
    let out = berth.run(&["delete", "--force", &id]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("poststop hook #0"));
    assert!(marks.0.join("poststop-2").exists(), "the second poststop hook ran");
    assert_nothing_left(&berth, &id, None);
}

/// `run` makes berth the subreaper of what the container orphans (runc's
/// default), unless `--no-subreaper`; `--keep` leaves the stopped container.
#[test]
fn run_subreaper_and_keep() {
    for (flag, subreaper) in [(None, true), (Some("--no-subreaper"), false)] {
        let berth = Berth::new();
        let mut b = Bundle::new();
        // Without a pid namespace the orphan's new parent is on the host.
        b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
        b.sh("sh -c 'sleep 30 & echo $$ > /tmp/sub; echo $! > /tmp/orphan.tmp; mv /tmp/orphan.tmp /tmp/orphan'; \
             while [ ! -e /tmp/seen ]; do usleep 20000; done");
        b.write();
        let id = unique("reaper");
        let mut args = vec!["run", "--keep", "--bundle", b.path().to_str().unwrap(), &id];
        if let Some(f) = flag {
            args.insert(1, f);
        }
        let mut run = berth.cmd().args(&args).stdin(std::process::Stdio::null()).spawn().unwrap();
        let orphan_file = b.rootfs().join("tmp/orphan");
        assert!(wait_until(10, || orphan_file.exists()));
        let orphan = std::fs::read_to_string(&orphan_file).unwrap().trim().to_string();
        let sub = std::fs::read_to_string(b.rootfs().join("tmp/sub")).unwrap().trim().to_string();
        let ppid = || {
            let stat = std::fs::read_to_string(format!("/proc/{orphan}/stat")).unwrap_or_default();
            stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).unwrap_or("").to_string()
        };
        // The shell that started it is gone: the orphan has its new parent.
        assert!(wait_until(10, || !ppid().is_empty() && ppid() != sub));
        let is_berth = ppid() == run.id().to_string();
        std::fs::write(b.rootfs().join("tmp/seen"), "").unwrap();
        assert!(run.wait().unwrap().success());
        assert_eq!(is_berth, subreaper, "{flag:?}: the orphan's parent is berth run: {is_berth}");
        // --keep: the stopped container stays until deleted.
        assert_eq!(berth.status(&id), "stopped");
        berth.ok(&["delete", &id]);
        assert_nothing_left(&berth, &id, None);
    }
}
