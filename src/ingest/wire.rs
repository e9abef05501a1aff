//! The fast protobuf path: a hand-written walker over the wire format of
//! `ExportTraceServiceRequest` that reads only what `normalize` needs (see proto/README.md
//! for the field numbers) and skips everything else by length, without building messages.
//!
//! Semantics follow protobuf (and so prost, the oracle): fields may come in any order, a
//! repeated scalar field seen twice keeps its last value, a field with the wrong wire type
//! is an error, unknown fields of every wire type (groups included) are skipped.

use std::borrow::Cow;
use std::fmt;

use crate::model::{AttrKey, AttrKeys, AttrValue, ResourceView, SpanKind, SpanView};

use super::{DecodeError, DecodeStats};

/// What is wrong at the place a [`DecodeError::Protobuf`] points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireProblem {
    /// The input ends inside a varint.
    TruncatedVarint,
    /// A varint longer than 10 bytes or overflowing 64 bits.
    VarintOverflow,
    /// A length-delimited field claims more bytes than its enclosing message has left.
    LengthPastEnd { len: u64, available: usize },
    /// The input ends inside a fixed32/fixed64 value.
    TruncatedFixed { width: u8 },
    /// Wire types 6 and 7 do not exist.
    UnknownWireType(u8),
    /// A known field arrived with a wire type that does not fit its declared type.
    WrongWireType { expected: u8, found: u8 },
    /// Field number 0, or one above 2^29 - 1.
    InvalidFieldNumber(u64),
    /// A trace id that is not 16 bytes, a span id that is not 8 (empty means unset).
    IdLength { expected: usize, found: usize },
    /// An end-group tag without its start, or a group that never ends.
    UnbalancedGroup,
    /// Groups nested deeper than the decoder follows.
    TooDeep,
}

impl fmt::Display for WireProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WireProblem::TruncatedVarint => f.write_str("input ends inside a varint"),
            WireProblem::VarintOverflow => f.write_str("varint longer than 64 bits"),
            WireProblem::LengthPastEnd { len, available } => write!(
                f,
                "length {len} runs past the end of the enclosing message ({available} bytes left)"
            ),
            WireProblem::TruncatedFixed { width } => {
                write!(f, "input ends inside a {}-bit fixed value", width * 8)
            }
            WireProblem::UnknownWireType(w) => write!(f, "invalid wire type {w}"),
            WireProblem::WrongWireType { expected, found } => write!(
                f,
                "wire type {found} where the field's type needs wire type {expected}"
            ),
            WireProblem::InvalidFieldNumber(n) => write!(f, "invalid field number {n}"),
            WireProblem::IdLength { expected, found } => write!(
                f,
                "id is {found} bytes; it must be {expected} bytes (or empty)"
            ),
            WireProblem::UnbalancedGroup => f.write_str("unbalanced start/end group tags"),
            WireProblem::TooDeep => f.write_str("groups nested too deeply"),
        }
    }
}

const WT_VARINT: u8 = 0;
const WT_FIXED64: u8 = 1;
const WT_LEN: u8 = 2;
const WT_START_GROUP: u8 = 3;
const WT_END_GROUP: u8 = 4;
const WT_FIXED32: u8 = 5;

/// Deepest group nesting followed while skipping; real OTLP has no groups at all.
const MAX_GROUP_DEPTH: u32 = 64;

// Field names used in error messages.
const F_REQUEST: &str = "ExportTraceServiceRequest";
const F_RESOURCE_SPANS: &str = "ResourceSpans";
const F_RESOURCE: &str = "ResourceSpans.resource";
const F_SCOPE_SPANS: &str = "ScopeSpans";
const F_SPAN: &str = "Span";
const F_TRACE_ID: &str = "Span.trace_id";
const F_SPAN_ID: &str = "Span.span_id";
const F_PARENT_SPAN_ID: &str = "Span.parent_span_id";
const F_NAME: &str = "Span.name";
const F_KIND: &str = "Span.kind";
const F_START: &str = "Span.start_time_unix_nano";
const F_END: &str = "Span.end_time_unix_nano";
const F_KEY_VALUE: &str = "KeyValue";
const F_ANY_VALUE: &str = "AnyValue";

