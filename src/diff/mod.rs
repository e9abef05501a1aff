//! Inventory × specs → findings. Owns what counts as documented, shadow, unauthenticated,
//! zombie and unobserved, how undocumented traffic is grouped into endpoints, severities,
//! and baselines of accepted findings. Pure: no I/O and no clock (the baseline's file I/O
//! is isolated in [`baseline::read`]/[`baseline::write`], "today" is passed in).

pub mod baseline;
pub mod group;
mod matcher;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use serde::Serialize;

use crate::model::{EndpointStats, Method, PathTemplate, StatusCounts, TemplateSource};
use crate::spec::{Operation, Security, Spec};

pub use group::GroupingOptions;
use matcher::{observed_segments, Fallback, Obs, Router, Step, Walk, Want};

/// A spec bound to the service whose traffic it describes.
#[derive(Debug, Clone)]
pub struct SpecBinding {
    pub service: String,
    pub spec: Spec,
}

/// Knobs of the comparison. `Default` is what the command line uses.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// `HEAD` on a path with a documented `GET` is documented: frameworks answer it for free.
    pub implicit_head: bool,
    /// `OPTIONS` on a documented path is documented: CORS preflights are answered by
    /// middleware, not by an operation.
    pub implicit_options: bool,
    /// Skip inferred endpoints that only ever answered 404: nothing was served there
    /// (scanner probes that slipped past ingestion).
    pub ignore_not_found_only: bool,
    /// Report documented operations without traffic.
    pub report_unobserved: bool,
    /// How many leading segments may sit in front of a documented path for an undocumented
    /// mirror of it (`/internal/api/v3/pet/7` mirrors `/pet/{petId}`) to borrow its parameters.
    pub mirror_prefix: usize,
    pub grouping: GroupingOptions,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            implicit_head: true,
            implicit_options: true,
            ignore_not_found_only: true,
            report_unobserved: true,
            mirror_prefix: 2,
            grouping: GroupingOptions::default(),
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Shadow,
    Unauthenticated,
    Zombie,
    Unobserved,
}

impl FindingKind {
    pub const ALL: [FindingKind; 4] = [
        FindingKind::Shadow,
        FindingKind::Unauthenticated,
        FindingKind::Zombie,
        FindingKind::Unobserved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Shadow => "shadow",
            FindingKind::Unauthenticated => "unauthenticated",
            FindingKind::Zombie => "zombie",
            FindingKind::Unobserved => "unobserved",
        }
    }

    pub fn parse(s: &str) -> Option<FindingKind> {
        FindingKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The kinds that fail a build unless told otherwise.
    pub const DEFAULT_FAIL_ON: [FindingKind; 2] =
        [FindingKind::Shadow, FindingKind::Unauthenticated];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What the traffic says about authentication on an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthLevel {
    /// Every successful request carried evidence.
    Present,
    /// Some successful requests carried none.
    Mixed,
    /// No successful request carried any.
    Missing,
    /// The service shows no auth evidence anywhere: its instrumentation cannot tell.
    Unknown,
    /// The endpoint refused callers (401/403) and served others, in a service whose only
    /// evidence is refusals ([`ServiceAuth::RefusalsOnly`]): something enforces auth here,
    /// but successful requests carry nothing that says who they were.
    Enforced,
    /// No successful requests (or no traffic) to judge by.
    None,
}

impl AuthLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthLevel::Present => "present",
            AuthLevel::Mixed => "mixed",
            AuthLevel::Missing => "missing",
            AuthLevel::Unknown => "unknown",
            AuthLevel::Enforced => "enforced",
            AuthLevel::None => "none",
        }
    }
}

/// What a service's traffic as a whole shows about authentication, which decides what the
/// absence of evidence on one endpoint means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAuth {
    /// No evidence anywhere: nothing can be said ([`AuthLevel::Unknown`]).
    Unknown,
    /// Only refusals (401/403): auth runs (FastAPI `Depends`, DRF permission classes, NestJS
    /// guards, Koa middleware emit nothing when they let a request through), but no
    /// successful request can show it. An endpoint that refused callers is
    /// [`AuthLevel::Enforced`]; one that never refused anyone is still `missing`.
    RefusalsOnly,
    /// Some request carried per-request evidence (middleware span, identity, credential).
    PerRequest,
}

impl ServiceAuth {
    /// From the evidence of every endpoint of the service.
    pub fn of(evidence: impl IntoIterator<Item = crate::model::AuthEvidence>) -> ServiceAuth {
        let all = evidence
            .into_iter()
            .fold(crate::model::AuthEvidence::NONE, |a, e| a | e);
        if all.authenticated() {
            ServiceAuth::PerRequest
        } else if all.is_empty() {
            ServiceAuth::Unknown
        } else {
            ServiceAuth::RefusalsOnly
        }
    }
}

