//! OTLP/JSON: tolerant serde structs that read only the fields `normalize` needs, as the
//! OTLP/JSON mapping writes them and as real exporters bend it: lowerCamelCase or
//! snake_case names, hex trace/span ids, enums as integers or names (`SPAN_KIND_SERVER`),
//! 64-bit integers as strings or numbers, unknown fields and `null`s ignored. Strings borrow
//! from the input unless they contain escapes.
//!
//! Also the collector file exporter's layout (one `ExportTraceServiceRequest` per line).
//!
//! A JSON parser has to scan a credential attribute's string to find where it ends; its
//! value is then dropped before reaching the span view, which only records its presence.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;

use crate::model::{hex_val, AttrKey, AttrKeys, AttrValue, ResourceView, SpanKind, SpanView};

use super::{set_ids, DecodeError, DecodeStats};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Request<'a> {
    #[serde(borrow, rename = "resourceSpans", alias = "resource_spans")]
    resource_spans: Option<Vec<ResourceSpans<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResourceSpans<'a> {
    #[serde(borrow)]
    resource: Option<Resource<'a>>,
    #[serde(borrow, rename = "scopeSpans", alias = "scope_spans")]
    scope_spans: Option<Vec<ScopeSpans<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Resource<'a> {
    #[serde(borrow)]
    attributes: Option<Vec<KeyValue<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ScopeSpans<'a> {
    #[serde(borrow)]
    spans: Option<Vec<Span<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Span<'a> {
    #[serde(rename = "traceId", alias = "trace_id")]
    trace_id: Id<16>,
    #[serde(rename = "spanId", alias = "span_id")]
    span_id: Id<8>,
    #[serde(rename = "parentSpanId", alias = "parent_span_id")]
    parent_span_id: Id<8>,
    #[serde(borrow)]
    name: Option<Str<'a>>,
    kind: Kind,
    #[serde(rename = "startTimeUnixNano", alias = "start_time_unix_nano")]
    start_time_unix_nano: U64,
    #[serde(rename = "endTimeUnixNano", alias = "end_time_unix_nano")]
    end_time_unix_nano: U64,
    #[serde(borrow)]
    attributes: Option<Vec<KeyValue<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyValue<'a> {
    #[serde(borrow)]
    key: Option<Str<'a>>,
    #[serde(borrow)]
    value: Option<AnyValue<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AnyValue<'a> {
    #[serde(borrow, rename = "stringValue", alias = "string_value")]
    string_value: Option<Str<'a>>,
    #[serde(rename = "boolValue", alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(rename = "intValue", alias = "int_value")]
    int_value: Option<I64>,
    #[serde(rename = "doubleValue", alias = "double_value")]
    double_value: Option<IgnoredAny>,
    #[serde(rename = "arrayValue", alias = "array_value")]
    array_value: Option<IgnoredAny>,
    #[serde(rename = "kvlistValue", alias = "kvlist_value")]
    kvlist_value: Option<IgnoredAny>,
    #[serde(rename = "bytesValue", alias = "bytes_value")]
    bytes_value: Option<IgnoredAny>,
}

/// A string borrowed from the input when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A trace or span id: hex digits as OTLP/JSON specifies; empty or null means unset. A
/// string that is not such an id is kept as its length, so the span alone is rejected
/// (the rest of the request is good); a value of another JSON type is malformed JSON.
struct Id<const N: usize>(Result<[u8; N], usize>);

impl<const N: usize> Default for Id<N> {
    fn default() -> Self {
        Id(Ok([0; N]))
    }
}

impl<const N: usize> Id<N> {
    /// The id, or what is wrong with it; never the value itself (a payload's values do not
    /// reach logs or answers).
    fn get(&self, field: &str) -> Result<[u8; N], String> {
        self.0.map_err(|len| {
            let what = if N == 16 { "trace id" } else { "span id" };
            format!(
                "{field} is not a {what} of {} hex digits ({len} characters)",
                N * 2
            )
        })
    }
}

