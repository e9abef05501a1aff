//! Load command: replays pre-encoded OTLP export requests against a real `shadowscan serve`
//! over loopback gRPC and reports the *server's* cost from getrusage (not wall clock):
//! spans per CPU-second (while it takes the load, and over its whole life), CPU per request
//! and peak memory, plus bytes of memory per distinct
//! endpoint from two runs that differ only in how many endpoints the traffic touches.
//!
//! Run: `cargo bench --bench grpc_load` (builds the release binary first).
//! Knobs (environment): LOAD_REQUESTS (default 400), LOAD_CONCURRENCY (default 8),
//! LOAD_SCENARIOS (`;`-separated parts of scenario names, default all).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

struct Scenario {
    name: &'static str,
    spans_per_request: usize,
    gzip: bool,
    /// Distinct endpoints the traffic is spread over.
    endpoints: usize,
    /// Every endpoint a literal route of its own (`/api/users/bako-limu`), visited in turn so
    /// that all of them are stored: the memory scenarios. Otherwise a mix of parameterised
    /// routes and inferred paths picked at random.
    distinct: bool,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "1000-span batches, protobuf",
        spans_per_request: 1000,
        gzip: false,
        endpoints: 60,
        distinct: false,
    },
    Scenario {
        name: "1000-span batches, gzip",
        spans_per_request: 1000,
        gzip: true,
        endpoints: 60,
        distinct: false,
    },
    Scenario {
        name: "100-span batches, protobuf",
        spans_per_request: 100,
        gzip: false,
        endpoints: 60,
        distinct: false,
    },
    Scenario {
        name: "memory baseline: 100 endpoints",
        spans_per_request: 1000,
        gzip: false,
        endpoints: 100,
        distinct: true,
    },
    Scenario {
        name: "memory: 10000 endpoints",
        spans_per_request: 1000,
        gzip: false,
        endpoints: 10_000,
        distinct: true,
    },
    Scenario {
        name: "memory: 100000 endpoints",
        spans_per_request: 1000,
        gzip: false,
        endpoints: 100_000,
        distinct: true,
    },
];

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}
fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}
fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