/// The auth level of traffic with these counts and evidence in a service showing `service`.
pub fn auth_level(
    ok_with_auth: u64,
    ok_without_auth: u64,
    evidence: crate::model::AuthEvidence,
    service: ServiceAuth,
) -> AuthLevel {
    if service == ServiceAuth::Unknown {
        AuthLevel::Unknown
    } else if ok_with_auth + ok_without_auth == 0 {
        AuthLevel::None
    } else if ok_without_auth == 0 {
        AuthLevel::Present
    } else if ok_with_auth == 0 {
        if service == ServiceAuth::RefusalsOnly
            && evidence.contains(crate::model::AuthEvidence::REJECTED)
        {
            AuthLevel::Enforced
        } else {
            AuthLevel::Missing
        }
    } else {
        AuthLevel::Mixed
    }
}

/// What `diff` says about a service whose only evidence is refusals: the settings that make
/// each SDK record the `Authorization` header (sanitised), which gives per-request evidence.
pub const REFUSALS_ONLY_FIX: &str = "capture the Authorization header for per-request evidence: Python OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST=authorization with OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS=authorization; Node @opentelemetry/instrumentation-http headersToSpanAttributes: { server: { requestHeaders: ['authorization'] } }; Java agent -Dotel.instrumentation.http.server.capture-request-headers=authorization";

/// One finding. `path` is the documented template (relative to the spec's base path) for
/// documented endpoints, and the full observed template with `{name}` parameters for
/// undocumented ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub service: String,
    pub method: Method,
    pub path: String,
    pub severity: Severity,
    pub documented: bool,
    pub requests: u64,
    pub ok_with_auth: u64,
    pub ok_without_auth: u64,
    pub auth: AuthLevel,
    /// Kinds of auth evidence seen (`middleware`, `identity`, `credential`, `rejected`).
    pub evidence: Vec<&'static str>,
    /// 401/403 answers were seen: something enforces authentication here.
    pub enforced: bool,
    /// What the spec says about security, for documented endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_security: Option<Security>,
    /// Unix seconds; absent for unobserved operations.
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    /// The spec file this finding is about: the documenting spec, or for an undocumented
    /// endpoint the service's spec it should be added to.
    pub spec_file: Option<PathBuf>,
    /// 1-based line of the operation in `spec_file`.
    pub spec_line: Option<usize>,
    pub operation_id: Option<String>,
    /// The spec's base path the documented `path` is served under (`/api/v3`).
    pub base_path: Option<String>,
    /// For undocumented endpoints under a base path: the template relative to it, as it
    /// would be written under the spec's `paths`.
    pub spec_path: Option<String>,
    /// Observed templates merged into this finding (bounded).
    pub observed: Vec<String>,
    /// Concrete example paths (bounded).
    pub examples: Vec<String>,
    pub reason: String,
    /// Set when a baseline entry used to accept this finding but has expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_expired: Option<String>,
}

/// A finding accepted by a baseline entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppressed {
    pub finding: Finding,
    pub reason: String,
    pub expires: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub services: usize,
    pub endpoints_observed: usize,
    pub operations_documented: usize,
    pub operations_observed: usize,
    pub shadow: usize,
    pub unauthenticated: usize,
    pub zombie: usize,
    pub unobserved: usize,
    /// Findings accepted by the baseline (not in `findings`).
    pub suppressed: usize,
    /// Findings whose baseline entry expired (in `findings`).
    pub expired: usize,
    pub by_severity: BTreeMap<Severity, usize>,
    /// Services whose traffic shows no auth evidence anywhere: no unauthenticated findings
    /// are raised for them, their endpoints' auth is `unknown`.
    pub services_auth_unknown: Vec<String>,
    /// Services whose only auth evidence is refusals (401/403, [`ServiceAuth::RefusalsOnly`]):
    /// endpoints that refused callers are `enforced`, not accused; see [`REFUSALS_ONLY_FIX`].
    pub services_auth_refusals_only: Vec<String>,
    /// Services seen in the traffic that no spec is bound to: not compared.
    pub services_without_spec: Vec<String>,
    /// Observed endpoints skipped because they only ever answered 404.
    pub skipped_not_found: usize,
    /// Undocumented method/path pairs that never served a request: every answer was 405
    /// (method not allowed), or 404/405 with no success. Frameworks put the route on such
    /// refusals (FastAPI takes the route of a partial match, Django resolves the URL before
    /// DRF answers 405); a pair that served nothing is not an API, so no shadow finding.
    pub refused_only: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DiffReport {
    pub findings: Vec<Finding>,
    pub suppressed: Vec<Suppressed>,
    pub summary: Summary,
}

