//! Auth evidence: which spans show that authentication ran for a request. Names of in-process
//! child spans are matched against word patterns (`requireAuth`, `passport.authenticate`,
//! `security filterchain before`), Express's own attributes are preferred over its span names
//! (which embed route paths), spans a framework marks as the application's own handler
//! ([`HANDLER_TYPES`]) never count by name, identity and credential attributes count by
//! presence only, and a 401/403 on the server span proves enforcement.
//!
//! Name matching is word-aware without allocating: a pattern must start at a word boundary
//! (start, after a separator, at a camelCase hump), may run across separators (`apikey` matches
//! `x-api-key`), and a match is dropped when the word it starts is a listed exclusion
//! (`author`, `tokenizer`), so `author_service` is not auth but `authorize` is.

use serde::{Deserialize, Serialize};

use super::conventions::{self, Attrs};
use crate::model::{AttrKey, AuthEvidence, SpanView};

/// Configurable auth-evidence patterns (`[normalize.auth]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthRules {
    /// Words that mark an auth span when a span-name word starts with them (case-insensitive,
    /// separators inside the pattern are ignored: `apikey` matches `api_key`).
    pub span_patterns: Vec<String>,
    /// Whole words that never count even though they start with a pattern.
    pub span_exclusions: Vec<String>,
    /// Server-span statuses that prove authentication is enforced.
    pub rejected_statuses: Vec<u16>,
}

impl Default for AuthRules {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        AuthRules {
            span_patterns: s(&[
                "auth",
                "oauth",
                "jwt",
                "token",
                "session",
                "guard",
                "login",
                "loggedin",
                "signin",
                "signedin",
                "credential",
                "keycloak",
                "okta",
                "cognito",
                "verify",
                "bearer",
                "apikey",
                "permission",
                "acl",
                "rbac",
                "passport",
                "oidc",
                "saml",
                "principal",
                "securityfilterchain",
                "springsecurity",
            ]),
            span_exclusions: s(&[
                "author",
                "authors",
                "authored",
                "authoring",
                "authorship",
                "tokenizer",
                "tokenizers",
                "tokenize",
                "tokenized",
                "tokenizing",
                "tokenization",
                "aclose",
                "guardrail",
                "guardrails",
            ]),
            rejected_statuses: vec![401, 403],
        }
    }
}

/// Span types that frameworks' instrumentations give the application's own handlers and
/// routers: their names are the application's (`InternalController.listSessions`,
/// `handler - login`, `router - /auth`), not middleware, so they never count as auth by
/// name, however auth-like the name. Hooks, middleware and guards (`fastify.type` `hook`:
/// `onRequest - authenticate`) still do.
const HANDLER_TYPES: &[(AttrKey, &[&str])] = &[
    // @opentelemetry/instrumentation-express
    (AttrKey::ExpressType, &["router", "request_handler"]),
    // @opentelemetry/instrumentation-nestjs-core: the controller method and its context
    (
        AttrKey::NestjsType,
        &["request_context", "handler", "app_creation"],
    ),
    // @fastify/otel: the route's handler
    (AttrKey::FastifyType, &["request-handler"]),
];

/// [`AuthRules`] compiled for the hot path.
#[derive(Debug, Clone)]
pub(crate) struct AuthMatcher {
    patterns: Vec<Box<[u8]>>,
    exclusions: Vec<Box<str>>,
    /// For each byte, the patterns starting with it (either case): a word start is compared
    /// with those few patterns only, most with none.
    by_first: [Vec<u16>; 256],
    rejected: Vec<u16>,
}

impl AuthMatcher {
    pub(crate) fn new(rules: &AuthRules) -> Self {
        let mut by_first: [Vec<u16>; 256] = std::array::from_fn(|_| Vec::new());
        let patterns: Vec<Box<[u8]>> = rules
            .span_patterns
            .iter()
            .map(|p| {
                p.bytes()
                    .filter(u8::is_ascii_alphanumeric)
                    .map(|b| b.to_ascii_lowercase())
                    .collect::<Vec<u8>>()
                    .into_boxed_slice()
            })
            .filter(|p| !p.is_empty())
            .collect();
        // Configuration is read from a file of human size; u16 indices are plenty.
        for (i, p) in patterns.iter().enumerate().take(u16::MAX as usize) {
            by_first[p[0] as usize].push(i as u16);
            if p[0].is_ascii_lowercase() {
                by_first[p[0].to_ascii_uppercase() as usize].push(i as u16);
            }
        }
        AuthMatcher {
            patterns,
            exclusions: rules
                .span_exclusions
                .iter()
                .map(|e| e.to_ascii_lowercase().into_boxed_str())
                .collect(),
            by_first,
            rejected: rules.rejected_statuses.clone(),
        }
    }

