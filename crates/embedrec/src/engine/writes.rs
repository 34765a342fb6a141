//! Mutations: upserts, removals and interactions. Each validates everything before it
//! changes anything, then takes the write lock once.

use super::validate::{check_id, check_len, check_weights, row_slices};
use super::{Engine, Op, State};
use crate::engine::factors::PendingLinks;
use crate::error::ShowId;
use crate::model::Model;
use crate::store::{AttrUpdate, Catalog, IdColumn, Interaction, ItemAttrs, PreparedItem};
use crate::{Error, Result};
use ndarray::ArrayView2;
use parking_lot::{RwLockUpgradableReadGuard, RwLockWriteGuard};
use std::collections::HashSet;

impl Engine {
    // ------------------------------------------------------------------ mutations

    /// Inserts items, or replaces them when the id exists (vector, tags and attributes are all
    /// replaced; interactions with the item are kept). `vectors` has one row per id (an
    /// engine of `dim` 0 takes rows of width 0: its items have no content vectors).
    ///
    /// Everything is validated before anything changes: on error the engine is untouched.
    pub fn upsert_items<S: AsRef<str>>(
        &self,
        ids: &[S],
        vectors: ArrayView2<'_, f32>,
        attrs: Option<&[ItemAttrs]>,
    ) -> Result<()> {
        check_len("vectors", ids.len(), vectors.nrows(), "id")?;
        if vectors.ncols() != self.config.dim {
            return Err(Error::DimensionMismatch {
                field: "vectors".into(),
                expected: self.config.dim,
                got: vectors.ncols(),
            });
        }
        self.upsert(ids, (self.config.dim > 0).then_some(vectors), attrs)
    }

    /// Inserts or updates items without touching content vectors: tags and attributes are
    /// replaced (cleared when `attrs` is `None`), an existing item keeps its vector, a new
    /// item has none (it is recommended through models and popularity, never by vector
    /// search, until it gets a vector from [`Engine::upsert_items`]). Existing items keep
    /// their model factors and their place in every graph: only new items reach the model.
    pub fn upsert_attributes<S: AsRef<str>>(
        &self,
        ids: &[S],
        attrs: Option<&[ItemAttrs]>,
    ) -> Result<()> {
        self.upsert(ids, None, attrs)
    }

    /// Changes the tags and numeric attributes of existing items without touching their
    /// vectors, keeping what `update` does not name: given tags replace an item's tags, given
    /// numbers are set, `update.remove` names attributes to drop (see [`AttrUpdate`]). The
    /// merge happens under the write lock, so concurrent updates of other attributes are not
    /// lost. Only the catalog's tag lists and attribute columns change (no index or model
    /// work). Unknown ids are an error ([`Error::UnknownItem`]); on any error nothing changes.
    pub fn update_attributes<S: AsRef<str>>(&self, ids: &[S], update: &AttrUpdate) -> Result<()> {
        let out = self.timed(Op::Upsert, || {
            self.check_writable("update_attributes")?;
            if let Some(t) = &update.tags {
                check_len("tags", ids.len(), t.len(), "id")?;
            }
            if let Some(n) = &update.numbers {
                check_len("attributes", ids.len(), n.len(), "id")?;
            }
            for (i, name) in update.remove.iter().enumerate() {
                if name.is_empty() {
                    return Err(Error::invalid(
                        format!("remove[{i}]"),
                        "non-empty attribute names",
                        "\"\"",
                    ));
                }
            }
            let ids = unique_ids(ids)?;
            let mut st = self.state.write();
            let (mut slots, mut merged) = (Vec::with_capacity(ids.len()), Vec::new());
            for (i, id) in ids.iter().enumerate() {
                let slot = st.cat.require(id, || format!("ids[{i}]"))?;
                let a = update.merged(i, st.cat.item_attrs(slot));
                Catalog::check_attrs(id, &a)?;
                slots.push(slot);
                merged.push(a);
            }
            check_tag_room(&st.cat, merged.iter())?;
            // Only the catalog's tag lists and attribute columns change: no vector, index,
            // model or factor graph depends on them.
            for (&slot, a) in slots.iter().zip(&merged) {
                st.cat.set_attrs(slot, Some(a));
            }
            self.mutated();
            self.journal_upsert(&ids, None, Some(&merged))
        });
        self.after_write(out)
    }

