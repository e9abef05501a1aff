//! How connections reach `serve`'s three listeners (OTLP/gRPC, OTLP/HTTP, admin): one
//! accept loop with optional TLS ([`tls`]), a cap on open connections, a deadline for the
//! TLS handshake and request head, closing of idle connections, and graceful shutdown; plus the bearer tokens ([`auth`])
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
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
    /// A connection on which nothing was read or written for this long is closed
    /// gracefully (requests in flight finish first).
    pub idle_timeout: Duration,
}

impl ConnLimits {
    /// Per listener; `serve` raises the process's file-descriptor limit to fit three.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_MAX_STREAMS: u32 = 32;
    /// Collectors keep their connection between batches (seconds apart); five idle
    /// minutes mean it is gone, or was never an exporter.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            header_timeout: Self::DEFAULT_HEADER_TIMEOUT,
            max_streams: Self::DEFAULT_MAX_STREAMS,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
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
    let closing = CancellationToken::new();
    let max_connections = transport
        .limits
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let slots = Arc::new(Semaphore::new(max_connections));
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
        let closing = closing.clone();
        let tls = transport.tls.clone();
        let limits = transport.limits;
        let service = service.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let activity = Activity::new();
            let kind = match tls {
                None => Kind::Plain(tcp),
                Some(tls) => {
                    let alpn = match protocol {
                        Protocol::H2 { .. } => Alpn::H2,
                        Protocol::Http => Alpn::Http,
                    };
                    let handshake = tls.acceptor(alpn).accept(tcp);
                    match tokio::time::timeout(limits.header_timeout, handshake).await {
                        Ok(Ok(s)) => Kind::Tls(Box::new(s)),
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
            let io = TokioIo::new(Stream {
                kind,
                activity: activity.clone(),
            });
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
            let mut conn = std::pin::pin!(builder.serve_connection(io, service));
            let check = (limits.idle_timeout / 4).max(Duration::from_millis(50));
            // Once asked to close, a connection has this long: a peer that never answers
            // HTTP/2's closing PING, or never finishes a request, is not waited for.
            let mut ending: Option<tokio::time::Instant> = None;
            // hyper's header timeout starts with the request head; before the first byte
            // (while HTTP/1 and HTTP/2 are told apart) this deadline applies.
            let first_byte = tokio::time::Instant::now() + limits.header_timeout;
            let mut spoke = false;
            let result = loop {
                let cut = async {
                    match ending {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    result = conn.as_mut() => break Ok(result),
                    () = cut => break Err(()),
                    () = tokio::time::sleep_until(first_byte), if !spoke => {
                        if !activity.read_any() {
                            break Err(());
                        }
                        spoke = true;
                    }
                    () = closing.cancelled(), if ending.is_none() => {
                        conn.as_mut().graceful_shutdown();
                        ending = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
                    }
                    () = tokio::time::sleep(check), if ending.is_none() => {
                        if activity.idle() >= limits.idle_timeout {
                            tracing::debug!(%peer, "closing an idle connection");
                            conn.as_mut().graceful_shutdown();
                            ending = Some(tokio::time::Instant::now() + limits.header_timeout);
                        }
                    }
                }
            };
            let result = match result {
                Ok(r) => r,
                Err(()) => {
                    tracing::debug!(%peer, "dropping a connection that sent nothing or did not close in time");
                    return;
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    closing.cancel();
    // Every connection holds a slot until it ends: having them all back means all ended.
    let _all = slots.acquire_many(max_connections as u32).await;
    Ok(())
}

/// How long, at shutdown, requests in flight have to finish before their connections are
/// dropped: longer than the default body timeout, so an export that is arriving completes.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(35);

/// When a connection last read or wrote a byte, and whether it ever read one.
#[derive(Clone)]
struct Activity(Arc<(Instant, AtomicU64, AtomicBool)>);

impl Activity {
    fn new() -> Activity {
        Activity(Arc::new((
            Instant::now(),
            AtomicU64::new(0),
            AtomicBool::new(false),
        )))
    }

    fn touch(&self) {
        let ms = self.0 .0.elapsed().as_millis() as u64;
        self.0 .1.store(ms, Ordering::Relaxed);
    }

    fn touch_read(&self) {
        self.touch();
        self.0 .2.store(true, Ordering::Relaxed);
    }

    fn read_any(&self) -> bool {
        self.0 .2.load(Ordering::Relaxed)
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.0 .1.load(Ordering::Relaxed));
        self.0 .0.elapsed().saturating_sub(last)
    }
}

/// A plain or TLS connection, so one accept loop serves both, noting when bytes move.
struct Stream {
    kind: Kind,
    activity: Activity,
}

enum Kind {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    fn moved<T>(
        &self,
        poll: Poll<io::Result<T>>,
        bytes: impl FnOnce(&T) -> bool,
    ) -> Poll<io::Result<T>> {
        if let Poll::Ready(Ok(v)) = &poll {
            if bytes(v) {
                self.activity.touch();
            }
        }
        poll
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = match &mut this.kind {
            Kind::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Kind::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if buf.filled().len() > before {
            this.activity.touch_read();
        }
        poll
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = match &mut this.kind {
            Kind::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Kind::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        this.moved(poll, |n| *n > 0)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = match &mut this.kind {
            Kind::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Kind::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        };
        this.moved(poll, |n| *n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        match &self.kind {
            Kind::Plain(s) => s.is_write_vectored(),
            Kind::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().kind {
            Kind::Plain(s) => Pin::new(s).poll_flush(cx),
            Kind::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().kind {
            Kind::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Kind::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
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
