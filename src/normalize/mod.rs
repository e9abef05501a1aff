//! Span views → endpoint observations: which spans are HTTP server spans, both generations
//! of the HTTP semantic conventions, path templates (routes normalised and checked against
//! the concrete path, or inferred from it), auth evidence, and client calls for the service
//! graph. Pure: no I/O, no clocks, no global state.
//!
//! # Which spans
//! - **HTTP server spans** become [`Observation`]s: kind SERVER with `http.request.method` or
//!   `http.method`; also kind UNSPECIFIED when the span is a root, has a method and a
//!   server-side path attribute (`url.path`, `http.target`, `http.route`), because some
//!   hand-rolled and older instrumentations never set the kind (configurable:
//!   [`Rules::unspecified_roots`]). `url.full` alone does not qualify: clients set it.
//!   Spans with `rpc.system` are RPC, not HTTP endpoints, even when they carry a method.
//! - **CLIENT spans** become [`ClientCall`]s, except calls to databases and brokers
//!   (`db.system`, `messaging.system`), which no server span of ours can be the child of.
//! - **Other spans** are only evidence about their parent: auth middleware, identity,
//!   credentials, and routes that nested routers put on their own spans.
//!
//! # Counting
//! `spans = observations + client_calls + child spans that gave evidence or a route +
//! ignored.*`, where
//! `ignored.unmatched` are 404s without a valid route (scanners; the inventory later adds
//! refusals answered before routing, see `inventory::Inventory::absorb`), `ignored.incomplete` HTTP
//! server spans without method or path, `ignored.not_http` everything else.
//!
//! # Joins
//! Children are joined to their server span in [`BatchNormalizer::finish`], climbing through
//! intermediate spans of the same batch; evidence whose server span is not in the batch is
//! returned as `orphan_evidence` keyed by the nearest ancestor not in the batch.

mod auth;
mod conventions;
pub mod infer;
pub mod learn;
pub mod redact;
pub mod route;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

pub use auth::AuthRules;
pub use infer::{infer_template, InferRules, Inferred};
pub use learn::{merge_high_cardinality, LearnRules, Merge};
pub use route::{Route, RouteMatch};

use crate::model::{
    AttrKey, AuthEvidence, ClientCall, Method, NormalizedBatch, Observation, PathTemplate,
    ResourceView, SpanKind, SpanRef, SpanView, TemplateSource,
};
use conventions::Attrs;
use route::raw_segments;

/// Rules that configuration can change: the `[normalize]` table of the config file. Every
/// field has a default, so an empty table (or none) gives the documented behaviour; unknown
/// keys are errors, so a typo does not silently fall back to a default.
///
/// ```toml
/// [normalize]
/// unspecified_roots = true
/// slashy_params = ["path", "file_path"]
///
/// [normalize.auth]
/// span_patterns = ["auth", "jwt", "tenantGuard"]   # replaces the default list
/// span_exclusions = ["author"]
/// rejected_statuses = [401, 403]
///
/// [normalize.infer]
/// protect_first_segment = true
/// min_hex_len = 12
/// min_token_len = 16
/// min_digits = 3
///
/// [normalize.learn]
/// min_distinct = 8
/// min_irregular = 2
/// min_distinct_words = 100
/// max_endpoints = 200000
///
/// [[normalize.overrides]]
/// service = "shop"
/// templates = ["/files/{name}"]
/// literal = ["/api/me"]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// Treat root spans of kind UNSPECIFIED with a method and a server-side path as servers.
    pub unspecified_roots: bool,
    /// Route parameter names (case-insensitive) that may hold slashes when a route is checked
    /// against its path, as real APIs put file paths and refs in them.
    pub slashy_params: Vec<String>,
    pub auth: AuthRules,
    pub infer: InferRules,
    pub learn: LearnRules,
    /// Per-service corrections for what no heuristic gets right.
    pub overrides: Vec<ServiceOverride>,
    /// Byte limits on the strings kept per request (`[normalize.limits]`).
    pub limits: crate::untrusted::Limits,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            unspecified_roots: true,
            slashy_params: [
                "path",
                "filepath",
                "file_path",
                "filename",
                "rest",
                "splat",
                "wildcard",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            auth: AuthRules::default(),
            infer: InferRules::default(),
            limits: crate::untrusted::Limits::default(),
            learn: LearnRules::default(),
            overrides: Vec::new(),
        }
    }
}

