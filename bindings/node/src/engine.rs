//! `Engine` for Node.

use crate::error::{guard, invalid, js_err, run};
use crate::types::{FlatHits, IdRows, SearchHit, Snapshot};
use crate::value::{JsId, id, int, js_id, numbers, opt, value};
use embedrec::ndarray::ArrayView2;
use embedrec::{Answer, Engine as Core, Hit};
use embedrec_host::{FitCall, Options, Style};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Task};
use napi_derive::napi;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Node's key style for every options object and shaped result.
pub(crate) const STYLE: Style = Style::Camel;

/// Reads an optional options object named `what`.
pub(crate) fn options(what: &str, v: Option<Unknown<'_>>) -> embedrec::Result<Options> {
    Options::new(what, STYLE, opt(what, v)?)
}

pub(crate) fn filter(v: Option<Unknown<'_>>) -> embedrec::Result<Option<embedrec::Filter>> {
    embedrec_host::filter("filter", STYLE, opt("filter", v)?)
}

/// A recommend call's options and whether hits carry their items' metadata.
pub(crate) fn recommend_options(
    v: Option<Unknown<'_>>,
) -> embedrec::Result<(embedrec::RecommendOptions, bool)> {
    embedrec_host::recommend_call(options("options", v)?)
}

/// A batch call's recommend options (metadata is read with `itemAttributes`).
pub(crate) fn batch_options(
    v: Option<Unknown<'_>>,
) -> embedrec::Result<embedrec::RecommendOptions> {
    match recommend_options(v)? {
        (_, true) => Err(invalid(
            "options.withMetadata",
            "false in batch calls (itemAttributes reads items' metadata)",
            true,
        )),
        (o, false) => Ok(o),
    }
}

/// Whether `search` / `similar` hits carry their items' metadata.
pub(crate) fn hit_options(v: Option<Unknown<'_>>) -> embedrec::Result<bool> {
    embedrec_host::hit_options(options("options", v)?)
}

/// A query's answer as JavaScript objects: hits, each with its item's tags and attributes
/// when they were asked for.
pub(crate) fn answer(a: Answer) -> Vec<SearchHit> {
    match a {
        Answer::Hits(h) => hits(h),
        Answer::Described(h) => (h.into_iter())
            .map(|(h, a)| SearchHit {
                id: js_id(&h.id),
                score: h.score as f64,
                tags: Some(a.tags),
                attributes: Some(a.numbers.into_iter().collect()),
            })
            .collect(),
    }
}

fn flat(rows: Vec<Vec<Hit>>) -> FlatHits {
    let total = rows.iter().map(|r| r.len()).sum();
    let (mut ids, mut scores) = (Vec::with_capacity(total), Vec::with_capacity(total));
    let mut counts = Vec::with_capacity(rows.len());
    for r in rows {
        counts.push(r.len() as u32);
        for h in r {
            ids.push(js_id(&h.id));
            scores.push(h.score);
        }
    }
    FlatHits {
        ids,
        scores: Float32Array::new(scores),
        counts,
    }
}

pub(crate) fn hits(h: Vec<Hit>) -> Vec<SearchHit> {
    h.into_iter()
        .map(|h| SearchHit {
            id: js_id(&h.id),
            score: h.score as f64,
            tags: None,
            attributes: None,
        })
        .collect()
}

/// Row-major matrix from a Float32Array or Float64Array of n * dim values, or an array of
/// arrays of numbers.
fn matrix(v: &Unknown<'_>, dim: usize, field: &str) -> embedrec::Result<(Vec<f32>, usize)> {
    let mut is_array = false;
    // SAFETY: a plain N-API query on a live value of this call.
    unsafe { napi::sys::napi_is_array(v.value().env, v.raw(), &mut is_array) };
    if !is_array {
        let data: Vec<f32> = numbers(field, v)?.into_iter().map(|x| x as f32).collect();
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(invalid(
                field,
                &format!("a typed array whose length is a multiple of dim = {dim}"),
                format!("length {}", data.len()),
            ));
        }
        let n = data.len() / dim;
        return Ok((data, n));
    }
    // SAFETY: the value is an array; a wrong element type is an error.
    let rows: Vec<Vec<f64>> = unsafe { v.cast() }.map_err(|_| {
        invalid(
            field,
            "a Float32Array, a Float64Array or an array of arrays of numbers",
            "an array of something else",
        )
    })?;
    let n = rows.len();
    let mut data = Vec::with_capacity(n * dim);
    for (i, r) in rows.iter().enumerate() {
        if r.len() != dim {
            return Err(embedrec::Error::DimensionMismatch {
                field: format!("{field}[{i}]"),
                expected: dim,
                got: r.len(),
            });
        }
        data.extend(r.iter().map(|x| *x as f32));
    }
    Ok((data, n))
}

