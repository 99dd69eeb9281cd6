//! Harness for berth's integration tests: they run the built binary as
//! root on a busybox bundle and look at what the container saw and what
//! is left on the host.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The berth binary under test: $BERTH_BIN, else the workspace's build.
pub fn berth_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BERTH_BIN") {
        return PathBuf::from(p);
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("integration/ sits in the workspace").to_path_buf();
    for profile in ["release", "debug"] {
        let p = ws.join("target").join(profile).join("berth");
        if p.exists() {
            return p;
        }
    }
    panic!("no berth binary: build it first or set BERTH_BIN");
}

pub fn require_root() {
    // SAFETY: geteuid cannot fail.
    assert_eq!(unsafe { libc::geteuid() }, 0, "integration tests run as root (sudo make test)");
}

/// A unique name for this test process and call.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let p = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&p).expect("creating a temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A bundle: busybox rootfs plus a config.json made from `berth spec`.
pub struct Bundle {
    pub dir: TempDir,
    pub config: Value,
}

fn install_busybox(rootfs: &Path) {
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is installed");
    std::fs::copy(busybox, bin.join("busybox")).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for name in String::from_utf8_lossy(&list.stdout).lines() {
        if name != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(name));
        }
    }
    for d in ["proc", "sys", "dev", "tmp", "etc", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
}

impl Bundle {
    pub fn new() -> Bundle {
        require_root();
        let dir = TempDir::new("berth-bundle");
        install_busybox(&dir.0.join("rootfs"));
        let out = Command::new(berth_bin()).args(["spec", "--bundle"]).arg(&dir.0).output().unwrap();
        assert!(out.status.success(), "berth spec: {}", String::from_utf8_lossy(&out.stderr));
        let config: Value = serde_json::from_slice(&std::fs::read(dir.0.join("config.json")).unwrap()).unwrap();
        let mut b = Bundle { dir, config };
        // The tests expect every namespace; `berth spec` adds the cgroup
        // one only on a cgroup-v2-only host, as runc does.
        b.add_namespace("cgroup", None);
        b.config["process"]["terminal"] = json!(false);
        b.config["root"]["readonly"] = json!(false);
        b
    }

    pub fn path(&self) -> &Path {
        &self.dir.0
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.0.join("rootfs")
    }

    /// The container runs `sh -c script`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.config["process"]["args"] = json!(["sh", "-c", script]);
        self
    }

    pub fn write(&self) {
        std::fs::write(self.dir.0.join("config.json"), serde_json::to_vec_pretty(&self.config).unwrap()).unwrap();
    }

    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.config["mounts"].as_array_mut().unwrap().push(m);
        self
    }

    pub fn add_namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        let ns = self.config["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != kind);
        let mut n = json!({"type": kind});
        if let Some(p) = path {
            n["path"] = json!(p);
        }
        ns.push(n);
        self
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}

/// A berth with its own state root, so tests never see each other.
pub struct Berth {
    pub root: TempDir,
    /// The binary this berth runs (a copy, for tests that try to overwrite it).
    pub bin: PathBuf,
}

impl Default for Berth {
    fn default() -> Self {
        Berth::new()
    }
}

impl Berth {
    pub fn new() -> Berth {
        Berth::with_bin(berth_bin())
    }