impl<'de, const N: usize> Deserialize<'de> for Id<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<const N: usize> Visitor<'_> for V<N> {
            type Value = Id<N>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                let what = if N == 16 { "trace id" } else { "span id" };
                write!(f, "a {what} of {} hex digits", N * 2)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id<N>, E> {
                if v.is_empty() {
                    return Ok(Id(Ok([0; N])));
                }
                let b = v.as_bytes();
                if b.len() != N * 2 {
                    return Ok(Id(Err(v.chars().count())));
                }
                let mut out = [0u8; N];
                for (i, pair) in b.chunks_exact(2).enumerate() {
                    match (hex_val(pair[0]), hex_val(pair[1])) {
                        (Some(h), Some(l)) => out[i] = h << 4 | l,
                        _ => return Ok(Id(Err(v.chars().count()))),
                    }
                }
                Ok(Id(Ok(out)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Id<N>, E> {
                Ok(Id(Ok([0; N])))
            }
        }
        d.deserialize_any(V::<N>)
    }
}

/// A span kind as the enum's integer or its name (`SPAN_KIND_SERVER`, also `SERVER`).
#[derive(Default)]
struct Kind(SpanKind);

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Kind;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a span kind (0-5 or a name such as SPAN_KIND_SERVER)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
                Ok(Kind(SpanKind::from_i32(i32::try_from(v).unwrap_or(0))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
                Ok(Kind(SpanKind::from_i32(i32::try_from(v).unwrap_or(0))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
                let name = v.strip_prefix("SPAN_KIND_").unwrap_or(v);
                let kind = match name {
                    "UNSPECIFIED" => SpanKind::Unspecified,
                    "INTERNAL" => SpanKind::Internal,
                    "SERVER" => SpanKind::Server,
                    "CLIENT" => SpanKind::Client,
                    "PRODUCER" => SpanKind::Producer,
                    "CONSUMER" => SpanKind::Consumer,
                    _ => match v.parse::<i32>() {
                        Ok(n) => SpanKind::from_i32(n),
                        Err(_) => return Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                    },
                };
                Ok(Kind(kind))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
                Ok(Kind(SpanKind::Unspecified))
            }
        }
        d.deserialize_any(V)
    }
}

/// A 64-bit integer as a JSON number or a decimal string (the OTLP/JSON mapping).
macro_rules! lenient_int {
    ($name:ident, $t:ty, $what:literal) => {
        #[derive(Default)]
        struct $name($t);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        <$t>::try_from(v)
                            .map($name)
                            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        <$t>::try_from(v)
                            .map($name)
                            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        v.trim()
                            .parse::<$t>()
                            .map($name)
                            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<$name, E> {
                        Ok($name(0))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

lenient_int!(
    U64,
    u64,
    "a time in unix nanoseconds (number or decimal string)"
);
lenient_int!(I64, i64, "a 64-bit integer (number or decimal string)");

/// The error with its position moved into our own fields and every quoted string from the
/// payload blanked: serde quotes offending values (`invalid type: string "..."`), and the
/// value might be a credential; messages go back to the exporter and into logs.
fn json_error(e: serde_json::Error) -> DecodeError {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => &text[..i],
        _ => &text,
    };
    DecodeError::Json {
        line: e.line(),
        column: e.column(),
        message: redact_quoted(text),
    }
}

/// serde quotes what it found in the payload: strings in `"..."`, numbers and booleans in
/// backticks (`invalid type: integer \`7\``). Neither reaches an answer or a log.
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '"' {
            out.push_str("...\"");
            let mut escaped = false;
            for c in chars.by_ref() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => break,
                    _ => escaped = false,
                }
            }
        } else if c == '`' {
            out.push_str("...`");
            for c in chars.by_ref() {
                if c == '`' {
                    break;
                }
            }
        }
    }
    out
}