/// A matrix of `rows` rows whose width is read from the value (a typed array's length over
/// `rows`, or the length of the first inner array), as `(row-major data, width)`.
fn matrix_of_rows(
    v: &Unknown<'_>,
    rows: usize,
    field: &str,
) -> embedrec::Result<(Vec<f32>, usize)> {
    let mut is_array = false;
    // SAFETY: a plain N-API query on a live value of this call.
    unsafe { napi::sys::napi_is_array(v.value().env, v.raw(), &mut is_array) };
    let width = if is_array {
        // SAFETY: the value is an array; a wrong element type is an error.
        let outer: Vec<Unknown<'_>> = unsafe { v.cast() }.unwrap_or_default();
        match outer.first() {
            Some(first) => numbers(&format!("{field}[0]"), first)?.len(),
            None => 0,
        }
    } else {
        let n = numbers(field, v)?.len();
        if rows == 0 || !n.is_multiple_of(rows) {
            return Err(invalid(
                field,
                &format!("a typed array of length rows × width (rows = {rows})"),
                format!("length {n}"),
            ));
        }
        n / rows
    };
    let (data, _) = matrix(v, width.max(1), field)?;
    Ok((data, width))
}

/// `data` as `rows × width`.
fn view<'a>(
    field: &str,
    rows: usize,
    width: usize,
    data: &'a [f32],
) -> embedrec::Result<ArrayView2<'a, f32>> {
    ArrayView2::from_shape((rows, width), data)
        .map_err(|e| invalid(field, "a matrix of one row per id", e))
}

/// An optional argument, unless undefined or null.
fn present(v: Option<Unknown<'_>>) -> Option<Unknown<'_>> {
    v.filter(|v| !matches!(v.get_type(), Ok(ValueType::Undefined | ValueType::Null)))
}

fn id_rows(r: embedrec::Rows) -> IdRows {
    let width = r.values.ncols() as u32;
    IdRows {
        ids: r.ids.iter().map(|s| js_id(s)).collect(),
        values: Float32Array::new(r.values.into_raw_vec_and_offset().0),
        width,
    }
}

pub(crate) fn vector(field: &str, v: &Unknown<'_>) -> embedrec::Result<Vec<f32>> {
    Ok(numbers(field, v)?.into_iter().map(|x| x as f32).collect())
}

pub(crate) fn weights(w: Option<Unknown<'_>>) -> embedrec::Result<Option<Vec<f32>>> {
    present(w).map(|w| vector("weights", &w)).transpose()
}

/// Timestamps given as JavaScript numbers: whole seconds, exactly.
pub(crate) fn timestamps(t: Option<Unknown<'_>>) -> embedrec::Result<Option<Vec<i64>>> {
    present(t)
        .map(|t| {
            numbers("timestamps", &t)?
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    embedrec_host::to_i64(
                        &format!("timestamps[{i}]"),
                        &embedrec_host::Value::Num(x),
                    )
                })
                .collect()
        })
        .transpose()
}

/// The embedrec engine. Cheap calls are synchronous; batch calls, training, save and load
/// return Promises and run on the libuv thread pool.
#[napi]
pub struct Engine {
    pub(crate) inner: Arc<Core>,
}

#[napi]
impl Engine {
    /// Creates an empty engine. Throws `INVALID_INPUT` for out-of-range or unknown options.
    #[napi(constructor, catch_unwind, ts_args_type = "options: EngineOptions")]
    pub fn new(env: Env, options: Unknown<'_>) -> Result<Self> {
        run(&env, || {
            let o = Options::new("options", STYLE, value("options", &options)?)?;
            let c = embedrec_host::engine_options(o)?;
            Ok(Engine {
                inner: Arc::new(Core::new(c)?),
            })
        })
    }

