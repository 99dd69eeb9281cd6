//! JSON parsed from bytes (a file, a message): the bytes are checked to be
//! UTF-8 once, in one pass over all of them, and then parsed as text.
//! serde_json's own byte parser checks every string on its own as it
//! meets it; for exec's state.json and config.json that was some 16,000
//! instructions, where one pass over the 5 KB costs about 2,000. What is
//! accepted is the same: a byte outside a string that is not ASCII is not
//! JSON either way.
//!
//! What a user wrote (config.json, `exec --process`, `update --resources`)
//! is read with `from_input`: where serde_json refuses what runc reads (a
//! `null` for a list, a key named twice, a byte that is not UTF-8), it is
//! read again as runc's decoder reads it (`mend`, `tree`, `go`), and what
//! was read so is said.

pub mod go;
pub mod mend;
pub mod tree;

use serde::de::Error as _;

/// `data` as a `T`. Bytes that are not UTF-8 are an error that says where,
/// in serde_json's words for a place (line and column, from 1).
pub fn from_bytes<'a, T: serde::Deserialize<'a>>(data: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(data) {
        Ok(text) => serde_json::from_str(text),
        Err(e) => Err(serde_json::Error::custom(not_utf8(data, e.valid_up_to()))),
    }
}

/// What a user wrote, read as runc reads it: as `from_bytes` reads it when
/// it can (the same cost), else as Go's encoding/json would (see `go`).
/// With the value, a note for each place read so that is no plain JSON
/// (a byte that is not UTF-8, a lone surrogate, a key named twice); a
/// `null` is plain JSON and needs none. When neither reads it, the error
/// is the second reading's: Go's view of what is wrong, by path.
pub fn from_input<T: serde::de::DeserializeOwned>(data: &[u8]) -> anyhow::Result<(T, Vec<String>)> {
    if let Ok(v) = from_bytes(data) {
        return Ok((v, Vec::new()));
    }
    let (text, mends) = mend::text(data);
    // What is no JSON at all is refused here, at its line (`mend` keeps
    // lines where they were).
    let root: tree::Node = serde_json::from_str(&text)?;
    let value = go::decode(&root)?;
    let mut notes: Vec<String> =
        mends.iter().map(|m| format!("line {} column {}: {}, read as U+FFFD", m.line, m.column, m.what)).collect();
    for (path, times) in tree::repeated_keys(&root) {
        notes.push(format!("{path} is given {times} times: the later ones are read over the first"));
    }
    const SAID: usize = 5;
    if notes.len() > SAID {
        let more = notes.len() - SAID;
        notes.truncate(SAID);
        notes.push(format!("and {more} more such places"));
    }
    notes.iter_mut().for_each(|n| n.push_str(" (as runc reads it)"));
    Ok((value, notes))
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

    #[test]
    fn input_is_read_as_runc_reads_it_with_a_note_for_each_place() {
        let (v, notes): (BTreeMap<String, String>, _) = from_input(b"{\"a\": \"x\"}").unwrap();
        assert_eq!((v["a"].as_str(), notes.len()), ("x", 0));
        let data = b"{\n\"a\": \"\xff\", \"b\": null,\n\"a\": \"\\udc00y\"}";
        let (v, notes): (BTreeMap<String, String>, _) = from_input(data).unwrap();
        assert_eq!((v["a"].as_str(), v["b"].as_str()), ("\u{fffd}y", ""));
        assert_eq!(
            notes,
            [
                "line 2 column 7: a byte that is not UTF-8, read as U+FFFD (as runc reads it)",
                "line 3 column 7: an escape of a lone UTF-16 surrogate, read as U+FFFD (as runc reads it)",
                "a is given 2 times: the later ones are read over the first (as runc reads it)",
            ]
        );
        // A hostile input gets a few notes, not one per place.
        let many = format!("[{}]", vec!["\"\\ud800\""; 1000].join(","));
        let (_, notes): (Vec<String>, _) = from_input(many.as_bytes()).unwrap();
        assert_eq!(notes.len(), 6);
        assert_eq!(notes[5], "and 995 more such places (as runc reads it)");
        // What is no JSON still is not, said at its line.
        let e = from_input::<Vec<String>>(b"[\n\"\xff\",\n]").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = from_input::<BTreeMap<String, u32>>(b"{\"k\": null, \"n\": \"1\"}").unwrap_err();
        assert_eq!(e.to_string(), r#"n: invalid type: string "1", expected u32"#);
    }
}
