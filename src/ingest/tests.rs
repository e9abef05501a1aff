//! The fast decoders checked against the prost oracle: random realistic requests must give
//! exactly the same (resource, span) sequence through the wire walker, the oracle and the
//! OTLP/JSON path; every kind of malformed input must give a located error, never a panic.

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::model::{AttrKey, AttrValue, SpanKind};

type Owned = (ResourceView<'static>, SpanView<'static>);

fn own_str(c: &str) -> Cow<'static, str> {
    Cow::Owned(c.to_owned())
}

fn own(r: &ResourceView<'_>, s: &SpanView<'_>) -> Owned {
    (
        ResourceView {
            service_name: r.service_name.as_deref().map(own_str),
            service_namespace: r.service_namespace.as_deref().map(own_str),
        },
        SpanView {
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
            // The walker reads only the names normalize uses; the others may differ.
            name: if s.name_is_read() {
                own_str(&s.name)
            } else {
                own_str("")
            },
            kind: s.kind,
            start_unix_nano: s.start_unix_nano,
            end_unix_nano: s.end_unix_nano,
            attrs: s
                .attrs
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        AttrValue::Str(c) => AttrValue::Str(own_str(c)),
                        AttrValue::Int(i) => AttrValue::Int(*i),
                        AttrValue::Bool(b) => AttrValue::Bool(*b),
                        AttrValue::Present => AttrValue::Present,
                    };
                    (*k, v)
                })
                .collect(),
        },
    )
}

fn keys() -> AttrKeys {
    AttrKeys::with_extra(["app.user_id"], ["x-auth-token"])
}

fn fast(bytes: &[u8]) -> Result<Vec<Owned>, DecodeError> {
    let mut out = Vec::new();
    decode(bytes, Format::Protobuf, &keys(), |r, s| out.push(own(r, s)))?;
    Ok(out)
}

fn oracle(bytes: &[u8]) -> Result<Vec<Owned>, DecodeError> {
    let mut out = Vec::new();
    decode_with_prost(bytes, &keys(), |r, s| out.push(own(r, s)))?;
    Ok(out)
}

fn via_json(bytes: &[u8]) -> Result<Vec<Owned>, DecodeError> {
    let mut out = Vec::new();
    decode(bytes, Format::Json, &keys(), |r, s| out.push(own(r, s)))?;
    Ok(out)
}

// ---- random realistic requests -------------------------------------------------------

const KEYS: &[&str] = &[
    "http.request.method",
    "http.method",
    "url.path",
    "http.target",
    "url.full",
    "http.url",
    "http.response.status_code",
    "http.status_code",
    "http.route",
    "client.address",
    "net.sock.peer.addr",
    "user_agent.original",
    "enduser.id",
    "app.user_id",
    "http.request.header.authorization",
    "http.request.header.x-api-key",
    "http.request.header.x-auth-token",
    "express.name",
    "express.type",
    "router.name",
    "rpc.system",
    "peer.service",
    "server.address",
    "db.system",
    "db.statement",
    "url.scheme",
    "telemetry.sdk.name",
    "service.name",
    "",
];

fn leaf_value() -> impl Strategy<Value = any_value::Value> + Clone {
    prop_oneof![
        4 => "\\PC{0,24}".prop_map(any_value::Value::StringValue),
        1 => any::<bool>().prop_map(any_value::Value::BoolValue),
        2 => any::<i64>().prop_map(any_value::Value::IntValue),
        1 => any::<f64>().prop_map(any_value::Value::DoubleValue),
        1 => proptest::collection::vec(any::<u8>(), 0..12).prop_map(any_value::Value::BytesValue),
        1 => any::<i32>().prop_map(any_value::Value::StringValueStrindex),
    ]
}

