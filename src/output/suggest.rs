//! `--suggest`: a unified diff that adds shadow endpoints to a spec file as stub operations
//! for the team to complete. The file is edited as text so everything else in it stays
//! byte-identical: YAML stubs go under `paths:` at the file's own indentation (below an
//! existing path key for an undocumented method, as a new key otherwise); JSON stubs are
//! inserted into the `paths` object with the file's indentation.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use similar::TextDiff;

use crate::diff::{Finding, FindingKind};
use crate::model::{PathTemplate, Segment};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SuggestError {
    #[error("{file}: no `paths` object found to add operations to")]
    NoPaths { file: String },
    #[error("{file}: `paths` is written in flow style ({{ ... }}); rewrite it as a block to get suggestions")]
    FlowPaths { file: String },
}

/// One stub to add: the template under `paths` and the method.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Stub {
    path: String,
    method: String,
    note: String,
}

fn stubs(findings: &[&Finding]) -> Vec<Stub> {
    let mut v: Vec<Stub> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::Shadow)
        .map(|f| Stub {
            path: f.spec_path.clone().unwrap_or_else(|| f.path.clone()),
            method: f.method.as_str().to_ascii_lowercase(),
            note: format!(
                "Found by shadowscan: {} requests, auth {}. TODO: describe, or remove the endpoint.",
                f.requests,
                f.auth.as_str()
            ),
        })
        .filter(|s| !s.method.starts_with('_'))
        .collect();
    v.sort();
    v.dedup_by(|a, b| a.path == b.path && a.method == b.method);
    v
}

fn params(path: &str) -> Vec<String> {
    let t = PathTemplate::parse(path);
    let mut names = Vec::new();
    for seg in t.segments() {
        let raw = match seg {
            Segment::Literal(_) => continue,
            Segment::Param(n) => {
                names.push(n.to_owned());
                continue;
            }
            Segment::Mixed(m) => m,
        };
        let mut rest = raw;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else { break };
            names.push(after[..close].to_owned());
            rest = &after[close + 1..];
        }
    }
    names.dedup();
    names
}

/// The stub's fields in the order people expect to read them.
fn operation(stub: &Stub, swagger2: bool) -> Vec<(&'static str, Value)> {
    let parameters: Vec<Value> = params(&stub.path)
        .into_iter()
        .map(|n| {
            if swagger2 {
                json!({"name": n, "in": "path", "required": true, "type": "string"})
            } else {
                json!({"name": n, "in": "path", "required": true, "schema": {"type": "string"}})
            }
        })
        .collect();
    let mut op = vec![
        ("summary", json!("TODO")),
        ("description", json!(stub.note)),
        ("x-shadowscan", json!("stub")),
    ];
    if !parameters.is_empty() {
        op.push(("parameters", Value::Array(parameters)));
    }
    op.push(("responses", json!({"200": {"description": "TODO"}})));
    op
}

fn yaml_fields(fields: &[(&'static str, Value)], indent: usize, unit: usize, out: &mut String) {
    for (k, v) in fields {
        let mut one = serde_json::Map::new();
        one.insert((*k).to_owned(), v.clone());
        yaml(&Value::Object(one), indent, unit, out);
    }
}

/// YAML text for a value, block style, each line prefixed with `indent` spaces, nested
/// levels indented by `unit`.
fn yaml(v: &Value, indent: usize, unit: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            // `name` and `in` first, as parameters are written by hand.
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by_key(|(k, _)| match k.as_str() {
                "name" => 0,
                "in" => 1,
                _ => 2,
            });
            for (k, val) in entries {
                let key = yaml_scalar(k);
                match val {
                    Value::Object(_) | Value::Array(_) => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        yaml(val, indent + unit, unit, out);
                    }
                    _ => out.push_str(&format!("{pad}{key}: {}\n", yaml_value(val))),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let mut inner = String::new();
                yaml(item, indent + 2, unit, &mut inner);
                let trimmed = inner.trim_start_matches(' ');
                out.push_str(&format!("{pad}- {trimmed}"));
            }
        }
        other => out.push_str(&format!("{pad}{}\n", yaml_value(other))),
    }
}

fn yaml_value(v: &Value) -> String {
    match v {
        Value::String(s) => yaml_scalar(s),
        other => other.to_string(),
    }
}