/// Decodes one OTLP/JSON `ExportTraceServiceRequest` (see [`super::decode`]).
pub(super) fn decode<'a, F>(
    data: &'a [u8],
    keys: &AttrKeys,
    mut on_span: F,
) -> Result<DecodeStats, DecodeError>
where
    F: FnMut(&ResourceView<'a>, &SpanView<'a>),
{
    // serde would also build the request from an array (`[]`, fields by position): OTLP/JSON
    // is an object, and anything else is a mistake worth a 400.
    if let Some(at) = data.iter().position(|b| !b.is_ascii_whitespace()) {
        if data[at] != b'{' {
            let line = 1 + data[..at].iter().filter(|&&b| b == b'\n').count();
            let column = at
                - data[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1)
                + 1;
            return Err(DecodeError::Json {
                line,
                column,
                message: "an ExportTraceServiceRequest must be a JSON object".into(),
            });
        }
    }
    let req: Request<'a> = serde_json::from_slice(data).map_err(json_error)?;
    let mut stats = DecodeStats::default();
    let mut view = SpanView::default();
    for (r, rs) in req.resource_spans.into_iter().flatten().enumerate() {
        let mut resource = ResourceView::default();
        for kv in rs.resource.and_then(|r| r.attributes).into_iter().flatten() {
            let Some(Str(key)) = kv.key else { continue };
            let slot = match &*key {
                "service.name" => &mut resource.service_name,
                "service.namespace" => &mut resource.service_namespace,
                _ => continue,
            };
            if let AttrValue::Str(s) = any_value(kv.value) {
                *slot = Some(s);
            }
        }
        for (c, ss) in rs.scope_spans.into_iter().flatten().enumerate() {
            for (k, span) in ss.spans.into_iter().flatten().enumerate() {
                view.clear();
                if let Err(why) = set_ids(
                    &mut view,
                    span.trace_id.get("traceId"),
                    span.span_id.get("spanId"),
                    span.parent_span_id.get("parentSpanId"),
                ) {
                    stats
                        .reject(|| format!("resourceSpans[{r}].scopeSpans[{c}].spans[{k}]: {why}"));
                    continue;
                }
                view.name = span.name.map(|s| s.0).unwrap_or_default();
                view.kind = span.kind.0;
                view.start_unix_nano = span.start_time_unix_nano.0;
                view.end_unix_nano = span.end_time_unix_nano.0;
                for kv in span.attributes.into_iter().flatten() {
                    let Some(Str(key)) = &kv.key else { continue };
                    let Some(attr) = keys.lookup(key.as_bytes()) else {
                        continue;
                    };
                    let value = if attr == AttrKey::Credential {
                        AttrValue::Present
                    } else {
                        any_value(kv.value)
                    };
                    view.attrs.push((attr, value));
                }
                stats.spans += 1;
                on_span(&resource, &view);
            }
        }
    }
    Ok(stats)
}

/// The protobuf oneof has one member set; should a producer set several, the last one in
/// the message's field order wins, as it would on the wire.
fn any_value(v: Option<AnyValue<'_>>) -> AttrValue<'_> {
    let Some(v) = v else {
        return AttrValue::Present;
    };
    if v.double_value.is_some()
        || v.array_value.is_some()
        || v.kvlist_value.is_some()
        || v.bytes_value.is_some()
    {
        return AttrValue::Present;
    }
    if let Some(I64(i)) = v.int_value {
        return AttrValue::Int(i);
    }
    if let Some(b) = v.bool_value {
        return AttrValue::Bool(b);
    }
    match v.string_value {
        Some(Str(s)) => AttrValue::Str(s),
        None => AttrValue::Present,
    }
}

/// One non-blank line of a collector file-exporter file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLine<'a> {
    /// 1-based line number in the file.
    pub number: usize,
    pub bytes: &'a [u8],
}

/// Splits a file-exporter file into its requests, one JSON document per line; blank lines
/// (and a trailing newline, `\r\n` endings) are skipped.
pub fn json_lines(input: &[u8]) -> impl Iterator<Item = JsonLine<'_>> + '_ {
    input
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim_ascii();
            (!line.is_empty()).then_some(JsonLine {
                number: i + 1,
                bytes: line,
            })
        })
}

/// Decodes every request of a file-exporter file in order, telling `on_span` the line each
/// span came from. Stops at the first bad line; the error names that line of the file.
pub fn for_each_json_line<'a, F>(
    input: &'a [u8],
    keys: &AttrKeys,
    mut on_span: F,
) -> Result<DecodeStats, DecodeError>
where
    F: FnMut(usize, &ResourceView<'a>, &SpanView<'a>),
{
    let mut total = DecodeStats::default();
    for line in json_lines(input) {
        let stats = decode(line.bytes, keys, |r, s| on_span(line.number, r, s))
            .map_err(|e| e.at_line(line.number))?;
        total.spans += stats.spans;
        if let Some(why) = stats.rejection {
            total.rejected += stats.rejected;
            total
                .rejection
                .get_or_insert_with(|| format!("line {}: {why}", line.number));
        }
    }
    Ok(total)
}
