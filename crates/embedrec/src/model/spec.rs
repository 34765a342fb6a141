//! What a user asks to train: the models, their hyper-parameters and defaults, their
//! validation, and the progress reported while training.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// How interaction weights become ALS confidences.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Confidence {
    /// `c = 1 + alpha * w` (Hu, Koren, Volinsky 2008).
    Linear,
    /// `c = 1 + alpha * ln(1 + w)`.
    Log,
}

/// Implicit-feedback ALS hyper-parameters. Defaults: factors chosen from the data
/// ([`AlsParams::AUTO_FACTORS`]), 15 iterations, regularization 0.01, alpha 1.0, log
/// confidence, 3 CG steps, seed 42.
///
/// The defaults are chosen to hold across domains rather than for one dataset: log
/// confidence keeps play counts of thousands from drowning everything else (and costs
/// nothing on ratings), and the number of factors follows the data's density, since too
/// many factors overfit small logs (MovieLens latest-small: NDCG@10 0.332 at 32 factors,
/// 0.305 at 64, 0.251 at 128; docs/benchmarks.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlsParams {
    /// Latent factors; [`AlsParams::AUTO_FACTORS`] (0, the default) chooses them from the
    /// data when training: four per observed interaction per user-or-item (`4 · nnz /
    /// (users + items)`), rounded down to a power of two, within 16..=128.
    pub factors: usize,
    /// Alternating sweeps over users and items.
    pub iterations: usize,
    /// L2 regularization.
    pub regularization: f32,
    /// Confidence scale.
    pub alpha: f32,
    /// Confidence function.
    pub confidence: Confidence,
    /// Conjugate-gradient steps per factor update.
    pub cg_steps: usize,
    /// Seed of the random initialisation.
    pub seed: u64,
}

impl AlsParams {
    /// `factors` value that chooses the number of factors from the data.
    pub const AUTO_FACTORS: usize = 0;

    /// These parameters with the number of factors settled for a matrix of `users` and
    /// `items` with interactions and `nnz` distinct interactions.
    pub fn resolved(&self, users: usize, items: usize, nnz: usize) -> AlsParams {
        let mut p = self.clone();
        if p.factors == Self::AUTO_FACTORS {
            let per = 4.0 * nnz as f64 / (users + items).max(1) as f64;
            let pow2 = 1usize << (per.max(1.0).log2().floor() as u32).min(10);
            p.factors = pow2.clamp(16, 128);
        }
        p
    }
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: Self::AUTO_FACTORS,
            iterations: 15,
            regularization: 0.01,
            alpha: 1.0,
            confidence: Confidence::Log,
            cg_steps: 3,
            seed: 42,
        }
    }
}

/// Similarity used by item-kNN.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum KnnWeighting {
    /// Cosine of binary co-occurrence vectors.
    Cosine,
    /// BM25-weighted co-occurrence (as implicit's `BM25Recommender`).
    Bm25 {
        /// Term-frequency saturation.
        k1: f32,
        /// Length normalisation.
        b: f32,
    },
}

/// Item-kNN hyper-parameters. Defaults: 100 neighbours, BM25 (k1 1.2, b 0.75).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnParams {
    /// Neighbours kept per item.
    pub neighbours: usize,
    /// Similarity.
    pub weighting: KnnWeighting,
}

impl Default for KnnWeighting {
    /// BM25 with k1 = 1.2, b = 0.75.
    fn default() -> Self {
        KnnWeighting::Bm25 { k1: 1.2, b: 0.75 }
    }
}

impl KnnWeighting {
    /// `"bm25"` or `"cosine"`.
    pub fn name(&self) -> &'static str {
        match self {
            KnnWeighting::Cosine => "cosine",
            KnnWeighting::Bm25 { .. } => "bm25",
        }
    }

    /// Parses `"bm25"` (default k1 and b) or `"cosine"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "bm25" => Ok(KnnWeighting::default()),
            "cosine" => Ok(KnnWeighting::Cosine),
            _ => Err(Error::invalid(
                "weighting",
                "\"bm25\" or \"cosine\"",
                format!("{name:?}"),
            )),
        }
    }
}

impl Confidence {
    /// `"linear"` or `"log"`.
    pub fn name(&self) -> &'static str {
        match self {
            Confidence::Linear => "linear",
            Confidence::Log => "log",
        }
    }

    /// Parses `"linear"` or `"log"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "linear" => Ok(Confidence::Linear),
            "log" => Ok(Confidence::Log),
            _ => Err(Error::invalid(
                "confidence",
                "\"linear\" or \"log\"",
                format!("{name:?}"),
            )),
        }
    }
}

impl Default for KnnParams {
    /// 50 neighbours, BM25 (MovieLens latest-small, NDCG@10: 0.314 at 50, 0.305 at 100,
    /// 0.311 at 20; cosine 0.281 at 50).
    fn default() -> Self {
        KnnParams {
            neighbours: 50,
            weighting: KnnWeighting::default(),
        }
    }
}

