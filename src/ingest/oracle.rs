//! The reference decoder: a full prost decode of `ExportTraceServiceRequest` through
//! opentelemetry-proto's generated types, mapped onto the same views with the same rules as
//! the fast walker. Slow (it builds every message) and kept for exactly that reason: it is
//! the oracle the wire walker is property-tested and benchmarked against.

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message;

use crate::model::{AttrKey, AttrKeys, AttrValue, ResourceView, SpanKind, SpanView};

use super::{set_ids, DecodeError, DecodeStats, WireProblem};

/// Decodes a protobuf `ExportTraceServiceRequest` with prost and reports spans as
/// [`super::decode`] does. Errors carry prost's description (it gives no offset); id length
/// errors name the field.
pub fn decode_with_prost<F>(
    bytes: &[u8],
    keys: &AttrKeys,
    mut on_span: F,
) -> Result<DecodeStats, DecodeError>
where
    F: FnMut(&ResourceView<'_>, &SpanView<'_>),
{
    let req =
        ExportTraceServiceRequest::decode(bytes).map_err(|e| DecodeError::Oracle(e.to_string()))?;
    let mut stats = DecodeStats::default();
    let mut view = SpanView::default();
    for rs in &req.resource_spans {
        let mut resource = ResourceView::default();
        if let Some(r) = &rs.resource {
            for kv in &r.attributes {
                let slot = match kv.key.as_str() {
                    "service.name" => &mut resource.service_name,
                    "service.namespace" => &mut resource.service_namespace,
                    _ => continue,
                };
                if let Some(any_value::Value::StringValue(s)) =
                    kv.value.as_ref().and_then(|v| v.value.as_ref())
                {
                    *slot = Some(Cow::Borrowed(s.as_str()));
                }
            }
        }
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                view.clear();
                if let Err(e) = set_ids(
                    &mut view,
                    id(&span.trace_id, "Span.trace_id"),
                    id(&span.span_id, "Span.span_id"),
                    id(&span.parent_span_id, "Span.parent_span_id"),
                ) {
                    stats.reject(|| e.to_string());
                    continue;
                }
                view.name = Cow::Borrowed(&span.name);
                view.kind = SpanKind::from_i32(span.kind);
                view.start_unix_nano = span.start_time_unix_nano;
                view.end_unix_nano = span.end_time_unix_nano;
                for kv in &span.attributes {
                    if let Some(attr) = attribute(keys, kv) {
                        view.attrs.push(attr);
                    }
                }
                stats.spans += 1;
                on_span(&resource, &view);
            }
        }
    }
    Ok(stats)
}

fn attribute<'a>(keys: &AttrKeys, kv: &'a KeyValue) -> Option<(AttrKey, AttrValue<'a>)> {
    let key = keys.lookup(kv.key.as_bytes())?;
    let value = match kv.value.as_ref() {
        _ if key == AttrKey::Credential => AttrValue::Present,
        Some(AnyValue { value: Some(v), .. }) => match v {
            any_value::Value::StringValue(s) => AttrValue::Str(Cow::Borrowed(s)),
            any_value::Value::BoolValue(b) => AttrValue::Bool(*b),
            any_value::Value::IntValue(i) => AttrValue::Int(*i),
            _ => AttrValue::Present,
        },
        _ => AttrValue::Present,
    };
    Some((key, value))
}

fn id<const N: usize>(bytes: &[u8], field: &'static str) -> Result<[u8; N], DecodeError> {
    match bytes.len() {
        0 => Ok([0; N]),
        n if n == N => {
            let mut out = [0; N];
            out.copy_from_slice(bytes);
            Ok(out)
        }
        found => Err(DecodeError::Protobuf {
            offset: 0,
            field,
            problem: WireProblem::IdLength { expected: N, found },
        }),
    }
}
