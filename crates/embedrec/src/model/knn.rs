//! Item-kNN: item-item cosine or BM25-weighted co-occurrence, top neighbours per item.

use super::csr::Csr;
use super::spec::{KnnParams, KnnWeighting, Progress};
use crate::Result;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KnnModel {
    pub(crate) params: KnnParams,
    /// Per slot: neighbours `(slot, similarity)`, best first.
    pub(crate) neighbours: Vec<Vec<(u32, f32)>>,
}

/// Item-item similarities from the user x item matrix, top `neighbours` per item.
#[allow(clippy::needless_range_loop)]
pub(crate) fn fit_knn(
    m: &Csr,
    p: &KnnParams,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<KnnModel> {
    let t0 = Instant::now();
    let n_items = m.cols;
    // Weighted user x item matrix.
    let mut w = m.data.clone();
    match p.weighting {
        KnnWeighting::Cosine => w.iter_mut().for_each(|x| *x = 1.0),
        KnnWeighting::Bm25 { k1, b } => {
            // implicit's bm25_weight: idf per item, length normalisation per user row.
            let n_users = m.rows as f32;
            let mut df = vec![0f32; n_items];
            for &c in &m.indices {
                df[c as usize] += 1.0;
            }
            let idf: Vec<f32> = df
                .iter()
                .map(|&d| (n_users / (1.0 + d)).ln().max(0.0))
                .collect();
            let lengths: Vec<f32> = (0..m.rows).map(|r| m.row(r).0.len() as f32).collect();
            let avg = lengths.iter().sum::<f32>() / n_users.max(1.0);
            for r in 0..m.rows {
                let norm = k1 * (1.0 - b + b * lengths[r] / avg.max(1e-9));
                for k in m.indptr[r]..m.indptr[r + 1] {
                    let x = m.data[k];
                    w[k] = x * (k1 + 1.0) / (norm + x) * idf[m.indices[k] as usize];
                }
            }
        }
    }
    let weighted = Csr {
        rows: m.rows,
        cols: m.cols,
        indptr: m.indptr.clone(),
        indices: m.indices.clone(),
        data: w,
    };
    let t = super::rows::transpose(&weighted); // item x user
    let norms: Vec<f32> = (0..n_items)
        .map(|i| t.row(i).1.iter().map(|x| x * x).sum::<f32>().sqrt())
        .collect();
    let neighbours: Vec<Vec<(u32, f32)>> = (0..n_items)
        .into_par_iter()
        .map_init(
            || vec![0f32; n_items],
            |acc, i| {
                let (users, wi) = t.row(i);
                if users.is_empty() {
                    return Vec::new();
                }
                let mut touched = Vec::new();
                for (&u, &a) in users.iter().zip(wi) {
                    let (items, wu) = weighted.row(u as usize);
                    for (&j, &bw) in items.iter().zip(wu) {
                        if j as usize != i {
                            if acc[j as usize] == 0.0 {
                                touched.push(j);
                            }
                            acc[j as usize] += a * bw;
                        }
                    }
                }
                let mut sims: Vec<(u32, f32)> = touched
                    .iter()
                    .map(|&j| {
                        let s = acc[j as usize] / (norms[i] * norms[j as usize]).max(1e-12);
                        acc[j as usize] = 0.0;
                        (j, s)
                    })
                    .filter(|x| x.1 > 0.0)
                    .collect();
                sims.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                sims.truncate(p.neighbours);
                sims
            },
        )
        .collect();
    progress(Progress {
        model: "item_knn",
        iteration: 1,
        total: 1,
        elapsed_secs: t0.elapsed().as_secs_f64(),
        loss: None,
    });
    Ok(KnnModel {
        params: p.clone(),
        neighbours,
    })
}

// ---------------------------------------------------------------------------------- serving
