//! Attacks on berth from a hostile image, a hostile config, a racing
//! co-tenant (a hook stands in for it) and a killed create. Each test
//! plays the attacker and checks what the container or the host shows.

use berth_integration::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A createContainer hook (it runs in the container's mount namespace,
/// before pivot_root, where the rootfs sits at its host path).
fn create_container_hook(b: &mut Bundle, script: &str) {
    b.config["hooks"]["createContainer"] = json!([{"path": "/bin/sh", "args": ["sh", "-c", script]}]);
}

/// The image's /proc is a symlink: procfs must not be mounted at its target.
#[test]
fn proc_symlink_in_the_image_is_refused() {
    let berth = Berth::new();
    for (dir, kind) in [("proc", "proc"), ("sys", "sysfs")] {
        let mut b = Bundle::new();
        let p = b.rootfs().join(dir);
        std::fs::remove_dir(&p).unwrap();
        std::fs::create_dir_all(b.rootfs().join("tmp/elsewhere")).unwrap();
        std::os::unix::fs::symlink("/tmp/elsewhere", &p).unwrap();
        b.sh("true");
        let id = unique("procsymlink");
        let (code, _, err) = berth.run_bundle(&b, &id);
        assert_eq!(code, 1, "{dir}: {err}");
        assert!(err.contains("must be mounted on ordinary directory") && err.contains(kind), "{err}");
        assert_nothing_left(&berth, &id, None);
    }
}

/// A co-tenant covers /proc/sys/net/ipv4/ip_forward with a file of its own
/// before berth writes the sysctl: the write must not land in that file.
#[test]
fn sysctl_writes_cannot_be_redirected() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let root = b.rootfs();
    let trap = root.join("tmp/trap");
    std::fs::write(&trap, "trap\n").unwrap();
    create_container_hook(
        &mut b,
        &format!("mount --bind {} {}/proc/sys/net/ipv4/ip_forward", trap.display(), root.display()),
    );
    b.sh("true");
    let id = unique("sysctltrap");
    let (code, _, err) = berth.run_bundle(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&trap).unwrap(),
        "trap\n",
        "berth wrote the sysctl through the co-tenant's mount"
    );
    assert_nothing_left(&berth, &id, None);
}

/// A co-tenant swaps the container's /dev/null for a file or a link before
/// the masks are made: no masked path may show that instead of nothing.
#[test]
fn masked_paths_never_bind_a_swapped_dev_null() {
    let berth = Berth::new();
    for swap in ["rm {r}/dev/null; echo hostile > {r}/dev/null", "rm {r}/dev/null; ln -s /etc/hostile {r}/dev/null"] {
        let mut b = Bundle::new();
        std::fs::write(b.rootfs().join("etc/hostile"), "hostile\n").unwrap();
        b.config["linux"]["maskedPaths"] = json!(["/proc/version"]);
        let script = swap.replace("{r}", &b.rootfs().display().to_string());
        create_container_hook(&mut b, &script);
        b.sh("cat /proc/version");
        let id = unique("nullswap");
        let (code, out, err) = berth.run_bundle(&b, &id);
        assert!(!out.contains("hostile"), "the mask showed the co-tenant's file ({swap})");
        assert_eq!(code, 1, "{swap}: {err}");
        assert!(err.contains("/dev/null"), "{err}");
        assert_nothing_left(&berth, &id, None);
    }
}

/// `exec --cap` grants the capability, never as inheritable (CVE-2022-29162).
#[test]
fn exec_cap_is_never_inheritable() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("execcap");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let out = berth.ok(&["exec", "--cap", "CAP_SYS_ADMIN", &id, "grep", "^Cap", "/proc/self/status"]);
    let field = |name: &str| {
        let line = out.lines().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    assert_eq!(field("CapInh:"), 0, "{out}");
    assert_eq!(field("CapAmb:"), 0, "{out}");
    assert_ne!(field("CapEff:") & (1 << 21), 0, "CAP_SYS_ADMIN is effective: {out}");
    berth.ok(&["delete", "--force", &id]);
}

