"""Read-only engines through Python: the same scenarios as tests/read_only.rs — answers equal
a loaded engine's, writes raise ReadOnlyError, openers agree on the snapshot's identity, a
replaced file leaves open readers on their snapshot, damage in the mapped pages is found by
verify() — and pickling by reference."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

import embedrec


def build(path):
    rng = np.random.default_rng(4)
    v = rng.normal(size=(500, 8)).astype(np.float32)
    e = embedrec.Engine(dim=8, metric="cosine", threads=2)
    e.upsert_items([f"t{i}" for i in range(500)], v, tags=[["even" if i % 2 == 0 else "odd"] for i in range(500)])
    e.remove_items(["t5"])
    users = [u % 40 for u in range(800)]
    items = [f"t{(u * 7) % 500}" if u % 9 else f"x{u % 13}" for u in range(800)]
    e.add_interactions(users, items)
    e.fit("als", factors=8, iterations=4, show_progress=False)
    e.save(path)
    return e, v


def answers(e, v):
    return (
        len(e),
        e.search(v[3], k=10),
        e.search(v[3], k=10, filter={"tags_any": ["even"]}),
        e.similar("t7", k=5),
        e.recommend(3, k=5),
        e.item_vector("t9").tolist(),
    )


def test_a_read_only_engine_answers_as_a_loaded_one_and_refuses_writes(tmp_path):
    path = tmp_path / "e.embedrec"
    _, v = build(path)
    loaded = embedrec.Engine.load(path)
    ro = embedrec.Engine.open(path, read_only=True)
    assert ro.read_only and not ro.durable and not loaded.read_only
    assert answers(ro, v) == answers(loaded, v)
    assert ro.stats()["mapped_bytes"] == path.stat().st_size
    ro.verify()
    writes = [
        lambda: ro.upsert_items(["n"], v[:1]),
        lambda: ro.remove_items(["t1"]),
        lambda: ro.add_interactions([1], ["t1"]),
        lambda: ro.fit("popularity", show_progress=False),
        lambda: ro.clear_model(),
    ]
    for write in writes:
        with pytest.raises(embedrec.ReadOnlyError) as err:
            write()
        assert err.value.code == "READ_ONLY"
    assert answers(ro, v) == answers(loaded, v)
    # Write-side options make no sense read-only: refused, naming the option.
    with pytest.raises(embedrec.InvalidInputError, match="sync"):
        embedrec.Engine.open(path, read_only=True, sync="off")
    with pytest.raises(embedrec.InvalidInputError, match="dim"):
        embedrec.Engine.open(path, read_only=True, dim=3)


def test_the_factor_graphs_are_stored_with_the_model(tmp_path):
    # Large enough for both factor graphs (inner product from 8 x exact_below live items).
    rng = np.random.default_rng(8)
    e = embedrec.Engine(dim=4, exact_below=50, ef_search=10, threads=2)
    e.upsert_items([f"t{i}" for i in range(3000)], rng.normal(size=(3000, 4)).astype(np.float32))
    e.add_interactions(rng.integers(0, 300, 9000), [f"t{i}" for i in rng.integers(0, 3000, 9000)])
    e.fit("als", factors=8, iterations=3, show_progress=False)
    path = tmp_path / "m.embedrec"
    e.save(path)

    def answers(x):
        return [x.recommend(u, k=10) for u in range(100)] + [x.similar(f"t{i}", k=10) for i in range(0, 3000, 30)]

    # At a small breadth two builds of a graph disagree: equal answers mean the saved
    # graphs are the ones walked.
    want = answers(e)
    assert answers(embedrec.Engine.load(path)) == want
    assert answers(embedrec.Engine.open(path, read_only=True)) == want


def test_bytes_are_served_in_place_read_only(tmp_path):
    e, v = build(tmp_path / "e.embedrec")
    data = e.to_bytes()
    ro = embedrec.Engine.from_bytes(data, read_only=True)
    assert ro.read_only and ro.snapshot is None
    assert ro.stats()["mapped_bytes"] == len(data)
    assert answers(ro, v) == answers(e, v)
    ro.verify()
    with pytest.raises(embedrec.ReadOnlyError, match="<bytes>"):
        ro.remove_items(["t1"])
    # The engine keeps the bytes alive: dropping the caller's reference changes nothing.
    want = answers(ro, v)
    del data
    assert answers(ro, v) == want
    # Pickled, it travels by value and comes back read-only, served from the pickled bytes.
    back = pickle.loads(pickle.dumps(ro))
    assert back.read_only and answers(back, v) == want
    # Damage and wrong arguments are errors naming what is wrong.
    bad = bytearray(e.to_bytes())
    bad[0] ^= 1
    with pytest.raises(embedrec.CorruptFileError):
        embedrec.Engine.from_bytes(bytes(bad), read_only=True)
    with pytest.raises(embedrec.InvalidInputError, match="data"):
        embedrec.Engine.from_bytes(bad, read_only=True)
    with pytest.raises(embedrec.InvalidInputError, match="read_only"):
        embedrec.Engine.from_bytes(e.to_bytes(), read_only="yes")
    with pytest.raises(embedrec.InvalidInputError, match="sync"):
        embedrec.Engine.from_bytes(e.to_bytes(), sync="off")


def test_pickling_goes_by_reference_and_checks_the_identity(tmp_path):
    path = tmp_path / "e.embedrec"
    e, v = build(path)
    ro = embedrec.Engine.open(path, read_only=True)
    p, ident = ro.snapshot
    assert str(p) == str(path) and len(ident) == 32
    data = pickle.dumps(ro)
    assert len(data) < 1000 < len(pickle.dumps(e))
    back = pickle.loads(data)
    assert back.read_only and back.snapshot == ro.snapshot
    assert answers(back, v) == answers(ro, v)
    # In another process, too (the file's pages are shared, not copied).
    code = f"import pickle, sys; e = pickle.loads(sys.stdin.buffer.read()); print(len(e), e.search({v[3].tolist()}, k=3)[0][0])"
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True).stdout
    assert out.decode().split() == [str(len(ro)), ro.search(v[3], k=3)[0][0]]
    # The file replaced since: readers see it with snapshot_replaced() and keep their
    # snapshot; this process still has the referenced one open (the registry), a process
    # without it is refused.
    assert not ro.snapshot_replaced() and not e.snapshot_replaced()
    e.remove_items(["t1", "t2"])
    e.save(path)
    assert ro.snapshot_replaced() and back.snapshot_replaced()
    assert pickle.loads(data) is back
    embedrec._registry.forget()
    with pytest.raises(embedrec.InvalidInputError, match="replaced"):
        pickle.loads(data)
    assert answers(back, v) == answers(ro, v)
    fresh = embedrec.Engine.open(path, read_only=True)
    assert len(fresh) == len(ro) - 2 and not fresh.snapshot_replaced()


def test_damage_in_the_mapped_pages_is_found_by_verify(tmp_path):
    path = tmp_path / "e.embedrec"
    build(path)
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[12:16], "little")
    rows = next(
        (int.from_bytes(raw[32 + 32 * i + 8 : 32 + 32 * i + 16], "little"), int.from_bytes(raw[32 + 32 * i + 16 : 32 + 32 * i + 24], "little"))
        for i in range(n)
        if int.from_bytes(raw[32 + 32 * i : 32 + 32 * i + 4], "little") == 7
    )
    raw[rows[0] + rows[1] - 8] ^= 0x55
    path.write_bytes(bytes(raw))
    ro = embedrec.Engine.open(path, read_only=True)
    with pytest.raises(embedrec.CorruptFileError, match="rows"):
        ro.verify()
    with pytest.raises(embedrec.CorruptFileError):
        embedrec.Engine.load(path)
    short = tmp_path / "short.embedrec"
    short.write_bytes(bytes(raw[:5000]))
    with pytest.raises(embedrec.CorruptFileError):
        embedrec.Engine.open(short, read_only=True)
    with pytest.raises(embedrec.EmbedrecIOError):
        embedrec.Engine.open(tmp_path / "missing", read_only=True)
