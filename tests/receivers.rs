//! The OTLP receivers as exporters see them: the real tonic client from opentelemetry-proto
//! (gzip on, as collectors send) against the gRPC receiver, and raw HTTP/1.1 requests
//! against the HTTP receiver, both on 127.0.0.1:0, feeding a recording sink that decodes
//! with `ingest::decode` exactly as the pipeline's sink does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use shadowscan::ingest::{
    corpus, decode, run_grpc, run_http, Accepted, DecodeStats, Format, Payload, ReceiverLimits,
    ReceiverOptions, Refusal, SinkError, TraceSink, EXPORT_PATH,
};
use shadowscan::model::{AttrKey, AttrKeys, AttrValue, SpanKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;
use tonic::Code;

// ---- a sink that decodes and records ---------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Accept,
    /// Keeps server spans only and reports the others as rejected.
    RejectNonServer,
    Busy(Duration),
    Unavailable,
}

/// What the sink kept of one span.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    service: Option<String>,
    name: String,
    kind: SpanKind,
    trace_id: [u8; 16],
    method: Option<String>,
    credential: Option<AttrValue<'static>>,
}

#[derive(Clone)]
struct Recorder {
    keys: Arc<AttrKeys>,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    formats: Arc<Mutex<Vec<Format>>>,
    refusals: Arc<Mutex<Vec<Refusal>>>,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            keys: Arc::new(AttrKeys::default()),
            mode: Arc::new(Mutex::new(Mode::Accept)),
            seen: Arc::new(Mutex::new(Vec::new())),
            formats: Arc::new(Mutex::new(Vec::new())),
            refusals: Arc::new(Mutex::new(Vec::new())),
        }
    }
    fn set_mode(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
    fn take_refusals(&self) -> Vec<Refusal> {
        std::mem::take(&mut *self.refusals.lock().unwrap())
    }
}

impl Recorder {
    /// Decodes and records, as a pipeline sink would.
    fn record(&self, payload: &Payload, mode: Mode) -> Result<Accepted, SinkError> {
        self.formats.lock().unwrap().push(payload.format);
        let mut kept = Vec::new();
        let mut rejected = 0;
        let DecodeStats { spans, .. } =
            decode(&payload.bytes, payload.format, &self.keys, |r, s| {
                if mode == Mode::RejectNonServer && s.kind != SpanKind::Server {
                    rejected += 1;
                    return;
                }
                kept.push(Seen {
                    service: r.service_name.as_ref().map(|c| c.to_string()),
                    // Decoders differ on names nobody reads (the protobuf walker skips them).
                    name: if s.name_is_read() {
                        s.name.to_string()
                    } else {
                        String::new()
                    },
                    kind: s.kind,
                    trace_id: s.trace_id,
                    method: s
                        .attr(AttrKey::RequestMethod)
                        .or(s.attr(AttrKey::HttpMethod))
                        .and_then(AttrValue::as_str)
                        .map(str::to_owned),
                    credential: s.attr(AttrKey::Credential).map(|v| match v {
                        AttrValue::Present => AttrValue::Present,
                        other => AttrValue::Str(format!("{other:?}").into()),
                    }),
                })
            })?;
        assert_eq!(spans as usize, kept.len() + rejected);
        self.seen.lock().unwrap().extend(kept);
        Ok(Accepted {
            rejected_spans: rejected as u64,
            message: if rejected > 0 {
                format!("{rejected} spans are not server spans")
            } else {
                String::new()
            },
        })
    }
}

impl TraceSink for Recorder {
    fn refused(&self, why: Refusal) {
        self.refusals.lock().unwrap().push(why);
    }

    async fn export(&self, payload: Payload) -> Result<Accepted, SinkError> {
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Busy(retry_after) => Err(SinkError::Busy { retry_after }),
            Mode::Unavailable => Err(SinkError::Unavailable("store closed".into())),
            Mode::Accept | Mode::RejectNonServer => self.record(&payload, mode),
        }
    }
}

