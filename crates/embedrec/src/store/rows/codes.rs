//! Int8 rows: each vector as `scale · codes`, one byte per dimension.

use super::RowBlock;

/// Bytes between code row starts for `dim` components: whole cache lines when that costs at
/// most 1/8 of the row, otherwise 16-byte steps.
pub(super) fn code_stride_for(dim: usize) -> usize {
    let lines = dim.div_ceil(64) * 64;
    if (lines - dim) * 8 <= dim {
        lines
    } else {
        dim.div_ceil(16) * 16
    }
}

/// Vectors stored as int8 codes with one scale per vector (`v ≈ scale · codes`, the scale
/// being `max |v_i| / 127`): a quarter of the f32 bytes. No fitting is needed and no value
/// is ever clamped, since each vector gets its own range; the stored vector is the decoded
/// one, and every score is computed on it exactly. Codes sit after their row's header, as
/// f32 vectors do.
pub(crate) struct CodeStore {
    pub(super) dim: usize,
    pub(super) block: RowBlock,
    /// Per row: the scale.
    scale: Vec<f32>,
    /// Per row, under L2 only (`keep_sq`): the squared norm of the decoded vector
    /// (`scale² · Σ codes²`). Other metrics never read it, so they do not pay for it.
    sq: Vec<f32>,
    keep_sq: bool,
}

impl CodeStore {
    pub(super) fn new(dim: usize, metric: crate::Metric, links: usize) -> Self {
        CodeStore {
            dim,
            block: RowBlock::new(links, code_stride_for(dim)),
            scale: Vec::new(),
            sq: Vec::new(),
            keep_sq: metric == crate::Metric::L2,
        }
    }

    /// The codes of row `r`.
    #[inline(always)]
    pub(crate) fn codes(&self, r: usize) -> &[i8] {
        self.block.body(r, self.dim)
    }

    /// The scale of row `r`.
    #[inline(always)]
    pub(crate) fn scale(&self, r: usize) -> f32 {
        self.scale[r]
    }

    /// The squared norm of row `r`'s decoded vector (kept under L2 only).
    #[inline(always)]
    pub(crate) fn sq(&self, r: usize) -> f32 {
        self.sq[r]
    }

    /// Rows whose squared norm is kept (all of them under L2, none otherwise).
    #[cfg(test)]
    pub(crate) fn kept_sq(&self) -> usize {
        self.sq.len()
    }

    /// The norm of row `r`'s decoded vector (under any metric).
    pub(super) fn norm(&self, r: usize) -> f32 {
        decoded_sq(self.codes(r).iter().copied(), self.scale[r]).sqrt()
    }

    /// Encodes `v` (finite components) into row `r`.
    pub(super) fn set(&mut self, r: usize, v: &[f32]) {
        let top = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = top / 127.0;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        for (c, x) in self.block.body_mut::<i8>(r, self.dim).iter_mut().zip(v) {
            *c = (x * inv).round().clamp(-127.0, 127.0) as i8;
        }
        self.scale[r] = scale;
        if self.keep_sq {
            self.sq[r] = decoded_sq(self.codes(r).iter().copied(), scale);
        }
    }

    /// Zeroes row `r`.
    pub(super) fn zero(&mut self, r: usize) {
        self.block.body_mut::<i8>(r, self.dim).fill(0);
        self.scale[r] = 0.0;
        if let Some(q) = self.sq.get_mut(r) {
            *q = 0.0;
        }
    }

