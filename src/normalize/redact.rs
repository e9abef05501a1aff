//! Example paths without secrets. Reset links, API keys in paths, JWTs, emails and hashes
//! are what a path segment leaks most; an example keeps their shape (`/reset/{token}`),
//! never their value, so no database, log or report ever holds one.
//!
//! A segment is replaced when template inference's own classifier ([`infer::classify`])
//! calls it a token, JWT, hash or email, wherever it sits (the first segment included), or
//! when the endpoint's template puts a parameter named like a secret (`{token}`,
//! `{api_key}`, `{password}`, `{email}`, ...) at its position, whatever the value looks
//! like: a route naming it a token is the best evidence there is.

use std::borrow::Cow;

use super::infer::{self, Class, InferRules};
use crate::model::{PathTemplate, Segment};

/// Whether inference's class for a value is one whose value must not be kept.
fn secret_class(c: Class) -> bool {
    matches!(c, Class::Token | Class::Jwt | Class::Hex | Class::Email)
}

/// Whether a template parameter's name says it holds a credential or personal address:
/// its letters and digits, lower-cased, trailing digits dropped, end in one of these.
pub fn secret_name(name: &str) -> bool {
    const ENDINGS: [&[u8]; 15] = [
        b"token",
        b"secret",
        b"password",
        b"passwd",
        b"jwt",
        b"apikey",
        b"key",
        b"email",
        b"hash",
        b"signature",
        b"sig",
        b"otp",
        b"nonce",
        b"session",
        b"credential",
    ];
    // The last 16 letters and digits, lower-cased, on the stack: this runs per request.
    let mut tail = [0u8; 16];
    let mut n = 0;
    for b in name.bytes().rev().filter(u8::is_ascii_alphanumeric) {
        if n == 0 && b.is_ascii_digit() {
            continue;
        }
        if n == tail.len() {
            break;
        }
        tail[tail.len() - 1 - n] = b.to_ascii_lowercase();
        n += 1;
    }
    let tail = &tail[tail.len() - n..];
    ENDINGS.iter().any(|e| tail.ends_with(e))
}

/// Whether any segment of `path` could be a secret by inference's classes: tokens, hashes
/// and JWTs are long, emails hold `@`, and encoded text must be decoded to tell. Most paths
/// (`/api/v1/users/42/orders`) are ruled out in one byte pass.
fn may_hold_secret(path: &str, rules: &InferRules) -> bool {
    let long = rules.min_hex_len.min(rules.min_token_len).max(1);
    let mut run = 0;
    for b in path.bytes() {
        match b {
            b'/' => run = 0,
            b'@' | b'%' => return true,
            _ => {
                run += 1;
                if run >= long {
                    return true;
                }
            }
        }
    }
    false
}

/// `path` with every secret-bearing segment replaced by `{name}` (the template's parameter
/// name at that position, or the class's). Borrowed when nothing is secret, the usual case.
pub fn example<'a>(
    path: Cow<'a, str>,
    template: &PathTemplate,
    rules: &InferRules,
) -> Cow<'a, str> {
    // The template's segments are read alongside the path's when the counts agree (a greedy
    // parameter or a prefix route makes them differ: then only the classifier decides).
    // Runs on every request: no allocation unless something is replaced.
    let named = template.has_params()
        && template
            .segments()
            .any(|s| matches!(s, Segment::Param(p) if secret_name(p)));
    if !named && !may_hold_secret(&path, rules) {
        return path;
    }
    let aligned = named && template.segments().count() == raw_count(&path);
    let mut tsegs = template.segments();
    let mut out: Option<String> = None;
    let mut index = 0;
    let mut prev_is_api = false;
    let mut pos = 0;
    for (i, raw) in path.split('/').enumerate() {
        let start = pos;
        pos += raw.len() + 1;
        let replacement = if raw.is_empty() {
            None
        } else {
            let named = match aligned.then(|| tsegs.next()).flatten() {
                Some(Segment::Param(p)) if secret_name(p) => Some(p),
                _ => None,
            };
            let r = match named {
                Some(p) => Some(format!("{{{p}}}")),
                None => classified(raw, index, prev_is_api, rules),
            };
            prev_is_api = raw.eq_ignore_ascii_case("api");
            index += 1;
            r
        };
        match (out.as_mut(), replacement) {
            (Some(o), r) => {
                if i > 0 {
                    o.push('/');
                }
                o.push_str(r.as_deref().unwrap_or(raw));
            }
            (None, Some(r)) => {
                let mut o = path[..start].to_owned();
                o.push_str(&r);
                out = Some(o);
            }
            (None, None) => {}
        }
    }
    match out {
        Some(s) => Cow::Owned(s),
        None => path,
    }
}

fn raw_count(path: &str) -> usize {
    path.split('/').filter(|s| !s.is_empty()).count()
}

