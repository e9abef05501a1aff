//! `shadowscan diff SPEC...`: compares the observed inventory (database, trace files, or a
//! running server) with OpenAPI descriptions, renders the findings, and exits 1 when a kind
//! in `--fail-on` was found, 2 when anything could not be read. A spec that fails to load is
//! always an error, never "no drift".
//!
//! # Nothing to compare is not "no drift"
//!
//! A CI gate must not pass because it looked at nothing. Every way a misconfiguration
//! empties the comparison is exit 2 with what to fix: a spec documenting no operation,
//! trace files without spans or without HTTP server spans, an empty database or server, a
//! `--since` window with no traffic while older traffic exists (naming the newest
//! observation and the `--since` that would include it), and a spec bound to a service that
//! has no traffic (naming the services there are and the closest match). `--allow-no-traffic`
//! (`[diff] allow_no_traffic`) turns the traffic cases into warnings, for pipelines where a
//! quiet service is expected; the spec case stays an error.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};

use super::ExitStatus;
use crate::cli::{ColorChoice, DiffArgs, DiffFormat};
use crate::config::Config;
use crate::diff::{self, baseline, DiffOptions, FindingKind, SpecBinding};
use crate::model::EndpointStats;
use crate::output::{self, RenderOptions};
use crate::pipeline::FileIngest;
use crate::store::{Query, Store};

pub fn run(args: DiffArgs, config: &Config) -> anyhow::Result<ExitStatus> {
    let fail_on = fail_on(&args, config)?;
    let since = args.since.map(|d| super::unix_now() - d.as_secs() as i64);

    // Specs first: a typo in a spec path should not wait for a large trace file to load.
    let specs = load_specs(&args.specs, args.spec_root.as_deref(), config)?;
    if specs.is_empty() {
        bail!("no spec given: name one or more OpenAPI files (`shadowscan diff openapi.yaml`), or map specs to services in the config file ([[specs]] service = \"...\", spec = \"...\")");
    }
    for (_, spec) in &specs {
        if spec.operations.is_empty() {
            bail!(
                "{}: documents no operations (no method under `paths`), so the diff would check nothing documented; is this the right file (not a components-only or $ref'd fragment)?",
                spec.file.display()
            );
        }
    }

    let allow_no_traffic = args.allow_no_traffic || config.diff.allow_no_traffic.unwrap_or(false);
    let source = observed(&args, config)?;
    let endpoints = source.endpoints(since)?;
    let gate = Gate {
        allow: allow_no_traffic,
        since: args.since,
    };
    if endpoints.is_empty() {
        gate.nothing_in_window(&source)?;
    }
    let bindings = bind(specs, args.service.as_deref(), &endpoints)?;
    gate.every_binding_has_traffic(&bindings, &endpoints, &source)?;
    let mut report = diff::diff(&endpoints, &bindings, &DiffOptions::default());

    if let Some(path) = &args.write_baseline {
        let b = baseline::from_report(
            &report,
            "accepted when the baseline was created: review",
            None,
        );
        baseline::write(path, &b)?;
        eprintln!(
            "wrote {} accepted findings to {}; give each a reason (and an `expires` date) and commit it",
            b.accepted.len(),
            path.display()
        );
        return Ok(ExitStatus::Success);
    }
    let baseline_file = (args.baseline.clone())
        .or_else(|| config.diff.baseline.as_ref().map(|p| config.relative(p)));
    if let Some(path) = &baseline_file {
        let b = baseline::read(path)?;
        report = baseline::apply(report, &b, baseline::Date::from_unix(super::unix_now()));
    }

    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            args.output.is_none() && super::colour_allowed(std::io::stdout().is_terminal())
        }
    };
    let opts = RenderOptions {
        color,
        verbose: args.verbose,
        fail_on: fail_on.clone(),
        ..RenderOptions::default()
    };
    // --suggest prints the patch instead of the report, so it can be piped to `git apply`.
    let rendered = if args.suggest {
        suggestions(&report, &bindings, config)?
    } else {
        output::render(&report, output_format(args.format), &opts)
    };
    match &args.output {
        Some(path) => std::fs::write(path, rendered)
            .with_context(|| format!("{}: cannot write the report", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a stack of messages.
            if let Err(e) = out.write_all(rendered.as_bytes()).and_then(|_| out.flush()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e).context("writing the report to stdout");
                }
            }
        }
    }
    Ok(if report.fails(&fail_on) {
        ExitStatus::Drift
    } else {
        ExitStatus::Success
    })
}

fn output_format(f: DiffFormat) -> output::Format {
    match f {
        DiffFormat::Text => output::Format::Text,
        DiffFormat::Json => output::Format::Json,
        DiffFormat::Sarif => output::Format::Sarif,
        DiffFormat::Junit => output::Format::Junit,
        DiffFormat::Markdown => output::Format::Markdown,
        DiffFormat::Github => output::Format::Github,
    }
}