    /// Makes room for `additional` more rows.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.block.reserve(additional);
        self.scale.reserve(additional);
        if self.keep_sq {
            self.sq.reserve(additional);
        }
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.block.bytes() + (self.scale.capacity() + self.sq.capacity()) * 4
    }

    /// Writes the per-row values of a ROWS section: every scale, then (under L2) every
    /// squared norm, f32 LE.
    pub(super) fn write_tail(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let bytes: Vec<u8> = self
            .scale
            .iter()
            .chain(&self.sq)
            .flat_map(|x| x.to_le_bytes())
            .collect();
        w.write_all(&bytes)
    }

    /// A store around `block` with the per-row values [`CodeStore::write_tail`] wrote, each
    /// validated (finite, not negative).
    pub(super) fn with_tail(
        dim: usize,
        metric: crate::Metric,
        block: RowBlock,
        r: &mut crate::codec::SectionReader<'_>,
    ) -> std::result::Result<Self, String> {
        let keep_sq = metric == crate::Metric::L2;
        let rows = block.rows();
        let mut read = |what: &str| -> std::result::Result<Vec<f32>, String> {
            let raw = r.take(rows * 4)?;
            let v: Vec<f32> = raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if let Some(i) = v.iter().position(|x| !(x.is_finite() && *x >= 0.0)) {
                return Err(format!(
                    "slot {i}: {what} {} is not a finite non-negative number",
                    v[i]
                ));
            }
            Ok(v)
        };
        // Codes read into memory are checked as version 1 checks them (a mapped block is
        // verified by checksum on demand).
        if !block.is_mapped()
            && let Some(i) = (0..rows).find(|&i| block.body::<i8>(i, dim).contains(&i8::MIN))
        {
            return Err(format!("slot {i}: code -128 outside -127..=127"));
        }
        let scale = read("scale")?;
        let mut sq = if keep_sq {
            read("squared norm")?
        } else {
            Vec::new()
        };
        if !block.is_mapped() {
            for (i, q) in sq.iter_mut().enumerate() {
                *q = decoded_sq(block.body::<i8>(i, dim).iter().copied(), scale[i]);
            }
        }
        Ok(CodeStore {
            dim,
            block,
            scale,
            sq,
            keep_sq,
        })
    }

    pub(super) fn decode(&self, r: usize) -> Vec<f32> {
        let s = self.scale[r];
        self.codes(r).iter().map(|&c| c as f32 * s).collect()
    }

    pub(super) fn push_zero(&mut self) {
        self.block.push_zero();
        self.scale.push(0.0);
        if self.keep_sq {
            self.sq.push(0.0);
        }
    }

    /// Reads rows of `scale (f32 LE) | dim codes` (the file's code section) into a fresh
    /// store (rows with `links` empty header entries), validating each scale (finite, not
    /// negative) and code (not -128).
    pub(super) fn read_rows(
        dim: usize,
        metric: crate::Metric,
        links: usize,
        rows: usize,
        r: &mut crate::codec::SectionReader<'_>,
    ) -> std::result::Result<Self, String> {
        let keep_sq = metric == crate::Metric::L2;
        let mut scales = Vec::with_capacity(rows);
        let mut sqs = Vec::with_capacity(if keep_sq { rows } else { 0 });
        let block = RowBlock::filled(links, code_stride_for(dim), rows, |i, body| {
            let b = r.take(4 + dim)?;
            let scale = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if !(scale.is_finite() && scale >= 0.0) {
                return Err(format!(
                    "slot {i}: scale {scale} is not a finite non-negative number"
                ));
            }
            if b[4..].contains(&(i8::MIN as u8)) {
                return Err(format!("slot {i}: code -128 outside -127..=127"));
            }
            body[..dim].copy_from_slice(&b[4..]);
            if keep_sq {
                sqs.push(decoded_sq(b[4..].iter().map(|&x| x as i8), scale));
            }
            scales.push(scale);
            Ok(())
        })?;
        Ok(CodeStore {
            dim,
            block,
            scale: scales,
            sq: sqs,
            keep_sq,
        })
    }
}

/// Squared norm of the vector `scale · codes` (the integer sum is exact).
pub(super) fn decoded_sq(codes: impl IntoIterator<Item = i8>, scale: f32) -> f32 {
    let sum: i64 = codes.into_iter().map(|c| c as i64 * c as i64).sum();
    scale * scale * sum as f32
}
