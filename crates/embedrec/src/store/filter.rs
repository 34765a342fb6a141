//! Attribute filters, compiled against the catalog into a per-slot predicate that is applied
//! inside the search (during HNSW traversal, or over the allowed subset on the exact path).

use crate::store::Catalog;
use crate::{Error, Result};

/// An inclusive numeric range on one attribute. Items without the attribute never match.
#[derive(Clone, Debug, PartialEq)]
pub struct NumericRange {
    /// Attribute name (must be known to the catalog).
    pub attribute: String,
    /// Lower bound (inclusive), if any.
    pub min: Option<f64>,
    /// Upper bound (inclusive), if any.
    pub max: Option<f64>,
}

/// Which items a query may return. All conditions must hold (AND); an empty filter passes
/// every item.
///
/// ```
/// use embedrec::Filter;
/// let f = Filter::new()
///     .tags_any(["rock", "jazz"])
///     .tags_none(["live"])
///     .range("year", Some(1990.0), None)
///     .deny(["track-7"]);
/// assert_eq!(f.tags_any.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// The item has at least one of these tags (ignored when empty).
    pub tags_any: Vec<String>,
    /// The item has all of these tags.
    pub tags_all: Vec<String>,
    /// The item has none of these tags.
    pub tags_none: Vec<String>,
    /// Numeric ranges, all of which must hold.
    pub ranges: Vec<NumericRange>,
    /// If set, only these ids may be returned (unknown ids are ignored).
    pub allow_ids: Option<Vec<String>>,
    /// These ids are never returned (unknown ids are ignored).
    pub deny_ids: Vec<String>,
}

fn strings<S: Into<String>>(it: impl IntoIterator<Item = S>) -> Vec<String> {
    it.into_iter().map(Into::into).collect()
}