fn fail_on(args: &DiffArgs, config: &Config) -> anyhow::Result<Vec<FindingKind>> {
    let names: Vec<String> = if !args.fail_on.is_empty() {
        args.fail_on.clone()
    } else if let Some(v) = &config.diff.fail_on {
        v.clone()
    } else {
        return Ok(FindingKind::DEFAULT_FAIL_ON.to_vec());
    };
    let mut kinds = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if n == "none" {
            continue;
        }
        kinds.push(FindingKind::parse(n).ok_or_else(|| {
            anyhow!("--fail-on: unknown finding kind `{n}`; use shadow, unauthenticated, zombie, unobserved or none")
        })?);
    }
    Ok(kinds)
}

/// Where the observed endpoints come from: trace files (read into a private store), a
/// running server, or the database.
enum Source {
    Traces {
        store: Store,
        files: Vec<PathBuf>,
        summary: crate::pipeline::IngestSummary,
    },
    Server(String),
    Db {
        store: Store,
        path: PathBuf,
    },
}

/// The observed endpoints' source, opened (trace files are read now).
fn observed(args: &DiffArgs, config: &Config) -> anyhow::Result<Source> {
    if !args.traces.is_empty() {
        super::ingest::check_files(&args.traces)?;
        let mut sink = FileIngest::new(Store::open_in_memory()?, super::pipeline_config(config)?)?;
        for file in &args.traces {
            super::ingest::read_into(file, &mut sink, false)?;
        }
        let summary = sink.summary();
        return Ok(Source::Traces {
            store: sink.finish()?,
            files: args.traces.clone(),
            summary,
        });
    }
    if let Some(url) = &args.server {
        return Ok(Source::Server(url.clone()));
    }
    let db = config.db(args.db.db.as_deref());
    if !db.exists() {
        bail!(
            "{}: no inventory database here; run `shadowscan serve` or `shadowscan ingest` first, point --db at it, or read trace files with --traces",
            db.display()
        );
    }
    Ok(Source::Db {
        store: Store::open(&db)?,
        path: db,
    })
}

impl Source {
    fn endpoints(&self, since: Option<i64>) -> anyhow::Result<Vec<EndpointStats>> {
        let query = Query {
            service: None,
            since,
            until: None,
        };
        match self {
            Source::Traces { store, .. } | Source::Db { store, .. } => Ok(store.endpoints(&query)?),
            Source::Server(url) => super::fetch_inventory(url, since),
        }
    }

    /// Every service with traffic at any time, with its newest observation.
    fn all_services(&self) -> anyhow::Result<Vec<(String, i64)>> {
        match self {
            Source::Traces { store, .. } | Source::Db { store, .. } => Ok(store
                .services(&Query::default())?
                .into_iter()
                .map(|s| (s.name, s.last_seen))
                .collect()),
            Source::Server(url) => {
                let mut newest: std::collections::BTreeMap<String, i64> = Default::default();
                for e in super::fetch_inventory(url, None)? {
                    let t = newest.entry(e.service).or_insert(i64::MIN);
                    *t = (*t).max(e.last_seen);
                }
                Ok(newest.into_iter().collect())
            }
        }
    }

    /// What was read, for messages.
    fn describe(&self) -> String {
        match self {
            Source::Traces { files, .. } => {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                format!("the trace files ({})", names.join(", "))
            }
            Source::Server(url) => format!("the server at {url}"),
            Source::Db { path, .. } => format!("the database {}", path.display()),
        }
    }

    /// Why a source with no endpoints at all has none.
    fn why_empty(&self) -> anyhow::Result<String> {
        Ok(match self {
            Source::Traces { summary, .. } if summary.spans == 0 => format!(
                "{} hold no spans ({} export requests); check that the collector's file exporter writes there",
                self.describe(),
                summary.payloads
            ),
            Source::Traces { summary, .. } => format!(
                "{} hold {} spans but no HTTP server span a route claimed ({} requests no route claimed); are these client-side traces, or is the service's HTTP server instrumentation missing?",
                self.describe(),
                summary.spans,
                summary.unmatched
            ),
            Source::Db { store, .. } => {
                let s = store.stats()?;
                if s.spans == 0 {
                    format!(
                        "{} holds no traffic yet; send traces to `shadowscan serve` or load files with `shadowscan ingest`",
                        self.describe()
                    )
                } else {
                    format!(
                        "{} holds {} spans but no HTTP server span a route claimed ({} requests no route claimed, {} spans not HTTP); is the service's HTTP server instrumentation missing?",
                        self.describe(),
                        s.spans,
                        s.unmatched,
                        s.not_http
                    )
                }
            }
            Source::Server(_) => format!(
                "{} holds no traffic yet; are the collectors exporting to it?",
                self.describe()
            ),
        })
    }
}

