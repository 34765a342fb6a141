"""Prometheus exposition through Python: the same scenarios as tests/engine.rs — latencies as
histograms, several engines in one exposition under an engine label (HELP and TYPE once per
family), a pid label for multi-process servers — and the output parsed by prometheus_client,
as a scraper reads it."""

import os

import numpy as np
import pytest

import embedrec


def engine(n):
    e = embedrec.Engine(2)
    e.upsert_items([f"t{i}" for i in range(n)], np.random.default_rng(n).normal(size=(n, 2)).astype(np.float32))
    return e


def test_two_engines_scrape_cleanly():
    a, b = engine(30), engine(40)
    for _ in range(3):
        a.similar("t1", k=2)
    text = embedrec.metrics_text({"catalog": a, "sessions": b}, pid=True)
    helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP")]
    assert len(helps) == len(set(helps))
    for line in text.splitlines():
        if line.startswith("# TYPE") and line.endswith("counter"):
            assert line.split()[2].endswith("_total"), line
    parser = pytest.importorskip("prometheus_client.parser")
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    items = {s.labels["engine"]: s.value for s in families["embedrec_items"].samples}
    assert items == {"catalog": 30, "sessions": 40}
    assert all(s.labels["pid"] == str(os.getpid()) for s in families["embedrec_items"].samples)
    hist = families["embedrec_op_duration_seconds"]
    assert hist.type == "histogram"
    count = [s.value for s in hist.samples if s.name.endswith("_count") and s.labels["engine"] == "catalog" and s.labels["op"] == "similar"]
    inf = [s.value for s in hist.samples if s.labels.get("le") == "+Inf" and s.labels["engine"] == "catalog" and s.labels["op"] == "similar"]
    assert count == [3] and inf == [3]
    assert 'embedrec_op_duration_seconds_bucket{op="similar",le="+Inf"} 3' in a.metrics_text()


def test_bad_arguments_name_themselves():
    a = engine(3)
    with pytest.raises(embedrec.InvalidInputError, match=r"engines\[0\]"):
        embedrec.metrics_text({"": a})
    with pytest.raises(embedrec.InvalidInputError, match=r"engines\[\"x\"\]"):
        embedrec.metrics_text({"x": "not an engine"})
    with pytest.raises(embedrec.InvalidInputError, match="pids"):
        embedrec.metrics_text({"x": a}, pids=True)
