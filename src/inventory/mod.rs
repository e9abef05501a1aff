//! Inventory: turns normalised observations into compact per-endpoint deltas, joins what
//! arrives in separate export batches (late or early auth evidence, client spans calling
//! another service) inside a bounded time window, caps endpoint cardinality per service,
//! and builds the endpoint graph. Owns petgraph.
//!
//! Two halves, so CPU work spreads over receiver tasks while one writer keeps the state:
//!
//! - [`BatchDelta::from_batch`] runs wherever a payload was decoded: it folds one
//!   [`NormalizedBatch`] into per-(endpoint, hour) buckets and keeps what the joins need.
//! - [`Inventory`] lives in the single writer: [`Inventory::absorb`] merges batch deltas,
//!   applies the join windows and the cardinality cap; [`Inventory::take_delta`] hands the
//!   merged [`Delta`] to the store for one commit.
//!
//! Memory is bounded by endpoints, not spans: the writer holds one small entry per distinct
//! endpoint (service index, method, template; ~100 bytes, see the `inventory` bench) plus
//! join windows bounded by [`InventoryConfig::join_capacity`]. Everything else about an
//! endpoint lives in the store.

pub mod graph;
pub mod learned;
mod window;

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::{
    is_success, AuthEvidence, ClientCall, IgnoredCounts, Method, NormalizedBatch, PathTemplate,
    Segment, SpanRef, StatusCounts, TemplateSource,
};

pub use graph::{Edge, Exposure, Graph, GraphEdge, GraphNode};
use window::Window;

/// Limits of the inventory; all configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryConfig {
    /// How long a span waits for its partner from another batch.
    pub join_window: Duration,
    /// Most entries each join table holds; the oldest make room.
    pub join_capacity: usize,
    /// Distinct endpoints per service; beyond it observations are counted as overflow.
    pub max_endpoints_per_service: usize,
    /// Distinct services; names beyond it are counted under [`OTHER_SERVICES`] as overflow,
    /// so inventing `service.name` values cannot grow memory either.
    pub max_services: usize,
    /// Example concrete paths kept per endpoint.
    pub max_examples: usize,
    /// Distinct callers (client addresses, caller services) kept per endpoint.
    pub max_callers: usize,
    /// Distinct user agents kept per endpoint.
    pub max_user_agents: usize,
    /// Route parameter names (case-insensitive) that hold slash-separated values when they
    /// end a route (`/files/{path}` covers `/files/fonts/inter/a.woff2`): the normaliser's
    /// `slashy_params`.
    pub rest_params: Vec<String>,
}

impl Default for InventoryConfig {
    fn default() -> InventoryConfig {
        InventoryConfig {
            join_window: Duration::from_secs(60),
            join_capacity: 1_000_000,
            max_endpoints_per_service: 50_000,
            max_services: 10_000,
            max_examples: 3,
            max_callers: 16,
            max_user_agents: 8,
            rest_params: crate::normalize::Rules::default().slashy_params,
        }
    }
}

/// The service that overflow from services beyond [`InventoryConfig::max_services`] is
/// counted under.
pub const OTHER_SERVICES: &str = "_other_services";

/// The start of the hour containing `unix_secs`: the store's time bucket.
pub fn hour_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(3600) * 3600
}

fn unix_secs(nanos: u64, fallback: i64) -> i64 {
    if nanos == 0 {
        fallback
    } else {
        (nanos / 1_000_000_000) as i64
    }
}

/// What one endpoint gained in one hour bucket. Counts of successful requests are signed:
/// a late join moves a request from without-auth to with-auth in a bucket that may already
/// be committed, so a delta can carry `+1 / -1`.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointDelta {
    pub service: Arc<str>,
    pub method: Method,
    pub template: PathTemplate,
    pub source: TemplateSource,
    /// [`hour_of`] the requests' start times.
    pub hour: i64,
    pub requests: u64,
    pub status: StatusCounts,
    pub ok_with_auth: i64,
    pub ok_without_auth: i64,
    pub evidence: AuthEvidence,
    /// Unix seconds; `i64::MAX` when the delta carries no request (a correction only).
    pub first_seen: i64,
    /// Unix seconds; `i64::MIN` when the delta carries no request.
    pub last_seen: i64,
    pub examples: Vec<String>,
    /// Client addresses and, from the graph join, caller service names (the store's edges
    /// say which names are services).
    pub callers: Vec<String>,
    pub user_agents: Vec<String>,
}

/// The counters part of an [`EndpointDelta`], without its key.
#[derive(Debug, Clone, PartialEq)]
struct Agg {
    source: TemplateSource,
    requests: u64,
    status: StatusCounts,
    ok_with_auth: i64,
    ok_without_auth: i64,
    evidence: AuthEvidence,
    first_seen: i64,
    last_seen: i64,
    examples: Vec<String>,
    callers: Vec<String>,
    user_agents: Vec<String>,
}

impl Agg {
    /// No requests yet: what a correction-only bucket starts from. `Inferred` never
    /// overrides a stored `Route` source.
    fn empty(source: TemplateSource) -> Agg {
        Agg {
            source,
            requests: 0,
            status: StatusCounts::default(),
            ok_with_auth: 0,
            ok_without_auth: 0,
            evidence: AuthEvidence::NONE,
            first_seen: i64::MAX,
            last_seen: i64::MIN,
            examples: Vec::new(),
            callers: Vec::new(),
            user_agents: Vec::new(),
        }
    }

