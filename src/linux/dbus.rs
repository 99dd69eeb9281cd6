//! A small D-Bus client: EXTERNAL authentication over a unix socket and the
//! marshalling of the types berth sends and reads (the systemd cgroup driver
//! needs no more). Little-endian, no descriptors, one call at a time.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A D-Bus value with its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Str(String),
    Path(String),
    Sig(String),
    /// Element signature and elements (the signature matters when empty).
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(elem, _) => format!("a{elem}"),
            Value::Struct(fields) => format!("({})", fields.iter().map(Value::signature).collect::<String>()),
            Value::Variant(_) => "v".into(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Sig(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::U32(v) => Some(*v),
            _ => None,
        }
    }
}

/// The alignment of the type a signature starts with.
fn align_of(sig: u8) -> usize {
    match sig {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' | b'h' => 4,
        _ => 8, // x t d ( {
    }
}

/// Writes values with D-Bus alignment, counted from the start of the
/// message (`base` bytes precede this buffer, a multiple of 8).
#[derive(Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    fn pad(&mut self, to: usize) {
        while !self.buf.len().is_multiple_of(to) {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn sig(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::I32(i) => self.u32(*i as u32),
            Value::U32(u) => self.u32(*u),
            Value::I64(i) => {
                self.pad(8);
                self.buf.extend_from_slice(&i.to_le_bytes());
            }
            Value::U64(u) => {
                self.pad(8);
                self.buf.extend_from_slice(&u.to_le_bytes());
            }
            Value::Str(s) | Value::Path(s) => self.string(s),
            Value::Sig(s) => self.sig(s),
            Value::Array(elem, items) => {
                self.pad(4);
                let len_at = self.buf.len();
                self.buf.extend_from_slice(&[0; 4]);
                // The padding before the first element is not counted, and
                // is there even when the array is empty.
                self.pad(align_of(elem.as_bytes().first().copied().unwrap_or(b'y')));
                let start = self.buf.len();
                for i in items {
                    self.value(i);
                }
                let len = (self.buf.len() - start) as u32;
                self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(fields) => {
                self.pad(8);
                for f in fields {
                    self.value(f);
                }
            }
            Value::Variant(inner) => {
                self.sig(&inner.signature());
                self.value(inner);
            }
        }
    }
}

/// Reads values of a given signature from a message body or header.
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8], pos: usize) -> Decoder<'a> {
        Decoder { buf, pos }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).context("D-Bus message cut short")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn align(&mut self, to: usize) -> Result<()> {
        let pad = (to - self.pos % to) % to;
        self.take(pad).map(drop)
    }

    fn u32(&mut self) -> Result<u32> {
        self.align(4)?;
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        self.align(8)?;
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn text(&mut self, len: usize) -> Result<String> {
        let b = self.take(len + 1)?;
        String::from_utf8(b[..len].to_vec()).context("D-Bus string is not UTF-8")
    }

    /// Reads every value of `sig` (a sequence of complete types).
    pub fn values(&mut self, sig: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut rest = sig.as_bytes();
        while !rest.is_empty() {
            let n = complete_type_len(rest)?;
            out.push(self.value(&rest[..n])?);
            rest = &rest[n..];
        }
        Ok(out)
    }

    fn value(&mut self, sig: &[u8]) -> Result<Value> {
        Ok(match sig[0] {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'i' => Value::I32(self.u32()? as i32),
            b'u' => Value::U32(self.u32()?),
            b'x' => Value::I64(self.u64()? as i64),
            b't' => Value::U64(self.u64()?),
            b's' | b'o' => {
                let len = self.u32()? as usize;
                let t = self.text(len)?;
                if sig[0] == b's' {
                    Value::Str(t)
                } else {
                    Value::Path(t)
                }
            }
            b'g' => {
                let len = usize::from(self.take(1)?[0]);
                Value::Sig(self.text(len)?)
            }
            b'a' => {
                let len = self.u32()? as usize;
                let elem = &sig[1..];
                self.align(align_of(elem[0]))?;
                let end = self.pos.checked_add(len).filter(|e| *e <= self.buf.len()).context("D-Bus array too long")?;
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.value(elem)?);
                }
                Value::Array(String::from_utf8_lossy(elem).into_owned(), items)
            }
            b'(' | b'{' => {
                self.align(8)?;
                let inner = &sig[1..sig.len() - 1];
                let inner = std::str::from_utf8(inner).context("D-Bus signature")?;
                Value::Struct(self.values(inner)?)
            }
            b'v' => {
                let len = usize::from(self.take(1)?[0]);
                let s = self.text(len)?;
                let mut v = self.values(&s)?;
                if v.len() != 1 {
                    bail!("D-Bus variant holds {} values", v.len());
                }
                Value::Variant(Box::new(v.remove(0)))
            }
            c => bail!("D-Bus type {:?} is not supported", c as char),
        })
    }
}