/// A static x86_64 program that calls i386 mkdir(path) through `int 0x80`,
/// then exits 0 through the native exit_group.
fn i386_mkdir_program(path: &str) -> Vec<u8> {
    let base: u64 = 0x40_0000;
    let code_off: u64 = 64 + 56;
    let path_addr = base + code_off + 26;
    let mut code: Vec<u8> = vec![0xb8, 39, 0, 0, 0, 0xbb];
    code.extend((path_addr as u32).to_le_bytes());
    code.extend([0xb9, 0xed, 0x01, 0, 0, 0xcd, 0x80, 0xb8, 231, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]);
    code.extend(path.as_bytes());
    code.push(0);
    let total = code_off + code.len() as u64;
    let mut elf: Vec<u8> = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    elf.extend(2u16.to_le_bytes()); // ET_EXEC
    elf.extend(0x3eu16.to_le_bytes()); // x86_64
    elf.extend(1u32.to_le_bytes());
    elf.extend((base + code_off).to_le_bytes()); // entry
    elf.extend(64u64.to_le_bytes()); // program headers
    elf.extend(0u64.to_le_bytes());
    elf.extend(0u32.to_le_bytes());
    for v in [64u16, 56, 1, 0, 0, 0] {
        elf.extend(v.to_le_bytes());
    }
    elf.extend(1u32.to_le_bytes()); // PT_LOAD
    elf.extend(5u32.to_le_bytes()); // R+X
    for v in [0, base, base, total, total, 0x1000] {
        elf.extend(v.to_le_bytes());
    }
    elf.extend(code);
    elf
}

/// A deny-list profile for x86_64 only: an i386 `int 0x80` mkdir must not
/// slip past it (the architecture is unlisted, so the call is killed).
#[test]
fn seccomp_deny_list_holds_against_int_0x80() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    let prog = b.rootfs().join("bin/i386mkdir");
    std::fs::write(&prog, i386_mkdir_program("/tmp/made-by-int80")).unwrap();
    chmod(&prog, 0o755);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    b.sh("mkdir /tmp/native 2>/dev/null && echo NATIVE; /bin/i386mkdir; ls -d /tmp/made-by-int80 2>/dev/null && echo MADE; true");
    let out = berth.output_of(&b, &unique("int80"));
    assert!(!out.contains("NATIVE"), "x86_64 mkdir was allowed: {out}");
    assert!(!out.contains("MADE"), "int 0x80 mkdir skipped the filter: {out}");
}

/// uid or gid -1 would leave the process with berth's own ids (root).
#[test]
fn minus_one_ids_are_refused() {
    let berth = Berth::new();
    for (field, user) in [
        ("process.user.uid", json!({"uid": 4294967295u32, "gid": 0})),
        ("process.user.gid", json!({"uid": 1000, "gid": 4294967295u32})),
        ("process.user.additionalGids[0]", json!({"uid": 1000, "gid": 1000, "additionalGids": [4294967295u32]})),
    ] {
        let mut b = Bundle::new();
        b.config["process"]["user"] = user;
        b.sh("id -u");
        let id = unique("minusone");
        let (code, out, err) = berth.run_bundle(&b, &id);
        assert_eq!(code, 1, "{field}: ran as {out}");
        assert!(err.contains(field) && err.contains("4294967295"), "{err}");
        assert_nothing_left(&berth, &id, None);
    }
}

/// Sets the value at a JSON pointer, making the objects on the way.
fn set_at(v: &mut serde_json::Value, pointer: &str, value: serde_json::Value) {
    let mut cur = v;
    for key in pointer.trim_start_matches('/').split('/') {
        cur = cur.as_object_mut().unwrap().entry(key).or_insert(json!({}));
    }
    *cur = value;
}

/// Values runc refuses, and strings the kernel would cut at a NUL.
#[test]
fn hostile_config_values_name_the_field() {
    let berth = Berth::new();
    let cases: Vec<(&str, &str, serde_json::Value)> = vec![
        ("process.args[2]", "/process/args", json!(["sh", "-c", "echo a\u{0}b"])),
        ("process.env[0]", "/process/env", json!(["A=1\u{0}B=2"])),
        (
            "linux.seccomp.architectures[0]",
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]}),
        ),
        ("linux.resources.memory.limit", "/linux/resources", json!({"memory": {"limit": -2}})),
        ("hooks.prestart[0].path", "/hooks", json!({"prestart": [{"path": "relative/hook"}]})),
        ("linux.devices[0].path", "/linux/devices", json!([{"path": "dev/x", "type": "c", "major": 1, "minor": 3}])),
        (
            "linux.devices[0].path",
            "/linux/devices",
            json!([{"path": "/dev/../etc/x", "type": "c", "major": 1, "minor": 3}]),
        ),
    ];
    for (field, pointer, value) in cases {
        let mut b = Bundle::new();
        set_at(&mut b.config, pointer, value);
        let id = unique("hostile");
        let (code, _, err) = berth.run_bundle(&b, &id);
        assert_eq!(code, 1, "{field}: {err}");
        assert!(err.contains(field), "{field} not named in {err}");
        assert_nothing_left(&berth, &id, None);
    }
}

