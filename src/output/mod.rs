//! Renders what `diff` found, and the inventory, for people and machines: aligned text
//! (colour only when asked), versioned JSON, SARIF 2.1.0, JUnit XML, Markdown for pull
//! requests, GitHub workflow annotations, and `--suggest` patches that add shadow endpoints
//! to a spec file as stubs. Rendering is pure: callers write the strings where they belong.

mod github;
pub mod inventory;
mod json;
mod junit;
mod markdown;
mod sarif;
pub mod suggest;
mod text;

use crate::diff::{DiffReport, FindingKind};

/// The `--format` of `shadowscan diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Junit,
    Markdown,
    Github,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Text,
        Format::Json,
        Format::Sarif,
        Format::Junit,
        Format::Markdown,
        Format::Github,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Junit => "junit",
            Format::Markdown => "markdown",
            Format::Github => "github",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .or(match s.trim() {
                "md" => Some(Format::Markdown),
                "xml" => Some(Format::Junit),
                _ => None,
            })
    }
}

/// How to render.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// ANSI colour in text output: only when writing to a terminal that wants it.
    pub color: bool,
    /// List informational findings (unobserved) and suppressed ones in text and annotations.
    pub verbose: bool,
    /// The kinds that fail the run: these are errors/failures, the others warnings/notes.
    pub fail_on: Vec<FindingKind>,
    /// Shown in SARIF and JSON as the tool version.
    pub tool_version: String,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            verbose: false,
            fail_on: FindingKind::DEFAULT_FAIL_ON.to_vec(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// Renders a diff report in the given format.
pub fn render(report: &DiffReport, format: Format, opts: &RenderOptions) -> String {
    match format {
        Format::Text => text::render(report, opts),
        Format::Json => json::render(report, opts),
        Format::Sarif => sarif::render(report, opts),
        Format::Junit => junit::render(report, opts),
        Format::Markdown => markdown::render(report, opts),
        Format::Github => github::render(report, opts),
    }
}

/// `YYYY-MM-DD HH:MMZ` for unix seconds, UTC.
pub(crate) fn fmt_time(secs: i64) -> String {
    let d = crate::diff::baseline::Date::from_unix(secs);
    let s = secs.rem_euclid(86_400);
    format!("{d} {:02}:{:02}Z", s / 3600, (s % 3600) / 60)
}

pub(crate) fn fmt_opt_time(secs: Option<i64>) -> String {
    secs.map(fmt_time).unwrap_or_else(|| "-".to_owned())
}

/// Pads cells to column widths (by characters), two spaces apart; `right` columns are
/// right-aligned. `paint` may wrap a padded cell in colour codes after alignment.
pub(crate) fn table(
    header: &[&str],
    rows: &[Vec<String>],
    right: &[usize],
    paint: &dyn Fn(usize, usize, String) -> String,
) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line =
        |out: &mut String, cells: &mut dyn Iterator<Item = (usize, String)>, row: Option<usize>| {
            let mut parts = Vec::new();
            for (i, c) in cells {
                let pad = width[i] - c.chars().count();
                let last = i + 1 == width.len();
                let cell = if right.contains(&i) {
                    format!("{}{c}", " ".repeat(pad))
                } else if last {
                    c
                } else {
                    format!("{c}{}", " ".repeat(pad))
                };
                parts.push(match row {
                    Some(r) => paint(r, i, cell),
                    None => cell,
                });
            }
            out.push_str(parts.join("  ").trim_end());
            out.push('\n');
        };
    line(
        &mut out,
        &mut header.iter().map(|h| h.to_string()).enumerate(),
        None,
    );
    for (r, row) in rows.iter().enumerate() {
        line(&mut out, &mut row.iter().cloned().enumerate(), Some(r));
    }
    out
}
