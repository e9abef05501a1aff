//! `shadowscan report`: the weekly inventory report (what is new, what is risky, what
//! changed since the previous period) as one self-contained HTML file, Markdown or JSON.

use anyhow::Context;

use super::ExitStatus;
use crate::cli::{ReportArgs, ReportFormatArg};
use crate::config::Config;
use crate::diff::{self, DiffOptions};
use crate::report::{self, ReportFormat, ReportInput, Window};
use crate::store::{Query, Store};

pub fn run(args: ReportArgs, config: &Config) -> anyhow::Result<ExitStatus> {
    let db = config.db(args.db.db.as_deref());
    let store = Store::open_existing(&db)?;
    let period = args
        .since
        .unwrap_or(std::time::Duration::from_secs(7 * 86_400));
    let specs = super::diff::load_specs(&args.specs, None, config)?;
    let text = build(
        &store,
        &specs,
        args.service.as_deref(),
        &config.normalize,
        period,
        super::unix_now(),
        args.format.into(),
    )?;
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("{}: cannot write the report", path.display()))?,
        None => super::print(&text)?,
    }
    Ok(ExitStatus::Success)
}

impl From<ReportFormatArg> for ReportFormat {
    fn from(f: ReportFormatArg) -> ReportFormat {
        match f {
            ReportFormatArg::Html => ReportFormat::Html,
            ReportFormatArg::Markdown => ReportFormat::Markdown,
            ReportFormatArg::Json => ReportFormat::Json,
        }
    }
}

/// Renders the report for the `period` ending `now`, compared with the period before it.
/// Shared with the admin endpoint, which serves the same page live.
pub fn build(
    store: &Store,
    specs: &[(Option<String>, crate::spec::Spec)],
    service: Option<&str>,
    rules: &crate::normalize::Rules,
    period: std::time::Duration,
    now: i64,
    format: ReportFormat,
) -> anyhow::Result<String> {
    // Hour buckets: the window ends after the current hour so this hour's traffic counts.
    let until = crate::inventory::hour_of(now) + 3_600;
    let window = Window {
        since: until - period.as_secs().max(3_600) as i64,
        until,
    };
    let previous_window = window.previous();
    let query = |w: Window| Query {
        service: service.map(str::to_owned),
        since: Some(w.since),
        until: Some(w.until),
    };
    let current = store.endpoints(&query(window))?;
    let previous = store.endpoints(&query(previous_window))?;
    let findings = if specs.is_empty() {
        None
    } else {
        let bindings = super::diff::bind_services(specs.to_vec(), service, &current)?;
        Some(diff::diff(&current, &bindings, &DiffOptions::default()))
    };
    // Findings come from the observed rows (diff groups them with the spec as a prior);
    // people read the rows folded by learned parameters.
    let normalizer = crate::normalize::Normalizer::new(rules.clone());
    let current = crate::inventory::learned::fold(current, &normalizer);
    let previous = crate::inventory::learned::fold(previous, &normalizer);
    let input = ReportInput::new(now, window, current, previous, findings);
    Ok(report::render(&input, format))
}
