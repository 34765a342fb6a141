#!/usr/bin/env bash
# Coverage-guided fuzzing of the core with libFuzzer (cargo-fuzz): the loader (`load`: any
# bytes to Engine::from_bytes), sequences of operations (`operations`) and journals replayed
# by Engine::open (`journal`) and files opened read-only, memory-mapped (`read_only`). Seeds for the
# loader are valid files of every section kind and storage, written by the seed generator.
# Usage: bash scripts/fuzz.sh SECONDS_PER_TARGET   (CI runs it briefly on every submission)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz --locked --quiet
# cargo-fuzz passes sanitizer flags that stable rustc accepts only with this switch.
export RUSTC_BOOTSTRAP=1
corpus=fuzz/corpus
mkdir -p "$corpus/load" "$corpus/operations" "$corpus/journal" "$corpus/read_only"
cargo run -q --release --manifest-path fuzz/Cargo.toml --bin seeds -- "$corpus/load"
# The read-only target starts from the loader's seeds (the same files).
cp -n "$corpus/load"/* "$corpus/read_only"/ 2>/dev/null || true
for target in load operations journal read_only; do
  echo "== fuzz $target for ${secs}s"
  log=$(mktemp)
  # -detect_leaks=0: LeakSanitizer reports glibc's bookkeeping of thread-local destructors
  # (__cxa_thread_atexit_impl) for the loader's second thread; memory is bounded by
  # -rss_limit_mb instead.
  if ! cargo fuzz run "$target" "$corpus/$target" -- -max_total_time="$secs" \
      -rss_limit_mb=4096 -max_len=262144 -detect_leaks=0 > "$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz target $target failed: the input is under fuzz/artifacts/$target/"
    exit 1
  fi
  grep -E "^#[0-9]+ +DONE|^Done" "$log" || tail -3 "$log"
  rm -f "$log"
done
