//! A column of ids as long inputs carry them (an interaction log's user and item columns):
//! each distinct id stored once, a 4-byte code per row. 20M interactions over 500k users
//! hold 500k strings and 80 MB of codes, not 20M strings, and every distinct id is looked up
//! in the catalog or the user table once.

use std::collections::HashMap;
use std::hash::Hash;

/// Ids of many rows, dictionary-encoded: [`IdColumn::values`] holds each distinct id once
/// (in order of first appearance), [`IdColumn::codes`] the index of each row's id in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdColumn {
    values: Vec<String>,
    codes: Vec<u32>,
}

impl IdColumn {
    /// The column of these ids.
    pub fn from_ids<S: AsRef<str>>(ids: &[S]) -> IdColumn {
        let keys = ids
            .iter()
            .map(|s| Ok::<_, std::convert::Infallible>(s.as_ref()));
        match IdColumn::try_from_keys(keys, |s| s.to_string()) {
            Ok(c) => c,
        }
    }

    /// The column of rows given as keys of any hashable type (integers, borrowed strings),
    /// each distinct key rendered to its id once by `render`. Stops at the first error.
    pub fn try_from_keys<K: Hash + Eq, E>(
        keys: impl IntoIterator<Item = Result<K, E>>,
        mut render: impl FnMut(&K) -> String,
    ) -> Result<IdColumn, E> {
        let keys = keys.into_iter();
        let mut codes = Vec::with_capacity(keys.size_hint().0);
        let mut seen: HashMap<K, u32> = HashMap::new();
        let mut values = Vec::new();
        for key in keys {
            let key = key?;
            let next = values.len() as u32;
            let code = *seen.entry(key).or_insert_with_key(|k| {
                values.push(render(k));
                next
            });
            codes.push(code);
        }
        Ok(IdColumn { values, codes })
    }

    /// A column from its parts; `None` when a code points past `values`.
    pub(crate) fn from_parts(values: Vec<String>, codes: Vec<u32>) -> Option<IdColumn> {
        codes
            .iter()
            .all(|&c| (c as usize) < values.len())
            .then_some(IdColumn { values, codes })
    }

    /// Rows in the column.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The distinct ids, in order of first appearance.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Per row, the index of its id in [`IdColumn::values`].
    pub fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// The id of row `row`.
    pub fn get(&self, row: usize) -> &str {
        &self.values[self.codes[row] as usize]
    }

    /// The first row holding distinct id `code` (for error messages that name a row).
    pub(crate) fn first_row(&self, code: usize) -> usize {
        self.codes
            .iter()
            .position(|&c| c as usize == code)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_each_distinct_id_once() {
        let c = IdColumn::from_ids(&["b", "a", "b", "c", "a"]);
        assert_eq!(c.values(), ["b", "a", "c"]);
        assert_eq!(c.codes(), [0, 1, 0, 2, 1]);
        assert_eq!((c.len(), c.get(3), c.first_row(2)), (5, "c", 3));
        let ints = IdColumn::try_from_keys([Ok::<i64, ()>(7), Ok(7), Ok(-1)], |i| i.to_string());
        assert_eq!(ints.unwrap().values(), ["7", "-1"]);
        let err = IdColumn::try_from_keys([Ok(1), Err("bad"), Ok(2)], |i: &i32| i.to_string());
        assert_eq!(err, Err("bad"));
    }
}
