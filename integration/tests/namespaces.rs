//! Namespaces as the container sees them.

use berth_integration::*;
use serde_json::json;

const KINDS: [&str; 6] = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];

#[test]
fn every_namespace_differs_from_the_host() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.add_namespace("time", None);
    let script: String = KINDS.iter().chain(&["time"]).map(|k| format!("readlink /proc/self/ns/{k};")).collect();
    b.sh(&script);
    let out = berth.output_of(&b, &unique("ns"));
    let inside: Vec<&str> = out.lines().collect();
    for (i, k) in KINDS.iter().chain(&["time"]).enumerate() {
        assert_ne!(inside[i], ns_link("self", k), "{k} namespace is the host's");
        assert!(inside[i].starts_with(&format!("{k}:[")));
    }
}

#[test]
fn joined_namespace_by_path_is_the_same() {
    let berth = Berth::new();
    let mut holder = Bundle::new();
    holder.sh("sleep 100");
    let hid = unique("holder");
    assert!(berth.create(&holder, &hid).status.success());
    let hpid = berth.state(&hid)["pid"].to_string();
    let mut b = Bundle::new();
    b.add_namespace("network", Some(&format!("/proc/{hpid}/ns/net")));
    b.add_namespace("ipc", Some(&format!("/proc/{hpid}/ns/ipc")));
    b.sh("readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; echo $$");
    let out = berth.output_of(&b, &unique("join"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], ns_link(&hpid, "net"));
    assert_eq!(lines[1], ns_link(&hpid, "ipc"));
    assert_ne!(lines[2], ns_link(&hpid, "uts"), "uts stays new");
    assert_eq!(lines[3], "1", "the pid namespace is new, so init is pid 1");
    berth.ok(&["delete", "--force", &hid]);
}

#[test]
fn user_namespace_maps_several_ranges() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.add_namespace("user", None);
    b.config["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 100000, "size": 1}, {"containerID": 1, "hostID": 200001, "size": 1000}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; readlink /proc/self/ns/user");
    let out = berth.output_of(&b, &unique("userns"));
    let norm: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(norm[0], ["0", "100000", "1"]);
    assert_eq!(norm[1], ["1", "200001", "1000"]);
    assert_eq!(norm[2], ["0", "100000", "65536"]);
    assert_eq!(norm[3], ["0"]);
    assert_ne!(norm[4][0], ns_link("self", "user"));
}

#[test]
fn user_namespace_joined_with_new_ones() {
    // The general path: join a net namespace by path while creating a user namespace.
    let berth = Berth::new();
    let mut holder = Bundle::new();
    holder.sh("sleep 100");
    let hid = unique("uholder");
    assert!(berth.create(&holder, &hid).status.success());
    let hpid = berth.state(&hid)["pid"].to_string();
    let mut b = Bundle::new();
    b.add_namespace("network", Some(&format!("/proc/{hpid}/ns/net")));
    b.add_namespace("user", None);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "sysfs");
    b.sh("readlink /proc/self/ns/net; echo $$; cat /proc/self/uid_map");
    let out = berth.output_of(&b, &unique("ujoin"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], ns_link(&hpid, "net"));
    assert_eq!(lines[1], "1");
    assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["0", "0", "65536"]);
    berth.ok(&["delete", "--force", &hid]);
}

#[test]
fn time_namespace_offsets_apply() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.add_namespace("time", None);
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000, "nanosecs": 0}});
    b.sh("cut -d. -f1 /proc/uptime");
    let inside: u64 = berth.output_of(&b, &unique("time")).trim().parse().unwrap();
    let host: u64 = std::fs::read_to_string("/proc/uptime").unwrap().split('.').next().unwrap().parse().unwrap();
    assert!(inside >= host + 864000 - 5 && inside <= host + 864000 + 60, "inside {inside} host {host}");
}

#[test]
fn hostname_and_domainname() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["hostname"] = json!("boat");
    b.config["domainname"] = json!("harbour.example");
    b.sh("hostname; cat /proc/sys/kernel/domainname");
    assert_eq!(berth.output_of(&b, &unique("host")), "boat\nharbour.example\n");
}

#[test]
fn sysctl_is_set_in_the_container_only() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").unwrap();
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_default_ttl": "42"});
    b.sh("cat /proc/sys/net/ipv4/ip_default_ttl");
    assert_eq!(berth.output_of(&b, &unique("sysctl")), "42\n");
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").unwrap(), host);
}

#[test]
fn cgroup_placement_and_namespace() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    let id = unique("cg");
    let path = format!("/berth-test/{id}");
    b.config["linux"]["cgroupsPath"] = json!(path);
    b.sh("cat /proc/self/cgroup; ls /sys/fs/cgroup");
    let out = berth.output_of(&b, &id);
    for line in out.lines().filter(|l| l.contains(':')) {
        assert!(line.ends_with(":/"), "cgroup namespace root expected, got {line}");
    }
    assert!(out.contains("memory"), "{out}");
    for m in cgroup_mounts() {
        assert!(!m.join(path.trim_start_matches('/')).exists(), "cgroup left in {}", m.display());
        assert!(!m.join("berth-test").exists(), "parent cgroup berth made is left in {}", m.display());
    }
}

/// On a v1 host the freezer is checked after the clone (the v1 directories
/// are made while init makes its namespaces): init is killed then, and the
/// directories made before (the unified one of a hybrid host) are removed.
#[test]
fn a_frozen_existing_cgroup_is_refused() {
    let berth = Berth::new();
    let id = unique("frozen");
    let rel = format!("berth-frozen-test/{id}");
    let (dir, file, value, thaw) = if cgroup_v2_only() {
        (std::path::PathBuf::from("/sys/fs/cgroup").join(&rel), "cgroup.freeze", "1", "0")
    } else {
        (std::path::PathBuf::from("/sys/fs/cgroup/freezer").join(&rel), "freezer.state", "FROZEN", "THAWED")
    };
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), value).unwrap();
    let mut b = Bundle::new();
    b.config["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
    b.sh("true");
    let (code, _, err) = berth.run_bundle(&b, &id);
    std::fs::write(dir.join(file), thaw).unwrap();
    let _ = std::fs::remove_dir(&dir);
    let _ = std::fs::remove_dir(dir.parent().unwrap());
    assert_eq!(code, 1);
    assert!(err.contains("container's cgroup unexpectedly frozen"), "{err}");
    assert!(!berth.root.0.join(&id).exists());
    for m in cgroup_mounts() {
        assert!(!m.join(&rel).exists(), "cgroup {} left behind", m.join(&rel).display());
    }
    assert_eq!(processes_mentioning(&id), Vec::<i32>::new(), "a process of {id} remains");
}
