//! A bounded, time-limited join table keyed by span: what lets a child or parent span that
//! arrives in another export batch still find its partner, without ever holding more than
//! `capacity` entries or anything older than `ttl`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::model::SpanRef;

pub(crate) struct Window<V> {
    ttl: Duration,
    capacity: usize,
    map: HashMap<SpanRef, (V, Instant)>,
    /// Insertion order, for expiry and capacity eviction. May hold entries already taken
    /// out of `map`; it is bounded by `capacity` all the same.
    order: VecDeque<(SpanRef, Instant)>,
    /// Live entries dropped before their partner arrived (expired or evicted).
    pub(crate) dropped: u64,
}

impl<V> Window<V> {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Window<V> {
        Window {
            ttl,
            capacity: capacity.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
            dropped: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops entries older than the window.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(&(key, at)) = self.order.front() {
            if now.saturating_duration_since(at) < self.ttl {
                break;
            }
            self.order.pop_front();
            self.remove_if_live(key, at);
        }
    }

    fn remove_if_live(&mut self, key: SpanRef, at: Instant) {
        if self.map.get(&key).is_some_and(|(_, t)| *t == at) {
            self.map.remove(&key);
            self.dropped += 1;
        }
    }

    /// Inserts (or replaces) an entry; the oldest entry makes room when the window is full.
    pub(crate) fn insert(&mut self, key: SpanRef, value: V, now: Instant) {
        while self.order.len() >= self.capacity {
            if let Some((k, at)) = self.order.pop_front() {
                self.remove_if_live(k, at);
            }
        }
        self.map.insert(key, (value, now));
        self.order.push_back((key, now));
    }

    pub(crate) fn take(&mut self, key: &SpanRef) -> Option<V> {
        self.map.remove(key).map(|(v, _)| v)
    }

    pub(crate) fn get_mut(&mut self, key: &SpanRef) -> Option<&mut V> {
        self.map.get_mut(key).map(|(v, _)| v)
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: u8) -> SpanRef {
        SpanRef {
            trace_id: [n; 16],
            span_id: [n; 8],
        }
    }

    #[test]
    fn capacity_evicts_oldest_and_counts_it() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(60), 2);
        w.insert(r(1), 1, t0);
        w.insert(r(2), 2, t0);
        w.insert(r(3), 3, t0);
        assert_eq!(w.len(), 2);
        assert_eq!(w.take(&r(1)), None);
        assert_eq!(w.take(&r(3)), Some(3));
        assert_eq!(w.dropped, 1);
    }

    #[test]
    fn ttl_expires_entries() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(60), 10);
        w.insert(r(1), 1, t0);
        w.insert(r(2), 2, t0 + Duration::from_secs(30));
        w.expire(t0 + Duration::from_secs(61));
        assert_eq!(w.take(&r(1)), None);
        assert_eq!(w.take(&r(2)), Some(2));
    }

    #[test]
    fn taken_entries_still_bound_the_order_queue() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(60), 3);
        for i in 0..100u8 {
            w.insert(r(i), i, t0);
            assert_eq!(w.take(&r(i)), Some(i));
        }
        assert!(w.order.len() <= 3);
        assert_eq!(w.dropped, 0);
    }
}
