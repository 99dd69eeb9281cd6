//! AppArmor profiles and SELinux labels. On this host (no LSM active) a
//! profile is an error that names the field and labels are left aside; in
//! the project's VM in systemd mode (AppArmor on) a profile confines the
//! container's process, for init and for exec.

use berth_integration::*;
use serde_json::json;
use std::path::Path;

fn apparmor_on() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.starts_with('Y'))
        && Path::new("/sys/kernel/security/apparmor/profiles").exists()
}

#[test]
fn a_profile_needs_apparmor_on_the_host() {
    if apparmor_on() {
        eprintln!("AppArmor is on here: the profile tests below cover it");
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["apparmorProfile"] = json!("berth-test");
    b.sh("true");
    let id = unique("aaoff");
    let (code, _, err) = berth.run_bundle(&b, &id);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("process.apparmorProfile") && err.contains("not enabled"), "{err}");
    assert_nothing_left(&berth, &id, None);
    // exec --apparmor likewise, and an empty profile is no profile.
    b.config["process"]["apparmorProfile"] = json!("");
    b.sh("sleep 100");
    let id = unique("aaexec");
    assert!(berth.create(&b, &id).status.success());
    let out = berth.run(&["exec", "--apparmor", "berth-test", &id, "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AppArmor is not enabled"));
    berth.ok(&["delete", "--force", &id]);
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn selinux_labels_are_left_aside_where_selinux_is_off() {
    if Path::new("/sys/fs/selinux/enforce").exists() {
        return;
    }
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c1,c2");
    b.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c1,c2");
    b.sh("echo ran");
    let id = unique("selinux");
    assert_eq!(berth.output_of(&b, &id), "ran\n");
    // A label that could not be said to the kernel is refused by name.
    b.config["linux"]["mountLabel"] = json!("a\"b");
    let (code, _, err) = berth.run_bundle(&b, &unique("selinux"));
    assert_eq!(code, 1);
    assert!(err.contains("linux.mountLabel"), "{err}");
}

/// A profile that denies writes below /tmp/deny: the container sees its
/// profile in /proc/self/attr/current and the write fails; exec too.
#[test]
fn a_profile_confines_init_and_exec() {
    if !apparmor_on() {
        eprintln!("AppArmor is not on here: skipped (runs in the systemd VM)");
        return;
    }
    let profile = unique("berth-aa");
    let text = format!(
        "abi <abi/3.0>,\nprofile {profile} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  capability,\n  \
         network,\n  mount,\n  umount,\n  pivot_root,\n  signal,\n  ptrace,\n  unix,\n  deny /tmp/deny/** w,\n}}\n"
    );
    let dir = TempDir::new("aa");
    let file = dir.0.join("profile");
    std::fs::write(&file, text).unwrap();
    let out = capture(std::process::Command::new("apparmor_parser").arg("-r").arg(&file));
    assert!(out.status.success(), "apparmor_parser: {}", String::from_utf8_lossy(&out.stderr));

    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["apparmorProfile"] = json!(profile);
    b.sh("cat /proc/self/attr/current; mkdir -p /tmp/deny /tmp/ok; touch /tmp/ok/x && echo ok-written; \
          touch /tmp/deny/x 2>/dev/null && echo deny-written; sleep 100");
    let id = unique("aa");
    assert!(berth.create(&b, &id).status.success());
    berth.ok(&["start", &id]);
    let log = b.rootfs().join("tmp/ok/x");
    assert!(wait_until(10, || log.exists()));
    let init = berth.state(&id)["pid"].as_i64().unwrap();
    let current = std::fs::read_to_string(format!("/proc/{init}/attr/current")).unwrap();
    assert!(current.starts_with(&profile), "init runs as {current:?}");
    assert!(!b.rootfs().join("tmp/deny/x").exists(), "the profile let init write /tmp/deny");
    // exec inherits nothing: it takes the config's profile, or --apparmor's.
    let out = berth.ok(&["exec", &id, "cat", "/proc/self/attr/current"]);
    assert!(out.starts_with(&profile), "{out}");
    let out = berth.run(&["exec", &id, "touch", "/tmp/deny/y"]);
    assert!(!out.status.success(), "exec could write /tmp/deny");
    berth.ok(&["delete", "--force", &id]);
    // A container without a profile: `exec --apparmor` gives one.
    b.config["process"]["apparmorProfile"] = json!("");
    b.sh("sleep 100");
    let id = unique("aaexec");
    assert!(berth.create(&b, &id).status.success());
    let out = berth.ok(&["exec", &id, "cat", "/proc/self/attr/current"]);
    assert!(out.starts_with("unconfined"), "{out}");
    let out = berth.ok(&["exec", "--apparmor", &profile, &id, "cat", "/proc/self/attr/current"]);
    assert!(out.starts_with(&profile), "{out}");
    berth.ok(&["delete", "--force", &id]);
    let _ = capture(std::process::Command::new("apparmor_parser").arg("-R").arg(&file));
}
