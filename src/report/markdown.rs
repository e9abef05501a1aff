//! The Markdown rendering, for tickets and pull requests: GitHub-flavoured tables, drift as
//! ` ```diff ` blocks, long lists folded in `<details>`. Every piece of span data goes through
//! [`md_code`] or [`md_text`], so a path cannot inject links, HTML or break a table.

use std::fmt::Write;

use similar::ChangeTag;

use super::analysis::{Analysis, Row};
use super::text::{datetime, md_code, md_text, status_mix, thousands};

/// Lists longer than this are folded.
const FOLD: usize = 10;

pub(crate) fn diff_sign(tag: ChangeTag) -> char {
    match tag {
        ChangeTag::Delete => '-',
        ChangeTag::Insert => '+',
        ChangeTag::Equal => ' ',
    }
}

/// Text inside HTML blocks (`<summary>`), where Markdown escapes are not interpreted.
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    super::text::push_html(&mut out, s);
    out
}

fn opt(n: Option<usize>) -> String {
    n.map_or_else(|| "—".to_owned(), |n| thousands(n as u64))
}

fn endpoint(r: &Row<'_>) -> String {
    md_code(&format!("{} {}", r.ep.method, r.ep.template))
}

fn findings(r: &Row<'_>) -> String {
    if r.kinds.is_empty() {
        return "—".to_owned();
    }
    let kinds: Vec<&str> = r.kinds.iter().map(|k| k.as_str()).collect();
    match r.severity {
        Some(s) => format!("{} (**{}**)", kinds.join(", "), s.as_str()),
        None => kinds.join(", "),
    }
}

fn open_fold(out: &mut String, n: usize, summary: &str) {
    if n > FOLD {
        let _ = writeln!(out, "<details><summary>{summary}</summary>\n");
    }
}

fn close_fold(out: &mut String, n: usize) {
    if n > FOLD {
        out.push_str("\n</details>\n");
    }
}

fn shown_note(out: &mut String, shown: usize, total: usize) {
    if shown < total {
        let _ = writeln!(
            out,
            "\n_Showing {} of {}; the JSON report (`--format json`) lists all._",
            thousands(shown as u64),
            thousands(total as u64)
        );
    }
}

