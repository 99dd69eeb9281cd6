//! runc compatibility on inputs the outside world sends: bundles from
//! `runc spec`, strict seccomp profiles, the Kubernetes pod shapes, and the
//! output callers parse. runc 1.1.5 is the reference unless the runtime
//! spec says otherwise.

use berth_integration::*;
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;

fn sh(script: &str) -> bool {
    Command::new("sh").args(["-c", script]).status().unwrap().success()
}

fn v1() -> bool {
    !cgroup_v2_only()
}

/// `runc spec` writes ambient capabilities without inheritable ones and a
/// terminal; the bundle must run as it is.
#[test]
fn a_runc_spec_bundle_runs_unchanged() {
    if Command::new("runc").arg("--version").output().is_err() {
        eprintln!("skipped: runc is not installed");
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    assert!(Command::new("runc").args(["spec", "--bundle"]).arg(b.path()).status().unwrap().success());
    let cfg: Value = serde_json::from_slice(&std::fs::read(b.path().join("config.json")).unwrap()).unwrap();
    // Written back as it is.
    b.config = cfg.clone();
    assert!(cfg["process"]["capabilities"]["ambient"].as_array().is_some_and(|a| !a.is_empty()));
    let id = unique("runcspec");
    // Its terminal goes to a console socket; the test types at the shell.
    let (out, master) = create_with_console(&berth, &b, &id);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("process.capabilities.ambient"), "the skipped ambient caps are a warning: {err}");
    let master = master.unwrap();
    berth.ok(&["start", &id]);
    (&master).write_all(b"echo runc-spec-ok; exit\n").unwrap();
    let text = read_until(&master, "runc-spec-ok\n");
    assert!(text.contains("runc-spec-ok"), "{text:?}");
    berth.wait_status(&id, "stopped");
    berth.ok(&["delete", &id]);
    assert_nothing_left(&berth, &id, None);
}

/// A profile that allows only what the program needs (no close_range, no
/// getcwd): berth does its own work before the filter.
#[test]
fn strict_seccomp_profiles_leave_berth_alone() {
    let berth = Berth::new();
    let program = [
        "arch_prctl",
        "brk",
        "execve",
        "exit_group",
        "getpid",
        "getppid",
        "getrandom",
        "getuid",
        "mprotect",
        "newfstatat",
        "prctl",
        "prlimit64",
        "readlink",
        "rseq",
        "rt_sigaction",
        "rt_sigprocmask",
        "set_robust_list",
        "set_tid_address",
        "uname",
        "write",
        "futex",
        "exit",
    ];
    // Without NNP the filter goes on while berth still drops privileges.
    let privileged = ["capset", "capget", "setgroups", "setresuid", "setresgid", "sendmsg", "read"];
    for nnp in [true, false] {
        let mut b = Bundle::new();
        let mut names: Vec<&str> = program.to_vec();
        if !nnp {
            names.extend(privileged);
        }
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
        });
        b.sh("echo hi");
        let (code, out, err) = berth.run_bundle(&b, &unique("strictsc"));
        assert_eq!((code, out.as_str()), (0, "hi\n"), "nnp {nnp}: {err}");
    }
}

/// A profile that lists only x86 still filters native x86_64 calls
/// (libseccomp always adds the native architecture).
#[test]
fn seccomp_native_architecture_is_always_filtered() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    b.sh("mkdir /tmp/native 2>/dev/null && echo made || echo denied");
    assert_eq!(berth.output_of(&b, &unique("nativearch")), "denied\n");
}

/// A NOTIFY profile whose agent is not there fails with runc's words.
#[test]
fn missing_seccomp_agent_is_named() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/nonexistent/agent.sock",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]});
    b.sh("true");
    let id = unique("noagent");
    let (code, _, err) = berth.run_bundle(&b, &id);
    assert_eq!(code, 1);
    assert!(err.contains("failed to connect with seccomp agent"), "{err}");
    assert_nothing_left(&berth, &id, None);
}

