//! Input → the one view every rendering draws from: endpoints linked to their findings,
//! ranked by risk, grouped by service; drift between the two windows; callers of risky
//! endpoints; headline figures. Computed once, so the three formats cannot disagree.

use std::collections::{BTreeMap, HashMap, HashSet};

use similar::{Algorithm, ChangeTag, DiffTag};

use super::risk::{self, Reason, Risk};
use super::ReportInput;
use crate::diff::{canonical_observed, AuthLevel, Finding, FindingKind, ServiceAuth, Severity};
use crate::model::{EndpointStats, Method, PathTemplate, Segment, TemplateSource};

/// Whether an endpoint is in a spec, as far as the diff could tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Documented {
    Yes,
    No,
    /// No spec for the service, no diff given, or the diff did not consider the endpoint.
    Unknown,
}

impl Documented {
    pub fn as_str(self) -> &'static str {
        match self {
            Documented::Yes => "yes",
            Documented::No => "no",
            Documented::Unknown => "not compared",
        }
    }

    pub fn as_json(self) -> Option<bool> {
        match self {
            Documented::Yes => Some(true),
            Documented::No => Some(false),
            Documented::Unknown => None,
        }
    }
}

/// The finding kinds linked to an endpoint, as flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Kinds(u8);

impl Kinds {
    fn bit(k: FindingKind) -> u8 {
        1 << (k as u8)
    }
    pub fn insert(&mut self, k: FindingKind) {
        self.0 |= Self::bit(k);
    }
    pub fn contains(self, k: FindingKind) -> bool {
        self.0 & Self::bit(k) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = FindingKind> {
        FindingKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
    /// The one class the map colours a cell by, most alarming first.
    pub fn map_class(self, documented: Documented) -> &'static str {
        if self.contains(FindingKind::Unauthenticated) {
            "unauth"
        } else if self.contains(FindingKind::Shadow) {
            "shadow"
        } else if self.contains(FindingKind::Zombie) {
            "zombie"
        } else if documented == Documented::Yes {
            "ok"
        } else {
            "nc"
        }
    }
}

pub(crate) struct Row<'a> {
    pub ep: &'a EndpointStats,
    pub documented: Documented,
    pub auth: AuthLevel,
    pub kinds: Kinds,
    /// The most severe linked finding's severity.
    pub severity: Option<Severity>,
    pub findings: Vec<&'a Finding>,
    pub new: bool,
    pub risk: Risk,
}

pub(crate) struct ServiceView<'a> {
    pub name: &'a str,
    /// Range of `Analysis::rows`, ranked by risk then volume.
    pub rows: std::ops::Range<usize>,
    pub requests: u64,
    pub has_spec: bool,
    pub auth_unknown: bool,
    pub shadow: usize,
    pub unauthenticated: usize,
    pub zombie: usize,
}

/// One line of a service's drift diff.
pub(crate) struct DiffLine {
    pub tag: ChangeTag,
    pub text: String,
}

pub(crate) struct ServiceDrift<'a> {
    pub service: &'a str,
    pub added: usize,
    pub removed: usize,
    /// Hunks of `METHOD template` lines (one line of context), as a unified diff shows them.
    pub hunks: Vec<(String, Vec<DiffLine>)>,
    /// Lines left out by `max_diff_lines`.
    pub omitted: usize,
}

pub(crate) struct Caller<'a> {
    pub caller: &'a str,
    pub is_address: bool,
    /// Risky endpoints it called, as row indices, riskiest first.
    pub endpoints: Vec<usize>,
    pub requests: u64,
    pub score: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Headline {
    pub services: usize,
    pub endpoints: usize,
    pub requests: u64,
    pub shadow: Option<usize>,
    pub unauthenticated: Option<usize>,
    pub zombie: Option<usize>,
    pub unobserved: Option<usize>,
    pub new: usize,
    pub disappeared: usize,
    pub risky: usize,
}

pub(crate) struct Analysis<'a> {
    pub input: &'a ReportInput,
    pub compared: bool,
    pub rows: Vec<Row<'a>>,
    pub services: Vec<ServiceView<'a>>,
    /// Row indices of risky endpoints, ranked.
    pub risky: Vec<usize>,
    /// Row indices of endpoints not seen in the previous period, by key.
    pub new: Vec<usize>,
    /// Endpoints of the previous period not seen in this one, by key.
    pub disappeared: Vec<&'a EndpointStats>,
    pub drift: Vec<ServiceDrift<'a>>,
    pub callers: Vec<Caller<'a>>,
    pub unobserved: Vec<&'a Finding>,
    pub headline: Headline,
}

