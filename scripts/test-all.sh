#!/usr/bin/env bash
# Runs every test: the layer check, Rust (core, shared host layer, doc tests, examples, bench
# smoke), Python (real wheel), Node. One build per profile: clippy's check, the test (dev)
# build, and one release build shared by the examples, the benches, maturin and napi
# (.cargo/config.toml makes every tool build for the host into the same folder).
# Usage: bash scripts/test-all.sh
# EMBEDREC_PRUNE_BUILDS=1 (set by .ci/run) deletes each profile's build once nothing later
# needs it, so the disk holds one build at a time.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/prune.sh

echo "== layers: no import cycle, no upward use"
python3 scripts/check_layers.py

echo "== rust: fmt, clippy"
cargo fmt --all -- --check
cargo clippy --workspace --exclude embedrec-python --exclude embedrec-node --all-targets -- -D warnings
cargo clippy -p embedrec-python -p embedrec-node -- -D warnings  # cdylibs: no test targets
# The opt-in hnsw_rs reference index and the build without EASE training must keep compiling.
cargo clippy -p embedrec --features hnsw-rs --lib -- -D warnings
cargo clippy -p embedrec --no-default-features --lib -- -D warnings
prune debug

echo "== rust: tests (core, shared host layer, doc tests)"
cargo test
prune debug

# Release builds from here on link against glibc 2.17 (the packages' floor), all with the
# same linker so that they share one build.
. scripts/zig-linker.sh

echo "== rust: quickstart example (main job) and MovieLens examples"
cargo run --release -p embedrec-examples --example quickstart > /dev/null
cargo run --release -p embedrec-examples --example movielens -- ../shared/data/movielens-latest-small > /dev/null
cargo run --release -p embedrec-examples --features ease --example evaluate -- ../shared/data/movielens-latest-small --quick
cargo run --release -p embedrec-examples --example index_compare -- 5000 32

echo "== rust: benches, each once"
EMBEDREC_BENCH_N=20000 cargo bench -p embedrec --bench engine -- --test
EMBEDREC_BENCH_MB=32 cargo bench -p embedrec --bench memory -- --test

if [ -f node/package.json ]; then
  echo "== node"
  bash scripts/test-node.sh
fi
if [ -f python/pyproject.toml ]; then
  echo "== python (the release build is pruned once the wheel is installed)"
  bash scripts/test-python.sh
fi
prune release
# The sanitizer builds of the fuzz targets link with the system's toolchain.
unset CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER
echo "== fuzz: the loader, sequences of operations, journals and read-only opens, 12 s each"
bash scripts/fuzz.sh 12
echo "== disk: $(df -h . | tail -1)"
echo "== all tests passed"
