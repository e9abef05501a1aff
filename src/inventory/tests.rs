use super::*;
use crate::model::Observation;

const T0: u64 = 1_763_900_000_000_000_000; // 2025-11-23T12:13:20Z, in nanoseconds
const SEC: u64 = 1_000_000_000;

fn span(trace: u8, id: u8) -> SpanRef {
    SpanRef {
        trace_id: [trace; 16],
        span_id: [id, 0, 0, 0, 0, 0, 0, 1],
    }
}

/// A Flask-style server span already normalised: `GET /users/v1/<username>`.
fn obs(
    service: &str,
    method: Method,
    template: &str,
    path: &str,
    status: u16,
) -> Observation<'static> {
    Observation {
        span: span(1, 1),
        parent_span_id: [0; 8],
        service: Arc::from(service),
        method,
        template: PathTemplate::parse(template),
        source: TemplateSource::Route,
        status: Some(status),
        evidence: AuthEvidence::NONE,
        time_unix_nano: T0,
        path: path.to_owned().into(),
        client: Some("10.1.2.3".into()),
        user_agent: None,
        explanation: None,
        routed: true,
    }
}

/// An endpoint the store already holds, named by its route.
fn seed_route(inv: &mut Inventory, service: &str, method: Method, template: &str) {
    inv.seed(
        service,
        method,
        PathTemplate::parse(template),
        TemplateSource::Route,
    );
}

fn batch(observations: Vec<Observation>) -> NormalizedBatch {
    let spans = observations.len() as u64;
    NormalizedBatch {
        observations,
        spans,
        ..Default::default()
    }
}

fn now_secs() -> i64 {
    (T0 / SEC) as i64
}

fn bd(b: NormalizedBatch, cfg: &InventoryConfig) -> BatchDelta {
    BatchDelta::from_batch(b, now_secs(), cfg)
}

fn find<'a>(d: &'a Delta, method: Method, template: &str) -> &'a EndpointDelta {
    d.endpoints
        .iter()
        .find(|e| e.method == method && e.template.as_str() == template)
        .unwrap_or_else(|| panic!("no delta for {method} {template}: {d:#?}"))
}

#[test]
fn batch_folds_requests_per_endpoint_and_hour() {
    let cfg = InventoryConfig::default();
    let mut a = obs(
        "vampi",
        Method::Get,
        "/users/v1/{username}",
        "/users/v1/name1",
        200,
    );
    a.evidence = AuthEvidence::CREDENTIAL;
    let mut b = obs(
        "vampi",
        Method::Get,
        "/users/v1/{username}",
        "/users/v1/name2",
        200,
    );
    b.span = span(2, 2);
    b.client = Some("10.9.9.9".into());
    let mut c = obs(
        "vampi",
        Method::Get,
        "/users/v1/{username}",
        "/users/v1/name3",
        401,
    );
    c.span = span(3, 3);
    c.evidence = AuthEvidence::REJECTED;
    let mut d = obs(
        "vampi",
        Method::Get,
        "/users/v1/{username}",
        "/users/v1/name4",
        200,
    );
    d.span = span(4, 4);
    // An hour later: another bucket of the same endpoint.
    let mut e = obs(
        "vampi",
        Method::Get,
        "/users/v1/{username}",
        "/users/v1/name1",
        500,
    );
    e.span = span(5, 5);
    e.time_unix_nano = T0 + 3600 * SEC;
    let mut f = obs(
        "vampi",
        Method::Post,
        "/users/v1/register",
        "/users/v1/register",
        201,
    );
    f.span = span(6, 6);
    f.source = TemplateSource::Inferred;

    let delta = bd(batch(vec![a, b, c, d, e, f]), &cfg);
    assert_eq!(delta.bucket_count(), 3);
    let mut inv = Inventory::new(cfg);
    inv.absorb(delta, Instant::now());
    let out = inv.take_delta();
    assert_eq!(out.endpoints.len(), 3);

    let hour = hour_of(now_secs());
    let first = out
        .endpoints
        .iter()
        .find(|e| e.method == Method::Get && e.hour == hour)
        .unwrap();
    assert_eq!(first.requests, 4);
    assert_eq!(
        (first.status.s2xx, first.status.s4xx, first.status.s401),
        (3, 1, 1)
    );
    assert_eq!((first.ok_with_auth, first.ok_without_auth), (1, 2));
    assert_eq!(
        first.evidence,
        AuthEvidence::CREDENTIAL | AuthEvidence::REJECTED
    );
    assert_eq!(
        first.examples,
        vec!["/users/v1/name1", "/users/v1/name2", "/users/v1/name3"]
    );
    assert_eq!(first.callers, vec!["10.1.2.3", "10.9.9.9"]);
    assert_eq!(
        (first.first_seen, first.last_seen),
        (now_secs(), now_secs())
    );

    let later = out
        .endpoints
        .iter()
        .find(|e| e.method == Method::Get && e.hour == hour + 3600)
        .unwrap();
    assert_eq!(
        (later.requests, later.status.s5xx, later.ok_without_auth),
        (1, 1, 0)
    );

    let post = find(&out, Method::Post, "/users/v1/register");
    assert_eq!(post.source, TemplateSource::Inferred);
    assert_eq!(out.traffic.len(), 1);
    assert_eq!(out.traffic[0].spans, 6);
    assert!(!inv.has_pending());
}

