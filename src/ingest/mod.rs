//! OTLP in: decoding export requests (protobuf, JSON, gzip) into borrowed span views, and
//! the gRPC (:4317) and HTTP (:4318) receivers. tonic and opentelemetry-proto live here only.
//!
//! Receivers know nothing of what happens to spans: they hand each decompressed, size-checked
//! payload to a [`TraceSink`] and translate its answer into the OTLP response.

use std::future::Future;
use std::time::Duration;

use crate::model::{AttrKeys, ResourceView, SpanView};

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

/// Where receivers hand payloads. Resolves once the spans are durable (or rejected), so an
/// acknowledged export is never lost.
pub trait TraceSink: Clone + Send + Sync + 'static {
    fn export(&self, payload: Payload) -> impl Future<Output = Result<Accepted, SinkError>> + Send;
}

/// Counts from decoding one payload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub spans: u64,
}

/// Why a payload could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// Decodes an `ExportTraceServiceRequest`, calling `on_span` for every span with its
/// resource. Only the attributes `keys` knows are kept.
pub fn decode<F>(
    bytes: &[u8],
    format: Format,
    keys: &AttrKeys,
    on_span: F,
) -> Result<DecodeStats, DecodeError>
where
    F: FnMut(&ResourceView<'_>, &SpanView<'_>),
{
    let _ = (bytes, format, keys, on_span);
    todo!("ingest::decode")
}
