//! Path-template inference for requests without a (usable) `http.route`: each segment of the
//! concrete path is classified on its own and values that can only be data (integers, UUIDs,
//! long hex, digit-heavy ids, dates, emails, tokens, encoded text) become named parameters.
//!
//! Deliberately conservative: the first segment, version segments (`v1`, `v2.1`, `1.0`, the
//! `2` of `/rest/api/2`) and anything word-like stay literal. Word-like values (`octocat`,
//! `my-repo-12`) cannot be told from resource names one path at a time; `learn` finds them from
//! many paths, and `diff` uses the spec. Works on bytes with no heap allocation besides the
//! template and explanation it returns.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::route::raw_segments;
use crate::model::{hex_val, PathTemplate, Segment};

/// Knobs of per-segment inference (`[normalize.infer]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InferRules {
    /// Never turn the first segment into a parameter (it names the API or resource).
    pub protect_first_segment: bool,
    /// Shortest all-hex value (with letters and digits) taken as a hash or object id.
    pub min_hex_len: usize,
    /// Shortest value taken as a random token.
    pub min_token_len: usize,
    /// Fewest digits for a mixed value to be a digit-heavy id (`INV-2024-00017`).
    pub min_digits: usize,
}

impl Default for InferRules {
    fn default() -> Self {
        InferRules {
            protect_first_segment: true,
            min_hex_len: 12,
            min_token_len: 16,
            min_digits: 3,
        }
    }
}

/// What a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Literal,
    Integer,
    Uuid,
    Hex,
    DigitHeavy,
    Date,
    Email,
    Jwt,
    Token,
    Text,
    /// A static file a build names by content hash (`app.3f9a1c2e.js`,
    /// `index-BXk2a9ab.css`) or by a data value (`1733.png`); keeps its extension.
    Asset,
}

impl Class {
    /// The parameter name: stable per class, so one position keeps one name across values.
    pub fn param_name(self) -> &'static str {
        match self {
            Class::Literal => "",
            Class::Integer | Class::DigitHeavy => "id",
            Class::Uuid => "uuid",
            Class::Hex => "hash",
            Class::Date => "date",
            Class::Email => "email",
            Class::Jwt | Class::Token => "token",
            Class::Text => "param",
            Class::Asset => "asset",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Class::Literal => "literal",
            Class::Integer => "integer",
            Class::Uuid => "UUID",
            Class::Hex => "long hex (hash or object id)",
            Class::DigitHeavy => "digit-heavy identifier",
            Class::Date => "date or timestamp",
            Class::Email => "email address",
            Class::Jwt => "JWT",
            Class::Token => "random token",
            Class::Text => "encoded text",
            Class::Asset => "static asset named by a hash or value",
        }
    }

    fn slot(self) -> usize {
        match self.param_name() {
            "id" => 0,
            "uuid" => 1,
            "hash" => 2,
            "date" => 3,
            "email" => 4,
            "token" => 5,
            "asset" => 7,
            _ => 6,
        }
    }
}

/// An inferred template and why it has its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inferred {
    pub template: PathTemplate,
    /// `segment 2: integer; segment 4: UUID`, `None` when every segment stayed literal.
    pub explanation: Option<String>,
}

/// Infers the template of a concrete path (query, fragment and matrix parameters ignored).
pub fn infer_template(path: &str, rules: &InferRules) -> Inferred {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut scratch = Scratch::default();
    let mut b = Builder::new(rules, &mut scratch);
    b.push_raw(raw_segments(path));
    b.finish()
}

/// Reusable state for [`Builder`] across one batch: text buffers, and the templates already
/// built, since most inferred paths of a batch share a handful of templates and a hit must
/// not allocate.
#[derive(Debug)]
pub(crate) struct Scratch {
    out: String,
    why: String,
    /// Whether to write explanations (people read them; the daemon does not).
    pub(crate) explain: bool,
    built: HashSet<PathTemplate, foldhash::fast::RandomState>,
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch {
            out: String::new(),
            why: String::new(),
            explain: true,
            built: HashSet::default(),
        }
    }
}

impl Scratch {
    /// Templates remembered per batch; beyond this every new one is simply built.
    const MAX_BUILT: usize = 1024;

    fn template(
        built: &mut HashSet<PathTemplate, foldhash::fast::RandomState>,
        text: &str,
    ) -> PathTemplate {
        if let Some(t) = built.get(text) {
            return t.clone();
        }
        let t = PathTemplate::from_canonical(text);
        if built.len() < Self::MAX_BUILT {
            built.insert(t.clone());
        }
        t
    }
}

/// Builds a canonical template segment by segment: literal prefixes from a route, then raw
/// path segments that are classified.
pub(crate) struct Builder<'r, 'b> {
    rules: &'r InferRules,
    out: &'b mut String,
    why: &'b mut String,
    explain: bool,
    built: &'b mut HashSet<PathTemplate, foldhash::fast::RandomState>,
    index: usize,
    prev_is_api: bool,
    names: [u8; 8],
}

const SLOT_NAMES: [&str; 8] = [
    "id", "uuid", "hash", "date", "email", "token", "param", "asset",
];

impl<'r, 'b> Builder<'r, 'b> {
    pub(crate) fn new(rules: &'r InferRules, scratch: &'b mut Scratch) -> Self {
        scratch.out.clear();
        scratch.why.clear();
        Builder {
            rules,
            out: &mut scratch.out,
            why: &mut scratch.why,
            explain: scratch.explain,
            built: &mut scratch.built,
            index: 0,
            prev_is_api: false,
            names: [0; 8],
        }
    }

