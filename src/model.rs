//! The shared vocabulary every module speaks: HTTP methods, path templates, endpoint keys,
//! auth evidence, the borrowed view of a decoded span that `ingest` hands to `normalize`,
//! and the per-endpoint statistics that `inventory`/`store` produce and `diff`/`output` read.
//!
//! Nothing here does I/O or owns an external crate; it is plain data with small, total
//! conversions, so that `normalize` and `spec` can produce the *same* [`PathTemplate`] and
//! `diff` compares like with like.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// An HTTP request method. Unknown methods collapse into [`Method::Other`], as the HTTP
/// semantic conventions do with `_OTHER`, so a client cannot blow up cardinality by inventing verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Put,
    Post,
    Delete,
    Patch,
    Head,
    Options,
    Trace,
    Connect,
    #[serde(rename = "_OTHER")]
    Other,
}

impl Method {
    pub const ALL: [Method; 10] = [
        Method::Get,
        Method::Put,
        Method::Post,
        Method::Delete,
        Method::Patch,
        Method::Head,
        Method::Options,
        Method::Trace,
        Method::Connect,
        Method::Other,
    ];

    /// Parses a method case-insensitively; anything that is not a standard method is `Other`.
    pub fn parse(s: &str) -> Method {
        Self::parse_known(s).unwrap_or(Method::Other)
    }

