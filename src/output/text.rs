//! Text for people: a one-line summary, then findings as aligned columns.

use super::{fmt_opt_time, table, RenderOptions};
use crate::diff::{DiffReport, FindingKind, Severity};
use crate::untrusted::{escape, Escaped};

const RESET: &str = "\x1b[0m";

fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "\x1b[1;31m",
        Severity::High => "\x1b[31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[36m",
        Severity::Info => "\x1b[2m",
    }
}

pub(super) fn render(report: &DiffReport, opts: &RenderOptions) -> String {
    let s = &report.summary;
    let mut out = format!(
        "shadowscan diff: {} shadow, {} unauthenticated, {} zombie, {} unobserved",
        s.shadow, s.unauthenticated, s.zombie, s.unobserved
    );
    if s.suppressed > 0 || s.expired > 0 {
        out.push_str(&format!(
            "; {} accepted by baseline, {} expired",
            s.suppressed, s.expired
        ));
    }
    out.push_str(&format!(
        " ({} endpoint{} observed, {} of {} documented operations seen)\n",
        s.endpoints_observed,
        if s.endpoints_observed == 1 { "" } else { "s" },
        s.operations_observed,
        s.operations_documented
    ));
    for svc in &s.services_auth_unknown {
        out.push_str(&format!(
            "note: service {} shows no auth evidence on any endpoint: auth reported as unknown, no unauthenticated findings\n",
            Escaped(svc)
        ));
    }
    for svc in &s.services_auth_refusals_only {
        out.push_str(&format!(
            "note: service {svc} shows auth only as refusals (401/403): endpoints that refused callers are reported as enforced, endpoints that never did as missing; {}\n",
            crate::diff::REFUSALS_ONLY_FIX
        ));
    }
    for svc in &s.services_without_spec {
        out.push_str(&format!(
            "note: service {} has no spec bound: not compared\n",
            Escaped(svc)
        ));
    }
    let shown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| opts.verbose || f.kind != FindingKind::Unobserved)
        .collect();
    if !shown.is_empty() {
        let rows: Vec<Vec<String>> = shown
            .iter()
            .map(|f| {
                vec![
                    f.severity.as_str().to_owned(),
                    f.kind.as_str().to_owned(),
                    escape(&f.service).into_owned(),
                    f.method.as_str().to_owned(),
                    escape(&f.path).into_owned(),
                    f.requests.to_string(),
                    f.auth.as_str().to_owned(),
                    fmt_opt_time(f.last_seen),
                    escape(&f.reason).into_owned(),
                ]
            })
            .collect();
        let paint = |r: usize, c: usize, cell: String| {
            if opts.color && c == 0 {
                format!("{}{cell}{RESET}", severity_colour(shown[r].severity))
            } else {
                cell
            }
        };
        out.push('\n');
        out.push_str(&table(
            &[
                "SEVERITY",
                "KIND",
                "SERVICE",
                "METHOD",
                "PATH",
                "REQUESTS",
                "AUTH",
                "LAST SEEN",
                "WHY",
            ],
            &rows,
            &[5],
            &paint,
        ));
    }
    let hidden = report.findings.len() - shown.len();
    if hidden > 0 {
        out.push_str(&format!(
            "\n{hidden} documented operation{} had no traffic in the window (--verbose lists them)\n",
            if hidden == 1 { "" } else { "s" }
        ));
    }
    if opts.verbose && !report.suppressed.is_empty() {
        out.push_str("\naccepted by baseline:\n");
        let rows: Vec<Vec<String>> = report
            .suppressed
            .iter()
            .map(|x| {
                vec![
                    x.finding.kind.as_str().to_owned(),
                    escape(&x.finding.service).into_owned(),
                    x.finding.method.as_str().to_owned(),
                    escape(&x.finding.path).into_owned(),
                    escape(x.expires.as_deref().unwrap_or("-")).into_owned(),
                    escape(&x.reason).into_owned(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["KIND", "SERVICE", "METHOD", "PATH", "EXPIRES", "REASON"],
            &rows,
            &[],
            &|_, _, c| c,
        ));
    }
    out
}