/// The length of the first complete type in `sig`.
fn complete_type_len(sig: &[u8]) -> Result<usize> {
    match sig.first() {
        None => bail!("empty D-Bus signature"),
        Some(b'a') => Ok(1 + complete_type_len(&sig[1..])?),
        Some(open @ (b'(' | b'{')) => {
            let close = if *open == b'(' { b')' } else { b'}' };
            let mut depth = 0;
            for (i, c) in sig.iter().enumerate() {
                if *c == *open {
                    depth += 1;
                } else if *c == close {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(i + 1);
                    }
                }
            }
            bail!("unbalanced D-Bus signature {:?}", String::from_utf8_lossy(sig))
        }
        Some(_) => Ok(1),
    }
}

const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;

/// A message read from the bus.
#[derive(Debug, Clone)]
pub struct Message {
    pub kind: u8,
    pub serial: u32,
    pub reply_to: Option<u32>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error: Option<String>,
    pub body: Vec<Value>,
}

/// One method call, encoded.
pub fn method_call(serial: u32, dest: Option<&str>, path: &str, iface: &str, member: &str, args: &[Value]) -> Vec<u8> {
    let mut body = Encoder::default();
    for a in args {
        body.value(a);
    }
    let sig: String = args.iter().map(Value::signature).collect();
    let field = |code: u8, v: Value| Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(v))]);
    let mut fields = vec![
        field(1, Value::Path(path.into())),
        field(2, Value::Str(iface.into())),
        field(3, Value::Str(member.into())),
    ];
    if let Some(d) = dest {
        fields.push(field(6, Value::Str(d.into())));
    }
    if !sig.is_empty() {
        fields.push(field(8, Value::Sig(sig)));
    }
    let mut m = Encoder::default();
    m.buf.extend_from_slice(&[b'l', METHOD_CALL, 0, 1]);
    m.u32(body.buf.len() as u32);
    m.u32(serial);
    m.value(&Value::Array("(yv)".into(), fields));
    m.pad(8);
    m.buf.extend_from_slice(&body.buf);
    m.buf
}

/// Decodes one whole message (`buf` holds exactly it).
pub fn parse(buf: &[u8]) -> Result<Message> {
    if buf.len() < 16 || buf[0] != b'l' {
        bail!("D-Bus: not a little-endian message");
    }
    let mut d = Decoder::new(buf, 4);
    let body_len = d.u32()? as usize;
    let serial = d.u32()?;
    let Value::Array(_, fields) = d.value(b"a(yv)")? else { bail!("D-Bus: bad header") };
    let mut m =
        Message { kind: buf[1], serial, reply_to: None, interface: None, member: None, error: None, body: Vec::new() };
    let mut sig = String::new();
    for f in fields {
        let Value::Struct(f) = f else { continue };
        let (Some(Value::Byte(code)), Some(Value::Variant(v))) = (f.first(), f.get(1)) else { continue };
        match code {
            2 => m.interface = v.as_str().map(String::from),
            3 => m.member = v.as_str().map(String::from),
            4 => m.error = v.as_str().map(String::from),
            5 => m.reply_to = v.as_u32(),
            8 => sig = v.as_str().unwrap_or("").to_string(),
            _ => {}
        }
    }
    d.align(8)?;
    let body_start = d.pos;
    if buf.len() != body_start + body_len {
        bail!("D-Bus: message length does not match its header");
    }
    m.body = d.values(&sig)?;
    Ok(m)
}

/// The total length of the message whose first 16 bytes are `head`.
fn message_len(head: &[u8; 16]) -> Result<usize> {
    let body = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let fields = u32::from_le_bytes([head[12], head[13], head[14], head[15]]) as usize;
    let header = (16 + fields).div_ceil(8) * 8;
    let total = header + body;
    // The specification's limit on a message.
    if total > 128 << 20 {
        bail!("D-Bus message of {total} bytes is too large");
    }
    Ok(total)
}

