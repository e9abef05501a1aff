//! How connections reach `serve`'s three listeners (OTLP/gRPC, OTLP/HTTP, admin): one
//! accept loop with optional TLS ([`tls`]), a cap on open connections, a deadline for the
//! TLS handshake and request head, and graceful shutdown; plus the bearer tokens ([`auth`])
//! the services behind it check, and the reloading of both when their files change.
//!
//! The services themselves (what a request means) live with their owners: `ingest` for
//! the receivers, `admin` for the admin endpoint.

pub mod auth;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::server::TlsStream;
use tower_service::Service;

pub use auth::{TokenError, Tokens};
pub use tls::{Alpn, Tls, TlsError, TlsFiles};

/// Per-listener connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Time a new connection has to finish its TLS handshake, and an HTTP/1.1 request to
    /// send its head.
    pub header_timeout: Duration,
    /// Concurrent HTTP/2 streams (requests) per connection.
    pub max_streams: u32,
}

impl ConnLimits {
    pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_MAX_STREAMS: u32 = 32;
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            header_timeout: Self::DEFAULT_HEADER_TIMEOUT,
            max_streams: Self::DEFAULT_MAX_STREAMS,
        }
    }
}

/// How a listener's connections are set up: TLS or not, and their limits.
#[derive(Clone, Default)]
pub struct Transport {
    pub tls: Option<Arc<Tls>>,
    pub limits: ConnLimits,
}

/// What a listener speaks once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/2 only, with these flow-control settings (gRPC).
    H2 {
        stream_window: u32,
        connection_window: u32,
        max_frame: u32,
    },
    /// HTTP/1.1 or HTTP/2, told apart by the connection preface (OTLP/HTTP, admin).
    Http,
}

/// Serves `service` on every connection `listener` accepts until `shutdown` resolves, then
/// stops accepting and waits for the requests in flight.
pub async fn serve<S, B, F>(
    listener: TcpListener,
    transport: Transport,
    protocol: Protocol,
    service: S,
    shutdown: F,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    F: Future<Output = ()> + Send,
{
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(transport.limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_warning: Option<Instant> = None;
    let mut warn = |message: &str, error: Option<&io::Error>| {
        // At most one line every 10 s: the condition is what matters, not each socket.
        if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            last_warning = Some(Instant::now());
            match error {
                Some(e) => tracing::warn!(error = %e, "{message}"),
                None => tracing::warn!("{message}"),
            }
        }
    };
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors (EMFILE/ENFILE) and the like: the pending
                    // connection stays in the backlog, so retrying at once would spin.
                    warn("accepting a connection failed; retrying in 100 ms (is the file descriptor limit, `ulimit -n`, too low?)", Some(&e));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            warn(
                "connection limit reached: closing new connections (raise [serve] max_connections if these are real exporters)",
                None,
            );
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let watcher = graceful.watcher();
        let tls = transport.tls.clone();
        let limits = transport.limits;
        let service = service.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let stream = match tls {
                None => Stream::Plain(tcp),
                Some(tls) => {
                    let alpn = match protocol {
                        Protocol::H2 { .. } => Alpn::H2,
                        Protocol::Http => Alpn::Http,
                    };
                    let handshake = tls.acceptor(alpn).accept(tcp);
                    match tokio::time::timeout(limits.header_timeout, handshake).await {
                        Ok(Ok(s)) => Stream::Tls(Box::new(s)),
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let io = TokioIo::new(stream);
            let service = TowerToHyperService::new(service);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(limits.max_streams);
            if let Protocol::H2 {
                stream_window,
                connection_window,
                max_frame,
            } = protocol
            {
                builder = builder.http2_only();
                builder
                    .http2()
                    .initial_stream_window_size(stream_window)
                    .initial_connection_window_size(connection_window)
                    .max_frame_size(max_frame);
            }
            let result = watcher
                .watch(builder.serve_connection(io, service).into_owned())
                .await;
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A plain or TLS connection, so one accept loop serves both.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Something whose files can be re-read while serving.
pub trait Reload: Send + Sync {
    /// What it is, for log lines.
    fn what(&self) -> String;
    /// Re-reads when `force` or when its files changed; `Ok(true)` when new settings are in
    /// force. On error the settings in force stay.
    fn reload(&self, force: bool) -> Result<bool, String>;
}

impl Reload for Tls {
    fn what(&self) -> String {
        format!("the TLS certificate {}", self.files().cert.display())
    }
    fn reload(&self, force: bool) -> Result<bool, String> {
        Tls::reload(self, force).map_err(|e| e.to_string())
    }
}

impl Reload for Tokens {
    fn what(&self) -> String {
        match self.file() {
            Some(f) => format!("the token file {}", f.display()),
            None => "the tokens".into(),
        }
    }
    fn reload(&self, force: bool) -> Result<bool, String> {
        Tokens::reload(self, force).map_err(|e| e.to_string())
    }
}

/// How often files are checked for changes between SIGHUPs.
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);

/// Re-reads `items` on SIGHUP and whenever their files change, until `stop` resolves.
pub async fn reload_on_change<F>(items: Vec<Arc<dyn Reload>>, stop: F)
where
    F: Future<Output = ()>,
{
    if items.is_empty() {
        return;
    }
    let mut stop = std::pin::pin!(stop);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(RELOAD_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        let force = tokio::select! {
            () = &mut stop => return,
            () = hangup => true,
            _ = tick.tick() => false,
        };
        for item in &items {
            match item.reload(force) {
                Ok(true) => tracing::info!("reloaded {}", item.what()),
                Ok(false) => {}
                Err(e) => tracing::error!(
                    "reloading {} failed; the previous settings stay in force: {e}",
                    item.what()
                ),
            }
        }
    }
}
