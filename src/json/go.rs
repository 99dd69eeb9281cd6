//! Decodes a `Node` tree into berth's types the way runc's decoder (Go's
//! encoding/json) decodes the same text into runc's, where serde_json
//! would refuse it:
//! - `null` leaves a value as it was: a field's zero value (false, 0, "",
//!   empty), or, for an optional one, absent;
//! - a key named twice in an object: the later value is decoded over the
//!   earlier one, so objects (a struct, an Option of one) merge, member by
//!   member, and everything else is replaced; a `null` between them resets
//!   an optional value, a list or a map (Go's nil), and leaves any other
//!   as it was; a map's entry is replaced whole;
//! - an array element `null` is the element type's zero value.
//!
//! Keys still match exactly (Go's decoder also matches them ignoring case,
//! but the runtime spec names each property, and says an unknown one is
//! ignored). An error says where, by path: `process.user.uid: …`.

use super::tree::{Members, Node};
use serde::de::value::{MapDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;

/// A decoding error and the path to the value it is about.
#[derive(Debug)]
pub struct Error {
    /// Innermost first: each level adds its key on the way out.
    path: Vec<String>,
    msg: String,
}

impl Error {
    fn within(mut self, step: String) -> Error {
        self.path.push(step);
        self
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error { path: Vec::new(), msg: msg.to_string() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut path = String::new();
        for step in self.path.iter().rev() {
            if !path.is_empty() && !step.starts_with('[') {
                path.push('.');
            }
            path.push_str(step);
        }
        match path.is_empty() {
            true => f.write_str(&self.msg),
            false => write!(f, "{path}: {}", self.msg),
        }
    }
}

impl std::error::Error for Error {}

/// `root` as a `T`, decoded as Go decodes it.
pub fn decode<T: de::DeserializeOwned>(root: &Node) -> Result<T, Error> {
    T::deserialize(Val { nodes: vec![root] })
}

/// The name under which serde_json asks a deserializer for a `RawValue`
/// (a newtype of that name, answered with a map of one entry: this key,
/// and the text). A unit test keeps it true.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// The values written for one place, in order: one, or more where a key
/// was named more than once.
struct Val<'t> {
    nodes: Vec<&'t Node>,
}

impl<'t> Val<'t> {
    /// The last value that is not `null` (a `null` leaves a plain value as
    /// it was).
    fn last_set(&self) -> Option<&'t Node> {
        self.nodes.iter().rev().find(|n| !matches!(n, Node::Null)).copied()
    }

    /// The values after the last `null` (which resets an optional value,
    /// a list or a map).
    fn since_null(&self) -> &[&'t Node] {
        let from = self.nodes.iter().rposition(|n| matches!(n, Node::Null)).map_or(0, |i| i + 1);
        &self.nodes[from..]
    }

    /// The first value that is no object, among `nodes`.
    fn not_object(nodes: &[&'t Node]) -> Option<&'t Node> {
        nodes.iter().find(|n| !matches!(n, Node::Obj(_))).copied()
    }
}

/// One value as serde's data model has it: what a visitor that wants
/// another kind refuses with its own words.
fn single<'de, V: Visitor<'de>>(n: &Node, v: V) -> Result<V::Value, Error> {
    match n {
        Node::Null => v.visit_unit(),
        Node::Bool(b) => v.visit_bool(*b),
        Node::Num(x) => match (x.as_u64(), x.as_i64(), x.as_f64()) {
            (Some(u), _, _) => v.visit_u64(u),
            (_, Some(i), _) => v.visit_i64(i),
            (_, _, Some(f)) => v.visit_f64(f),
            _ => Err(de::Error::custom(format!("a number out of range: {x}"))),
        },
        Node::Str(s) => v.visit_str(s),
        Node::Arr(items) => v.visit_seq(Elems { items: items.iter().enumerate() }),
        Node::Obj(_) => v.visit_map(Fields::merged(&[n])),
    }
}

fn unexpected(n: &Node) -> de::Unexpected<'_> {
    match n {
        Node::Null => de::Unexpected::Unit,
        Node::Bool(b) => de::Unexpected::Bool(*b),
        Node::Num(_) => de::Unexpected::Other("number"),
        Node::Str(s) => de::Unexpected::Str(s),
        Node::Arr(_) => de::Unexpected::Seq,
        Node::Obj(_) => de::Unexpected::Map,
    }
}

/// A plain value: the last one set, or the zero value.
macro_rules! plain {
    ($($method:ident => $zero:expr),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
            match self.last_set() {
                Some(n) => single(n, v),
                None => $zero(v),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Val<'_> {
    type Error = Error;

    plain! {
        deserialize_bool => |v: V| v.visit_bool(false),
        deserialize_i8 => |v: V| v.visit_i64(0),
        deserialize_i16 => |v: V| v.visit_i64(0),
        deserialize_i32 => |v: V| v.visit_i64(0),
        deserialize_i64 => |v: V| v.visit_i64(0),
        deserialize_u8 => |v: V| v.visit_u64(0),
        deserialize_u16 => |v: V| v.visit_u64(0),
        deserialize_u32 => |v: V| v.visit_u64(0),
        deserialize_u64 => |v: V| v.visit_u64(0),
        deserialize_f32 => |v: V| v.visit_f64(0.0),
        deserialize_f64 => |v: V| v.visit_f64(0.0),
        deserialize_char => |v: V| v.visit_unit(),
        deserialize_str => |v: V| v.visit_str(""),
        deserialize_string => |v: V| v.visit_str(""),
        deserialize_bytes => |v: V| v.visit_str(""),
        deserialize_byte_buf => |v: V| v.visit_str(""),
        deserialize_identifier => |v: V| v.visit_str(""),
    }

    /// A value of no declared type (a `serde_json::Value` field): objects
    /// merge as a struct's do, anything else is the last one.
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let rest = self.since_null();
        match rest.last() {
            None => v.visit_unit(),
            Some(_) if Val::not_object(rest).is_none() => v.visit_map(Fields::merged(rest)),
            Some(last) => single(last, v),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.since_null() {
            [] => v.visit_none(),
            rest => v.visit_some(Val { nodes: rest.to_vec() }),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, v: V) -> Result<V::Value, Error> {
        if name != RAW_VALUE {
            return v.visit_newtype_struct(self);
        }
        // Kept as text for a later decoding (linux.seccomp): written as it
        // came, objects given more than once written as one.
        let rest = self.since_null();
        let text = match (rest.last(), Val::not_object(rest)) {
            (None, _) => Ok("null".to_string()),
            (Some(_), None) => serde_json::to_string(&Members(rest)),
            (Some(last), Some(_)) => serde_json::to_string(last),
        }
        .map_err(de::Error::custom)?;
        v.visit_map(MapDeserializer::new(std::iter::once((RAW_VALUE, text))))
    }

    /// A list is replaced whole by a later one.
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.since_null().last() {
            None => v.visit_seq(Elems { items: [].iter().enumerate() }),
            Some(last) => single(last, v),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(v)
    }

    /// A map keeps the entries of each object given for it; an entry named
    /// again is replaced whole.
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let rest = self.since_null();
        match Val::not_object(rest) {
            Some(other) => single(other, v),
            None => v.visit_map(Fields::last_wins(rest)),
        }
    }

    /// A struct takes the members of each object given for it, in order.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        let set: Vec<&Node> = self.nodes.iter().filter(|n| !matches!(n, Node::Null)).copied().collect();
        match Val::not_object(&set) {
            // Not even an array, which serde's structs would take by
            // position: Go takes only an object.
            Some(other) => Err(de::Error::invalid_type(unexpected(other), &v)),
            None => v.visit_map(Fields::merged(&set)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match self.last_set() {
            Some(Node::Str(s)) => v.visit_enum(IntoDeserializer::<Error>::into_deserializer(s.as_str())),
            Some(other) => single(other, v),
            None => v.visit_unit(),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }
}

/// An object's members for a visitor, a key named more than once given
/// once, with all its values.
struct Fields<'t> {
    members: std::vec::IntoIter<(&'t str, Vec<&'t Node>)>,
    value: Option<(&'t str, Vec<&'t Node>)>,
}

impl<'t> Fields<'t> {
    /// Each key with all the values the objects give it (a struct's rule).
    fn merged(objects: &[&'t Node]) -> Fields<'t> {
        let mut members: Vec<(&str, Vec<&Node>)> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        for (k, n) in objects.iter().flat_map(|o| match o {
            Node::Obj(m) => m.as_slice(),
            _ => &[],
        }) {
            match at.get(k.as_str()) {
                Some(&i) => members[i].1.push(n),
                None => {
                    at.insert(k, members.len());
                    members.push((k, vec![n]));
                }
            }
        }
        Fields { members: members.into_iter(), value: None }
    }

    /// Each key with the last value given (a map's rule).
    fn last_wins(objects: &[&'t Node]) -> Fields<'t> {
        let mut f = Fields::merged(objects);
        let members: Vec<_> = f.members.by_ref().map(|(k, mut ns)| (k, ns.split_off(ns.len() - 1))).collect();
        Fields { members: members.into_iter(), value: None }
    }
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((k, nodes)) = self.members.next() else { return Ok(None) };
        self.value = Some((k, nodes));
        seed.deserialize(StrDeserializer::<Error>::new(k)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (k, nodes) = self.value.take().ok_or_else(|| de::Error::custom("a value asked for before its key"))?;
        seed.deserialize(Val { nodes }).map_err(|e| e.within(k.to_string()))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.members.len())
    }
}

/// An array's elements for a visitor.
struct Elems<'t> {
    items: std::iter::Enumerate<std::slice::Iter<'t, Node>>,
}

impl<'de> SeqAccess<'de> for Elems<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some((i, n)) = self.items.next() else { return Ok(None) };
        seed.deserialize(Val { nodes: vec![n] }).map(Some).map_err(|e| e.within(format!("[{i}]")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    fn go<T: de::DeserializeOwned>(text: &str) -> Result<T, Error> {
        decode(&serde_json::from_str::<Node>(text).unwrap())
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Inner {
        a: u32,
        b: String,
    }

    #[derive(Debug, Default, Deserialize)]
    struct Outer {
        #[serde(default)]
        n: u32,
        #[serde(default)]
        flag: bool,
        #[serde(default)]
        list: Vec<String>,
        #[serde(default)]
        map: BTreeMap<String, String>,
        #[serde(default)]
        objs: BTreeMap<String, Inner>,
        inner: Option<Inner>,
        #[serde(default)]
        plain: Inner,
        name: Option<String>,
        any: Option<serde_json::Value>,
        raw: Option<Box<serde_json::value::RawValue>>,
    }

    #[test]
    fn null_is_the_zero_value_or_absent() {
        let o: Outer = go(r#"{"n": null, "flag": null, "list": null, "map": null, "objs": null, "inner": null,
            "plain": null, "name": null, "any": null, "raw": null}"#)
        .unwrap();
        assert_eq!((o.n, o.flag, o.list.len(), o.map.len(), o.objs.len()), (0, false, 0, 0, 0));
        assert!(o.inner.is_none() && o.name.is_none() && o.any.is_none() && o.raw.is_none());
        assert_eq!(o.plain, Inner::default());
        let list: Vec<String> = go(r#"["a", null, "b"]"#).unwrap();
        assert_eq!(list, ["a", "", "b"]);
        let map: BTreeMap<String, u32> = go(r#"{"x": null}"#).unwrap();
        assert_eq!(map["x"], 0);
    }

    #[test]
    fn a_key_named_again_is_decoded_over_the_first_as_go_does() {
        let o: Outer = go(r#"{
            "n": 1, "n": 2,
            "flag": true, "flag": null,
            "list": ["a"], "list": ["b", "c"],
            "map": {"k": "1", "j": "2"}, "map": {"k": "3"},
            "objs": {"x": {"a": 1, "b": "q"}, "x": {"a": 2}}, "objs": {"y": {}},
            "inner": {"a": 1}, "inner": {"b": "two"},
            "plain": {"a": 5}, "plain": null, "plain": {"b": "z"},
            "name": "first", "name": "second",
            "any": {"p": 1, "q": {"r": 1}}, "any": {"q": {"s": 2}},
            "raw": {"x": 1}, "raw": {"x": 2}
        }"#)
        .unwrap();
        assert_eq!(o.n, 2);
        assert!(o.flag, "null leaves a plain value as it was");
        assert_eq!(o.list, ["b", "c"], "lists are replaced");
        assert_eq!(o.map, BTreeMap::from([("k".into(), "3".into()), ("j".into(), "2".into())]), "maps keep entries");
        assert_eq!(o.objs["x"], Inner { a: 2, b: String::new() }, "a map's entry is replaced whole");
        assert!(o.objs.contains_key("y"));
        assert_eq!(o.inner, Some(Inner { a: 1, b: "two".into() }), "objects merge");
        assert_eq!(o.plain, Inner { a: 5, b: "z".into() }, "null leaves a struct as it was");
        assert_eq!(o.name.as_deref(), Some("second"));
        assert_eq!(o.any.unwrap(), serde_json::json!({"p": 1, "q": {"r": 1, "s": 2}}));
        assert_eq!(o.raw.unwrap().get(), r#"{"x":1,"x":2}"#, "kept as written, for its own decoding");
    }

    #[test]
    fn null_between_resets_an_optional_value() {
        let o: Outer =
            go(r#"{"inner": {"a": 1}, "inner": null, "inner": {"b": "x"}, "list": ["a"], "list": null}"#).unwrap();
        assert_eq!(o.inner, Some(Inner { a: 0, b: "x".into() }));
        assert!(o.list.is_empty());
    }

    #[test]
    fn errors_name_the_path() {
        let e = go::<Outer>(r#"{"objs": {"x": {"a": "no"}}}"#).unwrap_err();
        assert_eq!(e.to_string(), r#"objs.x.a: invalid type: string "no", expected u32"#);
        let e = go::<BTreeMap<String, Vec<u8>>>(r#"{"k": [1, 256]}"#).unwrap_err();
        assert_eq!(e.to_string(), "k[1]: invalid value: integer `256`, expected u8");
        let e = go::<Outer>(r#"{"n": -1}"#).unwrap_err();
        assert!(e.to_string().starts_with("n: invalid value: integer `-1`"), "{e}");
        let e = go::<Outer>(r#"{"inner": [1]}"#).unwrap_err();
        assert!(e.to_string().starts_with("inner: invalid type: sequence"), "{e}");
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Needs {
            must: String,
        }
        assert_eq!(go::<Needs>("{}").unwrap_err().to_string(), "missing field `must`");
    }

    #[test]
    fn raw_values_are_the_text_serde_json_would_keep() {
        #[derive(Deserialize)]
        struct R {
            raw: Box<serde_json::value::RawValue>,
        }
        let text = r#"{"raw": {"a": [1, "x", null, true, 1.5, -2]}}"#;
        let theirs: R = serde_json::from_str(text).unwrap();
        let ours: R = go(text).unwrap();
        let (a, b): (serde_json::Value, serde_json::Value) =
            (serde_json::from_str(theirs.raw.get()).unwrap(), serde_json::from_str(ours.raw.get()).unwrap());
        assert_eq!(a, b);
    }

    #[test]
    fn what_serde_json_reads_go_reads_the_same() {
        let data = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/every-field.json")).unwrap();
        let theirs: serde_json::Value = serde_json::from_slice(&data).unwrap();
        let ours: serde_json::Value = go(std::str::from_utf8(&data).unwrap()).unwrap();
        assert_eq!(theirs, ours);
    }
}
