//! The users × items matrix a model trains on, as rows: a [`Csr`] built for the purpose, or
//! the engine's stored histories read in place ([`HistoryRows`]), so that ALS does not hold
//! a copy of the interaction log beside the log itself.

use super::csr::{Csr, append_summed};
use crate::store::{Catalog, History};
use rayon::prelude::*;

/// Rows of distinct columns with their summed weights.
pub(crate) trait Rows: Sync {
    fn rows(&self) -> usize;
    fn cols(&self) -> usize;
    /// Distinct columns in row `r`.
    fn row_len(&self, r: usize) -> usize;
    /// Calls `f` with row `r`'s distinct columns and summed weights (in no particular order).
    fn with_row<T>(&self, r: usize, f: impl FnOnce(&[u32], &[f32]) -> T) -> T;

    /// Distinct (row, column) pairs.
    fn nnz(&self) -> usize {
        (0..self.rows()).map(|r| self.row_len(r)).sum()
    }
}

impl Rows for Csr {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    fn row_len(&self, r: usize) -> usize {
        self.indptr[r + 1] - self.indptr[r]
    }
    fn with_row<T>(&self, r: usize, f: impl FnOnce(&[u32], &[f32]) -> T) -> T {
        let (c, w) = self.row(r);
        f(c, w)
    }
    fn nnz(&self) -> usize {
        self.indices.len()
    }
}

/// The engine's histories as the rows of the training matrix, over live slots only. A
/// history whose slots are distinct and live is its own row (no copy, the common case);
/// any other is aggregated when it is read.
pub(crate) struct HistoryRows<'a> {
    histories: &'a [History],
    cat: &'a Catalog,
    /// Distinct live slots per history; equal to its length exactly when it is its own row.
    lens: Vec<u32>,
}

impl<'a> HistoryRows<'a> {
    /// Reads every history once (in parallel, on the calling pool) to count its distinct
    /// live slots.
    pub(crate) fn new(histories: &'a [History], cat: &'a Catalog) -> Self {
        let lens = histories
            .par_iter()
            .map_init(Vec::new, |scratch: &mut Vec<u32>, h| {
                scratch.clear();
                scratch.extend(h.slots().iter().copied().filter(|&s| cat.is_live(s)));
                scratch.sort_unstable();
                scratch.dedup();
                scratch.len() as u32
            })
            .collect();
        HistoryRows {
            histories,
            cat,
            lens,
        }
    }

    /// The same matrix as a [`Csr`] (sorted columns), for the models that need one.
    pub(crate) fn to_csr(&self) -> Csr {
        Csr::build(
            self.histories.iter().map(|h| {
                h.iter()
                    .filter(|i| self.cat.is_live(i.slot))
                    .map(|i| (i.slot, i.weight))
            }),
            self.cat.slots(),
            self.nnz(),
        )
    }
}

impl Rows for HistoryRows<'_> {
    fn rows(&self) -> usize {
        self.histories.len()
    }
    fn cols(&self) -> usize {
        self.cat.slots()
    }
    fn row_len(&self, r: usize) -> usize {
        self.lens[r] as usize
    }
    fn with_row<T>(&self, r: usize, f: impl FnOnce(&[u32], &[f32]) -> T) -> T {
        let h = &self.histories[r];
        if self.lens[r] as usize == h.len() {
            return f(h.slots(), h.weights());
        }
        // Aggregated in this thread's buffers: no allocation once they have grown.
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut buf) => self.aggregate(h, &mut buf, f),
            Err(_) => self.aggregate(h, &mut Scratch::default(), f),
        })
    }
}

impl HistoryRows<'_> {
    /// Calls `f` with history `h` summed per live slot (sorted).
    fn aggregate<T>(
        &self,
        h: &History,
        buf: &mut Scratch,
        f: impl FnOnce(&[u32], &[f32]) -> T,
    ) -> T {
        let (pairs, cols, ws) = buf;
        pairs.clear();
        pairs.extend(
            h.slots()
                .iter()
                .zip(h.weights())
                .filter(|(s, _)| self.cat.is_live(**s))
                .map(|(&s, &w)| (s, w)),
        );
        cols.clear();
        ws.clear();
        append_summed(pairs, cols, ws);
        f(cols, ws)
    }
}

type Scratch = (Vec<(u32, f32)>, Vec<u32>, Vec<f32>);

thread_local! {
    /// A thread's buffers for aggregating a history (`f` in `with_row` never reads another row).
    static SCRATCH: std::cell::RefCell<Scratch> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new(), Vec::new()))
    };
}

/// The transpose of `rows` (columns × rows, sorted), summed weights as values. Reads every
/// row twice (counts, then values) and allocates only the result.
pub(crate) fn transpose<R: Rows>(rows: &R) -> Csr {
    let cols = rows.cols();
    let mut indptr = vec![0usize; cols + 1];
    for r in 0..rows.rows() {
        rows.with_row(r, |cs, _| {
            for &c in cs {
                indptr[c as usize + 1] += 1;
            }
        });
    }
    for i in 0..cols {
        indptr[i + 1] += indptr[i];
    }
    let nnz = indptr[cols];
    let mut next = indptr[..cols].to_vec();
    let (mut indices, mut data) = (vec![0u32; nnz], vec![0f32; nnz]);
    for r in 0..rows.rows() {
        rows.with_row(r, |cs, ws| {
            for (&c, &w) in cs.iter().zip(ws) {
                let p = &mut next[c as usize];
                indices[*p] = r as u32;
                data[*p] = w;
                *p += 1;
            }
        });
    }
    Csr {
        rows: cols,
        cols: rows.rows(),
        indptr,
        indices,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Interaction, Users};

    fn it(slot: u32, weight: f32) -> Interaction {
        Interaction {
            slot,
            weight,
            ts: 0,
        }
    }

    #[test]
    fn histories_read_as_the_matrix_built_from_them() {
        let mut cat = Catalog::of_ids(5);
        cat.remove(3, false);
        let mut users = Users::default();
        let history = [
            ("a", vec![it(2, 1.0), it(0, 2.0)]), // distinct, live: its own row
            ("b", vec![it(1, 1.0), it(1, 4.0), it(3, 9.0), it(4, 1.0)]), // a repeat, a removed slot
            ("c", vec![it(3, 1.0)]),             // nothing live
        ];
        for (user, its) in &history {
            for &i in its {
                users.add(user, i);
            }
        }
        let rows = HistoryRows::new(users.histories(), &cat);
        let csr = rows.to_csr();
        assert_eq!(rows.nnz(), csr.nnz());
        assert_eq!(rows.nnz(), 4);
        for r in 0..3 {
            let mut got = rows.with_row(r, |c, w| {
                c.iter().copied().zip(w.iter().copied()).collect::<Vec<_>>()
            });
            got.sort_by_key(|x| x.0);
            let want: Vec<(u32, f32)> =
                csr.with_row(r, |c, w| c.iter().copied().zip(w.iter().copied()).collect());
            assert_eq!(got, want, "row {r}");
            assert_eq!(rows.row_len(r), want.len());
        }
        assert_eq!(
            rows.with_row(1, |c, w| (c.to_vec(), w.to_vec())),
            (vec![1, 4], vec![5.0, 1.0])
        );
        let t = transpose(&rows);
        let tc = transpose(&csr);
        assert_eq!(
            (t.indptr, t.indices, t.data),
            (tc.indptr, tc.indices, tc.data)
        );
    }
}