/// A message being read: the whole input plus the range of this message, so every offset
/// in an error is an offset into the payload.
#[derive(Clone, Copy)]
struct Msg<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

fn err(offset: usize, field: &'static str, problem: WireProblem) -> DecodeError {
    DecodeError::Protobuf {
        offset,
        field,
        problem,
    }
}

impl<'a> Msg<'a> {
    #[inline]
    fn more(&self) -> bool {
        self.pos < self.end
    }

    #[inline]
    fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        // One-byte varints (tags, small lengths, kinds) are by far the most common.
        if self.pos < self.end {
            let b = self.data[self.pos];
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow(field)
    }

    #[cold]
    fn varint_slow(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.data[..self.end].get(self.pos) else {
                return Err(err(start, field, WireProblem::TruncatedVarint));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(err(start, field, WireProblem::VarintOverflow));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(err(start, field, WireProblem::VarintOverflow))
    }

    /// Reads a tag: (field number, wire type).
    #[inline]
    fn tag(&mut self, field: &'static str) -> Result<(u32, u8), DecodeError> {
        let start = self.pos;
        let key = self.varint(field)?;
        let wire_type = (key & 7) as u8;
        let number = key >> 3;
        if number == 0 || number > (u32::MAX >> 3) as u64 {
            return Err(err(start, field, WireProblem::InvalidFieldNumber(number)));
        }
        if wire_type > 5 {
            return Err(err(start, field, WireProblem::UnknownWireType(wire_type)));
        }
        Ok((number as u32, wire_type))
    }

    /// Reads the body of a length-delimited field as a sub-message.
    #[inline]
    fn len_delimited(&mut self, field: &'static str) -> Result<Msg<'a>, DecodeError> {
        let start = self.pos;
        let len = self.varint(field)?;
        let available = self.end - self.pos;
        if len > available as u64 {
            return Err(err(
                start,
                field,
                WireProblem::LengthPastEnd { len, available },
            ));
        }
        let sub = Msg {
            data: self.data,
            pos: self.pos,
            end: self.pos + len as usize,
        };
        self.pos = sub.end;
        Ok(sub)
    }

    #[inline]
    fn bytes(&mut self, wire_type: u8, field: &'static str) -> Result<&'a [u8], DecodeError> {
        self.expect(wire_type, WT_LEN, field)?;
        let sub = self.len_delimited(field)?;
        Ok(&self.data[sub.pos..sub.end])
    }

    #[inline]
    fn fixed64(&mut self, wire_type: u8, field: &'static str) -> Result<u64, DecodeError> {
        self.expect(wire_type, WT_FIXED64, field)?;
        let bytes = self
            .data
            .get(self.pos..self.pos + 8)
            .filter(|_| self.pos + 8 <= self.end)
            .ok_or_else(|| err(self.pos, field, WireProblem::TruncatedFixed { width: 8 }))?;
        self.pos += 8;
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(b))
    }

    #[inline]
    fn varint_field(&mut self, wire_type: u8, field: &'static str) -> Result<u64, DecodeError> {
        self.expect(wire_type, WT_VARINT, field)?;
        self.varint(field)
    }

    #[inline]
    fn expect(&self, found: u8, expected: u8, field: &'static str) -> Result<(), DecodeError> {
        if found == expected {
            Ok(())
        } else {
            // The tag started at most 5 bytes back; pointing at the value is precise enough
            // to find it and avoids carrying the tag offset through every call.
            Err(err(
                self.pos,
                field,
                WireProblem::WrongWireType { expected, found },
            ))
        }
    }

    fn advance(&mut self, n: usize, width: u8, field: &'static str) -> Result<(), DecodeError> {
        if self.end - self.pos < n {
            return Err(err(self.pos, field, WireProblem::TruncatedFixed { width }));
        }
        self.pos += n;
        Ok(())
    }

    /// Skips the value of a field this decoder does not read.
    fn skip(&mut self, number: u32, wire_type: u8, field: &'static str) -> Result<(), DecodeError> {
        self.skip_depth(number, wire_type, field, 0)
    }

    fn skip_depth(
        &mut self,
        number: u32,
        wire_type: u8,
        field: &'static str,
        depth: u32,
    ) -> Result<(), DecodeError> {
        match wire_type {
            WT_VARINT => self.varint(field).map(drop),
            WT_FIXED64 => self.advance(8, 8, field),
            WT_LEN => self.len_delimited(field).map(drop),
            WT_FIXED32 => self.advance(4, 4, field),
            WT_START_GROUP => {
                if depth >= MAX_GROUP_DEPTH {
                    return Err(err(self.pos, field, WireProblem::TooDeep));
                }
                loop {
                    if !self.more() {
                        return Err(err(self.pos, field, WireProblem::UnbalancedGroup));
                    }
                    let at = self.pos;
                    let (n, wt) = self.tag(field)?;
                    if wt == WT_END_GROUP {
                        if n != number {
                            return Err(err(at, field, WireProblem::UnbalancedGroup));
                        }
                        return Ok(());
                    }
                    self.skip_depth(n, wt, field, depth + 1)?;
                }
            }
            WT_END_GROUP => Err(err(self.pos, field, WireProblem::UnbalancedGroup)),
            other => Err(err(self.pos, field, WireProblem::UnknownWireType(other))),
        }
    }
}

#[inline]
fn utf8(bytes: &[u8]) -> Cow<'_, str> {
    // Paths, routes, methods and addresses are ASCII; checking that a word at a time is
    // several times cheaper than full validation on strings this short (it showed as ~5%
    // of the daemon's CPU).
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// Copies an id in place (returning `Result<[u8; 16], DecodeError>` by value cost a
/// store-forwarding stall per span in profiles); false when its length is wrong.
#[inline(always)]
fn set_id<const N: usize>(dst: &mut [u8; N], bytes: &[u8]) -> bool {
    match bytes.len() {
        0 => *dst = [0; N],
        n if n == N => dst.copy_from_slice(bytes),
        _ => return false,
    }
    true
}

/// Where a span's first unusable id is: offset, field, expected and found lengths. Plain
/// data, so tracking it costs the span loop nothing (an `Option<DecodeError>` did, ~40
/// instructions per span in drop glue and moves).
type BadId = (usize, &'static str, usize, usize);

/// Decodes a protobuf `ExportTraceServiceRequest` (see [`super::decode`]).
pub(super) fn decode<'a, F>(
    data: &'a [u8],
    keys: &AttrKeys,
    mut on_span: F,
) -> Result<DecodeStats, DecodeError>
where
    F: FnMut(&ResourceView<'a>, &SpanView<'a>),
{
    let mut stats = DecodeStats::default();
    // Room for a server span's kept attributes, so the vector rarely grows.
    let mut span = SpanView {
        attrs: Vec::with_capacity(16),
        ..SpanView::default()
    };
    let mut req = Msg {
        data,
        pos: 0,
        end: data.len(),
    };
    while req.more() {
        let (number, wt) = req.tag(F_REQUEST)?;
        if number == 1 {
            req.expect(wt, WT_LEN, F_RESOURCE_SPANS)?;
            let rs = req.len_delimited(F_RESOURCE_SPANS)?;
            resource_spans(rs, keys, &mut span, &mut stats, &mut on_span)?;
        } else {
            req.skip(number, wt, F_REQUEST)?;
        }
    }
    Ok(stats)
}

fn resource_spans<'a, F>(
    rs: Msg<'a>,
    keys: &AttrKeys,
    span: &mut SpanView<'a>,
    stats: &mut DecodeStats,
    on_span: &mut F,
) -> Result<(), DecodeError>
where
    F: FnMut(&ResourceView<'a>, &SpanView<'a>),
{
    // The resource may follow its spans on the wire; find it first so every span is
    // reported with it. This pass only skips lengths.
    let mut resource_view = ResourceView::default();
    let mut m = rs;
    while m.more() {
        let (number, wt) = m.tag(F_RESOURCE_SPANS)?;
        if number == 1 {
            m.expect(wt, WT_LEN, F_RESOURCE)?;
            let r = m.len_delimited(F_RESOURCE)?;
            resource(r, &mut resource_view)?;
        } else {
            m.skip(number, wt, F_RESOURCE_SPANS)?;
        }
    }
    let mut m = rs;
    while m.more() {
        let (number, wt) = m.tag(F_RESOURCE_SPANS)?;
        if number == 2 {
            m.expect(wt, WT_LEN, F_SCOPE_SPANS)?;
            let mut ss = m.len_delimited(F_SCOPE_SPANS)?;
            while ss.more() {
                let (n, wt) = ss.tag(F_SCOPE_SPANS)?;
                if n == 2 {
                    ss.expect(wt, WT_LEN, F_SPAN)?;
                    let s = ss.len_delimited(F_SPAN)?;
                    match decode_span(s, keys, span) {
                        Ok(()) => {
                            stats.spans += 1;
                            on_span(&resource_view, span);
                        }
                        // The whole span was read and is well-formed; only an id is unusable.
                        Err(
                            e @ DecodeError::Protobuf {
                                problem: WireProblem::IdLength { .. },
                                ..
                            },
                        ) => stats.reject(|| e.to_string()),
                        Err(e) => return Err(e),
                    }
                } else {
                    ss.skip(n, wt, F_SCOPE_SPANS)?;
                }
            }
        } else {
            // Already validated by the first pass.
            m.skip(number, wt, F_RESOURCE_SPANS)?;
        }
    }
    Ok(())
}

fn resource<'a>(mut r: Msg<'a>, view: &mut ResourceView<'a>) -> Result<(), DecodeError> {
    while r.more() {
        let (number, wt) = r.tag(F_RESOURCE)?;
        if number != 1 {
            r.skip(number, wt, F_RESOURCE)?;
            continue;
        }
        r.expect(wt, WT_LEN, F_KEY_VALUE)?;
        let kv = r.len_delimited(F_KEY_VALUE)?;
        let (key, value) = key_value(kv)?;
        let slot = match key {
            b"service.name" => &mut view.service_name,
            b"service.namespace" => &mut view.service_namespace,
            _ => continue,
        };
        if let Some(v) = value {
            if let AttrValue::Str(s) = any_value(v)? {
                *slot = Some(s);
            }
        }
    }
    Ok(())
}