    /// Number of items.
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }

    /// Vector dimension.
    #[napi(getter, catch_unwind)]
    pub fn dim(&self) -> u32 {
        self.inner.dim() as u32
    }

    /// The configuration the engine runs with (every option filled in).
    #[napi(getter, catch_unwind, ts_return_type = "Required<EngineOptions>")]
    pub fn config(&self) -> serde_json::Value {
        embedrec_host::config(STYLE, &self.inner.config())
    }

    /// True when the item exists.
    #[napi(catch_unwind, ts_args_type = "id: string | number | bigint")]
    pub fn has(&self, env: Env, id: Unknown<'_>) -> Result<bool> {
        run(&env, || Ok(self.inner.contains(&self::id("id", &id)?)))
    }

    /// Inserts or replaces items. `vectors`: a row-major Float32Array (ids.length * dim) or
    /// an array of arrays; `null` for tags and attributes only (existing items keep their
    /// vectors, new items have none); `options.tags` and `options.attributes` hold one entry
    /// per id.
    #[napi(
        catch_unwind,
        ts_args_type = "ids: Array<string | number | bigint>, vectors: Float32Array | Float64Array | Array<Array<number>> | null, options?: UpsertOptions | undefined | null"
    )]
    pub fn upsert_items(
        &self,
        env: Env,
        ids: Unknown<'_>,
        vectors: Option<Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> Result<()> {
        let call = run(&env, || self.upsert_call(&ids, vectors, options))?;
        run(&env, call)
    }

    /// `upsertItems` with the core's work (validation, inserts, graph linking) on the libuv
    /// pool: the arguments are read here, then the event loop is free until it resolves.
    #[napi(
        catch_unwind,
        ts_args_type = "ids: Array<string | number | bigint>, vectors: Float32Array | Float64Array | Array<Array<number>> | null, options?: UpsertOptions | undefined | null",
        ts_return_type = "Promise<void>"
    )]
    pub fn upsert_items_async(
        &self,
        ids: Unknown<'_>,
        vectors: Option<Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> AsyncTask<CoreTask> {
        let call = self.upsert_call(&ids, vectors, options);
        CoreTask::spawn(move || call?().map(|_| Done::Nothing))
    }

    /// Changes items' tags and numeric attributes without re-sending vectors, keeping what
    /// `update` does not name: `tags` (one list per id) replace, `attributes` are set,
    /// `remove` names attributes to drop. Throws `UNKNOWN_ITEM` for an unknown id; on any
    /// error nothing changes.
    #[napi(
        catch_unwind,
        ts_args_type = "ids: Array<string | number | bigint>, update: AttributeUpdate"
    )]
    pub fn update_attributes(&self, env: Env, ids: Unknown<'_>, update: Unknown<'_>) -> Result<()> {
        run(&env, || {
            let ids = crate::value::ids("ids", &ids)?;
            let u = embedrec_host::update_options(ids.len(), options("update", Some(update))?)?;
            self.inner.update_attributes(&ids, &u)
        })
    }

    /// The tags and numeric attributes of items, one `{ tags, attributes }` per id; throws
    /// `UNKNOWN_ITEM` for an unknown id.
    #[napi(
        catch_unwind,
        ts_args_type = "ids: Array<string | number | bigint>",
        ts_return_type = "Array<ItemMetadata>"
    )]
    pub fn item_attributes(&self, env: Env, ids: Unknown<'_>) -> Result<serde_json::Value> {
        run(&env, || {
            let ids = crate::value::ids("ids", &ids)?;
            let a = self.inner.item_attributes(&ids)?;
            Ok(serde_json::Value::Array(
                a.iter().map(embedrec_host::item_attributes).collect(),
            ))
        })
    }

    /// Removes items; throws `UNKNOWN_ITEM` (removing nothing) for an unknown id.
    #[napi(catch_unwind, ts_args_type = "ids: Array<string | number | bigint>")]
    pub fn remove_items(&self, env: Env, ids: Unknown<'_>) -> Result<u32> {
        run(&env, || {
            let ids = crate::value::ids("ids", &ids)?;
            self.inner.remove_items(&ids).map(|n| n as u32)
        })
    }

    /// The stored vector of an item.
    #[napi(catch_unwind, ts_args_type = "id: string | number | bigint")]
    pub fn item_vector(&self, env: Env, id: Unknown<'_>) -> Result<Float32Array> {
        run(&env, || self.inner.item_vector(&self::id("id", &id)?)).map(Float32Array::new)
    }

    /// Every item's content vector.
    #[napi(catch_unwind)]
    pub fn item_vectors(&self) -> IdRows {
        id_rows(self.inner.item_vectors())
    }

    /// The installed model's item factors (every item with factors); throws
    /// `INVALID_INPUT` when the model has none (only "als" has factors).
    #[napi(catch_unwind)]
    pub fn item_factors(&self, env: Env) -> Result<IdRows> {
        run(&env, || self.inner.item_factors()).map(id_rows)
    }

    /// The installed model's user factors.
    #[napi(catch_unwind)]
    pub fn user_factors(&self, env: Env) -> Result<IdRows> {
        run(&env, || self.inner.user_factors()).map(id_rows)
    }

    /// Installs factors trained elsewhere as an "als" model (scores are inner products).
    /// `itemFactors` has one row per id of `itemIds` (a row-major typed array or an array of
    /// arrays); `userIds`/`userFactors` optionally give users (registered if new); others
    /// are folded in from their histories with `options` (the ALS keys: `regularization`,
    /// `alpha`, `confidence`, `cgSteps`; `factors` defaults to the width).
    #[napi(
        catch_unwind,
        ts_args_type = "itemIds: Array<string | number | bigint>, itemFactors: Float32Array | Float64Array | Array<Array<number>>, userIds?: Array<string | number | bigint> | undefined | null, userFactors?: Float32Array | Float64Array | Array<Array<number>> | undefined | null, options?: FactorOptions | undefined | null"
    )]
    pub fn install_factors(
        &self,
        env: Env,
        item_ids: Unknown<'_>,
        item_factors: Unknown<'_>,
        user_ids: Option<Unknown<'_>>,
        user_factors: Option<Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> Result<()> {
        let (user_ids, user_factors) = (present(user_ids), present(user_factors));
        run(&env, || {
            let items = crate::value::ids("itemIds", &item_ids)?;
            let (y, w) = matrix_of_rows(&item_factors, items.len(), "itemFactors")?;
            let params = embedrec_host::factor_params(w, self::options("options", options)?)?;
            let users = match (user_ids, user_factors) {
                (None, None) => None,
                (Some(ids), Some(x)) => {
                    let ids = crate::value::ids("userIds", &ids)?;
                    let (x, xw) = matrix_of_rows(&x, ids.len(), "userFactors")?;
                    Some((ids, x, xw))
                }
                (ids, _) => {
                    let missing = if ids.is_none() {
                        "userIds"
                    } else {
                        "userFactors"
                    };
                    return Err(invalid(missing, "given together with the other", "null"));
                }
            };
            let yv = view("itemFactors", items.len(), w, &y)?;
            let uv = match &users {
                Some((ids, x, xw)) => {
                    Some((ids.as_slice(), view("userFactors", ids.len(), *xw, x)?))
                }
                None => None,
            };
            self.inner.install_factors(&items, yv, uv, &params)
        })
    }

    /// Ids of all items.
    #[napi(catch_unwind, ts_return_type = "Array<string | number | bigint>")]
    pub fn item_ids(&self) -> Vec<JsId> {
        self.inner.item_ids().iter().map(|s| js_id(s)).collect()
    }

    /// The k most similar items to a vector, best first.
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

    /// Records interactions (weights > 0, default 1; timestamps in whole seconds, default 0).
    #[napi(
        catch_unwind,
        ts_args_type = "userIds: Array<string | number | bigint>, itemIds: Array<string | number | bigint>, weights?: Array<number> | Float32Array | Float64Array | undefined | null, timestamps?: Array<number> | Float64Array | undefined | null"
    )]
    pub fn add_interactions(
        &self,
        env: Env,
        user_ids: Unknown<'_>,
        item_ids: Unknown<'_>,
        weights: Option<Unknown<'_>>,
        timestamps: Option<Unknown<'_>>,
    ) -> Result<()> {
        let call = run(&env, || {
            self.interactions_call(&user_ids, &item_ids, weights, timestamps)
        })?;
        run(&env, call)
    }

    /// `addInteractions` with the core's work on the libuv pool (the arguments are read
    /// here; with ALS, the model's incremental update runs there too).
    #[napi(
        catch_unwind,
        ts_args_type = "userIds: Array<string | number | bigint>, itemIds: Array<string | number | bigint>, weights?: Array<number> | Float32Array | Float64Array | undefined | null, timestamps?: Array<number> | Float64Array | undefined | null",
        ts_return_type = "Promise<void>"
    )]
    pub fn add_interactions_async(
        &self,
        user_ids: Unknown<'_>,
        item_ids: Unknown<'_>,
        weights: Option<Unknown<'_>>,
        timestamps: Option<Unknown<'_>>,
    ) -> AsyncTask<CoreTask> {
        let call = self.interactions_call(&user_ids, &item_ids, weights, timestamps);
        CoreTask::spawn(move || call?().map(|_| Done::Nothing))
    }

    /// Recommendations for a stored user (seen items excluded by default).
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

    /// Why an item is recommended to a user: the `k` history items that contribute most to
    /// the model's score, with their contributions ("because you played …"). ALS, item_knn
    /// and ease explain; other models throw `INVALID_INPUT`.
    #[napi(
        catch_unwind,
        ts_args_type = "userId: string | number | bigint, itemId: string | number | bigint, k: number"
    )]
    pub fn explain(
        &self,
        env: Env,
        user_id: Unknown<'_>,
        item_id: Unknown<'_>,
        k: Unknown<'_>,
    ) -> Result<Vec<SearchHit>> {
        run(&env, || {
            let (u, i) = (id("userId", &user_id)?, id("itemId", &item_id)?);
            self.inner.explain(&u, &i, int("k", &k)?)
        })
        .map(hits)
    }

    /// Recommendations for an anonymous session from its items.
    #[napi(
        catch_unwind,
        ts_args_type = "items: Array<string | number | bigint>, k: number, weights?: Array<number> | undefined | null, options?: RecommendOptions | undefined | null"
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

    /// `search` for many queries (row-major Float32Array or array of arrays), on the libuv
    /// pool.
    #[napi(
        catch_unwind,
        ts_args_type = "queries: Float32Array | Float64Array | Array<Array<number>>, k: number, filter?: FilterOptions | undefined | null",
        ts_return_type = "Promise<Array<Array<SearchHit>>>"
    )]
    pub fn search_batch(
        &self,
        env: Env,
        queries: Unknown<'_>,
        k: Unknown<'_>,
        filter: Option<Unknown<'_>>,
    ) -> Result<AsyncTask<CoreTask>> {
        self.search_batch_as(env, queries, k, filter, rows_json)
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
        self.recommend_batch_as(env, user_ids, k, options, rows_json)
    }

    /// `searchBatch` returning flat arrays (used by `lib.js`).
    #[napi(
        catch_unwind,
        ts_args_type = "queries: Float32Array | Float64Array | Array<Array<number>>, k: number, filter?: FilterOptions | undefined | null",
        ts_return_type = "Promise<FlatHits>"
    )]
    pub fn search_batch_flat(
        &self,
        env: Env,
        queries: Unknown<'_>,
        k: Unknown<'_>,
        filter: Option<Unknown<'_>>,
    ) -> Result<AsyncTask<CoreTask>> {
        self.search_batch_as(env, queries, k, filter, Done::Flat)
    }

    /// `recommendBatch` returning flat arrays (used by `lib.js`).
    #[napi(
        catch_unwind,
        ts_args_type = "userIds: Array<string | number | bigint>, k: number, options?: RecommendOptions | undefined | null",
        ts_return_type = "Promise<FlatHits>"
    )]
    pub fn recommend_batch_flat(
        &self,
        env: Env,
        user_ids: Unknown<'_>,
        k: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> Result<AsyncTask<CoreTask>> {
        self.recommend_batch_as(env, user_ids, k, options, Done::Flat)
    }

    /// Saves the engine to one file, atomically, on the libuv pool.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn save(&self, path: String) -> AsyncTask<CoreTask> {
        let e = self.inner.clone();
        CoreTask::spawn(move || e.save(&path).map(|_| Done::Nothing))
    }

    /// Saves synchronously.
    #[napi(catch_unwind)]
    pub fn save_sync(&self, env: Env, path: String) -> Result<()> {
        run(&env, || self.inner.save(&path))
    }

    /// Loads an engine saved with `save`, on the libuv pool. Rejects with `CORRUPT` for
    /// damaged files.
    #[napi(catch_unwind, ts_return_type = "Promise<Engine>")]
    pub fn load(path: String) -> AsyncTask<CoreTask> {
        CoreTask::spawn(move || Core::load(&path).map(|e| Done::Engine(Arc::new(e))))
    }

    /// Opens the engine stored at `path` in durable mode, creating it when the file does not
    /// exist (`dim` and engine options as for the constructor). Every acknowledged write is
    /// in the journal `<path>-wal` before the call returns; `fit` and `installFactors` are
    /// written by a checkpoint. `sync`: `'full'` (default), `'grouped'` (fsync at least every
    /// `syncIntervalMs`, default 100) or `'off'`; `checkpointBytes` (default 64 MiB). One
    /// process at a time opens an engine for writing; `close()` releases it.
    ///
    /// `readOnly: true` opens the file memory-mapped instead: vectors, graph links, ids and
    /// norms are served from the file's pages, shared by every process that opens it
    /// (cluster workers, replicas); no journal, no lock; every write throws `READ_ONLY`.
    /// Opening checks the header, table, bounds and small sections; `verify()` checks every
    /// checksum.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "path: string, options?: (Partial<EngineOptions> & DurableOptions) | undefined | null"
    )]
    pub fn open(env: Env, path: String, options: Option<Unknown<'_>>) -> Result<Self> {
        run(&env, || {
            let o = Options::new("options", STYLE, opt("options", options)?)?;
            let (create, open) = embedrec_host::open_options(o)?;
            Core::open(&path, create, open)
        })
        .map(|e| Engine { inner: Arc::new(e) })
    }

    /// `open` on the libuv pool (a durable open replays the journal, which can take a
    /// while): resolves to the engine, rejects with the same errors.
    #[napi(
        catch_unwind,
        ts_args_type = "path: string, options?: (Partial<EngineOptions> & DurableOptions) | undefined | null",
        ts_return_type = "Promise<Engine>"
    )]
    pub fn open_async(path: String, options: Option<Unknown<'_>>) -> AsyncTask<CoreTask> {
        // The options are JavaScript values: read here, on the main thread.
        let parsed = opt("options", options)
            .and_then(|o| Options::new("options", STYLE, o))
            .and_then(embedrec_host::open_options);
        CoreTask::spawn(move || {
            let (create, open) = parsed?;
            Core::open(&path, create, open).map(|e| Done::Engine(Arc::new(e)))
        })
    }

    /// For an engine opened read-only: whether the file at its path is no longer the
    /// snapshot it serves (a new snapshot was saved over it, or it was removed). Reads the
    /// file's 32-byte header, cheap enough per request: replicas call it and, when true,
    /// open the path again and swap engines. False for other engines.
    #[napi(catch_unwind)]
    pub fn snapshot_replaced(&self, env: Env) -> Result<bool> {
        run(&env, || self.inner.snapshot_replaced())
    }

    /// Durable mode: writes a new snapshot and empties the journal (readers keep running).
    #[napi(catch_unwind)]
    pub fn checkpoint(&self, env: Env) -> Result<()> {
        run(&env, || self.inner.checkpoint())
    }

    /// Durable mode: syncs and closes the journal and releases the writer's lock; later
    /// writes throw, reads keep working. A no-op for an engine in memory.
    #[napi(catch_unwind)]
    pub fn close(&self, env: Env) -> Result<()> {
        run(&env, || self.inner.close())
    }

    /// Whether the engine was opened with `Engine.open` (writes go to a journal).
    #[napi(getter, catch_unwind)]
    pub fn durable(&self) -> bool {
        self.inner.is_durable()
    }

    /// Whether the engine was opened with `readOnly: true`.
    #[napi(getter, catch_unwind)]
    pub fn read_only(&self) -> bool {
        self.inner.is_read_only()
    }

    /// For a read-only engine, its file and identity (32 hex digits of the file's length
    /// and checksums); `null` otherwise.
    #[napi(catch_unwind)]
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.inner.snapshot().map(|(p, id)| Snapshot {
            path: p.to_string_lossy().into_owned(),
            id,
        })
    }

    /// Opens `path` read-only, checking that it is the snapshot of identity `id` (e.g. one
    /// another process or worker reported with `snapshot()`); throws when it was replaced.
    #[napi(factory, catch_unwind)]
    pub fn open_snapshot(env: Env, path: String, id: String) -> Result<Self> {
        run(&env, || Core::open_snapshot(&path, &id)).map(|e| Engine { inner: Arc::new(e) })
    }

    /// Checks every checksum of the file a read-only engine serves from (throws `CORRUPT`
    /// naming the damaged section); other engines verified theirs when they were read.
    #[napi(catch_unwind)]
    pub fn verify(&self, env: Env) -> Result<()> {
        run(&env, || self.inner.verify())
    }

    /// Loads synchronously.
    #[napi(factory, catch_unwind)]
    pub fn load_sync(env: Env, path: String) -> Result<Self> {
        run(&env, || Core::load(&path)).map(|e| Engine { inner: Arc::new(e) })
    }

    /// The engine in its file format.
    #[napi(catch_unwind)]
    pub fn to_bytes(&self, env: Env) -> Result<Buffer> {
        run(&env, || self.inner.to_bytes()).map(Buffer::from)
    }

    /// An engine from `toBytes` output (verified like a file).
    ///
    /// `readOnly: true` serves from `data` itself, as a read-only `open` serves from a
    /// mapped file: nothing is decoded or copied (the engine keeps `data` alive, and it must
    /// not be modified while the engine lives), the header, table and small sections are
    /// checked, `verify()` checks every checksum, writes throw `READ_ONLY`.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "data: Buffer, options?: FromBytesOptions | undefined | null"
    )]
    pub fn from_bytes(env: Env, data: Buffer, options: Option<Unknown<'_>>) -> Result<Self> {
        run(&env, || {
            let o = Options::new("options", STYLE, opt("options", options)?)?;
            if embedrec_host::from_bytes_options(o)? {
                Core::from_bytes_read_only(data)
            } else {
                Core::from_bytes(&data)
            }
        })
        .map(|e| Engine { inner: Arc::new(e) })
    }

    /// Changes the HNSW search breadth for later queries (higher: better recall, slower).
    /// Cached results are invalidated; the value is saved with the engine.
    #[napi(catch_unwind, ts_args_type = "ef: number")]
    pub fn set_ef_search(&self, env: Env, ef: Unknown<'_>) -> Result<()> {
        run(&env, || self.inner.set_ef_search(int("ef", &ef)?))
    }

    /// Changes the number of worker threads of the engine's pool (0 = one per core), e.g.
    /// after loading a file saved on another machine.
    #[napi(catch_unwind, ts_args_type = "threads: number")]
    pub fn set_threads(&self, env: Env, threads: Unknown<'_>) -> Result<()> {
        run(&env, || self.inner.set_threads(int("threads", &threads)?))
    }

    /// Drops all cached results.
    #[napi(catch_unwind)]
    pub fn clear_cache(&self) {
        self.inner.clear_cache()
    }

    /// Sizes, cache counters and per-operation latencies (microseconds).
    #[napi(catch_unwind, ts_return_type = "EngineStats")]
    pub fn stats(&self) -> serde_json::Value {
        embedrec_host::stats(STYLE, &self.inner.stats())
    }

    /// Prometheus text exposition of `stats()`.
    #[napi(catch_unwind)]
    pub fn metrics_text(&self) -> String {
        self.inner.metrics_text()
    }

    /// Trains "als", "item_knn", "ease" or "popularity" on the stored interactions, on the
    /// libuv pool; the model then serves recommend, recommendForItems, similar and the batch
    /// calls. `onProgress` is called after every iteration (returning `false` cancels);
    /// aborting `signal` cancels too. A cancelled fit rejects with `CANCELLED` and keeps the
    /// previous model.
    #[napi(
        catch_unwind,
        ts_args_type = "model: 'als' | 'item_knn' | 'ease' | 'popularity' | 'auto', options?: FitOptions | undefined | null, onProgress?: ((progress: FitProgress) => boolean | void) | undefined | null, signal?: AbortSignal | undefined | null",
        ts_return_type = "Promise<FitResult>"
    )]
    pub fn fit(
        &self,
        env: Env,
        model: String,
        options: Option<Unknown<'_>>,
        on_progress: Option<Progress>,
        signal: Option<Unknown<'_>>,
    ) -> Result<AsyncTask<CoreTask>> {
        let call = run(&env, || {
            embedrec_host::fit_call(&model, self::options("options", options)?)
        })?;
        let (signal, cancel) = abort_flag(&env, signal)?;
        let e = self.inner.clone();
        let task = CoreTask {
            work: Some(Box::new(move || {
                let mut cb = |p: &embedrec::Progress| -> bool {
                    if let Some(f) = &on_progress
                        && !ask(f, p)
                    {
                        cancel.store(true, Ordering::SeqCst);
                    }
                    !cancel.load(Ordering::SeqCst)
                };
                match &call {
                    FitCall::Train(spec) => e
                        .fit(spec, Some(&mut cb))
                        .map(|r| Done::Json(embedrec_host::fit_report(STYLE, &r))),
                    FitCall::Tune(o) => e
                        .fit_tuned(o, Some(&mut cb))
                        .map(|r| Done::Json(embedrec_host::tune_report(STYLE, &r, o.k))),
                }
            })),
        };
        Ok(AsyncTask::with_optional_signal(task, signal))
    }

    /// Name of the installed model, or null.
    #[napi(getter, catch_unwind)]
    pub fn model(&self) -> Option<String> {
        self.inner.model_name().map(String::from)
    }

    /// Removes the trained model.
    #[napi(catch_unwind)]
    pub fn clear_model(&self, env: Env) -> Result<()> {
        run(&env, || self.inner.clear_model())
    }

    /// Ranking metrics at k on held-out interactions, on the libuv pool. Aborting `signal`
    /// stops it (rejects with `CANCELLED`, or napi's `AbortError` before it started).
    #[napi(
        catch_unwind,
        ts_args_type = "userIds: Array<string | number | bigint>, itemIds: Array<string | number | bigint>, k: number, signal?: AbortSignal | undefined | null",
        ts_return_type = "Promise<RankingMetrics>"
    )]
    pub fn evaluate(
        &self,
        env: Env,
        user_ids: Unknown<'_>,
        item_ids: Unknown<'_>,
        k: Unknown<'_>,
        signal: Option<Unknown<'_>>,
    ) -> Result<AsyncTask<CoreTask>> {
        let (test, k) = run(&env, || {
            let (users, items) = (
                crate::value::ids("userIds", &user_ids)?,
                crate::value::ids("itemIds", &item_ids)?,
            );
            Ok((
                crate::train::interactions(users, items, None, None)?,
                int("k", &k)?,
            ))
        })?;
        let (signal, cancel) = abort_flag(&env, signal)?;
        let e = self.inner.clone();
        let task = CoreTask {
            work: Some(Box::new(move || {
                let m = e.evaluate_until(&test, k, &|| cancel.load(Ordering::SeqCst))?;
                Ok(Done::Json(embedrec_host::ranking_metrics(STYLE, &m)))
            })),
        };
        Ok(AsyncTask::with_optional_signal(task, signal))
    }
}

