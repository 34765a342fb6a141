//! Item-sharded engines: one engine's items split by a hash of their ids into `n` shard
//! engines (files), queried in parallel with the top `k` of every shard merged.
//!
//! Each shard holds its items (vectors, tags, attributes, index), the interactions with
//! them and the model restricted to them (ALS: its items' factors and every user's;
//! popularity). A query is answered in two steps: every shard gives its part of the
//! subject (a user's stored factors, the fold-in terms and content-profile sums of the
//! history items it holds), from which the set builds the query the whole engine would
//! build; then every shard ranks its own items by that query, leaving out the subject's
//! items it holds and applying the filter, and the best `k` of all are kept. Scores of one
//! model are the same numbers in every shard, so the merge is the whole engine's ranking
//! (up to the approximation of each shard's index, and ties).

mod manifest;

use crate::engine::{Part, Pool, Probe, Seen, Subject, check_k, check_options, check_weights};
use crate::model::FoldSums;
use crate::store::users::ProfileSums;
use crate::{AlsParams, Engine, Error, Filter, Hit, Metric, RecommendOptions, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

pub use manifest::MANIFEST;

/// Most shards in one set.
pub const MAX_SHARDS: usize = 4_096;

/// The shard an item id belongs to among `n`: FNV-1a (64-bit) of the id's UTF-8 bytes
/// (an integer id as stored: U+0000 then its digits), modulo `n`. Stable across versions
/// and machines.
pub fn shard_of(id: &str, n: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id.as_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % n.max(1) as u64) as usize
}

/// An engine's items split over several shard engines, queried as one (see the module
/// documentation). Read-only: write to the engine it was split from and split again.
pub struct ShardedEngine {
    shards: Vec<Engine>,
    /// ALS: the model's parameters and `Yᵀ Y` over every shard's items.
    als: Option<(AlsParams, Vec<f32>)>,
    metric: Metric,
    half_life: Option<f64>,
    model: Option<&'static str>,
    pool: Pool,
    /// The manifest a set opened from files was read from.
    manifest: Option<PathBuf>,
}

impl std::fmt::Debug for ShardedEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedEngine")
            .field("shards", &self.shards.len())
            .field("items", &self.len())
            .finish()
    }
}

fn check_shards(n: usize) -> Result<()> {
    if n == 0 || n > MAX_SHARDS {
        return Err(Error::invalid("shards", format!("1..={MAX_SHARDS}"), n));
    }
    Ok(())
}

impl ShardedEngine {
    /// Splits `engine` into `shards` item shards in memory (every item goes to
    /// [`shard_of`]). The engine's model must be ALS, popularity or none.
    pub fn split(engine: &Engine, shards: usize) -> Result<ShardedEngine> {
        check_shards(shards)?;
        let parts = (0..shards)
            .map(|i| engine.subset(&|id| shard_of(id, shards) == i))
            .collect::<Result<Vec<_>>>()?;
        Self::from_shards(parts)
    }

    /// Splits `engine` into `shards` shard files in `dir` (created if missing):
    /// `shard-I-of-N.embedrec` and a manifest ([`MANIFEST`]) naming each file with its
    /// identity, written last. Returns the manifest's path, which [`ShardedEngine::open`]
    /// takes. Files are written atomically; an existing set in `dir` is replaced shard by
    /// shard, then by its manifest.
    pub fn split_to(engine: &Engine, shards: usize, dir: impl AsRef<Path>) -> Result<PathBuf> {
        check_shards(shards)?;
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            op: "create directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let mut names = Vec::with_capacity(shards);
        for i in 0..shards {
            let shard = engine.subset(&|id| shard_of(id, shards) == i)?;
            let name = manifest::file_name(i, shards);
            let path = dir.join(&name);
            shard.save(&path)?;
            let opened = Engine::open(
                &path,
                None,
                crate::OpenOptions::default().with_read_only(true),
            )?;
            let (_, id) = opened.snapshot().expect("a read-only open has a snapshot");
            names.push((name, id));
        }
        manifest::write(dir, &names)
    }

