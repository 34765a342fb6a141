//! The graph section of a saved file: levels and link lists, every count, level and link
//! id validated before use, so a load skips the rebuild.

use super::codes::{CodeKind, Codes};
use super::{MAX_LEVEL, NONE, NativeHnsw, links_per_row};

use crate::store::Catalog;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering as AtomicOrd};

// ---------------------------------------------------------------------------------- persistence

/// Magic of a version-1 graph section (level-0 lists inline).
pub(super) const GRAPH_MAGIC: &[u8; 4] = b"NHG1";
/// Magic of a version-2 graph section (level-0 lists in the catalog's rows).
pub(super) const GRAPH_MAGIC_V2: &[u8; 4] = b"NHG2";
/// Magic of a graph section that walks on codes: the level-0 lists inline (as in version
/// 1), then the codes.
pub(super) const GRAPH_MAGIC_CODES: &[u8; 4] = b"NHG3";

impl NativeHnsw {
    /// Writes the graph section of a version-2 file: magic, m, slots, entry, max level,
    /// tombstones, the level generator's state, then per slot its level (i8), dead flag
    /// (u8) and, for each level above 0, its link count (u32) and links (u32 each). The
    /// level-0 lists are the headers of the catalog's rows (the ROWS section). A graph that
    /// walks on codes writes magic `NHG3` instead, its level-0 lists with the upper ones
    /// (count and links, from level 0), then [`Codes::write`]'s part. Every
    /// catalog slot is written (slots past the last node, e.g. items without vectors, as
    /// empty ones), so the graph always matches the catalog it is saved with.
    pub(crate) fn write(&self, cat: &Catalog, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let slots = cat.slots().max(self.levels.len());
        let mut o = Vec::with_capacity(1 << 16);
        let lowest = self.codes.is_none() as usize;
        o.extend_from_slice(if self.codes.is_some() {
            GRAPH_MAGIC_CODES
        } else {
            GRAPH_MAGIC_V2
        });
        o.extend_from_slice(&(self.m as u32).to_le_bytes());
        o.extend_from_slice(&(slots as u64).to_le_bytes());
        o.extend_from_slice(&self.entry.load(AtomicOrd::Acquire).to_le_bytes());
        o.extend_from_slice(&(self.max_level.load(AtomicOrd::Acquire) as u32).to_le_bytes());
        o.extend_from_slice(&(self.tombstones as u64).to_le_bytes());
        o.extend_from_slice(&self.rng.to_le_bytes());
        for s in 0..slots {
            let level = self.levels.get(s).copied().unwrap_or(-1);
            o.push(level as u8);
            o.push((level >= 0 && self.is_dead(s as u32)) as u8);
            // Slots not in the graph (level -1) have no lists, not even at level 0.
            for l in (lowest..=level.max(0) as usize).filter(|_| level >= 0) {
                let links: Vec<u32> = self.links(cat, s as u32, l).collect();
                o.extend_from_slice(&(links.len() as u32).to_le_bytes());
                for x in links {
                    o.extend_from_slice(&x.to_le_bytes());
                }
            }
            if o.len() >= 1 << 16 {
                w.write_all(&o)?;
                o.clear();
            }
        }
        w.write_all(&o)?;
        match &self.codes {
            Some(codes) => codes.write(slots, w),
            None => Ok(()),
        }
    }

