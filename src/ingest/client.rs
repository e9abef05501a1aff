//! An OTLP/gRPC exporter for recorded requests: `demo` replays bundled recordings through
//! the real receiver with it. It speaks the generated TraceService client, gzip optional,
//! exactly as an SDK exporter does.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("not an OTLP ExportTraceServiceRequest: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("export refused: {0}")]
    Status(#[from] tonic::Status),
}

pub struct GrpcExporter {
    client: TraceServiceClient<Channel>,
}

impl GrpcExporter {
    /// Connects to `endpoint` (`http://host:port`), compressing requests with gzip when asked.
    pub async fn connect(endpoint: &str, gzip: bool) -> Result<GrpcExporter, ExportError> {
        let connect_err = |source| ExportError::Connect {
            endpoint: endpoint.to_owned(),
            source,
        };
        let channel = Channel::from_shared(endpoint.to_owned())
            .map_err(|e| ExportError::Status(tonic::Status::invalid_argument(e.to_string())))?
            .connect()
            .await
            .map_err(connect_err)?;
        let mut client = TraceServiceClient::new(channel).max_encoding_message_size(64 << 20);
        if gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        Ok(GrpcExporter { client })
    }

    /// Sends one encoded request; returns the spans the server reported as rejected.
    pub async fn export(&mut self, message: &[u8]) -> Result<i64, ExportError> {
        let request = ExportTraceServiceRequest::decode(message)?;
        let response = self.client.export(request).await?.into_inner();
        Ok(response.partial_success.map_or(0, |p| p.rejected_spans))
    }
}