impl Engine {
    fn search_batch_as(
        &self,
        env: Env,
        queries: Unknown<'_>,
        k: Unknown<'_>,
        filter: Option<Unknown<'_>>,
        done: fn(Vec<Vec<Hit>>) -> Done,
    ) -> Result<AsyncTask<CoreTask>> {
        let dim = self.inner.dim();
        let (data, n, k, f) = run(&env, || {
            let (data, n) = matrix(&queries, dim, "queries")?;
            Ok((data, n, int("k", &k)?, self::filter(filter)?))
        })?;
        let e = self.inner.clone();
        Ok(CoreTask::spawn(move || {
            let view = ArrayView2::from_shape((n, dim), &data)
                .map_err(|x| invalid("queries", "a matrix", x))?;
            e.search_batch(view, k, f.as_ref()).map(done)
        }))
    }

    fn recommend_batch_as(
        &self,
        env: Env,
        user_ids: Unknown<'_>,
        k: Unknown<'_>,
        options: Option<Unknown<'_>>,
        done: fn(Vec<Vec<Hit>>) -> Done,
    ) -> Result<AsyncTask<CoreTask>> {
        let (user_ids, k, o) = run(&env, || {
            let user_ids = crate::value::ids("userIds", &user_ids)?;
            Ok((user_ids, int("k", &k)?, batch_options(options)?))
        })?;
        let e = self.inner.clone();
        Ok(CoreTask::spawn(move || {
            e.recommend_batch(&user_ids, k, &o).map(done)
        }))
    }
}

