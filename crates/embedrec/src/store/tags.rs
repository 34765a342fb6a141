//! The catalog's tag lists: sorted tag ids per slot, without one heap allocation per slot.
//!
//! Lists live back to back in one pool of `u32`, each as its length followed by its ids; a
//! slot holds the pool offset of its list. Offset 0 is a permanent empty list, so an untagged
//! slot costs 4 bytes (against 16 for a `Box<[u32]>`, tagged or not) and a tagged one
//! 4 bytes more than its ids. A shorter list overwrites a longer one in place; a longer one
//! is appended, and the pool is compacted once more than half of it is dead.

/// Most live entries (ids plus one length per tagged slot) the pool may hold, so that a
/// compacted pool, with room for one more list of the same bound, always fits `u32` offsets.
pub(crate) const MAX_TAG_ENTRIES: u64 = (u32::MAX / 2) as u64;

/// Pool entries a list of `len` tags takes: its ids and its length, or none when empty.
pub(crate) fn entries_for(len: usize) -> u64 {
    if len == 0 { 0 } else { len as u64 + 1 }
}

#[derive(Debug, Clone)]
pub(crate) struct TagLists {
    /// Slots.
    len: usize,
    /// Per slot: offset in `pool` of its list (0: the empty list). Slots past its end have
    /// the empty list: a catalog read from a file without any tag holds none of it.
    at: Vec<u32>,
    /// `pool[0] = 0`, then lists as `len, ids...`.
    pool: Vec<u32>,
    /// Pool entries that belong to no slot's list.
    garbage: usize,
    /// Per tag id, the sorted slots that carry it: built by the first query that asks
    /// after a change (a selective tag filter then visits only those slots), dropped by
    /// every change.
    postings: std::sync::OnceLock<Vec<Vec<u32>>>,
}

impl Default for TagLists {
    fn default() -> Self {
        TagLists {
            len: 0,
            at: Vec::new(),
            pool: vec![0],
            garbage: 0,
            postings: std::sync::OnceLock::new(),
        }
    }
}

impl TagLists {
    /// Builds the lists of `slots.len()` slots (each sorted, deduplicated), as read from a
    /// file; `None` when they hold more than [`MAX_TAG_ENTRIES`] entries.
    pub(crate) fn from_lists(lists: &[Vec<u32>]) -> Option<Self> {
        let entries: u64 = lists.iter().map(|l| entries_for(l.len())).sum();
        if entries > MAX_TAG_ENTRIES {
            return None;
        }
        let mut t = TagLists {
            len: lists.len(),
            ..TagLists::default()
        };
        if entries == 0 {
            return Some(t);
        }
        t.pool.reserve_exact(entries as usize);
        t.at.reserve_exact(lists.len());
        for l in lists {
            t.at.push(0);
            t.append(t.at.len() - 1, l);
        }
        Some(t)
    }

    /// Tag ids of `slot`, sorted.
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> &[u32] {
        let o = self.at.get(slot as usize).map_or(0, |&o| o as usize);
        let n = self.pool[o] as usize;
        &self.pool[o + 1..o + 1 + n]
    }

