//! `http.route` values in every framework's syntax → canonical [`PathTemplate`]s, and the check
//! that a route really describes the concrete path it was reported with.
//!
//! Syntaxes: Express/path-to-regexp (`:id`, `:id?`, `:id(\\d+)`, `:p*`, `*`, Express 5 `*splat`
//! and `{/:opt}` groups), Flask/Werkzeug (`<id>`, `<int:id>`, `<path:p>`), ASP.NET/Spring/
//! FastAPI (`{id}`, `{id:int}`, `{id?}`, `{*rest}`, `{p:path}`), bare regex groups (`(.*)`) and
//! Django's `ResolverMatch.route` (`path()` converters like Flask's; `re_path` and DRF router
//! regexes such as `^api/books/(?P<pk>[^/.]+)/$`: anchors dropped, named groups keep their
//! names, DRF's `\.(?P<format>…)` suffix describes the same endpoint and is dropped).
//! All become `{name}`. A regex group is one segment unless it can match a `/` (`.*`, `.+`,
//! `[^.]+`): then, like catch-alls and parameters named like paths (see
//! `Rules::slashy_params`), it may span several segments when matching; optional ones may be
//! absent.

use std::sync::OnceLock;

use crate::model::{hex_val, PathTemplate, Segment};

/// Most segments a route or path may have to be matched; longer ones are treated as not
/// matching, so the endpoint falls back to inference instead of costing unbounded work.
const MAX_SEGMENTS: usize = 48;

/// A normalised route with what matching needs beyond the canonical text.
#[derive(Debug, Clone)]
pub struct Route {
    pub template: PathTemplate,
    /// Bit `i`: segment `i` is optional (`:id?`, `{id?}`, `{/:id}`).
    optional: u64,
    /// Bit `i`: segment `i` may span several path segments (`*`, `<path:p>`, `{*rest}`).
    multi: u64,
    /// The template's segments, classified once: a route is parsed once per batch but
    /// matched once per span.
    segs: Box<[SegRef]>,
    /// For a route without parameters: whether its own text looks like a concrete path.
    /// Routes are shared and matched once per span; this is decided once.
    concrete: OnceLock<bool>,
    /// DRF's format suffix was dropped from the route: a path's last segment may end in
    /// `.json` (`/api/books/5.json`, `/api/books.json`) and still be this route.
    format_suffix: bool,
}

/// Where a [`Segment`] of the template sits in its text, and which kind it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SegRef {
    start: u32,
    end: u32,
    kind: SegKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SegKind {
    Literal,
    Param,
    Mixed,
}

fn seg_refs(t: &PathTemplate) -> Box<[SegRef]> {
    let base = t.as_str().as_ptr() as usize;
    t.segments()
        .map(|s| {
            let (text, kind) = match s {
                Segment::Literal(x) => (x, SegKind::Literal),
                Segment::Param(x) => (x, SegKind::Param),
                Segment::Mixed(x) => (x, SegKind::Mixed),
            };
            let start = (text.as_ptr() as usize - base) as u32;
            SegRef {
                start,
                end: start + text.len() as u32,
                kind,
            }
        })
        .collect()
}

/// How a route relates to a concrete path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMatch {
    /// The route describes the whole path.
    Full,
    /// The route describes only the first `n` path segments (a router's mount path).
    Prefix(usize),
    /// The route does not describe the path.
    No,
}

