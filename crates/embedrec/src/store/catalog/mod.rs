//! The item catalog: host string ids mapped to dense slots, raw vectors, tags and numeric
//! attributes. Slots of removed items are recycled.

mod format;
mod space;
mod validate;

pub(crate) use format::CatalogMeta;

use crate::distance::{dot, l2_sq};
use crate::store::ids::IdTable;
use crate::store::rows::{Rows, VectorStorage};
use crate::store::tags::TagLists;
use crate::util::mapped::Buf;
use crate::util::prefetch::CacheLevel;
use crate::{Error, Metric, Result};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::AtomicU32;

/// Tags and numeric attributes of one item, given to [`Engine::upsert_items`](crate::Engine::upsert_items).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemAttrs {
    /// Tags such as genres (any non-empty strings).
    pub tags: Vec<String>,
    /// Numeric attributes such as popularity or release year (finite values).
    pub numbers: Vec<(String, f64)>,
}

impl ItemAttrs {
    /// Attributes with these tags and no numbers.
    pub fn tags<S: Into<String>>(tags: impl IntoIterator<Item = S>) -> Self {
        ItemAttrs {
            tags: tags.into_iter().map(Into::into).collect(),
            numbers: Vec::new(),
        }
    }
    /// Adds a numeric attribute.
    pub fn number(mut self, name: impl Into<String>, value: f64) -> Self {
        self.numbers.push((name.into(), value));
        self
    }
}

/// A change to the tags and numeric attributes of the items of one
/// [`Engine::update_attributes`](crate::Engine::update_attributes) call: what it does not name
/// is kept.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttrUpdate {
    /// One tag list per item, replacing the item's tags; `None` keeps every item's tags.
    pub tags: Option<Vec<Vec<String>>>,
    /// One list of `(name, value)` per item: each value is set (added or overwritten), the
    /// item's other attributes are kept; `None` sets nothing.
    pub numbers: Option<Vec<Vec<(String, f64)>>>,
    /// Attribute names removed from every item of the call (names no item has are ignored).
    pub remove: Vec<String>,
}

impl AttrUpdate {
    /// `current` (the item's tags and attributes) with the change for item `i` applied.
    pub(crate) fn merged(&self, i: usize, mut current: ItemAttrs) -> ItemAttrs {
        if let Some(t) = &self.tags {
            current.tags = t[i].clone();
        }
        current.numbers.retain(|(n, _)| !self.remove.contains(n));
        if let Some(sets) = &self.numbers {
            for (name, v) in &sets[i] {
                match current.numbers.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = *v,
                    None => current.numbers.push((name.clone(), *v)),
                }
            }
        }
        current
    }
}

/// Interns strings (tag and attribute names) to dense ids.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    names: Vec<String>,
    map: HashMap<String, u32>,
}

impl Interner {
    pub(crate) fn get(&self, s: &str) -> Option<u32> {
        self.map.get(s).copied()
    }
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.map.insert(s.to_string(), i);
        i
    }
    /// An interner of these names, in order; an error when one repeats.
    pub(crate) fn from_names(names: Vec<String>) -> std::result::Result<Self, String> {
        let mut map = HashMap::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            if map.insert(n.clone(), i as u32).is_some() {
                return Err(format!("duplicate name {n:?}"));
            }
        }
        Ok(Interner { names, map })
    }
}

/// Columnar storage of everything known about items, indexed by dense slot. Index
/// implementations ([`AnnIndex`](crate::AnnIndex)) read vectors and exact scores from it.
#[derive(Debug)]
pub struct Catalog {
    dim: usize,
    metric: Metric,
    /// Host ids of the slots (free slots have none) and the reverse map.
    ids: IdTable,
    /// Vectors as given by the host (or their int8 codes), one aligned row per slot.
    vectors: Rows,
    /// `1 / |v|` per slot under cosine (0 for free slots); empty under other metrics,
    /// which never read it.
    inv_norm: Buf<f32>,
    /// Sorted tag ids per slot.
    tags: TagLists,
    tag_names: Interner,
    /// One column per attribute name; NaN where an item lacks the attribute.
    attr_names: Interner,
    attrs: Vec<Vec<f64>>,
    free: Vec<u32>,
    /// One bit per slot: set when the live item has no content vector (known from
    /// interactions or attributes only; its row is zero and no index holds it).
    vectorless: Vec<u64>,
}

