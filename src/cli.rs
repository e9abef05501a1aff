//! The command line's shape: clap types only, no behaviour. Every flag that has a config-file
//! equivalent is an `Option` here so `config` can tell "not given" from "given", and the
//! environment (`SHADOWSCAN_*`) is read by clap itself, so precedence is
//! flags > environment > config file > defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The heading of the options every subcommand takes: listed after the subcommand's own, so
/// `shadowscan diff --help` starts with what `diff` does.
const GLOBAL: &str = "Global options";

#[derive(Debug, Parser)]
#[command(
    name = "shadowscan",
    version,
    about = "Finds the APIs you do not know you have: OTLP traces in, endpoint inventory and spec drift out.",
    propagate_version = true
)]
pub struct Cli {
    /// TOML configuration file (flags and SHADOWSCAN_* variables override it).
    #[arg(long, global = true, help_heading = GLOBAL, env = "SHADOWSCAN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log filter (e.g. `info`, `shadowscan=debug`); logs go to stderr.
    #[arg(long, global = true, help_heading = GLOBAL, env = "SHADOWSCAN_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Log format on stderr.
    #[arg(long, global = true, help_heading = GLOBAL, value_enum, env = "SHADOWSCAN_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the OTLP receivers (gRPC and HTTP) and the admin endpoint, building the inventory.
    Serve(ServeArgs),
    /// Load OTLP/JSON lines or OTLP protobuf files into the inventory.
    Ingest(IngestArgs),
    /// Show the endpoint inventory.
    Inventory(InventoryArgs),
    /// Compare observed endpoints with OpenAPI descriptions; exit 1 on drift.
    Diff(DiffArgs),
    /// The weekly inventory report: new, risky and changed endpoints (HTML, Markdown, JSON).
    Report(ReportArgs),
    /// Export the graph of services, endpoints and callers.
    Graph(GraphArgs),
    /// Replay bundled fixtures through the real gRPC receiver and show the inventory.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormatArg {
    Html,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// OpenAPI documents, to say what is documented (default: the config's `[[specs]]`).
    #[arg(long = "spec", value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
    /// Only this service (and the service the specs describe, when the traffic has several).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// The period reported on, compared with the period before it, in whole hours or days
    /// [default: 7d].
    #[arg(long, value_name = "DURATION", value_parser = parse_since)]
    pub since: Option<std::time::Duration>,
    #[arg(long, value_enum, default_value_t = ReportFormatArg::Html)]
    pub format: ReportFormatArg,
    /// Write the report here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// Only traffic within this window, in whole hours or days, e.g. `7d`, `24h`.
    #[arg(long, value_name = "DURATION", value_parser = parse_since)]
    pub since: Option<std::time::Duration>,
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// Only this service's endpoints and their callers.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// OpenAPI documents: endpoint nodes under their documented templates, as `diff` maps
    /// them (default: the config's `[[specs]]`).
    #[arg(long = "spec", value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct DbArg {
    /// Inventory database file.
    #[arg(long, env = "SHADOWSCAN_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// OTLP/gRPC listen address; `0.0.0.0:4317` exposes it (then set TLS and tokens)
    /// [default: 127.0.0.1:4317].
    #[arg(long, env = "SHADOWSCAN_GRPC_ADDR", value_name = "ADDR")]
    pub grpc_addr: Option<SocketAddr>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318].
    #[arg(long, env = "SHADOWSCAN_HTTP_ADDR", value_name = "ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Admin address: /healthz, /metrics, /api/v1/inventory [default: 127.0.0.1:9464].
    #[arg(long, env = "SHADOWSCAN_ADMIN_ADDR", value_name = "ADDR")]
    pub admin_addr: Option<SocketAddr>,
    #[command(flatten)]
    pub db: DbArg,
    /// Largest accepted export request, compressed or not, in bytes [default: 16 MiB].
    #[arg(long, env = "SHADOWSCAN_MAX_MESSAGE_BYTES", value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Threads that receive and normalise exports [default: one less than the CPUs, at
    /// least 1; the database commits on a thread of its own].
    #[arg(long, env = "SHADOWSCAN_WORKER_THREADS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_threads: Option<u16>,
    /// Write the bound addresses as JSON to this file once listening (for scripts and tests
    /// that bind port 0).
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// TLS and tokens for `serve` (config: `[serve.tls]`, `[serve.auth]`, `[serve.admin]`).
#[derive(Debug, Args, Clone, Default)]
pub struct SecurityArgs {
    /// TLS certificate chain (PEM) for every listener; re-read when it changes or on SIGHUP.
    #[arg(
        long,
        env = "SHADOWSCAN_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(
        long,
        env = "SHADOWSCAN_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM).
    #[arg(
        long,
        env = "SHADOWSCAN_TLS_CLIENT_CA",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
    /// Bearer tokens the receivers accept, one a line (also: SHADOWSCAN_TOKENS, comma-separated).
    #[arg(long, env = "SHADOWSCAN_TOKENS_FILE", value_name = "FILE")]
    pub tokens_file: Option<PathBuf>,
    /// Bearer tokens the admin endpoint requires, except on /healthz (also: SHADOWSCAN_ADMIN_TOKEN).
    #[arg(long, env = "SHADOWSCAN_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// OTLP/JSON lines (`.json`, `.jsonl`, one ExportTraceServiceRequest per line) or OTLP
    /// protobuf (`.pb`, `.binpb`) files, optionally gzip-compressed; `-` reads JSON lines
    /// from stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Hide the progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InventoryFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// Only this service.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Only traffic within this window, in whole hours or days, e.g. `7d`, `24h`, `1h`.
    #[arg(long, value_name = "DURATION", value_parser = parse_since)]
    pub since: Option<std::time::Duration>,
    #[arg(long, value_enum, default_value_t = InventoryFormat::Table)]
    pub format: InventoryFormat,
    /// Show endpoints as observed, without folding many distinct literal values into one
    /// learned parameter (`/users/octocat`, `/users/torvalds` → `/users/{param}`) and
    /// without mapping them onto the specs' templates.
    #[arg(long)]
    pub raw: bool,
    /// OpenAPI documents: show observed paths under their documented templates, and
    /// undocumented ones grouped as `diff` groups them (default: the config's `[[specs]]`).
    #[arg(long = "spec", value_name = "SPEC", conflicts_with = "raw")]
    pub specs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    Sarif,
    Junit,
    Markdown,
    Github,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// OpenAPI 3.0/3.1 or Swagger 2.0 documents, YAML or JSON. Without any, the `[[specs]]`
    /// mapping of the config file is used.
    #[arg(value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
    #[command(flatten)]
    pub db: DbArg,
    /// Read traffic from OTLP files instead of the database (no server needed in CI).
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with = "server")]
    pub traces: Vec<PathBuf>,
    /// Read the inventory of a running `shadowscan serve` (its admin address).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The service the specs describe (needed when the traffic holds several services and
    /// the config maps none).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Only traffic within this window, in whole hours or days, e.g. `7d`, `24h`.
    #[arg(long, value_name = "DURATION", value_parser = parse_since)]
    pub since: Option<std::time::Duration>,
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Finding kinds that make the exit status 1 [default: shadow,unauthenticated].
    #[arg(long, value_name = "KINDS", value_delimiter = ',')]
    pub fail_on: Vec<String>,
    /// Accepted findings (with reasons and optional expiry) that do not fail the run.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the current findings as a baseline file to start from, then exit 0.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Write the report here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print a unified diff adding the shadow endpoints to the spec as stub operations.
    #[arg(long)]
    pub suggest: bool,
    /// List every finding: also the documented operations without traffic (text, and as
    /// notices with `--format github`) and the findings the baseline accepted (text).
    #[arg(long, short)]
    pub verbose: bool,
    /// The directory tree the specs' file `$ref`s may reach (default: each spec's own
    /// directory; `[diff] spec_root`).
    #[arg(long, value_name = "DIR")]
    pub spec_root: Option<PathBuf>,
    /// Colour in text output: auto (only on a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Accept a bound service (or the whole source, or the window) without traffic: warn
    /// and compare anyway, instead of failing with exit 2. For services that are expected
    /// to be quiet; every documented operation is then unobserved.
    #[arg(long)]
    pub allow_no_traffic: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo database here instead of a temporary file.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Write the OpenAPI description of the recorded Express 4 shop here, to try `diff`
    /// on (an existing file with other content is not overwritten).
    #[arg(long, value_name = "FILE")]
    pub write_spec: Option<PathBuf>,
}