/// An optional `AbortSignal` and the flag the core's work polls: set already when the
/// signal was aborted before the call, set by the signal's abort event after.
fn abort_flag(env: &Env, v: Option<Unknown<'_>>) -> Result<(Option<AbortSignal>, Arc<AtomicBool>)> {
    let Some(v) = v.filter(|v| !matches!(v.get_type(), Ok(ValueType::Undefined | ValueType::Null)))
    else {
        return Ok((None, Arc::new(AtomicBool::new(false))));
    };
    let not_signal = |_| js_err(env, invalid("signal", "an AbortSignal", "another value"));
    if v.get_type()? != ValueType::Object {
        return Err(not_signal(()));
    }
    // SAFETY: checked to be an object just above; both conversions read a live value of
    // this call.
    let aborted = unsafe { v.cast::<Object<'_>>() }?
        .get::<bool>("aborted")
        .map_err(|_| not_signal(()))?
        .unwrap_or(false);
    let signal = unsafe { AbortSignal::from_napi_value(v.value().env, v.raw()) }
        .map_err(|_| not_signal(()))?;
    let flag = Arc::new(AtomicBool::new(aborted));
    let f = flag.clone();
    signal.on_abort(move || f.store(true, Ordering::SeqCst));
    Ok((Some(signal), flag))
}

/// A write's arguments read from JavaScript (on the main thread), as the core call to run.
type Write = Box<dyn FnOnce() -> embedrec::Result<()> + Send>;

impl Engine {
    /// `upsertItems`' arguments, read and shaped; the returned call does the core's work.
    fn upsert_call(
        &self,
        ids: &Unknown<'_>,
        vectors: Option<Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> embedrec::Result<Write> {
        let ids = crate::value::ids("ids", ids)?;
        let attrs = embedrec_host::upsert_options(ids.len(), self::options("options", options)?)?;
        let e = self.inner.clone();
        let Some(vectors) = present(vectors) else {
            return Ok(Box::new(move || {
                e.upsert_attributes(&ids, attrs.as_deref())
            }));
        };
        let dim = self.inner.dim();
        let (data, n) = if dim == 0 {
            // Rows of width 0: one per id.
            (Vec::new(), ids.len())
        } else {
            matrix(&vectors, dim, "vectors")?
        };
        Ok(Box::new(move || {
            let items = ids.len();
            let view = ArrayView2::from_shape((n, dim), &data)
                .map_err(|e| invalid("vectors", "a matrix", e))?;
            let out = e.upsert_items(&ids, view, attrs.as_deref());
            drop((ids, data, attrs));
            // The converted arguments are dropped: their pages can go back too.
            embedrec_host::release_after_batch(items);
            out
        }))
    }

    /// `addInteractions`' arguments, read and shaped; the returned call does the core's work.
    fn interactions_call(
        &self,
        user_ids: &Unknown<'_>,
        item_ids: &Unknown<'_>,
        weights: Option<Unknown<'_>>,
        timestamps: Option<Unknown<'_>>,
    ) -> embedrec::Result<Write> {
        let users = crate::value::column("userIds", user_ids)?;
        let items = crate::value::column("itemIds", item_ids)?;
        let (w, t) = (self::weights(weights)?, self::timestamps(timestamps)?);
        let e = self.inner.clone();
        Ok(Box::new(move || {
            e.add_interaction_columns(&users, &items, w.as_deref(), t.as_deref())
        }))
    }
}

/// Batch rows as arrays of `{ id, score }`.
pub(crate) fn rows_json(rows: Vec<Vec<Hit>>) -> Done {
    Done::Json(serde_json::Value::Array(
        rows.iter().map(|r| embedrec_host::hits(r)).collect(),
    ))
}

/// The JavaScript progress callback, called from the training thread.
type Progress =
    ThreadsafeFunction<serde_json::Value, Unknown<'static>, serde_json::Value, Status, false>;

/// Calls the progress callback and waits for its answer: `false` when it returned `false`
/// or threw (the fit is then cancelled).
fn ask(f: &Progress, p: &embedrec::Progress) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let status = f.call_with_return_value(
        embedrec_host::progress(STYLE, p),
        ThreadsafeFunctionCallMode::Blocking,
        move |r: Result<Unknown<'static>>, _env| {
            let go = match r {
                Ok(v) => {
                    !matches!(v.get_type(), Ok(ValueType::Boolean))
                    // SAFETY: the type was just checked.
                    || unsafe { v.cast::<bool>() }.unwrap_or(true)
                }
                Err(_) => false,
            };
            let _ = tx.send(go);
            Ok(())
        },
    );
    // If the callback cannot run (the environment is closing), training goes on.
    status != Status::Ok || rx.recv().unwrap_or(true)
}