    /// Opens the set a manifest names (its path, or the directory holding it): every shard
    /// read-only (memory-mapped, shared by the processes that open it), each checked to be
    /// the file the manifest recorded. `threads`: the set's pool, which queries the shards
    /// in parallel and runs batches (0 = one per core).
    pub fn open(path: impl AsRef<Path>, threads: usize) -> Result<ShardedEngine> {
        let (manifest, entries) = manifest::read(path.as_ref())?;
        let dir = manifest
            .parent()
            .map_or_else(PathBuf::new, Path::to_path_buf);
        let shards = entries
            .iter()
            .map(|(name, id)| Engine::open_snapshot(dir.join(name), id))
            .collect::<Result<Vec<_>>>()?;
        let mut set = Self::from_shards(shards)?;
        set.set_threads(threads)?;
        set.manifest = Some(manifest);
        Ok(set)
    }

    /// A set of shard engines made by [`ShardedEngine::split`] (or opened from its files),
    /// in shard order. Checks that they agree (dimension, metric, model); whether each
    /// holds only its own items is not checked (that reads every id), so the order must be
    /// the split's.
    pub fn from_shards(shards: Vec<Engine>) -> Result<ShardedEngine> {
        check_shards(shards.len())?;
        let first = shards[0].config();
        let model = shards[0].model_name();
        let mut als: Option<(AlsParams, Vec<f32>)> = None;
        for (i, s) in shards.iter().enumerate() {
            let c = s.config();
            if (c.dim, c.metric) != (first.dim, first.metric) || s.model_name() != model {
                return Err(Error::invalid(
                    format!("shards[{i}]"),
                    format!(
                        "a shard of the same engine (dim {}, metric {}, model {})",
                        first.dim,
                        first.metric.name(),
                        model.unwrap_or("none")
                    ),
                    format!(
                        "dim {}, metric {}, model {}",
                        c.dim,
                        c.metric.name(),
                        s.model_name().unwrap_or("none")
                    ),
                ));
            }
            if !matches!(model, None | Some("als") | Some("popularity")) {
                return Err(Error::invalid(
                    "model",
                    "als, popularity or no model",
                    model.unwrap_or("none"),
                ));
            }
            if let Some((p, g)) = s.shard_als() {
                match &mut als {
                    None => als = Some((p, g)),
                    Some((p0, sum)) if p0.factors == p.factors && sum.len() == g.len() => {
                        sum.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
                    }
                    Some((p0, _)) => {
                        return Err(Error::invalid(
                            format!("shards[{i}]"),
                            format!("ALS factors of width {}", p0.factors),
                            p.factors,
                        ));
                    }
                }
            }
        }
        let threads = shards.len().min(Pool::capped(0));
        Ok(ShardedEngine {
            metric: first.metric,
            half_life: first.recency_half_life_secs,
            model,
            als,
            shards,
            pool: Pool::new(threads),
            manifest: None,
        })
    }

    /// The manifest of a set opened with [`ShardedEngine::open`] (`None` for a set made in
    /// memory).
    pub fn manifest(&self) -> Option<&Path> {
        self.manifest.as_deref()
    }

    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The shard engines, in shard order.
    pub fn shard_engines(&self) -> &[Engine] {
        &self.shards
    }

    /// Live items over every shard.
    pub fn len(&self) -> usize {
        self.shards.iter().map(Engine::len).sum()
    }

    /// Ids of the live items of every shard, shard by shard.
    pub fn item_ids(&self) -> Vec<std::sync::Arc<str>> {
        self.shards.iter().flat_map(Engine::item_ids).collect()
    }