/// Per-service template overrides:
///
/// ```toml
/// [[normalize.overrides]]
/// service = "shop"                 # omit for every service; namespaced as "ns/name"
/// templates = ["/files/{name}"]    # or `template = "..."`; also `:name` / `<name>` syntax
/// literal = ["/api/me"]
/// ```
///
/// A path matching one of `templates` gets that template (the most specific one when several
/// match); a path equal to a `literal` entry keeps exactly that template, which also keeps it
/// out of [`Normalizer::merge_high_cardinality`] (the way to un-merge a learned parameter).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceOverride {
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default, alias = "template", deserialize_with = "one_or_many")]
    pub templates: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub literal: Vec<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[derive(Debug, Clone)]
struct CompiledOverride {
    service: Option<Box<str>>,
    templates: Vec<Route>,
    literal: Vec<PathTemplate>,
}

/// Normalises export requests under fixed rules.
#[derive(Debug, Clone)]
pub struct Normalizer {
    pub rules: Rules,
    /// Whether observations carry an explanation of their template (see
    /// [`Normalizer::explaining`]).
    explain: bool,
    auth: auth::AuthMatcher,
    slashy: Vec<Box<str>>,
    overrides: Vec<CompiledOverride>,
    /// Routes parsed by earlier batches, shared by every receiver task: a service's few
    /// routes arrive in every export, and parsing one costs more than a lock.
    routes: Arc<SharedRoutes>,
}

type SharedRoutes =
    std::sync::Mutex<HashMap<Box<str>, Option<Arc<Route>>, foldhash::fast::RandomState>>;

impl Default for Normalizer {
    fn default() -> Self {
        Normalizer::new(Rules::default())
    }
}

impl Normalizer {
    pub fn new(rules: Rules) -> Normalizer {
        let slashy: Vec<Box<str>> = rules
            .slashy_params
            .iter()
            .map(|s| s.as_str().into())
            .collect();
        let overrides = rules
            .overrides
            .iter()
            .map(|o| CompiledOverride {
                service: o.service.as_deref().map(Into::into),
                templates: o
                    .templates
                    .iter()
                    .filter_map(|t| Route::parse(t, &slashy))
                    .collect(),
                literal: o.literal.iter().map(|l| PathTemplate::parse(l)).collect(),
            })
            .collect();
        Normalizer {
            explain: false,
            auth: auth::AuthMatcher::new(&rules.auth),
            slashy,
            overrides,
            rules,
            routes: Arc::default(),
        }
    }

    /// A parsed route from the shared cache, parsing and remembering it on a miss. The cache
    /// is bounded: when full it starts over, so unique routes cost one parse each.
    fn shared_route(&self, raw: &str) -> Option<Arc<Route>> {
        const MAX: usize = 4096;
        let mut map = match self.routes.lock() {
            Ok(m) => m,
            // A panic elsewhere cannot leave a half-parsed route here; keep going.
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(r) = map.get(raw) {
            return r.clone();
        }
        let r = Route::parse(raw, &self.slashy).map(Arc::new);
        if map.len() >= MAX {
            map.clear();
        }
        map.insert(raw.into(), r.clone());
        r
    }

    /// Observations will say why their template has its parameters. Off by default: it
    /// costs an allocation per span, and the inventory derives explanations when read.
    pub fn explaining(mut self) -> Normalizer {
        self.explain = true;
        self
    }

    /// Starts a batch for an export request of `payload_len` bytes, with room for the
    /// observations such a request usually holds: growing the vectors span by span copied
    /// them several times per export.
    pub fn batch_for_payload<'a>(&self, payload_len: usize) -> BatchNormalizer<'_, 'a> {
        // A server span with its children takes a few hundred bytes on the wire.
        let expected = (payload_len / 512).clamp(16, 1 << 16);
        let mut b = self.batch();
        b.out.observations.reserve(expected);
        b.meta.reserve(expected);
        b.evidence.reserve(expected);
        b.links.reserve(expected * 2);
        b
    }