#[test]
fn late_evidence_in_a_later_batch_moves_one_request_to_with_auth() {
    let cfg = InventoryConfig::default();
    let mut inv = Inventory::new(cfg.clone());
    let t = Instant::now();
    let server = obs("shop", Method::Get, "/admin/stats", "/admin/stats", 200);
    let mut other = obs("shop", Method::Get, "/admin/stats", "/admin/stats", 200);
    other.span = span(9, 9);
    inv.absorb(bd(batch(vec![server.clone(), other]), &cfg), t);
    let first = inv.take_delta();
    assert_eq!(find(&first, Method::Get, "/admin/stats").ok_without_auth, 2);

    // The `middleware - requireAuth` child arrives in the next export batch.
    let late = NormalizedBatch {
        orphan_evidence: vec![(server.span, AuthEvidence::MIDDLEWARE)],
        spans: 1,
        ..Default::default()
    };
    inv.absorb(bd(late, &cfg), t + Duration::from_secs(2));
    let fix = inv.take_delta();
    let e = find(&fix, Method::Get, "/admin/stats");
    assert_eq!(e.requests, 0, "a correction is not a new request");
    assert_eq!((e.ok_with_auth, e.ok_without_auth), (1, -1));
    assert_eq!(e.evidence, AuthEvidence::MIDDLEWARE);
    assert_eq!(e.hour, hour_of(now_secs()));
    assert_eq!(inv.counters().evidence_joined, 1);

    // A second child of the same request (e.g. an identity attribute) moves nothing more.
    let again = NormalizedBatch {
        orphan_evidence: vec![(server.span, AuthEvidence::IDENTITY)],
        ..Default::default()
    };
    inv.absorb(bd(again, &cfg), t + Duration::from_secs(3));
    let e2 = inv.take_delta();
    let e2 = find(&e2, Method::Get, "/admin/stats");
    assert_eq!((e2.ok_with_auth, e2.ok_without_auth), (0, 0));
    assert_eq!(e2.evidence, AuthEvidence::IDENTITY);
}

#[test]
fn late_evidence_merges_into_a_bucket_still_pending() {
    let cfg = InventoryConfig::default();
    let mut inv = Inventory::new(cfg.clone());
    let t = Instant::now();
    let server = obs("shop", Method::Get, "/admin/stats", "/admin/stats", 200);
    inv.absorb(bd(batch(vec![server.clone()]), &cfg), t);
    let late = NormalizedBatch {
        orphan_evidence: vec![(server.span, AuthEvidence::MIDDLEWARE)],
        ..Default::default()
    };
    inv.absorb(bd(late, &cfg), t);
    let d = inv.take_delta();
    let e = find(&d, Method::Get, "/admin/stats");
    assert_eq!((e.requests, e.ok_with_auth, e.ok_without_auth), (1, 1, 0));
}

