//! A bounded, time-limited join table keyed by span: what lets a child or parent span that
//! arrives in another export batch still find its partner, without ever holding more than
//! `capacity` entries or keeping anything much older than `ttl`.
//!
//! Two generations instead of a per-entry expiry queue: inserts go to the current map;
//! when it is `ttl` old (or holds half the capacity) it becomes the previous one and the
//! old previous is dropped whole. An entry is therefore kept at least `ttl` (unless the
//! capacity forces it out) and at most about `2 × ttl`, for one hash insert per span.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::model::SpanRef;

/// Span ids are chosen by clients, so the hasher is seeded per process; foldhash is
/// several times cheaper than SipHash on these 24-byte keys, and this is the writer's
/// per-span cost.
type Map<V> = HashMap<SpanRef, V, foldhash::fast::RandomState>;

struct Generation<V> {
    map: Map<V>,
    started: Instant,
    last_insert: Instant,
}

impl<V> Generation<V> {
    fn new(now: Instant, hasher: &foldhash::fast::RandomState) -> Generation<V> {
        Generation {
            map: HashMap::with_hasher(hasher.clone()),
            started: now,
            last_insert: now,
        }
    }
}

pub(crate) struct Window<V> {
    ttl: Duration,
    /// Entries per generation: half the configured capacity.
    per_generation: usize,
    hasher: foldhash::fast::RandomState,
    current: Option<Generation<V>>,
    previous: Option<Generation<V>>,
    /// Live entries dropped before their partner arrived (expired or evicted).
    pub(crate) dropped: u64,
}

impl<V> Window<V> {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Window<V> {
        Window {
            ttl,
            per_generation: (capacity / 2).max(1),
            hasher: foldhash::fast::RandomState::default(),
            current: None,
            previous: None,
            dropped: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.current.as_ref().map_or(0, |g| g.map.len())
            + self.previous.as_ref().map_or(0, |g| g.map.len())
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn rotate(&mut self, now: Instant) {
        // The generation that falls out becomes the new current one, keeping its table:
        // under steady traffic every generation grows to the same size, and growing a
        // fresh table again each time rehashes every entry several times.
        let next = match self.previous.take() {
            Some(mut old) => {
                self.dropped += old.map.len() as u64;
                old.map.clear();
                old.started = now;
                old.last_insert = now;
                old
            }
            None => Generation::new(now, &self.hasher),
        };
        self.previous = self.current.take();
        self.current = Some(next);
    }

    /// Drops generations older than the window.
    pub(crate) fn expire(&mut self, now: Instant) {
        if self
            .current
            .as_ref()
            .is_some_and(|g| now.saturating_duration_since(g.started) >= self.ttl)
        {
            self.rotate(now);
        }
        if self
            .previous
            .as_ref()
            .is_some_and(|g| now.saturating_duration_since(g.last_insert) >= self.ttl)
        {
            if let Some(old) = self.previous.take() {
                self.dropped += old.map.len() as u64;
            }
        }
    }

    /// Inserts (or replaces) an entry; the older generation makes room when the window is full.
    pub(crate) fn insert(&mut self, key: SpanRef, value: V, now: Instant) {
        let full = match &self.current {
            None => true,
            Some(g) => g.map.len() >= self.per_generation,
        };
        if full {
            self.rotate(now);
        }
        if let Some(prev) = self.previous.as_mut() {
            prev.map.remove(&key);
        }
        if let Some(g) = self.current.as_mut() {
            g.map.insert(key, value);
            g.last_insert = now;
        }
    }

    pub(crate) fn take(&mut self, key: &SpanRef) -> Option<V> {
        if self.is_empty() {
            return None;
        }
        if let Some(v) = self.current.as_mut().and_then(|g| g.map.remove(key)) {
            return Some(v);
        }
        self.previous.as_mut().and_then(|g| g.map.remove(key))
    }

    pub(crate) fn get_mut(&mut self, key: &SpanRef) -> Option<&mut V> {
        if self.is_empty() {
            return None;
        }
        if self
            .current
            .as_ref()
            .is_some_and(|g| g.map.contains_key(key))
        {
            return self.current.as_mut().and_then(|g| g.map.get_mut(key));
        }
        self.previous.as_mut().and_then(|g| g.map.get_mut(key))
    }

    pub(crate) fn clear(&mut self) {
        self.current = None;
        self.previous = None;
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
    fn capacity_evicts_the_oldest_generation_and_counts_it() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(60), 4);
        for i in 1..=5 {
            w.insert(r(i), i, t0);
        }
        assert!(w.len() <= 4);
        assert_eq!(w.take(&r(1)), None);
        assert_eq!(w.take(&r(2)), None);
        assert_eq!(w.take(&r(3)), Some(3));
        assert_eq!(w.take(&r(5)), Some(5));
        assert_eq!(w.dropped, 2);
    }

    #[test]
    fn entries_live_at_least_ttl_and_expire_after() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = Window::new(s(60), 100);
        w.insert(r(1), 1, t0);
        w.insert(r(2), 2, t0 + s(59));
        // The current generation is 60 s old: it rotates, its entries stay findable.
        w.expire(t0 + s(61));
        assert_eq!(w.get_mut(&r(1)).copied(), Some(1));
        w.insert(r(3), 3, t0 + s(62));
        // 60 s after r(2), the previous generation (r(1), r(2)) is gone.
        w.expire(t0 + s(119));
        assert_eq!(w.take(&r(2)), None);
        assert_eq!(w.take(&r(1)), None);
        assert_eq!(w.take(&r(3)), Some(3));
        assert_eq!(w.dropped, 2);
    }

    #[test]
    fn reinserting_a_key_keeps_one_entry() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(60), 2);
        w.insert(r(1), 1, t0);
        w.insert(r(1), 2, t0);
        assert_eq!(w.len(), 1);
        assert_eq!(w.take(&r(1)), Some(2));
        assert_eq!(w.take(&r(1)), None);
    }

    /// Rotation reuses the evicted generation's table: none of its entries may survive
    /// into the new generation, and the new one must expire on its own clock.
    #[test]
    fn a_recycled_generation_starts_empty_and_fresh() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = Window::new(s(60), 4);
        for i in 1..=2 {
            w.insert(r(i), i, t0);
        }
        for i in 3..=4 {
            w.insert(r(i), i, t0 + s(10));
        }
        // Generation {1, 2} is evicted and recycled for 5; {3, 4} becomes the previous one.
        w.insert(r(5), 5, t0 + s(20));
        assert_eq!(w.dropped, 2);
        assert_eq!(w.len(), 3);
        assert_eq!(w.take(&r(1)), None);
        assert_eq!(w.take(&r(2)), None);
        // Started at t0 + 20 s, not at t0: still current at t0 + 70 s.
        w.expire(t0 + s(70));
        assert_eq!(w.get_mut(&r(5)).copied(), Some(5));
        assert_eq!(w.take(&r(3)), None, "{{3, 4}} outlived its ttl");
    }
}
