//! The pipeline end to end over the real decoder and normaliser: OTLP/JSON export requests
//! shaped like Flask's and Express's instrumentation output, through the file path and the
//! daemon path, into the store.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use shadowscan::ingest::{Format, Payload, SinkError, TraceSink};
use shadowscan::inventory::{Exposure, Graph};
use shadowscan::model::{
    AuthEvidence, EndpointKey, EndpointStats, Method, PathTemplate, TemplateSource,
};
use shadowscan::pipeline::{FileIngest, Pipeline, PipelineConfig, Writer};
use shadowscan::store::{Query, Store};

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn s(k: &str, v: &str) -> Value {
    json!({"key": k, "value": {"stringValue": v}})
}

fn i(k: &str, v: i64) -> Value {
    json!({"key": k, "value": {"intValue": v.to_string()}})
}

fn span(trace: &str, id: &str, parent: &str, name: &str, kind: i32, attrs: Vec<Value>) -> Value {
    let t = now_nanos();
    json!({
        "traceId": trace, "spanId": id, "parentSpanId": parent, "name": name, "kind": kind,
        "startTimeUnixNano": t.to_string(), "endTimeUnixNano": (t + 4_000_000).to_string(),
        "attributes": attrs, "status": {}
    })
}

fn request(service: &str, scope: &str, spans: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"resourceSpans": [{
        "resource": {"attributes": [s("service.name", service), s("telemetry.sdk.language", "python")]},
        "scopeSpans": [{"scope": {"name": scope}, "spans": spans}]
    }]}))
    .unwrap()
}

const T1: &str = "5b8efff798038103d269b633813fc60c";
const T2: &str = "6c9f0008a9149214e37ac744924fd71d";
const T3: &str = "7da0111aba25a325f48bd855a35fe82e";
const T4: &str = "8eb1222bcb36b436059ce966b46af93f";

/// Flask, old conventions: two users by route, one scanner probe that matched no route.
fn flask_batch() -> Vec<u8> {
    let flask = |trace: &str, id: &str, path: &str, status: i64, extra: Vec<Value>| {
        let mut attrs = vec![
            s("http.method", "GET"),
            s("http.target", path),
            s("http.scheme", "http"),
            i("http.status_code", status),
            s("net.sock.peer.addr", "172.18.0.5"),
            s("http.user_agent", "python-requests/2.32.3"),
        ];
        attrs.extend(extra);
        span(
            trace,
            id,
            "",
            if status == 404 {
                "GET"
            } else {
                "GET /users/v1/<username>"
            },
            2,
            attrs,
        )
    };
    request(
        "vampi",
        "opentelemetry.instrumentation.flask",
        vec![
            flask(
                T1,
                "1111111111111111",
                "/users/v1/name1",
                200,
                vec![s("http.route", "/users/v1/<username>")],
            ),
            span(
                T1,
                "1111111111111112",
                "1111111111111111",
                "SELECT users",
                3,
                vec![s("db.system", "sqlite")],
            ),
            flask(
                T2,
                "2222222222222221",
                "/users/v1/admin?fields=email",
                200,
                vec![
                    s("http.route", "/users/v1/<username>"),
                    s("enduser.id", "admin"),
                ],
            ),
            flask(T3, "3333333333333331", "/.env", 404, vec![]),
        ],
    )
}

/// Express, new conventions: `/admin/stats` served; its auth middleware span is exported later.
fn express_server() -> Vec<u8> {
    request(
        "shop",
        "@opentelemetry/instrumentation-http",
        vec![span(
            T4,
            "4444444444444441",
            "",
            "GET /admin/stats",
            2,
            vec![
                s("http.request.method", "GET"),
                s("url.path", "/admin/stats"),
                s("url.scheme", "http"),
                i("http.response.status_code", 200),
                s("http.route", "/admin/stats"),
                s("client.address", "203.0.113.9"),
            ],
        )],
    )
}

fn express_auth_child() -> Vec<u8> {
    request(
        "shop",
        "@opentelemetry/instrumentation-express",
        vec![span(
            T4,
            "4444444444444442",
            "4444444444444441",
            "middleware - requireAuth",
            1,
            vec![
                s("express.name", "requireAuth"),
                s("express.type", "middleware"),
            ],
        )],
    )
}

const T5: &str = "9fc2333cdc47c547160dfa77c57b0a40";

/// frontend calls shop's `/orders/:id`: the client span and the server span it caused, in
/// two services' exports.
fn frontend_client_call() -> Vec<u8> {
    request(
        "frontend",
        "@opentelemetry/instrumentation-undici",
        vec![span(
            T5,
            "5555555555555551",
            "",
            "GET",
            3,
            vec![
                s("http.request.method", "GET"),
                s("server.address", "shop"),
                s("url.full", "http://shop:3000/orders/42"),
                i("http.response.status_code", 200),
            ],
        )],
    )
}

