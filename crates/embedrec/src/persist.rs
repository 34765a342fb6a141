//! The embedrec file format, version 1, and atomic saving.
//!
//! ```text
//! offset  size  field
//! 0       8     magic  b"EMBEDREC"
//! 8       2     format version (u16 LE) = 1
//! 10      2     flags (u16 LE) = 0
//! 12      4     section count (u32 LE), at most 16
//! 16      8     total file length (u64 LE)
//! 24      4     CRC-32 of the section table
//! 28      4     CRC-32 of bytes 0..28
//! 32      32*n  section table: kind u32 | reserved u32 | offset u64 | length u64 | CRC-32 u32 | reserved u32
//! ...           sections, in table order, without gaps or overlaps
//! ```
//! Sections: `1` META — bincode 2 (standard config, byte limit) of the configuration, item
//! ids, tags, numeric attributes, users and interactions; `2` ITEM_VECTORS — `slots * dim`
//! raw little-endian f32; `3` MODEL (optional) — bincode 2 of the trained model, checked
//! against the catalog's size after decoding; `4` GRAPH (optional) — the native HNSW graph
//! (levels and links), every level, count and link id validated before use, so loading skips
//! the rebuild. Other kinds are rejected by this version. Loading verifies the header, the file length, the table, every section's
//! bounds and checksum, then decodes META under a byte limit and re-validates every value
//! (dimensions, ids unique and non-empty, tag and slot references in range, finite numbers)
//! before anything is built. The hnsw_rs graph is never stored (it is rebuilt); its loader is
//! never used.

use crate::catalog::Catalog;
use crate::config::EngineConfig;
use crate::train::Model;
use crate::users::{Interaction, Users};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// File magic.
pub const MAGIC: &[u8; 8] = b"EMBEDREC";
/// Format version written and read by this build.
pub const FORMAT_VERSION: u16 = 1;
const HEADER: usize = 32;
const ENTRY: usize = 32;
const MAX_SECTIONS: usize = 16;
const KIND_META: u32 = 1;
const KIND_VECTORS: u32 = 2;
const KIND_MODEL: u32 = 3;
const KIND_GRAPH: u32 = 4;
/// Upper bound for the decoded metadata (bincode's allocation guard).
const META_LIMIT: usize = 1 << 31;

#[derive(Serialize, Deserialize)]
struct Meta<'a> {
    config: EngineConfig,
    /// Borrowed from the catalog when saving and from the file's bytes when loading (no
    /// allocation per id either way).
    #[serde(borrow)]
    ids: Vec<Option<&'a str>>,
    tags: Vec<Vec<u32>>,
    tag_names: Vec<String>,
    attr_names: Vec<String>,
    attrs: Vec<Vec<f64>>,
    users: Vec<String>,
    histories: Vec<Vec<Interaction>>,
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<META_LIMIT>()
}

