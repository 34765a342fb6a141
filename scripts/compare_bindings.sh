#!/usr/bin/env bash
# Per-call overhead and recommend_batch throughput of Rust, Python and Node on the same saved
# engines, in one run (needs the Python venv and the Node module built by the test scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
d=$(mktemp -d)
.venv/bin/python python/benchmarks/compare.py make "$d"
cargo run -q --release -p embedrec-examples --example compare_bindings -- "$d/small.embedrec" "$d/big.embedrec"
.venv/bin/python python/benchmarks/compare.py run "$d"
node node/bench/compare.js "$d"
rm -rf "$d"
