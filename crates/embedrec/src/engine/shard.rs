//! One item shard's side of a query over several shards: its part of the query's subject
//! (a stored user, or a session's items), and its ranking by a query the caller made from
//! every shard's part. Shards hold disjoint items of one engine (see [`Engine::subset`]),
//! so each scores its items exactly as the whole engine would.

use super::validate::{check_k, check_options};
use super::{Engine, Hit, RecommendOptions};
use crate::model::{FoldSums, Model, Ranking, aggregate};
use crate::store::filter::CompiledFilter;
use crate::store::users::ProfileSums;
use crate::store::{Interaction, Users};
use crate::{Error, Result};

/// Whose recommendations: a stored user, or a session's `(index in the caller's list, item
/// id, weight)` that belong to this shard.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Subject<'a> {
    User(&'a str),
    Items(&'a [(usize, &'a str, f32)]),
}

/// What one shard knows of a subject.
#[derive(Clone, Debug, Default)]
pub(crate) struct Part {
    /// The user has a history here (always true for a session).
    pub(crate) known: bool,
    /// ALS: the user's stored factors (the same in every shard).
    pub(crate) user_factor: Option<Vec<f32>>,
    /// ALS: the fold-in terms of the local history items.
    pub(crate) fold: Option<FoldSums>,
    /// The content profile's sums over the local history, ages from `newest`.
    pub(crate) profile: ProfileSums,
    /// Newest local timestamp (`None`: no local history).
    pub(crate) newest: Option<i64>,
}

/// What a shard ranks its items by.
#[derive(Clone, Debug)]
pub(crate) enum Probe {
    /// Inner product with the ALS item factors.
    Factors(Vec<f32>),
    /// Cosine with the ALS item factors.
    CosineFactors(Vec<f32>),
    /// The content index, with a query already prepared for it.
    Content(Vec<f32>),
    /// The installed model's own per-item score (popularity).
    Model,
    /// Interactions per item.
    Popular,
}

/// Which items a shard leaves out besides the filter's.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Seen<'a> {
    /// The subject's local history items.
    Subject(Subject<'a>),
    /// One item (a `similar` query's own item), when this shard has it.
    Item(&'a str),
}

impl Engine {
    /// This shard's part of `subject`. A session item this shard does not have is an
    /// [`Error::UnknownItem`] naming `items[i]`.
    pub(crate) fn shard_part(&self, subject: Subject<'_>) -> Result<Part> {
        let st = self.state.read();
        let hist = self.shard_history(&st, subject)?;
        let Some(hist) = hist else {
            return Ok(Part::default());
        };
        let mut part = Part {
            known: true,
            newest: hist.iter().map(|i| i.ts).max(),
            ..Part::default()
        };
        if let Some(Model::Als(m)) = &st.model {
            if let Subject::User(id) = subject {
                part.user_factor = (st.users.index(id))
                    .and_then(|u| m.user_factor(u))
                    .map(<[f32]>::to_vec);
            }
            let agg = aggregate(
                (hist.iter())
                    .filter(|i| st.cat.is_live(i.slot))
                    .map(|i| (i.slot, i.weight)),
            );
            part.fold = Some(m.fold_sums(&agg));
        }
        if let Some(newest) = part.newest {
            part.profile = Users::profile_sums(
                &st.cat,
                hist.into_iter(),
                self.config.recency_half_life_secs,
                newest,
            );
        }
        Ok(part)
    }

    /// The local history of a subject (`None`: a user this shard has no history for).
    fn shard_history(
        &self,
        st: &super::State,
        subject: Subject<'_>,
    ) -> Result<Option<Vec<Interaction>>> {
        Ok(match subject {
            Subject::User(id) => st.users.history(id).map(|h| h.iter().collect()),
            Subject::Items(items) => {
                let mut hist = Vec::with_capacity(items.len());
                for &(i, id, weight) in items {
                    let slot = st.cat.require(id, || format!("items[{i}]"))?;
                    hist.push(Interaction {
                        slot,
                        weight,
                        ts: 0,
                    });
                }
                Some(hist)
            }
        })
    }

    /// Whether this shard's ALS model has stored factors for `user_id` (every shard of a
    /// split has the same ones).
    pub(crate) fn shard_has_user_factors(&self, user_id: &str) -> bool {
        let st = self.state.read();
        match (&st.model, st.users.index(user_id)) {
            (Some(Model::Als(m)), Some(u)) => m.user_factor(u).is_some(),
            _ => false,
        }
    }

    /// The ALS model's parameters and `Yᵀ Y` over this shard's trained items (shards' add
    /// up to the whole model's); `None` without an ALS model.
    pub(crate) fn shard_als(&self) -> Option<(crate::AlsParams, Vec<f32>)> {
        match &self.state.read().model {
            Some(Model::Als(m)) => Some((m.params.clone(), m.yty.clone())),
            _ => None,
        }
    }

    /// How this shard would rank a `similar` query for its item `id`: the item's factors
    /// (ALS) or its content vector, else by popularity.
    pub(crate) fn shard_item_probe(&self, id: &str) -> Result<Probe> {
        let st = self.state.read();
        let slot = st.cat.require(id, || "id".into())?;
        if let Some(model) = &st.model {
            match model.similar_ranking(st.cat.slots(), slot) {
                Some(Ranking::CosineFactors(t)) => return Ok(Probe::CosineFactors(t)),
                Some(_) => {
                    return Err(Error::invalid("model", "als or popularity", model.name()));
                }
                None => {}
            }
        }
        if st.cat.has_vector(slot) {
            return Ok(Probe::Content(st.cat.index_vector_ref(slot).into_owned()));
        }
        Ok(Probe::Popular)
    }

    /// This shard's `k` best items for `probe` that pass `filter` and are not `seen`, best
    /// first, with the scores the whole engine would give them.
    pub(crate) fn shard_rank(
        &self,
        probe: &Probe,
        k: usize,
        opts: &RecommendOptions,
        seen: Seen<'_>,
    ) -> Result<Vec<Hit>> {
        check_k(k)?;
        check_options(opts)?;
        let st = self.state.read();
        let mut cf = match &opts.filter {
            Some(f) => f.compile(&st.cat, "opts.filter")?,
            None => CompiledFilter::default(),
        };
        match seen {
            Seen::Subject(s) => {
                if opts.exclude_seen
                    && let Some(h) = self.shard_history(&st, s)?
                {
                    cf.exclude(h.iter().map(|i| i.slot));
                }
            }
            Seen::Item(id) => cf.exclude(st.cat.slot_of(id)),
        }
        let model = st.model.as_ref();
        Ok(match (probe, model) {
            (Probe::Factors(u), Some(m)) if m.item_factors().is_some() => {
                self.rank_model(&st, m, Ranking::Factors(u.clone()), k, &cf)
            }
            (Probe::CosineFactors(t), Some(m)) if m.item_factors().is_some() => {
                self.rank_model(&st, m, Ranking::CosineFactors(t.clone()), k, &cf)
            }
            (Probe::Model, Some(m)) => match m.ranking(st.cat.slots(), None, &[]) {
                Some(r) => self.rank_model(&st, m, r, k, &cf),
                None => self.popular(&st, k, &cf),
            },
            (Probe::Content(q), _) if self.config.dim > 0 => self.run_query(&st, q, k, &cf),
            _ => self.popular(&st, k, &cf),
        })
    }
}