/// Tag bytes of the two fields every encoder writes for an attribute, in this order:
/// `KeyValue.key` (1, length-delimited) and `KeyValue.value` (2, length-delimited); the same
/// byte as the first opens `AnyValue.string_value`.
const TAG_1_LEN: u8 = (1 << 3) | WT_LEN;
const TAG_2_LEN: u8 = (2 << 3) | WT_LEN;
const TAG_3_VARINT: u8 = 3 << 3;

/// A one-byte length at `pos` and the end of the field it opens, if it stays inside `end`.
#[inline(always)]
fn short_len(data: &[u8], pos: usize, end: usize) -> Option<usize> {
    let len = *data.get(pos)?;
    let stop = pos + 1 + len as usize;
    (len < 0x80 && stop <= end).then_some(stop)
}

/// The common shape of a `KeyValue`, exactly `key` then `value` (or `key` alone), both with
/// one-byte lengths: the key and the value's range without the general loop. `None` for
/// anything else, which [`key_value`] then reads with full protobuf semantics (fields in
/// any order, repeated fields, unknown fields). Skipping an unwanted attribute costs a few
/// compares this way, and most attributes are unwanted.
#[inline(always)]
fn key_value_fast<'a>(kv: &Msg<'a>) -> Option<(&'a [u8], Option<Msg<'a>>)> {
    let (data, end) = (kv.data, kv.end);
    if *data.get(kv.pos)? != TAG_1_LEN {
        return None;
    }
    let key_end = short_len(data, kv.pos + 1, end)?;
    let key = &data[kv.pos + 2..key_end];
    if key_end == end {
        return Some((key, None));
    }
    if data[key_end] != TAG_2_LEN {
        return None;
    }
    let value_end = short_len(data, key_end + 1, end)?;
    if value_end != end {
        return None;
    }
    Some((
        key,
        Some(Msg {
            data,
            pos: key_end + 2,
            end,
        }),
    ))
}

