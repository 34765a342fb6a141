//! Saving and loading a whole engine: which sections a file holds and in what order. The
//! container (header, section table, checksums, page alignment) is `codec`'s; each part of
//! the engine encodes and decodes its own section content. `docs/format.md` has the byte
//! layout.
//!
//! Sections of format version 2 (see [`MAGIC`] and [`FORMAT_VERSION`]): `1` META — explicit
//! records of the configuration, tags, numeric attributes, users and interactions; `8` IDS
//! — the id arena, a span per slot and a lookup table; `7` ROWS — the row block as it is in
//! memory (each slot's level-0 links, then its vector or int8 codes), then int8 scales; `9`
//! NORMS (cosine) — inverse norms; `6` VECTORLESS (optional) — slots of items without a
//! content vector; `3` MODEL (optional) — explicit records of the trained model, checked
//! against the catalog after decoding; `4` GRAPH (optional) — the native graph's levels
//! and upper-level links; `10` FACTOR_IP and `11` FACTOR_COSINE (optional, with a model
//! that has item factors) — the graphs over the model's factors, each with its own rows,
//! used as stored instead of being built again (files without them build them). Version 1 still loads (kinds 2 or 5 for the vectors, ids in META,
//! level-0 links in GRAPH, META and MODEL as bincode 2 encodings: bincode stays only to
//! read them). Other kinds are rejected.
//!
//! A save streams the sections into the file (no whole-file buffer). Loading verifies the
//! header, the file length, the table, every section's bounds and the padding before any
//! section is read. META (and MODEL) are then read whole, checksummed, decoded under a byte
//! limit and re-validated value by value. The large sections are streamed from the file in
//! 1 MiB chunks straight into their final structures, the rows and the graph on two
//! threads, with the checksum computed as they stream; every value read is validated
//! anyway, and a section is accepted only once it was consumed exactly and its checksum
//! matches. A read-only open maps the file and uses ROWS, IDS and NORMS in place (their
//! checksums are left to [`Engine::verify`]).
//!
//! The hnsw_rs graph is never stored (it is rebuilt); its loader is never used.

mod durable;
mod model;
mod worker_metrics;

pub use durable::journal_path;
pub use worker_metrics::{
    MAX_WORKER_METRICS_BYTES, forget_worker_metrics, gather_worker_metrics, write_worker_metrics,
};

use crate::codec::bytes::{Reader, Writer};
use crate::codec::{self, MappedSource, SectionReader, Source};
use crate::engine::ReadOnly;
use crate::engine::{Engine, EngineConfig, IndexKind};
use crate::index::NativeHnsw;
use crate::store::rows::Rows;
use crate::store::{Catalog, CatalogMeta, Users, UsersMeta, VectorStorage};
use crate::util::mapped::Mapping;
use crate::{Error, Result};
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub use crate::codec::{FORMAT_VERSION, MAGIC};

const KIND_META: u32 = 1;
const KIND_VECTORS: u32 = 2;
const KIND_MODEL: u32 = 3;
const KIND_GRAPH: u32 = 4;
const KIND_CODES: u32 = 5;
const KIND_VECTORLESS: u32 = 6;
const KIND_ROWS: u32 = 7;
const KIND_IDS: u32 = 8;
const KIND_NORMS: u32 = 9;
const KIND_FACTOR_IP: u32 = 10;
const KIND_FACTOR_COSINE: u32 = 11;

fn section_name(kind: u32) -> Option<&'static str> {
    Some(match kind {
        KIND_META => "meta",
        KIND_VECTORS => "item_vectors",
        KIND_CODES => "item_codes",
        KIND_MODEL => "model",
        KIND_GRAPH => "graph",
        KIND_VECTORLESS => "vectorless",
        KIND_ROWS => "rows",
        KIND_IDS => "ids",
        KIND_NORMS => "norms",
        KIND_FACTOR_IP => "factor_ip",
        KIND_FACTOR_COSINE => "factor_cosine",
        _ => return None,
    })
}

/// The section kind and name of the vectors in a storage.
fn vector_section(storage: VectorStorage) -> (u32, &'static str) {
    match storage {
        // Version 1 had no f16 storage (its storage is the kind's); named for completeness.
        VectorStorage::F32 | VectorStorage::F16 => (KIND_VECTORS, "item_vectors"),
        VectorStorage::Int8 => (KIND_CODES, "item_codes"),
    }
}