// ---- harness ---------------------------------------------------------------------------

struct Servers {
    grpc: SocketAddr,
    http: SocketAddr,
    sink: Recorder,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Servers {
    async fn start(max_message_bytes: usize) -> Servers {
        Servers::start_with(ReceiverLimits::with_max_message_bytes(max_message_bytes).into()).await
    }

    async fn start_with(options: ReceiverOptions) -> Servers {
        let sink = Recorder::new();
        let limits = options;
        let grpc_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (grpc, http) = (
            grpc_listener.local_addr().unwrap(),
            http_listener.local_addr().unwrap(),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = shared(stopped);
        let s1 = stopped.clone();
        let g = tokio::spawn({
            let sink = sink.clone();
            let limits = limits.clone();
            async move {
                run_grpc(grpc_listener, sink, limits, async move { s1.wait().await })
                    .await
                    .unwrap()
            }
        });
        let h = tokio::spawn({
            let sink = sink.clone();
            async move {
                run_http(
                    http_listener,
                    sink,
                    limits,
                    async move { stopped.wait().await },
                )
                .await
                .unwrap()
            }
        });
        Servers {
            grpc,
            http,
            sink,
            stop: Some(stop),
            tasks: vec![g, h],
        }
    }

    async fn client(&self) -> TraceServiceClient<tonic::transport::Channel> {
        TraceServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    async fn shutdown(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        for t in self.tasks.drain(..) {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("receiver stops after shutdown")
                .unwrap();
        }
    }
}

/// One shutdown signal observed by both receivers.
#[derive(Clone)]
struct Shared(tokio::sync::watch::Receiver<bool>);

impl Shared {
    async fn wait(mut self) {
        let _ = self.0.wait_for(|v| *v).await;
    }
}

fn shared(rx: oneshot::Receiver<()>) -> Shared {
    let (tx, watch) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = rx.await;
        let _ = tx.send(true);
    });
    Shared(watch)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// What the sink records for `bytes` when handed them directly, without a receiver.
fn expected(bytes: &[u8]) -> Vec<Seen> {
    let sink = Recorder::new();
    let payload = Payload {
        bytes: bytes.to_vec().into(),
        format: Format::Protobuf,
    };
    sink.record(&payload, Mode::Accept).unwrap();
    sink.take()
}

/// `google.rpc.Status` and `RetryInfo`, declared here as an exporter would read them.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

fn retry_delay(status_bytes: &[u8]) -> Duration {
    let status = RpcStatus::decode(status_bytes).expect("google.rpc.Status");
    let detail = status
        .details
        .iter()
        .find(|d| d.type_url == "type.googleapis.com/google.rpc.RetryInfo")
        .expect("a RetryInfo detail");
    let d = RetryInfo::decode(&detail.value[..])
        .unwrap()
        .retry_delay
        .unwrap();
    Duration::new(d.seconds as u64, d.nanos as u32)
}

// ---- raw HTTP/1.1 ----------------------------------------------------------------------

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    // The server may answer (413) and close before reading everything.
    let _ = stream.write_all(&request).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body = raw[split + 4..].to_vec();
    HttpResponse {
        status,
        headers,
        body,
    }
}

async fn post(addr: SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    http(addr, "POST", "/v1/traces", headers, body).await
}

const PB: (&str, &str) = ("Content-Type", "application/x-protobuf");
const JS: (&str, &str) = ("Content-Type", "application/json");
const GZ: (&str, &str) = ("Content-Encoding", "gzip");

// ---- raw gRPC ---------------------------------------------------------------------------

/// Sends one gRPC request exactly as given (extra headers, body bytes with whatever framing)
/// over a real HTTP/2 connection and returns the call's status.
async fn raw_grpc(addr: SocketAddr, headers: &[(&str, &str)], body: Vec<u8>) -> tonic::Status {
    use http_body_util::{BodyExt, Full};
    use tonic::codegen::Service;
    let mut channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut req = tonic::codegen::http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{EXPORT_PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(tonic::body::Body::new(Full::new(bytes::Bytes::from(body))))
        .unwrap();
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .unwrap();
    let (parts, body) = channel.call(req).await.unwrap().into_parts();
    assert_eq!(parts.status, 200, "gRPC answers in trailers, over HTTP 200");
    // A trailers-only response carries the status in its headers.
    let map = if parts.headers.contains_key("grpc-status") {
        parts.headers
    } else {
        body.collect()
            .await
            .unwrap()
            .trailers()
            .cloned()
            .expect("trailers with grpc-status")
    };
    tonic::Status::from_header_map(&map).expect("a grpc-status")
}

/// The gRPC length prefix: compressed flag and big-endian length.
fn framed(flag: u8, declared_len: u32, message: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&declared_len.to_be_bytes());
    out.extend_from_slice(message);
    out
}

// ---- gRPC ------------------------------------------------------------------------------

#[tokio::test]
async fn grpc_gzip_export_reaches_the_sink_decoded_by_the_fast_path() {
    let servers = Servers::start(ReceiverLimits::DEFAULT_MAX_MESSAGE_BYTES).await;
    let bytes = corpus::protobuf(120, 3);
    let req = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
    let mut client = servers
        .client()
        .await
        .send_compressed(CompressionEncoding::Gzip);
    let resp = client.export(req.clone()).await.unwrap().into_inner();
    assert_eq!(resp, ExportTraceServiceResponse::default());
    let seen = servers.sink.take();
    assert_eq!(seen.len(), 120);
    assert_eq!(seen, expected(&bytes));
    assert_eq!(seen[0].service.as_deref(), Some("shop-api"));
    assert!(seen
        .iter()
        .any(|s| s.credential == Some(AttrValue::Present)));
    // Uncompressed works too.
    let mut plain = servers.client().await;
    plain.export(req).await.unwrap();
    assert_eq!(servers.sink.take().len(), 120);
    servers.shutdown().await;
}

#[tokio::test]
async fn grpc_partial_success_is_propagated() {
    let servers = Servers::start(1 << 20).await;
    servers.sink.set_mode(Mode::RejectNonServer);
    let bytes = corpus::protobuf(40, 9);
    let non_server = expected(&bytes)
        .iter()
        .filter(|s| s.kind != SpanKind::Server)
        .count();
    assert!(non_server > 0);
    let req = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
    let resp = servers
        .client()
        .await
        .export(req)
        .await
        .unwrap()
        .into_inner();
    let partial = resp.partial_success.expect("partial_success set");
    assert_eq!(partial.rejected_spans, non_server as i64);
    assert!(partial.error_message.contains("not server spans"));
    servers.shutdown().await;
}

#[tokio::test]
async fn grpc_busy_and_unavailable_carry_retry_info() {
    let servers = Servers::start(1 << 20).await;
    servers
        .sink
        .set_mode(Mode::Busy(Duration::from_millis(2500)));
    let req = ExportTraceServiceRequest::decode(&corpus::protobuf(4, 1)[..]).unwrap();
    let mut client = servers.client().await;
    let status = client.export(req.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(retry_delay(status.details()), Duration::from_millis(2500));

    servers.sink.set_mode(Mode::Unavailable);
    let status = client.export(req).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("store closed"));
    // Shutting down or a failed commit: retryable, and exporters are told when (as HTTP's
    // Retry-After says).
    assert_eq!(retry_delay(status.details()), Duration::from_secs(5));
    assert!(servers.sink.take().is_empty());
    servers.shutdown().await;
}

#[tokio::test]
async fn grpc_malformed_request_is_invalid_argument_naming_the_field() {
    let servers = Servers::start(1 << 20).await;
    // A span's name claims more bytes than the span has: the message itself is broken.
    let mut req = ExportTraceServiceRequest::decode(&corpus::protobuf(4, 1)[..]).unwrap();
    req.resource_spans[0].scope_spans[0].spans[2].name = "\u{1}".repeat(5);
    let mut bytes = req.encode_to_vec();
    let name = bytes
        .windows(7)
        .position(|w| w == [0x2a, 5, 1, 1, 1, 1, 1])
        .expect("the span name on the wire");
    bytes[name + 1] = 0x7f;
    let status = raw_grpc(servers.grpc, &[], framed(0, bytes.len() as u32, &bytes)).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("Span.name") && status.message().contains("runs past the end"),
        "{}",
        status.message()
    );
    assert!(servers.sink.take().is_empty(), "nothing of it is kept");
    assert_eq!(servers.sink.take_refusals(), [Refusal::Malformed]);
    servers.shutdown().await;
}

