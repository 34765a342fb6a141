//! The catalog's part of a saved file: ids, tags, names and attribute columns in the META
//! section, and the vector rows in their own section. Everything read is validated as an
//! upsert would validate it.

use super::{Catalog, Interner};
use crate::codec::SectionReader;
use crate::store::ids::MAX_ID_BYTES;
use crate::store::rows::{Rows, VectorStorage};
use crate::store::tags::{MAX_TAG_ENTRIES, TagLists};
use crate::{Metric, Result};
use serde::{Deserialize, Serialize};

/// The catalog's fields of the META section (bincode of this struct, inline in META).
#[derive(Serialize, Deserialize)]
pub(crate) struct CatalogMeta<'a> {
    /// Borrowed from the catalog when saving and from the file's bytes when loading (no
    /// allocation per id either way).
    #[serde(borrow)]
    ids: Vec<Option<&'a str>>,
    tags: Vec<Vec<u32>>,
    tag_names: Vec<String>,
    attr_names: Vec<String>,
    attrs: Vec<Vec<f64>>,
}

impl CatalogMeta<'_> {
    /// Number of slots the file declares.
    pub(crate) fn slots(&self) -> usize {
        self.ids.len()
    }
}

/// Where a load failed: the section and the reason.
pub(crate) type Damage = (&'static str, String);

impl Catalog {
    /// The catalog's fields of the META section.
    pub(crate) fn meta(&self) -> CatalogMeta<'_> {
        CatalogMeta {
            ids: (0..self.slots() as u32).map(|s| self.ids.get(s)).collect(),
            tags: self.tags.iter().map(|t| t.to_vec()).collect(),
            tag_names: self.tag_names.names.clone(),
            attr_names: self.attr_names.names.clone(),
            attrs: self.attrs.clone(),
        }
    }

    /// How the vectors are stored (which vector section the file holds).
    pub(crate) fn storage(&self) -> VectorStorage {
        self.vectors.storage()
    }

    /// The vector section's bytes.
    pub(crate) fn write_vectors(&self, out: &mut Vec<u8>) {
        self.vectors.write_section(out);
    }

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
        let mut cat = Catalog::new(dim, metric, storage, links);
        let ids = &meta.ids;
        let (vectors, ids_done) = std::thread::scope(|scope| {
            let vectors =
                scope.spawn(|| load_vectors(storage, dim, metric, links, vec_r, ids, vectorless));
            let ids_done = (|| -> std::result::Result<(), Damage> {
                cat.tag_names = Interner::from_names(meta.tag_names)
                    .map_err(|e| bad(format!("tag names: {e}")))?;
                cat.attr_names = Interner::from_names(meta.attr_names)
                    .map_err(|e| bad(format!("attribute names: {e}")))?;
                let n_tags = cat.tag_names.names.len() as u32;
                cat.ids
                    .reserve(slots, ids.iter().map(|id| id.map_or(0, str::len)).sum());
                for (s, (id, tags)) in ids.iter().zip(&meta.tags).enumerate() {
                    cat.ids.push_free();
                    match id {
                        None => {
                            if !tags.is_empty() {
                                return Err(bad(format!("free slot {s} carries tags")));
                            }
                            cat.free.push(s as u32);
                        }
                        Some(id) => {
                            if id.is_empty() || id.len() > MAX_ID_BYTES {
                                return Err(bad(format!(
                                    "slot {s}: invalid id of {} bytes",
                                    id.len()
                                )));
                            }
                            if tags.windows(2).any(|w| w[0] >= w[1])
                                || tags.iter().any(|&t| t >= n_tags)
                            {
                                return Err(bad(format!(
                                    "item {id:?}: tag list unsorted or out of range"
                                )));
                            }
                            if !cat.ids.insert(s as u32, id) {
                                return Err(bad(format!("item id {id:?} appears twice")));
                            }
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
        (cat.vectors, cat.inv_norm) = vectors.map_err(|reason| (section, reason))?;
        if let Some(&s) = vectorless.iter().find(|&&s| !cat.is_live(s)) {
            return Err(("vectorless", format!("slot {s} holds no item")));
        }
        cat.mark_vectorless(vectorless);
        cat.free.reverse();
        cat.tags = TagLists::from_lists(&meta.tags)
            .ok_or_else(|| bad(format!("tag lists exceed {MAX_TAG_ENTRIES} entries")))?;
        drop(meta.tags);
        for (c, col) in meta.attrs.iter().enumerate() {
            if let Some(s) = col.iter().position(|x| x.is_infinite()) {
                return Err(bad(format!(
                    "attribute {:?} of slot {s} is infinite",
                    cat.attr_names.names[c]
                )));
            }
        }
        cat.attrs = meta.attrs;
        Ok(cat)
    }
}

/// The vector section as [`Rows`] plus the inverse norms (cosine only), every vector validated (live
/// ones as upserts would; free slots, which may keep a tombstone's vector, and items
/// without vectors, finite).
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
    let cosine = metric == Metric::Cosine;
    let mut inv_norm = vec![0.0f32; if cosine { ids.len() } else { 0 }];
    for (s, id) in ids.iter().enumerate() {
        // One SIMD pass: a finite norm means every component is finite; otherwise the full
        // check finds the offending component (or, for huge finite values whose square
        // overflows, passes).
        let n = vectors.norm(s);
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
        if cosine && n.is_finite() && n > 0.0 {
            inv_norm[s] = 1.0 / n;
        }
    }
    Ok((vectors, inv_norm))
}

fn check(dim: usize, metric: Metric, id: &str, v: &[f32]) -> Result<()> {
    Catalog::check_vector(dim, metric, "vector", Some(id), v)
}
