//! A JSON document as it was written: every member of an object in its
//! order, a key named twice kept twice (serde_json's own `Value` keeps
//! the last). What `go` decodes from.

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use std::collections::HashMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<Node>),
    Obj(Vec<(String, Node)>),
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
        Ok(Node::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Node, E> {
        Ok(Node::Num(n.into()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Node, E> {
        Ok(Node::Num(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Node, E> {
        serde_json::Number::from_f64(n).map(Node::Num).ok_or_else(|| E::custom("a number out of range"))
    }
    fn visit_str<E>(self, s: &str) -> Result<Node, E> {
        Ok(Node::Str(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Node, E> {
        Ok(Node::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element()? {
            items.push(n);
        }
        Ok(Node::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members = Vec::new();
        while let Some(m) = map.next_entry::<String, Node>()? {
            members.push(m);
        }
        Ok(Node::Obj(members))
    }
}

impl serde::Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Num(n) => n.serialize(s),
            Node::Str(t) => s.serialize_str(t),
            Node::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                items.iter().try_for_each(|n| seq.serialize_element(n))?;
                seq.end()
            }
            Node::Obj(_) => Members(&[self]).serialize(s),
        }
    }
}

/// The members of several objects, written as one object in their order,
/// a repeated key repeated.
pub struct Members<'t>(pub &'t [&'t Node]);

impl serde::Serialize for Members<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for n in self.0 {
            if let Node::Obj(members) = n {
                members.iter().try_for_each(|(k, v)| map.serialize_entry(k, v))?;
            }
        }
        map.end()
    }
}

/// Each key an object of the document names more than once, by its path
/// (`process.env`, `mounts[2].options`), with how many times.
pub fn repeated_keys(root: &Node) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    walk(root, &mut String::new(), &mut out);
    out
}

fn walk(node: &Node, path: &mut String, out: &mut Vec<(String, usize)>) {
    let len = path.len();
    match node {
        Node::Arr(items) => {
            for (i, n) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                walk(n, path, out);
                path.truncate(len);
            }
        }
        Node::Obj(members) => {
            let mut count: HashMap<&str, usize> = HashMap::new();
            members.iter().for_each(|(k, _)| *count.entry(k).or_default() += 1);
            for (i, (k, n)) in members.iter().enumerate() {
                if len > 0 {
                    path.push('.');
                }
                path.push_str(k);
                let times = count[k.as_str()];
                // Said once, at its first place.
                if times > 1 && !members[..i].iter().any(|(before, _)| before == k) {
                    out.push((path.clone(), times));
                }
                walk(n, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_members_are_all_kept_in_order() {
        let n: Node = serde_json::from_str(r#"{"a": 1, "b": [true, null], "a": {"c": "x"}}"#).unwrap();
        let Node::Obj(m) = &n else { panic!("{n:?}") };
        assert_eq!(m.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a", "b", "a"]);
        assert_eq!(serde_json::to_string(&n).unwrap(), r#"{"a":1,"b":[true,null],"a":{"c":"x"}}"#);
    }

    #[test]
    fn repeated_keys_are_named_by_path_once() {
        let n: Node = serde_json::from_str(
            r#"{"p": {"env": [], "env": [], "env": []}, "m": [{"o": 1}, {"o": 1, "o": 2}], "p": {}}"#,
        )
        .unwrap();
        assert_eq!(repeated_keys(&n), [("p".to_string(), 2), ("p.env".into(), 3), ("m[1].o".into(), 2)]);
    }
}
