//! One module per subcommand. Each takes its parsed arguments and the loaded configuration
//! and returns an [`ExitStatus`]; only here are library errors turned into `anyhow` errors
//! and exit codes.

use std::process::ExitCode;

/// What a command tells the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done, and nothing found that should fail a pipeline.
    Success,
    /// Done, and drift was found (`diff`): CI should fail.
    Drift,
    /// Could not do the job: bad input, unreadable spec, store error.
    Error,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        match s {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Drift => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, LogFormat};
use crate::config::Config;

/// Loads the configuration, sets up logging and runs the chosen command.
pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    init_logging(
        cli.log.as_deref().or(config.log.as_deref()),
        cli.log_format
            .or(config.log_format)
            .unwrap_or(LogFormat::Text),
    )?;
    match cli.command {
        Command::Serve(args) => serve::run(args, &config),
        Command::Ingest(args) => ingest::run(args, &config),
        Command::Inventory(args) => inventory::run(args, &config),
        Command::Diff(args) => diff::run(args, &config),
        Command::Report(args) => report::run(args, &config),
        Command::Graph(args) => graph::run(args, &config),
        Command::Demo(args) => demo::run(args, &config),
    }
}

/// stderr for logs, dropping what cannot be written: when nobody reads it any more (a
/// supervisor's log pipe closed), tracing-subscriber reports the failed write with
/// `eprintln!`, which panics on a closed stderr; a daemon must keep running and still shut
/// down cleanly instead.
struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

fn init_logging(filter: Option<&str>, format: LogFormat) -> anyhow::Result<()> {
    let wanted = filter.unwrap_or("info");
    // Only the error's own message: its source repeats it.
    let filter = EnvFilter::try_new(wanted).map_err(|e| {
        anyhow::anyhow!("log filter `{wanted}` (--log, SHADOWSCAN_LOG or `log` in the config): {e}; use e.g. info, warn or shadowscan=debug")
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Stderr)
        // Escape codes in a log file or a journal are noise: colour only on a terminal.
        .with_ansi(colour_allowed(std::io::stderr().is_terminal()))
        .with_target(false);
    // A second init (tests calling `run` twice) is harmless: keep the first subscriber.
    let _ = match format {
        // Log fields carry service names, paths and spec text: escaped, so a value cannot
        // start a line of its own or reach the terminal as an escape sequence. (JSON
        // escapes control characters itself.)
        LogFormat::Text => builder
            .fmt_fields(
                tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
                    let text = format!("{value:?}");
                    let text = crate::untrusted::escape(&text);
                    if field.name() == "message" {
                        write!(w, "{text}")
                    } else {
                        write!(w, "{field}={text}")
                    }
                })
                .delimited(" "),
            )
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    Ok(())
}

pub mod demo;
pub mod diff;
pub mod graph;
pub mod ingest;
pub mod inventory;
pub mod report;
pub mod serve;

/// Whether automatic colour may be used on a stream: only on a terminal, and never when
/// `NO_COLOR` is set to anything non-empty (<https://no-color.org>). An explicit
/// `--color always` still wins, as that convention allows.
pub fn colour_allowed(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Now, in unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Writes to stdout; a closed pipe (`| head`) ends quietly.
pub fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// The pipeline's settings from the config file (flags for these are on `serve` only).
pub fn pipeline_config(config: &Config) -> anyhow::Result<crate::pipeline::PipelineConfig> {
    let mut cfg = crate::pipeline::PipelineConfig::default();
    if let Some(n) = config.serve.queue_batches {
        cfg.channel_capacity = n.max(1);
    }
    if let Some(ms) = config.serve.flush_interval_ms {
        cfg.flush_interval = std::time::Duration::from_millis(ms.max(1));
    }
    if let Some(n) = config.inventory.max_endpoints_per_service {
        cfg.inventory.max_endpoints_per_service = n;
    }
    if let Some(n) = config.inventory.max_services {
        cfg.inventory.max_services = n;
    }
    if let Some(s) = config.inventory.join_window_secs {
        cfg.inventory.join_window = std::time::Duration::from_secs(s);
    }
    cfg.rules = config.normalize.clone();
    // A route's last parameter named like a path covers a route-less request's rest.
    cfg.inventory.rest_params = cfg.rules.slashy_params.clone();
    cfg.attr_keys = crate::model::AttrKeys::with_extra(
        &config.ingest.identity_attributes,
        &config.ingest.credential_headers,
    );
    Ok(cfg)
}

/// Reads the inventory of a running `shadowscan serve` from its admin address
/// (`http://host:port`), over plain HTTP/1.1.
pub fn fetch_inventory(
    url: &str,
    since: Option<i64>,
) -> anyhow::Result<Vec<crate::model::EndpointStats>> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        anyhow::anyhow!("--server {url}: give the admin address as http://HOST:PORT (TLS is not supported; use an SSH tunnel or a proxy)")
    })?;
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    // The stored rows: `diff` groups them itself, as it does reading a database.
    let mut path = format!("{base}/api/v1/inventory?raw=true");
    if let Some(s) = since {
        path.push_str(&format!("&since={}s", unix_now().saturating_sub(s).max(0)));
    }
    let mut conn = std::net::TcpStream::connect(authority)
        .with_context(|| format!("--server {url}: cannot connect to {authority}"))?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    // The admin endpoint's token, when it requires one (the first of a comma-separated list).
    let auth = std::env::var(serve::ADMIN_TOKEN_ENV)
        .ok()
        .and_then(|v| {
            v.split(',')
                .map(str::trim)
                .find(|t| !t.is_empty())
                .map(str::to_owned)
        })
        .map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)
        .with_context(|| format!("--server {url}: reading the response"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("--server {url}: not an HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = raw[split + 4..].to_vec();
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        anyhow::bail!(
            "--server {url}: GET {path} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        );
    }
    if head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    }) {
        body = dechunk(&body).ok_or_else(|| anyhow::anyhow!("--server {url}: bad chunked body"))?;
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        endpoints: Vec<crate::model::EndpointStats>,
    }
    let doc: Doc = serde_json::from_slice(&body).with_context(|| {
        format!(
            "--server {url}: the inventory JSON did not parse; is this a shadowscan admin address?"
        )
    })?;
    Ok(doc.endpoints)
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}
