//! The OTLP/gRPC receiver: `TraceService/Export` on hyper's HTTP/2 server (`net`), with the unary
//! call's message framing, gzip and status answers done here. The request message goes to
//! the sink (and the fast walker) as the bytes that arrived, instead of through prost's
//! generated server, which would build every message first, or tonic's codec, which copies
//! every frame into a growing buffer.

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::{Code, Status};

use super::body::{read_limited, Lease, ReadError};
use super::gzip::{gunzip, GunzipError};
use super::rpc_status::status_with_retry;
use super::{
    Accepted, Format, Payload, ReceiverError, ReceiverOptions, Refusal, SinkError, TraceSink,
    OVERLOADED_MESSAGE, OVERLOADED_RETRY_AFTER, UNAUTHENTICATED_MESSAGE, UNAVAILABLE_RETRY_AFTER,
};
use crate::net::Protocol;

/// The one method this receiver serves.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

// The body reader reserves at most this far ahead of what arrived: one stream window.
const STREAM_WINDOW: u32 = super::body::AHEAD as u32;
const CONNECTION_WINDOW: u32 = 8 << 20;
const MAX_FRAME: u32 = 256 << 10;
/// gRPC's message prefix: a compressed flag and a big-endian u32 length.
const GRPC_HEADER: usize = 5;

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves, then finishes in-flight
/// requests. Accepts gzip-compressed requests; requests larger than
/// `limits.max_message_bytes` (compressed or not) get RESOURCE_EXHAUSTED, requests without
/// an accepted bearer token (when `tokens` are set) UNAUTHENTICATED.
pub async fn run_grpc<S, F>(
    listener: tokio::net::TcpListener,
    sink: S,
    options: impl Into<ReceiverOptions>,
    shutdown: F,
) -> Result<(), ReceiverError>
where
    S: TraceSink,
    F: Future<Output = ()> + Send,
{
    let options = options.into();
    let addr = listener.local_addr()?;
    let tls = options.transport.tls.is_some();
    tracing::info!(%addr, tls, "OTLP/gRPC receiver listening");
    let transport = options.transport.clone();
    // A 1000-span export is a few hundred KiB. With HTTP/2's 64 KiB default windows the
    // exporter stalls for a WINDOW_UPDATE several times per request, and 16 KiB frames
    // mean a dozen frames (and wake-ups) per message. Windows are credit, not buffers:
    // the size limit still bounds what one request can hold.
    let protocol = Protocol::H2 {
        stream_window: STREAM_WINDOW,
        connection_window: CONNECTION_WINDOW,
        max_frame: MAX_FRAME,
    };
    let service = ExportServer { sink, options };
    crate::net::serve(listener, transport, protocol, service, shutdown).await?;
    tracing::info!(%addr, "OTLP/gRPC receiver stopped");
    Ok(())
}

/// The service behind every gRPC connection: `Export`, and UNIMPLEMENTED for the rest.
#[derive(Clone)]
struct ExportServer<S> {
    sink: S,
    options: ReceiverOptions,
}

impl<S, B> Service<http::Request<B>> for ExportServer<S>
where
    S: TraceSink,
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // Checked before anything else, so an unauthenticated client learns nothing of
        // what the receiver serves and makes it buffer nothing.
        if !self.options.allows(req.headers()) {
            self.sink.refused(Refusal::Unauthenticated);
            return Box::pin(async {
                Ok(Status::unauthenticated(UNAUTHENTICATED_MESSAGE).into_http())
            });
        }
        if req.uri().path() != EXPORT_PATH {
            let path = req.uri().path().to_owned();
            self.sink.refused(Refusal::Unsupported);
            return Box::pin(async move {
                Ok(Status::unimplemented(format!("unknown method {path}")).into_http())
            });
        }
        let sink = self.sink.clone();
        let options = self.options.clone();
        Box::pin(async move {
            Ok(match export(sink.clone(), req, &options).await {
                Ok(accepted) => ok_response(response(accepted)),
                Err(status) => {
                    tracing::debug!(code = ?status.code(), message = status.message(), "OTLP/gRPC export refused");
                    let why = if status.message() == OVERLOADED_MESSAGE {
                        Some(Refusal::Overloaded)
                    } else {
                        Refusal::of_grpc(status.code())
                    };
                    if let Some(why) = why {
                        sink.refused(why);
                    }
                    status.into_http()
                }
            })
        })
    }
}

/// One unary `Export` call. The gRPC message framing is read here rather than by tonic's
/// codec, which copies every DATA frame into a growing buffer; the body is read as the
/// HTTP receiver reads its own (`body::read_limited`): a message in one frame (frames are
/// up to `MAX_FRAME`) reaches the sink without a copy.
async fn export<S, B>(
    sink: S,
    req: http::Request<B>,
    options: &ReceiverOptions,
) -> Result<Accepted, Status>
where
    S: TraceSink,
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    let max = options.limits.max_message_bytes;
    let gzip = request_gzip(req.headers())?;
    // Held until the sink has answered: the payload lives that long.
    let mut lease = options.budget.lease();
    let (compressed, bytes) = read_message(req.into_body(), options, &mut lease).await?;
    let bytes = match (compressed, gzip) {
        (false, _) => bytes,
        (true, true) => match gunzip(&bytes, max) {
            Ok(b) => {
                if !lease.hold(bytes.len() + b.len()) {
                    return Err(overloaded());
                }
                let len = b.len();
                drop(bytes);
                lease.hold(len);
                Bytes::from(b)
            }
            Err(GunzipError::TooLarge { limit }) => {
                return Err(Status::resource_exhausted(format!(
                    "the request decompresses to more than the limit of {limit} bytes"
                )))
            }
            Err(e @ GunzipError::Corrupt(_)) => {
                return Err(Status::invalid_argument(e.to_string()))
            }
        },
        // The gRPC specification's answer to a compressed flag without an encoding.
        (true, false) => {
            return Err(Status::internal(
                "protocol error: compressed message without a grpc-encoding header",
            ))
        }
    };
    sink.export(Payload {
        bytes,
        format: Format::Protobuf,
    })
    .await
    .map_err(status)
}

