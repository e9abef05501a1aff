//! `shadowscan serve`: both OTLP receivers, the admin endpoint and the pipeline writer.
//!
//! Shutdown order (SIGINT/SIGTERM): stop accepting and let receivers finish in-flight
//! exports, drop the last pipeline handle, let the writer drain its queue and commit, then
//! exit. Every export acknowledged before that is in the database.
//!
//! SIGHUP (or a change to the files, checked every few seconds) re-reads the TLS
//! certificate and the token files; connections already open are not dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::ExitStatus;
use crate::cli::ServeArgs;
use crate::config::{self, Config};
use crate::ingest::{self, BodyBudget, ReceiverLimits, ReceiverOptions};
use crate::net::{self, Protocol, Reload, Tls, TlsFiles, Tokens, Transport};
use crate::pipeline::Pipeline;
use crate::store::Store;

pub fn run(args: ServeArgs, config: &Config) -> anyhow::Result<ExitStatus> {
    keep_freed_memory();
    let workers = args
        .worker_threads
        .or(config.serve.worker_threads)
        .map_or_else(default_workers, usize::from);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .thread_name("shadowscan")
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(args, config))
}

/// One receiving thread per CPU but one: the writer's commits run on a blocking thread of
/// their own, and on a small machine a second worker mostly adds cross-thread wake-ups
/// (measured on 2 CPUs: 1.30-1.37 M spans per CPU-second with one worker, 1.09-1.27 M with
/// two, at the same throughput; `cargo bench --bench grpc_load`).
fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .max(1)
}

/// Every export arrives in a fresh buffer of a few hundred KiB. glibc's defaults hand such
/// buffers back to the kernel when freed (mmap above the threshold, trimming of the heap
/// top), so the next export page-faults and zeroes them again: ~5% of the daemon's CPU
/// under load. Keeping freed memory for reuse costs at most a few export buffers.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// `[serve]`'s connection limits over the defaults.
fn connection_limits(config: &Config) -> net::ConnLimits {
    let d = net::ConnLimits::default();
    let secs = |v: Option<u64>, default| v.map_or(default, Duration::from_secs);
    net::ConnLimits {
        max_connections: config.serve.max_connections.unwrap_or(d.max_connections),
        header_timeout: secs(config.serve.header_timeout_secs, d.header_timeout),
        max_streams: config.serve.max_concurrent_streams.unwrap_or(d.max_streams),
        idle_timeout: secs(config.serve.idle_timeout_secs, d.idle_timeout),
    }
}

/// Three listeners of `max_connections` each, the database and logs need file
/// descriptors; the usual soft limit (1024) is below that, and running out makes every port
/// unreachable. Raise the soft limit to the hard one and say when even that is short.
fn raise_fd_limit(max_connections: usize) {
    #[cfg(unix)]
    {
        let need = (3 * max_connections + 64) as libc::rlim_t;
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return;
            }
            if lim.rlim_cur < need && lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim = raised;
                }
            }
        }
        if lim.rlim_cur < need {
            tracing::warn!(
                limit = lim.rlim_cur,
                needed = need,
                "the file descriptor limit is below what three listeners of [serve] max_connections need; raise `ulimit -n` or lower max_connections"
            );
        }
    }
}

fn addr(flag: Option<SocketAddr>, file: Option<SocketAddr>, default: &str) -> SocketAddr {
    flag.or(file)
        .unwrap_or_else(|| default.parse().expect("default addresses are valid"))
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen for {what} on {addr}; is another process using it? (choose another with the flag or config)")
    })
}