fn value() -> impl Strategy<Value = Option<AnyValue>> {
    let leaf = leaf_value().prop_map(|v| AnyValue { value: Some(v) });
    prop_oneof![
        8 => leaf.clone().prop_map(Some),
        1 => Just(None),
        1 => Just(Some(AnyValue { value: None })),
        1 => proptest::collection::vec(leaf.clone(), 0..3).prop_map(|values| Some(AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
        })),
        1 => proptest::collection::vec(("[a-z.]{0,8}", leaf), 0..3).prop_map(|kvs| Some(AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: kvs
                    .into_iter()
                    .map(|(key, v)| KeyValue { key, value: Some(v), ..Default::default() })
                    .collect(),
            })),
        })),
    ]
}

fn key_value() -> impl Strategy<Value = KeyValue> {
    let key = prop_oneof![
        5 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "\\PC{0,16}",
    ];
    (key, value(), any::<i32>()).prop_map(|(key, value, strindex)| KeyValue {
        key,
        value,
        key_strindex: if strindex % 7 == 0 { strindex } else { 0 },
    })
}

fn resource_attr() -> impl Strategy<Value = KeyValue> {
    prop_oneof![
        2 => ("\\PC{0,16}").prop_map(|v| KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue(v)) }),
            ..Default::default()
        }),
        1 => ("[a-z]{0,8}").prop_map(|v| KeyValue {
            key: "service.namespace".into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue(v)) }),
            ..Default::default()
        }),
        1 => value().prop_map(|value| KeyValue {
            key: "service.name".into(),
            value,
            ..Default::default()
        }),
        2 => key_value(),
    ]
}

fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        12 => proptest::collection::vec(any::<u8>(), len),
        2 => Just(Vec::new()),
        // Unusable: the span is rejected alone, by every decoder alike.
        1 => proptest::collection::vec(any::<u8>(), 1..len),
    ]
}

fn event() -> impl Strategy<Value = span::Event> {
    (
        any::<u64>(),
        "\\PC{0,10}",
        proptest::collection::vec(key_value(), 0..3),
    )
        .prop_map(|(time_unix_nano, name, attributes)| span::Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count: 0,
        })
}

fn link() -> impl Strategy<Value = span::Link> {
    (
        id(16),
        id(8),
        proptest::collection::vec(key_value(), 0..2),
        any::<u32>(),
    )
        .prop_map(|(trace_id, span_id, attributes, flags)| span::Link {
            trace_id,
            span_id,
            trace_state: "vendor=1".into(),
            attributes,
            dropped_attributes_count: 1,
            flags,
        })
}

fn a_span() -> impl Strategy<Value = Span> {
    let ids = (id(16), id(8), id(8), "[a-z=,]{0,8}");
    let scalars = (
        "\\PC{0,24}",
        prop_oneof![8 => 0i32..6, 1 => any::<i32>()],
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
    );
    let nested = (
        proptest::collection::vec(key_value(), 0..10),
        proptest::collection::vec(event(), 0..2),
        proptest::collection::vec(link(), 0..2),
        proptest::option::of((0i32..3, "\\PC{0,8}")),
    );
    (ids, scalars, nested).prop_map(
        |(
            (trace_id, span_id, parent_span_id, trace_state),
            (name, kind, start, end, flags, dropped),
            (attributes, events, links, status),
        )| Span {
            trace_id,
            span_id,
            trace_state,
            parent_span_id,
            flags,
            name,
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            dropped_attributes_count: dropped,
            events,
            dropped_events_count: dropped / 2,
            links,
            dropped_links_count: 0,
            status: status.map(|(code, message)| Status { message, code }),
        },
    )
}

fn scope_spans() -> impl Strategy<Value = ScopeSpans> {
    (
        proptest::option::of(
            ("[a-z@/.-]{0,20}", "[0-9.]{0,6}").prop_map(|(name, version)| InstrumentationScope {
                name,
                version,
                ..Default::default()
            }),
        ),
        proptest::collection::vec(a_span(), 0..6),
        "[a-z:/.]{0,10}",
    )
        .prop_map(|(scope, spans, schema_url)| ScopeSpans {
            scope,
            spans,
            schema_url,
        })
}

fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let rs = (
        proptest::option::of(proptest::collection::vec(resource_attr(), 0..6)),
        proptest::collection::vec(scope_spans(), 0..3),
        "[a-z:/.]{0,10}",
    )
        .prop_map(|(attrs, scope_spans, schema_url)| ResourceSpans {
            resource: attrs.map(|attributes| Resource {
                attributes,
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_spans,
            schema_url,
        });
    proptest::collection::vec(rs, 0..4)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fast_path_matches_the_prost_oracle(req in request()) {
        // Same spans kept, same spans rejected (asserted inside).
        both_with_stats(&req.encode_to_vec());
    }

    #[test]
    fn json_path_matches_the_prost_oracle(req in request()) {
        let bytes = req.encode_to_vec();
        let want = oracle(&bytes).unwrap();
        let json = corpus::to_json(&req).to_string();
        prop_assert_eq!(via_json(json.as_bytes()).unwrap(), want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = fast(&bytes);
        let _ = via_json(&bytes);
    }

    #[test]
    fn every_truncation_is_an_error_exactly_when_prost_says_so(req in request(), cut in any::<prop::sample::Index>()) {
        let bytes = req.encode_to_vec();
        prop_assume!(!bytes.is_empty());
        let prefix = &bytes[..cut.index(bytes.len())];
        prop_assert_eq!(fast(prefix).is_err(), oracle(prefix).is_err());
        if let (Ok(a), Ok(b)) = (fast(prefix), oracle(prefix)) {
            prop_assert_eq!(a, b);
        }
    }
}

// ---- realistic fixed requests ---------------------------------------------------------

#[test]
fn corpus_request_decodes_to_views_normalize_can_use() {
    let bytes = corpus::protobuf(40, 7);
    let spans = fast(&bytes).unwrap();
    assert_eq!(spans.len(), 40);
    assert_eq!(spans, oracle(&bytes).unwrap());
    assert_eq!(spans, via_json(&corpus::json(40, 7)).unwrap());
    let (resource, server) = &spans[0];
    assert_eq!(resource.service_name.as_deref(), Some("shop-api"));
    assert_eq!(resource.service_namespace.as_deref(), Some("retail"));
    assert_eq!(server.kind, SpanKind::Server);
    assert!(!server.has_parent());
    let method = server
        .attr(AttrKey::RequestMethod)
        .or(server.attr(AttrKey::HttpMethod))
        .and_then(AttrValue::as_str)
        .unwrap();
    assert!(method == "GET" || method == "POST" || method == "PUT" || method == "DELETE");
    assert!(server.attr(AttrKey::HttpRoute).is_some());
    // Only in-process spans' names are read (auth middleware by name).
    assert!(server.name.is_empty());
    assert!(spans[1].1.name.starts_with("middleware - "));
    // Attributes normalize does not read are not kept.
    assert!(spans
        .iter()
        .all(|(_, s)| s.attrs.len() <= 11 && s.start_unix_nano < s.end_unix_nano));
    // Children point at their server span.
    let (_, child) = &spans[1];
    assert_eq!(child.parent_span_id, server.span_id);
    assert_eq!(child.trace_id, server.trace_id);
    assert_eq!(
        child.attr(AttrKey::ExpressType).and_then(AttrValue::as_str),
        Some("middleware")
    );
    // Captured authorization headers are reported by presence only.
    let creds: Vec<_> = spans
        .iter()
        .filter_map(|(_, s)| s.attr(AttrKey::Credential))
        .collect();
    assert!(!creds.is_empty());
    assert!(creds.iter().all(|v| **v == AttrValue::Present));
}

#[test]
fn strings_borrow_from_the_input() {
    let bytes = corpus::protobuf(4, 1);
    let mut borrowed = 0;
    decode(&bytes, Format::Protobuf, &keys(), |r, s| {
        assert!(matches!(r.service_name, Some(Cow::Borrowed(_))));
        assert!(matches!(s.name, Cow::Borrowed(_)));
        for (_, v) in &s.attrs {
            if let AttrValue::Str(c) = v {
                assert!(matches!(c, Cow::Borrowed(_)));
                borrowed += 1;
            }
        }
    })
    .unwrap();
    assert!(borrowed > 4);
    let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"GET /a","attributes":[{"key":"url.path","value":{"stringValue":"/a\/b"}}]}]}]}]}"#;
    decode(json, Format::Json, &keys(), |_, s| {
        assert!(matches!(s.name, Cow::Borrowed("GET /a")));
        // An escaped string cannot borrow; it is the one allocation allowed.
        assert_eq!(s.attrs[0].1, AttrValue::Str(Cow::Owned("/a/b".into())));
    })
    .unwrap();
}