    /// Evidence carried by the server span itself.
    pub(crate) fn server_evidence(&self, a: &Attrs<'_, '_>, status: Option<u16>) -> AuthEvidence {
        let mut ev = self.attr_evidence(a);
        if status.is_some_and(|s| self.rejected.contains(&s)) {
            ev |= AuthEvidence::REJECTED;
        }
        ev
    }

    /// Evidence a non-server span gives about the request it belongs to.
    pub(crate) fn child_evidence(
        &self,
        span: &SpanView<'_>,
        a: &Attrs<'_, '_>,
        memo: &mut NameMemo,
    ) -> AuthEvidence {
        let mut ev = self.attr_evidence(a);
        if self.child_is_auth_middleware(span, a, memo) {
            ev |= AuthEvidence::MIDDLEWARE;
        }
        ev
    }

    fn attr_evidence(&self, a: &Attrs<'_, '_>) -> AuthEvidence {
        let mut ev = AuthEvidence::NONE;
        if conventions::present(a, AttrKey::Identity) {
            ev |= AuthEvidence::IDENTITY;
        }
        if conventions::present(a, AttrKey::Credential) {
            ev |= AuthEvidence::CREDENTIAL;
        }
        ev
    }

    fn child_is_auth_middleware(
        &self,
        span: &SpanView<'_>,
        a: &Attrs<'_, '_>,
        memo: &mut NameMemo,
    ) -> bool {
        // Express 5 route-level middleware: `request handler - /route` with router.name.
        if let Some(r) = a.str(AttrKey::RouterName) {
            if memo.matches(self, r) {
                return true;
            }
        }
        if is_handler(a) {
            return false;
        }
        // Express middleware span names may embed the mount path: its own name attribute is
        // the middleware's name.
        if a.str(AttrKey::ExpressType) == Some("middleware") {
            if let Some(n) = a.str(AttrKey::ExpressName) {
                return memo.matches(self, n);
            }
        }
        // Middleware runs in-process; a CLIENT span named `SELECT sessions` or a call to
        // `GET /oauth/token` elsewhere is not this request's authentication.
        span.name_is_read() && memo.matches(self, &span.name)
    }

    /// Whether a span or middleware name looks like authentication. Text from the first `/`
    /// on is ignored: it is a route path (`router - /login`), not a component name.
    pub(crate) fn name_matches(&self, name: &str) -> bool {
        let b = name.as_bytes();
        let end = name.find('/').unwrap_or(b.len());
        let b = &b[..end];
        for i in 0..b.len() {
            // Only alphanumerics are in the table: one lookup rejects most positions.
            let candidates = &self.by_first[b[i] as usize];
            if candidates.is_empty() || !word_start(b, i) {
                continue;
            }
            if candidates
                .iter()
                .any(|&p| matches_at(b, i, &self.patterns[p as usize]))
                && !self.excluded(b, i)
            {
                return true;
            }
        }
        false
    }

    fn excluded(&self, b: &[u8], i: usize) -> bool {
        let mut j = i + 1;
        while j < b.len() && b[j].is_ascii_alphanumeric() && !word_start(b, j) {
            j += 1;
        }
        let word = &b[i..j];
        self.exclusions
            .iter()
            .any(|e| e.as_bytes().eq_ignore_ascii_case(word))
    }
}

/// Whether a framework's own attributes mark the span as an application handler.
fn is_handler(a: &Attrs<'_, '_>) -> bool {
    HANDLER_TYPES.iter().any(|(key, values)| {
        a.str(*key)
            .is_some_and(|v| values.iter().any(|h| v.eq_ignore_ascii_case(h)))
    })
}

/// Names already matched in this batch: every request through the same middleware has a
/// child span of the same name, so most lookups are a short comparison.
#[derive(Debug, Default)]
pub(crate) struct NameMemo {
    seen: Vec<(Box<str>, bool)>,
}

impl NameMemo {
    const MAX: usize = 16;

    fn matches(&mut self, m: &AuthMatcher, name: &str) -> bool {
        if let Some((_, hit)) = self.seen.iter().find(|(n, _)| &**n == name) {
            return *hit;
        }
        let hit = m.name_matches(name);
        if self.seen.len() < Self::MAX {
            self.seen.push((name.into(), hit));
        }
        hit
    }
}

