//! `serve` under senders that hold memory without finishing: slow HTTP uploads that stop
//! half-way, and many gRPC streams on one connection whose messages never end. The memory
//! they can hold is the configured budget (`[serve] max_buffered_bytes`), what is over it is
//! told to retry later, stalled bodies are cut at the body timeout, and the real
//! OpenTelemetry Python SDK exporter is served throughout (after its own retries at worst).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Server {
    child: Child,
    grpc: String,
    http: String,
    admin: String,
}

impl Server {
    fn start(dir: &Path, config: &str) -> Server {
        Server::start_with_fd_limit(dir, config, None)
    }

    /// With `RLIMIT_NOFILE` (soft and hard) set to `fds` in the daemon.
    fn start_with_fd_limit(dir: &Path, config: &str, fds: Option<u64>) -> Server {
        let ready = dir.join("ready.json");
        let config_file = dir.join("shadowscan.toml");
        std::fs::write(&config_file, config).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shadowscan"));
        if let Some(n) = fds {
            use std::os::unix::process::CommandExt;
            // SAFETY: only setrlimit, which is async-signal-safe, runs in the child.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd
            .env_remove("SHADOWSCAN_DB")
            .env_remove("SHADOWSCAN_TOKENS")
            .env("SHADOWSCAN_CONFIG", &config_file)
            .args([
                "serve",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
                "--admin-addr",
                "127.0.0.1:0",
            ])
            .arg("--db")
            .arg(dir.join("inventory.db"))
            .arg("--ready-file")
            .arg(&ready)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
            .spawn()
            .expect("start shadowscan serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        let v: Value = loop {
            if let Some(v) = std::fs::read_to_string(&ready)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
            {
                break v;
            }
            assert!(Instant::now() < deadline, "serve did not start in 60 s");
            std::thread::sleep(Duration::from_millis(25));
        };
        let s = |k: &str| v[k].as_str().unwrap().to_owned();
        Server {
            child,
            grpc: s("grpc"),
            http: s("http"),
            admin: s("admin"),
        }
    }

    /// `VmRSS` or `VmHWM` (the peak) of the daemon, in KiB.
    fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| {
                l.strip_prefix(field)?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_once("\r\n\r\n").unwrap().1.to_owned()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// An OTLP/HTTP upload that declares 16 MB, sends `sent` bytes and stops; the status
/// it is finally answered with (0 when the connection is closed without an answer).
fn stalled_upload(addr: &str, sent: usize, hold: Duration) -> u16 {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return 0;
    };
    s.set_read_timeout(Some(hold + Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 16000000\r\n\r\n"
    );
    let _ = s.write_all(head.as_bytes());
    // The server may answer 503 and stop reading half-way: then writing fails.
    let _ = s.write_all(&vec![0x0a; sent]);
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    std::str::from_utf8(&raw)
        .ok()
        .and_then(|h| h.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// A gRPC request body that sends `first` and then never ends.
struct Stalled(Option<Bytes>);

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        match self.0.take() {
            Some(b) => Poll::Ready(Some(Ok(http_body::Frame::data(b)))),
            None => Poll::Pending,
        }
    }
}

/// `streams` concurrent Export calls on one HTTP/2 connection, each sending a gRPC
/// prefix for a 16 MB message and `sent` bytes of it; their final gRPC codes.
async fn stalled_streams(addr: &str, streams: usize, sent: usize) -> Vec<i32> {
    use tonic::codegen::Service;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut calls = Vec::new();
    for _ in 0..streams {
        let mut channel = channel.clone();
        let addr = addr.to_owned();
        let mut body = vec![0u8];
        body.extend_from_slice(&16_000_000u32.to_be_bytes());
        body.extend(std::iter::repeat_n(0x0a, sent));
        calls.push(tokio::spawn(async move {
            let req = tonic::codegen::http::Request::builder()
                .method("POST")
                .uri(format!(
                    "http://{addr}/opentelemetry.proto.collector.trace.v1.TraceService/Export"
                ))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(tonic::body::Body::new(Stalled(Some(Bytes::from(body)))))
                .unwrap();
            std::future::poll_fn(|cx| channel.poll_ready(cx))
                .await
                .ok()?;
            let resp = channel.call(req).await.ok()?;
            let (parts, body) = resp.into_parts();
            let map = match parts.headers.get("grpc-status") {
                Some(_) => parts.headers,
                None => http_body_util::BodyExt::collect(body)
                    .await
                    .ok()?
                    .trailers()
                    .cloned()?,
            };
            map.get("grpc-status")?.to_str().ok()?.parse().ok()
        }));
    }
    let mut codes = Vec::new();
    for c in calls {
        codes.push(c.await.unwrap().unwrap_or(-1));
    }
    codes
}

fn python_export(target: &[&str]) -> Value {
    let python = repo().join(".venv-e2e/bin/python");
    assert!(python.exists(), "run scripts/setup-e2e.sh first");
    let out = Command::new(python)
        .arg(repo().join("tests/e2e/export_spans.py"))
        .args(target)
        .args(["--timeout", "40"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a well-behaved exporter must be served: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// 60 uploads stalled after 4 MiB and 40 gRPC streams stalled after 1 MiB on one
/// connection would hold ~280 MiB; with a 32 MiB budget the daemon's peak memory stays
/// within the budget and a margin, the excess is refused as `overloaded` (503 / UNAVAILABLE,
/// both retryable), the rest are cut at the 3 s body timeout, and SDK exports over gRPC
/// and HTTP started in the middle of it all succeed.
#[test]
fn stalled_bodies_hold_at_most_the_budget_and_exporters_are_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        "[serve]\nmax_buffered_bytes = 33554432\nbody_timeout_secs = 3\nmax_concurrent_streams = 64\nmax_connections = 200\n",
    );
    std::thread::sleep(Duration::from_millis(300));
    let baseline = server.memory_kib("VmRSS:");

    let hold = Duration::from_secs(6);
    let uploads: Vec<_> = (0..60)
        .map(|_| {
            let addr = server.http.clone();
            std::thread::spawn(move || stalled_upload(&addr, 4 << 20, hold))
        })
        .collect();
    let grpc_addr = server.grpc.clone();
    let streams = std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(stalled_streams(&grpc_addr, 40, 1 << 20))
    });
    std::thread::sleep(Duration::from_millis(500));
    let during = server.memory_kib("VmRSS:");

    let grpc_target = server.grpc.clone();
    let sdk_grpc = std::thread::spawn(move || python_export(&["--grpc", &grpc_target]));
    let sdk_http = python_export(&["--http", &format!("http://{}", server.http)]);
    let sdk_grpc = sdk_grpc.join().unwrap();

    let statuses: Vec<u16> = uploads.into_iter().map(|u| u.join().unwrap()).collect();
    let codes = streams.join().unwrap();
    let peak = server.memory_kib("VmHWM:");
    let metrics = get(&server.admin, "/metrics");

    let sent =
        sdk_grpc["spans_exported"].as_u64().unwrap() + sdk_http["spans_exported"].as_u64().unwrap();
    assert_eq!(
        metric(&metrics, "shadowscan_spans_accepted_total"),
        sent,
        "{metrics}"
    );
    let overloaded = metric(
        &metrics,
        "shadowscan_exports_refused_total{reason=\"overloaded\"}",
    );
    let timeouts = metric(
        &metrics,
        "shadowscan_exports_refused_total{reason=\"timeout\"}",
    );
    let grown_mib = peak.saturating_sub(baseline) / 1024;
    eprintln!(
        "baseline {} MiB, during the flood {} MiB, peak {} MiB (+{grown_mib} MiB); {overloaded} overloaded, {timeouts} timed out",
        baseline / 1024,
        during / 1024,
        peak / 1024
    );
    assert!(overloaded > 0 && timeouts > 0, "{metrics}");
    // Every stalled upload got an answer: retry later (503) or too slow (408).
    assert!(
        statuses.iter().all(|s| matches!(s, 503 | 408)),
        "upload answers: {statuses:?}"
    );
    // gRPC: UNAVAILABLE (14) over the budget, DEADLINE_EXCEEDED (4) when cut.
    assert!(
        codes.iter().all(|c| matches!(c, 14 | 4)),
        "stream codes: {codes:?}"
    );
    assert!(
        grown_mib < 32 + 64,
        "peak memory grew by {grown_mib} MiB, more than the 32 MiB budget and a 64 MiB margin"
    );
}

/// Whether the server closed `s` within `within` (a read returns end of file or an error
/// other than a timeout).
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

/// Sockets that never send a byte, or go quiet after a request, are closed: those over
/// `max_connections` at once, the rest at the header timeout (silent, or between HTTP/1.1
/// requests) or the idle timeout (HTTP/2). A file descriptor
/// each is all they cost, and a real exporter connects afterwards.
#[test]
fn idle_and_excess_connections_are_closed_and_the_port_stays_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        "[serve]\nmax_connections = 20\nheader_timeout_secs = 2\nidle_timeout_secs = 3\n",
    );
    let mut silent: Vec<TcpStream> = (0..30)
        .map(|_| TcpStream::connect(&server.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let over = silent
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_millis(10)))
        .filter(|&closed| closed)
        .count();
    assert_eq!(over, 10, "connections over the limit are closed at once");
    let started = Instant::now();
    for s in &mut silent {
        assert!(
            closed_within(s, Duration::from_secs(5)),
            "a silent connection stays open"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    // A kept-alive HTTP/1.1 connection waiting for its next request has the header
    // timeout to send it.
    let mut kept = TcpStream::connect(&server.http).unwrap();
    write!(
        kept,
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    )
    .unwrap();
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let quiet = Instant::now();
    assert!(closed_within(&mut kept, Duration::from_secs(6)));
    let after = quiet.elapsed();
    assert!(
        after >= Duration::from_millis(800),
        "closed after {after:?}"
    );

    // An HTTP/2 (gRPC) connection with no stream open is closed at the idle timeout.
    let mut h2 = TcpStream::connect(&server.grpc).unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let quiet = Instant::now();
    assert!(closed_within(&mut h2, Duration::from_secs(12)));
    let after = quiet.elapsed();
    assert!(
        after >= Duration::from_millis(2500),
        "closed after {after:?}, before the 3 s idle timeout"
    );

    let sdk = python_export(&["--http", &format!("http://{}", server.http)]);
    assert!(sdk["spans_exported"].as_u64().unwrap() > 0);
}

/// Out of file descriptors: 150 silent sockets against a daemon allowed 64. It warns at
/// start that the limit is short, does not spin while accepting fails, closes the silent
/// sockets at the header timeout, and then serves an exporter again.
#[test]
fn running_out_of_file_descriptors_recovers_once_silent_sockets_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::start_with_fd_limit(dir.path(), "[serve]\nheader_timeout_secs = 1\n", Some(64));
    let mut silent: Vec<TcpStream> = (0..150)
        .filter_map(|_| TcpStream::connect(&server.http).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let cpu = |s: &Server| {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", s.child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // utime + stime, in clock ticks (fields 14 and 15 of stat, counted from 1).
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu(&server);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu(&server) - before;
    assert!(
        spent < 50,
        "accepting without descriptors spins: {spent} ticks in 1 s"
    );
    for s in &mut silent {
        assert!(
            closed_within(s, Duration::from_secs(15)),
            "a silent socket stays open"
        );
    }
    drop(silent);
    let sdk = python_export(&["--http", &format!("http://{}", server.http)]);
    assert!(sdk["spans_exported"].as_u64().unwrap() > 0);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("file descriptor limit is below"), "{log}");
    assert!(log.contains("accepting a connection failed"), "{log}");
}