/// How long a reply may take: a busy systemd on a loaded machine is slow,
/// but a hung one must not hang berth.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection, authenticated, to a bus or to a peer (systemd's private
/// socket speaks D-Bus without a bus daemon).
pub struct Conn {
    sock: UnixStream,
    serial: u32,
    /// Messages that came while waiting for a reply.
    pub pending: Vec<Message>,
}

impl Conn {
    /// Connects to `path` and authenticates as our uid. `bus`: a message bus
    /// that wants Hello first (not systemd's private socket).
    pub fn connect(path: &Path, bus: bool) -> Result<Conn> {
        let mut sock = UnixStream::connect(path).with_context(|| format!("connecting to {}", path.display()))?;
        sock.set_read_timeout(Some(CALL_TIMEOUT))?;
        let uid = nix::unistd::geteuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        // BEGIN goes with AUTH, before the server's OK, as sd-bus's own
        // clients send it. Sent after OK, BEGIN and the first message can
        // reach the server in one read, and systemd 252's sd-bus then leaves
        // that message unread until more bytes come: berth waited a minute
        // for the reply to Subscribe (containerd's and Docker's tests saw it
        // on a loaded VM).
        sock.write_all(format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").as_bytes())?;
        let line = read_line(&mut sock)?;
        if !line.starts_with("OK ") {
            bail!("D-Bus authentication at {} refused: {line}", path.display());
        }
        let mut c = Conn { sock, serial: 0, pending: Vec::new() };
        if bus {
            c.call(Some("org.freedesktop.DBus"), "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", &[])?;
        }
        Ok(c)
    }

    fn read_message(&mut self, deadline: Instant) -> Result<Message> {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        self.sock.set_read_timeout(Some(left))?;
        let mut head = [0u8; 16];
        self.sock.read_exact(&mut head).context("reading from D-Bus")?;
        let mut buf = head.to_vec();
        buf.resize(message_len(&head)?, 0);
        self.sock.read_exact(&mut buf[16..]).context("reading from D-Bus")?;
        parse(&buf)
    }

    /// Calls a method and returns the reply's body; an error reply is an
    /// error naming the D-Bus error.
    pub fn call(
        &mut self,
        dest: Option<&str>,
        path: &str,
        iface: &str,
        member: &str,
        args: &[Value],
    ) -> Result<Vec<Value>> {
        self.serial += 1;
        let serial = self.serial;
        self.sock.write_all(&method_call(serial, dest, path, iface, member, args))?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let m = self.read_message(deadline).with_context(|| format!("waiting for the reply to {member}"))?;
            if m.reply_to != Some(serial) {
                if m.kind == SIGNAL {
                    self.pending.push(m);
                }
                continue;
            }
            match m.kind {
                METHOD_RETURN => return Ok(m.body),
                ERROR => {
                    let name = m.error.unwrap_or_default();
                    let text = m.body.first().and_then(Value::as_str).unwrap_or("").to_string();
                    bail!(CallError { name, text });
                }
                _ => continue,
            }
        }
    }

    /// Waits for a signal that `want` accepts (signals seen earlier first).
    pub fn wait_signal(&mut self, deadline: Instant, mut want: impl FnMut(&Message) -> bool) -> Result<Message> {
        if let Some(i) = self.pending.iter().position(&mut want) {
            return Ok(self.pending.remove(i));
        }
        loop {
            let m = self.read_message(deadline)?;
            if m.kind == SIGNAL && want(&m) {
                return Ok(m);
            }
        }
    }
}

/// An error reply: its D-Bus name and text.
#[derive(Debug)]
pub struct CallError {
    pub name: String,
    pub text: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.text)
    }
}

impl std::error::Error for CallError {}