/// Decides whether an empty comparison is an error (exit 2) or, with
/// `--allow-no-traffic`, a warning.
struct Gate {
    allow: bool,
    since: Option<std::time::Duration>,
}

impl Gate {
    fn refuse(&self, message: String) -> anyhow::Result<()> {
        if self.allow {
            eprintln!("shadowscan: warning: {message} (continuing: --allow-no-traffic)");
            Ok(())
        } else {
            bail!("{message}. If no traffic is expected, pass --allow-no-traffic (or set `allow_no_traffic = true` under [diff] in the config)")
        }
    }

    /// The window holds nothing: say whether the source is empty or the window too short.
    fn nothing_in_window(&self, source: &Source) -> anyhow::Result<()> {
        let all = source.all_services()?;
        let newest = all.iter().map(|(_, t)| *t).max();
        match (self.since, newest) {
            (Some(since), Some(newest)) => self.refuse(format!(
                "{} holds no traffic in the last {}: {}",
                source.describe(),
                humantime::format_duration(since),
                older_traffic(newest)
            )),
            _ => self.refuse(source.why_empty()?),
        }
    }

    /// Each bound service must have traffic in the window: a spec bound to a misspelt or
    /// silent service would otherwise report every operation unobserved and pass.
    fn every_binding_has_traffic(
        &self,
        bindings: &[SpecBinding],
        endpoints: &[EndpointStats],
        source: &Source,
    ) -> anyhow::Result<()> {
        if endpoints.is_empty() {
            // Already reported (and allowed) as a whole.
            return Ok(());
        }
        let seen: BTreeSet<&str> = endpoints.iter().map(|e| e.service.as_str()).collect();
        let mut all: Option<Vec<(String, i64)>> = None;
        for b in bindings {
            if seen.contains(b.service.as_str()) {
                continue;
            }
            if all.is_none() {
                all = Some(source.all_services()?);
            }
            let all = all.as_deref().unwrap_or_default();
            let spec = b.spec.file.display();
            let message = match (self.since, all.iter().find(|(n, _)| *n == b.service)) {
                (Some(since), Some((_, newest))) => format!(
                    "{spec}: service `{}` has no traffic in the last {}: {}",
                    b.service,
                    humantime::format_duration(since),
                    older_traffic(*newest)
                ),
                _ => {
                    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
                    let mut m = format!(
                        "{spec} is bound to service `{}`, which has no traffic in {}; services with traffic: {}",
                        b.service,
                        source.describe(),
                        list(&names)
                    );
                    if let Some(best) = closest_service(&b.service, &names) {
                        m.push_str(&format!(
                            "; closest match: `{best}` (--service {best}, or `service = \"{best}\"` in the config's [[specs]])"
                        ));
                    }
                    m
                }
            };
            self.refuse(message)?;
        }
        Ok(())
    }
}

/// "the newest observation is at T (N ago); --since X would include it".
pub(super) fn older_traffic(newest: i64) -> String {
    let age = (super::unix_now() - newest).max(0);
    format!(
        "the newest observation is at {}; --since {} would include it",
        crate::output::fmt_time(newest),
        since_covering(age)
    )
}

/// The shortest round `--since` (whole hours up to two days, then whole days) reaching
/// `age_secs` back.
fn since_covering(age_secs: i64) -> String {
    let hours = (age_secs + 3599) / 3600;
    if hours <= 48 {
        format!("{}h", hours.max(1))
    } else {
        format!("{}d", (hours + 23) / 24)
    }
}

/// Up to ten names, then how many more.
fn list(names: &[&str]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    let mut out = names
        .iter()
        .take(10)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        out.push_str(&format!(" and {} more", names.len() - 10));
    }
    out
}

/// The service a user most likely meant: one whose `namespace/name` ends in `/wanted` (a
/// bare name given for a namespaced service) or whose bare name is `wanted`'s, else the
/// nearest by edit distance when it is close (at most a third of the name's length).
pub(super) fn closest_service<'a>(wanted: &str, services: &[&'a str]) -> Option<&'a str> {
    let bare = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
    if let Some(s) = services
        .iter()
        .find(|s| s.ends_with(&format!("/{wanted}")) || bare(s) == bare(wanted))
    {
        return Some(s);
    }
    let (best, d) = services
        .iter()
        .map(|s| (*s, edit_distance(wanted, s)))
        .min_by_key(|(_, d)| *d)?;
    (d <= (wanted.chars().count() / 3).max(1)).then_some(best)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The specs named on the command line, or else the config file's `[[specs]]` mapping (with