    /// Starts one export request's worth of spans.
    pub fn batch<'a>(&self) -> BatchNormalizer<'_, 'a> {
        let mut scratch = infer::Scratch::default();
        scratch.explain = self.explain;
        BatchNormalizer {
            n: self,
            out: NormalizedBatch::default(),
            meta: Vec::new(),
            evidence: Vec::new(),
            routes: Vec::new(),
            links: Vec::new(),
            service: None,
            scratch,
            route_cache: RouteCache::default(),
            auth_names: auth::NameMemo::default(),
            other_servers: Vec::new(),
        }
    }

    /// [`learn::merge_high_cardinality`] for one service's endpoints under these rules, with
    /// the service's `literal` overrides kept out of any merge.
    pub fn merge_high_cardinality(
        &self,
        service: &str,
        endpoints: &[(Method, PathTemplate, u64)],
    ) -> Vec<Merge> {
        let keep: Vec<PathTemplate> = self
            .overrides
            .iter()
            .filter(|o| o.service.as_deref().is_none_or(|s| s == service))
            .flat_map(|o| o.literal.iter().cloned())
            .collect();
        merge_high_cardinality(endpoints, &self.rules.learn, &keep)
    }

    /// Applies the service's overrides to a concrete path; `None` when none applies.
    fn override_for(&self, service: &str, path: &str) -> Option<(PathTemplate, String)> {
        let mut canonical: Option<PathTemplate> = None;
        let mut best: Option<&Route> = None;
        for o in &self.overrides {
            if o.service.as_deref().is_some_and(|s| s != service) {
                continue;
            }
            if !o.literal.is_empty() {
                let c = canonical.get_or_insert_with(|| canonical_path(path));
                if let Some(l) = o.literal.iter().find(|l| *l == c) {
                    return Some((l.clone(), format!("override: literal {l}")));
                }
            }
            for r in &o.templates {
                if r.match_path(path) == RouteMatch::Full
                    && best.is_none_or(|b| r.specificity() > b.specificity())
                {
                    best = Some(r);
                }
            }
        }
        best.map(|r| {
            (
                r.template.clone(),
                format!("override: template {}", r.template),
            )
        })
    }
}

/// The concrete path as a canonical literal template (matrix parameters dropped).
fn canonical_path(path: &str) -> PathTemplate {
    let mut s = String::with_capacity(path.len());
    for seg in raw_segments(path) {
        s.push('/');
        s.push_str(seg);
    }
    PathTemplate::parse(&s)
}

/// What `finish` needs to know about an observation beyond the observation itself.
#[derive(Debug, Clone, Copy)]
struct ObsMeta {
    /// The template comes from a route that matches the whole path.
    route_ok: bool,
    /// Path segments covered by the best prefix route so far (0: none).
    prefix: usize,
}

struct ServiceEntry {
    name: Option<Box<str>>,
    namespace: Option<Box<str>>,
    arc: Arc<str>,
    has_overrides: bool,
}

/// Collects one request's spans; evidence from children is joined to parents in the same
/// request at [`BatchNormalizer::finish`], the rest is returned as orphan evidence.
pub struct BatchNormalizer<'r, 'a> {
    n: &'r Normalizer,
    out: NormalizedBatch<'a>,
    meta: Vec<ObsMeta>,
    /// Evidence from non-server spans, keyed by their parent.
    evidence: Vec<(SpanRef, AuthEvidence)>,
    /// `http.route` values found on non-server spans, keyed by their parent.
    routes: Vec<(SpanRef, Box<str>)>,
    /// Every non-server child span and its parent, to climb from grandchildren.
    links: Vec<(SpanRef, [u8; 8])>,
    service: Option<ServiceEntry>,
    scratch: infer::Scratch,
    route_cache: RouteCache<'a>,
    auth_names: auth::NameMemo,
    /// Server spans of this batch that are not HTTP observations (RPC, incomplete): their
    /// children's evidence has nowhere to go and must not wait as orphans.
    other_servers: Vec<SpanRef>,
}