    /// Parses a standard method case-insensitively, `None` for anything else.
    pub fn parse_known(s: &str) -> Option<Method> {
        let m = match s.len() {
            3 if s.eq_ignore_ascii_case("GET") => Method::Get,
            3 if s.eq_ignore_ascii_case("PUT") => Method::Put,
            4 if s.eq_ignore_ascii_case("POST") => Method::Post,
            4 if s.eq_ignore_ascii_case("HEAD") => Method::Head,
            5 if s.eq_ignore_ascii_case("PATCH") => Method::Patch,
            5 if s.eq_ignore_ascii_case("TRACE") => Method::Trace,
            6 if s.eq_ignore_ascii_case("DELETE") => Method::Delete,
            7 if s.eq_ignore_ascii_case("OPTIONS") => Method::Options,
            7 if s.eq_ignore_ascii_case("CONNECT") => Method::Connect,
            6 if s == "_OTHER" => Method::Other,
            _ => return None,
        };
        Some(m)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Other => "_OTHER",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One segment of a [`PathTemplate`], borrowed from its canonical text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Literal text, matched exactly (`users`).
    Literal(&'a str),
    /// A whole-segment parameter; the name without braces (`id` for `{id}`).
    Param(&'a str),
    /// Literal text and parameters mixed in one segment (`{name}.{ext}`, `{id}:cancel`); the raw text.
    Mixed(&'a str),
}

impl<'a> Segment<'a> {
    pub fn classify(raw: &'a str) -> Segment<'a> {
        if let Some(inner) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            if !inner.contains(['{', '}']) {
                return Segment::Param(inner);
            }
        }
        if raw.contains('{') {
            Segment::Mixed(raw)
        } else {
            Segment::Literal(raw)
        }
    }

    pub fn is_literal(&self) -> bool {
        matches!(self, Segment::Literal(_))
    }
}

/// A path template in canonical form: `/users/{id}/orders`.
///
/// Canonical means: starts with `/`; no empty segments; no trailing slash (the root is `/`);
/// parameters are written `{name}` (framework syntaxes such as `:id` or `<int:id>` are turned
/// into this form by `normalize`); literal segments are percent-decoded where that is safe
/// (never `/`, `{` or `}`). Both `normalize` (observed traffic) and `spec` (documented
/// operations) build templates through [`PathTemplate::parse`], so equal endpoints compare equal.
///
/// The text is shared: a batch of spans on one route clones the same template many times,
/// and a clone must not cost an allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathTemplate(Arc<str>);

impl Serialize for PathTemplate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PathTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(PathTemplate(Arc::from(s)))
    }
}

impl std::borrow::Borrow<str> for PathTemplate {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PathTemplate {
    /// Builds the canonical template from text already written with `{name}` parameters.
    /// Tolerates missing leading slash, repeated and trailing slashes, a query string or
    /// fragment, percent-encoded literals and `{name:regex}`-style constraints.
    pub fn parse(raw: &str) -> PathTemplate {
        let raw = raw.split(['?', '#']).next().unwrap_or("");
        let mut out = String::with_capacity(raw.len() + 1);
        for seg in split_segments(raw) {
            out.push('/');
            push_canonical_segment(&mut out, seg);
        }
        if out.is_empty() {
            out.push('/');
        }
        PathTemplate(Arc::from(out))
    }

    /// Wraps text the caller guarantees is already canonical (e.g. read back from the store
    /// or built segment by segment by `normalize`). Debug builds check the claim.
    pub fn from_canonical(s: impl Into<Arc<str>>) -> PathTemplate {
        let s = s.into();
        debug_assert!(is_canonical(&s), "not a canonical template: {s:?}");
        PathTemplate(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn segments(&self) -> impl DoubleEndedIterator<Item = Segment<'_>> + '_ {
        self.0
            .split('/')
            .filter(|s| !s.is_empty())
            .map(Segment::classify)
    }

    pub fn segment_count(&self) -> usize {
        self.0.split('/').filter(|s| !s.is_empty()).count()
    }

    pub fn has_params(&self) -> bool {
        self.0.contains('{')
    }

    /// The template with every parameter name erased (`/users/{}`), for comparisons where
    /// names do not matter (`/users/{id}` is `/users/{userId}`).
    pub fn shape(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        let mut in_param = false;
        for c in self.0.chars() {
            match c {
                '{' => {
                    in_param = true;
                    out.push('{');
                }
                '}' => {
                    in_param = false;
                    out.push('}');
                }
                _ if in_param => {}
                _ => out.push(c),
            }
        }
        out
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PathTemplate {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn split_segments(raw: &str) -> impl Iterator<Item = &str> {
    raw.split('/').filter(|s| !s.is_empty())
}

/// Appends one segment in canonical form: `{name:constraint}` → `{name}`, literals decoded.
fn push_canonical_segment(out: &mut String, seg: &str) {
    let mut rest = seg;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(open) => {
                push_decoded_literal(out, &rest[..open]);
                let after = &rest[open + 1..];
                match after.find('}') {
                    Some(close) => {
                        let inner = &after[..close];
                        let name = inner.split(':').next().unwrap_or("").trim();
                        out.push('{');
                        out.push_str(if name.is_empty() { "param" } else { name });
                        out.push('}');
                        rest = &after[close + 1..];
                    }
                    None => {
                        // An unbalanced brace is literal text, not a parameter.
                        push_decoded_literal(out, &rest[open..]);
                        return;
                    }
                }
            }
            None => {
                push_decoded_literal(out, rest);
                return;
            }
        }
    }
}

/// Percent-decodes a literal, leaving encodings of characters that would change the
/// template's structure (`/`, `{`, `}`, `%`, `?`, `#`) and invalid UTF-8 as they were.
fn push_decoded_literal(out: &mut String, lit: &str) {
    if !lit.contains('%') {
        out.push_str(lit);
        return;
    }
    let bytes = lit.as_bytes();
    let mut buf: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                let b = h * 16 + l;
                if !matches!(b, b'/' | b'{' | b'}' | b'%' | b'?' | b'#') && b != 0 {
                    buf.push(b);
                    i += 3;
                    continue;
                }
            }
        }
        buf.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(buf) {
        Ok(s) => out.push_str(&s),
        Err(_) => out.push_str(lit),
    }
}

/// The value of one hexadecimal digit (percent-encoding, hex ids).
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_canonical(s: &str) -> bool {
    s == "/" || (s.starts_with('/') && !s.ends_with('/') && !s.contains("//"))
}

/// Where an endpoint's template came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateSource {
    /// The instrumentation's `http.route`, normalised.
    Route,
    /// Inferred from concrete paths.
    Inferred,
}

impl TemplateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateSource::Route => "route",
            TemplateSource::Inferred => "inferred",
        }
    }
}