/// `{token}`, `{email}.json`, ... for a segment the classifier calls secret; `None` else.
fn classified(raw: &str, index: usize, prev_is_api: bool, rules: &InferRules) -> Option<String> {
    let decoded: Cow<'_, [u8]> = if raw.contains('%') {
        Cow::Owned(percent_encoding::percent_decode_str(raw).collect())
    } else {
        Cow::Borrowed(raw.as_bytes())
    };
    // The first segment is protected from becoming a parameter, not from being a secret.
    let (class, split) = infer::classify(&decoded, index.max(1), prev_is_api, rules);
    if !secret_class(class) {
        return None;
    }
    let suffix = split
        .and_then(|k| std::str::from_utf8(&decoded[k..]).ok())
        .unwrap_or("");
    Some(format!("{{{}}}{suffix}", class.param_name()))
}

/// Redacts every path-looking word (starting with `/`) of a text such as a template
/// explanation ("http.route /reset/eyJ... is a concrete path").
pub fn words(text: &str, rules: &InferRules) -> Option<String> {
    let mut changed = false;
    let out: Vec<Cow<'_, str>> = text
        .split(' ')
        .map(|w| {
            if !w.starts_with('/') {
                return Cow::Borrowed(w);
            }
            let r = example(Cow::Borrowed(w), &PathTemplate::parse("/"), rules);
            changed |= matches!(r, Cow::Owned(_));
            r
        })
        .collect();
    changed.then(|| out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(path: &str, template: &str) -> String {
        example(
            Cow::Borrowed(path),
            &PathTemplate::parse(template),
            &InferRules::default(),
        )
        .into_owned()
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

    #[test]
    fn secrets_keep_their_shape_not_their_value() {
        for (path, template, want) in [
            ("/users/42/orders", "/users/{id}/orders", "/users/42/orders"),
            (
                "/reset/Xk9fQ2mZ7pL4vB8nR3tW",
                "/reset/{token}",
                "/reset/{token}",
            ),
            // The route names it a token: redacted even though it looks like a word.
            (
                "/reset/correcthorsebattery",
                "/reset/{token}",
                "/reset/{token}",
            ),
            ("/v1/keys/abc", "/v1/keys/{api_key}", "/v1/keys/{api_key}"),
            // Inference's classes, whatever the template says.
            (
                &format!("/auth/{JWT}/x"),
                "/auth/{param}/x",
                "/auth/{token}/x",
            ),
            (
                "/users/alice%40example.com",
                "/users/{param}",
                "/users/{email}",
            ),
            (
                "/users/alice@example.com/avatar",
                "/users/{email}/avatar",
                "/users/{email}/avatar",
            ),
            (
                "/blobs/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.json",
                "/blobs/{hash}.json",
                "/blobs/{hash}.json",
            ),
            (
                "/keys/sk_live_4eC39HqLyjWDarjtT1zdp7dc/charges",
                "/keys/{token}/charges",
                "/keys/{token}/charges",
            ),
            // The first segment too; a trailing slash stays.
            (&format!("/{JWT}/"), "/{token}", "/{token}/"),
            ("/api/v2/users/", "/api/v2/users", "/api/v2/users/"),
        ] {
            assert_eq!(ex(path, template), want, "{path}");
        }
    }

    #[test]
    fn explanations_lose_their_secrets() {
        let r = words(
            &format!("http.route /auth/{JWT} is a concrete path"),
            &InferRules::default(),
        );
        assert_eq!(
            r.as_deref(),
            Some("http.route /auth/{token} is a concrete path")
        );
        assert_eq!(words("segment 2: integer", &InferRules::default()), None);
    }

    #[test]
    fn secret_names() {
        for n in [
            "token",
            "resetToken",
            "api_key",
            "apiKey",
            "key",
            "password",
            "email",
            "sig",
            "token2",
        ] {
            assert!(secret_name(n), "{n}");
        }
        for n in [
            "id",
            "owner",
            "repo",
            "monkey_id",
            "keyword",
            "filename",
            "param",
        ] {
            assert!(!secret_name(n), "{n}");
        }
    }

    proptest::proptest! {
        /// Ordinary paths (words, short ids, versions) come back as they are, borrowed.
        #[test]
        fn ordinary_paths_are_untouched(segs in proptest::collection::vec("[a-z]{1,10}|[0-9]{1,11}|v[0-9]", 0..8)) {
            let path = format!("/{}", segs.join("/"));
            let t = PathTemplate::parse("/{id}/{param}");
            let r = example(Cow::Borrowed(&path), &t, &InferRules::default());
            proptest::prop_assert!(matches!(r, Cow::Borrowed(_)));
            proptest::prop_assert_eq!(&*r, &*path);
        }
    }
}
