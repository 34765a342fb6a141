//! Factors and vectors in bulk: exporting the installed model's item and user factors and
//! the catalog's content vectors, and installing factors trained elsewhere as a model.

use super::Engine;
use super::validate::check_id;
use crate::error::ShowId;
use crate::model::{AlsModel, AlsParams, Model, ModelSpec};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use std::collections::HashSet;
use std::sync::Arc;

/// Largest absolute factor value accepted by [`Engine::install_factors`] (products of two
/// stay far from overflow at any width).
pub const MAX_FACTOR: f32 = 1e6;

/// Rows keyed by id: factors or vectors, one row per id.
#[derive(Clone, Debug, PartialEq)]
pub struct Rows {
    /// The id of each row.
    pub ids: Vec<Arc<str>>,
    /// `ids.len() × width`.
    pub values: Array2<f32>,
}

impl Engine {
    /// The installed model's item factors: every live item with factors (trained on its
    /// interactions, or given to [`Engine::install_factors`]), in slot order.
    /// [`Error::InvalidInput`] when the model has no factors (only ALS has).
    pub fn item_factors(&self) -> Result<Rows> {
        let st = self.state.read();
        let m = Self::als_of(st.model.as_ref())?;
        let (y, f) = (&m.item_factors[..], m.params.factors);
        let slots: Vec<u32> = st
            .cat
            .live_slots()
            .filter(|&s| (s as usize + 1) * f <= y.len() && m.is_trained(s))
            .collect();
        Ok(rows_of(
            &slots,
            f,
            |s| st.cat.id(s),
            |s| &y[s as usize * f..(s as usize + 1) * f],
        ))
    }

    /// The installed model's user factors: every stored user with factors, in the order
    /// users were first seen. [`Error::InvalidInput`] when the model has no factors.
    pub fn user_factors(&self) -> Result<Rows> {
        let st = self.state.read();
        let m = Self::als_of(st.model.as_ref())?;
        let (x, f) = (m.user_factors(), m.params.factors);
        let users: Vec<u32> = (0..(x.len() / f).min(st.users.len()) as u32)
            .filter(|&u| m.user_factor(u).is_some())
            .collect();
        Ok(rows_of(
            &users,
            f,
            |u| st.users.id(u),
            |u| &x[u as usize * f..(u as usize + 1) * f],
        ))
    }

    /// Every content vector (as stored) of the items that have one, in slot order.
    pub fn item_vectors(&self) -> Rows {
        let st = self.state.read();
        let slots: Vec<u32> = st.cat.vector_slots().collect();
        let mut values = Array2::zeros((slots.len(), st.cat.dim()));
        for (mut row, &s) in values.rows_mut().into_iter().zip(&slots) {
            row.assign(&ndarray::ArrayView1::from(&*st.cat.vector(s)));
        }
        Rows {
            ids: slots.iter().map(|&s| Arc::from(st.cat.id(s))).collect(),
            values,
        }
    }

