//! OTLP in: decoding export requests (protobuf, JSON, gzip) into borrowed span views, and
//! the gRPC (:4317) and HTTP (:4318) receivers. tonic and opentelemetry-proto live here only.
//!
//! Receivers know nothing of what happens to spans: they hand each decompressed, size-checked
//! payload to a [`TraceSink`] and translate its answer into the OTLP response. The sink calls
//! [`decode`] itself, so every payload is decoded exactly once.
//!
//! Decoding is a hot path: the protobuf decoder (`wire.rs`) walks the wire format and reads
//! only the fields `normalize` needs, borrowing strings from the request; the full prost
//! decode ([`decode_with_prost`]) stays as the oracle it is property-tested against.
//!
//! Trace files (`shadowscan ingest`, `diff --traces`) are split into requests by
//! [`json_lines`]/[`for_each_json_line`] (collector file exporter, OTLP/JSON) and
//! [`protobuf_messages`] (single, length-prefixed or delimited protobuf), after [`gunzip`]
//! when [`is_gzip`] says so.
//!
//! Invalid UTF-8 in a protobuf string (span name, attribute value) does not reject the
//! request: it is replaced lossily (U+FFFD), as one broken attribute should not lose a batch.

use std::future::Future;
use std::time::Duration;

use crate::model::{AttrKeys, ResourceView, SpanView};

mod body;
mod client;
pub mod corpus;
mod file;
mod grpc;
mod gzip;
mod http;
mod json;
mod oracle;
mod rpc_status;
#[cfg(test)]
mod tests;
mod wire;

pub use body::BodyBudget;
pub use client::{ExportError, GrpcExporter};
pub use file::{detect_format, is_gzip, protobuf_messages, ProtobufLayout};
pub use grpc::{run_grpc, EXPORT_PATH};
pub use gzip::{gunzip, GunzipError};
pub use http::{http_router, run_http};
pub use json::{for_each_json_line, json_lines, JsonLine};
pub use oracle::decode_with_prost;
pub use wire::WireProblem;

/// How a payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

/// A decompressed export request body.
#[derive(Debug, Clone)]
pub struct Payload {
    pub bytes: bytes::Bytes,
    pub format: Format,
}

/// What a sink accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Spans the sink refused (OTLP `partial_success.rejected_spans`).
    pub rejected_spans: u64,
    /// Why, when `rejected_spans > 0`.
    pub message: String,
}

/// Why a sink did not accept a payload; receivers map these onto gRPC status / HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The payload is not a valid export request (gRPC INVALID_ARGUMENT, HTTP 400).
    #[error("invalid export request: {0}")]
    Invalid(String),
    /// The pipeline is full; the exporter should retry after the delay (UNAVAILABLE, 503).
    #[error("shadowscan is busy; retry in {}s", retry_after.as_secs())]
    Busy { retry_after: Duration },
    /// Shutting down or the store failed (UNAVAILABLE, 503): retryable, nothing was kept.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<DecodeError> for SinkError {
    fn from(e: DecodeError) -> SinkError {
        SinkError::Invalid(e.to_string())
    }
}

/// Where receivers hand payloads. Resolves once the spans are durable (or rejected), so an
/// acknowledged export is never lost.
pub trait TraceSink: Clone + Send + Sync + 'static {
    fn export(&self, payload: Payload) -> impl Future<Output = Result<Accepted, SinkError>> + Send;

    /// Told of every export a receiver refused outright, whether before the sink saw it
    /// (too large, wrong content type) or because the sink found it malformed, so refusals
    /// can be counted. Busy and unavailable answers are the sink's own and not reported here.
    fn refused(&self, _why: Refusal) {}
}

/// Why a receiver refused an export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a valid export request (HTTP 400, gRPC INVALID_ARGUMENT or a protocol error).
    Malformed,
    /// Over the size limit, compressed or not (413, RESOURCE_EXHAUSTED).
    TooLarge,
    /// A content type, encoding or method this receiver does not take (415, UNIMPLEMENTED).
    Unsupported,
    /// No bearer token, or one the receiver does not accept (401, UNAUTHENTICATED).
    Unauthenticated,
    /// Request bodies already hold the receivers' whole memory budget (503, UNAVAILABLE).
    Overloaded,
    /// The body did not arrive within the body timeout (408, DEADLINE_EXCEEDED).
    TimedOut,
}