/// Several conditions on one argument are alternatives, as runc builds them.
#[test]
fn seccomp_conditions_on_one_argument_are_ored() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                      "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                               {"index": 0, "value": 1337, "op": "SCMP_CMP_EQ"}]}]
    });
    b.sh("linux32 true && echo allowed || echo denied");
    assert_eq!(berth.output_of(&b, &unique("ored")), "denied\n");
}

/// A seccomp agent that answers every notification with "continue" until
/// `stop` is set (or the filter has no users left); returns how many.
fn agent(sock: &Path, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<u32> {
    use std::sync::atomic::Ordering;
    let listener = UnixListener::bind(sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let conn = loop {
            match listener.accept() {
                Ok((c, _)) => break c,
                Err(_) if stop.load(Ordering::SeqCst) => return 0,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        };
        conn.set_nonblocking(false).unwrap();
        let (fd, _) = recv_fd_with_data(&conn);
        use std::os::fd::AsRawFd;
        let mut handled = 0;
        while !stop.load(Ordering::SeqCst) {
            let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 || pfd.revents & libc::POLLIN == 0 {
                if pfd.revents & libc::POLLHUP != 0 {
                    break;
                }
                continue;
            }
            let mut req = [0u8; 80];
            // SAFETY: SECCOMP_IOCTL_NOTIF_RECV into a zeroed seccomp_notif.
            if unsafe { libc::ioctl(fd.as_raw_fd(), 0xc050_2100, req.as_mut_ptr()) } != 0 {
                continue;
            }
            let mut resp = [0u8; 24];
            resp[..8].copy_from_slice(&req[..8]);
            resp[20..24].copy_from_slice(&1u32.to_ne_bytes()); // SECCOMP_USER_NOTIF_FLAG_CONTINUE
                                                               // SAFETY: SECCOMP_IOCTL_NOTIF_SEND with a seccomp_notif_resp.
            unsafe { libc::ioctl(fd.as_raw_fd(), 0xc018_2101, resp.as_ptr()) };
            handled += 1;
        }
        handled
    })
}

/// NOTIFY without noNewPrivileges on calls berth itself makes: the agent
/// gets its listener before berth makes one, so nothing hangs.
#[test]
fn seccomp_notify_without_nnp_does_not_hang() {
    let berth = Berth::new();
    let dir = TempDir::new("berth-agent");
    let sock = dir.0.join("agent.sock");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handle = agent(&sock, stop.clone());
    let mut b = Bundle::new();
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
        "syscalls": [{"names": ["execve", "openat", "read", "close", "mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.sh("mkdir /tmp/x && echo made");
    b.write();
    let id = unique("notify");
    let (code, out, err) =
        run_with_deadline(berth.cmd().args(["run", "--bundle", b.path().to_str().unwrap(), &id]), 60);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let handled = handle.join().unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "made\n");
    assert!(handled > 0, "the agent answered nothing");
    let _ = berth.run(&["delete", "--force", &id]);
    // NOTIFY on write is refused, as runc does.
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
        "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]});
    let (code, _, err) = berth.run_bundle(&b, &unique("notifywrite"));
    assert_eq!(code, 1);
    assert!(err.contains("SCMP_ACT_NOTIFY cannot be used for the write syscall"), "{err}");
}

/// containerd's CRI rootfs is a mount point; with rshared propagation the
/// pivot must still work, and an rbind,rshared volume propagates both ways.
#[test]
fn rshared_rootfs_that_is_a_mount_point() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    let root = b.rootfs();
    let vol = TempDir::new("berth-vol");
    let (r, v) = (root.display().to_string(), vol.0.display().to_string());
    assert!(sh(&format!("mount --bind {r} {r} && mount --bind {v} {v} && mount --make-shared {v}")));
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    b.add_mount(json!({"destination": "/vol", "type": "bind", "source": v, "options": ["rbind", "rshared"]}));
    let caps = json!(["CAP_SYS_ADMIN", "CAP_KILL"]);
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set] = caps.clone();
    }
    std::fs::create_dir_all(vol.0.join("from-host")).unwrap();
    std::fs::create_dir_all(vol.0.join("from-ctr")).unwrap();
    b.sh("mount -t tmpfs none /vol/from-ctr; touch /vol/from-ctr/x; i=0; until [ -e /vol/from-host/y ] || [ $i -gt 300 ]; do usleep 20000; i=$((i+1)); done; [ -e /vol/from-host/y ] && echo host-seen; sleep 100");
    let id = unique("rshared");
    let out = berth.create(&b, &id);
    let created = out.status.success();
    if created {
        berth.ok(&["start", &id]);
        let from_ctr = wait_until(10, || vol.0.join("from-ctr/x").exists());
        let host_mount = sh(&format!("mount -t tmpfs none {v}/from-host && touch {v}/from-host/y"));
        let _ = berth.run(&["delete", "--force", &id]);
        let _ = sh(&format!("umount {v}/from-host; umount -l {v}/from-ctr"));
        assert!(from_ctr, "a mount in the container did not reach the host");
        assert!(host_mount);
    }
    let _ = sh(&format!("umount -l {v}; umount -l {r}"));
    assert!(created, "{}", String::from_utf8_lossy(&out.stderr));
}

