//! Checkpoint/restore through the `criu` command line (not `criu swrk`'s
//! protobuf RPC: the command line takes every option runc's flags map to,
//! needs no protobuf code in berth, and its log says what went wrong). What
//! the RPC alone can do — hand a restored terminal's master back — is the
//! one thing refused (`restore --console-socket`).
//!
//! The argument lists are pure functions of the options and what the
//! config says (tested without criu); `run` execs criu and turns a failure
//! into the log's error lines.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What `checkpoint` and `restore` share, named as runc names the flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Common {
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    /// soft, full, strict or ignore (criu's default, soft, when None).
    pub manage_cgroups_mode: Option<String>,
    /// `--empty-ns network`: the network namespace is not dumped/restored.
    pub empty_netns: bool,
    pub lazy_pages: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dump {
    pub common: Common,
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub pre_dump: bool,
    /// `ADDRESS:PORT`.
    pub page_server: Option<String>,
    pub status_fd: Option<i32>,
}

/// Parses `--manage-cgroups-mode` and `--empty-ns` values as runc takes them.
pub fn check_common(c: &Common) -> Result<()> {
    if let Some(m) = &c.manage_cgroups_mode {
        if !matches!(m.as_str(), "soft" | "full" | "strict" | "ignore") {
            bail!("--manage-cgroups-mode: {m:?} is not soft, full, strict or ignore");
        }
    }
    Ok(())
}

pub fn empty_ns(value: &str) -> Result<bool> {
    match value {
        "network" | "net" => Ok(true),
        other => bail!("--empty-ns: {other:?}: only the network namespace can be left empty"),
    }
}

fn common_args(c: &Common, log: &str) -> Vec<String> {
    let mut a = vec!["-D".into(), c.image_path.display().to_string(), "-o".into(), log.into(), "-v4".into()];
    if let Some(w) = &c.work_path {
        a.extend(["-W".into(), w.display().to_string()]);
    }
    a.push(match &c.manage_cgroups_mode {
        Some(m) => format!("--manage-cgroups={m}"),
        None => "--manage-cgroups".into(),
    });
    for (on, flag) in [
        (c.tcp_established, "--tcp-established"),
        (c.ext_unix_sk, "--ext-unix-sk"),
        (c.shell_job, "--shell-job"),
        (c.file_locks, "--file-locks"),
        (c.lazy_pages, "--lazy-pages"),
    ] {
        if on {
            a.push(flag.into());
        }
    }
    if c.empty_netns {
        a.extend(["--empty-ns".into(), "net".into()]);
    }
    a
}

/// The key under which a namespace joined by path is external.
pub const EXT_NETNS: &str = "extRootNetNS";

/// `criu dump` (or `pre-dump`) of the tree under `pid`. `binds` are the
/// destinations of the container's bind mounts (external: their sources
/// are the host's), `netns_ino` the inode of a network namespace it joined.
/// `freezer`: the container's freezer cgroup (v1) or cgroup (v2): criu
/// freezes the tree with it, and copes with a tree the caller paused
/// (ptrace alone would wait forever on a frozen task).
pub fn dump_args(d: &Dump, pid: i32, binds: &[String], netns_ino: Option<u64>, freezer: Option<&Path>) -> Vec<String> {
    let mut a = vec![if d.pre_dump { "pre-dump" } else { "dump" }.to_string(), "-t".into(), pid.to_string()];
    a.extend(common_args(&d.common, if d.pre_dump { "pre-dump.log" } else { "dump.log" }));
    if let Some(f) = freezer {
        a.extend(["--freeze-cgroup".into(), f.display().to_string()]);
    }
    if let Some(p) = &d.parent_path {
        a.extend(["--prev-images-dir".into(), p.display().to_string(), "--track-mem".into()]);
    } else if d.pre_dump {
        a.push("--track-mem".into());
    }
    if d.leave_running {
        a.push("--leave-running".into());
    }
    if let Some(ps) = &d.page_server {
        if let Some((addr, port)) = ps.rsplit_once(':') {
            a.extend(["--page-server".into(), "--address".into(), addr.into(), "--port".into(), port.into()]);
        }
    }
    if let Some(fd) = d.status_fd {
        a.extend(["--status-fd".into(), fd.to_string()]);
    }
    if !d.pre_dump {
        for b in binds {
            a.extend(["--external".into(), format!("mnt[{b}]:{b}")]);
        }
        if let Some(ino) = netns_ino {
            a.extend(["--external".into(), format!("net[{ino}]:{EXT_NETNS}")]);
        }
    }
    a
}

