//! Reading a request body within a size limit, for both receivers. A body that arrives in
//! one frame (the usual case for OTLP/HTTP, and for gRPC messages under the HTTP/2 frame
//! size) is passed on without a copy; one in several frames is copied once into a buffer
//! sized from what the request says to expect, but never more than [`AHEAD`] beyond what
//! has arrived, so a declared size alone cannot make the receiver commit memory.

use bytes::{Buf, Bytes};
use http_body::Body;

/// How far ahead of the bytes received a buffer is reserved: the gRPC receiver's HTTP/2
/// stream window, which is what an exporter may send before it needs more credit.
pub(super) const AHEAD: usize = 2 << 20;

/// The body, or `None` as soon as it exceeds `max` bytes. `expected` is asked once, with
/// the first frame, for the size the whole body should have (Content-Length, a gRPC
/// length prefix), when the body turns out to need more than one frame.
pub(super) async fn read_limited<B>(
    body: B,
    max: usize,
    expected: impl FnOnce(&[u8]) -> Option<usize>,
) -> Result<Option<Bytes>, B::Error>
where
    B: Body,
{
    let mut body = std::pin::pin!(body);
    let mut expected = Some(expected);
    let mut first: Option<Bytes> = None;
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(mut data) = frame?.into_data() else {
            continue; // trailers carry nothing an export needs
        };
        let data = data.copy_to_bytes(data.remaining());
        let have = first.as_ref().map_or(buf.len(), Bytes::len);
        if have + data.len() > max {
            return Ok(None);
        }
        if data.is_empty() {
            continue;
        }
        if first.is_none() && buf.is_empty() {
            first = Some(data);
            continue;
        }
        if let Some(f) = first.take() {
            let want = expected.take().and_then(|e| e(&f)).unwrap_or(0);
            let need = f.len() + data.len();
            buf.reserve(want.min(max).min(f.len() + AHEAD).max(need));
            buf.extend_from_slice(&f);
        }
        buf.extend_from_slice(&data);
    }
    Ok(Some(first.unwrap_or_else(|| Bytes::from(buf))))
}