#[test]
fn evidence_arriving_before_its_server_span_is_applied_when_it_comes() {
    let cfg = InventoryConfig::default();
    let mut inv = Inventory::new(cfg.clone());
    let t = Instant::now();
    let server = obs("shop", Method::Delete, "/orders/{id}", "/orders/77", 204);
    let early = NormalizedBatch {
        orphan_evidence: vec![(server.span, AuthEvidence::MIDDLEWARE)],
        spans: 1,
        ..Default::default()
    };
    inv.absorb(bd(early, &cfg), t);
    assert!(inv.take_delta().endpoints.is_empty());
    inv.absorb(bd(batch(vec![server]), &cfg), t + Duration::from_secs(5));
    let d = inv.take_delta();
    let e = find(&d, Method::Delete, "/orders/{id}");
    assert_eq!((e.requests, e.ok_with_auth, e.ok_without_auth), (1, 1, 0));
    assert_eq!(e.evidence, AuthEvidence::MIDDLEWARE);
}

#[test]
fn only_requests_that_can_still_change_wait_in_the_join_window() {
    let cfg = InventoryConfig::default();
    let mut inv = Inventory::new(cfg.clone());
    let t = Instant::now();
    // Refused, failed, or already authenticated: late evidence could not move a success
    // count, so none of them is held for 60 s.
    let refused = obs("shop", Method::Get, "/admin/stats", "/admin/stats", 403);
    let mut failed = obs("shop", Method::Get, "/orders", "/orders", 500);
    failed.span = span(2, 2);
    let mut authed = obs("shop", Method::Get, "/orders", "/orders", 200);
    authed.span = span(3, 3);
    authed.evidence = AuthEvidence::IDENTITY;
    inv.absorb(bd(batch(vec![refused.clone(), failed, authed]), &cfg), t);
    assert_eq!(inv.counters().join_entries, 0);
    // A successful request without evidence waits; so does one with a parent (its caller
    // may come later).
    let mut open = obs("shop", Method::Get, "/orders", "/orders", 200);
    open.span = span(4, 4);
    let mut called = obs("shop", Method::Get, "/orders", "/orders", 500);
    called.span = span(5, 5);
    called.parent_span_id = [9; 8];
    inv.absorb(bd(batch(vec![open, called]), &cfg), t);
    assert_eq!(inv.counters().join_entries, 2);
    let _ = inv.take_delta();

    // Late evidence for the refused request finds nothing to correct.
    let late = NormalizedBatch {
        orphan_evidence: vec![(refused.span, AuthEvidence::MIDDLEWARE)],
        ..Default::default()
    };
    inv.absorb(bd(late, &cfg), t);
    let d = inv.take_delta();
    assert!(d.endpoints.is_empty(), "nothing to correct: {d:?}");

    // Evidence that came first (children end before their parent) still reaches a refused
    // request: its endpoint learns that middleware ran.
    let mut refused_later = obs("shop", Method::Get, "/admin/export", "/admin/export", 401);
    refused_later.span = span(7, 7);
    let early = NormalizedBatch {
        orphan_evidence: vec![(refused_later.span, AuthEvidence::MIDDLEWARE)],
        ..Default::default()
    };
    inv.absorb(bd(early, &cfg), t);
    let waiting = inv.counters().join_entries;
    inv.absorb(bd(batch(vec![refused_later]), &cfg), t);
    assert_eq!(
        inv.counters().join_entries,
        waiting - 1,
        "the early evidence was taken"
    );
    let d = inv.take_delta();
    let e = find(&d, Method::Get, "/admin/export");
    assert_eq!(e.evidence, AuthEvidence::MIDDLEWARE);
}

