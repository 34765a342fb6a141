"""The .pyi stubs must match the compiled module (mypy's stubtest fails on drift)."""

import shutil
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
    from pathlib import Path

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