impl<'a> BatchNormalizer<'_, 'a> {
    pub fn push(&mut self, resource: &ResourceView<'_>, span: &SpanView<'a>) {
        self.out.spans += 1;
        let a = Attrs::of(span);
        let n = self.n;
        let is_server = match span.kind {
            SpanKind::Server => true,
            SpanKind::Unspecified => {
                n.rules.unspecified_roots
                    && !span.has_parent()
                    && conventions::method(&a).is_some()
                    && conventions::has_server_path(&a)
            }
            _ => false,
        };
        if is_server {
            self.push_server(resource, span, &a);
            return;
        }
        if span.kind == SpanKind::Client {
            // A database or broker call never has an HTTP server span as its child: keeping
            // it for the caller join would only fill the join window.
            if a.has(AttrKey::DataSystem) {
                self.out.ignored.not_http += 1;
                return;
            }
            let service = self.service(resource);
            self.out.client_calls.push(ClientCall {
                span: SpanRef {
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                },
                service,
                time_unix_nano: span.start_unix_nano,
            });
            return;
        }
        if !span.has_parent() {
            self.out.ignored.not_http += 1;
            return;
        }
        let parent = SpanRef {
            trace_id: span.trace_id,
            span_id: span.parent_span_id,
        };
        self.links.push((
            SpanRef {
                trace_id: span.trace_id,
                span_id: span.span_id,
            },
            span.parent_span_id,
        ));
        let ev = n.auth.child_evidence(span, &a, &mut self.auth_names);
        let route = conventions::route(&a);
        if !ev.is_empty() {
            self.evidence.push((parent, ev));
        }
        let no_route = route.is_none();
        if let Some(r) = route {
            let r = crate::untrusted::cap(r, n.rules.limits.max_route_bytes);
            self.routes.push((parent, r.into()));
        }
        if ev.is_empty() && no_route {
            self.out.ignored.not_http += 1;
        }
    }

    fn push_server(&mut self, resource: &ResourceView<'_>, span: &SpanView<'a>, a: &Attrs<'_, 'a>) {
        let n = self.n;
        let me = SpanRef {
            trace_id: span.trace_id,
            span_id: span.span_id,
        };
        if a.has(AttrKey::RpcSystem) {
            self.out.ignored.not_http += 1;
            self.other_servers.push(me);
            return;
        }
        let (Some(method), Some(path)) = (conventions::method(a), conventions::path(a)) else {
            if conventions::path(a).is_some() || conventions::method(a).is_some() {
                self.out.ignored.incomplete += 1;
            } else {
                self.out.ignored.not_http += 1;
            }
            self.other_servers.push(me);
            return;
        };
        let limits = &n.rules.limits;
        let path = crate::untrusted::cap(path, limits.max_path_bytes);
        let status = conventions::status(a);
        let service = self.service(resource);
        let has_overrides = self.service.as_ref().is_some_and(|s| s.has_overrides);

        let route_text =
            conventions::route(a).map(|r| crate::untrusted::cap(r, limits.max_route_bytes));
        let uncached;
        let route = match &route_text {
            Some(Cow::Borrowed(r)) => self.route_cache.parse(r, n),
            Some(Cow::Owned(r)) => {
                uncached = Route::parse(r, &n.slashy);
                uncached.as_ref()
            }
            None => None,
        };
        let (mut template, mut source, mut explanation, meta) =
            template_for(n, &mut self.scratch, route, &path, status);
        if has_overrides {
            if let Some((t, why)) = n.override_for(&service, &path) {
                template = t;
                source = TemplateSource::Inferred;
                explanation = Some(why);
            }
        }
        let evidence = n.auth.server_evidence(a, status);
        if self.out.observations.capacity() == 0 {
            // Observations are large; skip the first few doublings of a typical batch.
            self.out.observations.reserve(32);
            self.meta.reserve(32);
        }
        self.out.observations.push(Observation {
            span: SpanRef {
                trace_id: span.trace_id,
                span_id: span.span_id,
            },
            parent_span_id: span.parent_span_id,
            service,
            method,
            template,
            source,
            status,
            evidence,
            time_unix_nano: span.start_unix_nano,
            path: example_path(path),
            client: conventions::client(a)
                .map(|c| crate::untrusted::cap(c, limits.max_caller_bytes)),
            user_agent: conventions::user_agent(a)
                .map(|u| crate::untrusted::cap(u, limits.max_user_agent_bytes)),
            explanation,
            routed: route_text.is_some(),
        });
        self.meta.push(meta);
    }

    /// The service of a resource, shared between consecutive spans of the same resource.
    fn service(&mut self, r: &ResourceView<'_>) -> Arc<str> {
        let name = r.service_name.as_deref().filter(|s| !s.is_empty());
        let ns = r.service_namespace.as_deref().filter(|s| !s.is_empty());
        if let Some(e) = &self.service {
            if e.name.as_deref() == name && e.namespace.as_deref() == ns {
                return e.arc.clone();
            }
        }
        let base = name.unwrap_or("unknown_service");
        let max = self.n.rules.limits.max_service_bytes;
        let full: Arc<str> = match ns {
            Some(ns) => crate::untrusted::cap(Cow::Owned(format!("{ns}/{base}")), max).into(),
            None => crate::untrusted::cap(Cow::Borrowed(base), max).into(),
        };
        let has_overrides = self
            .n
            .overrides
            .iter()
            .any(|o| o.service.as_deref().is_none_or(|s| s == &*full));
        self.service = Some(ServiceEntry {
            name: name.map(Into::into),
            namespace: ns.map(Into::into),
            arc: full.clone(),
            has_overrides,
        });
        full
    }

    pub fn finish(mut self) -> NormalizedBatch<'a> {
        let n = self.n;
        if !self.evidence.is_empty() || !self.routes.is_empty() {
            let mut index: IdMap<usize> = IdMap::default();
            index.reserve(self.out.observations.len());
            index.extend(
                self.out
                    .observations
                    .iter()
                    .enumerate()
                    .map(|(i, o)| (o.span, i)),
            );
            let mut parents: Option<IdMap<[u8; 8]>> = None;
            let mut orphans: IdMap<AuthEvidence> = IdMap::default();
            let other: HashSet<SpanRef, foldhash::fast::RandomState> =
                self.other_servers.iter().copied().collect();
            for &(parent, ev) in &self.evidence {
                match resolve(parent, &index, &mut parents, &self.links) {
                    Ok(i) => self.out.observations[i].evidence |= ev,
                    Err(top) if other.contains(&top) => {}
                    Err(top) => *orphans.entry(top).or_default() |= ev,
                }
            }
            for (parent, route) in &self.routes {
                if let Ok(i) = resolve(*parent, &index, &mut parents, &self.links) {
                    self.out.observations[i].routed = true;
                    if !self.meta[i].route_ok {
                        adopt_child_route(
                            n,
                            &mut self.scratch,
                            route,
                            &mut self.out.observations[i],
                            &mut self.meta[i],
                        );
                    }
                }
            }
            let mut orphans: Vec<_> = orphans.into_iter().collect();
            orphans.sort_unstable_by_key(|(r, _)| (r.trace_id, r.span_id));
            self.out.orphan_evidence = orphans;
        }
        // Examples keep the shape of secrets, never their value; done last, on the final
        // template (a child span's route may have named the parameter).
        for o in &mut self.out.observations {
            let path = std::mem::take(&mut o.path);
            o.path = redact::example(path, &o.template, &n.rules.infer);
            if let Some(why) = &o.explanation {
                if let Some(clean) = redact::words(why, &n.rules.infer) {
                    o.explanation = Some(clean);
                }
            }
        }
        // Scanner noise: a 404 that no route claimed is not an endpoint.
        if self.out.observations.iter().any(|o| o.status == Some(404)) {
            let mut keep = self.meta.iter().map(|m| m.route_ok);
            let before = self.out.observations.len();
            self.out
                .observations
                .retain(|o| keep.next().unwrap_or(true) || o.status != Some(404));
            self.out.ignored.unmatched += (before - self.out.observations.len()) as u64;
        }
        self.out
    }
}

