//! Recognising an export request already stored: a 128-bit digest of its bytes, and the
//! bounded set of recent digests that `ingest` and the receivers consult before counting an
//! export. Owns xxhash-rust.
//!
//! Re-ingesting a file, or an OTLP exporter retrying an export whose acknowledgement was
//! lost after the commit, sends byte-identical requests; counting them again would double
//! every count. Exact duplicates within the window (the last [`RecentExports::CAPACITY`]
//! exports) are skipped. A retry the exporter re-encodes differently (another batch split,
//! other attribute order) has another digest and is counted twice: receivers stay
//! at-least-once from the exporter's side.
//!
//! The digests are persisted with the data they describe (same transaction, see
//! [`super::Store::apply_exports`]), so after a restart the window still holds them, and a
//! digest is never stored without its counts or the other way round.

use std::collections::{HashMap, VecDeque};

/// xxh3-128 of an export request's bytes as decoded from the wire (after gzip): fast
/// (several GB/s, far below decoding's cost) and with collisions negligible at any realistic
/// volume (2^-128 per pair), which matters because a collision drops a genuine export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExportDigest(pub u128);

impl ExportDigest {
    pub fn of(bytes: &[u8]) -> ExportDigest {
        ExportDigest(xxhash_rust::xxh3::xxh3_128(bytes))
    }

    pub(super) fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    pub(super) fn from_bytes(b: &[u8]) -> Option<ExportDigest> {
        Some(ExportDigest(u128::from_be_bytes(b.try_into().ok()?)))
    }
}

/// What the window knows of a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not seen: now in flight (count it, then [`RecentExports::commit`] or
    /// [`RecentExports::abort`]).
    New,
    /// Stored: skip it and acknowledge.
    Stored,
    /// The same bytes are being counted right now (a retry racing its original): neither
    /// count nor acknowledge it yet; ask for a retry, which will find it stored, or new
    /// again if the original's commit failed.
    InFlight,
}

/// The digests of the last [`RecentExports::CAPACITY`] stored exports, oldest first, and of
/// those in flight. In memory; the store keeps the same window on disk.
#[derive(Debug, Default)]
pub struct RecentExports {
    /// `true` when stored, `false` while in flight.
    state: HashMap<ExportDigest, bool, foldhash::fast::RandomState>,
    /// Stored digests, oldest first, for eviction.
    order: VecDeque<ExportDigest>,
}

impl RecentExports {
    /// How many stored exports are remembered (16 bytes each on disk, about 50 in memory):
    /// a day of exports from a busy collector at one export a second, many re-runs of
    /// `ingest` of large files.
    pub const CAPACITY: usize = 100_000;

    /// A window holding `stored` (oldest first), e.g. as read back from the store.
    pub fn with_stored(stored: impl IntoIterator<Item = ExportDigest>) -> RecentExports {
        let mut r = RecentExports::default();
        r.commit(stored);
        r
    }

    /// Looks `d` up, marking it in flight when new.
    pub fn begin(&mut self, d: ExportDigest) -> Seen {
        match self.state.get(&d) {
            Some(true) => Seen::Stored,
            Some(false) => Seen::InFlight,
            None => {
                self.state.insert(d, false);
                Seen::New
            }
        }
    }

    /// The exports were stored: remember them, forgetting the oldest beyond the capacity.
    pub fn commit(&mut self, digests: impl IntoIterator<Item = ExportDigest>) {
        for d in digests {
            if self.state.insert(d, true) != Some(true) {
                self.order.push_back(d);
            }
        }
        while self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.state.remove(&old);
            }
        }
    }

    /// The exports were not stored (decode or commit failed): a retry must count them.
    pub fn abort(&mut self, digests: impl IntoIterator<Item = ExportDigest>) {
        for d in digests {
            if self.state.get(&d) == Some(&false) {
                self.state.remove(&d);
            }
        }
    }

    /// Stored digests remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u128) -> ExportDigest {
        ExportDigest(n)
    }

    #[test]
    fn identical_bytes_have_one_digest_and_one_byte_more_another() {
        let a = br#"{"resourceSpans":[]}"#;
        // The same bytes elsewhere in memory.
        let copy = a.to_vec();
        assert_eq!(ExportDigest::of(a), ExportDigest::of(copy.as_slice()));
        assert_ne!(
            ExportDigest::of(a),
            ExportDigest::of(br#"{"resourceSpans":[] }"#)
        );
        let x = ExportDigest::of(a);
        assert_eq!(ExportDigest::from_bytes(&x.to_bytes()), Some(x));
    }

    #[test]
    fn a_digest_is_new_then_in_flight_then_stored() {
        let mut r = RecentExports::default();
        assert_eq!(r.begin(d(1)), Seen::New);
        assert_eq!(r.begin(d(1)), Seen::InFlight);
        r.commit([d(1)]);
        assert_eq!(r.begin(d(1)), Seen::Stored);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn an_aborted_export_counts_when_retried() {
        let mut r = RecentExports::default();
        assert_eq!(r.begin(d(7)), Seen::New);
        r.abort([d(7)]);
        assert_eq!(r.begin(d(7)), Seen::New);
        // Aborting never forgets a stored export.
        r.commit([d(7)]);
        r.abort([d(7)]);
        assert_eq!(r.begin(d(7)), Seen::Stored);
    }

    #[test]
    fn the_window_forgets_the_oldest_beyond_its_capacity() {
        let n = RecentExports::CAPACITY as u128;
        let mut r = RecentExports::with_stored((0..n).map(d));
        assert_eq!(r.begin(d(0)), Seen::Stored);
        r.commit([d(n), d(n + 1)]);
        assert_eq!(r.len(), RecentExports::CAPACITY);
        assert_eq!(r.begin(d(1)), Seen::New, "evicted");
        assert_eq!(r.begin(d(2)), Seen::Stored);
        assert_eq!(r.begin(d(n + 1)), Seen::Stored);
    }
}