/// config.json that is /dev/zero or a FIFO: refused at once, not read until
/// memory runs out or blocked on for ever.
#[test]
fn config_json_must_be_a_regular_file() {
    let berth = Berth::new();
    for kind in ["zero", "fifo"] {
        let b = Bundle::new();
        let cfg = b.path().join("config.json");
        std::fs::remove_file(&cfg).unwrap();
        if kind == "zero" {
            std::os::unix::fs::symlink("/dev/zero", &cfg).unwrap();
        } else {
            let c = std::ffi::CString::new(cfg.to_str().unwrap()).unwrap();
            // SAFETY: c is a valid path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        }
        let id = unique("cfg");
        let (code, _, err) =
            run_with_deadline(berth.cmd().args(["create", "--bundle", b.path().to_str().unwrap(), &id]), 10);
        assert_eq!(code, Some(1), "{kind}: {err}");
        assert!(err.contains("not a regular file"), "{err}");
        assert_nothing_left(&berth, &id, None);
    }
}

/// A config.json whose strings are not UTF-8 (an argument with a byte
/// 0xff): read as runc reads it, the byte as U+FFFD, never passed on raw
/// or cut, with a warning that names the place. Outside a string the same
/// byte is no JSON: refused with its line, nothing left.
#[test]
fn config_json_that_is_not_utf8_is_read_as_runc_reads_it() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["args"] = serde_json::json!(["echo", "MARK"]);
    let cfg = b.path().join("config.json");
    let text = serde_json::to_vec_pretty(&b.config).unwrap();
    let at = text.windows(4).position(|w| w == b"MARK").unwrap();
    let line = text[..at].iter().filter(|&&c| c == b'\n').count() + 1;
    let mut bad = text.clone();
    bad[at] = 0xff;
    std::fs::write(&cfg, &bad).unwrap();
    let id = unique("utf8");
    let out = berth.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(out.stdout, "\u{fffd}ARK\n".as_bytes(), "{err}");
    assert!(
        err.contains("config.json") && err.contains(&format!("line {line} column")) && err.contains("U+FFFD"),
        "{err}"
    );
    assert_nothing_left(&berth, &id, None);

    // The byte between two members, outside any string.
    let comma = text.windows(2).position(|w| w == b",\n").unwrap();
    let mut bad = text.clone();
    bad.insert(comma + 1, 0xff);
    std::fs::write(&cfg, &bad).unwrap();
    let line = text[..comma].iter().filter(|&&c| c == b'\n').count() + 1;
    let id = unique("utf8");
    let out = berth.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("config.json") && err.contains(&format!("line {line} column")), "{err}");
    assert_nothing_left(&berth, &id, None);
}