/// `rootfsPropagation: unbindable` works (the rootfs bind needs a bindable tree).
#[test]
fn unbindable_rootfs_propagation() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["rootfsPropagation"] = json!("unbindable");
    b.sh("grep -c unbindable /proc/self/mountinfo >/dev/null && echo ok");
    assert_eq!(berth.output_of(&b, &unique("unbind")), "ok\n");
}

/// containerd sends `kill --all` whenever a container's main process exits:
/// what it left in the cgroup is killed and the command succeeds. Signal 0
/// is accepted.
#[test]
fn kill_all_after_init_exited_and_signal_zero() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
    let marker = unique("leftover");
    b.sh(&format!("sleep 100{} & echo $! > /tmp/child; sleep 0.3", ".0".repeat(0)));
    b.config["process"]["env"] = json!(["PATH=/bin", format!("MARK={marker}")]);
    let id = unique("killall");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["kill", &id, "0"]);
    berth.ok(&["kill", "-a", &id, "0"]);
    berth.ok(&["start", &id]);
    berth.wait_status(&id, "stopped");
    let child: i32 = std::fs::read_to_string(b.rootfs().join("tmp/child")).unwrap().trim().parse().unwrap();
    assert!(Path::new(&format!("/proc/{child}")).exists(), "the leftover child runs on after init");
    let out = berth.run(&["kill", "--all", &id, "KILL"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let gone = || std::fs::read_to_string(format!("/proc/{child}/stat")).map_or(true, |s| s.contains(") Z"));
    assert!(wait_until(5, gone), "kill --all left the child alive");
    let out = berth.run(&["kill", &id, "KILL"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("container not running"));
    berth.ok(&["delete", &id]);
}

/// A read-only /dev tmpfs with mounts below it: populated read-write, then read-only.
#[test]
fn read_only_dev_with_mounts_below() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    b.sh("test -c /dev/null && test -d /dev/pts && test -L /dev/ptmx && echo nodes; touch /dev/x 2>/dev/null || echo read-only");
    assert_eq!(berth.output_of(&b, &unique("rodev")), "nodes\nread-only\n");
}

/// `--no-pivot` leaves the host's /proc underneath: an unprivileged user in
/// the container must not be able to mount a fresh, unmasked procfs from a
/// user namespace of its own (the kernel allows that while a fully visible
/// procfs is in the mount namespace).
#[test]
fn no_pivot_hides_the_hosts_proc() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(b.rootfs().join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    b.sh("mkdir -p /tmp/p; unshare -mrpf mount -t proc proc /tmp/p 2>/dev/null && echo mounted || echo refused");
    b.write();
    let id = unique("nopivot");
    let out = berth.run(&["run", "--no-pivot", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "refused\n", "{}", String::from_utf8_lossy(&out.stderr));
    assert_nothing_left(&berth, &id, None);
}

/// A bind source only root outside may reach is still bound in a user
/// namespace (the parent opens it).
#[test]
fn bind_sources_are_opened_outside_the_user_namespace() {
    let berth = Berth::new();
    let host = TempDir::new("berth-private");
    std::fs::create_dir_all(host.0.join("data")).unwrap();
    std::fs::write(host.0.join("data/file"), "secret-ok\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&host.0, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut b = Bundle::new();
    b.add_namespace("user", None);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    std::os::unix::fs::chown(b.rootfs(), Some(100000), Some(100000)).unwrap();
    b.add_mount(
        json!({"destination": "/data", "type": "bind", "source": host.0.join("data"), "options": ["rbind", "ro"]}),
    );
    b.sh("cat /data/file");
    assert_eq!(berth.output_of(&b, &unique("bindsrc")), "secret-ok\n");
}

/// The console belongs to process.user, and "\n" stays "\n" (no ONLCR).
#[test]
fn console_owner_and_no_onlcr() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.sh("stat -c 'owner=%u' $(tty); echo done");
    let id = unique("ttyowner");
    let (out, master) = create_with_console(&berth, &b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let master = master.unwrap();
    berth.ok(&["start", &id]);
    let text = read_until(&master, "done");
    assert!(text.contains("owner=1000\n"), "{text:?}");
    assert!(!text.contains('\r'), "ONLCR is on: {text:?}");
    berth.wait_status(&id, "stopped");
    berth.ok(&["delete", &id]);
}

/// createContainer hooks start in the container's root, as with runc.
#[test]
fn create_container_hooks_run_in_the_root() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    let marks = TempDir::new("berth-hookcwd");
    let out = marks.0.join("cwd");
    b.config["hooks"] =
        json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", format!("pwd > {}", out.display())]}]});
    b.sh("true");
    berth.output_of(&b, &unique("hookcwd"));
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), b.rootfs().to_str().unwrap());
}

