//! Trace files as exporters write them, split into the requests they hold, for
//! `shadowscan ingest` and `diff --traces`: OTLP/JSON lines (see [`super::json_lines`]) and
//! the three protobuf layouts met in practice. `TracesData`, what file exporters write, has
//! the same wire layout as `ExportTraceServiceRequest`, so each piece goes to
//! [`super::decode`] unchanged.

use super::Format;

/// How a protobuf trace file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtobufLayout {
    /// One message filling the whole file (e.g. a captured request body).
    Single,
    /// Each message preceded by its length as a 4-byte big-endian integer: the collector's
    /// file exporter with `format: proto`.
    BigEndianPrefixed,
    /// Each message preceded by its length as a varint ("delimited", as the OTLP file
    /// exporter specification and protobuf's `writeDelimitedTo` write them).
    VarintDelimited,
}

/// True when `input` starts with the gzip magic number (`.json.gz`, `.pb.gz` files).
pub fn is_gzip(input: &[u8]) -> bool {
    input.starts_with(&[0x1f, 0x8b])
}

/// Guesses a trace file's encoding from its first non-blank byte: `{` is OTLP/JSON,
/// anything else protobuf.
pub fn detect_format(input: &[u8]) -> Format {
    match input.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Format::Json,
        _ => Format::Protobuf,
    }
}

/// Splits a protobuf trace file into its messages, recognising the layout. Every message
/// of a non-empty request starts with tag `0x0a` (field 1, `resource_spans`), which tells the
/// layouts apart: a 4-byte big-endian prefix starts with `0x00` for any message under 16 MiB,
/// a single message with `0x0a`, and a framing is only accepted when it covers the file
/// exactly.
pub fn protobuf_messages(input: &[u8]) -> (ProtobufLayout, Vec<&[u8]>) {
    if input.is_empty() {
        return (ProtobufLayout::Single, Vec::new());
    }
    if let Some(frames) = big_endian_frames(input) {
        return (ProtobufLayout::BigEndianPrefixed, frames);
    }
    if input[0] == 0x0a && walks_to_end(input) {
        return (ProtobufLayout::Single, vec![input]);
    }
    if let Some(frames) = varint_frames(input) {
        return (ProtobufLayout::VarintDelimited, frames);
    }
    // None fits: hand the whole file to the decoder, whose error says where it breaks.
    (ProtobufLayout::Single, vec![input])
}

fn starts_like_request(frame: &[u8]) -> bool {
    frame.first().is_none_or(|&b| b == 0x0a)
}

fn big_endian_frames(input: &[u8]) -> Option<Vec<&[u8]>> {
    let mut frames = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (len, body) = rest.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if len > body.len() || !starts_like_request(&body[..len]) {
            return None;
        }
        frames.push(&body[..len]);
        rest = &body[len..];
    }
    Some(frames)
}

fn varint_frames(input: &[u8]) -> Option<Vec<&[u8]>> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let (len, after) = varint(input, pos)?;
        let end = after.checked_add(usize::try_from(len).ok()?)?;
        let frame = input.get(after..end)?;
        if !starts_like_request(frame) {
            return None;
        }
        frames.push(frame);
        pos = end;
    }
    Some(frames)
}

fn varint(input: &[u8], mut pos: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *input.get(pos)?;
        pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some((value, pos));
        }
    }
    None
}

/// True when the top level of `input` is a sequence of well-formed length-delimited
/// `resource_spans` fields ending exactly at the end of the input.
fn walks_to_end(input: &[u8]) -> bool {
    let mut pos = 0;
    while pos < input.len() {
        if input[pos] != 0x0a {
            return false;
        }
        let Some((len, after)) = varint(input, pos + 1) else {
            return false;
        };
        match usize::try_from(len).ok().and_then(|l| after.checked_add(l)) {
            Some(end) if end <= input.len() => pos = end,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{corpus, decode};
    use crate::model::AttrKeys;

    fn spans(frames: &[&[u8]]) -> u64 {
        frames
            .iter()
            .map(|f| {
                decode(f, Format::Protobuf, &AttrKeys::default(), |_, _| {})
                    .unwrap()
                    .spans
            })
            .sum()
    }

    #[test]
    fn detects_json_and_protobuf() {
        assert_eq!(detect_format(b"  \n{\"resourceSpans\":[]}"), Format::Json);
        assert_eq!(detect_format(&corpus::protobuf(3, 1)), Format::Protobuf);
        assert_eq!(detect_format(b""), Format::Protobuf);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"{}").unwrap();
        assert!(is_gzip(&gz.finish().unwrap()));
        assert!(!is_gzip(b"{}") && !is_gzip(&corpus::protobuf(3, 1)));
    }

    #[test]
    fn a_single_message_file() {
        let one = corpus::protobuf(25, 1);
        let (layout, frames) = protobuf_messages(&one);
        assert_eq!(layout, ProtobufLayout::Single);
        assert_eq!(spans(&frames), 25);
        assert_eq!(protobuf_messages(b"").1.len(), 0);
    }

    #[test]
    fn collector_file_exporter_big_endian_frames() {
        let mut file = Vec::new();
        for (n, seed) in [(10, 1), (200, 2), (1, 3)] {
            let m = corpus::protobuf(n, seed);
            file.extend_from_slice(&(m.len() as u32).to_be_bytes());
            file.extend_from_slice(&m);
        }
        let (layout, frames) = protobuf_messages(&file);
        assert_eq!(layout, ProtobufLayout::BigEndianPrefixed);
        assert_eq!(frames.len(), 3);
        assert_eq!(spans(&frames), 211);
    }

    #[test]
    fn varint_delimited_frames() {
        let mut file = Vec::new();
        for (n, seed) in [(10, 1), (200, 2)] {
            let m = corpus::protobuf(n, seed);
            let mut len = m.len();
            while len >= 0x80 {
                file.push(len as u8 | 0x80);
                len >>= 7;
            }
            file.push(len as u8);
            file.extend_from_slice(&m);
        }
        let (layout, frames) = protobuf_messages(&file);
        assert_eq!(layout, ProtobufLayout::VarintDelimited);
        assert_eq!(spans(&frames), 210);
    }

    #[test]
    fn a_truncated_file_goes_to_the_decoder_whole() {
        let mut one = corpus::protobuf(25, 1);
        one.truncate(one.len() - 10);
        let (_, frames) = protobuf_messages(&one);
        assert_eq!(frames.len(), 1);
        let err = decode(frames[0], Format::Protobuf, &AttrKeys::default(), |_, _| {});
        assert!(err.unwrap_err().to_string().contains("at byte"));
    }
}
