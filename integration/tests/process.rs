//! The process: capabilities, NNP, rlimits, user, umask, env, cwd.

use berth_integration::*;
use serde_json::json;

fn status_field(out: &str, key: &str) -> String {
    out.lines().find_map(|l| l.strip_prefix(&format!("{key}:"))).map(|v| v.trim().to_string()).unwrap_or_default()
}

#[test]
fn capabilities_are_the_five_sets() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    let caps = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]);
    b.config["process"]["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps,
        "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
    });
    b.sh("cat /proc/self/status");
    let out = berth.output_of(&b, &unique("caps"));
    // CAP_KILL = 5, CAP_NET_BIND_SERVICE = 10, CAP_AUDIT_WRITE = 29.
    assert_eq!(status_field(&out, "CapBnd"), "0000000020000420");
    assert_eq!(status_field(&out, "CapEff"), "0000000020000420");
    assert_eq!(status_field(&out, "CapPrm"), "0000000020000420");
    assert_eq!(status_field(&out, "CapInh"), "0000000000000020");
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000020");
}

#[test]
fn unknown_capability_is_an_error() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["capabilities"]["bounding"] = json!(["CAP_FLY"]);
    let id = unique("badcap");
    let (code, _, err) = berth.run_bundle(&b, &id);
    assert_eq!(code, 1);
    assert!(err.contains("process.capabilities.bounding") && err.contains("CAP_FLY"), "{err}");
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn no_new_privileges_flag() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("grep NoNewPrivs /proc/self/status");
    b.config["process"]["noNewPrivileges"] = json!(true);
    assert_eq!(status_field(&berth.output_of(&b, &unique("nnp1")), "NoNewPrivs"), "1");
    b.config["process"]["noNewPrivileges"] = json!(false);
    assert_eq!(status_field(&berth.output_of(&b, &unique("nnp0")), "NoNewPrivs"), "0");
}

#[test]
fn rlimits_apply() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]);
    b.sh("ulimit -n; ulimit -Hn; ulimit -c");
    assert_eq!(berth.output_of(&b, &unique("rlimit")), "321\n654\n0\n");
}

#[test]
fn user_groups_and_umask() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["user"] = json!({"uid": 1234, "gid": 5678, "additionalGids": [11, 22], "umask": 0o027});
    b.sh("id -u; id -g; grep Groups /proc/self/status; umask");
    let out = berth.output_of(&b, &unique("user"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1234");
    assert_eq!(lines[1], "5678");
    assert_eq!(status_field(lines[2], "Groups"), "11 22");
    assert_eq!(lines[3], "0027");
}

#[test]
fn env_home_cwd_and_oom_score() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["env"] = json!(["PATH=/bin", "GREETING=ahoy"]);
    b.config["process"]["cwd"] = json!("/work/dir");
    b.config["process"]["oomScoreAdj"] = json!(123);
    b.sh("echo $GREETING; echo $HOME; pwd; cat /proc/self/oom_score_adj");
    assert_eq!(berth.output_of(&b, &unique("env")), "ahoy\n/\n/work/dir\n123\n");
    assert!(b.rootfs().join("work/dir").is_dir());
}

#[test]
fn missing_program_uses_runc_words() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["args"] = json!(["no-such-program"]);
    let id = unique("noprog");
    let (code, _, err) = berth.run_bundle(&b, &id);
    assert_eq!(code, 1);
    assert!(err.contains("executable file not found in $PATH"), "{err}");
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn preserve_fds_reach_the_container() {
    use std::os::unix::process::CommandExt;
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("echo via-fd3 >&3; ls /proc/self/fd | sort -n | tr '\\n' ' '");
    b.write();
    let dir = TempDir::new("berth-fd");
    let target = dir.0.join("out");
    let file = std::fs::File::create(&target).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    let id = unique("fds");
    let mut cmd = berth.cmd();
    cmd.args(["run", "--preserve-fds", "1", "--bundle", b.path().to_str().unwrap(), &id]);
    // SAFETY: dup2 in the child before exec only touches its own descriptors.
    unsafe {
        cmd.pre_exec(move || {
            if raw != 3 && libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // dup2 onto itself keeps close-on-exec: clear it either way.
            libc::fcntl(3, libc::F_SETFD, 0);
            Ok(())
        });
    }
    let out = capture(&mut cmd);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "via-fd3\n");
    // Only stdio, fd 3, and the descriptor ls itself opens.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0 1 2 3 4");
}

#[test]
fn socket_activation_fds_are_passed_on() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("echo \"$LISTEN_FDS $LISTEN_PID\"; echo via-listen-fd >&3");
    b.write();
    let dir = TempDir::new("berth-listen");
    let target = dir.0.join("out");
    let id = unique("listen");
    // LISTEN_PID must be berth's own pid: the shell execs berth, keeping its pid.
    let script = format!(
        "exec 3>{out}; LISTEN_FDS=1 LISTEN_PID=$$ exec {bin} --root {root} run --bundle {bundle} {id}",
        out = target.display(),
        bin = berth_bin().display(),
        root = berth.root.0.display(),
        bundle = b.path().display(),
    );
    let out = capture(std::process::Command::new("/bin/sh").args(["-c", &script]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut words = stdout.split_whitespace();
    assert_eq!(words.next(), Some("1"));
    assert_eq!(words.next(), Some("1"), "LISTEN_PID is the container process (pid 1 in its namespace)");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "via-listen-fd\n");
}

