//! What the catalog accepts: the checks of one vector and of one item's attributes, made
//! before anything changes.

use super::{Catalog, ItemAttrs};
use crate::error::ShowId;
use crate::{Error, Metric, Result};

impl Catalog {
    /// Validates one vector: dimension, finiteness, non-zero norm for cosine. `item` names
    /// the item the vector belongs to, when there is one.
    pub(crate) fn check_vector(
        dim: usize,
        metric: Metric,
        field: &str,
        item: Option<&str>,
        v: &[f32],
    ) -> Result<()> {
        // Built only on failure: this runs once per stored vector on every load.
        let of_item = || {
            item.map(|id| format!(" (item {})", ShowId(id)))
                .unwrap_or_default()
        };
        if v.len() != dim {
            return Err(Error::DimensionMismatch {
                field: format!("{field}{}", of_item()),
                expected: dim,
                got: v.len(),
            });
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(
                format!("{field}[{i}]{}", of_item()),
                "a finite number",
                v[i],
            ));
        }
        if metric == Metric::Cosine {
            let n = crate::distance::norm(v);
            if !(n.is_finite() && n > 0.0) {
                return Err(Error::invalid(
                    format!("{field}{}", of_item()),
                    "a vector with non-zero, finite norm (cosine similarity is undefined for the zero vector)",
                    format!("norm {n}"),
                ));
            }
        }
        Ok(())
    }

    /// Validates item metadata.
    pub(crate) fn check_attrs(id: &str, a: &ItemAttrs) -> Result<()> {
        for t in &a.tags {
            if t.is_empty() {
                return Err(Error::invalid(
                    format!("tags of item {}", ShowId(id)),
                    "non-empty tag strings",
                    "\"\"",
                ));
            }
        }
        for (name, v) in &a.numbers {
            if name.is_empty() {
                return Err(Error::invalid(
                    format!("attributes of item {}", ShowId(id)),
                    "non-empty attribute names",
                    "\"\"",
                ));
            }
            if !v.is_finite() {
                return Err(Error::invalid(
                    format!("attribute {name:?} of item {}", ShowId(id)),
                    "a finite number",
                    v,
                ));
            }
        }
        Ok(())
    }
}