/// the service each describes). Any spec that does not load is an error.
pub(super) fn load_specs(
    files: &[PathBuf],
    spec_root: Option<&Path>,
    config: &Config,
) -> anyhow::Result<Vec<(Option<String>, crate::spec::Spec)>> {
    let mapping: Vec<(Option<String>, PathBuf)> = if files.is_empty() {
        config
            .specs
            .iter()
            .map(|m| (Some(m.service.clone()), config.relative(&m.spec)))
            .collect()
    } else {
        files.iter().map(|p| (None, p.clone())).collect()
    };
    let opts = config.spec_options(spec_root);
    let mut specs = Vec::with_capacity(mapping.len());
    for (service, file) in mapping {
        specs.push((service, crate::spec::load_with(&file, &opts)?));
    }
    Ok(specs)
}

/// [`bind`], warning about each spec whose service has no traffic (for `report`, which
/// still has a page to show; `diff` makes that an error).
pub(super) fn bind_services(
    specs: Vec<(Option<String>, crate::spec::Spec)>,
    flag: Option<&str>,
    endpoints: &[EndpointStats],
) -> anyhow::Result<Vec<SpecBinding>> {
    let bindings = bind(specs, flag, endpoints)?;
    let services: BTreeSet<&str> = endpoints.iter().map(|e| e.service.as_str()).collect();
    for b in &bindings {
        if !services.is_empty() && !services.contains(b.service.as_str()) {
            let names: Vec<&str> = services.iter().copied().collect();
            tracing::warn!(
                service = b.service,
                known = ?services.iter().take(8).collect::<Vec<_>>(),
                closest = closest_service(&b.service, &names),
                "no traffic from this service: every documented operation will be unobserved"
            );
        }
    }
    Ok(bindings)
}

/// Ties each spec to the service it describes: the config mapping, `--service`, or the one
/// service in the traffic. Ambiguity is an error, not a guess.
fn bind(
    specs: Vec<(Option<String>, crate::spec::Spec)>,
    flag: Option<&str>,
    endpoints: &[EndpointStats],
) -> anyhow::Result<Vec<SpecBinding>> {
    let services: BTreeSet<&str> = endpoints.iter().map(|e| e.service.as_str()).collect();
    let mut out = Vec::with_capacity(specs.len());
    for (mapped, spec) in specs {
        let service = match (flag, mapped) {
            (Some(s), _) => s.to_owned(),
            (None, Some(s)) => s,
            (None, None) => match services.len() {
                0 | 1 => services.iter().next().map(|s| s.to_string()).unwrap_or_else(|| "unknown_service".into()),
                _ => bail!(
                    "the traffic holds {} services ({}); say which one {} describes with --service NAME, or map specs to services in the config file",
                    services.len(),
                    services.iter().take(8).copied().collect::<Vec<_>>().join(", "),
                    spec.file.display()
                ),
            },
        };
        if service.trim().is_empty() {
            bail!(
                "{}: bound to an empty service name; give the service it describes (--service NAME or `service` in the config's [[specs]])",
                spec.file.display()
            );
        }
        out.push(SpecBinding { service, spec });
    }
    Ok(out)
}

fn suggestions(
    report: &diff::DiffReport,
    bindings: &[SpecBinding],
    config: &Config,
) -> anyhow::Result<String> {
    let mut out = String::new();
    for b in bindings {
        let shadows: Vec<&diff::Finding> = report
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::Shadow && f.service == b.service)
            .collect();
        if shadows.is_empty() {
            continue;
        }
        let file: &Path = &b.spec.file;
        let text = crate::spec::read_text(file, config.spec_options(None).max_bytes)
            .with_context(|| format!("{}: cannot read for --suggest", file.display()))?;
        out.push('\n');
        out.push_str(&output::suggest::suggest(
            &text,
            &file.display().to_string(),
            &shadows,
        )?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_service_prefers_the_namespaced_one_then_spelling() {
        let svcs = ["acme/cart", "acme/shop-api", "billing"];
        assert_eq!(closest_service("shop-api", &svcs), Some("acme/shop-api"));
        assert_eq!(
            closest_service("other/shop-api", &svcs),
            Some("acme/shop-api")
        );
        assert_eq!(closest_service("biling", &svcs), Some("billing"));
        assert_eq!(closest_service("acme/crat", &svcs), Some("acme/cart"));
        assert_eq!(closest_service("inventory", &svcs), None);
        assert_eq!(closest_service("x", &[]), None);
    }

    #[test]
    fn the_suggested_since_reaches_the_newest_observation() {
        assert_eq!(since_covering(0), "1h");
        assert_eq!(since_covering(3600), "1h");
        assert_eq!(since_covering(3601), "2h");
        assert_eq!(since_covering(48 * 3600), "48h");
        assert_eq!(since_covering(9 * 86_400 + 5), "10d");
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
