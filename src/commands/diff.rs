//! `shadowscan diff SPEC...`: compares the observed inventory (database, trace files, or a
//! running server) with OpenAPI descriptions, renders the findings, and exits 1 when a kind
//! in `--fail-on` was found, 2 when anything could not be read. A spec that fails to load is
//! always an error, never "no drift".

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

    let endpoints = observed(&args, config, since)?;
    let bindings = bind_services(specs, args.service.as_deref(), &endpoints)?;
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
            args.output.is_none()
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let opts = RenderOptions {
        color,
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

/// The observed endpoints, from trace files, a running server, or the database.
fn observed(
    args: &DiffArgs,
    config: &Config,
    since: Option<i64>,
) -> anyhow::Result<Vec<EndpointStats>> {
    let query = Query {
        service: None,
        since,
        until: None,
    };
    if !args.traces.is_empty() {
        super::ingest::check_files(&args.traces)?;
        let mut sink = FileIngest::new(Store::open_in_memory()?, super::pipeline_config(config)?)?;
        for file in &args.traces {
            super::ingest::read_into(file, &mut sink, false)?;
        }
        let store = sink.finish()?;
        return Ok(store.endpoints(&query)?);
    }
    if let Some(url) = &args.server {
        return super::fetch_inventory(url, since);
    }
    let db = config.db(args.db.db.as_deref());
    if !db.exists() {
        bail!(
            "{}: no inventory database here; run `shadowscan serve` or `shadowscan ingest` first, point --db at it, or read trace files with --traces",
            db.display()
        );
    }
    Ok(Store::open(&db)?.endpoints(&query)?)
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

/// Ties each spec to the service it describes: the config mapping, `--service`, or the one
/// service in the traffic. Ambiguity is an error, not a guess.
pub(super) fn bind_services(
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
        if !services.is_empty() && !services.contains(service.as_str()) {
            tracing::warn!(
                service,
                known = ?services.iter().take(8).collect::<Vec<_>>(),
                "no traffic from this service: every documented operation will be unobserved"
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
