//! process.terminal with --console-socket: the caller gets a working pty.

use berth_integration::*;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;

#[test]
fn console_socket_receives_a_working_pty() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    b.sh("read line; echo \"got:$line\"; tty; stty size; test -c /dev/console && echo console-ok");
    b.write();
    let dir = TempDir::new("berth-console");
    let sock = dir.0.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = unique("tty");
    let out =
        berth.run(&["create", "--console-socket", sock.to_str().unwrap(), "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (conn, _) = listener.accept().unwrap();
    let master = std::fs::File::from(recv_fd(&conn));
    berth.ok(&["start", &id]);
    (&master).write_all(b"hello\n").unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("console-ok") {
        match (&master).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(text.contains("got:hello"), "{text}");
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("33 101"), "{text}");
    assert!(text.contains("console-ok"), "{text}");
    berth.wait_status(&id, "stopped");
    berth.ok(&["delete", &id]);
}

#[test]
fn terminal_without_console_socket_is_refused_for_create() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    let id = unique("notty");
    let out = berth.create(&b, &id);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("console-socket"));
    assert_nothing_left(&berth, &id, None);
}

#[test]
fn run_in_the_foreground_relays_the_terminal() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.sh("tty; echo on-the-pty");
    let id = unique("fgtty");
    let (code, out, err) = berth.run_bundle(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/dev/pts/0") && out.contains("on-the-pty"), "{out}");
    assert_nothing_left(&berth, &id, None);
}