impl Filter {
    /// An empty filter (passes everything).
    pub fn new() -> Self {
        Self::default()
    }
    /// Requires at least one of these tags.
    pub fn tags_any<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.tags_any.extend(strings(tags));
        self
    }
    /// Requires all of these tags.
    pub fn tags_all<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.tags_all.extend(strings(tags));
        self
    }
    /// Excludes items with any of these tags.
    pub fn tags_none<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.tags_none.extend(strings(tags));
        self
    }
    /// Requires `min <= attribute <= max` (either bound optional).
    pub fn range(
        mut self,
        attribute: impl Into<String>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Self {
        self.ranges.push(NumericRange {
            attribute: attribute.into(),
            min,
            max,
        });
        self
    }
    /// Restricts results to these ids.
    pub fn allow<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.allow_ids
            .get_or_insert_with(Vec::new)
            .extend(strings(ids));
        self
    }
    /// Never returns these ids.
    pub fn deny<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.deny_ids.extend(strings(ids));
        self
    }
    /// True when the filter passes everything.
    pub fn is_empty(&self) -> bool {
        self.tags_any.is_empty()
            && self.tags_all.is_empty()
            && self.tags_none.is_empty()
            && self.ranges.is_empty()
            && self.allow_ids.is_none()
            && self.deny_ids.is_empty()
    }

    /// Feeds a canonical form of the filter into a hasher-like byte sink (for cache keys).
    pub(crate) fn write_key(&self, out: &mut Vec<u8>) {
        fn list(out: &mut Vec<u8>, tag: u8, v: &[String]) {
            let mut v: Vec<&String> = v.iter().collect();
            v.sort();
            v.dedup();
            out.push(tag);
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            for s in v {
                out.extend_from_slice(&(s.len() as u64).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        list(out, 1, &self.tags_any);
        list(out, 2, &self.tags_all);
        list(out, 3, &self.tags_none);
        out.push(4);
        out.extend_from_slice(&(self.ranges.len() as u64).to_le_bytes());
        for r in &self.ranges {
            out.extend_from_slice(&(r.attribute.len() as u64).to_le_bytes());
            out.extend_from_slice(r.attribute.as_bytes());
            for b in [r.min, r.max] {
                match b {
                    Some(x) => {
                        out.push(1);
                        out.extend_from_slice(&x.to_bits().to_le_bytes());
                    }
                    None => out.push(0),
                }
            }
        }
        match &self.allow_ids {
            Some(a) => list(out, 5, a),
            None => out.push(0),
        }
        list(out, 6, &self.deny_ids);
    }

    /// Validates the filter and resolves names against the catalog.
    pub(crate) fn compile(&self, cat: &Catalog, field: &str) -> Result<CompiledFilter> {
        let mut cf = CompiledFilter::default();
        for t in &self.tags_any {
            if let Some(i) = cat.tag_id(t) {
                cf.any.push(i);
            }
        }
        // tags_any given but none of the tags exist: nothing can match.
        if !self.tags_any.is_empty() && cf.any.is_empty() {
            cf.impossible = true;
        }
        for t in &self.tags_all {
            match cat.tag_id(t) {
                Some(i) => cf.all.push(i),
                None => cf.impossible = true,
            }
        }
        for t in &self.tags_none {
            if let Some(i) = cat.tag_id(t) {
                cf.none.push(i);
            }
        }
        for (i, r) in self.ranges.iter().enumerate() {
            let rfield = format!("{field}.ranges[{i}]");
            for (b, name) in [(r.min, "min"), (r.max, "max")] {
                if let Some(x) = b
                    && x.is_nan()
                {
                    return Err(Error::invalid(
                        format!("{rfield}.{name}"),
                        "a number (not NaN)",
                        x,
                    ));
                }
            }
            let lo = r.min.unwrap_or(f64::NEG_INFINITY);
            let hi = r.max.unwrap_or(f64::INFINITY);
            if lo > hi {
                return Err(Error::invalid(
                    rfield,
                    "min <= max",
                    format!("min {lo} > max {hi}"),
                ));
            }
            let col = cat
                .attr_id(&r.attribute)
                .ok_or_else(|| Error::UnknownAttribute {
                    name: r.attribute.clone(),
                    field: rfield.clone(),
                    known: cat.attr_names().to_vec(),
                })?;
            cf.ranges.push((col as usize, lo, hi));
        }
        if let Some(allow) = &self.allow_ids {
            let mut slots: Vec<u32> = allow.iter().filter_map(|id| cat.slot_of(id)).collect();
            slots.sort_unstable();
            slots.dedup();
            cf.allow = Some(slots);
        }
        cf.deny = self
            .deny_ids
            .iter()
            .filter_map(|id| cat.slot_of(id))
            .collect();
        cf.deny.sort_unstable();
        cf.deny.dedup();
        cf.narrow_by_tags(cat);
        Ok(cf)
    }
}

/// A tag condition whose items are at most this share (1 / 16) of the catalog becomes the
/// list of slots to visit: the planner scans selective filters anyway (its cut-off is 10 %
/// by default), and then visits only those slots instead of checking every item.
const SUBSET_SHARE: usize = 16;

/// A filter resolved to slot-level checks.
#[derive(Clone, Debug, Default)]
pub(crate) struct CompiledFilter {
    any: Vec<u32>,
    all: Vec<u32>,
    none: Vec<u32>,
    ranges: Vec<(usize, f64, f64)>,
    /// Sorted allowed slots.
    pub(crate) allow: Option<Vec<u32>>,
    /// Sorted denied slots (also used for "seen" items and the query item itself).
    deny: Vec<u32>,
    pub(crate) impossible: bool,
    /// Only items with a content vector match (queries answered by vector similarity).
    vectors_only: bool,
}

impl CompiledFilter {
    /// Turns selective tag conditions into the slots to visit: the union of the `any`
    /// tags' items, or the items of the rarest `all` tag, when at most
    /// 1/[`SUBSET_SHARE`] of the catalog (intersected with an allow-list). Every condition is
    /// still checked per slot.
    fn narrow_by_tags(&mut self, cat: &Catalog) {
        if self.impossible || (self.any.is_empty() && self.all.is_empty()) {
            return;
        }
        let postings = cat.tag_postings();
        let list = |t: u32| postings.get(t as usize).map_or(&[][..], Vec::as_slice);
        let any_total: usize = self.any.iter().map(|&t| list(t).len()).sum();
        let rarest_all = self.all.iter().map(|&t| list(t)).min_by_key(|l| l.len());
        let budget = cat.len() / SUBSET_SHARE;
        let subset: Vec<u32> = match rarest_all {
            Some(l) if l.len() <= budget && (self.any.is_empty() || l.len() <= any_total) => {
                l.to_vec()
            }
            _ if !self.any.is_empty() && any_total <= budget => {
                let mut v: Vec<u32> = self
                    .any
                    .iter()
                    .flat_map(|&t| list(t).iter().copied())
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            }
            _ => return,
        };
        self.allow = Some(match self.allow.take() {
            Some(a) => subset
                .into_iter()
                .filter(|s| a.binary_search(s).is_ok())
                .collect(),
            None => subset,
        });
    }

    /// From now on only items with a content vector match.
    pub(crate) fn require_vectors(&mut self) {
        self.vectors_only = true;
    }

    /// Adds slots that must never be returned.
    pub(crate) fn exclude(&mut self, slots: impl IntoIterator<Item = u32>) {
        self.deny.extend(slots);
        self.deny.sort_unstable();
        self.deny.dedup();
    }

    /// True when only exclusions (cheap, non-selective) are present.
    pub(crate) fn only_exclusions(&self) -> bool {
        self.any.is_empty()
            && self.all.is_empty()
            && self.none.is_empty()
            && self.ranges.is_empty()
            && self.allow.is_none()
            && !self.impossible
    }

    pub(crate) fn excluded_count(&self) -> usize {
        self.deny.len()
    }

    /// Whether a live slot passes.
    #[inline]
    pub(crate) fn matches(&self, cat: &Catalog, slot: u32) -> bool {
        if self.impossible || !cat.is_live(slot) {
            return false;
        }
        if self.vectors_only && !cat.has_vector(slot) {
            return false;
        }
        if let Some(a) = &self.allow
            && a.binary_search(&slot).is_err()
        {
            return false;
        }
        if !self.deny.is_empty() && self.deny.binary_search(&slot).is_ok() {
            return false;
        }
        if !(self.any.is_empty() && self.all.is_empty() && self.none.is_empty()) {
            // The item's tag list is read only when a tag condition needs it.
            let tags = cat.item_tags(slot);
            if !self.any.is_empty() && !self.any.iter().any(|t| tags.binary_search(t).is_ok()) {
                return false;
            }
            if !self.all.iter().all(|t| tags.binary_search(t).is_ok()) {
                return false;
            }
            if self.none.iter().any(|t| tags.binary_search(t).is_ok()) {
                return false;
            }
        }
        for &(c, lo, hi) in &self.ranges {
            let v = cat.attr(c, slot as usize as u32);
            // NaN (missing) fails both comparisons.
            if !(v >= lo && v <= hi) {
                return false;
            }
        }
        true
    }
}
