//! Text that runc's decoder (Go's encoding/json) reads and serde_json
//! refuses, made into text both read alike. Go reads a byte that starts no
//! UTF-8 character as U+FFFD, one byte at a time, and a `\u` escape of a
//! lone UTF-16 surrogate as U+FFFD too; serde_json refuses both. Lines stay
//! where they were, so a later error's line is the file's.

/// One place where the text was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mend {
    /// Line and column (in bytes) of the original, from 1.
    pub line: usize,
    pub column: usize,
    pub what: &'static str,
}

pub const NOT_UTF8: &str = "a byte that is not UTF-8";
pub const LONE_SURROGATE: &str = "an escape of a lone UTF-16 surrogate";

/// `data` as text: each byte that starts no UTF-8 character becomes
/// U+FFFD, and each `\uXXXX` of a lone surrogate, inside a string,
/// becomes `\ufffd`. What was changed, and where, in the list.
pub fn text(data: &[u8]) -> (String, Vec<Mend>) {
    let mut out = String::with_capacity(data.len() + 16);
    let mut mends = Vec::new();
    let (mut line, mut line_start) = (1, 0);
    let mut in_string = false;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        let here = |what| Mend { line, column: i - line_start + 1, what };
        match b {
            b'\n' => {
                line += 1;
                line_start = i + 1;
                out.push('\n');
                i += 1;
            }
            b'"' => {
                in_string = !in_string;
                out.push('"');
                i += 1;
            }
            b'\\' if in_string => {
                let (kept, len) = escape(data, i);
                if kept {
                    // An escape is ASCII, checked by `escape`.
                    data[i..i + len].iter().for_each(|&c| out.push(c as char));
                } else {
                    out.push_str("\\ufffd");
                    mends.push(here(LONE_SURROGATE));
                }
                i += len;
            }
            0..=0x7f => {
                out.push(b as char);
                i += 1;
            }
            _ => match char_at(data, i) {
                Some((c, width)) => {
                    out.push(c);
                    i += width;
                }
                None => {
                    out.push('\u{fffd}');
                    mends.push(here(NOT_UTF8));
                    i += 1;
                }
            },
        }
    }
    (out, mends)
}

/// The escape at `data[at]` (a backslash in a string): whether it is kept
/// as it is, and how many bytes it takes. Not kept: a `\u` of a surrogate
/// that is not the first of a high-low pair (Go's reading: U+FFFD, and the
/// escape after it read on its own).
fn escape(data: &[u8], at: usize) -> (bool, usize) {
    match data.get(at + 1) {
        Some(b'u') => match hex4(data, at + 2) {
            Some(0xd800..=0xdbff) => {
                let pair =
                    data.get(at + 6..at + 8) == Some(b"\\u") && matches!(hex4(data, at + 8), Some(0xdc00..=0xdfff));
                if pair {
                    (true, 12)
                } else {
                    (false, 6)
                }
            }
            Some(0xdc00..=0xdfff) => (false, 6),
            Some(_) => (true, 6),
            // Not an escape: the parser says so. Only the backslash here.
            None => (true, 1),
        },
        // `\"`, `\\` and the other one-letter escapes (a bad one is the
        // parser's to refuse); a line break or non-ASCII byte is left to
        // the loop.
        Some(c) if c.is_ascii() && *c != b'\n' => (true, 2),
        _ => (true, 1),
    }
}

/// The four hex digits at `data[at..]`, as a number.
fn hex4(data: &[u8], at: usize) -> Option<u32> {
    let digits = data.get(at..at + 4)?;
    digits.iter().try_fold(0, |n, &d| Some(n * 16 + (d as char).to_digit(16)?))
}

/// The character starting at `data[at]` (a byte past ASCII) and its width,
/// when the bytes there are one UTF-8 character.
fn char_at(data: &[u8], at: usize) -> Option<(char, usize)> {
    let width = match data[at] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let c = std::str::from_utf8(data.get(at..at + width)?).ok()?.chars().next()?;
    Some((c, width))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mended(data: &[u8]) -> String {
        text(data).0
    }

    #[test]
    fn valid_text_is_kept_as_it_is() {
        let data = "{\"a\": \"caf\u{e9} \\\" \\\\ \\n \\u00e9 \\ud83d\\ude00 \u{1f600}\"}";
        let (out, mends) = text(data.as_bytes());
        assert_eq!(out, data);
        assert!(mends.is_empty());
    }

    #[test]
    fn each_bad_byte_is_one_replacement_as_go_reads_it() {
        // A lone continuation byte; a truncated sequence before ASCII (Go:
        // one U+FFFD per byte); an overlong form; an encoded surrogate; a
        // sequence cut by the end.
        let cases: [(&[u8], &str); 5] = [
            (b"\"\x80\"", "\"\u{fffd}\""),
            (b"\"\xe2\x82A\"", "\"\u{fffd}\u{fffd}A\""),
            (b"\"\xc0\xaf\"", "\"\u{fffd}\u{fffd}\""),
            (b"\"\xed\xa0\x80\"", "\"\u{fffd}\u{fffd}\u{fffd}\""),
            (b"\"\xf0\x9f", "\"\u{fffd}\u{fffd}"),
        ];
        for (data, want) in cases {
            assert_eq!(mended(data), want, "{data:?}");
        }
    }

    #[test]
    fn lone_surrogate_escapes_are_replaced_and_pairs_kept() {
        assert_eq!(mended(br#""\ud800x""#), r#""\ufffdx""#);
        assert_eq!(mended(br#""\udc00""#), r#""\ufffd""#);
        // A high one before an escape that is no low one: only it goes.
        assert_eq!(mended(br#""\ud800\u0041""#), r#""\ufffd\u0041""#);
        assert_eq!(mended(br#""\ud800\ud800\udc00""#), r#""\ufffd\ud800\udc00""#);
        assert_eq!(mended(br#""\ud83d\ude00""#), r#""\ud83d\ude00""#);
        // An escaped backslash before "ud800" is text, not an escape.
        assert_eq!(mended(br#""\\ud800""#), r#""\\ud800""#);
        // Outside a string nothing is an escape.
        assert_eq!(mended(br#"\ud800"#), r#"\ud800"#);
        // An escaped quote does not end the string.
        assert_eq!(mended(br#""\"\ud800""#), r#""\"\ufffd""#);
    }

    #[test]
    fn places_are_the_originals() {
        let (_, mends) = text(b"{\n  \"a\": \"\xff\",\n  \"b\": \"\\udfff\"\n}");
        assert_eq!(
            mends,
            [Mend { line: 2, column: 9, what: NOT_UTF8 }, Mend { line: 3, column: 9, what: LONE_SURROGATE }]
        );
    }

    #[test]
    fn result_is_what_serde_json_reads_as_go_would() {
        let (out, _) = text(b"[\"a\xffb\", \"\\ud800\"]");
        let v: Vec<String> = serde_json::from_str(&out).unwrap();
        assert_eq!(v, ["a\u{fffd}b", "\u{fffd}"]);
    }
}
