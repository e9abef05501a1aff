//! Decode throughput on a fixed corpus of realistic export requests (HTTP server spans in
//! both semantic conventions with auth-middleware, middleware and database children), at
//! 10, 100 and 1000 spans per request, as protobuf, gzip-compressed protobuf and OTLP/JSON:
//! the wire walker against the full prost decode it replaces. Criterion's element
//! throughput is spans per second.
//!
//! Before criterion runs, the same cases are timed in CPU time (getrusage, this thread),
//! which stays meaningful on a machine shared with other work, and printed as spans per
//! CPU-second.
//!
//! `cargo bench --bench decode -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;
use shadowscan::ingest::{corpus, decode, decode_with_prost, gunzip, Format};
use shadowscan::model::{AttrKeys, ResourceView, SpanKind, SpanView};

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

criterion_group!(benches, bench);

fn main() {
    // `cargo test --benches` runs this in test mode: skip the long CPU-time report there.
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        cpu_report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