    /// Rebuilds a graph from [`NativeHnsw::to_bytes`] output, read from the file's graph
    /// section, validating every count, level and link id against `slots` and `m` (never
    /// trusting a length before checking it fits). The caller checks that the section ends
    /// where the graph does and that its checksum matches. The level-0 lists are held
    /// aside until [`StoredGraph::attach`] puts them in the catalog's rows (the graph is
    /// read while another thread builds the catalog).
    pub(crate) fn read(
        r: &mut crate::codec::SectionReader<'_>,
        m: usize,
        ef_construction: usize,
        rebuild_fraction: f64,
        slots: usize,
    ) -> std::result::Result<StoredGraph, String> {
        let (inline_level0, with_codes) = match r.take(4)? {
            m if m == GRAPH_MAGIC => (true, false),
            m if m == GRAPH_MAGIC_V2 => (false, false),
            m if m == GRAPH_MAGIC_CODES => (true, true),
            _ => return Err("bad graph magic".into()),
        };
        let u32_ = |x: &[u8]| u32::from_le_bytes(x.try_into().expect("4 bytes"));
        let u64_ = |x: &[u8]| u64::from_le_bytes(x.try_into().expect("8 bytes"));
        let gm = u32_(r.take(4)?) as usize;
        if gm != m {
            return Err(format!("graph built with m = {gm}, configuration says {m}"));
        }
        let n = u64_(r.take(8)?);
        if n != slots as u64 {
            return Err(format!("graph has {n} slots, catalog has {slots}"));
        }
        let entry = u32_(r.take(4)?);
        let max_level = u32_(r.take(4)?) as usize;
        let tombstones = u64_(r.take(8)?) as usize;
        let rng = u64_(r.take(8)?);
        let mut g = NativeHnsw::new(m, ef_construction, rebuild_fraction);
        g.rng = rng;
        g.grow(slots);
        let m0 = g.m0;
        let mut level0 = vec![0u32; if inline_level0 { slots * m0 } else { 0 }];
        let mut dead_count = 0usize;
        for s in 0..slots {
            let head = r.take(2)?;
            let (level, dead) = (head[0] as i8, head[1]);
            if !(-1..MAX_LEVEL as i8).contains(&level) || dead > 1 {
                return Err(format!(
                    "slot {s}: level {level} / dead flag {dead} out of range"
                ));
            }
            g.levels[s] = level;
            g.nodes += (level >= 0) as usize;
            g.set_dead(s as u32, dead == 1);
            dead_count += (dead == 1) as usize;
            if level < 0 {
                continue;
            }
            g.alloc_upper(s as u32, level as usize);
            for l in (!inline_level0 as usize)..=level as usize {
                let count = u32_(r.take(4)?) as usize;
                let max = g.capacity(l);
                if count > max {
                    return Err(format!("slot {s} level {l}: {count} links, at most {max}"));
                }
                let raw = r.take(count * 4)?;
                let links = raw.chunks_exact(4).map(u32_);
                if let Some(x) = links.clone().find(|&x| x as usize >= slots) {
                    return Err(format!(
                        "slot {s} level {l}: link to {x} outside 0..{slots}"
                    ));
                }
                if l == 0 {
                    for (dst, x) in level0[s * m0..].iter_mut().zip(links) {
                        *dst = x + 1;
                    }
                } else {
                    for (dst, x) in g.upper(s as u32, l).iter().zip(links) {
                        dst.store(x + 1, AtomicOrd::Relaxed);
                    }
                }
            }
        }
        if dead_count != tombstones {
            return Err(format!(
                "{dead_count} dead slots but header says {tombstones}"
            ));
        }
        if entry == NONE {
            if g.levels.iter().any(|&l| l >= 0) {
                return Err("nodes but no entry point".into());
            }
        } else if (entry as usize) >= slots
            || g.levels[entry as usize] as isize != max_level as isize
        {
            return Err(format!(
                "entry point {entry} does not carry the top level {max_level}"
            ));
        }
        g.entry = AtomicU32::new(entry);
        g.max_level = AtomicUsize::new(max_level);
        g.tombstones = tombstones;
        if with_codes {
            let codes = Codes::read(r, links_per_row(m), slots)?;
            for (s, list) in level0.chunks_exact(m0).enumerate() {
                for (dst, &x) in codes.links(s as u32).iter().zip(list) {
                    dst.store(x, AtomicOrd::Relaxed);
                }
            }
            g.codes = Some(codes);
            level0 = Vec::new();
        }
        Ok(StoredGraph { graph: g, level0 })
    }
}

/// A graph read from a file whose level-0 lists (`m0` entries per slot, encoded as in the
/// rows) still have to be put in the catalog's rows (version 1), or are there already
/// (version 2: `level0` is empty), or are in the graph's codes (`NHG3`).
#[derive(Debug)]
pub(crate) struct StoredGraph {
    graph: NativeHnsw,
    level0: Vec<u32>,
}