    pub fn with_bin(bin: PathBuf) -> Berth {
        Berth { root: TempDir::new("berth-root"), bin }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root.0);
        c
    }

    /// Runs berth with `args`, stdin closed, output captured in files (a
    /// created container keeps berth's stdio open, so pipes would never close).
    pub fn run(&self, args: &[&str]) -> Output {
        capture(self.cmd().args(args))
    }

    /// `run` of a bundle in the foreground: (exit code, stdout, stderr).
    pub fn run_bundle(&self, b: &Bundle, id: &str) -> (i32, String, String) {
        b.write();
        let out = self.run(&["run", "--bundle", b.path().to_str().unwrap(), id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs a bundle that must succeed and returns its stdout.
    pub fn output_of(&self, b: &Bundle, id: &str) -> String {
        let (code, out, err) = self.run_bundle(b, id);
        assert_eq!(code, 0, "container {id} failed: stdout {out:?} stderr {err:?}");
        out
    }

    pub fn create(&self, b: &Bundle, id: &str) -> Output {
        b.write();
        self.run(&["create", "--bundle", b.path().to_str().unwrap(), id])
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "berth {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state prints JSON")
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    /// Waits until `id` reports `status` (at most ~5 s).
    pub fn wait_status(&self, id: &str, status: &str) {
        for _ in 0..500 {
            if self.status(id) == status {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container {id} never became {status}");
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        // Force-delete whatever a failed test left, so the host stays clean.
        if let Ok(rd) = std::fs::read_dir(&self.root.0) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.run(&["delete", "--force", &id]);
            }
        }
    }
}

/// `create` with a console socket: the create's output and the pty master
/// the socket received (None when create failed).
pub fn create_with_console(berth: &Berth, b: &Bundle, id: &str) -> (Output, Option<std::fs::File>) {
    b.write();
    let dir = TempDir::new("berth-console");
    let sock = dir.0.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let out =
        berth.run(&["create", "--console-socket", sock.to_str().unwrap(), "--bundle", b.path().to_str().unwrap(), id]);
    if !out.status.success() {
        return (out, None);
    }
    let (conn, _) = listener.accept().unwrap();
    (out, Some(std::fs::File::from(recv_fd(&conn))))
}

/// Reads a terminal until `needle` shows up or it closes.
pub fn read_until(master: &std::fs::File, needle: &str) -> String {
    use std::io::Read;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    let mut reader = master;
    while !text.contains(needle) {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}

/// Waits until `cond` holds, at most `secs` seconds; says whether it did.
pub fn wait_until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cond()
}

/// Runs `cmd` with stdout and stderr in temporary files, killing it after
/// `secs` seconds: (exit code or None when killed, stdout, stderr).
pub fn run_with_deadline(cmd: &mut Command, secs: u64) -> (Option<i32>, String, String) {
    let dir = TempDir::new("berth-out");
    let (o, e) = (dir.0.join("out"), dir.0.join("err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .spawn()
        .expect("running berth");
    let mut code = None;
    let done = wait_until(secs, || match child.try_wait() {
        Ok(Some(st)) => {
            code = st.code();
            true
        }
        _ => false,
    });
    if !done {
        let _ = child.kill();
        let _ = child.wait();
    }
    let text = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    (code, text(&o), text(&e))
}

/// Processes whose command line mentions `needle` (a unique container id, say).
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| *p != me)
        .filter(|p| {
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let zombie = std::fs::read_to_string(format!("/proc/{p}/stat")).map(|s| s.contains(") Z")).unwrap_or(true);
            !zombie && String::from_utf8_lossy(&cmdline).contains(needle)
        })
        .collect()
}

/// Runs `cmd` to its end with stdout and stderr in temporary files.
pub fn capture(cmd: &mut Command) -> Output {
    let dir = TempDir::new("berth-out");
    let (o, e) = (dir.0.join("out"), dir.0.join("err"));
    let status = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .status()
        .expect("running berth");
    Output { status, stdout: std::fs::read(&o).unwrap(), stderr: std::fs::read(&e).unwrap() }
}

/// Every cgroup directory berth would use for `id` by default.
pub fn default_cgroup_dirs(id: &str) -> Vec<PathBuf> {
    cgroup_mounts().into_iter().map(|m| m.join("berth").join(id)).collect()
}

/// Whether systemd is this machine's init (the project's VM in systemd mode).
pub fn systemd_is_init() -> bool {
    std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd")
        && Path::new("/run/systemd/private").exists()
}

/// The cgroup v2 directory of `pid` on the host.
pub fn v2_cgroup_dir_of(pid: i64) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = text.lines().find_map(|l| l.strip_prefix("0::")).expect("a cgroup v2 line");
    Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'))
}

/// Whether the host has only the unified (v2) cgroup hierarchy.
pub fn cgroup_v2_only() -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let kinds: Vec<&str> = info.lines().filter_map(|l| l.split_once(" - ")?.1.split(' ').next()).collect();
    kinds.contains(&"cgroup2") && !kinds.contains(&"cgroup")
}

pub fn cgroup_mounts() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(left.split(' ').nth(4).unwrap()))
        })
        .collect()
}