/// `--preserve-fds` beyond any sane range is an error, never a wrap-around
/// that closes the container's stderr or skips the "must be open" check.
#[test]
fn preserve_fds_out_of_range_is_refused() {
    let berth = Berth::new();
    for n in ["4294967295", "2147483647"] {
        let mut b = Bundle::new();
        b.sh("echo on-stderr >&2");
        b.write();
        let id = unique("pfds");
        let out = berth.run(&["run", "--preserve-fds", n, "--bundle", b.path().to_str().unwrap(), &id]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{n}: {err}");
        assert!(err.contains("--preserve-fds"), "{err}");
        assert_nothing_left(&berth, &id, None);
    }
}

/// `exec -u NAME` and HOME: /etc/passwd is read inside the image's root,
/// only as a plain file, never from the host through a link.
#[test]
fn user_lookups_stay_inside_the_image() {
    let berth = Berth::new();
    let host = TempDir::new("berth-hostpasswd");
    let host_passwd = host.0.join("passwd");
    std::fs::write(&host_passwd, "evil:x:4242:4242::/:/bin/sh\n").unwrap();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let etc = b.rootfs().join("etc");
    std::fs::write(etc.join("group"), "staff:x:50:\n").unwrap();
    std::fs::write(etc.join("passwd.real"), "root:x:0:0::/root:/bin/sh\nweb:x:33:44::/var/www:/bin/sh\n").unwrap();
    std::fs::rename(etc.join("passwd.real"), etc.join("passwd")).unwrap();
    let id = unique("userlookup");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    // A named user gets its primary gid; a named group comes from /etc/group.
    assert_eq!(berth.ok(&["exec", "-u", "web", &id, "sh", "-c", "id -u; id -g"]), "33\n44\n");
    assert_eq!(berth.ok(&["exec", "-u", "web:staff", &id, "id", "-g"]).trim(), "50");
    let passwd = etc.join("passwd");
    for (what, make) in [("host file", 0), ("/dev/zero", 1), ("fifo", 2)] {
        std::fs::remove_file(&passwd).unwrap();
        match make {
            0 => std::os::unix::fs::symlink(&host_passwd, &passwd).unwrap(),
            1 => std::os::unix::fs::symlink("/dev/zero", &passwd).unwrap(),
            _ => {
                let c = std::ffi::CString::new(passwd.to_str().unwrap()).unwrap();
                // SAFETY: c is a valid path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            }
        }
        let (code, out, err) = run_with_deadline(berth.cmd().args(["exec", "-u", "evil", &id, "id", "-u"]), 10);
        assert_eq!(code, Some(255), "{what}: exec ran as {out:?} ({err})");
        assert!(err.contains("no user"), "{what}: {err}");
    }
    berth.ok(&["delete", "--force", &id]);

    // HOME at create: a passwd that is /dev/zero inside the container.
    let mut b = Bundle::new();
    let passwd = b.rootfs().join("etc/passwd");
    let _ = std::fs::remove_file(&passwd);
    std::os::unix::fs::symlink("/dev/zero", &passwd).unwrap();
    b.config["process"]["env"] = json!(["PATH=/bin"]);
    b.sh("echo $HOME");
    b.write();
    let id = unique("homezero");
    let (code, out, err) =
        run_with_deadline(berth.cmd().args(["run", "--bundle", b.path().to_str().unwrap(), &id]), 10);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "/");
    assert_nothing_left(&berth, &id, None);
}

/// The Kubernetes pod shape on the general path (network namespace joined
/// by path, new pid namespace): init must be in the container's cgroups
/// from its first instruction, and the memory limit must hold.
#[test]
fn joined_namespaces_never_escape_the_cgroup() {
    let berth = Berth::new();
    let mut holder = std::process::Command::new("unshare").args(["--net", "sleep", "300"]).spawn().unwrap();
    let holder_pid = holder.id();
    let netns = format!("/proc/{holder_pid}/ns/net");
    assert!(wait_until(5, || ns_link(&holder_pid.to_string(), "net") != ns_link("self", "net")));
    for round in 0..3 {
        let mut b = Bundle::new();
        b.add_namespace("network", Some(&netns));
        let limit = 32 << 20;
        b.config["linux"]["resources"]["memory"] = json!({"limit": limit, "swap": limit});
        b.sh("exec tail /dev/zero");
        let id = unique("podshape");
        assert!(berth.create(&b, &id).status.success(), "round {round}");
        let pid = berth.state(&id)["pid"].as_i64().unwrap();
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let memory_line = cg
            .lines()
            .find(|l| l.split(':').nth(1).is_some_and(|c| c.split(',').any(|c| c == "memory")))
            .or_else(|| cg.lines().find(|l| l.starts_with("0::")))
            .unwrap();
        assert!(memory_line.ends_with(&format!("/berth/{id}")), "round {round}: init is in {memory_line}");
        berth.ok(&["start", &id]);
        berth.wait_status(&id, "stopped");
        berth.ok(&["delete", &id]);
        assert_nothing_left(&berth, &id, None);
    }
    let mut b = Bundle::new();
    b.add_namespace("network", Some(&netns));
    b.config["linux"]["resources"]["memory"] = json!({"limit": 32 << 20, "swap": 32 << 20});
    b.sh("exec tail /dev/zero");
    let (code, _, err) = berth.run_bundle(&b, &unique("podhog"));
    assert_eq!(code, 137, "the memory hog must be OOM-killed: {err}");
    let _ = holder.kill();
    let _ = holder.wait();
}

/// The host's /dev bound at /dev: berth must not touch it (it would be the
/// host's). Runs only inside the test VM, never on a shared host.
#[test]
fn host_dev_bind_is_left_alone() {
    if std::env::var_os("BERTH_IN_VM").is_none() {
        eprintln!("skipped: runs only inside the test VM (it binds the host's /dev)");
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["destination"] != "/dev" && m["destination"] != "/dev/pts");
    b.add_mount(json!({"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind", "rw"]}));
    b.sh("test -c /dev/null && echo ok");
    let out = berth.output_of(&b, &unique("hostdev"));
    assert_eq!(out.trim(), "ok");
    let ptmx = std::fs::symlink_metadata("/dev/ptmx").unwrap();
    assert!(!ptmx.file_type().is_symlink(), "berth turned the host's /dev/ptmx into a symlink");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata("/dev/null").unwrap().file_type().is_char_device());
}