/// What `restore` hands criu beyond the common options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestoreInputs {
    /// The rootfs, bound where criu can use it as the root mount.
    pub root: PathBuf,
    pub pid_file: PathBuf,
    /// (destination, host source) of each bind mount.
    pub binds: Vec<(String, String)>,
    /// (fd, key): descriptors of berth's given in place of what the dump
    /// recorded (stdio pipes, a joined network namespace).
    pub inherit: Vec<(i32, String)>,
    /// `--cgroup-root`: the container's new cgroup (the same path in every
    /// hierarchy berth uses), where criu puts the restored tasks.
    pub cgroup_root: Option<String>,
}

pub fn restore_args(c: &Common, r: &RestoreInputs) -> Vec<String> {
    let mut a = vec!["restore".to_string()];
    a.extend(common_args(c, "restore.log"));
    a.extend([
        "--root".into(),
        r.root.display().to_string(),
        "--restore-detached".into(),
        "--restore-sibling".into(),
        "--evasive-devices".into(),
        "--pidfile".into(),
        r.pid_file.display().to_string(),
    ]);
    for (dest, src) in &r.binds {
        a.extend(["--external".into(), format!("mnt[{dest}]:{src}")]);
    }
    for (fd, key) in &r.inherit {
        a.extend(["--inherit-fd".into(), format!("fd[{fd}]:{key}")]);
    }
    if let Some(root) = &r.cgroup_root {
        a.extend(["--cgroup-root".into(), root.clone()]);
    }
    a
}

/// runc's file in the image directory: what init's stdio were, so that
/// restore can give pipes in their place.
pub const DESCRIPTORS: &str = "descriptors.json";

/// (fd, key) for every recorded stdio descriptor that was a pipe.
pub fn pipes_to_inherit(descriptors: &[String]) -> Vec<(i32, String)> {
    descriptors
        .iter()
        .enumerate()
        .filter(|(_, d)| d.starts_with("pipe:["))
        .map(|(i, d)| (i as i32, d.clone()))
        .collect()
}

/// The last error lines of a criu log (with the one before each).
pub fn log_errors(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let errs: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.contains("Error")).map(|(i, _)| i).collect();
    errs.iter().rev().take(3).rev().map(|&i| lines[i].trim()).collect::<Vec<_>>().join("; ")
}