#[test]
fn a_credential_value_is_never_read_even_when_malformed() {
    // KeyValue{key: "http.request.header.authorization", value: <AnyValue whose body is
    // garbage>}: the walker must not look inside the value.
    let key = b"http.request.header.authorization";
    let mut kv = vec![0x0a, key.len() as u8];
    kv.extend_from_slice(key);
    kv.extend_from_slice(&[0x12, 0x03, 0xff, 0xff, 0xff]);
    let mut sp = vec![0x4a, kv.len() as u8];
    sp.extend_from_slice(&kv);
    let bytes = wrap_span(&sp);
    let spans = fast(&bytes).unwrap();
    assert_eq!(
        spans[0].1.attrs,
        vec![(AttrKey::Credential, AttrValue::Present)]
    );
}

#[test]
fn fields_in_unusual_order_and_repeated_scalars_follow_protobuf_rules() {
    // Resource after its spans, value before key, name given twice (last wins).
    let mut kv = Vec::new();
    kv.extend_from_slice(&[0x12, 0x05, 0x0a, 0x03]);
    kv.extend_from_slice(b"GET");
    kv.extend_from_slice(&[0x0a, 0x0b]);
    kv.extend_from_slice(b"http.method");
    let mut sp = vec![0x2a, 0x01, b'a', 0x2a, 0x01, b'b', 0x4a, kv.len() as u8];
    sp.extend_from_slice(&kv);
    let mut ss = vec![0x12, sp.len() as u8];
    ss.extend_from_slice(&sp);
    let mut res_kv = vec![0x0a, 0x0c];
    res_kv.extend_from_slice(b"service.name");
    res_kv.extend_from_slice(&[0x12, 0x05, 0x0a, 0x03]);
    res_kv.extend_from_slice(b"api");
    let mut res = vec![0x0a, res_kv.len() as u8];
    res.extend_from_slice(&res_kv);
    let mut rs = vec![0x12, ss.len() as u8];
    rs.extend_from_slice(&ss);
    rs.extend_from_slice(&[0x0a, res.len() as u8]);
    rs.extend_from_slice(&res);
    let mut req = vec![0x0a, rs.len() as u8];
    req.extend_from_slice(&rs);
    let got = fast(&req).unwrap();
    assert_eq!(got, oracle(&req).unwrap());
    assert_eq!(got[0].0.service_name.as_deref(), Some("api"));
    assert_eq!(got[0].1.name, "b");
    assert_eq!(
        got[0].1.attrs,
        vec![(AttrKey::HttpMethod, AttrValue::Str("GET".into()))]
    );
}

#[test]
fn unknown_fields_of_every_wire_type_are_skipped() {
    // Inside a span: varint (field 20), fixed64 (21), len (22), group (23) holding a
    // varint and a nested group, fixed32 (24); then the name.
    let sp = [
        0xa0, 0x01, 0x96, 0x01, // 20: varint 150
        0xa9, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, // 21: fixed64
        0xb2, 0x01, 0x02, 0xaa, 0xbb, // 22: len 2
        0xbb, 0x01, 0x08, 0x01, 0x13, 0x14, 0xbc, 0x01, // 23: group {1: 1, group 2 {}}
        0xc5, 0x01, 9, 9, 9, 9, // 24: fixed32
        0x2a, 0x02, b'o', b'k',
    ];
    let bytes = wrap_span(&sp);
    let got = fast(&bytes).unwrap();
    assert_eq!(got, oracle(&bytes).unwrap());
    assert_eq!(got[0].1.name, "ok");
}

