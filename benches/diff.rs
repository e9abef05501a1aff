//! `diff` at GitHub scale: a synthetic spec shaped like GitHub's REST description (~1,000
//! operations under `/repos/{owner}/{repo}`, `/orgs/{org}`, `/users/{username}`, with
//! slash-bearing `contents/{path}`, mixed segments and a base path) against 100,000 observed
//! endpoints: documented paths with concrete values, undocumented methods and sub-resources,
//! and undocumented word-valued paths that need grouping.
//!
//! `cargo bench --bench diff` prints one cold run's wall time and the process's peak RSS
//! (getrusage) before criterion's statistics. No timed asserts.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, Criterion};
use shadowscan::diff::{diff, DiffOptions, SpecBinding};
use shadowscan::model::{
    AuthEvidence, EndpointStats, Method, PathTemplate, Segment, StatusCounts, TemplateSource,
};
use shadowscan::spec::{Operation, Security, Spec, SpecVersion};

const RESOURCES: &[&str] = &[
    "issues",
    "pulls",
    "commits",
    "branches",
    "releases",
    "hooks",
    "keys",
    "labels",
    "milestones",
    "deployments",
    "environments",
    "actions",
    "checks",
    "collaborators",
    "comments",
    "forks",
    "invitations",
    "pages",
    "projects",
    "secrets",
    "statuses",
    "tags",
    "teams",
    "topics",
    "traffic",
    "variables",
    "workflows",
    "artifacts",
    "caches",
    "runners",
    "alerts",
    "advisories",
    "rulesets",
];
const SUBS: &[&str] = &[
    "comments",
    "reactions",
    "events",
    "timeline",
    "assignees",
    "reviews",
    "files",
    "logs",
    "jobs",
    "attempts",
];

/// A small deterministic generator (xorshift): benches must not vary between runs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn operation(method: Method, t: &str, deprecated: bool) -> Operation {
    let mut op = Operation {
        security: Security::Required,
        deprecated,
        line: Some(1),
        ..Operation::new(method, PathTemplate::parse(t))
    };
    for p in &mut op.path_params {
        p.may_contain_slashes = p.name == "path";
    }
    op
}

fn github_like_spec() -> Spec {
    let mut ops = Vec::new();
    for prefix in [
        "/repos/{owner}/{repo}",
        "/orgs/{org}",
        "/users/{username}",
        "/enterprises/{enterprise}",
    ] {
        for (ri, r) in RESOURCES.iter().enumerate() {
            let coll = format!("{prefix}/{r}");
            let item = format!("{coll}/{{{}_id}}", r.trim_end_matches('s'));
            ops.push(operation(Method::Get, &coll, false));
            ops.push(operation(Method::Post, &coll, false));
            ops.push(operation(Method::Get, &item, ri % 11 == 0));
            ops.push(operation(Method::Patch, &item, false));
            ops.push(operation(Method::Delete, &item, false));
            for s in SUBS.iter().take(1 + ri % 3) {
                ops.push(operation(Method::Get, &format!("{item}/{s}"), false));
            }
        }
    }
    ops.push(operation(
        Method::Get,
        "/repos/{owner}/{repo}/contents/{path}",
        false,
    ));
    ops.push(operation(
        Method::Get,
        "/repos/{owner}/{repo}/git/ref/{ref}",
        false,
    ));
    ops.push(operation(
        Method::Get,
        "/repos/{owner}/{repo}/compare/{basehead}",
        false,
    ));
    ops.push(operation(
        Method::Get,
        "/repos/{owner}/{repo}/tarball/{name}.{ext}",
        false,
    ));
    ops.push(operation(
        Method::Post,
        "/repos/{owner}/{repo}/actions/runs/{run_id}:rerun",
        false,
    ));
    ops.push(operation(Method::Get, "/rate_limit", false));
    ops.push(operation(Method::Get, "/meta", false));
    Spec {
        file: "api.github.com.json".into(),
        version: SpecVersion::OpenApi30,
        title: Some("GitHub-like".into()),
        base_paths: vec!["/api/v3".into(), String::new()],
        operations: ops,
    }
}

const WORDS: &[&str] = &[
    "octocat",
    "hello-world",
    "linux",
    "rust-lang",
    "atlas",
    "nimbus",
    "zephyr",
    "orion",
    "quartz",
    "falcon",
];