#[tokio::test]
async fn grpc_oversized_request_is_resource_exhausted_compressed_or_not() {
    let limit = 16 * 1024;
    let servers = Servers::start(limit).await;
    let bytes = corpus::protobuf(300, 5);
    assert!(bytes.len() > limit && gzip(&bytes).len() < limit);
    let req = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
    let status = servers
        .client()
        .await
        .export(req.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // Small on the wire, too large once inflated.
    let status = servers
        .client()
        .await
        .send_compressed(CompressionEncoding::Gzip)
        .export(req)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(servers.sink.take().is_empty());
    // A request under the limit still goes through afterwards.
    let small = ExportTraceServiceRequest::decode(&corpus::protobuf(10, 5)[..]).unwrap();
    servers.client().await.export(small).await.unwrap();
    assert_eq!(servers.sink.take().len(), 10);
    assert_eq!(servers.sink.take_refusals(), [Refusal::TooLarge; 2]);
    servers.shutdown().await;
}

#[tokio::test]
async fn grpc_message_over_several_frames_arrives_whole() {
    let servers = Servers::start(ReceiverLimits::DEFAULT_MAX_MESSAGE_BYTES).await;
    // Over two of the receiver's 256 KiB frames; collectors in Go send 16 KiB frames.
    let bytes = corpus::protobuf(3000, 11);
    assert!(bytes.len() > 2 * (256 << 10), "{} bytes", bytes.len());
    let req = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
    servers.client().await.export(req).await.unwrap();
    assert_eq!(servers.sink.take(), expected(&bytes));
    // The same through raw framing, and a gzip one.
    let st = raw_grpc(servers.grpc, &[], framed(0, bytes.len() as u32, &bytes)).await;
    assert_eq!(st.code(), Code::Ok, "{st:?}");
    let gz = gzip(&bytes);
    let st = raw_grpc(
        servers.grpc,
        &[("grpc-encoding", "gzip")],
        framed(1, gz.len() as u32, &gz),
    )
    .await;
    assert_eq!(st.code(), Code::Ok, "{st:?}");
    assert_eq!(servers.sink.take().len(), 6000);
    servers.shutdown().await;
}

#[tokio::test]
async fn grpc_framing_errors_get_a_status_naming_the_problem() {
    let servers = Servers::start(1 << 20).await;
    let msg = corpus::protobuf(4, 1);
    let n = msg.len() as u32;
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, Code, &'a str);
    let cases: Vec<Case> = vec![
        (
            "empty body",
            vec![],
            vec![],
            Code::InvalidArgument,
            "no message",
        ),
        (
            "truncated message",
            vec![],
            framed(0, n + 100, &msg),
            Code::InvalidArgument,
            "ended after",
        ),
        (
            "two messages",
            vec![],
            [framed(0, n, &msg), framed(0, n, &msg)].concat(),
            Code::InvalidArgument,
            "exactly one message",
        ),
        (
            "bad flag",
            vec![],
            framed(7, n, &msg),
            Code::InvalidArgument,
            "compressed flag 7",
        ),
        (
            "compressed without an encoding",
            vec![],
            framed(1, n, &msg),
            Code::Internal,
            "grpc-encoding",
        ),
        (
            "unsupported encoding",
            vec![("grpc-encoding", "br")],
            framed(1, n, &msg),
            Code::Unimplemented,
            "br is not supported",
        ),
        (
            "corrupt gzip",
            vec![("grpc-encoding", "gzip")],
            framed(1, n, &msg),
            Code::InvalidArgument,
            "gzip",
        ),
        (
            "declared length over the limit",
            vec![],
            framed(0, 2 << 20, &msg),
            Code::ResourceExhausted,
            "limit",
        ),
    ];
    for (what, headers, body, code, says) in cases {
        let st = raw_grpc(servers.grpc, &headers, body).await;
        assert_eq!(st.code(), code, "{what}: {st:?}");
        assert!(st.message().contains(says), "{what}: {}", st.message());
    }
    assert!(servers.sink.take().is_empty());
    // A well-framed request on the same server still goes through.
    let st = raw_grpc(servers.grpc, &[], framed(0, n, &msg)).await;
    assert_eq!(st.code(), Code::Ok, "{st:?}");
    assert_eq!(servers.sink.take(), expected(&msg));
    servers.shutdown().await;
}

// ---- HTTP ------------------------------------------------------------------------------

#[tokio::test]
async fn http_protobuf_and_json_plain_and_gzip_are_accepted() {
    let servers = Servers::start(1 << 20).await;
    let bytes = corpus::protobuf(60, 11);
    let json = corpus::json(60, 11);
    let want = expected(&bytes);

    let r = post(servers.http, &[PB], &bytes).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(
        ExportTraceServiceResponse::decode(&r.body[..]).unwrap(),
        ExportTraceServiceResponse::default()
    );
    assert_eq!(servers.sink.take(), want);

    let r = post(
        servers.http,
        &[("Content-Type", "application/json; charset=utf-8")],
        &json,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), serde_json::json!({}));
    assert_eq!(servers.sink.take(), want);

    let r = post(servers.http, &[PB, GZ], &gzip(&bytes)).await;
    assert_eq!(r.status, 200);
    assert_eq!(servers.sink.take(), want);

    let r = post(servers.http, &[JS, ("Content-Encoding", "identity")], &json).await;
    assert_eq!(r.status, 200);
    let r = post(servers.http, &[JS, GZ], &gzip(&json)).await;
    assert_eq!(r.status, 200);
    assert_eq!(servers.sink.take().len(), 120);
    assert_eq!(
        *servers.sink.formats.lock().unwrap(),
        vec![
            Format::Protobuf,
            Format::Json,
            Format::Protobuf,
            Format::Json,
            Format::Json
        ]
    );
    servers.shutdown().await;
}