#[test]
fn invalid_utf8_is_replaced_not_rejected() {
    let sp = [0x2a, 0x03, b'G', 0xff, b'T'];
    let got = fast(&wrap_span(&sp)).unwrap();
    assert_eq!(got[0].1.name, "G\u{fffd}T");
}

// ---- malformed protobuf: each error names what and where -------------------------------

/// ExportTraceServiceRequest{resource_spans{scope_spans{spans: <sp>}}}.
fn wrap_span(sp: &[u8]) -> Vec<u8> {
    let wrap = |tag: u8, body: &[u8]| {
        let mut v = vec![tag];
        let mut len = body.len();
        while len >= 0x80 {
            v.push((len as u8) | 0x80);
            len >>= 7;
        }
        v.push(len as u8);
        v.extend_from_slice(body);
        v
    };
    wrap(0x0a, &wrap(0x12, &wrap(0x12, sp)))
}

fn problem(bytes: &[u8]) -> (usize, &'static str, WireProblem) {
    match fast(bytes) {
        Err(DecodeError::Protobuf {
            offset,
            field,
            problem,
        }) => {
            assert!(
                oracle(bytes).is_err(),
                "prost accepted what the walker rejected"
            );
            (offset, field, problem)
        }
        other => panic!("expected a protobuf error, got {other:?}"),
    }
}

#[test]
fn truncated_varint() {
    assert_eq!(
        problem(&[0x0a]),
        (1, "ResourceSpans", WireProblem::TruncatedVarint)
    );
    // A kind varint cut short inside a span: offset 6 is where the varint starts.
    let (offset, field, p) = problem(&wrap_span(&[0x30, 0x80]));
    assert_eq!(
        (offset, field, p),
        (7, "Span.kind", WireProblem::TruncatedVarint)
    );
}

#[test]
fn varint_overflow() {
    let mut bytes = vec![0x0a];
    bytes.extend_from_slice(&[0xff; 10]);
    bytes.push(0x01);
    assert_eq!(
        problem(&bytes),
        (1, "ResourceSpans", WireProblem::VarintOverflow)
    );
}

#[test]
fn length_past_end() {
    assert_eq!(
        problem(&[0x0a, 0x05, 0x12, 0x00]),
        (
            1,
            "ResourceSpans",
            WireProblem::LengthPastEnd {
                len: 5,
                available: 2
            }
        )
    );
    // A span claiming more bytes than its ScopeSpans holds, though the input has them.
    let mut bytes = wrap_span(&[0x2a, 0x01, b'x']);
    bytes[5] = 0x09; // the span's length
    bytes.extend_from_slice(&[0; 8]);
    let (offset, field, p) = problem(&bytes);
    assert_eq!((offset, field), (5, "Span"));
    assert!(matches!(
        p,
        WireProblem::LengthPastEnd {
            len: 9,
            available: 3
        }
    ));
}

#[test]
fn bad_wire_types() {
    assert_eq!(
        problem(&[0x0f]),
        (
            0,
            "ExportTraceServiceRequest",
            WireProblem::UnknownWireType(7)
        )
    );
    assert_eq!(
        problem(&[0x0e]),
        (
            0,
            "ExportTraceServiceRequest",
            WireProblem::UnknownWireType(6)
        )
    );
    // resource_spans as a varint.
    assert_eq!(
        problem(&[0x08, 0x01]),
        (
            1,
            "ResourceSpans",
            WireProblem::WrongWireType {
                expected: 2,
                found: 0
            }
        )
    );
    // start_time_unix_nano as a varint instead of fixed64.
    let (_, field, p) = problem(&wrap_span(&[0x38, 0x01]));
    assert_eq!(field, "Span.start_time_unix_nano");
    assert_eq!(
        p,
        WireProblem::WrongWireType {
            expected: 1,
            found: 0
        }
    );
    assert_eq!(problem(&[0x00]).2, WireProblem::InvalidFieldNumber(0));
}

