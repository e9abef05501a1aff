//! YAML documents → [`Node`] tree, built straight from saphyr's spanned parser events.
//!
//! Building our own tree rather than saphyr's `MarkedYaml` skips hashing every key of every
//! schema into a `LinkedHashMap` we would never look up, keeps strings borrowed, and shares
//! aliased nodes instead of copying them. Scalars are resolved the YAML 1.2 core-schema way
//! only as far as OpenAPI needs: booleans and nulls; everything else stays text.

use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

use super::tree::{Entry, Node, Value};

/// Why YAML text could not be turned into a tree: 1-based line and column.
pub(crate) struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Deeper nesting than this is refused: no real description comes close, and it bounds the
/// recursion of dropping and walking the tree.
const MAX_DEPTH: usize = 200;

enum Frame<'a> {
    Seq {
        line: u32,
        anchor: usize,
        items: Vec<Node<'a>>,
    },
    Map {
        line: u32,
        anchor: usize,
        entries: Vec<Entry<'a>>,
        key: Option<(Cow<'a, str>, u32)>,
    },
}

fn line_of(marker: &saphyr_parser::Marker) -> u32 {
    u32::try_from(marker.line()).unwrap_or(u32::MAX)
}

fn err(marker: &saphyr_parser::Marker, message: impl Into<String>) -> YamlError {
    YamlError {
        line: marker.line(),
        column: marker.col() + 1,
        message: message.into(),
    }
}

pub(crate) fn parse(text: &str) -> Result<Node<'_>, YamlError> {
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut anchors: HashMap<usize, Rc<Node<'_>>> = HashMap::new();
    let mut root: Option<Node<'_>> = None;
    let mut docs = 0usize;

    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.map_err(|e| err(e.marker(), e.info()))?;
        let line = line_of(&span.start);
        let (node, anchor) = match ev {
            Event::DocumentStart(_) => {
                docs += 1;
                if docs > 1 {
                    return Err(err(
                        &span.start,
                        "a second YAML document starts here; an OpenAPI file holds exactly one",
                    ));
                }
                continue;
            }
            Event::Scalar(text, style, anchor, tag) => {
                (Node::new(line, scalar(text, style, tag.as_deref())), anchor)
            }
            Event::Alias(id) => {
                match anchors.get(&id) {
                    Some(target) => (Node::new(line, Value::Shared(target.clone())), 0),
                    None => return Err(err(
                        &span.start,
                        "alias to an anchor that is not defined before it (or that contains it)",
                    )),
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(
                        &span.start,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                    ));
                }
                stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq {
                        line,
                        anchor,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        line,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    }
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq {
                    line,
                    anchor,
                    items,
                }) => (Node::new(line, Value::Seq(items)), anchor),
                Some(Frame::Map {
                    line,
                    anchor,
                    entries,
                    ..
                }) => (Node::new(line, Value::Map(entries)), anchor),
                None => return Err(err(&span.start, "unbalanced collection end")),
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
        };
        let node = if anchor > 0 {
            let shared = Rc::new(node);
            anchors.insert(anchor, shared.clone());
            Node::new(shared.line, Value::Shared(shared))
        } else {
            node
        };
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some((key_text(node), line)),
                Some((k, key_line)) => entries.push(Entry {
                    key: k,
                    key_line,
                    value: node,
                }),
            },
        }
    }
    Ok(root.unwrap_or(Node::new(1, Value::Null)))
}

