//! Id tables (the catalog's items, the users): host string ids ↔ dense slots, without one
//! heap allocation per id.
//!
//! Ids live back to back in one byte arena; each slot holds a packed `(offset, length)` word,
//! and the reverse map is a `hashbrown::HashTable` of bare slot numbers whose keys are read
//! from the arena. Per item this costs the id's bytes, 8 bytes of span and about 5–10 bytes
//! of table — against ~80 bytes for an `Arc<str>` per slot plus a `HashMap<Arc<str>, u32>` —
//! and leaves no small allocations scattered through the heap. Bytes of removed ids are
//! reclaimed by compacting the arena once they are more than half of it.

mod image;

use crate::util::mapped::Buf;
use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};

/// Bits of a span word that hold the id's length (ids are at most
/// [`MAX_ID_BYTES`](crate::MAX_ID_BYTES) = 4096 bytes long).
const LEN_BITS: u32 = 13;
const LEN_MASK: u64 = (1 << LEN_BITS) - 1;
/// Longest item or user id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 4096;

const _: () = assert!(MAX_ID_BYTES as u64 <= LEN_MASK);

#[derive(Default)]
pub(crate) struct IdTable {
    /// The arena and the spans are owned, or views of a read-only engine's mapped file.
    bytes: Buf<u8>,
    /// Per slot: `offset << LEN_BITS | len`; 0 for a free slot (ids are never empty).
    spans: Buf<u64>,
    table: HashTable<u32>,
    hasher: RandomState,
    /// A mapped table (read-only engines): the file's buckets, looked up in place instead
    /// of `table` (empty otherwise; any change first builds `table`, see `own`).
    mapped: Option<image::Buckets>,
    /// Arena bytes that belong to removed ids.
    garbage: usize,
}

impl std::fmt::Debug for IdTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTable")
            .field("slots", &self.spans.len())
            .field("live", &self.len())
            .finish()
    }
}

/// The id a span covers. Spans an engine made always cover whole UTF-8 ids; a mapped
/// file's are only checked in full by `Engine::verify`, so a span outside the arena or
/// over bytes that are not UTF-8 reads as U+FFFD rather than failing.
fn text(bytes: &[u8], span: u64) -> &str {
    let (start, len) = ((span >> LEN_BITS) as usize, (span & LEN_MASK) as usize);
    start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("\u{FFFD}")
}

impl IdTable {
    /// Number of slots (live and free).
    pub(crate) fn slots(&self) -> usize {
        self.spans.len()
    }
    /// Number of live ids.
    pub(crate) fn len(&self) -> usize {
        match &self.mapped {
            Some(m) => m.live(),
            None => self.table.len(),
        }
    }
    /// Replaces a mapped table by an owned one (before any change).
    fn own(&mut self) {
        if self.mapped.take().is_some() {
            let (hasher, bytes, spans) = (&self.hasher, &self.bytes, &self.spans);
            self.table = HashTable::with_capacity(spans.len());
            for (s, &span) in spans.iter().enumerate().filter(|(_, s)| **s != 0) {
                let h = hasher.hash_one(text(bytes, span));
                self.table.insert_unique(h, s as u32, |&o| {
                    hasher.hash_one(text(bytes, spans[o as usize]))
                });
            }
        }
    }
    /// Reserves room for `additional` more ids of `bytes` bytes in all.
    pub(crate) fn reserve(&mut self, additional: usize, bytes: usize) {
        self.own();
        self.spans.make_mut().reserve(additional);
        self.bytes.make_mut().reserve(bytes);
        let hasher = &self.hasher;
        let (bytes, spans) = (&self.bytes, &self.spans);
        self.table.reserve(additional, |&s| {
            hasher.hash_one(text(bytes, spans[s as usize]))
        });
    }
    /// Appends a free slot.
    pub(crate) fn push_free(&mut self) {
        self.own();
        self.spans.make_mut().push(0);
    }
    /// Whether a slot holds an id (one word read; [`IdTable::get`] also checks the text).
    #[inline]
    pub(crate) fn is_live(&self, slot: u32) -> bool {
        self.spans.get(slot as usize).is_some_and(|&s| s != 0)
    }
    /// The id of a slot, `None` for a free one.
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> Option<&str> {
        match self.spans.get(slot as usize) {
            Some(&span) if span != 0 => Some(text(&self.bytes, span)),
            _ => None,
        }
    }
    /// Hints the CPU to load the span word of a slot (step 1 of [`IdTable::prefetch_text`]).
    #[inline]
    pub(crate) fn prefetch_span(&self, slot: u32) {
        if let Some(span) = self.spans.get(slot as usize) {
            crate::util::prefetch::prefetch_ptr((span as *const u64).cast(), 1);
        }
    }