#[test]
fn join_window_is_bounded_by_capacity_and_time() {
    let cfg = InventoryConfig {
        join_capacity: 2,
        join_window: Duration::from_secs(60),
        ..Default::default()
    };
    let mut inv = Inventory::new(cfg.clone());
    let t = Instant::now();
    let mut spans = Vec::new();
    for i in 0..3u8 {
        let mut o = obs("shop", Method::Get, "/items/{id}", "/items/1", 200);
        o.span = span(i, i);
        spans.push(o.span);
        inv.absorb(bd(batch(vec![o]), &cfg), t);
    }
    let _ = inv.take_delta();
    assert_eq!(inv.counters().join_dropped, 1, "the oldest span made room");
    // Evidence for the evicted span finds nothing; the two retained spans join.
    let late = NormalizedBatch {
        orphan_evidence: spans.iter().map(|s| (*s, AuthEvidence::IDENTITY)).collect(),
        ..Default::default()
    };
    inv.absorb(bd(late, &cfg), t + Duration::from_secs(1));
    let d = inv.take_delta();
    let e = find(&d, Method::Get, "/items/{id}");
    assert_eq!((e.ok_with_auth, e.ok_without_auth), (2, -2));

    // After the window, nothing joins any more.
    let mut o = obs("shop", Method::Get, "/items/{id}", "/items/9", 200);
    o.span = span(50, 50);
    inv.absorb(bd(batch(vec![o.clone()]), &cfg), t + Duration::from_secs(2));
    let _ = inv.take_delta();
    let late = NormalizedBatch {
        orphan_evidence: vec![(o.span, AuthEvidence::IDENTITY)],
        ..Default::default()
    };
    inv.absorb(bd(late, &cfg), t + Duration::from_secs(63));
    let d = inv.take_delta();
    assert!(
        d.endpoints.is_empty(),
        "expired span must not be corrected: {d:?}"
    );
    assert!(inv.counters().join_entries <= 2 * 4);
}

#[test]
fn cardinality_cap_counts_overflow_instead_of_growing() {
    let cfg = InventoryConfig {
        max_endpoints_per_service: 3,
        ..Default::default()
    };
    let mut inv = Inventory::new(cfg.clone());
    seed_route(&mut inv, "scanned", Method::Get, "/health");
    let t = Instant::now();
    // A client requesting random paths that inference could not group.
    let random: Vec<Observation> = (0..50)
        .map(|i| {
            let p = format!("/probe-{i}x");
            let mut o = obs("scanned", Method::Get, &p, &p, 200);
            o.source = TemplateSource::Inferred;
            o.span = span(i as u8, i as u8);
            o
        })
        .collect();
    inv.absorb(bd(batch(random), &cfg), t);
    // Another service is unaffected; a known endpoint keeps counting.
    inv.absorb(
        bd(
            batch(vec![
                obs("other", Method::Get, "/a", "/a", 200),
                obs("scanned", Method::Get, "/health", "/health", 200),
            ]),
            &cfg,
        ),
        t,
    );
    let d = inv.take_delta();
    let scanned: Vec<_> = d
        .endpoints
        .iter()
        .filter(|e| &*e.service == "scanned")
        .collect();
    assert_eq!(
        scanned.len(),
        3,
        "/health plus two new ones fit the cap of 3"
    );
    assert_eq!(find(&d, Method::Get, "/health").requests, 1);
    assert!(d.endpoints.iter().any(|e| &*e.service == "other"));
    assert_eq!(d.overflow.len(), 1);
    assert_eq!(&*d.overflow[0].service, "scanned");
    assert_eq!(d.overflow[0].requests, 48);
    assert_eq!(inv.counters().overflow, 48);
    assert_eq!(inv.known_endpoints(), 4);
}