/// Plain when safe, single-quoted otherwise (numbers-as-keys like `200` must be quoted to
/// stay strings, as OpenAPI requires for response codes).
fn yaml_scalar(s: &str) -> String {
    if s.chars().any(crate::untrusted::is_unsafe_char) {
        // Double quotes are the YAML style with escapes: the key stays the exact path and
        // the patch stays one line per key, with nothing raw for a terminal or CI log.
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if crate::untrusted::is_unsafe_char(c) => {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                }
                c => out.push(c),
            }
        }
        out.push('"');
        return out;
    }
    let plain = !s.is_empty()
        && !s.starts_with(|c: char| {
            "!&*-?{}[]|>'\"%@`#,:".contains(c) || c.is_ascii_digit() || c == ' '
        })
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !matches!(
            s,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
        );
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// The key of a `key:` line (quotes removed), if it is one.
fn yaml_key(line: &str) -> Option<String> {
    let t = line.trim();
    let t = match t.find(" #") {
        Some(i) => t[..i].trim_end(),
        None => t,
    };
    let k = t.strip_suffix(':')?;
    let k = k
        .strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .or_else(|| k.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
        .unwrap_or(k);
    Some(k.to_owned())
}

fn suggest_yaml(
    text: &str,
    file: &str,
    stubs: &[Stub],
    swagger2: bool,
) -> Result<String, SuggestError> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let paths_at = lines.iter().position(|l| {
        l.starts_with("paths:") && {
            let rest = l["paths:".len()..].trim();
            rest.is_empty() || rest.starts_with('#') || rest.starts_with('{')
        }
    });
    let mut inserts: BTreeMap<usize, String> = BTreeMap::new();
    let (block_start, block_end, child) = match paths_at {
        Some(i) => {
            let rest = lines[i]["paths:".len()..].trim();
            if rest.starts_with('{') && rest != "{}" {
                return Err(SuggestError::FlowPaths {
                    file: file.to_owned(),
                });
            }
            let mut end = i + 1;
            while end < lines.len() && !(is_content(lines[end]) && indent_of(lines[end]) == 0) {
                end += 1;
            }
            // Keep trailing blank lines and comments after the inserted keys.
            let mut last = end;
            while last > i + 1 && !is_content(lines[last - 1]) {
                last -= 1;
            }
            let child = lines[i + 1..end]
                .iter()
                .find(|l| is_content(l))
                .map(|l| indent_of(l))
                .unwrap_or(2)
                .max(1);
            if rest == "{}" {
                // Replace the empty flow mapping: the only changed line.
                inserts.insert(usize::MAX - 1, String::new());
            }
            (i + 1, last, child)
        }
        None => {
            return Err(SuggestError::NoPaths {
                file: file.to_owned(),
            })
        }
    };
    let unit = child;
    // Existing path keys and the indentation of their methods.
    let mut keys: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (j, l) in lines.iter().enumerate().take(block_end).skip(block_start) {
        if is_content(l) && indent_of(l) == child {
            if let Some(k) = yaml_key(l) {
                let method_indent = lines[j + 1..block_end]
                    .iter()
                    .find(|l| is_content(l))
                    .map(|l| indent_of(l))
                    .filter(|&n| n > child)
                    .unwrap_or(child + unit);
                keys.insert(PathTemplate::parse(&k).shape(), (j, method_indent));
            }
        }
    }
    let mut new_keys = String::new();
    let mut by_path: BTreeMap<&str, Vec<&Stub>> = BTreeMap::new();
    for s in stubs {
        by_path.entry(s.path.as_str()).or_default().push(s);
    }
    for (path, ss) in by_path {
        let shape = PathTemplate::parse(path).shape();
        match keys.get(&shape) {
            Some(&(line, mi)) => {
                // Methods the path item already has (a stale finding must not duplicate one).
                let present: Vec<String> = lines[line + 1..block_end]
                    .iter()
                    .take_while(|l| !is_content(l) || indent_of(l) > child)
                    .filter(|l| is_content(l) && indent_of(l) == mi)
                    .filter_map(|l| yaml_key(l))
                    .collect();
                let entry = inserts.entry(line + 1).or_default();
                for s in ss.into_iter().filter(|s| !present.contains(&s.method)) {
                    entry.push_str(&format!("{}{}:\n", " ".repeat(mi), s.method));
                    yaml_fields(&operation(s, swagger2), mi + unit, unit, entry);
                }
            }
            None => {
                new_keys.push_str(&format!("{}{}:\n", " ".repeat(child), yaml_scalar(path)));
                for s in ss {
                    new_keys.push_str(&format!("{}{}:\n", " ".repeat(child + unit), s.method));
                    yaml_fields(
                        &operation(s, swagger2),
                        child + 2 * unit,
                        unit,
                        &mut new_keys,
                    );
                }
            }
        }
    }
    let empty_flow = inserts.remove(&(usize::MAX - 1)).is_some();
    if !new_keys.is_empty() {
        inserts.entry(block_end).or_default().push_str(&new_keys);
    }
    let mut out = String::with_capacity(text.len() + 1024);
    for (j, l) in lines.iter().enumerate() {
        if let Some(ins) = inserts.get(&j) {
            out.push_str(ins);
        }
        if empty_flow && Some(j) == paths_at {
            out.push_str("paths:\n");
            continue;
        }
        if j + 1 == lines.len() && !l.ends_with('\n') && inserts.contains_key(&lines.len()) {
            out.push_str(l);
            out.push('\n');
            continue;
        }
        out.push_str(l);
    }
    if let Some(ins) = inserts.get(&lines.len()) {
        out.push_str(ins);
    }
    Ok(out)
}

