//! Aggregation and storage throughput: folding normalised batches into deltas, merging them
//! in the writer, committing them to SQLite; plus the writer's memory per distinct endpoint.
//!
//! `cargo bench --bench inventory` (figures in the report / README).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput};
use shadowscan::inventory::{BatchDelta, Inventory, InventoryConfig};
use shadowscan::model::{
    AuthEvidence, Method, NormalizedBatch, Observation, PathTemplate, SpanRef, TemplateSource,
};
use shadowscan::store::Store;

/// Counts live heap bytes, to measure memory per endpoint.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SERVICES: [&str; 4] = ["checkout", "orders", "users", "catalog"];
const ROUTES: [&str; 10] = [
    "/api/v1/orders/{id}",
    "/api/v1/orders/{id}/items",
    "/api/v1/users/{userId}",
    "/api/v1/users/{userId}/addresses/{addressId}",
    "/api/v1/catalog/products/{sku}",
    "/api/v1/catalog/search",
    "/health",
    "/api/v1/cart",
    "/api/v1/payments/{paymentId}/capture",
    "/api/v2/orders/{id}/cancel",
];

/// `n` server spans over `endpoints` distinct endpoints, like one busy export request.
fn batch(n: usize, endpoints: usize, seed: u64) -> NormalizedBatch {
    let services: Vec<Arc<str>> = SERVICES.iter().map(|s| Arc::from(*s)).collect();
    let t0 = 1_763_900_000_000_000_000u64;
    let observations = (0..n)
        .map(|i| {
            let e = (i * 7919 + seed as usize) % endpoints;
            let route = ROUTES[e % ROUTES.len()];
            let template = if e < ROUTES.len() {
                route.to_string()
            } else {
                format!("/tenant{}{}", e / ROUTES.len(), route)
            };
            let status = [200u16, 200, 201, 204, 401, 404, 500, 200][i % 8];
            let x = i as u64 ^ seed.rotate_left(17);
            Observation {
                span: SpanRef {
                    trace_id: [(x & 0xff) as u8; 16],
                    span_id: x.to_le_bytes(),
                },
                parent_span_id: if i % 3 == 0 {
                    (x + 1).to_le_bytes()
                } else {
                    [0; 8]
                },
                service: services[e % services.len()].clone(),
                method: [Method::Get, Method::Post, Method::Delete][e % 3],
                template: PathTemplate::parse(&template),
                source: TemplateSource::Route,
                status: Some(status),
                evidence: if i % 2 == 0 {
                    AuthEvidence::CREDENTIAL
                } else {
                    AuthEvidence::NONE
                },
                time_unix_nano: t0 + i as u64 * 1_000_000,
                path: template.replace(['{', '}'], ""),
                client: Some(format!("10.0.{}.{}", i % 4, i % 50)),
                explanation: None,
            }
        })
        .collect();
    NormalizedBatch {
        observations,
        spans: (n * 3) as u64,
        ..Default::default()
    }
}

fn memory_per_endpoint() {
    for n in [10_000usize, 100_000] {
        let templates: Vec<(String, PathTemplate)> = (0..n)
            .map(|i| {
                (
                    SERVICES[i % 4].to_string(),
                    PathTemplate::parse(&format!("/api/v1/tenant{}{}", i / 10, ROUTES[i % 10])),
                )
            })
            .collect();
        let before = LIVE.load(Ordering::Relaxed);
        let mut inv = Inventory::new(InventoryConfig::default());
        for (s, t) in &templates {
            inv.seed(s, Method::Get, t.clone());
        }
        let after = LIVE.load(Ordering::Relaxed);
        let avg_template: usize = templates
            .iter()
            .map(|(_, t)| t.as_str().len())
            .sum::<usize>()
            / n;
        eprintln!(
            "writer memory: {n} endpoints -> {} bytes/endpoint (avg template {avg_template} chars)",
            (after - before) / n as isize
        );
        black_box(&inv);
    }
}

fn bench(c: &mut Criterion) {
    let cfg = InventoryConfig::default();
    let mut g = c.benchmark_group("delta");
    for (n, eps) in [(1000usize, 50usize), (1000, 1000)] {
        let b = batch(n, eps, 1);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("from_batch/{n}spans/{eps}endpoints"), |bch| {
            bch.iter_batched(
                || b.clone(),
                |b| black_box(BatchDelta::from_batch(b, 1_763_900_000, &cfg)),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("writer");
    let deltas: Vec<BatchDelta> = (0..20)
        .map(|s| BatchDelta::from_batch(batch(1000, 500, s), 1_763_900_000, &cfg))
        .collect();
    g.throughput(Throughput::Elements(20_000));
    g.bench_function("absorb+take/20x1000spans/500endpoints", |bch| {
        let mut inv = Inventory::new(cfg.clone());
        bch.iter_batched(
            || deltas.clone(),
            |ds| {
                let now = Instant::now();
                for d in ds {
                    inv.absorb(d, now);
                }
                black_box(inv.take_delta())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("store");
    for eps in [100usize, 2000] {
        let mut inv = Inventory::new(cfg.clone());
        inv.absorb(
            BatchDelta::from_batch(batch(eps * 2, eps, 3), 1_763_900_000, &cfg),
            Instant::now(),
        );
        let delta = inv.take_delta();
        let rows = delta.endpoints.len() as u64;
        g.throughput(Throughput::Elements(rows));
        let mut mem = Store::open_in_memory().unwrap();
        g.bench_function(format!("apply/memory/{rows}endpoints"), |bch| {
            bch.iter(|| mem.apply(&delta).unwrap())
        });
        let dir = tempfile::tempdir().unwrap();
        let mut file = Store::open(dir.path().join("bench.db")).unwrap();
        g.bench_function(format!("apply/file-wal/{rows}endpoints"), |bch| {
            bch.iter(|| file.apply(&delta).unwrap())
        });
    }
    g.finish();
}

fn main() {
    memory_per_endpoint();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
