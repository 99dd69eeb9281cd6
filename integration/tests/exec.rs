//! `exec`: a new process in a running container, seen from inside.

use berth_integration::*;
use serde_json::json;
use std::os::unix::fs::MetadataExt;

fn running(berth: &Berth, prefix: &str) -> (Bundle, String) {
    let mut b = Bundle::new();
    b.sh("sleep 1000");
    let id = unique(prefix);
    let out = berth.create(&b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    berth.ok(&["start", &id]);
    (b, id)
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn exec_joins_the_namespaces_and_cgroup_of_init() {
    let berth = Berth::new();
    let (_b, id) = running(&berth, "exns");
    let init = berth.state(&id)["pid"].to_string();
    let script = "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup; echo; cat /proc/1/cgroup";
    let out = berth.run(&["exec", &id, "sh", "-c", script]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    for (i, n) in ["pid", "net", "ipc", "uts", "mnt", "cgroup"].iter().enumerate() {
        assert_eq!(lines[i], ns_link(&init, n), "{n}");
    }
    let (mine, inits) = text.split_once("\n\n").unwrap();
    let mine: Vec<&str> = mine.lines().skip(6).collect();
    assert_eq!(mine.join("\n"), inits.trim_end(), "same cgroups as init, seen from inside");
    berth.ok(&["delete", "--force", &id]);
}

/// Every kind of namespace: those create made (user and time too) are
/// joined without comparing links, one listed by a path to berth's own
/// (the host's network) is compared and left as it is, and the process
/// ends up in all of init's.
#[test]
fn exec_joins_made_shared_and_joined_namespaces_alike() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.add_namespace("user", None).add_namespace("time", None).add_namespace("network", Some("/proc/self/ns/net"));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "sysfs");
    b.sh("sleep 1000");
    let id = unique("exkinds");
    let out = berth.create(&b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    berth.ok(&["start", &id]);
    let init = berth.state(&id)["pid"].to_string();
    let kinds = ["user", "time", "net", "pid", "ipc", "uts", "mnt", "cgroup"];
    let script: String = kinds.iter().map(|k| format!("readlink /proc/self/ns/{k};")).collect();
    let out = berth.run(&["exec", &id, "sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    for (i, k) in kinds.iter().enumerate() {
        assert_eq!(lines.get(i).copied().unwrap_or(""), ns_link(&init, k), "{k}");
    }
    assert_ne!(ns_link(&init, "user"), ns_link("self", "user"));
    assert_eq!(ns_link(&init, "net"), ns_link("self", "net"));
    berth.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_status_env_user_cwd_and_caps() {
    let berth = Berth::new();
    let (_b, id) = running(&berth, "exenv");
    let null_before = std::fs::metadata("/dev/null").unwrap();
    let out = berth.run(&[
        "exec",
        "--env",
        "GREETING=ahoy",
        "--env",
        "PATH=/bin",
        "--user",
        "1000:1001",
        "--cwd",
        "/tmp",
        "--cap",
        "CAP_NET_RAW",
        "-g",
        "44",
        &id,
        "sh",
        "-c",
        "echo $GREETING; id -u; id -g; pwd; grep Groups /proc/self/status; grep CapEff /proc/self/status; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..4], ["ahoy", "1000", "1001", "/tmp"]);
    assert_eq!(lines[4].split_whitespace().collect::<Vec<_>>(), ["Groups:", "44"]);
    // --cap puts CAP_NET_RAW in bounding, effective and permitted, never
    // inheritable or ambient (CVE-2022-29162): a non-root uid keeps none of
    // it across execve. (attacks.rs checks that root gets it.)
    assert!(lines[5].ends_with("0000000000000000"), "{}", lines[5]);
    // exec --user never changes the owner of the host's /dev/null.
    let null_after = std::fs::metadata("/dev/null").unwrap();
    assert_eq!((null_before.uid(), null_before.gid()), (null_after.uid(), null_after.gid()));
    berth.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_keeps_the_container_env_and_sees_no_host_fd() {
    let berth = Berth::new();
    let (_b, id) = running(&berth, "exfd");
    let out = berth.run(&["exec", &id, "sh", "-c", "echo $PATH; ls /proc/self/fd | tr '\\n' ' '"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert!(lines.next().unwrap().contains("/usr/bin"), "the container's PATH");
    assert_eq!(lines.next().unwrap().trim(), "0 1 2 3", "stdio and ls's own directory only");
    berth.ok(&["delete", "--force", &id]);
}

/// The process joins every namespace init has apart from berth, or does
/// not run. Where init's namespace links cannot be read (as when init has
/// just died; here strace makes them fail), exec fails. Before, an
/// unreadable link counted as a namespace init shares with berth: the
/// process ran in berth's namespaces, on the host (its file appeared in
/// the host's /tmp; this test fails so on the old binary).
#[test]
fn exec_never_runs_in_the_hosts_namespaces_when_inits_are_unreadable() {
    let berth = Berth::new();
    let (b, id) = running(&berth, "exns");
    let mark = unique("exec-ran-here");
    let out = capture(
        std::process::Command::new("strace")
            // readlinkat is how berth reads them; readlink was, before
            // (its first call is glibc's, of /proc/self/exe).
            .args(["-o", "/dev/null", "-e", "inject=readlinkat:error=ENOENT:when=1"])
            .args(["-e", "inject=readlink:error=ENOENT:when=2+"])
            .arg(&berth.bin)
            .arg("--root")
            .arg(&berth.root.0)
            .args(["exec", &id, "sh", "-c", &format!("touch /tmp/{mark}")]),
    );
    let on_host = std::path::Path::new("/tmp").join(&mark);
    let ran_on_host = on_host.exists();
    let _ = std::fs::remove_file(&on_host);
    let err = String::from_utf8_lossy(&out.stderr);
    berth.ok(&["delete", "--force", &id]);
    assert!(!ran_on_host, "the process ran in the host's namespaces: {err}");
    assert!(!b.rootfs().join("tmp").join(&mark).exists(), "the process ran after all: {err}");
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("init's") && err.contains("namespace"), "{err}");
}

#[test]
fn exec_failures_exit_255_with_runc_words() {
    let berth = Berth::new();
    let (b, id) = running(&berth, "exfail");
    let out = berth.run(&["exec", &id, "no-such-binary"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("executable file not found in $PATH"));
    // A file only execve itself refuses, after every check of berth's has
    // passed (the process reported Ready): its error, and 255.
    use std::os::unix::fs::PermissionsExt;
    let bad = b.rootfs().join("bad-format");
    std::fs::write(&bad, "xyzw").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = berth.run(&["exec", &id, "/bad-format"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).to_lowercase().contains("exec format error"), "{out:?}");
    let out = berth.run(&["exec", "--cgroup", "../..", &id, "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".. is not a sub cgroup path"));
    let out = berth.run(&["exec", "missing-container-x", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    berth.ok(&["pause", &id]);
    let out = berth.run(&["exec", &id, "true"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("paused"));
    berth.ok(&["resume", &id]);
    berth.ok(&["kill", &id, "KILL"]);
    berth.wait_status(&id, "stopped");
    let out = berth.run(&["exec", &id, "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped"));
    berth.ok(&["delete", &id]);
}

#[test]
fn exec_process_file_detached_with_pid_file() {
    let berth = Berth::new();
    let (b, id) = running(&berth, "exproc");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(b.rootfs().join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let dir = TempDir::new("berth-exec");
    let proc_file = dir.0.join("process.json");
    let process = json!({
        "args": ["sh", "-c", "echo $X > /tmp/from-exec; id -u >> /tmp/from-exec; sleep 100"],
        "env": ["PATH=/bin", "X=process-json"],
        "cwd": "/",
        "user": {"uid": 5, "gid": 5},
    });
    std::fs::write(&proc_file, process.to_string()).unwrap();
    let pid_file = dir.0.join("exec.pid");
    berth.ok(&[
        "exec",
        "--process",
        proc_file.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(!pid.ends_with('\n'));
    let procs: Vec<i64> = serde_json::from_str(&berth.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(procs.contains(&pid.parse().unwrap()), "the exec'd process is in the container's cgroup");
    let from_exec = || std::fs::read_to_string(b.rootfs().join("tmp/from-exec"));
    assert!(wait_until(5, || from_exec().is_ok_and(|s| s.lines().count() == 2)));
    assert_eq!(std::fs::read_to_string(b.rootfs().join("tmp/from-exec")).unwrap(), "process-json\n5\n");
    // It outlives `berth exec` (no parent-death signal left behind).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(!stat.is_empty() && !stat.contains(") Z"), "the detached process died with berth exec: {stat}");
    berth.ok(&["delete", "--force", &id]);
    assert_nothing_left(&berth, &id, Some(pid.parse().unwrap()));
}

#[test]
fn exec_with_a_terminal() {
    let berth = Berth::new();
    let (_b, id) = running(&berth, "extty");
    let out = berth.run(&["exec", "-t", &id, "sh", "-c", "tty; echo on-pty"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.contains("/dev/pts/") && text.contains("on-pty"), "{text}");
    berth.ok(&["delete", "--force", &id]);
}

/// exec uses the config create read (kept in the state directory): an
/// edited or deleted bundle changes nothing for a running container.
#[test]
fn exec_does_not_read_the_bundle_again() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["env"] = json!(["PATH=/bin", "FROM=create"]);
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]});
    b.sh("sleep 100");
    let id = unique("nobundle");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    // The bundle now says something else, then goes away entirely.
    b.config["process"]["env"] = json!(["PATH=/bin", "FROM=edited"]);
    b.config["linux"]["seccomp"] = json!(null);
    b.write();
    let out = berth.ok(&["exec", &id, "sh", "-c", "echo $FROM; mkdir /tmp/d 2>/dev/null && echo made || echo denied"]);
    assert_eq!(out, "create\ndenied\n");
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    assert_eq!(berth.ok(&["exec", &id, "sh", "-c", "echo $FROM"]), "create\n");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(berth.root.0.join(&id).join("state.json")).unwrap()).unwrap();
    assert_eq!(state["version"], 3, "state.json says its format");
    berth.ok(&["delete", "--force", &id]);
}

/// A record whose pid is not init's any more: taken by another process (a
/// recycled pid, here a host `sleep` written into the record) or gone.
/// exec refuses both as a stopped container, with status 255, and runs
/// nothing in the stranger's namespaces. exec opens init's handles before
/// it looks at init once: that look must still come before anything uses
/// them.
#[test]
fn exec_refuses_a_pid_that_is_not_init() {
    let berth = Berth::new();
    let (_b, id) = running(&berth, "exstranger");
    let state_file = berth.root.0.join(&id).join("state.json");
    let real = std::fs::read(&state_file).unwrap();
    let mut state: serde_json::Value = serde_json::from_slice(&real).unwrap();
    // Killed however the test ends (it holds no pipe of the test's either).
    struct Stranger(std::process::Child);
    impl Drop for Stranger {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // Start times count in clock ticks: a stranger born in init's tick
    // would pass for it (as with runc), so until one is born in another.
    let start_of = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit(')').next().and_then(|r| r.split_whitespace().nth(19)).map(str::to_string)
    };
    let born = || {
        Stranger(
            std::process::Command::new("sleep")
                .arg("1000")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let mut stranger = born();
    assert!(wait_until(5, || {
        if start_of(stranger.0.id()) == Some(state["pid_start"].to_string()) {
            stranger = born();
            return false;
        }
        true
    }));
    state["pid"] = json!(stranger.0.id());
    std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
    let marker = std::env::temp_dir().join(format!("{id}-ran-on-the-host"));
    let refused = |out: &std::process::Output| {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(255), "{err}");
        assert!(err.contains("cannot exec in a stopped container"), "{err}");
    };
    refused(&berth.run(&["exec", &id, "touch", marker.to_str().unwrap()]));
    assert!(!marker.exists(), "the process ran in the stranger's namespaces");
    drop(stranger);
    refused(&berth.run(&["exec", &id, "touch", marker.to_str().unwrap()]));
    assert!(!marker.exists());
    std::fs::write(&state_file, real).unwrap();
    berth.ok(&["delete", "--force", &id]);
}

/// `--pidfd-socket` (runc ≥ 1.2): create and exec send a pidfd of the
/// process they started to the socket the caller listens on.
#[test]
fn pidfd_socket_gets_the_process() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    b.write();
    let dir = TempDir::new("pidfd");
    let sock = dir.0.join("pidfd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let pid_of = |fd: &std::os::fd::OwnedFd| {
        use std::os::fd::AsRawFd;
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
        info.lines().find_map(|l| l.strip_prefix("Pid:")).unwrap().trim().parse::<i64>().unwrap()
    };
    let id = unique("pidfd");
    let out =
        berth.run(&["create", "--pidfd-socket", sock.to_str().unwrap(), "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (conn, _) = listener.accept().unwrap();
    let (fd, data) = recv_fd_with_data(&conn);
    assert_eq!(data, b"pidfd");
    assert_eq!(pid_of(&fd), berth.state(&id)["pid"].as_i64().unwrap());
    berth.ok(&["start", &id]);
    let pid_file = dir.0.join("exec.pid");
    berth.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--pidfd-socket",
        sock.to_str().unwrap(),
        &id,
        "sleep",
        "50",
    ]);
    let (conn, _) = listener.accept().unwrap();
    let fd = recv_fd(&conn);
    let exec_pid: i64 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(pid_of(&fd), exec_pid, "the pidfd is the exec'd process's");
    berth.ok(&["delete", "--force", &id]);
    assert_nothing_left(&berth, &id, Some(exec_pid as i32));
}
