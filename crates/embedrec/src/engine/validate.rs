//! Checks of call arguments shared by the engine's methods (the store checks vectors and
//! attributes itself).

use super::config::MAX_K;
use crate::store::MAX_WEIGHT;
use crate::{Error, Result};
use ndarray::ArrayView2;

pub(crate) fn check_k(k: usize) -> Result<()> {
    if k == 0 || k > MAX_K {
        return Err(Error::invalid("k", format!("an integer in 1..={MAX_K}"), k));
    }
    Ok(())
}

pub(crate) fn check_options(opts: &super::RecommendOptions) -> Result<()> {
    if !(opts.diversity.is_finite() && (0.0..=1.0).contains(&opts.diversity)) {
        return Err(Error::invalid(
            "opts.diversity",
            "a number in 0..=1",
            opts.diversity,
        ));
    }
    Ok(())
}

pub(super) fn check_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid(field, "a non-empty id", "\"\""));
    }
    if id.len() > crate::store::MAX_ID_BYTES {
        return Err(Error::invalid(
            field,
            format!("an id of at most {} bytes", crate::store::MAX_ID_BYTES),
            format!("{} bytes", id.len()),
        ));
    }
    Ok(())
}

pub(super) fn check_len(field: &str, expected: usize, got: usize, of: &str) -> Result<()> {
    if expected != got {
        return Err(Error::invalid(
            field,
            format!("{expected} entries (one per {of})"),
            format!("{got} entries"),
        ));
    }
    Ok(())
}

/// Weights, when given, must be one per entry, > 0 and at most [`MAX_WEIGHT`].
pub(crate) fn check_weights(weights: Option<&[f32]>, n: usize, of: &str) -> Result<()> {
    if let Some(w) = weights {
        check_len("weights", n, w.len(), of)?;
        if let Some(i) = w.iter().position(|x| !(*x > 0.0 && *x <= MAX_WEIGHT)) {
            return Err(Error::invalid(
                format!("weights[{i}]"),
                format!("a weight > 0 and at most {MAX_WEIGHT:e}"),
                w[i],
            ));
        }
    }
    Ok(())
}

/// The rows of a matrix as slices: borrowed when contiguous, copied otherwise.
pub(super) fn row_slices<'a>(m: &'a ArrayView2<'_, f32>) -> Vec<std::borrow::Cow<'a, [f32]>> {
    m.rows()
        .into_iter()
        .map(|r| match r.to_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(r.to_vec()),
        })
        .collect()
}