    /// Appends a canonical template's segments as they are (a route covering a prefix).
    pub(crate) fn push_template(&mut self, t: &PathTemplate) {
        for s in t.segments() {
            let raw = match s {
                Segment::Literal(l) | Segment::Mixed(l) => l,
                Segment::Param(p) => {
                    self.count_name(p);
                    self.out.push_str("/{");
                    self.out.push_str(p);
                    self.out.push('}');
                    self.index += 1;
                    self.prev_is_api = false;
                    continue;
                }
            };
            self.out.push('/');
            self.out.push_str(raw);
            self.prev_is_api = raw.eq_ignore_ascii_case("api");
            self.index += 1;
        }
    }

    pub(crate) fn push_raw<'a>(&mut self, segs: impl Iterator<Item = &'a str>) {
        for raw in segs {
            self.push_one(raw);
        }
    }

    fn push_one(&mut self, raw: &str) {
        let shape = Shape::of(raw.as_bytes());
        let Shape {
            braces, percent, ..
        } = shape;
        // Already a template segment (`{id}`, `{name}.{ext}`): keep it, so inference is
        // idempotent on its own output.
        if braces {
            match Segment::classify(raw) {
                Segment::Param(p) if !p.is_empty() && !p.contains([':', '}']) => {
                    self.count_name(p);
                    self.out.push('/');
                    self.out.push_str(raw);
                    self.index += 1;
                    self.prev_is_api = false;
                    return;
                }
                _ => {}
            }
        }
        let mut buf = [0u8; 256];
        let decoded: &[u8] = if percent {
            match decode(raw.as_bytes(), &mut buf) {
                Some(d) => d,
                // Too long to decode on the stack: a long encoded value is data.
                None => {
                    self.push_param(Class::Text, "");
                    return;
                }
            }
        } else {
            raw.as_bytes()
        };
        // Without percent-encoding the bytes are the same, and so is their shape: one pass.
        let shape = if percent { Shape::of(decoded) } else { shape };
        let (class, split) =
            classify_shaped(decoded, &shape, self.index, self.prev_is_api, self.rules);
        match class {
            Class::Literal => {
                self.out.push('/');
                if braces {
                    // Brace text is canonicalised by the model's own rules (`{a:b}` → `{a}`).
                    let t = PathTemplate::parse(raw);
                    self.out.push_str(t.as_str().trim_start_matches('/'));
                } else if percent {
                    push_canonical_literal(self.out, raw);
                } else {
                    self.out.push_str(raw);
                }
                self.prev_is_api = raw.eq_ignore_ascii_case("api");
                self.index += 1;
            }
            _ => {
                // A mixed value keeps its literal suffix (`{id}.pdf`, `{id}:cancel`), taken
                // from the decoded bytes: it is ASCII by construction, and offsets into an
                // encoded `raw` would differ.
                let suffix = split
                    .and_then(|k| std::str::from_utf8(&decoded[k..]).ok())
                    .unwrap_or("");
                self.push_param(class, suffix);
            }
        }
    }

    fn push_param(&mut self, class: Class, literal_suffix: &str) {
        let slot = class.slot();
        let n = self.names[slot];
        self.names[slot] = n.saturating_add(1);
        self.out.push_str("/{");
        self.out.push_str(SLOT_NAMES[slot]);
        if n > 0 {
            // `/users/{id}/orders/{id2}`: names unique within a template, deterministically.
            push_number(self.out, n as usize + 1);
        }
        self.out.push('}');
        push_canonical_literal(self.out, literal_suffix);
        self.index += 1;
        self.prev_is_api = false;
        if !self.explain {
            return;
        }
        let why = &mut *self.why;
        if !why.is_empty() {
            why.push_str("; ");
        }
        why.push_str("segment ");
        push_number(why, self.index);
        why.push_str(": ");
        why.push_str(class.describe());
    }

    fn count_name(&mut self, p: &str) {
        let base = p.trim_end_matches(|c: char| c.is_ascii_digit());
        if let Some(slot) = SLOT_NAMES.iter().position(|n| *n == base) {
            self.names[slot] = self.names[slot].saturating_add(1);
        }
    }

    pub(crate) fn finish(self) -> Inferred {
        let text: &str = if self.out.is_empty() { "/" } else { self.out };
        Inferred {
            template: Scratch::template(self.built, text),
            explanation: (!self.why.is_empty()).then(|| self.why.to_string()),
        }
    }
}

fn push_number(s: &mut String, n: usize) {
    use std::fmt::Write;
    let _ = write!(s, "{n}");
}

/// Percent-decodes into `buf`; `None` when the result would not fit.
fn decode<'b>(raw: &[u8], buf: &'b mut [u8; 256]) -> Option<&'b [u8]> {
    let mut n = 0;
    let mut i = 0;
    while i < raw.len() {
        if n == buf.len() {
            return None;
        }
        let mut b = raw[i];
        if b == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex_val(raw[i + 1]), hex_val(raw[i + 2])) {
                b = h * 16 + l;
                i += 2;
            }
        }
        buf[n] = b;
        n += 1;
        i += 1;
    }
    Some(&buf[..n])
}

/// Appends a literal in the canonical form [`PathTemplate::parse`] gives it: percent-decoded
/// except for encodings of `/ { } % ? #` and NUL, and kept raw when decoding is not UTF-8.
pub(crate) fn push_canonical_literal(out: &mut String, lit: &str) {
    if !lit.contains('%') {
        out.push_str(lit);
        return;
    }
    let b = lit.as_bytes();
    let mut i = 0;
    let mut pending: Vec<u8> = Vec::with_capacity(b.len());
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                let d = h * 16 + l;
                if !matches!(d, b'/' | b'{' | b'}' | b'%' | b'?' | b'#' | 0) {
                    pending.push(d);
                    i += 3;
                    continue;
                }
            }
        }
        pending.push(b[i]);
        i += 1;
    }
    match std::str::from_utf8(&pending) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(lit),
    }
}