impl Route {
    /// Normalises a route; `None` when it is blank. `slashy` lists parameter names (lowercase)
    /// that real APIs fill with slash-separated values (`path`, `file_path`).
    pub fn parse(raw: &str, slashy: &[Box<str>]) -> Option<Route> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        let raw = if raw.contains("://") {
            super::conventions::path_of_url(raw)
        } else {
            raw
        };
        let (raw, format_suffix) = strip_regex_anchors(raw);
        let expanded;
        let raw = if raw.contains("{/") {
            expanded = expand_optional_groups(raw);
            expanded.as_str()
        } else {
            raw
        };
        let mut out = String::with_capacity(raw.len() + 8);
        let (mut optional, mut multi) = (0u64, 0u64);
        let mut index = 0usize;
        let mut needs_parse = false;
        for seg in split_top_level(raw) {
            let start = out.len();
            out.push('/');
            let f = convert_segment(seg, &mut out);
            needs_parse |= f.needs_parse;
            if out.len() == start + 1 {
                out.truncate(start);
                continue;
            }
            if index < 64 {
                let whole_param = f.params == 1 && f.literals == 0;
                if f.optional && whole_param {
                    optional |= 1 << index;
                }
                let slashy_name = whole_param && {
                    let name = &out[start + 2..out.len() - 1];
                    slashy.iter().any(|s| s.eq_ignore_ascii_case(name))
                };
                if (f.multi || slashy_name) && whole_param {
                    multi |= 1 << index;
                }
            }
            index += 1;
        }
        // Literals are percent-decoded the same way `spec` decodes documented paths; text
        // without `%` or stray braces is canonical already and is kept without a second pass.
        let template = if out.is_empty() {
            PathTemplate::parse("/")
        } else if !out.contains('%') && !needs_parse {
            PathTemplate::from_canonical(out)
        } else {
            PathTemplate::parse(&out)
        };
        Some(Route {
            segs: seg_refs(&template),
            template,
            optional,
            multi,
            concrete: OnceLock::new(),
            format_suffix,
        })
    }

    fn segment(&self, r: SegRef) -> Segment<'_> {
        let text = &self.template.as_str()[r.start as usize..r.end as usize];
        match r.kind {
            SegKind::Literal => Segment::Literal(text),
            SegKind::Param => Segment::Param(text),
            SegKind::Mixed => Segment::Mixed(text),
        }
    }

    /// Whether `infer` (inference on the template's own text) finds data in this route:
    /// some instrumentations put the concrete path in `http.route`. Asked once per route.
    pub(crate) fn looks_concrete(&self, infer: impl FnOnce(&PathTemplate) -> bool) -> bool {
        *self.concrete.get_or_init(|| infer(&self.template))
    }

    /// (segments, literal segments): the more of each, the more specific the route.
    pub fn specificity(&self) -> (usize, usize) {
        let lit = self
            .segs
            .iter()
            .filter(|s| s.kind == SegKind::Literal)
            .count();
        (self.segs.len(), lit)
    }

    /// Checks the route against a concrete path (raw, query already stripped). Literals
    /// compare percent-decoded and ASCII case-insensitively (Express and Spring match paths
    /// case-insensitively by default).
    pub fn match_path(&self, path: &str) -> RouteMatch {
        if self.format_suffix {
            let m = self.match_unsuffixed(path);
            if m != RouteMatch::Full {
                if let Some(bare) = without_format_suffix(path) {
                    if self.match_unsuffixed(bare) == RouteMatch::Full {
                        return RouteMatch::Full;
                    }
                }
            }
            return m;
        }
        self.match_unsuffixed(path)
    }

    fn match_unsuffixed(&self, path: &str) -> RouteMatch {
        if self.segs.len() > MAX_SEGMENTS {
            return RouteMatch::No;
        }
        if self.optional == 0 && self.multi == 0 {
            return self.match_plain(path);
        }
        let mut t: [Segment<'_>; MAX_SEGMENTS] = [Segment::Literal(""); MAX_SEGMENTS];
        let tn = self.segs.len();
        for (slot, r) in t.iter_mut().zip(self.segs.iter()) {
            *slot = self.segment(*r);
        }
        let mut p: [&str; MAX_SEGMENTS] = [""; MAX_SEGMENTS];
        let mut pn = 0;
        for s in raw_segments(path) {
            if pn == MAX_SEGMENTS {
                return RouteMatch::No;
            }
            p[pn] = s;
            pn += 1;
        }
        let (t, p) = (&t[..tn], &p[..pn]);
        // reach[ti][pi]: the first ti template segments can consume the first pi path segments.
        let w = pn + 1;
        let mut reach = vec![false; (tn + 1) * w];
        reach[0] = true;
        for ti in 0..tn {
            let opt = ti < 64 && self.optional & (1 << ti) != 0;
            let many = ti < 64 && self.multi & (1 << ti) != 0;
            for pi in 0..=pn {
                if !reach[ti * w + pi] {
                    continue;
                }
                if opt {
                    reach[(ti + 1) * w + pi] = true;
                }
                if many {
                    for k in pi + 1..=pn {
                        reach[(ti + 1) * w + k] = true;
                    }
                } else if pi < pn && segment_matches(t[ti], p[pi]) {
                    reach[(ti + 1) * w + pi + 1] = true;
                }
            }
        }
        if reach[tn * w + pn] {
            return RouteMatch::Full;
        }
        if tn > 0 {
            if let Some(pi) = (1..pn).rev().find(|&pi| reach[tn * w + pi]) {
                return RouteMatch::Prefix(pi);
            }
        }
        RouteMatch::No
    }

    /// The common case, one template segment per path segment, walked without copying
    /// either side into arrays.
    fn match_plain(&self, path: &str) -> RouteMatch {
        let mut raw = raw_segments(path);
        for r in self.segs.iter() {
            match raw.next() {
                Some(p) if segment_matches(self.segment(*r), p) => {}
                _ => return RouteMatch::No,
            }
        }
        let tn = self.segs.len();
        let pn = tn + raw.take(MAX_SEGMENTS + 1 - tn).count();
        if pn > MAX_SEGMENTS {
            RouteMatch::No
        } else if pn == tn {
            RouteMatch::Full
        } else if tn > 0 {
            RouteMatch::Prefix(tn)
        } else {
            RouteMatch::No
        }
    }
}