/// A small deterministic generator, so every run sends the same corpus.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Realistic traffic: server spans with the current (and some with the old) HTTP
/// conventions, an auth middleware child on most, a DB child on some, a route on half.
fn request(
    rng: &mut Rng,
    sc: &Scenario,
    next_endpoint: &mut usize,
    seq: u64,
) -> ExportTraceServiceRequest {
    let (spans, endpoints) = (sc.spans_per_request, sc.endpoints);
    const RESOURCES: [&str; 7] = [
        "users",
        "orders",
        "invoices",
        "carts",
        "products",
        "payments",
        "shipments",
    ];
    let mut out = Vec::with_capacity(spans);
    // (first span, service): the inventory caps endpoints per service (5000 by default),
    // so the memory scenarios spread theirs over services of 4000.
    let mut groups: Vec<(usize, String)> = Vec::new();
    let mut t = 1_763_000_000_000_000_000u64 + seq * 1_000_000_000;
    while out.len() < spans {
        let trace_id = rng.next().to_le_bytes().repeat(2);
        let server_id = rng.next().to_le_bytes().to_vec();
        let e = if sc.distinct {
            *next_endpoint = (*next_endpoint + 1) % endpoints;
            *next_endpoint
        } else {
            rng.below(endpoints as u64) as usize
        };
        let res = RESOURCES[e % RESOURCES.len()];
        let (route, path) = if !sc.distinct {
            let id = rng.below(2_000_000);
            match e % 3 {
                0 => (
                    format!("/api/v{}/{res}/{{id}}", e / 21 + 1),
                    format!("/api/v{}/{res}/{id}", e / 21 + 1),
                ),
                1 => (
                    format!("/api/{res}/{{id}}/items{e}"),
                    format!("/api/{res}/{id}/items{e}"),
                ),
                _ => (format!("/api/{res}/list{e}"), format!("/api/{res}/list{e}")),
            }
        } else {
            let name = word_pair(e);
            (format!("/api/{res}/{name}"), format!("/api/{res}/{name}"))
        };
        t += 1_000_000 + rng.below(40_000_000);
        let status = [200, 200, 200, 200, 201, 204, 401, 404, 500][rng.below(9) as usize];
        let old = rng.below(10) < 4;
        let mut attrs = if old {
            vec![
                s("http.method", "GET"),
                s("http.target", &path),
                i("http.status_code", status),
                s("net.sock.peer.addr", "198.51.100.7"),
                s("http.scheme", "https"),
            ]
        } else {
            vec![
                s("http.request.method", "GET"),
                s("url.path", &path),
                i("http.response.status_code", status),
                s("client.address", "203.0.113.9"),
                s("url.scheme", "https"),
                s("server.address", "api.example.com"),
                s("network.protocol.version", "1.1"),
            ]
        };
        attrs.push(s("user_agent.original", "okhttp/4.12"));
        if rng.below(2) == 0 || sc.distinct {
            attrs.push(s("http.route", &route));
        }
        let service = if sc.distinct {
            format!("load-shop-{}", e / 4000)
        } else {
            "load-shop".to_owned()
        };
        if groups.last().is_none_or(|(_, s)| *s != service) {
            groups.push((out.len(), service));
        }
        out.push(Span {
            trace_id: trace_id.clone(),
            span_id: server_id.clone(),
            name: format!("GET {route}"),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: t,
            end_time_unix_nano: t + 3_000_000,
            attributes: attrs,
            ..Default::default()
        });
        let child = |name: &str, kind: span::SpanKind, attrs: Vec<KeyValue>, rng: &mut Rng| Span {
            trace_id: trace_id.clone(),
            span_id: rng.next().to_le_bytes().to_vec(),
            parent_span_id: server_id.clone(),
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: t + 1000,
            end_time_unix_nano: t + 200_000,
            attributes: attrs,
            ..Default::default()
        };
        if rng.below(10) < 8 && out.len() < spans {
            out.push(child(
                "middleware - requireAuth",
                span::SpanKind::Internal,
                vec![
                    s("express.name", "requireAuth"),
                    s("express.type", "middleware"),
                ],
                rng,
            ));
        }
        if rng.below(10) < 6 && out.len() < spans {
            out.push(child(
                "SELECT app.records",
                span::SpanKind::Client,
                vec![
                    s("db.system", "postgresql"),
                    s("db.statement", "SELECT * FROM records WHERE id = $1"),
                ],
                rng,
            ));
        }
    }
    let mut resource_spans = Vec::new();
    for (start, service) in groups.iter().rev() {
        let spans: Vec<Span> = out.drain(*start..).collect();
        resource_spans.push(ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", service),
                    s("telemetry.sdk.language", "python"),
                    s("service.version", "1.4.2"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry.instrumentation.flask".into(),
                    version: "0.49b0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    resource_spans.reverse();
    ExportTraceServiceRequest { resource_spans }
}

/// A letters-only name unique to `e` (`bako-limu`): something normalize keeps as a literal
/// route segment, unlike `op12345` or a hex id, which it rightly treats as data.
fn word_pair(e: usize) -> String {
    const C: &[u8] = b"bdfgklmnprstvz";
    const V: &[u8] = b"aeiou";
    const WORDS: usize = (14 * 5) * (14 * 5);
    let word = |mut n: usize| {
        let mut w = String::with_capacity(4);
        for _ in 0..2 {
            let syl = n % 70;
            n /= 70;
            w.push(C[syl / 5] as char);
            w.push(V[syl % 5] as char);
        }
        w
    };
    let (w1, hi) = (e % WORDS, e / WORDS);
    assert!(hi < WORDS, "more endpoints than word pairs");
    format!("{}-{}", word(w1), word((hi + 7 * w1) % WORDS))
}

/// Sends already encoded request bytes as they are, as a collector forwarding batches does;
/// the generated client would re-encode a message per export, and on a 2-core machine that
/// client work competes with the server being measured.
#[derive(Clone, Copy, Default)]
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = PreEncoded;
    type Decoder = PreEncoded;
    fn encoder(&mut self) -> PreEncoded {
        PreEncoded
    }
    fn decoder(&mut self) -> PreEncoded {
        PreEncoded
    }
}

impl Encoder for PreEncoded {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PreEncoded {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, tonic::Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

struct Server {
    child: Child,
    grpc: String,
    admin: String,
    _dir: tempfile::TempDir,
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let ready = dir.path().join("ready.json");
    let child = Command::new(env!("CARGO_BIN_EXE_shadowscan"))
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--log",
            "warn",
        ])
        .arg("--db")
        .arg(dir.path().join("load.db"))
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .spawn()
        .expect("start shadowscan serve");
    let (grpc, admin) = wait_ready(&ready);
    Server {
        child,
        grpc,
        admin,
        _dir: dir,
    }
}

fn wait_ready(ready: &Path) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(ready) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                if let (Some(g), Some(a)) = (v["grpc"].as_str(), v["admin"].as_str()) {
                    return (g.to_owned(), a.to_owned());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("shadowscan serve did not write its ready file within 30 s");
}

/// `shadowscan_endpoints_known` from the admin `/metrics`: what the store ended up with.
fn endpoints_known(admin: &str) -> Option<u64> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(admin).ok()?;
    write!(
        conn,
        "GET /metrics HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    conn.read_to_string(&mut body).ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix("shadowscan_endpoints_known "))
        .and_then(|v| v.trim().parse().ok())
}

/// The process's peak resident set (VmHWM), read while it is still running: getrusage's
/// `ru_maxrss` for children is a maximum over every child so far, not this one.
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU seconds a running process has used so far (`/proc/<pid>/stat` utime + stime, the
/// kernel's same accounting as getrusage, in clock ticks of 10 ms).
fn proc_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// CPU seconds of children that have been waited for.
fn children_usage() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

struct Measured {
    spans: u64,
    requests: u64,
    /// Server CPU from just before the first measured export to just after the last ack.
    steady_cpu: f64,
    /// Server CPU of the whole process life: start-up, load and graceful shutdown.
    cpu: f64,
    wall: f64,
    peak_rss: u64,
    endpoints: Option<u64>,
    /// Mean size of the (uncompressed) requests sent.
    request_bytes: usize,
}

/// `request` with an unknown field (number 99, the send's index) appended, which decoders
/// skip: every send is a distinct export, so the server's duplicate-export window counts
/// each one instead of acknowledging the pool's repeats without work.
fn distinct(request: &Bytes, k: u64) -> Bytes {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = Vec::with_capacity(request.len() + 12);
    out.extend_from_slice(request);
    varint(&mut out, 99 << 3);
    varint(&mut out, k);
    Bytes::from(out)
}

fn run(sc: &Scenario, requests: usize, concurrency: usize) -> Measured {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Pre-encode a pool of distinct requests; cycling through it keeps client cost low.
    // Memory scenarios need enough distinct requests to visit every endpoint (about 430
    // server spans per 1000-span request).
    let pool_len = if sc.distinct {
        requests.min(64.max(sc.endpoints.div_ceil(300)))
    } else {
        requests.min(64)
    };
    let mut next_endpoint = 0;
    let requests_pool: Vec<ExportTraceServiceRequest> = (0..pool_len)
        .map(|k| request(&mut rng, sc, &mut next_endpoint, k as u64))
        .collect();
    let spans_per_req: Vec<u64> = requests_pool
        .iter()
        .map(|r| {
            r.resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len() as u64)
                .sum()
        })
        .collect();
    let pool: Vec<Bytes> = requests_pool
        .iter()
        .map(|r| Bytes::from(r.encode_to_vec()))
        .collect();
    drop(requests_pool);
    let request_bytes = pool.iter().map(Bytes::len).sum::<usize>() / pool.len();
    let mut server = start_server();
    let endpoint = format!("http://{}", server.grpc);
    let cpu_before = children_usage();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pid = server.child.id();
    let mut steady_start = 0.0;
    let mut started = Instant::now();
    let sent: u64 = rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(endpoint)
            .unwrap()
            .connect()
            .await
            .expect("connect");
        steady_start = proc_cpu(pid);
        started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..concurrency {
            let mut client =
                tonic::client::Grpc::new(channel.clone()).max_encoding_message_size(64 << 20);
            if sc.gzip {
                client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
            }
            let pool = pool.clone();
            let counts = spans_per_req.clone();
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u64;
                let mut k = w;
                while k < requests {
                    let idx = k % pool.len();
                    loop {
                        client.ready().await.expect("channel ready");
                        let path =
                            tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH);
                        let sent = client
                            .unary(
                                tonic::Request::new(distinct(&pool[idx], k as u64)),
                                path,
                                PreEncoded,
                            )
                            .await;
                        match sent {
                            Ok(_) => break,
                            Err(st) if st.code() == tonic::Code::Unavailable => {
                                tokio::time::sleep(Duration::from_millis(5)).await
                            }
                            Err(st) => panic!("export failed: {st}"),
                        }
                    }
                    sent += counts[idx];
                    k += concurrency;
                }
                sent
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    let wall = started.elapsed().as_secs_f64();
    let steady_cpu = proc_cpu(pid) - steady_start;
    let peak_rss = vm_hwm(server.child.id());
    let endpoints = endpoints_known(&server.admin);
    // SIGTERM: graceful shutdown with a final flush belongs to the measured cost.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let status = server.child.wait().expect("wait for server");
    assert!(status.success(), "server exited with {status}");
    let cpu_after = children_usage();
    Measured {
        spans: sent,
        requests: requests as u64,
        steady_cpu,
        cpu: cpu_after - cpu_before,
        wall,
        peak_rss,
        endpoints,
        request_bytes,
    }
}

fn main() {
    let requests: usize = std::env::var("LOAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let concurrency: usize = std::env::var("LOAD_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let only = std::env::var("LOAD_SCENARIOS").ok();
    // cargo bench passes `--bench`; nothing else to parse.
    println!("shadowscan gRPC load: {requests} requests per scenario, {concurrency} concurrent streams, server CPU from getrusage");
    println!("spans/CPU-s: server CPU while it takes the load (/proc/<pid>/stat); in brackets, over its whole life (getrusage: start-up and graceful shutdown included)");
    println!(
        "{:<34} {:>10} {:>22} {:>14} {:>12} {:>10} {:>10} {:>9}",
        "scenario",
        "spans",
        "spans/CPU-s",
        "CPU/request",
        "peak RSS",
        "wall s",
        "endpoints",
        "KiB/req"
    );
    let mut small_rss: Option<(u64, u64)> = None;
    let mut mid_rss: Option<(u64, u64)> = None;
    for sc in SCENARIOS {
        if let Some(only) = &only {
            if !only.split(';').any(|n| sc.name.contains(n.trim())) {
                continue;
            }
        }
        let m = run(sc, requests, concurrency);
        println!(
            "{:<34} {:>10} {:>9.0} [{:>9.0}] {:>11.3} ms {:>9.1} MiB {:>10.2} {:>10} {:>9.0}",
            sc.name,
            m.spans,
            m.spans as f64 / m.steady_cpu,
            m.spans as f64 / m.cpu,
            m.steady_cpu * 1000.0 / m.requests as f64,
            m.peak_rss as f64 / (1 << 20) as f64,
            m.wall,
            m.endpoints.map_or("?".to_owned(), |n| n.to_string()),
            m.request_bytes as f64 / 1024.0
        );
        // Endpoints as the server counts them, so traffic normalize folds together cannot
        // pass for distinct endpoints. Two figures: against the 100-endpoint run (includes
        // buffers bounded by configuration, such as the writer's pending buckets, which fill
        // up with the first few thousand endpoints), and the marginal cost between the two
        // large runs, which is what each further endpoint costs.
        let known = m.endpoints.unwrap_or(sc.endpoints as u64);
        if sc.distinct {
            for (label, base) in [
                ("100-endpoint run", &small_rss),
                ("10000-endpoint run", &mid_rss),
            ] {
                if let Some((base_rss, base_n)) = *base {
                    if known > base_n + 1000 {
                        let extra = known - base_n;
                        let per = m.peak_rss.saturating_sub(base_rss) as f64 / extra as f64;
                        println!("  memory per distinct endpoint vs the {label}: {per:.0} bytes (peak RSS difference / {extra} extra endpoints)");
                    }
                }
            }
            if sc.endpoints <= 1000 {
                small_rss = Some((m.peak_rss, known));
            } else if sc.endpoints <= 10_000 {
                mid_rss = Some((m.peak_rss, known));
            }
        }
    }
}