/// Whether the request's `grpc-encoding` is gzip; identity or absent is plain, anything
/// else is UNIMPLEMENTED with the encodings this server accepts, as gRPC specifies.
fn request_gzip(headers: &http::HeaderMap) -> Result<bool, Status> {
    match headers.get("grpc-encoding").map(|v| v.as_bytes()) {
        None | Some(b"identity") => Ok(false),
        Some(b"gzip") => Ok(true),
        Some(other) => {
            let mut st = Status::unimplemented(format!(
                "grpc-encoding {} is not supported: send gzip or identity",
                String::from_utf8_lossy(other)
            ));
            st.metadata_mut().insert(
                "grpc-accept-encoding",
                tonic::metadata::MetadataValue::from_static("gzip,identity"),
            );
            Err(st)
        }
    }
}

/// The one length-prefixed message of a unary request body: `(compressed, message)`.
async fn read_message<B>(
    body: B,
    options: &ReceiverOptions,
    lease: &mut Lease,
) -> Result<(bool, Bytes), Status>
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    let max = options.limits.max_message_bytes;
    let over = |len: usize| {
        Status::resource_exhausted(format!(
            "the request message is {len} bytes, over the limit of {max} bytes"
        ))
    };
    let limit = max.saturating_add(GRPC_HEADER);
    let deadline = options.limits.body_timeout;
    let body = read_limited(body, limit, deadline, lease, |first| {
        prefix(first).map(|(_, len)| len.saturating_add(GRPC_HEADER))
    })
    .await
    .map_err(|e| match e {
        ReadError::Body(e) => Status::from_error(e.into()),
        ReadError::TooLarge => {
            Status::resource_exhausted(format!("the request is over the limit of {max} bytes"))
        }
        ReadError::Overloaded => overloaded(),
        ReadError::TimedOut => Status::deadline_exceeded(format!(
            "the request message did not arrive within {}s",
            deadline.as_secs_f32()
        )),
    })?;
    let Some((flag, len)) = prefix(&body) else {
        return Err(Status::invalid_argument("the request carries no message"));
    };
    if len > max {
        return Err(over(len));
    }
    let compressed = match flag {
        0 => false,
        1 => true,
        f => {
            return Err(Status::invalid_argument(format!(
                "invalid gRPC compressed flag {f} (0 or 1)"
            )))
        }
    };
    let got = body.len() - GRPC_HEADER;
    if got < len {
        return Err(Status::invalid_argument(format!(
            "the request ended after {got} of its {len} message bytes"
        )));
    }
    if got > len {
        return Err(Status::invalid_argument(
            "a unary Export request carries exactly one message",
        ));
    }
    Ok((compressed, body.slice(GRPC_HEADER..)))
}

/// gRPC's message prefix: `(compressed flag, length)`, once its five bytes are there.
fn prefix(b: &[u8]) -> Option<(u8, usize)> {
    let h: [u8; GRPC_HEADER] = b.get(..GRPC_HEADER)?.try_into().ok()?;
    Some((h[0], u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize))
}

/// A successful unary response: the length-prefixed message, then `grpc-status: 0`.
fn ok_response(message: ExportTraceServiceResponse) -> http::Response<tonic::body::Body> {
    let len = message.encoded_len();
    let mut buf = Vec::with_capacity(GRPC_HEADER + len);
    buf.push(0);
    buf.extend_from_slice(&(len as u32).to_be_bytes());
    message
        .encode(&mut buf)
        .expect("a Vec grows to fit the message");
    let mut trailers = http::HeaderMap::new();
    trailers.insert(Status::GRPC_STATUS, http::HeaderValue::from_static("0"));
    let body = Full::new(Bytes::from(buf)).with_trailers(std::future::ready(Some(Ok(trailers))));
    let mut res = http::Response::new(tonic::body::Body::new(body));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    res
}

pub(super) fn response(accepted: Accepted) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: (accepted.rejected_spans > 0 || !accepted.message.is_empty()).then(|| {
            ExportTracePartialSuccess {
                rejected_spans: i64::try_from(accepted.rejected_spans).unwrap_or(i64::MAX),
                error_message: accepted.message,
            }
        }),
    }
}

fn status(e: SinkError) -> Status {
    let message = e.to_string();
    match e {
        SinkError::Invalid(_) => Status::invalid_argument(message),
        SinkError::Busy { retry_after } => unavailable(message, retry_after),
        SinkError::Unavailable(_) => unavailable(message, UNAVAILABLE_RETRY_AFTER),
    }
}

/// The answer when request bodies already hold the whole budget.
fn overloaded() -> Status {
    unavailable(OVERLOADED_MESSAGE.to_owned(), OVERLOADED_RETRY_AFTER)
}

/// UNAVAILABLE with a `RetryInfo` detail: exporters wait that long before retrying.
fn unavailable(message: String, retry_after: std::time::Duration) -> Status {
    let details = status_with_retry(Code::Unavailable as i32, &message, retry_after);
    Status::with_details(Code::Unavailable, message, Bytes::from(details))
}
