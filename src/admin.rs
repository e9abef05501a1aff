//! The admin endpoint of `serve`: an index at `/`, `/healthz`, Prometheus `/metrics`, the
//! inventory as JSON at `/api/v1/inventory`, and the weekly report at `/report`. It reads
//! the store through its own connection (SQLite in WAL mode lets readers run beside the
//! single writer), so a slow reader never stalls ingestion.
//!
//! [`guard`] puts the endpoint behind a `Host` check (so a web page cannot read the
//! inventory through DNS rebinding) and, optionally, bearer tokens; `/healthz` stays open
//! for probes.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Query as QueryParams, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::pipeline::Metrics;
use crate::report::ReportFormat;
use crate::spec::Spec;
use crate::store::{Query, Store, StoreError};

#[derive(Clone)]
pub struct AdminState {
    pub metrics: Metrics,
    /// A read connection, opened lazily so a fresh database is created by the writer first.
    reader: Arc<Mutex<Option<Store>>>,
    db: PathBuf,
    /// The config's spec mapping, loaded once at start, for the report's findings.
    specs: Arc<Vec<(Option<String>, Spec)>>,
    rules: Arc<crate::normalize::Rules>,
}

impl AdminState {
    pub fn new(
        metrics: Metrics,
        db: PathBuf,
        specs: Vec<(Option<String>, Spec)>,
        rules: crate::normalize::Rules,
    ) -> AdminState {
        AdminState {
            metrics,
            reader: Arc::new(Mutex::new(None)),
            db,
            specs: Arc::new(specs),
            rules: Arc::new(rules),
        }
    }

    /// Runs `f` on the read connection in a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = self.reader.clone();
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            // A poisoned lock only means an earlier reader panicked; the connection is fine.
            let mut guard = reader.lock().unwrap_or_else(|p| p.into_inner());
            if guard.is_none() {
                *guard = Some(Store::open(&db)?);
            }
            f(guard.as_ref().expect("opened above"))
        })
        .await
        .unwrap_or_else(|e| panic!("admin reader task failed: {e}"))
    }
}

/// Who may use the admin endpoint.
#[derive(Clone, Default)]
pub struct AdminGuard {
    /// When set, every path but `/healthz` needs `authorization: Bearer <token>`.
    pub tokens: Option<Arc<crate::net::Tokens>>,
    /// Host names answered besides `localhost` and IP addresses (compared without port,
    /// case-insensitively).
    pub allowed_hosts: Vec<String>,
}

/// `router` behind `guard`'s checks.
pub fn guard(router: Router, guard: AdminGuard) -> Router {
    let guard = AdminGuard {
        allowed_hosts: guard
            .allowed_hosts
            .iter()
            .map(|h| host_name(h).to_ascii_lowercase())
            .collect(),
        ..guard
    };
    router.layer(axum::middleware::from_fn_with_state(
        Arc::new(guard),
        check_access,
    ))
}

async fn check_access(
    State(guard): State<Arc<AdminGuard>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    // HTTP/1.1 sends `Host`, HTTP/2 the URI's authority.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if !host.is_some_and(|h| guard.allows_host(h)) {
        // The Host is not echoed: it is whatever the client chose.
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this admin endpoint does not answer to that Host name: use localhost or an IP address, or add the name to [serve.admin] allowed_hosts\n",
        )
            .into_response();
    }
    if let Some(tokens) = &guard.tokens {
        if !tokens.allows(req.headers()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"shadowscan-admin\"")],
                "missing or unknown bearer token: send `authorization: Bearer <token>` (shadowscan reads SHADOWSCAN_ADMIN_TOKEN)\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

impl AdminGuard {
    /// Names a DNS-rebinding page cannot use: IP addresses (rebinding needs a name),
    /// `localhost`, and the configured names.
    fn allows_host(&self, host: &str) -> bool {
        let name = host_name(host);
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || self
                .allowed_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
    }
}

