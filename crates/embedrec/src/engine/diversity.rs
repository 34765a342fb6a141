//! Diversity: maximal marginal relevance (Carbonell & Goldstein, 1998) over a recommendation
//! list's wider candidate pool. Similarity between two items is the cosine of their ALS
//! factors when the model has them, else of their content vectors; an item with neither is
//! similar to nothing.

use super::{Engine, Hit, State};
use crate::distance::{dot, norm};

/// Candidates considered per recommendation asked for.
pub(super) const POOL: usize = 4;

impl Engine {
    /// The `k` of `candidates` (best first) chosen greedily by
    /// `(1 − lambda) · relevance − lambda · max cosine to those already chosen`, relevance
    /// being the score scaled to `0..=1` over the pool. Scores are kept as they were.
    pub(super) fn diversify(
        &self,
        st: &State,
        candidates: Vec<Hit>,
        k: usize,
        lambda: f32,
    ) -> Vec<Hit> {
        let factors = st.model.as_ref().and_then(|m| m.item_factors());
        let unit = |h: &Hit| -> Option<Vec<f32>> {
            let s = st.cat.slot_of(&h.id)?;
            let v: Vec<f32> = match factors {
                Some((y, f)) if (s as usize + 1) * f <= y.len() => {
                    y[s as usize * f..(s as usize + 1) * f].to_vec()
                }
                Some(_) => return None,
                None if st.cat.has_vector(s) => st.cat.vector(s).into_owned(),
                None => return None,
            };
            let n = norm(&v);
            (n > 0.0 && n.is_finite()).then(|| v.iter().map(|x| x / n).collect())
        };
        let vectors: Vec<Option<Vec<f32>>> = candidates.iter().map(unit).collect();
        let (lo, hi) = candidates
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), h| {
                (lo.min(h.score), hi.max(h.score))
            });
        let span = if hi > lo { hi - lo } else { 1.0 };
        let relevance: Vec<f32> = candidates.iter().map(|h| (h.score - lo) / span).collect();
        // Largest cosine of each candidate to the chosen ones so far.
        let mut closest = vec![0.0f32; candidates.len()];
        let mut taken = vec![false; candidates.len()];
        let mut order = Vec::with_capacity(k.min(candidates.len()));
        while order.len() < k.min(candidates.len()) {
            let pick = (0..candidates.len())
                .filter(|&i| !taken[i])
                .max_by(|&a, &b| {
                    let gain = |i: usize| (1.0 - lambda) * relevance[i] - lambda * closest[i];
                    gain(a).total_cmp(&gain(b)).then(b.cmp(&a))
                })
                .expect("a candidate is left");
            taken[pick] = true;
            order.push(pick);
            if let Some(p) = &vectors[pick] {
                for (i, v) in vectors.iter().enumerate() {
                    if let (false, Some(v)) = (taken[i], v) {
                        closest[i] = closest[i].max(dot(p, v));
                    }
                }
            }
        }
        let mut slots: Vec<Option<Hit>> = candidates.into_iter().map(Some).collect();
        order.into_iter().filter_map(|i| slots[i].take()).collect()
    }
}
