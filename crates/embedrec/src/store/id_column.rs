//! A column of ids as long inputs carry them (an interaction log's user and item columns):
//! each distinct id stored once, a 4-byte code per row. 20M interactions over 500k users
//! hold 500k ids back to back in one string and 80 MB of codes, not 20M strings (nor 500k
//! small allocations), and every distinct id is looked up in the catalog or the user table
//! once.

use std::collections::HashMap;
use std::hash::Hash;

/// Ids of many rows, dictionary-encoded: [`IdColumn::values`] yields each distinct id once
/// (in order of first appearance), [`IdColumn::codes`] the index of each row's id in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdColumn {
    /// The distinct ids back to back; value `c` is `text[ends[c - 1]..ends[c]]`.
    text: String,
    ends: Vec<usize>,
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
        let (mut text, mut ends) = (String::new(), Vec::new());
        for key in keys {
            let key = key?;
            let next = ends.len() as u32;
            let code = *seen.entry(key).or_insert_with_key(|k| {
                text.push_str(&render(k));
                ends.push(text.len());
                next
            });
            codes.push(code);
        }
        Ok(IdColumn { text, ends, codes })
    }

    /// A column from its parts; `None` when a code points past `values`.
    pub(crate) fn from_parts(values: Vec<String>, codes: Vec<u32>) -> Option<IdColumn> {
        if !codes.iter().all(|&c| (c as usize) < values.len()) {
            return None;
        }
        let mut text = String::with_capacity(values.iter().map(String::len).sum());
        let ends = values
            .iter()
            .map(|v| {
                text.push_str(v);
                text.len()
            })
            .collect();
        Some(IdColumn { text, ends, codes })
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
    pub fn values(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.ends.len()).map(|c| self.value(c))
    }

    /// Distinct id `code` (an index into [`IdColumn::values`]).
    pub fn value(&self, code: usize) -> &str {
        let start = code.checked_sub(1).map_or(0, |c| self.ends[c]);
        &self.text[start..self.ends[code]]
    }

    /// Per row, the index of its id in [`IdColumn::values`].
    pub fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// The id of row `row`.
    pub fn get(&self, row: usize) -> &str {
        self.value(self.codes[row] as usize)
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
        assert_eq!(c.values().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(c.codes(), [0, 1, 0, 2, 1]);
        assert_eq!((c.len(), c.get(3), c.first_row(2)), (5, "c", 3));
        let ints = IdColumn::try_from_keys([Ok::<i64, ()>(7), Ok(7), Ok(-1)], |i| i.to_string());
        assert_eq!(ints.unwrap().values().collect::<Vec<_>>(), ["7", "-1"]);
        let parts = IdColumn::from_parts(vec!["x".into(), "yz".into()], vec![1, 0, 1]).unwrap();
        assert_eq!(
            (parts.get(0), parts.get(1), parts.value(1)),
            ("yz", "x", "yz")
        );
        assert!(IdColumn::from_parts(vec!["x".into()], vec![1]).is_none());
        let err = IdColumn::try_from_keys([Ok(1), Err("bad"), Ok(2)], |i: &i32| i.to_string());
        assert_eq!(err, Err("bad"));
    }
}
