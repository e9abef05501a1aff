//! The OTLP/HTTP receiver: `POST /v1/traces` with protobuf or JSON bodies, identity or gzip
//! encoded, answered as the OTLP/HTTP specification says (status codes, `Retry-After`,
//! `ExportTraceServiceResponse` or `google.rpc.Status` in the request's own encoding).

use std::future::Future;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use prost::Message;

use super::body::{read_limited, ReadError};
use super::grpc::response;
use super::gzip::{gunzip, GunzipError};
use super::rpc_status::{status_with_retry, RpcStatus};
use super::{
    Accepted, Format, Payload, ReceiverError, ReceiverOptions, Refusal, SinkError, TraceSink,
    OVERLOADED_MESSAGE, OVERLOADED_RETRY_AFTER, UNAUTHENTICATED_MESSAGE, UNAVAILABLE_RETRY_AFTER,
};
use crate::net::Protocol;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

// gRPC codes carried in `google.rpc.Status` bodies.
const CODE_INVALID_ARGUMENT: i32 = 3;
const CODE_DEADLINE_EXCEEDED: i32 = 4;
const CODE_RESOURCE_EXHAUSTED: i32 = 8;
const CODE_UNAVAILABLE: i32 = 14;
const CODE_UNAUTHENTICATED: i32 = 16;

#[derive(Clone)]
struct Ctx<S> {
    sink: S,
    options: ReceiverOptions,
}

/// The OTLP/HTTP routes: `POST /v1/traces`; other methods there get 405, other paths 404.
pub fn http_router<S: TraceSink>(sink: S, options: impl Into<ReceiverOptions>) -> Router {
    Router::new()
        .route("/v1/traces", post(export::<S>))
        .with_state(Ctx {
            sink,
            options: options.into(),
        })
}

/// Serves [`http_router`] on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish.
pub async fn run_http<S, F>(
    listener: tokio::net::TcpListener,
    sink: S,
    options: impl Into<ReceiverOptions>,
    shutdown: F,
) -> Result<(), ReceiverError>
where
    S: TraceSink,
    F: Future<Output = ()> + Send + 'static,
{
    let options = options.into();
    let addr = listener.local_addr()?;
    let tls = options.transport.tls.is_some();
    tracing::info!(%addr, tls, "OTLP/HTTP receiver listening");
    let transport = options.transport.clone();
    let router = http_router(sink, options);
    crate::net::serve(listener, transport, Protocol::Http, router, shutdown).await?;
    tracing::info!(%addr, "OTLP/HTTP receiver stopped");
    Ok(())
}

async fn export<S: TraceSink>(State(ctx): State<Ctx<S>>, req: Request) -> Response {
    let sink = ctx.sink.clone();
    let resp = answer(ctx, req).await;
    if let Some(why) = Refusal::of_http(resp.status().as_u16()) {
        sink.refused(why);
    }
    resp
}

async fn answer<S: TraceSink>(ctx: Ctx<S>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // Before the body is read: an unauthenticated upload is not buffered.
    if !ctx.options.allows(&parts.headers) {
        let mut resp = match content_type(&parts.headers) {
            Some(format) => error(
                format,
                StatusCode::UNAUTHORIZED,
                CODE_UNAUTHENTICATED,
                UNAUTHENTICATED_MESSAGE,
                None,
            ),
            None => plain(StatusCode::UNAUTHORIZED, UNAUTHENTICATED_MESSAGE),
        };
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"shadowscan\""),
        );
        return resp;
    }
    let Some(format) = content_type(&parts.headers) else {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported Content-Type: send application/x-protobuf or application/json",
        );
    };
    let gzip = match content_encoding(&parts.headers) {
        Some(gzip) => gzip,
        None => {
            return plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported Content-Encoding: send gzip or identity",
            )
        }
    };
    let max = ctx.options.limits.max_message_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large(format, max);
    }
    let deadline = ctx.options.limits.body_timeout;
    // Held until the sink has answered: the payload lives that long.
    let mut lease = ctx.options.budget.lease();
    let read = read_limited(body, max, deadline, &mut lease, |_| {
        declared.map(|n| n as usize)
    });
    let raw = match read.await {
        Ok(b) => b,
        Err(ReadError::TooLarge) => return too_large(format, max),
        Err(ReadError::Overloaded) => {
            ctx.sink.refused(Refusal::Overloaded);
            return overloaded(format);
        }
        Err(ReadError::TimedOut) => {
            return error(
                format,
                StatusCode::REQUEST_TIMEOUT,
                CODE_DEADLINE_EXCEEDED,
                &format!(
                    "the request body did not arrive within {}s",
                    deadline.as_secs_f32()
                ),
                None,
            )
        }
        Err(ReadError::Body(e)) => {
            tracing::debug!(error = %e, "reading OTLP/HTTP body failed");
            return error(
                format,
                StatusCode::BAD_REQUEST,
                CODE_INVALID_ARGUMENT,
                &format!("reading the request body failed: {e}"),
                None,
            );
        }
    };
    let bytes = if gzip {
        match gunzip(&raw, max) {
            Ok(b) => {
                if !lease.hold(raw.len() + b.len()) {
                    ctx.sink.refused(Refusal::Overloaded);
                    return overloaded(format);
                }
                let len = b.len();
                drop(raw);
                lease.hold(len);
                Bytes::from(b)
            }
            Err(GunzipError::TooLarge { .. }) => return too_large(format, max),
            Err(e @ GunzipError::Corrupt(_)) => {
                return error(
                    format,
                    StatusCode::BAD_REQUEST,
                    CODE_INVALID_ARGUMENT,
                    &e.to_string(),
                    None,
                )
            }
        }
    } else {
        raw
    };
    let size = bytes.len();
    match ctx.sink.export(Payload { bytes, format }).await {
        Ok(accepted) => success(format, accepted),
        Err(e) => {
            tracing::debug!(bytes = size, error = %e, "OTLP/HTTP export refused");
            let message = e.to_string();
            match e {
                SinkError::Invalid(_) => error(
                    format,
                    StatusCode::BAD_REQUEST,
                    CODE_INVALID_ARGUMENT,
                    &message,
                    None,
                ),
                SinkError::Busy { retry_after } => error(
                    format,
                    StatusCode::SERVICE_UNAVAILABLE,
                    CODE_UNAVAILABLE,
                    &message,
                    Some(retry_after),
                ),
                SinkError::Unavailable(_) => error(
                    format,
                    StatusCode::SERVICE_UNAVAILABLE,
                    CODE_UNAVAILABLE,
                    &message,
                    Some(UNAVAILABLE_RETRY_AFTER),
                ),
            }
        }
    }
}

