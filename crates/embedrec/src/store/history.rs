//! One user's interactions, stored by column: slots and weights (8 bytes per interaction),
//! and timestamps only once one is not 0, so logs without time cost no more.

use serde::{Deserialize, Serialize};

/// One stored interaction: catalog slot, positive weight, timestamp (seconds, host-defined epoch).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Interaction {
    pub(crate) slot: u32,
    pub(crate) weight: f32,
    pub(crate) ts: i64,
}

/// A user's interactions in the order they were recorded.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    slots: Vec<u32>,
    weights: Vec<f32>,
    /// Empty while every timestamp is 0; else one per interaction.
    ts: Vec<i64>,
}

/// The history of nobody (for lookups of users without one).
pub(crate) static EMPTY: History = History {
    slots: Vec::new(),
    weights: Vec::new(),
    ts: Vec::new(),
};

impl History {
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The slots interacted with, one per interaction.
    pub(crate) fn slots(&self) -> &[u32] {
        &self.slots
    }

    /// The weights, one per interaction (as [`History::slots`]).
    pub(crate) fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// The interactions, in recorded order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Interaction> + Clone + '_ {
        (0..self.slots.len()).map(|i| Interaction {
            slot: self.slots[i],
            weight: self.weights[i],
            ts: self.ts.get(i).copied().unwrap_or(0),
        })
    }

    /// Writes the history's record of a META section: count (u32), timestamps flag (u8),
    /// the slots (u32 each), the weights (f32 each), then the timestamps (i64 each) when
    /// the flag is 1.
    pub(crate) fn write_record(&self, w: &mut crate::codec::bytes::Writer) {
        w.len(self.slots.len());
        w.u8(!self.ts.is_empty() as u8);
        w.u32s(&self.slots);
        w.f32s(&self.weights);
        w.i64s(&self.ts);
    }

    /// Reads a record [`History::write_record`] wrote (the caller checks the values).
    pub(crate) fn read_record(
        r: &mut crate::codec::bytes::Reader<'_>,
    ) -> std::result::Result<Vec<Interaction>, String> {
        let n = r.len(8)?;
        let has_ts = match r.u8()? {
            0 => false,
            1 => true,
            x => return Err(format!("timestamps flag {x}")),
        };
        let slots = r.u32s(n)?;
        let weights = r.f32s(n)?;
        let ts = if has_ts { r.i64s(n)? } else { Vec::new() };
        Ok((0..n)
            .map(|i| Interaction {
                slot: slots[i],
                weight: weights[i],
                ts: ts.get(i).copied().unwrap_or(0),
            })
            .collect())
    }

    /// Room for `n` more: exactly that much for an empty history (a bulk load leaves no
    /// spare capacity), amortised growth after.
    pub(crate) fn reserve(&mut self, n: usize) {
        if self.slots.is_empty() {
            self.slots.reserve_exact(n);
            self.weights.reserve_exact(n);
        } else {
            self.slots.reserve(n);
            self.weights.reserve(n);
            if !self.ts.is_empty() {
                self.ts.reserve(n);
            }
        }
    }

    pub(crate) fn push(&mut self, it: Interaction) {
        if it.ts != 0 && self.ts.len() < self.slots.len() {
            self.ts.resize(self.slots.len(), 0);
        }
        if !self.ts.is_empty() || it.ts != 0 {
            self.ts.push(it.ts);
        }
        self.slots.push(it.slot);
        self.weights.push(it.weight);
    }

    /// Keeps the interactions whose slot passes `keep`; returns how many were dropped.
    pub(crate) fn retain_slots(&mut self, keep: impl Fn(u32) -> bool) -> usize {
        let before = self.slots.len();
        let mut w = 0;
        for r in 0..before {
            if keep(self.slots[r]) {
                self.slots[w] = self.slots[r];
                self.weights[w] = self.weights[r];
                if !self.ts.is_empty() {
                    self.ts[w] = self.ts[r];
                }
                w += 1;
            }
        }
        self.slots.truncate(w);
        self.weights.truncate(w);
        if !self.ts.is_empty() {
            self.ts.truncate(w);
        }
        before - w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_stored_once_one_is_set() {
        let it = |slot, ts| Interaction {
            slot,
            weight: 1.0,
            ts,
        };
        let mut h = History::default();
        h.push(it(1, 0));
        h.push(it(2, 0));
        assert!(h.ts.is_empty());
        h.push(it(3, 9));
        h.push(it(4, 0));
        assert_eq!(h.ts, [0, 0, 9, 0]);
        assert_eq!(h.iter().nth(2), Some(it(3, 9)));
        assert_eq!(h.retain_slots(|s| s != 1 && s != 4), 2);
        assert_eq!(h.iter().collect::<Vec<_>>(), [it(2, 0), it(3, 9)]);
        assert_eq!(h.slots(), [2, 3]);
    }
}