/// Drops regex anchors from a route (`^api/books/$`, `\Z`, DRF's optional trailing slash
/// `/?$`) and DRF's format suffix group (`\.(?P<format>[a-z0-9]+)`), which
/// `format_suffix_patterns` adds to every route for `/books/5.json`: the same endpoint as
/// `/books/5`, and the one the spec documents. Returns whether the suffix was dropped.
fn strip_regex_anchors(raw: &str) -> (&str, bool) {
    let mut r = raw;
    if let Some(rest) = r.strip_prefix('^') {
        r = rest;
    } else if let Some(rest) = r.strip_prefix("/^") {
        r = rest;
    }
    let mut anchored = false;
    loop {
        if let Some(rest) = r.strip_suffix('$') {
            // `\$` is a literal dollar, not an anchor.
            if rest.ends_with('\\') {
                break;
            }
            r = rest;
        } else if let Some(rest) = r.strip_suffix("\\Z").or_else(|| r.strip_suffix("\\z")) {
            r = rest;
        } else {
            break;
        }
        anchored = true;
    }
    if anchored {
        r = r.strip_suffix("/?").unwrap_or(r);
    }
    let mut suffix = false;
    if r.ends_with(')') {
        if let Some(at) = r.rfind("\\.(?P<format>") {
            if close_of(r.as_bytes(), at + 2, b'(', b')') == Some(r.len()) {
                r = &r[..at];
                suffix = true;
            }
        }
    }
    (r, suffix)
}

/// `path` without the `.ext` ending its last segment, if it has one.
fn without_format_suffix(path: &str) -> Option<&str> {
    let trimmed = path.trim_end_matches('/');
    let last = trimmed.rfind('/').map_or(0, |i| i + 1);
    let dot = trimmed[last..].rfind('.')?;
    Some(&trimmed[..last + dot])
}

/// Whether a regex group's body can match a `/`, which makes it a rest parameter: `.`,
/// `\S`/`\W`/`\D`, a literal slash, or a character class that admits one (`[^.]`, not
/// `[^/.]`, `[-\w]` or `[0-9]`).
fn can_match_slash(body: &[u8]) -> bool {
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\\' => {
                if matches!(body.get(i + 1), Some(b'S' | b'W' | b'D' | b'/')) {
                    return true;
                }
                i += 2;
                continue;
            }
            b'.' | b'/' => return true,
            b'[' => {
                let mut j = i + 1;
                let negated = body.get(j) == Some(&b'^');
                if negated {
                    j += 1;
                }
                let mut slash = false;
                let mut broad = false;
                let mut first = true;
                while j < body.len() && (body[j] != b']' || first) {
                    match body[j] {
                        b'\\' => {
                            match body.get(j + 1) {
                                Some(b'/') => slash = true,
                                Some(b'S' | b'W' | b'D') => broad = true,
                                _ => {}
                            }
                            j += 1;
                        }
                        b'/' => slash = true,
                        _ => {}
                    }
                    first = false;
                    j += 1;
                }
                if (negated && !slash) || (!negated && (slash || broad)) {
                    return true;
                }
                i = j + 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// The non-empty segments of a concrete path, matrix parameters (`;jsessionid=...`) removed.
pub(crate) fn raw_segments(path: &str) -> RawSegments<'_> {
    RawSegments { path, pos: 0 }
}

/// One byte pass per segment, noting `;` on the way (`split` + `find` showed in profiles).
pub(crate) struct RawSegments<'a> {
    path: &'a str,
    pos: usize,
}