impl Refusal {
    pub const ALL: [Refusal; 6] = [
        Refusal::Malformed,
        Refusal::TooLarge,
        Refusal::Unsupported,
        Refusal::Unauthenticated,
        Refusal::Overloaded,
        Refusal::TimedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::TooLarge => "too_large",
            Refusal::Unsupported => "unsupported",
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Overloaded => "overloaded",
            Refusal::TimedOut => "timeout",
        }
    }

    fn of_grpc(code: tonic::Code) -> Option<Refusal> {
        match code {
            tonic::Code::InvalidArgument | tonic::Code::Internal => Some(Refusal::Malformed),
            tonic::Code::ResourceExhausted => Some(Refusal::TooLarge),
            tonic::Code::Unimplemented => Some(Refusal::Unsupported),
            tonic::Code::Unauthenticated => Some(Refusal::Unauthenticated),
            tonic::Code::DeadlineExceeded => Some(Refusal::TimedOut),
            _ => None,
        }
    }

    fn of_http(status: u16) -> Option<Refusal> {
        match status {
            400 => Some(Refusal::Malformed),
            413 => Some(Refusal::TooLarge),
            415 => Some(Refusal::Unsupported),
            401 => Some(Refusal::Unauthenticated),
            408 => Some(Refusal::TimedOut),
            _ => None,
        }
    }
}

/// Sets a span view's three ids; the first unusable one is why the span is rejected.
fn set_ids<E>(
    view: &mut SpanView<'_>,
    trace: Result<[u8; 16], E>,
    span: Result<[u8; 8], E>,
    parent: Result<[u8; 8], E>,
) -> Result<(), E> {
    view.trace_id = trace?;
    view.span_id = span?;
    view.parent_span_id = parent?;
    Ok(())
}

/// Counts from decoding one payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Spans decoded and handed on.
    pub spans: u64,
    /// Spans left out because their trace or span id is invalid (wrong length, not hex):
    /// the rest of the request is still good, so it is accepted without them and the
    /// exporter is told (OTLP `partial_success`) instead of losing the whole batch.
    pub rejected: u64,
    /// Why the first rejected span was left out.
    pub rejection: Option<String>,
}

impl DecodeStats {
    fn reject(&mut self, why: impl FnOnce() -> String) {
        self.rejected += 1;
        if self.rejection.is_none() {
            self.rejection = Some(why());
        }
    }

    /// The OTLP `partial_success` message for the rejected spans, if any.
    pub fn rejection_message(&self) -> Option<String> {
        let first = self.rejection.as_deref()?;
        Some(match self.rejected {
            1 => format!("1 span rejected: {first}"),
            n => format!("{n} spans rejected; the first: {first}"),
        })
    }
}

/// Why a payload could not be decoded. Every variant says where: a byte offset and the
/// message/field being read for protobuf, a line and column for JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Malformed protobuf: `offset` is the byte offset in the (decompressed) payload where
    /// the problem starts; `field` names the OTLP message or field being read.
    #[error("malformed OTLP protobuf at byte {offset} (reading {field}): {problem}")]
    Protobuf {
        offset: usize,
        field: &'static str,
        problem: WireProblem,
    },
    /// Malformed OTLP/JSON. For [`for_each_json_line`] the line is the line of the file.
    #[error("malformed OTLP/JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// Rejected by the prost oracle ([`decode_with_prost`]), which reports no offset.
    #[error("malformed OTLP protobuf (full decode): {0}")]
    Oracle(String),
}

impl DecodeError {
    /// Re-anchors a JSON error from decoding one line on its own onto line `line` of the
    /// file the line came from. Protobuf errors are returned unchanged.
    pub fn at_line(self, line: usize) -> DecodeError {
        match self {
            DecodeError::Json {
                line: l,
                column,
                message,
            } => DecodeError::Json {
                line: line + l.saturating_sub(1),
                column,
                message,
            },
            other => other,
        }
    }
}

