"""Landmark smoothing: native vs the NumPy reference, quality targets, API, bad input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facefuse import _core
from facefuse.ops import smoothing as ops
from facefuse.reference import smoothing as ref
from facefuse.reference.smoothing_synth import FACE68, make_tracks, quality_metrics, run_smoother

METHODS = ["pose_shape", "ema", "adaptive_ema", "one_euro"]
TOL = dict(rtol=1e-5, atol=1e-5)


def _face(rng: np.random.Generator, p: int) -> np.ndarray:
    if p == 68:
        base = FACE68
    else:
        base = rng.uniform(-1, 1, size=(p, 2))
    return base * rng.uniform(40, 120) + rng.uniform(150, 600, size=2)


def _scenario(rng: np.random.Generator, p: int, n_frames: int = 50, n_ids: int = 7):
    """Frames of (landmarks float32 [N, P, 2], ids, per-track times) with births, deaths,
    jumps (scene cuts), outliers and irregular timestamps (some repeated)."""
    faces = {i: _face(rng, p) for i in range(n_ids)}
    vel = {i: rng.normal(0, 2.0, size=2) for i in range(n_ids)}
    times = {i: 0.0 for i in range(n_ids)}
    frames = []
    for f in range(n_frames):
        present = [i for i in range(n_ids) if rng.random() < 0.75]
        rng.shuffle(present)
        lms, ts = [], []
        for i in present:
            faces[i] = faces[i] + vel[i] + rng.normal(0, 0.3, size=faces[i].shape) * 0.2
            if rng.random() < 0.04:  # scene cut: jump far away
                faces[i] = _face(rng, p)
            x = faces[i] + rng.normal(0, 1.5, size=faces[i].shape)
            if rng.random() < 0.1:
                x[rng.integers(p)] += rng.uniform(10, 20, size=2)
            lms.append(x)
            times[i] += 0.0 if rng.random() < 0.1 else rng.uniform(0.02, 0.05)
            ts.append(times[i])
        lm = np.asarray(lms, dtype=np.float32).reshape(len(present), p, 2)
        frames.append((lm, np.asarray(present, dtype=np.int64), np.asarray(ts, dtype=np.float64)))
    return frames


def _run_both(method: str, frames, tmode: str, events: bool = True, **params):
    nat = ops.LandmarkSmoother(method, **params)
    rf = ref.LandmarkSmoother(method, **params)
    for f, (lm, ids, ts) in enumerate(frames):
        if tmode == "fixed":
            t = None
        elif tmode == "scalar":
            t = f / 30.0
        elif tmode == "mixed":
            t = None if f % 7 == 3 else ts
        else:
            t = ts
        if events and f == 20:
            nat.reset([1, 2, 99])
            rf.reset([1, 2, 99])
        if events and f == 30:
            nat.forget([3])
            rf.forget([3])
        if events and f == 40:
            nat.reset()
            rf.reset()
        a = nat.update(lm, ids, t)
        b = rf.update(lm, ids, t)
        assert a.dtype == np.float32 and a.shape == lm.shape
        np.testing.assert_allclose(a, b, **TOL, err_msg=f"{method} frame {f}")
        np.testing.assert_array_equal(nat.last_reset, rf.last_reset)
        np.testing.assert_array_equal(nat.last_new, rf.last_new)
        assert nat.num_tracks == rf.num_tracks
        np.testing.assert_array_equal(nat.track_ids(), rf.track_ids())
    return nat, rf


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("tmode", ["fixed", "per_track", "scalar", "mixed"])
def test_native_matches_reference(method: str, tmode: str) -> None:
    rng = np.random.default_rng(hash((method, tmode)) % 2**32)
    frames = _scenario(rng, 68)
    nat, _ = _run_both(method, frames, tmode, max_age=4)
    assert nat.num_tracks > 0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("p", [1, 2, 3, 5, 478])
def test_native_matches_reference_point_counts(method: str, p: int) -> None:
    rng = np.random.default_rng(p)
    frames = _scenario(rng, p, n_frames=25, n_ids=4)
    _run_both(method, frames, "per_track", events=False)


@pytest.mark.parametrize("method", METHODS)
def test_scene_cuts_and_births_flagged(method: str) -> None:
    data = make_tracks(seed=5, n_frames=60, cut_frame=30)
    nat = ops.LandmarkSmoother(method)
    rf = ref.LandmarkSmoother(method)
    for f in range(60):
        a = nat.update(data.obs[f], data.ids)
        b = rf.update(data.obs[f], data.ids)
        np.testing.assert_allclose(a, b, **TOL)
        if f == 0:
            assert nat.last_new.all() and not nat.last_reset.any()
            np.testing.assert_array_equal(a, data.obs[0])  # first frame = input
        elif f == 30:
            assert nat.last_reset.all(), "every face jumps at the cut"
            np.testing.assert_array_equal(a, data.obs[30])
        else:
            assert not nat.last_reset.any() and not nat.last_new.any()


def test_degenerate_faces_stay_finite() -> None:
    for method in METHODS:
        nat = ops.LandmarkSmoother(method)
        rf = ref.LandmarkSmoother(method)
        for f in range(6):
            lm = np.zeros((2, 4, 2), np.float32)
            lm[1] += f  # a collapsed face that moves
            a = nat.update(lm, [0, 1], f * 0.0)  # equal timestamps: dt == 0 keeps the rate
            b = rf.update(lm, [0, 1], f * 0.0)
            assert np.all(np.isfinite(a))
            np.testing.assert_allclose(a, b, **TOL)


def test_input_conveniences() -> None:
    rng = np.random.default_rng(0)
    frames = _scenario(rng, 68, n_frames=10, n_ids=3)
    nat = ops.LandmarkSmoother()
    nat2 = ops.LandmarkSmoother()
    for lm, ids, ts in frames:
        big = np.repeat(lm, 2, axis=1)[:, ::2]  # non-contiguous view, same values
        a = nat.update(big.astype(np.float64), ids.astype(np.int32), ts)
        b = nat2.update(np.ascontiguousarray(lm), ids, ts)
        np.testing.assert_array_equal(a, b)
    assert nat.num_points == 68
    # an empty frame ages tracks and returns an empty result
    out = nat.update(np.zeros((0, 68, 2), np.float32), np.zeros(0, np.int64))
    assert out.shape == (0, 68, 2)


def test_max_age_and_reset_semantics() -> None:
    s = ops.LandmarkSmoother("ema", max_age=2, auto_reset=False)
    x = np.ones((1, 3, 2), np.float32)
    s.update(x, [5])
    assert s.num_tracks == 1
    s.update(np.zeros((0, 3, 2), np.float32), np.zeros(0, np.int64))
    assert s.num_tracks == 1
    s.update(np.zeros((0, 3, 2), np.float32), np.zeros(0, np.int64))
    assert s.num_tracks == 0  # not seen for 2 updates
    s.update(x, [5])
    y = s.update(x * 3, [5])
    np.testing.assert_allclose(y, 0.25 * 3 + 0.75, rtol=1e-6)
    s.reset([5])
    np.testing.assert_array_equal(s.update(x * 3, [5]), x * 3)
    assert s.last_new.all()
    s.reset()
    assert s.num_tracks == 0 and s.num_points is None
    s.update(np.ones((1, 7, 2), np.float32), [1])  # P may change after a full reset
    assert s.num_points == 7
    assert s.params["alpha"] == 0.25 and s.method == "ema"


def test_defaults_match_reference() -> None:
    for m in METHODS:
        assert ops.LandmarkSmoother(m).params == ref.SMOOTHING_DEFAULTS[m]


# -- quality -------------------------------------------------------------------

@pytest.fixture(scope="module")
def quality():
    data = make_tracks(seed=0)
    rows = {"raw": quality_metrics(data.obs, data)}
    for m in METHODS:
        rows[m] = quality_metrics(run_smoother(ops.LandmarkSmoother(m), data), data)
    return rows


def test_quality_default_meets_targets(quality) -> None:
    raw, best = quality["raw"], quality["pose_shape"]
    assert best["jitter"] <= 0.2 * raw["jitter"], (best, raw)  # >= 80 % less jitter
    assert abs(best["lag"]) <= 1.0, best
    assert best["rms"] <= raw["rms"], (best, raw)
    assert best["recovery"] <= 2, best


def test_quality_metrics_are_calibrated(quality) -> None:
    # an EMA with alpha = 0.25 lags about (1 - alpha) / alpha = 3 frames, raw about 0
    assert 2.0 <= quality["ema"]["lag"] <= 3.5
    assert abs(quality["raw"]["lag"]) <= 0.3
    # the default beats every other method on jitter at lower lag than any smoother of similar jitter
    for m in ("ema", "adaptive_ema", "one_euro"):
        assert quality["pose_shape"]["jitter"] < quality[m]["jitter"]
        assert quality["pose_shape"]["rms"] < quality[m]["rms"]


def test_quality_with_timestamps() -> None:
    data = make_tracks(seed=2, n_frames=150, cut_frame=80)
    raw = quality_metrics(data.obs, data)
    r = quality_metrics(run_smoother(ops.LandmarkSmoother(), data, timestamps=True), data)
    assert r["jitter"] <= 0.2 * raw["jitter"] and abs(r["lag"]) <= 1 and r["rms"] <= raw["rms"]
    assert r["recovery"] <= 2


# -- TemporalSmoother --------------------------------------------------------------

@pytest.mark.parametrize("adaptive", [True, False])
def test_temporal_smoother_matches_reference(adaptive: bool) -> None:
    data = make_tracks(seed=1, n_faces=1, n_frames=60, cut_frame=30)
    a = ops.TemporalSmoother(window_size=5, alpha=0.3, enable_adaptive=adaptive)
    b = ref.TemporalSmoother(window_size=5, alpha=0.3, enable_adaptive=adaptive)
    for f in range(60):
        x = data.obs[f, 0]
        assert a.should_reset(x) == b.should_reset(x) == (f == 30)
        fn = "smooth" if f % 3 else "smooth_landmark_individual"
        ya, yb = getattr(a, fn)(x), getattr(b, fn)(x)
        assert ya.shape == (68, 2) and ya.dtype == np.float32
        np.testing.assert_allclose(ya, yb, **TOL)
        if f in (0, 30):
            np.testing.assert_array_equal(ya, x)


def test_temporal_smoother_behaviour() -> None:
    s = ops.TemporalSmoother(alpha=0.5, enable_adaptive=False)
    x = FACE68.astype(np.float32) * 80 + 300
    np.testing.assert_array_equal(s.smooth_landmark_individual(x), x)
    y = s.smooth_landmark_individual(x + 2)
    np.testing.assert_allclose(y, x + 1, atol=1e-4)  # plain EMA, alpha 0.5
    assert not s.should_reset(x + 3)
    assert s.should_reset(x + 500)  # a jump of several face sizes
    assert not s.should_reset(x + 3)  # should_reset does not change state
    out = s.smooth(x + 500)
    np.testing.assert_array_equal(out, x + 500)  # restarted
    s.reset()
    np.testing.assert_array_equal(s.smooth(x), x)
    with pytest.raises(ValueError, match="'landmarks'"):
        s.smooth(np.zeros((5, 2), np.float32))  # shape changed
    with pytest.raises(ValueError, match="'window_size'"):
        ops.TemporalSmoother(window_size=0)
    with pytest.raises(ValueError, match="'alpha'"):
        ops.TemporalSmoother(alpha=0.0)
    with pytest.raises(ValueError, match="'landmarks'"):
        ops.TemporalSmoother().smooth(np.zeros((3, 2, 2), np.float32))


# -- bad input -------------------------------------------------------------------

def test_bad_landmarks() -> None:
    s = ops.LandmarkSmoother()
    ok = np.zeros((2, 5, 2), np.float32)
    with pytest.raises(TypeError, match="'landmarks'"):
        s.update(ok.astype(np.int32), [0, 1])
    with pytest.raises(ValueError, match="'landmarks'"):
        s.update(ok[0], [0, 1])
    with pytest.raises(ValueError, match="'landmarks'"):
        s.update(np.zeros((2, 5, 3), np.float32), [0, 1])
    with pytest.raises(ValueError, match="'landmarks'"):
        s.update(np.zeros((2, 0, 2), np.float32), [0, 1])
    for bad in (np.nan, np.inf):
        b = ok.copy()
        b[1, 2, 0] = bad
        with pytest.raises(ValueError, match="'landmarks'"):
            s.update(b, [0, 1])
    s.update(ok, [0, 1])
    with pytest.raises(ValueError, match="'landmarks'"):
        s.update(np.zeros((2, 6, 2), np.float32), [0, 1])  # P is fixed
    with pytest.raises(TypeError, match="'landmarks'"):
        s.update(None, [0, 1])


def test_bad_ids_and_times() -> None:
    s = ops.LandmarkSmoother("one_euro")
    ok = np.zeros((2, 5, 2), np.float32)
    with pytest.raises(ValueError, match="'track_ids'"):
        s.update(ok, [0, 1, 2])
    with pytest.raises(ValueError, match="'track_ids'"):
        s.update(ok, [3, 3])
    with pytest.raises(TypeError, match="'track_ids'"):
        s.update(ok, [0.5, 1.0])
    with pytest.raises(ValueError, match="'t'"):
        s.update(ok, [0, 1], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="'t'"):
        s.update(ok, [0, 1], [0.0, np.nan])
    with pytest.raises(TypeError, match="'t'"):
        s.update(ok, [0, 1], "now")
    s.update(ok, [0, 1], 1.0)
    before = s.update(ok + 1, [0, 1], 2.0)
    with pytest.raises(ValueError, match="'t'"):
        s.update(ok + 5, [0, 1], [3.0, 1.5])  # id 1 goes back in time
    # the failed update changed nothing: same result as a twin that never saw it
    twin = ops.LandmarkSmoother("one_euro")
    twin.update(ok, [0, 1], 1.0)
    twin.update(ok + 1, [0, 1], 2.0)
    np.testing.assert_array_equal(s.update(ok + 2, [0, 1], 3.0), twin.update(ok + 2, [0, 1], 3.0))
    assert before.shape == (2, 5, 2)


@pytest.mark.parametrize(
    "method,param,value,exc",
    [
        ("ema", "alpha", 0.0, ValueError),
        ("ema", "alpha", 1.5, ValueError),
        ("adaptive_ema", "motion_scale", 0.0, ValueError),
        ("one_euro", "min_cutoff", 0.0, ValueError),
        ("one_euro", "d_cutoff", -1.0, ValueError),
        ("one_euro", "beta", -0.1, ValueError),
        ("one_euro", "freq", 0.0, ValueError),
        ("pose_shape", "pose_alpha", 0.0, ValueError),
        ("pose_shape", "shape_clamp", 0.0, ValueError),
        ("pose_shape", "outlier_k", 0.5, ValueError),
        ("pose_shape", "cut_ratio", float("nan"), ValueError),
        ("pose_shape", "max_age", -1, ValueError),
        ("pose_shape", "alpha", 0.5, TypeError),  # not a pose_shape parameter
        ("ema", "bogus", 1.0, TypeError),
        ("ema", "alpha", "big", TypeError),
    ],
)
def test_bad_params(method: str, param: str, value, exc) -> None:
    for cls in (ops.LandmarkSmoother, ref.LandmarkSmoother):
        with pytest.raises(exc, match=f"'{param}'"):
            cls(method, **{param: value})


def test_bad_method() -> None:
    with pytest.raises(ValueError, match="'method'"):
        ops.LandmarkSmoother("kalman")
    with pytest.raises(ValueError, match="'method'"):
        ref.LandmarkSmoother("kalman")


# -- hypothesis over the native entry ------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(
    method=st.sampled_from(METHODS),
    n=st.integers(0, 4),
    p=st.integers(0, 6),
    extra_dims=st.sampled_from([(2,), (3,), (), (2, 1)]),
    dtype=st.sampled_from([np.float32, np.float64, np.int32, np.float16]),
    ids_kind=st.sampled_from(["ok", "dup", "short", "float", "2d"]),
    t_kind=st.sampled_from(["none", "ok", "short", "int", "back"]),
    steps=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_hypothesis_native_entry(method, n, p, extra_dims, dtype, ids_kind, t_kind, steps, seed) -> None:
    rng = np.random.default_rng(seed)
    core = _core.LandmarkSmoother(method)
    for k in range(steps):
        lm = (rng.normal(0, 50, size=(n, p, *extra_dims)) + 200).astype(dtype)
        ids = {
            "ok": np.arange(n, dtype=np.int64),
            "dup": np.zeros(n, dtype=np.int64),
            "short": np.arange(max(n - 1, 0), dtype=np.int64),
            "float": np.arange(n, dtype=np.float64),
            "2d": np.arange(n, dtype=np.int64).reshape(n, 1) if n else np.zeros((1, 1), np.int64),
        }[ids_kind]
        t = {
            "none": None,
            "ok": np.full(n, float(k)),
            "short": np.zeros(max(n - 1, 0)),
            "int": np.zeros(n, np.int64),
            "back": np.full(n, -float(k)),
        }[t_kind]
        try:
            out = core.update(lm, ids, t)
        except (ValueError, TypeError):
            continue
        assert out.shape == (n, p, 2) and out.dtype == np.float32
        assert np.all(np.isfinite(out))
        assert core.last_reset.shape == (n,) and core.last_new.shape == (n,)


@settings(max_examples=40, deadline=None)
@given(
    method=st.sampled_from(METHODS),
    name=st.sampled_from(["alpha", "beta", "freq", "max_age", "shape_clamp", "cut_min", "zzz", "auto_reset"]),
    value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5), st.text(max_size=3),
                    st.booleans()),
)
def test_hypothesis_native_params(method, name, value) -> None:
    try:
        s = _core.LandmarkSmoother(method, **{name: value})
    except (ValueError, TypeError):
        return
    out = s.update(np.ones((1, 3, 2), np.float32), np.zeros(1, np.int64))
    assert out.shape == (1, 3, 2)
    ids = s.track_ids()
    assert ids.dtype == np.int64 and list(ids) == [0]
    s.reset(np.array([0, 7]))
    s.forget(np.array([0]))
    assert s.num_tracks == 0