#[test]
fn truncated_fixed64() {
    let (_, field, p) = problem(&wrap_span(&[0x39, 1, 2, 3]));
    assert_eq!(field, "Span.start_time_unix_nano");
    assert_eq!(p, WireProblem::TruncatedFixed { width: 8 });
}

#[test]
fn unbalanced_groups() {
    assert_eq!(problem(&[0x2c]).2, WireProblem::UnbalancedGroup);
    assert_eq!(problem(&[0x2b, 0x08, 0x01]).2, WireProblem::UnbalancedGroup);
    assert_eq!(problem(&[0x2b, 0x34]).2, WireProblem::UnbalancedGroup);
    let deep: Vec<u8> = std::iter::repeat_n(0x2b, 100).collect();
    assert!(fast(&deep).unwrap_err().to_string().contains("too deeply"));
}

/// Decodes with both protobuf decoders, which must agree on what they kept and rejected.
fn both_with_stats(bytes: &[u8]) -> (Vec<Owned>, DecodeStats) {
    let mut out = Vec::new();
    let stats = decode(bytes, Format::Protobuf, &keys(), |r, s| out.push(own(r, s))).unwrap();
    let mut by_prost = Vec::new();
    let prost_stats = decode_with_prost(bytes, &keys(), |r, s| by_prost.push(own(r, s))).unwrap();
    assert_eq!(out, by_prost);
    assert_eq!(
        (stats.spans, stats.rejected),
        (prost_stats.spans, prost_stats.rejected)
    );
    (out, stats)
}

#[test]
fn a_wrong_id_length_rejects_its_span_and_keeps_the_rest() {
    let mut bad = vec![0x0a, 15];
    bad.extend_from_slice(&[1; 15]);
    let good = |n: u8| {
        let mut sp = vec![0x0a, 16];
        sp.extend_from_slice(&[n; 16]);
        sp.extend_from_slice(&[0x12, 8, n, n, n, n, n, n, n, n]);
        sp
    };
    // One ScopeSpans holding good, bad, good.
    let mut scope = Vec::new();
    for sp in [good(1), bad.clone(), good(2)] {
        scope.push(0x12);
        scope.push(sp.len() as u8);
        scope.extend_from_slice(&sp);
    }
    let mut rs = vec![0x12, scope.len() as u8];
    rs.extend_from_slice(&scope);
    let mut req = vec![0x0a, rs.len() as u8];
    req.extend_from_slice(&rs);

    let (kept, stats) = both_with_stats(&req);
    assert_eq!(
        kept.iter().map(|o| o.1.trace_id[0]).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!((stats.spans, stats.rejected), (2, 1));
    assert_eq!(
        stats.rejection_message().unwrap(),
        "1 span rejected: malformed OTLP protobuf at byte 37 (reading Span.trace_id): id is 15 bytes; it must be 16 bytes (or empty)"
    );
    for (sp, field) in [
        (vec![0x12, 0x04, 1, 2, 3, 4], "Span.span_id"),
        (
            vec![0x22, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            "Span.parent_span_id",
        ),
    ] {
        let (kept, stats) = both_with_stats(&wrap_span(&sp));
        assert!(kept.is_empty());
        assert_eq!(stats.rejected, 1);
        assert!(stats.rejection.unwrap().contains(field));
    }
    // Nothing rejected, nothing to say.
    let (_, stats) = both_with_stats(&wrap_span(&good(3)));
    assert_eq!((stats.rejected, stats.rejection_message()), (0, None));
    // A bad id does not hide a broken field after it: the request is malformed, as a full
    // decode says.
    let mut broken = bad.clone();
    broken.extend_from_slice(&[0x2a, 0x7f, b'x']);
    let bytes = wrap_span(&broken);
    assert!(oracle(&bytes).is_err());
    assert!(matches!(
        fast(&bytes),
        Err(DecodeError::Protobuf {
            field: "Span.name",
            ..
        })
    ));
}

// ---- OTLP/JSON -------------------------------------------------------------------------

/// A line as the eval generator and the collector's file exporter write it.
const GEN_TRAFFIC_LINE: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"petstore"}},{"key":"telemetry.sdk.language","value":{"stringValue":"python"}}]},"scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.generic","version":"0.1"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /pet/{petId}","kind":2,"startTimeUnixNano":"1763000000012345678","endTimeUnixNano":"1763000000052345678","attributes":[{"key":"http.request.method","value":{"stringValue":"GET"}},{"key":"url.path","value":{"stringValue":"/api/v3/pet/42"}},{"key":"http.response.status_code","value":{"intValue":"200"}},{"key":"http.route","value":{"stringValue":"/pet/{petId}"}},{"key":"http.request.header.authorization","value":{"arrayValue":{"values":[{"stringValue":"Bearer s3cret"}]}}}],"status":{}},{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","parentSpanId":"eee19b7ec3c1b174","name":"middleware - requireAuth","kind":"SPAN_KIND_INTERNAL","startTimeUnixNano":1763000000012346678,"endTimeUnixNano":"1763000000012545678","attributes":[],"status":{}}]}]}]}"#;

