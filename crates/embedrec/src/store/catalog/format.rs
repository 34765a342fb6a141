//! The catalog's part of a saved file: ids, tags, names and attribute columns in the META
//! section, and the vector rows in their own section. Everything read is validated as an
//! upsert would validate it.

use super::{Catalog, Interner};
use crate::codec::SectionReader;
use crate::store::ids::IdTable;
use crate::store::ids::MAX_ID_BYTES;
use crate::store::rows::{Rows, VectorStorage};
use crate::store::tags::{MAX_TAG_ENTRIES, TagLists};
use crate::util::mapped::Buf;
use crate::{Metric, Result};
use serde::Deserialize;

/// The catalog's fields of the META section (version 1: bincode of this struct, inline in
/// META; version 2: the record of [`Catalog::write_record`]).
#[derive(Deserialize)]
pub(crate) struct CatalogMeta<'a> {
    /// Version 1 only (version 2 keeps the ids in their own section); borrowed from the
    /// file's bytes (no allocation per id).
    #[serde(borrow)]
    ids: Vec<Option<&'a str>>,
    tags: Vec<Vec<u32>>,
    tag_names: Vec<String>,
    attr_names: Vec<String>,
    attrs: Vec<Vec<f64>>,
}

impl CatalogMeta<'_> {
    /// Number of slots a version-1 file declares (one id or none per slot).
    pub(crate) fn slots(&self) -> usize {
        self.ids.len()
    }
    /// Number of tag lists (one per slot; the slot count of a version-2 file, whose ids
    /// are in their own section).
    pub(crate) fn tag_lists(&self) -> usize {
        self.tags.len()
    }
}

impl CatalogMeta<'static> {
    /// Reads a record [`Catalog::write_record`] wrote (the load checks the values).
    pub(crate) fn read_record(
        r: &mut crate::codec::bytes::Reader<'_>,
    ) -> std::result::Result<Self, String> {
        let slots = r.usize_at_most(u32::MAX as u64 - 1, "slot count")?;
        let names = |r: &mut crate::codec::bytes::Reader<'_>| {
            let n = r.len(4)?;
            (0..n)
                .map(|_| r.str().map(str::to_string))
                .collect::<std::result::Result<Vec<_>, String>>()
        };
        let tag_names = names(r)?;
        let mut tags = Vec::with_capacity(slots.min(r.remaining() / 4));
        for _ in 0..slots {
            let n = r.len(4)?;
            tags.push(r.u32s(n)?);
        }
        let attr_names = names(r)?;
        let attrs = (0..attr_names.len())
            .map(|_| r.f64s(slots))
            .collect::<std::result::Result<Vec<_>, String>>()?;
        Ok(CatalogMeta {
            ids: Vec::new(),
            tags,
            tag_names,
            attr_names,
            attrs,
        })
    }
}