/// A validated, ready-to-apply item.
pub(crate) struct PreparedItem<'a> {
    pub(crate) id: &'a str,
    /// The content vector; `None` keeps an existing item's vector and gives a new item none.
    pub(crate) vector: Option<&'a [f32]>,
    pub(crate) attrs: Option<&'a ItemAttrs>,
}

impl Catalog {
    /// An empty catalog whose rows reserve `links` link entries before each vector for the
    /// graph index (see [`crate::index::links_per_row`]; 0 when the index keeps no links
    /// there).
    pub(crate) fn new(dim: usize, metric: Metric, storage: VectorStorage, links: usize) -> Self {
        Catalog {
            dim,
            metric,
            ids: IdTable::default(),
            vectors: Rows::new(dim, storage, metric, links),
            inv_norm: Buf::default(),
            tags: TagLists::default(),
            tag_names: Interner::default(),
            attr_names: Interner::default(),
            attrs: Vec::new(),
            free: Vec::new(),
            vectorless: Vec::new(),
        }
    }

    /// True when the slot holds an item with a content vector.
    #[inline]
    pub fn has_vector(&self, slot: u32) -> bool {
        self.is_live(slot) && !self.is_vectorless(slot)
    }

    #[inline]
    fn is_vectorless(&self, slot: u32) -> bool {
        self.vectorless
            .get(slot as usize / 64)
            .is_some_and(|w| w >> (slot % 64) & 1 == 1)
    }

    fn set_vectorless(&mut self, slot: u32, on: bool) {
        let w = slot as usize / 64;
        if self.vectorless.len() <= w {
            if !on {
                return;
            }
            self.vectorless.resize(w + 1, 0);
        }
        if on {
            self.vectorless[w] |= 1 << (slot % 64);
        } else {
            self.vectorless[w] &= !(1 << (slot % 64));
        }
    }

    /// Live items without a content vector, in slot order.
    pub(crate) fn vectorless_slots(&self) -> Vec<u32> {
        self.live_slots()
            .filter(|&s| self.is_vectorless(s))
            .collect()
    }

    /// Marks these live items as having no content vector (a file's record of them).
    pub(crate) fn mark_vectorless(&mut self, slots: &[u32]) {
        for &s in slots {
            self.set_vectorless(s, true);
        }
    }

