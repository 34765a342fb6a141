//! Training: the interactions as a matrix, a model trained on the engine's pool and
//! installed.

use super::{Engine, FitReport, factors::FactorIndex};
use crate::model::{HistoryRows, Model, ModelSpec, Progress, Rows, TrainingData};
use crate::{Error, Result};
use std::time::Instant;

impl Engine {
    // ------------------------------------------------------------------ training

    /// Trains a collaborative model on the interactions stored now and installs it: from then
    /// on `recommend`, `recommend_for_items`, `similar` and the batch calls use it. Queries keep
    /// running during training (writers wait). `progress` is called after every iteration;
    /// returning `false` cancels ([`Error::Cancelled`]) and leaves the previous model in place.
    pub fn fit(
        &self,
        spec: &ModelSpec,
        progress: Option<&mut (dyn FnMut(&Progress) -> bool + Send)>,
    ) -> Result<FitReport> {
        spec.validate()?;
        self.check_writable("fit")?;
        let t0 = Instant::now();
        let mut noop = |_: &Progress| true;
        let progress: &mut (dyn FnMut(&Progress) -> bool + Send) = match progress {
            Some(p) => p,
            None => &mut noop,
        };
        // Upgradable: queries keep running during training, writers wait, so the model
        // installed below matches the catalog and interactions it was trained on.
        let st = self.state.upgradable_read();
        let mut loss = None;
        let (mut model, users, items, interactions) = self.background.install(|| {
            let data = HistoryRows::new(st.users.histories(), &st.cat);
            let (users, items, interactions) = (data.rows(), data.cols(), data.nnz());
            if interactions == 0 {
                return Err(Error::invalid(
                    "interactions",
                    "at least one interaction to train on",
                    0,
                ));
            }
            let mut cb = |p: Progress| {
                loss = p.loss;
                progress(&p)
            };
            let model = Model::train(spec, TrainingData::Histories(data), &st.cat, &mut cb)?;
            Ok((model, users, items, interactions))
        })??;
        let all: Vec<u32> = st.cat.live_slots().collect();
        model.on_upsert(&st.cat, &all);
        let t1 = Instant::now();
        let factors = self.index_factors(&model, &st.cat)?;
        let report = FitReport {
            model: model.name(),
            users,
            items,
            interactions,
            seconds: t0.elapsed().as_secs_f64(),
            index_seconds: t1.elapsed().as_secs_f64(),
            loss,
        };
        let mut st = parking_lot::RwLockUpgradableReadGuard::upgrade(st);
        st.model = Some(model);
        st.factors = factors;
        drop(st);
        self.mutated();
        // Durable mode: the new model is in the snapshot a checkpoint writes.
        self.checkpoint()?;
        Ok(report)
    }

    /// The factor index of a model (on the engine's pool), `None` for models without factors.
    pub(super) fn index_factors(
        &self,
        model: &Model,
        cat: &crate::store::Catalog,
    ) -> Result<Option<FactorIndex>> {
        let params = super::factor_params(&self.config);
        self.background
            .install(|| FactorIndex::build(model, cat, params))?
    }

    /// Name of the installed model (`"als"`, `"item_knn"`, `"ease"`, `"popularity"`), if any.
    pub fn model_name(&self) -> Option<&'static str> {
        self.state.read().model.as_ref().map(|m| m.name())
    }

    /// Removes the trained model: queries go back to content-vector profiles.
    pub fn clear_model(&self) -> Result<()> {
        self.check_writable("clear_model")?;
        let mut st = self.state.write();
        st.model = None;
        st.factors = None;
        self.mutated();
        self.journal_clear_model()
    }
}
