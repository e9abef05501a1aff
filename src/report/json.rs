//! The JSON rendering: the complete analysis, never truncated, in the versioned schema
//! documented in `docs/report-json-schema.md`. Field names here are that contract.

use serde::Serialize;

use super::analysis::{Analysis, Row};
use super::text::rfc3339;
use crate::diff::{AuthLevel, FindingKind, Severity};
use crate::model::{Method, StatusCounts, TemplateSource};

/// Bumped on any incompatible change to the JSON form; additions keep the version.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Doc<'a> {
    schema: &'static str,
    schema_version: u32,
    generated_at: i64,
    generated_at_rfc3339: String,
    window: Win,
    previous_window: Win,
    compared_with_specs: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    notice: Option<&'a str>,
    summary: Summary,
    risks: Vec<RiskEntry<'a>>,
    top_callers: Vec<CallerEntry<'a>>,
    drift: Drift<'a>,
    services: Vec<Service<'a>>,
    unobserved: Vec<Unobserved<'a>>,
}

#[derive(Serialize)]
struct Win {
    since: i64,
    until: i64,
}

#[derive(Serialize)]
struct Summary {
    services: usize,
    endpoints: usize,
    requests: u64,
    shadow: Option<usize>,
    unauthenticated: Option<usize>,
    zombie: Option<usize>,
    unobserved: Option<usize>,
    new: usize,
    disappeared: usize,
    risky: usize,
}

#[derive(Serialize)]
struct ReasonEntry {
    code: &'static str,
    weight: u32,
    text: String,
}

#[derive(Serialize)]
struct RiskEntry<'a> {
    rank: usize,
    score: u32,
    service: &'a str,
    method: Method,
    path: &'a str,
    findings: Vec<FindingKind>,
    severity: Option<Severity>,
    auth: AuthLevel,
    requests: u64,
    reasons: Vec<ReasonEntry>,
}

#[derive(Serialize)]
struct EndpointRef<'a> {
    service: &'a str,
    method: Method,
    path: &'a str,
}

#[derive(Serialize)]
struct CallerEntry<'a> {
    caller: &'a str,
    kind: &'static str,
    risky_endpoints: usize,
    requests_to_them: u64,
    score: u64,
    endpoints: Vec<EndpointRef<'a>>,
}

#[derive(Serialize)]
struct DriftEntry<'a> {
    service: &'a str,
    method: Method,
    path: &'a str,
    requests: u64,
    first_seen: i64,
    last_seen: i64,
}

#[derive(Serialize)]
struct Drift<'a> {
    new: Vec<DriftEntry<'a>>,
    disappeared: Vec<DriftEntry<'a>>,
    /// Unified diff of sorted `METHOD template` lines per service that changed.
    diffs: Vec<ServiceDiff<'a>>,
}

#[derive(Serialize)]
struct ServiceDiff<'a> {
    service: &'a str,
    added: usize,
    removed: usize,
    unified: String,
}

#[derive(Serialize)]
struct LinkedFinding<'a> {
    kind: FindingKind,
    severity: Severity,
    path: &'a str,
}

#[derive(Serialize)]
struct Endpoint<'a> {
    method: Method,
    path: &'a str,
    source: TemplateSource,
    documented: Option<bool>,
    auth: AuthLevel,
    evidence: Vec<&'static str>,
    requests: u64,
    ok_with_auth: u64,
    ok_without_auth: u64,
    status: &'a StatusCounts,
    callers: &'a [String],
    examples: &'a [String],
    first_seen: i64,
    last_seen: i64,
    new: bool,
    findings: Vec<LinkedFinding<'a>>,
    risk: u32,
    /// Reason codes only: the sentences are in `risks` for the endpoints that matter, and
    /// repeating them for 100,000 endpoints would double the file.
    reasons: Vec<&'static str>,
}

#[derive(Serialize)]
struct Service<'a> {
    name: &'a str,
    endpoints_count: usize,
    requests: u64,
    has_spec: bool,
    auth_unknown: bool,
    shadow: usize,
    unauthenticated: usize,
    zombie: usize,
    endpoints: Vec<Endpoint<'a>>,
}

#[derive(Serialize)]
struct Unobserved<'a> {
    service: &'a str,
    method: Method,
    path: &'a str,
    severity: Severity,
    spec_file: Option<String>,
    spec_line: Option<usize>,
    operation_id: Option<&'a str>,
    reason: &'a str,
}

fn reasons(r: &Row<'_>) -> Vec<ReasonEntry> {
    r.risk
        .reasons
        .iter()
        .map(|x| ReasonEntry {
            code: x.code(),
            weight: x.weight(),
            text: x.to_string(),
        })
        .collect()
}

