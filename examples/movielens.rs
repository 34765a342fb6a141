//! # MovieLens example
//!
//! Run with `cargo run --release -p embedrec-examples --example movielens [path/to/movielens-latest-small]`
//! (default `../shared/data/movielens-latest-small`). MovieLens is © GroupLens; see the
//! dataset's README.txt for its licence.
//!
//! Movies become items with their genres as tags and their year (from the title) as a
//! numeric attribute; every rating becomes an interaction weighted by the rating. Item vectors
//! here are a simple content embedding (a hashed genre + year encoding) so the example runs
//! without training; collaborative vectors come with `fit` (a later milestone).

use embedrec::ndarray::Array2;
use embedrec::{Engine, EngineConfig, Filter, ItemAttrs, Metric, RecommendOptions};
use std::collections::HashMap;

/// Splits one CSV line, honouring double quotes (MovieLens titles contain commas).
fn split_csv(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/movielens-latest-small".into());
    let movies_csv = match std::fs::read_to_string(format!("{dir}/movies.csv")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "MovieLens not found at {dir} ({e}); pass its directory as the first argument."
            );
            return Ok(());
        }
    };
    let ratings_csv = std::fs::read_to_string(format!("{dir}/ratings.csv"))?;

    // Movies: id, title (with year), genres separated by '|'.
    let dim = 32;
    let (mut ids, mut attrs, mut titles) = (Vec::new(), Vec::new(), HashMap::new());
    let mut rows: Vec<f32> = Vec::new();
    for line in movies_csv.lines().skip(1) {
        let f = split_csv(line);
        if f.len() < 3 {
            continue;
        }
        let genres: Vec<String> = f[2]
            .split('|')
            .filter(|g| *g != "(no genres listed)")
            .map(String::from)
            .collect();
        let year = f[1]
            .trim()
            .rsplit('(')
            .next()
            .and_then(|y| y.trim_end_matches(')').parse::<f64>().ok());
        let mut v = vec![0.0f32; dim];
        for g in &genres {
            // Hashed genre features: each genre switches on two components.
            let h = g.bytes().fold(1469598103934665603u64, |h, b| {
                (h ^ b as u64).wrapping_mul(1099511628211)
            });
            v[(h % dim as u64) as usize] += 1.0;
            v[((h >> 20) % dim as u64) as usize] += 0.5;
        }
        if let Some(y) = year {
            v[dim - 1] += ((y - 1990.0) / 30.0) as f32;
        }
        v[0] += 0.05; // never the zero vector
        rows.extend_from_slice(&v);
        let mut a = ItemAttrs::tags(genres);
        if let Some(y) = year {
            a = a.number("year", y);
        }
        titles.insert(f[0].clone(), f[1].clone());
        ids.push(f[0].clone());
        attrs.push(a);
    }
    let vectors = Array2::from_shape_vec((ids.len(), dim), rows)?;
    let engine = Engine::new(EngineConfig::new(dim).with_metric(Metric::Cosine))?;
    let t = std::time::Instant::now();
    engine.upsert_items(&ids, vectors.view(), Some(&attrs))?;
    println!("{} movies indexed in {:.2?}", engine.len(), t.elapsed());

    // Ratings: userId, movieId, rating, timestamp.
    let (mut users, mut items, mut weights, mut times) = (vec![], vec![], vec![], vec![]);
    for line in ratings_csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() == 4 && engine.contains(f[1]) {
            users.push(format!("user-{}", f[0]));
            items.push(f[1].to_string());
            weights.push(f[2].parse::<f32>()?);
            times.push(f[3].parse::<i64>()?);
        }
    }
    engine.add_interactions(&users, &items, Some(&weights), Some(&times))?;
    println!(
        "{} ratings by {} users",
        engine.stats().interactions,
        engine.stats().users
    );

    let toy_story = "1";
    println!("\nlike {}:", titles[toy_story]);
    for h in engine.similar(toy_story, 5, None)? {
        println!("  {:.3}  {}", h.score, titles[&*h.id]);
    }
    let opts = RecommendOptions::with_filter(Filter::new().tags_any(["Comedy"]).range(
        "year",
        Some(2000.0),
        None,
    ));
    println!("\nfor user-1, comedies since 2000 (unseen):");
    for h in engine.recommend("user-1", 5, &opts)? {
        println!("  {:.3}  {}", h.score, titles[&*h.id]);
    }
    let everyone: Vec<String> = (1..=610).map(|u| format!("user-{u}")).collect();
    let t = std::time::Instant::now();
    let recs = engine.recommend_batch(&everyone, 10, &RecommendOptions::default())?;
    println!(
        "\nrecommend_batch for {} users in {:.2?}",
        recs.len(),
        t.elapsed()
    );
    Ok(())
}
