//! Root filesystem, mounts, masked and read-only paths, devices.

use berth_integration::*;
use serde_json::json;

#[test]
fn readonly_root() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["root"]["readonly"] = json!(true);
    b.sh("touch /x 2>/dev/null && echo wrote || echo refused; touch /dev/shm/ok && echo shm-ok");
    assert_eq!(berth.output_of(&b, &unique("ro")), "refused\nshm-ok\n");
}

#[test]
fn readonly_bind_mount() {
    let berth = Berth::new();
    let host = TempDir::new("berth-src");
    std::fs::write(host.0.join("f"), "from-host").unwrap();
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": host.0, "options": ["rbind", "ro"]}));
    b.sh("cat /data/f; echo; touch /data/g 2>/dev/null && echo wrote || echo refused");
    assert_eq!(berth.output_of(&b, &unique("bindro")), "from-host\nrefused\n");
    assert!(!host.0.join("g").exists());
}

#[test]
fn bind_mount_of_a_file_and_relative_source() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    std::fs::write(b.path().join("hello.txt"), "hi").unwrap();
    b.add_mount(
        json!({"destination": "/etc/deep/hello.txt", "type": "bind", "source": "hello.txt", "options": ["bind"]}),
    );
    b.sh("cat /etc/deep/hello.txt");
    assert_eq!(berth.output_of(&b, &unique("bindfile")), "hi");
}

#[test]
fn tmpfs_options_are_applied() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "noexec", "size=1m", "mode=700"]}));
    b.sh("grep ' /scratch ' /proc/self/mounts; stat -c %a /scratch");
    let out = berth.output_of(&b, &unique("tmpfs"));
    let mut lines = out.lines();
    let m = lines.next().unwrap();
    assert!(m.contains("nosuid") && m.contains("noexec") && m.contains("size=1024k"), "{m}");
    assert_eq!(lines.next().unwrap(), "700");
}

#[test]
fn recursive_readonly_option() {
    let berth = Berth::new();
    let host = TempDir::new("berth-rro");
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/rro", "type": "bind", "source": host.0, "options": ["rbind", "rro"]}));
    b.sh("touch /rro/x 2>/dev/null && echo wrote || echo refused");
    assert_eq!(berth.output_of(&b, &unique("rro")), "refused\n");
}

#[test]
fn symlink_mount_target_stays_inside_the_rootfs() {
    let berth = Berth::new();
    let outside = TempDir::new("berth-outside");
    let mut b = Bundle::new();
    // /escape points at a host directory by absolute path, and /up climbs with "..".
    std::os::unix::fs::symlink(&outside.0, b.rootfs().join("escape")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", b.rootfs().join("up")).unwrap();
    b.add_mount(json!({"destination": "/escape/sub", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "/up/tmp/climbed", "type": "tmpfs", "source": "tmpfs"}));
    b.sh("grep -c tmpfs /proc/self/mounts >/dev/null && echo ok");
    assert_eq!(berth.output_of(&b, &unique("escape")), "ok\n");
    assert!(!outside.0.join("sub").exists(), "a mount target was created outside the rootfs");
    assert!(!std::path::Path::new("/tmp/climbed").exists(), "a mount target escaped through ..");
    let inside = b.rootfs().join(outside.0.strip_prefix("/").unwrap()).join("sub");
    assert!(inside.exists(), "the target should be made inside the rootfs at {}", inside.display());
    assert!(b.rootfs().join("tmp/climbed").exists());
}

#[test]
fn masked_and_readonly_paths() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["maskedPaths"] = json!(["/proc/version", "/sys/firmware", "/does/not/exist"]);
    b.config["linux"]["readonlyPaths"] = json!(["/proc/sys", "/nope"]);
    b.sh("wc -c < /proc/version; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo wrote || echo refused");
    let out = berth.output_of(&b, &unique("mask"));
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines, ["0", "0", "refused"]);
}