/// Runs criu; a failure says which log to read and what it said.
pub fn run(
    args: &[String],
    log_dir: &Path,
    log: &str,
    pre_exec: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static,
) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("criu");
    cmd.args(args);
    // SAFETY: pre_exec runs in the forked child before exec; the closures
    // berth passes make only async-signal-safe calls (open, write, unshare,
    // mount, setns).
    unsafe { cmd.pre_exec(pre_exec) };
    let status = match cmd.status() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("criu is not installed (checkpoint and restore drive the criu command)")
        }
        r => r.context("running criu")?,
    };
    if !status.success() {
        let path = log_dir.join(log);
        let said = std::fs::read_to_string(&path).map(|l| log_errors(&l)).unwrap_or_default();
        bail!("criu {} failed ({status}): {said} (log: {})", args[0], path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common() -> Common {
        Common { image_path: "/img".into(), ..Default::default() }
    }

    #[test]
    fn dump_maps_runc_flags() {
        let d = Dump {
            common: Common {
                work_path: Some("/w".into()),
                tcp_established: true,
                shell_job: true,
                manage_cgroups_mode: Some("full".into()),
                empty_netns: true,
                ..common()
            },
            leave_running: true,
            page_server: Some("10.0.0.1:27".into()),
            status_fd: Some(5),
            ..Default::default()
        };
        let a = dump_args(&d, 42, &["/data".into()], Some(4026531992), Some(Path::new("/sys/fs/cgroup/berth/c1")));
        let s = a.join(" ");
        assert!(s.starts_with("dump -t 42 -D /img -o dump.log -v4 -W /w --manage-cgroups=full"), "{s}");
        for want in [
            "--tcp-established",
            "--shell-job",
            "--empty-ns net",
            "--leave-running",
            "--page-server --address 10.0.0.1 --port 27",
            "--status-fd 5",
            "--external mnt[/data]:/data",
            "--external net[4026531992]:extRootNetNS",
            "--freeze-cgroup /sys/fs/cgroup/berth/c1",
        ] {
            assert!(s.contains(want), "{want} not in {s}");
        }
        assert!(!s.contains("--ext-unix-sk") && !s.contains("--file-locks"));
    }

    #[test]
    fn pre_dump_tracks_memory_and_a_parent_chains() {
        let d = Dump { common: common(), pre_dump: true, ..Default::default() };
        let s = dump_args(&d, 1, &["/x".into()], None, None).join(" ");
        assert!(s.starts_with("pre-dump -t 1") && s.contains("--track-mem") && s.contains("pre-dump.log"));
        assert!(!s.contains("--external"), "pre-dump leaves mounts alone: {s}");
        let d = Dump { common: common(), parent_path: Some("../pre".into()), ..Default::default() };
        assert!(dump_args(&d, 1, &[], None, None).join(" ").contains("--prev-images-dir ../pre --track-mem"));
    }

    #[test]
    fn restore_is_detached_sibling_with_what_it_inherits() {
        let r = RestoreInputs {
            root: "/s/criu-root".into(),
            pid_file: "/s/criu.pid".into(),
            binds: vec![("/data".into(), "/host/data".into())],
            inherit: vec![(0, "pipe:[12]".into()), (5, EXT_NETNS.into())],
            cgroup_root: Some("/berth/c2".into()),
        };
        let s = restore_args(&common(), &r).join(" ");
        for want in [
            "restore -D /img -o restore.log",
            "--root /s/criu-root --restore-detached --restore-sibling",
            "--pidfile /s/criu.pid",
            "--external mnt[/data]:/host/data",
            "--inherit-fd fd[0]:pipe:[12]",
            "--inherit-fd fd[5]:extRootNetNS",
            "--cgroup-root /berth/c2",
        ] {
            assert!(s.contains(want), "{want} not in {s}");
        }
    }

    #[test]
    fn stdio_pipes_are_inherited_and_files_are_not() {
        let d = vec!["pipe:[7]".to_string(), "/dev/null".into(), "pipe:[9]".into()];
        assert_eq!(pipes_to_inherit(&d), [(0, "pipe:[7]".to_string()), (2, "pipe:[9]".to_string())]);
    }

    #[test]
    fn bad_modes_are_refused_by_flag() {
        let c = Common { manage_cgroups_mode: Some("loose".into()), ..common() };
        assert!(check_common(&c).unwrap_err().to_string().contains("--manage-cgroups-mode"));
        assert!(empty_ns("pid").unwrap_err().to_string().contains("--empty-ns"));
        assert!(empty_ns("network").unwrap());
    }

    #[test]
    fn the_log_gives_its_last_errors() {
        let log = "(0.1) ok\n(0.2) Error (a.c:1): first\n(0.3) x\n(0.4) Error (b.c:2): second\n";
        assert_eq!(log_errors(log), "(0.2) Error (a.c:1): first; (0.4) Error (b.c:2): second");
    }
}