pub(crate) fn encode(
    config: &EngineConfig,
    cat: &Catalog,
    users: &Users,
    model: Option<&Model>,
    graph: Option<Vec<u8>>,
) -> Result<Vec<u8>> {
    let meta = Meta {
        config: config.clone(),
        ids: (0..cat.slots() as u32).map(|s| cat.ids.get(s)).collect(),
        tags: cat.tags.iter().map(|t| t.to_vec()).collect(),
        tag_names: cat.tag_names.names.clone(),
        attr_names: cat.attr_names.names.clone(),
        attrs: cat.attrs.clone(),
        users: users.ids.iter().map(|s| s.to_string()).collect(),
        histories: users.histories.clone(),
    };
    let meta_bytes = bincode::serde::encode_to_vec(&meta, bincode_config())
        .map_err(|e| Error::Internal(format!("cannot encode metadata: {e}")))?;
    let mut vec_bytes = Vec::with_capacity(cat.vectors.rows() * cat.dim * 4);
    for r in 0..cat.vectors.rows() {
        for x in cat.vectors.row(r) {
            vec_bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    let model_bytes = match model {
        Some(m) => Some(
            bincode::serde::encode_to_vec(m, bincode_config())
                .map_err(|e| Error::Internal(format!("cannot encode model: {e}")))?,
        ),
        None => None,
    };
    let mut sections = vec![(KIND_META, &meta_bytes), (KIND_VECTORS, &vec_bytes)];
    if let Some(mb) = &model_bytes {
        sections.push((KIND_MODEL, mb));
    }
    if let Some(g) = &graph {
        sections.push((KIND_GRAPH, g));
    }
    let table_len = ENTRY * sections.len();
    let total = HEADER + table_len + sections.iter().map(|(_, d)| d.len()).sum::<usize>();
    let mut table = Vec::with_capacity(table_len);
    let mut offset = (HEADER + table_len) as u64;
    for (kind, data) in &sections {
        table.extend_from_slice(&kind.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&offset.to_le_bytes());
        table.extend_from_slice(&(data.len() as u64).to_le_bytes());
        table.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        offset += data.len() as u64;
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    out.extend_from_slice(&(total as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&table).to_le_bytes());
    let hcrc = crc32fast::hash(&out[..28]);
    out.extend_from_slice(&hcrc.to_le_bytes());
    out.extend_from_slice(&table);
    for (_, data) in &sections {
        out.extend_from_slice(data);
    }
    debug_assert_eq!(out.len(), total);
    Ok(out)
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Everything a file holds, verified.
pub(crate) struct Decoded<G> {
    pub(crate) config: EngineConfig,
    pub(crate) cat: Catalog,
    pub(crate) users: Users,
    pub(crate) model: Option<Model>,
    /// The stored graph, as read by the `read_graph` given to [`decode`].
    pub(crate) graph: Option<G>,
}

/// Decodes and verifies a file. `read_graph(bytes, config, slots)` reads the graph section
/// (when there is one) into the index's structure, validating it against the number of
/// catalog slots; it runs on a second thread while the catalog is built, since the two are
/// independent (`None`: this configuration does not use a stored graph).
pub(crate) fn decode<G: Send>(
    b: &[u8],
    path: &Path,
    read_graph: impl FnOnce(&[u8], &EngineConfig, usize) -> Option<std::result::Result<G, String>>
    + Send,
) -> Result<Decoded<G>> {
    let corrupt = |section: &str, reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        section: section.to_string(),
        reason,
    };
    if b.len() < HEADER {
        return Err(corrupt(
            "header",
            format!(
                "file is {} bytes, shorter than the {HEADER}-byte header",
                b.len()
            ),
        ));
    }
    if &b[..8] != MAGIC {
        return Err(corrupt(
            "header",
            "not an embedrec file (bad magic bytes)".into(),
        ));
    }
    let version = u16_at(b, 8);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if crc32fast::hash(&b[..28]) != u32_at(b, 28) {
        return Err(corrupt("header", "header checksum mismatch".into()));
    }
    let flags = u16_at(b, 10);
    if flags != 0 {
        return Err(corrupt("header", format!("unknown flags {flags:#x}")));
    }
    let total = u64_at(b, 16);
    if total != b.len() as u64 {
        return Err(corrupt(
            "header",
            format!(
                "header says {total} bytes but the file has {} (truncated or extended)",
                b.len()
            ),
        ));
    }
    let n = u32_at(b, 12) as usize;
    if n == 0 || n > MAX_SECTIONS {
        return Err(corrupt(
            "section table",
            format!("section count {n} outside 1..={MAX_SECTIONS}"),
        ));
    }
    let table_end = HEADER + n * ENTRY;
    if table_end > b.len() {
        return Err(corrupt(
            "section table",
            "table extends past the end of the file".into(),
        ));
    }
    let table = &b[HEADER..table_end];
    if crc32fast::hash(table) != u32_at(b, 24) {
        return Err(corrupt("section table", "table checksum mismatch".into()));
    }
    let mut meta_bytes: Option<&[u8]> = None;
    let mut vec_bytes: Option<&[u8]> = None;
    let mut model_bytes: Option<&[u8]> = None;
    let mut graph_bytes: Option<&[u8]> = None;
    let mut expected_offset = table_end as u64;
    for i in 0..n {
        let e = &table[i * ENTRY..(i + 1) * ENTRY];
        let (kind, off, len, crc) = (u32_at(e, 0), u64_at(e, 8), u64_at(e, 16), u32_at(e, 24));
        let name = match kind {
            KIND_META => "meta",
            KIND_VECTORS => "item_vectors",
            KIND_MODEL => "model",
            KIND_GRAPH => "graph",
            _ => {
                return Err(corrupt(
                    "section table",
                    format!("entry {i} has unknown section kind {kind}"),
                ));
            }
        };
        if off != expected_offset {
            return Err(corrupt(
                name,
                format!("starts at {off}, expected {expected_offset} (gap or overlap)"),
            ));
        }
        let end = off
            .checked_add(len)
            .filter(|&e| e <= b.len() as u64)
            .ok_or_else(|| {
                corrupt(
                    name,
                    format!(
                        "offset {off} + length {len} exceeds the file length {}",
                        b.len()
                    ),
                )
            })?;
        let data = &b[off as usize..end as usize];
        if crc32fast::hash(data) != crc {
            return Err(corrupt(name, "checksum mismatch".into()));
        }
        let slot = match kind {
            KIND_META => &mut meta_bytes,
            KIND_VECTORS => &mut vec_bytes,
            KIND_MODEL => &mut model_bytes,
            _ => &mut graph_bytes,
        };
        if slot.replace(data).is_some() {
            return Err(corrupt(name, "section appears twice".into()));
        }
        expected_offset = end;
    }
    if expected_offset != b.len() as u64 {
        return Err(corrupt(
            "section table",
            "bytes after the last section".into(),
        ));
    }
    let meta_bytes = meta_bytes.ok_or_else(|| corrupt("meta", "section missing".into()))?;
    let vec_bytes = vec_bytes.ok_or_else(|| corrupt("item_vectors", "section missing".into()))?;
    let (meta, used): (Meta<'_>, usize) =
        bincode::serde::borrow_decode_from_slice(meta_bytes, bincode_config())
            .map_err(|e| corrupt("meta", format!("cannot decode: {e}")))?;
    if used != meta_bytes.len() {
        return Err(corrupt(
            "meta",
            format!("{} trailing bytes", meta_bytes.len() - used),
        ));
    }
    let slots = meta.ids.len();
    let config_for_graph = meta.config.clone();
    let (built, graph) = std::thread::scope(|scope| {
        // The graph reader sizes its arrays from the configuration: only a valid one is
        // used (an invalid one fails in `build` with the precise error).
        let graph = graph_bytes
            .filter(|_| config_for_graph.validate().is_ok())
            .map(|g| scope.spawn(move || read_graph(g, &config_for_graph, slots)));
        let built = build(meta, vec_bytes, &corrupt);
        let graph = graph.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (built, graph.flatten())
    });
    let (config, cat, users) = built?;
    let graph = graph
        .transpose()
        .map_err(|reason| corrupt("graph", reason))?;
    let model = match model_bytes {
        None => None,
        Some(mb) => {
            let (model, used): (Model, usize) =
                bincode::serde::decode_from_slice(mb, bincode_config())
                    .map_err(|e| corrupt("model", format!("cannot decode: {e}")))?;
            if used != mb.len() {
                return Err(corrupt(
                    "model",
                    format!("{} trailing bytes", mb.len() - used),
                ));
            }
            model
                .check(cat.slots(), cat.dim)
                .map_err(|e| corrupt("model", e))?;
            Some(model)
        }
    };
    Ok(Decoded {
        config,
        cat,
        users,
        model,
        graph,
    })
}

/// The vector section as a [`VectorStore`] plus the inverse norms, every vector validated
/// (live ones as upserts would; free slots, which may keep a tombstone's vector, finite).
fn load_vectors(
    dim: usize,
    metric: crate::Metric,
    bytes: &[u8],
    ids: &[Option<&str>],
) -> std::result::Result<(crate::vectors::VectorStore, Vec<f32>), String> {
    let vectors = crate::vectors::VectorStore::from_le_bytes(dim, bytes);
    let mut inv_norm = vec![0.0f32; ids.len()];
    for (s, id) in ids.iter().enumerate() {
        let v = vectors.row(s);
        // One SIMD pass: a finite norm means every component is finite; otherwise the full
        // check finds the offending component (or, for huge finite values whose square
        // overflows, passes).
        let n = crate::distance::norm(v);
        match id {
            None => {
                if !n.is_finite()
                    && let Some(i) = v.iter().position(|x| !x.is_finite())
                {
                    return Err(format!("free slot {s}: component {i} is not finite"));
                }
            }
            Some(id) => {
                if !(n.is_finite() && n > 0.0) {
                    Catalog::check_vector(dim, metric, "vector", Some(id), v)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        inv_norm[s] = if n.is_finite() && n > 0.0 {
            1.0 / n
        } else {
            0.0
        };
    }
    Ok((vectors, inv_norm))
}

fn build(
    meta: Meta<'_>,
    vec_bytes: &[u8],
    corrupt: &dyn Fn(&str, String) -> Error,
) -> Result<(EngineConfig, Catalog, Users)> {
    let config = meta.config;
    config
        .validate()
        .map_err(|e| corrupt("meta", format!("invalid configuration: {e}")))?;
    let (dim, metric) = (config.dim, config.metric);
    let slots = meta.ids.len();
    if slots >= u32::MAX as usize {
        return Err(corrupt("meta", format!("{slots} slots exceed the limit")));
    }
    let expected = (slots as u64)
        .checked_mul(dim as u64)
        .and_then(|x| x.checked_mul(4));
    if expected != Some(vec_bytes.len() as u64) {
        return Err(corrupt(
            "item_vectors",
            format!(
                "{} bytes, expected {slots} slots x {dim} dims x 4",
                vec_bytes.len()
            ),
        ));
    }
    if meta.tags.len() != slots {
        return Err(corrupt(
            "meta",
            format!("{} tag lists for {slots} slots", meta.tags.len()),
        ));
    }
    if meta.attrs.len() != meta.attr_names.len() || meta.attrs.iter().any(|c| c.len() != slots) {
        return Err(corrupt(
            "meta",
            "attribute columns do not match the attribute names and slots".into(),
        ));
    }
    let mut cat = Catalog::new(dim, metric);
    let ids = &meta.ids;
    // Vectors (copy, validation, norms) on a second thread while ids and tags are indexed.
    let (vectors, ids_done) = std::thread::scope(|scope| {
        let vectors = scope.spawn(|| load_vectors(dim, metric, vec_bytes, ids));
        let ids_done = (|| -> Result<()> {
            cat.tag_names.names = meta.tag_names;
            cat.tag_names
                .rebuild_map()
                .map_err(|e| corrupt("meta", format!("tag names: {e}")))?;
            cat.attr_names.names = meta.attr_names;
            cat.attr_names
                .rebuild_map()
                .map_err(|e| corrupt("meta", format!("attribute names: {e}")))?;
            let n_tags = cat.tag_names.names.len() as u32;
            cat.ids.reserve(slots, 0);
            for (s, (id, tags)) in ids.iter().zip(&meta.tags).enumerate() {
                cat.ids.push_free();
                match id {
                    None => {
                        if !tags.is_empty() {
                            return Err(corrupt("meta", format!("free slot {s} carries tags")));
                        }
                        cat.free.push(s as u32);
                    }
                    Some(id) => {
                        if id.is_empty() || id.len() > crate::engine::MAX_ID_BYTES {
                            return Err(corrupt(
                                "meta",
                                format!("slot {s}: invalid id of {} bytes", id.len()),
                            ));
                        }
                        if tags.windows(2).any(|w| w[0] >= w[1])
                            || tags.iter().any(|&t| t >= n_tags)
                        {
                            return Err(corrupt(
                                "meta",
                                format!("item {id:?}: tag list unsorted or out of range"),
                            ));
                        }
                        if !cat.ids.insert(s as u32, id) {
                            return Err(corrupt("meta", format!("item id {id:?} appears twice")));
                        }
                    }
                }
            }
            Ok(())
        })();
        let vectors = vectors
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (vectors, ids_done)
    });
    ids_done?;
    (cat.vectors, cat.inv_norm) = vectors.map_err(|reason| corrupt("item_vectors", reason))?;
    cat.free.reverse();
    cat.tags = meta.tags.into_iter().map(Vec::into_boxed_slice).collect();
    for (c, col) in meta.attrs.iter().enumerate() {
        if let Some(s) = col.iter().position(|x| x.is_infinite()) {
            return Err(corrupt(
                "meta",
                format!(
                    "attribute {:?} of slot {s} is infinite",
                    cat.attr_names.names[c]
                ),
            ));
        }
    }
    cat.attrs = meta.attrs;
    if meta.histories.len() != meta.users.len() {
        return Err(corrupt(
            "meta",
            format!(
                "{} histories for {} users",
                meta.histories.len(),
                meta.users.len()
            ),
        ));
    }
    let mut users = Users::default();
    users.ensure_slots(slots);
    for (u, (uid, hist)) in meta.users.into_iter().zip(meta.histories).enumerate() {
        if uid.is_empty() || uid.len() > crate::engine::MAX_ID_BYTES {
            return Err(corrupt(
                "meta",
                format!("user {u}: invalid id of {} bytes", uid.len()),
            ));
        }
        for it in &hist {
            if !(cat.is_live(it.slot) && it.weight.is_finite() && it.weight > 0.0) {
                return Err(corrupt(
                    "meta",
                    format!(
                        "user {uid:?}: interaction with slot {} weight {} is invalid",
                        it.slot, it.weight
                    ),
                ));
            }
        }
        if users.ensure_user(&uid) as usize != u {
            return Err(corrupt("meta", format!("user id {uid:?} appears twice")));
        }
        for it in hist {
            users.add(&uid, it);
        }
    }
    Ok((config, cat, users))
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename,
/// directory fsync). On error the temp file is removed and `path` is untouched.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let io = |op: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io {
            op,
            path: p,
            source,
        }
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::invalid("path", "a file path", format!("{path:?}")))?
        .to_string_lossy()
        .into_owned();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{file_name}.tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io("create temp file", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io("rename", path))?;
        // Persist the directory entry; not every platform can open a directory, so only
        // a failing sync (not a failing open) is reported.
        if let Ok(d) = std::fs::File::open(&dir) {
            d.sync_all().map_err(io("fsync directory", &dir))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
