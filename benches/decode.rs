//! Decode throughput on a fixed corpus of realistic export requests (HTTP server spans in
//! both semantic conventions with auth-middleware, middleware and database children), at
//! 10, 100 and 1000 spans per request, as protobuf, gzip-compressed protobuf and OTLP/JSON:
//! the wire walker against the full prost decode it replaces. Criterion's element
//! throughput is spans per second.
//!
//! Before criterion runs, the same cases are timed in CPU time (getrusage, this thread),
//! which stays meaningful on a machine shared with other work, and printed as spans per
//! CPU-second. Then the gRPC receiver is measured end to end over loopback the same way:
//! the server runs on one thread of its own, whose CPU time (tonic, HTTP/2, gzip, decode)
//! is what is counted, against opentelemetry-proto's generated prost server doing the
//! same work.
//!
//! `cargo bench --bench decode -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use shadowscan::ingest::{
    corpus, decode, decode_with_prost, gunzip, run_grpc, Accepted, Format, Payload, ReceiverLimits,
    SinkError, TraceSink,
};
use shadowscan::model::{AttrKeys, ResourceView, SpanKind, SpanView};
use tonic::codec::CompressionEncoding;

const SIZES: [usize; 3] = [10, 100, 1000];
const MAX: usize = 64 << 20;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Stands in for `normalize`: looks at what it would look at, so nothing is optimised away.
#[derive(Default)]
struct Touch {
    server: u64,
    attrs: u64,
}

impl Touch {
    fn on(&mut self, r: &ResourceView<'_>, s: &SpanView<'_>) {
        self.server += u64::from(s.kind == SpanKind::Server);
        self.attrs += s.attrs.len() as u64 + r.service_name.as_ref().map_or(0, |n| n.len() as u64);
        black_box(&s.name);
    }
}

fn bench(c: &mut Criterion) {
    let keys = AttrKeys::default();
    for n in SIZES {
        let pb = corpus::protobuf(n, 42);
        let gz = gzip(&pb);
        let json = corpus::json(n, 42);
        eprintln!(
            "corpus {n} spans: protobuf {} B, gzip {} B, JSON {} B",
            pb.len(),
            gz.len(),
            json.len()
        );
        let mut g = c.benchmark_group(format!("decode/{n}"));
        g.throughput(Throughput::Elements(n as u64));

        g.bench_function(BenchmarkId::new("fast", "protobuf"), |b| {
            b.iter(|| {
                let mut t = Touch::default();
                decode(black_box(&pb), Format::Protobuf, &keys, |r, s| t.on(r, s)).unwrap();
                t.server + t.attrs
            })
        });
        g.bench_function(BenchmarkId::new("prost", "protobuf"), |b| {
            b.iter(|| {
                let mut t = Touch::default();
                decode_with_prost(black_box(&pb), &keys, |r, s| t.on(r, s)).unwrap();
                t.server + t.attrs
            })
        });
        g.bench_function(BenchmarkId::new("fast", "gzip-protobuf"), |b| {
            b.iter(|| {
                let mut t = Touch::default();
                let raw = gunzip(black_box(&gz), MAX).unwrap();
                decode(&raw, Format::Protobuf, &keys, |r, s| t.on(r, s)).unwrap();
                t.server + t.attrs
            })
        });
        g.bench_function(BenchmarkId::new("prost", "gzip-protobuf"), |b| {
            b.iter(|| {
                let mut t = Touch::default();
                let raw = gunzip(black_box(&gz), MAX).unwrap();
                decode_with_prost(&raw, &keys, |r, s| t.on(r, s)).unwrap();
                t.server + t.attrs
            })
        });
        g.bench_function(BenchmarkId::new("fast", "json"), |b| {
            b.iter(|| {
                let mut t = Touch::default();
                decode(black_box(&json), Format::Json, &keys, |r, s| t.on(r, s)).unwrap();
                t.server + t.attrs
            })
        });
        g.finish();
    }
}

/// CPU time used by this thread so far.
fn cpu_time() -> std::time::Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    #[cfg(target_os = "linux")]
    let who = libc::RUSAGE_THREAD;
    #[cfg(not(target_os = "linux"))]
    let who = libc::RUSAGE_SELF;
    // SAFETY: as above; `who` is a valid selector.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv =
        |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs `f` (which decodes `spans` spans) for about half a CPU-second; spans per CPU-second.
fn spans_per_cpu_second(spans: usize, mut f: impl FnMut() -> u64) -> f64 {
    for _ in 0..3 {
        black_box(f());
    }
    let start = cpu_time();
    let mut iterations = 0u64;
    while cpu_time() - start < std::time::Duration::from_millis(500) {
        for _ in 0..8 {
            black_box(f());
        }
        iterations += 8;
    }
    (iterations * spans as u64) as f64 / (cpu_time() - start).as_secs_f64()
}