    fn merge(&mut self, o: Agg, cfg: &InventoryConfig) {
        if o.source == TemplateSource::Route {
            self.source = TemplateSource::Route;
        }
        self.requests += o.requests;
        self.status.add(&o.status);
        self.ok_with_auth += o.ok_with_auth;
        self.ok_without_auth += o.ok_without_auth;
        self.evidence |= o.evidence;
        self.first_seen = self.first_seen.min(o.first_seen);
        self.last_seen = self.last_seen.max(o.last_seen);
        for e in o.examples {
            push_distinct(&mut self.examples, e, cfg.max_examples);
        }
        for c in o.callers {
            push_distinct(&mut self.callers, c, cfg.max_callers);
        }
        for u in o.user_agents {
            push_distinct(&mut self.user_agents, u, cfg.max_user_agents);
        }
    }

    fn into_delta(
        self,
        service: Arc<str>,
        method: Method,
        template: PathTemplate,
        hour: i64,
    ) -> EndpointDelta {
        EndpointDelta {
            service,
            method,
            template,
            source: self.source,
            hour,
            requests: self.requests,
            status: self.status,
            ok_with_auth: self.ok_with_auth,
            ok_without_auth: self.ok_without_auth,
            evidence: self.evidence,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            examples: self.examples,
            callers: self.callers,
            user_agents: self.user_agents,
        }
    }
}

/// A user agent as kept: at most 256 bytes (cut at a character boundary), since clients
/// choose its length.
fn clip(agent: &str) -> &str {
    const MAX: usize = 256;
    if agent.len() <= MAX {
        return agent;
    }
    let mut end = MAX;
    while !agent.is_char_boundary(end) {
        end -= 1;
    }
    &agent[..end]
}

/// Adds `item` unless the list is full or has it; a borrowed item is copied only when kept.
fn push_distinct<S: AsRef<str> + Into<String>>(list: &mut Vec<String>, item: S, max: usize) {
    if list.len() < max && !list.iter().any(|x| x == item.as_ref()) {
        list.push(item.into());
    }
}

/// One (endpoint, hour) bucket of a batch. Its examples and callers live in the batch's
/// [`Texts`]; its `agg` lists stay empty.
#[derive(Debug, Clone, PartialEq)]
struct Bucket {
    service: Arc<str>,
    method: Method,
    template: PathTemplate,
    hour: i64,
    agg: Agg,
    examples: TextList,
    callers: TextList,
    user_agents: TextList,
    /// Every request in it had no route and a redirect or refusal (3xx, 4xx) for an answer:
    /// possibly the framework answering before routing (see [`Inventory::absorb`]).
    unrouted_refusals: bool,
    /// Every request in it had no route (see [`EndpointTable::covering_route`]).
    unrouted: bool,
}

/// The example paths and callers of one batch's buckets, in one buffer. A batch folds
/// hundreds of spans into a few dozen buckets with a few short texts each; a `String` per
/// text and a `Vec` per list were most of the fold's allocations, and the writer drops
/// most of them (its lists fill up within a commit).
#[derive(Debug, Clone, Default, PartialEq)]
struct Texts {
    buf: String,
    nodes: Vec<TextNode>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct TextNode {
    start: u32,
    end: u32,
    next: u32,
}

/// A list of texts in [`Texts`], linked through its nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TextList {
    first: u32,
    last: u32,
    len: u32,
}

impl TextList {
    const NONE: u32 = u32::MAX;
    const EMPTY: TextList = TextList {
        first: Self::NONE,
        last: Self::NONE,
        len: 0,
    };
}

impl Texts {
    /// Adds `item` to `list` unless the list is full or has it.
    fn push_distinct(&mut self, list: &mut TextList, item: &str, max: usize) {
        if list.len as usize >= max || self.iter(*list).any(|x| x == item) {
            return;
        }
        let start = self.buf.len();
        let (Ok(start), Ok(end), Ok(node)) = (
            u32::try_from(start),
            u32::try_from(start + item.len()),
            u32::try_from(self.nodes.len()),
        ) else {
            return; // 4 GiB of examples in one batch: the rest are not needed
        };
        self.buf.push_str(item);
        self.nodes.push(TextNode {
            start,
            end,
            next: TextList::NONE,
        });
        match list.last {
            TextList::NONE => list.first = node,
            last => self.nodes[last as usize].next = node,
        }
        list.last = node;
        list.len += 1;
    }

    fn iter(&self, list: TextList) -> impl Iterator<Item = &str> + '_ {
        let mut at = list.first;
        std::iter::from_fn(move || {
            let n = self.nodes.get(at as usize)?;
            at = n.next;
            Some(&self.buf[n.start as usize..n.end as usize])
        })
    }
}

/// One observation as far as the cross-batch joins need it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct JoinRecord {
    span: SpanRef,
    parent_span_id: [u8; 8],
    bucket: u32,
    ok: bool,
    evidence: AuthEvidence,
    secs: i64,
}

