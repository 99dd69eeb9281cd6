//! `linux.netDevices`: a host device moved into the container (renamed,
//! with its address, up) and back on delete; bad configs refused with
//! nothing moved and nothing left.

use berth_integration::*;
use serde_json::{json, Value};
use std::process::Command;

/// A virtual device on the host (one end of a veth pair, else a dummy or
/// an ifb: whichever this kernel has built in), deleted when dropped
/// wherever it is then. None when the kernel has none of them.
struct Dummy(String);

impl Dummy {
    fn new(addr: &str) -> Option<Dummy> {
        // Interface names are at most 15 bytes: the unique id's tail.
        let u = unique("");
        let name = format!("bd{}", &u[u.len().saturating_sub(11)..]).replace(['-', '_', '.'], "x");
        let peer = format!("{name}p");
        let kinds: [&[&str]; 3] = [&["veth", "peer", "name", &peer], &["dummy"], &["ifb"]];
        let made = kinds.iter().any(|k| {
            Command::new("ip").args(["link", "add", &name, "type"]).args(*k).output().unwrap().status.success()
        });
        if !made {
            eprintln!("skipped: this kernel makes none of veth, dummy, ifb (no modules here)");
            return None;
        }
        ip(&["addr", "add", addr, "dev", &name]);
        Some(Dummy(name))
    }

    fn on_host(&self) -> bool {
        Command::new("ip").args(["link", "show", &self.0]).output().unwrap().status.success()
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
        let _ = Command::new("ip").args(["link", "del", &format!("{}p", self.0)]).output();
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("iproute2 is installed");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn bundle_with(dev: &str, inside: Option<&str>, script: &str) -> Bundle {
    let mut b = Bundle::new();
    let entry = match inside {
        Some(n) => json!({ "name": n }),
        None => json!({}),
    };
    b.config["linux"]["netDevices"] = json!({ dev: entry });
    b.sh(script);
    b
}

#[test]
fn a_device_moves_in_renamed_with_its_address_and_back_on_delete() {
    let berth = Berth::new();
    let Some(dev) = Dummy::new("10.213.7.1/24") else { return };
    let b = bundle_with(
        &dev.0,
        Some("ctr7"),
        "cat /sys/class/net/ctr7/flags; ip -o -4 addr show dev ctr7; ls /sys/class/net; sleep 1000",
    );
    b.write();
    let id = unique("netdev");
    let out = berth.create(&b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dev.on_host(), "the device is still on the host after create");
    let pid = berth.state(&id)["pid"].as_i64().unwrap();
    let inside = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "ip", "-o", "-4", "addr", "show", "dev", "ctr7"])
        .output()
        .unwrap();
    let inside = String::from_utf8_lossy(&inside.stdout);
    assert!(inside.contains("10.213.7.1/24"), "address not kept inside: {inside:?}");
    berth.ok(&["delete", "--force", &id]);
    assert!(dev.on_host(), "the device did not come back under its own name");
    let back = ip(&["-o", "link", "show", &dev.0]);
    assert!(!back.contains(",UP"), "it came back up: {back}");
    assert_nothing_left(&berth, &id, Some(pid as i32));
}

#[test]
fn the_container_sees_it_up_under_its_new_name() {
    let berth = Berth::new();
    let Some(dev) = Dummy::new("10.213.8.1/24") else { return };
    let b = bundle_with(&dev.0, Some("eth9"), "cat /sys/class/net/eth9/flags; ip -o -4 addr show dev eth9");
    let (code, out, err) = berth.run_bundle(&b, &unique("netdev-in"));
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let flags = u32::from_str_radix(lines.next().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "not up inside: {out}");
    assert!(lines.next().unwrap_or("").contains("10.213.8.1/24"), "{out}");
    // The container's own namespace died with it: a virtual device dies too
    // (the kernel's rule; a physical one returns to the initial namespace).
    assert!(!dev.on_host());
}

