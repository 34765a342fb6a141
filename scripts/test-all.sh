#!/usr/bin/env bash
# Runs every test: Rust (core, doc tests, examples, bench smoke), Python (real wheel), Node.
# Usage: bash scripts/test-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}"

echo "== rust: fmt, clippy"
cargo fmt --all -- --check
cargo clippy -p embedrec --all-targets -- -D warnings
cargo clippy -p embedrec --no-default-features --lib -- -D warnings

echo "== rust: tests"
cargo test -p embedrec
cargo test -p embedrec --no-default-features --lib  # without the hnsw_rs reference index

echo "== rust: quickstart example (main job) and MovieLens example"
cargo run --release --example quickstart > /dev/null
cargo run --release --example movielens -- ../shared/data/movielens-latest-small > /dev/null
cargo run --release --example evaluate -- ../shared/data/movielens-latest-small --quick
cargo run --release --example index_compare -- 5000 32

echo "== rust: benches, each once"
EMBEDREC_BENCH_N=20000 cargo bench -p embedrec --bench engine -- --test

if [ -f python/pyproject.toml ]; then
  echo "== python"
  bash scripts/test-python.sh
fi
if [ -f node/package.json ]; then
  echo "== node"
  bash scripts/test-node.sh
fi
echo "== all tests passed"
