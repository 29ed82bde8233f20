"""Fuzzing every native entry point and the stateful classes' constructors (issue 12).

Each call gets arguments drawn from a pool of the wrong and the nearly right: arrays
of every dtype and rank (empty ones, NaN / inf, views), frames of a shared size that
pass most checks, None, huge and negative ints, NaN / inf floats, bools, strings,
lists. The only acceptable outcomes are a result or TypeError / ValueError: anything
else (OverflowError, SystemError, a crash of the interpreter) is a bug.
Bounded: a fixed number of examples per entry point (derandomised under CI).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import facefuse as ff
from facefuse import _core

ALLOWED = (TypeError, ValueError)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DTYPES = [np.uint8, np.float32, np.float64, np.int16, np.int64, np.bool_]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.integers(-3, 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2.0, 2.0),
    st.text(max_size=6),
    st.sampled_from(["alpha", "laplacian", "poisson", "lab", "constant", "replicate", "ema", "one_euro"]),
    st.lists(st.integers(-5, 40), max_size=4),
)


def any_array():
    return hnp.arrays(
        dtype=st.sampled_from(DTYPES),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
        elements=None,
    )


@st.composite
def near_frames(draw, h, w):
    """Arrays shaped like the op family's inputs for an h x w image (mostly valid)."""
    kind = draw(st.sampled_from(["frame", "mask", "crop", "affine", "batch", "landmarks", "ids", "view"]))
    dtype = draw(st.sampled_from([np.uint8, np.float32, np.float32, np.float64]))
    if kind == "frame":
        a = np.random.default_rng(h * 7 + w).random((h, w, draw(st.sampled_from([1, 3, 3, 4])))) * 255
    elif kind == "mask":
        a = np.random.default_rng(w).random((h, w)) * draw(st.sampled_from([1.0, 1.0, 255.0, -1.0, 2.0]))
    elif kind == "crop":
        s = draw(st.integers(1, 6))
        a = np.random.default_rng(s).random((s, s, 3)) * 255
    elif kind == "affine":
        a = np.array([[1.0, 0.1, -1.5], [-0.1, 1.0, 2.5]]) * draw(st.sampled_from([1.0, 0.0, 1e30, -3.0]))
    elif kind == "batch":
        a = np.random.default_rng(3).random((draw(st.integers(0, 3)), h, w, 3)) * 255
    elif kind == "landmarks":
        a = np.random.default_rng(4).random((draw(st.integers(0, 3)), draw(st.sampled_from([5, 68, 1])), 2)) * 50
    elif kind == "ids":
        a = np.arange(draw(st.integers(0, 3)))
        return a if draw(st.booleans()) else a.astype(np.float32)
    else:
        a = (np.random.default_rng(5).random((h, 2 * w, 3)) * 255)[:, ::2]
    with np.errstate(invalid="ignore", over="ignore"):  # the 1e30 affine as uint8 is garbage: fine here
        a = a.astype(dtype)
    if dtype != np.uint8 and a.size and draw(st.integers(0, 5)) == 0:
        a.reshape(-1)[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return a


@st.composite
def arguments(draw, n):
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    pool = st.one_of(scalars, any_array(), near_frames(h, w), near_frames(h, w))
    return [draw(pool) for _ in range(n)]


def _call(fn, args):
    try:
        fn(*args)
    except ALLOWED:
        pass


# entry point -> how many positional arguments it takes at most
ENTRIES = {
    "bgr_to_lab": 1, "lab_to_bgr": 1, "color_transfer": 5, "blend_laplacian": 4, "blend_poisson": 5,
    "gaussian_pyramid": 3, "max_levels": 2, "paste_back": 8, "paste_warp": 4, "pyr_down": 1, "pyr_up": 3, "tpsnr": 3,
    "tpsnr_sequence": 2, "warp_affine": 4, "set_threads": 1, "max_threads": 0,
    "ff_paste_back": 5, "ff_hash64": 1, "ff_implode": 2, "ff_explode": 2, "ff_enhancer_normalize": 1,
    "crops_to_planes": 3, "planes_to_crops": 6,
}
CLASSES = {"LandmarkSmoother"}
NOT_CALLABLE = {"openmp"}


def test_every_entry_point_is_fuzzed():
    """A new native function must join the fuzz table (or this fails)."""
    public = {n for n in dir(_core) if not n.startswith("_")}
    assert public == set(ENTRIES) | CLASSES | NOT_CALLABLE


@pytest.mark.parametrize("name", sorted(ENTRIES))
@SETTINGS
@given(data=st.data())
def test_fuzz_entry_point(name, data):
    fn = getattr(_core, name)
    nargs = ENTRIES[name]
    k = data.draw(st.integers(0, nargs), label="positional arguments")
    args = data.draw(arguments(k), label="args")
    threads = _core.max_threads()
    try:
        _call(fn, args)
    finally:
        _core.set_threads(threads)


PARAM_NAMES = sorted({p for m in ("pose_shape", "ema", "adaptive_ema", "one_euro")
                      for p in _core.LandmarkSmoother(m).params} | {"face_size", "bogus"})


@SETTINGS
@given(method=st.one_of(st.sampled_from(["pose_shape", "ema", "adaptive_ema", "one_euro"]), scalars),
       kwargs=st.dictionaries(st.sampled_from(PARAM_NAMES), scalars, max_size=4), data=st.data())
def test_fuzz_landmark_smoother(method, kwargs, data):
    for make in (_core.LandmarkSmoother, ff.LandmarkSmoother):
        try:
            sm = make(method, **kwargs)
        except ALLOWED:
            continue
        for _ in range(3):
            op = data.draw(st.sampled_from(["update", "reset", "forget", "track_ids"]), label="method")
            n = {"update": 3, "reset": 1, "forget": 1, "track_ids": 0}[op]
            _call(getattr(sm, op), data.draw(arguments(data.draw(st.integers(0, n)))))
        assert isinstance(sm.num_tracks, int)


@SETTINGS
@given(kwargs=st.dictionaries(st.sampled_from(["window_size", "alpha", "enable_adaptive", "cut_ratio", "cut_min"]),
                              scalars, max_size=3), data=st.data())
def test_fuzz_temporal_smoother(kwargs, data):
    try:
        ts = ff.TemporalSmoother(**kwargs)
    except ALLOWED:
        return
    # what was accepted is usable: finite, in range
    assert ts.window_size >= 1 and 0 < ts.alpha <= 1 and ts.cut_ratio > 0 and ts.cut_min >= 0
    assert all(math.isfinite(v) for v in (ts.alpha, ts.cut_ratio, ts.cut_min))
    for _ in range(3):
        op = data.draw(st.sampled_from(["smooth", "smooth_landmark_individual", "should_reset"]))
        _call(getattr(ts, op), data.draw(arguments(1)))


@SETTINGS
@given(kwargs=st.dictionaries(st.sampled_from(["jitter_margin_db", "window", "min_history", "cap_db", "face_size",
                                               "copy_frames"]), scalars, max_size=3), data=st.data())
def test_fuzz_quality_monitor(kwargs, data):
    try:
        mon = ff.QualityMonitor(**kwargs)
    except ALLOWED:
        return
    for _ in range(3):
        _call(mon.update, data.draw(arguments(data.draw(st.integers(1, 5)))))
    mon.summary()


@pytest.mark.parametrize("call, match", [
    (lambda: ff.TemporalSmoother(window_size=1e300), "'window_size' must be an int in"),
    (lambda: ff.TemporalSmoother(window_size=2.5), "'window_size' must be an int in"),
    (lambda: ff.TemporalSmoother(alpha=None), "'alpha' must be a finite number in \\(0, 1\\]"),
    (lambda: ff.TemporalSmoother(cut_ratio=float("nan")), "'cut_ratio' must be a finite number"),
    (lambda: ff.TemporalSmoother(cut_min="x"), "'cut_min' must be a finite number"),
    (lambda: ff.QualityMonitor(window=2**70), "'window' must be an int in"),
    (lambda: ff.QualityMonitor(min_history=10, window=5), "'min_history' must be an int in \\[1, 5\\]"),
    (lambda: ff.QualityMonitor(face_size="x"), "'face_size' must be a finite number"),
    (lambda: ff.QualityMonitor(cap_db=float("inf")), "'cap_db' must be a finite number"),
    (lambda: _core.set_threads(0), "'n' must be an int in \\[1, 4096\\]"),
    (lambda: _core.set_threads(-1), "'n' must be an int in \\[1, 4096\\]"),
    (lambda: _core.set_threads(2**70), "'n' must be an int in \\[1, 4096\\]"),
    (lambda: _core.set_threads(1.5), "'n' must be an int"),
])
def test_constructor_errors_name_the_argument(call, match):
    """The reported cases: each was an OverflowError, a bare comparison TypeError or accepted."""
    with pytest.raises(ALLOWED, match=match):
        call()


def test_set_threads_still_works():
    n = _core.max_threads()
    try:
        _core.set_threads(1)
        assert _core.max_threads() == 1
    finally:
        _core.set_threads(n)
