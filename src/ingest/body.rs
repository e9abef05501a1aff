//! Reading a request body within a size limit, a deadline and a budget shared by every
//! request of both receivers. A body that arrives in one frame (the usual case for
//! OTLP/HTTP, and for gRPC messages under the HTTP/2 frame size) is passed on without a
//! copy; one in several frames is copied once into a buffer sized from what the request says
//! to expect, but never more than [`AHEAD`] beyond what has arrived, so a declared size
//! alone cannot make the receiver commit memory.
//!
//! The budget ([`BodyBudget`]) bounds the bytes held by all bodies being read or handled at
//! once, whatever senders do: a thousand uploads that stall half-way hold at most the
//! budget, and a request that would go over it is answered "retry later" at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::Body;

/// How far ahead of the bytes received a buffer is reserved: the gRPC receiver's HTTP/2
/// stream window, which is what an exporter may send before it needs more credit.
pub(super) const AHEAD: usize = 2 << 20;

/// Bytes all request bodies together may hold: received, buffered or decompressed.
#[derive(Debug)]
pub struct BodyBudget {
    limit: usize,
    used: AtomicUsize,
}

impl BodyBudget {
    /// 256 MiB: sixteen exports at the 16 MiB size limit, thousands of typical ones.
    pub const DEFAULT_BYTES: usize = 256 << 20;

    pub fn new(limit: usize) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub(super) fn lease(self: &Arc<Self>) -> Lease {
        Lease {
            budget: self.clone(),
            held: 0,
        }
    }
}

/// One request's share of the budget, given back when dropped.
#[derive(Debug)]
pub(super) struct Lease {
    budget: Arc<BodyBudget>,
    held: usize,
}

impl Lease {
    /// Holds `bytes` in all (more or fewer than now); `false`, holding what it held, when
    /// the budget has not that much left.
    pub(super) fn hold(&mut self, bytes: usize) -> bool {
        if bytes <= self.held {
            self.budget
                .used
                .fetch_sub(self.held - bytes, Ordering::Relaxed);
            self.held = bytes;
            return true;
        }
        let more = bytes - self.held;
        let limit = self.budget.limit;
        let grown = self
            .budget
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(more).filter(|&u| u <= limit)
            });
        if grown.is_ok() {
            self.held = bytes;
        }
        grown.is_ok()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.held, Ordering::Relaxed);
    }
}

/// Why a body was not read whole.
#[derive(Debug)]
pub(super) enum ReadError<E> {
    /// The connection failed or the client reset the request.
    Body(E),
    /// Longer than the limit.
    TooLarge,
    /// All bodies together would hold more than the budget: retry later.
    Overloaded,
    /// Not all there within the deadline.
    TimedOut,
}

/// The body, read within `max` bytes, `deadline` and `lease`'s budget (which then holds the
/// body's bytes until the caller drops it). `expected` is asked once, with the first frame,
/// for the size the whole body should have (Content-Length, a gRPC length prefix), when
/// the body turns out to need more than one frame.
pub(super) async fn read_limited<B>(
    body: B,
    max: usize,
    deadline: Duration,
    lease: &mut Lease,
    expected: impl FnOnce(&[u8]) -> Option<usize>,
) -> Result<Bytes, ReadError<B::Error>>
where
    B: Body,
{
    match tokio::time::timeout(deadline, read(body, max, lease, expected)).await {
        Ok(r) => r,
        Err(_) => Err(ReadError::TimedOut),
    }
}

async fn read<B>(
    body: B,
    max: usize,
    lease: &mut Lease,
    expected: impl FnOnce(&[u8]) -> Option<usize>,
) -> Result<Bytes, ReadError<B::Error>>
where
    B: Body,
{
    let mut body = std::pin::pin!(body);
    let mut expected = Some(expected);
    let mut first: Option<Bytes> = None;
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(mut data) = frame.map_err(ReadError::Body)?.into_data() else {
            continue; // trailers carry nothing an export needs
        };
        let data = data.copy_to_bytes(data.remaining());
        let have = first.as_ref().map_or(buf.len(), Bytes::len);
        if have + data.len() > max {
            return Err(ReadError::TooLarge);
        }
        if data.is_empty() {
            continue;
        }
        if first.is_none() && buf.is_empty() {
            if !lease.hold(data.len()) {
                return Err(ReadError::Overloaded);
            }
            first = Some(data);
            continue;
        }
        if let Some(f) = first.take() {
            let want = expected.take().and_then(|e| e(&f)).unwrap_or(0);
            let need = f.len() + data.len();
            let reserve = want.min(max).min(f.len() + AHEAD).max(need);
            // The first frame and the buffer both exist while it is copied.
            if !lease.hold(f.len() + reserve) {
                return Err(ReadError::Overloaded);
            }
            buf.reserve(reserve);
            buf.extend_from_slice(&f);
        }
        let need = buf.len() + data.len();
        if need > buf.capacity() {
            // Vec doubles: hold what it will have before it does.
            if !lease.hold(need.max(buf.capacity() * 2).min(max)) {
                return Err(ReadError::Overloaded);
            }
        }
        buf.extend_from_slice(&data);
        if !lease.hold(buf.capacity()) {
            return Err(ReadError::Overloaded);
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_share_the_budget_and_give_it_back() {
        let budget = BodyBudget::new(100);
        let mut a = budget.lease();
        let mut b = budget.lease();
        assert!(a.hold(60));
        assert!(!b.hold(50), "60 + 50 is over 100");
        assert!(b.hold(40));
        assert_eq!(budget.used(), 100);
        assert!(a.hold(10), "shrinking always works");
        assert_eq!(budget.used(), 50);
        drop(a);
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