pub(crate) fn render(a: &Analysis<'_>) -> String {
    let input = a.input;
    let opts = &input.options;
    let h = &a.headline;
    let mut out = String::with_capacity(64 * 1024);
    let _ = writeln!(out, "# shadowscan inventory report\n");
    let _ = writeln!(
        out,
        "Window **{} → {}**, compared with {} → {}. Generated {}.{}\n",
        datetime(input.window.since),
        datetime(input.window.until),
        datetime(input.previous_window.since),
        datetime(input.previous_window.until),
        datetime(input.generated_at),
        if a.compared {
            ""
        } else {
            " No specs were given: documented/undocumented is not known."
        }
    );

    if let Some(notice) = &input.notice {
        let _ = writeln!(out, "> **{}**\n", md_text(notice));
    }
    out.push_str("| Services | Endpoints | Requests | Shadow | Unauthenticated | Zombie | Unobserved | New | Disappeared | Risky |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        thousands(h.services as u64),
        thousands(h.endpoints as u64),
        thousands(h.requests),
        opt(h.shadow),
        opt(h.unauthenticated),
        opt(h.zombie),
        opt(h.unobserved),
        thousands(h.new as u64),
        thousands(h.disappeared as u64),
        thousands(h.risky as u64),
    );

    // Risk list.
    let _ = writeln!(out, "## Highest risk\n");
    if a.risky.is_empty() {
        out.push_str("Nothing undocumented, unauthenticated, deprecated or sensitive-looking was served.\n\n");
    } else {
        let shown = a.risky.len().min(opts.max_risks);
        out.push_str("| # | Score | Endpoint | Service | Findings | Auth | Requests | Why |\n");
        out.push_str("|---:|---:|---|---|---|---|---:|---|\n");
        for (n, &i) in a.risky[..shown].iter().enumerate() {
            let r = &a.rows[i];
            let why: Vec<String> = r
                .risk
                .reasons
                .iter()
                .map(|x| md_text(&x.to_string()))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                n + 1,
                r.risk.score,
                endpoint(r),
                md_text(&r.ep.service),
                findings(r),
                r.auth.as_str(),
                thousands(r.ep.requests),
                why.join("; ")
            );
        }
        shown_note(&mut out, shown, a.risky.len());
        out.push('\n');
    }

    // Callers.
    if !a.callers.is_empty() {
        let _ = writeln!(out, "## Top callers of risky endpoints\n");
        let shown = a.callers.len().min(opts.max_callers);
        out.push_str("| Caller | Kind | Risky endpoints | Requests to them | Riskiest reached |\n");
        out.push_str("|---|---|---:|---:|---|\n");
        for c in &a.callers[..shown] {
            let top: Vec<String> = c
                .endpoints
                .iter()
                .take(3)
                .map(|&i| endpoint(&a.rows[i]))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md_code(c.caller),
                if c.is_address { "address" } else { "service" },
                c.endpoints.len(),
                thousands(c.requests),
                top.join(", ")
            );
        }
        shown_note(&mut out, shown, a.callers.len());
        out.push('\n');
    }

    // Drift.
    let _ = writeln!(out, "## Changes since the previous period\n");
    if a.new.is_empty() && a.disappeared.is_empty() {
        out.push_str("No endpoint appeared or disappeared.\n\n");
    }
    if !a.new.is_empty() {
        let _ = writeln!(out, "### New ({})\n", a.new.len());
        let n = a.new.len();
        open_fold(&mut out, n, &format!("{n} new endpoints"));
        let shown = n.min(opts.max_drift_rows);
        out.push_str(
            "| Endpoint | Service | Requests | First seen | Findings |\n|---|---|---:|---|---|\n",
        );
        for &i in &a.new[..shown] {
            let r = &a.rows[i];
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                endpoint(r),
                md_text(&r.ep.service),
                thousands(r.ep.requests),
                datetime(r.ep.first_seen),
                findings(r)
            );
        }
        shown_note(&mut out, shown, n);
        close_fold(&mut out, n);
        out.push('\n');
    }
    if !a.disappeared.is_empty() {
        let n = a.disappeared.len();
        let _ = writeln!(out, "### Disappeared ({n})\n");
        open_fold(&mut out, n, &format!("{n} endpoints no longer seen"));
        let shown = n.min(opts.max_drift_rows);
        out.push_str(
            "| Endpoint | Service | Requests (previous period) | Last seen |\n|---|---|---:|---|\n",
        );
        for e in &a.disappeared[..shown] {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                md_code(&format!("{} {}", e.method, e.template)),
                md_text(&e.service),
                thousands(e.requests),
                datetime(e.last_seen)
            );
        }
        shown_note(&mut out, shown, n);
        close_fold(&mut out, n);
        out.push('\n');
    }
    for d in &a.drift {
        let _ = writeln!(
            out,
            "<details><summary>Inventory diff: {} (+{} −{})</summary>\n",
            html(d.service),
            d.added,
            d.removed
        );
        // Fenced with more backticks than any line can hold is not needed: lines are
        // `METHOD template` and a fence only closes at a line start.
        out.push_str("```diff\n");
        for (header, lines) in &d.hunks {
            out.push_str(header);
            out.push('\n');
            for l in lines {
                out.push(diff_sign(l.tag));
                out.push_str(&crate::untrusted::escape(&l.text));
                out.push('\n');
            }
        }
        out.push_str("```\n");
        if d.omitted > 0 {
            let _ = writeln!(
                out,
                "\n_{} more lines not shown._",
                thousands(d.omitted as u64)
            );
        }
        out.push_str("\n</details>\n\n");
    }

    // Services.
    let _ = writeln!(out, "## Services\n");
    for s in &a.services {
        let rows = &a.rows[s.rows.clone()];
        let mut notes = Vec::new();
        if a.compared && !s.has_spec {
            notes.push("no spec bound: not compared");
        }
        if s.auth_unknown {
            notes.push("no auth evidence anywhere: auth unknown");
        }
        let _ = writeln!(
            out,
            "### {}\n\n{} endpoints, {} requests; {} shadow, {} unauthenticated, {} zombie.{}\n",
            md_text(s.name),
            thousands(rows.len() as u64),
            thousands(s.requests),
            s.shadow,
            s.unauthenticated,
            s.zombie,
            if notes.is_empty() {
                String::new()
            } else {
                format!(" _{}._", notes.join("; "))
            }
        );
        let n = rows.len();
        open_fold(&mut out, n, &format!("{n} endpoints, riskiest first"));
        let shown = n.min(a.service_cap());
        out.push_str("| Method | Template | Documented | Auth | Requests | Status mix | Callers | First seen | Last seen | Findings |\n");
        out.push_str("|---|---|---|---|---:|---|---|---|---|---|\n");
        for r in &rows[..shown] {
            let e = r.ep;
            let callers: Vec<String> = e.callers.iter().take(3).map(|c| md_code(c)).collect();
            let more = e.callers.len().saturating_sub(3);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {}{} | {} | {} | {} |",
                e.method,
                md_code(e.template.as_str()),
                r.documented.as_str(),
                r.auth.as_str(),
                thousands(e.requests),
                status_mix(&e.status),
                if callers.is_empty() {
                    "—".to_owned()
                } else {
                    callers.join(", ")
                },
                if more > 0 {
                    format!(" +{more}")
                } else {
                    String::new()
                },
                datetime(e.first_seen),
                datetime(e.last_seen),
                findings(r)
            );
        }
        shown_note(&mut out, shown, n);
        close_fold(&mut out, n);
        out.push('\n');
    }

    if !a.unobserved.is_empty() {
        let n = a.unobserved.len();
        let _ = writeln!(out, "## Documented but unobserved ({n})\n");
        let _ = writeln!(out, "<details><summary>{n} documented operation{} without traffic in the window</summary>\n", if n == 1 { "" } else { "s" });
        let shown = n.min(opts.max_table_rows);
        out.push_str("| Operation | Service | Spec |\n|---|---|---|\n");
        for f in &a.unobserved[..shown] {
            let spec = match (&f.spec_file, f.spec_line) {
                (Some(p), Some(l)) => md_code(&format!("{}:{l}", p.display())),
                (Some(p), None) => md_code(&p.display().to_string()),
                _ => "—".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                md_code(&format!("{} {}", f.method, f.path)),
                md_text(&f.service),
                spec
            );
        }
        shown_note(&mut out, shown, n);
        out.push_str("\n</details>\n\n");
    }
    out.push_str("<sub>Risk score: unauthenticated 35 (partly 25), undocumented 30, sensitive-looking path 25, deprecated but served 15, bulk-looking 10, busiest 5% 10, new 5; +10 for a critical and +5 for a high finding.</sub>\n");
    out
}
