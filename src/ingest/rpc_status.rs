//! The google.rpc messages OTLP error responses carry (`Status`, `RetryInfo`), declared
//! with prost here because opentelemetry-proto does not ship them. Field numbers follow
//! google/rpc/status.proto, error_details.proto and google/protobuf/{any,duration}.proto.

use std::time::Duration;

use prost::Message;

/// `google.rpc.Status`: the body of OTLP/HTTP error responses and gRPC status details.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`: OTLP exporters honour its delay on UNAVAILABLE.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

pub(crate) const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// Encoded `google.rpc.Status` with a `RetryInfo` detail asking for `delay`.
pub(crate) fn status_with_retry(code: i32, message: &str, delay: Duration) -> Vec<u8> {
    let retry = RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
            nanos: delay.subsec_nanos() as i32,
        }),
    };
    RpcStatus {
        code,
        message: message.to_owned(),
        details: vec![ProtoAny {
            type_url: RETRY_INFO_TYPE_URL.to_owned(),
            value: retry.encode_to_vec(),
        }],
    }
    .encode_to_vec()
}
