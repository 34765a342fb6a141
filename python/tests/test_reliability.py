"""Regression tests of failures found by attacking the Python binding: out-of-range
weights, a FIFO in place of a file, a file that asks for a thousand threads, a section that
declares far more bytes than the file holds, bare integer-conversion errors."""

import os
import struct
import threading

import numpy as np
import pytest

import embedrec


def small(threads=1):
    e = embedrec.Engine(dim=2, threads=threads)
    e.upsert_items(["a", "b", "c"], np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32))
    e.add_interactions(["u1"], ["b"])
    return e


def test_weights_beyond_the_limit_are_rejected_and_models_stay_finite(tmp_path):
    e = small()
    for w in (3e38, float("inf"), float("nan"), 0.0, -1.0):
        with pytest.raises(embedrec.InvalidInputError, match=r"weights\[0\]"):
            e.add_interactions(["u"], ["a"], weights=[w])
    e.add_interactions(["u", "u"], ["a", "a"], weights=[1e9, 1e9])
    for model in ("popularity", "als"):
        e.fit(model, show_progress=False)
        assert all(np.isfinite(s) for _, s in e.recommend("u1", k=2))
        e.save(tmp_path / "e.embedrec")
        assert embedrec.Engine.load(tmp_path / "e.embedrec").model == model


def test_loading_a_fifo_fails_at_once(tmp_path):
    fifo = tmp_path / "pipe.embedrec"
    os.mkfifo(fifo)
    result = {}

    def load():
        try:
            embedrec.Engine.load(fifo)
        except embedrec.EmbedrecError as e:
            result["error"] = e

    t = threading.Thread(target=load, daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "loading a FIFO blocked"
    assert isinstance(result.get("error"), embedrec.EmbedrecIOError)
    assert "regular file" in str(result["error"])


def test_a_file_does_not_choose_the_thread_count(tmp_path):
    small(threads=1000).save(tmp_path / "t.embedrec")
    e = embedrec.Engine.load(tmp_path / "t.embedrec")
    assert e.config["threads"] <= (os.cpu_count() or 1)
    assert e.stats()["threads"] <= (os.cpu_count() or 1)


def test_a_huge_declared_section_is_refused_before_it_is_read(tmp_path):
    b = bytearray(small().to_bytes())
    n = struct.unpack_from("<I", b, 12)[0]
    entries = [list(struct.unpack_from("<IIQQII", b, 32 + 32 * i)) for i in range(n)]
    meta = next(e for e in entries if e[0] == 1)
    meta_off, meta_len = meta[2], meta[3]
    grow = 1_464_844 * 4096  # whole pages, so later sections stay page-aligned
    huge = meta_len + grow
    for e in entries:
        if e[2] == meta_off:
            e[3] = huge
        elif e[2] > meta_off:
            e[2] += grow
    for i, e in enumerate(entries):
        struct.pack_into("<IIQQII", b, 32 + 32 * i, *e)
    total = len(b) + grow
    struct.pack_into("<Q", b, 16, total)
    import zlib

    struct.pack_into("<I", b, 24, zlib.crc32(bytes(b[32 : 32 + 32 * n])))
    struct.pack_into("<I", b, 28, zlib.crc32(bytes(b[:28])))
    path = tmp_path / "sparse.embedrec"
    with open(path, "wb") as f:
        f.write(b[:meta_off])
        f.seek(meta_off + huge)
        f.write(b[meta_off + meta_len :])
    assert path.stat().st_size == total
    with pytest.raises(embedrec.CorruptFileError, match="more than this section may hold"):
        embedrec.Engine.load(path)


def test_integer_arguments_name_themselves():
    e = small()
    with pytest.raises(embedrec.InvalidInputError, match=r"\bk\b"):
        e.similar("a", k=-1)
    with pytest.raises(embedrec.InvalidInputError, match="threads"):
        e.set_threads(2**70)
    with pytest.raises(embedrec.InvalidInputError, match="min_interactions"):
        embedrec.leave_last_out(["u"], ["a"], min_interactions=-2)


def test_timestamps_are_exact_integers_named_in_errors():
    e = small()
    with pytest.raises(embedrec.InvalidInputError, match=r"timestamps\[1\]"):
        e.add_interactions(["u", "u"], ["a", "b"], timestamps=[1, 2**70])
    with pytest.raises(embedrec.InvalidInputError, match=r"timestamps\[0\]"):
        e.add_interactions(["u"], ["a"], timestamps=[1.5])
    e.add_interactions(["u"], ["a"], timestamps=np.array([-5], dtype=np.int64))
