//! Recommendations for many users at once with a factor model: user factors times item
//! factors in tiles (a matrix product per tile, `matrixmultiply`'s SIMD kernels through
//! ndarray), each row's top k kept in a bounded heap as the tiles stream by. Tiles of
//! [`USER_BLOCK`] users run in parallel on the engine's pool; a tile's scores
//! ([`USER_BLOCK`] × [`ITEM_CHUNK`] floats, 4 MiB) stay in cache while they are ranked.

use super::{Engine, Hit, RecommendOptions, State};
use crate::Result;
use crate::index::TopK;
use crate::model::{AlsModel, aggregate};
use crate::store::filter::CompiledFilter;
use ndarray::{Array2, ArrayView2, s};
use rayon::prelude::*;

/// Users scored together in one tile.
pub(super) const USER_BLOCK: usize = 128;
/// Items scored per tile.
const ITEM_CHUNK: usize = 8192;
/// Below this many users a batch goes query by query (through the index and the cache).
pub(super) const MIN_USERS: usize = 64;
/// Largest catalog scored in blocks: past it a graph walk per user is cheaper than scoring
/// every item (measured in docs/benchmarks.md).
pub(super) const MAX_ITEMS: usize = 400_000;

impl Engine {
    /// `recommend` for each user (stored user indexes, all known) with the ALS model `m`, in
    /// blocks; users the model cannot place (no factors, nothing to fold in) get `None`.
    pub(super) fn recommend_blocked(
        &self,
        st: &State,
        m: &AlsModel,
        users: &[u32],
        k: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<Option<Vec<Hit>>>> {
        let base = match &opts.filter {
            Some(f) => f.compile(&st.cat, "opts.filter")?,
            None => CompiledFilter::default(),
        };
        let f = m.params.factors;
        let y = &m.item_factors[..m.item_factors.len().min(st.cat.slots() * f)];
        let y = ArrayView2::from_shape((y.len() / f, f), y).expect("rows of f factors");
        let tiles = Tiles {
            st,
            m,
            y,
            k,
            exclude_seen: opts.exclude_seen,
            base: &base,
        };
        let blocks: Vec<Vec<Ranked>> = self.pool.install(|| {
            users
                .par_chunks(USER_BLOCK)
                .map(|block| tiles.rank(block))
                .collect()
        })?;
        Ok(blocks
            .into_iter()
            .flatten()
            .map(|r| r.map(|hits| self.to_hits(st, hits)))
            .collect())
    }
}

/// A user's top k, or `None` when the model cannot place the user.
type Ranked = Option<Vec<(u32, f32)>>;

/// What every tile of one batch shares.
struct Tiles<'a> {
    st: &'a State,
    m: &'a AlsModel,
    y: ArrayView2<'a, f32>,
    k: usize,
    exclude_seen: bool,
    base: &'a CompiledFilter,
}

impl Tiles<'_> {
    /// The top k of each user of `block` (stored user indexes), in block order.
    fn rank(&self, block: &[u32]) -> Vec<Ranked> {
        let Tiles {
            st,
            m,
            y,
            k,
            exclude_seen,
            base,
        } = *self;
        let f = m.params.factors;
        let histories = st.users.histories();
        // The block's user factors (stored, else folded in from the history).
        let mut placed = Vec::with_capacity(block.len());
        let mut rows = Vec::with_capacity(block.len() * f);
        for &u in block {
            let x = match m.user_factor(u) {
                Some(x) => Some(x.to_vec()),
                None => m.fold_in(&aggregate(
                    histories[u as usize]
                        .iter()
                        .filter(|i| st.cat.is_live(i.slot))
                        .map(|i| (i.slot, i.weight)),
                )),
            };
            if let Some(x) = x {
                rows.extend_from_slice(&x);
                placed.push(u);
            }
        }
        let xs = Array2::from_shape_vec((placed.len(), f), rows).expect("rows of f factors");
        let filters: Vec<CompiledFilter> = placed
            .iter()
            .map(|&u| {
                let mut cf = base.clone();
                if exclude_seen {
                    cf.exclude(histories[u as usize].iter().map(|i| i.slot));
                }
                cf
            })
            .collect();
        let mut heaps: Vec<TopK> = placed.iter().map(|_| TopK::new(k)).collect();
        let n = y.nrows();
        let mut scores = Array2::<f32>::zeros((placed.len(), ITEM_CHUNK.min(n)));
        for lo in (0..n).step_by(ITEM_CHUNK) {
            let hi = (lo + ITEM_CHUNK).min(n);
            let mut tile = scores.slice_mut(s![.., ..hi - lo]);
            ndarray::linalg::general_mat_mul(
                1.0,
                &xs,
                &y.slice(s![lo..hi, ..]).t(),
                0.0,
                &mut tile,
            );
            for (r, heap) in heaps.iter_mut().enumerate() {
                let cf = &filters[r];
                for (j, &sc) in tile.row(r).iter().enumerate() {
                    let slot = (lo + j) as u32;
                    if sc.is_nan() || !heap.would_keep(slot, sc) || !cf.matches(&st.cat, slot) {
                        continue;
                    }
                    heap.offer(slot, sc);
                }
            }
        }
        let mut ranked = heaps.into_iter().map(TopK::into_sorted);
        let mut next = placed.iter().peekable();
        block
            .iter()
            .map(|u| {
                if next.peek() == Some(&u) {
                    next.next();
                    ranked.next()
                } else {
                    None
                }
            })
            .collect()
    }
}