#[tokio::test]
async fn http_unsupported_media_is_415() {
    let servers = Servers::start(1 << 20).await;
    let bytes = corpus::protobuf(4, 1);
    for headers in [
        vec![("Content-Type", "text/plain")],
        vec![("Content-Type", "application/protobuf-ish")],
        vec![],
        vec![PB, ("Content-Encoding", "br")],
        vec![PB, ("Content-Encoding", "deflate")],
    ] {
        let r = post(servers.http, &headers, &bytes).await;
        assert_eq!(r.status, 415, "{headers:?}");
        assert!(!r.body.is_empty());
    }
    assert!(servers.sink.take().is_empty());
    assert_eq!(servers.sink.take_refusals(), [Refusal::Unsupported; 5]);
    servers.shutdown().await;
}

#[tokio::test]
async fn http_oversized_is_413_declared_streamed_or_inflated() {
    let limit = 16 * 1024;
    let servers = Servers::start(limit).await;
    let bytes = corpus::protobuf(300, 5);
    assert!(bytes.len() > limit);
    // Declared by Content-Length.
    let r = post(servers.http, &[PB], &bytes).await;
    assert_eq!(r.status, 413);
    let status = RpcStatus::decode(&r.body[..]).unwrap();
    assert_eq!(status.code, Code::ResourceExhausted as i32);
    // Streamed in chunks without a length.
    let mut chunked = Vec::new();
    for chunk in bytes.chunks(4096) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = post(
        servers.http,
        &[JS, ("Transfer-Encoding", "chunked")],
        &chunked,
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["code"], 8);
    // Small gzip body that inflates past the limit (a gzip bomb in miniature).
    let bomb = gzip(&vec![b' '; 10 * limit]);
    assert!(bomb.len() < limit);
    let r = post(servers.http, &[JS, GZ], &bomb).await;
    assert_eq!(r.status, 413);
    assert!(servers.sink.take().is_empty());
    assert_eq!(servers.sink.take_refusals(), [Refusal::TooLarge; 3]);
    servers.shutdown().await;
}