    /// Each hit with its item's tags and numeric attributes, read from the shard holding it
    /// (see [`Engine::with_attributes`]).
    pub fn with_attributes(&self, hits: Vec<Hit>) -> Vec<(Hit, crate::ItemAttrs)> {
        let n = self.shards.len();
        (hits.into_iter())
            .flat_map(|h| self.shards[shard_of(&h.id, n)].with_attributes(vec![h]))
            .collect()
    }

    /// Runs `query` on this set and, with `with_metadata`, reads each hit's tags and numeric
    /// attributes (see [`Engine::answer`]).
    pub fn answer(
        &self,
        with_metadata: bool,
        query: impl FnOnce(&Self) -> Result<Vec<Hit>>,
    ) -> Result<crate::Answer> {
        let hits = query(self)?;
        Ok(crate::Answer::of(hits, with_metadata, |h| {
            self.with_attributes(h)
        }))
    }

    /// Whether no shard has an item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Threads of the set's pool (0 = one per core). Each shard answers its part of one
    /// query on one of them.
    pub fn set_threads(&self, threads: usize) -> Result<()> {
        if threads > crate::MAX_THREADS {
            return Err(Error::invalid(
                "threads",
                format!("0..={}", crate::MAX_THREADS),
                threads,
            ));
        }
        self.pool.set_threads(threads);
        Ok(())
    }

    /// Runs `f` on every shard, in parallel on the set's pool.
    fn each<T: Send>(&self, f: impl Fn(usize, &Engine) -> Result<T> + Sync) -> Result<Vec<T>> {
        if self.shards.len() == 1 || rayon::current_thread_index().is_some() {
            return self
                .shards
                .iter()
                .enumerate()
                .map(|(i, s)| f(i, s))
                .collect();
        }
        self.pool.install(|| {
            self.shards
                .par_iter()
                .enumerate()
                .map(|(i, s)| f(i, s))
                .collect()
        })?
    }

    /// The `k` items most similar to `query` over every shard (as [`Engine::search`]).
    pub fn search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Result<Vec<Hit>> {
        check_k(k)?;
        Ok(merge(self.each(|_, s| s.search(query, k, filter))?, k))
    }

    /// The `k` items most similar to item `id` (as [`Engine::similar`]): the shard holding
    /// it gives its factors or vector, every shard ranks by them.
    pub fn similar(&self, id: &str, k: usize, filter: Option<&Filter>) -> Result<Vec<Hit>> {
        check_k(k)?;
        let probe = self.shards[shard_of(id, self.shards.len())].shard_item_probe(id)?;
        let opts = RecommendOptions {
            filter: filter.cloned(),
            ..Default::default()
        };
        let hits = self.each(|_, s| s.shard_rank(&probe, k, &opts, Seen::Item(id)))?;
        Ok(merge(hits, k))
    }

    /// Recommendations for a stored user (as [`Engine::recommend`]).
    /// [`Error::UnknownUser`] when no shard has the user.
    pub fn recommend(&self, user_id: &str, k: usize, opts: &RecommendOptions) -> Result<Vec<Hit>> {
        self.recommend_subject(&|_| Subject::User(user_id), Some(user_id), k, opts)
    }

