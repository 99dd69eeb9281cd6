//! sd_notify: with NOTIFY_SOCKET in berth's environment the container gets
//! a socket of its own, and `start` passes its READY=1 on with MAINPID set
//! to the container's init as the host sees it.

use berth_integration::*;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// A static helper in the image that sends its argument to $NOTIFY_SOCKET
/// (busybox has no datagram client).
fn build_notifier(rootfs: &Path) {
    build_static(
        rootfs,
        "sd-notify",
        "fn main() {\n    let path = std::env::var(\"NOTIFY_SOCKET\").expect(\"NOTIFY_SOCKET\");\n    \
         let msg = std::env::args().nth(1).unwrap_or_default().replace(';', \"\\n\");\n    \
         let s = std::os::unix::net::UnixDatagram::unbound().unwrap();\n    \
         s.send_to(msg.as_bytes(), path).expect(\"send\");\n}\n",
    );
}

#[test]
fn ready_is_passed_on_with_the_host_pid() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    build_notifier(&b.rootfs());
    b.sh("echo $NOTIFY_SOCKET > /tmp/env; stat -c %a $NOTIFY_SOCKET > /tmp/mode; sd-notify 'STATUS=warming'; \
         sd-notify 'READY=1;STATUS=up;MAINPID=1'; sleep 100");
    b.write();
    let host = TempDir::new("notify-host");
    let sock = host.0.join("notify.sock");
    let listener = UnixDatagram::bind(&sock).unwrap();
    listener.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let id = unique("notify");
    let with_env = |args: &[&str]| capture(berth.cmd().env("NOTIFY_SOCKET", &sock).args(args));
    let out = with_env(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = with_env(&["start", &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut buf = [0u8; 512];
    let n = listener.recv(&mut buf).expect("no READY=1 reached the host socket");
    let pid = berth.state(&id)["pid"].as_i64().unwrap();
    assert_eq!(String::from_utf8_lossy(&buf[..n]), format!("READY=1\nSTATUS=up\nMAINPID={pid}\n"));
    assert_eq!(std::fs::read_to_string(b.rootfs().join("tmp/env")).unwrap(), "/run/notify/notify.sock\n");
    assert_eq!(std::fs::read_to_string(b.rootfs().join("tmp/mode")).unwrap(), "777\n", "any user may report");
    berth.ok(&["delete", "--force", &id]);
    assert_nothing_left(&berth, &id, Some(pid as i32));
}

/// Without NOTIFY_SOCKET nothing changes: no mount, no variable.
#[test]
fn nothing_without_notify_socket() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.sh("echo \"[$NOTIFY_SOCKET]\"; [ -e /run/notify ] && echo mounted; true");
    let id = unique("nonotify");
    b.write();
    let out =
        capture(berth.cmd().env_remove("NOTIFY_SOCKET").args(["run", "--bundle", b.path().to_str().unwrap(), &id]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[]\n", "{}", String::from_utf8_lossy(&out.stderr));
}
