//! Realistic, deterministic export requests for benchmarks, load replays and tests: the
//! shapes real HTTP instrumentation produces (server spans in the current and the old
//! semantic conventions, Express middleware children including an auth middleware, database
//! client children, captured headers as string arrays, events, scope metadata), in
//! protobuf and OTLP/JSON. Same seed, same bytes.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::{json, Value};

/// A request holding `spans` spans (HTTP requests of 2-4 spans each, the last one cut to
/// fit), encoded as protobuf.
pub fn protobuf(spans: usize, seed: u64) -> Vec<u8> {
    request(spans, seed).encode_to_vec()
}

/// The same request as [`protobuf`], as one line of OTLP/JSON (no trailing newline).
pub fn json(spans: usize, seed: u64) -> Vec<u8> {
    to_json(&request(spans, seed)).to_string().into_bytes()
}

/// A tiny deterministic generator (xorshift64*), so the corpus needs no RNG crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes<const N: usize>(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(N);
        while out.len() < N {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(N);
        out
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, v: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/users/:id", "/users/{}"),
    ("GET", "/users/:id/orders", "/users/{}/orders"),
    ("POST", "/orders", "/orders"),
    ("GET", "/orders/:orderId", "/orders/{}"),
    ("DELETE", "/admin/sessions/:sid", "/admin/sessions/{}"),
    ("GET", "/health", "/health"),
    (
        "PUT",
        "/v2/accounts/:account/settings",
        "/v2/accounts/{}/settings",
    ),
];