/// The template of a server span from its own route and path. A route that does not match
/// its own path is not the endpoint's template (Express reports a router's mount path when
/// middleware ends the request early); a route matching only a prefix keeps that prefix.
fn template_for(
    n: &Normalizer,
    scratch: &mut infer::Scratch,
    route: Option<&Route>,
    path: &str,
    status: Option<u16>,
) -> (PathTemplate, TemplateSource, Option<String>, ObsMeta) {
    let mut meta = ObsMeta {
        route_ok: false,
        prefix: 0,
    };
    let checked = route.map(|r| (r, r.match_path(path)));
    let mismatched = match checked {
        Some((r, RouteMatch::Full)) => {
            // Some instrumentations put the concrete path in http.route. A route without
            // parameters whose segments inference would parameterise is such a path: trusting
            // it would make one endpoint per id.
            // When the path is the route's own text (the usual case) the answer is the
            // route's, decided once; a path that differs (case, encoding) is inferred itself.
            if !r.template.has_params()
                && (path != r.template.as_str()
                    || r.looks_concrete(|t| {
                        let mut b = infer::Builder::new(&n.rules.infer, scratch);
                        b.push_raw(raw_segments(t.as_str()));
                        b.finish().template.has_params()
                    }))
            {
                let mut b = infer::Builder::new(&n.rules.infer, scratch);
                b.push_raw(raw_segments(path));
                let inf = b.finish();
                if inf.template.has_params() {
                    let why = scratch.explain.then(|| {
                        format!(
                            "http.route {} is a concrete path{}",
                            r.template,
                            suffix_why(&inf.explanation)
                        )
                    });
                    return (inf.template, TemplateSource::Inferred, why, meta);
                }
            }
            // A 404 on a pure catch-all (`*`, `/:slug`) is a not-found handler, not a route.
            meta.route_ok = status != Some(404) || r.specificity().1 > 0;
            return (r.template.clone(), TemplateSource::Route, None, meta);
        }
        Some((r, RouteMatch::Prefix(k))) => {
            meta.prefix = k;
            let inf = infer_with_prefix(n, scratch, &r.template, path, k);
            let why = scratch.explain.then(|| {
                format!(
                    "http.route {} covers only a prefix of the path{}",
                    r.template,
                    suffix_why(&inf.explanation)
                )
            });
            return (inf.template, TemplateSource::Inferred, why, meta);
        }
        Some((r, RouteMatch::No)) => Some(r),
        None => None,
    };
    let mut b = infer::Builder::new(&n.rules.infer, scratch);
    b.push_raw(raw_segments(path));
    let inf = b.finish();
    let why = match mismatched {
        Some(r) if scratch.explain => Some(format!(
            "http.route {} does not match the path{}",
            r.template,
            suffix_why(&inf.explanation)
        )),
        _ => inf.explanation,
    };
    (inf.template, TemplateSource::Inferred, why, meta)
}