#[test]
fn caller_service_edges_join_in_both_orders() {
    let cfg = InventoryConfig::default();
    let mut inv = Inventory::new(cfg.clone());
    let t = Instant::now();
    let trace = 7u8;
    // frontend's client span, then the orders server span that is its child.
    let call = ClientCall {
        span: span(trace, 100),
        service: Arc::from("frontend"),
        time_unix_nano: T0,
    };
    let mut server = obs("orders", Method::Get, "/orders/{id}", "/orders/1", 200);
    server.span = span(trace, 101);
    server.parent_span_id = call.span.span_id;
    inv.absorb(
        bd(
            NormalizedBatch {
                client_calls: vec![call],
                spans: 1,
                ..Default::default()
            },
            &cfg,
        ),
        t,
    );
    inv.absorb(bd(batch(vec![server]), &cfg), t);

    // The other order: the orders server span arrives before checkout's client span.
    let mut server2 = obs("orders", Method::Get, "/orders/{id}", "/orders/2", 200);
    server2.span = span(trace + 1, 201);
    server2.parent_span_id = span(trace + 1, 200).span_id;
    inv.absorb(bd(batch(vec![server2]), &cfg), t);
    let call2 = ClientCall {
        span: span(trace + 1, 200),
        service: Arc::from("checkout"),
        time_unix_nano: T0,
    };
    inv.absorb(
        bd(
            NormalizedBatch {
                client_calls: vec![call2],
                ..Default::default()
            },
            &cfg,
        ),
        t,
    );
    // A service calling itself is no edge.
    let self_call = ClientCall {
        span: span(30, 30),
        service: Arc::from("orders"),
        time_unix_nano: T0,
    };
    let mut server3 = obs("orders", Method::Get, "/orders/{id}", "/orders/3", 200);
    server3.span = span(30, 31);
    server3.parent_span_id = self_call.span.span_id;
    let mut b = batch(vec![server3]);
    b.client_calls.push(self_call);
    inv.absorb(bd(b, &cfg), t);

    let d = inv.take_delta();
    let mut callers: Vec<(&str, u64)> = d.edges.iter().map(|e| (&*e.caller, e.calls)).collect();
    callers.sort();
    assert_eq!(callers, vec![("checkout", 1), ("frontend", 1)]);
    assert!(d
        .edges
        .iter()
        .all(|e| &*e.service == "orders" && e.template.as_str() == "/orders/{id}"));
    let e = find(&d, Method::Get, "/orders/{id}");
    assert_eq!(e.requests, 3);
    assert!(e.callers.contains(&"frontend".to_string()));
    assert!(e.callers.contains(&"checkout".to_string()));
    assert_eq!(inv.counters().edges_joined, 2);
}

#[test]
fn ignored_spans_are_counted_per_hour() {
    let cfg = InventoryConfig::default();
    let mut inv = Inventory::new(cfg.clone());
    let b = NormalizedBatch {
        ignored: IgnoredCounts {
            unmatched: 3,
            not_http: 10,
            incomplete: 1,
        },
        spans: 14,
        ..Default::default()
    };
    inv.absorb(bd(b.clone(), &cfg), Instant::now());
    inv.absorb(bd(b, &cfg), Instant::now());
    let d = inv.take_delta();
    assert_eq!(d.traffic.len(), 1);
    assert_eq!(d.traffic[0].spans, 28);
    assert_eq!(d.traffic[0].ignored.unmatched, 6);
    assert_eq!(d.traffic[0].hour, hour_of(now_secs()));
}

#[test]
fn hour_buckets_floor_including_before_epoch() {
    assert_eq!(hour_of(7199), 3600);
    assert_eq!(hour_of(7200), 7200);
    assert_eq!(hour_of(-1), -3600);
}

#[test]
fn inventing_service_names_is_capped_too() {
    let cfg = InventoryConfig {
        max_services: 2,
        ..Default::default()
    };
    let mut inv = Inventory::new(cfg.clone());
    // Stored services are known whatever the cap.
    seed_route(&mut inv, "stored-a", Method::Get, "/a");
    seed_route(&mut inv, "stored-b", Method::Get, "/b");
    seed_route(&mut inv, "stored-c", Method::Get, "/c");
    let spam: Vec<Observation> = (0..20)
        .map(|i| {
            let mut o = obs(&format!("svc-{i}"), Method::Get, "/x", "/x", 200);
            o.span = span(i as u8, 1);
            o
        })
        .collect();
    let mut b = batch(spam);
    b.observations
        .push(obs("stored-c", Method::Get, "/c", "/c", 200));
    inv.absorb(bd(b, &cfg), Instant::now());
    let d = inv.take_delta();
    assert_eq!(d.endpoints.len(), 1, "{d:?}");
    assert_eq!(&*d.endpoints[0].service, "stored-c");
    assert_eq!(d.overflow.len(), 1);
    assert_eq!(
        (&*d.overflow[0].service, d.overflow[0].requests),
        (OTHER_SERVICES, 20)
    );
    assert_eq!(inv.known_endpoints(), 3);
}

