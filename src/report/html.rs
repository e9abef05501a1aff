//! The HTML rendering: one self-contained page (inline CSS, SVG and script; a Content
//! Security Policy forbids any fetch), readable with scripts off and on paper. Tables are
//! rendered here in full (up to the caps); the script only sorts and filters them. All span
//! data is written through [`push_html`].

use std::fmt::Write;

use similar::ChangeTag;

use super::analysis::{Analysis, Documented, Row};
use super::text::{date, datetime, push_html, status_mix, thousands};
use super::treemap::{squarify, Rect};
use crate::diff::FindingKind;
use crate::model::EndpointStats;

const CSS: &str = include_str!("report.css");
const JS: &str = include_str!("report.js");

/// Map canvas, in SVG user units (it scales to the page width).
const MAP_W: f64 = 1200.0;
const MAP_H: f64 = 400.0;
const HEADER_H: f64 = 16.0;

fn esc(out: &mut String, s: &str) {
    push_html(out, s);
}

/// A numeric column (sorted as numbers, right-aligned) or a text one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Num,
    Text,
}

fn table_start(out: &mut String, id: &str, cols: &[(&str, Col)]) {
    out.push_str("<div class=\"tw\"><div class=\"tools\"><input type=\"search\" class=\"flt\" placeholder=\"Filter rows…\" aria-label=\"Filter rows\" hidden><span class=\"cnt\"></span></div><table class=\"dt\"");
    if !id.is_empty() {
        let _ = write!(out, " id=\"{id}\"");
    }
    out.push_str("><thead><tr>");
    for (label, col) in cols {
        match col {
            Col::Num => {
                let _ = write!(out, "<th data-t=\"n\" class=\"n\">{label}</th>");
            }
            Col::Text => {
                let _ = write!(out, "<th>{label}</th>");
            }
        }
    }
    out.push_str("</tr></thead><tbody>\n");
}

fn table_end(out: &mut String, shown: usize, total: usize) {
    out.push_str("</tbody></table>");
    if shown < total {
        let _ = write!(
            out,
            "<p class=\"note\">Showing {} of {} rows, riskiest first. The JSON report (<code>--format json</code>) lists all.</p>",
            thousands(shown as u64),
            thousands(total as u64)
        );
    }
    out.push_str("</div>\n");
}

fn td_num(out: &mut String, n: u64) {
    let _ = write!(out, "<td class=\"n\" data-v=\"{n}\">{}</td>", thousands(n));
}

fn td_time(out: &mut String, t: i64) {
    let _ = write!(
        out,
        "<td data-v=\"{t}\" title=\"{}\">{}</td>",
        datetime(t),
        date(t)
    );
}

fn td_text(out: &mut String, s: &str) {
    out.push_str("<td>");
    esc(out, s);
    out.push_str("</td>");
}

fn td_code(out: &mut String, s: &str) {
    out.push_str("<td><code>");
    esc(out, s);
    out.push_str("</code></td>");
}

fn td_method(out: &mut String, m: crate::model::Method) {
    let _ = write!(out, "<td><span class=\"m\">{m}</span></td>");
}

fn badges(out: &mut String, r: &Row<'_>) {
    out.push_str("<td>");
    if r.kinds.is_empty() {
        out.push_str("<span class=\"dim\">—</span>");
    }
    for k in r.kinds.iter() {
        let _ = write!(out, "<span class=\"b b-{0}\">{0}</span> ", k.as_str());
    }
    if let Some(s) = r.severity {
        let _ = write!(out, "<span class=\"sev sev-{0}\">{0}</span>", s.as_str());
    }
    out.push_str("</td>");
}

fn td_auth(out: &mut String, r: &Row<'_>) {
    let a = r.auth.as_str();
    let _ = write!(out, "<td><span class=\"a a-{a}\">{a}</span></td>");
}

fn td_documented(out: &mut String, d: Documented) {
    let class = match d {
        Documented::Yes => "doc-yes",
        Documented::No => "doc-no",
        Documented::Unknown => "dim",
    };
    let _ = write!(out, "<td class=\"{class}\">{}</td>", d.as_str());
}

fn card(out: &mut String, label: &str, value: Option<u64>, class: &str) {
    let v = value.map_or_else(|| "—".to_owned(), thousands);
    let _ = write!(
        out,
        "<div class=\"card {class}\"><div class=\"v\">{v}</div><div class=\"l\">{label}</div></div>"
    );
}