impl DiffReport {
    /// Whether any active finding is of a kind in `fail_on`: what the exit status reflects.
    pub fn fails(&self, fail_on: &[FindingKind]) -> bool {
        self.findings.iter().any(|f| fail_on.contains(&f.kind))
    }

    /// Recomputes the per-kind and per-severity counts from the findings.
    pub fn recount(&mut self) {
        let s = &mut self.summary;
        s.shadow = 0;
        s.unauthenticated = 0;
        s.zombie = 0;
        s.unobserved = 0;
        s.by_severity.clear();
        for f in &self.findings {
            match f.kind {
                FindingKind::Shadow => s.shadow += 1,
                FindingKind::Unauthenticated => s.unauthenticated += 1,
                FindingKind::Zombie => s.zombie += 1,
                FindingKind::Unobserved => s.unobserved += 1,
            }
            *s.by_severity.entry(f.severity).or_default() += 1;
        }
        s.suppressed = self.suppressed.len();
        s.expired = self
            .findings
            .iter()
            .filter(|f| f.baseline_expired.is_some())
            .count();
    }
}

/// Observed traffic merged for one documented operation or one undocumented endpoint.
#[derive(Debug, Clone, Default)]
struct Agg {
    requests: u64,
    status: StatusCounts,
    ok_with_auth: u64,
    ok_without_auth: u64,
    evidence: crate::model::AuthEvidence,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
    observed: BTreeSet<String>,
    examples: BTreeSet<String>,
}

const MAX_LISTED: usize = 5;

impl Agg {
    fn add(&mut self, e: &EndpointStats) {
        self.requests += e.requests;
        self.status.add(&e.status);
        self.ok_with_auth += e.ok_with_auth;
        self.ok_without_auth += e.ok_without_auth;
        self.evidence |= e.evidence;
        self.first_seen = Some(
            self.first_seen
                .map_or(e.first_seen, |f| f.min(e.first_seen)),
        );
        self.last_seen = Some(self.last_seen.map_or(e.last_seen, |l| l.max(e.last_seen)));
        if self.observed.len() < MAX_LISTED {
            self.observed.insert(e.template.as_str().to_owned());
        }
        for x in &e.examples {
            if self.examples.len() >= MAX_LISTED {
                break;
            }
            self.examples.insert(x.clone());
        }
    }

    fn auth(&self, service: ServiceAuth) -> AuthLevel {
        auth_level(
            self.ok_with_auth,
            self.ok_without_auth,
            self.evidence,
            service,
        )
    }
}

/// Rewrites framework route syntaxes that may still reach the store (`:id`, `<int:id>`,
/// `*path`) into `{name}`, then canonicalises (trailing slash, percent-encoding), so that
/// the same endpoint seen through different conventions compares equal.
pub fn canonical_observed(t: &PathTemplate) -> PathTemplate {
    let s = t.as_str();
    if !s.contains([':', '<', '*', '%']) && !s.ends_with('/') || s == "/" {
        return t.clone();
    }
    let mut out = String::with_capacity(s.len());
    for seg in s.split('/').filter(|x| !x.is_empty()) {
        out.push('/');
        if let Some(name) = seg.strip_prefix(':') {
            out.push('{');
            out.push_str(name.trim_end_matches('?'));
            out.push('}');
        } else if let Some(inner) = seg.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
            out.push('{');
            out.push_str(inner.rsplit(':').next().unwrap_or(inner));
            out.push('}');
        } else if let Some(name) = seg.strip_prefix('*').filter(|n| !n.is_empty()) {
            out.push('{');
            out.push_str(name);
            out.push('}');
        } else {
            out.push_str(seg);
        }
    }
    PathTemplate::parse(&out)
}

/// Words that make an endpoint sensitive when it is undocumented or unauthenticated.
const SENSITIVE: &[&str] = &[
    "admin",
    "export",
    "internal",
    "debug",
    "actuator",
    "impersonate",
    "token",
    "secret",
    "config",
    "env",
    "dump",
    "backup",
    "migrate",
    "private",
    "sudo",
    "password",
    "credential",
    "console",
    "download",
    "bulk",
    "pprof",
    "heapdump",
];

pub fn is_sensitive(path: &str) -> bool {
    path.split('/').filter(|s| !s.starts_with('{')).any(|s| {
        let s = s.to_ascii_lowercase();
        SENSITIVE.iter().any(|w| {
            s == *w || s.starts_with(w) || s.ends_with(w) || s.trim_start_matches('_') == *w
        })
    })
}

