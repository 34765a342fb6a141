//! # embedrec quickstart: a synthetic music service
//!
//! Run with `cargo run --release -p embedrec-examples --example quickstart`. No download needed.
//!
//! We will:
//! 1. build a catalog of 5,000 tracks in 12 genres, each with a 32-dimensional vector,
//!    a genre tag, a release year and a popularity number;
//! 2. record plays for 300 listeners, each with a taste for two genres;
//! 3. ask for "more like this" tracks, personal recommendations with a filter,
//!    a batch of recommendations, and show the cache and latency statistics;
//! 4. save the engine to one file and load it back.

use embedrec::ndarray::Array2;
use embedrec::{Engine, EngineConfig, Filter, ItemAttrs, Metric, RecommendOptions};

const GENRES: [&str; 12] = [
    "rock",
    "jazz",
    "pop",
    "techno",
    "folk",
    "hip-hop",
    "classical",
    "metal",
    "soul",
    "reggae",
    "ambient",
    "punk",
];

use embedrec::SplitMix64 as Rng;

/// The genre tag of a track id, for printing.
fn genre<'a>(attrs: &'a [ItemAttrs], id: &str) -> &'a str {
    let t: usize = id["track-".len()..].parse().unwrap_or(0);
    attrs[t].tags[0].as_str()
}