#[tokio::test]
async fn http_malformed_is_400_with_a_status_in_the_request_encoding() {
    let servers = Servers::start(1 << 20).await;
    let r = post(
        servers.http,
        &[JS],
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":7}]}]}]}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["code"], 3);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("line 1, column") && message.contains("trace id"),
        "{message}"
    );

    let mut bytes = corpus::protobuf(4, 1);
    bytes.truncate(bytes.len() - 3);
    let r = post(servers.http, &[PB], &bytes).await;
    assert_eq!(r.status, 400);
    let status = RpcStatus::decode(&r.body[..]).unwrap();
    assert_eq!(status.code, Code::InvalidArgument as i32);
    assert!(status.message.contains("at byte"), "{}", status.message);

    let r = post(servers.http, &[PB, GZ], b"\x1f\x8b not really gzip").await;
    assert_eq!(r.status, 400);
    assert!(RpcStatus::decode(&r.body[..])
        .unwrap()
        .message
        .contains("gzip"));
    servers.shutdown().await;
}

#[tokio::test]
async fn http_busy_and_unavailable_are_503_with_retry_after() {
    let servers = Servers::start(1 << 20).await;
    let bytes = corpus::protobuf(4, 1);
    servers
        .sink
        .set_mode(Mode::Busy(Duration::from_millis(1500)));
    let r = post(servers.http, &[PB], &bytes).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("2"));
    assert_eq!(retry_delay(&r.body), Duration::from_millis(1500));

    let r = post(servers.http, &[JS], &corpus::json(4, 1)).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["code"], 14);

    servers.sink.set_mode(Mode::Unavailable);
    let r = post(servers.http, &[PB], &bytes).await;
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    servers.shutdown().await;
}