    /// Installs factors trained elsewhere (implicit, LightFM, …) as an ALS model: scores are
    /// inner products of user and item factors. `item_ids` must be catalog items (row `i` of
    /// `item_factors` is item `item_ids[i]`); items without a row get no model score (they
    /// come only from popularity). Users in `user_ids` are registered if new; users without
    /// a row, and new users later, are folded in from their histories with `params`'
    /// regularization, alpha and confidence (`params.factors` must equal the width).
    /// Every value is checked first: on error nothing changed.
    pub fn install_factors<I: AsRef<str>, U: AsRef<str>>(
        &self,
        item_ids: &[I],
        item_factors: ArrayView2<'_, f32>,
        users: Option<(&[U], ArrayView2<'_, f32>)>,
        params: &AlsParams,
    ) -> Result<()> {
        ModelSpec::Als(params.clone()).validate()?;
        self.check_writable("install_factors")?;
        let f = params.factors;
        check_matrix("item_factors", item_factors, item_ids.len(), f, "item_ids")?;
        if let Some((ids, x)) = &users {
            check_matrix("user_factors", *x, ids.len(), f, "user_ids")?;
            unique("user_ids", ids.iter().map(AsRef::as_ref))?;
            for (i, u) in ids.iter().enumerate() {
                check_id(&format!("user_ids[{i}]"), u.as_ref())?;
            }
        }
        unique("item_ids", item_ids.iter().map(AsRef::as_ref))?;
        let mut st = self.state.write();
        let mut slots = Vec::with_capacity(item_ids.len());
        for (i, id) in item_ids.iter().enumerate() {
            slots.push(st.cat.require(id.as_ref(), || format!("item_ids[{i}]"))?);
        }
        let n = st.cat.slots();
        let mut y = vec![0.0f32; n * f];
        let mut trained = vec![false; n];
        for (row, &s) in item_factors.rows().into_iter().zip(&slots) {
            let s = s as usize;
            y[s * f..(s + 1) * f]
                .iter_mut()
                .zip(row)
                .for_each(|(o, v)| *o = *v);
            trained[s] = true;
        }
        let mut x = Vec::new();
        if let Some((ids, rows)) = users {
            let us: Vec<u32> = ids
                .iter()
                .map(|u| st.users.ensure_user(u.as_ref()))
                .collect();
            x = vec![0.0f32; st.users.len() * f];
            for (row, &u) in rows.rows().into_iter().zip(&us) {
                let u = u as usize;
                x[u * f..(u + 1) * f]
                    .iter_mut()
                    .zip(row)
                    .for_each(|(o, v)| *o = *v);
            }
        }
        let model = Model::Als(AlsModel::from_factors(params.clone(), y, trained, x));
        let factors = self.index_factors(&model, &st.cat)?;
        st.model = Some(model);
        st.factors = factors;
        drop(st);
        self.mutated();
        // Durable mode: the installed model is in the snapshot a checkpoint writes.
        self.checkpoint()
    }

    fn als_of(model: Option<&Model>) -> Result<&AlsModel> {
        model.and_then(Model::als).ok_or_else(|| {
            Error::invalid(
                "model",
                "a model with factors (\"als\": fit or install_factors)",
                model.map_or("none", Model::name),
            )
        })
    }
}

fn rows_of<'a>(
    keys: &[u32],
    f: usize,
    id: impl Fn(u32) -> &'a str,
    row: impl Fn(u32) -> &'a [f32],
) -> Rows {
    let mut values = Array2::zeros((keys.len(), f));
    for (mut out, &k) in values.rows_mut().into_iter().zip(keys) {
        out.assign(&ndarray::ArrayView1::from(row(k)));
    }
    Rows {
        ids: keys.iter().map(|&k| Arc::from(id(k))).collect(),
        values,
    }
}

/// Shape `rows × width`, every value finite and at most [`MAX_FACTOR`] in magnitude.
fn check_matrix(
    field: &str,
    m: ArrayView2<'_, f32>,
    rows: usize,
    width: usize,
    ids: &str,
) -> Result<()> {
    if m.nrows() != rows {
        return Err(Error::invalid(
            format!("{field} rows"),
            format!("one row per entry of {ids} ({rows})"),
            m.nrows(),
        ));
    }
    if m.ncols() != width {
        return Err(Error::DimensionMismatch {
            field: field.into(),
            expected: width,
            got: m.ncols(),
        });
    }
    for ((r, c), &v) in m.indexed_iter() {
        if !v.is_finite() || v.abs() > MAX_FACTOR {
            return Err(Error::invalid(
                format!("{field}[{r}][{c}]"),
                format!("a finite number of magnitude at most {MAX_FACTOR:e}"),
                v,
            ));
        }
    }
    Ok(())
}

fn unique<'a>(field: &str, ids: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = HashSet::new();
    for (i, id) in ids.enumerate() {
        if !seen.insert(id) {
            return Err(Error::invalid(
                format!("{field}[{i}]"),
                "ids that appear once",
                format!("{} (repeated)", ShowId(id)),
            ));
        }
    }
    Ok(())
}
