//! Configuration: the TOML file, overridden by `SHADOWSCAN_*` variables and flags (clap
//! reads those two, see `cli`). This module owns the file's schema and its defaults; commands
//! ask it for resolved values and never read the file themselves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything the config file can set. Unknown keys are errors, so a typo does not silently
/// fall back to a default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Inventory database file.
    pub db: Option<PathBuf>,
    /// Log filter (`info`, `shadowscan=debug`), as `--log`.
    pub log: Option<String>,
    /// `text` or `json`, as `--log-format`.
    pub log_format: Option<crate::cli::LogFormat>,
    pub serve: ServeConfig,
    pub inventory: InventoryConfig,
    pub diff: DiffConfig,
    /// Which spec describes which service, so plain `shadowscan diff` checks them all.
    pub specs: Vec<SpecMapping>,
    /// Auth-evidence patterns, template overrides: see `normalize::Rules`.
    pub normalize: crate::normalize::Rules,
    pub ingest: IngestConfig,
    /// Where this config was read from, for relative paths and messages.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    pub grpc_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    pub max_message_bytes: Option<usize>,
    /// Export requests waiting for the writer before new ones get UNAVAILABLE/503.
    pub queue_batches: Option<usize>,
    /// How often accepted spans are committed (and their exports acknowledged), in ms.
    pub flush_interval_ms: Option<u64>,
    /// Threads that receive and normalise exports (default: one less than the CPUs).
    pub worker_threads: Option<u16>,
    /// Where to write the bound addresses once listening, as `--ready-file`.
    pub ready_file: Option<PathBuf>,
    /// Bytes all request bodies may hold at once, received or decompressed; beyond it
    /// exports get UNAVAILABLE/503 with a retry delay.
    pub max_buffered_bytes: Option<usize>,
    /// Seconds a request body has to arrive whole (408 / DEADLINE_EXCEEDED after).
    pub body_timeout_secs: Option<u64>,
    /// Seconds a new connection has for its TLS handshake and HTTP/1.1 request head.
    pub header_timeout_secs: Option<u64>,
    /// Seconds without a byte read or written before a connection is closed.
    pub idle_timeout_secs: Option<u64>,
    /// Open connections per listener; more are closed as soon as accepted.
    pub max_connections: Option<usize>,
    /// Concurrent requests (HTTP/2 streams) per connection.
    pub max_concurrent_streams: Option<u32>,
    /// TLS on every listener, as `--tls-cert`/`--tls-key`/`--tls-client-ca`.
    pub tls: Option<TlsConfig>,
    /// Bearer tokens the receivers require.
    pub auth: AuthConfig,
    /// Who may use the admin endpoint.
    pub admin: AdminConfig,
}

/// `[serve.tls]`: PEM files, re-read when they change or on SIGHUP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// When set, clients must present a certificate issued by this CA.
    pub client_ca_file: Option<PathBuf>,
}

/// `[serve.auth]`: exporters must send `authorization: Bearer <token>`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// One token a line, `#` comments; re-read when it changes or on SIGHUP.
    pub tokens_file: Option<PathBuf>,
}

/// `[serve.admin]`: the admin endpoint's own token and the `Host` names it answers to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// One token a line; when set, everything but `/healthz` needs one of them.
    pub token_file: Option<PathBuf>,
    /// Host names the admin endpoint answers (besides localhost and IP addresses).
    pub allowed_hosts: Vec<String>,
    /// Serve the admin endpoint without TLS even when `[serve.tls]` is set.
    pub plaintext: bool,
}

/// What the decoder keeps of each span beyond the conventions' own attributes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Span attributes that name an authenticated user (`enduser.id` and `user.id` are built in).
    pub identity_attributes: Vec<String>,
    /// Request headers whose presence shows credentials were sent (`authorization` and
    /// `x-api-key` are built in). Matched as `http.request.header.<name>`; values are never read.
    pub credential_headers: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// Distinct endpoints per service before new ones are counted as overflow.
    pub max_endpoints_per_service: Option<usize>,
    /// Distinct services before new ones are counted as overflow under `_other_services`.
    pub max_services: Option<usize>,
    /// How long a server span waits for auth evidence from spans in later batches, in seconds.
    pub join_window_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiffConfig {
    pub fail_on: Option<Vec<String>>,
    pub baseline: Option<PathBuf>,
    /// As `--allow-no-traffic`: a bound service without traffic is a warning, not an error.
    pub allow_no_traffic: Option<bool>,
    /// Bytes one spec load may read, the spec and its `$ref`'d files together
    /// (default `spec::DEFAULT_MAX_SPEC_BYTES`).
    pub max_spec_bytes: Option<u64>,
    /// The directory tree file `$ref`s may resolve into (default: each spec's directory).
    pub spec_root: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecMapping {
    pub service: String,
    pub spec: PathBuf,
}

pub const DEFAULT_DB: &str = "shadowscan.db";
// Loopback, as the OpenTelemetry Collector's receivers since v0.104: exposing a receiver
// (anyone who reaches it writes the inventory) is a choice made with `grpc_addr`/`http_addr`.
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:4317";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:4318";
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9464";
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the config file: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", file.display())]
    Parse { file: PathBuf, message: String },
}