    fn upsert<S: AsRef<str>>(
        &self,
        ids: &[S],
        vectors: Option<ArrayView2<'_, f32>>,
        attrs: Option<&[ItemAttrs]>,
    ) -> Result<()> {
        let out = self.timed(Op::Upsert, || {
            self.check_writable("upsert_items")?;
            let (dim, metric) = (self.config.dim, self.config.metric);
            if let Some(a) = attrs {
                check_len("attributes", ids.len(), a.len(), "id")?;
            }
            let rows = vectors.as_ref().map(row_slices);
            let checked = unique_ids(ids)?;
            let mut items = Vec::with_capacity(ids.len());
            for (i, id) in checked.into_iter().enumerate() {
                let vector = rows.as_ref().map(|r| &*r[i]);
                if let Some(v) = vector {
                    let field = format!("vectors[{i}]");
                    Catalog::check_vector(dim, metric, &field, Some(id), v)?;
                    self.config.vector_storage.check_vector(metric, &field, v)?;
                }
                let a = attrs.map(|a| &a[i]);
                if let Some(a) = a {
                    Catalog::check_attrs(id, a)?;
                }
                items.push(PreparedItem {
                    id,
                    vector,
                    attrs: a,
                });
            }
            let st = self.state.write();
            let _st = self.apply_items(st, &items)?;
            self.mutated();
            self.journal_upsert(ids, vectors.as_ref(), attrs)
        });
        let out = self.after_write(out);
        // A large batch's transient buffers go back to the operating system.
        if ids.len() >= crate::util::memory::RELEASE_AFTER {
            crate::util::memory::release_free_memory();
        }
        out
    }