/// A config with a user namespace, a raised hard rlimit and a negative
/// OOM score: set from outside the user namespace, as runc does. Needs
/// CAP_SYS_RESOURCE (the test VM has it; this host's bounding set does not).
#[test]
fn rlimits_and_oom_score_apply_with_a_user_namespace() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    let caps = u64::from_str_radix(eff.split_whitespace().nth(1).unwrap(), 16).unwrap();
    if caps & (1 << 24) == 0 {
        eprintln!("skipped: needs CAP_SYS_RESOURCE");
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.add_namespace("user", None);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    // SAFETY: getrlimit into a zeroed struct.
    let hard = unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_max
    };
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard + 1024}]);
    b.config["process"]["oomScoreAdj"] = json!(-500);
    std::os::unix::fs::chown(b.rootfs(), Some(100000), Some(100000)).unwrap();
    b.sh("ulimit -Hn; cat /proc/self/oom_score_adj");
    let out = berth.output_of(&b, &unique("usernsrlimit"));
    assert_eq!(out, format!("{}\n-500\n", hard + 1024));
}

/// `create` killed with SIGKILL at any moment, even during a slow
/// createRuntime hook: `delete --force` must leave no cgroup, no process,
/// no state directory.
#[test]
fn killed_create_leaves_nothing_after_delete() {
    let berth = Berth::new();
    let marks = TempDir::new("berth-killmarks");
    for (round, delay_ms) in [0u64, 1, 2, 5, 10, 20, 50, 0].into_iter().enumerate() {
        let in_hook = round == 7;
        let mut b = Bundle::new();
        let id = unique("killed");
        let hook_pid = marks.0.join(format!("{id}.hookpid"));
        b.config["hooks"]["createRuntime"] = json!([{"path": "/bin/sh",
            "args": ["sh", "-c", format!("echo $$ > {}; exec sleep 30", hook_pid.display())]}]);
        b.config["linux"]["resources"]["pids"] = json!({"limit": 100});
        b.sh("true");
        b.write();
        let mut create = berth.cmd();
        create.args(["create", "--bundle", b.path().to_str().unwrap(), &id]);
        create
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = create.spawn().unwrap();
        if in_hook {
            assert!(wait_until(10, || hook_pid.exists()), "the hook never ran");
        } else {
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = berth.run(&["delete", "--force", &id]);
        assert!(!berth.root.0.join(&id).exists(), "round {round}: state directory remains");
        for d in default_cgroup_dirs(&id) {
            assert!(wait_until(5, || !d.exists()), "round {round}: cgroup {} remains", d.display());
        }
        assert!(wait_until(5, || processes_mentioning(&id).is_empty()), "round {round}: init of {id} remains");
        // (the file may exist before the hook wrote its pid, or stay empty
        // when the hook died right there)
        if let Some(pid) = std::fs::read_to_string(&hook_pid).ok().and_then(|p| p.trim().parse::<i32>().ok()) {
            let gone = || std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z"));
            assert!(wait_until(5, gone), "round {round}: the hook {pid} remains");
        }
    }
}
