//! The catalog's id table: host string ids ↔ dense slots, without one heap allocation per id.
//!
//! Ids live back to back in one byte arena; each slot holds a packed `(offset, length)` word,
//! and the reverse map is a `hashbrown::HashTable` of bare slot numbers whose keys are read
//! from the arena. Per item this costs the id's bytes, 8 bytes of span and about 5–10 bytes
//! of table — against ~80 bytes for an `Arc<str>` per slot plus a `HashMap<Arc<str>, u32>` —
//! and leaves no small allocations scattered through the heap. Bytes of removed ids are
//! reclaimed by compacting the arena once they are more than half of it.

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

/// Magic and header size of an IDS section.
const IMAGE_MAGIC: &[u8; 4] = b"IDS1";
const IMAGE_HEAD: usize = 32;

#[derive(Default)]
pub(crate) struct IdTable {
    /// The arena and the spans are owned, or views of a read-only engine's mapped file.
    bytes: Buf<u8>,
    /// Per slot: `offset << LEN_BITS | len`; 0 for a free slot (ids are never empty).
    spans: Buf<u64>,
    table: HashTable<u32>,
    hasher: RandomState,
    /// Arena bytes that belong to removed ids.
    garbage: usize,
}

impl std::fmt::Debug for IdTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTable")
            .field("slots", &self.spans.len())
            .field("live", &self.table.len())
            .finish()
    }
}

fn text(bytes: &[u8], span: u64) -> &str {
    let (start, len) = ((span >> LEN_BITS) as usize, (span & LEN_MASK) as usize);
    // Every span covers bytes copied from a `&str` by `insert` or `compact`; the bounds and
    // UTF-8 checks (a few nanoseconds for an id) keep a broken span from becoming undefined
    // behaviour: it is a panic, which the bindings report as an internal error.
    std::str::from_utf8(&bytes[start..start + len]).expect("the id arena holds whole UTF-8 ids")
}

impl IdTable {
    /// Number of slots (live and free).
    pub(crate) fn slots(&self) -> usize {
        self.spans.len()
    }
    /// Number of live ids.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
    /// Reserves room for `additional` more ids of `bytes` bytes in all.
    pub(crate) fn reserve(&mut self, additional: usize, bytes: usize) {
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
        self.spans.make_mut().push(0);
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
    /// Writes the IDS section: `b"IDS1"`, 4 zero bytes, the slot count and the arena's length
    /// (u64 LE each), 8 zero bytes, then the span words (u64 LE per slot) and the arena, as
    /// they are in memory.
    pub(crate) fn write_image(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut head = Vec::with_capacity(IMAGE_HEAD);
        head.extend_from_slice(IMAGE_MAGIC);
        head.extend_from_slice(&[0; 4]);
        head.extend_from_slice(&(self.spans.len() as u64).to_le_bytes());
        head.extend_from_slice(&(self.bytes.len() as u64).to_le_bytes());
        head.extend_from_slice(&[0; 8]);
        w.write_all(&head)?;
        let spans: Vec<u8> = self.spans.iter().flat_map(|x| x.to_le_bytes()).collect();
        w.write_all(&spans)?;
        w.write_all(&self.bytes)
    }

    /// Reads an IDS section for `slots` slots: span words and arena viewed in place when the
    /// file is mapped, read otherwise; every span is checked (inside the arena, 1 to
    /// `MAX_ID_BYTES` bytes of UTF-8) and every id indexed (a repeated one is an error).
    pub(crate) fn read_image(
        r: &mut crate::codec::SectionReader<'_>,
        slots: usize,
    ) -> std::result::Result<Self, String> {
        let h = r.take(IMAGE_HEAD)?;
        let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().expect("8 bytes"));
        if &h[..4] != IMAGE_MAGIC {
            return Err("bad id table magic".into());
        }
        let (n, arena) = (u64_at(8), u64_at(16));
        if n != slots as u64 {
            return Err(format!("{n} id slots, the catalog has {slots}"));
        }
        if arena > r.remaining() {
            return Err(format!("arena of {arena} bytes exceeds the section"));
        }
        let arena = arena as usize;
        let spans: Buf<u64> = match r.view_bytes(slots * 8)? {
            Some((map, at)) => Buf::view(&map, at, slots).ok_or("spans misaligned")?,
            None => Buf::Owned(
                r.take(slots * 8)?
                    .chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect(),
            ),
        };
        let bytes: Buf<u8> = match r.view_bytes(arena)? {
            Some((map, at)) => Buf::view(&map, at, arena).ok_or("arena outside the file")?,
            None => Buf::Owned(r.take(arena)?.to_vec()),
        };
        let mut t = IdTable {
            bytes,
            spans,
            ..IdTable::default()
        };
        t.table.reserve(slots, |_| 0);
        for (s, &span) in t.spans.iter().enumerate() {
            if span == 0 {
                continue;
            }
            let (start, len) = ((span >> LEN_BITS) as usize, (span & LEN_MASK) as usize);
            let id = start
                .checked_add(len)
                .and_then(|end| t.bytes.get(start..end))
                .filter(|_| (1..=MAX_ID_BYTES).contains(&len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .ok_or_else(|| format!("slot {s}: id span outside the arena or not UTF-8"))?;
            let hash = t.hasher.hash_one(id);
            let (bytes, spans) = (&t.bytes, &t.spans);
            if t.table
                .find(hash, |&o| text(bytes, spans[o as usize]) == id)
                .is_some()
            {
                return Err(format!("item id {id:?} appears twice"));
            }
            let hasher = &t.hasher;
            t.table.insert_unique(hash, s as u32, |&o| {
                hasher.hash_one(text(bytes, spans[o as usize]))
            });
        }
        t.garbage = arena
            - t.spans
                .iter()
                .map(|&s| (s & LEN_MASK) as usize)
                .sum::<usize>()
                .min(arena);
        Ok(t)
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