#[test]
fn batch_texts_keep_each_list_distinct_capped_and_in_order() {
    let mut texts = Texts::default();
    let mut lists = [TextList::EMPTY, TextList::EMPTY];
    for (k, item) in [
        (0, "/users/1"),
        (1, "10.0.0.1"),
        (0, "/users/2"),
        (0, "/users/1"),
        (1, "10.0.0.1"),
        (0, "/users/3"),
        (0, "/users/4"),
        (1, "10.0.0.2"),
    ] {
        texts.push_distinct(&mut lists[k], item, 3);
    }
    let [a, b] = lists;
    assert_eq!(
        texts.iter(a).collect::<Vec<_>>(),
        ["/users/1", "/users/2", "/users/3"]
    );
    assert_eq!(texts.iter(b).collect::<Vec<_>>(), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(texts.iter(TextList::EMPTY).count(), 0);
}

/// An Express 4 request its app-level auth refused before routing: no route anywhere.
fn unrouted(
    service: &str,
    method: Method,
    path: &str,
    status: u16,
    id: u8,
) -> Observation<'static> {
    let mut o = obs(service, method, path, path, status);
    o.source = TemplateSource::Inferred;
    o.routed = false;
    o.span = span(id, id);
    o
}

fn templates(d: &Delta) -> Vec<(Method, &str)> {
    let mut t: Vec<_> = d
        .endpoints
        .iter()
        .map(|e| (e.method, e.template.as_str()))
        .collect();
    t.sort();
    t
}

#[test]
fn refusals_no_route_claimed_are_probes_in_a_service_that_names_routes() {
    let cfg = InventoryConfig::default();
    let mut inv = Inventory::new(cfg.clone());
    // The probes come first in the batch: the batch's own routes still count.
    let b = batch(vec![
        unrouted("shop", Method::Get, "/.env", 401, 1),
        unrouted("shop", Method::Post, "/wp-login.php", 401, 2),
        // Covered by the route below: a real endpoint refused before routing, counted
        // under that route.
        unrouted("shop", Method::Get, "/api/v1/users/{id}", 401, 3),
        // Flask's DELETE on a GET-only route: 405, no route for that method.
        unrouted("shop", Method::Delete, "/healthz", 405, 4),
        // A trailing-slash redirect no route claimed.
        unrouted("shop", Method::Get, "/products", 308, 5),
        // Served without a route (static files): an endpoint whatever routes say.
        unrouted("shop", Method::Get, "/static/app.js", 200, 6),
        // Failed before routing: worth seeing.
        unrouted("shop", Method::Get, "/crash", 500, 7),
        obs(
            "shop",
            Method::Get,
            "/api/v1/users/{userId}",
            "/api/v1/users/7",
            200,
        ),
        obs("shop", Method::Get, "/healthz", "/healthz", 200),
        // Another service names no routes at all: its refusals are its endpoints.
        unrouted("legacy", Method::Get, "/admin/export", 401, 8),
    ]);
    inv.absorb(bd(b, &cfg), Instant::now());
    assert_eq!(inv.counters().unrouted, 4);
    let d = inv.take_delta();
    assert_eq!(
        templates(&d),
        vec![
            (Method::Get, "/admin/export"),
            (Method::Get, "/api/v1/users/{userId}"),
            (Method::Get, "/crash"),
            (Method::Get, "/healthz"),
            (Method::Get, "/static/app.js"),
        ]
    );
    assert_eq!(d.traffic[0].ignored.unmatched, 4);

    // A later batch: the routes learned before still claim (or not) what comes.
    let b = batch(vec![
        unrouted("shop", Method::Get, "/actuator/env", 401, 9),
        unrouted("shop", Method::Get, "/api/v1/users/{id}", 403, 10),
    ]);
    inv.absorb(bd(b, &cfg), Instant::now());
    assert_eq!(inv.counters().unrouted, 5);
    assert_eq!(
        templates(&inv.take_delta()),
        vec![(Method::Get, "/api/v1/users/{userId}")]
    );
}

#[test]
fn a_route_in_the_span_tree_or_one_good_answer_keeps_a_request_an_endpoint() {
    let cfg = InventoryConfig::default();
    let mut inv = Inventory::new(cfg.clone());
    seed_route(&mut inv, "shop", Method::Get, "/healthz");
    // Express reports the router's mount path for a refused `/admin/stats`: a route was
    // named, so it is the endpoint it looks like, not a probe.
    let mut mounted = unrouted("shop", Method::Get, "/admin/stats", 403, 1);
    mounted.routed = true;
    // One success among the refusals of the same endpoint: not a probe.
    let refused = unrouted("shop", Method::Get, "/export", 401, 2);
    let served = unrouted("shop", Method::Get, "/export", 200, 3);
    let b = batch(vec![mounted, refused, served]);
    inv.absorb(bd(b, &cfg), Instant::now());
    assert_eq!(inv.counters().unrouted, 0);
    assert_eq!(
        templates(&inv.take_delta()),
        vec![(Method::Get, "/admin/stats"), (Method::Get, "/export")]
    );
}

