//! A derived space's part of a saved file: a catalog that holds rows derived from a model
//! (its item factors, indexed by a graph of their own) rather than host items. Only the
//! rows and their norms are stored; slot `s` is named by its number, as the index that
//! fills such a catalog names it.

use super::Catalog;
use super::format::{check_vectors, view_norms};
use crate::Metric;
use crate::codec::SectionReader;
use crate::store::rows::{Rows, VectorStorage};

impl Catalog {
    /// Writes the space: its rows image (each row's level-0 links, then its vector; see
    /// [`Rows::write_image`]), then under cosine the inverse norms (f32 LE per slot).
    pub(crate) fn write_space(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.write_rows(w)?;
        if self.has_norms() {
            self.write_norms(w)?;
        }
        Ok(())
    }

    /// Reads what [`Catalog::write_space`] wrote: `slots` rows of `dim` f32 components
    /// with `links` link entries each. From a mapped source the rows and norms are views;
    /// otherwise every row is checked finite and the norms are computed from the rows (the
    /// stored ones are skipped). The caller finishes the reader.
    pub(crate) fn read_space(
        (dim, metric, links): (usize, Metric, usize),
        slots: usize,
        r: &mut SectionReader<'_>,
    ) -> std::result::Result<Catalog, String> {
        if slots >= u32::MAX as usize {
            return Err(format!("{slots} slots exceed the limit"));
        }
        let mut cat = Catalog::new(dim, metric, VectorStorage::F32, links);
        let rows = Rows::read_image((dim, VectorStorage::F32, metric, links), slots, r)?;
        let cosine = metric == Metric::Cosine;
        if rows.is_mapped() {
            if cosine {
                cat.inv_norm = view_norms(r, slots)?;
            }
        } else {
            cat.inv_norm = check_vectors(&rows, dim, metric, slots, |_| None, &[])?.into();
            if cosine {
                r.take(slots * 4)?;
            }
        }
        cat.vectors = rows;
        let bytes = (0..slots)
            .map(|s| s.checked_ilog10().unwrap_or(0) as usize + 1)
            .sum();
        cat.ids.reserve(slots, bytes);
        cat.tags.reserve(slots);
        for s in 0..slots as u32 {
            cat.ids.push_free();
            cat.ids.insert(s, &s.to_string());
            cat.tags.push_empty();
        }
        Ok(cat)
    }
}