#[test]
fn a_joined_namespace_keeps_it_until_delete_then_it_comes_back() {
    let berth = Berth::new();
    let Some(dev) = Dummy::new("10.213.9.1/24") else { return };
    let ns = unique("bnetns");
    ip(&["netns", "add", &ns]);
    let mut b = bundle_with(&dev.0, None, "true");
    b.add_namespace("network", Some(&format!("/run/netns/{ns}")));
    b.write();
    let id = unique("netdev-path");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    berth.wait_status(&id, "stopped");
    assert!(ip(&["-n", &ns, "-o", "link"]).contains(&dev.0), "not in the joined namespace");
    berth.ok(&["delete", &id]);
    assert!(dev.on_host(), "not given back from the joined namespace after init ended");
    assert!(!ip(&["-n", &ns, "-o", "link"]).contains(&dev.0));
    ip(&["netns", "del", &ns]);
}

#[test]
fn a_create_that_fails_after_the_move_gives_the_device_back() {
    let berth = Berth::new();
    let Some(dev) = Dummy::new("10.213.10.1/24") else { return };
    let ns = unique("bnetns");
    ip(&["netns", "add", &ns]);
    let mut b = bundle_with(&dev.0, None, "true");
    b.add_namespace("network", Some(&format!("/run/netns/{ns}")));
    // A hook that runs after the move and fails: create must undo the move.
    b.config["hooks"] = json!({ "createRuntime": [{ "path": "/bin/false" }] });
    b.write();
    let id = unique("netdev-fail");
    let out = berth.create(&b, &id);
    assert!(!out.status.success());
    assert!(dev.on_host(), "the device stayed in the namespace of a container that was never made");
    assert_nothing_left(&berth, &id, None);
    ip(&["netns", "del", &ns]);
}

#[test]
fn a_create_killed_after_the_move_gives_the_device_back_on_delete() {
    let berth = Berth::new();
    let Some(dev) = Dummy::new("10.213.11.1/24") else { return };
    let ns = unique("bnetns");
    ip(&["netns", "add", &ns]);
    let marks = TempDir::new("berth-netdev-kill");
    let mark = marks.0.join("in-hook");
    let mut b = bundle_with(&dev.0, None, "true");
    b.add_namespace("network", Some(&format!("/run/netns/{ns}")));
    // The hook runs after the move; create is SIGKILLed while it sleeps.
    b.config["hooks"] = json!({ "createRuntime": [{ "path": "/bin/sh",
        "args": ["sh", "-c", format!("touch {}; exec sleep 30", mark.display())] }] });
    b.write();
    let id = unique("netdev-kill");
    let mut create = berth.cmd();
    create.args(["create", "--bundle", b.path().to_str().unwrap(), &id]);
    create.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = create.spawn().unwrap();
    assert!(wait_until(10, || mark.exists()), "the hook never ran");
    let _ = child.kill();
    let _ = child.wait();
    assert!(!dev.on_host(), "moved before the hook");
    let _ = berth.run(&["delete", "--force", &id]);
    assert!(dev.on_host(), "delete of the killed create did not give the device back");
    assert!(!berth.root.0.join(&id).exists());
    ip(&["netns", "del", &ns]);
}

#[test]
fn bad_devices_are_refused_by_name_with_nothing_left() {
    let berth = Berth::new();
    let cases: [(Value, bool, &str); 4] = [
        (json!({ "nosuchdev0": {} }), true, "linux.netDevices.nosuchdev0: no such network device"),
        (json!({ "a/b": {} }), true, "is not a valid network interface name"),
        (json!({ "lo": { "name": "this-name-is-too-long" } }), true, "linux.netDevices.lo.name"),
        (json!({ "lo": {} }), false, "needs a network namespace of the container's own"),
    ];
    for (devs, netns, want) in cases {
        let mut b = Bundle::new();
        if !netns {
            b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "network");
        }
        b.config["linux"]["netDevices"] = devs;
        b.write();
        let id = unique("netdev-bad");
        let out = berth.create(&b, &id);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(want), "{want:?} not in {err}");
        assert_nothing_left(&berth, &id, None);
    }
}
