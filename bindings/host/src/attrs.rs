//! Tags and numeric attributes of the items of one upsert, from either host form.

use crate::value::{Options, Value, strings, to_f64};
use embedrec::{AttrUpdate, Error, ItemAttrs, Result};

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

/// The change of an attribute update of `n` items: tags (one list per item) replace, the
/// numeric attributes (either form; NaN or a missing entry leaves an attribute as it is)
/// are set, `remove` names attributes to drop.
pub fn attr_update(
    n: usize,
    tags: Option<Vec<Vec<String>>>,
    attributes: Option<Attributes>,
    remove: Vec<String>,
) -> Result<AttrUpdate> {
    let given_tags = tags.is_some();
    let given_numbers = attributes.is_some();
    let parsed = item_attrs(n, tags, attributes)?.unwrap_or_default();
    let (tags, numbers): (Vec<_>, Vec<_>) = parsed.into_iter().map(|a| (a.tags, a.numbers)).unzip();
    Ok(AttrUpdate {
        tags: given_tags.then_some(tags),
        numbers: given_numbers.then_some(numbers),
        remove,
    })
}

/// An attribute update from one options object (Node's form): `tags`, `attributes` (as in
/// [`upsert_options`]) and `remove` (attribute names).
pub fn update_options(n: usize, mut o: Options) -> Result<AttrUpdate> {
    let (tags, attributes) = tags_and_attributes(&mut o)?;
    let remove_field = o.field("remove");
    let remove = o
        .take("remove")
        .map(|v| strings(&remove_field, v))
        .transpose()?
        .unwrap_or_default();
    o.finish(&["tags", "attributes", "remove"])?;
    attr_update(n, tags, attributes, remove)
}

fn tag_lists(field: &str, v: Value) -> Result<Vec<Vec<String>>> {
    match v {
        Value::List(lists) => lists
            .into_iter()
            .enumerate()
            .map(|(i, l)| strings(&format!("{field}[{i}]"), l))
            .collect(),
        other => Err(Error::invalid(
            field,
            "one list of tags per item",
            other.describe(),
        )),
    }
}

/// The item attributes of an upsert from one options object (Node's form): `tags` (one list
/// per item) and `attributes` (one object per item, or `{name: values}` columns).
pub fn upsert_options(n: usize, mut o: Options) -> Result<Option<Vec<ItemAttrs>>> {
    let (tags, attributes) = tags_and_attributes(&mut o)?;
    o.finish(&["tags", "attributes"])?;
    item_attrs(n, tags, attributes)
}

/// One tag list per item.
type TagLists = Vec<Vec<String>>;

/// The `tags` and `attributes` keys of an options object, taken out of it.
fn tags_and_attributes(o: &mut Options) -> Result<(Option<TagLists>, Option<Attributes>)> {
    let tags_field = o.field("tags");
    let tags = o
        .take("tags")
        .map(|v| tag_lists(&tags_field, v))
        .transpose()?;
    let attrs_field = o.field("attributes");
    let attributes = o
        .take("attributes")
        .map(|v| attributes(&attrs_field, v))
        .transpose()?;
    Ok((tags, attributes))
}

fn numbers(field: &str, v: Value) -> Result<Vec<(String, f64)>> {
    match v {
        Value::Map(m) => m
            .into_iter()
            .map(|(k, x)| {
                let f = format!("{field}[{k:?}]");
                Ok((k, to_f64(&f, &x)?))
            })
            .collect(),
        other => Err(Error::invalid(
            field,
            "an object of numbers",
            other.describe(),
        )),
    }
}

/// Numeric attributes as rows (a list of objects) or columns (an object of lists; null
/// where an item lacks the attribute).
fn attributes(field: &str, v: Value) -> Result<Attributes> {
    match v {
        Value::List(rows) => Ok(Attributes::Rows(
            rows.into_iter()
                .enumerate()
                .map(|(i, r)| numbers(&format!("{field}[{i}]"), r))
                .collect::<Result<_>>()?,
        )),
        Value::Map(cols) => Ok(Attributes::Columns(
            cols.into_iter()
                .map(|(k, col)| {
                    let f = format!("{field}[{k:?}]");
                    match col {
                        Value::List(xs) => Ok((
                            k,
                            xs.iter()
                                .map(|x| match x {
                                    Value::Null => Ok(f64::NAN),
                                    x => to_f64(&f, x),
                                })
                                .collect::<Result<_>>()?,
                        )),
                        other => Err(Error::invalid(f, "a list of numbers", other.describe())),
                    }
                })
                .collect::<Result<_>>()?,
        )),
        other => Err(Error::invalid(
            field,
            "one object per item, or {name: values}",
            other.describe(),
        )),
    }
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