/// Parses `7d`, `24h`, `90m`, `30s`, `2w` and humantime forms (`1h 30m`), up to 100 years:
/// every caller subtracts the duration from a timestamp, and a longer one is a typo.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    const MAX_SECS: u64 = 100 * 365 * 86_400;
    let t = s.trim();
    let d = match t.strip_suffix('w').and_then(|n| n.parse::<u64>().ok()) {
        Some(weeks) => weeks
            .checked_mul(7 * 86_400)
            .map(std::time::Duration::from_secs)
            .unwrap_or(std::time::Duration::MAX),
        None => humantime::parse_duration(t)
            .map_err(|e| format!("`{s}` is not a duration ({e}); use e.g. 7d, 24h or 1h"))?,
    };
    if d.as_secs() > MAX_SECS {
        return Err(format!(
            "`{s}` is longer than 100 years; use e.g. 7d, 24h or 1h"
        ));
    }
    Ok(d)
}

/// A `--since` window: a [`parse_duration`] that is a whole number of hours. The store
/// keeps hourly counts, so a shorter or ragged window could not be honoured (it would
/// silently mean the whole hour bucket): refused, with the hour count that covers it.
pub fn parse_since(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    let secs = d.as_secs();
    if secs % 3600 != 0 || secs == 0 || d.subsec_nanos() != 0 {
        let hours = secs.div_ceil(3600).max(1);
        return Err(format!(
            "`{s}`: the inventory keeps hourly counts, so --since has a resolution of one hour; use --since {hours}h"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn absurd_durations_are_refused_not_wrapped() {
        // Subtracted from now, these used to wrap into an empty inventory (or overflow).
        for absurd in ["500000000000y", "99999999999999w", "101y"] {
            let e = parse_duration(absurd).unwrap_err();
            assert!(e.contains("longer than 100 years"), "{absurd}: {e}");
        }
        assert_eq!(parse_duration("99y").unwrap().as_secs() / 86_400 / 365, 99);
    }

    #[test]
    fn since_is_whole_hours_or_refused_with_the_covering_hours() {
        assert_eq!(parse_since("7d").unwrap().as_secs(), 7 * 86_400);
        assert_eq!(parse_since("1h").unwrap().as_secs(), 3600);
        assert_eq!(parse_since("120m").unwrap().as_secs(), 7200);
        for (given, suggested) in [
            ("30m", "1h"),
            ("90m", "2h"),
            ("1h 30m", "2h"),
            ("0s", "1h"),
            ("59s", "1h"),
        ] {
            let e = parse_since(given).unwrap_err();
            assert!(e.contains("resolution of one hour"), "{given}: {e}");
            assert!(
                e.ends_with(&format!("use --since {suggested}")),
                "{given}: {e}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 7 * 86_400);
        assert_eq!(parse_duration("2w").unwrap().as_secs(), 14 * 86_400);
        assert_eq!(parse_duration("90m").unwrap().as_secs(), 5_400);
        assert!(parse_duration("soon").unwrap_err().contains("7d"));
    }
}
