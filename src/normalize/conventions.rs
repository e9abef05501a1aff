//! Reading the HTTP facts of a span under both generations of the HTTP semantic conventions
//! (`http.request.method`/`url.path`/`http.response.status_code` and the older
//! `http.method`/`http.target`/`http.url`/`http.status_code`). The current convention wins when a
//! span carries both, because SDKs in "dup" migration mode emit both with the same values and the
//! new one is the one that keeps being maintained.

use std::borrow::Cow;

use crate::model::{AttrKey, AttrValue, Method, SpanView};

/// A span's attributes indexed by key: one pass over the attribute list, then O(1) lookups.
/// The first occurrence of a key wins, as OTLP says keys are unique and a duplicate is a bug.
pub(crate) struct Attrs<'s, 'a> {
    slots: [Option<&'s AttrValue<'a>>; AttrKey::COUNT],
}

impl<'s, 'a> Attrs<'s, 'a> {
    pub(crate) fn of(span: &'s SpanView<'a>) -> Self {
        let mut slots = [None; AttrKey::COUNT];
        for (k, v) in &span.attrs {
            let slot = &mut slots[*k as usize];
            if slot.is_none() {
                *slot = Some(v);
            }
        }
        Attrs { slots }
    }

    pub(crate) fn get(&self, key: AttrKey) -> Option<&'s AttrValue<'a>> {
        self.slots[key as usize]
    }

    pub(crate) fn has(&self, key: AttrKey) -> bool {
        self.slots[key as usize].is_some()
    }

    /// A non-blank string value.
    pub(crate) fn str(&self, key: AttrKey) -> Option<&'s str> {
        self.get(key)
            .and_then(AttrValue::as_str)
            .filter(|s| !blank(s))
    }

    /// The first non-blank string among `keys`, in order of preference.
    fn first_str(&self, keys: &[AttrKey]) -> Option<&'s str> {
        keys.iter().find_map(|k| self.str(*k))
    }

    /// Like [`Attrs::first_str`], but borrowing from the payload itself rather than from
    /// this index, so the value can outlive the span view (an observation keeps its path).
    /// Free for valid UTF-8; only a lossily decoded value is copied.
    fn first_cow(&self, keys: &[AttrKey]) -> Option<Cow<'a, str>> {
        keys.iter().find_map(|k| match self.get(*k)? {
            AttrValue::Str(s) if !blank(s) => Some(s.clone()),
            _ => None,
        })
    }
}

/// Empty or only whitespace. Values almost always start with a printable ASCII character,
/// which settles it without `trim`'s walk over both ends.
fn blank(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        Some(b) if b.is_ascii_graphic() => false,
        Some(_) => s.trim().is_empty(),
    }
}

/// Applies a slicing function to a borrowed-or-owned string, keeping it borrowed.
fn narrow<'a>(s: Cow<'a, str>, f: impl FnOnce(&str) -> &str) -> Cow<'a, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(f(b)),
        Cow::Owned(o) => Cow::Owned(f(&o).to_owned()),
    }
}

pub(crate) fn method(a: &Attrs<'_, '_>) -> Option<Method> {
    a.first_str(&[AttrKey::RequestMethod, AttrKey::HttpMethod])
        .map(|m| Method::parse(m.trim()))
}

/// The request path, query and fragment stripped: `url.path`, else `http.target`, else the path
/// part of `url.full`/`http.url`.
pub(crate) fn path<'a>(a: &Attrs<'_, 'a>) -> Option<Cow<'a, str>> {
    if let Some(p) = a.first_cow(&[AttrKey::UrlPath]) {
        // url.path never holds a query by definition, but some SDKs put the raw target there.
        return Some(narrow(p, strip_query));
    }
    if let Some(t) = a.first_cow(&[AttrKey::HttpTarget]) {
        // An absolute-form target (`GET http://host/x` through a proxy) carries scheme and host.
        return Some(if t.contains("://") {
            narrow(t, path_of_url)
        } else {
            narrow(t, strip_query)
        });
    }
    a.first_cow(&[AttrKey::UrlFull, AttrKey::HttpUrl])
        .map(|u| narrow(u, path_of_url))
}

/// True when the span has a path attribute that only servers set (`url.path`, `http.target`,
/// `http.route`), as opposed to `url.full`, which clients set.
pub(crate) fn has_server_path(a: &Attrs<'_, '_>) -> bool {
    a.has(AttrKey::UrlPath) || a.has(AttrKey::HttpTarget) || a.has(AttrKey::HttpRoute)
}

fn strip_query(p: &str) -> &str {
    // A byte loop: `find(['?', '#'])` goes through the generic char searcher, which showed
    // in profiles of the hot path.
    match p.bytes().position(|b| b == b'?' || b == b'#') {
        Some(i) => &p[..i],
        None => p,
    }
}

/// The path of an absolute URL (`https://h:8443/a/b?q` → `/a/b`); `/` when it has none.
pub(crate) fn path_of_url(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            match after.find(['/', '?', '#']) {
                Some(j) if after.as_bytes()[j] == b'/' => &after[j..],
                _ => return "/",
            }
        }
        None => url,
    };
    let p = strip_query(rest);
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