#[test]
fn json_reads_the_file_exporter_shape() {
    let spans = via_json(GEN_TRAFFIC_LINE.as_bytes()).unwrap();
    assert_eq!(spans.len(), 2);
    let (r, server) = &spans[0];
    assert_eq!(r.service_name.as_deref(), Some("petstore"));
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.trace_id[..3], [0x5b, 0x8e, 0xff]);
    assert_eq!(
        server.span_id,
        [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
    );
    assert_eq!(server.start_unix_nano, 1_763_000_000_012_345_678);
    assert_eq!(
        server.attr(AttrKey::ResponseStatusCode),
        Some(&AttrValue::Int(200))
    );
    assert_eq!(server.attr(AttrKey::Credential), Some(&AttrValue::Present));
    let (_, child) = &spans[1];
    assert_eq!(child.kind, SpanKind::Internal);
    assert_eq!(child.parent_span_id, server.span_id);
    assert_eq!(child.start_unix_nano, 1_763_000_000_012_346_678);
}

#[test]
fn json_tolerates_snake_case_nulls_and_unknown_fields() {
    let line = r#"{"resource_spans":[{"resource":{"attributes":[{"key":"service.name","value":{"string_value":"api"}}],"droppedAttributesCount":0},"scope_spans":[{"spans":[{"trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"eee19b7ec3c1b174","parent_span_id":"","name":"GET","kind":"SERVER","start_time_unix_nano":5,"attributes":[{"key":"http.status_code","value":{"int_value":404}},{"key":"http.method","value":{"stringValue":"GET"}},{"key":"x","value":null}],"links":null,"futureField":{"a":[1,2]}}]}]}]}"#;
    let spans = via_json(line.as_bytes()).unwrap();
    let (r, s) = &spans[0];
    assert_eq!(r.service_name.as_deref(), Some("api"));
    assert_eq!(s.kind, SpanKind::Server);
    assert_eq!(s.trace_id[0], 0x5b);
    assert!(!s.has_parent());
    assert_eq!(s.start_unix_nano, 5);
    assert_eq!(s.attrs.len(), 2);
    assert_eq!(s.attr(AttrKey::HttpStatusCode), Some(&AttrValue::Int(404)));
    assert_eq!(via_json(b"{}").unwrap(), vec![]);
}

