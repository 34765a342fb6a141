//! Compressed codes a graph walks on (their rows, shared by both kinds, are in
//! `code_rows.rs`).
//!
//! A graph that walks on codes keeps each node's level-0 list at the head of its code row
//! (hnswlib's layout, on the codes): a walk touches only this block, and the catalog's f32
//! rows (which then carry no links) are read just to re-score the candidates a search keeps
//! — from a memory-mapped file, a few rows per query. Two kinds: int8 (`int8.rs`, one byte
//! per component) and one bit per component (`bits.rs`).

use super::bits::BitCodes;
use super::code_rows::CodeRows;
use super::int8::Int8Codes;
use crate::store::Catalog;
use std::sync::atomic::AtomicU32;

/// Which codes a graph walks on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeKind {
    /// One byte per component (`int8.rs`).
    Int8,
    /// One bit per component and two floats per row (`bits.rs`).
    Bits,
}

impl CodeKind {
    /// What the codes are, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CodeKind::Int8 => "int8",
            CodeKind::Bits => "1-bit",
        }
    }
}

/// The codes of a graph, of either kind.
#[derive(Debug)]
pub(crate) enum Codes {
    Int8(Int8Codes),
    Bits(BitCodes),
}

impl Codes {
    /// Unfitted codes of `kind` for vectors of `dim` components, rows led by `links` link
    /// entries.
    pub(crate) fn new(kind: CodeKind, dim: usize, links: usize) -> Self {
        match kind {
            CodeKind::Int8 => Codes::Int8(Int8Codes::new(dim, links)),
            CodeKind::Bits => Codes::Bits(BitCodes::new(dim, links)),
        }
    }

    pub(crate) fn kind(&self) -> CodeKind {
        match self {
            Codes::Int8(_) => CodeKind::Int8,
            Codes::Bits(_) => CodeKind::Bits,
        }
    }

    fn rows(&self) -> &CodeRows {
        match self {
            Codes::Int8(c) => c.rows(),
            Codes::Bits(c) => c.rows(),
        }
    }

    fn rows_mut(&mut self) -> &mut CodeRows {
        match self {
            Codes::Int8(c) => c.rows_mut(),
            Codes::Bits(c) => c.rows_mut(),
        }
    }

    /// Components per vector.
    pub(crate) fn dim(&self) -> usize {
        match self {
            Codes::Int8(c) => c.dim(),
            Codes::Bits(c) => c.dim(),
        }
    }

    /// Grows to `slots` rows.
    pub(crate) fn grow(&mut self, slots: usize) {
        self.rows_mut().grow(slots);
    }

    /// A slot's level-0 link entries (the codes have a row for every slot of the graph).
    #[inline(always)]
    pub(crate) fn links(&self, slot: u32) -> &[AtomicU32] {
        self.rows().links(slot)
    }

    /// Encodes these slots' index vectors (their rows exist), fitting the codes on them
    /// first when nothing was fitted yet.
    pub(crate) fn encode(&mut self, cat: &Catalog, slots: &[u32]) {
        match self {
            Codes::Int8(c) => {
                if !c.is_fitted() {
                    c.fit(cat, slots);
                }
                slots.iter().for_each(|&s| c.encode(cat, s));
            }
            Codes::Bits(c) => {
                if !c.is_fitted() {
                    c.fit(cat, slots);
                }
                slots.iter().for_each(|&s| c.encode(cat, s));
            }
        }
    }

    /// Hints the CPU to load a slot's codes into `to`.
    #[inline(always)]
    pub(crate) fn prefetch(&self, slot: u32, to: crate::util::prefetch::CacheLevel) {
        self.rows().prefetch(slot, to);
    }

    /// Bytes of one slot's codes (what [`Codes::prefetch`] requests).
    pub(crate) fn row_bytes(&self) -> usize {
        self.rows().body_bytes()
    }

    /// Bytes held (rows and the fitted parameters: int8 keeps three floats per component,
    /// one bit codes a centre and the rotation's signs).
    pub(crate) fn bytes(&self) -> usize {
        let params = match self {
            Codes::Int8(c) => c.dim() * 12,
            Codes::Bits(c) => c.param_bytes(),
        };
        self.rows().bytes() + params
    }

    /// Writes the codes part of a graph section (each kind's magic first).
    pub(crate) fn write(&self, slots: usize, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self {
            Codes::Int8(c) => c.write(slots, w),
            Codes::Bits(c) => c.write(slots, w),
        }
    }

    /// Reads the codes part of a graph section (the rest of it), of the kind its magic says.
    pub(crate) fn read(
        r: &mut crate::codec::SectionReader<'_>,
        links: usize,
        slots: usize,
    ) -> std::result::Result<Self, String> {
        match r.peek(4)? {
            m if m == Int8Codes::MAGIC => Ok(Codes::Int8(Int8Codes::read(r, links, slots)?)),
            m if m == BitCodes::MAGIC || m == BitCodes::MAGIC_PLAIN => {
                Ok(Codes::Bits(BitCodes::read(r, links, slots)?))
            }
            m => Err(format!("unknown codes magic {m:?}")),
        }
    }
}
