"""Durable mode through Python: the same scenarios as tests/durable.rs — writes survive a
reopen without save, a torn journal tail loses only the torn write, one writer at a time,
and a writer process killed with SIGKILL loses no acknowledged write."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import embedrec


def test_writes_survive_a_reopen_without_save(tmp_path):
    path = tmp_path / "e.embedrec"
    rng = np.random.default_rng(2)
    v = rng.normal(size=(50, 4)).astype(np.float32)
    ids = [f"t{i}" for i in range(50)]
    with embedrec.Engine.open(path, dim=4, threads=2, sync="grouped", sync_interval_ms=5) as e:
        assert e.durable
        e.upsert_items(ids, v, tags=[["even" if i % 2 == 0 else "odd"] for i in range(50)])
        e.add_interactions([u % 7 for u in range(200)], [f"t{(u * 3) % 50}" for u in range(200)])
        e.remove_items(["t1"])
        e.fit("als", factors=4, iterations=3, show_progress=False)
        e.add_interactions([99, 99], ["t4", "t6"], weights=np.array([2.0, 3.0], dtype=np.float32))
        with pytest.raises(embedrec.EmbedrecError) as err:
            embedrec.Engine.open(path)
        assert err.value.code == "IO"
        before = (len(e), e.stats()["interactions"], e.recommend(99, k=5), e.search(v[3], k=5, filter={"tags_any": ["even"]}))
    with pytest.raises(embedrec.EmbedrecError):
        e.add_interactions(["u"], ["t2"])
    back = embedrec.Engine.open(path)
    assert back.model == "als"
    assert (len(back), back.stats()["interactions"], back.recommend(99, k=5), back.search(v[3], k=5, filter={"tags_any": ["even"]})) == before
    back.clear_model()
    back.close()
    assert embedrec.Engine.open(path).model is None
    with pytest.raises(embedrec.InvalidInputError, match="create"):
        embedrec.Engine.open(tmp_path / "missing.embedrec")
    with pytest.raises(embedrec.InvalidInputError, match="sync"):
        embedrec.Engine.open(tmp_path / "x.embedrec", dim=2, sync="sometimes")


def test_an_open_waits_briefly_for_a_lock_being_released(tmp_path):
    import threading

    path = tmp_path / "e.embedrec"
    first = embedrec.Engine.open(path, dim=0)
    first.add_interactions(["u"], ["i"])
    closer = threading.Timer(0.1, first.close)
    closer.start()
    back = embedrec.Engine.open(path)  # waits for the lock the timer releases
    closer.join()
    assert back.stats()["interactions"] == 1
    with pytest.raises(embedrec.EmbedrecError) as err:
        embedrec.Engine.open(path)
    assert err.value.code == "IO"
    back.close()


def test_a_torn_journal_tail_loses_only_the_torn_write(tmp_path):
    path = tmp_path / "e.embedrec"
    e = embedrec.Engine.open(path, dim=0)
    for k in range(3):
        e.add_interactions([f"u{k}"], ["i"])
    e.close()
    wal = str(path) + "-wal"
    os.truncate(wal, os.path.getsize(wal) - 3)
    e = embedrec.Engine.open(path)
    assert e.stats()["users"] == 2
    e.checkpoint()
    assert os.path.getsize(wal) == 48


WRITER = """
import sys, embedrec
e = embedrec.Engine.open(sys.argv[1], dim=0, checkpoint_bytes=4096)
k = e.stats()["users"]
while True:
    u = f"u{k}"
    e.add_interactions([u, u, u], [f"i{k % 50}", f"i{k % 7}", f"n{k}"], weights=[1.0, 2.0, 3.0])
    print(k, flush=True)
    k += 1
"""


def test_a_killed_writer_loses_no_acknowledged_write(tmp_path):
    path = str(tmp_path / "crash.embedrec")
    rng = np.random.default_rng(4)
    for _ in range(8):
        p = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE, text=True)
        time.sleep(0.3 + rng.random() * 0.3)
        p.send_signal(signal.SIGKILL)
        out, _ = p.communicate()
        acked = [int(x) for x in out.split()]
        e = embedrec.Engine.open(path, dim=0)
        s = e.stats()
        if acked:
            assert s["users"] > acked[-1]
        assert s["interactions"] == 3 * s["users"]
        assert all(len(e.recommend(f"u{k}", k=1)) == 1 for k in (0, s["users"] - 1) if s["users"])
        e.close()