impl Analysis<'_> {
    /// Rows each service table shows: `max_table_rows`, reduced when many services would
    /// make the page huge (`max_inventory_rows` in all), but never below 20.
    pub fn service_cap(&self) -> usize {
        let o = &self.input.options;
        let services = self.services.len().max(1);
        o.max_table_rows
            .min((o.max_inventory_rows / services).max(20))
    }
}

/// How many observed templates the diff lists per finding (`diff`'s `MAX_LISTED`); a list
/// this long may be incomplete.
const OBSERVED_LISTED: usize = 5;

type Key<'a> = (&'a str, Method, &'a str);

fn key(e: &EndpointStats) -> Key<'_> {
    (e.service.as_str(), e.method, e.template.as_str())
}

/// Findings indexed by the observed templates they cover.
struct FindingIndex<'a> {
    /// (service, method) → observed template → findings.
    exact: ExactIndex<'a>,
    /// Undocumented findings by (service, method, segment count), for endpoints grouped
    /// under a finding whose bounded `observed` list does not name them.
    patterns: PatternIndex<'a>,
}

type ExactIndex<'a> = HashMap<(&'a str, Method), HashMap<String, Vec<u32>>>;
type PatternIndex<'a> = HashMap<(&'a str, Method, usize), Vec<(u32, PathTemplate)>>;