/// Where a load failed: the section and the reason.
pub(crate) type Damage = (&'static str, String);

impl Catalog {
    /// Rebuilds a catalog from its META fields and its vector section (`section` names it in
    /// errors), with `links` header entries per row. The vectors are read, copied and checked
    /// on a second thread while ids and tags are indexed.
    pub(crate) fn read(
        meta: CatalogMeta<'_>,
        (dim, metric, storage, links): (usize, Metric, VectorStorage, usize),
        vec_r: &mut SectionReader<'_>,
        section: &'static str,
        vectorless: &[u32],
    ) -> std::result::Result<Catalog, Damage> {
        let bad = |reason: String| ("meta", reason);
        let slots = meta.ids.len();
        if slots >= u32::MAX as usize {
            return Err(bad(format!("{slots} slots exceed the limit")));
        }
        let row_bytes = Rows::section_row_bytes(storage, dim);
        if (slots as u64).checked_mul(row_bytes) != Some(vec_r.remaining()) {
            return Err((
                section,
                format!(
                    "{} bytes, expected {slots} slots x {row_bytes} bytes",
                    vec_r.remaining()
                ),
            ));
        }
        let mut cat = Catalog::new(dim, metric, storage, links);
        let ids = &meta.ids;
        let (vectors, ids_done) = std::thread::scope(|scope| {
            let vectors =
                scope.spawn(|| load_vectors(storage, dim, metric, links, vec_r, ids, vectorless));
            let ids_done = (|| -> std::result::Result<(), Damage> {
                cat.ids
                    .reserve(slots, ids.iter().map(|id| id.map_or(0, str::len)).sum());
                for (s, id) in ids.iter().enumerate() {
                    cat.ids.push_free();
                    if let Some(id) = id {
                        if id.is_empty() || id.len() > MAX_ID_BYTES {
                            return Err(bad(format!("slot {s}: invalid id of {} bytes", id.len())));
                        }
                        if !cat.ids.insert(s as u32, id) {
                            return Err(bad(format!("item id {id:?} appears twice")));
                        }
                    }
                }
                Ok(())
            })();
            let vectors = vectors
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (vectors, ids_done)
        });
        ids_done?;
        let (vectors, inv_norm) = vectors.map_err(|reason| (section, reason))?;
        (cat.vectors, cat.inv_norm) = (vectors, inv_norm.into());
        cat.finish_read(meta, vectorless)?;
        Ok(cat)
    }

    /// Writes the catalog's record of a version-2 META section (the ids are in their own
    /// section): the slot count (u64), the tag names (u32 count, then each as u32 length and
    /// UTF-8), per slot its tag list (u32 count, then tag ids u32), the attribute names
    /// (as the tag names), then per attribute one f64 per slot (NaN: missing).
    pub(crate) fn write_record(
        &self,
        w: &mut crate::codec::bytes::Writer,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        w.u64(self.slots() as u64);
        let names = |w: &mut crate::codec::bytes::Writer, names: &[String]| {
            w.len(names.len());
            for n in names {
                w.str(n);
            }
        };
        names(w, &self.tag_names.names);
        for t in self.tags.iter() {
            w.len(t.len());
            w.u32s(t);
            w.spill(out)?;
        }
        names(w, &self.attr_names.names);
        for col in &self.attrs {
            w.f64s(col);
            w.spill(out)?;
        }
        Ok(())
    }

    /// Writes the IDS section (see [`IdTable::write_image`](crate::store)).
    pub(crate) fn write_ids(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.ids.write_image(w)
    }

    /// Writes the ROWS section (see [`Rows::write_image`]).
    pub(crate) fn write_rows(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.vectors.write_image(w)
    }

    /// Whether the catalog has a NORMS section (cosine only: the inverse norm per slot).
    pub(crate) fn has_norms(&self) -> bool {
        self.metric == Metric::Cosine
    }

    /// Writes the NORMS section: the inverse norm of each slot's vector, f32 LE (0 when it
    /// has none).
    pub(crate) fn write_norms(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let b: Vec<u8> = self.inv_norm.iter().flat_map(|x| x.to_le_bytes()).collect();
        w.write_all(&b)
    }

    /// Rebuilds a catalog from a version-2 file: the META fields, the IDS, ROWS and (cosine)
    /// NORMS sections. From a mapped file the rows, the id arena and the norms are views of
    /// its pages and the vectors are not checked one by one (the sections' checksums are
    /// verified on demand); otherwise everything is read and checked as version 1 is.
    pub(crate) fn read_v2(
        meta: CatalogMeta<'_>,
        (dim, metric, storage, links): (usize, Metric, VectorStorage, usize),
        (ids_r, rows_r, norms_r): (
            &mut SectionReader<'_>,
            &mut SectionReader<'_>,
            Option<&mut SectionReader<'_>>,
        ),
        vectorless: &[u32],
    ) -> std::result::Result<Catalog, Damage> {
        let slots = meta.tags.len();
        if slots >= u32::MAX as usize {
            return Err(("meta", format!("{slots} slots exceed the limit")));
        }
        let mut cat = Catalog::new(dim, metric, storage, links);
        cat.ids = IdTable::read_image(ids_r, slots)
            .map_err(|e| ids_r.fail(e))
            .and_then(|ids| ids_r.finish().map(|()| ids))
            .map_err(|reason| ("ids", reason))?;
        let shape = (dim, storage, metric, links);
        let rows = Rows::read_image(shape, slots, rows_r)
            .map_err(|e| rows_r.fail(e))
            .and_then(|rows| rows_r.finish().map(|()| rows))
            .map_err(|reason| ("rows", reason))?;
        let cosine = metric == Metric::Cosine;
        if cosine != norms_r.is_some() {
            return Err(("norms", "present without cosine or missing under it".into()));
        }
        if rows.is_mapped() {
            if let Some(r) = norms_r {
                cat.inv_norm = view_norms(r, slots).map_err(|e| ("norms", e))?;
                r.finish().map_err(|e| ("norms", e))?;
            }
        } else {
            let ids = |s: usize| cat.ids.get(s as u32);
            let inv_norm = check_vectors(&rows, dim, metric, slots, ids, vectorless)
                .map_err(|reason| ("rows", reason))?;
            cat.inv_norm = inv_norm.into();
            // The heap path checked every vector; the NORMS section is the mapped path's.
            if let Some(r) = norms_r {
                r.take(slots * 4).map_err(|e| ("norms", e))?;
                r.finish().map_err(|e| ("norms", e))?;
            }
        }
        cat.vectors = rows;
        cat.finish_read(meta, vectorless)?;
        Ok(cat)
    }

    /// The part of a load common to both versions, once ids and rows are in place: tag and
    /// attribute names, free slots, items without vectors, tag lists and attribute columns,
    /// each validated.
    fn finish_read(
        &mut self,
        meta: CatalogMeta<'_>,
        vectorless: &[u32],
    ) -> std::result::Result<(), Damage> {
        let bad = |reason: String| ("meta", reason);
        let slots = self.ids.slots();
        if meta.tags.len() != slots {
            return Err(bad(format!(
                "{} tag lists for {slots} slots",
                meta.tags.len()
            )));
        }
        if meta.attrs.len() != meta.attr_names.len() || meta.attrs.iter().any(|c| c.len() != slots)
        {
            return Err(bad(
                "attribute columns do not match the attribute names and slots".into(),
            ));
        }
        self.tag_names =
            Interner::from_names(meta.tag_names).map_err(|e| bad(format!("tag names: {e}")))?;
        self.attr_names = Interner::from_names(meta.attr_names)
            .map_err(|e| bad(format!("attribute names: {e}")))?;
        let n_tags = self.tag_names.names.len() as u32;
        for (s, tags) in meta.tags.iter().enumerate() {
            match self.ids.get(s as u32) {
                None => {
                    if !tags.is_empty() {
                        return Err(bad(format!("free slot {s} carries tags")));
                    }
                    self.free.push(s as u32);
                }
                Some(id) => {
                    if tags.windows(2).any(|w| w[0] >= w[1]) || tags.iter().any(|&t| t >= n_tags) {
                        return Err(bad(format!(
                            "item {id:?}: tag list unsorted or out of range"
                        )));
                    }
                }
            }
        }
        if let Some(&s) = vectorless.iter().find(|&&s| !self.is_live(s)) {
            return Err(("vectorless", format!("slot {s} holds no item")));
        }
        self.mark_vectorless(vectorless);
        self.free.reverse();
        self.tags = TagLists::from_lists(&meta.tags)
            .ok_or_else(|| bad(format!("tag lists exceed {MAX_TAG_ENTRIES} entries")))?;
        drop(meta.tags);
        for (c, col) in meta.attrs.iter().enumerate() {
            if let Some(s) = col.iter().position(|x| x.is_infinite()) {
                return Err(bad(format!(
                    "attribute {:?} of slot {s} is infinite",
                    self.attr_names.names[c]
                )));
            }
        }
        self.attrs = meta.attrs;
        Ok(())
    }
}

/// `slots` inverse norms viewed in the mapped source `r` reads (the caller checks that
/// the source is mapped).
pub(super) fn view_norms(
    r: &mut SectionReader<'_>,
    slots: usize,
) -> std::result::Result<Buf<f32>, String> {
    r.view_bytes(slots * 4)?
        .and_then(|(map, at)| Buf::view(&map, at, slots))
        .ok_or_else(|| "norms not viewable in the mapped file".to_string())
}

/// The vector section as [`Rows`] plus the inverse norms (cosine only), every vector
/// validated.
fn load_vectors(
    storage: VectorStorage,
    dim: usize,
    metric: Metric,
    links: usize,
    r: &mut SectionReader<'_>,
    ids: &[Option<&str>],
    vectorless: &[u32],
) -> std::result::Result<(Rows, Vec<f32>), String> {
    let vectors =
        Rows::read_section(storage, dim, metric, links, ids.len(), r).map_err(|e| r.fail(e))?;
    r.finish()?;
    let inv_norm = check_vectors(&vectors, dim, metric, ids.len(), |s| ids[s], vectorless)?;
    Ok((vectors, inv_norm))
}

/// Checks every row read from a file (live ones as upserts would; free slots, which may
/// keep a tombstone's vector, and items without vectors, finite) and returns the inverse
/// norms (cosine only).
pub(super) fn check_vectors<'a>(
    vectors: &Rows,
    dim: usize,
    metric: Metric,
    slots: usize,
    ids: impl Fn(usize) -> Option<&'a str>,
    vectorless: &[u32],
) -> std::result::Result<Vec<f32>, String> {
    let cosine = metric == Metric::Cosine;
    let mut inv_norm = vec![0.0f32; if cosine { slots } else { 0 }];
    for s in 0..slots {
        // One SIMD pass: a finite norm means every component is finite; otherwise the full
        // check finds the offending component (or, for huge finite values whose square
        // overflows, passes).
        let n = vectors.norm(s);
        let id = ids(s);
        let has_vector = id.is_some() && vectorless.binary_search(&(s as u32)).is_err();
        match id.filter(|_| has_vector) {
            None => {
                if !n.is_finite()
                    && let Some(i) = vectors.row(s).iter().position(|x| !x.is_finite())
                {
                    return Err(format!("free slot {s}: component {i} is not finite"));
                }
            }
            Some(id) => {
                if !(n.is_finite() && n > 0.0) {
                    check(dim, metric, id, &vectors.row(s)).map_err(|e| e.to_string())?;
                }
            }
        }
        if let Some(x) = inv_norm.get_mut(s).filter(|_| n.is_finite() && n > 0.0) {
            *x = 1.0 / n;
        }
    }
    Ok(inv_norm)
}

fn check(dim: usize, metric: Metric, id: &str, v: &[f32]) -> Result<()> {
    Catalog::check_vector(dim, metric, "vector", Some(id), v)
}
