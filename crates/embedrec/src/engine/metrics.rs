//! Per-operation counters and latency percentiles, plus Prometheus text exposition.

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

#[derive(Default)]
struct OpCounters {
    count: AtomicU64,
    errors: AtomicU64,
    total_ns: AtomicU64,
    window: Mutex<Window>,
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

/// Renders stats in the Prometheus text format.
pub(crate) fn prometheus(s: &crate::EngineStats) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let family = |o: &mut String, name: &str, help: &str, kind: &str, v: f64| {
        let _ = writeln!(
            o,
            "# HELP embedrec_{name} {help}\n# TYPE embedrec_{name} {kind}\nembedrec_{name} {v}"
        );
    };
    family(
        &mut o,
        "items",
        "Live items in the catalog.",
        "gauge",
        s.items as f64,
    );
    family(
        &mut o,
        "users",
        "Users with stored interactions.",
        "gauge",
        s.users as f64,
    );
    family(
        &mut o,
        "interactions",
        "Stored interactions.",
        "gauge",
        s.interactions as f64,
    );
    family(
        &mut o,
        "epoch",
        "Mutations applied since creation or load.",
        "counter",
        s.epoch as f64,
    );
    family(
        &mut o,
        "index_memory_bytes",
        "Approximate bytes used by the index.",
        "gauge",
        s.index_memory_bytes as f64,
    );
    family(
        &mut o,
        "vector_memory_bytes",
        "Bytes used by catalog vectors.",
        "gauge",
        s.vector_memory_bytes as f64,
    );
    family(
        &mut o,
        "mapped_bytes",
        "Bytes of the memory-mapped file a read-only engine serves from.",
        "gauge",
        s.mapped_bytes as f64,
    );
    let c = &s.cache;
    family(
        &mut o,
        "cache_hits_total",
        "Result cache hits.",
        "counter",
        c.hits as f64,
    );
    family(
        &mut o,
        "cache_misses_total",
        "Result cache misses.",
        "counter",
        c.misses as f64,
    );
    family(
        &mut o,
        "cache_evictions_total",
        "Entries evicted by the entry or byte bound.",
        "counter",
        c.evictions as f64,
    );
    family(
        &mut o,
        "cache_expirations_total",
        "Entries dropped by the TTL.",
        "counter",
        c.expirations as f64,
    );
    family(
        &mut o,
        "cache_invalidations_total",
        "Cache clears caused by mutations.",
        "counter",
        c.invalidations as f64,
    );
    family(
        &mut o,
        "cache_entries",
        "Entries held by the result cache.",
        "gauge",
        c.entries as f64,
    );
    family(
        &mut o,
        "cache_bytes",
        "Bytes held by the result cache.",
        "gauge",
        c.bytes as f64,
    );
    family(
        &mut o,
        "cache_hit_rate",
        "Hits divided by lookups.",
        "gauge",
        c.hit_rate,
    );
    let _ = writeln!(
        o,
        "# HELP embedrec_op_duration_seconds Latency per operation (quantiles over the last 4096 calls)."
    );
    let _ = writeln!(o, "# TYPE embedrec_op_duration_seconds summary");
    for op in &s.ops {
        for (q, v) in [("0.5", op.p50_us), ("0.95", op.p95_us), ("0.99", op.p99_us)] {
            let _ = writeln!(
                o,
                "embedrec_op_duration_seconds{{op=\"{}\",quantile=\"{q}\"}} {}",
                op.name,
                v / 1e6
            );
        }
        let _ = writeln!(
            o,
            "embedrec_op_duration_seconds_sum{{op=\"{}\"}} {}",
            op.name,
            op.mean_us * op.count as f64 / 1e6
        );
        let _ = writeln!(
            o,
            "embedrec_op_duration_seconds_count{{op=\"{}\"}} {}",
            op.name, op.count
        );
    }
    let _ = writeln!(
        o,
        "# HELP embedrec_op_errors_total Calls that returned an error."
    );
    let _ = writeln!(o, "# TYPE embedrec_op_errors_total counter");
    for op in &s.ops {
        let _ = writeln!(
            o,
            "embedrec_op_errors_total{{op=\"{}\"}} {}",
            op.name, op.errors
        );
    }
    o
}