/// Classifies one decoded segment at position `index` (0-based). Returns the class and, for a
/// mixed value (`12.pdf`, `7:cancel`), the byte offset where its literal suffix starts.
pub fn classify(
    d: &[u8],
    index: usize,
    prev_is_api: bool,
    rules: &InferRules,
) -> (Class, Option<usize>) {
    classify_shaped(d, &Shape::of(d), index, prev_is_api, rules)
}

/// [`classify`] with the segment's [`Shape`] already taken.
fn classify_shaped(
    d: &[u8],
    shape: &Shape,
    index: usize,
    prev_is_api: bool,
    rules: &InferRules,
) -> (Class, Option<usize>) {
    if d.is_empty() {
        return (Class::Literal, None);
    }
    if index == 0 && rules.protect_first_segment {
        // A build's fingerprinted file at the root (`/main-5KQ2XY7B.js`) names no API.
        return match asset_split(d, rules) {
            Some(k) => (Class::Asset, Some(k)),
            None => (Class::Literal, None),
        };
    }
    if let Some(class) = plain_class(shape, d.len(), prev_is_api) {
        return (class, None);
    }
    general_class(d, prev_is_api, rules)
}

/// Extensions of what a front-end build writes with a content hash in the name: scripts,
/// styles, source maps, fonts, images, WebAssembly. Lower case; compared ignoring case.
const ASSET_EXTENSIONS: &[&[u8]] = &[
    b"js", b"mjs", b"cjs", b"css", b"map", b"woff", b"woff2", b"ttf", b"otf", b"eot", b"svg",
    b"png", b"jpg", b"jpeg", b"gif", b"webp", b"avif", b"ico", b"wasm",
];

/// Where the extension of a static asset named by a content hash or a data value starts
/// (`app.3f9a1c2e.js` → the `.js`, `app.3f9a1c2e.js.map` → the `.js.map`), so that one
/// directory's builds fold into `{asset}.js` whatever the hash's letters and digits. A name
/// (`inter-var.woff2`, `logo.png`, `OpenSans-SemiBold.woff2`) is no asset parameter; nor
/// is anything without one of [`ASSET_EXTENSIONS`] (`/users/john.doe`, `/api/v1.2`).
fn asset_split(d: &[u8], rules: &InferRules) -> Option<usize> {
    let mut k = d.iter().rposition(|&b| b == b'.')?;
    let ext = &d[k + 1..];
    if !ASSET_EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e)) {
        return None;
    }
    // Source maps keep the extension of what they map: `.js.map`, `.css.map`.
    if ext.eq_ignore_ascii_case(b"map") {
        if let Some(j) = d[..k].iter().rposition(|&b| b == b'.') {
            let mapped = &d[j + 1..k];
            if [&b"js"[..], b"mjs", b"css"]
                .iter()
                .any(|e| mapped.eq_ignore_ascii_case(e))
            {
                k = j;
            }
        }
    }
    let mut stem = &d[..k];
    // Webpack's `main.8e2f1c0a.chunk.js`: the hash sits before `.chunk`.
    for tail in [&b".chunk"[..], b".bundle"] {
        if stem.len() > tail.len() && stem[stem.len() - tail.len()..].eq_ignore_ascii_case(tail) {
            stem = &stem[..stem.len() - tail.len()];
            break;
        }
    }
    if stem.is_empty() {
        return None;
    }
    // `name.HASH`, `name-HASH`, or Vite's eight characters after `-` that may hold `-`
    // and `_` themselves (`index-B-xk2_9a.css`), or the whole stem (`1a2b3c4d5e6f.css`).
    let after_separator = stem
        .iter()
        .rposition(|&b| b == b'.' || b == b'-')
        .is_some_and(|i| is_hash(&stem[i + 1..], true));
    let vite =
        stem.len() > 9 && stem[stem.len() - 9] == b'-' && is_hash(&stem[stem.len() - 8..], true);
    if after_separator || vite || is_hash(stem, false) {
        return Some(k);
    }
    // A data value with a static extension (`/avatars/1733.png`) is an asset of the same
    // directory too, not an `{id}.png` beside the hashed ones. Encoded text (an object
    // store's `photos%2Fcat.jpg`) is a key, not a build's file: left to the rules below.
    if core_class(stem, rules).is_some() {
        return Some(k);
    }
    None
}

/// A content hash as bundlers write it: hex (webpack, Parcel, Angular), base64url (Vite)
/// or base32 (esbuild). `named`: a name precedes it (`app.`), which lets a shorter hex
/// token count.
fn is_hash(t: &[u8], named: bool) -> bool {
    if t.len() < 6 || t.len() > 64 {
        return false;
    }
    let (mut upper, mut lower, mut digits) = (0usize, 0usize, 0usize);
    for &b in t {
        match b {
            b'A'..=b'Z' => upper += 1,
            b'a'..=b'z' => lower += 1,
            b'0'..=b'9' => digits += 1,
            b'_' | b'-' => {}
            _ => return false,
        }
    }
    let hex_case = upper == 0 || lower == 0;
    if hex_case && t.iter().all(u8::is_ascii_hexdigit) {
        // `facade`, `decade` are words: a short hex token needs a digit and a name.
        return t.len() >= 8 || (named && digits > 0);
    }
    if t.len() > 12 || upper == 0 || is_version(t) || is_dimensions(t) {
        return false;
    }
    // base64url/base32: capitals among digits, or in no camelCase word's pattern.
    digits > 0 || (lower > 0 && !is_camel_word(t)) || (lower == 0 && t.len() >= 8)
}