fn writes(m: Method) -> bool {
    matches!(
        m,
        Method::Post | Method::Put | Method::Patch | Method::Delete
    )
}

/// Undocumented: medium; high when sensitive-looking or writing; critical when also
/// served without auth evidence.
fn shadow_severity(path: &str, method: Method, auth: AuthLevel) -> Severity {
    let sensitive = is_sensitive(path);
    let unauth = matches!(auth, AuthLevel::Missing | AuthLevel::Mixed);
    if sensitive && unauth {
        Severity::Critical
    } else if sensitive || writes(method) {
        Severity::High
    } else {
        Severity::Medium
    }
}

/// Documented as requiring auth: high when no request had it, critical when the endpoint
/// also looks sensitive or writes; one step lower when only some lacked it. Undocumented:
/// critical when sensitive-looking, high when writing, medium otherwise (a health check).
fn unauth_severity(path: &str, method: Method, auth: AuthLevel, documented: bool) -> Severity {
    let sensitive = is_sensitive(path);
    let missing = auth == AuthLevel::Missing;
    match (documented, sensitive || writes(method), missing) {
        (true, true, true) => Severity::Critical,
        (true, false, true) | (true, true, false) => Severity::High,
        (true, false, false) => Severity::Medium,
        (false, _, _) if sensitive => Severity::Critical,
        (false, _, _) if writes(method) => Severity::High,
        (false, _, _) => Severity::Medium,
    }
}

struct ShadowCand<'e> {
    method: Method,
    binding: usize,
    cand: group::Candidate,
    /// Documented methods on the same path, when only the method is undocumented.
    documented_methods: Option<Vec<Method>>,
    /// Segments where a documented parameter took the observed segment: the observed
    /// literal, or `None` when the observed segment was a parameter already.
    param_values: Vec<(usize, Option<String>)>,
    endpoint: &'e EndpointStats,
    /// The endpoint's position in the input, for its [`Placement`].
    index: usize,
}

/// Where the comparison put one observed endpoint: what every view shows it under
/// ([`crate::view`]), so that no view can disagree with the findings.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// No spec is bound to its service.
    NotCompared,
    /// Skipped: an inferred endpoint that only ever answered 404.
    NotFoundOnly,
    /// A documented operation: `specs[binding].spec.operations[op]`.
    Documented { binding: usize, op: u32 },
    /// Answered by the framework on a documented path (`OPTIONS` preflight): the path of
    /// `specs[binding].spec.operations[op]`, with the observed method.
    Implicit { binding: usize, op: u32 },
    /// Undocumented, under the path of its shadow finding (grouped as the findings are).
    Undocumented { path: PathTemplate },
    /// Undocumented, but every request was refused (405, or 404/405): not an API, so no
    /// finding; grouped as shadows are.
    RefusedOnly { path: PathTemplate },
}

/// Compares observed endpoints with the specs bound to their services.
pub fn diff(endpoints: &[EndpointStats], specs: &[SpecBinding], opts: &DiffOptions) -> DiffReport {
    diff_placed(endpoints, specs, opts).0
}

