//! `shadowscan serve`: both OTLP receivers, the admin endpoint and the pipeline writer.
//!
//! Shutdown order (SIGINT/SIGTERM): stop accepting and let receivers finish in-flight
//! exports, drop the last pipeline handle, let the writer drain its queue and commit, then
//! exit. Every export acknowledged before that is in the database.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::ExitStatus;
use crate::cli::ServeArgs;
use crate::config::{self, Config};
use crate::ingest::{self, ReceiverLimits};
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
    };
    let stop = CancellationToken::new();
    tokio::spawn(wait_for_signal(stop.clone()));

    let admin_state = crate::admin::AdminState::new(
        pipeline.metrics_handle(),
        db.clone(),
        specs,
        config.normalize.clone(),
    );
    let admin_task = tokio::spawn({
        let stop = stop.clone();
        async move {
            axum::serve(admin, crate::admin::router(admin_state))
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        }
    });
    let grpc_task = tokio::spawn(ingest::run_grpc(
        grpc,
        pipeline.clone(),
        limits,
        stop.clone().cancelled_owned(),
    ));
    let http_task = tokio::spawn(ingest::run_http(
        http,
        pipeline.clone(),
        limits,
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