impl<'a> FindingIndex<'a> {
    fn new(findings: &'a [Finding]) -> FindingIndex<'a> {
        let mut exact = ExactIndex::new();
        let mut patterns = PatternIndex::new();
        for (i, f) in findings.iter().enumerate() {
            if f.kind == FindingKind::Unobserved {
                continue;
            }
            let i = i as u32;
            let mut add = |t: String| {
                let v = exact
                    .entry((f.service.as_str(), f.method))
                    .or_default()
                    .entry(t)
                    .or_default();
                if !v.contains(&i) {
                    v.push(i);
                }
            };
            for o in &f.observed {
                add(o.clone());
            }
            match &f.base_path {
                Some(b) if f.documented => add(PathTemplate::parse(&format!("{b}{}", f.path))
                    .as_str()
                    .to_owned()),
                _ => add(f.path.clone()),
            }
            // The diff lists at most a few merged templates per finding: only a full list
            // may have left some out, and only those need matching by pattern.
            if !f.documented && (f.observed.is_empty() || f.observed.len() >= OBSERVED_LISTED) {
                let p = PathTemplate::parse(&f.path);
                patterns
                    .entry((f.service.as_str(), f.method, p.segment_count()))
                    .or_default()
                    .push((i, p));
            }
        }
        FindingIndex { exact, patterns }
    }

    fn lookup(&self, findings: &'a [Finding], e: &EndpointStats) -> Vec<&'a Finding> {
        let by_template = self.exact.get(&(e.service.as_str(), e.method));
        let probe = |t: &str| {
            by_template
                .and_then(|m| m.get(t))
                .map(|v| v.iter().map(|&i| &findings[i as usize]).collect::<Vec<_>>())
        };
        if let Some(v) = probe(e.template.as_str()) {
            return v;
        }
        let canon = canonical_observed(&e.template);
        if canon != e.template {
            if let Some(v) = probe(canon.as_str()) {
                return v;
            }
        }
        let n = canon.segment_count();
        let Some(cands) = self.patterns.get(&(e.service.as_str(), e.method, n)) else {
            return Vec::new();
        };
        cands
            .iter()
            .filter(|(_, p)| covers(p, &canon))
            .map(|&(i, _)| &findings[i as usize])
            .collect()
    }
}

/// Whether a finding's template covers an observed one: literals equal, a parameter
/// accepting anything.
fn covers(pattern: &PathTemplate, observed: &PathTemplate) -> bool {
    pattern
        .segments()
        .zip(observed.segments())
        .all(|(a, b)| match a {
            Segment::Param(_) | Segment::Mixed(_) => true,
            Segment::Literal(l) => matches!(b, Segment::Literal(o) if o == l),
        })
}

fn auth_level(e: &EndpointStats, service: ServiceAuth) -> AuthLevel {
    crate::diff::auth_level(e.ok_with_auth, e.ok_without_auth, e.evidence, service)
}

/// The request count from which an endpoint counts as high volume: the 95th percentile of
/// the period, and at least 100 so a quiet week does not make everything "busy".
fn high_volume_threshold(current: &[EndpointStats]) -> u64 {
    if current.is_empty() {
        return u64::MAX;
    }
    let mut v: Vec<u64> = current.iter().map(|e| e.requests).collect();
    let idx = (v.len() * 95 / 100).min(v.len() - 1);
    let (_, p95, _) = v.select_nth_unstable(idx);
    (*p95).max(100)
}

pub(crate) fn analyse(input: &ReportInput) -> Analysis<'_> {
    let opts = &input.options;
    let findings: &[Finding] = input.diff.as_ref().map_or(&[], |d| &d.findings);
    let index = FindingIndex::new(findings);
    let without_spec: HashSet<&str> = input
        .diff
        .iter()
        .flat_map(|d| d.summary.services_without_spec.iter().map(String::as_str))
        .collect();
    let diff_auth_unknown: HashSet<&str> = input
        .diff
        .iter()
        .flat_map(|d| d.summary.services_auth_unknown.iter().map(String::as_str))
        .collect();
    let compared = input.diff.is_some();

    let previous: HashSet<Key<'_>> = input.previous.iter().map(key).collect();
    let current_keys: HashSet<Key<'_>> = input.current.iter().map(key).collect();

    let mut by_service: BTreeMap<&str, Vec<&EndpointStats>> = BTreeMap::new();
    for e in &input.current {
        by_service.entry(e.service.as_str()).or_default().push(e);
    }
    let threshold = high_volume_threshold(&input.current);

    let mut rows: Vec<Row<'_>> = Vec::with_capacity(input.current.len());
    let mut services = Vec::with_capacity(by_service.len());
    for (name, eps) in &by_service {
        let has_spec = compared && !without_spec.contains(name);
        let service_auth = if diff_auth_unknown.contains(name) {
            ServiceAuth::Unknown
        } else {
            ServiceAuth::of(eps.iter().map(|e| e.evidence))
        };
        let known = service_auth != ServiceAuth::Unknown;
        let start = rows.len();
        let (mut requests, mut shadow, mut unauth, mut zombie) = (0, 0, 0, 0);
        for &e in eps {
            let linked = if has_spec {
                index.lookup(findings, e)
            } else {
                Vec::new()
            };
            let mut kinds = Kinds::default();
            for f in &linked {
                kinds.insert(f.kind);
            }
            let not_found_only = e.source == TemplateSource::Inferred
                && e.status.s404 > 0
                && e.status.s404 == e.status.total();
            let documented = if !has_spec || (linked.is_empty() && not_found_only) {
                Documented::Unknown
            } else if kinds.contains(FindingKind::Shadow) || linked.iter().any(|f| !f.documented) {
                Documented::No
            } else {
                Documented::Yes
            };
            let auth = auth_level(e, service_auth);
            let severity = linked.iter().map(|f| f.severity).max();
            let new = !previous.contains(&key(e));
            let risk = assess(
                e, &linked, documented, auth, kinds, severity, new, has_spec, threshold,
            );
            requests += e.requests;
            shadow += kinds.contains(FindingKind::Shadow) as usize;
            unauth += kinds.contains(FindingKind::Unauthenticated) as usize;
            zombie += kinds.contains(FindingKind::Zombie) as usize;
            rows.push(Row {
                ep: e,
                documented,
                auth,
                kinds,
                severity,
                findings: linked,
                new,
                risk,
            });
        }
        rows[start..].sort_by(rank);
        services.push(ServiceView {
            name,
            rows: start..rows.len(),
            requests,
            has_spec,
            auth_unknown: !known,
            shadow,
            unauthenticated: unauth,
            zombie,
        });
    }

    let mut risky: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].risk.is_risky())
        .collect();
    risky.sort_by(|&a, &b| rank(&rows[a], &rows[b]));

    let mut new: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].new).collect();
    new.sort_by(|&a, &b| key(rows[a].ep).cmp(&key(rows[b].ep)));
    let mut disappeared: Vec<&EndpointStats> = input
        .previous
        .iter()
        .filter(|e| !current_keys.contains(&key(e)))
        .collect();
    disappeared.sort_by(|a, b| key(a).cmp(&key(b)));
    disappeared.dedup_by(|a, b| key(a) == key(b));

    let drift = drift(input, &new, &rows, &disappeared, opts.max_diff_lines);
    let callers = callers(&rows, &risky);
    let unobserved: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::Unobserved)
        .collect();

    let summary = input.diff.as_ref().map(|d| &d.summary);
    let headline = Headline {
        services: services.len(),
        endpoints: rows.len(),
        requests: rows.iter().map(|r| r.ep.requests).sum(),
        shadow: summary.map(|s| s.shadow),
        unauthenticated: summary.map(|s| s.unauthenticated),
        zombie: summary.map(|s| s.zombie),
        unobserved: summary.map(|s| s.unobserved),
        new: new.len(),
        disappeared: disappeared.len(),
        risky: risky.len(),
    };
    Analysis {
        input,
        compared,
        rows,
        services,
        risky,
        new,
        disappeared,
        drift,
        callers,
        unobserved,
        headline,
    }
}

