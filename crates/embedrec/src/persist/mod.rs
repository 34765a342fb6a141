//! Saving and loading a whole engine: which sections a file holds and in what order. The
//! container (header, section table, checksums) is `codec`'s; each part of the engine
//! encodes and decodes its own section content. `docs/format.md` has the byte layout.
//!
//! File layout (see [`MAGIC`] and [`FORMAT_VERSION`]): a 32-byte header, a table of
//! sections, the sections.
//! Sections: `1` META — bincode 2 (standard config, byte limit) of the configuration, item
//! ids, tags, numeric attributes, users and interactions; `2` ITEM_VECTORS — `slots * dim`
//! raw little-endian f32; `3` MODEL (optional) — bincode 2 of the trained model, checked
//! against the catalog's size after decoding; `4` GRAPH (optional) — the native HNSW graph
//! (levels and links), every level, count and link id validated before use, so loading skips
//! the rebuild; `5` ITEM_CODES — instead of ITEM_VECTORS under int8 vector storage: per slot
//! a scale (f32 LE, finite and not negative) then `dim` codes (i8, never -128). The storage
//! is recorded by which of the two kinds is present (exactly one must be), so files written
//! before int8 storage existed load unchanged; `6` VECTORLESS (optional) — the slots of
//! items without a content vector (`u32` LE, increasing), written only when there are
//! such items, so older files (which have none) load unchanged. Other kinds are rejected
//! by this version.
//!
//! Loading verifies the header, the file length, the table and every section's bounds
//! before any section is read. META (and MODEL) are then read whole, checksummed, decoded
//! under a byte limit and re-validated value by value (dimensions, ids unique and
//! non-empty, tag and slot references in range, finite numbers). The two large sections,
//! the vectors (or codes) and GRAPH, are streamed from the file at their offsets in 1 MiB chunks
//! straight into their final structures, on two threads, with the checksum computed as
//! they stream; every value read is validated anyway, and a section is accepted only once
//! it was consumed exactly and its checksum matches (damage found while parsing is
//! reported as a checksum mismatch when the checksum disagrees).
//!
//! The hnsw_rs graph is never stored (it is rebuilt); its loader is never used.

mod durable;

pub use durable::journal_path;

use crate::codec::{self, SectionReader, Source};
use crate::engine::{Engine, EngineConfig};
use crate::index::NativeHnsw;
use crate::model::Model;
use crate::store::rows::Rows;
use crate::store::{Catalog, CatalogMeta, Users, UsersMeta, VectorStorage};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

pub use crate::codec::{FORMAT_VERSION, MAGIC};

const KIND_META: u32 = 1;
const KIND_VECTORS: u32 = 2;
const KIND_MODEL: u32 = 3;
const KIND_GRAPH: u32 = 4;
const KIND_CODES: u32 = 5;
const KIND_VECTORLESS: u32 = 6;

fn section_name(kind: u32) -> Option<&'static str> {
    Some(match kind {
        KIND_META => "meta",
        KIND_VECTORS => "item_vectors",
        KIND_CODES => "item_codes",
        KIND_MODEL => "model",
        KIND_GRAPH => "graph",
        KIND_VECTORLESS => "vectorless",
        _ => return None,
    })
}

/// The section kind and name of the vectors in a storage.
fn vector_section(storage: VectorStorage) -> (u32, &'static str) {
    match storage {
        VectorStorage::F32 => (KIND_VECTORS, "item_vectors"),
        VectorStorage::Int8 => (KIND_CODES, "item_codes"),
    }
}

/// Upper bound for the META and MODEL sections and their decoding (bincode's allocation
/// guard).
const META_LIMIT: usize = 1 << 31;

/// The META section: the configuration, then the catalog's and the users' fields, inline.
#[derive(Serialize, Deserialize)]
struct Meta<'a> {
    config: EngineConfig,
    #[serde(borrow)]
    catalog: CatalogMeta<'a>,
    users: UsersMeta,
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<META_LIMIT>()
}

