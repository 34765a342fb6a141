#!/usr/bin/env bash
# Builds the napi module, checks index.d.ts did not drift, type-checks a TS usage file, runs
# node --test, then packs the npm packages and installs them as a user would.
set -euo pipefail
cd "$(dirname "$0")/../node"
# The binary the npm package ships: linked against glibc 2.17.
. ../scripts/zig-linker.sh
npm install --no-save --no-audit --no-fund
npm run build
# The committed declarations must equal what the napi CLI generates from the Rust code.
git diff --exit-code -- index.d.ts index.js || { echo "index.d.ts/index.js drifted from the Rust code: commit the regenerated files"; exit 1; }
npm run typecheck
npm test
# The npm packages (main + linux-x64-gnu binary) installed into a fresh project without Rust.
bash ../scripts/test-packages.sh node