/// What showed that authentication ran for a request, as a set of flags. Presence only:
/// a credential's value is never read into this type, nor anywhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuthEvidence(u8);

impl AuthEvidence {
    pub const NONE: AuthEvidence = AuthEvidence(0);
    /// A child span that looks like authentication middleware ran.
    pub const MIDDLEWARE: AuthEvidence = AuthEvidence(1);
    /// An authenticated identity attribute (`enduser.id`, `user.id`) was set.
    pub const IDENTITY: AuthEvidence = AuthEvidence(2);
    /// A credential header (`authorization`, `x-api-key`, ...) was captured, value unseen.
    pub const CREDENTIAL: AuthEvidence = AuthEvidence(4);
    /// The request was refused with 401 or 403: something enforces authentication.
    pub const REJECTED: AuthEvidence = AuthEvidence(8);

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn from_bits(bits: u8) -> AuthEvidence {
        AuthEvidence(bits & 0x0f)
    }

    pub const fn contains(self, other: AuthEvidence) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when the request itself carried evidence of authentication (middleware,
    /// identity or credential); a rejection alone proves enforcement, not that this request
    /// was authenticated.
    pub const fn authenticated(self) -> bool {
        self.0 & (1 | 2 | 4) != 0
    }

    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (flag, name) in [
            (Self::MIDDLEWARE, "middleware"),
            (Self::IDENTITY, "identity"),
            (Self::CREDENTIAL, "credential"),
            (Self::REJECTED, "rejected"),
        ] {
            if self.contains(flag) {
                v.push(name);
            }
        }
        v
    }
}