impl Engine {
    /// Serialises the whole engine into the embedrec file format (see [`crate::persist`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        encode(self, &self.state())
    }

    /// Saves the engine to `path` atomically: a temporary file in the same directory is
    /// written, fsynced and renamed over `path`, then the directory is fsynced. A crash at any
    /// point leaves either the previous file or the new one. An engine opened with
    /// [`Engine::open`] saving to its own path checkpoints instead (a plain save there would
    /// leave its journal continuing the replaced snapshot).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        if self.is_own_snapshot(path.as_ref()) {
            return self.checkpoint();
        }
        self.timed(crate::engine::Op::Save, || {
            let bytes = self.to_bytes()?;
            codec::write_atomic(path.as_ref(), &bytes)
        })
    }

    /// Rebuilds an engine from bytes produced by [`Engine::to_bytes`]. Every length and
    /// checksum is verified before decoding; a stored native graph is validated and used as
    /// is, an hnsw_rs graph is rebuilt from the vectors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(&bytes, Path::new("<bytes>"))
    }

    /// Loads an engine saved with [`Engine::save`]. A damaged, truncated or foreign file is
    /// an error ([`Error::Corrupt`], [`Error::UnsupportedVersion`]); nothing is trusted before
    /// its checksum and bounds are verified. A stored native graph is validated (levels,
    /// link counts, link ids) and used as is; an hnsw_rs graph is rebuilt from the stored
    /// vectors.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let t = Instant::now();
        let path = path.as_ref();
        // Read at offsets, section by section, into the final structures: no whole-file
        // buffer (which would double the memory a load touches).
        let file = codec::FileSource::open(path).map_err(|source| Error::Io {
            op: "load",
            path: path.to_path_buf(),
            source,
        })?;
        let engine = decode(&file, path)?;
        crate::util::memory::release_free_memory();
        engine.record(crate::engine::Op::Load, t.elapsed());
        Ok(engine)
    }
}

/// The file of an engine whose state the caller holds (a read guard).
pub(crate) fn encode(e: &Engine, st: &crate::engine::State) -> Result<Vec<u8>> {
    let config = e.config();
    let meta = Meta {
        config,
        catalog: st.cat.meta(),
        users: st.users.meta(),
    };
    let meta_bytes = bincode::serde::encode_to_vec(&meta, bincode_config())
        .map_err(|e| Error::Internal(format!("cannot encode metadata: {e}")))?;
    let mut vec_bytes = Vec::new();
    st.cat.write_vectors(&mut vec_bytes);
    let model_bytes = match &st.model {
        Some(m) => Some(
            bincode::serde::encode_to_vec(m, bincode_config())
                .map_err(|e| Error::Internal(format!("cannot encode model: {e}")))?,
        ),
        None => None,
    };
    let graph = st.index.to_bytes(&st.cat);
    let vectorless: Vec<u8> = st
        .cat
        .vectorless_slots()
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let mut sections: Vec<(u32, &[u8])> = vec![
        (KIND_META, &meta_bytes),
        (vector_section(st.cat.storage()).0, &vec_bytes),
    ];
    if !vectorless.is_empty() {
        sections.push((KIND_VECTORLESS, &vectorless));
    }
    if let Some(mb) = &model_bytes {
        sections.push((KIND_MODEL, mb));
    }
    if let Some(g) = &graph {
        sections.push((KIND_GRAPH, g));
    }
    Ok(codec::write(&sections))
}

