//! Text that senders and pull requests choose (service names, paths, routes, user agents,
//! callers, spec keys and `$ref`s): how it is shown to people and logs, and how much of it
//! is kept.
//!
//! Shown: [`escape`] is the one escaping every human-facing output and log field applies.
//! Control characters (C0, DEL, C1), the Unicode line and paragraph separators and the bidi
//! embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) become visible escapes
//! (`\n`, `\x1b`, `\u{202e}`), so an untrusted string can neither start a line of its own
//! (GitHub Actions reads `::add-mask::`/`::error` workflow commands from any line of a
//! step's output), nor drive a terminal, nor reorder what a reviewer reads. A leading `::`
//! is escaped too, for outputs where the string comes first on a line. [`md_code`] is the
//! one Markdown code span.
//!
//! Kept: [`cap`] truncates visibly (ending in [`TRUNCATED`]) to the byte limits of
//! [`Limits`], applied where spans become observations, so memory and disk per endpoint are
//! bounded by configuration, not by the sender.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What a capped string ends with, so a reader knows there was more.
pub const TRUNCATED: &str = "…[truncated]";

/// Byte limits on the strings kept per request (`[normalize.limits]`). A longer string is
/// cut at a character boundary and ends in [`TRUNCATED`], the whole at most the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The request path (`url.path`, `http.target`), before templating: bounds templates
    /// inferred from it and the example paths kept.
    pub max_path_bytes: usize,
    /// `http.route`, of the server span or of a child span.
    pub max_route_bytes: usize,
    /// The service (`service.namespace/service.name`).
    pub max_service_bytes: usize,
    /// `user_agent.original` / `http.user_agent`.
    pub max_user_agent_bytes: usize,
    /// The caller: `client.address` or the peer address.
    pub max_caller_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_path_bytes: 2048,
            max_route_bytes: 1024,
            max_service_bytes: 256,
            max_user_agent_bytes: 256,
            max_caller_bytes: 256,
        }
    }
}

/// `s` if it fits in `max` bytes; else its longest prefix (at a character boundary) that
/// leaves room for [`TRUNCATED`], followed by it.
pub fn cap(s: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return s;
    }
    let marker = if max >= TRUNCATED.len() {
        TRUNCATED
    } else {
        ""
    };
    let mut end = max - marker.len();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + marker.len());
    out.push_str(&s[..end]);
    out.push_str(marker);
    Cow::Owned(out)
}

