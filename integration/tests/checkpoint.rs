//! checkpoint/restore with criu: a counter loop dumped and restored (into
//! a new id) continues from where it stopped; --leave-running; pre-dump
//! then dump; a restore that fails leaves nothing. criu 3.17 cannot run on
//! this host's kernel (6.18: "rt vDSO area bounds"): these run in the
//! project's VM (Debian's 6.1 kernel) and are skipped, saying why, where
//! `criu check` fails.

use berth_integration::*;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

fn criu_works() -> bool {
    match std::process::Command::new("criu").arg("check").output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            eprintln!("skipped: criu cannot run on this kernel: {}", err.lines().last().unwrap_or(""));
            false
        }
        Err(e) => {
            eprintln!("skipped: no criu ({e})");
            false
        }
    }
}

/// A busybox bundle counting on stdout (and into /data/count, a bind mount).
fn counter(data: &Path) -> Bundle {
    let mut b = Bundle::new();
    b.sh("i=0; while true; do i=$((i+1)); echo $i; echo $i > /data/count; sleep 0.1; done");
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": data, "options": ["rbind"]}));
    b.write();
    b
}

/// Lines the container writes to the pipe berth was given as stdout.
fn lines_of(out: ChildStdout) -> Receiver<u64> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(n) = l.trim().parse() {
                if tx.send(n).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn next(rx: &Receiver<u64>) -> u64 {
    rx.recv_timeout(Duration::from_secs(60)).expect("the container wrote nothing for a minute")
}

/// `berth ARGS` with pipes for stdin and stdout (kept by the container,
/// as a shim's or conmon's are), waited for.
fn detached(berth: &Berth, args: &[&str]) -> (Child, Receiver<u64>) {
    // stderr a pipe too (criu dumps pipes; a file of the host's it cannot):
    // read aside, as the container keeps it open.
    let mut c = berth.cmd();
    c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let rx = lines_of(child.stdout.take().unwrap());
    let (etx, erx) = channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = etx.send(l);
        }
    });
    let st = child.wait().unwrap();
    if !st.success() {
        let err: Vec<String> = erx.recv_timeout(Duration::from_secs(2)).into_iter().chain(erx.try_iter()).collect();
        panic!("berth {args:?}: {}", err.join("\n"));
    }
    (child, rx)
}

/// A counter container run detached by `berth`, with its data and image
/// directories, the berth process that started it and the numbers it writes.
struct Counting {
    data: TempDir,
    images: TempDir,
    bundle: Bundle,
    id: String,
    _run: Child,
    rx: Receiver<u64>,
}

fn start_counting(berth: &Berth, prefix: &str) -> Counting {
    let data = TempDir::new("berth-criu-data");
    let images = TempDir::new("berth-criu-img");
    let bundle = counter(&data.0);
    let id = unique(prefix);
    let (_run, rx) = detached(berth, &["run", "-d", "--bundle", bundle.path().to_str().unwrap(), &id]);
    Counting { data, images, bundle, id, _run, rx }
}

#[test]
fn a_restored_counter_goes_on_from_where_it_stopped_under_a_new_id() {
    if !criu_works() {
        return;
    }
    let berth = Berth::new();
    let Counting { data, images, bundle: b, id, _run: _keep, rx } = start_counting(&berth, "ckpt");
    // The fifth count: each next() takes one from the container.
    let before = (0..5).fold(0, |_, _| next(&rx));
    let img = images.0.join("img");
    berth.ok(&[
        "checkpoint",
        "--image-path",
        img.to_str().unwrap(),
        "--work-path",
        images.0.join("w").to_str().unwrap(),
        &id,
    ]);
    // Dumped and gone (runc's rule without --leave-running).
    assert!(!berth.root.0.join(&id).exists(), "the checkpointed container remains");
    let stopped_at: u64 = read_trim(&data.0.join("count")).parse().unwrap();
    assert!(stopped_at >= before);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(read_trim(&data.0.join("count")).parse::<u64>().unwrap(), stopped_at, "still counting after the dump");

    let id2 = unique("restored");
    let (_keep2, rx2) = detached(
        &berth,
        &["restore", "-d", "--image-path", img.to_str().unwrap(), "--bundle", b.path().to_str().unwrap(), &id2],
    );
    // The loop prints a count, then writes it to the file: dumped between
    // the two, it has printed stopped_at + 1 already (to the first
    // container's stdout), and the restored loop's first line is one on.
    let first = next(&rx2);
    assert!(
        first == stopped_at + 1 || first == stopped_at + 2,
        "the restored loop did not go on from {stopped_at}: {first}"
    );
    assert_eq!(next(&rx2), first + 1);
    let st = berth.state(&id2);
    assert_eq!(st["status"], "running");
    let pid = st["pid"].as_i64().unwrap() as i32;
    // In the new container's cgroup.
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains(&id2), "not in its cgroup: {cg}");
    berth.ok(&["delete", "--force", &id2]);
    assert_nothing_left(&berth, &id2, Some(pid));
}

#[test]
fn leave_running_and_pre_dump_then_dump() {
    if !criu_works() {
        return;
    }
    let berth = Berth::new();
    let Counting { data: _data, images, bundle: b, id, _run: _keep, rx } = start_counting(&berth, "ckpt-lr");
    next(&rx);
    let pre = images.0.join("pre");
    berth.ok(&["checkpoint", "--pre-dump", "--image-path", pre.to_str().unwrap(), &id]);
    assert!(pre.join("pagemap-1.img").exists() || std::fs::read_dir(&pre).unwrap().count() > 0);
    assert_eq!(berth.status(&id), "running", "a pre-dump stopped the container");
    let img = images.0.join("img");
    berth.ok(&["checkpoint", "--leave-running", "--parent-path", "../pre", "--image-path", img.to_str().unwrap(), &id]);
    assert!(img.join("inventory.img").exists());
    assert_eq!(berth.status(&id), "running", "--leave-running stopped it");
    let a = next(&rx);
    assert!(next(&rx) > a, "it stopped counting");
    berth.ok(&["delete", "--force", &id]);
    // The image made with a parent restores too.
    let id2 = unique("restored-lr");
    let (_keep2, rx2) = detached(
        &berth,
        &["restore", "-d", "--image-path", img.to_str().unwrap(), "--bundle", b.path().to_str().unwrap(), &id2],
    );
    let n = next(&rx2);
    assert!(next(&rx2) == n + 1);
    berth.ok(&["delete", "--force", &id2]);
    assert_nothing_left(&berth, &id2, None);
}

#[test]
fn a_failed_restore_leaves_nothing_and_says_why() {
    if !criu_works() {
        return;
    }
    let berth = Berth::new();
    let data = TempDir::new("berth-criu-data");
    let empty = TempDir::new("berth-criu-empty");
    let b = counter(&data.0);
    let id = unique("restore-bad");
    let out = berth.run(&[
        "restore",
        "-d",
        "--image-path",
        empty.0.to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("criu restore failed"), "{err}");
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn restore_refuses_what_it_cannot_do_by_flag() {
    let berth = Berth::new();
    let b = Bundle::new();
    b.write();
    let out = berth.run(&["restore", "--console-socket", "/x", "--bundle", b.path().to_str().unwrap(), "r1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--console-socket"));
    let out = berth.run(&["checkpoint", "--manage-cgroups-mode", "loose", "nosuch"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--manage-cgroups-mode"));
    let out = berth.run(&["checkpoint", "--empty-ns", "pid", "nosuch"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--empty-ns"));
}