fn cpu_report() {
    let keys = AttrKeys::default();
    println!("spans per CPU-second (getrusage):");
    println!(
        "{:>6} {:>14} {:>14} {:>8} {:>14} {:>14} {:>14}",
        "spans", "fast pb", "prost pb", "ratio", "fast gzip", "prost gzip", "fast json"
    );
    for n in SIZES {
        let pb = corpus::protobuf(n, 42);
        let gz = gzip(&pb);
        let json = corpus::json(n, 42);
        let run = |bytes: &[u8], format: Format, gunzipped: bool, oracle: bool| {
            spans_per_cpu_second(n, || {
                let mut t = Touch::default();
                let raw;
                let bytes = if gunzipped {
                    raw = gunzip(bytes, MAX).unwrap();
                    &raw[..]
                } else {
                    bytes
                };
                if oracle {
                    decode_with_prost(bytes, &keys, |r, s| t.on(r, s)).unwrap();
                } else {
                    decode(bytes, format, &keys, |r, s| t.on(r, s)).unwrap();
                }
                t.server + t.attrs
            })
        };
        let fast = run(&pb, Format::Protobuf, false, false);
        let prost = run(&pb, Format::Protobuf, false, true);
        let fast_gz = run(&gz, Format::Protobuf, true, false);
        let prost_gz = run(&gz, Format::Protobuf, true, true);
        let js = run(&json, Format::Json, false, false);
        let m = |x: f64| format!("{:.2} M", x / 1e6);
        println!(
            "{n:>6} {:>14} {:>14} {:>7.1}x {:>14} {:>14} {:>14}",
            m(fast),
            m(prost),
            fast / prost,
            m(fast_gz),
            m(prost_gz),
            m(js)
        );
    }
}

/// Decodes with the fast path and counts, as a pipeline sink would before normalising.
#[derive(Clone)]
struct CountingSink(std::sync::Arc<AttrKeys>);

impl TraceSink for CountingSink {
    async fn export(&self, payload: Payload) -> Result<Accepted, SinkError> {
        let mut t = Touch::default();
        decode(&payload.bytes, payload.format, &self.0, |r, s| t.on(r, s))?;
        black_box(t.server + t.attrs);
        Ok(Accepted::default())
    }
}

/// The generated server: prost has decoded the whole request before this runs; it then
/// reads the same attributes the sink would.
struct GeneratedServer(AttrKeys);

#[tonic::async_trait]
impl TraceService for GeneratedServer {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let req = request.into_inner();
        let mut kept = 0u64;
        for rs in &req.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    kept += span
                        .attributes
                        .iter()
                        .filter(|kv| self.0.lookup(kv.key.as_bytes()).is_some())
                        .count() as u64;
                    black_box(&span.name);
                }
            }
        }
        black_box(kept);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Serves on a thread of its own and returns the spans per CPU-second of that thread while
/// a client on other threads sends `req` (`spans` spans) for about two seconds.
fn receiver_spans_per_cpu_second(
    req: &ExportTraceServiceRequest,
    spans: usize,
    gzip: bool,
    generated: bool,
) -> f64 {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let (start_tx, start_rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
            let shutdown = async move {
                let _ = shutdown_rx.await;
            };
            let serving = if generated {
                let svc = TraceServiceServer::new(GeneratedServer(AttrKeys::default()))
                    .accept_compressed(CompressionEncoding::Gzip)
                    .max_decoding_message_size(MAX);
                tokio::spawn(async move {
                    tonic::transport::Server::builder()
                        .add_service(svc)
                        .serve_with_incoming_shutdown(
                            tonic::transport::server::TcpIncoming::from(listener),
                            shutdown,
                        )
                        .await
                        .unwrap()
                })
            } else {
                let sink = CountingSink(std::sync::Arc::new(AttrKeys::default()));
                let limits = ReceiverLimits::with_max_message_bytes(MAX);
                tokio::spawn(
                    async move { run_grpc(listener, sink, limits, shutdown).await.unwrap() },
                )
            };
            let _ = start_rx.await;
            let t0 = cpu_time();
            let _ = stop_rx.await;
            let used = cpu_time() - t0;
            let _ = shutdown_tx.send(());
            let _ = serving.await;
            used
        })
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sent = rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap()
            .max_encoding_message_size(MAX);
        if gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        for _ in 0..20 {
            client.export(req.clone()).await.unwrap();
        }
        start_tx.send(()).unwrap();
        let begin = std::time::Instant::now();
        let mut sent = 0u64;
        while begin.elapsed() < std::time::Duration::from_secs(2) {
            client.export(req.clone()).await.unwrap();
            sent += 1;
        }
        stop_tx.send(()).unwrap();
        sent
    });
    let cpu = server.join().unwrap();
    (sent * spans as u64) as f64 / cpu.as_secs_f64()
}

fn receiver_report() {
    println!("gRPC receiver over loopback, server spans per server CPU-second:");
    println!(
        "{:>6} {:>6} {:>18} {:>18} {:>8}",
        "spans", "gzip", "raw codec + walker", "generated (prost)", "ratio"
    );
    for n in [100, 1000] {
        let req = ExportTraceServiceRequest::decode(&corpus::protobuf(n, 42)[..]).unwrap();
        for gzip in [false, true] {
            let fast = receiver_spans_per_cpu_second(&req, n, gzip, false);
            let prost = receiver_spans_per_cpu_second(&req, n, gzip, true);
            println!(
                "{n:>6} {:>6} {:>16.2} M {:>16.2} M {:>7.1}x",
                if gzip { "yes" } else { "no" },
                fast / 1e6,
                prost / 1e6,
                fast / prost
            );
        }
    }
}

criterion_group!(benches, bench);

fn main() {
    // `cargo test --benches` runs this in test mode: skip the long CPU-time report there.
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        cpu_report();
        receiver_report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