#[test]
fn json_errors_name_line_column_and_field() {
    let bad_type =
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":73191,"name":"a"}]}]}]}"#;
    let err = via_json(bad_type.as_bytes()).unwrap_err();
    let DecodeError::Json {
        line,
        column,
        ref message,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(line, 1);
    assert!(column > 40 && column < 65, "{column}");
    assert!(message.contains("trace id of 32 hex digits"), "{message}");
    // What serde found is not repeated back: numbers are payload values too.
    assert!(!message.contains("73191"), "{message}");
    assert!(message.contains("integer `...`"), "{message}");

    let bad_time =
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#;
    let msg = via_json(bad_time.as_bytes()).unwrap_err().to_string();
    assert!(
        msg.contains("unix nanoseconds") && msg.contains("line 1"),
        "{msg}"
    );

    let bad_kind =
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_SIDEWAYS"}]}]}]}"#;
    assert!(via_json(bad_kind.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("span kind"));
    assert!(matches!(
        via_json(b"{\"resourceSpans\":[").unwrap_err(),
        DecodeError::Json { .. }
    ));
    // serde would read a struct from an array; OTLP/JSON is an object.
    for not_an_object in [&b"[]"[..], b"  \n [1, 2]", b"\"x\"", b"7"] {
        let err = via_json(not_an_object).unwrap_err().to_string();
        assert!(err.contains("must be a JSON object"), "{err}");
    }
    assert_eq!(
        via_json(b" \n  []").unwrap_err().to_string(),
        "malformed OTLP/JSON at line 2, column 3: an ExportTraceServiceRequest must be a JSON object"
    );
}

#[test]
fn json_errors_never_echo_values_from_the_payload() {
    // A credential header captured with the wrong type: the error must not carry it.
    let line = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"http.request.header.authorization","value":{"boolValue":"Bearer s3cr\"et"}}]}]}]}]}"#;
    let err = via_json(line.as_bytes()).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains("s3cr") && !msg.contains("Bearer"), "{msg}");
    assert!(msg.contains("expected a boolean"), "{msg}");
    let bad_id = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"topsecret"}]}]}]}"#;
    let stats = decode(bad_id.as_bytes(), Format::Json, &keys(), |_, _| {}).unwrap();
    let msg = stats.rejection_message().unwrap();
    assert!(
        !msg.contains("topsecret") && msg.contains("span id"),
        "{msg}"
    );
}

#[test]
fn json_ids_that_are_not_hex_reject_their_span_and_keep_the_rest() {
    let line = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","kind":2},
        {"traceId":"zz","spanId":"eee19b7ec3c1b175","kind":2},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b1","kind":2},
        {"traceId":"","spanId":null,"kind":2}]}]}]}"#;
    let mut kept = Vec::new();
    let stats = decode(line.as_bytes(), Format::Json, &keys(), |r, s| {
        kept.push(own(r, s))
    })
    .unwrap();
    assert_eq!((stats.spans, stats.rejected, kept.len()), (2, 2, 2));
    assert_eq!(
        stats.rejection_message().unwrap(),
        "2 spans rejected; the first: resourceSpans[0].scopeSpans[0].spans[1]: traceId is not a trace id of 32 hex digits (2 characters)"
    );
}

#[test]
fn json_lines_name_the_file_line() {
    let file = format!("{GEN_TRAFFIC_LINE}\n\n{GEN_TRAFFIC_LINE}\r\n{{\"resourceSpans\":[{{\"scopeSpans\":[{{\"spans\":[{{\"spanId\":\"00\"}}]}}]}}]}}\n");
    let lines: Vec<_> = json_lines(file.as_bytes()).map(|l| l.number).collect();
    assert_eq!(lines, vec![1, 3, 4]);
    let mut seen = Vec::new();
    let stats = for_each_json_line(file.as_bytes(), &keys(), |line, _, _| seen.push(line)).unwrap();
    assert_eq!(seen, vec![1, 1, 3, 3]);
    assert_eq!(stats.rejected, 1);
    assert!(stats
        .rejection
        .unwrap()
        .starts_with("line 4: resourceSpans[0].scopeSpans[0].spans[0]: spanId"),);
    let bad = format!("{GEN_TRAFFIC_LINE}\n{{\"resourceSpans\":[{{\"scopeSpans\":7}}]}}\n");
    match for_each_json_line(bad.as_bytes(), &keys(), |_, _, _| {}).unwrap_err() {
        DecodeError::Json { line, .. } => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }
    let ok = format!("{GEN_TRAFFIC_LINE}\n{GEN_TRAFFIC_LINE}\n");
    let stats = for_each_json_line(ok.as_bytes(), &keys(), |_, _, _| {}).unwrap();
    assert_eq!(stats.spans, 4);
}
