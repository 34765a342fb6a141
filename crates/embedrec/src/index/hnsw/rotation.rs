//! A random orthogonal transform that is fast to apply: three rounds of random sign flips
//! each followed by a Walsh–Hadamard transform, over the vector zero-padded to a power of
//! two (`x ↦ H D₃ H D₂ H D₁ x / P^{3/2}`). It keeps inner products and norms, and spreads a
//! vector's energy evenly over the components whatever axes it was concentrated on, which is
//! what one-bit codes need for their estimate to hold.

use crate::util::rng::SplitMix64;

/// Rounds of sign flips and Hadamard transforms.
const ROUNDS: usize = 3;

pub(super) struct Rotation {
    /// `ROUNDS × padded` signs (±1).
    signs: Vec<f32>,
}

impl Rotation {
    /// The padded length for `dim` components: the next power of two, at least 8 (a whole
    /// byte of sign bits).
    pub(super) fn padded(dim: usize) -> usize {
        dim.next_power_of_two().max(8)
    }

    /// The rotation of `dim`-component vectors drawn from `seed`.
    pub(super) fn new(dim: usize, seed: u64) -> Self {
        let p = Self::padded(dim);
        let mut rng = SplitMix64(seed);
        let signs = (0..ROUNDS * p)
            .map(|_| if rng.below(2) == 0 { 1.0 } else { -1.0 })
            .collect();
        Rotation { signs }
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.signs.len() * 4
    }

    /// Length of its output.
    pub(super) fn len(&self) -> usize {
        self.signs.len() / ROUNDS
    }

    /// `x` rotated into `out` (of [`Rotation::len`] values; `x` may be shorter).
    pub(super) fn apply(&self, x: &[f32], out: &mut [f32]) {
        let p = self.len();
        debug_assert!(x.len() <= p && out.len() == p);
        out[..x.len()].copy_from_slice(x);
        out[x.len()..].fill(0.0);
        for signs in self.signs.chunks_exact(p) {
            for (o, s) in out.iter_mut().zip(signs) {
                *o *= s;
            }
            hadamard(out);
        }
        let scale = (p as f32).powf(-1.5);
        for o in out.iter_mut() {
            *o *= scale;
        }
    }
}

/// The unnormalised Walsh–Hadamard transform of `v` (length a power of two), in place.
fn hadamard(v: &mut [f32]) {
    let n = v.len();
    let mut h = 1;
    while h < n {
        for block in v.chunks_exact_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (p, q) = (*x, *y);
                *x = p + q;
                *y = p - q;
            }
        }
        h *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Norms and inner products survive (up to rounding), for lengths that are and are not
    /// powers of two, and a vector on one axis comes out spread over every component.
    #[test]
    fn rotations_are_orthogonal_and_spread_energy() {
        let mut rng = SplitMix64(3);
        for dim in [1, 5, 8, 37, 64, 100, 768] {
            let r = Rotation::new(dim, 11);
            assert_eq!(r.len(), Rotation::padded(dim));
            assert!(r.len().is_power_of_two() && r.len() >= dim.max(8));
            let x: Vec<f32> = (0..dim).map(|_| rng.normal()).collect();
            let y: Vec<f32> = (0..dim).map(|_| rng.normal()).collect();
            let (mut rx, mut ry) = (vec![0.0; r.len()], vec![0.0; r.len()]);
            r.apply(&x, &mut rx);
            r.apply(&y, &mut ry);
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f32>();
            let tol = 1e-4 * dim as f32;
            assert!((dot(&rx, &rx) - dot(&x, &x)).abs() <= tol, "dim {dim}");
            assert!((dot(&rx, &ry) - dot(&x, &y)).abs() <= tol, "dim {dim}");
            let mut axis = vec![0.0f32; dim];
            axis[0] = 1.0;
            r.apply(&axis, &mut rx);
            let top = rx.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            if dim >= 64 {
                assert!(top < 0.5, "dim {dim}: {top}");
            }
        }
        // The same seed gives the same rotation.
        let (a, b) = (Rotation::new(40, 7), Rotation::new(40, 7));
        assert_eq!(a.signs, b.signs);
    }
}
