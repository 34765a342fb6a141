//! Interactions aggregated per (user, item) in compressed sparse rows, the input of every
//! training algorithm.

/// Interactions aggregated per (user, item), in compressed sparse rows.
#[derive(Clone)]
pub(crate) struct Csr {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) indptr: Vec<usize>,
    pub(crate) indices: Vec<u32>,
    pub(crate) data: Vec<f32>,
}

impl Csr {
    /// Builds rows from `(col, weight)` lists, summing repeated columns.
    pub(crate) fn from_rows(rows: &[Vec<(u32, f32)>], cols: usize) -> Csr {
        let nnz = rows.iter().map(Vec::len).sum();
        Csr::build(rows.iter().map(|r| r.iter().copied()), cols, nnz)
    }

    /// Builds rows from `(col, weight)` sequences, summing repeated columns; `nnz` is the
    /// number of pairs (or a bound on it). The matrix is the only allocation that grows with
    /// the input, reserved once (one scratch row is reused).
    pub(crate) fn build<R: IntoIterator<Item = (u32, f32)>>(
        rows: impl IntoIterator<Item = R>,
        cols: usize,
        nnz: usize,
    ) -> Csr {
        let rows = rows.into_iter();
        let mut indptr = Vec::with_capacity(rows.size_hint().0 + 1);
        let (mut indices, mut data) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        let mut scratch: Vec<(u32, f32)> = Vec::new();
        indptr.push(0);
        for r in rows {
            scratch.clear();
            scratch.extend(r);
            append_summed(&mut scratch, &mut indices, &mut data);
            indptr.push(indices.len());
        }
        indices.shrink_to_fit();
        data.shrink_to_fit();
        Csr {
            rows: indptr.len() - 1,
            cols,
            indptr,
            indices,
            data,
        }
    }

    pub(crate) fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }
}

/// Appends `pairs` to `cols` and `ws` sorted by column, summing the weights of repeated
/// columns (`pairs` is sorted in place).
pub(crate) fn append_summed(pairs: &mut [(u32, f32)], cols: &mut Vec<u32>, ws: &mut Vec<f32>) {
    pairs.sort_unstable_by_key(|p| p.0);
    let start = cols.len();
    for &(c, w) in pairs.iter() {
        match ws.last_mut() {
            Some(last) if cols.len() > start && cols.last() == Some(&c) => *last += w,
            _ => {
                cols.push(c);
                ws.push(w);
            }
        }
    }
}

/// Sums repeated `(slot, weight)` pairs.
pub(crate) fn aggregate(hist: impl Iterator<Item = (u32, f32)>) -> Vec<(u32, f32)> {
    let mut v: Vec<(u32, f32)> = hist.collect();
    v.sort_unstable_by_key(|x| x.0);
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(v.len());
    for (s, w) in v {
        match out.last_mut() {
            Some(last) if last.0 == s => last.1 += w,
            _ => out.push((s, w)),
        }
    }
    out
}