pub(crate) fn render(a: &Analysis<'_>) -> String {
    let input = a.input;
    let h = &a.headline;
    let mut out = String::with_capacity(256 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    // Belt and braces for "no network when opened": even a bug here cannot fetch anything.
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<title>shadowscan report {} → {}</title>",
        date(input.window.since),
        date(input.window.until)
    );
    let _ = writeln!(out, "<style>{CSS}</style></head><body>");

    // Header and headline figures.
    let _ = write!(
        out,
        "<header><h1>shadowscan inventory report</h1><p class=\"sub\">Window <b>{}</b> → <b>{}</b>, compared with {} → {}. Generated {}.",
        datetime(input.window.since),
        datetime(input.window.until),
        datetime(input.previous_window.since),
        datetime(input.previous_window.until),
        datetime(input.generated_at)
    );
    if !a.compared {
        out.push_str(" <b>No specs were given</b>: documented/undocumented is not known.");
    }
    out.push_str("</p>");
    if let Some(notice) = &input.notice {
        out.push_str("<p class=\"notice\"><b>");
        push_html(&mut out, notice);
        out.push_str("</b></p>");
    }
    out.push_str("</header>\n<section class=\"cards\">");
    let n = |x: usize| Some(x as u64);
    card(&mut out, "services", n(h.services), "");
    card(&mut out, "endpoints", n(h.endpoints), "");
    card(&mut out, "requests", Some(h.requests), "");
    card(&mut out, "shadow", h.shadow.map(|x| x as u64), "c-shadow");
    card(
        &mut out,
        "unauthenticated",
        h.unauthenticated.map(|x| x as u64),
        "c-unauth",
    );
    card(&mut out, "zombie", h.zombie.map(|x| x as u64), "c-zombie");
    card(&mut out, "unobserved", h.unobserved.map(|x| x as u64), "");
    card(&mut out, "new", n(h.new), "");
    card(&mut out, "disappeared", n(h.disappeared), "");
    card(&mut out, "risky", n(h.risky), "c-unauth");
    out.push_str("</section>\n");

    out.push_str("<nav class=\"toc\"><a href=\"#map\">Map</a> · <a href=\"#risk\">Highest risk</a> · <a href=\"#callers\">Callers</a> · <a href=\"#drift\">Changes</a> · <a href=\"#services\">Services</a>");
    if !a.unobserved.is_empty() {
        out.push_str(" · <a href=\"#unobserved\">Unobserved</a>");
    }
    out.push_str("</nav>\n");

    map(&mut out, a);
    risks(&mut out, a);
    callers(&mut out, a);
    drift(&mut out, a);
    services(&mut out, a);
    unobserved(&mut out, a);

    out.push_str("<footer><p>Risk score: unauthenticated 35 (partly 25), undocumented 30, sensitive-looking path 25, deprecated but served 15, bulk-looking 10, among the busiest 5% 10, new 5; +10 for a critical and +5 for a high finding. Auth levels: <i>present</i> every successful request carried evidence, <i>mixed</i> some did not, <i>missing</i> none did, <i>unknown</i> the service shows no auth evidence anywhere, <i>none</i> no successful request to judge by.</p>");
    let _ = writeln!(
        out,
        "<p>Generated by shadowscan {}. Click a column header to sort; type in a filter box to narrow a table (several words must all match; <code>#q=word</code> in the address filters every table).</p></footer>",
        env!("CARGO_PKG_VERSION")
    );
    let _ = write!(out, "<script>{JS}</script>\n</body></html>\n");
    out
}

/// A cell's area. Square root, and a floor of 1/20 of the busiest cell: a 12-request
/// `/admin/export` must stay visible (and labelled) next to a million-request health check,
/// while busier endpoints still look bigger.
fn cell_weight(e: &EndpointStats, floor: f64) -> f64 {
    ((e.requests as f64).sqrt() + 1.0).max(floor)
}