    /// Applies validated items under the write lock `st`: capacity checked first (on error
    /// nothing changed), then the catalog, the content index (items given a vector), the
    /// model and its factor index. Linking the items into the graph, the costly part, runs
    /// with the lock downgraded to an upgradable read: queries run meanwhile (on the state
    /// as it was, plus the new rows, which become reachable as they are linked), other
    /// writers still wait. Returns the write lock again.
    fn apply_items<'a>(
        &'a self,
        mut st: RwLockWriteGuard<'a, State>,
        items: &[PreparedItem<'_>],
    ) -> Result<RwLockWriteGuard<'a, State>> {
        let new_slots = items
            .iter()
            .filter(|it| st.cat.slot_of(it.id).is_none())
            .count();
        let total = st.cat.slots() as u64 + new_slots as u64;
        if total >= u32::MAX as u64 {
            return Err(Error::CapacityExceeded {
                what: "catalog slots".into(),
                limit: u32::MAX as u64 - 1,
                got: total,
            });
        }
        check_tag_room(&st.cat, items.iter().filter_map(|it| it.attrs))?;
        let applied = st.cat.apply(items);
        let slots: Vec<u32> = applied.iter().map(|(s, _)| *s).collect();
        let with_vectors: Vec<u32> = slots
            .iter()
            .zip(items)
            .filter(|(_, it)| it.vector.is_some())
            .map(|(s, _)| *s)
            .collect();
        // The model and its factor graphs see new items and new vectors only: an existing
        // item whose tags or attributes alone changed keeps its factors and its links (a
        // re-link would cost a graph insertion and leave a tombstone each time).
        let for_model: Vec<u32> = (applied.iter().zip(items))
            .filter(|((_, replaced), it)| !replaced || it.vector.is_some())
            .map(|((s, _), _)| *s)
            .collect();
        let to_link = if with_vectors.is_empty() {
            Vec::new()
        } else {
            // Under the write lock (readers wait): the query pool, at normal priority.
            let State { cat, index, .. } = &mut *st;
            self.pool.install(|| index.prepare(cat, &with_vectors))??
        };
        let State {
            cat,
            model,
            factors,
            ..
        } = &mut *st;
        let mut pending = None;
        if let Some(m) = model.as_mut().filter(|_| !for_model.is_empty()) {
            m.on_upsert(cat, &for_model);
            if let Some(fx) = factors {
                pending = Some(
                    self.pool
                        .install(|| fx.prepare_update(m, cat, &for_model))??,
                );
            }
        }
        st = self.link_downgraded(st, &to_link, pending.as_ref())?;
        if let (Some(fx), Some(_)) = (&mut st.factors, &pending) {
            fx.finish_update()?;
        }
        self.maybe_rebuild(&mut st)?;
        Ok(st)
    }

    /// Links prepared slots of the content graph and of the factor graphs with the lock
    /// downgraded to an upgradable read (queries run meanwhile, writers wait); returns the
    /// write lock.
    fn link_downgraded<'a>(
        &'a self,
        st: RwLockWriteGuard<'a, State>,
        content: &[u32],
        factors: Option<&PendingLinks>,
    ) -> Result<RwLockWriteGuard<'a, State>> {
        if content.is_empty() && factors.is_none() {
            return Ok(st);
        }
        let up = RwLockWriteGuard::downgrade_to_upgradable(st);
        self.background.install(|| {
            if !content.is_empty() {
                up.index.link(&up.cat, content);
            }
            if let (Some(fx), Some(p)) = (&up.factors, factors) {
                fx.link(p);
            }
        })?;
        Ok(RwLockUpgradableReadGuard::upgrade(up))
    }

    pub(super) fn maybe_rebuild(&self, st: &mut State) -> Result<()> {
        if st.index.wants_rebuild() {
            let State { cat, index, .. } = st;
            self.pool.install(|| index.rebuild(cat))??;
            cat.scrub_free();
        }
        Ok(())
    }

    /// Removes items. Unknown ids are an error ([`Error::UnknownItem`]) and nothing is removed.
    /// Interactions with removed items are forgotten. Returns the number removed.
    pub fn remove_items<S: AsRef<str>>(&self, ids: &[S]) -> Result<usize> {
        let out = self.timed(Op::Remove, || {
            self.check_writable("remove_items")?;
            let mut st = self.state.write();
            let mut slots = Vec::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                let id = id.as_ref();
                let s = st.cat.require(id, || format!("ids[{i}]"))?;
                slots.push(s);
            }
            slots.sort_unstable();
            slots.dedup();
            st.index.remove(&slots);
            // An index that walks through tombstones still needs their vectors.
            let keep_vectors = st.index.navigates_removed();
            for &s in &slots {
                st.cat.remove(s, keep_vectors);
            }
            st.users.purge_slots(&slots);
            if let Some(m) = &mut st.model {
                m.forget(&slots);
            }
            if let Some(fx) = &mut st.factors {
                self.pool.install(|| fx.remove(&slots))??;
            }
            self.maybe_rebuild(&mut st)?;
            self.mutated();
            self.journal_remove(ids)?;
            Ok(slots.len())
        });
        self.after_write(out)
    }

    /// Records interactions: `user_ids[i]` interacted with `item_ids[i]` with `weights[i]`
    /// (default 1.0; finite and > 0) at `timestamps[i]` (seconds; default 0). Items the
    /// catalog does not have join it without content vectors (an interaction log alone is
    /// enough to start); users are created on first sight. Repeated pairs add up (e.g.
    /// several plays).
    pub fn add_interactions<U: AsRef<str>, I: AsRef<str>>(
        &self,
        user_ids: &[U],
        item_ids: &[I],
        weights: Option<&[f32]>,
        timestamps: Option<&[i64]>,
    ) -> Result<()> {
        self.add_interaction_columns(
            &IdColumn::from_ids(user_ids),
            &IdColumn::from_ids(item_ids),
            weights,
            timestamps,
        )
    }

    /// [`Engine::add_interactions`] with the id columns dictionary-encoded (each distinct id
    /// once, a code per row): the form for long logs, which it takes without a string per row.
    pub fn add_interaction_columns(
        &self,
        user_ids: &IdColumn,
        item_ids: &IdColumn,
        weights: Option<&[f32]>,
        timestamps: Option<&[i64]>,
    ) -> Result<()> {
        let out = self.timed(Op::AddInteractions, || {
            self.check_writable("add_interactions")?;
            let n = user_ids.len();
            if n > u32::MAX as usize {
                return Err(Error::invalid(
                    "user_ids",
                    format!("at most {} interactions per call", u32::MAX),
                    n,
                ));
            }
            check_len("item_ids", n, item_ids.len(), "user id")?;
            check_weights(weights, n, "user id")?;
            if let Some(t) = timestamps {
                check_len("timestamps", n, t.len(), "user id")?;
            }
            for (field, col) in [("user_ids", user_ids), ("item_ids", item_ids)] {
                for (code, id) in col.values().enumerate() {
                    if check_id("", id).is_err() {
                        check_id(&format!("{field}[{}]", col.first_row(code)), id)?;
                    }
                }
            }
            let mut st = self.state.write();
            // Items the catalog does not have yet join it, without content vectors.
            let mut fresh: Vec<&str> = item_ids
                .values()
                .filter(|id| st.cat.slot_of(id).is_none())
                .collect();
            fresh.sort_unstable();
            if !fresh.is_empty() {
                let items: Vec<PreparedItem<'_>> = fresh
                    .iter()
                    .map(|&id| PreparedItem {
                        id,
                        vector: None,
                        attrs: None,
                    })
                    .collect();
                st = self.apply_items(st, &items)?;
            }
            // Every distinct id resolved once: items to slots, users to user indices.
            let slot_of: Vec<u32> = item_ids
                .values()
                .map(|id| st.cat.slot_of(id).expect("applied above"))
                .collect();
            let user_of: Vec<u32> = user_ids
                .values()
                .map(|id| st.users.ensure_user(id))
                .collect();
            let (ucodes, icodes) = (user_ids.codes(), item_ids.codes());
            st.users.add_batch(
                n,
                |r| user_of[ucodes[r] as usize],
                |r| Interaction {
                    slot: slot_of[icodes[r] as usize],
                    weight: weights.map_or(1.0, |w| w[r]),
                    ts: timestamps.map_or(0, |t| t[r]),
                },
            );
            if matches!(st.model, Some(Model::Als(_))) {
                // Incremental update of the users and items these interactions touch (each
                // item with its number of new interactions), computed with the lock
                // downgraded (queries run; other writers wait), then installed, then the
                // graphs over the item factors that moved follow.
                let mut new = vec![0usize; slot_of.len()];
                for &c in icodes {
                    new[c as usize] += 1;
                }
                let items: Vec<(u32, usize)> = slot_of.iter().copied().zip(new).collect();
                let mut touched_users = user_of;
                touched_users.sort_unstable();
                let up = RwLockWriteGuard::downgrade_to_upgradable(st);
                let plan = match &up.model {
                    Some(Model::Als(m)) => Some(
                        self.background
                            .install(|| m.plan_update(&up.users, &touched_users, &items))?,
                    ),
                    _ => None,
                };
                st = RwLockUpgradableReadGuard::upgrade(up);
                let State {
                    model,
                    factors,
                    cat,
                    ..
                } = &mut *st;
                let mut pending = None;
                if let (Some(Model::Als(m)), Some(plan)) = (model.as_mut(), plan) {
                    let moved = m.apply_update(plan);
                    if let (Some(model), Some(fx)) = (model.as_ref(), factors) {
                        pending = Some(
                            self.pool
                                .install(|| fx.prepare_update(model, cat, &moved))??,
                        );
                    }
                }
                st = self.link_downgraded(st, &[], pending.as_ref())?;
                if let (Some(fx), Some(_)) = (&mut st.factors, &pending) {
                    fx.finish_update()?;
                }
            }
            self.mutated();
            self.journal_interactions(user_ids, item_ids, weights, timestamps)
        });
        self.after_write(out)
    }
}