fn shop_order_from_frontend() -> Vec<u8> {
    request(
        "shop",
        "@opentelemetry/instrumentation-http",
        vec![span(
            T5,
            "5555555555555552",
            "5555555555555551",
            "GET /orders/:id",
            2,
            vec![
                s("http.request.method", "GET"),
                s("url.path", "/orders/42"),
                i("http.response.status_code", 200),
                s("http.route", "/orders/:id"),
                s("client.address", "10.0.0.12"),
            ],
        )],
    )
}

fn all_payloads() -> Vec<Vec<u8>> {
    vec![
        flask_batch(),
        express_server(),
        express_auth_child(),
        shop_order_from_frontend(),
        frontend_client_call(),
    ]
}

fn find<'a>(
    eps: &'a [EndpointStats],
    service: &str,
    method: Method,
    template: &str,
) -> &'a EndpointStats {
    eps.iter()
        .find(|e| e.service == service && e.method == method && e.template.as_str() == template)
        .unwrap_or_else(|| panic!("{service} {method} {template} not in {eps:#?}"))
}

fn check_inventory(store: &Store) {
    let eps = store.endpoints(&Query::default()).unwrap();
    let users = find(&eps, "vampi", Method::Get, "/users/v1/{username}");
    assert_eq!(users.requests, 2);
    assert_eq!(users.source, TemplateSource::Route);
    assert_eq!((users.ok_with_auth, users.ok_without_auth), (1, 1));
    assert!(users.evidence.contains(AuthEvidence::IDENTITY));
    assert!(
        users.examples.contains(&"/users/v1/admin".to_string()),
        "query stripped: {:?}",
        users.examples
    );
    assert_eq!(users.callers, vec!["172.18.0.5"]);
    assert!(
        eps.iter().all(|e| !e.template.as_str().contains("env")),
        "scanner probe inventoried: {eps:#?}"
    );

    // The middleware span came in a later export: the request is counted as authenticated.
    let admin = find(&eps, "shop", Method::Get, "/admin/stats");
    assert_eq!(
        (admin.requests, admin.ok_with_auth, admin.ok_without_auth),
        (1, 1, 0)
    );
    assert!(admin.evidence.contains(AuthEvidence::MIDDLEWARE));

    let order = find(&eps, "shop", Method::Get, "/orders/{id}");
    assert!(
        order.callers.contains(&"frontend".to_string()),
        "{:?}",
        order.callers
    );
    let edges = store.edges(&Query::default()).unwrap();
    assert_eq!(edges.len(), 1, "{edges:?}");
    assert_eq!(
        (
            edges[0].caller.as_str(),
            edges[0].service.as_str(),
            edges[0].calls
        ),
        ("frontend", "shop", 1)
    );
    let graph = Graph::build(&eps, &edges);
    let key = |t: &str| EndpointKey {
        service: "shop".into(),
        method: Method::Get,
        template: PathTemplate::parse(t),
    };
    assert_eq!(
        graph.exposure(&key("/orders/{id}")),
        Some(Exposure::Internal)
    );
    assert_eq!(
        graph.exposure(&key("/admin/stats")),
        Some(Exposure::External)
    );

    let stats = store.stats().unwrap();
    assert_eq!(stats.spans, 8);
    assert!(stats.unmatched >= 1, "{stats:?}");
    assert_eq!(stats.services, 2);
}

#[test]
fn files_become_an_inventory_with_joins_across_exports() {
    let mut files =
        FileIngest::new(Store::open_in_memory().unwrap(), PipelineConfig::default()).unwrap();
    for p in all_payloads() {
        files.ingest_payload(&p, Format::Json).unwrap();
    }
    assert_eq!(files.summary().payloads, 5);
    assert_eq!(files.summary().spans, 8);
    check_inventory(&files.finish().unwrap());
}

#[test]
fn an_undecodable_line_is_an_error_and_adds_nothing() {
    let mut files =
        FileIngest::new(Store::open_in_memory().unwrap(), PipelineConfig::default()).unwrap();
    let err = files
        .ingest_payload(
            br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 7}]}]}"#,
            Format::Json,
        )
        .expect_err("truncated JSON must be refused");
    assert!(!err.to_string().is_empty());
    let store = files.finish().unwrap();
    assert_eq!(store.stats().unwrap().spans, 0);
}

#[test]
fn a_restart_continues_the_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadowscan.db");
    for _ in 0..2 {
        let mut files =
            FileIngest::new(Store::open(&path).unwrap(), PipelineConfig::default()).unwrap();
        files.ingest_payload(&flask_batch(), Format::Json).unwrap();
        files.finish().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let eps = store.endpoints(&Query::default()).unwrap();
    assert_eq!(
        find(&eps, "vampi", Method::Get, "/users/v1/{username}").requests,
        4
    );
    assert_eq!(store.stats().unwrap().endpoints, 1);
}