/// A word starts at `i` after a non-alphanumeric byte, at a lower→upper hump (`requireAuth`),
/// at the last capital of an acronym run (`JWTAuth` → `JWT`, `Auth`), and between letters and
/// digits (`oauth2Client`).
fn word_start(b: &[u8], i: usize) -> bool {
    if i == 0 {
        return true;
    }
    let (p, c) = (b[i - 1], b[i]);
    if !p.is_ascii_alphanumeric() {
        return true;
    }
    if p.is_ascii_lowercase() && c.is_ascii_uppercase() {
        return true;
    }
    if p.is_ascii_uppercase()
        && c.is_ascii_uppercase()
        && b.get(i + 1).is_some_and(u8::is_ascii_lowercase)
    {
        return true;
    }
    p.is_ascii_digit() != c.is_ascii_digit()
}

/// Does `pat` (lowercase alphanumerics) match at `i`, skipping separators in the name?
fn matches_at(b: &[u8], i: usize, pat: &[u8]) -> bool {
    let mut j = i;
    for &pc in pat {
        while j < b.len() && !b[j].is_ascii_alphanumeric() && j > i {
            j += 1;
        }
        match b.get(j) {
            Some(&c) if c.to_ascii_lowercase() == pc => j += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttrValue, SpanKind};
    use std::borrow::Cow;

    fn m() -> AuthMatcher {
        AuthMatcher::new(&AuthRules::default())
    }

    fn child(
        name: &'static str,
        kind: SpanKind,
        attrs: &[(AttrKey, &'static str)],
    ) -> SpanView<'static> {
        SpanView {
            name: Cow::Borrowed(name),
            kind,
            parent_span_id: [1; 8],
            attrs: attrs
                .iter()
                .map(|(k, v)| (*k, AttrValue::Str(Cow::Borrowed(*v))))
                .collect(),
            ..Default::default()
        }
    }

    fn ev(sp: &SpanView<'_>) -> AuthEvidence {
        m().child_evidence(sp, &Attrs::of(sp), &mut NameMemo::default())
    }

    #[test]
    fn names_that_are_auth_middleware() {
        let m = m();
        for name in [
            "middleware - requireAuth",
            "middleware - authenticate",
            "middleware - jwtAuth",
            "middleware - verifyToken",
            "passport.authenticate",
            "authenticate",
            "authorize",
            "security filterchain before",
            "spring_security.authorizations",
            "spring.security.http.secured.requests",
            "JWTAuthFilter",
            "OAuth2AuthorizationFilter",
            "oauth2Client",
            "check_session",
            "ApiKeyMiddleware",
            "x-api-key check",
            "LoginRequired",
            "permission_check",
            "BearerTokenAuthenticationFilter",
            "AuthGuard",
            "authz",
            "middleware - ensureLoggedIn",
            "isSignedIn",
            "keycloak.protect",
            "basicAuth",
            "auth0.requiresAuth",
        ] {
            assert!(m.name_matches(name), "{name} should count as auth");
        }
    }

    #[test]
    fn names_that_are_not_auth() {
        let m = m();
        for name in [
            "middleware - query",
            "middleware - expressInit",
            "middleware - jsonParser",
            "SELECT app.records",
            "author_service.lookup",
            "AuthorRepository.findAll",
            "tokenizer.encode",
            "GET",
            "router - /auth",
            "request handler - /login",
            "render template",
            "redis GET",
            "aclose",
            "cacheguardrails",
            "notauthorized_looking_but_midword",
        ] {
            assert!(!m.name_matches(name), "{name} should not count as auth");
        }
    }

    #[test]
    fn express4_app_level_middleware_by_attribute() {
        let sp = child(
            "middleware - requireAuth",
            SpanKind::Internal,
            &[
                (AttrKey::ExpressType, "middleware"),
                (AttrKey::ExpressName, "requireAuth"),
            ],
        );
        assert_eq!(ev(&sp), AuthEvidence::MIDDLEWARE);
        let init = child(
            "middleware - expressInit",
            SpanKind::Internal,
            &[
                (AttrKey::ExpressType, "middleware"),
                (AttrKey::ExpressName, "expressInit"),
            ],
        );
        assert_eq!(ev(&init), AuthEvidence::NONE);
    }

    #[test]
    fn express5_route_level_middleware_by_router_name() {
        let sp = child(
            "request handler - /admin/stats",
            SpanKind::Internal,
            &[
                (AttrKey::ExpressType, "request_handler"),
                (AttrKey::ExpressName, "/admin/stats"),
                (AttrKey::RouterName, "requireAuth"),
            ],
        );
        assert_eq!(ev(&sp), AuthEvidence::MIDDLEWARE);
        // The same handler span without the auth middleware name, on a route with /auth in it.
        let plain = child(
            "request handler - /auth/callback",
            SpanKind::Internal,
            &[
                (AttrKey::ExpressType, "request_handler"),
                (AttrKey::ExpressName, "/auth/callback"),
            ],
        );
        assert_eq!(ev(&plain), AuthEvidence::NONE);
        let router = child(
            "router - /sessions",
            SpanKind::Internal,
            &[
                (AttrKey::ExpressType, "router"),
                (AttrKey::ExpressName, "/sessions"),
            ],
        );
        assert_eq!(ev(&router), AuthEvidence::NONE);
    }

    /// @opentelemetry/instrumentation-nestjs-core: the request context span is named
    /// `Controller.method`, the handler span after the method; neither is a guard.
    #[test]
    fn nestjs_controller_spans_never_count_by_name() {
        let ctx = child(
            "InternalController.listSessions",
            SpanKind::Internal,
            &[
                (AttrKey::NestjsType, "request_context"),
                (AttrKey::HttpRoute, "/internal/sessions"),
            ],
        );
        assert_eq!(ev(&ctx), AuthEvidence::NONE);
        let handler = child(
            "listSessions",
            SpanKind::Internal,
            &[(AttrKey::NestjsType, "handler")],
        );
        assert_eq!(ev(&handler), AuthEvidence::NONE);
        let login = child(
            "AuthController.login",
            SpanKind::Internal,
            &[(AttrKey::NestjsType, "request_context")],
        );
        assert_eq!(ev(&login), AuthEvidence::NONE);
    }

    /// @fastify/otel: hooks keep counting by name, the route's handler never does.
    #[test]
    fn fastify_hooks_count_and_handlers_do_not() {
        let hook = child(
            "onRequest - authenticate",
            SpanKind::Internal,
            &[(AttrKey::FastifyType, "hook")],
        );
        assert_eq!(ev(&hook), AuthEvidence::MIDDLEWARE);
        let route_hook = child(
            "preHandler - verifyJwt",
            SpanKind::Internal,
            &[(AttrKey::FastifyType, "route-hook")],
        );
        assert_eq!(ev(&route_hook), AuthEvidence::MIDDLEWARE);
        for name in [
            "handler - login",
            "handler - listSessions",
            "handler - getToken",
        ] {
            let h = child(
                name,
                SpanKind::Internal,
                &[(AttrKey::FastifyType, "request-handler")],
            );
            assert_eq!(ev(&h), AuthEvidence::NONE, "{name}");
        }
    }

    #[test]
    fn client_spans_are_not_middleware_by_name() {
        let db = child("SELECT sessions", SpanKind::Client, &[]);
        assert_eq!(ev(&db), AuthEvidence::NONE);
        let oauth = child("POST /oauth/token", SpanKind::Client, &[]);
        assert_eq!(ev(&oauth), AuthEvidence::NONE);
    }

    #[test]
    fn identity_and_credentials_count_by_presence() {
        let sp = SpanView {
            attrs: vec![
                (AttrKey::Identity, AttrValue::Str(Cow::Borrowed("user-42"))),
                (AttrKey::Credential, AttrValue::Present),
            ],
            ..Default::default()
        };
        let a = Attrs::of(&sp);
        assert_eq!(
            m().server_evidence(&a, Some(200)),
            AuthEvidence::IDENTITY | AuthEvidence::CREDENTIAL
        );
        let bare = SpanView::default();
        let a = Attrs::of(&bare);
        assert_eq!(m().server_evidence(&a, Some(401)), AuthEvidence::REJECTED);
        assert_eq!(m().server_evidence(&a, Some(403)), AuthEvidence::REJECTED);
        assert_eq!(m().server_evidence(&a, Some(404)), AuthEvidence::NONE);
        assert_eq!(m().server_evidence(&a, None), AuthEvidence::NONE);
    }

    #[test]
    fn patterns_are_configurable() {
        let rules = AuthRules {
            span_patterns: vec!["tenantCheck".into()],
            span_exclusions: vec![],
            rejected_statuses: vec![401],
        };
        let m = AuthMatcher::new(&rules);
        assert!(m.name_matches("middleware - tenant_check"));
        assert!(!m.name_matches("middleware - requireAuth"));
        let a = SpanView::default();
        assert!(m.server_evidence(&Attrs::of(&a), Some(403)).is_empty());
    }
}
