//! linux.seccomp: berth's own BPF compiler, loaded for real.

use berth_integration::*;
use serde_json::{json, Value};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;

#[test]
fn errno_rule_and_seccomp_mode() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    b.sh("grep Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; echo rc=$?");
    let out = berth.output_of(&b, &unique("sc"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["Seccomp:", "2"]);
    assert!(lines[1].contains("Operation not permitted"), "{out}");
    assert_eq!(lines[2], "rc=1");
}

#[test]
fn argument_comparison_in_the_kernel() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    // chmod(path, 0700) is refused, other modes are fine.
    let deny = |name: &str, index: u32| json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": index, "value": 448, "op": "SCMP_CMP_EQ"}]});
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [deny("chmod", 1), deny("fchmodat", 2), deny("fchmodat2", 2), deny("fchmod", 1)]
    });
    b.sh(
        "touch /tmp/f; chmod 700 /tmp/f 2>/dev/null && echo a-made || echo a-refused; chmod 755 /tmp/f && echo b-made",
    );
    assert_eq!(berth.output_of(&b, &unique("scarg")), "a-refused\nb-made\n");
}

/// podman's default profile (Debian's containers-common), turned into
/// linux.seccomp the way a caller does for an x86_64 container with the
/// default capabilities: entries limited to other arches or to capabilities
/// the container lacks are left out.
fn podman_profile() -> Value {
    let path = "/usr/share/containers/seccomp.json";
    let text = std::fs::read_to_string(path)
        .expect("containers-common's seccomp.json (apt-get install golang-github-containers-common)");
    let v: Value = serde_json::from_str(&text).unwrap();
    let caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"];
    let mut rules = Vec::new();
    for s in v["syscalls"].as_array().unwrap() {
        let inc = &s["includes"];
        let exc = &s["excludes"];
        let arches_ok = inc["arches"].as_array().is_none_or(|a| a.iter().any(|x| x == "amd64" || x == "x86_64"));
        let caps_ok = inc["caps"].as_array().is_none_or(|c| c.iter().all(|x| caps.contains(&x.as_str().unwrap())));
        let excluded = exc["caps"].as_array().is_some_and(|c| c.iter().any(|x| caps.contains(&x.as_str().unwrap())));
        if arches_ok && caps_ok && !excluded {
            let mut r = json!({"names": s["names"], "action": s["action"]});
            if !s["args"].as_array().is_none_or(|a| a.is_empty()) {
                r["args"] = s["args"].clone();
            }
            if let Some(e) = s.get("errnoRet") {
                r["errnoRet"] = e.clone();
            }
            rules.push(r);
        }
    }
    json!({
        "defaultAction": v["defaultAction"],
        "defaultErrnoRet": v["defaultErrnoRet"],
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules,
    })
}

#[test]
fn podman_default_profile_runs_a_shell() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = podman_profile();
    b.sh("echo start; ls / > /dev/null && echo ls-ok; (sleep 0; echo forked); grep Seccomp: /proc/self/status; \
          unshare -n true 2>/dev/null && echo unshared || echo unshare-refused");
    let out = berth.output_of(&b, &unique("podman"));
    assert_eq!(out, "start\nls-ok\nforked\nSeccomp:\t2\nunshare-refused\n");
    // exec'd processes get the container's profile too.
    let id = unique("podexec");
    b.sh("sleep 100");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let st = berth.ok(&["exec", &id, "grep", "Seccomp:", "/proc/self/status"]);
    assert_eq!(st.split_whitespace().collect::<Vec<_>>(), ["Seccomp:", "2"]);
    berth.ok(&["delete", "--force", &id]);
}

