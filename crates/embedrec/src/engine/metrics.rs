//! Per-operation counters, latency percentiles and histograms, plus Prometheus text
//! exposition (one engine, or several under an `engine` label).

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Operations the engine measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Search,
    Similar,
    Recommend,
    RecommendForItems,
    SearchBatch,
    RecommendBatch,
    Upsert,
    Remove,
    AddInteractions,
    Save,
    Load,
}

pub(crate) const OPS: [Op; 11] = [
    Op::Search,
    Op::Similar,
    Op::Recommend,
    Op::RecommendForItems,
    Op::SearchBatch,
    Op::RecommendBatch,
    Op::Upsert,
    Op::Remove,
    Op::AddInteractions,
    Op::Save,
    Op::Load,
];

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Search => "search",
            Op::Similar => "similar",
            Op::Recommend => "recommend",
            Op::RecommendForItems => "recommend_for_items",
            Op::SearchBatch => "search_batch",
            Op::RecommendBatch => "recommend_batch",
            Op::Upsert => "upsert_items",
            Op::Remove => "remove_items",
            Op::AddInteractions => "add_interactions",
            Op::Save => "save",
            Op::Load => "load",
        }
    }
}

/// Latencies kept per operation for percentiles (a sliding window of the most recent calls).
const WINDOW: usize = 4096;

/// Upper bounds (seconds) of the latency histograms' buckets: 10 µs to 10 s, fixed, so that
/// histograms of many engines and processes add up.
pub const LATENCY_BUCKETS: [f64; 16] = [
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.5, 1.0,
    10.0,
];

#[derive(Default)]
struct OpCounters {
    count: AtomicU64,
    errors: AtomicU64,
    total_ns: AtomicU64,
    window: Mutex<Window>,
    /// Calls per bucket of [`LATENCY_BUCKETS`] (not cumulative); slower ones only count.
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
}

/// One operation's latency histogram: cumulative counts per bucket of [`LATENCY_BUCKETS`],
/// the sum of latencies (seconds) and the number of calls.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Histogram {
    pub(crate) cumulative: Vec<u64>,
    pub(crate) sum_secs: f64,
    pub(crate) count: u64,
}

#[derive(Default)]
struct Window {
    samples: Vec<u64>,
    next: usize,
}

/// Statistics of one operation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpStats {
    /// Operation name (`search`, `recommend`, ...).
    pub name: String,
    /// Calls since the engine was created or loaded.
    pub count: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// Mean latency in microseconds over all calls.
    pub mean_us: f64,
    /// Median latency (µs) over the most recent 4,096 calls.
    pub p50_us: f64,
    /// 95th percentile latency (µs) over the most recent 4,096 calls.
    pub p95_us: f64,
    /// 99th percentile latency (µs) over the most recent 4,096 calls.
    pub p99_us: f64,
}

pub(crate) struct Metrics {
    ops: Vec<OpCounters>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics {
            ops: OPS.iter().map(|_| OpCounters::default()).collect(),
        }
    }

    pub(crate) fn record(&self, op: Op, elapsed: Duration, ok: bool) {
        let c = &self.ops[op as usize];
        let ns = elapsed.as_nanos().min(u64::MAX as u128) as u64;
        c.count.fetch_add(1, Relaxed);
        c.total_ns.fetch_add(ns, Relaxed);
        let secs = ns as f64 / 1e9;
        if let Some(b) = LATENCY_BUCKETS.iter().position(|&le| secs <= le) {
            c.buckets[b].fetch_add(1, Relaxed);
        }
        if !ok {
            c.errors.fetch_add(1, Relaxed);
        }
        let mut w = c.window.lock();
        if w.samples.len() < WINDOW {
            w.samples.push(ns);
        } else {
            let i = w.next;
            w.samples[i] = ns;
        }
        w.next = (w.next + 1) % WINDOW;
    }

    /// Every operation's latency histogram, in [`OPS`] order.
    pub(crate) fn histograms(&self) -> Vec<Histogram> {
        OPS.iter()
            .map(|&op| {
                let c = &self.ops[op as usize];
                let mut acc = 0;
                Histogram {
                    cumulative: (c.buckets.iter())
                        .map(|b| {
                            acc += b.load(Relaxed);
                            acc
                        })
                        .collect(),
                    sum_secs: c.total_ns.load(Relaxed) as f64 / 1e9,
                    count: c.count.load(Relaxed),
                }
            })
            .collect()
    }

    pub(crate) fn snapshot(&self) -> Vec<OpStats> {
        OPS.iter()
            .map(|&op| {
                let c = &self.ops[op as usize];
                let count = c.count.load(Relaxed);
                let mut s = c.window.lock().samples.clone();
                s.sort_unstable();
                let pct = |p: f64| -> f64 {
                    if s.is_empty() {
                        return 0.0;
                    }
                    // nearest-rank percentile
                    let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
                    s[rank - 1] as f64 / 1_000.0
                };
                OpStats {
                    name: op.name().to_string(),
                    count,
                    errors: c.errors.load(Relaxed),
                    mean_us: if count == 0 {
                        0.0
                    } else {
                        c.total_ns.load(Relaxed) as f64 / count as f64 / 1_000.0
                    },
                    p50_us: pct(0.50),
                    p95_us: pct(0.95),
                    p99_us: pct(0.99),
                }
            })
            .collect()
    }
}
