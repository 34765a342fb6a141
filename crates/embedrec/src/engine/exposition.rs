//! Prometheus text exposition of one engine or of several in one process: every family's
//! `HELP` and `TYPE` once, one sample per engine labelled `engine="<name>"` (and
//! `pid="<process id>"` on request, so that the workers of a multi-process server give
//! distinct series instead of one series that seems to reset), latencies as histograms
//! with fixed buckets ([`LATENCY_BUCKETS`]), which add up across engines and processes.

use super::metrics::{Histogram, LATENCY_BUCKETS};
use super::{Engine, EngineStats};
use crate::{Error, Result};
use std::fmt::Write;

/// How [`metrics_text`] labels the samples.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpositionOptions {
    /// Adds `pid="<this process's id>"` to every sample.
    pub pid: bool,
}

impl ExpositionOptions {
    /// With or without the `pid` label.
    pub fn with_pid(mut self, pid: bool) -> Self {
        self.pid = pid;
        self
    }
}

/// The Prometheus text exposition (format 0.0.4) of several engines, each named by its
/// `engine` label. Names must be distinct and non-empty ([`Error::InvalidInput`] otherwise).
pub fn metrics_text(engines: &[(&str, &Engine)], options: &ExpositionOptions) -> Result<String> {
    let mut seen = std::collections::HashSet::new();
    for (i, (name, _)) in engines.iter().enumerate() {
        if name.is_empty() || !seen.insert(*name) {
            return Err(Error::invalid(
                format!("engines[{i}]"),
                "a distinct, non-empty engine name",
                format!("{name:?}"),
            ));
        }
    }
    let pid = options.pid.then(std::process::id);
    let parts: Vec<Part> = engines
        .iter()
        .map(|(name, e)| Part {
            labels: labels(Some(name), pid),
            stats: e.stats(),
            histograms: e.metrics.histograms(),
        })
        .collect();
    Ok(render(&parts))
}

/// One engine's samples: its label set (`{…}` or empty), stats and histograms.
pub(crate) struct Part {
    labels: String,
    stats: EngineStats,
    histograms: Vec<Histogram>,
}

impl Engine {
    /// Prometheus text exposition of [`Engine::stats`]: gauges, counters, and a latency
    /// histogram per operation. For several engines in one process (and a `pid` label),
    /// see [`metrics_text`].
    pub fn metrics_text(&self) -> String {
        render(&[Part {
            labels: String::new(),
            stats: self.stats(),
            histograms: self.metrics.histograms(),
        }])
    }
}

/// `{engine="…",pid="…"}` (label values escaped), or empty without labels.
fn labels(engine: Option<&str>, pid: Option<u32>) -> String {
    let mut l = Vec::new();
    if let Some(e) = engine {
        let v = e
            .replace('\\', r"\\")
            .replace('"', "\\\"")
            .replace('\n', r"\n");
        l.push(format!("engine=\"{v}\""));
    }
    if let Some(p) = pid {
        l.push(format!("pid=\"{p}\""));
    }
    if l.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", l.join(","))
    }
}

/// Adds `extra` (`key="value"` pairs) to a label set.
fn with(labels: &str, extra: &str) -> String {
    match labels.strip_suffix('}') {
        Some(open) => format!("{open},{extra}}}"),
        None => format!("{{{extra}}}"),
    }
}

type Sample = fn(&EngineStats) -> f64;

/// Gauges and counters: name, help, type, value.
const FAMILIES: [(&str, &str, &str, Sample); 16] = [
    ("items", "Live items in the catalog.", "gauge", |s| {
        s.items as f64
    }),
    ("users", "Users with stored interactions.", "gauge", |s| {
        s.users as f64
    }),
    ("interactions", "Stored interactions.", "gauge", |s| {
        s.interactions as f64
    }),
    (
        "epoch",
        "Version of the engine's data: mutations since creation or load.",
        "gauge",
        |s| s.epoch as f64,
    ),
    (
        "index_memory_bytes",
        "Approximate bytes used by the index.",
        "gauge",
        |s| s.index_memory_bytes as f64,
    ),
    (
        "vector_memory_bytes",
        "Bytes used by catalog vectors.",
        "gauge",
        |s| s.vector_memory_bytes as f64,
    ),
    (
        "mapped_bytes",
        "Bytes of the memory-mapped file a read-only engine serves from.",
        "gauge",
        |s| s.mapped_bytes as f64,
    ),
    (
        "threads",
        "Threads of the engine's query pool.",
        "gauge",
        |s| s.threads as f64,
    ),
    ("cache_hits_total", "Result cache hits.", "counter", |s| {
        s.cache.hits as f64
    }),
    (
        "cache_misses_total",
        "Result cache misses.",
        "counter",
        |s| s.cache.misses as f64,
    ),
    (
        "cache_evictions_total",
        "Entries evicted by the entry or byte bound.",
        "counter",
        |s| s.cache.evictions as f64,
    ),
    (
        "cache_expirations_total",
        "Entries dropped by the TTL.",
        "counter",
        |s| s.cache.expirations as f64,
    ),
    (
        "cache_invalidations_total",
        "Cache clears caused by mutations.",
        "counter",
        |s| s.cache.invalidations as f64,
    ),
    (
        "cache_entries",
        "Entries held by the result cache.",
        "gauge",
        |s| s.cache.entries as f64,
    ),
    (
        "cache_bytes",
        "Bytes held by the result cache.",
        "gauge",
        |s| s.cache.bytes as f64,
    ),
    ("cache_hit_rate", "Hits divided by lookups.", "gauge", |s| {
        s.cache.hit_rate
    }),
];

