//! A copy of an engine holding a subset of its items: what an item shard is made of.

use super::Engine;
use crate::model::{AlsModel, Model, ModelSpec};
use crate::store::ItemAttrs;
use crate::{Error, Result};
use ndarray::Array2;

impl Engine {
    /// A new engine (same configuration, in memory) with the live items `keep` accepts:
    /// their vectors, tags and attributes, every tag and attribute name of this engine (a
    /// filter compiles the same on both), the interactions with those items (so seen items
    /// and popularity are the same for them), and the model restricted to them (ALS: their
    /// factors and every user's, so a user's scores are the same here; popularity: fitted
    /// again, which gives the same per-item scores). Models whose scores mix items (item-kNN,
    /// EASE) cannot be restricted: [`Error::InvalidInput`] names the model.
    pub(crate) fn subset(&self, keep: &(dyn Fn(&str) -> bool + Sync)) -> Result<Engine> {
        let st = self.state.read();
        if let Some(m) = &st.model
            && !matches!(m, Model::Als(_) | Model::Popularity { .. })
        {
            return Err(Error::invalid(
                "model",
                "als, popularity or no model (the item shards of a split score items \
                 independently; item-kNN and EASE mix every item's weights)",
                m.name(),
            ));
        }
        let mut config = self.config();
        config.threads = 1;
        let out = Engine::new(config)?;
        out.state.write().cat.declare_names(&st.cat);
        let slots: Vec<u32> = st
            .cat
            .ids()
            .filter(|(_, id)| keep(id))
            .map(|(s, _)| s)
            .collect();
        let (with, without): (Vec<u32>, Vec<u32>) =
            slots.iter().partition(|&&s| st.cat.has_vector(s));
        let attrs = |slots: &[u32]| -> Vec<ItemAttrs> {
            slots.iter().map(|&s| st.cat.item_attrs(s)).collect()
        };
        let ids = |slots: &[u32]| -> Vec<&str> { slots.iter().map(|&s| st.cat.id(s)).collect() };
        let dim = self.config.dim;
        let mut vectors = Array2::<f32>::zeros((with.len(), dim));
        for (mut row, &s) in vectors.rows_mut().into_iter().zip(&with) {
            row.assign(&ndarray::ArrayView1::from(&*st.cat.vector(s)));
        }
        if !with.is_empty() {
            out.upsert_items(&ids(&with), vectors.view(), Some(&attrs(&with)))?;
        }
        if !without.is_empty() {
            out.upsert_attributes(&ids(&without), Some(&attrs(&without)))?;
        }
        let kept = {
            let mut k = vec![false; st.cat.slots()];
            slots.iter().for_each(|&s| k[s as usize] = true);
            k
        };
        let (mut users, mut items, mut weights, mut times) = (vec![], vec![], vec![], vec![]);
        for (u, h) in st.users.histories().iter().enumerate() {
            for it in h.iter().filter(|it| kept[it.slot as usize]) {
                users.push(st.users.id(u as u32));
                items.push(st.cat.id(it.slot));
                weights.push(it.weight);
                times.push(it.ts);
            }
        }
        if !users.is_empty() {
            out.add_interactions(&users, &items, Some(&weights), Some(&times))?;
        }
        match &st.model {
            Some(Model::Als(m)) => {
                install_als(&out, m, &st.users, &slots, &|s| st.cat.id(s).to_string())?
            }
            Some(_) => {
                drop(st);
                out.fit(&ModelSpec::Popularity, None)?;
            }
            None => {}
        }
        Ok(out)
    }
}

/// Installs `m`'s factors of the trained items among `slots` and every stored user's
/// factors into `out` (so the shards' `Yᵀ Y` add up to the model's). Cold-start rows are
/// not carried: an item that had no interactions at training time has no model score in a
/// shard.
fn install_als(
    out: &Engine,
    m: &AlsModel,
    users: &crate::store::Users,
    slots: &[u32],
    id: &dyn Fn(u32) -> String,
) -> Result<()> {
    let f = m.params.factors;
    let y = &m.item_factors[..];
    let rows: Vec<u32> = (slots.iter().copied())
        .filter(|&s| (s as usize + 1) * f <= y.len() && m.is_trained(s))
        .collect();
    let mut items = Array2::<f32>::zeros((rows.len(), f));
    for (mut row, &s) in items.rows_mut().into_iter().zip(&rows) {
        row.assign(&ndarray::ArrayView1::from(m.factor(s)));
    }
    let user_rows: Vec<u32> = (0..users.len() as u32)
        .filter(|&u| m.user_factor(u).is_some())
        .collect();
    let mut x = Array2::<f32>::zeros((user_rows.len(), f));
    for (mut row, &u) in x.rows_mut().into_iter().zip(&user_rows) {
        row.assign(&ndarray::ArrayView1::from(m.user_factor(u).unwrap_or(&[])));
    }
    let item_ids: Vec<String> = rows.iter().map(|&s| id(s)).collect();
    let user_ids: Vec<&str> = user_rows.iter().map(|&u| users.id(u)).collect();
    out.install_factors(
        &item_ids,
        items.view(),
        Some((&user_ids, x.view())),
        &m.params,
    )
}