/// Largest ALS `alpha` and `regularization` accepted: with weights at most
/// [`MAX_WEIGHT`](crate::MAX_WEIGHT), confidences stay finite in f32.
const MAX_ALS_PARAM: f32 = 1e6;

/// Largest number of trained items EASE accepts: it needs about `12 * n²` bytes while
/// training (Gram matrix, Cholesky factor and inverse in f32) and `4 * n²` for the model
/// (16,384 items: 3.2 GB to train, 1.1 GB to keep).
pub const EASE_MAX_ITEMS: usize = 16_384;

/// EASE hyper-parameters (Steck 2019). Default L2 regularization 200.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EaseParams {
    /// L2 regularization λ added to the Gram matrix's diagonal.
    pub regularization: f32,
}

impl Default for EaseParams {
    fn default() -> Self {
        EaseParams {
            regularization: 200.0,
        }
    }
}

/// Which model [`Engine::fit`](crate::Engine::fit) trains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelSpec {
    /// Implicit ALS.
    Als(AlsParams),
    /// Item-kNN.
    ItemKnn(KnnParams),
    /// EASE: a dense item-item model from a closed-form ridge solve (catalogs up to
    /// [`EASE_MAX_ITEMS`] items with interactions).
    Ease(EaseParams),
    /// Most popular items (by distinct users, ties by summed weight); the floor and the
    /// cold-start fallback.
    Popularity,
}

impl ModelSpec {
    /// The model of this name with its default hyper-parameters: `"als"`, `"item_knn"`,
    /// `"ease"` or `"popularity"`. Bindings start here and override what the caller gave.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "als" => Ok(ModelSpec::Als(AlsParams::default())),
            "item_knn" => Ok(ModelSpec::ItemKnn(KnnParams::default())),
            "ease" => Ok(ModelSpec::Ease(EaseParams::default())),
            "popularity" => Ok(ModelSpec::Popularity),
            _ => Err(Error::invalid(
                "model",
                "\"als\", \"item_knn\", \"ease\" or \"popularity\"",
                format!("{name:?}"),
            )),
        }
    }

    /// Short name: `"als"`, `"item_knn"`, `"ease"`, `"popularity"`.
    pub fn name(&self) -> &'static str {
        match self {
            ModelSpec::Als(_) => "als",
            ModelSpec::ItemKnn(_) => "item_knn",
            ModelSpec::Ease(_) => "ease",
            ModelSpec::Popularity => "popularity",
        }
    }

    /// Checks every parameter (the engine does before training, the loader for a stored
    /// model).
    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            ModelSpec::Als(p) => {
                if p.factors > 1024 {
                    return Err(Error::invalid(
                        "als.factors",
                        "an integer in 1..=1024, or 0 to choose from the data",
                        p.factors,
                    ));
                }
                if p.iterations > 10_000 {
                    return Err(Error::invalid(
                        "als.iterations",
                        "at most 10000",
                        p.iterations,
                    ));
                }
                if p.cg_steps == 0 || p.cg_steps > 64 {
                    return Err(Error::invalid(
                        "als.cg_steps",
                        "an integer in 1..=64",
                        p.cg_steps,
                    ));
                }
                for (f, v) in [
                    ("als.regularization", p.regularization),
                    ("als.alpha", p.alpha),
                ] {
                    if !(0.0..=MAX_ALS_PARAM).contains(&v) {
                        return Err(Error::invalid(
                            f,
                            format!("a number in 0..={MAX_ALS_PARAM:e}"),
                            v,
                        ));
                    }
                }
            }
            ModelSpec::ItemKnn(p) => {
                if p.neighbours == 0 || p.neighbours > 10_000 {
                    return Err(Error::invalid(
                        "item_knn.neighbours",
                        "an integer in 1..=10000",
                        p.neighbours,
                    ));
                }
                if let KnnWeighting::Bm25 { k1, b } = p.weighting
                    && !(k1.is_finite() && k1 >= 0.0 && (0.0..=1.0).contains(&b))
                {
                    return Err(Error::invalid(
                        "item_knn.bm25",
                        "k1 >= 0 and b in 0..=1",
                        format!("k1 {k1}, b {b}"),
                    ));
                }
            }
            ModelSpec::Ease(p) => {
                if !(p.regularization.is_finite() && p.regularization > 0.0) {
                    return Err(Error::invalid(
                        "ease.regularization",
                        "a finite number > 0",
                        p.regularization,
                    ));
                }
            }
            ModelSpec::Popularity => {}
        }
        Ok(())
    }
}

/// Training progress passed to the callback of [`Engine::fit`](crate::Engine::fit).
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Model name.
    pub model: &'static str,
    /// Iterations done (1-based).
    pub iteration: usize,
    /// Iterations planned.
    pub total: usize,
    /// Seconds since training started.
    pub elapsed_secs: f64,
    /// Training loss after this iteration, where the model defines one (ALS).
    pub loss: Option<f64>,
}
