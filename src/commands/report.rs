//! `shadowscan report`: the weekly inventory report (what is new, what is risky, what
//! changed since the previous period) as one self-contained HTML file, Markdown or JSON.

use anyhow::Context;

use super::ExitStatus;
use crate::cli::{ReportArgs, ReportFormatArg};
use crate::config::Config;
use crate::report::{self, ReportFormat, ReportInput, Window};
use crate::store::{Query, Store};

pub fn run(args: ReportArgs, config: &Config) -> anyhow::Result<ExitStatus> {
    let db = config.db(args.db.db.as_deref());
    let store = Store::open_existing(&db)?;
    let period = args
        .since
        .unwrap_or(std::time::Duration::from_secs(7 * 86_400));
    let specs = super::diff::load_specs(&args.specs, None, config)?;
    let (text, notice) = build(
        &store,
        &specs,
        args.service.as_deref(),
        &config.normalize,
        period,
        super::unix_now(),
        args.format.into(),
    )?;
    if let Some(notice) = &notice {
        eprintln!("shadowscan: warning: {notice}");
    }
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("{}: cannot write the report", path.display()))?,
        None => super::print(&text)?,
    }
    Ok(ExitStatus::Success)
}

/// A period without traffic while the database holds older traffic is almost always a
/// window too short (or traces replayed from long ago): what to say, on stderr and in the
/// page, with the `--since` that reaches.
fn empty_window_notice(
    store: &Store,
    service: Option<&str>,
    period: std::time::Duration,
) -> anyhow::Result<Option<String>> {
    let until = crate::inventory::hour_of(super::unix_now()) + 3_600;
    let query = |since| Query {
        service: service.map(str::to_owned),
        since,
        until: None,
    };
    let since = until - period.as_secs().max(3_600) as i64;
    if !store.services(&query(Some(since)))?.is_empty() {
        return Ok(None);
    }
    Ok(store
        .services(&query(None))?
        .iter()
        .map(|s| s.last_seen)
        .max()
        .map(|newest| {
            format!(
                "no traffic in the last {} ({}): {}",
                humantime::format_duration(period),
                service.map_or("any service".to_owned(), |s| format!("service {s}")),
                super::diff::older_traffic(newest)
            )
        }))
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

/// Renders the report for the `period` ending `now`, compared with the period before it,
/// and what the page says when that period is empty while older traffic exists. Shared with
/// the admin endpoint, which serves the same page live.
pub fn build(
    store: &Store,
    specs: &[(Option<String>, crate::spec::Spec)],
    service: Option<&str>,
    rules: &crate::normalize::Rules,
    period: std::time::Duration,
    now: i64,
    format: ReportFormat,
) -> anyhow::Result<(String, Option<String>)> {
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
    // Both windows in the view `inventory` and `diff` show: endpoints under the templates
    // the findings name, so the risk table, the map and the counts agree with `diff`, and
    // drift compares like with like. The specs are bound once, by the current window.
    let bindings = super::inventory::bindings(specs, service, &current)?;
    let normalizer = crate::normalize::Normalizer::new(rules.clone());
    let current = crate::view::build(current, &bindings, &normalizer);
    let previous = crate::view::build(previous, &bindings, &normalizer);
    let mut input = ReportInput::new(
        now,
        window,
        current.endpoints,
        previous.endpoints,
        current.diff,
    );
    input.notice = empty_window_notice(store, service, period)?;
    Ok((report::render(&input, format), input.notice))
}
