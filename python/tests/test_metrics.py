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


WORKER = """
import sys, numpy as np, embedrec
e = embedrec.Engine(2)
e.upsert_items([f"t{i}" for i in range(20)], np.random.default_rng(1).normal(size=(20, 2)).astype(np.float32))
for _ in range(int(sys.argv[2])):
    e.similar("t1", k=2)
embedrec.write_worker_metrics(sys.argv[1], {"catalog": e})
print("written", flush=True)
sys.stdin.readline()
"""


def test_workers_of_a_server_scrape_as_one(tmp_path):
    """Two worker processes write their metrics to a shared directory; one scrape gathers
    both, each family's HELP/TYPE once; an exited worker's series go away."""
    import subprocess
    import sys

    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for n in (3, 5)
    ]
    try:
        for w in workers:
            assert w.stdout.readline().strip() == "written"
        local = engine(10)
        embedrec.write_worker_metrics(tmp_path, {"catalog": local})
        text = embedrec.gather_worker_metrics(tmp_path)
        helps = [line for line in text.splitlines() if line.startswith("# HELP")]
        assert len(helps) == len(set(helps))
        parser = pytest.importorskip("prometheus_client.parser")
        counts = {}
        for family in parser.text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "embedrec_op_duration_seconds_count" and s.labels["op"] == "similar":
                    counts[int(s.labels["pid"])] = s.value
        assert counts == {workers[0].pid: 3, workers[1].pid: 5, os.getpid(): 0}
        pids = {line.split('pid="')[1].split('"')[0] for line in text.splitlines() if line.startswith("embedrec_items{")}
        assert pids == {str(workers[0].pid), str(workers[1].pid), str(os.getpid())}
        # A worker that exits is gone from the next scrape (its file is removed).
        workers[0].communicate("\n", timeout=30)
        text = embedrec.gather_worker_metrics(tmp_path)
        assert f'pid="{workers[0].pid}"' not in text and f'pid="{workers[1].pid}"' in text
        embedrec.forget_worker_metrics(tmp_path, os.getpid())
        assert f'pid="{os.getpid()}"' not in embedrec.gather_worker_metrics(tmp_path)
        with pytest.raises(embedrec.InvalidInputError, match="pid"):
            embedrec.forget_worker_metrics(tmp_path, -1)
        with pytest.raises(embedrec.EmbedrecIOError):
            embedrec.gather_worker_metrics(tmp_path / "missing")
    finally:
        for w in workers:
            if w.poll() is None:
                w.communicate("\n", timeout=30)
