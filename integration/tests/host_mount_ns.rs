//! A config without a mount namespace: the container inherits berth's
//! (the spec's rule), is chrooted into its rootfs as with runc, and —
//! unlike runc — leaves none of its mounts behind after delete, nor
//! changes the propagation of the host's `/`.

use berth_integration::*;
use serde_json::json;

fn without_mount_ns(b: &mut Bundle) {
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "mount");
}

/// A bundle without a mount namespace, its root read-only, /marker in it.
fn chrooted(script: &str) -> Bundle {
    let mut b = Bundle::new();
    without_mount_ns(&mut b);
    b.config["root"]["readonly"] = json!(true);
    std::fs::write(b.rootfs().join("marker"), "inside\n").unwrap();
    b.sh(script);
    b.write();
    b
}

/// Mount points at or under `dir` in our mount namespace.
fn mounts_under(dir: &std::path::Path) -> Vec<String> {
    let d = dir.canonicalize().unwrap().to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|mp| *mp == d || mp.starts_with(&format!("{d}/")))
        .collect()
}

/// The optional fields (propagation) of `/` in our mount namespace.
fn root_propagation() -> String {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info.lines().find(|l| l.split(' ').nth(4) == Some("/")).unwrap().to_string();
    line.split(" - ").next().unwrap().split(' ').skip(6).collect::<Vec<_>>().join(" ")
}

#[test]
fn chrooted_with_its_mounts_and_nothing_left_after_delete() {
    let berth = Berth::new();
    let b = chrooted("sleep 1000");
    let before = mounts_under(&b.rootfs());
    let prop = root_propagation();
    let id = unique("nomntns");
    let out = berth.create(&b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pid = berth.state(&id)["pid"].as_i64().unwrap() as i32;
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap(),
        std::fs::read_link("/proc/self/ns/mnt").unwrap()
    );
    assert!(mounts_under(&b.rootfs()).len() > before.len() + 3, "the container's mounts are in our namespace");
    // exec gets the container's root, not the host's
    let out = berth.run(&["exec", &id, "cat", "/marker"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "inside\n", "{}", String::from_utf8_lossy(&out.stderr));
    berth.ok(&["delete", "--force", &id]);
    assert_eq!(mounts_under(&b.rootfs()), before, "mounts left under the rootfs");
    assert_eq!(root_propagation(), prop, "the propagation of / changed");
    assert_nothing_left(&berth, &id, Some(pid));
}

#[test]
fn what_the_container_sees() {
    let berth = Berth::new();
    let b = chrooted(
        "cat /marker; test -c /dev/null && echo devnull; \
         (echo x > /written) 2>/dev/null || echo root-ro; \
         (echo 1 > /proc/sys/kernel/domainname) 2>/dev/null || echo procsys-ro; \
         test -s /proc/kcore || echo kcore-masked",
    );
    let before = mounts_under(&b.rootfs());
    let (code, out, err) = berth.run_bundle(&b, &unique("nomntns-run"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "inside\ndevnull\nroot-ro\nprocsys-ro\nkcore-masked\n");
    assert!(!b.rootfs().join("written").exists());
    assert_eq!(mounts_under(&b.rootfs()), before, "run left mounts under the rootfs");
}

#[test]
fn a_killed_create_leaves_no_mount_after_delete() {
    let berth = Berth::new();
    let marks = TempDir::new("berth-nomntns-kill");
    let mark = marks.0.join("in-hook");
    let mut b = Bundle::new();
    without_mount_ns(&mut b);
    // createRuntime runs once the mounts are made.
    b.config["hooks"] = json!({ "createRuntime": [{ "path": "/bin/sh",
        "args": ["sh", "-c", format!("touch {}; exec sleep 30", mark.display())] }] });
    b.sh("true");
    b.write();
    let before = mounts_under(&b.rootfs());
    let id = unique("nomntns-kill");
    let mut create = berth.cmd();
    create.args(["create", "--bundle", b.path().to_str().unwrap(), &id]);
    create.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = create.spawn().unwrap();
    assert!(wait_until(10, || mark.exists()), "the hook never ran");
    assert!(mounts_under(&b.rootfs()).len() > before.len(), "no mounts made before the hook");
    let _ = child.kill();
    let _ = child.wait();
    let _ = berth.run(&["delete", "--force", &id]);
    assert_eq!(mounts_under(&b.rootfs()), before, "the killed create's mounts remain");
    assert!(!berth.root.0.join(&id).exists());
}
