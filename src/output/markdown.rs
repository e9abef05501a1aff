//! Markdown for pull-request comments: a summary table, then one table per kind. Cells are
//! escaped so a `|` or `<` in a path or reason cannot break the table or inject HTML, and a
//! backtick cannot end a code span early.

use super::{fmt_opt_time, RenderOptions};
use crate::diff::{DiffReport, Finding, FindingKind};

pub(crate) fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in crate::untrusted::escape(s).chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Inline code that survives any content: backticks in the text get a longer fence.
fn code(s: &str) -> String {
    crate::untrusted::md_code(s)
}

fn heading(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Shadow => "Shadow endpoints (served, not documented)",
        FindingKind::Unauthenticated => "Unauthenticated endpoints (served without auth evidence)",
        FindingKind::Zombie => "Zombie endpoints (deprecated, still called)",
        FindingKind::Unobserved => "Unobserved operations (documented, no traffic)",
    }
}

fn rows(out: &mut String, findings: &[&Finding]) {
    out.push_str("| Severity | Service | Method | Path | Requests | Auth | Last seen | Why |\n");
    out.push_str("|---|---|---|---|---:|---|---|---|\n");
    for f in findings {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            f.severity.as_str(),
            cell(&f.service),
            f.method,
            code(&f.path),
            f.requests,
            f.auth.as_str(),
            fmt_opt_time(f.last_seen),
            cell(&f.reason)
        ));
    }
}

pub(super) fn render(report: &DiffReport, opts: &RenderOptions) -> String {
    let s = &report.summary;
    let failed = report.fails(&opts.fail_on);
    let mut out = String::from("## shadowscan diff\n\n");
    out.push_str(if failed {
        "**Drift found**: the findings below fail this check.\n\n"
    } else {
        "No failing drift.\n\n"
    });
    out.push_str("| Shadow | Unauthenticated | Zombie | Unobserved | Accepted by baseline | Endpoints observed | Documented operations seen |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|\n");
    out.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} | {} / {} |\n",
        s.shadow,
        s.unauthenticated,
        s.zombie,
        s.unobserved,
        s.suppressed,
        s.endpoints_observed,
        s.operations_observed,
        s.operations_documented
    ));
    for svc in &s.services_auth_unknown {
        out.push_str(&format!(
            "\n> **Note:** service {} shows no auth evidence on any endpoint; auth is reported as unknown.\n",
            code(svc)
        ));
    }
    for svc in &s.services_auth_refusals_only {
        out.push_str(&format!(
            "\n> **Note:** service {} shows auth only as refusals (401/403): endpoints that refused callers are reported as enforced, endpoints that never did as missing; {}.\n",
            code(svc),
            crate::diff::REFUSALS_ONLY_FIX
        ));
    }
    for kind in FindingKind::ALL {
        let fs: Vec<&Finding> = report.findings.iter().filter(|f| f.kind == kind).collect();
        if fs.is_empty() {
            continue;
        }
        let collapsed = kind == FindingKind::Unobserved;
        if collapsed {
            out.push_str(&format!(
                "\n<details>\n<summary>{} ({})</summary>\n\n",
                heading(kind),
                fs.len()
            ));
        } else {
            out.push_str(&format!("\n### {} ({})\n\n", heading(kind), fs.len()));
        }
        rows(&mut out, &fs);
        if collapsed {
            out.push_str("\n</details>\n");
        }
    }
    if !report.suppressed.is_empty() {
        out.push_str(&format!(
            "\n<details>\n<summary>Accepted by baseline ({})</summary>\n\n| Kind | Service | Method | Path | Expires | Reason |\n|---|---|---|---|---|---|\n",
            report.suppressed.len()
        ));
        for x in &report.suppressed {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                x.finding.kind.as_str(),
                cell(&x.finding.service),
                x.finding.method,
                code(&x.finding.path),
                x.expires.as_deref().unwrap_or("-"),
                cell(&x.reason)
            ));
        }
        out.push_str("\n</details>\n");
    }
    out
}
