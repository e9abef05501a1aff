//! JSON documents → [`Node`] tree: serde_json parses (fast, exact error positions), then one
//! byte scan over the already-validated text assigns every node and key its line, walking
//! the text in the same order serde_json visited it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::tree::{Entry, Node, Value};

/// Why JSON text could not be parsed: 1-based line and column, and serde_json's message.
pub(crate) struct JsonError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

pub(crate) fn parse(text: &str) -> Result<Node<'_>, JsonError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut root = Node::deserialize(&mut de)
        .and_then(|n| de.end().map(|()| n))
        .map_err(|e| {
            let message = e.to_string();
            // serde_json appends " at line L column C"; the caller prints the position itself.
            let message = match message.rfind(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            JsonError {
                line: e.line(),
                column: e.column(),
                message,
            }
        })?;
    let mut scan = LineScan {
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    scan.fill(&mut root);
    Ok(root)
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

fn leaf(value: Value<'_>) -> Node<'_> {
    Node::new(0, value)
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(leaf(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(leaf(Value::Str(Cow::Owned(v.to_string()))))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(leaf(Value::Str(Cow::Owned(v.to_string()))))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
        // `{:?}` keeps `2.0` as "2.0", so an unquoted `"swagger": 2.0` still reads as 2.0.
        Ok(leaf(Value::Str(Cow::Owned(format!("{v:?}")))))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(leaf(Value::Str(Cow::Borrowed(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(leaf(Value::Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E>(self, v: String) -> Result<Node<'de>, E> {
        Ok(leaf(Value::Str(Cow::Owned(v))))
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(leaf(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(leaf(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Node<'de>>()? {
            items.push(item);
        }
        Ok(leaf(Value::Seq(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value = map.next_value::<Node<'de>>()?;
            // Duplicates are kept, in order: the line pass relies on the tree holding
            // exactly what the text holds.
            entries.push(Entry {
                key: key.0,
                key_line: 0,
                value,
            });
        }
        Ok(leaf(Value::Map(entries)))
    }
}

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Walks valid JSON text in document order, giving each node of the tree built from it the
/// line where it starts. Only ever called on text serde_json accepted, and it stops at the
/// end of the input whatever it meets, so it cannot loop or index out of bounds.
struct LineScan<'t> {
    bytes: &'t [u8],
    pos: usize,
    line: u32,
}

impl LineScan<'_> {
    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.pos += 1;
        }
    }

    /// Skips a string starting at its opening quote. Valid JSON strings hold no raw newline.
    fn skip_string(&mut self) {
        self.pos += 1;
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            match b {
                b'"' => return,
                b'\\' => self.pos += 1,
                _ => {}
            }
        }
    }

    fn skip_scalar(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n') {
                return;
            }
            self.pos += 1;
        }
    }

    /// Consumes `,` or the closing bracket after an element.
    fn skip_separator(&mut self) {
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b',') {
            self.pos += 1;
        }
    }

    fn fill(&mut self, node: &mut Node<'_>) {
        self.skip_ws();
        node.line = self.line;
        match (&mut node.value, self.bytes.get(self.pos)) {
            (Value::Map(entries), Some(b'{')) => {
                self.pos += 1;
                for e in entries.iter_mut() {
                    self.skip_ws();
                    e.key_line = self.line;
                    self.skip_string();
                    self.skip_ws();
                    self.pos += 1; // ':'
                    self.fill(&mut e.value);
                    self.skip_separator();
                }
                self.skip_ws();
                self.pos += 1; // '}'
            }
            (Value::Seq(items), Some(b'[')) => {
                self.pos += 1;
                for item in items.iter_mut() {
                    self.fill(item);
                    self.skip_separator();
                }
                self.skip_ws();
                self.pos += 1; // ']'
            }
            (_, Some(b'"')) => self.skip_string(),
            _ => self.skip_scalar(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_the_text() {
        let text = "{\n  \"a\": 1,\n  \"b\": [\n    \"x\",\n    {\"c\": \"d\\\"}\"}\n  ],\n  \"e\":\n    {}\n}";
        let root = parse(text).ok().expect("valid json");
        let map = root.as_map().unwrap();
        assert_eq!(root.line, 1);
        assert_eq!((map[0].key.as_ref(), map[0].key_line), ("a", 2));
        assert_eq!((map[1].key.as_ref(), map[1].key_line), ("b", 3));
        let seq = map[1].value.as_seq().unwrap();
        assert_eq!(seq[0].line, 4);
        assert_eq!(seq[1].line, 5);
        assert_eq!(seq[1].get("c").unwrap().as_str(), Some("d\"}"));
        assert_eq!((map[2].key_line, map[2].value.line), (7, 8));
    }

    #[test]
    fn duplicate_keys_are_kept_in_order() {
        let root = parse("{\"a\": 1,\n\"a\": 2}").ok().unwrap();
        let map = root.as_map().unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map[1].key_line, 2);
        assert_eq!(map[1].value.as_str(), Some("2"));
    }

    #[test]
    fn numbers_keep_their_text() {
        let root = parse("{\"swagger\": 2.0, \"n\": -3}").ok().unwrap();
        assert_eq!(root.get("swagger").unwrap().as_str(), Some("2.0"));
        assert_eq!(root.get("n").unwrap().as_str(), Some("-3"));
    }

    #[test]
    fn errors_carry_line_and_column() {
        let Err(e) = parse("{\n  \"a\": 1,\n  \"b\" 2\n}") else {
            panic!("accepted invalid JSON")
        };
        assert_eq!((e.line, e.column), (3, 7));
        assert!(e.message.contains("expected `:`"), "{}", e.message);
        assert!(parse("{} trailing").is_err());
        assert!(parse("").is_err());
    }
}