/// Genres of a listening history with their share of the plays, largest first.
fn genre_mix(played: &[(String, f32)]) -> String {
    let total: f32 = played.iter().map(|p| p.1).sum();
    let mut by: Vec<(String, f32)> = Vec::new();
    for (g, w) in played {
        match by.iter_mut().find(|(x, _)| x == g) {
            Some(e) => e.1 += w,
            None => by.push((g.clone(), *w)),
        }
    }
    by.sort_by(|a, b| b.1.total_cmp(&a.1));
    by.iter()
        .map(|(g, w)| format!("{g} {:.0}%", 100.0 * w / total))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A duration given in microseconds, in the unit a person reads.
fn duration(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1_000.0 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

fn main() -> Result<(), embedrec::Error> {
    let (tracks, dim, listeners) = (5_000usize, 32usize, 300usize);
    let mut rng = Rng(2026);

    // ## 1. The catalog
    // Each genre has a centre in "audio feature space"; a track sits near its genre's centre.
    let centres: Vec<Vec<f32>> = GENRES
        .iter()
        .map(|_| (0..dim).map(|_| rng.normal()).collect())
        .collect();
    let mut vectors = Array2::<f32>::zeros((tracks, dim));
    let mut ids = Vec::with_capacity(tracks);
    let mut attrs = Vec::with_capacity(tracks);
    for t in 0..tracks {
        let g = rng.below(GENRES.len());
        for d in 0..dim {
            vectors[[t, d]] = centres[g][d] + 0.7 * rng.normal();
        }
        ids.push(format!("track-{t:05}"));
        let year = 1960 + rng.below(66);
        let popularity = (rng.uniform() * rng.uniform() * 100.0).round();
        attrs.push(
            ItemAttrs::tags([GENRES[g]])
                .number("year", year as f64)
                .number("popularity", popularity as f64),
        );
    }
    let genre_of = |id: &str| genre(&attrs, id).to_string();

    // The engine: cosine similarity over an HNSW index, a result cache with a 60 s TTL.
    let config = EngineConfig::new(dim)
        .with_metric(Metric::Cosine)
        .with_hnsw(16, 200, 64)
        .with_cache(10_000, 32 << 20, Some(60.0))
        .with_recency_half_life(Some(30.0 * 86_400.0));
    let engine = Engine::new(config)?;
    engine.upsert_items(&ids, vectors.view(), Some(&attrs))?;
    println!(
        "catalog: {} tracks, {} dimensions, index {}",
        engine.len(),
        dim,
        engine.stats().index
    );

    // ## 2. Plays
    // Each listener likes two genres and plays 20-60 tracks from them over the last 90 days.
    let by_genre: Vec<Vec<usize>> = (0..GENRES.len())
        .map(|g| {
            (0..tracks)
                .filter(|&t| attrs[t].tags[0] == GENRES[g])
                .collect()
        })
        .collect();
    let (mut users, mut items, mut weights, mut times) = (vec![], vec![], vec![], vec![]);
    for u in 0..listeners {
        let taste = [rng.below(GENRES.len()), rng.below(GENRES.len())];
        for _ in 0..(20 + rng.below(41)) {
            let pool = &by_genre[taste[rng.below(2)]];
            users.push(format!("listener-{u:03}"));
            items.push(ids[pool[rng.below(pool.len())]].clone());
            weights.push(1.0 + rng.below(5) as f32); // play count
            times.push(1_700_000_000 + rng.below(90 * 86_400) as i64);
        }
    }
    engine.add_interactions(&users, &items, Some(&weights), Some(&times))?;
    println!("plays: {} by {} listeners", items.len(), listeners);

    // ## 3. Queries
    // "More like this": never returns the seed track itself.
    let seed = &ids[42];
    println!("\nmore like {seed} ({}):", genre_of(seed));
    for h in engine.similar(seed, 5, None)? {
        println!("  {}  {:<9} score {:.3}", h.id, genre_of(&h.id), h.score);
    }

    // "For you", restricted to tracks released since 2000 with popularity >= 20.
    // Already-played tracks are excluded by default. First, what this listener played:
    let user = "listener-007";
    let mut played: Vec<(String, f32)> = Vec::new();
    for ((u, i), w) in users.iter().zip(&items).zip(&weights) {
        if u == user {
            played.push((genre_of(i), *w));
        }
    }
    println!(
        "\n{user} played {} tracks: {}",
        played.len(),
        genre_mix(&played)
    );
    let opts = RecommendOptions::with_filter(
        Filter::new()
            .range("year", Some(2000.0), None)
            .range("popularity", Some(20.0), None),
    );
    println!("for {user} (released since 2000, popularity >= 20, not yet played):");
    for h in engine.recommend(user, 5, &opts)? {
        println!("  {}  {:<9} score {:.3}", h.id, genre_of(&h.id), h.score);
    }

    // An anonymous session: two tracks played in this browser tab, no account.
    let session = [ids[10].as_str(), ids[11].as_str()];
    println!(
        "\nanonymous session {} ({}) + {} ({}):",
        session[0],
        genre_of(session[0]),
        session[1],
        genre_of(session[1])
    );
    for h in engine.recommend_for_items(&session, None, 3, &RecommendOptions::default())? {
        println!("  {}  {:<9} score {:.3}", h.id, genre_of(&h.id), h.score);
    }

    // A batch for every listener, on the engine's own thread pool; then the same again,
    // which the cache answers.
    let everyone: Vec<String> = (0..listeners).map(|u| format!("listener-{u:03}")).collect();
    for _ in 0..2 {
        let recs = engine.recommend_batch(&everyone, 10, &RecommendOptions::default())?;
        assert_eq!(recs.len(), listeners);
    }
    // Some single lookups to fill the latency window.
    for id in ids.iter().take(500) {
        engine.similar(id, 10, None)?;
    }

    let s = engine.stats();
    println!(
        "\ncache: {} hits, {} misses, hit rate {:.1}%, {} entries, {} KiB",
        s.cache.hits,
        s.cache.misses,
        100.0 * s.cache.hit_rate,
        s.cache.entries,
        s.cache.bytes / 1024
    );
    // Percentiles mean something over many calls; a handful of calls shows the mean.
    println!("latency                  calls      p50      p95      p99");
    for op in s.ops.iter().filter(|o| o.count > 0) {
        if op.count >= 100 {
            println!(
                "  {:<20} {:>7} {:>8} {:>8} {:>8}",
                op.name,
                op.count,
                duration(op.p50_us),
                duration(op.p95_us),
                duration(op.p99_us)
            );
        } else {
            println!(
                "  {:<20} {:>7} {:>8}  (mean of {} call{})",
                op.name,
                op.count,
                duration(op.mean_us),
                op.count,
                if op.count == 1 { "" } else { "s" }
            );
        }
    }

    // ## 4. One file on disk
    let path = std::env::temp_dir().join(format!(
        "embedrec-quickstart-{}.embedrec",
        std::process::id()
    ));
    engine.save(&path)?;
    let loaded = Engine::load(&path)?;
    println!(
        "\nsaved and reloaded {} ({} KiB): {} tracks, {} listeners",
        path.display(),
        std::fs::metadata(&path)
            .map(|m| m.len() / 1024)
            .unwrap_or(0),
        loaded.len(),
        loaded.stats().users
    );
    std::fs::remove_file(&path).ok();
    Ok(())
}
