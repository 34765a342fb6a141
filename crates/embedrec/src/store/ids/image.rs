//! The id table's section of a file (IDS): span words, the arena and a lookup table of
//! buckets, laid out so that a mapped file answers id lookups in place. The buckets place
//! each id by [`stable_hash`] (fixed, unlike the process's own table, whose hasher is seeded
//! per process) with linear probing.

use super::{IdTable, LEN_BITS, LEN_MASK, MAX_ID_BYTES, text};
use crate::codec::SectionReader;
use crate::util::mapped::Buf;
use hashbrown::HashTable;
use std::hash::BuildHasher;

const MAGIC: &[u8; 4] = b"IDS1";
const HEAD: usize = 32;

/// A 64-bit hash of an id's bytes that every build and platform computes the same way (the
/// buckets of a file depend on it): 8 bytes at a time, each mixed in by a multiply and
/// shift, then a final avalanche.
pub(super) fn stable_hash(b: &[u8]) -> u64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64 ^ b.len() as u64;
    for chunk in b.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 31;
    }
    h = (h ^ (h >> 29)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 32)
}

/// Bucket count for `live` ids: a power of two, at least twice as many (at most half full,
/// so probes stay short).
fn bucket_count(live: usize) -> usize {
    (live * 2).max(16).next_power_of_two()
}

/// A file's lookup table, viewed in place: `slot + 1` per bucket, 0 for an empty one.
pub(super) struct Buckets {
    buckets: Buf<u32>,
    live: usize,
}

impl Buckets {
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// The slot holding `id` (`get` gives a slot's id). A probe stops at an empty bucket
    /// and never visits more buckets than there are, whatever the file holds.
    pub(super) fn find<'a>(&self, id: &str, get: impl Fn(u32) -> Option<&'a str>) -> Option<u32> {
        let n = self.buckets.len();
        if n == 0 {
            return None;
        }
        let mut at = stable_hash(id.as_bytes()) as usize & (n - 1);
        for _ in 0..n {
            let s = self.buckets[at].checked_sub(1)?;
            if get(s) == Some(id) {
                return Some(s);
            }
            at = (at + 1) & (n - 1);
        }
        None
    }
}

impl IdTable {
    /// Writes the IDS section: `b"IDS1"`, 4 zero bytes, the slot count, the arena's length
    /// and the bucket count (u64 LE each), then the span words (u64 LE per slot), the
    /// arena, zeros to a multiple of 4 bytes and the buckets (u32 LE: `slot + 1` of the id
    /// placed there, 0 for none).
    pub(crate) fn write_image(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let n = bucket_count(self.len());
        let mut buckets = vec![0u32; n];
        for (s, id) in self.iter() {
            let mut at = stable_hash(id.as_bytes()) as usize & (n - 1);
            while buckets[at] != 0 {
                at = (at + 1) & (n - 1);
            }
            buckets[at] = s + 1;
        }
        let mut head = Vec::with_capacity(HEAD);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&[0; 4]);
        for x in [self.spans.len(), self.bytes.len(), n] {
            head.extend_from_slice(&(x as u64).to_le_bytes());
        }
        w.write_all(&head)?;
        let spans: Vec<u8> = self.spans.iter().flat_map(|x| x.to_le_bytes()).collect();
        w.write_all(&spans)?;
        w.write_all(&self.bytes)?;
        w.write_all(&[0; 4][..self.bytes.len().next_multiple_of(4) - self.bytes.len()])?;
        let b: Vec<u8> = buckets.iter().flat_map(|x| x.to_le_bytes()).collect();
        w.write_all(&b)
    }

    /// Reads an IDS section for `slots` slots. From a mapped file, the spans, the arena and
    /// the buckets are viewed in place and only counted (ids are checked by
    /// `Engine::verify`'s checksum; a damaged one reads as U+FFFD and is never found).
    /// Otherwise they are read, every span is checked (inside the arena, 1 to
    /// `MAX_ID_BYTES` bytes of UTF-8), every id indexed (a repeated one is an error) and
    /// the file's buckets skipped.
    pub(crate) fn read_image(
        r: &mut SectionReader<'_>,
        slots: usize,
    ) -> std::result::Result<Self, String> {
        let h = r.take(HEAD)?;
        let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().expect("8 bytes"));
        if &h[..4] != MAGIC {
            return Err("bad id table magic".into());
        }
        let (n, arena, buckets) = (u64_at(8), u64_at(16), u64_at(24));
        if n != slots as u64 {
            return Err(format!("{n} id slots, the catalog has {slots}"));
        }
        // Every length is checked arithmetic: the header is the file's, not ours.
        let pad = arena.checked_next_multiple_of(4).map_or(0, |x| x - arena);
        let need = (slots as u64)
            .checked_mul(8)
            .and_then(|x| x.checked_add(arena))
            .and_then(|x| x.checked_add(pad))
            .and_then(|x| x.checked_add(buckets.checked_mul(4)?));
        if need != Some(r.remaining()) || !(buckets == 0 || buckets.is_power_of_two()) {
            return Err(format!(
                "{slots} spans, an arena of {arena} bytes and {buckets} buckets do not make \
                 the {} bytes left",
                r.remaining()
            ));
        }
        let (arena, buckets) = (arena as usize, buckets as usize);
        if let Some((map, at)) = r.view_bytes(slots * 8 + arena + pad as usize + buckets * 4)? {
            let spans: Buf<u64> = Buf::view(&map, at, slots).ok_or("spans misaligned")?;
            let bytes = Buf::view(&map, at + slots * 8, arena).ok_or("arena outside the file")?;
            let b_at = at + slots * 8 + arena + pad as usize;
            let b = Buf::view(&map, b_at, buckets).ok_or("buckets misaligned")?;
            let live = spans.iter().filter(|&&s| s != 0).count();
            return Ok(IdTable {
                bytes,
                spans,
                mapped: Some(Buckets { buckets: b, live }),
                ..IdTable::default()
            });
        }
        let spans: Vec<u64> = r
            .take(slots * 8)?
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        let bytes = r.take(arena)?.to_vec();
        r.take(pad as usize + buckets * 4)?;
        let mut t = IdTable {
            bytes: Buf::Owned(bytes),
            spans: Buf::Owned(spans),
            table: HashTable::with_capacity(slots),
            ..IdTable::default()
        };
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stable_hash_is_fixed_and_spreads_short_ids() {
        // Files depend on these values: they must never change (computed independently).
        assert_eq!(stable_hash(b""), 0x7d8b_df20_b7a7_dbea);
        assert_eq!(stable_hash(b"item-1"), 0x7ff7_837c_9085_1ae9);
        assert_eq!(stable_hash(b"\x0042"), 0xd572_7aed_43ce_0314);
        assert_eq!(
            stable_hash(b"a much longer identifier than eight bytes"),
            0x6723_a2f2_ea38_e81b
        );
        assert_ne!(stable_hash(b"a"), stable_hash(b"b"));
        assert_ne!(stable_hash(b"item-1"), stable_hash(b"item-1\0"));
        let n = 1 << 12;
        let mut used = vec![false; n];
        for i in 0..n / 2 {
            used[stable_hash(format!("t{i}").as_bytes()) as usize & (n - 1)] = true;
        }
        // Half as many ids as buckets fill about 1 - e^-0.5 = 39 % of them when spread.
        let filled = used.iter().filter(|&&u| u).count();
        assert!(filled > n * 35 / 100, "{filled} of {n}");
    }
}
