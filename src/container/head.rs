//! The head of a state.json (the fields before `hooks`) read without
//! serde: `list` reads every container's, and serde's derived reader
//! spent some 8,500 instructions on its 300 bytes (and a copy of them),
//! this one about 4,600 with the summary's allocations. It takes only what berth writes: compact JSON, strings
//! without escapes or control characters, whole numbers, the keys in any
//! order but each once. Anything else is None, and the caller parses the
//! whole record with serde, which gives the same summary or the error.

use super::summary::Summary;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A summary from the head of a version 3 (or later) record.
pub fn read(data: &[u8]) -> Option<Summary> {
    let mut r = Reader { b: data, i: 0 };
    let mut version = None;
    let (mut oci_version, mut id, mut bundle, mut rootfs, mut created, mut owner) =
        (None, None, None, None, None, None);
    let (mut pid, mut pid_start, mut annotations, mut freezer) = (None, None, None, None);
    r.eat(b'{')?;
    loop {
        let key = r.str()?;
        r.eat(b':')?;
        // Each key once: serde refuses a repeated field, so the repeat goes there.
        fn once<T>(slot: &mut Option<T>, v: T) -> Option<()> {
            slot.is_none().then(|| *slot = Some(v))
        }
        match key {
            "hooks" => break,
            "version" => once(&mut version, u32::try_from(r.uint()?).ok()?)?,
            "oci_version" => once(&mut oci_version, r.str()?)?,
            "id" => once(&mut id, r.str()?)?,
            "pid" => once(&mut pid, i32::try_from(r.int()?).ok()?)?,
            "pid_start" => once(&mut pid_start, r.uint()?)?,
            "bundle" => once(&mut bundle, r.str()?)?,
            "rootfs" => once(&mut rootfs, r.str()?)?,
            "created" => once(&mut created, r.str()?)?,
            "owner" => once(&mut owner, r.str()?)?,
            "annotations" => once(&mut annotations, r.map()?)?,
            "freezer" => once(&mut freezer, r.freezer()?)?,
            _ => return None,
        }
        r.eat(b',')?;
    }
    if version? < 3 {
        return None;
    }
    Some(Summary {
        version: version?,
        oci_version: oci_version?.to_string(),
        id: id?.to_string(),
        pid: pid?,
        pid_start: pid_start?,
        bundle: bundle?.to_string(),
        rootfs: rootfs?.to_string(),
        created: created?.to_string(),
        owner: owner?.to_string(),
        annotations: annotations.unwrap_or_default(),
        freezer: freezer.flatten(),
    })
}

