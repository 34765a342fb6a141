#!/usr/bin/env bash
# Builds the packages users install and installs them the way users do, with no Rust
# toolchain on PATH:
#   python  the wheel (manylinux2014 through zig's linker, stripped) into a fresh
#           venv; the sdist's contents are checked (it carries the workspace and LICENSE files);
#   node    `npm pack` of the main package and of its linux-x64-gnu binary package, installed
#           into a fresh npm project; require and import both exercised.
# Prints every package's size. Usage: bash scripts/test-packages.sh python|node
# The wheel goes to dist/ first (scripts/test-python.sh builds and tests that same wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV="${EMBEDREC_VENV:-.venv}"
DIST="$ROOT/dist"
mkdir -p "$DIST"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# PATH without cargo, rustc or rustup: what a user without Rust has.
NO_RUST_PATH=$(echo "$PATH" | tr ':' '\n' | grep -v -e '\.cargo' -e rustup -e "$ROOT/$VENV" | paste -sd: -)
size() { numfmt --to=si --suffix=B "$(stat -c %s "$1")"; }
# grep without -q reads its whole input (with -q, pipefail sees the writer's SIGPIPE).
has() { grep -x -- "$1" > /dev/null; }

case "${1:-}" in
python-build)
  # The wheel users install: glibc >= 2.17 (manylinux2014), abi3 (one wheel for CPython >= 3.9).
  . scripts/zig-linker.sh
  rm -f "$DIST"/embedrec-*.whl "$DIST"/embedrec-*.tar.gz
  (cd python && PATH="$ROOT/$VENV/bin:$PATH" maturin build --release \
    --compatibility manylinux2014 --strip -o "$DIST" --quiet)
  (cd python && PATH="$ROOT/$VENV/bin:$PATH" maturin sdist -o "$DIST" > /dev/null)
  ;;
python)
  wheel=$(ls "$DIST"/embedrec-*-manylinux*.whl)
  sdist=$(ls "$DIST"/embedrec-*.tar.gz)
  unzip -Z1 "$wheel" | has 'embedrec-0.1.0.dist-info/licenses/LICENSE-MIT'
  unzip -Z1 "$wheel" | has 'embedrec-0.1.0.dist-info/licenses/LICENSE-APACHE'
  for f in LICENSE-MIT LICENSE-APACHE Cargo.toml Cargo.lock crates/embedrec/Cargo.toml bindings/python/Cargo.toml; do
    tar tzf "$sdist" | has "embedrec-0.1.0/$f" || { echo "sdist lacks $f"; exit 1; }
  done
  # The binary needs nothing newer than glibc 2.17 and does not carry the hnsw_rs reference index.
  (cd "$WORK" && unzip -q "$wheel" 'embedrec/_native*.so')
  so=$(ls "$WORK"/embedrec/_native*.so)
  newest=$(objdump -T "$so" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
  [ "$(printf '%s\nGLIBC_2.17\n' "$newest" | sort -V | tail -1)" = GLIBC_2.17 ] || { echo "needs $newest"; exit 1; }
  [ "$(strings "$so" | grep -c -e anndists -e env_logger)" = 0 ] || { echo "the wheel carries hnsw_rs"; exit 1; }
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install -q "$wheel"
  (cd "$WORK" && env PATH="$NO_RUST_PATH" "$WORK/venv/bin/python" "$ROOT/scripts/smoke/smoke.py")
  echo "== python packages: wheel $(size "$wheel") ($(basename "$wheel"); .so $(size "$so"), newest symbol $newest), sdist $(size "$sdist")"
  ;;
node)
  # The platform package takes the binary (built here against glibc 2.17), stripped of
  # symbols; the main package has only JavaScript, declarations and the licences.
  plat=node/npm/linux-x64-gnu
  . scripts/zig-linker.sh
  (cd node && npm run build > /dev/null)
  cp node/embedrec.linux-x64-gnu.node LICENSE-MIT LICENSE-APACHE "$plat/"
  strip --strip-unneeded "$plat/embedrec.linux-x64-gnu.node"
  rm -f "$DIST"/embedrec-*.tgz
  (cd node && npm pack --silent --pack-destination "$DIST" > /dev/null)
  (cd "$plat" && npm pack --silent --pack-destination "$DIST" > /dev/null)
  rm -f "$plat/embedrec.linux-x64-gnu.node" "$plat/LICENSE-MIT" "$plat/LICENSE-APACHE"
  main="$DIST/embedrec-0.1.0.tgz"
  bin="$DIST/embedrec-linux-x64-gnu-0.1.0.tgz"
  tar tzf "$main" | has 'package/LICENSE-MIT'
  [ "$(tar tzf "$main" | grep -c '\.node$')" = 0 ] || { echo "the main package carries a binary"; exit 1; }
  tar tzf "$bin" | has 'package/embedrec.linux-x64-gnu.node'
  tar tzf "$bin" | has 'package/LICENSE-APACHE'
  mkdir "$WORK/app"
  cp scripts/smoke/smoke.cjs scripts/smoke/smoke.mjs "$WORK/app/"
  (cd "$WORK/app" && npm init -y > /dev/null \
    && env PATH="$NO_RUST_PATH" npm install --no-audit --no-fund --silent "$main" "$bin" \
    && env PATH="$NO_RUST_PATH" node smoke.cjs && env PATH="$NO_RUST_PATH" node smoke.mjs)
  # Without its binary package (optional dependencies omitted), require names the cause.
  mkdir "$WORK/bare"
  (cd "$WORK/bare" && npm init -y > /dev/null \
    && npm install --no-audit --no-fund --silent --omit=optional "$main" \
    && node -e "try { require('embedrec'); process.exit(1) } catch (e) { if (!/Prebuilt binaries exist for linux-x64-gnu/.test(e.message)) throw e }")
  # Like the wheel, the binary needs nothing newer than glibc 2.17.
  newest=$(objdump -T node/embedrec.linux-x64-gnu.node | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
  [ "$(printf '%s\nGLIBC_2.17\n' "$newest" | sort -V | tail -1)" = GLIBC_2.17 ] || { echo "needs $newest"; exit 1; }
  echo "== node packages: embedrec $(size "$main"), embedrec-linux-x64-gnu $(size "$bin") (newest symbol $newest)"
  ;;
*)
  echo "usage: $0 python-build|python|node"; exit 2 ;;
esac