    /// Live items with a content vector (what a content index holds).
    pub fn vector_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.live_slots().filter(|&s| !self.is_vectorless(s))
    }

    /// True when no item is live.
    pub fn is_empty(&self) -> bool {
        self.ids.len() == 0
    }
    /// Number of live items.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// The metric scores use.
    pub fn metric(&self) -> Metric {
        self.metric
    }
    /// `1 / |v|` of a slot's vector (cosine only; 0 for free slots).
    pub(crate) fn inv_norm(&self, slot: u32) -> f32 {
        self.inv_norm[slot as usize]
    }
    /// The id of a tag name, if any item ever had it.
    pub(crate) fn tag_id(&self, name: &str) -> Option<u32> {
        self.tag_names.get(name)
    }
    /// The column of an attribute name, if any item ever had it.
    pub(crate) fn attr_id(&self, name: &str) -> Option<u32> {
        self.attr_names.get(name)
    }
    /// Every attribute name, by column.
    pub(crate) fn attr_names(&self) -> &[String] {
        &self.attr_names.names
    }
    /// The sorted tag ids of a slot.
    /// Per tag id, the sorted slots that carry it (built on first use after a change).
    pub(crate) fn tag_postings(&self) -> &[Vec<u32>] {
        self.tags.postings(self.tag_names.names.len())
    }

    pub(crate) fn item_tags(&self, slot: u32) -> &[u32] {
        self.tags.get(slot)
    }
    /// Attribute column `c` of a slot (NaN where the item lacks it).
    pub(crate) fn attr(&self, c: usize, slot: u32) -> f64 {
        self.attrs[c][slot as usize]
    }
    /// Tag pool entries in use (see [`crate::store::tags::entries_for`]).
    pub(crate) fn tag_entries(&self) -> u64 {
        self.tags.entries()
    }
    /// The tags and numeric attributes of a slot, by name (what an upsert would give).
    pub(crate) fn item_attrs(&self, slot: u32) -> ItemAttrs {
        ItemAttrs {
            tags: (self.item_tags(slot).iter())
                .map(|&t| self.tag_names.names[t as usize].clone())
                .collect(),
            numbers: (self.attr_names.names.iter().enumerate())
                .map(|(c, name)| (name.clone(), self.attr(c, slot)))
                .filter(|(_, v)| !v.is_nan())
                .collect(),
        }
    }
    /// Registers every tag and attribute name `other` knows, so that a filter naming one
    /// compiles here as it does there (an attribute no item has matches nothing).
    pub(crate) fn declare_names(&mut self, other: &Catalog) {
        for t in &other.tag_names.names {
            self.tag_names.intern(t);
        }
        for a in &other.attr_names.names {
            if self.attr_names.intern(a) as usize == self.attrs.len() {
                self.attrs.push(vec![f64::NAN; self.ids.slots()]);
            }
        }
    }
    /// Ids of the live items with their slots, in slot order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        self.ids.iter()
    }
    /// Requests the ids of these slots into the cache: each is two dependent misses (span,
    /// then bytes) on a large catalog, so all spans are requested, then all bytes.
    pub(crate) fn prefetch_ids(&self, slots: impl Iterator<Item = u32> + Clone) {
        slots.clone().for_each(|s| self.ids.prefetch_span(s));
        slots.for_each(|s| self.ids.prefetch_text(s));
    }
    /// Every vector as one dense row-major matrix (`slots × dim`).
    pub(crate) fn dense_vectors(&self) -> Vec<f32> {
        self.vectors.to_dense()
    }
    /// Bytes of the vector rows, without their link entries.
    pub(crate) fn vector_bytes(&self) -> usize {
        self.vectors.bytes()
    }
    /// Bytes of the rows' link entries (the native graph's level-0 lists).
    pub(crate) fn link_bytes(&self) -> usize {
        self.vectors.link_bytes()
    }
    /// Number of slots (live + free); valid slots are `0..slots()`.
    pub fn slots(&self) -> usize {
        self.ids.slots()
    }
    pub(crate) fn slot_of(&self, id: &str) -> Option<u32> {
        self.ids.slot_of(id)
    }
    /// The slot of an id, or [`Error::UnknownItem`] naming the argument it came from.
    pub(crate) fn require(&self, id: &str, field: impl FnOnce() -> String) -> Result<u32> {
        self.slot_of(id).ok_or_else(|| Error::UnknownItem {
            id: id.to_string(),
            field: field(),
        })
    }
    /// True when the slot holds an item.
    pub fn is_live(&self, slot: u32) -> bool {
        self.ids.is_live(slot)
    }
    pub(crate) fn id(&self, slot: u32) -> &str {
        self.ids.get(slot).expect("live slot")
    }
    /// Hints that the vector rows, when viewed in a mapped file, are read at random (an
    /// index walking codes of its own only re-scores a few rows per query).
    pub(crate) fn advise_random_rows(&self) {
        self.vectors.advise_random();
    }

    /// The vector of a slot as stored (decoded under int8 storage).
    pub fn vector(&self, slot: u32) -> Cow<'_, [f32]> {
        self.vectors.row(slot as usize)
    }
    /// The vector as an index should store it (unit length under cosine).
    pub fn index_vector(&self, slot: u32) -> Vec<f32> {
        let v = self.vector(slot);
        match self.metric {
            Metric::Cosine => {
                let inv = self.inv_norm[slot as usize];
                v.iter().map(|x| x * inv).collect()
            }
            _ => v.into_owned(),
        }
    }

    /// The vector as an index should compare it, borrowed when no normalisation is needed.
    pub fn index_vector_ref(&self, slot: u32) -> Cow<'_, [f32]> {
        match self.metric {
            Metric::Cosine => Cow::Owned(self.index_vector(slot)),
            _ => self.vector(slot),
        }
    }
    /// Score between two stored items (no allocation; cosine uses the stored norms).
    #[inline]
    pub fn pair_score(&self, a: u32, b: u32) -> f32 {
        let (x, y) = (a as usize, b as usize);
        match &self.vectors {
            Rows::F32(v) => {
                let (va, vb) = (v.row(x), v.row(y));
                match self.metric {
                    Metric::Cosine => dot(va, vb) * self.inv_norm[x] * self.inv_norm[y],
                    Metric::Dot => dot(va, vb),
                    Metric::L2 => -l2_sq(va, vb),
                }
            }
            Rows::Int8(c) => {
                // Integer dot of the codes (exact), then the scales.
                let d: i32 = c
                    .codes(x)
                    .iter()
                    .zip(c.codes(y))
                    .map(|(&p, &q)| p as i32 * q as i32)
                    .sum();
                let d = d as f32 * c.scale(x) * c.scale(y);
                match self.metric {
                    Metric::Cosine => d * self.inv_norm[x] * self.inv_norm[y],
                    Metric::Dot => d,
                    Metric::L2 => -(c.sq(x) + c.sq(y) - 2.0 * d).max(0.0),
                }
            }
            Rows::F16(h) => {
                let k = crate::distance::kernels();
                let (ha, hb) = (h.bits(x), h.bits(y));
                match self.metric {
                    Metric::Cosine => (k.hh_dot)(ha, hb) * self.inv_norm[x] * self.inv_norm[y],
                    Metric::Dot => (k.hh_dot)(ha, hb),
                    Metric::L2 => -(k.hh_l2)(ha, hb),
                }
            }
        }
    }
    /// Exact score of a slot against a prepared query (unit length under cosine); higher is better.
    #[inline]
    pub fn score(&self, query: &[f32], slot: u32) -> f32 {
        self.scorer(query)(slot)
    }

    /// [`Catalog::score`] against one query with the kernel and metric resolved once (for
    /// loops that score many slots against the same query).
    #[inline]
    pub(crate) fn scorer<'a>(&'a self, query: &'a [f32]) -> impl Fn(u32) -> f32 + 'a {
        let k = crate::distance::kernels();
        let (dot, l2, i8_dot, h_dot, h_l2) = (k.dot, k.l2_sq, k.i8_dot, k.h_dot, k.h_l2);
        let metric = self.metric;
        let (vectors, inv_norm) = (&self.vectors, &self.inv_norm[..]);
        // Int8 storage under L2: |q - s·c|² = |q|² - 2 s q·c + |s·c|².
        let qq = match vectors {
            Rows::Int8(_) if metric == Metric::L2 => dot(query, query),
            _ => 0.0,
        };
        move |slot: u32| {
            let s = slot as usize;
            match vectors {
                Rows::F32(v) => {
                    let v = v.row(s);
                    match metric {
                        Metric::Cosine => dot(query, v) * inv_norm[s],
                        Metric::Dot => dot(query, v),
                        Metric::L2 => -l2(query, v),
                    }
                }
                Rows::Int8(c) => {
                    let d = i8_dot(query, c.codes(s)) * c.scale(s);
                    match metric {
                        Metric::Cosine => d * inv_norm[s],
                        Metric::Dot => d,
                        Metric::L2 => -(qq - 2.0 * d + c.sq(s)).max(0.0),
                    }
                }
                Rows::F16(h) => {
                    let h = h.bits(s);
                    match metric {
                        Metric::Cosine => h_dot(query, h) * inv_norm[s],
                        Metric::Dot => h_dot(query, h),
                        Metric::L2 => -h_l2(query, h),
                    }
                }
            }
        }
    }

    /// Applies validated items. Returns, per item, `(slot, replaced_existing)`.
    pub(crate) fn apply(&mut self, items: &[PreparedItem<'_>]) -> Vec<(u32, bool)> {
        let mut out = Vec::with_capacity(items.len());
        // Grow every column once for the whole batch (fewer reallocations left behind).
        let new = items.len().saturating_sub(self.free.len());
        self.ids
            .reserve(new, items.iter().map(|it| it.id.len()).sum());
        self.vectors.reserve(new);
        if self.metric == Metric::Cosine {
            self.inv_norm.make_mut().reserve(new);
        }
        self.tags.reserve(new);
        for col in &mut self.attrs {
            col.reserve(new);
        }
        for it in items {
            let (slot, existed) = match self.ids.slot_of(it.id) {
                Some(s) => (s, true),
                None => {
                    let s = match self.free.pop() {
                        Some(s) => s,
                        None => {
                            let s = self.ids.slots() as u32;
                            self.ids.push_free();
                            self.vectors.push_zero();
                            if self.metric == Metric::Cosine {
                                self.inv_norm.make_mut().push(0.0);
                            }
                            self.tags.push_empty();
                            for col in &mut self.attrs {
                                col.push(f64::NAN);
                            }
                            s
                        }
                    };
                    self.ids.insert(s, it.id);
                    (s, false)
                }
            };
            match it.vector {
                Some(v) => {
                    self.vectors.set_row(slot as usize, v);
                    self.set_vectorless(slot, false);
                }
                None if existed => {}
                None => {
                    self.vectors.zero_row(slot as usize);
                    self.set_vectorless(slot, true);
                }
            }
            if self.metric == Metric::Cosine {
                let n = self.vectors.norm(slot as usize);
                self.inv_norm.make_mut()[slot as usize] = if n > 0.0 { 1.0 / n } else { 0.0 };
            }
            // Attributes: an upsert replaces tags and numbers entirely.
            self.set_attrs(slot, it.attrs);
            out.push((slot, existed));
        }
        out
    }

    /// Replaces the tags and numeric attributes of a live slot (none when `attrs` is
    /// `None`); its vector is untouched.
    pub(crate) fn set_attrs(&mut self, slot: u32, attrs: Option<&ItemAttrs>) {
        let mut tags: Vec<u32> = Vec::new();
        for col in &mut self.attrs {
            col[slot as usize] = f64::NAN;
        }
        if let Some(a) = attrs {
            tags = a.tags.iter().map(|t| self.tag_names.intern(t)).collect();
            tags.sort_unstable();
            tags.dedup();
            for (name, v) in &a.numbers {
                let c = self.attr_names.intern(name) as usize;
                if c == self.attrs.len() {
                    self.attrs.push(vec![f64::NAN; self.ids.slots()]);
                }
                self.attrs[c][slot as usize] = *v;
            }
        }
        self.tags.set(slot, &tags);
    }

    /// Frees the slot of an item. With `keep_vector` the vector stays until the slot is
    /// reused or [`Catalog::scrub_free`] runs, so that a graph index can still walk through
    /// the tombstone (as hnswlib keeps the data of deleted elements); otherwise it is zeroed.
    pub(crate) fn remove(&mut self, slot: u32, keep_vector: bool) {
        let s = slot as usize;
        if self.ids.remove(slot) {
            self.set_vectorless(slot, false);
            if !keep_vector {
                self.zero_vector(s);
            }
            self.tags.set(slot, &[]);
            for col in &mut self.attrs {
                col[s] = f64::NAN;
            }
            self.free.push(slot);
        }
    }

    /// Zeroes the vectors of free slots (once no index navigates through them).
    pub(crate) fn scrub_free(&mut self) {
        let free = std::mem::take(&mut self.free);
        for &s in &free {
            self.zero_vector(s as usize);
        }
        self.free = free;
    }

    fn zero_vector(&mut self, s: usize) {
        self.vectors.zero_row(s);
        if let Some(n) = self.inv_norm.make_mut().get_mut(s) {
            *n = 0.0;
        }
    }

    /// Hints the CPU to start loading a slot's vector into `to` (used ahead in graph walks).
    #[inline(always)]
    pub(crate) fn prefetch(&self, slot: u32, to: CacheLevel) {
        self.vectors.prefetch(slot as usize, to);
    }

    /// The link entries stored with a slot's vector: the native graph's level-0 list of the
    /// slot (empty when the catalog reserves none). Written through atomics, so that many
    /// threads can link nodes at once while others read.
    #[inline(always)]
    pub(crate) fn links(&self, slot: u32) -> &[AtomicU32] {
        self.vectors.block().links(slot as usize)
    }

    /// Whether the rows are a view of a mapped file (a read-only engine).
    pub(crate) fn is_mapped(&self) -> bool {
        self.vectors.is_mapped()
    }

    /// Drops the rows' link entries: for a graph that keeps its lists elsewhere, in a
    /// catalog read from a file whose rows still hold them. Copies the rows (a mapped
    /// catalog's too, so callers keep those as they are).
    pub(crate) fn drop_links(&mut self) {
        self.vectors.drop_links();
    }

    /// Link entries per row header.
    pub(crate) fn link_capacity(&self) -> usize {
        self.vectors.block().head()
    }

    /// Bytes of one stored vector (what [`Catalog::prefetch`] requests).
    pub(crate) fn row_bytes(&self) -> usize {
        self.vectors.row_bytes()
    }

    /// Iterator over live slots.
    pub fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.ids.iter().map(|(s, _)| s)
    }
}

