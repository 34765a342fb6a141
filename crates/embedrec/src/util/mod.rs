//! Low-level helpers with no knowledge of the engine: CPU prefetch hints, memory advice to
//! the operating system, arrays viewed in mapped files, a small seeded random generator and range checks.

pub(crate) mod mapped;
pub(crate) mod memory;
pub(crate) mod prefetch;
pub(crate) mod rng;

use crate::{Error, Result};

/// `v` must lie in `lo..=hi`; otherwise [`Error::InvalidInput`] naming `field`.
pub(crate) fn check_range(field: &str, v: usize, lo: usize, hi: usize) -> Result<()> {
    if v < lo || v > hi {
        return Err(Error::invalid(
            field,
            format!("an integer in {lo}..={hi}"),
            v,
        ));
    }
    Ok(())
}