/// Riskiest first, then busiest, then by key so the order never depends on the input's.
fn rank(a: &Row<'_>, b: &Row<'_>) -> std::cmp::Ordering {
    b.risk
        .score
        .cmp(&a.risk.score)
        .then(b.ep.requests.cmp(&a.ep.requests))
        .then_with(|| key(a.ep).cmp(&key(b.ep)))
}

#[allow(clippy::too_many_arguments)]
fn assess(
    e: &EndpointStats,
    linked: &[&Finding],
    documented: Documented,
    auth: AuthLevel,
    kinds: Kinds,
    severity: Option<Severity>,
    new: bool,
    has_spec: bool,
    threshold: u64,
) -> Risk {
    let mut reasons = Vec::new();
    let of = e.ok_with_auth + e.ok_without_auth;
    // The "why" names the spec that was bound: the file that lacks the endpoint, the
    // operation that requires authentication.
    let spec_name = |f: &Finding| {
        f.spec_file.as_ref().map(|p| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
    };
    if kinds.contains(FindingKind::Unauthenticated) {
        let required_by = linked
            .iter()
            .find(|f| f.kind == FindingKind::Unauthenticated && f.documented)
            .and_then(|f| {
                let name = spec_name(f)?;
                Some(match f.spec_line {
                    Some(line) => format!("{name}:{line}"),
                    None => name,
                })
            });
        reasons.push(Reason::Unauthenticated {
            without: e.ok_without_auth,
            of,
            required_by,
        });
    } else if !has_spec && matches!(auth, AuthLevel::Missing | AuthLevel::Mixed) {
        // Without a spec nobody said auth is required here; still worth a look when the
        // same service authenticates other endpoints.
        reasons.push(Reason::NoAuthEvidence {
            without: e.ok_without_auth,
            of,
        });
    }
    if documented == Documented::No {
        let spec = linked
            .iter()
            .find(|f| !f.documented)
            .and_then(|f| spec_name(f));
        reasons.push(Reason::Undocumented(spec));
    }
    if kinds.contains(FindingKind::Zombie) {
        reasons.push(Reason::Zombie);
    }
    let path = e.template.as_str();
    let words = risk::sensitive_words(path);
    if !words.is_empty() {
        reasons.push(Reason::Sensitive(words));
    }
    if let Some(w) = risk::bulk_word(path) {
        reasons.push(Reason::Bulk(w));
    }
    if e.requests >= threshold {
        reasons.push(Reason::HighVolume {
            requests: e.requests,
        });
    }
    if new {
        reasons.push(Reason::New);
    }
    Risk::from_reasons(reasons, severity)
}

fn drift<'a>(
    input: &'a ReportInput,
    new: &[usize],
    rows: &[Row<'a>],
    disappeared: &[&'a EndpointStats],
    max_lines: usize,
) -> Vec<ServiceDrift<'a>> {
    let mut changed: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for &i in new {
        changed.entry(rows[i].ep.service.as_str()).or_default().0 += 1;
    }
    for e in disappeared {
        changed.entry(e.service.as_str()).or_default().1 += 1;
    }
    // One pass over each window, keeping only services that changed. Lines are compared as
    // (method, template) pairs: sorting them sorts the `METHOD template` text, as no method
    // name is a prefix of another.
    type Line<'a> = (&'static str, &'a str);
    let mut lines: HashMap<&str, (Vec<Line<'a>>, Vec<Line<'a>>)> =
        changed.keys().map(|s| (*s, Default::default())).collect();
    for (set, old) in [(&input.previous, true), (&input.current, false)] {
        for e in set.iter() {
            if let Some((o, n)) = lines.get_mut(e.service.as_str()) {
                let line = (e.method.as_str(), e.template.as_str());
                if old {
                    o.push(line);
                } else {
                    n.push(line);
                }
            }
        }
    }
    let text = |(m, t): Line<'_>| format!("{m} {t}");
    let mut out = Vec::with_capacity(changed.len());
    for (service, (added, removed)) in changed {
        let (mut old, mut new) = lines.remove(service).unwrap_or_default();
        for v in [&mut old, &mut new] {
            v.sort_unstable();
            v.dedup();
        }
        // Diff integer ids (ranks in the union of both sorted lists) rather than strings,
        // with the patience algorithm: the lines are unique, so it matches them in
        // O(n log n), where Myers would compare strings O(n·d) times.
        let (old_ids, new_ids) = rank_ids(&old, &new);
        let ops = similar::capture_diff_slices(Algorithm::Patience, &old_ids, &new_ids);
        let mut hunks = Vec::new();
        let mut shown = 0;
        let mut omitted = 0;
        for group in similar::group_diff_ops(ops, 1) {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            let (o, n) = (first.old_range().start, first.new_range().start);
            let (oe, ne) = (last.old_range().end, last.new_range().end);
            let header = format!("@@ -{},{} +{},{} @@", o + 1, oe - o, n + 1, ne - n);
            let mut hunk = Vec::new();
            let mut push = |tag: ChangeTag, line: Line<'_>| {
                if shown >= max_lines {
                    omitted += 1;
                } else {
                    shown += 1;
                    hunk.push(DiffLine {
                        tag,
                        text: text(line),
                    });
                }
            };
            for op in &group {
                let (tag, or, nr) = op.as_tag_tuple();
                match tag {
                    DiffTag::Equal => or.clone().for_each(|i| push(ChangeTag::Equal, old[i])),
                    DiffTag::Delete => or.clone().for_each(|i| push(ChangeTag::Delete, old[i])),
                    DiffTag::Insert => nr.clone().for_each(|i| push(ChangeTag::Insert, new[i])),
                    DiffTag::Replace => {
                        or.clone().for_each(|i| push(ChangeTag::Delete, old[i]));
                        nr.clone().for_each(|i| push(ChangeTag::Insert, new[i]));
                    }
                }
            }
            if !hunk.is_empty() {
                hunks.push((header, hunk));
            }
        }
        out.push(ServiceDrift {
            service,
            added,
            removed,
            hunks,
            omitted,
        });
    }
    out
}