/// Whether `c` must not reach a terminal, log line or rendered document as itself.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every [unsafe character](is_unsafe_char) written as a visible escape and a
/// leading `::` (after any spaces) as `\x3a:`; borrowed when nothing needed escaping, which
/// is every real service name and path.
pub fn escape(s: &str) -> Cow<'_, str> {
    let command_like = s.trim_start().starts_with("::");
    if !command_like && !s.chars().any(is_unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut at_start = command_like;
    for c in s.chars() {
        if at_start && c == ':' {
            out.push_str("\\x3a");
            at_start = false;
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 && is_unsafe_char(c) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`escape`] as a `Display` value, for `format!` arguments and tracing fields
/// (`service = %Escaped(&service)`).
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// A Markdown code span holding `s` literally, usable in a table cell: fenced with one
/// backtick more than the longest run inside (padded with spaces when the content has
/// backticks or edge spaces, as CommonMark requires), `|` escaped (GitHub splits table
/// cells before it sees code spans), and [`escape`]d so no line break or control character
/// gets in.
pub fn md_code(s: &str) -> String {
    let clean = escape(s).replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in clean.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    if longest > 0 || clean.starts_with(' ') || clean.ends_with(' ') || clean.is_empty() {
        format!("{fence} {clean} {fence}")
    } else {
        format!("{fence}{clean}{fence}")
    }
}

/// JSON text with the bidi and line-separator characters inside its strings written as
/// `\uXXXX` escapes: the same document to every parser, but one that reads in order when a
/// person opens it. (serde_json escapes the control characters itself; outside strings
/// JSON holds only ASCII, so every such character is inside a string.)
pub fn json_escape_bidi(json: String) -> String {
    if !json.chars().any(|c| is_unsafe_char(c) && !c.is_control()) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe_char(c) && !c.is_control() {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_strings_become_visible_and_single_line() {
        for (raw, want) in [
            ("/users/42", "/users/42"),
            ("/a\n::error::x", "/a\\n::error::x"),
            ("::add-mask::secret", "\\x3a:add-mask::secret"),
            ("  ::stop-commands::t", "  \\x3a:stop-commands::t"),
            ("svc\x1b[31mred", "svc\\x1b[31mred"),
            ("a\rb\tc\x7fd\u{85}e", "a\\rb\\tc\\x7fd\\x85e"),
            ("evil\u{202e}gpj.exe", "evil\\u{202e}gpj.exe"),
            ("\u{2066}x\u{2069}\u{2028}", "\\u{2066}x\\u{2069}\\u{2028}"),
            ("a::b", "a::b"),
            ("café/日本", "café/日本"),
        ] {
            let got = escape(raw);
            assert_eq!(got, want, "{raw:?}");
            assert!(!got.contains(['\n', '\r']));
        }
        assert!(matches!(escape("/plain/path"), Cow::Borrowed(_)));
    }

    #[test]
    fn caps_are_visible_and_hold() {
        assert!(matches!(
            cap(Cow::Borrowed("/short"), 2048),
            Cow::Borrowed("/short")
        ));
        let long = "/é".repeat(5000);
        let c = cap(Cow::Borrowed(&long), 2048);
        assert!(c.len() <= 2048 && c.len() > 2000, "{}", c.len());
        assert!(c.ends_with(TRUNCATED));
        assert!(long.starts_with(c.trim_end_matches(TRUNCATED)));
        assert_eq!(cap(Cow::Borrowed("abcdef"), 3), "abc");
    }

    #[test]
    fn json_keeps_its_meaning() {
        let doc = serde_json::json!({"path": "/bidi\u{202e}txt\u{2066}", "n": 1});
        let text = json_escape_bidi(serde_json::to_string(&doc).unwrap());
        assert_eq!(text, r#"{"n":1,"path":"/bidi\u202etxt\u2066"}"#);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            doc
        );
    }

    #[test]
    fn code_spans_cannot_be_broken_out_of() {
        assert_eq!(md_code("/a"), "`/a`");
        assert_eq!(md_code("/a`b"), "`` /a`b ``");
        assert_eq!(
            md_code("/x``[link](https://evil)``y"),
            "``` /x``[link](https://evil)``y ```"
        );
        assert_eq!(md_code("a|b\nc"), "`a\\|b\\nc`");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// Strings made of the characters that matter here, mixed with ordinary text.
        fn hostile() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    Just(":".to_owned()),
                    Just("::".to_owned()),
                    Just(" ".to_owned()),
                    Just("`".to_owned()),
                    Just("|".to_owned()),
                    Just("\n".to_owned()),
                    Just("\r".to_owned()),
                    Just("\u{1b}[31m".to_owned()),
                    Just("\u{202e}".to_owned()),
                    Just("\u{2028}".to_owned()),
                    Just("é".to_owned()),
                    "[a-z/]{0,4}",
                    any::<char>().prop_map(|c| c.to_string()),
                ],
                0..24,
            )
            .prop_map(|v| v.concat())
        }

        proptest! {
            #[test]
            fn escaped_text_is_one_safe_line(s in hostile()) {
                let e = escape(&s);
                prop_assert!(!e.chars().any(is_unsafe_char), "{:?}", e);
                prop_assert!(!e.trim_start().starts_with("::"), "{:?}", e);
                // Nothing is dropped: without escapes the text would read the same.
                if !s.chars().any(is_unsafe_char) && !s.trim_start().starts_with("::") {
                    prop_assert_eq!(&*e, &*s);
                }
            }

            #[test]
            fn code_spans_close_only_at_their_fence(s in hostile()) {
                let c = md_code(&s);
                let fence = c.chars().take_while(|&ch| ch == '`').count();
                prop_assert!(c.ends_with(&"`".repeat(fence)));
                let inner = &c[fence..c.len() - fence];
                let longest = inner
                    .split(|ch| ch != '`')
                    .map(str::len)
                    .max()
                    .unwrap_or(0);
                prop_assert!(longest < fence, "{:?}", c);
                prop_assert!(!c.contains('\n'));
            }

            #[test]
            fn caps_hold_and_keep_a_prefix(s in hostile(), max in 0usize..64) {
                let c = cap(Cow::Borrowed(&s), max);
                prop_assert!(c.len() <= max || c.len() == s.len() && s.len() <= max);
                prop_assert!(s.starts_with(c.trim_end_matches(TRUNCATED)));
                if s.len() > max && max >= TRUNCATED.len() {
                    prop_assert!(c.ends_with(TRUNCATED));
                }
            }
        }
    }
}