/// `http.response.status_code`, else `http.status_code`; integers or strings holding them.
/// Anything outside 100..=599 is no status at all rather than a bogus class.
pub(crate) fn status(a: &Attrs<'_, '_>) -> Option<u16> {
    [AttrKey::ResponseStatusCode, AttrKey::HttpStatusCode]
        .iter()
        .find_map(|k| a.get(*k).and_then(AttrValue::as_i64))
        .filter(|s| (100..=599).contains(s))
        .map(|s| s as u16)
}

/// `http.route`, borrowed from the payload.
pub(crate) fn route<'a>(a: &Attrs<'_, 'a>) -> Option<Cow<'a, str>> {
    a.first_cow(&[AttrKey::HttpRoute])
}

/// `user_agent.original` (current conventions) or `http.user_agent` (old): one key, either.
pub(crate) fn user_agent<'a>(a: &Attrs<'_, 'a>) -> Option<Cow<'a, str>> {
    a.first_cow(&[AttrKey::UserAgent])
}

/// `client.address` (the original client, behind proxies), else the transport peer.
pub(crate) fn client<'a>(a: &Attrs<'_, 'a>) -> Option<Cow<'a, str>> {
    a.first_cow(&[AttrKey::ClientAddress, AttrKey::PeerAddress])
}

/// Whether an attribute that proves something by presence is there: any value except an
/// empty string (an SDK that redacts a header still reports it, e.g. as `[REDACTED]`).
pub(crate) fn present(a: &Attrs<'_, '_>, key: AttrKey) -> bool {
    match a.get(key) {
        None => false,
        Some(AttrValue::Str(s)) => !blank(s),
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn span(attrs: &[(AttrKey, AttrValue<'static>)]) -> SpanView<'static> {
        SpanView {
            attrs: attrs.to_vec(),
            ..Default::default()
        }
    }

    fn s(v: &'static str) -> AttrValue<'static> {
        AttrValue::Str(Cow::Borrowed(v))
    }

    #[test]
    fn new_convention_wins_over_old() {
        let sp = span(&[
            (AttrKey::HttpMethod, s("POST")),
            (AttrKey::RequestMethod, s("GET")),
            (AttrKey::HttpTarget, s("/old?x=1")),
            (AttrKey::UrlPath, s("/new")),
            (AttrKey::HttpStatusCode, AttrValue::Int(500)),
            (AttrKey::ResponseStatusCode, AttrValue::Int(200)),
        ]);
        let a = Attrs::of(&sp);
        assert_eq!(method(&a), Some(Method::Get));
        assert_eq!(path(&a).as_deref(), Some("/new"));
        assert_eq!(status(&a), Some(200));
    }

    #[test]
    fn flask_old_convention_target_has_query_stripped() {
        let sp = span(&[
            (AttrKey::HttpMethod, s("GET")),
            (AttrKey::HttpTarget, s("/users/v1/alice?verbose=1#x")),
            (AttrKey::HttpStatusCode, s("200")),
            (AttrKey::PeerAddress, s("127.0.0.1")),
        ]);
        let a = Attrs::of(&sp);
        assert_eq!(path(&a).as_deref(), Some("/users/v1/alice"));
        assert_eq!(status(&a), Some(200), "stringified status codes are read");
        assert_eq!(client(&a).as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn url_only_spans_yield_the_path() {
        for (url, want) in [
            ("https://shop.example.com/a/b?q=1", "/a/b"),
            ("https://shop.example.com:8443", "/"),
            ("https://shop.example.com?x", "/"),
            ("http://h/", "/"),
            ("/relative/x?y", "/relative/x"),
        ] {
            let sp = span(&[(AttrKey::HttpUrl, AttrValue::Str(Cow::Owned(url.into())))]);
            assert_eq!(path(&Attrs::of(&sp)).as_deref(), Some(want), "{url}");
        }
        let proxy = span(&[(AttrKey::HttpTarget, s("http://internal:8080/x/y?z"))]);
        assert_eq!(path(&Attrs::of(&proxy)).as_deref(), Some("/x/y"));
    }

    #[test]
    fn bogus_status_and_blank_values_are_absent() {
        let sp = span(&[
            (AttrKey::HttpStatusCode, s("abc")),
            (AttrKey::ResponseStatusCode, AttrValue::Int(0)),
            (AttrKey::UrlPath, s("  ")),
            (AttrKey::HttpRoute, s("")),
            (AttrKey::ClientAddress, s("")),
            (AttrKey::PeerAddress, s("10.0.0.1")),
        ]);
        let a = Attrs::of(&sp);
        assert_eq!(status(&a), None);
        assert_eq!(path(&a), None);
        assert_eq!(route(&a), None);
        assert_eq!(
            client(&a).as_deref(),
            Some("10.0.0.1"),
            "blank client.address falls back"
        );
    }

    #[test]
    fn credential_presence_counts_redacted_values() {
        let sp = span(&[
            (AttrKey::Credential, s("[REDACTED]")),
            (AttrKey::Identity, s("")),
        ]);
        let a = Attrs::of(&sp);
        assert!(present(&a, AttrKey::Credential));
        assert!(!present(&a, AttrKey::Identity));
        let p = span(&[(AttrKey::Credential, AttrValue::Present)]);
        assert!(present(&Attrs::of(&p), AttrKey::Credential));
    }
}