/// Finds `"key"` at the given object depth; returns the byte offset of its value's `{`.
/// `within` restricts the search to an object's span (offset of `{`).
fn json_object_members(text: &str, open: usize) -> (Vec<(String, usize)>, usize) {
    // Returns (member keys with the offset of their value's start, offset of closing `}`).
    let b = text.as_bytes();
    let mut members = Vec::new();
    let mut i = open + 1;
    let mut depth = 0usize;
    let mut expect_key = true;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if depth == 0 && expect_key {
                    let key = serde_json::from_str::<String>(&text[start - 1..=i.min(b.len() - 1)])
                        .unwrap_or_default();
                    let mut j = i + 1;
                    while j < b.len() && (b[j] == b':' || b[j].is_ascii_whitespace()) {
                        j += 1;
                    }
                    members.push((key, j));
                    expect_key = false;
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    return (members, i);
                }
                depth -= 1;
            }
            b',' if depth == 0 => expect_key = true,
            _ => {}
        }
        i += 1;
    }
    (members, b.len())
}

fn line_indent_before(text: &str, pos: usize) -> Option<String> {
    let line_start = text[..pos].rfind('\n')? + 1;
    let prefix = &text[line_start..pos];
    prefix
        .chars()
        .all(|c| c == ' ' || c == '\t')
        .then(|| prefix.to_owned())
}

fn suggest_json(
    text: &str,
    file: &str,
    stubs: &[Stub],
    swagger2: bool,
) -> Result<String, SuggestError> {
    let root = text.find('{').ok_or_else(|| SuggestError::NoPaths {
        file: file.to_owned(),
    })?;
    let (top, _) = json_object_members(text, root);
    let paths_open = top
        .iter()
        .find(|(k, at)| k == "paths" && text.as_bytes().get(*at) == Some(&b'{'))
        .map(|(_, at)| *at)
        .ok_or_else(|| SuggestError::NoPaths {
            file: file.to_owned(),
        })?;
    let (members, _) = json_object_members(text, paths_open);
    // Indentation: taken from the first path key when the file is pretty-printed.
    let first_key_at = text[paths_open + 1..].find('"').map(|p| paths_open + 1 + p);
    let key_indent = first_key_at.and_then(|p| line_indent_before(text, p));
    let paths_line = text[..paths_open].rfind('\n').map_or(0, |i| i + 1);
    let paths_indent: String = text[paths_line..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let pretty = key_indent.is_some() || !text[paths_open..].starts_with("{}");
    let unit = match &key_indent {
        Some(k) if k.len() > paths_indent.len() => k[paths_indent.len()..].to_owned(),
        _ => "  ".to_owned(),
    };
    let key_indent = key_indent.unwrap_or_else(|| format!("{paths_indent}{unit}"));
    let render_value = |v: &Value, indent: &str| -> String {
        if !pretty {
            return serde_json::to_string(v).unwrap_or_default();
        }
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(unit.as_bytes());
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        serde::Serialize::serialize(v, &mut ser).ok();
        String::from_utf8(buf)
            .unwrap_or_default()
            .replace('\n', &format!("\n{indent}"))
    };
    // An object of ordered fields, written at `indent` (the line its opening brace is on).
    let render = |fields: &[(&'static str, Value)], indent: &str| -> String {
        if !pretty {
            let parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k).unwrap_or_default(),
                        render_value(v, "")
                    )
                })
                .collect();
            return format!("{{{}}}", parts.join(","));
        }
        let inner = format!("{indent}{unit}");
        let parts: Vec<String> = fields
            .iter()
            .map(|(k, v)| {
                format!(
                    "{inner}{}: {}",
                    serde_json::to_string(k).unwrap_or_default(),
                    render_value(v, &inner)
                )
            })
            .collect();
        format!("{{\n{}\n{indent}}}", parts.join(",\n"))
    };
    let nl = if pretty { "\n" } else { "" };
    let mut inserts: BTreeMap<usize, String> = BTreeMap::new();
    let mut by_path: BTreeMap<&str, Vec<&Stub>> = BTreeMap::new();
    for s in stubs {
        by_path.entry(s.path.as_str()).or_default().push(s);
    }
    let mut new_paths = String::new();
    for (path, ss) in by_path {
        let shape = PathTemplate::parse(path).shape();
        let existing = members.iter().find(|(k, at)| {
            PathTemplate::parse(k).shape() == shape && text.as_bytes().get(*at) == Some(&b'{')
        });
        match existing {
            Some((_, open)) => {
                let (ops, _) = json_object_members(text, *open);
                let ss: Vec<&Stub> = ss
                    .into_iter()
                    .filter(|s| !ops.iter().any(|(k, _)| *k == s.method))
                    .collect();
                let inner = format!("{key_indent}{unit}");
                let mut s = String::new();
                for (i, st) in ss.iter().enumerate() {
                    let comma = if i + 1 < ss.len() || !ops.is_empty() {
                        ","
                    } else {
                        ""
                    };
                    s.push_str(&format!(
                        "{nl}{}\"{}\": {}{comma}",
                        if pretty { inner.as_str() } else { "" },
                        st.method,
                        render(&operation(st, swagger2), &inner)
                    ));
                }
                inserts.entry(open + 1).or_default().push_str(&s);
            }
            None => {
                let inner = format!("{key_indent}{unit}");
                let methods: Vec<String> = ss
                    .iter()
                    .map(|st| {
                        format!(
                            "{}\"{}\": {}",
                            if pretty { inner.as_str() } else { "" },
                            st.method,
                            render(&operation(st, swagger2), &inner)
                        )
                    })
                    .collect();
                let body = if pretty {
                    format!("{{\n{}\n{key_indent}}}", methods.join(",\n"))
                } else {
                    format!("{{{}}}", methods.join(","))
                };
                new_paths.push_str(&format!(
                    "{nl}{}{}: {body},",
                    if pretty { key_indent.as_str() } else { "" },
                    crate::untrusted::json_escape_bidi(
                        serde_json::to_string(path).unwrap_or_default()
                    ),
                ));
            }
        }
    }
    if !new_paths.is_empty() {
        if members.is_empty() {
            new_paths.pop();
            new_paths.push_str(&format!("{nl}{paths_indent}"));
        }
        inserts
            .entry(paths_open + 1)
            .or_default()
            .insert_str(0, &new_paths);
    }
    let mut out = String::with_capacity(text.len() + 1024);
    let mut last = 0;
    for (at, ins) in inserts {
        out.push_str(&text[last..at]);
        out.push_str(&ins);
        last = at;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// The spec text with stubs for the shadow findings added (others are ignored).
pub fn patched(text: &str, file: &str, findings: &[&Finding]) -> Result<String, SuggestError> {
    let stubs = stubs(findings);
    if stubs.is_empty() {
        return Ok(text.to_owned());
    }
    let is_json = text.trim_start().starts_with('{');
    let swagger2 = if is_json {
        serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("swagger").cloned())
            .is_some()
    } else {
        text.lines().any(|l| l.starts_with("swagger:"))
    };
    if is_json {
        suggest_json(text, file, &stubs, swagger2)
    } else {
        suggest_yaml(text, file, &stubs, swagger2)
    }
}