/// Upper bound for the META and MODEL sections and their decoding (bincode's allocation
/// guard).
const META_LIMIT: usize = 1 << 31;

/// The META section's content: the configuration, then the catalog's and the users' fields
/// (version 1: bincode of this struct; version 2: explicit records, `read_meta`).
#[derive(Deserialize)]
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

/// A version-1 section (META or MODEL): a bincode encoding of `T` that must fill `bytes`
/// exactly.
fn decode_v1<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> std::result::Result<T, String> {
    let (value, used): (T, usize) =
        bincode::serde::borrow_decode_from_slice(bytes, bincode_config())
            .map_err(|e| format!("cannot decode: {e}"))?;
    if used != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - used));
    }
    Ok(value)
}

impl Engine {
    /// Serialises the whole engine into the embedrec file format (see [`crate::persist`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let w = std::io::Cursor::new(Vec::new());
        let (w, _) = encode(self, &self.state(), w, Path::new("<bytes>"))?;
        Ok(w.into_inner())
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
            write_snapshot(self, &self.state(), path.as_ref()).map(|_| ())
        })
    }

    /// Rebuilds an engine from bytes produced by [`Engine::to_bytes`]. Every length and
    /// checksum is verified before decoding; a stored native graph is validated and used as
    /// is, an hnsw_rs graph is rebuilt from the vectors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(&bytes, Path::new("<bytes>"))
    }

    /// A read-only engine serving from `bytes` (produced by [`Engine::to_bytes`] or read
    /// from a saved file) in place, without copying them: the large arrays are views of
    /// the buffer, which the engine keeps alive, as a read-only [`Engine::open`] does with
    /// a mapped file. Checks and errors are the same as for that open (the checksums of the
    /// large sections on demand, [`Engine::verify`]); writes fail with [`Error::ReadOnly`].
    /// The buffer must not change while the engine lives (changed bytes give wrong answers,
    /// never unsafety). A buffer not aligned to 8 bytes is copied once.
    pub fn from_bytes_read_only(bytes: impl AsRef<[u8]> + Send + Sync + 'static) -> Result<Self> {
        let t = Instant::now();
        let engine = serve_mapped(Mapping::of_host(Box::new(bytes)), None)?;
        engine.record(crate::engine::Op::Load, t.elapsed());
        Ok(engine)
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

/// Opens the file at `path` read-only and memory-mapped (see [`Engine::open`]); `create`, if
/// given, must match the stored dimension (nothing is created).
pub(crate) fn open_read_only(path: &Path, create: Option<&EngineConfig>) -> Result<Engine> {
    let t = Instant::now();
    let io = |op: &'static str| {
        move |source| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    let file = codec::open_regular(path).map_err(io("open read-only"))?;
    let map = Mapping::of_file(&file).map_err(io("map"))?;
    drop(file);
    let engine = serve_mapped(map, Some(path))?;
    if let Some(c) = create
        && c.dim != engine.dim()
    {
        return Err(Error::invalid(
            "dim",
            format!("the dimension of the stored engine ({})", engine.dim()),
            c.dim,
        ));
    }
    engine.record(crate::engine::Op::Load, t.elapsed());
    Ok(engine)
}

/// A read-only engine serving from `map` (the file at `path`, or a host buffer): the
/// header, table, bounds and small sections are checked; the large sections are views.
fn serve_mapped(map: Arc<Mapping>, path: Option<&Path>) -> Result<Engine> {
    let shown = path.unwrap_or(Path::new("<bytes>"));
    let mut engine = decode(&MappedSource(Arc::clone(&map)), shown)?;
    // The small sections' temporaries (META's tag lists, the graph's parse) go back to
    // the operating system: each replica keeps only what it serves from.
    crate::util::memory::release_free_memory();
    let header: [u8; 32] = map.bytes()[..32].try_into().expect("checked by decode");
    engine.make_read_only(ReadOnly::new(path.map(Path::to_path_buf), header, map));
    Ok(engine)
}

impl Engine {
    /// Opens `path` read-only (as [`Engine::open`] with `read_only`) and checks that it is
    /// the snapshot whose identity ([`Engine::snapshot`]) is `id`: how an engine pickled
    /// by reference comes back in another process. A file replaced since is an
    /// [`Error::InvalidInput`] naming both identities.
    pub fn open_snapshot(path: impl AsRef<Path>, id: &str) -> Result<Engine> {
        let e = open_read_only(path.as_ref(), None)?;
        let found = e.snapshot().map(|(_, id)| id).unwrap_or_default();
        if found != id {
            return Err(Error::invalid(
                "snapshot",
                format!("the file {} with identity {id}", path.as_ref().display()),
                format!("identity {found} (the file was replaced)"),
            ));
        }
        Ok(e)
    }

    /// For an engine opened read-only from a file: whether the file at its path is no
    /// longer the snapshot it serves (a new snapshot was saved over it, which renames a new
    /// file into place, or the file was removed). Reads the file's 32-byte header, so it is
    /// cheap enough to call per request. Replicas call it to pick up a published snapshot:
    /// when `true`, open the path again and swap engines (queries on the old one keep
    /// working meanwhile: its mapping holds the old file). `false` for other engines.
    pub fn snapshot_replaced(&self) -> Result<bool> {
        let Some(ro) = self
            .read_only_source()
            .filter(|_| self.snapshot().is_some())
        else {
            return Ok(false);
        };
        let mut header = [0u8; 32];
        let read = std::fs::File::open(ro.path()).and_then(|mut f| {
            use std::io::Read;
            f.read_exact(&mut header)
        });
        match read {
            Ok(()) => Ok(header[16..] != ro.header()[16..]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                Ok(true)
            }
            Err(source) => Err(Error::Io {
                op: "read snapshot header",
                path: ro.path().to_path_buf(),
                source,
            }),
        }
    }

    /// Checks the checksum of every section of the file a read-only engine serves from
    /// (opening checks only the header, the table, bounds and the small sections, so that
    /// it does not read every page). [`Error::Corrupt`] names a damaged section. For other
    /// engines there is nothing to check: [`Engine::load`] and [`Engine::from_bytes`]
    /// verify every checksum as they read.
    pub fn verify(&self) -> Result<()> {
        let Some(ro) = self.read_only_source() else {
            return Ok(());
        };
        let src = MappedSource(Arc::clone(ro.mapping()));
        for s in codec::read(&src, ro.path(), section_name)?.sections {
            s.reader.verify().map_err(|reason| Error::Corrupt {
                path: ro.path().to_path_buf(),
                section: s.name.to_string(),
                reason,
            })?;
        }
        Ok(())
    }
}

/// Writes the engine (its state held by the caller) to `path` atomically, streaming each
/// section into the file; returns the file's 32-byte header.
pub(crate) fn write_snapshot(
    e: &Engine,
    st: &crate::engine::State,
    path: &Path,
) -> Result<[u8; 32]> {
    codec::write_atomic_with(path, |f| {
        let w = std::io::BufWriter::with_capacity(1 << 20, f);
        encode(e, st, w, path).map(|(_, head)| head)
    })
}

/// Writes the file of an engine whose state the caller holds (a read guard) to `w`,
/// section by section; returns the writer and the file's 32-byte header.
pub(crate) fn encode<W: std::io::Write + std::io::Seek>(
    e: &Engine,
    st: &crate::engine::State,
    w: W,
    path: &Path,
) -> Result<(W, [u8; 32])> {
    let io = |source| Error::Io {
        op: "write",
        path: path.to_path_buf(),
        source,
    };
    let config = e.config();
    let mut c = codec::ContainerWriter::new(w).map_err(io)?;
    c.section(KIND_META, |out| {
        let mut w = Writer::default();
        w.0.extend_from_slice(META_MAGIC);
        config.write_record(&mut w);
        st.cat.write_record(&mut w, out)?;
        st.users.write_record(&mut w, out)?;
        out.write_all(&w.0)
    })
    .map_err(io)?;
    c.section(KIND_IDS, |out| st.cat.write_ids(out))
        .map_err(io)?;
    c.section(KIND_ROWS, |out| st.cat.write_rows(out))
        .map_err(io)?;
    if st.cat.has_norms() {
        c.section(KIND_NORMS, |out| st.cat.write_norms(out))
            .map_err(io)?;
    }
    let vectorless = st.cat.vectorless_slots();
    if !vectorless.is_empty() {
        let bytes: Vec<u8> = vectorless.iter().flat_map(|s| s.to_le_bytes()).collect();
        c.section(KIND_VECTORLESS, |out| out.write_all(&bytes))
            .map_err(io)?;
    }
    if let Some(m) = &st.model {
        c.section(KIND_MODEL, |out| m.write_record(out))
            .map_err(io)?;
    }
    if st.index.stores_graph() {
        c.section(KIND_GRAPH, |out| st.index.write_graph(&st.cat, out))
            .map_err(io)?;
    }
    if let Some(fx) = &st.factors {
        if fx.has_inner() {
            c.section(KIND_FACTOR_IP, |out| fx.write_inner(out))
                .map_err(io)?;
        }
        c.section(KIND_FACTOR_COSINE, |out| fx.write_cosine(out))
            .map_err(io)?;
    }
    c.finish().map_err(io)
}

/// The readers of a file's sections, by kind.
#[derive(Default)]
struct Readers<'a> {
    meta: Option<SectionReader<'a>>,
    /// Version 1: the vectors (kind 2 or 5) and the storage that kind records.
    vectors: Option<(VectorStorage, SectionReader<'a>)>,
    rows: Option<SectionReader<'a>>,
    ids: Option<SectionReader<'a>>,
    norms: Option<SectionReader<'a>>,
    model: Option<SectionReader<'a>>,
    graph: Option<SectionReader<'a>>,
    vectorless: Option<SectionReader<'a>>,
    factor_ip: Option<SectionReader<'a>>,
    factor_cosine: Option<SectionReader<'a>>,
}

/// Decodes and verifies a file (version 1 or 2). The graph section (when the configuration
/// uses a stored graph) is read on a second thread while the catalog is built, since the
/// two are independent. From a mapped source, the large parts of a version-2 file are views
/// of the mapping.
fn decode(src: &dyn Source, path: &Path) -> Result<Engine> {
    let corrupt = |section: &str, reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        section: section.to_string(),
        reason,
    };
    let contents = codec::read(src, path, section_name)?;
    let v2 = contents.version >= 2;
    let mut rs = Readers::default();
    for s in contents.sections {
        let slot = match s.kind {
            KIND_META => &mut rs.meta,
            KIND_VECTORS | KIND_CODES if !v2 => {
                let storage = if s.kind == KIND_VECTORS {
                    VectorStorage::F32
                } else {
                    VectorStorage::Int8
                };
                if rs.vectors.replace((storage, s.reader)).is_some() {
                    return Err(corrupt(s.name, "both vector kinds appear".into()));
                }
                continue;
            }
            KIND_ROWS if v2 => &mut rs.rows,
            KIND_IDS if v2 => &mut rs.ids,
            KIND_NORMS if v2 => &mut rs.norms,
            KIND_MODEL => &mut rs.model,
            KIND_GRAPH => &mut rs.graph,
            KIND_VECTORLESS => &mut rs.vectorless,
            KIND_FACTOR_IP if v2 => &mut rs.factor_ip,
            KIND_FACTOR_COSINE if v2 => &mut rs.factor_cosine,
            _ => {
                return Err(corrupt(
                    s.name,
                    format!("not a section of format version {}", contents.version),
                ));
            }
        };
        if slot.replace(s.reader).is_some() {
            return Err(corrupt(s.name, "section appears twice".into()));
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
        whole(rs.meta.take(), "meta")?.ok_or_else(|| corrupt("meta", "section missing".into()))?;
    let model_part = rs
        .model
        .take()
        .map(|r| model::ModelPart::read(r, v2, path))
        .transpose()?;
    let vectorless_bytes = whole(rs.vectorless.take(), "vectorless")?.unwrap_or_default();
    let meta = if v2 {
        read_meta(&meta_bytes).map_err(|e| corrupt("meta", format!("cannot decode: {e}")))?
    } else {
        decode_v1(&meta_bytes).map_err(|e| corrupt("meta", e))?
    };
    let mut config = meta.config;
    config.vector_storage = if v2 {
        let r = rs
            .rows
            .as_mut()
            .ok_or_else(|| corrupt("rows", "section missing".into()))?;
        Rows::image_storage(r).map_err(|e| corrupt("rows", e))?
    } else {
        let (storage, _) = rs
            .vectors
            .as_ref()
            .ok_or_else(|| corrupt("item_vectors", "section missing".into()))?;
        *storage
    };
    config
        .validate()
        .map_err(|e| corrupt("meta", format!("invalid configuration: {e}")))?;
    let storage = config.vector_storage;
    let slots = if v2 {
        meta.catalog.tag_lists()
    } else {
        meta.catalog.slots()
    };
    let (m, efc, rebuild) = (
        config.m,
        config.ef_construction,
        config.rebuild_tombstone_fraction,
    );
    let shape = (config.dim, config.metric, storage, config.row_links());
    if let Some((_, vec_r)) = &rs.vectors {
        // The slot count sizes the graph's arrays: it must match the vector section the
        // file really holds before the graph reader starts (the catalog checks it again).
        let row_bytes = Rows::section_row_bytes(storage, config.dim);
        if (slots as u64).checked_mul(row_bytes) != Some(vec_r.remaining()) {
            return Err(corrupt(
                vector_section(storage).1,
                format!(
                    "{} bytes, expected {slots} slots x {row_bytes} bytes",
                    vec_r.remaining()
                ),
            ));
        }
    }
    let vectorless = read_vectorless(&vectorless_bytes, slots)
        .map_err(|reason| corrupt("vectorless", reason))?;
    let Readers {
        vectors,
        rows,
        ids,
        norms,
        graph,
        factor_ip,
        factor_cosine,
        ..
    } = rs;
    let (cat, graph) = std::thread::scope(|scope| {
        // Every length, link id and level of the graph is validated against the catalog's
        // slot count by `NativeHnsw::read`.
        let graph = graph.filter(|_| config.index.stores_graph()).map(|mut r| {
            scope.spawn(
                move || match NativeHnsw::read(&mut r, m, efc, rebuild, slots) {
                    Ok(g) => r.finish().map(|()| g),
                    Err(reason) => Err(r.fail(reason)),
                },
            )
        });
        let cat = match (vectors, rows, ids) {
            (Some((_, mut vec_r)), None, None) => {
                let section = vector_section(storage).1;
                Catalog::read(meta.catalog, shape, &mut vec_r, section, &vectorless)
            }
            (None, Some(mut rows_r), Some(mut ids_r)) => {
                let mut shape = shape;
                // Files of earlier versions kept a graph's level-0 lists in the catalog's
                // rows whichever vectors it walked on: such rows keep their entries (the
                // graph takes its lists from them).
                let legacy = crate::index::links_per_row(m).div_ceil(4) * 4;
                if config.index == IndexKind::NativeInt8
                    && Rows::image_links(&mut rows_r) == Ok(legacy)
                {
                    shape.3 = legacy;
                }
                let mut norms = norms;
                let readers = (&mut ids_r, &mut rows_r, norms.as_mut());
                Catalog::read_v2(meta.catalog, shape, readers, &vectorless)
            }
            (None, _, None) => Err(("ids", "section missing".to_string())),
            _ => Err(("rows", "section missing".to_string())),
        };
        let graph = graph.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (cat, graph)
    });
    let mut cat = cat.map_err(|(section, reason)| corrupt(section, reason))?;
    let users = Users::read(meta.users, &cat).map_err(|reason| corrupt("meta", reason))?;
    let graph = graph
        .transpose()
        .and_then(|g| g.map(|g| g.attach(&cat, config.index.codes())).transpose())
        .map_err(|reason| corrupt("graph", reason))?;
    if config.index.codes().is_some() {
        if cat.is_mapped() {
            // The graph walks its own codes: the f32 rows are only read to re-score.
            cat.advise_random_rows();
        } else if cat.link_capacity() > 0 {
            // Rows of an earlier layout, whose lists the graph has just taken over: read
            // into memory, they lose the dead entries (and are saved without them).
            cat.drop_links();
        }
    }
    let model = model_part
        .map(|part| part.decode(v2, &cat, path))
        .transpose()?;
    let factors = model::read_factors(model.as_ref(), &cat, &config, (factor_ip, factor_cosine))
        .map_err(|(section, reason)| corrupt(section, reason))?;
    Engine::restore(config, cat, users, model, graph, factors)
}

/// Magic of a version-2 META section.
const META_MAGIC: &[u8; 4] = b"MET2";

/// A version-2 META section: the magic, then the records of the configuration, the catalog
/// and the users, each written by its owner.
fn read_meta(bytes: &[u8]) -> std::result::Result<Meta<'static>, String> {
    let mut r = Reader::new(bytes);
    if bytes.get(..4) != Some(&META_MAGIC[..]) {
        return Err("bad meta magic".into());
    }
    r.u32()?;
    let meta = Meta {
        config: EngineConfig::read_record(&mut r)?,
        catalog: CatalogMeta::read_record(&mut r)?,
        users: UsersMeta::read_record(&mut r)?,
    };
    r.finish()?;
    Ok(meta)
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