fn infer_with_prefix(
    n: &Normalizer,
    scratch: &mut infer::Scratch,
    prefix: &PathTemplate,
    path: &str,
    k: usize,
) -> Inferred {
    let mut b = infer::Builder::new(&n.rules.infer, scratch);
    b.push_template(prefix);
    b.push_raw(raw_segments(path).skip(k));
    b.finish()
}

fn suffix_why(e: &Option<String>) -> String {
    match e {
        Some(e) => format!("; inferred {e}"),
        None => String::new(),
    }
}

/// A route from a child span (nested routers, Express layers) replaces the server span's
/// template when it matches the whole path, or covers a longer prefix than what we had.
fn adopt_child_route(
    n: &Normalizer,
    scratch: &mut infer::Scratch,
    route: &str,
    o: &mut Observation<'_>,
    m: &mut ObsMeta,
) {
    let Some(r) = Route::parse(route, &n.slashy) else {
        return;
    };
    match r.match_path(&o.path) {
        RouteMatch::Full => {
            if o.status == Some(404) && r.specificity().1 == 0 {
                return;
            }
            m.route_ok = true;
            o.template = r.template;
            o.source = TemplateSource::Route;
            o.explanation = scratch
                .explain
                .then(|| "http.route of a child span".to_string());
        }
        RouteMatch::Prefix(k) if k > m.prefix => {
            m.prefix = k;
            let inf = infer_with_prefix(n, scratch, &r.template, &o.path, k);
            o.template = inf.template;
            o.source = TemplateSource::Inferred;
            o.explanation = scratch.explain.then(|| {
                format!(
                    "http.route {} of a child span covers only a prefix of the path{}",
                    r.template,
                    suffix_why(&inf.explanation)
                )
            });
        }
        _ => return,
    }
    if let Some((t, why)) = n.override_for(&o.service, &o.path) {
        o.template = t;
        o.source = TemplateSource::Inferred;
        o.explanation = Some(why);
    }
}

