"""Concurrent use of every stateful class: LandmarkSmoother (native and Python layers),
TemporalSmoother, QualityMonitor and InferencePool (issue 12, item 1).

Python switches threads every 5 ms by default; the tests shorten that to a
microsecond so that interleavings a real pipeline meets once an hour happen here
every run.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

import facefuse as ff
from facefuse import inference


@pytest.fixture
def fast_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _run_threads(target, args_list):
    errors: list[BaseException] = []

    def guarded(*args):
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


# The race of issue 12: the points-per-face check ran before the lock, so a 5-point
# and a 68-point first update on one fresh smoother could both pass it, and the
# 68-point step then wrote past the 5-point buffers (heap corruption, abort). Run
# in a subprocess: on the old code the interpreter dies.
RACE = textwrap.dedent(
    """
    import sys, threading, numpy as np
    from facefuse import _core
    sys.setswitchinterval(1e-6)
    both = 0
    def run(sm, p, barrier, res):
        lm = np.random.default_rng(p).random((64, p, 2), dtype=np.float32) * 100
        barrier.wait()
        try:
            sm.update(lm, np.arange(64))
            res[p] = True
        except ValueError:
            res[p] = False
    for _ in range(int(sys.argv[1])):
        sm = _core.LandmarkSmoother(sys.argv[2])
        b = threading.Barrier(2)
        res = {}
        ts = [threading.Thread(target=run, args=(sm, p, b, res)) for p in (5, 68)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        both += res[5] and res[68]
    print("both accepted:", both)
    """
)


@pytest.mark.parametrize("method", ["ema", "pose_shape"])
def test_landmark_smoother_first_update_race(method):
    r = subprocess.run([sys.executable, "-c", RACE, "1500", method], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    # exactly one of the two shapes fixes P; the other must get ValueError
    assert "both accepted: 0" in r.stdout, r.stdout


def test_landmark_smoother_shared_by_threads(fast_switching):
    """Several threads updating disjoint tracks of one smoother: every track sees its
    own updates in order, as if each thread had run alone."""
    sm = ff.LandmarkSmoother("ema", alpha=0.5, max_age=0)
    rng = np.random.default_rng(0)
    seqs = {k: rng.random((40, 2, 68, 2), dtype=np.float32) * 50 for k in range(4)}
    outs: dict[int, list] = {k: [] for k in seqs}

    def work(k):
        ids = np.array([2 * k, 2 * k + 1])
        for frame in seqs[k]:
            outs[k].append(sm.update(frame, ids))

    assert not _run_threads(work, [(k,) for k in seqs])
    for k, frames in seqs.items():
        alone = ff.LandmarkSmoother("ema", alpha=0.5, max_age=0)
        for frame, got in zip(frames, outs[k]):
            np.testing.assert_array_equal(got, alone.update(frame, np.array([0, 1])))
    assert sm.num_tracks == 8 and sm.num_points == 68


def test_landmark_smoother_reset_forget_while_updating(fast_switching):
    sm = ff.LandmarkSmoother()
    lm = np.random.default_rng(1).random((3, 5, 2), dtype=np.float32) * 80
    stop = threading.Event()

    def updater():
        for i in range(300):
            sm.update(lm + i * 0.01, np.arange(3))
        stop.set()

    def meddler():
        while not stop.is_set():
            sm.forget([1])
            sm.reset([0])
            _ = sm.num_tracks, sm.num_points, sm.track_ids()

    assert not _run_threads(lambda f: f(), [(updater,), (meddler,)])
    assert sm.num_points == 5


def test_temporal_smoother_shared_by_threads(fast_switching):
    """Interleaved smooth / should_reset / reset calls: no error, and every result a
    finite [P, 2] (the observation history and the filters change together)."""
    ts = ff.TemporalSmoother(window_size=5)
    rng = np.random.default_rng(2)
    base = rng.random((68, 2), dtype=np.float32) * 100 + 50

    def work(k):
        for i in range(150):
            x = base + rng.normal(0, 0.5, base.shape).astype(np.float32)
            out = ts.smooth(x) if k % 2 else ts.smooth_landmark_individual(x)
            assert out.shape == (68, 2) and np.isfinite(out).all()
            ts.should_reset(x)
            if i % 50 == 49 and k == 0:
                ts.reset()

    assert not _run_threads(work, [(k,) for k in range(4)])


def test_quality_monitor_shared_by_threads(fast_switching):
    """4 threads x 60 frames into one monitor: 240 frames counted, every frame index
    given once, every series as long as the count."""
    mon = ff.QualityMonitor()
    frames = np.random.default_rng(3).integers(0, 256, (8, 24, 32, 3), dtype=np.uint8)
    pts = np.random.default_rng(4).random((5, 2)) * 20
    indices: list[int] = []
    lock = threading.Lock()

    def work(k):
        for i in range(60):
            rec = mon.update(frames[(i + k) % 8], landmarks=pts + i + k)
            with lock:
                indices.append(rec["index"])
            if i % 20 == 0:
                mon.summary()

    assert not _run_threads(work, [(k,) for k in range(4)])
    assert mon.count == 240
    assert sorted(indices) == list(range(240))
    series = mon.series()
    assert all(len(v) == 240 for v in series.values())
    assert mon.summary()["transitions"] == 239


def _identity(path: Path) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "ident", [x], [y])
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    return path


def test_inference_pool_shared_by_threads(tmp_path, monkeypatch, fast_switching):
    """8 threads asking for 2 models at once get one session per model (created once),
    while another thread releases and re-gets: no error, sessions usable."""
    models = [_identity(tmp_path / f"m{i}.onnx") for i in range(2)]
    created: list[str] = []
    real_create = inference.InferencePool._create

    def counting_create(path, providers, options):
        created.append(str(path))
        return real_create(path, providers, options)

    monkeypatch.setattr(inference.InferencePool, "_create", staticmethod(counting_create))
    pool = inference.InferencePool(providers="cpu")
    got: dict[int, list] = {0: [], 1: []}
    barrier = threading.Barrier(8)

    def getter(k):
        barrier.wait()
        for _ in range(20):
            s = pool.get(models[k % 2])
            got[k % 2].append(s)
            s.run(None, {"x": np.ones((1, 4), np.float32)})

    assert not _run_threads(getter, [(k,) for k in range(8)])
    assert len(created) == 2  # one session per model, however many threads asked at once
    assert all(s is got[0][0] for s in got[0]) and all(s is got[1][0] for s in got[1])

    def releaser():
        for _ in range(30):
            pool.release(models[0])
            pool.get(models[0])

    def user():
        for _ in range(60):
            pool.get(models[1]).run(None, {"x": np.ones((1, 4), np.float32)})
            len(pool), pool.sessions, models[1] in pool

    assert not _run_threads(lambda f: f(), [(releaser,), (user,), (user,)])
    assert models[1] in pool and len(pool) >= 1