impl std::ops::BitOr for AuthEvidence {
    type Output = AuthEvidence;
    fn bitor(self, rhs: AuthEvidence) -> AuthEvidence {
        AuthEvidence(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for AuthEvidence {
    fn bitor_assign(&mut self, rhs: AuthEvidence) {
        self.0 |= rhs.0;
    }
}

/// OTLP span kinds (the protobuf enum values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    pub fn from_i32(v: i32) -> SpanKind {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// The attributes `normalize` reads. `ingest` keeps only these while decoding, so a span's
/// other attributes cost nothing; which raw keys map to which `AttrKey` is decided by
/// `normalize::AttrKeys` (defaults plus configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AttrKey {
    /// `http.request.method` (current conventions).
    RequestMethod,
    /// `http.method` (old conventions).
    HttpMethod,
    /// `url.path`.
    UrlPath,
    /// `http.target` (old; path plus query).
    HttpTarget,
    /// `url.full`.
    UrlFull,
    /// `http.url` (old).
    HttpUrl,
    /// `http.response.status_code`.
    ResponseStatusCode,
    /// `http.status_code` (old).
    HttpStatusCode,
    /// `http.route`.
    HttpRoute,
    /// `client.address`.
    ClientAddress,
    /// `net.sock.peer.addr`, `network.peer.address`, `net.peer.ip` (old and transport-level).
    PeerAddress,
    /// `enduser.id`, `user.id` and configured identity attributes.
    Identity,
    /// `http.request.header.authorization`, `...x-api-key` and configured credential headers:
    /// decoded as presence only.
    Credential,
    /// `express.name` (the middleware or router name in Express instrumentation).
    ExpressName,
    /// `express.type` (`middleware`, `router`, `request_handler`).
    ExpressType,
    /// `router.name` (Express 5 route-level middleware).
    RouterName,
    /// `nestjs.type` (`request_context`, `handler`, `app_creation`) from
    /// @opentelemetry/instrumentation-nestjs-core.
    NestjsType,
    /// `fastify.type` (`hook`, `route-hook`, `request-handler`) from @fastify/otel.
    FastifyType,
    /// `rpc.system`: marks RPC spans that are not HTTP endpoints.
    RpcSystem,
    /// `db.system`, `db.system.name`, `messaging.system`: a client span to a database or a
    /// broker, which no HTTP server span can be the child of.
    DataSystem,
    /// `user_agent.original`, `http.user_agent` (old).
    UserAgent,
}

impl AttrKey {
    pub const COUNT: usize = 21;
}

/// Maps raw attribute keys to the [`AttrKey`]s `normalize` reads: the conventions' own
/// names plus identity attributes and credential headers added by configuration. `ingest`
/// consults it for every attribute it meets, so the common path is a `match` on bytes.
#[derive(Debug, Clone, Default)]
pub struct AttrKeys {
    extra_identity: Vec<Box<[u8]>>,
    extra_credential: Vec<Box<[u8]>>,
}

impl AttrKeys {
    /// Adds configured identity attributes (e.g. `app.user_id`) and credential headers
    /// (header names such as `x-auth-token`, matched as `http.request.header.<name>`).
    pub fn with_extra<I, C>(identity: I, credential_headers: C) -> AttrKeys
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
        C: IntoIterator,
        C::Item: AsRef<str>,
    {
        AttrKeys {
            extra_identity: identity
                .into_iter()
                .map(|k| k.as_ref().as_bytes().into())
                .collect(),
            extra_credential: credential_headers
                .into_iter()
                .map(|h| {
                    format!("http.request.header.{}", h.as_ref().to_ascii_lowercase())
                        .into_bytes()
                        .into()
                })
                .collect(),
        }
    }

    pub fn lookup(&self, key: &[u8]) -> Option<AttrKey> {
        use AttrKey::*;
        // By length first: one integer compare rejects most keys, and at most three
        // comparisons of two machine words each follow (`same`), instead of one string
        // comparison per known key.
        let k = match key.len() {
            7 if same(key, b"user.id") => Identity,
            8 if same(key, b"url.path") => UrlPath,
            8 if same(key, b"url.full") => UrlFull,
            8 if same(key, b"http.url") => HttpUrl,
            9 if same(key, b"db.system") => DataSystem,
            10 if same(key, b"http.route") => HttpRoute,
            10 if same(key, b"enduser.id") => Identity,
            10 if same(key, b"rpc.system") => RpcSystem,
            11 if same(key, b"http.method") => HttpMethod,
            11 if same(key, b"http.target") => HttpTarget,
            11 if same(key, b"net.peer.ip") => PeerAddress,
            11 if same(key, b"router.name") => RouterName,
            11 if same(key, b"nestjs.type") => NestjsType,
            12 if same(key, b"express.name") => ExpressName,
            12 if same(key, b"express.type") => ExpressType,
            12 if same(key, b"fastify.type") => FastifyType,
            14 if same(key, b"client.address") => ClientAddress,
            14 if same(key, b"db.system.name") => DataSystem,
            15 if same(key, b"http.user_agent") => UserAgent,
            16 if same(key, b"http.status_code") => HttpStatusCode,
            16 if same(key, b"messaging.system") => DataSystem,
            18 if same(key, b"net.sock.peer.addr") => PeerAddress,
            19 if same(key, b"http.request.method") => RequestMethod,
            19 if same(key, b"user_agent.original") => UserAgent,
            20 if same(key, b"network.peer.address") => PeerAddress,
            25 if same(key, b"http.response.status_code") => ResponseStatusCode,
            29 if same(key, b"http.request.header.x-api-key")
                || same(key, b"http.request.header.x_api_key") =>
            {
                Credential
            }
            33 if same(key, b"http.request.header.authorization") => Credential,
            39 if same(key, b"http.request.header.proxy-authorization") => Credential,
            _ => return self.extra(key),
        };
        Some(k)
    }

    /// Configured identity attributes and credential headers.
    fn extra(&self, key: &[u8]) -> Option<AttrKey> {
        if self.extra_identity.iter().any(|k| &**k == key) {
            return Some(AttrKey::Identity);
        }
        if self.extra_credential.iter().any(|k| &**k == key) {
            return Some(AttrKey::Credential);
        }
        None
    }
}

/// `key == lit` for keys of the same length, comparing the first and last eight bytes as
/// words (with `lit` a literal these are constants once inlined); only keys longer than 16
/// bytes whose ends match compare their middle.
#[inline(always)]
fn same(key: &[u8], lit: &'static [u8]) -> bool {
    let n = lit.len();
    if key.len() != n {
        return false;
    }
    if n < 8 {
        return key == lit;
    }
    let word = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
    word(key, 0) == word(lit, 0)
        && word(key, n - 8) == word(lit, n - 8)
        && (n <= 16 || key[8..n - 8] == lit[8..n - 8])
}

/// An attribute value as far as `normalize` needs it. Credentials are never carried with
/// their value: the decoder produces [`AttrValue::Present`] for them.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    /// A value of another type (array, double, bytes, kvlist), or one deliberately not read.
    Present,
}

impl AttrValue<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Integers, and strings holding integers (some SDKs stringify status codes).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            AttrValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// The resource a batch of spans came from, borrowed from the request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceView<'a> {
    pub service_name: Option<Cow<'a, str>>,
    pub service_namespace: Option<Cow<'a, str>>,
}