/// One export request folded into per-(endpoint, hour) buckets, plus what the writer
/// needs for joins across batches. Built in the receiving task; moved to the writer.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchDelta {
    buckets: Vec<Bucket>,
    texts: Texts,
    joins: Vec<JoinRecord>,
    orphan_evidence: Vec<(SpanRef, AuthEvidence)>,
    client_calls: Vec<ClientCall>,
    ignored: IgnoredCounts,
    spans: u64,
    received_hour: i64,
}

impl BatchDelta {
    /// Folds one normalised export request. `received_unix` (seconds) dates spans without a
    /// start time and the batch's ignored-span counts.
    pub fn from_batch(
        batch: NormalizedBatch<'_>,
        received_unix: i64,
        cfg: &InventoryConfig,
    ) -> BatchDelta {
        let n = batch.observations.len();
        // Looked up by the identity of the shared texts first: within a batch a service's
        // spans share one `Arc<str>`, and equal templates share their text (routes and
        // inferred templates are interned per batch), so most spans hash no string. A new
        // identity is looked up by content before it makes a bucket, so equal endpoints
        // always fold together. The observations are read in place and dropped after the
        // loop, so no address that is a key can be freed and reused by another text.
        // Tables are sized for a typical export's few dozen endpoints, so they do not regrow.
        let mut by_identity: FastMap<(usize, Method, usize, i64), u32> =
            FastMap::with_capacity_and_hasher(64, Default::default());
        let mut by_content: FastMap<(Arc<str>, Method, PathTemplate, i64), u32> =
            FastMap::with_capacity_and_hasher(64, Default::default());
        let mut buckets: Vec<Bucket> = Vec::with_capacity(64);
        let mut texts = Texts {
            // Room for a few dozen buckets' examples and callers without regrowing.
            buf: String::with_capacity((n * 16).min(1 << 16)),
            nodes: Vec::with_capacity(n.min(1 << 12)),
        };
        let mut joins = Vec::with_capacity(n);
        for obs in &batch.observations {
            let secs = unix_secs(obs.time_unix_nano, received_unix);
            let hour = hour_of(secs);
            let identity = (
                Arc::as_ptr(&obs.service) as *const u8 as usize,
                obs.method,
                obs.template.as_str().as_ptr() as usize,
                hour,
            );
            let idx = match by_identity.get(&identity) {
                Some(&i) => i,
                None => {
                    let key = (obs.service.clone(), obs.method, obs.template.clone(), hour);
                    let i = match by_content.get(&key) {
                        Some(&i) => i,
                        None => {
                            let i = buckets.len() as u32;
                            buckets.push(Bucket {
                                service: key.0.clone(),
                                method: key.1,
                                template: key.2.clone(),
                                hour,
                                agg: Agg::empty(obs.source),
                                examples: TextList::EMPTY,
                                callers: TextList::EMPTY,
                                user_agents: TextList::EMPTY,
                                unrouted_refusals: true,
                                unrouted: true,
                            });
                            by_content.insert(key, i);
                            i
                        }
                    };
                    by_identity.insert(identity, i);
                    i
                }
            };
            let bucket = &mut buckets[idx as usize];
            bucket.unrouted &= !obs.routed;
            bucket.unrouted_refusals &=
                !obs.routed && obs.status.is_some_and(answered_before_routing);
            let agg = &mut bucket.agg;
            if obs.source == TemplateSource::Route {
                agg.source = TemplateSource::Route;
            }
            agg.requests += 1;
            agg.status.record(obs.status);
            let ok = is_success(obs.status);
            if ok {
                if obs.evidence.authenticated() {
                    agg.ok_with_auth += 1;
                } else {
                    agg.ok_without_auth += 1;
                }
            }
            agg.evidence |= obs.evidence;
            agg.first_seen = agg.first_seen.min(secs);
            agg.last_seen = agg.last_seen.max(secs);
            texts.push_distinct(&mut bucket.examples, &obs.path, cfg.max_examples);
            if let Some(client) = &obs.client {
                texts.push_distinct(&mut bucket.callers, client, cfg.max_callers);
            }
            if let Some(agent) = &obs.user_agent {
                texts.push_distinct(&mut bucket.user_agents, clip(agent), cfg.max_user_agents);
            }
            // Every request looks for evidence its children sent earlier (children end, and
            // are exported, first); the writer decides which ones wait for later data.
            joins.push(JoinRecord {
                span: obs.span,
                parent_span_id: obs.parent_span_id,
                bucket: idx,
                ok,
                evidence: obs.evidence,
                secs,
            });
        }
        BatchDelta {
            buckets,
            texts,
            joins,
            orphan_evidence: batch.orphan_evidence,
            client_calls: batch.client_calls,
            ignored: batch.ignored,
            spans: batch.spans,
            received_hour: hour_of(received_unix),
        }
    }

    /// Spans the export request held.
    pub fn spans(&self) -> u64 {
        self.spans
    }

    /// Server-span observations in this batch.
    pub fn observations(&self) -> u64 {
        self.buckets.iter().map(|b| b.agg.requests).sum()
    }

    /// Distinct (endpoint, hour) buckets in this batch.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    pub fn ignored(&self) -> IgnoredCounts {
        self.ignored
    }
}

