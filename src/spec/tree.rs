//! The generic document tree both parsers build: just enough structure to walk an OpenAPI
//! document (maps in document order, sequences, scalars as text) plus the 1-based line of
//! every node and map key, so errors and SARIF locations can point into the file.
//!
//! Strings borrow from the source text when they can: the 10 MB GitHub description has
//! hundreds of thousands of them, and copying each would double the load's allocation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    /// 1-based line where the node starts (0 only while the JSON line pass has not run).
    pub line: u32,
    pub value: Value<'a>,
}

#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    /// Strings and numbers, as text (`swagger: 2.0` is the text `2.0`, not a float).
    Str(Cow<'a, str>),
    Seq(Vec<Node<'a>>),
    Map(Vec<Entry<'a>>),
    /// A YAML anchor's node, shared by every alias of it: aliases cost nothing, so a
    /// "billion laughs" document cannot blow up memory.
    Shared(Rc<Node<'a>>),
}

#[derive(Debug, Clone)]
pub(crate) struct Entry<'a> {
    pub key: Cow<'a, str>,
    pub key_line: u32,
    pub value: Node<'a>,
}

impl<'a> Node<'a> {
    pub fn new(line: u32, value: Value<'a>) -> Node<'a> {
        Node { line, value }
    }

    /// The node itself, seen through any alias.
    pub fn resolved(&self) -> &Node<'a> {
        let mut n = self;
        while let Value::Shared(inner) = &n.value {
            n = inner;
        }
        n
    }

    pub fn as_map(&self) -> Option<&[Entry<'a>]> {
        match &self.resolved().value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node<'a>]> {
        match &self.resolved().value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.resolved().value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.resolved().value {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.resolved().value, Value::Null)
    }

    /// The entry for `key` in a map, following YAML merge keys (`<<: *base`) when the map
    /// itself lacks it. `None` for non-maps.
    pub fn entry(&self, key: &str) -> Option<&Entry<'a>> {
        // Merge keys can nest and fan out (`<<: [*a, *b]` whose targets merge again); a
        // budget of visited maps keeps a hostile file from making one lookup exponential.
        let mut budget = 64u32;
        self.entry_budget(key, &mut budget)
    }

    fn entry_budget(&self, key: &str, budget: &mut u32) -> Option<&Entry<'a>> {
        let entries = self.as_map()?;
        if let Some(e) = entries.iter().find(|e| e.key == key) {
            return Some(e);
        }
        let merge = entries.iter().find(|e| e.key == "<<")?;
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        match merge.value.as_seq() {
            Some(items) => items.iter().find_map(|m| m.entry_budget(key, budget)),
            None => merge.value.entry_budget(key, budget),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.entry(key).map(|e| &e.value)
    }

    /// A short name of the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match &self.resolved().value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Str(_) => "scalar",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
            Value::Shared(_) => "alias",
        }
    }

    /// A copy that owns all its text, for documents loaded while resolving a `$ref` to
    /// another file (their source text does not outlive the call that read it). Shared
    /// nodes stay shared, so an alias-heavy file cannot grow exponentially here either.
    pub fn into_owned(self) -> Node<'static> {
        let mut memo = HashMap::new();
        self.into_owned_memo(&mut memo)
    }

    fn into_owned_memo(
        self,
        memo: &mut HashMap<*const Node<'a>, Rc<Node<'static>>>,
    ) -> Node<'static> {
        let value = match self.value {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Seq(items) => {
                Value::Seq(items.into_iter().map(|n| n.into_owned_memo(memo)).collect())
            }
            Value::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|e| Entry {
                        key: Cow::Owned(e.key.into_owned()),
                        key_line: e.key_line,
                        value: e.value.into_owned_memo(memo),
                    })
                    .collect(),
            ),
            Value::Shared(rc) => {
                let ptr = Rc::as_ptr(&rc);
                let owned = match memo.get(&ptr) {
                    Some(done) => done.clone(),
                    None => {
                        let copy = Rc::new((*rc).clone().into_owned_memo(memo));
                        memo.insert(ptr, copy.clone());
                        copy
                    }
                };
                Value::Shared(owned)
            }
        };
        Node {
            line: self.line,
            value,
        }
    }
}