/// One decoded span, borrowed from the request bytes where possible. Only the attributes
/// named by [`AttrKey`] are kept, in arrival order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanView<'a> {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// All zero when the span is a root.
    pub parent_span_id: [u8; 8],
    /// The span name, for spans whose name `normalize` reads ([`SpanView::name_is_read`]);
    /// the protobuf walker leaves it empty for the others rather than validate it.
    pub name: Cow<'a, str>,
    pub kind: SpanKind,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub attrs: Vec<(AttrKey, AttrValue<'a>)>,
}

impl<'a> SpanView<'a> {
    pub fn attr(&self, key: AttrKey) -> Option<&AttrValue<'a>> {
        self.attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn has_parent(&self) -> bool {
        self.parent_span_id != [0; 8]
    }

    /// Whether `normalize` looks at this span's name: in-process spans (INTERNAL, and
    /// UNSPECIFIED from instrumentations that never set a kind), where auth middleware
    /// shows up by name. Server spans are known by their attributes, client spans are
    /// never this request's authentication.
    pub fn name_is_read(&self) -> bool {
        matches!(self.kind, SpanKind::Internal | SpanKind::Unspecified)
    }

    /// Clears the span for reuse, keeping the attribute vector's allocation.
    pub fn clear(&mut self) {
        self.trace_id = [0; 16];
        self.span_id = [0; 8];
        self.parent_span_id = [0; 8];
        self.name = Cow::Borrowed("");
        self.kind = SpanKind::Unspecified;
        self.start_unix_nano = 0;
        self.end_unix_nano = 0;
        self.attrs.clear();
    }
}

/// Identifies one endpoint of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EndpointKey {
    pub service: String,
    pub method: Method,
    pub template: PathTemplate,
}

/// Request counts by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusCounts {
    pub s1xx: u64,
    pub s2xx: u64,
    pub s3xx: u64,
    pub s4xx: u64,
    pub s5xx: u64,
    pub s401: u64,
    pub s403: u64,
    pub s404: u64,
    /// Method not allowed: the framework refused the method on a path it knows.
    #[serde(default)]
    pub s405: u64,
    pub s429: u64,
    /// Requests whose span carried no status code.
    pub unknown: u64,
}

impl StatusCounts {
    pub fn record(&mut self, status: Option<u16>) {
        match status {
            Some(100..=199) => self.s1xx += 1,
            Some(200..=299) => self.s2xx += 1,
            Some(300..=399) => self.s3xx += 1,
            Some(400..=499) => {
                self.s4xx += 1;
                match status {
                    Some(401) => self.s401 += 1,
                    Some(403) => self.s403 += 1,
                    Some(404) => self.s404 += 1,
                    Some(405) => self.s405 += 1,
                    Some(429) => self.s429 += 1,
                    _ => {}
                }
            }
            Some(500..=599) => self.s5xx += 1,
            _ => self.unknown += 1,
        }
    }