/// A mapping key as text. OpenAPI keys are scalars; a collection used as a key (legal YAML,
/// meaningless here) becomes a placeholder that matches nothing.
fn key_text(node: Node<'_>) -> Cow<'_, str> {
    match node.value {
        Value::Str(s) => s,
        Value::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
        Value::Null => Cow::Borrowed(""),
        Value::Shared(rc) => match &rc.resolved().value {
            Value::Str(s) => Cow::Owned(s.to_string()),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            _ => Cow::Borrowed("\u{0}complex-key"),
        },
        _ => Cow::Borrowed("\u{0}complex-key"),
    }
}

fn scalar<'a>(text: Cow<'a, str>, style: ScalarStyle, tag: Option<&Tag>) -> Value<'a> {
    if let Some(tag) = tag {
        if tag.is_yaml_core_schema() {
            match tag.suffix.as_str() {
                "str" => return Value::Str(text),
                "null" => return Value::Null,
                "bool" => {
                    if let Some(b) = core_bool(&text) {
                        return Value::Bool(b);
                    }
                }
                _ => {}
            }
        }
    }
    if style != ScalarStyle::Plain {
        return Value::Str(text);
    }
    match text.as_ref() {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        t => match core_bool(t) {
            Some(b) => Value::Bool(b),
            None => Value::Str(text),
        },
    }
}

fn core_bool(t: &str) -> Option<bool> {
    match t {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_tree_with_lines() {
        let text = "openapi: 3.0.3\npaths:\n  /pets:\n    get:\n      deprecated: true\n      x: 'true'\n      n: ~\n    parameters: [{name: a}]\n";
        let root = parse(text).ok().unwrap();
        assert_eq!(root.get("openapi").unwrap().as_str(), Some("3.0.3"));
        let paths = root.entry("paths").unwrap();
        assert_eq!(paths.key_line, 2);
        let pets = paths.value.entry("/pets").unwrap();
        assert_eq!(pets.key_line, 3);
        let get = pets.value.entry("get").unwrap();
        assert_eq!(get.key_line, 4);
        assert_eq!(get.value.get("deprecated").unwrap().as_bool(), Some(true));
        assert_eq!(get.value.get("x").unwrap().as_str(), Some("true"));
        assert!(get.value.get("n").unwrap().is_null());
        let params = pets.value.get("parameters").unwrap().as_seq().unwrap();
        assert_eq!(params[0].get("name").unwrap().as_str(), Some("a"));
        assert_eq!(params[0].line, 8);
    }

    #[test]
    fn aliases_share_and_merge_keys_apply() {
        let text = "base: &b {in: path, required: true}\np:\n  <<: *b\n  name: id\nq: *b\n";
        let root = parse(text).ok().unwrap();
        let p = root.get("p").unwrap();
        assert_eq!(p.get("in").unwrap().as_str(), Some("path"));
        assert_eq!(p.get("name").unwrap().as_str(), Some("id"));
        assert_eq!(
            root.get("q").unwrap().get("required").unwrap().as_bool(),
            Some(true)
        );
    }

    #[test]
    fn billion_laughs_stays_small() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..40 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let root = parse(&text).ok().unwrap();
        assert_eq!(root.as_map().unwrap().len(), 40);
    }

    #[test]
    fn fanned_out_merge_keys_stay_cheap() {
        let mut text = String::from("m0: &m0 {a: 1}\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "m{i}: &m{i} {{<<: [*m{p}, *m{p}, *m{p}, *m{p}, *m{p}, *m{p}, *m{p}, *m{p}]}}\n"
            ));
        }
        text.push_str("x: {<<: *m11}\n");
        let root = parse(&text).ok().unwrap();
        let x = root.get("x").unwrap();
        // 8^11 merge paths; the lookup gives up after its budget instead of walking them.
        assert!(x.get("missing").is_none());
        assert!(root.get("m2").unwrap().get("a").is_some());
    }

    #[test]
    fn errors_have_positions() {
        let Err(e) = parse("a: 1\nb: [1, 2\nc: 3\n") else {
            panic!("accepted invalid YAML")
        };
        assert!(e.line >= 2, "line {}", e.line);
        let Err(e) = parse("a: 1\n---\nb: 2\n") else {
            panic!("accepted two documents")
        };
        assert_eq!(e.line, 2);
        let deep = "[".repeat(1000);
        assert!(parse(&deep).is_err());
        let Err(e) = parse("a: *nope\n") else {
            panic!("accepted unknown alias")
        };
        assert_eq!(e.line, 1);
    }
}