/// Asserts nothing of container `id` remains: state dir, cgroups, processes.
pub fn assert_nothing_left(berth: &Berth, id: &str, pid: Option<i32>) {
    assert!(!berth.root.0.join(id).exists(), "state directory of {id} remains");
    for d in default_cgroup_dirs(id) {
        assert!(!d.exists(), "cgroup {} remains", d.display());
    }
    if let Some(p) = pid {
        // SAFETY: kill with signal 0 only checks for existence.
        let alive = unsafe { libc::kill(p, 0) } == 0;
        let zombie = std::fs::read_to_string(format!("/proc/{p}/stat")).map(|s| s.contains(") Z")).unwrap_or(true);
        assert!(!alive || zombie, "process {p} of {id} remains");
    }
}

/// The inode of a namespace link such as /proc/self/ns/net, as `net:[N]`.
pub fn ns_link(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap().to_string_lossy().into_owned()
}

/// Receives one descriptor sent with SCM_RIGHTS on `sock`.
pub fn recv_fd(sock: &impl std::os::fd::AsRawFd) -> std::os::fd::OwnedFd {
    recv_fd_with_data(sock).0
}

/// Receives one descriptor and the bytes sent with it.
pub fn recv_fd_with_data(sock: &impl std::os::fd::AsRawFd) -> (std::os::fd::OwnedFd, Vec<u8>) {
    use std::os::fd::FromRawFd;
    let mut data = vec![0u8; 65536];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    let mut cbuf = [0u64; 8];
    // SAFETY: a zeroed msghdr pointing at live local buffers.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, 0);
        assert!(n > 0, "recvmsg");
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null() && (*c).cmsg_type == libc::SCM_RIGHTS, "no descriptor came");
        let fd = std::os::fd::OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32));
        data.truncate(n as usize);
        (fd, data)
    }
}

/// The container's cgroup directory on the host for a controller file:
/// the v1 controller's hierarchy, else the unified one.
pub fn host_cgroup_dir(id: &str, v1_controller: &str) -> PathBuf {
    let mounts = cgroup_mounts();
    let v1 = mounts
        .iter()
        .find(|m| m.file_name().is_some_and(|n| n.to_str().unwrap().split(',').any(|c| c == v1_controller)));
    let unified = || {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        info.lines()
            .find(|l| l.contains(" - cgroup2 "))
            .map(|l| PathBuf::from(l.split(' ').nth(4).unwrap()))
            .expect("a cgroup2 mount")
    };
    v1.cloned().unwrap_or_else(unified).join("berth").join(id)
}

pub fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())).trim().to_string()
}

/// The busybox rootfs as a plain tarball in `dir` (for `import` commands).
pub fn rootfs_tar(dir: &Path) -> PathBuf {
    let b = Bundle::new();
    let tar = dir.join("rootfs.tar");
    let ok = Command::new("tar").arg("-C").arg(b.rootfs()).arg("-cf").arg(&tar).arg(".").status().unwrap();
    assert!(ok.success(), "tar of the busybox rootfs");
    tar
}

/// Stops a daemon the test started: SIGTERM (so it can reap its shims),
/// then SIGKILL after five seconds.
pub fn stop_daemon(daemon: &mut std::process::Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    for _ in 0..50 {
        if matches!(daemon.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// Builds `source` (one Rust file, std only) into a static binary at
/// `rootfs/bin/<name>`, for what busybox cannot do in a test image. Uses the
/// rustc beside the cargo that built the tests (the VM's PATH lacks
/// ~/.cargo/bin).
pub fn build_static(rootfs: &Path, name: &str, source: &str) {
    let dir = TempDir::new("helper");
    let src = dir.0.join("main.rs");
    std::fs::write(&src, source).unwrap();
    let out = capture(
        Command::new(Path::new(env!("CARGO")).with_file_name("rustc"))
            .args(["-O", "-C", "target-feature=+crt-static", "--target", "x86_64-unknown-linux-gnu", "-o"])
            .arg(rootfs.join("bin").join(name))
            .arg(&src),
    );
    assert!(out.status.success(), "rustc: {}", String::from_utf8_lossy(&out.stderr));
}