async fn serve(args: ServeArgs, config: &Config) -> anyhow::Result<ExitStatus> {
    // Specs mapped in the config feed the live report; one that does not load stops start-up
    // here rather than failing every report request later.
    let specs = super::diff::load_specs(&[], None, config)?;
    let db = config.db(args.db.db.as_deref());
    let store = Store::open(&db)?;
    let pipeline_config = super::pipeline_config(config)?;
    let (pipeline, writer) = Pipeline::start(store, pipeline_config)?;
    // Before listening: a certificate or token file that does not load stops start-up.
    let security = Security::resolve(&args.security, config)?;

    let grpc = bind(
        addr(
            args.grpc_addr,
            config.serve.grpc_addr,
            config::DEFAULT_GRPC_ADDR,
        ),
        "OTLP/gRPC",
    )
    .await?;
    let http = bind(
        addr(
            args.http_addr,
            config.serve.http_addr,
            config::DEFAULT_HTTP_ADDR,
        ),
        "OTLP/HTTP",
    )
    .await?;
    let admin = bind(
        addr(
            args.admin_addr,
            config.serve.admin_addr,
            config::DEFAULT_ADMIN_ADDR,
        ),
        "the admin endpoint",
    )
    .await?;
    let (grpc_addr, http_addr, admin_addr) =
        (grpc.local_addr()?, http.local_addr()?, admin.local_addr()?);
    tracing::info!(%grpc_addr, %http_addr, %admin_addr, db = %db.display(), "shadowscan listening");
    let ready_file = (args.ready_file.clone())
        .or_else(|| config.serve.ready_file.as_ref().map(|p| config.relative(p)));
    if let Some(ready) = &ready_file {
        write_ready_file(ready, grpc_addr, http_addr, admin_addr)?;
    }

    let limits = ReceiverLimits {
        max_message_bytes: args
            .max_message_bytes
            .or(config.serve.max_message_bytes)
            .unwrap_or(config::DEFAULT_MAX_MESSAGE_BYTES),
        body_timeout: (config.serve.body_timeout_secs)
            .map_or(ReceiverLimits::DEFAULT_BODY_TIMEOUT, Duration::from_secs),
    };
    let conn_limits = connection_limits(config);
    raise_fd_limit(conn_limits.max_connections);
    security.warn_if_exposed(grpc_addr, http_addr, admin_addr);
    let stop = CancellationToken::new();
    tokio::spawn(wait_for_signal(stop.clone()));
    tokio::spawn(net::reload_on_change(
        security.reloadable(),
        stop.clone().cancelled_owned(),
    ));

    let admin_state = crate::admin::AdminState::new(
        pipeline.metrics_handle(),
        db.clone(),
        specs,
        config.normalize.clone(),
    );
    let admin_router = crate::admin::guard(
        crate::admin::router(admin_state),
        crate::admin::AdminGuard {
            tokens: security.admin_tokens.clone(),
            allowed_hosts: config.serve.admin.allowed_hosts.clone(),
        },
    );
    let admin_transport = Transport {
        tls: security.admin_tls.clone(),
        limits: conn_limits,
    };
    let admin_task = tokio::spawn(net::serve(
        admin,
        admin_transport,
        Protocol::Http,
        admin_router,
        stop.clone().cancelled_owned(),
    ));
    let receiver = ReceiverOptions {
        limits,
        transport: Transport {
            tls: security.tls.clone(),
            limits: conn_limits,
        },
        tokens: security.tokens.clone(),
        // One budget for both receivers.
        budget: BodyBudget::new(
            (config.serve.max_buffered_bytes).unwrap_or(BodyBudget::DEFAULT_BYTES),
        ),
    };
    let grpc_task = tokio::spawn(ingest::run_grpc(
        grpc,
        pipeline.clone(),
        receiver.clone(),
        stop.clone().cancelled_owned(),
    ));
    let http_task = tokio::spawn(ingest::run_http(
        http,
        pipeline.clone(),
        receiver,
        stop.clone().cancelled_owned(),
    ));
    drop(pipeline);

    let mut failed = false;
    for (what, res) in [
        ("OTLP/gRPC", grpc_task.await),
        ("OTLP/HTTP", http_task.await),
    ] {
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "{what} receiver failed");
                failed = true;
                stop.cancel();
            }
            Err(e) => {
                tracing::error!(error = %e, "{what} receiver task panicked");
                failed = true;
                stop.cancel();
            }
        }
    }
    // Receivers are done: their pipeline handles are dropped, so the writer drains and commits.
    let store = writer
        .join()
        .await
        .context("flushing the inventory on shutdown")?;
    let stats = store.stats()?;
    tracing::info!(
        endpoints = stats.endpoints,
        requests = stats.requests,
        "inventory flushed; bye"
    );
    if let Ok(Err(e)) = admin_task.await {
        tracing::warn!(error = %e, "admin endpoint failed");
    }
    Ok(if failed {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}

/// TLS and tokens, from flags, environment and the config file.
struct Security {
    tls: Option<Arc<Tls>>,
    /// The receivers' TLS, unless `[serve.admin] plaintext`.
    admin_tls: Option<Arc<Tls>>,
    tokens: Option<Arc<Tokens>>,
    admin_tokens: Option<Arc<Tokens>>,
}

/// Comma-separated receiver tokens; kept out of flags so they never show in `ps`.
const TOKENS_ENV: &str = "SHADOWSCAN_TOKENS";
/// Comma-separated admin tokens; also what `--server` clients send.
pub const ADMIN_TOKEN_ENV: &str = "SHADOWSCAN_ADMIN_TOKEN";

impl Security {
    fn resolve(args: &crate::cli::SecurityArgs, config: &Config) -> anyhow::Result<Security> {
        let file = config.serve.tls.as_ref();
        let files = match (&args.tls_cert, &args.tls_key, file) {
            (Some(cert), Some(key), _) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: args.tls_client_ca.clone().or_else(|| {
                    file.and_then(|f| f.client_ca_file.as_ref().map(|p| config.relative(p)))
                }),
            }),
            (_, _, Some(f)) => Some(TlsFiles {
                cert: config.relative(&f.cert_file),
                key: config.relative(&f.key_file),
                client_ca: args
                    .tls_client_ca
                    .clone()
                    .or_else(|| f.client_ca_file.as_ref().map(|p| config.relative(p))),
            }),
            _ => None,
        };
        let tls = match files {
            Some(files) => Some(Arc::new(Tls::load(files)?)),
            None => None,
        };
        let env = |name: &'static str| std::env::var(name).ok().map(|v| (name, v));
        let tokens_file = (args.tokens_file.clone())
            .or_else(|| (config.serve.auth.tokens_file.as_ref()).map(|p| config.relative(p)));
        let tokens_env = env(TOKENS_ENV);
        let tokens = Tokens::load(
            tokens_file.as_deref(),
            tokens_env.as_ref().map(|(n, v)| (*n, v.as_str())),
        )?
        .map(Arc::new);
        let admin_file = (args.admin_token_file.clone())
            .or_else(|| (config.serve.admin.token_file.as_ref()).map(|p| config.relative(p)));
        let admin_env = env(ADMIN_TOKEN_ENV);
        let admin_tokens = Tokens::load(
            admin_file.as_deref(),
            admin_env.as_ref().map(|(n, v)| (*n, v.as_str())),
        )?
        .map(Arc::new);
        Ok(Security {
            admin_tls: tls.clone().filter(|_| !config.serve.admin.plaintext),
            tls,
            tokens,
            admin_tokens,
        })
    }

    fn reloadable(&self) -> Vec<Arc<dyn Reload>> {
        let mut items: Vec<Arc<dyn Reload>> = Vec::new();
        if let Some(t) = &self.tls {
            items.push(t.clone());
        }
        for t in [&self.tokens, &self.admin_tokens].into_iter().flatten() {
            if t.file().is_some() {
                items.push(t.clone());
            }
        }
        items
    }

    /// The OpenTelemetry Collector binds to localhost by default for the same reason: a
    /// receiver anyone can reach lets anyone write the inventory.
    fn warn_if_exposed(&self, grpc: SocketAddr, http: SocketAddr, admin: SocketAddr) {
        let guard = |tls: &Option<Arc<Tls>>, tokens: &Option<Arc<Tokens>>| Guard {
            tls: tls.is_some(),
            client_certs: tls.as_ref().is_some_and(|t| t.files().client_ca.is_some()),
            tokens: tokens.is_some(),
        };
        let receivers = guard(&self.tls, &self.tokens);
        exposure("OTLP/gRPC", grpc, receivers, "write");
        exposure("OTLP/HTTP", http, receivers, "write");
        let admin_guard = guard(&self.admin_tls, &self.admin_tokens);
        exposure("the admin endpoint", admin, admin_guard, "read");
    }
}