#[cfg(test)]
impl Catalog {
    /// A catalog of `n` items `i0, i1, …` without content vectors (for tests).
    pub(crate) fn of_ids(n: usize) -> Catalog {
        let mut cat = Catalog::new(0, Metric::Cosine, VectorStorage::F32, 16);
        let ids: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
        let items: Vec<PreparedItem<'_>> = ids
            .iter()
            .map(|id| PreparedItem {
                id,
                vector: None,
                attrs: None,
            })
            .collect();
        cat.apply(&items);
        cat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-slot columns are only kept where something reads them: inverse norms under cosine,
    /// decoded squared norms of int8 rows under L2, tag entries for tagged items. Norms read
    /// back the same either way.
    #[test]
    fn per_slot_columns_follow_the_metric_and_the_tags() {
        let tagged = ItemAttrs::tags(["rock", "live"]);
        for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
            for storage in [VectorStorage::F32, VectorStorage::Int8, VectorStorage::F16] {
                let mut cat = Catalog::new(4, metric, storage, 0);
                let ids: Vec<String> = (0..100).map(|i| format!("i{i}")).collect();
                let vecs: Vec<Vec<f32>> = (0..100)
                    .map(|i| vec![1.0 + i as f32, -2.0, 0.5, 3.0])
                    .collect();
                let items: Vec<PreparedItem<'_>> = (0..100)
                    .map(|i| PreparedItem {
                        id: &ids[i],
                        vector: Some(&vecs[i]),
                        attrs: (i < 10).then_some(&tagged),
                    })
                    .collect();
                cat.apply(&items);
                let case = format!("{metric:?} {storage:?}");
                let want = if metric == Metric::Cosine { 100 } else { 0 };
                assert_eq!(cat.inv_norm.len(), want, "{case}");
                if let Rows::Int8(c) = &cat.vectors {
                    let want = if metric == Metric::L2 { 100 } else { 0 };
                    assert_eq!(c.kept_sq(), want, "{case}");
                }
                assert_eq!(cat.tags.entries(), 10 * 3, "{case}");
                assert_eq!(cat.tags.get(3).len(), 2, "{case}");
                assert!(cat.tags.get(50).is_empty(), "{case}");
                for s in [0u32, 42, 99] {
                    let v = cat.vector(s);
                    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    assert!(
                        (cat.vectors.norm(s as usize) - n).abs() < 1e-4 * n,
                        "{case}"
                    );
                }
                cat.remove(3, false);
                assert!(cat.tags.get(3).is_empty(), "{case}");
                assert_eq!(cat.tags.entries(), 9 * 3, "{case}");
            }
        }
    }
}