    /// Hints the CPU to load the bytes of a slot's id (its span word read, so best after
    /// [`IdTable::prefetch_span`] of the same slot had time to land): turning a result's
    /// slots into ids then costs overlapping misses instead of two dependent ones per id.
    #[inline]
    pub(crate) fn prefetch_text(&self, slot: u32) {
        if let Some(&span) = self.spans.get(slot as usize)
            && let Some(b) = self.bytes.get((span >> LEN_BITS) as usize)
        {
            let len = (span & LEN_MASK) as usize;
            crate::util::prefetch::prefetch_ptr(
                b,
                (len + (b as *const u8 as usize % 64)).div_ceil(64),
            );
        }
    }

    /// The slot of an id.
    pub(crate) fn slot_of(&self, id: &str) -> Option<u32> {
        if let Some(m) = &self.mapped {
            return m.find(id, |s| self.get(s));
        }
        self.find(self.hasher.hash_one(id), id)
    }
    fn find(&self, hash: u64, id: &str) -> Option<u32> {
        let (bytes, spans) = (&self.bytes, &self.spans);
        self.table
            .find(hash, |&s| text(bytes, spans[s as usize]) == id)
            .copied()
    }
    /// Gives a free slot the id `id`, which must be non-empty, at most `MAX_ID_BYTES` long
    /// and not present. Returns false (changing nothing) when the id is already present.
    pub(crate) fn insert(&mut self, slot: u32, id: &str) -> bool {
        debug_assert!(!id.is_empty() && id.len() as u64 <= LEN_MASK);
        self.own();
        debug_assert_eq!(self.spans[slot as usize], 0, "slot {slot} is not free");
        let h = self.hasher.hash_one(id);
        if self.find(h, id).is_some() {
            return false;
        }
        let span = ((self.bytes.len() as u64) << LEN_BITS) | id.len() as u64;
        self.bytes.make_mut().extend_from_slice(id.as_bytes());
        self.spans.make_mut()[slot as usize] = span;
        let (hasher, bytes, spans) = (&self.hasher, &self.bytes, &self.spans);
        self.table.insert_unique(h, slot, |&s| {
            hasher.hash_one(text(bytes, spans[s as usize]))
        });
        true
    }
    /// Frees a slot; returns false when it was already free.
    pub(crate) fn remove(&mut self, slot: u32) -> bool {
        self.own();
        let span = self.spans[slot as usize];
        if span == 0 {
            return false;
        }
        let h = self.hasher.hash_one(text(&self.bytes, span));
        if let Ok(entry) = self.table.find_entry(h, |&s| s == slot) {
            entry.remove();
        }
        self.spans.make_mut()[slot as usize] = 0;
        self.garbage += (span & LEN_MASK) as usize;
        if self.garbage > 4096 && self.garbage * 2 > self.bytes.len() {
            self.compact();
        }
        true
    }
    /// Rewrites the arena without the bytes of removed ids.
    fn compact(&mut self) {
        let mut bytes = Vec::with_capacity(self.bytes.len() - self.garbage);
        let old = std::mem::take(&mut self.bytes);
        for span in self.spans.make_mut().iter_mut().filter(|s| **s != 0) {
            let id = text(&old, *span);
            let new = ((bytes.len() as u64) << LEN_BITS) | id.len() as u64;
            bytes.extend_from_slice(id.as_bytes());
            *span = new;
        }
        self.bytes = Buf::Owned(bytes);
        self.garbage = 0;
    }
    /// Live slots with their ids, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        self.spans
            .iter()
            .enumerate()
            .filter(|(_, s)| **s != 0)
            .map(|(i, &s)| (i as u32, text(&self.bytes, s)))
    }
    /// Bytes held (for memory accounting and tests).
    #[cfg(test)]
    fn arena_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_remove_reuse_and_compact() {
        let mut t = IdTable::default();
        for i in 0..10_000u32 {
            t.push_free();
            assert!(t.insert(i, &format!("item-{i}")));
        }
        assert_eq!(t.len(), 10_000);
        assert_eq!(t.slot_of("item-1234"), Some(1234));
        assert_eq!(t.get(1234), Some("item-1234"));
        assert_eq!(t.slot_of("item-10000"), None);
        let before = t.arena_len();
        for i in (0..10_000u32).filter(|i| i % 4 != 0) {
            assert!(t.remove(i));
        }
        assert!(!t.remove(1));
        assert!(t.arena_len() < before / 2, "arena compacted");
        assert_eq!(t.len(), 2_500);
        for i in 0..10_000u32 {
            let want = (i % 4 == 0).then(|| format!("item-{i}"));
            assert_eq!(t.get(i).map(str::to_string), want);
            assert_eq!(t.slot_of(&format!("item-{i}")), (i % 4 == 0).then_some(i));
        }
        assert!(t.insert(1, "renamed"));
        assert_eq!(t.slot_of("renamed"), Some(1));
        assert_eq!(t.iter().count(), 2_501);
        assert!(t.iter().all(|(s, id)| t.slot_of(id) == Some(s)));
    }

    #[test]
    fn duplicate_id_is_refused() {
        let mut t = IdTable::default();
        t.push_free();
        t.push_free();
        assert!(t.insert(0, "a"));
        assert!(!t.insert(1, "a"));
        assert_eq!(t.get(1), None);
        assert_eq!(t.len(), 1);
    }
}