/// `192x192`, `1024X768`: icon and image sizes, not hashes.
fn is_dimensions(t: &[u8]) -> bool {
    match t.iter().position(|&b| b == b'x' || b == b'X') {
        Some(i) => {
            i > 0
                && i + 1 < t.len()
                && t[..i].iter().all(u8::is_ascii_digit)
                && t[i + 1..].iter().all(u8::is_ascii_digit)
        }
        None => false,
    }
}

/// `SemiBold`, `darkMode`: lower case, then capitals each followed by at least two lower
/// case letters.
fn is_camel_word(t: &[u8]) -> bool {
    let mut i = t.iter().take_while(|b| b.is_ascii_lowercase()).count();
    while i < t.len() {
        if !t[i].is_ascii_uppercase() {
            return false;
        }
        let run = t[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count();
        if run < 2 {
            return false;
        }
        i += 1 + run;
    }
    true
}

/// What one pass over a segment's bytes tells.
#[derive(Debug, Clone, Copy)]
struct Shape {
    braces: bool,
    percent: bool,
    /// Only ASCII digits.
    digits: bool,
    /// Only lowercase ASCII letters, `-` and `_`.
    word: bool,
}

impl Shape {
    fn of(d: &[u8]) -> Shape {
        let mut s = Shape {
            braces: false,
            percent: false,
            digits: true,
            word: true,
        };
        for &b in d {
            s.braces |= b == b'{' || b == b'}';
            s.percent |= b == b'%';
            s.digits &= b.is_ascii_digit();
            s.word &= b.is_ascii_lowercase() || b == b'-' || b == b'_';
        }
        s
    }
}

/// Most segments are plain lowercase words or plain integers. Every rule of
/// [`general_class`] agrees on those (property-tested), and this is one pass instead of a
/// dozen. A 36-byte word is left to the rules: it could be a UUID written with letters only.
fn plain_class(shape: &Shape, len: usize, prev_is_api: bool) -> Option<Class> {
    if shape.word && len != 36 {
        Some(Class::Literal)
    } else if shape.digits {
        // `/rest/api/2/issue`: an API version, not data.
        Some(if prev_is_api && len <= 2 {
            Class::Literal
        } else {
            Class::Integer
        })
    } else {
        None
    }
}

fn general_class(d: &[u8], prev_is_api: bool, rules: &InferRules) -> (Class, Option<usize>) {
    if let Some(k) = asset_split(d, rules) {
        return (Class::Asset, Some(k));
    }
    if is_version(d) {
        return (Class::Literal, None);
    }
    // `/rest/api/2/issue`, `/admin/api/2024-01/orders.json`: API versions, not data.
    if prev_is_api && ((d.len() <= 2 && d.iter().all(u8::is_ascii_digit)) || date_len(d).is_some())
    {
        return (Class::Literal, None);
    }
    if is_email(d) {
        return (Class::Email, None);
    }
    if is_jwt(d) {
        return (Class::Jwt, None);
    }
    if is_uuid(d) {
        return (Class::Uuid, None);
    }
    if date_len(d).is_some_and(|n| n == d.len()) {
        return (Class::Date, None);
    }
    // `{id}.pdf`, `{id}:cancel`, `{param}.json`: a data stem with a word suffix (an
    // extension holding a letter, or an all-letter custom method).
    if let Some(k) = d.iter().rposition(|&b| b == b'.' || b == b':') {
        let (stem, suffix) = (&d[..k], &d[k + 1..]);
        let word_suffix = !suffix.is_empty()
            && suffix.len() <= 12
            && if d[k] == b'.' {
                suffix.iter().all(u8::is_ascii_alphanumeric)
                    && suffix.iter().any(u8::is_ascii_alphabetic)
            } else {
                suffix.iter().all(u8::is_ascii_alphabetic)
            };
        if word_suffix && !stem.is_empty() {
            if let Some(c) = core_class(stem, rules) {
                return (c, Some(k));
            }
            if is_text(stem) {
                return (Class::Text, Some(k));
            }
        }
    }
    if let Some(c) = core_class(d, rules) {
        return (c, None);
    }
    if is_text(d) {
        return (Class::Text, None);
    }
    (Class::Literal, None)
}

/// Spaces, control characters, non-ASCII, or a slash (which can only have been encoded, as
/// GitLab's `group%2Fproject` ids are): decoded text no route literal holds.
fn is_text(d: &[u8]) -> bool {
    d.iter()
        .any(|&b| b == b' ' || b == b'/' || !(0x20..0x7f).contains(&b))
}

fn core_class(d: &[u8], rules: &InferRules) -> Option<Class> {
    if d.iter().all(u8::is_ascii_digit) {
        return Some(Class::Integer);
    }
    if is_uuid(d) {
        return Some(Class::Uuid);
    }
    if date_len(d).is_some_and(|n| n == d.len()) {
        return Some(Class::Date);
    }
    if d.len() >= rules.min_hex_len
        && d.iter().all(u8::is_ascii_hexdigit)
        && d.iter().any(u8::is_ascii_digit)
        && d.iter().any(u8::is_ascii_alphabetic)
    {
        return Some(Class::Hex);
    }
    if is_digit_heavy(d, rules.min_digits) {
        return Some(Class::DigitHeavy);
    }
    if is_token(d, rules.min_token_len) {
        return Some(Class::Token);
    }
    None
}

/// `v1`, `V2`, `v2.1`, `v1beta1`, `v3alpha`, `1.0`, `2.1.3`.
pub fn is_version(d: &[u8]) -> bool {
    let rest = match d.first() {
        Some(b'v' | b'V') => &d[1..],
        Some(b'0'..=b'9') => {
            // bare dotted numbers: at most three short components and at least one dot
            let parts = d.split(|&b| b == b'.');
            let mut n = 0;
            for p in parts {
                n += 1;
                if p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) {
                    return false;
                }
            }
            return (2..=3).contains(&n);
        }
        _ => return false,
    };
    let digits = rest
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .count();
    if digits == 0 || !rest[0].is_ascii_digit() || rest[..digits].ends_with(b".") {
        return false;
    }
    let tail = &rest[digits..];
    if tail.is_empty() {
        return true;
    }
    // v1beta1, v2alpha, v1rc2, v1-preview
    let tail = tail.strip_prefix(b"-").unwrap_or(tail);
    let word = tail.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let w = &tail[..word];
    ["alpha", "beta", "rc", "preview", "dev", "m"]
        .iter()
        .any(|k| w.eq_ignore_ascii_case(k.as_bytes()))
        && tail[word..].iter().all(u8::is_ascii_digit)
}