/// The ids of one write, each checked and none repeated.
fn unique_ids<S: AsRef<str>>(ids: &[S]) -> Result<Vec<&str>> {
    let mut seen = HashSet::with_capacity(ids.len());
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let id = id.as_ref();
        check_id(&format!("ids[{i}]"), id)?;
        if !seen.insert(id) {
            return Err(Error::invalid(
                format!("ids[{i}]"),
                "ids unique within one call",
                format!("{} repeated", ShowId(id)),
            ));
        }
        out.push(id);
    }
    Ok(out)
}

/// Refuses a write whose tag lists would overflow the catalog's tag pool (counted as if
/// every list were added: conservative for replacements).
fn check_tag_room<'a>(cat: &Catalog, attrs: impl Iterator<Item = &'a ItemAttrs>) -> Result<()> {
    let tag_entries = cat.tag_entries()
        + attrs
            .map(|a| crate::store::tags::entries_for(a.tags.len()))
            .sum::<u64>();
    if tag_entries > crate::store::tags::MAX_TAG_ENTRIES {
        return Err(Error::CapacityExceeded {
            what: "tag entries (tags plus one per tagged item)".into(),
            limit: crate::store::tags::MAX_TAG_ENTRIES,
            got: tag_entries,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::model::{AlsParams, ModelSpec};
    use crate::{Engine, EngineConfig, ItemAttrs};

    /// Tags and attributes of existing items change without touching the model: their
    /// factors and the factor graphs' links stay as they were (no re-insertion), while a
    /// new item still joins the model.
    #[test]
    fn attribute_upserts_of_known_items_leave_the_model_alone() {
        let mut config = EngineConfig::new(0).with_threads(2);
        config.exact_below = 10;
        let e = Engine::new(config).unwrap();
        let mut rng = crate::util::rng::SplitMix64(5);
        let (mut users, mut items) = (Vec::new(), Vec::new());
        for u in 0..300 {
            for _ in 0..12 {
                users.push(format!("u{u}"));
                items.push(format!("i{}", rng.below(100) + (u % 4) * 100));
            }
        }
        e.add_interactions(&users, &items, None, None).unwrap();
        let spec = ModelSpec::Als(AlsParams {
            factors: 8,
            iterations: 3,
            ..Default::default()
        });
        e.fit(&spec, None).unwrap();
        let state = |e: &Engine| {
            let st = e.state.read();
            let fx = st.factors.as_ref().expect("factor graphs after an ALS fit");
            let (y, _) = st.model.as_ref().unwrap().item_factors().unwrap();
            (fx.cosine().level0_lists(), y.to_vec())
        };
        let before = state(&e);
        let known: Vec<String> = (0..200).map(|i| format!("i{i}")).collect();
        let attrs = vec![
            ItemAttrs {
                tags: vec!["hot".into()],
                numbers: vec![("plays".into(), 3.0)],
            };
            known.len()
        ];
        e.upsert_attributes(&known, Some(&attrs)).unwrap();
        assert_eq!(state(&e), before);
        assert_eq!(e.item_attributes(&["i7"]).unwrap()[0].tags, ["hot"]);
        // A new item joins the model (a cold factor row) and the graphs' slot range.
        e.upsert_attributes(&["fresh"], None).unwrap();
        let (lists, y) = state(&e);
        assert_eq!(y.len(), before.1.len() + 8);
        assert_eq!(lists.len(), before.0.len() + 1);
    }
}