fn read_line(sock: &mut UnixStream) -> Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if sock.read(&mut b)? == 0 || line.len() > 512 {
            bail!("D-Bus: connection closed during authentication");
        }
        line.push(b[0]);
    }
    Ok(String::from_utf8_lossy(&line[..line.len() - 2]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_round_trips_with_alignment() {
        let props = Value::Array(
            "(sv)".into(),
            vec![
                Value::Struct(vec![Value::Str("Delegate".into()), Value::Variant(Box::new(Value::Bool(true)))]),
                Value::Struct(vec![Value::Str("MemoryMax".into()), Value::Variant(Box::new(Value::U64(1 << 30)))]),
                Value::Struct(vec![
                    Value::Str("PIDs".into()),
                    Value::Variant(Box::new(Value::Array("u".into(), vec![Value::U32(42)]))),
                ]),
            ],
        );
        let aux = Value::Array("(sa(sv))".into(), vec![]);
        let args = [Value::Str("berth-x.scope".into()), Value::Str("replace".into()), props, aux];
        let msg = method_call(
            7,
            None,
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StartTransientUnit",
            &args,
        );
        let head: [u8; 16] = msg[..16].try_into().unwrap();
        assert_eq!(message_len(&head).unwrap(), msg.len());
        let m = parse(&msg).unwrap();
        assert_eq!(m.kind, METHOD_CALL);
        assert_eq!(m.serial, 7);
        assert_eq!(m.member.as_deref(), Some("StartTransientUnit"));
        assert_eq!(m.body, args);
    }

    #[test]
    fn known_bytes_of_a_simple_call() {
        // Hello with no arguments: header fields path, interface, member, destination.
        let msg =
            method_call(1, Some("org.freedesktop.DBus"), "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", &[]);
        assert_eq!(&msg[..4], b"l\x01\x00\x01");
        assert_eq!(&msg[4..8], &0u32.to_le_bytes(), "no body");
        assert_eq!(&msg[8..12], &1u32.to_le_bytes());
        // First field: code 1, signature "o", the path's length.
        assert_eq!(&msg[16..20], b"\x01\x01o\x00");
        assert_eq!(&msg[20..24], &21u32.to_le_bytes());
        assert_eq!(msg.len() % 8, 0);
    }

    /// A server that answers OK only once BEGIN is in: a client that waits
    /// for OK before sending BEGIN gets no OK (and would, against systemd,
    /// risk its first message sharing a read with BEGIN).
    #[test]
    fn begin_is_sent_before_the_server_says_ok() {
        use std::os::unix::net::UnixListener;
        let dir = std::env::temp_dir().join(format!("berth-dbus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bus");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while !got.windows(7).any(|w| w == b"BEGIN\r\n") && Instant::now() < deadline {
                if let Ok(n) = s.read(&mut buf) {
                    got.extend_from_slice(&buf[..n]);
                }
            }
            let before_ok = String::from_utf8_lossy(&got).into_owned();
            if !before_ok.contains("BEGIN\r\n") {
                return before_ok; // no OK: the client's connect fails
            }
            s.write_all(b"OK 0123456789abcdef0123456789abcdef\r\n").unwrap();
            // The call that follows, answered with an empty METHOD_RETURN.
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut head = [0u8; 16];
            s.read_exact(&mut head).unwrap();
            let mut msg = head.to_vec();
            msg.resize(message_len(&head).unwrap(), 0);
            s.read_exact(&mut msg[16..]).unwrap();
            let call = parse(&msg).unwrap();
            let mut reply = b"l\x02\x00\x01".to_vec();
            reply.extend_from_slice(&0u32.to_le_bytes()); // body length
            reply.extend_from_slice(&1u32.to_le_bytes()); // serial
            reply.extend_from_slice(&8u32.to_le_bytes()); // fields' length
            reply.extend_from_slice(b"\x05\x01u\x00"); // REPLY_SERIAL, "u"
            reply.extend_from_slice(&call.serial.to_le_bytes());
            s.write_all(&reply).unwrap();
            before_ok
        });
        let conn = Conn::connect(&path, false);
        let called = conn.and_then(|mut c| c.call(None, "/a", "b.c", "Subscribe", &[]));
        let before_ok = server.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(before_ok.starts_with("\0AUTH EXTERNAL "), "{before_ok:?}");
        assert!(before_ok.ends_with("\r\nBEGIN\r\n"), "BEGIN did not come before OK: {before_ok:?}");
        assert_eq!(called.unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn decoding_refuses_what_is_cut_or_lies() {
        let msg = method_call(1, None, "/a", "b.c", "D", &[Value::Str("x".into())]);
        assert!(parse(&msg[..msg.len() - 1]).is_err());
        let mut bad = msg.clone();
        bad[4] = 200; // body length that does not match
        assert!(parse(&bad).is_err());
        let mut huge = [0u8; 16];
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(message_len(&huge).is_err());
        assert!(Decoder::new(&[0xff, 0xff, 0xff, 0x7f], 0).values("s").is_err());
    }
}