/// Decodes and verifies a file. The graph section (when the configuration uses a stored
/// graph) is read on a second thread while the catalog is built, since the two are
/// independent.
fn decode(src: &dyn Source, path: &Path) -> Result<Engine> {
    let corrupt = |section: &str, reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        section: section.to_string(),
        reason,
    };
    let mut meta_r: Option<SectionReader<'_>> = None;
    let mut vec_r: Option<(VectorStorage, SectionReader<'_>)> = None;
    let mut model_r: Option<SectionReader<'_>> = None;
    let mut graph_r: Option<SectionReader<'_>> = None;
    let mut vectorless_r: Option<SectionReader<'_>> = None;
    for s in codec::read(src, path, section_name)? {
        let twice = match s.kind {
            KIND_META => meta_r.replace(s.reader).is_some(),
            KIND_VECTORS => vec_r.replace((VectorStorage::F32, s.reader)).is_some(),
            KIND_CODES => vec_r.replace((VectorStorage::Int8, s.reader)).is_some(),
            KIND_MODEL => model_r.replace(s.reader).is_some(),
            KIND_VECTORLESS => vectorless_r.replace(s.reader).is_some(),
            _ => graph_r.replace(s.reader).is_some(),
        };
        if twice {
            return Err(corrupt(
                s.name,
                "section appears twice (or both vector kinds appear)".into(),
            ));
        }
    }
    // The small sections are read whole and checked before they are decoded; one longer
    // than the decoder's limit is refused before anything is read.
    let whole = |r: Option<SectionReader<'_>>, name: &str| -> Result<Option<Vec<u8>>> {
        r.map(|r| {
            r.into_bytes(META_LIMIT as u64)
                .map_err(|e| corrupt(name, e))
        })
        .transpose()
    };
    let meta_bytes =
        whole(meta_r, "meta")?.ok_or_else(|| corrupt("meta", "section missing".into()))?;
    let (storage, mut vec_r) =
        vec_r.ok_or_else(|| corrupt("item_vectors", "section missing".into()))?;
    let model_bytes = whole(model_r, "model")?;
    let vectorless_bytes = whole(vectorless_r, "vectorless")?.unwrap_or_default();
    let (meta, used): (Meta<'_>, usize) =
        bincode::serde::borrow_decode_from_slice(&meta_bytes, bincode_config())
            .map_err(|e| corrupt("meta", format!("cannot decode: {e}")))?;
    if used != meta_bytes.len() {
        return Err(corrupt(
            "meta",
            format!("{} trailing bytes", meta_bytes.len() - used),
        ));
    }
    let mut config = meta.config;
    config.vector_storage = storage;
    config
        .validate()
        .map_err(|e| corrupt("meta", format!("invalid configuration: {e}")))?;
    let slots = meta.catalog.slots();
    let (m, efc, rebuild) = (
        config.m,
        config.ef_construction,
        config.rebuild_tombstone_fraction,
    );
    let links = config.row_links();
    let shape = (config.dim, config.metric, storage, links);
    let section = vector_section(storage).1;
    // The slot count sizes the graph's arrays: it must match the vector section the file
    // really holds before the graph reader starts (the catalog checks it again).
    let row_bytes = Rows::section_row_bytes(storage, config.dim);
    if (slots as u64).checked_mul(row_bytes) != Some(vec_r.remaining()) {
        return Err(corrupt(
            section,
            format!(
                "{} bytes, expected {slots} slots x {row_bytes} bytes",
                vec_r.remaining()
            ),
        ));
    }
    let vectorless = read_vectorless(&vectorless_bytes, slots)
        .map_err(|reason| corrupt("vectorless", reason))?;
    let (cat, graph) = std::thread::scope(|scope| {
        // Every length, link id and level of the graph is validated against the catalog's
        // slot count by `NativeHnsw::read`.
        let graph = graph_r
            .filter(|_| config.index.stores_graph())
            .map(|mut r| {
                scope.spawn(
                    move || match NativeHnsw::read(&mut r, m, efc, rebuild, slots) {
                        Ok(g) => r.finish().map(|()| g),
                        Err(reason) => Err(r.fail(reason)),
                    },
                )
            });
        let cat = Catalog::read(meta.catalog, shape, &mut vec_r, section, &vectorless);
        let graph = graph.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (cat, graph)
    });
    let cat = cat.map_err(|(section, reason)| corrupt(section, reason))?;
    let users = Users::read(meta.users, &cat).map_err(|reason| corrupt("meta", reason))?;
    let graph = graph
        .transpose()
        .map_err(|reason| corrupt("graph", reason))?;
    let model = match model_bytes {
        None => None,
        Some(mb) => {
            let (model, used): (Model, usize) =
                bincode::serde::decode_from_slice(&mb, bincode_config())
                    .map_err(|e| corrupt("model", format!("cannot decode: {e}")))?;
            if used != mb.len() {
                return Err(corrupt(
                    "model",
                    format!("{} trailing bytes", mb.len() - used),
                ));
            }
            model
                .check(cat.slots(), cat.dim())
                .map_err(|e| corrupt("model", e))?;
            Some(model)
        }
    };
    Engine::restore(config, cat, users, model, graph)
}

/// The VECTORLESS section: the slots of items without content vectors, `u32` LE, strictly
/// increasing and below the slot count (the catalog checks that each is a live item).
fn read_vectorless(bytes: &[u8], slots: usize) -> std::result::Result<Vec<u32>, String> {
    if !bytes.len().is_multiple_of(4) {
        return Err(format!(
            "{} bytes, not a whole number of slots",
            bytes.len()
        ));
    }
    let list: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if list.windows(2).any(|w| w[0] >= w[1]) || list.last().is_some_and(|&s| s as usize >= slots) {
        return Err("slots unsorted, repeated or out of range".into());
    }
    Ok(list)
}