fn render(parts: &[Part]) -> String {
    let mut o = String::new();
    for (name, help, kind, value) in FAMILIES {
        let _ = writeln!(
            o,
            "# HELP embedrec_{name} {help}\n# TYPE embedrec_{name} {kind}"
        );
        for p in parts {
            let _ = writeln!(o, "embedrec_{name}{} {}", p.labels, value(&p.stats));
        }
    }
    let name = "embedrec_op_duration_seconds";
    let _ = writeln!(o, "# HELP {name} Latency of each call, by operation.");
    let _ = writeln!(o, "# TYPE {name} histogram");
    for p in parts {
        for (op, h) in p.stats.ops.iter().zip(&p.histograms) {
            let l = with(&p.labels, &format!("op=\"{}\"", op.name));
            for (le, n) in LATENCY_BUCKETS.iter().zip(&h.cumulative) {
                let _ = writeln!(o, "{name}_bucket{} {n}", with(&l, &format!("le=\"{le}\"")));
            }
            let _ = writeln!(o, "{name}_bucket{} {}", with(&l, "le=\"+Inf\""), h.count);
            let _ = writeln!(o, "{name}_sum{l} {}", h.sum_secs);
            let _ = writeln!(o, "{name}_count{l} {}", h.count);
        }
    }
    let name = "embedrec_op_errors_total";
    let _ = writeln!(
        o,
        "# HELP {name} Calls that returned an error, by operation."
    );
    let _ = writeln!(o, "# TYPE {name} counter");
    for p in parts {
        for op in &p.stats.ops {
            let l = with(&p.labels, &format!("op=\"{}\"", op.name));
            let _ = writeln!(o, "{name}{l} {}", op.errors);
        }
    }
    o
}

/// Several expositions (for example one per worker process, each with its `pid` label) as
/// one: every family's `HELP` and `TYPE` once, followed by the samples of every part in the
/// order given. Families keep the order in which they first appear. Lines that belong to no
/// family (samples before any `# HELP`/`# TYPE`, anything that is not a sample) are dropped.
pub fn merge_expositions<S: AsRef<str>>(parts: &[S]) -> String {
    struct Family<'a> {
        help: Option<&'a str>,
        kind: Option<&'a str>,
        samples: Vec<&'a str>,
    }
    let mut order: Vec<&str> = Vec::new();
    let mut families: std::collections::HashMap<&str, Family<'_>> = Default::default();
    for part in parts {
        let mut current: Option<&str> = None;
        for line in part.as_ref().lines() {
            let meta = (line.strip_prefix("# HELP ").map(|r| (r, true)))
                .or_else(|| line.strip_prefix("# TYPE ").map(|r| (r, false)));
            if let Some((rest, is_help)) = meta {
                let name = rest.split(' ').next().unwrap_or_default();
                if name.is_empty() {
                    current = None;
                    continue;
                }
                let f = families.entry(name).or_insert_with(|| {
                    order.push(name);
                    Family {
                        help: None,
                        kind: None,
                        samples: Vec::new(),
                    }
                });
                let slot = if is_help { &mut f.help } else { &mut f.kind };
                slot.get_or_insert(line);
                current = Some(name);
            } else if let Some(name) = current
                && !line.is_empty()
                && !line.starts_with('#')
                && line.starts_with(name)
                && let Some(f) = families.get_mut(name)
            {
                f.samples.push(line);
            }
        }
    }
    let mut o = String::new();
    for name in order {
        let f = &families[name];
        for line in f.help.iter().chain(&f.kind).chain(&f.samples) {
            o.push_str(line);
            o.push('\n');
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_expositions_name_each_family_once() {
        let a = "# HELP x_total X.\n# TYPE x_total counter\nx_total{pid=\"1\"} 3\n\
                 # HELP h H.\n# TYPE h histogram\nh_bucket{pid=\"1\",le=\"+Inf\"} 1\nh_sum{pid=\"1\"} 0.5\n";
        let b = "# HELP x_total X.\n# TYPE x_total counter\nx_total{pid=\"2\"} 4\n\
                 stray 1\n# HELP y Y.\n# TYPE y gauge\ny{pid=\"2\"} 7\n";
        let m = merge_expositions(&[a, "orphan 1\n", b]);
        assert_eq!(
            m,
            "# HELP x_total X.\n# TYPE x_total counter\nx_total{pid=\"1\"} 3\nx_total{pid=\"2\"} 4\n\
             # HELP h H.\n# TYPE h histogram\nh_bucket{pid=\"1\",le=\"+Inf\"} 1\nh_sum{pid=\"1\"} 0.5\n\
             # HELP y Y.\n# TYPE y gauge\ny{pid=\"2\"} 7\n"
        );
        assert_eq!(merge_expositions::<&str>(&[]), "");
    }
}