/// `host[:port]` or `[v6][:port]` without the port.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => host,
    }
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/inventory", get(inventory))
        .route("/report", get(report))
        .with_state(state)
}

/// What is here, for whoever opens the admin address in a browser or with curl.
async fn index() -> Response {
    const PAGE: &str = concat!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>shadowscan admin</title></head>\n<body>\n",
        "<h1>shadowscan ",
        env!("CARGO_PKG_VERSION"),
        "</h1>\n<ul>\n",
        "<li><a href=\"/healthz\">/healthz</a>: liveness, answers <code>ok</code></li>\n",
        "<li><a href=\"/metrics\">/metrics</a>: Prometheus metrics of the receivers and the store</li>\n",
        "<li><a href=\"/api/v1/inventory\">/api/v1/inventory</a>: the endpoint inventory as JSON (<code>?service=S&amp;since=7d&amp;raw=true</code>)</li>\n",
        "<li><a href=\"/report\">/report</a>: the weekly inventory report (<code>?service=S&amp;since=7d&amp;format=markdown|json</code>)</li>\n",
        "</ul>\n</body></html>\n"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let m = state.metrics.snapshot();
    let mut out = String::with_capacity(2048);
    let counters: [(&str, &str, u64); 11] = [
        (
            "shadowscan_spans_received_total",
            "Spans in export requests that decoded.",
            m.spans_received,
        ),
        (
            "shadowscan_spans_accepted_total",
            "Spans stored and acknowledged to exporters.",
            m.spans_accepted,
        ),
        (
            "shadowscan_spans_rejected_total",
            "Spans refused: invalid, shed while busy, or lost to a failed commit.",
            m.spans_rejected,
        ),
        (
            "shadowscan_exports_shed_total",
            "Export requests answered UNAVAILABLE because the writer queue was full.",
            m.batches_shed,
        ),
        ("shadowscan_commits_total", "Store commits.", m.commits),
        (
            "shadowscan_commit_failures_total",
            "Store commits that failed.",
            m.commit_failures,
        ),
        (
            "shadowscan_unmatched_requests_total",
            "Requests that matched no route (scanner noise: 404s, and redirects or refusals answered before routing), not inventoried.",
            m.unmatched,
        ),
        (
            "shadowscan_overflow_requests_total",
            "Requests beyond the per-service endpoint cap.",
            m.overflow,
        ),
        (
            "shadowscan_evidence_joined_total",
            "Auth evidence joined to a server span from another export.",
            m.evidence_joined,
        ),
        (
            "shadowscan_edges_joined_total",
            "Caller-service edges joined across spans.",
            m.edges_joined,
        ),
        (
            "shadowscan_exports_duplicate_total",
            "Exports acknowledged without being counted again: byte-identical to one stored within the window (an exporter's retry).",
            m.exports_duplicate,
        ),
    ];
    let _ = writeln!(
        out,
        "# HELP shadowscan_exports_refused_total Export requests refused outright, by reason: malformed (400, INVALID_ARGUMENT), too_large (413, RESOURCE_EXHAUSTED), unsupported (415, UNIMPLEMENTED), unauthenticated (401, UNAUTHENTICATED), overloaded (503, UNAVAILABLE: request bodies hold the whole max_buffered_bytes), timeout (408, DEADLINE_EXCEEDED: the body did not arrive within body_timeout_secs).\n# TYPE shadowscan_exports_refused_total counter"
    );
    for (why, n) in crate::ingest::Refusal::ALL.iter().zip(m.exports_refused) {
        let _ = writeln!(
            out,
            "shadowscan_exports_refused_total{{reason=\"{}\"}} {n}",
            why.as_str()
        );
    }
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP shadowscan_endpoints_known Distinct endpoints in the inventory.\n# TYPE shadowscan_endpoints_known gauge\nshadowscan_endpoints_known {}",
        m.endpoints_known
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct InventoryParams {
    service: Option<String>,
    /// A duration such as `7d`.
    since: Option<String>,
    /// `true`: the rows as stored, neither folded nor mapped onto the specs' templates
    /// (`inventory --raw`; what `diff --server` reads).
    #[serde(default)]
    raw: bool,
}

async fn inventory(
    State(state): State<AdminState>,
    QueryParams(params): QueryParams<InventoryParams>,
) -> Response {
    let since = match params.since.as_deref().map(crate::cli::parse_duration) {
        None => None,
        Some(Ok(d)) => Some(crate::commands::unix_now() - d.as_secs() as i64),
        Some(Err(e)) => return (StatusCode::BAD_REQUEST, format!("since: {e}\n")).into_response(),
    };
    let q = Query {
        service: params.service,
        since,
        until: None,
    };
    // The same view as `shadowscan inventory`: under the config's specs' templates when it
    // maps any, learned parameters folded, templates explained.
    let rules = state.rules.clone();
    let specs = state.specs.clone();
    let raw = params.raw;
    let read = state.read(move |s| {
        let endpoints = s.endpoints(&q)?;
        let overflow = s.overflow(&q)?;
        let endpoints = if raw {
            Ok(endpoints)
        } else {
            crate::commands::inventory::view(endpoints, &specs, q.service.as_deref(), &rules)
                .map(|v| v.endpoints)
        };
        Ok((endpoints, overflow))
    });
    match read.await {
        Ok((Ok(endpoints), overflow)) => (
            [(header::CONTENT_TYPE, "application/json")],
            crate::output::inventory::render_json(&endpoints, &overflow),
        )
            .into_response(),
        Ok((Err(e), _)) => (StatusCode::BAD_REQUEST, format!("{e:#}\n")).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "inventory read failed");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
struct ReportParams {
    service: Option<String>,
    /// The period, e.g. `7d` (the default).
    since: Option<String>,
    /// `html` (default), `markdown` or `json`.
    format: Option<String>,
}

/// The weekly report, live: the same page `shadowscan report` writes.
async fn report(
    State(state): State<AdminState>,
    QueryParams(params): QueryParams<ReportParams>,
) -> Response {
    let period = match params.since.as_deref().map(crate::cli::parse_duration) {
        None => std::time::Duration::from_secs(7 * 86_400),
        Some(Ok(d)) => d,
        Some(Err(e)) => return (StatusCode::BAD_REQUEST, format!("since: {e}\n")).into_response(),
    };
    let format = match params.format.as_deref().unwrap_or("html") {
        "html" => ReportFormat::Html,
        "markdown" | "md" => ReportFormat::Markdown,
        "json" => ReportFormat::Json,
        other => {
            return (
                StatusCode::BAD_REQUEST,
                format!("format: `{other}` is not html, markdown or json\n"),
            )
                .into_response()
        }
    };
    let specs = state.specs.clone();
    let rules = state.rules.clone();
    let rendered = state
        .read(move |store| {
            Ok(crate::commands::report::build(
                store,
                &specs,
                params.service.as_deref(),
                &rules,
                period,
                crate::commands::unix_now(),
                format,
            )
            .map(|(page, _notice)| page))
        })
        .await;
    let content_type = match format {
        ReportFormat::Html => "text/html; charset=utf-8",
        ReportFormat::Markdown => "text/markdown; charset=utf-8",
        ReportFormat::Json => "application/json",
    };
    match rendered {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e:#}\n")).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_a_rebinding_page_cannot_use_are_allowed() {
        let g = AdminGuard {
            tokens: None,
            allowed_hosts: vec!["shadowscan.internal".into()],
        };
        for ok in [
            "127.0.0.1:9464",
            "localhost:9464",
            "LOCALHOST",
            "[::1]:9464",
            "[::1]",
            "10.1.2.3",
            "shadowscan.internal:9464",
            "Shadowscan.Internal",
        ] {
            assert!(g.allows_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:9464",
            "localhost.evil.example",
            "127.0.0.1.nip.io:9464",
            "",
            "shadowscan.internal.evil.example",
        ] {
            assert!(!g.allows_host(bad), "{bad}");
        }
    }
}