#[test]
fn default_and_extra_devices() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["linux"]["devices"] =
        json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 7, "gid": 8}]);
    b.sh("for d in null zero full random urandom tty mynull; do stat -c '%n %F %t,%T' /dev/$d; done; \
          stat -c '%a %u %g' /dev/mynull; echo x > /dev/null && echo null-ok; \
          readlink /dev/ptmx; readlink /dev/fd; readlink /dev/stdin");
    let out = berth.output_of(&b, &unique("dev"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/dev/null character special file 1,3");
    assert_eq!(lines[5], "/dev/tty character special file 5,0");
    assert_eq!(lines[6], "/dev/mynull character special file 1,3");
    assert_eq!(lines[7], "640 7 8");
    assert_eq!(lines[8], "null-ok");
    assert_eq!(&lines[9..], ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0"]);
}

/// No /dev mount: the nodes go into the image's own /dev, where a planted
/// regular file and a symlink stand at their names. Both are replaced by
/// the device (never written through), and the image's other files stay.
#[test]
fn device_nodes_replace_what_the_image_put_at_their_names() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["mounts"].as_array_mut().unwrap().retain(|m| {
        m["destination"] != "/dev"
            && m["destination"] != "/dev/pts"
            && m["destination"] != "/dev/shm"
            && m["destination"] != "/dev/mqueue"
    });
    let dev = b.rootfs().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    std::fs::write(dev.join("null"), "planted").unwrap();
    let outside = TempDir::new("berth-devtarget");
    std::fs::write(outside.0.join("target"), "untouched").unwrap();
    std::os::unix::fs::symlink(outside.0.join("target"), dev.join("zero")).unwrap();
    std::fs::write(dev.join("keep"), "mine").unwrap();
    b.sh("stat -c '%n %F %t,%T' /dev/null /dev/zero; cat /dev/keep");
    let out = berth.output_of(&b, &unique("devrepl"));
    assert_eq!(out, "/dev/null character special file 1,3\n/dev/zero character special file 1,5\nmine");
    assert_eq!(std::fs::read_to_string(outside.0.join("target")).unwrap(), "untouched");
}

#[test]
fn device_cgroup_denies_unlisted_devices() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    // The default spec denies all devices; /dev/mem-like nodes made by mknod must not open.
    b.config["process"]["capabilities"]["bounding"] = json!(["CAP_MKNOD"]);
    b.config["process"]["capabilities"]["effective"] = json!(["CAP_MKNOD"]);
    b.config["process"]["capabilities"]["permitted"] = json!(["CAP_MKNOD"]);
    // /dev/kmsg (c 1:11) opens write-only without any capability: only the
    // device cgroup can refuse it.
    let script = "rm -f /dev/berth-kmsg; mknod /dev/berth-kmsg c 1 11 && (echo berth-test > /dev/berth-kmsg 2>/dev/null && echo opened || echo denied)";
    b.sh(&format!("{script}; head -c1 /dev/zero | wc -c"));
    assert_eq!(berth.output_of(&b, &unique("devcg")), "denied\n1\n");
    // Allowing it by rule lets the same write through: the refusal came from the rules.
    b.config["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]);
    assert_eq!(berth.output_of(&b, &unique("devcgok")), "opened\n1\n");
}

#[test]
fn no_pivot_moves_the_root() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("ls /bin/busybox && cat /proc/self/mountinfo | wc -l >/dev/null && echo ok");
    b.write();
    let out = berth.run(&["run", "--no-pivot", "--bundle", b.path().to_str().unwrap(), &unique("nopivot")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/bin/busybox\nok\n");
}

#[test]
fn tmpcopyup_starts_the_tmpfs_with_the_covered_content() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    std::fs::create_dir_all(b.rootfs().join("seed/sub")).unwrap();
    std::fs::write(b.rootfs().join("seed/sub/file"), "seeded").unwrap();
    b.add_mount(
        json!({"destination": "/seed", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]}),
    );
    b.sh("cat /seed/sub/file; echo; echo new > /seed/sub/file; grep ' /seed ' /proc/self/mounts | cut -d' ' -f3");
    assert_eq!(berth.output_of(&b, &unique("copyup")), "seeded\ntmpfs\n");
    assert_eq!(std::fs::read_to_string(b.rootfs().join("seed/sub/file")).unwrap(), "seeded", "the image is untouched");
}

/// Idmapped mounts: a directory owned by uid/gid 1000 on the host is seen
/// as 0 through a bind with uidMappings/gidMappings, and what the container
/// writes there lands as 1000 on the host (also `ridmap` on an rbind).
#[test]
fn idmapped_bind_mounts_map_owners() {
    use std::os::unix::fs::MetadataExt;
    let berth = Berth::new();
    let mut b = Bundle::new();
    let dir = TempDir::new("idmap");
    std::fs::write(dir.0.join("f"), "x").unwrap();
    std::os::unix::fs::chown(&dir.0, Some(1000), Some(1000)).unwrap();
    std::os::unix::fs::chown(dir.0.join("f"), Some(1000), Some(1000)).unwrap();
    // containerID is the id on disk, hostID the one seen through the mount
    // (runc's reading: the same maps as a user namespace would take).
    let map = json!([{"containerID": 1000, "hostID": 0, "size": 1}]);
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": dir.0, "options": ["bind"],
                       "uidMappings": map, "gidMappings": map}));
    b.add_mount(json!({"destination": "/rdata", "type": "bind", "source": dir.0, "options": ["rbind", "ridmap"],
                       "uidMappings": map, "gidMappings": map}));
    b.sh("stat -c '%u %g' /data/f /rdata/f; touch /data/new && echo wrote");
    let (code, out, err) = berth.run_bundle(&b, &unique("idmap"));
    if code == 1 && err.contains("cannot idmap a mount") && std::env::var_os("BERTH_IN_VM").is_some() {
        // The VM's Debian 6.1 kernel idmaps no tmpfs (6.3 does), and the VM has
        // nothing but tmpfs, 9p and overlayfs: this host's kernel runs the test.
        eprintln!("skipped in the VM: {err}");
        return;
    }
    assert_eq!((code, out.as_str()), (0, "0 0\n0 0\nwrote\n"), "{err}");
    let m = std::fs::metadata(dir.0.join("new")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000), "written through the mapping");
    // Only bind mounts, and maps come in pairs: named errors.
    for (mount, field) in [
        (json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}), "mounts["),
        (
            json!({"destination": "/t", "type": "bind", "source": dir.0, "options": ["bind"], "uidMappings": map}),
            "uidMappings",
        ),
        (json!({"destination": "/t", "type": "bind", "source": dir.0, "options": ["bind", "idmap"]}), "idmap"),
    ] {
        let mut b = Bundle::new();
        b.add_mount(mount);
        b.sh("true");
        let id = unique("idmapbad");
        let (code, _, err) = berth.run_bundle(&b, &id);
        assert_eq!(code, 1, "{field}");
        assert!(err.contains(field), "{field}: {err}");
        assert_nothing_left(&berth, &id, None);
    }
}
