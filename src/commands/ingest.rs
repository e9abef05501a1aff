//! `shadowscan ingest FILE...`: loads OTLP files (the collector file exporter's JSON lines,
//! or protobuf), plain or gzip-compressed, into the inventory database. The same reader
//! serves `diff --traces`. An export request byte-identical to one already stored (a file
//! ingested again, a retried CI step) is skipped and said so: counts are never doubled.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::ExitStatus;
use crate::cli::IngestArgs;
use crate::config::Config;
use crate::ingest::{self, Format};
use crate::pipeline::{FileIngest, PipelineError};
use crate::store::Store;

pub fn run(args: IngestArgs, config: &Config) -> anyhow::Result<ExitStatus> {
    let db = config.db(args.db.db.as_deref());
    let store = Store::open(&db)?;
    let mut sink = FileIngest::new(store, super::pipeline_config(config)?)?;
    let progress = !args.quiet && std::io::stderr().is_terminal();
    check_files(&args.files)?;
    // A bad line stops the run, but what was read before it is committed first: data
    // already accepted is never lost.
    let mut outcome = Ok(());
    for file in &args.files {
        if let Err(e) = read_into(file, &mut sink, progress) {
            outcome = Err(e);
            break;
        }
    }
    let summary = sink.summary();
    let endpoints = sink.endpoints_known();
    sink.finish()
        .with_context(|| format!("committing to {}", db.display()))?;
    outcome?;
    let mut rejected = match summary.rejected {
        0 => String::new(),
        n => format!(", {n} spans with an unusable trace or span id left out"),
    };
    if summary.overflow > 0 {
        rejected.push_str(&format!(
            ", {} requests over the endpoint or service cap counted, not inventoried (inventory.max_endpoints_per_service, inventory.max_services)",
            summary.overflow
        ));
    }
    if summary.duplicates > 0 {
        rejected.push_str(&format!(
            "; {} export request{} already ingested (identical content), skipped",
            summary.duplicates,
            if summary.duplicates == 1 { "" } else { "s" }
        ));
    }
    eprintln!(
        "ingested {} spans from {} export requests: {} HTTP server observations, {} requests no route claimed (scanner noise) skipped{rejected}; {} endpoints in {}",
        summary.spans,
        summary.payloads,
        summary.observations,
        summary.unmatched,
        endpoints,
        db.display()
    );
    Ok(ExitStatus::Success)
}

/// How a file's bytes are laid out.
fn format_of(path: &Path, bytes: &[u8]) -> Format {
    let name = path.to_string_lossy();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if [".pb", ".binpb", ".protobuf", ".proto.bin"]
        .iter()
        .any(|ext| name.ends_with(ext))
    {
        return Format::Protobuf;
    }
    if [".json", ".jsonl", ".ndjson"]
        .iter()
        .any(|ext| name.ends_with(ext))
    {
        return Format::Json;
    }
    ingest::detect_format(bytes)
}

/// Reads one file (or stdin for `-`) into `sink`. A payload that does not decode stops the
/// run with the file and line named; what was read before it stays ingested.
pub fn read_into(file: &Path, sink: &mut FileIngest, progress: bool) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    if file == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading stdin")?;
    } else {
        bytes = std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    }
    if ingest::is_gzip(&bytes) {
        // Files are trusted more than network input, but not unboundedly: 4 GiB.
        bytes = ingest::gunzip(&bytes, 4 << 30)
            .with_context(|| format!("{}: not valid gzip", file.display()))?;
    }
    let shown = display(file);
    match format_of(file, &bytes) {
        Format::Protobuf => {
            let (_, messages) = ingest::protobuf_messages(&bytes);
            for (i, message) in messages.into_iter().enumerate() {
                sink.ingest_payload(message, Format::Protobuf)
                    .with_context(|| {
                        format!(
                            "{shown}: message {}: not an OTLP ExportTraceServiceRequest{}",
                            i + 1,
                            kept_before(i)
                        )
                    })?;
            }
        }
        Format::Json => {
            let total = bytes.len();
            let started = Instant::now();
            let mut last = Instant::now();
            for (i, line) in ingest::json_lines(&bytes).enumerate() {
                sink.ingest_payload(line.bytes, Format::Json)
                    // A JSON error points into the line on its own; name the file's line.
                    .map_err(|e| match e {
                        PipelineError::Decode(d) => PipelineError::Decode(d.at_line(line.number)),
                        other => other,
                    })
                    .with_context(|| {
                        format!(
                            "{shown}:{}: not an OTLP/JSON export request{}",
                            line.number,
                            kept_before(i)
                        )
                    })?;
                if progress && last.elapsed() > Duration::from_millis(500) {
                    last = Instant::now();
                    let done = line.bytes.as_ptr() as usize - bytes.as_ptr() as usize;
                    eprint!(
                        "\r{shown}: {:>5.1}% of {} MiB, {} spans, {:.0} s",
                        done as f64 * 100.0 / total.max(1) as f64,
                        total >> 20,
                        sink.summary().spans,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            if progress && started.elapsed() > Duration::from_millis(500) {
                eprintln!();
            }
        }
    }
    Ok(())
}

/// What a stop at the `n`th request of a file leaves behind: the requests before it are
/// stored, so whoever fixes the file must not ingest them again.
fn kept_before(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => " (the request before it is stored; ingest only the rest after fixing it)".into(),
        n => format!(
            " (the {n} requests before it are stored; ingest only the rest after fixing it)"
        ),
    }
}

fn display(file: &Path) -> String {
    if file == Path::new("-") {
        "<stdin>".into()
    } else {
        file.display().to_string()
    }
}

/// Checks up front that every file exists, so a typo in the last of ten files does not
/// leave the first nine half-ingested.
pub fn check_files(files: &[PathBuf]) -> anyhow::Result<()> {
    for f in files {
        if f != Path::new("-") && !f.is_file() {
            bail!("{}: no such file", f.display());
        }
    }
    Ok(())
}