    /// Every slot's list, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u32]> + '_ {
        (0..self.len as u32).map(|s| self.get(s))
    }

    /// Live entries (what [`MAX_TAG_ENTRIES`] bounds).
    pub(crate) fn entries(&self) -> u64 {
        (self.pool.len() - 1 - self.garbage) as u64
    }

    /// Reserves room for `additional` more slots.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.at.reserve(additional);
    }

    /// Appends an untagged slot.
    pub(crate) fn push_empty(&mut self) {
        if self.at.len() == self.len {
            self.at.push(0);
        }
        self.len += 1;
    }

    /// The slots of each tag id below `tags`, sorted (see the `postings` field).
    pub(crate) fn postings(&self, tags: usize) -> &[Vec<u32>] {
        self.postings.get_or_init(|| {
            let mut p = vec![Vec::new(); tags];
            for (s, list) in self.iter().enumerate() {
                for &t in list {
                    if let Some(v) = p.get_mut(t as usize) {
                        v.push(s as u32);
                    }
                }
            }
            p
        })
    }

    /// Replaces the list of `slot` by `tags` (sorted, deduplicated). The caller keeps
    /// [`TagLists::entries`] within [`MAX_TAG_ENTRIES`].
    pub(crate) fn set(&mut self, slot: u32, tags: &[u32]) {
        self.postings = std::sync::OnceLock::new();
        let s = slot as usize;
        if s >= self.at.len() {
            if tags.is_empty() {
                return;
            }
            self.at.resize(self.len, 0);
        }
        let o = self.at[s] as usize;
        let old = self.pool[o] as usize;
        if o != 0 && tags.len() <= old && !tags.is_empty() {
            self.pool[o] = tags.len() as u32;
            self.pool[o + 1..o + 1 + tags.len()].copy_from_slice(tags);
            self.garbage += old - tags.len();
            return;
        }
        if o != 0 {
            self.garbage += old + 1;
        }
        self.at[s] = 0;
        if self.garbage > 4096 && self.garbage * 2 > self.pool.len() {
            self.compact();
        }
        self.append(s, tags);
    }

    /// Writes `tags` at the end of the pool as the list of slot `s` (whose old list, if
    /// any, is already counted as garbage).
    fn append(&mut self, s: usize, tags: &[u32]) {
        if tags.is_empty() {
            return;
        }
        if self.pool.len() + 1 + tags.len() > u32::MAX as usize {
            self.compact();
        }
        self.at[s] = self.pool.len() as u32;
        self.pool.push(tags.len() as u32);
        self.pool.extend_from_slice(tags);
    }

    /// Rewrites the pool with only the slots' current lists.
    fn compact(&mut self) {
        let mut pool = Vec::with_capacity(self.pool.len() - self.garbage);
        pool.push(0);
        for o in self.at.iter_mut().filter(|o| **o != 0) {
            let (start, n) = (*o as usize, self.pool[*o as usize] as usize);
            *o = pool.len() as u32;
            pool.extend_from_slice(&self.pool[start..start + 1 + n]);
        }
        self.pool = pool;
        self.garbage = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_without_any_tag_hold_no_offsets_until_one_is_set() {
        let mut t = TagLists::from_lists(&vec![Vec::new(); 1000]).unwrap();
        assert!(t.at.is_empty());
        assert_eq!(t.iter().count(), 1000);
        assert!(t.get(999).is_empty());
        t.push_empty();
        t.set(3, &[]);
        assert!(t.at.is_empty());
        assert_eq!(t.iter().count(), 1001);
        t.set(1000, &[2, 5]);
        assert_eq!(t.get(1000), &[2, 5]);
        assert!(t.get(3).is_empty());
        assert_eq!(t.iter().count(), 1001);
        t.push_empty();
        assert_eq!(t.at.len(), 1002);
        assert_eq!(t.postings(6)[5], vec![1000]);
    }

    /// Random replacements against a `Vec<Vec<u32>>` model: every list reads back, the
    /// pool stays compact, and a copy built from the lists (as a load does) is equal.
    #[test]
    fn matches_a_model_under_random_replacements() {
        let mut rng = crate::util::rng::SplitMix64(7);
        let (mut t, mut model) = (TagLists::default(), Vec::<Vec<u32>>::new());
        for step in 0..60_000u32 {
            if step < 5_000 {
                t.push_empty();
                model.push(Vec::new());
            }
            let s = rng.below(model.len());
            let len = [0, 0, 1, 2, 3, 8][rng.below(6)];
            let mut tags: Vec<u32> = (0..len).map(|_| rng.below(50) as u32).collect();
            tags.sort_unstable();
            tags.dedup();
            t.set(s as u32, &tags);
            model[s] = tags;
        }
        assert!(t.iter().eq(model.iter().map(Vec::as_slice)));
        let live: usize = model
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| l.len() + 1)
            .sum();
        assert_eq!(t.entries(), live as u64);
        assert!(
            t.pool.len() <= 2 * live + 4_200,
            "pool {} for {live}",
            t.pool.len()
        );
        let loaded = TagLists::from_lists(&model).unwrap();
        assert!(loaded.iter().eq(t.iter()));
        assert_eq!(loaded.pool.len(), live + 1);
        // Postings list exactly the slots of each tag, in order, and follow changes.
        for round in 0..2 {
            let p = t.postings(50);
            for (tag, slots) in p.iter().enumerate() {
                let want: Vec<u32> = (0..model.len() as u32)
                    .filter(|&s| model[s as usize].contains(&(tag as u32)))
                    .collect();
                assert_eq!(slots, &want, "round {round}, tag {tag}");
            }
            t.set(3, &[7, 9]);
            model[3] = vec![7, 9];
        }
    }
}
