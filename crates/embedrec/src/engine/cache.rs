//! LRU result cache bounded by entries and bytes, with an optional TTL.
//!
//! Keys are canonical byte encodings of a request *including the engine epoch*, so a result
//! computed before a mutation can never be served after it, even if it is inserted late.
//! The engine also clears the cache on every mutation to release memory at once.

use crate::Hit;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NIL: usize = usize::MAX;

struct Node {
    key: Arc<[u8]>,
    value: Arc<Vec<Hit>>,
    bytes: usize,
    inserted: Instant,
    prev: usize,
    next: usize,
}

/// Counters of the cache, as reported by [`Engine::stats`](crate::Engine::stats).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to compute the result.
    pub misses: u64,
    /// Entries dropped to respect the entry or byte bound.
    pub evictions: u64,
    /// Entries found but older than the TTL.
    pub expirations: u64,
    /// Times the cache was cleared because the engine changed.
    pub invalidations: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes held now (keys, ids and scores, plus bookkeeping).
    pub bytes: u64,
    /// Entry bound.
    pub capacity: u64,
    /// Byte bound.
    pub max_bytes: u64,
    /// `hits / (hits + misses)`, 0 when nothing was looked up.
    pub hit_rate: f64,
}

pub(crate) struct ResultCache {
    capacity: usize,
    max_bytes: usize,
    ttl: Option<Duration>,
    map: HashMap<Arc<[u8]>, usize>,
    nodes: Vec<Node>,
    free: Vec<usize>,
    head: usize, // most recent
    tail: usize, // least recent
    bytes: usize,
    stats: CacheStats,
}

/// Approximate heap size of a cached result.
pub(crate) fn result_bytes(key_len: usize, hits: &[Hit]) -> usize {
    128 + key_len
        + hits
            .iter()
            .map(|h| std::mem::size_of::<Hit>() + h.id.len())
            .sum::<usize>()
}

impl ResultCache {
    pub(crate) fn new(capacity: usize, max_bytes: usize, ttl_secs: Option<f64>) -> Self {
        ResultCache {
            capacity,
            max_bytes,
            ttl: ttl_secs.map(Duration::from_secs_f64),
            map: HashMap::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
            stats: CacheStats::default(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0 && self.max_bytes > 0
    }

    fn unlink(&mut self, i: usize) {
        let (p, n) = (self.nodes[i].prev, self.nodes[i].next);
        if p != NIL {
            self.nodes[p].next = n
        } else {
            self.head = n
        }
        if n != NIL {
            self.nodes[n].prev = p
        } else {
            self.tail = p
        }
    }

    fn push_front(&mut self, i: usize) {
        self.nodes[i].prev = NIL;
        self.nodes[i].next = self.head;
        if self.head != NIL {
            self.nodes[self.head].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    fn drop_node(&mut self, i: usize) {
        self.unlink(i);
        let key = self.nodes[i].key.clone();
        self.map.remove(&key);
        self.bytes -= self.nodes[i].bytes;
        self.nodes[i].value = Arc::new(Vec::new());
        self.nodes[i].key = Arc::from(&[][..]);
        self.free.push(i);
    }

    pub(crate) fn get(&mut self, key: &[u8]) -> Option<Arc<Vec<Hit>>> {
        if !self.enabled() {
            return None;
        }
        let Some(&i) = self.map.get(key) else {
            self.stats.misses += 1;
            return None;
        };
        if let Some(ttl) = self.ttl
            && self.nodes[i].inserted.elapsed() > ttl
        {
            self.drop_node(i);
            self.stats.expirations += 1;
            self.stats.misses += 1;
            return None;
        }
        self.unlink(i);
        self.push_front(i);
        self.stats.hits += 1;
        Some(self.nodes[i].value.clone())
    }

    pub(crate) fn insert(&mut self, key: Vec<u8>, value: Arc<Vec<Hit>>) {
        if !self.enabled() {
            return;
        }
        let bytes = result_bytes(key.len(), &value);
        if bytes > self.max_bytes {
            return;
        }
        if let Some(&i) = self.map.get(key.as_slice()) {
            self.drop_node(i);
        }
        while self.map.len() >= self.capacity || self.bytes + bytes > self.max_bytes {
            if self.tail == NIL {
                break;
            }
            self.drop_node(self.tail);
            self.stats.evictions += 1;
        }
        let key: Arc<[u8]> = Arc::from(key);
        let node = Node {
            key: key.clone(),
            value,
            bytes,
            inserted: Instant::now(),
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.push_front(i);
        self.map.insert(key, i);
        self.bytes += bytes;
    }

    pub(crate) fn clear(&mut self) {
        if !self.map.is_empty() {
            self.stats.invalidations += 1;
        }
        self.map.clear();
        self.nodes.clear();
        self.free.clear();
        self.head = NIL;
        self.tail = NIL;
        self.bytes = 0;
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let mut s = self.stats.clone();
        s.entries = self.map.len() as u64;
        s.bytes = self.bytes as u64;
        s.capacity = self.capacity as u64;
        s.max_bytes = self.max_bytes as u64;
        let total = s.hits + s.misses;
        s.hit_rate = if total == 0 {
            0.0
        } else {
            s.hits as f64 / total as f64
        };
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(n: usize) -> Arc<Vec<Hit>> {
        Arc::new(
            (0..n)
                .map(|i| Hit {
                    id: Arc::from(format!("item{i}").as_str()),
                    score: i as f32,
                })
                .collect(),
        )
    }

    #[test]
    fn lru_order_and_entry_bound() {
        let mut c = ResultCache::new(2, 1 << 20, None);
        c.insert(b"a".to_vec(), hits(1));
        c.insert(b"b".to_vec(), hits(1));
        assert!(c.get(b"a").is_some()); // a is now most recent
        c.insert(b"c".to_vec(), hits(1)); // evicts b
        assert!(c.get(b"b").is_none());
        assert!(c.get(b"a").is_some());
        assert!(c.get(b"c").is_some());
        let s = c.stats();
        assert_eq!((s.entries, s.evictions, s.hits, s.misses), (2, 1, 3, 1));
    }

    #[test]
    fn byte_bound_is_respected() {
        let one = result_bytes(8, &hits(10));
        let mut c = ResultCache::new(1000, one * 3, None);
        for i in 0..50u64 {
            c.insert(i.to_le_bytes().to_vec(), hits(10));
            assert!(c.stats().bytes as usize <= one * 3);
        }
        assert_eq!(c.stats().entries, 3);
        // An entry larger than the whole budget is not stored.
        c.insert(b"huge".to_vec(), hits(10_000));
        assert!(c.get(b"huge").is_none());
    }

    #[test]
    fn ttl_expires_entries() {
        let mut c = ResultCache::new(10, 1 << 20, Some(0.02));
        c.insert(b"k".to_vec(), hits(1));
        assert!(c.get(b"k").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.get(b"k").is_none());
        assert_eq!(c.stats().expirations, 1);
    }

    #[test]
    fn disabled_cache_stores_nothing() {
        let mut c = ResultCache::new(0, 1 << 20, None);
        c.insert(b"k".to_vec(), hits(1));
        assert!(c.get(b"k").is_none());
        assert_eq!(c.stats().misses, 0);
    }
}