fn exposure(what: &str, addr: SocketAddr, guard: Guard, verb: &str) {
    if let Some(warning) = exposure_warning(what, addr, guard, verb) {
        tracing::warn!(%addr, "{warning}");
    }
}

/// What protects a listener.
#[derive(Debug, Clone, Copy, Default)]
struct Guard {
    tls: bool,
    client_certs: bool,
    tokens: bool,
}

/// What to say about a listener on `addr`, if anything: beyond loopback, a listener that
/// authenticates nobody lets anyone in, and tokens without TLS can be read on the way.
fn exposure_warning(what: &str, addr: SocketAddr, guard: Guard, verb: &str) -> Option<String> {
    if addr.ip().is_loopback() {
        return None;
    }
    if !guard.tokens && !guard.client_certs {
        let missing = if guard.tls {
            "without tokens or client certificates"
        } else {
            "without TLS or tokens"
        };
        return Some(format!(
            "{what} listens beyond loopback {missing}: anyone who can reach {addr} can {verb} the inventory (set [serve.tls] and [serve.auth]/[serve.admin] token files, or bind 127.0.0.1; README: Deployment and security)"
        ));
    }
    (!guard.tls).then(|| format!(
        "{what} listens beyond loopback without TLS: its bearer tokens cross the network in clear text (set [serve.tls])"
    ))
}