impl<'a> Iterator for RawSegments<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.path.as_bytes();
        while self.pos < b.len() {
            let start = self.pos;
            let mut semi = false;
            while self.pos < b.len() && b[self.pos] != b'/' {
                semi |= b[self.pos] == b';';
                self.pos += 1;
            }
            let seg = &self.path[start..self.pos];
            self.pos += 1;
            let seg = if semi { strip_matrix(seg) } else { seg };
            if !seg.is_empty() {
                return Some(seg);
            }
        }
        None
    }
}

/// `login;jsessionid=AB12` → `login`: servlet containers append session ids as matrix
/// parameters; they are secrets and would make every session its own endpoint.
pub(crate) fn strip_matrix(seg: &str) -> &str {
    match seg.find(';') {
        Some(i) if seg[i..].contains('=') || seg[i + 1..].eq_ignore_ascii_case("jsessionid") => {
            &seg[..i]
        }
        _ => seg,
    }
}

fn segment_matches(t: Segment<'_>, raw: &str) -> bool {
    match t {
        Segment::Param(_) => true,
        // Canonical literals keep invalid UTF-8 encoded (`%a0`): compare raw text as well.
        Segment::Literal(l) => decoded_eq(raw, l) || raw.eq_ignore_ascii_case(l),
        Segment::Mixed(m) => glob(m.as_bytes(), raw.as_bytes()),
    }
}

/// Compares a raw path segment with a canonical literal, decoding `%XX` on the fly except
/// where the canonical form keeps the encoding.
fn decoded_eq(raw: &str, lit: &str) -> bool {
    let (r, l) = (raw.as_bytes(), lit.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < r.len() {
        let mut b = r[i];
        let mut step = 1;
        if b == b'%' && i + 2 < r.len() {
            if let (Some(h), Some(lo)) = (hex_val(r[i + 1]), hex_val(r[i + 2])) {
                let d = h * 16 + lo;
                if !matches!(d, b'/' | b'{' | b'}' | b'%' | b'?' | b'#' | 0) {
                    b = d;
                    step = 3;
                }
            }
        }
        match l.get(j) {
            Some(&c) if c.eq_ignore_ascii_case(&b) => {}
            _ => return false,
        }
        i += step;
        j += 1;
    }
    j == l.len()
}

/// Matches a mixed template segment (`{name}.{ext}`, `{id}:cancel`) against a raw segment:
/// each parameter takes at least one character.
pub(crate) fn glob(pat: &[u8], s: &[u8]) -> bool {
    match pat.first() {
        None => s.is_empty(),
        Some(b'{') => {
            let close = match pat.iter().position(|&c| c == b'}') {
                Some(c) => c,
                None => return pat.eq_ignore_ascii_case(s),
            };
            let rest = &pat[close + 1..];
            (1..=s.len()).any(|k| glob(rest, &s[k..]))
        }
        Some(&c) => {
            s.first().is_some_and(|d| d.eq_ignore_ascii_case(&c)) && glob(&pat[1..], &s[1..])
        }
    }
}

/// Splits on `/` outside `()`, `<>` and `{}`, so regex constraints keep their slashes.
fn split_top_level(raw: &str) -> impl Iterator<Item = &str> {
    TopLevel { raw, pos: 0 }.filter(|s| !s.is_empty())
}

struct TopLevel<'a> {
    raw: &'a str,
    pos: usize,
}

impl<'a> Iterator for TopLevel<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.raw.as_bytes();
        if self.pos > b.len() {
            return None;
        }
        let start = self.pos;
        let mut depth = 0i32;
        let mut i = start;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 1,
                b'(' | b'<' | b'{' => depth += 1,
                b')' | b'>' | b'}' => depth = (depth - 1).max(0),
                b'/' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        let end = i.min(b.len());
        self.pos = end + 1;
        Some(&self.raw[start..end])
    }
}

/// Express 5 optional groups: `/users{/:id}` → `/users/:id?`.
fn expand_optional_groups(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 2);
    let mut groups = 0;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'/') => groups += 1,
            '}' if groups > 0 => {
                groups -= 1;
                out.push('?');
            }
            _ => out.push(c),
        }
    }
    out
}