/// Splits a `KeyValue` into its key and the still-unread `AnyValue`, wherever they sit.
#[inline]
fn key_value(mut kv: Msg<'_>) -> Result<(&[u8], Option<Msg<'_>>), DecodeError> {
    let mut key: &[u8] = &[];
    let mut value = None;
    while kv.more() {
        let (number, wt) = kv.tag(F_KEY_VALUE)?;
        match number {
            1 => key = kv.bytes(wt, "KeyValue.key")?,
            2 => {
                kv.expect(wt, WT_LEN, F_ANY_VALUE)?;
                value = Some(kv.len_delimited(F_ANY_VALUE)?);
            }
            _ => kv.skip(number, wt, F_KEY_VALUE)?,
        }
    }
    Ok((key, value))
}

/// Reads an `AnyValue`: strings, booleans and integers are kept; every other type (and an
/// empty value) is [`AttrValue::Present`].
#[inline(always)]
fn any_value(v: Msg<'_>) -> Result<AttrValue<'_>, DecodeError> {
    // The common shapes, exactly one string with a one-byte length or one integer of up to
    // 9 bits (status codes), read without the general loop.
    let (data, pos, end) = (v.data, v.pos, v.end);
    if pos + 2 <= end {
        match data[pos] {
            TAG_1_LEN if short_len(data, pos + 1, end) == Some(end) => {
                return Ok(AttrValue::Str(utf8(&data[pos + 2..end])));
            }
            TAG_3_VARINT if pos + 3 == end && data[pos + 1] >= 0x80 && data[pos + 2] < 0x80 => {
                let n = u64::from(data[pos + 1] & 0x7f) | (u64::from(data[pos + 2]) << 7);
                return Ok(AttrValue::Int(n as i64));
            }
            TAG_3_VARINT if pos + 2 == end && data[pos + 1] < 0x80 => {
                return Ok(AttrValue::Int(i64::from(data[pos + 1])));
            }
            _ => {}
        }
    }
    any_value_general(v)
}

fn any_value_general(mut v: Msg<'_>) -> Result<AttrValue<'_>, DecodeError> {
    let mut out = AttrValue::Present;
    while v.more() {
        let (number, wt) = v.tag(F_ANY_VALUE)?;
        out = match number {
            1 => AttrValue::Str(utf8(v.bytes(wt, "AnyValue.string_value")?)),
            2 => AttrValue::Bool(v.varint_field(wt, "AnyValue.bool_value")? != 0),
            3 => AttrValue::Int(v.varint_field(wt, "AnyValue.int_value")? as i64),
            4 => {
                v.expect(wt, WT_FIXED64, "AnyValue.double_value")?;
                v.advance(8, 8, "AnyValue.double_value")?;
                AttrValue::Present
            }
            5..=7 => {
                v.expect(wt, WT_LEN, F_ANY_VALUE)?;
                v.len_delimited(F_ANY_VALUE)?;
                AttrValue::Present
            }
            8 => {
                v.varint_field(wt, "AnyValue.string_value_strindex")?;
                AttrValue::Present
            }
            _ => {
                v.skip(number, wt, F_ANY_VALUE)?;
                continue;
            }
        };
    }
    Ok(out)
}

/// The tag of `Span.attributes` (field 9, length-delimited), one byte on the wire.
const TAG_9_LEN: u8 = (9 << 3) | WT_LEN;

/// Reads one `Span.attributes` entry (its tag already consumed) and keeps it when
/// `normalize` reads that key.
#[inline(always)]
fn attribute<'a>(
    s: &mut Msg<'a>,
    keys: &AttrKeys,
    span: &mut SpanView<'a>,
) -> Result<(), DecodeError> {
    let kv = s.len_delimited(F_KEY_VALUE)?;
    let (key, value) = match key_value_fast(&kv) {
        Some(split) => split,
        None => key_value(kv)?,
    };
    let Some(attr) = keys.lookup(key) else {
        return Ok(());
    };
    let value = match value {
        // A credential's value is never looked at, only its presence.
        _ if attr == AttrKey::Credential => AttrValue::Present,
        Some(v) => any_value(v)?,
        None => AttrValue::Present,
    };
    span.attrs.push((attr, value));
    Ok(())
}

fn decode_span<'a>(
    mut s: Msg<'a>,
    keys: &AttrKeys,
    span: &mut SpanView<'a>,
) -> Result<(), DecodeError> {
    span.clear();
    let mut name: &[u8] = &[];
    // An id of the wrong length makes the span unusable, not the request malformed: the
    // rest of the span is still read, so a structural error after it rejects the request
    // as a full decode would, and only then is the id's problem returned.
    let mut bad_id: Option<BadId> = None;
    while s.more() {
        let (number, wt) = s.tag(F_SPAN)?;
        match number {
            1 => {
                let at = s.pos;
                let bytes = s.bytes(wt, F_TRACE_ID)?;
                if !set_id(&mut span.trace_id, bytes) {
                    bad_id.get_or_insert((at, F_TRACE_ID, 16, bytes.len()));
                }
            }
            2 => {
                let at = s.pos;
                let bytes = s.bytes(wt, F_SPAN_ID)?;
                if !set_id(&mut span.span_id, bytes) {
                    bad_id.get_or_insert((at, F_SPAN_ID, 8, bytes.len()));
                }
            }
            4 => {
                let at = s.pos;
                let bytes = s.bytes(wt, F_PARENT_SPAN_ID)?;
                if !set_id(&mut span.parent_span_id, bytes) {
                    bad_id.get_or_insert((at, F_PARENT_SPAN_ID, 8, bytes.len()));
                }
            }
            5 => name = s.bytes(wt, F_NAME)?,
            // Enums are int32 on the wire: truncation is what protobuf specifies.
            6 => span.kind = SpanKind::from_i32(s.varint_field(wt, F_KIND)? as i32),
            7 => span.start_unix_nano = s.fixed64(wt, F_START)?,
            8 => span.end_unix_nano = s.fixed64(wt, F_END)?,
            9 => {
                s.expect(wt, WT_LEN, F_KEY_VALUE)?;
                loop {
                    attribute(&mut s, keys, span)?;
                    // Attributes are written one after another: read the next one here
                    // instead of going back through the dispatch on field numbers.
                    if s.more() && s.data[s.pos] == TAG_9_LEN {
                        s.pos += 1;
                    } else {
                        break;
                    }
                }
            }
            _ => s.skip(number, wt, F_SPAN)?,
        }
    }
    if let Some((at, field, expected, found)) = bad_id {
        return Err(err(at, field, WireProblem::IdLength { expected, found }));
    }
    // Only the names of in-process spans are read (auth middleware); the kind may come
    // after the name on the wire, so the name is validated once both are known.
    if span.name_is_read() {
        span.name = utf8(name);
    }
    Ok(())
}
