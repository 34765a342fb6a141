//! Offline evaluation: splits and ranking metrics, as a feature for users.
//!
//! Metric definitions (per user, averaged over evaluated users; binary relevance; items seen
//! in training are excluded from the recommendations being judged):
//! - precision@k = hits / k;
//! - recall@k = hits / |relevant|;
//! - NDCG@k = DCG / IDCG with gain 1 at rank r discounted by `1 / log2(r + 1)`, IDCG over
//!   `min(|relevant|, k)` hits;
//! - MAP@k = Σ_{ranks r with a hit} precision@r / min(|relevant|, k);
//! - hit rate@k = 1 if any hit;
//! - coverage@k = distinct recommended items / live catalog items (over all users).

use crate::{Error, Result, SplitMix64};
use std::collections::{HashMap, HashSet};

/// Interactions as parallel columns, as hosts usually hold them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Interactions {
    /// User id per interaction.
    pub users: Vec<String>,
    /// Item id per interaction.
    pub items: Vec<String>,
    /// Weight per interaction (e.g. a rating or play count).
    pub weights: Vec<f32>,
    /// Timestamp per interaction (seconds).
    pub timestamps: Vec<i64>,
}

impl Interactions {
    /// Number of interactions.
    pub fn len(&self) -> usize {
        self.users.len()
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
    fn check(&self) -> Result<()> {
        let n = self.users.len();
        for (f, l) in [
            ("items", self.items.len()),
            ("weights", self.weights.len()),
            ("timestamps", self.timestamps.len()),
        ] {
            if l != n {
                return Err(Error::invalid(
                    format!("interactions.{f}"),
                    format!("{n} entries (one per user id)"),
                    l,
                ));
            }
        }
        Ok(())
    }
    fn push_from(&mut self, o: &Interactions, i: usize) {
        self.users.push(o.users[i].clone());
        self.items.push(o.items[i].clone());
        self.weights.push(o.weights[i]);
        self.timestamps.push(o.timestamps[i]);
    }
    fn by_user(&self) -> Vec<Vec<usize>> {
        let mut order: Vec<&str> = Vec::new();
        let mut idx: HashMap<&str, usize> = HashMap::new();
        let mut rows: Vec<Vec<usize>> = Vec::new();
        for (i, u) in self.users.iter().enumerate() {
            let r = *idx.entry(u.as_str()).or_insert_with(|| {
                order.push(u);
                rows.push(Vec::new());
                rows.len() - 1
            });
            rows[r].push(i);
        }
        rows
    }
}

fn split_by(
    data: &Interactions,
    min_interactions: usize,
    mut pick: impl FnMut(&[usize]) -> Vec<usize>,
) -> Result<(Interactions, Interactions)> {
    data.check()?;
    let (mut train, mut test) = (Interactions::default(), Interactions::default());
    for rows in data.by_user() {
        let chosen: HashSet<usize> = if rows.len() >= min_interactions.max(2) {
            pick(&rows).into_iter().collect()
        } else {
            HashSet::new()
        };
        for &i in &rows {
            if chosen.contains(&i) {
                test.push_from(data, i)
            } else {
                train.push_from(data, i)
            }
        }
    }
    Ok((train, test))
}

/// Default fraction of each user's interactions [`holdout_split`] sends to test.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;
/// Default minimum interactions of a user [`holdout_split`] splits.
pub const DEFAULT_MIN_INTERACTIONS: usize = 5;
/// Default seed of [`holdout_split`].
pub const DEFAULT_SPLIT_SEED: u64 = 42;
/// Default minimum interactions of a user [`leave_last_out`] splits.
pub const DEFAULT_LEAVE_LAST_OUT_MIN: usize = 2;

/// Per-user random holdout: for each user with at least `min_interactions` (and at least 2)
/// interactions, `round(test_fraction * n)` of them (at least 1, at most n - 1), chosen with
/// `seed`, go to the test set; everything else stays in train. Returns `(train, test)`.
pub fn holdout_split(
    data: &Interactions,
    test_fraction: f64,
    min_interactions: usize,
    seed: u64,
) -> Result<(Interactions, Interactions)> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::invalid(
            "test_fraction",
            "a fraction strictly between 0 and 1",
            test_fraction,
        ));
    }
    let mut rng = SplitMix64(seed);
    split_by(data, min_interactions, |rows| {
        let n = rows.len();
        let t = ((test_fraction * n as f64).round() as usize).clamp(1, n - 1);
        let mut r = rows.to_vec();
        for i in 0..t {
            let j = i + rng.below(n - i);
            r.swap(i, j);
        }
        r.truncate(t);
        r
    })
}

/// Leave-last-out: each user's latest interaction (by timestamp; ties by position) goes to
/// test, for users with at least `min_interactions` (and at least 2). Returns `(train, test)`.
pub fn leave_last_out(
    data: &Interactions,
    min_interactions: usize,
) -> Result<(Interactions, Interactions)> {
    split_by(data, min_interactions, |rows| {
        let last = rows
            .iter()
            .copied()
            .max_by_key(|&i| (data.timestamps[i], i))
            .expect("non-empty");
        vec![last]
    })
}

