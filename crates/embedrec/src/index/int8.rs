//! Int8 codes of the index vectors, for graph traversal with a quarter of the memory traffic.
//!
//! Each dimension is quantised linearly between its minimum and maximum over the vectors
//! the codes were fitted on (values outside are clamped; a rebuild refits). Traversal scores
//! use the codes against the f32 query (asymmetric distance); the candidates a search keeps
//! are then re-scored exactly from the catalog's f32 vectors, so returned scores are exact.

use crate::Metric;
use crate::catalog::Catalog;
use crate::distance::kernels;

#[derive(Debug, Clone, Default)]
pub(crate) struct Int8Codes {
    dim: usize,
    min: Vec<f32>,
    scale: Vec<f32>,
    codes: Vec<u8>,
}

impl Int8Codes {
    /// Fits the per-dimension ranges on these slots' index vectors.
    pub(crate) fn fit(cat: &Catalog, slots: &[u32]) -> Self {
        let dim = cat.dim;
        let (mut lo, mut hi) = (vec![f32::INFINITY; dim], vec![f32::NEG_INFINITY; dim]);
        for &s in slots {
            for (d, x) in cat.index_vector_ref(s).iter().enumerate() {
                lo[d] = lo[d].min(*x);
                hi[d] = hi[d].max(*x);
            }
        }
        let mut scale = vec![0.0f32; dim];
        for d in 0..dim {
            if !(lo[d].is_finite() && hi[d].is_finite()) {
                (lo[d], hi[d]) = (0.0, 0.0);
            }
            scale[d] = (hi[d] - lo[d]) / 255.0;
        }
        Int8Codes {
            dim,
            min: lo,
            scale,
            codes: Vec::new(),
        }
    }

    /// True once ranges were fitted.
    pub(crate) fn is_fitted(&self) -> bool {
        self.dim > 0
    }

    /// Encodes one slot (growing the code block to `slots` rows).
    pub(crate) fn encode(&mut self, cat: &Catalog, slot: u32, slots: usize) {
        if self.codes.len() < slots * self.dim {
            self.codes.resize(slots * self.dim, 0);
        }
        let v = cat.index_vector_ref(slot);
        let row = &mut self.codes[slot as usize * self.dim..(slot as usize + 1) * self.dim];
        for (d, c) in row.iter_mut().enumerate() {
            let s = self.scale[d];
            *c = if s > 0.0 {
                ((v[d] - self.min[d]) / s).round().clamp(0.0, 255.0) as u8
            } else {
                0
            };
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.codes.capacity() + self.dim * 8
    }

    /// An approximate scorer for one prepared query (higher is better, like the catalog's).
    pub(crate) fn scorer<'a>(&'a self, metric: Metric, q: &[f32]) -> impl Fn(u32) -> f32 + 'a {
        let k = kernels();
        let (u8_dot, u8_l2) = (k.u8_dot, k.u8_l2);
        let l2 = metric == Metric::L2;
        // Dot/cosine: q.(min + s*c) = q.min + (q*s).c. L2: |(q - min) - s*c|^2.
        let (w, offset): (Vec<f32>, f32) = if l2 {
            (q.iter().zip(&self.min).map(|(a, m)| a - m).collect(), 0.0)
        } else {
            (
                q.iter().zip(&self.scale).map(|(a, s)| a * s).collect(),
                q.iter().zip(&self.min).map(|(a, m)| a * m).sum(),
            )
        };
        let (dim, codes, scale) = (self.dim, &self.codes[..], &self.scale[..]);
        move |slot: u32| {
            let s = slot as usize * dim;
            let c = codes.get(s..s + dim).unwrap_or(&[]);
            if l2 {
                -u8_l2(&w, scale, c)
            } else {
                offset + u8_dot(&w, c)
            }
        }
    }
}