/// Calls from one service to one endpoint of another within one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeDelta {
    pub caller: Arc<str>,
    pub service: Arc<str>,
    pub method: Method,
    pub template: PathTemplate,
    pub hour: i64,
    pub calls: u64,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// Observations refused by the cardinality cap, per service, method and hour.
#[derive(Debug, Clone, PartialEq)]
pub struct OverflowDelta {
    pub service: Arc<str>,
    pub method: Method,
    pub hour: i64,
    pub requests: u64,
}

/// Spans received per hour and those that did not become observations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrafficDelta {
    pub hour: i64,
    pub spans: u64,
    pub ignored: IgnoredCounts,
}

/// Everything to write in one commit: what [`crate::store::Store::apply`] takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    pub endpoints: Vec<EndpointDelta>,
    pub edges: Vec<EdgeDelta>,
    pub overflow: Vec<OverflowDelta>,
    pub traffic: Vec<TrafficDelta>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
            && self.edges.is_empty()
            && self.overflow.is_empty()
            && self.traffic.is_empty()
    }
}

/// Counters the writer reports as metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InventoryCounters {
    /// Distinct endpoints known (stored or pending).
    pub endpoints: u64,
    /// Observations counted as overflow because their service hit the cap.
    pub overflow: u64,
    /// Evidence joined to a server span from another batch (either order).
    pub evidence_joined: u64,
    /// Caller-service edges found by joining client and server spans.
    pub edges_joined: u64,
    /// Join entries that expired or were evicted before their partner came.
    pub join_dropped: u64,
    /// Entries currently held in the join windows.
    pub join_entries: u64,
    /// Requests no route claimed that were redirected or refused in a service that names
    /// its routes (probes answered before routing), not inventoried.
    pub unrouted: u64,
}

/// Keys here come from clients (paths, span ids): a per-process seeded hasher, cheaper
/// than SipHash on the hot path.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Passes through hashes that are already well mixed.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("PreHashed only hashes u64")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One interned endpoint: 16 bytes; its template is `text[start..start + len]` of the
/// table. One allocation per endpoint would cost its header and rounding on top of the
/// text, and scatter long-lived chunks among the per-batch garbage.
struct Interned {
    start: u32,
    len: u32,
    service: u32,
    method: Method,
    /// Some request to it came with an `http.route` that became its template.
    routed: bool,
}

struct ServiceEntry {
    name: Arc<str>,
    endpoints: u32,
    /// Its endpoints whose template is a route (ids): the service's instrumentation names
    /// routes, and these are the ones it named.
    routes: Vec<u32>,
    overflow_warned: bool,
    /// [`OTHER_SERVICES`]: never holds endpoints.
    overflow_only: bool,
}

/// Every distinct endpoint the process knows, compactly: the cardinality cap and the ids
/// the join windows refer to. Keyed by a keyed (random per process) hash, verified
/// against the entry, so crafted paths cannot make lookups collide on purpose.
struct EndpointTable {
    hasher: RandomState,
    index: HashMap<u64, u32, BuildHasherDefault<PreHashed>>,
    entries: Vec<Interned>,
    /// Every interned template, back to back.
    text: String,
    service_ids: HashMap<Arc<str>, u32>,
    services: Vec<ServiceEntry>,
    max_services: usize,
}

impl EndpointTable {
    fn template(&self, e: &Interned) -> &str {
        &self.text[e.start as usize..(e.start + e.len) as usize]
    }

    /// Remembers that `id`'s template is a route its service's instrumentation named.
    fn mark_routed(&mut self, id: u32) {
        let e = &mut self.entries[id as usize];
        if !e.routed {
            e.routed = true;
            self.services[e.service as usize].routes.push(id);
        }
    }

    /// Whether a request that no route claimed, answered with a redirect or refusal, is noise
    /// rather than an endpoint: its service names routes, it is not an endpoint already, and
    /// none of the service's routes (same method; GET's for HEAD) covers its template. A
    /// service whose instrumentation names no routes keeps every inferred endpoint.
    fn unclaimed(&self, service: &Arc<str>, method: Method, template: &PathTemplate) -> bool {
        let Some(&sid) = self.service_ids.get(service) else {
            return false;
        };
        let routes = &self.services[sid as usize].routes;
        if routes.is_empty() || self.find(sid, method, template).is_ok() {
            return false;
        }
        !routes.iter().any(|&id| {
            let e = &self.entries[id as usize];
            (e.method == method || (method == Method::Head && e.method == Method::Get))
                && route_covers(self.template(e), template)
        })
    }

    /// The template of the service's route (same method; GET's for HEAD) that describes an
    /// inferred template, if one does and it differs; the one with the most literal segments
    /// (`/users/me` before `/users/{id}`), then the first by text. See [`route_describes`].
    fn covering_route(
        &self,
        service: &Arc<str>,
        method: Method,
        template: &PathTemplate,
        rest: &[String],
    ) -> Option<PathTemplate> {
        let &sid = self.service_ids.get(service)?;
        let mut best: Option<((usize, std::cmp::Reverse<&str>), &str)> = None;
        for &id in &self.services[sid as usize].routes {
            let e = &self.entries[id as usize];
            let same = e.method == method || (method == Method::Head && e.method == Method::Get);
            if !same {
                continue;
            }
            let text = self.template(e);
            if !route_describes(text, template, rest) {
                continue;
            }
            let literals = text
                .split('/')
                .filter(|s| !s.is_empty() && !s.contains('{'))
                .count();
            let key = (literals, std::cmp::Reverse(text));
            if best.as_ref().is_none_or(|(k, _)| key > *k) {
                best = Some((key, text));
            }
        }
        let (_, text) = best?;
        (text != template.as_str()).then(|| PathTemplate::from_canonical(text.to_owned()))
    }

