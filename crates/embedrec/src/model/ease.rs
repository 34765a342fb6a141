//! EASE (Steck 2019): a closed-form item-item model.

use super::csr::Csr;
#[cfg(feature = "ease")]
use super::spec::EASE_MAX_ITEMS;
use super::spec::{EaseParams, Progress};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
#[cfg(feature = "ease")]
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct EaseModel {
    pub(crate) params: EaseParams,
    /// Catalog slot of each row/column of `b` (`NONE` once the item is removed).
    pub(crate) items: Vec<u32>,
    /// Row of each slot in `b`, or `NONE`.
    pub(crate) row_of: Vec<u32>,
    /// `n * n` row-major item-item weights (zero diagonal).
    pub(crate) b: Vec<f32>,
}

/// Marks an item without a row in `b`, or a row whose item was removed.
pub(crate) const NO_ROW: u32 = u32::MAX;

/// Training EASE needs the `ease` cargo feature (on by default), which brings faer's dense
/// kernels; a build without it still loads and serves EASE models.
#[cfg(not(feature = "ease"))]
pub(crate) fn fit_ease(
    _m: &Csr,
    _p: &EaseParams,
    _progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<EaseModel> {
    Err(Error::invalid(
        "model",
        "a model this build can train (EASE needs the `ease` cargo feature)",
        "\"ease\"",
    ))
}

/// EASE (Steck 2019): `P = (XᵀX + λI)⁻¹`, `B = I - P / diag(P)` over items with interactions,
/// with a binary user x item matrix `X`. Dense f32 Cholesky inverse (faer, single thread).
#[cfg(feature = "ease")]
pub(crate) fn fit_ease(
    m: &Csr,
    p: &EaseParams,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<EaseModel> {
    use faer::{Mat, Side, linalg::solvers::DenseSolveCore};
    let t0 = Instant::now();
    let mt = super::rows::transpose(m);
    let items: Vec<u32> = (0..m.cols)
        .filter(|&i| mt.indptr[i + 1] > mt.indptr[i])
        .map(|i| i as u32)
        .collect();
    let n = items.len();
    if n > EASE_MAX_ITEMS {
        return Err(Error::CapacityExceeded {
            what: format!(
                "EASE items (it needs about {} MB for {n} items)",
                12 * (n as u64).pow(2) / 1_000_000
            ),
            limit: EASE_MAX_ITEMS as u64,
            got: n as u64,
        });
    }
    let mut row_of = vec![NO_ROW; m.cols];
    for (r, &s) in items.iter().enumerate() {
        row_of[s as usize] = r as u32;
    }
    // Gram matrix of the binary matrix: co-occurrence counts.
    let mut g = Mat::<f32>::zeros(n, n);
    for u in 0..m.rows {
        let rows: Vec<usize> = m
            .row(u)
            .0
            .iter()
            .map(|&s| row_of[s as usize] as usize)
            .collect();
        for &a in &rows {
            for &b in &rows {
                g[(a, b)] += 1.0;
            }
        }
    }
    for d in 0..n {
        g[(d, d)] += p.regularization;
    }
    let llt = g
        .llt(Side::Lower)
        .map_err(|e| Error::Internal(format!("EASE Cholesky failed: {e:?}")))?;
    drop(g);
    let pinv = llt.inverse();
    drop(llt);
    let mut b = vec![0.0f32; n * n];
    for j in 0..n {
        let djj = pinv[(j, j)];
        for i in 0..n {
            // B[i][j] = -P[i][j] / P[j][j], zero diagonal.
            b[i * n + j] = if i == j { 0.0 } else { -pinv[(i, j)] / djj };
        }
    }
    progress(Progress {
        model: "ease",
        iteration: 1,
        total: 1,
        elapsed_secs: t0.elapsed().as_secs_f64(),
        loss: None,
    });
    Ok(EaseModel {
        params: p.clone(),
        items,
        row_of,
        b,
    })
}

// ---------------------------------------------------------------------------------- item-kNN