/// process.scheduler, ioPriority, execCPUAffinity and linux.personality,
/// seen from inside (for init and for exec).
#[test]
fn scheduling_io_priority_affinity_and_personality() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    b.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    b.config["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "1"});
    b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    let script = "grep policy /proc/self/sched | tr -s ' '; cut -d' ' -f19 /proc/self/stat; ionice -p $$; \
                  grep Cpus_allowed_list /proc/self/status | tr -d '\\t'; uname -m";
    b.sh(&format!("{script}; sleep 100"));
    let id = unique("sched");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let want = "policy : 3\n7\nbest-effort: prio 6\nCpus_allowed_list:1\ni686\n";
    // exec takes them from the container's config too.
    let out = berth.ok(&["exec", &id, "sh", "-c", script]);
    assert_eq!(out, want);
    berth.ok(&["delete", "--force", &id]);
    // And init, through `run`.
    b.sh(script);
    assert_eq!(berth.output_of(&b, &unique("sched")), want);
}

#[test]
fn bad_scheduling_values_name_the_field() {
    let berth = Berth::new();
    let cases = [
        ("process", "scheduler", json!({"policy": "SCHED_NOPE"}), "process.scheduler.policy"),
        ("process", "ioPriority", json!({"class": "IOPRIO_CLASS_BE", "priority": 9}), "process.ioPriority.priority"),
        ("process", "execCPUAffinity", json!({"final": "1-0"}), "process.execCPUAffinity.final"),
        ("process", "execCPUAffinity", json!({"initial": "4000"}), "process.execCPUAffinity.initial"),
        ("linux", "personality", json!({"domain": "PER_BSD"}), "linux.personality.domain"),
    ];
    for (section, key, value, field) in cases {
        let mut b = Bundle::new();
        b.config[section][key] = value;
        b.sh("true");
        let id = unique("badsched");
        let (code, _, err) = berth.run_bundle(&b, &id);
        assert_eq!(code, 1, "{field}");
        assert!(err.contains(field), "{field}: {err}");
        assert_nothing_left(&berth, &id, None);
    }
}

/// linux.memoryPolicy: the process's policy as get_mempolicy reports it
/// (a small static helper; busybox has no numactl), for init and exec.
#[test]
fn memory_policy_is_set() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    build_static(
        &b.rootfs(),
        "mempolicy",
        r#"fn main() {
    let mut mode: i32 = -1;
    let mut mask: [u64; 16] = [0; 16];
    // SAFETY: get_mempolicy writes one int and 1024 bits into buffers we own.
    let r = unsafe { syscall(239, &mut mode as *mut i32, mask.as_mut_ptr(), 1024u64, 0u64, 0u64) };
    assert_eq!(r, 0, "get_mempolicy");
    println!("mode {} nodes {:b}", mode, mask[0]);
}
extern "C" { fn syscall(n: i64, ...) -> i64; }
"#,
    );
    b.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]});
    b.sh("mempolicy; sleep 100");
    let id = unique("mpol");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    // MPOL_BIND (2) with MPOL_F_STATIC_NODES (1 << 15) on node 0.
    let want = format!("mode {} nodes 1\n", 2 | 1 << 15);
    assert_eq!(berth.ok(&["exec", &id, "mempolicy"]), want);
    berth.ok(&["delete", "--force", &id]);
    b.sh("mempolicy");
    assert_eq!(berth.output_of(&b, &unique("mpol")), want);
    // Unknown modes are named.
    b.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_SOMETIMES"});
    let (code, _, err) = berth.run_bundle(&b, &unique("mpol"));
    assert_eq!(code, 1);
    assert!(err.contains("linux.memoryPolicy.mode"), "{err}");
}

/// Personality flags: the spec lists none and runc ignores them with a
/// warning; so does berth (the domain still applies).
#[test]
fn personality_flags_warn() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["personality"] = json!({"domain": "LINUX32", "flags": ["SHORT_INODE"]});
    b.sh("uname -m");
    let (code, out, err) = berth.run_bundle(&b, &unique("persflags"));
    assert_eq!((code, out.as_str()), (0, "i686\n"), "{err}");
    assert!(err.contains("linux.personality.flags") && err.contains("warn"), "{err}");
}

/// stdio on the caller's /dev/null (conmon's stdin) is reopened on the
/// container's own, as runc does: a descriptor on a host mount is one CRIU
/// cannot checkpoint.
#[test]
fn stdio_on_the_hosts_dev_null_is_the_containers() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("stat -L -c %d:%i /proc/self/fd/0; stat -c %d:%i /dev/null");
    b.write();
    let out = berth
        .cmd()
        .args(["run", "--bundle", b.path().to_str().unwrap(), &unique("devnull")])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines[0], lines[1], "stdin is still the host's /dev/null");
}
