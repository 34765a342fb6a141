//! The rows a graph's codes live in, each led by the node's level-0 list, and the parts of
//! a codes section every kind shares.

use crate::store::rows::RowBlock;
use crate::util::prefetch::CacheLevel;
use std::sync::atomic::AtomicU32;

/// One row per slot: its level-0 link list, then a code body of a fixed size.
pub(super) struct CodeRows {
    rows: RowBlock,
    body: usize,
}

impl CodeRows {
    /// Empty rows of `links` link entries and a body of `body` bytes.
    pub(super) fn new(links: usize, body: usize) -> Self {
        CodeRows {
            rows: RowBlock::new(links, body.div_ceil(16) * 16),
            body,
        }
    }

    /// Rows held.
    pub(super) fn len(&self) -> usize {
        self.rows.rows()
    }

    /// Grows to `slots` rows (new rows: empty lists, zero bodies).
    pub(super) fn grow(&mut self, slots: usize) {
        if self.rows.rows() < slots {
            self.rows.reserve(slots - self.rows.rows());
            while self.rows.rows() < slots {
                self.rows.push_zero();
            }
        }
    }

    /// A slot's level-0 link entries.
    #[inline(always)]
    pub(super) fn links(&self, slot: u32) -> &[AtomicU32] {
        self.rows.links(slot as usize)
    }

    /// A slot's code body (empty past the last row: a link read from a damaged mapped row
    /// may name a slot the codes never had).
    #[inline(always)]
    pub(super) fn body(&self, slot: u32) -> &[u8] {
        if (slot as usize) < self.rows.rows() {
            self.rows.body(slot as usize, self.body)
        } else {
            &[]
        }
    }

    /// A slot's code body, to write (the row exists: see [`CodeRows::grow`]).
    pub(super) fn body_mut(&mut self, slot: u32) -> &mut [u8] {
        self.rows.body_mut(slot as usize, self.body)
    }

    /// Bytes of one body.
    pub(super) fn body_bytes(&self) -> usize {
        self.body
    }

    /// Hints the CPU to load a slot's body into `to`.
    #[inline(always)]
    pub(super) fn prefetch(&self, slot: u32, to: CacheLevel) {
        if let Some(p) = self.rows.row_ptr(slot as usize) {
            crate::util::prefetch::prefetch_to(p, self.body.div_ceil(64), to);
        }
    }

    /// Bytes held (the level-0 lists included).
    pub(super) fn bytes(&self) -> usize {
        self.rows.bytes()
    }

    /// Appends `slots` bodies (zeros past the last row) to `o`, flushing to `w` as it fills.
    pub(super) fn write_bodies(
        &self,
        slots: usize,
        o: &mut Vec<u8>,
        w: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        let zeros = vec![0u8; self.body];
        for s in 0..slots {
            let b = if s < self.len() {
                self.body(s as u32)
            } else {
                &zeros
            };
            o.extend_from_slice(b);
            if o.len() >= 1 << 16 {
                w.write_all(o)?;
                o.clear();
            }
        }
        w.write_all(o)
    }

    /// Reads `slots` bodies, which must be exactly the rest of the section (checked before
    /// the rows are allocated).
    pub(super) fn read_bodies(
        &mut self,
        slots: usize,
        r: &mut crate::codec::SectionReader<'_>,
    ) -> std::result::Result<(), String> {
        if (slots as u64).checked_mul(self.body as u64) != Some(r.remaining()) {
            return Err(format!(
                "{slots} code rows of {} bytes, {} bytes left in the section",
                self.body,
                r.remaining()
            ));
        }
        self.grow(slots);
        for s in 0..slots {
            let src = r.take(self.body)?;
            self.body_mut(s as u32).copy_from_slice(src);
        }
        Ok(())
    }
}

/// Reads the common head of a codes part: its magic (checked), `dim` (not 0) and the fitted
/// flag (0 or 1).
pub(super) fn read_head(
    r: &mut crate::codec::SectionReader<'_>,
    magic: &[u8; 4],
) -> std::result::Result<(usize, bool), String> {
    if r.take(4)? != magic {
        return Err("bad codes magic".into());
    }
    let dim = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes")) as usize;
    if dim == 0 {
        return Err("codes of 0 dimensions".into());
    }
    match r.take(1)?[0] {
        0 => Ok((dim, false)),
        1 => Ok((dim, true)),
        x => Err(format!("codes fitted flag {x}, expected 0 or 1")),
    }
}

/// Writes the common head of a codes part into `o`.
pub(super) fn write_head(o: &mut Vec<u8>, magic: &[u8; 4], dim: usize, fitted: bool) {
    o.extend_from_slice(magic);
    o.extend_from_slice(&(dim as u32).to_le_bytes());
    o.push(fitted as u8);
}

/// Reads `n` finite f32s, whose bytes must be in the section.
pub(super) fn read_floats(
    r: &mut crate::codec::SectionReader<'_>,
    n: usize,
) -> std::result::Result<Vec<f32>, String> {
    if (n as u64).checked_mul(4).is_none_or(|b| b > r.remaining()) {
        return Err(format!(
            "{n} code parameters, {} bytes left in the section",
            r.remaining()
        ));
    }
    let floats: Vec<f32> = r
        .take(4 * n)?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    if let Some(x) = floats.iter().find(|x| !x.is_finite()) {
        return Err(format!("code parameter {x} is not finite"));
    }
    Ok(floats)
}