/// [`diff`], and where it put each endpoint of `endpoints` (same order).
pub fn diff_placed(
    endpoints: &[EndpointStats],
    specs: &[SpecBinding],
    opts: &DiffOptions,
) -> (DiffReport, Vec<Placement>) {
    let mut placements = vec![Placement::NotCompared; endpoints.len()];
    let routers: Vec<Router> = specs.iter().map(|b| Router::new(&b.spec)).collect();
    let mut by_service: BTreeMap<&str, Vec<(usize, &EndpointStats)>> = BTreeMap::new();
    for (i, e) in endpoints.iter().enumerate() {
        by_service
            .entry(e.service.as_str())
            .or_default()
            .push((i, e));
    }
    let mut report = DiffReport::default();
    let mut documented: HashMap<(usize, u32), Agg> = HashMap::new();
    let mut auth_known: HashMap<&str, ServiceAuth> = HashMap::new();
    let mut findings = Vec::new();

    for (service, eps) in &by_service {
        let known = ServiceAuth::of(eps.iter().map(|(_, e)| e.evidence));
        auth_known.insert(service, known);
        let bindings: Vec<usize> = (0..specs.len())
            .filter(|&i| specs[i].service == *service)
            .collect();
        if bindings.is_empty() {
            report
                .summary
                .services_without_spec
                .push((*service).to_owned());
            continue;
        }
        match known {
            ServiceAuth::Unknown => report
                .summary
                .services_auth_unknown
                .push((*service).to_owned()),
            ServiceAuth::RefusalsOnly => report
                .summary
                .services_auth_refusals_only
                .push((*service).to_owned()),
            ServiceAuth::PerRequest => {}
        }
        let mut cands: Vec<ShadowCand<'_>> = Vec::new();
        for &(index, e) in eps {
            if opts.ignore_not_found_only
                && e.source == TemplateSource::Inferred
                && e.status.s404 > 0
                && e.status.s404 == e.status.total()
            {
                report.summary.skipped_not_found += 1;
                placements[index] = Placement::NotFoundOnly;
                continue;
            }
            report.summary.endpoints_observed += 1;
            let t = canonical_observed(&e.template);
            let obs = observed_segments(&t);
            match resolve(&obs, e.method, e.source, &bindings, specs, &routers, opts) {
                Resolved::Documented(b, op) => {
                    placements[index] = Placement::Documented { binding: b, op };
                    documented.entry((b, op)).or_default().add(e)
                }
                Resolved::Implicit(b, op) => {
                    placements[index] = Placement::Implicit { binding: b, op }
                }
                Resolved::Shadow {
                    binding,
                    walk,
                    documented_methods,
                } => {
                    let (mut cand, param_values) = candidate(&obs, walk.as_ref());
                    cand.route = e.source == TemplateSource::Route;
                    cands.push(ShadowCand {
                        method: e.method,
                        binding,
                        cand,
                        documented_methods,
                        param_values,
                        endpoint: e,
                        index,
                    });
                }
            }
        }
        report.summary.refused_only += shadows(
            service,
            known,
            &cands,
            specs,
            opts,
            &mut findings,
            &mut placements,
        );
    }

    for (b, binding) in specs.iter().enumerate() {
        report.summary.operations_documented += binding.spec.operations.len();
        let known = auth_known.get(binding.service.as_str()).copied();
        let base = base_path(&binding.spec);
        for (i, op) in binding.spec.operations.iter().enumerate() {
            let agg = documented.get(&(b, i as u32));
            let make = |kind, severity, agg: Option<&Agg>, reason: String| {
                doc_finding(
                    kind,
                    severity,
                    binding,
                    base.clone(),
                    op,
                    agg,
                    known.unwrap_or(ServiceAuth::Unknown),
                    reason,
                )
            };
            let Some(agg) = agg else {
                if opts.report_unobserved {
                    let reason = if known.is_none() {
                        format!(
                            "documented, but service {} sent no traffic in the window",
                            binding.service
                        )
                    } else {
                        "documented, no traffic in the window".to_owned()
                    };
                    findings.push(make(FindingKind::Unobserved, Severity::Info, None, reason));
                }
                continue;
            };
            report.summary.operations_observed += 1;
            if op.deprecated {
                let reason = format!(
                    "documented as deprecated but served {} request{} in the window",
                    agg.requests,
                    plural(agg.requests)
                );
                findings.push(make(
                    FindingKind::Zombie,
                    Severity::Medium,
                    Some(agg),
                    reason,
                ));
            }
            let service_auth = known.unwrap_or(ServiceAuth::Unknown);
            let level = agg.auth(service_auth);
            if op.security == Security::Required
                && matches!(level, AuthLevel::Missing | AuthLevel::Mixed)
            {
                let path = op.template.as_str();
                let mut sev = unauth_severity(path, op.method, level, true);
                if service_auth == ServiceAuth::RefusalsOnly {
                    // Nothing shows who the successful requests were, either way: critical
                    // needs evidence that they were anonymous (per-request evidence elsewhere).
                    sev = sev.min(Severity::High);
                }
                let mut reason = format!(
                    "the spec requires authentication, but {} of {} successful request{} carried no auth evidence",
                    agg.ok_without_auth,
                    agg.ok_with_auth + agg.ok_without_auth,
                    plural(agg.ok_with_auth + agg.ok_without_auth)
                );
                if service_auth == ServiceAuth::RefusalsOnly {
                    reason.push_str(
                        ", and it never refused a caller (the service shows auth only as refusals)",
                    );
                }
                findings.push(make(FindingKind::Unauthenticated, sev, Some(agg), reason));
            }
        }
    }

    findings.sort_by(|a, b| {
        (a.kind, &a.service, &a.path, a.method).cmp(&(b.kind, &b.service, &b.path, b.method))
    });
    report.summary.services = by_service.len();
    report.findings = findings;
    report.recount();
    (report, placements)
}

/// The base path a documented finding's `path` is served under: the spec's longest.
pub fn base_path(spec: &Spec) -> Option<String> {
    spec.base_paths
        .iter()
        .max_by_key(|p| p.len())
        .filter(|p| !p.is_empty())
        .cloned()
}

