//! # Evaluation on MovieLens: embedrec's models against the protocol
//!
//! `cargo run --release -p embedrec-examples --features ease --example evaluate [movielens dir] [--quick]`
//!
//! Protocol: every rating is an interaction with weight = rating; for users with at least 5
//! interactions, 20 % (rounded, at least 1) chosen at random (seed 42) go to test. Metrics at
//! k = 10 exclude items seen in training. Hyper-parameters were chosen on a validation split
//! carved the same way from train (seed 7) — `--tune` reruns that search — never on test.
//! Models run single-threaded so fit times compare with the CPU seconds of other libraries.
//! Content vectors are one-hot genres (they only matter for cold-start items here).
//! MovieLens is © GroupLens; see its README.txt for the licence.

use embedrec::eval::{Interactions, holdout_split};
use embedrec::ndarray::Array2;
use embedrec::{
    AlsParams, Confidence, EaseParams, Engine, EngineConfig, IndexKind, ItemAttrs, KnnParams,
    KnnWeighting, ModelSpec,
};
use std::time::Instant;

fn split_csv(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Builds an engine holding all movies (genre one-hot vectors) and `train`'s interactions.
fn engine(
    movies: &[(String, Vec<String>)],
    genres: &[String],
    train: &Interactions,
) -> Result<Engine, embedrec::Error> {
    let dim = genres.len() + 1;
    let mut v = Array2::<f32>::zeros((movies.len(), dim));
    for (i, (_, gs)) in movies.iter().enumerate() {
        v[[i, dim - 1]] = 1.0;
        for g in gs {
            v[[i, genres.iter().position(|x| x == g).unwrap()]] = 1.0;
        }
    }
    let cfg = EngineConfig::new(dim)
        .with_index(IndexKind::Exact)
        .with_threads(1)
        .with_cache(0, 0, None);
    let e = Engine::new(cfg)?;
    let ids: Vec<&str> = movies.iter().map(|m| m.0.as_str()).collect();
    let attrs: Vec<ItemAttrs> = movies
        .iter()
        .map(|m| ItemAttrs::tags(m.1.clone()))
        .collect();
    e.upsert_items(&ids, v.view(), Some(&attrs))?;
    e.add_interactions(
        &train.users,
        &train.items,
        Some(&train.weights),
        Some(&train.timestamps),
    )?;
    Ok(e)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let tune = args.iter().any(|a| a == "--tune");
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or("../shared/data/movielens-latest-small".into());
    let Ok(movies_csv) = std::fs::read_to_string(format!("{dir}/movies.csv")) else {
        eprintln!("MovieLens not found at {dir}: skipping the evaluation.");
        return Ok(());
    };
    let mut movies = Vec::new();
    let mut genres: Vec<String> = Vec::new();
    for line in movies_csv.lines().skip(1) {
        let f = split_csv(line);
        let gs: Vec<String> = f[2].split('|').map(String::from).collect();
        for g in &gs {
            if !genres.contains(g) {
                genres.push(g.clone());
            }
        }
        movies.push((f[0].clone(), gs));
    }
    let mut all = Interactions::default();
    for line in std::fs::read_to_string(format!("{dir}/ratings.csv"))?
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = line.split(',').collect();
        all.users.push(f[0].to_string());
        all.items.push(f[1].to_string());
        all.weights.push(f[2].parse()?);
        all.timestamps.push(f[3].parse()?);
    }
    let (train, test) = holdout_split(&all, 0.2, 5, 42)?;

    let (factors, iterations) = if quick { (32, 8) } else { (64, 15) };
    // --quick: small ALS and no EASE, for CI smoke runs.
    let als = |reg: f32, alpha: f32, conf: Confidence| {
        ModelSpec::Als(AlsParams {
            factors,
            iterations,
            regularization: reg,
            alpha,
            confidence: conf,
            ..Default::default()
        })
    };
    if tune {
        let (tr, val) = holdout_split(&train, 0.2, 5, 7)?;
        let e = engine(&movies, &genres, &tr)?;
        for conf in [Confidence::Linear, Confidence::Log] {
            for alpha in [0.5f32, 1.0, 2.0, 5.0] {
                for reg in [0.01f32, 0.1, 1.0] {
                    e.fit(&als(reg, alpha, conf), None)?;
                    let m = e.evaluate(&val, 10)?;
                    println!(
                        "validation als {conf:?} alpha {alpha} reg {reg}: ndcg {:.4}",
                        m.ndcg
                    );
                }
            }
        }
        for n in [50usize, 100, 200, 400] {
            for w in [
                KnnWeighting::Cosine,
                KnnWeighting::Bm25 { k1: 1.2, b: 0.75 },
            ] {
                e.fit(
                    &ModelSpec::ItemKnn(KnnParams {
                        neighbours: n,
                        weighting: w,
                    }),
                    None,
                )?;
                println!(
                    "validation item_knn {w:?} n {n}: ndcg {:.4}",
                    e.evaluate(&val, 10)?.ndcg
                );
            }
        }
        for reg in [100.0f32, 200.0, 400.0, 800.0] {
            e.fit(
                &ModelSpec::Ease(EaseParams {
                    regularization: reg,
                }),
                None,
            )?;
            println!(
                "validation ease lambda {reg}: ndcg {:.4}",
                e.evaluate(&val, 10)?.ndcg
            );
        }
        return Ok(());
    }

    let e = engine(&movies, &genres, &train)?;
    println!(
        "train {} / test {} interactions; {} users, {} items",
        train.len(),
        test.len(),
        e.stats().users,
        e.len()
    );
    println!(
        "| model | NDCG@10 | Recall@10 | Precision@10 | MAP@10 | HitRate@10 | Coverage@10 | fit s (1 thread) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let models: Vec<(&str, Option<ModelSpec>)> = vec![
        ("content profile (no model)", None),
        ("popularity", Some(ModelSpec::Popularity)),
        (
            "item-kNN cosine",
            Some(ModelSpec::ItemKnn(KnnParams {
                neighbours: 100,
                weighting: KnnWeighting::Cosine,
            })),
        ),
        (
            "item-kNN BM25 (defaults)",
            Some(ModelSpec::ItemKnn(KnnParams::default())),
        ),
        (
            "ALS (defaults: linear, α 1, λ 0.01)",
            Some(als(0.01, 1.0, Confidence::Linear)),
        ),
        (
            "ALS (validation-chosen: log, α 1, λ 0.1)",
            Some(als(0.1, 1.0, Confidence::Log)),
        ),
        (
            "EASE (validation-chosen λ 200)",
            Some(ModelSpec::Ease(EaseParams {
                regularization: 200.0,
            })),
        ),
    ];
    for (name, spec) in models {
        if quick && matches!(spec, Some(ModelSpec::Ease(_))) {
            continue;
        }
        let t = Instant::now();
        match &spec {
            Some(s) => {
                e.fit(s, None)?;
            }
            None => e.clear_model()?,
        }
        let secs = t.elapsed().as_secs_f64();
        let m = e.evaluate(&test, 10)?;
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} |",
            m.ndcg, m.recall, m.precision, m.map, m.hit_rate, m.coverage, secs
        );
    }
    Ok(())
}
