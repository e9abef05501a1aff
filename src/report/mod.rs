//! The weekly inventory report: what runs, what is new, what disappeared, what is risky and
//! who calls it, rendered from data as one self-contained HTML page, Markdown for tickets and
//! pull requests, or JSON with a versioned schema (`docs/report-json-schema.md`).
//!
//! Owns risk ranking for people (which endpoint to look at first, and why), inventory drift
//! between two windows, the API-surface map (a treemap laid out here, drawn as inline SVG)
//! and the three renderings. Pure: no I/O and no clock; the caller reads the store, runs the
//! diff and passes everything in a [`ReportInput`].

mod analysis;
mod html;
mod json;
mod markdown;
mod risk;
mod text;
mod treemap;

#[cfg(test)]
mod tests;

use crate::diff::DiffReport;
use crate::model::EndpointStats;

pub use json::SCHEMA_VERSION;

/// A time window, unix seconds, `since` inclusive and `until` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: i64,
    pub until: i64,
}

impl Window {
    /// The window of the same length that ends where this one starts: the previous period.
    pub fn previous(self) -> Window {
        let len = self.until.saturating_sub(self.since);
        Window {
            since: self.since.saturating_sub(len),
            until: self.since,
        }
    }
}

/// Everything a report is rendered from.
///
/// `current` and `previous` are the inventory over two consecutive windows (the store's
/// `--since` query run twice); an endpoint present in one and not the other is drift.
/// `diff` holds findings when specs were given (`diff::diff` over `current`); without it the
/// report still ranks risk from auth evidence and sensitive-looking paths, but cannot say
/// what is documented. Callers of endpoints come from [`EndpointStats::callers`] (client
/// addresses or caller services), which is all the inventory records per endpoint today.
#[derive(Debug, Clone)]
pub struct ReportInput {
    /// When the report was produced, unix seconds (printed, never read from a clock here).
    pub generated_at: i64,
    /// The period reported on.
    pub window: Window,
    /// The period `previous` covers; usually `window.previous()`.
    pub previous_window: Window,
    pub current: Vec<EndpointStats>,
    pub previous: Vec<EndpointStats>,
    pub diff: Option<DiffReport>,
    pub options: ReportOptions,
    /// Said at the top of the page (and in the JSON's `notice`): why the report may be empty,
    /// e.g. a window without traffic while the database holds older traffic.
    pub notice: Option<String>,
}

impl ReportInput {
    /// An input for `window`, comparing with the window of the same length before it.
    pub fn new(
        generated_at: i64,
        window: Window,
        current: Vec<EndpointStats>,
        previous: Vec<EndpointStats>,
        diff: Option<DiffReport>,
    ) -> ReportInput {
        ReportInput {
            generated_at,
            window,
            previous_window: window.previous(),
            current,
            previous,
            diff,
            options: ReportOptions::default(),
            notice: None,
        }
    }
}

/// Bounds that keep the HTML and Markdown readable (and the HTML small) on large
/// inventories. The JSON form is never truncated: every endpoint and risk is in it. Lists
/// shown in ranked order, so a cap drops the least interesting rows, and every cut is noted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOptions {
    /// Rows shown per service table.
    pub max_table_rows: usize,
    /// Rows of all service tables together; each table gets its share (at least 20).
    pub max_inventory_rows: usize,
    /// Rows of the risk-ranked list.
    pub max_risks: usize,
    /// Rows of the new and disappeared lists.
    pub max_drift_rows: usize,
    /// Lines of each service's drift diff.
    pub max_diff_lines: usize,
    /// Endpoint cells drawn in the map; the rest of a service is one "more" cell.
    pub max_map_cells: usize,
    /// Rows of the top-callers list.
    pub max_callers: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            max_table_rows: 200,
            max_inventory_rows: 5000,
            max_risks: 100,
            max_drift_rows: 200,
            max_diff_lines: 200,
            max_map_cells: 1500,
            max_callers: 25,
        }
    }
}

/// The renderings a report comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    Html,
    Markdown,
    Json,
}

impl ReportFormat {
    pub fn parse(s: &str) -> Option<ReportFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "html" => Some(ReportFormat::Html),
            "markdown" | "md" => Some(ReportFormat::Markdown),
            "json" => Some(ReportFormat::Json),
            _ => None,
        }
    }

    /// The usual file extension, for `--output` defaults.
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Markdown => "md",
            ReportFormat::Json => "json",
        }
    }
}

/// Renders the report in `format`.
pub fn render(input: &ReportInput, format: ReportFormat) -> String {
    match format {
        ReportFormat::Html => render_html(input),
        ReportFormat::Markdown => render_markdown(input),
        ReportFormat::Json => render_json(input),
    }
}

/// One self-contained HTML page: inline CSS, SVG and script, no external fetch; tables are
/// complete without scripts, the script only adds sorting and filtering.
pub fn render_html(input: &ReportInput) -> String {
    html::render(&analysis::analyse(input))
}

/// GitHub/GitLab-flavoured Markdown: tables, with long lists folded in `<details>`.
pub fn render_markdown(input: &ReportInput) -> String {
    markdown::render(&analysis::analyse(input))
}

/// JSON following `docs/report-json-schema.md` (version [`SCHEMA_VERSION`]); never truncated.
pub fn render_json(input: &ReportInput) -> String {
    json::render(&analysis::analyse(input))
}
