//! Rendering the weekly report over an inventory of 100,000 endpoints (40 services, a
//! spec per service documenting 90% of them, 5% of the endpoints new and as many gone since
//! the previous week), in each format. Sizes are printed once; criterion reports the times.
//!
//! `cargo bench --bench report` (`SHADOWSCAN_REPORT_OUT=dir` also writes the three reports there)

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use shadowscan::diff::{self, DiffOptions, SpecBinding};
use shadowscan::model::{
    AuthEvidence, EndpointStats, Method, PathTemplate, StatusCounts, TemplateSource,
};
use shadowscan::report::{self, ReportInput, Window};
use shadowscan::spec::{Operation, PathParam, Security, Spec, SpecVersion};

const SERVICES: usize = 40;
const PER_SERVICE: usize = 2_500;
const SINCE: i64 = 1_794_787_200;
const WEEK: i64 = 7 * 86_400;

const RESOURCES: &[&str] = &[
    "users",
    "orders",
    "invoices",
    "payments",
    "products",
    "carts",
    "shipments",
    "refunds",
    "coupons",
    "reviews",
    "accounts",
    "sessions",
    "reports",
    "exports",
    "webhooks",
    "teams",
];
const ACTIONS: &[&str] = &[
    "items", "history", "status", "notes", "events", "admin", "summary", "export",
];
const METHODS: [Method; 4] = [Method::Get, Method::Post, Method::Put, Method::Delete];

/// The k-th endpoint of a service: a distinct, realistic-looking template.
fn template(k: usize) -> String {
    let res = RESOURCES[k % RESOURCES.len()];
    let action = ACTIONS[(k / RESOURCES.len()) % ACTIONS.len()];
    let version = k / (RESOURCES.len() * ACTIONS.len() * METHODS.len());
    format!("/v{}/{res}/{{id}}/{action}", version + 1)
}

fn endpoint(service: usize, k: usize, week_start: i64) -> EndpointStats {
    let requests = (2_000_000 / (k as u64 + 1)).max(1) + (service as u64 * 7) % 13;
    let status = StatusCounts {
        s2xx: requests - requests / 50,
        s4xx: requests / 50,
        s401: requests / 100,
        ..StatusCounts::default()
    };
    let without = if k % 50 == 7 { status.s2xx } else { 0 };
    EndpointStats {
        service: format!("svc-{service:02}"),
        method: METHODS[(k / RESOURCES.len() / ACTIONS.len()) % METHODS.len()],
        template: PathTemplate::parse(&template(k)),
        source: if k % 2 == 0 {
            TemplateSource::Route
        } else {
            TemplateSource::Inferred
        },
        requests,
        status,
        ok_with_auth: status.s2xx - without,
        ok_without_auth: without,
        evidence: AuthEvidence::MIDDLEWARE | AuthEvidence::REJECTED,
        first_seen: week_start + (k as i64 % 86_400),
        last_seen: week_start + WEEK - 1 - (k as i64 % 3_600),
        examples: vec![template(k).replace("{id}", "8812")],
        callers: (0..3)
            .map(|c| format!("10.{}.{}.{}", service, (k + c) % 250, c))
            .collect(),
        explanation: None,
        user_agents: vec![],
    }
}

fn input() -> ReportInput {
    let mut current = Vec::with_capacity(SERVICES * PER_SERVICE);
    let mut previous = Vec::with_capacity(SERVICES * PER_SERVICE);
    let mut specs = Vec::with_capacity(SERVICES);
    for s in 0..SERVICES {
        let mut ops = Vec::new();
        // 5% new this week, and as many gone since last week.
        for k in 0..PER_SERVICE + PER_SERVICE / 20 {
            if k < PER_SERVICE {
                current.push(endpoint(s, k, SINCE));
            }
            if k % 20 != 3 || k >= PER_SERVICE {
                previous.push(endpoint(s, k, SINCE - WEEK));
            }
            // 90% documented.
            if k % 10 != 5 {
                let e = endpoint(s, k, SINCE);
                ops.push(Operation {
                    method: e.method,
                    template: e.template.clone(),
                    operation_id: None,
                    security: Security::Required,
                    deprecated: k % 100 == 42,
                    path_params: vec![PathParam {
                        name: "id".into(),
                        may_contain_slashes: false,
                    }],
                    line: Some(10 + k * 12),
                    base_paths: None,
                });
            }
        }
        specs.push(SpecBinding {
            service: format!("svc-{s:02}"),
            spec: Spec {
                file: format!("specs/svc-{s:02}.yaml").into(),
                version: SpecVersion::OpenApi30,
                title: None,
                base_paths: vec![String::new()],
                operations: ops,
            },
        });
    }
    let diff = diff::diff(&current, &specs, &DiffOptions::default());
    ReportInput::new(
        SINCE + WEEK,
        Window {
            since: SINCE,
            until: SINCE + WEEK,
        },
        current,
        previous,
        Some(diff),
    )
}

/// CPU time of this thread, seconds: unlike wall time, not inflated when the machine is
/// shared.
fn thread_cpu() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn bench(c: &mut Criterion) {
    let input = input();
    let d = input.diff.as_ref().unwrap();
    eprintln!(
        "report over {} endpoints ({} findings):",
        input.current.len(),
        d.findings.len()
    );
    for (name, f) in [
        ("HTML", report::render_html as fn(&ReportInput) -> String),
        ("Markdown", report::render_markdown),
        ("JSON", report::render_json),
    ] {
        let (cpu, wall) = (thread_cpu(), std::time::Instant::now());
        let out = f(&input);
        // `SHADOWSCAN_REPORT_OUT=dir` keeps the rendered reports, to look at them.
        if let Some(dir) = std::env::var_os("SHADOWSCAN_REPORT_OUT") {
            let ext = match name {
                "HTML" => "html",
                "Markdown" => "md",
                _ => "json",
            };
            let path = std::path::Path::new(&dir).join(format!("report-100k.{ext}"));
            std::fs::write(&path, &out).expect("write report");
        }
        eprintln!(
            "  {name:8} {:7.2} MB  {:6.0} ms CPU  {:6.0} ms wall",
            out.len() as f64 / 1e6,
            (thread_cpu() - cpu) * 1e3,
            wall.elapsed().as_secs_f64() * 1e3
        );
    }
    let mut g = c.benchmark_group("report_100k_endpoints");
    g.sample_size(10);
    g.bench_function("html", |b| {
        b.iter(|| black_box(report::render_html(black_box(&input))))
    });
    g.bench_function("markdown", |b| {
        b.iter(|| black_box(report::render_markdown(black_box(&input))))
    });
    g.bench_function("json", |b| {
        b.iter(|| black_box(report::render_json(black_box(&input))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