impl Config {
    /// Reads the file when one is named; no file means all defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: path.to_owned(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|message| ConfigError::Parse {
            file: path.to_owned(),
            message,
        })?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Parses TOML text; the message names the line, column and key at fault.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// The database path: the flag or environment wins, then the file, then the default.
    pub fn db(&self, flag: Option<&Path>) -> PathBuf {
        flag.map(Path::to_owned)
            .or_else(|| self.db.as_ref().map(|p| self.relative(p)))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DB))
    }

    /// How specs are read: `--spec-root` wins over `[diff] spec_root`.
    pub fn spec_options(&self, root_flag: Option<&Path>) -> crate::spec::LoadOptions {
        crate::spec::LoadOptions {
            max_bytes: self
                .diff
                .max_spec_bytes
                .unwrap_or(crate::spec::DEFAULT_MAX_SPEC_BYTES),
            root: root_flag
                .map(Path::to_owned)
                .or_else(|| self.diff.spec_root.as_ref().map(|p| self.relative(p))),
        }
    }

    /// Paths inside the config file are relative to the file, not to the working directory.
    pub fn relative(&self, p: &Path) -> PathBuf {
        match self.source.as_ref().and_then(|s| s.parent()) {
            Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
            _ => p.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_configuration_example_parses() {
        let readme = include_str!("../docs/configuration.md");
        let start = readme
            .find("```toml\ndb = ")
            .expect("docs/configuration.md has the configuration example");
        let body = &readme[start + "```toml\n".len()..];
        let example = &body[..body.find("```").expect("the example block ends")];
        let c = Config::parse(example).unwrap();
        assert_eq!(c.serve.worker_threads, Some(1));
        assert_eq!(c.serve.flush_interval_ms, Some(50));
        assert_eq!(c.log.as_deref(), Some("info"));
        assert_eq!(c.log_format, Some(crate::cli::LogFormat::Json));
        assert!(c.serve.ready_file.is_some());
        assert_eq!(c.normalize.auth.rejected_statuses, [401, 403]);
        assert!(c.serve.tls.is_some());
        assert_eq!(c.serve.admin.allowed_hosts, ["shadowscan.internal"]);
        assert_eq!(c.normalize.limits.max_path_bytes, 2048);
        assert_eq!(c.diff.allow_no_traffic, Some(false));
    }

    #[test]
    fn the_readme_configuration_example_parses() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("```toml\ndb = ")
            .expect("README has the configuration example");
        let body = &readme[start + "```toml\n".len()..];
        let example = &body[..body.find("```").expect("the example block ends")];
        let c = Config::parse(example).unwrap();
        assert_eq!(c.specs.len(), 1);
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.db(None), PathBuf::from(DEFAULT_DB));
        assert!(c.specs.is_empty());
    }

    #[test]
    fn full_file_parses_and_flags_win() {
        let c = Config::parse(
            r#"
db = "/var/lib/shadowscan/inventory.db"
[serve]
grpc_addr = "127.0.0.1:14317"
max_message_bytes = 1048576
[inventory]
max_endpoints_per_service = 200
[diff]
fail_on = ["shadow"]
[[specs]]
service = "shop"
spec = "specs/shop.yaml"
"#,
        )
        .unwrap();
        assert_eq!(c.serve.grpc_addr, Some("127.0.0.1:14317".parse().unwrap()));
        assert_eq!(c.specs[0].service, "shop");
        assert_eq!(
            c.db(None),
            PathBuf::from("/var/lib/shadowscan/inventory.db")
        );
        assert_eq!(c.db(Some(Path::new("flag.db"))), PathBuf::from("flag.db"));
    }

    #[test]
    fn deployment_and_limit_keys_parse() {
        let c = Config::parse(
            r#"
[serve]
grpc_addr = "0.0.0.0:4317"
max_buffered_bytes = 268435456
body_timeout_secs = 30
header_timeout_secs = 10
idle_timeout_secs = 300
max_connections = 512
max_concurrent_streams = 32
[serve.tls]
cert_file = "tls/server.pem"
key_file = "tls/server.key"
client_ca_file = "tls/clients-ca.pem"
[serve.auth]
tokens_file = "tokens"
[serve.admin]
token_file = "admin-tokens"
allowed_hosts = ["shadowscan.internal"]
plaintext = true
"#,
        )
        .unwrap();
        let tls = c.serve.tls.as_ref().unwrap();
        assert_eq!(tls.key_file, PathBuf::from("tls/server.key"));
        assert!(tls.client_ca_file.is_some());
        assert_eq!(c.serve.auth.tokens_file, Some(PathBuf::from("tokens")));
        assert_eq!(c.serve.admin.allowed_hosts, ["shadowscan.internal"]);
        assert!(c.serve.admin.plaintext);
        assert_eq!(c.serve.max_concurrent_streams, Some(32));
        assert_eq!(c.serve.idle_timeout_secs, Some(300));
        let err = Config::parse("[serve.tls]\ncert_file = \"a.pem\"\n").unwrap_err();
        assert!(err.contains("key_file"), "{err}");
    }

    #[test]
    fn typos_are_errors_that_name_the_key_and_line() {
        let err = Config::parse("[serve]\ngrcp_addr = \"x\"\n").unwrap_err();
        assert!(err.contains("grcp_addr"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let mut c = Config::parse("db = \"inv.db\"").unwrap();
        c.source = Some(PathBuf::from("/etc/shadowscan/config.toml"));
        assert_eq!(
            c.db(None),
            PathBuf::from("/etc/shadowscan/inventory.db").with_file_name("inv.db")
        );
    }
}
