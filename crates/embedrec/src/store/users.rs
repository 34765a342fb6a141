//! Interaction histories per user and item popularity.

use crate::store::catalog::Catalog;
use crate::store::history::{EMPTY, History, Interaction};
use crate::store::ids::{IdTable, MAX_ID_BYTES};
use serde::Deserialize;

/// Largest interaction weight accepted. With it, sums over any number of interactions a
/// catalog can hold, and ALS confidences (`alpha` is bounded too), stay finite in f32.
pub const MAX_WEIGHT: f32 = 1e9;

#[derive(Debug, Default)]
pub(crate) struct Users {
    /// User ids ↔ user indices (the catalog's compact table: no allocation per user).
    ids: IdTable,
    histories: Vec<History>,
    /// Sum of interaction weights per catalog slot, grown only as far as the highest slot
    /// with an interaction (a catalog nobody has interacted with costs nothing here).
    popularity: Vec<f64>,
    /// Distinct users per catalog slot (grown like `popularity`).
    reach: Vec<u32>,
    total: usize,
}

/// The users' fields of the META section (version 1: bincode of this struct, inline in
/// META; version 2: the record of [`Users::write_record`]).
#[derive(Deserialize)]
pub(crate) struct UsersMeta {
    users: Vec<String>,
    histories: Vec<Vec<Interaction>>,
}