pub(crate) fn render(a: &Analysis<'_>) -> String {
    let input = a.input;
    let h = &a.headline;
    let doc = Doc {
        schema: "shadowscan.report",
        schema_version: SCHEMA_VERSION,
        generated_at: input.generated_at,
        generated_at_rfc3339: rfc3339(input.generated_at),
        window: Win {
            since: input.window.since,
            until: input.window.until,
        },
        previous_window: Win {
            since: input.previous_window.since,
            until: input.previous_window.until,
        },
        compared_with_specs: a.compared,
        notice: input.notice.as_deref(),
        summary: Summary {
            services: h.services,
            endpoints: h.endpoints,
            requests: h.requests,
            shadow: h.shadow,
            unauthenticated: h.unauthenticated,
            zombie: h.zombie,
            unobserved: h.unobserved,
            new: h.new,
            disappeared: h.disappeared,
            risky: h.risky,
        },
        risks: a
            .risky
            .iter()
            .enumerate()
            .map(|(n, &i)| {
                let r = &a.rows[i];
                RiskEntry {
                    rank: n + 1,
                    score: r.risk.score,
                    service: &r.ep.service,
                    method: r.ep.method,
                    path: r.ep.template.as_str(),
                    findings: r.kinds.iter().collect(),
                    severity: r.severity,
                    auth: r.auth,
                    requests: r.ep.requests,
                    reasons: reasons(r),
                }
            })
            .collect(),
        top_callers: a
            .callers
            .iter()
            .map(|c| CallerEntry {
                caller: c.caller,
                kind: if c.is_address { "address" } else { "service" },
                risky_endpoints: c.endpoints.len(),
                requests_to_them: c.requests,
                score: c.score,
                endpoints: c
                    .endpoints
                    .iter()
                    .map(|&i| EndpointRef {
                        service: &a.rows[i].ep.service,
                        method: a.rows[i].ep.method,
                        path: a.rows[i].ep.template.as_str(),
                    })
                    .collect(),
            })
            .collect(),
        drift: Drift {
            new: a.new.iter().map(|&i| drift_entry(a.rows[i].ep)).collect(),
            disappeared: a.disappeared.iter().map(|e| drift_entry(e)).collect(),
            diffs: a
                .drift
                .iter()
                .map(|d| {
                    let mut unified = String::new();
                    for (header, lines) in &d.hunks {
                        unified.push_str(header);
                        unified.push('\n');
                        for l in lines {
                            unified.push(super::markdown::diff_sign(l.tag));
                            unified.push_str(&l.text);
                            unified.push('\n');
                        }
                    }
                    ServiceDiff {
                        service: d.service,
                        added: d.added,
                        removed: d.removed,
                        unified,
                    }
                })
                .collect(),
        },
        services: a
            .services
            .iter()
            .map(|s| Service {
                name: s.name,
                endpoints_count: s.rows.len(),
                requests: s.requests,
                has_spec: s.has_spec,
                auth_unknown: s.auth_unknown,
                shadow: s.shadow,
                unauthenticated: s.unauthenticated,
                zombie: s.zombie,
                endpoints: a.rows[s.rows.clone()].iter().map(endpoint).collect(),
            })
            .collect(),
        unobserved: a
            .unobserved
            .iter()
            .map(|f| Unobserved {
                service: &f.service,
                method: f.method,
                path: &f.path,
                severity: f.severity,
                spec_file: f.spec_file.as_ref().map(|p| p.display().to_string()),
                spec_line: f.spec_line,
                operation_id: f.operation_id.as_deref(),
                reason: &f.reason,
            })
            .collect(),
    };
    // Compact: at 100,000 endpoints indentation alone would add tens of megabytes; `jq .`
    // pretty-prints for people. Plain structs with string keys: serialization cannot fail.
    let mut s = serde_json::to_string(&doc).expect("report JSON always serializes");
    s.push('\n');
    crate::untrusted::json_escape_bidi(s)
}

fn drift_entry(e: &crate::model::EndpointStats) -> DriftEntry<'_> {
    DriftEntry {
        service: &e.service,
        method: e.method,
        path: e.template.as_str(),
        requests: e.requests,
        first_seen: e.first_seen,
        last_seen: e.last_seen,
    }
}

fn endpoint<'a>(r: &Row<'a>) -> Endpoint<'a> {
    let e = r.ep;
    Endpoint {
        method: e.method,
        path: e.template.as_str(),
        source: e.source,
        documented: r.documented.as_json(),
        auth: r.auth,
        evidence: e.evidence.names(),
        requests: e.requests,
        ok_with_auth: e.ok_with_auth,
        ok_without_auth: e.ok_without_auth,
        status: &e.status,
        callers: &e.callers,
        examples: &e.examples,
        first_seen: e.first_seen,
        last_seen: e.last_seen,
        new: r.new,
        findings: r
            .findings
            .iter()
            .map(|f| LinkedFinding {
                kind: f.kind,
                severity: f.severity,
                path: &f.path,
            })
            .collect(),
        risk: r.risk.score,
        reasons: r.risk.reasons.iter().map(|x| x.code()).collect(),
    }
}
