"""The .pyi stubs must match the compiled module (mypy's stubtest fails on drift)."""

import shutil
from pathlib import Path
import subprocess
import sys

import pytest


def test_stubtest_finds_no_drift():
    pytest.importorskip("mypy")
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "embedrec._native", "--ignore-missing-stub"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_help_reads_well():
    import embedrec

    doc = embedrec.Engine.__doc__ or ""
    assert "Args:" in doc and "metric" in doc
    assert "Raises:" in (embedrec.Engine.upsert_items.__doc__ or "")
    assert shutil.which  # keep import used


def test_typed_usage_passes_mypy_strict_and_runs():
    """numpy arrays, pandas columns and DataFrames, datetime64 timestamps: accepted at run
    time and by the stubs under mypy --strict."""
    import importlib.metadata

    pytest.importorskip("mypy")
    pytest.importorskip("pandas")
    try:
        importlib.metadata.version("pandas-stubs")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("pandas-stubs is not installed (CI installs it)")

    usage = Path(__file__).with_name("typed_usage.py")
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(usage)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([sys.executable, str(usage)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_python_modules_pass_mypy_strict():
    """The package's own Python (registry, Spark, Ray and Dask helpers) type-checks."""
    pytest.importorskip("mypy")
    package = Path(__file__).resolve().parents[1] / "embedrec"
    modules = [str(package / f) for f in ["__init__.py", "_registry.py", "_batch.py", "spark.py", "ray.py", "dask.py"]]
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports", *modules],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
