//! F16 rows: each vector as IEEE half-precision values, two bytes per dimension.

use super::RowBlock;
use crate::distance::half::{from_f16, to_f16};

/// Bytes between row starts for `dim` f16 components: whole cache lines when that costs at
/// most 1/8 of the row, otherwise 16-byte steps.
fn half_stride_for(dim: usize) -> usize {
    let lines = dim.div_ceil(32) * 32;
    if (lines - dim) * 8 <= dim {
        lines * 2
    } else {
        dim.div_ceil(8) * 16
    }
}

/// Vectors stored as f16 (half the f32 bytes): each component rounded to the nearest f16,
/// which keeps about three significant digits (relative error at most 2⁻¹¹) over
/// `6·10⁻⁸ ..= 65504`. The stored (rounded) vector is what every score uses, computed in
/// f32. Values sit after their row's header, as f32 vectors do.
pub(crate) struct HalfStore {
    pub(super) dim: usize,
    pub(super) block: RowBlock,
}

impl HalfStore {
    pub(super) fn new(dim: usize, links: usize) -> Self {
        HalfStore {
            dim,
            block: RowBlock::new(links, half_stride_for(dim)),
        }
    }

    /// The f16 bits of row `r`.
    #[inline(always)]
    pub(crate) fn bits(&self, r: usize) -> &[u16] {
        self.block.body(r, self.dim)
    }

    /// Row `r` widened to f32.
    pub(super) fn decode(&self, r: usize) -> Vec<f32> {
        self.bits(r).iter().map(|&h| from_f16(h)).collect()
    }

    /// The norm of row `r` as stored.
    pub(super) fn norm(&self, r: usize) -> f32 {
        let h = self.bits(r);
        (crate::distance::kernels().hh_dot)(h, h).sqrt()
    }

    /// Rounds `v` (components validated to the f16 range) into row `r`.
    pub(super) fn set(&mut self, r: usize, v: &[f32]) {
        for (h, &x) in self.block.body_mut::<u16>(r, self.dim).iter_mut().zip(v) {
            *h = to_f16(x);
        }
    }

    /// Zeroes row `r`.
    pub(super) fn zero(&mut self, r: usize) {
        self.block.body_mut::<u16>(r, self.dim).fill(0);
    }

    /// Reads `rows * dim` little-endian f16 values into a fresh block (rows with `links`
    /// empty header entries).
    pub(super) fn read_rows(
        dim: usize,
        links: usize,
        rows: usize,
        r: &mut crate::codec::SectionReader<'_>,
    ) -> std::result::Result<Self, String> {
        let block = RowBlock::filled(links, half_stride_for(dim), rows, |_, body| {
            let src = r.take(dim * 2)?;
            for (d, b) in body.chunks_exact_mut(2).zip(src.chunks_exact(2)) {
                d.copy_from_slice(&u16::from_le_bytes([b[0], b[1]]).to_ne_bytes());
            }
            Ok(())
        })?;
        Ok(HalfStore { dim, block })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_padded_to_lines_when_cheap() {
        assert_eq!(half_stride_for(768), 1536);
        assert_eq!(half_stride_for(128), 256);
        assert_eq!(half_stride_for(100), 208);
        assert_eq!(half_stride_for(3), 16);
        for dim in 1..200 {
            let s = half_stride_for(dim);
            assert!(s.is_multiple_of(16) && s >= dim * 2, "dim {dim}");
        }
    }
}