/// Numbers two sorted, deduplicated lists by rank in their union: equal lines get equal ids.
fn rank_ids<T: Ord>(old: &[T], new: &[T]) -> (Vec<u32>, Vec<u32>) {
    let (mut a, mut b) = (Vec::with_capacity(old.len()), Vec::with_capacity(new.len()));
    let (mut i, mut j, mut id) = (0, 0, 0u32);
    while i < old.len() || j < new.len() {
        let ord = match (old.get(i), new.get(j)) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match ord {
            std::cmp::Ordering::Less => {
                a.push(id);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                b.push(id);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                a.push(id);
                b.push(id);
                i += 1;
                j += 1;
            }
        }
        id += 1;
    }
    (a, b)
}

fn callers<'a>(rows: &[Row<'a>], risky: &[usize]) -> Vec<Caller<'a>> {
    let mut by: HashMap<&'a str, Caller<'a>> = HashMap::new();
    for &i in risky {
        let r = &rows[i];
        for c in &r.ep.callers {
            let entry = by.entry(c.as_str()).or_insert_with(|| Caller {
                caller: c.as_str(),
                is_address: super::text::is_address(c),
                endpoints: Vec::new(),
                requests: 0,
                score: 0,
            });
            if entry.endpoints.last() != Some(&i) {
                entry.endpoints.push(i);
                entry.requests += r.ep.requests;
                entry.score += u64::from(r.risk.score);
            }
        }
    }
    let mut v: Vec<Caller<'a>> = by.into_values().collect();
    v.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(b.requests.cmp(&a.requests))
            .then(a.caller.cmp(b.caller))
    });
    v
}