/// The full template of a documented operation as the views show it: under [`base_path`].
pub fn documented_template(spec: &Spec, op: &Operation) -> PathTemplate {
    match base_path(spec) {
        Some(b) => PathTemplate::parse(&format!("{b}{}", op.template)),
        None => op.template.clone(),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[allow(clippy::too_many_arguments)]
fn doc_finding(
    kind: FindingKind,
    severity: Severity,
    binding: &SpecBinding,
    base_path: Option<String>,
    op: &Operation,
    agg: Option<&Agg>,
    service_known: ServiceAuth,
    reason: String,
) -> Finding {
    let empty = Agg::default();
    let a = agg.unwrap_or(&empty);
    Finding {
        kind,
        service: binding.service.clone(),
        method: op.method,
        path: op.template.as_str().to_owned(),
        severity,
        documented: true,
        requests: a.requests,
        ok_with_auth: a.ok_with_auth,
        ok_without_auth: a.ok_without_auth,
        auth: if agg.is_some() {
            a.auth(service_known)
        } else {
            AuthLevel::None
        },
        evidence: a.evidence.names(),
        enforced: a.evidence.contains(crate::model::AuthEvidence::REJECTED),
        spec_security: Some(op.security),
        first_seen: a.first_seen,
        last_seen: a.last_seen,
        spec_file: Some(binding.spec.file.clone()),
        spec_line: op.line,
        operation_id: op.operation_id.clone(),
        base_path,
        spec_path: None,
        observed: a.observed.iter().cloned().collect(),
        examples: a.examples.iter().cloned().collect(),
        reason,
        baseline_expired: None,
    }
}

enum Resolved {
    Documented(usize, u32),
    /// Answered by the framework (OPTIONS preflight): neither documented nor a shadow. An
    /// operation on the path, to name it by.
    Implicit(usize, u32),
    Shadow {
        binding: usize,
        /// The documented path or prefix the observed one follows, if any.
        walk: Option<Walk>,
        documented_methods: Option<Vec<Method>>,
    },
}

fn resolve(
    obs: &[Obs<'_>],
    method: Method,
    source: TemplateSource,
    bindings: &[usize],
    specs: &[SpecBinding],
    routers: &[Router],
    opts: &DiffOptions,
) -> Resolved {
    // Inferred templates may have turned documented literals into parameters; routes did not.
    let levels: &[Fallback] = if source == TemplateSource::Inferred {
        &[Fallback::Strict, Fallback::Swallow, Fallback::Loose]
    } else {
        &[Fallback::Strict, Fallback::Swallow]
    };
    // Level by level, an operation first, then a documented path with other methods: a path
    // that matches as it is (an undocumented method on it) is a better answer than an
    // operation reached only by a looser reading (an inferred `{id}` standing for a
    // documented literal: `PATCH /releases/{id}/reactions` is not
    // `PATCH /releases/assets/{asset_id}`).
    for &fallback in levels {
        for &b in bindings {
            let ops = &specs[b].spec.operations;
            let exact = |o: u32| ops[o as usize].method == method;
            if let Some(w) = routers[b].full_match(obs, Want::Op(&exact), fallback) {
                let op = routers[b]
                    .ops_at(w.node)
                    .iter()
                    .copied()
                    .find(|&o| exact(o));
                if let Some(op) = op {
                    return Resolved::Documented(b, op);
                }
            }
            if method == Method::Head && opts.implicit_head {
                let get = |o: u32| ops[o as usize].method == Method::Get;
                if let Some(w) = routers[b].full_match(obs, Want::Op(&get), fallback) {
                    if let Some(op) = routers[b].ops_at(w.node).iter().copied().find(|&o| get(o)) {
                        return Resolved::Documented(b, op);
                    }
                }
            }
        }
        for &b in bindings {
            if let Some(w) = routers[b].full_match(obs, Want::Path, fallback) {
                if method == Method::Options && opts.implicit_options {
                    if let Some(&op) = routers[b].ops_at(w.node).first() {
                        return Resolved::Implicit(b, op);
                    }
                }
                let ops = &specs[b].spec.operations;
                let mut methods: Vec<Method> = routers[b]
                    .ops_at(w.node)
                    .iter()
                    .map(|&o| ops[o as usize].method)
                    .collect();
                methods.sort();
                methods.dedup();
                return Resolved::Shadow {
                    binding: b,
                    walk: Some(w),
                    documented_methods: Some(methods),
                };
            }
        }
    }
    // Not documented at all: borrow what the spec knows about the path's prefix.
    let mut best: Option<(usize, Walk)> = None;
    for &b in bindings {
        let prefix = routers[b].longest_prefix(obs);
        let mirror = routers[b].mirror_match(obs, opts.mirror_prefix);
        for w in [prefix, mirror].into_iter().flatten() {
            let params = w
                .steps
                .iter()
                .filter(|s| !matches!(s, Step::Literal))
                .count();
            let better = best
                .as_ref()
                .is_none_or(|(_, bw)| w.steps.len() > bw.steps.len());
            if !w.steps.is_empty() && (params > 0 || w.skipped > 0) && better {
                best = Some((b, w));
            }
        }
    }
    match best {
        Some((b, w)) => Resolved::Shadow {
            binding: b,
            walk: Some(w),
            documented_methods: None,
        },
        None => Resolved::Shadow {
            binding: bindings[0],
            walk: None,
            documented_methods: None,
        },
    }
}

fn obs_text(o: &Obs<'_>) -> String {
    match o {
        Obs::Lit(l) => (*l).to_owned(),
        Obs::Param(n) => format!("{{{n}}}"),
        Obs::Mixed(_, raw) => (*raw).to_owned(),
    }
}

/// Builds the segments of an undocumented endpoint: skipped prefix as observed, documented
/// steps with the spec's parameters (locked), the rest as observed (free to group).
fn candidate(
    obs: &[Obs<'_>],
    walk: Option<&Walk>,
) -> (group::Candidate, Vec<(usize, Option<String>)>) {
    let mut segments = Vec::with_capacity(obs.len());
    let mut locked = Vec::with_capacity(obs.len());
    let Some(w) = walk else {
        for o in obs {
            segments.push(obs_text(o));
            locked.push(false);
        }
        return (
            group::Candidate {
                segments,
                locked,
                route: false,
            },
            Vec::new(),
        );
    };
    for o in &obs[..w.skipped] {
        segments.push(obs_text(o));
        locked.push(true);
    }
    let mut i = w.skipped;
    let mut param_values = Vec::new();
    for (n, step) in w.steps.iter().enumerate() {
        match step {
            Step::Literal | Step::LooseLiteral => {
                segments.push(obs_text(&obs[i]));
                i += 1;
            }
            Step::Mixed(raw) => {
                segments.push(raw.to_string());
                i += 1;
            }
            Step::Param { name, span } => {
                // Only where the path leaves the documented one: an earlier parameter
                // (`{owner}`) is followed by documented structure that vouches for it.
                if *span == 1 && n + 1 == w.steps.len() {
                    let value = match &obs[i] {
                        Obs::Lit(l) => Some((*l).to_owned()),
                        _ => None,
                    };
                    param_values.push((segments.len(), value));
                }
                segments.push(format!("{{{name}}}"));
                i += span;
            }
        }
        locked.push(true);
    }
    for o in &obs[i..] {
        segments.push(obs_text(o));
        locked.push(false);
    }
    (
        group::Candidate {
            segments,
            locked,
            route: false,
        },
        param_values,
    )
}

/// The last documented parameter an undocumented path follows, when across all such traffic
/// it only ever took one word-like value, is that word, not the parameter:
/// `GET /articles/{slug}/comments/_debug` is not `GET` on `/articles/{slug}/comments/{id}`,
/// and `/users/me/export` is not `/users/{id}/export`. Returns the candidates to group and,
/// per candidate, the documented methods if it still sits on a documented path.
fn settle_single_values(
    cands: &[ShadowCand<'_>],
) -> (Vec<group::Candidate>, Vec<Option<Vec<Method>>>) {
    let mut prepared: Vec<group::Candidate> = cands.iter().map(|c| c.cand.clone()).collect();
    let mut methods: Vec<Option<Vec<Method>>> =
        cands.iter().map(|c| c.documented_methods.clone()).collect();
    let mut groups: BTreeMap<(Method, &[String]), Vec<usize>> = BTreeMap::new();
    for (i, c) in cands.iter().enumerate() {
        if !c.param_values.is_empty() {
            groups
                .entry((c.method, &c.cand.segments[..]))
                .or_default()
                .push(i);
        }
    }
    for members in groups.values() {
        for (k, &(pos, _)) in cands[members[0]].param_values.iter().enumerate() {
            let mut values = BTreeSet::new();
            let mut all_literal = true;
            for &m in members {
                match cands[m].param_values.get(k).and_then(|(_, v)| v.as_deref()) {
                    Some(v) => {
                        values.insert(v);
                    }
                    None => all_literal = false,
                }
            }
            if !all_literal || values.len() != 1 {
                continue;
            }
            let value = values.into_iter().next().unwrap_or_default();
            if group::looks_like_value(value) {
                continue;
            }
            for &m in members {
                prepared[m].segments[pos] = value.to_owned();
                methods[m] = None;
            }
        }
    }
    (prepared, methods)
}

/// Whether an endpoint's answers were all refusals of the method or path: 405s, or 404s and
/// 405s. Nothing was served there.
fn refused_only(s: &StatusCounts) -> bool {
    s.total() > 0 && s.s404 + s.s405 == s.total()
}

/// Shadow (and undocumented unauthenticated) findings of one service; returns how many
/// undocumented pairs were left out as [`Summary::refused_only`].
fn shadows(
    service: &str,
    known: ServiceAuth,
    cands: &[ShadowCand<'_>],
    specs: &[SpecBinding],
    opts: &DiffOptions,
    out: &mut Vec<Finding>,
    placements: &mut [Placement],
) -> usize {
    if cands.is_empty() {
        return 0;
    }
    let mut refused = 0;
    let (prepared, documented_methods) = settle_single_values(cands);
    let grouped = group::group(&prepared, &opts.grouping);
    struct Merged {
        path: PathTemplate,
        agg: Agg,
        binding: usize,
        documented_methods: Option<Vec<Method>>,
    }
    let mut merged: BTreeMap<(Method, String), Merged> = BTreeMap::new();
    let mut merged_key: Vec<(Method, String)> = Vec::with_capacity(cands.len());
    for ((c, segs), documented_methods) in cands.iter().zip(grouped).zip(documented_methods) {
        let path = PathTemplate::parse(&format!("/{}", segs.join("/")));
        merged_key.push((c.method, path.shape()));
        let entry = merged
            .entry((c.method, path.shape()))
            .or_insert_with(|| Merged {
                path: path.clone(),
                agg: Agg::default(),
                binding: c.binding,
                documented_methods,
            });
        // Deterministic display name whatever the input order.
        if path < entry.path {
            entry.path = path;
        }
        entry.agg.add(c.endpoint);
    }
    for (c, k) in cands.iter().zip(&merged_key) {
        if let Some(m) = merged.get(k) {
            let path = m.path.clone();
            placements[c.index] = if refused_only(&m.agg.status) {
                Placement::RefusedOnly { path }
            } else {
                Placement::Undocumented { path }
            };
        }
    }
    for ((method, _), m) in merged {
        if refused_only(&m.agg.status) {
            refused += 1;
            continue;
        }
        let binding = &specs[m.binding];
        let path = m.path.as_str().to_owned();
        // Relative to the spec's `paths` only when the path sits under one of its base
        // paths (a mirror such as `/internal/api/v3/...` does not).
        let base_len = {
            let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            binding
                .spec
                .base_paths
                .iter()
                .map(|b| b.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>())
                .filter(|b| !b.is_empty() && segs.starts_with(b))
                .map(|b| b.len())
                .max()
        };
        let spec_path = base_len.filter(|&n| n > 0).map(|n| {
            let rest: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).skip(n).collect();
            format!("/{}", rest.join("/"))
        });
        let level = m.agg.auth(known);
        let reason = match &m.documented_methods {
            Some(methods) => format!(
                "{method} is not documented for this path (documented: {})",
                methods
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "not documented in any spec bound to this service".to_owned(),
        };
        let base = Finding {
            kind: FindingKind::Shadow,
            service: service.to_owned(),
            method,
            path: path.clone(),
            severity: shadow_severity(&path, method, level),
            documented: false,
            requests: m.agg.requests,
            ok_with_auth: m.agg.ok_with_auth,
            ok_without_auth: m.agg.ok_without_auth,
            auth: level,
            evidence: m.agg.evidence.names(),
            enforced: m
                .agg
                .evidence
                .contains(crate::model::AuthEvidence::REJECTED),
            spec_security: None,
            first_seen: m.agg.first_seen,
            last_seen: m.agg.last_seen,
            spec_file: Some(binding.spec.file.clone()),
            spec_line: None,
            operation_id: None,
            base_path: None,
            spec_path,
            observed: m.agg.observed.iter().cloned().collect(),
            examples: m.agg.examples.iter().cloned().collect(),
            reason,
            baseline_expired: None,
        };
        if matches!(level, AuthLevel::Missing | AuthLevel::Mixed) {
            let mut u = base.clone();
            u.kind = FindingKind::Unauthenticated;
            u.severity = unauth_severity(&path, method, level, false);
            u.reason = format!(
                "undocumented, and {} of {} successful request{} carried no auth evidence",
                m.agg.ok_without_auth,
                m.agg.ok_with_auth + m.agg.ok_without_auth,
                plural(m.agg.ok_with_auth + m.agg.ok_without_auth)
            );
            if known == ServiceAuth::RefusalsOnly {
                u.reason.push_str(
                    ", and it never refused a caller (the service shows auth only as refusals)",
                );
            }
            out.push(u);
        }
        out.push(base);
    }
    refused
}

#[cfg(test)]
mod tests;