/// The daemon's pipeline on an in-memory store, committing every 10 ms.
fn start_daemon() -> (Pipeline, Writer) {
    let cfg = PipelineConfig {
        flush_interval: Duration::from_millis(10),
        ..Default::default()
    };
    Pipeline::start(Store::open_in_memory().unwrap(), cfg).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_path_acknowledges_stored_exports() {
    let (sink, writer) = start_daemon();
    for p in all_payloads() {
        let accepted = sink
            .export(Payload {
                bytes: p.into(),
                format: Format::Json,
            })
            .await
            .expect("stored");
        assert_eq!(accepted.rejected_spans, 0);
    }
    match sink
        .export(Payload {
            bytes: b"\x0a\xff\xff\xff".to_vec().into(),
            format: Format::Protobuf,
        })
        .await
    {
        Err(SinkError::Invalid(msg)) => assert!(!msg.is_empty()),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let m = sink.metrics();
    assert_eq!((m.spans_received, m.spans_accepted), (8, 8));
    // vampi GET /users/v1/{username}, shop GET /admin/stats, shop GET /orders/{id}.
    assert_eq!(m.endpoints_known, 3);
    assert_eq!(m.evidence_joined, 1);
    assert_eq!(m.edges_joined, 1);
    drop(sink);
    check_inventory(&writer.join().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_span_with_an_unusable_id_is_refused_alone_as_partial_success() {
    let (sink, writer) = start_daemon();
    // One span with an id that is not hex: it alone is refused, and the exporter is told
    // (partial success), instead of a 400 that would lose the good span with it.
    let internal = |trace: &str, id: &str| span(trace, id, "", "cache lookup", 1, vec![]);
    let accepted = sink
        .export(Payload {
            bytes: request(
                "vampi",
                "manual",
                vec![
                    internal(T4, "1111111111111111"),
                    internal("not-hex-at-all", "2222222222222222"),
                ],
            )
            .into(),
            format: Format::Json,
        })
        .await
        .expect("the good span is stored");
    assert_eq!(accepted.rejected_spans, 1);
    assert!(
        accepted.message.contains("traceId is not a trace id"),
        "{}",
        accepted.message
    );
    let m = sink.metrics();
    assert_eq!(
        (m.spans_received, m.spans_accepted, m.spans_rejected),
        (2, 1, 1)
    );
    drop(sink);
    assert_eq!(writer.join().await.unwrap().stats().unwrap().spans, 1);
}

/// Child side of the kill test: acknowledges exports one by one, printing each ack, until
/// it is killed.
fn kill_child(path: &str) {
    use shadowscan::inventory::{BatchDelta, InventoryConfig};
    use shadowscan::model::{NormalizedBatch, Observation, SpanRef};
    use std::io::Write;
    use std::sync::Arc;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cfg = PipelineConfig {
            flush_interval: Duration::from_millis(2),
            ..Default::default()
        };
        let (sink, _writer) = Pipeline::start(Store::open(path).unwrap(), cfg).unwrap();
        let service: Arc<str> = Arc::from("orders");
        for i in 0..100_000u64 {
            let obs = Observation {
                span: SpanRef {
                    trace_id: [7; 16],
                    span_id: i.to_be_bytes(),
                },
                parent_span_id: [0; 8],
                service: service.clone(),
                method: Method::Get,
                template: PathTemplate::parse(&format!("/orders/{{id}}/v{}", i % 50)),
                source: TemplateSource::Route,
                status: Some(200),
                evidence: AuthEvidence::NONE,
                time_unix_nano: now_nanos(),
                path: format!("/orders/{i}/v{}", i % 50).into(),
                client: None,
                user_agent: None,
                explanation: None,
                routed: true,
            };
            let batch = NormalizedBatch {
                observations: vec![obs],
                spans: 1,
                ..Default::default()
            };
            let delta = BatchDelta::from_batch(
                batch,
                (now_nanos() / 1_000_000_000) as i64,
                &InventoryConfig::default(),
            );
            sink.submit(delta).expect("queued").await.expect("stored");
            let mut out = std::io::stdout().lock();
            writeln!(out, "ack {i}").unwrap();
            out.flush().unwrap();
        }
    });
}

#[cfg(unix)]
#[test]
fn acknowledged_exports_survive_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    if let Ok(path) = std::env::var("SHADOWSCAN_KILL_CHILD_DB") {
        kill_child(&path);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadowscan.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_exports_survive_kill_9",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SHADOWSCAN_KILL_CHILD_DB", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = 0u64;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("ack ") {
            acked += 1;
            if acked == 300 {
                break;
            }
        }
    }
    // SIGKILL, mid-stream: no shutdown, no final flush.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(acked, 300, "the child stopped early");
    let store = Store::open(&path).unwrap();
    let stored: u64 = store
        .endpoints(&Query::default())
        .unwrap()
        .iter()
        .map(|e| e.requests)
        .sum();
    assert!(
        stored >= acked,
        "acknowledged {acked} exports, only {stored} survived kill -9"
    );
}