/// The path kept as an example for people: query already gone, matrix parameters
/// (`;jsessionid=...`) removed because they carry session secrets.
fn example_path(path: Cow<'_, str>) -> Cow<'_, str> {
    if !path.contains(';') {
        return path;
    }
    let mut s = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            s.push('/');
        }
        s.push_str(route::strip_matrix(seg));
    }
    Cow::Owned(s)
}

/// Finds the observation a child belongs to, climbing through intermediate spans of the
/// batch (at most 16 levels). `Err` carries the nearest ancestor that is not in the batch.
fn resolve(
    parent: SpanRef,
    index: &IdMap<usize>,
    parents: &mut Option<IdMap<[u8; 8]>>,
    links: &[(SpanRef, [u8; 8])],
) -> Result<usize, SpanRef> {
    let mut cur = parent;
    for _ in 0..16 {
        if let Some(&i) = index.get(&cur) {
            return Ok(i);
        }
        let map = parents.get_or_insert_with(|| links.iter().copied().collect());
        match map.get(&cur) {
            Some(&p) if p != [0; 8] => {
                cur = SpanRef {
                    trace_id: cur.trace_id,
                    span_id: p,
                }
            }
            _ => return Err(cur),
        }
    }
    Err(cur)
}

/// Span ids come from clients, so the hasher is seeded per process (a crafted batch of
/// colliding ids must not turn the join quadratic); foldhash rather than SipHash because
/// this runs for every span of every export. Iteration order never reaches the output
/// (orphans are sorted).
type IdMap<V> = HashMap<SpanRef, V, foldhash::fast::RandomState>;

/// Parsed `http.route` values of one batch, keyed by the text in the payload, in front of
/// the normaliser's shared cache: no lock per span. Bounded, so a batch of unique routes
/// costs no more than parsing each.
#[derive(Default)]
struct RouteCache<'a> {
    map: HashMap<&'a str, Option<Arc<Route>>, foldhash::fast::RandomState>,
    /// The last route looked up while the map was full.
    spare: Option<Arc<Route>>,
}

impl<'a> RouteCache<'a> {
    const MAX: usize = 256;

    fn parse(&mut self, raw: &'a str, n: &Normalizer) -> Option<&Route> {
        if self.map.len() < Self::MAX || self.map.contains_key(raw) {
            return self
                .map
                .entry(raw)
                .or_insert_with(|| n.shared_route(raw))
                .as_deref();
        }
        self.spare = n.shared_route(raw);
        self.spare.as_deref()
    }
}

#[cfg(test)]
mod tests;
