#!/usr/bin/env bash
# Builds the wheel users install, checks it installs and runs without Rust, then runs pytest on it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${EMBEDREC_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade "maturin>=1.16,<2" "pytest>=8" "numpy>=1.21" "mypy>=1.10" "tqdm>=4.60"
# The wheel users install (manylinux2014, linked by zig against glibc 2.17) is the one tested.
bash scripts/test-packages.sh python-build
"$VENV/bin/pip" install -q --force-reinstall --no-deps dist/embedrec-*-manylinux*.whl
. scripts/prune.sh
prune release  # nothing below builds Rust
# The wheel in a fresh venv with no Rust on PATH (and the sdist's contents).
bash scripts/test-packages.sh python
# The Spark, Ray and Dask helpers' tests (pyspark runs on the machine's Java 17; pyspark does not
# support pandas 3 yet), the pandas, scipy and typed-usage tests, and the service examples.
"$VENV/bin/pip" install -q "pyspark>=4,<5" "pandas>=2,<3" "pandas-stubs>=2,<3" "pyarrow>=15" \
  "ray[data]>=2.40,<3" "dask[dataframe]>=2024.1" "scipy>=1.10" "prometheus_client>=0.20" \
  "fastapi>=0.110" "uvicorn[standard]>=0.29"
# Run from the repository root so the installed wheel, not python/, is imported.
"$VENV/bin/pytest" -q python/tests
# Smoke run of the hnswlib comparison (benches/compare_hnswlib.py) on a tiny dataset.
"$VENV/bin/pip" install -q "hnswlib==0.8.0" "matplotlib>=3.7"
"$VENV/bin/python" benches/compare_hnswlib.py --smoke --libs hnswlib,native,native_i8store > /dev/null
# Smoke run of the model comparison (benches/compare_models.py) against implicit and hnswlib.
"$VENV/bin/pip" install -q "implicit>=0.7,<0.8" "scipy>=1.10" "threadpoolctl>=3"
"$VENV/bin/python" benches/compare_models.py --smoke > /dev/null
