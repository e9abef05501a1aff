//! Small formatting helpers shared by the renderings: numbers, times, status mixes, and the
//! escaping that keeps span data (paths, service names, callers: all attacker-influenced)
//! from ever becoming markup.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use crate::model::StatusCounts;

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Unix seconds → `2026-11-23 09:14 UTC`; times before 1970 (unknown) print as `—`.
pub(crate) fn datetime(t: i64) -> String {
    if t <= 0 {
        return "—".to_owned();
    }
    let s =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t as u64)).to_string();
    format!("{} {} UTC", &s[..10], &s[11..16])
}

/// Unix seconds → `2026-11-23`.
pub(crate) fn date(t: i64) -> String {
    if t <= 0 {
        return "—".to_owned();
    }
    let s =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t as u64)).to_string();
    s[..10].to_owned()
}

/// Unix seconds → RFC 3339 (`2026-11-23T09:14:00Z`), for JSON readers.
pub(crate) fn rfc3339(t: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64)).to_string()
}

/// `2xx 1,200 · 4xx 12 (401 3, 403 2) · 5xx 1`: the classes that occurred, with the codes
/// that matter for triage.
pub(crate) fn status_mix(s: &StatusCounts) -> String {
    let mut out = String::new();
    let part = |label: &str, n: u64, out: &mut String| {
        if n > 0 {
            if !out.is_empty() {
                out.push_str(" · ");
            }
            let _ = write!(out, "{label} {}", thousands(n));
        }
    };
    part("1xx", s.s1xx, &mut out);
    part("2xx", s.s2xx, &mut out);
    part("3xx", s.s3xx, &mut out);
    part("4xx", s.s4xx, &mut out);
    let detail: Vec<String> = [
        ("401", s.s401),
        ("403", s.s403),
        ("404", s.s404),
        ("429", s.s429),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(c, n)| format!("{c} {}", thousands(*n)))
    .collect();
    if !detail.is_empty() {
        let _ = write!(out, " ({})", detail.join(", "));
    }
    part("5xx", s.s5xx, &mut out);
    part("no status", s.unknown, &mut out);
    if out.is_empty() {
        out.push('—');
    }
    out
}

/// Appends `s` with `& < > " '` escaped: safe in HTML text, attribute values and SVG.
/// Control and bidi characters are made visible first ([`crate::untrusted::escape`]), so a
/// path cannot reorder the text a reviewer reads.
pub(crate) fn push_html(out: &mut String, s: &str) {
    let s = &*crate::untrusted::escape(s);
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// Markdown text (outside code spans) with everything that could start markup, links,
/// HTML or break a table cell neutralised; line breaks become spaces.
pub(crate) fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' => out.push_str("\\|"),
            // `(` after an escaped `]` cannot start a link target, and `!` before an escaped
            // `[` cannot start an image: neither needs escaping.
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if crate::untrusted::is_unsafe_char(c) => {
                out.push_str(&crate::untrusted::escape(c.encode_utf8(&mut [0; 4])))
            }
            c => out.push(c),
        }
    }
    out
}

/// A Markdown code span holding `s` literally, usable inside a table cell: backticks in the
/// content get a longer fence, `|` is escaped (GitHub splits cells before code spans).
pub(crate) fn md_code(s: &str) -> String {
    crate::untrusted::md_code(s)
}

/// Whether a caller string is a network address (rather than a calling service's name).
pub(crate) fn is_address(caller: &str) -> bool {
    let host = caller
        .strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .unwrap_or(caller);
    host.parse::<std::net::IpAddr>().is_ok() || caller.parse::<std::net::SocketAddr>().is_ok()
}