/// exec loads the filter create compiled and kept in the state directory;
/// a damaged one is refused before any process runs, and without one exec
/// compiles the profile again.
#[test]
fn exec_loads_the_filter_create_kept() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    b.config["root"]["readonly"] = json!(false);
    b.sh("sleep 100");
    let id = unique("scsaved");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let pid = berth.state(&id)["pid"].as_i64().unwrap() as i32;
    let saved = berth.root.0.join(&id).join("seccomp.bpf");
    let good = std::fs::read(&saved).expect("create keeps the compiled filter");
    let refused = |berth: &Berth| berth.ok(&["exec", &id, "sh", "-c", "mkdir /tmp/made 2>&1; echo rc=$?"]);
    let out = refused(&berth);
    assert!(out.contains("Operation not permitted") && out.ends_with("rc=1\n"), "{out}");
    std::fs::write(&saved, &good[..good.len() - 1]).unwrap();
    let damaged = capture(berth.cmd().args(["exec", &id, "touch", "/tmp/ran"]));
    let err = String::from_utf8_lossy(&damaged.stderr);
    assert_eq!(damaged.status.code(), Some(255), "{err}");
    assert!(err.contains("seccomp.bpf"), "the file is not named: {err}");
    assert!(!b.rootfs().join("tmp/ran").exists(), "a process ran without its filter");
    // A FIFO in its place is read without blocking, and refused.
    std::fs::remove_file(&saved).unwrap();
    let c = std::ffi::CString::new(saved.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (code, _, err) = run_with_deadline(berth.cmd().args(["exec", &id, "touch", "/tmp/ran"]), 20);
    assert_eq!(code, Some(255), "a FIFO as seccomp.bpf: {err}");
    assert!(err.contains("seccomp.bpf"), "the file is not named: {err}");
    assert!(!b.rootfs().join("tmp/ran").exists(), "a process ran without its filter");
    std::fs::remove_file(&saved).unwrap();
    let out = refused(&berth);
    assert!(out.contains("Operation not permitted") && out.ends_with("rc=1\n"), "compiled again: {out}");
    berth.ok(&["delete", "--force", &id]);
    assert_nothing_left(&berth, &id, Some(pid));
}

#[repr(C)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// A bundle whose profile sends mkdir to an agent listening at the socket
/// returned (in the directory returned), with `metadata`.
fn notify_bundle(metadata: &str) -> (Bundle, TempDir, UnixListener) {
    let dir = TempDir::new("berth-notify");
    let sock = dir.0.join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": metadata,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    (b, dir, listener)
}

/// Answers the next notification on `fd` with EACCES; its syscall number.
fn refuse_next(fd: &impl AsRawFd) -> i32 {
    // SAFETY: an all-zero seccomp_notif is valid.
    let mut n: Notif = unsafe { std::mem::zeroed() };
    // SAFETY: SECCOMP_IOCTL_NOTIF_RECV into a zeroed seccomp_notif.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), 0xc050_2100, &mut n) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    let resp = NotifResp { id: n.id, val: 0, error: -libc::EACCES, flags: 0 };
    // SAFETY: SECCOMP_IOCTL_NOTIF_SEND with a filled seccomp_notif_resp.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), 0xc018_2101, &resp) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    n.nr
}

#[test]
fn notify_sends_the_listener_and_state_to_the_agent() {
    let berth = Berth::new();
    let (mut b, _dir, listener) = notify_bundle("from-the-test");
    b.sh("mkdir /tmp/n 2>&1; echo done");
    let id = unique("notify");
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (fd, data) = recv_fd_with_data(&conn);
        let state: Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(state["fds"], json!(["seccompFd"]));
        assert_eq!(state["metadata"], "from-the-test");
        assert!(state["pid"].as_i64().unwrap() > 0);
        assert!(state["state"]["id"].as_str().unwrap().starts_with("notify-"));
        refuse_next(&fd)
    });
    let (code, out, err) = berth.run_bundle(&b, &id);
    let nr = agent.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Permission denied") && out.contains("done"), "{out}");
    assert!(nr == 83 || nr == 258, "mkdir or mkdirat, got {nr}");
}

/// exec loads the profile again, with a listener of its own: the agent
/// gets it with the container's state (running), and answers for the
/// exec'd process. Each message is the spec's ContainerProcessState.
#[test]
fn exec_sends_its_own_listener_to_the_agent() {
    let berth = Berth::new();
    let (mut b, _dir, listener) = notify_bundle("m");
    b.sh("sleep 1000");
    let id = unique("notifyx");
    let agent = std::thread::spawn(move || {
        let mut states = Vec::new();
        for answer in [false, true] {
            let (conn, _) = listener.accept().unwrap();
            let (fd, data) = recv_fd_with_data(&conn);
            let msg: serde_json::Map<String, Value> = serde_json::from_slice(&data).unwrap();
            assert_eq!(msg.len(), 5, "{msg:?}");
            assert_eq!((msg["ociVersion"].as_str(), msg["metadata"].as_str()), (Some("1.2.0"), Some("m")), "{msg:?}");
            states.push(msg["state"].clone());
            if answer {
                refuse_next(&fd);
            }
        }
        states
    });
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let out = berth.run(&["exec", &id, "sh", "-c", "mkdir /tmp/x 2>&1; echo done"]);
    let states = agent.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Permission denied") && text.contains("done"), "{text}");
    assert_eq!(states[0]["status"], "creating", "{states:?}");
    assert_eq!(states[1]["status"], "running", "{states:?}");
    assert!(states.iter().all(|s| s["id"] == id.as_str()), "{states:?}");
    berth.ok(&["delete", "--force", &id]);
    assert_nothing_left(&berth, &id, None);
}
