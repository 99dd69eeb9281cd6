//! JSON parsed from bytes (a file, a message): the bytes are checked to be
//! UTF-8 once, in one pass over all of them, and then parsed as text.
//! serde_json's own byte parser checks every string on its own as it
//! meets it; for exec's state.json and config.json that was some 16,000
//! instructions, where one pass over the 5 KB costs about 2,000. What is
//! accepted is the same: a byte outside a string that is not ASCII is not
//! JSON either way.

use serde::de::Error as _;

/// `data` as a `T`. Bytes that are not UTF-8 are an error that says where,
/// in serde_json's words for a place (line and column, from 1).
pub fn from_bytes<'a, T: serde::Deserialize<'a>>(data: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(data) {
        Ok(text) => serde_json::from_str(text),
        Err(e) => Err(serde_json::Error::custom(not_utf8(data, e.valid_up_to()))),
    }
}

/// The message for a byte at `at` that starts no UTF-8 character.
fn not_utf8(data: &[u8], at: usize) -> String {
    let before = &data[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = at - before.iter().rposition(|&b| b == b'\n').map_or(0, |nl| nl + 1) + 1;
    format!("invalid UTF-8 at line {line} column {column}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn text_parses_as_serde_json_parses_it() {
        let data = b"{\"a\": \"x\\u00e9y\", \"b\": \"caf\xc3\xa9\", \"c\": \"\\ud83d\\ude00\"}";
        let ours: BTreeMap<String, String> = from_bytes(data).unwrap();
        let theirs: BTreeMap<String, String> = serde_json::from_slice(data).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours["b"], "café");
    }

    #[test]
    fn borrowed_strings_borrow_from_the_bytes() {
        let data = br#"["plain"]"#;
        let v: Vec<&str> = from_bytes(data).unwrap();
        assert_eq!(v, ["plain"]);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_their_place() {
        let data = b"{\n  \"a\": \"ok\",\n  \"b\": \"x\xffy\"\n}";
        let err = from_bytes::<BTreeMap<String, String>>(data).unwrap_err();
        assert_eq!(err.to_string(), "invalid UTF-8 at line 3 column 10");
        assert!(serde_json::from_slice::<BTreeMap<String, String>>(data).is_err());
        // A lone continuation byte, a truncated sequence, an overlong form.
        for bad in [&b"\"\x80\""[..], b"\"\xc3\"", b"\"\xc0\xaf\""] {
            assert!(from_bytes::<String>(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_slice::<String>(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn what_is_not_json_is_still_refused() {
        assert!(from_bytes::<String>(b"").is_err());
        assert!(from_bytes::<String>(b"\"open").is_err());
        assert!(from_bytes::<Vec<u8>>(b"[1, 2,]").is_err());
        assert!(from_bytes::<String>("\"ok\" é".as_bytes()).is_err());
    }
}