    /// Recommendations for a session's items (as [`Engine::recommend_for_items`]): each
    /// item is looked up in its shard.
    pub fn recommend_for_items<S: AsRef<str>>(
        &self,
        items: &[S],
        weights: Option<&[f32]>,
        k: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<Hit>> {
        check_weights(weights, items.len(), "item")?;
        let n = self.shards.len();
        let mut routed: Vec<Vec<(usize, &str, f32)>> = vec![Vec::new(); n];
        for (i, id) in items.iter().enumerate() {
            let id = id.as_ref();
            routed[shard_of(id, n)].push((i, id, weights.map_or(1.0, |w| w[i])));
        }
        self.recommend_subject(&|i| Subject::Items(&routed[i]), None, k, opts)
    }

    /// [`ShardedEngine::recommend`] for every user; fails as a whole (naming the user) if
    /// any user is unknown. With ALS, the users with stored factors are scored by every
    /// shard's own [`Engine::recommend_batch`] (matrix-product tiles for many users, each
    /// shard on one thread of the set's pool) and merged per user; other users one query
    /// each, in parallel.
    pub fn recommend_batch<S: AsRef<str> + Sync>(
        &self,
        user_ids: &[S],
        k: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<Vec<Hit>>> {
        check_k(k)?;
        check_options(opts)?;
        let mut out: Vec<Option<Vec<Hit>>> = vec![None; user_ids.len()];
        if self.als.is_some() && opts.diversity == 0.0 {
            let stored: Vec<usize> = (0..user_ids.len())
                .filter(|&i| self.shards[0].shard_has_user_factors(user_ids[i].as_ref()))
                .collect();
            let ids: Vec<&str> = stored.iter().map(|&i| user_ids[i].as_ref()).collect();
            let mut per_shard = self.each(|_, s| s.recommend_batch(&ids, k, opts))?;
            for (j, &i) in stored.iter().enumerate() {
                let lists = per_shard
                    .iter_mut()
                    .map(|rows| std::mem::take(&mut rows[j]));
                out[i] = Some(merge(lists.collect(), k));
            }
        }
        self.pool.install(|| {
            (out.into_par_iter().zip(user_ids))
                .map(|(done, u)| match done {
                    Some(hits) => Ok(hits),
                    None => self.recommend(u.as_ref(), k, opts),
                })
                .collect()
        })?
    }

    fn recommend_subject<'a>(
        &self,
        subject: &(dyn Fn(usize) -> Subject<'a> + Sync),
        user: Option<&str>,
        k: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<Hit>> {
        check_k(k)?;
        check_options(opts)?;
        if opts.diversity != 0.0 {
            return Err(Error::invalid(
                "opts.diversity",
                "0 on a sharded engine (diversity re-ranks across shards)",
                opts.diversity,
            ));
        }
        let parts = self.each(|i, s| s.shard_part(subject(i)))?;
        if let Some(id) = user
            && !parts.iter().any(|p| p.known)
        {
            return Err(Error::UnknownUser { id: id.to_string() });
        }
        let probe = self.probe(&parts);
        let hits = self.each(|i, s| s.shard_rank(&probe, k, opts, Seen::Subject(subject(i))))?;
        Ok(merge(hits, k))
    }

    /// The query the whole engine would build from these parts: the user's stored factors
    /// or the fold-in of the whole history (ALS), the model's own scores (popularity), the
    /// content profile of the whole history, or popularity.
    fn probe(&self, parts: &[Part]) -> Probe {
        if let Some((params, gram)) = &self.als {
            if let Some(u) = parts.iter().find_map(|p| p.user_factor.clone()) {
                return Probe::Factors(u);
            }
            let mut sums = FoldSums::empty(params.factors);
            parts
                .iter()
                .filter_map(|p| p.fold.as_ref())
                .for_each(|f| sums.add(f));
            if let Some(u) = sums.solve(gram, params) {
                return Probe::Factors(u);
            }
        } else if self.model == Some("popularity") {
            return Probe::Model;
        }
        if let Some(newest) = parts.iter().filter_map(|p| p.newest).max() {
            let mut sums = ProfileSums::default();
            for p in parts {
                let Some(t) = p.newest else { continue };
                let scale = self
                    .half_life
                    .map_or(1.0, |h| 0.5f64.powf(newest.saturating_sub(t) as f64 / h));
                sums.add(&p.profile, scale);
            }
            if let Some(q) = sums.finish(self.metric) {
                return Probe::Content(q);
            }
        }
        Probe::Popular
    }
}

/// The best `k` of every shard's hits (each best first): by score, ties by id.
fn merge(lists: Vec<Vec<Hit>>, k: usize) -> Vec<Hit> {
    let mut all: Vec<Hit> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    all.truncate(k);
    all
}