    /// The id of an interned endpoint, or the free index slot it would take.
    fn find(&self, sid: u32, method: Method, template: &PathTemplate) -> Result<u32, u64> {
        let mut h = self.hasher.hash_one((sid, method, template.as_str()));
        while let Some(&id) = self.index.get(&h) {
            let e = &self.entries[id as usize];
            if e.service == sid && e.method == method && self.template(e) == template.as_str() {
                return Ok(id);
            }
            // A genuine 64-bit collision: probe the next slot.
            h = h.wrapping_add(1);
        }
        Err(h)
    }
}

/// Answers a framework gives before any route matched: its own redirects (trailing slash,
/// scheme) and refusals (auth middleware, bad request, method not allowed). Not 304, which
/// a static file that was served before answers too.
fn answered_before_routing(status: u16) -> bool {
    matches!(status, 301 | 302 | 307 | 308 | 400 | 401 | 403 | 405)
}

/// Whether a route's template (`/users/{id}`) covers an inferred one, segment by segment, as
/// leniently as the template can tell (it no longer says which parameters were optional or
/// spanned several segments): a parameter (or a segment mixing parameters and text) covers
/// any segment, and a last parameter any rest of the path or none; text covers the same text
/// in any case. Lenient on purpose: a request this covers stays an endpoint.
fn route_covers(route: &str, template: &PathTemplate) -> bool {
    let mut r = route
        .split('/')
        .filter(|s| !s.is_empty())
        .map(Segment::classify)
        .peekable();
    let mut t = template.segments();
    loop {
        match (r.next(), t.next()) {
            (None, None) => return true,
            (Some(Segment::Param(_) | Segment::Mixed(_)), _) if r.peek().is_none() => return true,
            (Some(Segment::Param(_) | Segment::Mixed(_)), Some(_)) => {}
            (Some(Segment::Literal(a)), Some(Segment::Literal(b))) if a.eq_ignore_ascii_case(b) => {
            }
            _ => return false,
        }
    }
}