fn write_ready_file(
    path: &Path,
    grpc: SocketAddr,
    http: SocketAddr,
    admin: SocketAddr,
) -> anyhow::Result<()> {
    let body = serde_json::json!({ "grpc": grpc.to_string(), "http": http.to_string(), "admin": admin.to_string() });
    // Write then rename, so a polling reader never sees half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

async fn wait_for_signal(stop: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; stop with SIGINT");
                    let _ = ctrl_c.await;
                    stop.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
            _ = stop.cancelled() => return,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down: finishing in-flight exports, then flushing the inventory");
    stop.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_loopback() {
        for a in [
            config::DEFAULT_GRPC_ADDR,
            config::DEFAULT_HTTP_ADDR,
            config::DEFAULT_ADMIN_ADDR,
        ] {
            let a: SocketAddr = a.parse().unwrap();
            assert!(a.ip().is_loopback(), "{a}");
            assert_eq!(exposure_warning("x", a, Guard::default(), "write"), None);
        }
    }

    #[test]
    fn listening_beyond_loopback_without_tls_or_tokens_is_warned() {
        let any: SocketAddr = "0.0.0.0:4317".parse().unwrap();
        let lan: SocketAddr = "[2001:db8::1]:4318".parse().unwrap();
        let g = |tls, client_certs, tokens| Guard {
            tls,
            client_certs,
            tokens,
        };
        for a in [any, lan] {
            let w = |guard| exposure_warning("OTLP/gRPC", a, guard, "write");
            let open = w(g(false, false, false)).unwrap();
            assert!(open.contains("without TLS or tokens"), "{open}");
            assert!(open.contains("can write the inventory"), "{open}");
            let tls_only = w(g(true, false, false)).unwrap();
            assert!(
                tls_only.contains("without tokens or client certificates"),
                "{tls_only}"
            );
            let clear = w(g(false, false, true)).unwrap();
            assert!(clear.contains("clear text"), "{clear}");
            assert_eq!(w(g(true, false, true)), None);
            assert_eq!(w(g(true, true, false)), None);
        }
        let v6_loopback: SocketAddr = "[::1]:9464".parse().unwrap();
        assert_eq!(
            exposure_warning("admin", v6_loopback, Guard::default(), "read"),
            None
        );
    }
}
