//! The machine's ceiling for a graph walk over f32 rows: scoring rows read in random order
//! from an array much larger than the caches, the next rows prefetched while one is scored
//! (as the native graph's walk does). A walk that scores `r` rows per query cannot answer
//! more than `1 / (r · time per row)` queries per second on one thread, whatever its code;
//! the same with two threads scoring at once bounds a 2-thread batch search.
//!
//! Rows are sized as the native graph's f32 rows: a level-0 list of 32 links (128 bytes)
//! before a 64-d or a 768-d vector. The array is 320 MiB (set EMBEDREC_BENCH_MB to change
//! it). `cargo bench -p embedrec --bench memory` runs it (criterion prints bytes per second;
//! the time of one iteration over 4,096 rows); `-- --test` runs it once (CI smoke).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use embedrec::SplitMix64;
use std::hint::black_box;

/// Bytes of link list ahead of each vector (32 links of 4 bytes).
const LINK_BYTES: usize = 128;
/// Rows scored per iteration.
const READS: usize = 4096;
/// Length of the random order the iterations go through in turn (each iteration scores the
/// next rows, so none finds the previous one's rows in cache).
const ORDER: usize = 1 << 20;
/// Rows requested ahead of the one being scored: about 4 KiB in flight, at least 2 rows.
fn ahead(row_bytes: usize) -> usize {
    (4096 / row_bytes).max(2)
}

fn array_bytes() -> usize {
    std::env::var("EMBEDREC_BENCH_MB")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(320)
        << 20
}

/// Asks the CPU to load `bytes` from `p` into L1 (a no-op off x86_64).
fn prefetch(p: *const f32, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    for line in 0..bytes.div_ceil(64) {
        // SAFETY: a prefetch is a hint; it never faults, whatever the address.
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>().wrapping_add(64 * line));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, bytes);
}

/// Scores `READS` rows in the order `order[start..]`, each row's load requested `ahead`
/// rows before it is scored.
fn score_rows(data: &[f32], order: &[usize], start: usize, row: usize, query: &[f32]) -> f32 {
    let (dim, ahead) = (query.len(), ahead(row * 4));
    let mut sum = 0.0;
    for i in start..start + READS {
        prefetch(data[order[i + ahead] * row..].as_ptr(), row * 4);
        let at = order[i] * row + LINK_BYTES / 4;
        sum += embedrec::dot(query, &data[at..at + dim]);
    }
    sum
}

fn random_rows(c: &mut Criterion) {
    let mut g = c.benchmark_group("random_rows");
    for dim in [64usize, 768] {
        let row = LINK_BYTES / 4 + dim;
        let rows = array_bytes() / (row * 4);
        let data: Vec<f32> = (0..rows * row).map(|i| (i % 13) as f32 * 0.1).collect();
        let mut rng = SplitMix64(7);
        let query: Vec<f32> = (0..dim).map(|_| rng.normal()).collect();
        let order: Vec<usize> = (0..ORDER + READS + ahead(row * 4))
            .map(|_| rng.next_u64() as usize % rows)
            .collect();
        // One thread, then two at once (as a 2-thread batch search): each scores its own
        // rows, both share the memory's bandwidth. Each thread walks its own part of the
        // order, the next `READS` rows per iteration, so none finds earlier rows in cache.
        for threads in [1usize, 2] {
            g.throughput(Throughput::Bytes((threads * READS * row * 4) as u64));
            let id = BenchmarkId::new("score", format!("{dim}-d rows, {threads} thread(s)"));
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let t = std::time::Instant::now();
                    std::thread::scope(|s| {
                        for k in 0..threads {
                            let (data, order, query) = (&data, &order, &query);
                            s.spawn(move || {
                                let mut start = k * ORDER / threads;
                                for _ in 0..iters {
                                    black_box(score_rows(data, order, start, row, query));
                                    start = (start + READS) % ORDER;
                                }
                            });
                        }
                    });
                    t.elapsed()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, random_rows);
criterion_main!(benches);