#[test]
fn routes_known_from_the_store_claim_refusals_after_a_restart() {
    let cfg = InventoryConfig::default();
    let mut inv = Inventory::new(cfg.clone());
    seed_route(&mut inv, "shop", Method::Get, "/users/{id}");
    // Inferred rows in the store say nothing about the service's routes.
    inv.seed(
        "other",
        Method::Get,
        PathTemplate::parse("/users/{id}"),
        TemplateSource::Inferred,
    );
    let b = batch(vec![
        unrouted("shop", Method::Get, "/users/{id}", 401, 1),
        unrouted("shop", Method::Get, "/.git/config", 401, 2),
        unrouted("other", Method::Get, "/.git/config", 401, 3),
    ]);
    inv.absorb(bd(b, &cfg), Instant::now());
    assert_eq!(inv.counters().unrouted, 1);
    let d = inv.take_delta();
    let mut got: Vec<_> = d
        .endpoints
        .iter()
        .map(|e| (&*e.service, e.template.as_str()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![("other", "/.git/config"), ("shop", "/users/{id}")]
    );
}

#[test]
fn what_a_route_covers_is_read_leniently() {
    let cfg = InventoryConfig::default();
    let mut inv = Inventory::new(cfg.clone());
    for (method, route) in [
        (Method::Get, "/files/{0}"),
        (Method::Get, "/Users/{id}"),
        (Method::Post, "/login"),
    ] {
        seed_route(&mut inv, "shop", method, route);
    }
    let kept = batch(vec![
        // A trailing parameter may have spanned several segments (`/files/*`)...
        unrouted("shop", Method::Get, "/files/reports/2024/q1.pdf", 401, 1),
        // ...or been optional (`/users/:id?`); literals compare in any case.
        unrouted("shop", Method::Get, "/users", 401, 2),
        // Express answers HEAD from GET routes.
        unrouted("shop", Method::Head, "/users/{id}", 401, 3),
        // 304 is what a file served before answers, not a refusal.
        unrouted("shop", Method::Get, "/static/app.js", 304, 4),
    ]);
    inv.absorb(bd(kept, &cfg), Instant::now());
    assert_eq!(inv.counters().unrouted, 0);
    assert_eq!(inv.take_delta().endpoints.len(), 4);

    // An endpoint already inventoried stays one, whatever it is answered: its first requests
    // came before the service's routes were known.
    let probes = batch(vec![
        unrouted("shop", Method::Get, "/static/app.js", 401, 5),
        unrouted("shop", Method::Get, "/.env", 401, 6),
        unrouted("shop", Method::Get, "/login", 405, 7),
    ]);
    inv.absorb(bd(probes, &cfg), Instant::now());
    assert_eq!(inv.counters().unrouted, 2);
    assert_eq!(
        templates(&inv.take_delta()),
        vec![(Method::Get, "/static/app.js")]
    );
}

#[test]
fn user_agents_are_kept_distinct_bounded_and_clipped() {
    let cfg = InventoryConfig::default();
    let long = format!("Mozilla/5.0 {}", "é".repeat(300));
    let mut obs_list = Vec::new();
    for (i, agent) in ["curl/8.5.0", "curl/8.5.0", long.as_str()]
        .into_iter()
        .map(str::to_owned)
        .chain((0..20).map(|n| format!("sdk/{n}")))
        .enumerate()
    {
        let mut o = obs("shop", Method::Get, "/orders/{id}", "/orders/1", 200);
        o.span = span(i as u8, i as u8);
        o.user_agent = Some(agent.into());
        obs_list.push(o);
    }
    let mut inv = Inventory::new(cfg.clone());
    inv.absorb(bd(batch(obs_list), &cfg), Instant::now());
    let d = inv.take_delta();
    let agents = &find(&d, Method::Get, "/orders/{id}").user_agents;
    assert_eq!(agents.len(), cfg.max_user_agents);
    assert_eq!(agents[0], "curl/8.5.0");
    // 256 bytes at most, cut between characters.
    assert!(
        agents[1].len() <= 256 && agents[1].len() > 250,
        "{}",
        agents[1].len()
    );
    assert!(long.starts_with(&agents[1]));
    assert_eq!(agents[2], "sdk/0");
}

/// Koa (@opentelemetry/instrumentation-koa) loses the route of a 401 answered by a middleware
/// shared across routes, and of requests a router-level middleware ends: route-less requests
/// that a known route of the service describes are counted under that route, whatever their
/// answer, instead of one literal row per username or file.
#[test]
fn route_less_requests_a_route_describes_take_its_template() {
    let cfg = InventoryConfig::default();
    let mut inv = Inventory::new(cfg.clone());
    seed_route(
        &mut inv,
        "koa",
        Method::Post,
        "/api/profiles/{username}/follow",
    );
    seed_route(&mut inv, "koa", Method::Get, "/api/profiles/{username}");
    seed_route(&mut inv, "koa", Method::Get, "/api/profiles/me");
    seed_route(&mut inv, "koa", Method::Get, "/api/files/{path}");
    seed_route(&mut inv, "koa", Method::Get, "/api/reports/{name}.{ext}");
    seed_route(&mut inv, "koa", Method::Get, "/api/pets/{petId}");
    let b = batch(vec![
        // Documented text after the parameter vouches for the value.
        unrouted("koa", Method::Post, "/api/profiles/sybil/follow", 401, 1),
        unrouted("koa", Method::Post, "/api/profiles/carol.w/follow", 200, 2),
        // The most literal route wins.
        unrouted("koa", Method::Get, "/api/profiles/me", 401, 4),
        // A last parameter takes a literal that looks like a value...
        unrouted("koa", Method::Get, "/api/profiles/dave.k", 500, 5),
        unrouted("koa", Method::Get, "/api/pets/{id}", 401, 6),
        // ...not a word, which may be a sibling whose own route was not seen yet.
        unrouted("koa", Method::Get, "/api/pets/findByStatus", 200, 7),
        // A last parameter named like a path takes the rest.
        unrouted(
            "koa",
            Method::Get,
            "/api/files/fonts/inter/inter-var.woff2",
            200,
            8,
        ),
        unrouted("koa", Method::Get, "/api/reports/q1.pdf", 200, 9),
        // Another method's route says nothing about this one.
        unrouted("koa", Method::Delete, "/api/profiles/sybil/follow", 200, 3),
        // Not described by any route: kept as inferred.
        unrouted(
            "koa",
            Method::Get,
            "/api/profiles/sybil/followers/extra",
            200,
            10,
        ),
        unrouted("koa", Method::Get, "/metrics", 200, 11),
    ]);
    inv.absorb(bd(b, &cfg), Instant::now());
    assert_eq!(inv.counters().unrouted, 0);
    let d = inv.take_delta();
    assert_eq!(
        templates(&d),
        vec![
            (Method::Get, "/api/files/{path}"),
            (Method::Get, "/api/pets/findByStatus"),
            (Method::Get, "/api/pets/{petId}"),
            (Method::Get, "/api/profiles/me"),
            (Method::Get, "/api/profiles/sybil/followers/extra"),
            (Method::Get, "/api/profiles/{username}"),
            (Method::Get, "/api/reports/{name}.{ext}"),
            (Method::Get, "/metrics"),
            (Method::Post, "/api/profiles/{username}/follow"),
            (Method::Delete, "/api/profiles/sybil/follow"),
        ]
    );
    let follow = find(&d, Method::Post, "/api/profiles/{username}/follow");
    assert_eq!((follow.requests, follow.status.s401), (2, 1));

    // A service whose instrumentation names no routes keeps what inference says.
    let b = batch(vec![unrouted(
        "nest12",
        Method::Get,
        "/api/profiles/sybil",
        200,
        12,
    )]);
    inv.absorb(bd(b, &cfg), Instant::now());
    assert_eq!(
        templates(&inv.take_delta()),
        vec![(Method::Get, "/api/profiles/sybil")]
    );
}