/// A shaped result on its way to JavaScript from an async task.
pub struct Json(serde_json::Value);

impl TypeName for Json {
    fn type_name() -> &'static str {
        "Object"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Json {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        // SAFETY: called by napi with the env it was given.
        unsafe { serde_json::Value::to_napi_value(env, val.0) }
    }
}

/// What an async task produced.
pub enum Done {
    Nothing,
    Flat(Vec<Vec<Hit>>),
    Engine(Arc<Core>),
    Json(serde_json::Value),
    Sharded(Arc<embedrec::ShardedEngine>),
}

type Work = Box<dyn FnOnce() -> embedrec::Result<Done> + Send>;

/// Core work on the libuv pool: panics caught in `compute`, errors mapped in `resolve`.
pub struct CoreTask {
    work: Option<Work>,
}

impl CoreTask {
    pub(crate) fn spawn(
        f: impl FnOnce() -> embedrec::Result<Done> + Send + 'static,
    ) -> AsyncTask<CoreTask> {
        AsyncTask::new(CoreTask {
            work: Some(Box::new(f)),
        })
    }
}

impl Task for CoreTask {
    type Output = embedrec::Result<Done>;
    type JsValue = Either5<(), Engine, Json, FlatHits, crate::sharded::ShardedEngine>;

    fn compute(&mut self) -> Result<Self::Output> {
        let work = self.work.take();
        Ok(guard(move || match work {
            Some(w) => w(),
            None => Err(embedrec::Error::Internal("task ran twice".into())),
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(match output.map_err(|e| js_err(&env, e))? {
            Done::Nothing => Either5::A(()),
            Done::Engine(e) => Either5::B(Engine { inner: e }),
            Done::Json(v) => Either5::C(Json(v)),
            Done::Flat(rows) => Either5::D(flat(rows)),
            Done::Sharded(s) => Either5::E(crate::sharded::ShardedEngine { inner: s }),
        })
    }
}
