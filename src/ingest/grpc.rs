//! The OTLP/gRPC receiver: `TraceService/Export` served by tonic with a raw-bytes codec, so
//! the request body goes to the sink (and the fast walker) undecoded instead of through
//! prost's generated server, which would build every message first.

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Status};

use super::rpc_status::status_with_retry;
use super::{Accepted, Format, Payload, ReceiverError, ReceiverLimits, SinkError, TraceSink};

/// The one method this receiver serves.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

const STREAM_WINDOW: u32 = 2 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;
const MAX_FRAME: u32 = 256 << 10;

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves, then finishes in-flight
/// requests. Accepts gzip-compressed requests; requests larger than
/// `limits.max_message_bytes` (compressed or not) get RESOURCE_EXHAUSTED.
pub async fn run_grpc<S, F>(
    listener: tokio::net::TcpListener,
    sink: S,
    limits: ReceiverLimits,
    shutdown: F,
) -> Result<(), ReceiverError>
where
    S: TraceSink,
    F: Future<Output = ()> + Send,
{
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "OTLP/gRPC receiver listening");
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        // A 1000-span export is a few hundred KiB. With HTTP/2's 64 KiB default windows the
        // exporter stalls for a WINDOW_UPDATE several times per request, and 16 KiB frames
        // mean a dozen frames (and wake-ups) per message. Windows are credit, not buffers:
        // the size limit still bounds what one request can hold.
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME)
        .add_service(ExportServer { sink, limits })
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    tracing::info!(%addr, "OTLP/gRPC receiver stopped");
    Ok(())
}

/// The tower service tonic's router calls for our service name.
#[derive(Clone)]
struct ExportServer<S> {
    sink: S,
    limits: ReceiverLimits,
}

impl<S> NamedService for ExportServer<S> {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
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
        if req.uri().path() != EXPORT_PATH {
            let path = req.uri().path().to_owned();
            return Box::pin(async move {
                Ok(Status::unimplemented(format!("unknown method {path}")).into_http())
            });
        }
        let handler = ExportHandler {
            sink: self.sink.clone(),
        };
        let max = self.limits.max_message_bytes;
        Box::pin(async move {
            let mut grpc = Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max);
            let mut res = grpc.unary(handler, req).await;
            // tonic reports a compressed body over the limit as OUT_OF_RANGE (and one that
            // inflates past it as RESOURCE_EXHAUSTED); exporters expect the latter for both.
            // Our handler never answers OUT_OF_RANGE, so the rewrite is unambiguous.
            let headers = res.headers_mut();
            if headers.get(Status::GRPC_STATUS).map(|v| v.as_bytes())
                == Some((Code::OutOfRange as i32).to_string().as_bytes())
            {
                tracing::debug!("OTLP/gRPC request over the size limit");
                headers.insert(Status::GRPC_STATUS, (Code::ResourceExhausted as i32).into());
            }
            Ok(res)
        })
    }
}

#[derive(Clone)]
struct ExportHandler<S> {
    sink: S,
}

impl<S: TraceSink> UnaryService<Bytes> for ExportHandler<S> {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<tonic::Response<Self::Response>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let sink = self.sink.clone();
        Box::pin(async move {
            let bytes = request.into_inner();
            let size = bytes.len();
            let result = sink
                .export(Payload {
                    bytes,
                    format: Format::Protobuf,
                })
                .await;
            match result {
                Ok(accepted) => Ok(tonic::Response::new(response(accepted))),
                Err(e) => {
                    tracing::debug!(bytes = size, error = %e, "OTLP/gRPC export refused");
                    Err(status(e))
                }
            }
        })
    }
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
        SinkError::Busy { retry_after } => {
            let details = status_with_retry(Code::Unavailable as i32, &message, retry_after);
            Status::with_details(Code::Unavailable, message, Bytes::from(details))
        }
        SinkError::Unavailable(_) => Status::unavailable(message),
    }
}

/// Hands the request message's bytes over as they are and encodes the response with prost.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = ResponseEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> ResponseEncoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

#[derive(Debug, Clone, Copy)]
struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the response: {e}")))
    }
}

#[derive(Debug, Clone, Copy)]
struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        // Splits the frame off tonic's buffer without copying.
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