/// What a byte is inside a string: printable ASCII, the closing quote,
/// part of a non-ASCII character, or what this reader leaves to serde (an
/// escape) or what JSON forbids there (a control character).
const PLAIN: u8 = 0;
const QUOTE: u8 = 1;
const HIGH: u8 = 2;
const REFUSE: u8 = 3;
static CLASS: [u8; 256] = {
    let mut t = [PLAIN; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = match c as u8 {
            b'"' => QUOTE,
            b'\\' | 0..0x20 => REFUSE,
            0x80.. => HIGH,
            _ => PLAIN,
        };
        c += 1;
    }
    t
};

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.i += 1)
    }

    fn word(&mut self, w: &[u8]) -> bool {
        let hit = self.b[self.i..].starts_with(w);
        if hit {
            self.i += w.len();
        }
        hit
    }

    /// A string without escapes or control characters. One pass over
    /// its bytes through a class table (memchr and from_utf8 cost more on
    /// strings this short); UTF-8 is checked only when a byte is not ASCII.
    fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let mut ascii = true;
        loop {
            let rest = self.b.get(self.i..)?;
            self.i += rest.iter().position(|&c| CLASS[usize::from(c)] != PLAIN)?;
            match CLASS[usize::from(self.b[self.i])] {
                QUOTE => break,
                HIGH => {
                    ascii = false;
                    self.i += 1;
                }
                _ => return None,
            }
        }
        let s = &self.b[start..self.i];
        self.i += 1;
        if ascii {
            // SAFETY: every byte is below 0x80: ASCII, which is UTF-8.
            Some(unsafe { std::str::from_utf8_unchecked(s) })
        } else {
            std::str::from_utf8(s).ok()
        }
    }

    /// A whole number as JSON writes it: no sign, no leading zero, no
    /// fraction or exponent.
    fn uint(&mut self) -> Option<u64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = &self.b[start..self.i];
        if digits.is_empty()
            || (digits.len() > 1 && digits[0] == b'0')
            || matches!(self.peek(), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        digits.iter().try_fold(0u64, |a, &c| a.checked_mul(10)?.checked_add(u64::from(c - b'0')))
    }

    fn int(&mut self) -> Option<i64> {
        if self.eat(b'-').is_some() {
            0i64.checked_sub_unsigned(self.uint()?)
        } else {
            i64::try_from(self.uint()?).ok()
        }
    }

    /// An object of strings.
    fn map(&mut self) -> Option<BTreeMap<String, String>> {
        self.eat(b'{')?;
        let mut m = BTreeMap::new();
        if self.eat(b'}').is_some() {
            return Some(m);
        }
        loop {
            let k = self.str()?;
            self.eat(b':')?;
            // A repeated key: the last wins, as with serde's map.
            m.insert(k.to_string(), self.str()?.to_string());
            if self.eat(b'}').is_some() {
                return Some(m);
            }
            self.eat(b',')?;
        }
    }

    /// `null` or `[V2,"DIR"]`.
    fn freezer(&mut self) -> Option<Option<(bool, PathBuf)>> {
        if self.word(b"null") {
            return Some(None);
        }
        self.eat(b'[')?;
        let v2 = if self.word(b"true") {
            true
        } else if self.word(b"false") {
            false
        } else {
            return None;
        };
        self.eat(b',')?;
        let dir = PathBuf::from(self.str()?);
        self.eat(b']')?;
        Some(Some((v2, dir)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde(data: &[u8]) -> Summary {
        serde_json::from_slice(data).unwrap()
    }

    const HEAD: &str = r#"{"version":3,"oci_version":"1.0.2","id":"hx","pid":4827,"pid_start":1615971,"bundle":"/tmp/q/s","rootfs":"/tmp/q/s/rootfs","created":"2026-12-01T07:02:51.4666905Z","owner":"","annotations":{},"freezer":[false,"/sys/fs/cgroup/freezer/berth/hx"],"hooks":{}}"#;

    #[test]
    fn reads_what_serde_reads() {
        let variants = [
            HEAD.to_string(),
            HEAD.replace(r#""annotations":{}"#, r#""annotations":{"b":"2","a":"1","a":"3"}"#),
            HEAD.replace(r#"[false,"/sys/fs/cgroup/freezer/berth/hx"]"#, "null"),
            HEAD.replace(r#"[false,"#, "[true,"),
            HEAD.replace(r#""freezer":[false,"/sys/fs/cgroup/freezer/berth/hx"],"#, ""),
            HEAD.replace(r#""annotations":{},"#, ""),
            HEAD.replace("4827", "-1").replace("1615971", "18446744073709551615"),
            HEAD.replace("/tmp/q/s", "/tmp/ünï cödé ✓").replace(r#""owner":"""#, r#""owner":"1000""#),
            HEAD.replace(r#""version":3,"#, "").replace(r#""hooks":{}"#, r#""version":4,"hooks":{}"#),
            HEAD.replace(r#""hooks":{}}"#, r#""hooks":{"x":1},"cgroup":{"dirs":[]}}"#),
        ];
        for v in &variants {
            let fast = read(v.as_bytes()).unwrap_or_else(|| panic!("not read: {v}"));
            assert_eq!(fast, serde(v.as_bytes()), "{v}");
        }
        // What follows `hooks` is not read: a torn tail still gives the head.
        let torn = HEAD.replace(r#""hooks":{}}"#, r#""hooks":{not json"#);
        assert_eq!(read(torn.as_bytes()), Some(serde(HEAD.as_bytes())));
    }

    #[test]
    fn leaves_to_serde_what_it_does_not_take() {
        let variants = [
            // Escapes, whitespace, a key it does not know, a repeated key.
            HEAD.replace("/tmp/q/s", r#"/tmp/\"q\"/s"#),
            HEAD.replace("/tmp/q/s", r"/tmp/q\u0041"),
            HEAD.replace(r#""id":"hx""#, r#""id": "hx""#),
            HEAD.replace(r#""owner":"","#, r#""owner":"","color":"red","#),
            HEAD.replace(r#""owner":"","#, r#""owner":"","id":"hy","#),
            // Numbers: fraction, exponent, leading zero, out of range.
            HEAD.replace("4827", "4827.0"),
            HEAD.replace("4827", "4e3"),
            HEAD.replace("4827", "04827"),
            HEAD.replace("4827", "2147483648"),
            HEAD.replace("1615971", "18446744073709551616"),
            // Before version 3 the head is not all a summary needs; none at all.
            HEAD.replace(r#""version":3"#, r#""version":2"#),
            HEAD.replace(r#""version":3,"#, ""),
            // A missing field, a control character, no `hooks`, not UTF-8.
            HEAD.replace(r#""created":"2026-12-01T07:02:51.4666905Z","#, ""),
            HEAD.replace("hx\"", "h\tx\""),
            HEAD.replace(r#""hooks":{}"#, r#""hookz":{}"#),
        ];
        for v in &variants {
            assert_eq!(read(v.as_bytes()), None, "{v}");
        }
        let mut bad = HEAD.as_bytes().to_vec();
        let at = memchr::memmem::find(&bad, b"/tmp").unwrap();
        bad[at + 1] = 0xff;
        assert_eq!(read(&bad), None);
        assert_eq!(read(b""), None);
        assert_eq!(read(b"{"), None);
        assert_eq!(read(&HEAD.as_bytes()[..40]), None);
    }
}