fn endpoints(spec: &Spec, n: usize) -> Vec<EndpointStats> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(n);
    let status = StatusCounts {
        s2xx: 40,
        ..StatusCounts::default()
    };
    while out.len() < n {
        let op = &spec.operations[rng.below(spec.operations.len())];
        let roll = rng.below(100);
        let mut path = String::new();
        if rng.below(2) == 0 {
            path.push_str("/api/v3");
        }
        if roll >= 90 {
            path.push_str("/internal");
        }
        for seg in op.template.segments() {
            path.push('/');
            match seg {
                Segment::Literal(l) => path.push_str(l),
                Segment::Param("path") => path.push_str("docs/guide/intro.md"),
                Segment::Param(name) if name.ends_with("_id") => {
                    path.push_str(&rng.below(5_000_000).to_string())
                }
                Segment::Param(_) => {
                    path.push_str(WORDS[rng.below(WORDS.len())]);
                    path.push_str(&rng.below(50).to_string());
                }
                Segment::Mixed(_) => path.push_str("v1.2.tar.gz"),
            }
        }
        let method = if (80..85).contains(&roll) {
            Method::Put
        } else {
            op.method
        };
        if (85..90).contains(&roll) {
            path.push_str(["/export", "/bulk", "/_debug", "/raw"][rng.below(4)]);
        }
        out.push(EndpointStats {
            service: "github".into(),
            method,
            template: PathTemplate::parse(&path),
            source: TemplateSource::Inferred,
            requests: 40,
            status,
            ok_with_auth: 40,
            ok_without_auth: 0,
            evidence: AuthEvidence::CREDENTIAL,
            first_seen: 1_763_000_000,
            last_seen: 1_763_086_400,
            examples: Vec::new(),
            callers: Vec::new(),
            user_agents: vec![],
            explanation: None,
        });
    }
    out
}

/// `VmHWM`/`VmRSS` from /proc (KiB); `reset` first clears the high-water mark so that it
/// measures what follows (Linux). Falls back to getrusage's lifetime peak elsewhere.
fn rss_kib(field: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| {
            let mut u: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: getrusage writes into the struct we own.
            unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
            u.ru_maxrss
        })
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn bench(c: &mut Criterion) {
    let spec = github_like_spec();
    let eps = endpoints(&spec, 100_000);
    let specs = vec![SpecBinding {
        service: "github".into(),
        spec,
    }];
    let opts = DiffOptions::default();
    let mut g = c.benchmark_group("diff");
    g.sample_size(10);
    g.bench_function("github_like_1k_ops_100k_endpoints", |b| {
        b.iter(|| black_box(diff(black_box(&eps), &specs, &opts)))
    });
    g.finish();
}

criterion_group!(benches, bench);

/// The real thing, when `scripts/fetch-large-specs.sh` has fetched it: GitHub's 13 MB REST
/// description loaded and diffed against 100,000 endpoints drawn from its own operations.
fn real_github() {
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/large/api.github.com.json");
    if !file.exists() {
        println!("diff (real GitHub spec): skipped, run scripts/fetch-large-specs.sh first");
        return;
    }
    let t = Instant::now();
    let spec = shadowscan::spec::load(&file).expect("GitHub's spec loads");
    let load = t.elapsed();
    let ops = spec.operations.len();
    let eps = endpoints(&spec, 100_000);
    let specs = vec![SpecBinding {
        service: "github".into(),
        spec,
    }];
    let inputs = rss_kib("VmRSS:");
    reset_peak();
    let t = Instant::now();
    let report = diff(&eps, &specs, &DiffOptions::default());
    let elapsed = t.elapsed();
    let peak = rss_kib("VmHWM:");
    println!(
        "diff (real GitHub spec, 13 MB): load {:.0} ms; {ops} operations x {} endpoints -> {} findings in {:.1} ms (cold, one run); \
         peak during diff +{:.1} MiB",
        load.as_secs_f64() * 1e3,
        eps.len(),
        report.findings.len(),
        elapsed.as_secs_f64() * 1e3,
        (peak - inputs) as f64 / 1024.0,
    );
}

fn main() {
    let spec = github_like_spec();
    let ops = spec.operations.len();
    let eps = endpoints(&spec, 100_000);
    let specs = vec![SpecBinding {
        service: "github".into(),
        spec,
    }];
    let inputs = rss_kib("VmRSS:");
    reset_peak();
    let t = Instant::now();
    let report = diff(&eps, &specs, &DiffOptions::default());
    let elapsed = t.elapsed();
    let peak = rss_kib("VmHWM:");
    println!(
        "diff: {ops} operations x {} endpoints -> {} findings ({} shadow, {} unobserved) in {:.1} ms (cold, one run); \
         RSS with inputs loaded {:.1} MiB, peak during diff {:.1} MiB (+{:.1} MiB)",
        eps.len(),
        report.findings.len(),
        report.summary.shadow,
        report.summary.unobserved,
        elapsed.as_secs_f64() * 1e3,
        inputs as f64 / 1024.0,
        peak as f64 / 1024.0,
        (peak - inputs) as f64 / 1024.0,
    );
    drop((report, eps, specs));
    real_github();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