/// Whether a route's template describes an inferred one segment by segment: text the same
/// text in any case, a mixed segment (`{name}.{ext}`) a literal it fits, a parameter an
/// inferred parameter, and a literal only when it looks like a value (`carol.w`, `v2.1`) or
/// documented text follows the parameter (`/profiles/{username}/follow` describes
/// `/profiles/sybil/follow`): otherwise the literal may be a sibling endpoint whose own route
/// was not seen yet (`/pet/findByStatus` is not `/pet/{petId}`). A last parameter named like
/// a path (`rest`) takes any longer rest.
fn route_describes(route: &str, template: &PathTemplate, rest: &[String]) -> bool {
    let r: Vec<Segment<'_>> = route
        .split('/')
        .filter(|s| !s.is_empty())
        .map(Segment::classify)
        .collect();
    let t: Vec<Segment<'_>> = template.segments().collect();
    for (i, rs) in r.iter().enumerate() {
        let Some(ts) = t.get(i) else {
            return false;
        };
        let ok = match (rs, ts) {
            (Segment::Param(name), _)
                if i + 1 == r.len() && rest.iter().any(|p| p.eq_ignore_ascii_case(name)) =>
            {
                return true;
            }
            (Segment::Param(_), Segment::Param(_) | Segment::Mixed(_)) => true,
            (Segment::Param(_), Segment::Literal(l)) => {
                crate::diff::group::looks_like_value(l)
                    || r[i + 1..].iter().any(Segment::is_literal)
            }
            (Segment::Mixed(m), Segment::Literal(l)) => {
                crate::normalize::route::glob(m.as_bytes(), l.as_bytes())
            }
            (Segment::Mixed(m), Segment::Mixed(o)) => m == o,
            (Segment::Literal(a), Segment::Literal(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    r.len() == t.len()
}

enum Interning {
    Known(u32),
    Overflow {
        first_time: bool,
        too_many_services: bool,
    },
}

impl EndpointTable {
    fn new(max_services: usize) -> EndpointTable {
        EndpointTable {
            max_services: max_services.max(1),
            hasher: RandomState::new(),
            index: HashMap::default(),
            entries: Vec::new(),
            text: String::new(),
            service_ids: HashMap::new(),
            services: Vec::new(),
        }
    }

    fn service_id(&mut self, name: &Arc<str>) -> u32 {
        if let Some(&id) = self.service_ids.get(name) {
            return id;
        }
        if self.services.len() >= self.max_services {
            if let Some(&other) = self.service_ids.get(OTHER_SERVICES) {
                return other;
            }
            return self.add_service(Arc::from(OTHER_SERVICES), true);
        }
        self.add_service(name.clone(), false)
    }

    fn add_service(&mut self, name: Arc<str>, overflow_only: bool) -> u32 {
        let name = &name;
        let id = self.services.len() as u32;
        self.services.push(ServiceEntry {
            name: name.clone(),
            endpoints: 0,
            routes: Vec::new(),
            overflow_warned: false,
            overflow_only,
        });
        self.service_ids.insert(name.clone(), id);
        id
    }

    fn intern(
        &mut self,
        service: &Arc<str>,
        method: Method,
        template: &PathTemplate,
        cap: usize,
    ) -> Interning {
        let sid = self.service_id(service);
        let h = match self.find(sid, method, template) {
            Ok(id) => return Interning::Known(id),
            Err(free) => free,
        };
        let svc = &mut self.services[sid as usize];
        if svc.endpoints as usize >= cap || svc.overflow_only {
            let first_time = !svc.overflow_warned;
            svc.overflow_warned = true;
            return Interning::Overflow {
                first_time,
                too_many_services: svc.overflow_only,
            };
        }
        let (Ok(start), Ok(len)) = (
            u32::try_from(self.text.len()),
            u32::try_from(template.as_str().len()),
        ) else {
            // 4 GiB of templates: far past any configured cap; count as overflow.
            return Interning::Overflow {
                first_time: false,
                too_many_services: false,
            };
        };
        if start.checked_add(len).is_none() {
            return Interning::Overflow {
                first_time: false,
                too_many_services: false,
            };
        }
        svc.endpoints += 1;
        let id = self.entries.len() as u32;
        self.text.push_str(template.as_str());
        self.entries.push(Interned {
            start,
            len,
            service: sid,
            method,
            routed: false,
        });
        self.index.insert(h, id);
        Interning::Known(id)
    }
}

#[derive(Debug, Clone, Copy)]
struct SeenSpan {
    endpoint: u32,
    hour: i64,
    ok: bool,
    evidence: AuthEvidence,
}

#[derive(Debug, Clone, Copy)]
struct AwaitingCaller {
    endpoint: u32,
    hour: i64,
    secs: i64,
}

#[derive(Debug, Clone, Copy)]
struct EdgeAgg {
    calls: u64,
    first_seen: i64,
    last_seen: i64,
}

/// The writer's state: known endpoints, join windows and what is pending for the next
/// commit. Not shared; one per store.
pub struct Inventory {
    cfg: InventoryConfig,
    table: EndpointTable,
    pending: FastMap<(u32, i64), Agg>,
    pending_edges: FastMap<(u32, u32, i64), EdgeAgg>,
    pending_overflow: FastMap<(u32, Method, i64), u64>,
    pending_traffic: FastMap<i64, (u64, IgnoredCounts)>,
    /// Server spans seen, waiting for evidence from children in later batches.
    seen: Window<SeenSpan>,
    /// Evidence from children whose server span has not arrived yet.
    early: Window<AuthEvidence>,
    /// Client spans (by their own id) waiting for the server span they caused.
    clients: Window<u32>,
    /// Server spans (by their parent's id) waiting for the client span that caused them.
    awaiting_caller: Window<AwaitingCaller>,
    counters: InventoryCounters,
}

impl Inventory {
    pub fn new(cfg: InventoryConfig) -> Inventory {
        let (ttl, cap) = (cfg.join_window, cfg.join_capacity);
        let table = EndpointTable::new(cfg.max_services);
        Inventory {
            cfg,
            table,
            pending: FastMap::default(),
            pending_edges: FastMap::default(),
            pending_overflow: FastMap::default(),
            pending_traffic: FastMap::default(),
            seen: Window::new(ttl, cap),
            early: Window::new(ttl, cap),
            clients: Window::new(ttl, cap),
            awaiting_caller: Window::new(ttl, cap),
            counters: InventoryCounters::default(),
        }
    }

    pub fn config(&self) -> &InventoryConfig {
        &self.cfg
    }

    /// Registers an endpoint already in the store (at start-up), so the cardinality cap
    /// counts it. Ignores the cap: what is stored stays known.
    pub fn seed(
        &mut self,
        service: &str,
        method: Method,
        template: PathTemplate,
        source: TemplateSource,
    ) {
        let service: Arc<str> = Arc::from(service);
        let max_services = std::mem::replace(&mut self.table.max_services, usize::MAX);
        if let Interning::Known(id) = self.table.intern(&service, method, &template, usize::MAX) {
            if source == TemplateSource::Route {
                self.table.mark_routed(id);
            }
        }
        self.table.max_services = max_services;
    }

    /// Distinct endpoints known (stored plus pending).
    pub fn known_endpoints(&self) -> usize {
        self.table.entries.len()
    }

    /// Buckets and edges waiting for the next commit: the writer flushes when this is large.
    pub fn pending_len(&self) -> usize {
        self.pending.len() + self.pending_edges.len() + self.pending_overflow.len()
    }

    pub fn has_pending(&self) -> bool {
        self.pending_len() > 0 || !self.pending_traffic.is_empty()
    }

    pub fn counters(&self) -> InventoryCounters {
        let mut c = self.counters;
        c.endpoints = self.table.entries.len() as u64;
        c.join_dropped = self.seen.dropped
            + self.early.dropped
            + self.clients.dropped
            + self.awaiting_caller.dropped;
        c.join_entries =
            (self.seen.len() + self.early.len() + self.clients.len() + self.awaiting_caller.len())
                as u64;
        c
    }

    /// Merges one batch into the pending state, applying the cardinality cap and the joins
    /// with earlier batches. `now` drives the join window only.
    pub fn absorb(&mut self, delta: BatchDelta, now: Instant) {
        self.seen.expire(now);
        self.early.expire(now);
        self.clients.expire(now);
        self.awaiting_caller.expire(now);

        let t = self.pending_traffic.entry(delta.received_hour).or_default();
        t.0 += delta.spans;
        t.1.unmatched += delta.ignored.unmatched;
        t.1.not_http += delta.ignored.not_http;
        t.1.incomplete += delta.ignored.incomplete;

        let mut ids: Vec<Option<u32>> = vec![None; delta.buckets.len()];
        let mut unrouted = 0;
        let texts = &delta.texts;
        if delta
            .buckets
            .iter()
            .any(|b| b.unrouted && b.agg.source == TemplateSource::Inferred)
        {
            // The batch's own routes count before its unrouted requests are judged.
            let (routes, rest): (Vec<_>, Vec<_>) = delta
                .buckets
                .into_iter()
                .enumerate()
                .partition(|(_, b)| b.agg.source == TemplateSource::Route);
            for (i, b) in routes.into_iter().chain(rest) {
                ids[i] = self.absorb_bucket(b, texts, &mut unrouted);
            }
        } else {
            for (i, b) in delta.buckets.into_iter().enumerate() {
                ids[i] = self.absorb_bucket(b, texts, &mut unrouted);
            }
        }
        if unrouted > 0 {
            self.counters.unrouted += unrouted;
            let t = self.pending_traffic.entry(delta.received_hour).or_default();
            t.1.unmatched += unrouted;
        }

        // Client spans first, so a server span in the same batch finds its caller.
        for call in &delta.client_calls {
            let sid = self.table.service_id(&call.service);
            match self.awaiting_caller.take(&call.span) {
                Some(w) => self.add_edge(sid, w.endpoint, w.hour, w.secs),
                None => self.clients.insert(call.span, sid, now),
            }
        }

        for j in &delta.joins {
            let Some(endpoint) = ids[j.bucket as usize] else {
                continue;
            };
            let hour = hour_of(j.secs);
            let mut evidence = j.evidence;
            if let Some(early) = self.early.take(&j.span) {
                self.counters.evidence_joined += 1;
                self.correct(endpoint, hour, j.ok, evidence, early);
                evidence |= early;
            }
            // Only two things can still happen to a request after its batch: evidence from a
            // late child turns a successful unauthenticated request into an authenticated
            // one, and a client span from another batch turns out to be its caller. A refused,
            // failed or already authenticated request has no count left to correct, so it
            // does not wait: holding every server span for 60 s was most of the windows'
            // memory and cost. Evidence kinds a late child would add to it are not recorded
            // (its evidence waits in `early` until it expires).
            if j.ok && !evidence.authenticated() {
                self.seen.insert(
                    j.span,
                    SeenSpan {
                        endpoint,
                        hour,
                        ok: j.ok,
                        evidence,
                    },
                    now,
                );
            }
            if j.parent_span_id != [0; 8] {
                let parent = SpanRef {
                    trace_id: j.span.trace_id,
                    span_id: j.parent_span_id,
                };
                match self.clients.take(&parent) {
                    Some(caller) => self.add_edge(caller, endpoint, hour, j.secs),
                    None => self.awaiting_caller.insert(
                        parent,
                        AwaitingCaller {
                            endpoint,
                            hour,
                            secs: j.secs,
                        },
                        now,
                    ),
                }
            }
        }

        for &(span, ev) in &delta.orphan_evidence {
            match self.seen.get_mut(&span) {
                Some(s) => {
                    let (endpoint, hour, ok, old) = (s.endpoint, s.hour, s.ok, s.evidence);
                    s.evidence |= ev;
                    self.counters.evidence_joined += 1;
                    self.correct(endpoint, hour, ok, old, ev);
                }
                None => match self.early.get_mut(&span) {
                    Some(e) => *e |= ev,
                    None => self.early.insert(span, ev, now),
                },
            }
        }
    }

    /// Adds one bucket to the pending state; its endpoint's id, or `None` when it is not
    /// inventoried (over the cap, or a probe no route claimed, counted in `unrouted`).
    fn absorb_bucket(&mut self, b: Bucket, texts: &Texts, unrouted: &mut u64) -> Option<u32> {
        let cap = self.cfg.max_endpoints_per_service;
        let Bucket {
            service,
            method,
            template,
            hour,
            agg,
            examples,
            callers,
            user_agents,
            unrouted_refusals,
            unrouted: no_route,
        } = b;
        // Express answers 401 from app-level auth, Flask 405 or a trailing-slash redirect,
        // before any route matched: with no route in the span tree, a redirect or refusal is
        // an endpoint only if one of the service's routes covers it. Otherwise it is a probe
        // (`/.env`, `/wp-login.php`) and is counted as unmatched, like a 404.
        if unrouted_refusals
            && agg.source == TemplateSource::Inferred
            && self.table.unclaimed(&service, method, &template)
        {
            *unrouted += agg.requests;
            return None;
        }
        // Koa loses the route of a request a shared middleware answered, NestJS 12 reports
        // none at all: a route-less request that one of the service's routes covers is that
        // route's endpoint, not a row per id, username or slug.
        let template = match no_route && agg.source == TemplateSource::Inferred {
            true => self
                .table
                .covering_route(&service, method, &template, &self.cfg.rest_params)
                .unwrap_or(template),
            false => template,
        };
        match self.table.intern(&service, method, &template, cap) {
            Interning::Known(id) => {
                if agg.source == TemplateSource::Route {
                    self.table.mark_routed(id);
                }
                let into = match self.pending.entry((id, hour)) {
                    Entry::Occupied(e) => {
                        let into = e.into_mut();
                        into.merge(agg, &self.cfg);
                        into
                    }
                    Entry::Vacant(e) => e.insert(agg),
                };
                for x in texts.iter(examples) {
                    push_distinct(&mut into.examples, x, self.cfg.max_examples);
                }
                for c in texts.iter(callers) {
                    push_distinct(&mut into.callers, c, self.cfg.max_callers);
                }
                for u in texts.iter(user_agents) {
                    push_distinct(&mut into.user_agents, u, self.cfg.max_user_agents);
                }
                Some(id)
            }
            Interning::Overflow {
                first_time,
                too_many_services,
            } => {
                if first_time && too_many_services {
                    tracing::warn!(
                        service = %service,
                        max_services = self.cfg.max_services,
                        "too many distinct services; requests of further new services are counted as overflow under {OTHER_SERVICES}, not inventoried (raise inventory.max_services if this is legitimate)"
                    );
                } else if first_time {
                    tracing::warn!(
                        service = %service,
                        cap,
                        "service reached its endpoint cap; further new endpoints are counted as overflow, not inventoried (raise inventory.max_endpoints_per_service if this is legitimate)"
                    );
                }
                self.counters.overflow += agg.requests;
                let sid = self.table.service_id(&service);
                *self
                    .pending_overflow
                    .entry((sid, method, hour))
                    .or_default() += agg.requests;
                None
            }
        }
    }

    /// Applies evidence that reached a request after it was counted.
    fn correct(
        &mut self,
        endpoint: u32,
        hour: i64,
        ok: bool,
        old: AuthEvidence,
        add: AuthEvidence,
    ) {
        let new = old | add;
        if new == old {
            return;
        }
        let agg = self
            .pending
            .entry((endpoint, hour))
            .or_insert_with(|| Agg::empty(TemplateSource::Inferred));
        agg.evidence |= add;
        if ok && !old.authenticated() && new.authenticated() {
            agg.ok_with_auth += 1;
            agg.ok_without_auth -= 1;
        }
    }

    fn add_edge(&mut self, caller: u32, endpoint: u32, hour: i64, secs: i64) {
        let callee = self.table.entries[endpoint as usize].service;
        if callee == caller {
            // A service calling itself is not an edge between services.
            return;
        }
        self.counters.edges_joined += 1;
        let e = self
            .pending_edges
            .entry((caller, endpoint, hour))
            .or_insert(EdgeAgg {
                calls: 0,
                first_seen: i64::MAX,
                last_seen: i64::MIN,
            });
        e.calls += 1;
        e.first_seen = e.first_seen.min(secs);
        e.last_seen = e.last_seen.max(secs);
        let name = self.table.services[caller as usize].name.to_string();
        let max = self.cfg.max_callers;
        let agg = self
            .pending
            .entry((endpoint, hour))
            .or_insert_with(|| Agg::empty(TemplateSource::Inferred));
        push_distinct(&mut agg.callers, name, max);
    }

    /// Takes everything pending as one [`Delta`] for the store.
    pub fn take_delta(&mut self) -> Delta {
        let mut d = Delta::default();
        let t = &self.table;
        let key = |id: u32| {
            let e = &t.entries[id as usize];
            (
                t.services[e.service as usize].name.clone(),
                e.method,
                PathTemplate::from_canonical(t.template(e)),
            )
        };
        d.endpoints.reserve(self.pending.len());
        for ((id, hour), agg) in self.pending.drain() {
            let (service, method, template) = key(id);
            d.endpoints
                .push(agg.into_delta(service, method, template, hour));
        }
        for ((caller, id, hour), e) in self.pending_edges.drain() {
            let (service, method, template) = key(id);
            d.edges.push(EdgeDelta {
                caller: t.services[caller as usize].name.clone(),
                service,
                method,
                template,
                hour,
                calls: e.calls,
                first_seen: e.first_seen,
                last_seen: e.last_seen,
            });
        }
        for ((sid, method, hour), requests) in self.pending_overflow.drain() {
            d.overflow.push(OverflowDelta {
                service: t.services[sid as usize].name.clone(),
                method,
                hour,
                requests,
            });
        }
        for (hour, (spans, ignored)) in self.pending_traffic.drain() {
            d.traffic.push(TrafficDelta {
                hour,
                spans,
                ignored,
            });
        }
        d
    }

    /// Forgets the join windows: after a failed commit, corrections must not refer to
    /// requests that were never stored.
    pub fn reset_joins(&mut self) {
        self.seen.clear();
        self.early.clear();
        self.clients.clear();
        self.awaiting_caller.clear();
    }
}

#[cfg(test)]
mod tests;
