"""The service examples (examples/services): the FastAPI app under uvicorn with 2 workers and
the Node http server, each started and queried over loopback HTTP — /recommend, /similar and
/metrics (parsed as a Prometheus scrape; with a shared metrics directory, one scrape carries
every worker's series). Skipped without fastapi/uvicorn or node."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "examples" / "services"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_up(proc, port, limit=120):
    t0 = time.time()
    while time.time() - t0 < limit:
        if proc.poll() is not None:
            raise AssertionError(f"the service exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            if get(port, "/metrics")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("the service did not answer in time")


def check(port, user, item, recommended_key):
    status, body = get(port, f"/recommend/{user}?k=5")
    assert status == 200, body
    items = json.loads(body)["items"]
    assert len(items) == 5 and all({"id", "score", "tags"} <= set(h) for h in items)
    assert all(h["tags"][0].startswith("genre") for h in items)
    status, body = get(port, f"/recommend/{user}?k=3&genre=genre2")
    assert status == 200 and len(json.loads(body)["items"]) == 3
    status, body = get(port, f"/similar/{item}?k=4")
    assert status == 200 and len(json.loads(body)["items"]) == 4
    assert get(port, "/recommend/nobody")[0] == 404
    assert get(port, "/similar/nothing")[0] == 404
    assert get(port, f"/recommend/{user}?k=0")[0] in (400, 422)
    status, text = get(port, "/metrics")
    assert status == 200 and "embedrec_op_duration_seconds_bucket" in text
    parser = pytest.importorskip("prometheus_client.parser")
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    assert all("pid" in s.labels for s in families["embedrec_items"].samples)
    # With a shared metrics directory, one scrape carries both workers' series.
    t0 = time.time()
    while True:
        text = get(port, "/metrics")[1]
        families = {f.name: f for f in parser.text_string_to_metric_families(text)}
        pids = {s.labels["pid"] for s in families["embedrec_items"].samples}
        if len(pids) == 2 or time.time() - t0 > 60:
            break
        time.sleep(0.5)
    assert len(pids) == 2, text
    helps = [line for line in text.splitlines() if line.startswith("# HELP")]
    assert len(helps) == len(set(helps))


def run(cmd, port, env, cwd):
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_up(proc, port)
        return proc
    except BaseException:
        os.killpg(proc.pid, 9)
        raise


def test_the_fastapi_service_answers_over_http():
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    port = free_port()
    metrics = tempfile.mkdtemp(prefix="embedrec-metrics-")
    proc = run([sys.executable, "-m", "uvicorn", "service:app", "--workers", "2", "--port", str(port), "--log-level", "warning"],
               port, {"EMBEDREC_METRICS_DIR": metrics}, SERVICES)
    try:
        check(port, 7, "song3", "items")
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_the_node_service_answers_over_http():
    node = shutil.which("node")
    package = ROOT / "node"
    if node is None or not list(package.glob("*.node")):
        pytest.skip("node or the built Node module is missing")
    modules = Path(tempfile.mkdtemp()) / "node_modules"
    modules.mkdir()
    (modules / "embedrec").symlink_to(package)
    port = free_port()
    metrics = tempfile.mkdtemp(prefix="embedrec-metrics-")
    env = {"PORT": str(port), "WORKERS": "2", "NODE_PATH": str(modules), "EMBEDREC_METRICS_DIR": metrics}
    proc = run([node, "service.js"], port, env, SERVICES)
    try:
        check(port, 7, "song3", "items")
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
