//! A small in-process cache whose entries expire: what servers keep briefly about players (names,
//! friend lists, blocks) to spare MySQL a read per request. Bounded: past `max` entries it is
//! cleared, so it never grows with traffic. Its lock is never held across an `.await`.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A map whose entries expire `ttl` after they were put.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    max: usize,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// A cache of at most `max` entries, each kept `ttl`.
    pub fn new(ttl: Duration, max: usize) -> Self {
        TtlCache { ttl, max, map: Mutex::new(HashMap::new()) }
    }

    /// The value under `k`, if it was put less than `ttl` ago.
    pub fn get(&self, k: &K) -> Option<V> {
        let map = self.map.lock();
        map.get(k).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    /// Puts `v` under `k`; a full cache is cleared first.
    pub fn put(&self, k: K, v: V) {
        let mut map = self.map.lock();
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(k, (Instant::now(), v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_a_full_cache_starts_over() {
        let c = TtlCache::new(Duration::from_secs(3600), 2);
        c.put(1, "a");
        c.put(2, "b");
        assert_eq!((c.get(&1), c.get(&2)), (Some("a"), Some("b")));
        c.put(3, "c");
        assert_eq!((c.get(&1), c.get(&3)), (None, Some("c")));
        let quick = TtlCache::new(Duration::ZERO, 10);
        quick.put(1, "a");
        assert_eq!(quick.get(&1), None);
    }
}
