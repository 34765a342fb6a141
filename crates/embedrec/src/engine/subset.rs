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
    /// factors, trained or cold-start, and every user's, so a user's scores are the same
    /// here; popularity: fitted again, which gives the same per-item scores). Models whose
    /// scores mix items (item-kNN, EASE) cannot be restricted: [`Error::InvalidInput`]
    /// names the model. The copy is built with this engine's threads and keeps one (a shard
    /// answers its part of a query on the set's pool).
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
        let out = Engine::new(self.config())?;
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
            Some(Model::Als(m)) => install_als(&out, m, &st)?,
            Some(_) => {
                drop(st);
                out.fit(&ModelSpec::Popularity, None)?;
            }
            None => {}
        }
        out.set_threads(1)?;
        Ok(out)
    }
}

/// Installs into `out` the ALS model `m` restricted to `out`'s items: the factors of its
/// trained items (so the shards' `Yᵀ Y` add up to the model's), the cold-start map and the
/// cold-start rows it gives the other items with vectors (the same numbers as in `m`), and
/// every stored user's factors; then the factor graphs over them.
fn install_als(out: &Engine, m: &AlsModel, src: &super::State) -> Result<()> {
    let mut st = out.state.write();
    let f = m.params.factors;
    let n = st.cat.slots();
    let (mut y, mut trained) = (vec![0.0f32; n * f], vec![false; n]);
    for (s, id) in st.cat.ids() {
        if let Some(t) = src.cat.slot_of(id).filter(|&t| m.is_trained(t)) {
            y[s as usize * f..(s as usize + 1) * f].copy_from_slice(m.factor(t));
            trained[s as usize] = true;
        }
    }
    let users: Vec<(u32, &[f32])> = (0..src.users.len() as u32)
        .filter_map(|u| {
            m.user_factor(u)
                .map(|x| (st.users.ensure_user(src.users.id(u)), x))
        })
        .collect();
    let mut x = vec![0.0f32; st.users.len() * f];
    for (u, row) in users {
        x[u as usize * f..(u as usize + 1) * f].copy_from_slice(row);
    }
    let mut model = AlsModel::from_factors(m.params.clone(), y, trained, x);
    model.cold_map = m.cold_map.clone();
    let cold: Vec<u32> = st.cat.vector_slots().collect();
    model.fill_cold(&st.cat, &cold);
    let model = Model::Als(model);
    st.factors = out.index_factors(&model, &st.cat)?;
    st.model = Some(model);
    drop(st);
    out.mutated();
    Ok(())
}