pub(crate) fn request(spans: usize, seed: u64) -> ExportTraceServiceRequest {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut out = Vec::with_capacity(spans);
    let mut t: u64 = 1_763_000_000_000_000_000;
    while out.len() < spans {
        let trace_id = rng.bytes::<16>();
        let server_id = rng.bytes::<8>();
        let (method, route, shape) = ROUTES[rng.below(ROUTES.len() as u64) as usize];
        let path = shape.replace("{}", &(1000 + rng.below(90_000)).to_string());
        let status = [200, 200, 200, 201, 204, 401, 403, 404, 500][rng.below(9) as usize];
        t += 1_000_000 + rng.below(50_000_000);
        let mut attrs = Vec::with_capacity(12);
        if rng.below(2) == 0 {
            attrs.push(s("http.request.method", method));
            attrs.push(s("url.path", path.clone()));
            attrs.push(s("url.scheme", "https"));
            attrs.push(i("http.response.status_code", status));
            attrs.push(s("server.address", "shop.example.com"));
            attrs.push(s(
                "client.address",
                format!("203.0.113.{}", rng.below(254) + 1),
            ));
            attrs.push(s("network.protocol.version", "1.1"));
            attrs.push(s("user_agent.original", "python-requests/2.32"));
        } else {
            attrs.push(s("http.method", method));
            attrs.push(s("http.target", format!("{path}?page=2")));
            attrs.push(s("http.scheme", "https"));
            attrs.push(i("http.status_code", status));
            attrs.push(s("net.host.name", "shop.example.com"));
            attrs.push(s(
                "net.sock.peer.addr",
                format!("198.51.100.{}", rng.below(254) + 1),
            ));
            attrs.push(s("http.user_agent", "okhttp/4.12"));
        }
        attrs.push(s("http.route", route));
        if rng.below(3) == 0 {
            // SDKs capture headers as string arrays; the value must never be read.
            attrs.push(kv(
                "http.request.header.authorization",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(any_value::Value::StringValue(
                            "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig".into(),
                        )),
                    }],
                }),
            ));
            attrs.push(s("enduser.id", format!("user-{}", rng.below(5000))));
        }
        let end = t + 500_000 + rng.below(80_000_000);
        out.push(Span {
            trace_id: trace_id.clone(),
            span_id: server_id.clone(),
            name: format!("{method} {route}"),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: t,
            end_time_unix_nano: end,
            attributes: attrs,
            flags: 0x101,
            events: if status >= 500 {
                vec![span::Event {
                    time_unix_nano: t + 10_000,
                    name: "exception".into(),
                    attributes: vec![
                        s("exception.type", "TimeoutError"),
                        s("exception.message", "upstream timed out"),
                    ],
                    dropped_attributes_count: 0,
                }]
            } else {
                Vec::new()
            },
            status: Some(Status {
                message: String::new(),
                code: if status >= 500 { 2 } else { 0 },
            }),
            ..Default::default()
        });
        let mut child = |name: &str, kind: span::SpanKind, attributes: Vec<KeyValue>| Span {
            trace_id: trace_id.clone(),
            span_id: rng.bytes::<8>(),
            parent_span_id: server_id.clone(),
            name: name.to_owned(),
            kind: kind as i32,
            start_time_unix_nano: t + 1_000,
            end_time_unix_nano: t + 200_000,
            attributes,
            flags: 0x101,
            status: Some(Status::default()),
            ..Default::default()
        };
        let middleware = child(
            "middleware - query",
            span::SpanKind::Internal,
            vec![s("express.name", "query"), s("express.type", "middleware")],
        );
        let auth = child(
            "middleware - requireAuth",
            span::SpanKind::Internal,
            vec![
                s("express.name", "requireAuth"),
                s("express.type", "middleware"),
            ],
        );
        let db = child(
            "SELECT app.records",
            span::SpanKind::Client,
            vec![
                s("db.system", "postgresql"),
                s("db.name", "app"),
                s(
                    "db.statement",
                    "SELECT id, name FROM records WHERE owner = $1",
                ),
                s("server.address", "db.internal"),
                i("server.port", 5432),
            ],
        );
        for c in [middleware, auth, db] {
            if out.len() < spans {
                out.push(c);
            }
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "shop-api"),
                    s("service.namespace", "retail"),
                    s("telemetry.sdk.language", "nodejs"),
                    s("telemetry.sdk.name", "opentelemetry"),
                    s("telemetry.sdk.version", "1.30.1"),
                    s("host.name", "shop-api-7d9f8b6c5-x2x4q"),
                    i("process.pid", 4242),
                ],
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "@opentelemetry/instrumentation-http".into(),
                    version: "0.57.2".into(),
                    ..Default::default()
                }),
                spans: out,
                schema_url: String::new(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        }],
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// OTLP/JSON as the collector's file exporter writes it (int64 as strings, hex ids).
pub(crate) fn to_json(req: &ExportTraceServiceRequest) -> Value {
    fn any(v: &AnyValue) -> Value {
        match &v.value {
            Some(any_value::Value::StringValue(s)) => json!({ "stringValue": s }),
            Some(any_value::Value::BoolValue(b)) => json!({ "boolValue": b }),
            Some(any_value::Value::IntValue(i)) => json!({ "intValue": i.to_string() }),
            Some(any_value::Value::DoubleValue(d)) => json!({ "doubleValue": d }),
            Some(any_value::Value::ArrayValue(a)) => {
                json!({ "arrayValue": { "values": a.values.iter().map(any).collect::<Vec<_>>() } })
            }
            Some(any_value::Value::KvlistValue(l)) => {
                json!({ "kvlistValue": { "values": attrs(&l.values) } })
            }
            Some(any_value::Value::BytesValue(b)) => json!({ "bytesValue": hex(b) }),
            Some(any_value::Value::StringValueStrindex(_)) | None => json!({}),
        }
    }
    fn attrs(kvs: &[KeyValue]) -> Vec<Value> {
        kvs.iter()
            .map(|kv| match &kv.value {
                Some(v) => json!({ "key": kv.key, "value": any(v) }),
                None => json!({ "key": kv.key }),
            })
            .collect()
    }
    let resource_spans: Vec<Value> = req
        .resource_spans
        .iter()
        .map(|rs| {
            let scope_spans: Vec<Value> = rs
                .scope_spans
                .iter()
                .map(|ss| {
                    let spans: Vec<Value> = ss
                        .spans
                        .iter()
                        .map(|sp| {
                            let mut o = json!({
                                "traceId": hex(&sp.trace_id),
                                "spanId": hex(&sp.span_id),
                                "name": sp.name,
                                "kind": sp.kind,
                                "startTimeUnixNano": sp.start_time_unix_nano.to_string(),
                                "endTimeUnixNano": sp.end_time_unix_nano.to_string(),
                                "attributes": attrs(&sp.attributes),
                                "flags": sp.flags,
                                "status": sp.status.as_ref().map_or(json!({}), |st| json!({ "code": st.code })),
                            });
                            if !sp.parent_span_id.is_empty() {
                                o["parentSpanId"] = json!(hex(&sp.parent_span_id));
                            }
                            if !sp.events.is_empty() {
                                o["events"] = sp
                                    .events
                                    .iter()
                                    .map(|e| json!({
                                        "timeUnixNano": e.time_unix_nano.to_string(),
                                        "name": e.name,
                                        "attributes": attrs(&e.attributes),
                                    }))
                                    .collect();
                            }
                            o
                        })
                        .collect();
                    let scope = ss.scope.as_ref().map_or(json!({}), |sc| {
                        json!({ "name": sc.name, "version": sc.version })
                    });
                    json!({ "scope": scope, "spans": spans })
                })
                .collect();
            let resource = rs.resource.as_ref().map_or(json!({}), |r| {
                json!({ "attributes": attrs(&r.attributes) })
            });
            json!({ "resource": resource, "scopeSpans": scope_spans, "schemaUrl": rs.schema_url })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

/// Recorded export requests (protobuf) moved in time so that the newest span ends at
/// `end_nanos` (unix nanoseconds), every span and event keeping its distance to the others:
/// how `demo` replays recordings as if they had just happened. A message that does not
/// decode is an error.
pub fn retimed(messages: &[&[u8]], end_nanos: u64) -> Result<Vec<Vec<u8>>, prost::DecodeError> {
    let mut requests = messages
        .iter()
        .map(|m| ExportTraceServiceRequest::decode(*m))
        .collect::<Result<Vec<_>, _>>()?;
    let newest = requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.end_time_unix_nano.max(s.start_time_unix_nano))
        .max()
        .unwrap_or(end_nanos);
    let shift = |t: u64| -> u64 {
        if t == 0 {
            0
        } else {
            (t as i128 + end_nanos as i128 - newest as i128).clamp(1, u64::MAX as i128) as u64
        }
    };
    for r in &mut requests {
        for s in r
            .resource_spans
            .iter_mut()
            .flat_map(|rs| rs.scope_spans.iter_mut())
            .flat_map(|ss| ss.spans.iter_mut())
        {
            s.start_time_unix_nano = shift(s.start_time_unix_nano);
            s.end_time_unix_nano = shift(s.end_time_unix_nano);
            for e in &mut s.events {
                e.time_unix_nano = shift(e.time_unix_nano);
            }
        }
    }
    Ok(requests.iter().map(|r| r.encode_to_vec()).collect())
}