    pub fn add(&mut self, o: &StatusCounts) {
        self.s1xx += o.s1xx;
        self.s2xx += o.s2xx;
        self.s3xx += o.s3xx;
        self.s4xx += o.s4xx;
        self.s5xx += o.s5xx;
        self.s401 += o.s401;
        self.s403 += o.s403;
        self.s404 += o.s404;
        self.s405 += o.s405;
        self.s429 += o.s429;
        self.unknown += o.unknown;
    }

    pub fn total(&self) -> u64 {
        self.s1xx + self.s2xx + self.s3xx + self.s4xx + self.s5xx + self.unknown
    }
}

/// Whether a status counts as a success for the "served without authentication" question:
/// the response delivered something (1xx-3xx), or the span gave no status at all.
pub fn is_success(status: Option<u16>) -> bool {
    !matches!(status, Some(400..=599))
}

/// One endpoint of the inventory with everything known about it over a time window: what
/// `store` returns and what `diff` and `output` read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    pub service: String,
    pub method: Method,
    pub template: PathTemplate,
    pub source: TemplateSource,
    pub requests: u64,
    pub status: StatusCounts,
    /// Successful requests that carried auth evidence.
    pub ok_with_auth: u64,
    /// Successful requests that carried none.
    pub ok_without_auth: u64,
    /// Every kind of evidence seen on this endpoint.
    pub evidence: AuthEvidence,
    /// Unix seconds.
    pub first_seen: i64,
    /// Unix seconds.
    pub last_seen: i64,
    /// A few concrete paths seen (query stripped), for people to recognise the endpoint.
    pub examples: Vec<String>,
    /// Distinct callers (client addresses or caller services), bounded.
    pub callers: Vec<String>,
    /// Distinct user agents of its requests (`user_agent.original`, `http.user_agent`),
    /// bounded: which clients use it (a browser, an SDK, `curl`, a scanner).
    #[serde(default)]
    pub user_agents: Vec<String>,
    /// Why the template has the parameters it has (`segment 2: integer`, `segment 2: 14
    /// distinct values before /repos`, `http.route`), when known. Derived when the inventory
    /// is read, from the examples and the learned folds, so it follows the current rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

impl EndpointStats {
    pub fn key(&self) -> EndpointKey {
        EndpointKey {
            service: self.service.clone(),
            method: self.method,
            template: self.template.clone(),
        }
    }
}

/// Identifies a span across batches: what cross-batch joins (auth evidence arriving after
/// its server span, client spans calling another service) key on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpanRef {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
}

/// One HTTP server span, normalised into an observation of an endpoint. Its strings borrow
/// from the export request it was decoded from (`'a`), so normalising a span allocates
/// nothing; the inventory copies only the few examples and callers it keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation<'a> {
    /// This server span.
    pub span: SpanRef,
    /// Its parent (all-zero span id for a root): a client span of a calling service, if any.
    pub parent_span_id: [u8; 8],
    /// `service.namespace/service.name`, or just `service.name`; `unknown_service` when unset.
    pub service: std::sync::Arc<str>,
    pub method: Method,
    pub template: PathTemplate,
    pub source: TemplateSource,
    pub status: Option<u16>,
    /// Evidence from the span itself and from children in the same batch.
    pub evidence: AuthEvidence,
    /// Span start, unix nanoseconds.
    pub time_unix_nano: u64,
    /// The concrete path, query stripped: an example for people, never a secret-bearing query.
    pub path: Cow<'a, str>,
    /// `client.address` or the transport peer address, when instrumentation gives one.
    pub client: Option<Cow<'a, str>>,
    /// `user_agent.original` or `http.user_agent`, when instrumentation gives one.
    pub user_agent: Option<Cow<'a, str>>,
    /// The instrumentation named a route for this request (`http.route` on the span or a
    /// child), whether or not it became the template. Without one, a redirect or refusal
    /// may be the framework answering before routing (scanner probes): see the inventory.
    pub routed: bool,
    /// Why the template has the parameters it has (e.g. `{id}: integer`), for people; only
    /// from a normaliser built with `explaining()` (the daemon derives explanations when
    /// the inventory is read instead).
    pub explanation: Option<String>,
}