#[tokio::test]
async fn http_partial_success_in_both_encodings() {
    let servers = Servers::start(1 << 20).await;
    servers.sink.set_mode(Mode::RejectNonServer);
    let bytes = corpus::protobuf(30, 2);
    let rejected = expected(&bytes)
        .iter()
        .filter(|s| s.kind != SpanKind::Server)
        .count() as i64;
    let r = post(servers.http, &[PB], &bytes).await;
    assert_eq!(r.status, 200);
    let resp = ExportTraceServiceResponse::decode(&r.body[..]).unwrap();
    assert_eq!(resp.partial_success.unwrap().rejected_spans, rejected);

    let r = post(servers.http, &[JS], &corpus::json(30, 2)).await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(
        body["partialSuccess"]["rejectedSpans"],
        rejected.to_string()
    );
    assert!(body["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap()
        .contains("not server spans"));
    servers.shutdown().await;
}

#[tokio::test]
async fn http_other_paths_and_methods() {
    let servers = Servers::start(1 << 20).await;
    assert_eq!(
        http(servers.http, "GET", "/v1/traces", &[], b"")
            .await
            .status,
        405
    );
    assert_eq!(
        http(servers.http, "PUT", "/v1/traces", &[PB], b"")
            .await
            .status,
        405
    );
    assert_eq!(
        http(servers.http, "POST", "/v1/metrics", &[PB], b"")
            .await
            .status,
        404
    );
    assert_eq!(
        http(servers.http, "POST", "/", &[PB], b"").await.status,
        404
    );
    // An empty protobuf body is a valid, empty export request.
    assert_eq!(post(servers.http, &[PB], b"").await.status, 200);
    servers.shutdown().await;
}

// ---- bearer tokens ---------------------------------------------------------------------

/// Receivers that want one of two tokens, as `[serve.auth] tokens_file` sets up.
async fn servers_with_tokens() -> (Servers, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(&file, "# exporters\ncollector-a-9f3k\ncollector-b-2m7q\n").unwrap();
    let tokens = shadowscan::net::Tokens::load(Some(&file), None)
        .unwrap()
        .unwrap();
    let options = ReceiverOptions {
        tokens: Some(Arc::new(tokens)),
        ..ReceiverOptions::default()
    };
    (Servers::start_with(options).await, dir)
}

/// What the collector's `bearertokenauth` extension sends: `authorization: Bearer <token>`
/// metadata. Without it, or with a token not in the file, the call is UNAUTHENTICATED
/// (which exporters do not retry), counted, and nothing reaches the sink.
#[tokio::test]
async fn grpc_exports_need_a_known_bearer_token() {
    let (servers, _dir) = servers_with_tokens().await;
    let bytes = corpus::protobuf(10, 1);
    let req = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
    let mut client = servers.client().await;
    for token in [
        None,
        Some("Bearer collector-a-9f3"),
        Some("Basic collector-a-9f3k"),
    ] {
        let mut r = tonic::Request::new(req.clone());
        if let Some(t) = token {
            r.metadata_mut().insert("authorization", t.parse().unwrap());
        }
        let err = client.export(r).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{token:?}");
        assert!(err.message().contains("bearer token"), "{}", err.message());
        assert!(
            !err.message().contains("collector-a"),
            "the token is not echoed"
        );
    }
    // Unknown methods too: an unauthenticated client learns nothing.
    let st = raw_grpc(servers.grpc, &[], framed(0, 0, b"")).await;
    assert_eq!(st.code(), Code::Unauthenticated);
    assert!(servers.sink.take().is_empty());
    assert_eq!(servers.sink.take_refusals(), [Refusal::Unauthenticated; 4]);

    for token in ["Bearer collector-a-9f3k", "bearer collector-b-2m7q"] {
        let mut r = tonic::Request::new(req.clone());
        r.metadata_mut()
            .insert("authorization", token.parse().unwrap());
        client.export(r).await.unwrap();
    }
    assert_eq!(servers.sink.take().len(), 20);
    servers.shutdown().await;
}

/// OTLP/HTTP: 401 with `WWW-Authenticate: Bearer` and a `google.rpc.Status` (code 16) in
/// the request's encoding, before the body is read; the right token is accepted.
#[tokio::test]
async fn http_exports_need_a_known_bearer_token() {
    let (servers, _dir) = servers_with_tokens().await;
    let bytes = corpus::protobuf(10, 1);
    let r = post(servers.http, &[JS], b"{}").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"shadowscan\"")
    );
    assert_eq!(r.json()["code"], 16);
    let r = post(
        servers.http,
        &[PB, ("Authorization", "Bearer collector-a-9f3kk")],
        &bytes,
    )
    .await;
    assert_eq!(r.status, 401);
    let status = RpcStatus::decode(&r.body[..]).unwrap();
    assert_eq!(status.code, 16);
    // Refused before the body is read: a 100 MB chunk that never comes costs nothing.
    let r = http(
        servers.http,
        "POST",
        "/v1/traces",
        &[PB, ("Transfer-Encoding", "chunked")],
        b"5F5E100\r\nonly the start",
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(servers.sink.take().is_empty());
    assert_eq!(servers.sink.take_refusals(), [Refusal::Unauthenticated; 3]);

    let r = post(
        servers.http,
        &[PB, ("Authorization", "Bearer collector-b-2m7q")],
        &bytes,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(servers.sink.take().len(), 10);
    servers.shutdown().await;
}