/// Decodes an `ExportTraceServiceRequest`, calling `on_span` for every span with its
/// resource. Only the attributes `keys` knows are kept; credential attributes are
/// reported as [`crate::model::AttrValue::Present`] without their value being read.
/// Strings borrow from `bytes` when they can. One [`SpanView`] is reused for all spans,
/// so `on_span` must copy what it keeps.
pub fn decode<'a, F>(
    bytes: &'a [u8],
    format: Format,
    keys: &AttrKeys,
    mut on_span: F,
) -> Result<DecodeStats, DecodeError>
where
    F: FnMut(&ResourceView<'a>, &SpanView<'a>),
{
    match format {
        Format::Protobuf => wire::decode(bytes, keys, |r, s| on_span(r, s)),
        Format::Json => json::decode(bytes, keys, |r, s| on_span(r, s)),
    }
}

/// Limits the receivers enforce before a payload reaches the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverLimits {
    /// Largest request body accepted, both as received (compressed) and decompressed.
    /// Larger requests get RESOURCE_EXHAUSTED (gRPC) or 413 (HTTP).
    pub max_message_bytes: usize,
    /// Time a request body has to arrive whole, from its headers on; later ones get
    /// DEADLINE_EXCEEDED (gRPC) or 408 (HTTP).
    pub body_timeout: Duration,
}

impl ReceiverLimits {
    /// 16 MiB: well above what a collector's default batch (8192 spans) encodes to.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 << 20;
    /// 30 s: 16 MiB at 4.5 Mbit/s.
    pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

    /// The defaults with another size limit.
    pub fn with_max_message_bytes(max_message_bytes: usize) -> ReceiverLimits {
        ReceiverLimits {
            max_message_bytes,
            ..ReceiverLimits::default()
        }
    }
}

impl Default for ReceiverLimits {
    fn default() -> Self {
        ReceiverLimits {
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            body_timeout: Self::DEFAULT_BODY_TIMEOUT,
        }
    }
}

/// How a receiver is reached and who may export to it.
#[derive(Clone)]
pub struct ReceiverOptions {
    pub limits: ReceiverLimits,
    /// TLS and connection limits.
    pub transport: crate::net::Transport,
    /// When set, exports must carry `authorization: Bearer <token>` with one of these.
    pub tokens: Option<std::sync::Arc<crate::net::Tokens>>,
    /// Bytes all request bodies may hold at once; share one between both receivers.
    pub budget: std::sync::Arc<BodyBudget>,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        ReceiverOptions {
            limits: ReceiverLimits::default(),
            transport: crate::net::Transport::default(),
            tokens: None,
            budget: BodyBudget::new(BodyBudget::DEFAULT_BYTES),
        }
    }
}

impl From<ReceiverLimits> for ReceiverOptions {
    fn from(limits: ReceiverLimits) -> ReceiverOptions {
        ReceiverOptions {
            limits,
            ..ReceiverOptions::default()
        }
    }
}

/// What exporters are told when request bodies hold the whole budget.
const OVERLOADED_MESSAGE: &str =
    "shadowscan is receiving more request bytes than its memory budget ([serve] max_buffered_bytes); retry later";
/// How long they are asked to wait: long enough for stalled bodies to time out or finish.
const OVERLOADED_RETRY_AFTER: Duration = Duration::from_secs(2);

impl ReceiverOptions {
    /// Whether `headers` may export: always without tokens, else a valid bearer token.
    fn allows(&self, headers: &axum::http::HeaderMap) -> bool {
        self.tokens.as_ref().is_none_or(|t| t.allows(headers))
    }
}

/// What exporters are told when their token is missing or not accepted; never the token.
const UNAUTHENTICATED_MESSAGE: &str =
    "missing or unknown bearer token: send `authorization: Bearer <token>` with a token this receiver accepts";

/// Why a receiver stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("OTLP receiver failed: {0}")]
    Io(#[from] std::io::Error),
}

/// How long exporters are told to wait when the sink is shutting down or its store failed.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);