/// A client span: one service calling out. Joined with the server span whose parent it is
/// to draw service-to-service edges.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCall {
    pub span: SpanRef,
    pub service: std::sync::Arc<str>,
    pub time_unix_nano: u64,
}

/// Spans that did not become observations, by reason, so the numbers add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct IgnoredCounts {
    /// Requests that matched no route: scanners probing `/.env` and the like. Normalising
    /// counts 404s without a valid route here; the inventory adds redirects and refusals
    /// answered before routing in a service that names its routes (per hour, in the store).
    pub unmatched: u64,
    /// Spans that are not HTTP server spans and gave no evidence (internal, DB, RPC...).
    pub not_http: u64,
    /// HTTP server spans missing what an observation needs (no method or no path).
    pub incomplete: u64,
}

/// What `normalize` makes of one export request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NormalizedBatch<'a> {
    pub observations: Vec<Observation<'a>>,
    /// Auth evidence from child spans whose parent server span was not in this batch:
    /// (the parent, the evidence). The inventory joins these within a bounded window.
    pub orphan_evidence: Vec<(SpanRef, AuthEvidence)>,
    pub client_calls: Vec<ClientCall>,
    pub ignored: IgnoredCounts,
    /// Spans read in all.
    pub spans: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_parse_is_case_insensitive_and_bounded() {
        assert_eq!(Method::parse("get"), Method::Get);
        assert_eq!(Method::parse("DELETE"), Method::Delete);
        assert_eq!(Method::parse("Options"), Method::Options);
        assert_eq!(Method::parse("PROPFIND"), Method::Other);
        assert_eq!(Method::parse(""), Method::Other);
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), m);
        }
    }

    #[test]
    fn template_parse_canonicalises() {
        let cases = [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("users", "/users"),
            ("/users/", "/users"),
            ("/users//{id}/", "/users/{id}"),
            ("/users/{id:int}", "/users/{id}"),
            ("/users/{id:[0-9]+}/x", "/users/{id}/x"),
            ("/users?x=1", "/users"),
            ("/a#frag", "/a"),
            ("/files/{name}.{ext}", "/files/{name}.{ext}"),
            ("/jobs/{id}:cancel", "/jobs/{id}:cancel"),
            ("/caf%C3%A9", "/café"),
            ("/a%2Fb", "/a%2Fb"),
            ("/x/{}", "/x/{param}"),
            ("/x/{oops", "/x/{oops"),
            ("/%ZZ", "/%ZZ"),
            ("/%", "/%"),
            ("/a%2", "/a%2"),
        ];
        for (raw, want) in cases {
            assert_eq!(PathTemplate::parse(raw).as_str(), want, "parse({raw:?})");
        }
    }

    #[test]
    fn template_parse_is_idempotent() {
        for raw in ["/a/{b}/c", "/café/%2F", "/x/{y:int}/", "{a}{b}"] {
            let once = PathTemplate::parse(raw);
            assert_eq!(PathTemplate::parse(once.as_str()), once);
        }
    }

    #[test]
    fn segments_and_shape() {
        let t = PathTemplate::parse("/users/{userId}/files/{name}.{ext}");
        let segs: Vec<_> = t.segments().collect();
        assert_eq!(
            segs,
            vec![
                Segment::Literal("users"),
                Segment::Param("userId"),
                Segment::Literal("files"),
                Segment::Mixed("{name}.{ext}"),
            ]
        );
        assert_eq!(t.shape(), "/users/{}/files/{}.{}");
        assert_eq!(t.segment_count(), 4);
        assert!(t.has_params());
        assert_eq!(PathTemplate::parse("/").segment_count(), 0);
    }

    #[test]
    fn auth_evidence_flags() {
        let mut e = AuthEvidence::NONE;
        assert!(!e.authenticated());
        e |= AuthEvidence::REJECTED;
        assert!(!e.authenticated());
        assert!(e.contains(AuthEvidence::REJECTED));
        e |= AuthEvidence::CREDENTIAL;
        assert!(e.authenticated());
        assert_eq!(e.names(), vec!["credential", "rejected"]);
        assert!(!e.contains(AuthEvidence::NONE));
        assert_eq!(AuthEvidence::from_bits(0xff).bits(), 0x0f);
    }

    #[test]
    fn attr_keys_cover_both_conventions_and_config() {
        let keys = AttrKeys::with_extra(["app.user_id"], ["X-Auth-Token"]);
        assert_eq!(keys.lookup(b"http.method"), Some(AttrKey::HttpMethod));
        assert_eq!(
            keys.lookup(b"http.request.method"),
            Some(AttrKey::RequestMethod)
        );
        assert_eq!(
            keys.lookup(b"net.sock.peer.addr"),
            Some(AttrKey::PeerAddress)
        );
        assert_eq!(keys.lookup(b"app.user_id"), Some(AttrKey::Identity));
        assert_eq!(
            keys.lookup(b"http.request.header.x-auth-token"),
            Some(AttrKey::Credential)
        );
        assert_eq!(keys.lookup(b"db.system"), Some(AttrKey::DataSystem));
        assert_eq!(keys.lookup(b"db.statement"), None);
        assert_eq!(AttrKeys::default().lookup(b"app.user_id"), None);
    }

    #[test]
    fn every_known_attribute_key_is_found_and_near_misses_are_not() {
        use AttrKey::*;
        let keys = AttrKeys::with_extra(["app.user_id"], ["X-Auth-Token"]);
        for (raw, want) in [
            ("http.request.method", RequestMethod),
            ("http.method", HttpMethod),
            ("url.path", UrlPath),
            ("http.target", HttpTarget),
            ("url.full", UrlFull),
            ("http.url", HttpUrl),
            ("http.response.status_code", ResponseStatusCode),
            ("http.status_code", HttpStatusCode),
            ("http.route", HttpRoute),
            ("client.address", ClientAddress),
            ("net.sock.peer.addr", PeerAddress),
            ("network.peer.address", PeerAddress),
            ("net.peer.ip", PeerAddress),
            ("enduser.id", Identity),
            ("user.id", Identity),
            ("app.user_id", Identity),
            ("http.request.header.authorization", Credential),
            ("http.request.header.x-api-key", Credential),
            ("http.request.header.x_api_key", Credential),
            ("http.request.header.proxy-authorization", Credential),
            ("http.request.header.x-auth-token", Credential),
            ("express.name", ExpressName),
            ("express.type", ExpressType),
            ("router.name", RouterName),
            ("nestjs.type", NestjsType),
            ("fastify.type", FastifyType),
            ("rpc.system", RpcSystem),
            ("db.system", DataSystem),
            ("db.system.name", DataSystem),
            ("messaging.system", DataSystem),
            ("user_agent.original", UserAgent),
            ("http.user_agent", UserAgent),
        ] {
            assert_eq!(keys.lookup(raw.as_bytes()), Some(want), "{raw}");
            // Same length, one byte off anywhere: not the key.
            for at in 0..raw.len() {
                let mut near = raw.as_bytes().to_vec();
                near[at] ^= 0x20;
                assert_eq!(keys.lookup(&near), None, "{raw} altered at {at}");
            }
        }
        for unknown in [
            "",
            "url",
            "user_agent.name",
            "server.address",
            "db.statement",
        ] {
            assert_eq!(keys.lookup(unknown.as_bytes()), None, "{unknown}");
        }
    }

    #[test]
    fn status_counts_classify() {
        let mut s = StatusCounts::default();
        for code in [200, 201, 301, 401, 403, 404, 429, 400, 500, 503, 101] {
            s.record(Some(code));
        }
        s.record(None);
        s.record(Some(999));
        assert_eq!((s.s1xx, s.s2xx, s.s3xx, s.s4xx, s.s5xx), (1, 2, 1, 5, 2));
        assert_eq!((s.s401, s.s403, s.s404, s.s429, s.unknown), (1, 1, 1, 1, 2));
        assert_eq!(s.total(), 13);
        assert!(is_success(Some(204)) && is_success(None) && !is_success(Some(401)));
    }
}