#[derive(Default)]
struct SegFlags {
    /// A literal `{`, `}` or `/` (inside an unbalanced bracket) was copied: the model's parser
    /// decides what it means.
    needs_parse: bool,
    params: usize,
    literals: usize,
    optional: bool,
    multi: bool,
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Index just past the bracket that closes the one at `open`.
fn close_of(b: &[u8], open: usize, o: u8, c: u8) -> Option<usize> {
    let mut depth = 0;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            x if x == o => depth += 1,
            x if x == c => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn push_param(out: &mut String, name: &str, f: &mut SegFlags) {
    out.push('{');
    let before = out.len();
    out.extend(
        name.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')),
    );
    if out.len() == before {
        out.push_str("param");
    }
    out.push('}');
    f.params += 1;
}

fn convert_segment(seg: &str, out: &mut String) -> SegFlags {
    let b = seg.as_bytes();
    let mut f = SegFlags::default();
    let mut last_was_param = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b':' if b
                .get(i + 1)
                .is_some_and(|&n| n.is_ascii_alphabetic() || n == b'_')
                && (i == 0 || matches!(b[i - 1], b'-' | b'.' | b'~')) =>
            {
                let s = i + 1;
                let mut e = s;
                while e < b.len() && is_ident(b[e]) {
                    e += 1;
                }
                push_param(out, &seg[s..e], &mut f);
                i = e;
                if b.get(i) == Some(&b'(') {
                    i = close_of(b, i, b'(', b')').unwrap_or(b.len());
                }
                match b.get(i) {
                    Some(b'?') => {
                        f.optional = true;
                        i += 1;
                    }
                    Some(b'*') => {
                        f.optional = true;
                        f.multi = true;
                        i += 1;
                    }
                    Some(b'+') => {
                        f.multi = true;
                        i += 1;
                    }
                    _ => {}
                }
                last_was_param = true;
                continue;
            }
            b'*' => {
                let mut s = i;
                while s < b.len() && b[s] == b'*' {
                    s += 1;
                }
                let mut e = s;
                while e < b.len() && is_ident(b[e]) {
                    e += 1;
                }
                push_param(out, if e > s { &seg[s..e] } else { "wildcard" }, &mut f);
                f.multi = true;
                i = e;
                last_was_param = true;
                continue;
            }
            b'<' => {
                if let Some(end) = close_of(b, i, b'<', b'>') {
                    let inner = &seg[i + 1..end - 1];
                    let (conv, name) = match inner.rfind(':') {
                        Some(k) => (&inner[..k], &inner[k + 1..]),
                        None => ("", inner),
                    };
                    let conv = conv.split('(').next().unwrap_or("").trim();
                    if conv == "path" {
                        f.multi = true;
                    }
                    push_param(out, name.trim(), &mut f);
                    i = end;
                    last_was_param = true;
                    continue;
                }
            }
            b'{' => {
                if let Some(end) = close_of(b, i, b'{', b'}') {
                    let inner = seg[i + 1..end - 1].trim();
                    let stars = inner.bytes().take_while(|&x| x == b'*').count();
                    let body = &inner[stars..];
                    let name_end = body.find([':', '?', '=']).unwrap_or(body.len());
                    let name = body[..name_end].trim();
                    let constraint = body[name_end..].trim_start_matches(':');
                    if stars > 0 || constraint == "path" || constraint.starts_with("path?") {
                        f.multi = true;
                    }
                    if body.ends_with('?') {
                        f.optional = true;
                    }
                    push_param(out, name, &mut f);
                    i = end;
                    last_was_param = true;
                    continue;
                }
            }
            b'(' => {
                if let Some(end) = close_of(b, i, b'(', b')') {
                    let inner = &seg[i + 1..end - 1];
                    // `(?P<name>…)` (Python) and `(?<name>…)` name their group.
                    let named = inner
                        .strip_prefix("?P<")
                        .or_else(|| {
                            inner
                                .strip_prefix("?<")
                                .filter(|r| !r.starts_with(['=', '!']))
                        })
                        .and_then(|r| r.find('>').map(|k| (&r[..k], &r[k + 1..])));
                    let body = named.map_or(inner, |(_, body)| body);
                    let many = can_match_slash(body.as_bytes());
                    f.multi |= many;
                    let name = match named {
                        Some((n, _)) if !n.is_empty() => n,
                        _ if many => "wildcard",
                        _ => "param",
                    };
                    push_param(out, name, &mut f);
                    i = end;
                    if matches!(b.get(i), Some(b'?')) {
                        f.optional = true;
                        i += 1;
                    }
                    last_was_param = true;
                    continue;
                }
            }
            b'?' => {
                if last_was_param {
                    f.optional = true;
                }
                i += 1;
                continue;
            }
            b'\\' => {
                i += 1;
                continue;
            }
            // A regex anchor left at a segment's start by joined Django routes.
            b'^' if i == 0 => {
                i += 1;
                continue;
            }
            b'#' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        // A literal character (whole UTF-8 sequence).
        let ch_len = seg[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&seg[i..i + ch_len]);
        f.needs_parse |= matches!(c, b'{' | b'}' | b'/');
        f.literals += 1;
        last_was_param = false;
        i += ch_len;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slashy() -> Vec<Box<str>> {
        vec!["path".into(), "file_path".into()]
    }

    fn norm(r: &str) -> String {
        Route::parse(r, &slashy())
            .unwrap()
            .template
            .as_str()
            .to_string()
    }

    #[test]
    fn framework_syntaxes_become_canonical() {
        let cases = [
            // Express / path-to-regexp
            ("/users/:id", "/users/{id}"),
            ("/users/:id?", "/users/{id}"),
            ("/users/:id(\\d+)", "/users/{id}"),
            (
                "/users/:id(\\d+)/orders/:orderId",
                "/users/{id}/orders/{orderId}",
            ),
            ("/files/:name.:ext", "/files/{name}.{ext}"),
            ("/flights/:from-:to", "/flights/{from}-{to}"),
            ("/static/*", "/static/{wildcard}"),
            ("*", "/{wildcard}"),
            ("/files/*splat", "/files/{splat}"),
            ("/users{/:id}", "/users/{id}"),
            ("/repo/:path(.*)", "/repo/{path}"),
            // Flask / Werkzeug
            ("/users/v1/<username>", "/users/v1/{username}"),
            ("/users/<int:id>", "/users/{id}"),
            ("/files/<path:p>", "/files/{p}"),
            ("/c/<any(a, b):kind>", "/c/{kind}"),
            ("/x/<string(length=2):code>", "/x/{code}"),
            // ASP.NET, Spring, FastAPI
            ("/users/{id:int}", "/users/{id}"),
            ("/users/{id}", "/users/{id}"),
            ("/users/{id?}", "/users/{id}"),
            ("/docs/{*rest}", "/docs/{rest}"),
            ("/docs/{**rest}", "/docs/{rest}"),
            ("/users/{id:[0-9]{1,9}}", "/users/{id}"),
            ("/files/{file_path:path}", "/files/{file_path}"),
            ("/api/{version}/items/{id=5}", "/api/{version}/items/{id}"),
            // Google-style custom method and plain regex groups
            ("/v1/jobs/{id}:cancel", "/v1/jobs/{id}:cancel"),
            ("/legacy/(.*)", "/legacy/{wildcard}"),
            ("/n/(\\d+)", "/n/{param}"),
            // Canonicalisation
            ("/users/:id/", "/users/{id}"),
            ("users//:id", "/users/{id}"),
            ("/caf%C3%A9/:id", "/café/{id}"),
            ("/", "/"),
            ("https://api.example.com/v2/things/:id", "/v2/things/{id}"),
        ];
        for (raw, want) in cases {
            assert_eq!(norm(raw), want, "route {raw:?}");
        }
        assert!(Route::parse("  ", &[]).is_none());
        // garbage found by the property tests: unbalanced brackets swallow a slash
        assert_eq!(norm("</"), "/<");
        assert_eq!(norm("/a/(b/c"), "/a/(b/c");
    }

    #[test]
    fn a_route_matches_its_own_path() {
        let m = |r: &str, p: &str| Route::parse(r, &slashy()).unwrap().match_path(p);
        assert_eq!(m("/users/:id", "/users/42"), RouteMatch::Full);
        assert_eq!(m("/users/:id", "/USERS/42/"), RouteMatch::Full);
        assert_eq!(
            m("/users/v1/<username>", "/users/v1/alice"),
            RouteMatch::Full
        );
        assert_eq!(m("/café", "/caf%C3%A9"), RouteMatch::Full);
        assert_eq!(m("/a%2Fb", "/a%2Fb"), RouteMatch::Full);
        assert_eq!(
            m("/files/:name.:ext", "/files/report.pdf"),
            RouteMatch::Full
        );
        assert_eq!(m("/files/:name.:ext", "/files/report"), RouteMatch::No);
        assert_eq!(
            m("/v1/jobs/{id}:cancel", "/v1/jobs/7:cancel"),
            RouteMatch::Full
        );
        assert_eq!(m("/login", "/login;jsessionid=0AF3"), RouteMatch::Full);
        assert_eq!(
            m("/%a0/x", "/%A0/x"),
            RouteMatch::Full,
            "invalid UTF-8 stays encoded"
        );
        // optional and catch-all segments
        assert_eq!(m("/users/:id?", "/users"), RouteMatch::Full);
        assert_eq!(m("/users/:id?", "/users/7"), RouteMatch::Full);
        assert_eq!(m("/static/*", "/static/css/site.css"), RouteMatch::Full);
        assert_eq!(
            m("/files/<path:p>/raw", "/files/a/b/c.md/raw"),
            RouteMatch::Full
        );
        assert_eq!(m("/docs/{*rest}", "/docs/a/b"), RouteMatch::Full);
        // parameters named like paths hold slashes in real APIs
        assert_eq!(
            m("/repos/{o}/contents/{path}", "/repos/x/contents/a/b/c.md"),
            RouteMatch::Full
        );
        assert_eq!(
            m("/repos/{o}/tags/{tag}", "/repos/x/tags/a/b"),
            RouteMatch::Prefix(4)
        );
    }

    /// `ResolverMatch.route` as opentelemetry-instrumentation-django reports it: DRF router
    /// and `re_path` regexes joined without a leading slash, `path()` converters.
    #[test]
    fn django_regex_routes_become_templates() {
        let cases = [
            ("api/books/(?P<pk>[^/.]+)/$", "/api/books/{pk}"),
            ("api/books/$", "/api/books"),
            ("^api/books/$", "/api/books"),
            (
                "^api/archive/(?P<year>[0-9]{4})/(?P<month>[0-9]{2})/$",
                "/api/archive/{year}/{month}",
            ),
            (
                "api/users/(?P<username>[^/]+)/orders/$",
                "/api/users/{username}/orders",
            ),
            (
                "api/users/(?P<username>[^/.]+)/orders/(?P<pk>\\d+)/$",
                "/api/users/{username}/orders/{pk}",
            ),
            // DRF format_suffix_patterns: the same endpoint with `.json`
            (
                "api/books/(?P<pk>[^/.]+)\\.(?P<format>[a-z0-9]+)/?$",
                "/api/books/{pk}",
            ),
            ("^api/books\\.(?P<format>[a-z0-9]+)/?$", "/api/books"),
            ("api/\\.(?P<format>[a-z0-9]+)/?$", "/api"),
            ("api/$", "/api"),
            ("^health\\Z", "/health"),
            ("api/v1\\.0/items/$", "/api/v1.0/items"),
            ("api/files/(?P<path>.*)$", "/api/files/{path}"),
            ("api/(?:legacy)/(\\d+)/$", "/api/{param}/{param}"),
            ("api/slug/(?P<slug>[-\\w]+)/$", "/api/slug/{slug}"),
            // path() converters
            ("api/items/<int:id>/", "/api/items/{id}"),
            ("api/docs/<path:doc_path>", "/api/docs/{doc_path}"),
            (
                "api/posts/<slug:slug>/comments/",
                "/api/posts/{slug}/comments",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(norm(raw), want, "route {raw:?}");
        }
    }

    #[test]
    fn django_routes_match_their_paths() {
        let m = |r: &str, p: &str| Route::parse(r, &[]).unwrap().match_path(p);
        let full = [
            ("api/books/(?P<pk>[^/.]+)/$", "/api/books/42/"),
            (
                "api/users/(?P<username>[^/]+)/orders/$",
                "/api/users/carol.w/orders/",
            ),
            (
                "^api/archive/(?P<year>[0-9]{4})/(?P<month>[0-9]{2})/$",
                "/api/archive/2024/05/",
            ),
            (
                "api/books/(?P<pk>[^/.]+)\\.(?P<format>[a-z0-9]+)/?$",
                "/api/books/42.json",
            ),
            ("^api/books\\.(?P<format>[a-z0-9]+)/?$", "/api/books.json"),
            ("^api/books\\.(?P<format>[a-z0-9]+)/?$", "/api/books.json/"),
            ("api/files/(?P<path>.*)$", "/api/files/fonts/inter/a.woff2"),
            ("api/items/<int:id>/", "/api/items/7/"),
            ("api/docs/<path:doc_path>", "/api/docs/a/b/c.md"),
        ];
        for (r, p) in full {
            assert_eq!(m(r, p), RouteMatch::Full, "{r} against {p}");
        }
        // A class that cannot match `/` is one segment.
        assert_eq!(
            m("api/books/(?P<pk>[^/.]+)/$", "/api/books/4/2"),
            RouteMatch::Prefix(3)
        );
        assert_eq!(
            m("^api/books\\.(?P<format>[a-z0-9]+)/?$", "/api/other.json"),
            RouteMatch::No
        );
        assert_eq!(m("api/books/$", "/api/books.json"), RouteMatch::No);
    }

    #[test]
    fn regex_groups_span_segments_only_when_they_can_match_a_slash() {
        for body in [".*", ".+", "[^.]+", "\\S+", "[a-z/]+", "(?:.*)"] {
            assert!(can_match_slash(body.as_bytes()), "{body}");
        }
        for body in [
            "[^/.]+",
            "[^/]+",
            "[0-9]{4}",
            "\\d+",
            "[-\\w]+",
            "[a-z0-9]+",
            "json|html",
        ] {
            assert!(!can_match_slash(body.as_bytes()), "{body}");
        }
        assert!(
            can_match_slash(b"[]/]x"),
            "a `]` first in a class is a literal"
        );
    }

    #[test]
    fn express_mount_paths_are_prefixes_not_templates() {
        // auth middleware rejected /admin/stats before the router matched: http.route=/admin
        let r = Route::parse("/admin", &[]).unwrap();
        assert_eq!(r.match_path("/admin/stats"), RouteMatch::Prefix(1));
        let r = Route::parse("/api/v1", &[]).unwrap();
        assert_eq!(r.match_path("/api/v1/users/7"), RouteMatch::Prefix(2));
        assert_eq!(r.match_path("/other/v1/users"), RouteMatch::No);
        let r = Route::parse("/users/:userId", &[]).unwrap();
        assert_eq!(r.match_path("/users/7/posts"), RouteMatch::Prefix(2));
        let root = Route::parse("/", &[]).unwrap();
        assert_eq!(root.match_path("/"), RouteMatch::Full);
        assert_eq!(
            root.match_path("/x"),
            RouteMatch::No,
            "the root mount says nothing"
        );
    }

    #[test]
    fn specificity_prefers_longer_and_more_literal_routes() {
        let a = Route::parse("/api/v1", &[]).unwrap();
        let b = Route::parse("/api/v1/users/:id", &[]).unwrap();
        let c = Route::parse("/api/v1/users/me", &[]).unwrap();
        assert!(b.specificity() > a.specificity());
        assert!(c.specificity() > b.specificity());
    }

    #[test]
    fn matrix_params_are_stripped_only_when_they_look_like_params() {
        assert_eq!(strip_matrix("login;jsessionid=AB"), "login");
        assert_eq!(strip_matrix("a;b=c;d=e"), "a");
        assert_eq!(strip_matrix("x;jsessionid"), "x");
        assert_eq!(strip_matrix("semi;colon"), "semi;colon");
        let segs: Vec<_> = raw_segments("//a;x=1/b/").collect();
        assert_eq!(segs, vec!["a", "b"]);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_route_parses_canonically_and_matches_its_own_rendering(r in ".{0,60}") {
            if let Some(route) = Route::parse(&r, &[]) {
                let t = route.template.as_str();
                prop_assert_eq!(&PathTemplate::parse(t), &route.template);
                // `;` starts matrix parameters, which paths lose before matching.
                if route.template.segment_count() < MAX_SEGMENTS && !t.contains(';') {
                    prop_assert_eq!(route.match_path(t), RouteMatch::Full, "route {:?}", r);
                }
            }
        }

        #[test]
        fn framework_routes_match_filled_paths(
            lits in proptest::collection::vec("[a-z]{1,8}", 1..5),
            style in 0usize..4,
            value in "[A-Za-z0-9_-]{1,12}",
        ) {
            let param = match style {
                0 => ":id".to_string(),
                1 => "<int:id>".to_string(),
                2 => "{id:int}".to_string(),
                _ => "{id}".to_string(),
            };
            let route = format!("/{}/{param}", lits.join("/"));
            let path = format!("/{}/{value}", lits.join("/"));
            let r = Route::parse(&route, &[]).unwrap();
            prop_assert_eq!(r.template.as_str(), format!("/{}/{{id}}", lits.join("/")));
            prop_assert_eq!(r.match_path(&path), RouteMatch::Full);
        }
    }
}