fn is_uuid(d: &[u8]) -> bool {
    d.len() == 36
        && d.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn two(d: &[u8], i: usize) -> Option<u32> {
    let a = d.get(i)?;
    let b = d.get(i + 1)?;
    (a.is_ascii_digit() && b.is_ascii_digit()).then(|| ((a - b'0') * 10 + (b - b'0')) as u32)
}

/// Length of a date or timestamp at the start of `d`: `2024-01-31`, `2024-01`,
/// `2024-01-31T10:10:10Z` (and offsets, fractions), `20240131T101010Z`.
fn date_len(d: &[u8]) -> Option<usize> {
    let year = |s: &[u8]| {
        s.len() >= 4 && s[..4].iter().all(u8::is_ascii_digit) && matches!(&s[..2], b"19" | b"20")
    };
    if !year(d) {
        return None;
    }
    let month_ok = |m: u32| (1..=12).contains(&m);
    let day_ok = |x: u32| (1..=31).contains(&x);
    if d.get(4) == Some(&b'-') {
        let m = two(d, 5).filter(|m| month_ok(*m))?;
        let _ = m;
        if d.len() == 7 {
            return Some(7);
        }
        if d.get(7) != Some(&b'-') {
            return None;
        }
        two(d, 8).filter(|x| day_ok(*x))?;
        if d.len() == 10 {
            return Some(10);
        }
        return time_tail(&d[10..]).map(|n| 10 + n);
    }
    // compact basic format: 20240131T101010Z
    if d.len() >= 15 && d[..8].iter().all(u8::is_ascii_digit) && matches!(d[8], b'T' | b't') {
        two(d, 4).filter(|m| month_ok(*m))?;
        two(d, 6).filter(|x| day_ok(*x))?;
        let rest = &d[9..];
        if rest.len() >= 6
            && rest[..6].iter().all(u8::is_ascii_digit)
            && rest[6..]
                .iter()
                .all(|b| b.is_ascii_digit() || matches!(b, b'Z' | b'z' | b'.' | b'+' | b'-'))
        {
            return Some(d.len());
        }
    }
    None
}

/// `T10:10:10.123+02:00` after a date: the whole tail must look like a time.
fn time_tail(t: &[u8]) -> Option<usize> {
    if !matches!(t.first(), Some(b'T' | b't' | b' ' | b'_')) {
        return None;
    }
    let rest = &t[1..];
    if rest.len() < 4 || !rest[..2].iter().all(u8::is_ascii_digit) {
        return None;
    }
    rest.iter()
        .all(|b| b.is_ascii_digit() || matches!(b, b':' | b'.' | b'Z' | b'z' | b'+' | b'-'))
        .then_some(t.len())
}

fn is_email(d: &[u8]) -> bool {
    let Some(at) = d.iter().position(|&b| b == b'@') else {
        return false;
    };
    let (local, domain) = (&d[..at], &d[at + 1..]);
    !local.is_empty()
        && domain.len() >= 3
        && !domain.contains(&b'@')
        && domain.contains(&b'.')
        && !domain.starts_with(b".")
        && !domain.ends_with(b".")
        && d.iter().all(|b| b.is_ascii_graphic())
}

fn is_jwt(d: &[u8]) -> bool {
    d.len() >= 20
        && d.starts_with(b"eyJ")
        && d.iter().filter(|&&b| b == b'.').count() == 2
        && d.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
}

/// `INV-2024-00017`, `a1b2c3d4e5`, `ord_829371`: at least half the alphanumerics are digits.
fn is_digit_heavy(d: &[u8], min_digits: usize) -> bool {
    let mut digits = 0;
    let mut alnum = 0;
    for &b in d {
        if b.is_ascii_digit() {
            digits += 1;
            alnum += 1;
        } else if b.is_ascii_alphabetic() {
            alnum += 1;
        } else if !matches!(b, b'-' | b'_' | b'.' | b':' | b'~') {
            return false;
        }
    }
    digits >= min_digits.max(1) && digits * 2 >= alnum
}

/// Random tokens and keys: long, no word structure. Mixed case with digits, or with capitals
/// that no camelCase word explains (`aZ` pairs of capitals); single case with letters and
/// digits interleaved.
fn is_token(d: &[u8], min_len: usize) -> bool {
    if d.len() < min_len
        || !d
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'=' | b'+'))
    {
        return false;
    }
    let (mut up, mut low, mut dig) = (0usize, 0usize, 0usize);
    let mut cap_pair = false;
    let mut switches = 0;
    let mut prev: Option<u8> = None;
    for &b in d {
        let class = if b.is_ascii_uppercase() {
            up += 1;
            1
        } else if b.is_ascii_lowercase() {
            low += 1;
            2
        } else if b.is_ascii_digit() {
            dig += 1;
            3
        } else {
            prev = None;
            continue;
        };
        if let Some(p) = prev {
            if p == 1 && (class == 1 || class == 3) {
                cap_pair = true;
            }
            if (p == 3) != (class == 3) {
                switches += 1;
            }
        }
        prev = Some(class);
    }
    if up > 0 && low > 0 {
        return dig > 0 || cap_pair;
    }
    // single case: letters and digits must interleave, not `release-2024`
    (up + low) >= 3 && dig >= 3 && switches >= 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn inf(p: &str) -> String {
        infer_template(p, &InferRules::default())
            .template
            .to_string()
    }

    #[test]
    fn real_world_paths() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("/users/8812/orders", "/users/{id}/orders"),
            ("/users/8812/orders/77", "/users/{id}/orders/{id2}"),
            ("/api/v1/users/42", "/api/v1/users/{id}"),
            ("/api/v2.1/items/7/", "/api/v2.1/items/{id}"),
            ("/v1beta1/projects/123456", "/v1beta1/projects/{id}"),
            (
                "/orders/550e8400-e29b-41d4-a716-446655440000",
                "/orders/{uuid}",
            ),
            (
                "/orders/550E8400-E29B-11D4-A716-446655440000/items",
                "/orders/{uuid}/items",
            ),
            ("/objects/507f1f77bcf86cd799439011", "/objects/{hash}"),
            (
                "/repos/x/commits/3f786850e387550fdab836ed7e6dc881de23001b",
                "/repos/x/commits/{hash}",
            ),
            (
                "/sessions/550e8400e29b41d4a716446655440000",
                "/sessions/{hash}",
            ),
            ("/invoices/INV-2024-00017", "/invoices/{id}"),
            ("/devices/a1b2c3d4e5", "/devices/{id}"),
            ("/reports/2024-01-31", "/reports/{date}"),
            ("/reports/2024-01", "/reports/{date}"),
            ("/events/20240131T101010Z", "/events/{date}"),
            ("/events/2024-01-31T10:10:10Z", "/events/{date}"),
            ("/events/2024-01-31T10%3A10%3A10Z", "/events/{date}"),
            ("/since/1706700000", "/since/{id}"),
            ("/users/alice%40example.com", "/users/{email}"),
            ("/users/octocat42@example.com/keys", "/users/{email}/keys"),
            ("/keys/aZ3kQ9xLm2Pq7RtY8vWn4BcD", "/keys/{token}"),
            (
                "/auth/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
                "/auth/{token}",
            ),
            ("/search/hello%20world", "/search/{param}"),
            ("/tags/caf%C3%A9", "/tags/{param}"),
            ("/files/12345.pdf", "/files/{id}.pdf"),
            ("/u/harbor%20nimbus.json", "/u/{param}.json"),
            ("/p/%31%32%33.json", "/p/{id}.json"),
            ("/v1/jobs/8812:cancel", "/v1/jobs/{id}:cancel"),
            ("/login;jsessionid=0A1B2C3D4E5F", "/login"),
            ("/cart;jsessionid=0A1B2C3D/items/9", "/cart/items/{id}"),
            ("//users///42//", "/users/{id}"),
            ("/users/42?x=1#f", "/users/{id}"),
            // API versions are literal
            ("/rest/api/2/issue/10001", "/rest/api/2/issue/{id}"),
            (
                "/admin/api/2024-01/orders.json",
                "/admin/api/2024-01/orders.json",
            ),
            ("/api/1.0/status", "/api/1.0/status"),
            // the first segment stays literal, whatever it holds
            ("/12345", "/12345"),
            (
                "/550e8400-e29b-41d4-a716-446655440000/x",
                "/550e8400-e29b-41d4-a716-446655440000/x",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(inf(p), want, "path {p:?}");
        }
    }

    #[test]
    fn well_known_public_apis() {
        let cases = [
            (
                "/repos/rust-lang/rust/issues/12345",
                "/repos/rust-lang/rust/issues/{id}",
            ),
            (
                "/repos/rust-lang/rust/git/commits/9fc6b43126469e3858e2fe86cafb4f0fd5068869",
                "/repos/rust-lang/rust/git/commits/{hash}",
            ),
            ("/v1/customers/cus_NffrFeUfNV2Hib", "/v1/customers/{token}"),
            (
                "/v1/charges/ch_3MmlLrLkdIwHu7ix0snN0B15/refunds",
                "/v1/charges/{token}/refunds",
            ),
            ("/api/conversations.history", "/api/conversations.history"),
            ("/wiki/Special:Search", "/wiki/Special:Search"),
            (
                "/api/v4/projects/gitlab-org%2Fgitlab/issues",
                "/api/v4/projects/{param}/issues",
            ),
            ("/2/tweets/1712345678901234567", "/2/tweets/{id}"),
            ("/images/a3f9c2e1b4d5.png", "/images/{asset}.png"),
            ("/users/john.doe", "/users/john.doe"),
            ("/api/3/action/package_show", "/api/3/action/package_show"),
            (
                "/v2/library/ubuntu/manifests/sha256:0b4a5e2f9c7d1e3a8b6f4c2d0e9a7b5c3d1f8e6a4b2c0d9e7f5a3b1c8d6e4f2a",
                "/v2/library/ubuntu/manifests/{id}",
            ),
            (
                "/storage/v1/b/my-bucket/o/photos%2F2024%2Fcat.jpg",
                "/storage/v1/b/my-bucket/o/{param}.jpg",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(inf(p), want, "path {p:?}");
        }
    }

    #[test]
    fn word_like_values_stay_literal() {
        // what the eval generator fills string parameters with, and real resource names
        for p in [
            "/users/octocat",
            "/repos/alpha/my-repo-12",
            "/repos/alpha/ember.js",
            "/repos/hello-world/rust-lang",
            "/repos/cedar42/x",
            "/users/me",
            "/api/users/settings",
            "/pets/findByStatus",
            "/user/getUserAccountSettings",
            "/releases/release-2024",
            "/arch/x86",
            "/docs/README.md",
            // a word-like stem before an extension is a name, not data (learning decides)
            "/reports/report-12.pdf",
            "/static/app.min.js",
            "/.well-known/openid-configuration",
            "/wp-login.php",
            "/html5/mp3",
        ] {
            assert_eq!(inf(p), PathTemplate::parse(p).to_string(), "path {p:?}");
        }
    }

    #[test]
    fn eval_generator_values() {
        // tokens of 24 mixed-case alphanumerics, 40-hex shas, emails, uuids, integers to 2e6
        let cases = [
            ("/accounts/1999999", "/accounts/{id}"),
            (
                "/accounts/7/keys/QWxhZGRpbjpvcGVuc2VzYW1l",
                "/accounts/{id}/keys/{token}",
            ),
            (
                "/accounts/7/keys/kPZqwmRTyxnbVcLdFgHJksAe",
                "/accounts/{id}/keys/{token}",
            ),
            ("/c/af3e5b7c9d1f2a4b6c8d0e1f3a5b7c9d1e2f3a4b", "/c/{hash}"),
            ("/u/summit12@example.com", "/u/{email}"),
            ("/s/quartz%20orion", "/s/{param}"),
            ("/d/2021-07-04", "/d/{date}"),
        ];
        for (p, want) in cases {
            assert_eq!(inf(p), want, "path {p:?}");
        }
    }

    #[test]
    fn explanation_says_why() {
        let i = infer_template(
            "/users/42/files/550e8400-e29b-41d4-a716-446655440000",
            &InferRules::default(),
        );
        assert_eq!(
            i.explanation.as_deref(),
            Some("segment 2: integer; segment 4: UUID")
        );
        assert_eq!(
            infer_template("/users/me", &InferRules::default()).explanation,
            None
        );
    }

    #[test]
    fn versions() {
        for v in [
            "v1",
            "V2",
            "v2.1",
            "v1beta1",
            "v3alpha",
            "v1-preview",
            "1.0",
            "2.1.3",
            "v10",
        ] {
            assert!(is_version(v.as_bytes()), "{v}");
        }
        for v in [
            "v",
            "vault",
            "1",
            "v1.",
            "1.2.3.4",
            "version",
            "v1x",
            "2024.1234",
        ] {
            assert!(!is_version(v.as_bytes()), "{v}");
        }
    }

    #[test]
    fn fingerprinted_assets_fold_per_directory_and_extension() {
        let cases = [
            // webpack / Create React App (hex, any mix of digits and letters)
            ("/static/app.3f9a1c2e.js", "/static/{asset}.js"),
            ("/static/app.fbacdeab.js", "/static/{asset}.js"),
            ("/static/app.12345678.js", "/static/{asset}.js"),
            ("/static/vendor.a1b2c3.js", "/static/{asset}.js"),
            ("/static/js/main.8e2f1c0a.chunk.js", "/static/js/{asset}.js"),
            ("/static/js/787.3f9a1c2e.chunk.js", "/static/js/{asset}.js"),
            (
                "/static/js/main.8e2f1c0a.chunk.js.map",
                "/static/js/{asset}.js.map",
            ),
            (
                "/static/css/main.0c3d2e1f.css.map",
                "/static/css/{asset}.css.map",
            ),
            (
                "/static/media/logo.6ce24c58023cc2f8fd88fe9d219db6c6.svg",
                "/static/media/{asset}.svg",
            ),
            // Vite (base64url, 8 characters, may hold - and _)
            ("/assets/index-BXk2a9ab.css", "/assets/{asset}.css"),
            ("/assets/index-BXk2a9.css", "/assets/{asset}.css"),
            ("/assets/index-BXkaQwze.js", "/assets/{asset}.js"),
            ("/assets/index-B-xk2_9a.js", "/assets/{asset}.js"),
            ("/assets/inter-var-Dq4xPlbE.woff2", "/assets/{asset}.woff2"),
            // esbuild / Angular 17 (base32, upper case), also at the root
            ("/chunk-5KQ2XY7B.js", "/{asset}.js"),
            ("/main-ABCDWXYZ.js", "/{asset}.js"),
            ("/assets/polyfills-RT5I6R6G.js", "/assets/{asset}.js"),
            // Next.js: the hash alone
            (
                "/_next/static/css/1a2b3c4d5e6f7a8b.css",
                "/_next/static/css/{asset}.css",
            ),
            (
                "/_next/static/chunks/webpack-8fa1640cc84ba8fe.js",
                "/_next/static/chunks/{asset}.js",
            ),
            // images and fonts named by a value are assets of the same directory
            ("/img/hero.4f8e9a1b.webp", "/img/{asset}.webp"),
            ("/img/photo-a8f3e21c.JPG", "/img/{asset}.JPG"),
            ("/avatars/1733.png", "/avatars/{asset}.png"),
            ("/fonts/roboto.2b3c4d5e.woff", "/fonts/{asset}.woff"),
            ("/wasm/engine.9f8e7d6c.wasm", "/wasm/{asset}.wasm"),
        ];
        for (path, want) in cases {
            assert_eq!(inf(path), want, "{path}");
        }
        // Whatever the digits: every build of one directory is one endpoint.
        let same: Vec<String> = [
            "/static/app.3f9a1c2e.js",
            "/static/app.deadbeef.js",
            "/static/app.00000000.js",
            "/static/runtime.abc123.js",
        ]
        .iter()
        .map(|p| inf(p))
        .collect();
        assert!(same.iter().all(|t| t == "/static/{asset}.js"), "{same:?}");
        let e = infer_template("/static/app.3f9a1c2e.js", &InferRules::default());
        assert_eq!(
            e.explanation.as_deref(),
            Some("segment 2: static asset named by a hash or value")
        );
    }

    #[test]
    fn names_and_api_paths_are_no_assets() {
        let cases = [
            // no static extension
            ("/api/v1.2/users", "/api/v1.2/users"),
            ("/users/john.doe", "/users/john.doe"),
            ("/users/john.doe/orders", "/users/john.doe/orders"),
            ("/files/report.tar.gz", "/files/report.tar.gz"),
            ("/docs/index.html", "/docs/index.html"),
            ("/download/app.3f9a1c2e.zip", "/download/app.3f9a1c2e.zip"),
            // named files
            ("/favicon.ico", "/favicon.ico"),
            ("/main.js", "/main.js"),
            ("/static/js/app.js", "/static/js/app.js"),
            (
                "/fonts/inter/inter-var.woff2",
                "/fonts/inter/inter-var.woff2",
            ),
            (
                "/fonts/OpenSans-SemiBold.woff2",
                "/fonts/OpenSans-SemiBold.woff2",
            ),
            ("/fonts/Roboto-Regular.ttf", "/fonts/Roboto-Regular.ttf"),
            ("/img/logo.png", "/img/logo.png"),
            ("/img/logo-dark.svg", "/img/logo-dark.svg"),
            ("/img/darkMode.png", "/img/darkMode.png"),
            ("/img/hero-banner.jpg", "/img/hero-banner.jpg"),
            ("/img/facade.png", "/img/facade.png"),
            ("/img/logo-v2.png", "/img/logo-v2.png"),
            ("/js/lib-v1beta2.js", "/js/lib-v1beta2.js"),
            ("/js/bundle.min.js", "/js/bundle.min.js"),
            ("/js/vendor.bundle.js", "/js/vendor.bundle.js"),
            ("/sw.js", "/sw.js"),
            ("/static/js/main.chunk.js", "/static/js/main.chunk.js"),
            ("/assets/style.css.map", "/assets/style.css.map"),
        ];
        for (path, want) in cases {
            assert_eq!(inf(path), want, "{path}");
        }
        // Icon sizes are no hash; their digits made them a value before, and still do.
        assert_eq!(inf("/icons/icon-192x192.png"), "/icons/{asset}.png");
        assert!(!is_hash(b"192x192", true));
        assert!(!is_hash(b"SemiBold", true));
        assert!(is_hash(b"BXkaQwze", true));
        assert!(
            !is_hash(b"cafe12", false),
            "a short hex word without a name"
        );
        assert!(is_hash(b"cafe12", true));
    }

    #[test]
    fn first_segment_protection_is_configurable() {
        let rules = InferRules {
            protect_first_segment: false,
            ..Default::default()
        };
        assert_eq!(
            infer_template("/12345/edit", &rules).template.as_str(),
            "/{id}/edit"
        );
        assert_eq!(infer_template("/v1/x", &rules).template.as_str(), "/v1/x");
    }

    proptest! {
        #[test]
        fn plain_segments_shortcut_agrees_with_the_rules(
            d in "[a-z0-9_-]{1,40}|[a-f]{8}-[a-f]{4}-[a-f]{4}-[a-f]{4}-[a-f]{12}|[0-9]{1,20}",
            prev_is_api in any::<bool>(),
        ) {
            if let Some(class) = plain_class(&Shape::of(d.as_bytes()), d.len(), prev_is_api) {
                prop_assert_eq!(
                    general_class(d.as_bytes(), prev_is_api, &InferRules::default()),
                    (class, None)
                );
            }
        }

        #[test]
        fn never_panics_and_is_canonical(p in ".{0,80}") {
            let t = infer_template(&p, &InferRules::default()).template;
            prop_assert_eq!(PathTemplate::parse(t.as_str()), t);
        }

        #[test]
        fn idempotent_on_paths(segs in proptest::collection::vec(
            prop_oneof![
                "[a-z]{1,10}",
                "[0-9]{1,9}",
                "[0-9a-f]{24}",
                "[A-Za-z0-9]{16,30}",
                "[a-z]{3,8}-[0-9]{1,3}",
                "20[0-9]{2}-0[1-9]-1[0-9]",
                "[a-z]{3,6}%20[a-z]{3,6}",
                "[a-z]{2,6}@[a-z]{2,6}\\.com",
                "[0-9]{1,5}\\.(pdf|json)",
                "[a-z]{2,8}[.-][0-9a-f]{8}(\\.chunk)?\\.(js|css|js\\.map|woff2)",
                "[a-z]{2,8}-[A-Za-z0-9_-]{8}\\.(js|css|svg)",
                "v[0-9](\\.[0-9])?",
                "%[0-9A-F]{2}[a-z]{0,3}",
                "[ -~]{1,12}",
            ], 0..7)) {
            let path = format!("/{}", segs.join("/"));
            let once = infer_template(&path, &InferRules::default()).template;
            let twice = infer_template(once.as_str(), &InferRules::default()).template;
            prop_assert_eq!(&twice, &once, "path {}", path);
            prop_assert_eq!(PathTemplate::parse(once.as_str()), once);
        }
    }
}
