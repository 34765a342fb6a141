//! Tags and numeric attributes of the items of one upsert, from either host form.

use embedrec::{Error, ItemAttrs, Result};

/// Numeric attributes as a host gives them.
#[derive(Clone, Debug, PartialEq)]
pub enum Attributes {
    /// `{name: values}`: one value per item; NaN where an item lacks the attribute.
    Columns(Vec<(String, Vec<f64>)>),
    /// One `{name: value}` mapping per item.
    Rows(Vec<Vec<(String, f64)>>),
}

/// The attributes of `n` items from one tag list per item and the numeric attributes;
/// `None` when neither is given. Every list must have one entry per item.
pub fn item_attrs(
    n: usize,
    tags: Option<Vec<Vec<String>>>,
    attributes: Option<Attributes>,
) -> Result<Option<Vec<ItemAttrs>>> {
    if tags.is_none() && attributes.is_none() {
        return Ok(None);
    }
    let mut out = vec![ItemAttrs::default(); n];
    if let Some(t) = tags {
        if t.len() != n {
            return Err(Error::invalid(
                "tags",
                format!("{n} tag lists (one per id)"),
                format!("{} lists", t.len()),
            ));
        }
        for (a, t) in out.iter_mut().zip(t) {
            a.tags = t;
        }
    }
    match attributes {
        None => {}
        Some(Attributes::Columns(cols)) => {
            for a in out.iter_mut() {
                a.numbers.reserve_exact(cols.len());
            }
            for (name, col) in cols {
                if col.len() != n {
                    return Err(Error::invalid(
                        format!("attributes[{name:?}]"),
                        format!("{n} values (one per id)"),
                        col.len(),
                    ));
                }
                for (a, v) in out.iter_mut().zip(col) {
                    if !v.is_nan() {
                        a.numbers.push((name.clone(), v));
                    }
                }
            }
        }
        Some(Attributes::Rows(rows)) => {
            if rows.len() != n {
                return Err(Error::invalid(
                    "attributes",
                    format!("{n} objects (one per id)"),
                    rows.len(),
                ));
            }
            for (a, mut r) in out.iter_mut().zip(rows) {
                r.sort_by(|x, y| x.0.cmp(&y.0));
                a.numbers.extend(r);
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_needs_one_entry_per_item() {
        let tags = vec![vec!["rock".to_string()]];
        assert!(item_attrs(2, Some(tags.clone()), None).is_err());
        assert!(item_attrs(2, None, Some(Attributes::Rows(vec![vec![]]))).is_err());
        let cols = Attributes::Columns(vec![("year".into(), vec![1.0])]);
        assert!(item_attrs(2, None, Some(cols)).is_err());
        assert_eq!(
            item_attrs(1, Some(tags), None).unwrap().unwrap()[0].tags,
            ["rock"]
        );
        assert!(item_attrs(3, None, None).unwrap().is_none());
    }
}