/// `berth spec` adds a cgroup namespace only where cgroup v2 is all there is.
#[test]
fn spec_cgroup_namespace_only_on_v2() {
    let dir = TempDir::new("berth-spec");
    assert!(Command::new(berth_bin()).args(["spec", "--bundle"]).arg(&dir.0).status().unwrap().success());
    let cfg: Value = serde_json::from_slice(&std::fs::read(dir.0.join("config.json")).unwrap()).unwrap();
    let has = cfg["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n["type"] == "cgroup");
    assert_eq!(has, cgroup_v2_only());
}

/// runc's v1 `--cgroup controller[,controller]:path`; unknown controllers
/// are refused.
#[test]
fn exec_cgroup_v1_form() {
    if !v1() {
        eprintln!("skipped: the controller form is for cgroup v1");
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("execcg");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let mem = host_cgroup_dir(&id, "memory");
    std::fs::create_dir(mem.join("sub")).unwrap();
    let out = berth.ok(&["exec", "--cgroup", "memory:sub", &id, "cat", "/proc/self/cgroup"]);
    let line = |ctrl: &str| {
        out.lines().find(|l| l.split(':').nth(1).is_some_and(|c| c.split(',').any(|x| x == ctrl))).unwrap().to_string()
    };
    // Seen through the container's cgroup namespace.
    assert!(line("memory").ends_with(":/sub"), "{out}");
    assert!(line("pids").ends_with(":/"), "{out}");
    let bad = berth.run(&["exec", "--cgroup", "nosuchctrl:sub", &id, "true"]);
    assert_ne!(bad.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nosuchctrl"));
    berth.ok(&["delete", "--force", &id]);
    assert!(!mem.exists(), "delete removes sub-cgroups too");
}

/// `update --cpu-period P --cpu-quota Q` where the new period with the old
/// quota would exceed the parent's bandwidth: written in the order that works.
#[test]
fn update_cpu_period_and_quota_in_either_order() {
    if !v1() {
        eprintln!("skipped: cgroup v2 writes quota and period in one cpu.max");
        return;
    }
    let berth = Berth::new();
    let id = unique("cpuq");
    let parent_rel = format!("berth-cpuq-{id}");
    let cpu = cgroup_mounts().into_iter().find(|m| m.to_string_lossy().contains("cpu,") || m.ends_with("cpu")).unwrap();
    let parent = cpu.join(&parent_rel);
    std::fs::create_dir(&parent).unwrap();
    std::fs::write(parent.join("cpu.cfs_quota_us"), "50000").unwrap();
    let mut b = Bundle::new();
    b.config["linux"]["cgroupsPath"] = json!(format!("/{parent_rel}/c"));
    b.config["linux"]["resources"]["cpu"] = json!({"quota": 40000, "period": 100000});
    b.sh("sleep 100");
    assert!(berth.create(&b, &id).status.success());
    let out = berth.run(&["update", "--cpu-period", "10000", "--cpu-quota", "4000", &id]);
    let dir = parent.join("c");
    let got = (read_trim(&dir.join("cpu.cfs_period_us")), read_trim(&dir.join("cpu.cfs_quota_us")));
    berth.ok(&["delete", "--force", &id]);
    for d in cgroup_mounts() {
        let _ = std::fs::remove_dir(d.join(&parent_rel).join("c"));
        let _ = std::fs::remove_dir(d.join(&parent_rel));
    }
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(got, ("10000".to_string(), "4000".to_string()));
}

/// Device rules with letters runc ignores (`rwa`) are accepted with a warning.
#[test]
fn device_rules_with_unknown_letters_warn() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwa"}]);
    b.sh("echo x > /dev/null && echo ok");
    let (code, out, err) = berth.run_bundle(&b, &unique("rwa"));
    assert_eq!((code, out.as_str()), (0, "ok\n"), "{err}");
    assert!(err.contains("access") && err.contains("rwa"), "{err}");
}

/// delete removes the container's cgroup and what was made inside it, also
/// when the directory existed before create; a busy cgroup gets a warning.
#[test]
fn delete_removes_a_pre_existing_cgroup_with_its_subs() {
    let berth = Berth::new();
    let id = unique("precg");
    let rel = format!("berth-pre-{id}");
    for m in cgroup_mounts() {
        std::fs::create_dir(m.join(&rel)).unwrap();
    }
    let mut b = Bundle::new();
    b.config["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
    b.sh("sleep 100");
    let out = berth.create(&b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = cgroup_mounts()[0].join(&rel);
    std::fs::create_dir(first.join("made-inside")).unwrap();
    berth.ok(&["delete", "--force", &id]);
    for m in cgroup_mounts() {
        let d = m.join(&rel);
        let left = d.exists();
        let _ = std::fs::remove_dir(d.join("made-inside"));
        let _ = std::fs::remove_dir(&d);
        assert!(!left, "{} remains", d.display());
    }
    // A cgroup that already holds a process: created with runc's warning.
    let mut holder = Command::new("sleep").arg("100").spawn().unwrap();
    for m in cgroup_mounts() {
        std::fs::create_dir(m.join(&rel)).unwrap();
        // (a new v1 cpuset cgroup has no cpus yet: no task may join it)
        if !m.to_string_lossy().contains("cpuset") {
            std::fs::write(m.join(&rel).join("cgroup.procs"), holder.id().to_string()).unwrap();
        }
    }
    let id2 = unique("busycg");
    let out = berth.create(&b, &id2);
    let _ = holder.kill();
    let _ = holder.wait();
    berth.ok(&["delete", "--force", &id2]);
    for m in cgroup_mounts() {
        let _ = std::fs::remove_dir(m.join(&rel));
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("container's cgroup is not empty"));
}

/// A tmpfs over the hybrid host's cgroup2 mount (a later mount at the same
/// path) hides it: berth uses what is visible, the v1 hierarchies.
#[test]
fn over_mounted_cgroup2_is_not_used() {
    if !Path::new("/sys/fs/cgroup/unified").exists() || cgroup_v2_only() {
        eprintln!("skipped: needs the hybrid layout");
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("echo ok");
    b.write();
    let id = unique("overmount");
    let script = format!(
        "mount -t tmpfs none /sys/fs/cgroup/unified && {} --root {} run --bundle {} {id}",
        berth.bin.display(),
        berth.root.0.display(),
        b.path().display()
    );
    let out = Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n", "{}", String::from_utf8_lossy(&out.stderr));
    assert_nothing_left(&berth, &id, None);
}

/// `ps` on a stopped container prints the header and exits 0; `events`
/// prints type, id, data in runc's order.
#[test]
fn ps_on_stopped_and_event_key_order() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("psev");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let ev = berth.ok(&["events", "--stats", &id]);
    assert!(ev.starts_with(&format!("{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":")), "{ev}");
    berth.ok(&["kill", &id, "KILL"]);
    berth.wait_status(&id, "stopped");
    let out = berth.ok(&["ps", &id]);
    assert!(out.starts_with("UID") && out.lines().count() == 1, "{out}");
    assert_eq!(berth.ok(&["ps", "--format", "json", &id]).trim(), "[]");
    berth.ok(&["delete", &id]);
}

/// Where clone3 answers ENOSYS (Docker's default seccomp profile does, so
/// berth inside a Docker container meets it; kernels before 5.3; valgrind),
/// berth falls back to clone(2). A static helper installs just that filter
/// and runs berth under it.
#[test]
fn works_where_clone3_is_enosys() {
    let berth = Berth::new();
    let tools = TempDir::new("berth-noclone3");
    std::fs::create_dir_all(tools.0.join("bin")).unwrap();
    build_static(
        &tools.0,
        "noclone3",
        r#"
use std::ffi::CString;
#[repr(C)] struct Insn { code: u16, jt: u8, jf: u8, k: u32 }
#[repr(C)] struct Prog { len: u16, filter: *const Insn }
extern "C" {
    fn prctl(option: i32, a: u64, b: u64, c: u64, d: u64) -> i32;
    fn execv(path: *const std::ffi::c_char, argv: *const *const std::ffi::c_char) -> i32;
}
fn main() {
    // nr == clone3 (435) ? ERRNO(ENOSYS) : ALLOW
    let f = [
        Insn { code: 0x20, jt: 0, jf: 0, k: 0 },
        Insn { code: 0x15, jt: 0, jf: 1, k: 435 },
        Insn { code: 0x06, jt: 0, jf: 0, k: 0x0005_0000 | 38 },
        Insn { code: 0x06, jt: 0, jf: 0, k: 0x7fff_0000 },
    ];
    let prog = Prog { len: 4, filter: f.as_ptr() };
    unsafe {
        assert_eq!(prctl(38, 1, 0, 0, 0), 0);
        assert_eq!(prctl(22, 2, &prog as *const Prog as u64, 0, 0), 0);
    }
    let args: Vec<CString> = std::env::args().skip(1).map(|a| CString::new(a).unwrap()).collect();
    let mut argv: Vec<*const std::ffi::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    unsafe { execv(argv[0], argv.as_ptr()) };
    panic!("execv failed");
}
"#,
    );
    let mut b = Bundle::new();
    b.sh("echo inside; exit 3");
    b.write();
    let id = unique("noclone3");
    let out = std::process::Command::new(tools.0.join("bin/noclone3"))
        .arg(&berth.bin)
        .arg("--root")
        .arg(&berth.root.0)
        .args(["run", "--bundle", b.path().to_str().unwrap(), &id])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "inside\n");
    assert_nothing_left(&berth, &id, None);
}

/// A relative `--root` is taken from where berth was started (runc's
/// rule): create used to put the state under the bundle it changes into,
/// so the container it reported created did not exist for `state`.
#[test]
fn relative_root_is_taken_from_the_working_directory() {
    let cwd = TempDir::new("berth-relroot");
    let mut b = Bundle::new();
    b.sh("sleep 100");
    b.write();
    let id = unique("relroot");
    let berth = |args: &[&str]| {
        let mut c = std::process::Command::new(berth_bin());
        c.current_dir(&cwd.0).args(["--root", "state"]).args(args);
        capture(&mut c)
    };
    let out = berth(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(cwd.0.join("state").join(&id).join("state.json").exists(), "state not under the working directory");
    assert!(!b.path().join("state").exists(), "state under the bundle");
    let st = berth(&["state", &id]);
    assert!(String::from_utf8_lossy(&st.stdout).contains("\"created\""), "{}", String::from_utf8_lossy(&st.stderr));
    assert!(berth(&["delete", "-f", &id]).status.success());
    assert!(!cwd.0.join("state").join(&id).exists());
}

/// Configs runc reads and a plain JSON decoder refuses: `null` for a list,
/// a map or a plain value, and a key named twice (runc's decoder reads the
/// later value over the first: objects merge, the rest is replaced; a
/// list after a `null` stands alone). berth reads them as runc does and
/// warns of the repeated keys; the container sees what runc's sees,
/// including a seccomp rule given in the later of two `syscalls`.
#[test]
fn nulls_and_repeated_keys_are_read_as_runc_reads_them() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["args"] =
        json!(["/bin/sh", "-c", "echo \"$A\" $(hostname) $(id -G); mkdir /tmp/made && echo made || echo refused"]);
    b.config["process"].as_object_mut().unwrap().remove("env");
    b.config["hostname"] = json!("second");
    for (at, key) in [("", "annotations"), ("/linux", "maskedPaths"), ("/process", "noNewPrivileges")] {
        b.config.pointer_mut(at).unwrap()[key] = Value::Null;
    }
    b.config["process"]["user"]["additionalGids"] = Value::Null;
    b.config["linux"]["seccomp"] = json!("SECCOMP");
    let text = serde_json::to_string_pretty(&b.config).unwrap();
    let seccomp = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": null,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#;
    // The first `process` gives env alone; the later one the rest.
    let text = format!(
        r#"{{"hostname": "first", "process": {{"env": ["A=merged", "PATH=/bin"], "args": ["false"]}},{}"#,
        &text[1..].replace(r#""SECCOMP""#, seccomp)
    );
    std::fs::write(b.path().join("config.json"), &text).unwrap();
    let id = unique("gojson");
    let out = berth.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(stdout, "merged second 0\nrefused\n", "{err}");
    for warned in ["hostname is given 2 times", "process is given 2 times", "linux.seccomp: syscalls is given 2 times"]
    {
        assert!(err.contains(warned), "no warning {warned:?}: {err}");
    }
    assert_nothing_left(&berth, &id, None);
    if Command::new("runc").arg("--version").output().is_ok() {
        let root = TempDir::new("runc-root");
        let out = Command::new("runc")
            .arg("--root")
            .arg(&root.0)
            .args(["run", "--bundle", b.path().to_str().unwrap(), &id])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), stdout, "runc: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// `exec --process` is read the same way: a `null` for plain values and
/// lists, a key named twice.
#[test]
fn exec_process_with_nulls_and_repeated_keys() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 1000");
    let id = unique("gojsonx");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let dir = TempDir::new("berth-exec");
    let proc_file = dir.0.join("process.json");
    std::fs::write(
        &proc_file,
        r#"{"args": ["false"], "args": ["sh", "-c", "echo $B $(id -u)"], "env": ["B=one"], "env": null,
            "env": ["PATH=/bin", "B=two"], "cwd": "/", "user": null, "capabilities": null, "terminal": null}"#,
    )
    .unwrap();
    let out = berth.run(&["exec", "--process", proc_file.to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "two 0\n", "{err}");
    assert!(err.contains("args is given 2 times") && err.contains("env is given 3 times"), "{err}");
    berth.ok(&["delete", "--force", &id]);
    assert_nothing_left(&berth, &id, None);
}