/// A unified diff (`a/FILE`, `b/FILE`) adding the shadow findings as stub operations; empty
/// when there is nothing to add.
pub fn suggest(text: &str, file: &str, findings: &[&Finding]) -> Result<String, SuggestError> {
    let new = patched(text, file, findings)?;
    if new == text {
        return Ok(String::new());
    }
    let diff = TextDiff::from_lines(text, &new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{file}"), &format!("b/{file}"))
        .to_string();
    // The spec's own lines come from a pull request: nothing unsafe reaches the terminal or
    // the CI log, line by line so the patch keeps its shape.
    // Line endings (LF or CRLF) are the file's; everything else unsafe is escaped.
    let split = |l: &str| -> (String, &'static str) {
        match l.strip_suffix("\r\n") {
            Some(b) => (b.to_owned(), "\r\n"),
            None => match l.strip_suffix('\n') {
                Some(b) => (b.to_owned(), "\n"),
                None => (l.to_owned(), ""),
            },
        }
    };
    let unsafe_body = |b: &str| {
        b.chars()
            .any(|c| c != '\t' && crate::untrusted::is_unsafe_char(c))
    };
    if !diff.split_inclusive('\n').any(|l| unsafe_body(&split(l).0)) {
        return Ok(diff);
    }
    Ok(diff
        .split_inclusive('\n')
        .map(|l| {
            let (body, nl) = split(l);
            if unsafe_body(&body) {
                format!("{}{nl}", crate::untrusted::escape(&body))
            } else {
                format!("{body}{nl}")
            }
        })
        .collect())
}

/// The shadow findings that belong in `file` (by the spec each finding names), for
/// [`suggest`].
pub fn shadows_for<'a>(
    report: &'a crate::diff::DiffReport,
    file: &std::path::Path,
) -> Vec<&'a Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Shadow && f.spec_file.as_deref() == Some(file))
        .collect()
}