/// The body's format from `Content-Type`, parameters (`; charset=utf-8`) ignored.
fn content_type(headers: &HeaderMap) -> Option<Format> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim();
    if media.eq_ignore_ascii_case(PROTOBUF) {
        Some(Format::Protobuf)
    } else if media.eq_ignore_ascii_case(JSON) {
        Some(Format::Json)
    } else {
        None
    }
}

/// `Some(true)` for gzip, `Some(false)` for none/identity, `None` for anything else.
fn content_encoding(headers: &HeaderMap) -> Option<bool> {
    let mut gzip = false;
    for value in headers.get_all(header::CONTENT_ENCODING) {
        for coding in value.to_str().ok()?.split(',') {
            let coding = coding.trim();
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                if gzip {
                    // Gzip applied twice: not something an exporter does.
                    return None;
                }
                gzip = true;
            } else if !(coding.is_empty() || coding.eq_ignore_ascii_case("identity")) {
                return None;
            }
        }
    }
    Some(gzip)
}

/// Reads at most `max` bytes of body; `Ok(None)` when it is longer.
fn success(format: Format, accepted: Accepted) -> Response {
    let resp = response(accepted);
    match format {
        Format::Protobuf => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, PROTOBUF)],
            resp.encode_to_vec(),
        )
            .into_response(),
        Format::Json => {
            let body = match resp.partial_success {
                Some(p) => serde_json::json!({
                    "partialSuccess": {
                        // int64 is a decimal string in the protobuf JSON mapping.
                        "rejectedSpans": p.rejected_spans.to_string(),
                        "errorMessage": p.error_message,
                    }
                }),
                None => serde_json::json!({}),
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, JSON)],
                body.to_string(),
            )
                .into_response()
        }
    }
}

fn overloaded(format: Format) -> Response {
    error(
        format,
        StatusCode::SERVICE_UNAVAILABLE,
        CODE_UNAVAILABLE,
        OVERLOADED_MESSAGE,
        Some(OVERLOADED_RETRY_AFTER),
    )
}

fn too_large(format: Format, max: usize) -> Response {
    error(
        format,
        StatusCode::PAYLOAD_TOO_LARGE,
        CODE_RESOURCE_EXHAUSTED,
        &format!("request body larger than {max} bytes (compressed or decompressed)"),
        None,
    )
}

/// An error response carrying `google.rpc.Status` in the request's encoding, with
/// `Retry-After` (and a `RetryInfo` detail in protobuf) when the exporter should retry.
fn error(
    format: Format,
    status: StatusCode,
    code: i32,
    message: &str,
    retry_after: Option<Duration>,
) -> Response {
    let mut resp = match format {
        Format::Protobuf => {
            let body = match retry_after {
                Some(d) => status_with_retry(code, message, d),
                None => RpcStatus {
                    code,
                    message: message.to_owned(),
                    details: Vec::new(),
                }
                .encode_to_vec(),
            };
            (status, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
        }
        Format::Json => {
            let body = serde_json::json!({ "code": code, "message": message });
            (status, [(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
        }
    };
    if let Some(d) = retry_after {
        // Whole seconds, rounded up so the exporter never retries early.
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    resp
}

/// For requests whose encoding is unknown (415): a plain-text explanation.
fn plain(status: StatusCode, message: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}