impl StoredGraph {
    /// Puts the level-0 lists where the graph reads them and returns the graph, for the
    /// catalog `cat` read from the same file (as many slots). `codes`: what the configured
    /// index walks on. A graph saved with codes brings them (of that kind); an int8 graph
    /// saved without (by an older version) has them encoded here from the catalog, its
    /// level-0 lists taken from the section (version 1) or the catalog's rows (version 2).
    /// Lists of rows read into memory are checked (links inside the catalog); mapped rows
    /// are not read here (links are bounds-checked where they are followed).
    pub(crate) fn attach(
        self,
        cat: &Catalog,
        codes: Option<CodeKind>,
    ) -> std::result::Result<NativeHnsw, String> {
        let mut g = self.graph;
        let slots = cat.slots();
        if g.levels.len() != slots || !(self.level0.is_empty() || self.level0.len() == slots * g.m0)
        {
            return Err(format!(
                "graph for {} slots attached to a catalog of {slots}",
                g.levels.len()
            ));
        }
        match (g.codes.as_ref().map(|c| (c.kind(), c.dim())), codes) {
            (Some((kind, dim)), want) => {
                if want != Some(kind) {
                    return Err(format!(
                        "the graph walks on {} codes, the configured index on {}",
                        kind.name(),
                        want.map_or("f32 vectors", CodeKind::name)
                    ));
                }
                if dim != cat.dim() {
                    return Err(format!(
                        "codes of {dim} dimensions for a catalog of {}",
                        cat.dim()
                    ));
                }
                return Ok(g);
            }
            (None, Some(CodeKind::Bits)) => {
                return Err("the configured index walks on 1-bit codes, the file has none".into());
            }
            (None, Some(CodeKind::Int8)) => {
                let mut codes = Codes::new(CodeKind::Int8, cat.dim(), links_per_row(g.m));
                codes.grow(slots);
                let nodes: Vec<u32> = (0..slots as u32)
                    .filter(|&s| g.levels[s as usize] >= 0)
                    .collect();
                codes.encode(cat, &nodes);
                if self.level0.is_empty() && cat.link_capacity() < g.m0 {
                    return Err(format!(
                        "catalog rows hold {} link entries, the graph's level-0 lists {}",
                        cat.link_capacity(),
                        g.m0
                    ));
                }
                for s in 0..slots {
                    let from: Vec<u32> = if self.level0.is_empty() {
                        cat.links(s as u32)[..g.m0]
                            .iter()
                            .map(|x| x.load(AtomicOrd::Relaxed))
                            .collect()
                    } else {
                        self.level0[s * g.m0..(s + 1) * g.m0].to_vec()
                    };
                    let mut list = from.iter().map_while(|&x| x.checked_sub(1));
                    if let Some(x) = list.find(|&x| x as usize >= slots) {
                        return Err(format!("slot {s} level 0: link to {x} outside 0..{slots}"));
                    }
                    for (dst, &x) in codes.links(s as u32).iter().zip(&from) {
                        dst.store(x, AtomicOrd::Relaxed);
                    }
                }
                g.codes = Some(codes);
                return Ok(g);
            }
            (None, None) => {}
        }
        g.check_rows(cat).map_err(|e| e.to_string())?;
        if self.level0.is_empty() {
            if !cat.is_mapped() {
                for s in 0..slots as u32 {
                    let mut list = g.list(cat, s, 0).iter().map_while(super::decode_link);
                    if let Some(x) = list.find(|&x| x as usize >= slots) {
                        return Err(format!("slot {s} level 0: link to {x} outside 0..{slots}"));
                    }
                }
            }
            return Ok(g);
        }
        for (s, list) in self.level0.chunks_exact(g.m0).enumerate() {
            for (dst, &x) in cat.links(s as u32).iter().zip(list) {
                dst.store(x, AtomicOrd::Relaxed);
            }
        }
        Ok(g)
    }
}