fn map(out: &mut String, a: &Analysis<'_>) {
    out.push_str("<section id=\"map\"><h2>API surface</h2>");
    if a.rows.is_empty() {
        out.push_str("<p>No endpoints were observed in the window.</p></section>\n");
        return;
    }
    let total = a.rows.len();
    let busiest = a.rows.iter().map(|r| r.ep.requests).max().unwrap_or(0);
    let floor = ((busiest as f64).sqrt() + 1.0) / 20.0;
    let cap = a.input.options.max_map_cells.max(a.services.len());
    // Per service: the cells drawn (riskiest first) and the weight of the rest.
    let mut plan: Vec<(usize, f64, f64)> = Vec::with_capacity(a.services.len());
    for s in &a.services {
        let n = s.rows.len();
        let keep = if total <= cap {
            n
        } else {
            ((cap as f64 * n as f64 / total as f64).floor() as usize).clamp(1, n)
        };
        let rows = &a.rows[s.rows.clone()];
        let shown: f64 = rows[..keep].iter().map(|r| cell_weight(r.ep, floor)).sum();
        let rest: f64 = rows[keep..].iter().map(|r| cell_weight(r.ep, floor)).sum();
        plan.push((keep, shown, rest));
    }
    let mut order: Vec<usize> = (0..a.services.len()).collect();
    order.sort_by(|&x, &y| {
        let wx = plan[x].1 + plan[x].2;
        let wy = plan[y].1 + plan[y].2;
        wy.total_cmp(&wx).then(x.cmp(&y))
    });
    // Every service stays visible: at least 1/50 of the whole.
    let all: f64 = plan.iter().map(|p| p.1 + p.2).sum();
    let weights: Vec<f64> = order
        .iter()
        .map(|&i| (plan[i].1 + plan[i].2).max(all / 50.0))
        .collect();
    let boxes = squarify(
        &weights,
        Rect {
            x: 0.0,
            y: 0.0,
            w: MAP_W,
            h: MAP_H,
        },
    );
    let _ = write!(
        out,
        "<div class=\"map\"><svg viewBox=\"0 0 {MAP_W} {MAP_H}\" role=\"img\" aria-label=\"Services and their endpoints, sized by traffic, coloured by finding\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let mut more_cells = 0usize;
    let mut sensitive = 0usize;
    for (&si, sbox) in order.iter().zip(&boxes) {
        let s = &a.services[si];
        let (keep, _, rest) = plan[si];
        let b = sbox.inset(1.5);
        if b.w < 1.0 || b.h < 1.0 {
            continue;
        }
        out.push_str("<g class=\"svc\"><rect class=\"sv\"");
        xywh(out, b);
        out.push_str("><title>");
        esc(out, s.name);
        let _ = write!(
            out,
            ": {} endpoints, {} requests</title></rect>",
            thousands(s.rows.len() as u64),
            thousands(s.requests)
        );
        let header = if b.h > 3.0 * HEADER_H { HEADER_H } else { 0.0 };
        if header > 0.0 && b.w > 30.0 {
            let _ = write!(
                out,
                "<text class=\"st\" x=\"{:.1}\" y=\"{:.1}\">",
                b.x + 4.0,
                b.y + 12.0
            );
            esc(out, &fit(s.name, b.w - 8.0, 6.6));
            out.push_str("</text>");
        }
        let inner = Rect {
            x: b.x + 1.0,
            y: b.y + header,
            w: (b.w - 2.0).max(0.0),
            h: (b.h - header - 1.0).max(0.0),
        };
        let rows = &a.rows[s.rows.clone()];
        // Cells: the drawn rows and, when some are left out, one "more" cell (`None`).
        let mut cells: Vec<(f64, Option<usize>)> = (0..keep)
            .map(|i| (cell_weight(rows[i].ep, floor), Some(i)))
            .collect();
        if rest > 0.0 {
            // The undrawn remainder is often most of a big service's traffic; at full size
            // it would squeeze the drawn (riskiest) cells into a sliver. At most half the
            // block, and the legend says it is not to scale.
            let shown: f64 = cells.iter().map(|c| c.0).sum();
            cells.push((rest.min(shown.max(1.0)), None));
        }
        // Squarify wants descending weights for good aspect ratios.
        cells.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        let w: Vec<f64> = cells.iter().map(|c| c.0).collect();
        let rects = squarify(&w, inner);
        for (&(_, row), c) in cells.iter().zip(&rects) {
            let c = c.inset(0.5);
            if c.w < 0.5 || c.h < 0.5 {
                continue;
            }
            let Some(row) = row else {
                let more = rows.len() - keep;
                out.push_str("<rect class=\"k-more\"");
                xywh(out, c);
                let _ = write!(
                    out,
                    "><title>{} more endpoints of this service (see the tables and JSON)</title></rect>",
                    thousands(more as u64)
                );
                more_cells += 1;
                if c.w > 30.0 && c.h > 13.0 {
                    label(out, c, &format!("+{} more", thousands(more as u64)), "lt");
                }
                continue;
            };
            let r = &rows[row];
            let class = r.kinds.map_class(r.documented);
            let sens = r
                .risk
                .reasons
                .iter()
                .any(|x| matches!(x, super::risk::Reason::Sensitive(_)));
            sensitive += sens as usize;
            let _ = write!(
                out,
                "<rect class=\"k-{class}{}\"",
                if sens { " sens" } else { "" }
            );
            xywh(out, c);
            out.push_str("><title>");
            let _ = write!(out, "{} ", r.ep.method);
            esc(out, r.ep.template.as_str());
            out.push_str(" — ");
            esc(out, s.name);
            let _ = write!(
                out,
                "\n{} requests; auth {}",
                thousands(r.ep.requests),
                r.auth.as_str()
            );
            for k in r.kinds.iter() {
                let _ = write!(out, "; {}", k.as_str());
            }
            out.push_str("</title></rect>");
            if c.w > 30.0 && c.h > 13.0 {
                let tone = if matches!(class, "ok" | "nc" | "unauth" | "zombie") {
                    "ld"
                } else {
                    "lt"
                };
                label(out, c, &format!("{} {}", r.ep.method, r.ep.template), tone);
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg></div>\n<ul class=\"legend\">");
    // Endpoints per finding kind over all rows, drawn or not, so the legend says what the
    // headline says; a cell with several kinds takes the colour listed first.
    let with = |k: FindingKind| a.rows.iter().filter(|r| r.kinds.contains(k)).count();
    let plain = |class: &str| {
        a.rows
            .iter()
            .filter(|r| r.kinds.is_empty() && r.kinds.map_class(r.documented) == class)
            .count()
    };
    let counts = [
        with(FindingKind::Unauthenticated),
        with(FindingKind::Shadow),
        with(FindingKind::Zombie),
        plain("ok"),
        plain("nc"),
        more_cells,
    ];
    let items = [
        ("unauth", "unauthenticated (served without auth evidence)"),
        ("shadow", "shadow (undocumented)"),
        ("zombie", "zombie (deprecated, still served)"),
        ("ok", "documented, no finding"),
        ("nc", "not compared (no spec)"),
        ("more", "more endpoints, not drawn (not to scale)"),
    ];
    for (i, (class, text)) in items.iter().enumerate() {
        if counts[i] == 0 && (i >= 4) {
            continue;
        }
        let _ = write!(
            out,
            "<li><svg width=\"14\" height=\"14\" aria-hidden=\"true\"><rect class=\"k-{class}\" width=\"14\" height=\"14\"/></svg> {text} <span class=\"dim\">({})</span></li>",
            counts[i]
        );
    }
    if sensitive > 0 {
        let _ = write!(
            out,
            "<li><svg width=\"14\" height=\"14\" aria-hidden=\"true\"><rect class=\"k-nc sens\" x=\"1\" y=\"1\" width=\"12\" height=\"12\"/></svg> thick outline: sensitive-looking path <span class=\"dim\">({sensitive})</span></li>"
        );
    }
    out.push_str("<li class=\"dim\">Counts are endpoints; a cell with several findings takes the colour listed first. Area grows with the square root of requests (the quietest are enlarged to stay visible); one block per service. Hover a cell for details.</li></ul>");
    if total > cap {
        let _ = write!(
            out,
            "<p class=\"note\">{} endpoint cells drawn of {}: each service shows its riskiest endpoints, the rest as one grey cell.</p>",
            thousands(cap as u64),
            thousands(total as u64)
        );
    }
    out.push_str("</section>\n");
}

fn xywh(out: &mut String, r: Rect) {
    let _ = write!(
        out,
        " x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"",
        r.x, r.y, r.w, r.h
    );
}

/// Writes `text` inside cell `c`, wrapped over as many lines as the cell is tall and cut
/// with an ellipsis when it still does not fit.
fn label(out: &mut String, c: Rect, text: &str, tone: &str) {
    const CHAR_W: f64 = 5.8;
    const LINE_H: f64 = 11.0;
    let per_line = ((c.w - 6.0) / CHAR_W).floor().max(0.0) as usize;
    let max_lines = ((c.h - 3.0) / LINE_H).floor().max(0.0) as usize;
    if per_line < 3 || max_lines == 0 {
        return;
    }
    let mut lines = wrap(text, per_line);
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let mut cut: String = last.chars().take(per_line - 1).collect();
            cut.push('…');
            *last = cut;
        }
    }
    let x = c.x + 3.0;
    let _ = write!(
        out,
        "<text class=\"{tone}\" x=\"{x:.1}\" y=\"{:.1}\">",
        c.y + LINE_H
    );
    for (i, line) in lines.iter().enumerate() {
        if i == 0 {
            esc(out, line);
        } else {
            let _ = write!(out, "<tspan x=\"{x:.1}\" dy=\"{LINE_H}\">");
            esc(out, line);
            out.push_str("</tspan>");
        }
    }
    out.push_str("</text>");
}

/// Greedy wrap at path boundaries (before `/`, after a space); pieces longer than a line
/// are cut by characters.
fn wrap(text: &str, per_line: usize) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c == '/' && !cur.is_empty() {
            pieces.push(std::mem::take(&mut cur));
        }
        cur.push(c);
        if c == ' ' {
            pieces.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for p in pieces {
        let plen = p.chars().count();
        if len + plen > per_line && len > 0 {
            lines.push(std::mem::take(&mut line));
            len = 0;
        }
        if plen > per_line {
            let chars: Vec<char> = p.chars().collect();
            for chunk in chars.chunks(per_line) {
                if len + chunk.len() > per_line {
                    lines.push(std::mem::take(&mut line));
                    len = 0;
                }
                line.extend(chunk);
                len += chunk.len();
            }
        } else {
            line.push_str(&p);
            len += plen;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Truncates `s` to what fits in `width` units at `per_char` units a character.
fn fit(s: &str, width: f64, per_char: f64) -> String {
    let max = (width / per_char).floor().max(0.0) as usize;
    if s.chars().count() <= max {
        return s.to_owned();
    }
    if max <= 1 {
        return String::new();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

fn risks(out: &mut String, a: &Analysis<'_>) {
    out.push_str("<section id=\"risk\"><h2>Highest risk</h2>");
    if a.risky.is_empty() {
        out.push_str("<p>Nothing undocumented, unauthenticated, deprecated or sensitive-looking was served.</p></section>\n");
        return;
    }
    out.push_str("<p class=\"lead\">Undocumented, unauthenticated, deprecated and sensitive-looking endpoints, riskiest first, each with the reasons it ranks where it does.</p>");
    let shown = a.risky.len().min(a.input.options.max_risks);
    table_start(
        out,
        "t-risk",
        &[
            ("#", Col::Num),
            ("Score", Col::Num),
            ("Method", Col::Text),
            ("Template", Col::Text),
            ("Service", Col::Text),
            ("Findings", Col::Text),
            ("Auth", Col::Text),
            ("Requests", Col::Num),
            ("Why", Col::Text),
        ],
    );
    for (n, &i) in a.risky[..shown].iter().enumerate() {
        let r = &a.rows[i];
        out.push_str("<tr>");
        td_num(out, n as u64 + 1);
        let _ = write!(
            out,
            "<td class=\"n\" data-v=\"{0}\"><span class=\"score\">{0}</span></td>",
            r.risk.score
        );
        td_method(out, r.ep.method);
        td_code(out, r.ep.template.as_str());
        td_text(out, &r.ep.service);
        badges(out, r);
        td_auth(out, r);
        td_num(out, r.ep.requests);
        out.push_str("<td><ul class=\"why\">");
        for x in &r.risk.reasons {
            out.push_str("<li>");
            esc(out, &x.to_string());
            out.push_str("</li>");
        }
        out.push_str("</ul></td></tr>\n");
    }
    table_end(out, shown, a.risky.len());
    out.push_str("</section>\n");
}

fn callers(out: &mut String, a: &Analysis<'_>) {
    out.push_str("<section id=\"callers\"><h2>Top callers of risky endpoints</h2>");
    if a.callers.is_empty() {
        out.push_str("<p>No callers were recorded for the risky endpoints.</p></section>\n");
        return;
    }
    out.push_str("<p class=\"lead\">Client addresses and calling services that reached risky endpoints: where to start asking who uses them.</p>");
    let shown = a.callers.len().min(a.input.options.max_callers);
    table_start(
        out,
        "t-callers",
        &[
            ("Caller", Col::Text),
            ("Kind", Col::Text),
            ("Risky endpoints", Col::Num),
            ("Requests to them", Col::Num),
            ("Riskiest reached", Col::Text),
        ],
    );
    for c in &a.callers[..shown] {
        out.push_str("<tr>");
        td_code(out, c.caller);
        td_text(out, if c.is_address { "address" } else { "service" });
        td_num(out, c.endpoints.len() as u64);
        td_num(out, c.requests);
        out.push_str("<td>");
        for (k, &i) in c.endpoints.iter().take(3).enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            let e = a.rows[i].ep;
            let _ = write!(out, "<code>{} ", e.method);
            esc(out, e.template.as_str());
            out.push_str("</code>");
        }
        if c.endpoints.len() > 3 {
            let _ = write!(
                out,
                " <span class=\"dim\">+{}</span>",
                c.endpoints.len() - 3
            );
        }
        out.push_str("</td></tr>\n");
    }
    table_end(out, shown, a.callers.len());
    out.push_str("</section>\n");
}

fn drift(out: &mut String, a: &Analysis<'_>) {
    let opts = &a.input.options;
    out.push_str("<section id=\"drift\"><h2>Changes since the previous period</h2>");
    if a.new.is_empty() && a.disappeared.is_empty() {
        out.push_str("<p>No endpoint appeared or disappeared.</p>");
    }
    if !a.new.is_empty() {
        let _ = write!(out, "<h3>New ({})</h3>", thousands(a.new.len() as u64));
        let shown = a.new.len().min(opts.max_drift_rows);
        table_start(
            out,
            "t-new",
            &[
                ("Method", Col::Text),
                ("Template", Col::Text),
                ("Service", Col::Text),
                ("Requests", Col::Num),
                ("First seen", Col::Text),
                ("Findings", Col::Text),
            ],
        );
        for &i in &a.new[..shown] {
            let r = &a.rows[i];
            out.push_str("<tr>");
            td_method(out, r.ep.method);
            td_code(out, r.ep.template.as_str());
            td_text(out, &r.ep.service);
            td_num(out, r.ep.requests);
            td_time(out, r.ep.first_seen);
            badges(out, r);
            out.push_str("</tr>\n");
        }
        table_end(out, shown, a.new.len());
    }
    if !a.disappeared.is_empty() {
        let _ = write!(
            out,
            "<h3>Disappeared ({})</h3>",
            thousands(a.disappeared.len() as u64)
        );
        let shown = a.disappeared.len().min(opts.max_drift_rows);
        table_start(
            out,
            "t-gone",
            &[
                ("Method", Col::Text),
                ("Template", Col::Text),
                ("Service", Col::Text),
                ("Requests (previous)", Col::Num),
                ("Last seen", Col::Text),
            ],
        );
        for e in &a.disappeared[..shown] {
            out.push_str("<tr>");
            td_method(out, e.method);
            td_code(out, e.template.as_str());
            td_text(out, &e.service);
            td_num(out, e.requests);
            td_time(out, e.last_seen);
            out.push_str("</tr>\n");
        }
        table_end(out, shown, a.disappeared.len());
    }
    if !a.drift.is_empty() {
        out.push_str("<h3>Inventory diff per service</h3>");
    }
    for (n, d) in a.drift.iter().enumerate() {
        let _ = write!(
            out,
            "<details{}><summary><b>",
            if n < 3 { " open" } else { "" }
        );
        esc(out, d.service);
        let _ = write!(
            out,
            "</b> <span class=\"ins\">+{}</span> <span class=\"del\">−{}</span></summary><pre class=\"diff\">",
            d.added, d.removed
        );
        for (header, lines) in &d.hunks {
            let _ = writeln!(out, "<span class=\"hunk\">{header}</span>");
            for l in lines {
                let (class, sign) = match l.tag {
                    ChangeTag::Insert => ("ins", '+'),
                    ChangeTag::Delete => ("del", '-'),
                    ChangeTag::Equal => ("eq", ' '),
                };
                let _ = write!(out, "<span class=\"{class}\">{sign}");
                esc(out, &l.text);
                out.push_str("</span>\n");
            }
        }
        out.push_str("</pre>");
        if d.omitted > 0 {
            let _ = write!(
                out,
                "<p class=\"note\">{} more lines not shown; the JSON report has the full lists.</p>",
                thousands(d.omitted as u64)
            );
        }
        out.push_str("</details>\n");
    }
    out.push_str("</section>\n");
}

fn services(out: &mut String, a: &Analysis<'_>) {
    let cap = a.service_cap();
    out.push_str("<section id=\"services\"><h2>Services</h2>");
    for s in &a.services {
        let rows = &a.rows[s.rows.clone()];
        out.push_str("<section class=\"service\"><h3>");
        esc(out, s.name);
        let _ = write!(
            out,
            "</h3><p class=\"lead\">{} endpoints, {} requests; {} shadow, {} unauthenticated, {} zombie.",
            thousands(rows.len() as u64),
            thousands(s.requests),
            s.shadow,
            s.unauthenticated,
            s.zombie
        );
        if a.compared && !s.has_spec {
            out.push_str(" <i>No spec is bound to this service: not compared.</i>");
        }
        if s.auth_unknown {
            out.push_str(" <i>The service shows no auth evidence anywhere: auth is unknown.</i>");
        }
        out.push_str("</p>");
        let shown = rows.len().min(cap);
        table_start(
            out,
            "",
            &[
                ("Method", Col::Text),
                ("Template", Col::Text),
                ("Documented", Col::Text),
                ("Auth", Col::Text),
                ("Requests", Col::Num),
                ("Status mix", Col::Text),
                ("Callers", Col::Text),
                ("First seen", Col::Text),
                ("Last seen", Col::Text),
                ("Findings", Col::Text),
                ("Risk", Col::Num),
            ],
        );
        for r in &rows[..shown] {
            let e = r.ep;
            out.push_str("<tr>");
            td_method(out, e.method);
            td_code(out, e.template.as_str());
            td_documented(out, r.documented);
            td_auth(out, r);
            td_num(out, e.requests);
            td_text(out, &status_mix(&e.status));
            out.push_str("<td class=\"callers\">");
            for (k, c) in e.callers.iter().take(3).enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                esc(out, c);
            }
            if e.callers.is_empty() {
                out.push_str("<span class=\"dim\">—</span>");
            } else if e.callers.len() > 3 {
                let _ = write!(out, " <span class=\"dim\">+{}</span>", e.callers.len() - 3);
            }
            out.push_str("</td>");
            td_time(out, e.first_seen);
            td_time(out, e.last_seen);
            badges(out, r);
            td_num(out, u64::from(r.risk.score));
            out.push_str("</tr>\n");
        }
        table_end(out, shown, rows.len());
        out.push_str("</section>\n");
    }
    out.push_str("</section>\n");
}

fn unobserved(out: &mut String, a: &Analysis<'_>) {
    if a.unobserved.is_empty() {
        return;
    }
    let n = a.unobserved.len();
    let _ = write!(
        out,
        "<section id=\"unobserved\"><h2>Documented but unobserved ({})</h2><details><summary>{} documented operation{} received no traffic in the window</summary>",
        thousands(n as u64),
        thousands(n as u64),
        if n == 1 { "" } else { "s" }
    );
    let shown = n.min(a.input.options.max_table_rows);
    table_start(
        out,
        "t-unobserved",
        &[
            ("Method", Col::Text),
            ("Path", Col::Text),
            ("Service", Col::Text),
            ("Spec", Col::Text),
        ],
    );
    for f in &a.unobserved[..shown] {
        out.push_str("<tr>");
        td_method(out, f.method);
        td_code(out, &f.path);
        td_text(out, &f.service);
        let spec = match (&f.spec_file, f.spec_line) {
            (Some(p), Some(l)) => format!("{}:{l}", p.display()),
            (Some(p), None) => p.display().to_string(),
            _ => "—".to_owned(),
        };
        td_code(out, &spec);
        out.push_str("</tr>\n");
    }
    table_end(out, shown, n);
    out.push_str("</details></section>\n");
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn labels_wrap_at_path_boundaries() {
        assert_eq!(
            wrap("GET /v1/customers/{id}", 13),
            ["GET /v1", "/customers", "/{id}"]
        );
        assert_eq!(
            wrap("GET /averyveryverylongsegment", 10),
            ["GET ", "/averyvery", "verylongse", "gment"]
        );
        assert_eq!(wrap("/a", 10), ["/a"]);
    }
}
