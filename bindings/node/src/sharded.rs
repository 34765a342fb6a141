//! `ShardedEngine` for Node.

use crate::engine::{
    CoreTask, Done, Engine, STYLE, answer, batch_options, filter, hit_options, recommend_options,
    rows_json, vector, weights,
};
use crate::error::run;
use crate::types::SearchHit;
use crate::value::{JsId, id, int, js_id, opt};
use embedrec_host::Options;
use napi::Env;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;

/// An engine's items split by a hash of their ids over several shard engines, queried as
/// one: every shard answers its part in parallel and the best `k` of all are returned, with
/// the scores the whole engine gives. `ShardedEngine.split(engine, shards)` makes a set in
/// memory; `ShardedEngine.splitTo(engine, shards, directory)` writes shard files and a
/// manifest, which `ShardedEngine.open(path)` opens read-only (memory-mapped). The engine's
/// model must be ALS, popularity or none.
#[napi]
pub struct ShardedEngine {
    pub(crate) inner: Arc<embedrec::ShardedEngine>,
}

#[napi]
impl ShardedEngine {
    /// Splits an engine into `shards` item shards in memory, on the libuv pool.
    #[napi(
        catch_unwind,
        ts_args_type = "engine: Engine, shards: number",
        ts_return_type = "Promise<ShardedEngine>"
    )]
    pub fn split(env: Env, engine: &Engine, shards: Unknown<'_>) -> Result<AsyncTask<CoreTask>> {
        let n = run(&env, || int("shards", &shards))?;
        let e = engine.inner.clone();
        Ok(CoreTask::spawn(move || {
            embedrec::ShardedEngine::split(&e, n).map(|s| Done::Sharded(Arc::new(s)))
        }))
    }

    /// Writes an engine as `shards` shard files and a manifest into `directory`, on the
    /// libuv pool; resolves to the manifest's path (what `open` takes).
    #[napi(
        catch_unwind,
        ts_args_type = "engine: Engine, shards: number, directory: string",
        ts_return_type = "Promise<string>"
    )]
    pub fn split_to(
        env: Env,
        engine: &Engine,
        shards: Unknown<'_>,
        directory: String,
    ) -> Result<AsyncTask<CoreTask>> {
        let n = run(&env, || int("shards", &shards))?;
        let e = engine.inner.clone();
        Ok(CoreTask::spawn(move || {
            embedrec::ShardedEngine::split_to(&e, n, &directory)
                .map(|p| Done::Json(p.to_string_lossy().into_owned().into()))
        }))
    }

    /// Opens the set a manifest names (its path or its directory), every shard read-only
    /// and memory-mapped. `threads`: the set's pool (default 0: one per core).
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "path: string, options?: { threads?: number } | undefined | null"
    )]
    pub fn open(env: Env, path: String, options: Option<Unknown<'_>>) -> Result<Self> {
        run(&env, || {
            let o = Options::new("options", STYLE, opt("options", options)?)?;
            let threads = embedrec_host::sharded_open_options(o)?;
            embedrec::ShardedEngine::open(&path, threads)
        })
        .map(|s| ShardedEngine { inner: Arc::new(s) })
    }

    /// The number of shards.
    #[napi(getter, catch_unwind)]
    pub fn shards(&self) -> u32 {
        self.inner.shards() as u32
    }

    /// Live items over every shard.
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }

    /// The manifest of a set opened from files, else null.
    #[napi(getter, catch_unwind)]
    pub fn manifest(&self) -> Option<String> {
        self.inner
            .manifest()
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// Ids of every shard's items.
    #[napi(catch_unwind, ts_return_type = "Array<string | number | bigint>")]
    pub fn item_ids(&self) -> Vec<JsId> {
        self.inner.item_ids().iter().map(|i| js_id(i)).collect()
    }

    /// Threads of the set's pool (0 = one per core).
    #[napi(catch_unwind, ts_args_type = "threads: number")]
    pub fn set_threads(&self, env: Env, threads: Unknown<'_>) -> Result<()> {
        run(&env, || self.inner.set_threads(int("threads", &threads)?))
    }

    /// The k items most similar to a vector over every shard.
    #[napi(
        catch_unwind,
        ts_args_type = "vector: Float32Array | Float64Array | Array<number>, k: number, filter?: FilterOptions | undefined | null, options?: HitOptions | undefined | null"
    )]
    pub fn search(
        &self,
        env: Env,
        vector: Unknown<'_>,
        k: Unknown<'_>,
        filter: Option<Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> Result<Vec<SearchHit>> {
        run(&env, || {
            let q = self::vector("vector", &vector)?;
            let (k, f) = (int("k", &k)?, self::filter(filter)?);
            let meta = hit_options(options)?;
            let a = self.inner.answer(meta, |e| e.search(&q, k, f.as_ref()))?;
            Ok(answer(a))
        })
    }

    /// The k items most similar to an item (never the item itself).
    #[napi(
        catch_unwind,
        ts_args_type = "id: string | number | bigint, k: number, filter?: FilterOptions | undefined | null, options?: HitOptions | undefined | null"
    )]
    pub fn similar(
        &self,
        env: Env,
        id: Unknown<'_>,
        k: Unknown<'_>,
        filter: Option<Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> Result<Vec<SearchHit>> {
        run(&env, || {
            let (k, f) = (int("k", &k)?, self::filter(filter)?);
            let (id, meta) = (self::id("id", &id)?, hit_options(options)?);
            let a = self.inner.answer(meta, |e| e.similar(&id, k, f.as_ref()))?;
            Ok(answer(a))
        })
    }

    /// Recommendations for a stored user, as `Engine.recommend` (`diversity` must be 0).
    #[napi(
        catch_unwind,
        ts_args_type = "userId: string | number | bigint, k: number, options?: RecommendOptions | undefined | null"
    )]
    pub fn recommend(
        &self,
        env: Env,
        user_id: Unknown<'_>,
        k: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<Vec<SearchHit>> {
        run(&env, || {
            let (k, (o, meta)) = (int("k", &k)?, recommend_options(options)?);
            let user = self::id("userId", &user_id)?;
            let a = self.inner.answer(meta, |e| e.recommend(&user, k, &o))?;
            Ok(answer(a))
        })
    }

    /// Recommendations for a session's items, as `Engine.recommendForItems`.
    #[napi(
        catch_unwind,
        ts_args_type = "items: Array<string | number | bigint>, k: number, weights?: Array<number> | Float32Array | Float64Array | undefined | null, options?: RecommendOptions | undefined | null"
    )]
    pub fn recommend_for_items(
        &self,
        env: Env,
        items: Unknown<'_>,
        k: Unknown<'_>,
        weights: Option<Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> Result<Vec<SearchHit>> {
        run(&env, || {
            let (items, w) = (crate::value::ids("items", &items)?, self::weights(weights)?);
            let (k, (o, meta)) = (int("k", &k)?, recommend_options(options)?);
            let a = (self.inner)
                .answer(meta, |e| e.recommend_for_items(&items, w.as_deref(), k, &o))?;
            Ok(answer(a))
        })
    }

    /// `recommend` for many users, on the libuv pool.
    #[napi(
        catch_unwind,
        ts_args_type = "userIds: Array<string | number | bigint>, k: number, options?: RecommendOptions | undefined | null",
        ts_return_type = "Promise<Array<Array<SearchHit>>>"
    )]
    pub fn recommend_batch(
        &self,
        env: Env,
        user_ids: Unknown<'_>,
        k: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<AsyncTask<CoreTask>> {
        let (user_ids, k, o) = run(&env, || {
            let user_ids = crate::value::ids("userIds", &user_ids)?;
            Ok((user_ids, int("k", &k)?, batch_options(options)?))
        })?;
        let s = self.inner.clone();
        Ok(CoreTask::spawn(move || {
            s.recommend_batch(&user_ids, k, &o).map(rows_json)
        }))
    }
}