/// Ranking quality at `k`, averaged over evaluated users.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RankingMetrics {
    /// Cut-off.
    pub k: usize,
    /// Users evaluated (test users known to the engine).
    pub users: usize,
    /// Mean precision@k.
    pub precision: f64,
    /// Mean recall@k.
    pub recall: f64,
    /// Mean NDCG@k.
    pub ndcg: f64,
    /// Mean average precision@k.
    pub map: f64,
    /// Share of users with at least one hit.
    pub hit_rate: f64,
    /// Distinct recommended items / catalog items.
    pub coverage: f64,
}

/// Computes [`RankingMetrics`] from recommendation lists and relevant sets (one per user).
pub fn ranking_metrics<S: AsRef<str>>(
    recommended: &[Vec<S>],
    relevant: &[HashSet<String>],
    k: usize,
    catalog_items: usize,
) -> RankingMetrics {
    let mut m = RankingMetrics {
        k,
        ..Default::default()
    };
    let mut distinct: HashSet<&str> = HashSet::new();
    for (recs, rel) in recommended.iter().zip(relevant) {
        if rel.is_empty() {
            continue;
        }
        m.users += 1;
        let (mut hits, mut dcg, mut ap) = (0usize, 0.0f64, 0.0f64);
        for (r, id) in recs.iter().take(k).enumerate() {
            distinct.insert(id.as_ref());
            if rel.contains(id.as_ref()) {
                hits += 1;
                dcg += 1.0 / ((r + 2) as f64).log2();
                ap += hits as f64 / (r + 1) as f64;
            }
        }
        let ideal = rel.len().min(k);
        let idcg: f64 = (0..ideal).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
        m.precision += hits as f64 / k as f64;
        m.recall += hits as f64 / rel.len() as f64;
        m.ndcg += dcg / idcg;
        m.map += ap / ideal as f64;
        m.hit_rate += (hits > 0) as u8 as f64;
    }
    if m.users > 0 {
        let n = m.users as f64;
        m.precision /= n;
        m.recall /= n;
        m.ndcg /= n;
        m.map /= n;
        m.hit_rate /= n;
    }
    m.coverage = distinct.len() as f64 / catalog_items.max(1) as f64;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> HashSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        // User 1: hits at ranks 1 and 3 of k = 3; 2 relevant.
        // User 2: no hit; 1 relevant.
        let recs = vec![vec!["a", "b", "c"], vec!["d", "e", "f"]];
        let rel = vec![set(&["a", "c"]), set(&["z"])];
        let m = ranking_metrics(&recs, &rel, 3, 10);
        assert_eq!(m.users, 2);
        assert!((m.precision - (2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!((m.recall - 0.5).abs() < 1e-12);
        let dcg = 1.0 + 1.0 / 4f64.log2(); // ranks 1 and 3
        let idcg = 1.0 + 1.0 / 3f64.log2();
        assert!((m.ndcg - dcg / idcg / 2.0).abs() < 1e-12);
        let ap = (1.0 + 2.0 / 3.0) / 2.0;
        assert!((m.map - ap / 2.0).abs() < 1e-12);
        assert!((m.hit_rate - 0.5).abs() < 1e-12);
        assert!((m.coverage - 0.6).abs() < 1e-12);
    }

    fn data() -> Interactions {
        let mut d = Interactions::default();
        for u in 0..3 {
            for i in 0..(u * 5 + 1) {
                d.users.push(format!("u{u}"));
                d.items.push(format!("i{i}"));
                d.weights.push(1.0);
                d.timestamps.push(i as i64);
            }
        }
        d
    }

    #[test]
    fn holdout_is_seeded_per_user_and_respects_minimum() {
        let d = data(); // users with 1, 6 and 11 interactions
        let (tr, te) = holdout_split(&d, 0.2, 5, 7).unwrap();
        assert_eq!(tr.len() + te.len(), d.len());
        let count = |x: &Interactions, u: &str| x.users.iter().filter(|v| *v == u).count();
        assert_eq!(count(&te, "u0"), 0); // below the minimum
        assert_eq!(count(&te, "u1"), 1); // round(1.2)
        assert_eq!(count(&te, "u2"), 2); // round(2.2)
        assert_eq!(
            holdout_split(&d, 0.2, 5, 7).unwrap(),
            (tr.clone(), te.clone())
        );
        assert_ne!(holdout_split(&d, 0.2, 5, 8).unwrap().1, te);
        assert!(holdout_split(&d, 1.0, 5, 7).is_err());
    }

    #[test]
    fn leave_last_out_takes_latest() {
        let (_, te) = leave_last_out(&data(), 2).unwrap();
        assert_eq!(te.users, vec!["u1", "u2"]);
        assert_eq!(te.items, vec!["i5", "i10"]);
    }
}