impl UsersMeta {
    /// Reads a record [`Users::write_record`] wrote ([`Users::read`] checks it).
    pub(crate) fn read_record(
        r: &mut crate::codec::bytes::Reader<'_>,
    ) -> std::result::Result<Self, String> {
        let n = r.len(4)?;
        let users = (0..n)
            .map(|_| r.str().map(str::to_string))
            .collect::<Result<Vec<_>, _>>()?;
        let histories = (0..n)
            .map(|_| History::read_record(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(UsersMeta { users, histories })
    }
}

impl Users {
    /// Stored interactions.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Every user's history, in user index order.
    pub(crate) fn histories(&self) -> &[History] {
        &self.histories
    }

    /// Popularity of a slot: the number of distinct users who interacted with it, ties
    /// broken by the summed interaction weight (the fraction `w / (w + 1)` added). Counting
    /// users holds across domains: a few heavy listeners' play counts do not outweigh
    /// an item many people chose. 0 without interactions.
    pub(crate) fn popularity(&self, slot: u32) -> f64 {
        let s = slot as usize;
        let w = self.popularity.get(s).copied().unwrap_or(0.0);
        self.reach.get(s).copied().unwrap_or(0) as f64 + w / (w + 1.0)
    }

    /// Distinct users who interacted with a slot.
    pub(crate) fn reach(&self, slot: u32) -> usize {
        self.reach.get(slot as usize).copied().unwrap_or(0) as usize
    }
    /// Writes the users' record of a version-2 META section: the user count (u32), each
    /// id (u32 length, UTF-8), then each user's history ([`History::write_record`]); spilled
    /// to `out` as it grows.
    pub(crate) fn write_record(
        &self,
        w: &mut crate::codec::bytes::Writer,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        w.len(self.ids.slots());
        for (_, id) in self.ids.iter() {
            w.str(id);
            w.spill(out)?;
        }
        for h in &self.histories {
            h.write_record(w);
            w.spill(out)?;
        }
        Ok(())
    }

    /// Users from their META fields, every interaction checked against the catalog.
    pub(crate) fn read(meta: UsersMeta, cat: &Catalog) -> std::result::Result<Users, String> {
        if meta.histories.len() != meta.users.len() {
            return Err(format!(
                "{} histories for {} users",
                meta.histories.len(),
                meta.users.len()
            ));
        }
        let mut users = Users::default();
        for (u, (uid, hist)) in meta.users.into_iter().zip(meta.histories).enumerate() {
            if uid.is_empty() || uid.len() > MAX_ID_BYTES {
                return Err(format!("user {u}: invalid id of {} bytes", uid.len()));
            }
            for it in &hist {
                if !(cat.is_live(it.slot) && it.weight > 0.0 && it.weight <= MAX_WEIGHT) {
                    return Err(format!(
                        "user {uid:?}: interaction with slot {} weight {} is invalid",
                        it.slot, it.weight
                    ));
                }
            }
            if users.ensure_user(&uid) as usize != u {
                return Err(format!("user id {uid:?} appears twice"));
            }
            users.append(u, hist.into_iter());
        }
        Ok(users)
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.slots()
    }

    /// The id of stored user `u`.
    pub(crate) fn id(&self, u: u32) -> &str {
        self.ids.get(u).unwrap_or_default()
    }

    pub(crate) fn index(&self, user: &str) -> Option<u32> {
        self.ids.slot_of(user)
    }

    pub(crate) fn history(&self, user: &str) -> Option<&History> {
        self.index(user).map(|u| &self.histories[u as usize])
    }

    /// The history of a user, empty for one not stored.
    pub(crate) fn history_or_empty(&self, user: &str) -> &History {
        self.history(user).unwrap_or(&EMPTY)
    }

    /// The history of a stored user, or [`crate::Error::UnknownUser`].
    pub(crate) fn require(&self, user: &str) -> crate::Result<&History> {
        self.history(user).ok_or_else(|| crate::Error::UnknownUser {
            id: user.to_string(),
        })
    }

    /// The index of a user, registering it (with an empty history) when new.
    pub(crate) fn ensure_user(&mut self, user: &str) -> u32 {
        match self.ids.slot_of(user) {
            Some(u) => u,
            None => {
                let u = self.ids.slots() as u32;
                self.ids.push_free();
                self.ids.insert(u, user);
                self.histories.push(History::default());
                u
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn add(&mut self, user: &str, it: Interaction) {
        let u = self.ensure_user(user);
        self.append(u as usize, std::iter::once(it));
    }

    /// Appends a batch of `rows` interactions: row `r` is `it(r)` by stored user `user(r)`
    /// (an index from [`Users::ensure_user`]). Each user's rows keep their order; a user's
    /// first batch is stored without spare capacity.
    pub(crate) fn add_batch(
        &mut self,
        rows: usize,
        user: impl Fn(usize) -> u32,
        it: impl Fn(usize) -> Interaction,
    ) {
        // Room for each user's rows first, so that a bulk load leaves no spare capacity.
        let mut added = vec![0u32; self.ids.slots()];
        for r in 0..rows {
            added[user(r) as usize] += 1;
        }
        let mut old = Vec::new();
        for (u, &n) in added.iter().enumerate() {
            if n > 0 {
                old.push((u as u32, self.histories[u].len()));
                self.histories[u].reserve(n as usize);
            }
        }
        drop(added);
        for r in 0..rows {
            let it = it(r);
            self.count(it);
            self.histories[user(r) as usize].push(it);
        }
        self.total += rows;
        for (u, len) in old {
            self.count_reach(u as usize, len);
        }
    }

    /// Adds an interaction's weight to its slot's popularity.
    fn count(&mut self, it: Interaction) {
        let s = it.slot as usize;
        if self.popularity.len() <= s {
            self.popularity.resize(s + 1, 0.0);
            self.reach.resize(s + 1, 0);
        }
        self.popularity[s] += it.weight as f64;
    }

    /// Appends interactions to user `u`'s history and counts them in popularity and reach.
    fn append(&mut self, u: usize, its: impl ExactSizeIterator<Item = Interaction>) {
        self.histories[u].reserve(its.len());
        let old = self.histories[u].len();
        for it in its {
            self.count(it);
            self.histories[u].push(it);
            self.total += 1;
        }
        self.count_reach(u, old);
    }

    /// Counts in `reach` the distinct slots that user `u`'s history gained after its first
    /// `old` interactions.
    fn count_reach(&mut self, u: usize, old: usize) {
        let h = &self.histories[u];
        // Reach: the distinct slots this user had not interacted with before.
        let (before, added) = h.slots().split_at(old);
        let mut fresh: Vec<u32> = added.to_vec();
        fresh.sort_unstable();
        fresh.dedup();
        if before.len().saturating_mul(fresh.len()) <= 4096 {
            fresh.retain(|s| !before.contains(s));
        } else {
            let mut had: Vec<u32> = before.to_vec();
            had.sort_unstable();
            fresh.retain(|s| had.binary_search(s).is_err());
        }
        for s in fresh {
            self.reach[s as usize] += 1;
        }
    }

    /// Forgets every interaction with these (removed) slots, so a recycled slot starts clean.
    pub(crate) fn purge_slots(&mut self, slots: &[u32]) {
        let mut sorted = slots.to_vec();
        sorted.sort_unstable();
        let mut removed = 0;
        for h in &mut self.histories {
            removed += h.retain_slots(|s| sorted.binary_search(&s).is_err());
        }
        self.total -= removed;
        for &s in slots {
            if let Some(p) = self.popularity.get_mut(s as usize) {
                *p = 0.0;
                self.reach[s as usize] = 0;
            }
        }
    }

    /// Weighted profile vector of a history: sum of unit vectors for cosine, weighted mean for
    /// dot and L2. `half_life` (seconds) decays older interactions relative to the newest one.
    /// `None` when the history carries no weight (empty, or only removed items or items
    /// without content vectors).
    pub(crate) fn profile(
        cat: &Catalog,
        history: impl Iterator<Item = Interaction> + Clone,
        half_life: Option<f64>,
    ) -> Option<Vec<f32>> {
        let newest = history.clone().map(|i| i.ts).max()?;
        Self::profile_sums(cat, history, half_life, newest).finish(cat.metric())
    }

    /// The sums a profile is made of, with ages measured from `newest`.
    pub(crate) fn profile_sums(
        cat: &Catalog,
        history: impl Iterator<Item = Interaction>,
        half_life: Option<f64>,
        newest: i64,
    ) -> ProfileSums {
        let mut sums = ProfileSums {
            acc: vec![0.0f64; cat.dim()],
            total: 0.0,
        };
        for it in history {
            if !cat.has_vector(it.slot) {
                continue;
            }
            let mut w = it.weight as f64;
            if let Some(h) = half_life {
                let age = newest.saturating_sub(it.ts) as f64;
                w *= 0.5f64.powf(age / h);
            }
            if w <= 0.0 {
                continue;
            }
            let v = cat.vector(it.slot);
            let scale = match cat.metric() {
                crate::Metric::Cosine => w * cat.inv_norm(it.slot) as f64,
                _ => w,
            };
            for (a, x) in sums.acc.iter_mut().zip(v.iter()) {
                *a += scale * *x as f64;
            }
            sums.total += w;
        }
        sums
    }
}

/// A content profile before normalisation: the weighted sum of the history's vectors and
/// the total weight. Sums over disjoint parts of one history (the items of different
/// shards) add up to the whole history's.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ProfileSums {
    acc: Vec<f64>,
    total: f64,
}

impl ProfileSums {
    /// Adds `other` scaled by `scale` (a part whose ages were measured from a newer
    /// interaction than `other`'s newest: `0.5^(gap / half_life)`).
    pub(crate) fn add(&mut self, other: &ProfileSums, scale: f64) {
        if self.acc.len() < other.acc.len() {
            self.acc.resize(other.acc.len(), 0.0);
        }
        for (a, b) in self.acc.iter_mut().zip(&other.acc) {
            *a += scale * b;
        }
        self.total += scale * other.total;
    }

    /// The profile vector (unit length under cosine), or `None` without weight.
    pub(crate) fn finish(&self, metric: crate::Metric) -> Option<Vec<f32>> {
        if self.total <= 0.0 {
            return None;
        }
        let out: Vec<f32> = self.acc.iter().map(|a| (a / self.total) as f32).collect();
        if out.iter().any(|x| !x.is_finite()) {
            return None;
        }
        if metric == crate::Metric::Cosine {
            let n = crate::distance::norm(&out);
            if !(n > 0.0 && n.is_finite()) {
                return None;
            }
            return Some(out.iter().map(|x| x / n).collect());
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Popularity grows only as far as the highest slot with an interaction: a large catalog
    /// nobody has interacted with holds no per-slot column here.
    #[test]
    fn popularity_grows_with_interactions_only() {
        let mut u = Users::default();
        assert!(u.popularity.is_empty());
        let it = |slot, weight| Interaction {
            slot,
            weight,
            ts: 0,
        };
        u.add("a", it(7, 2.0));
        u.add("b", it(3, 1.0));
        u.add("b", it(7, 0.5));
        assert_eq!(u.popularity.len(), 8);
        assert_eq!(
            (u.popularity[7], u.popularity[3], u.popularity[0]),
            (2.5, 1.0, 0.0)
        );
        // Ranked by distinct users, then by weight.
        u.add("a", it(3, 9.0));
        assert_eq!((u.reach[7], u.reach[3]), (2, 2));
        assert!(u.popularity(3) > u.popularity(7) && u.popularity(7) > u.popularity(0));
        u.purge_slots(&[7, 100]);
        assert_eq!(u.popularity[7], 0.0);
        assert_eq!(u.total, 2);
    }
}
