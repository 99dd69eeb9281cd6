//! process.terminal with --console-socket: the caller gets a working pty.

use berth_integration::*;
use serde_json::json;
use std::io::Write;

#[test]
fn console_socket_receives_a_working_pty() {
    let berth = Berth::new();
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    b.sh("read line; echo \"got:$line\"; tty; stty size; test -c /dev/console && echo console-ok");
    let id = unique("tty");
    let (out, master) = create_with_console(&berth, &b, &id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let master = master.unwrap();
    berth.ok(&["start", &id]);
    (&master).write_all(b"hello\n").unwrap();
    let text = read_until(&master, "console-ok");
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
