"""quality family: native tPSNR vs the NumPy reference, QualityMonitor on a
synthetic clip with known flicker, landmark NMJ on tracks with known noise,
bad input, and hypothesis on the native entries."""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import facefuse.ops as ops
import facefuse.reference as ref
from facefuse import _core

RTOL = 1e-6


def _pair(rng, shape, dtype, noise=20.0):
    if dtype == np.uint8:
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        b = np.clip(a.astype(np.int16) + rng.integers(-int(noise), int(noise) + 1, shape), 0, 255).astype(np.uint8)
    else:
        a = (rng.random(shape, dtype=np.float32) * 255).astype(np.float32)
        b = (a + rng.normal(0, noise, shape)).astype(np.float32)
    return a, b


def _mask(rng, hw, kind):
    if kind is None:
        return None
    if kind == "float32":
        return rng.random(hw, dtype=np.float32)
    if kind == "uint8":
        m = rng.integers(0, 256, hw, dtype=np.uint8)
        m.flat[0] = 255  # never all zero
        return m
    m = rng.random(hw) > 0.5
    m.flat[0] = True
    return m


SHAPES = [(1, 1), (2, 2), (1, 1, 3), (2, 2, 3), (2, 2, 4), (17, 23, 3), (32, 48, 3), (31, 33, 4), (16, 15, 1), (40, 64)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("mask_kind", [None, "float32", "uint8", "bool"])
def test_tpsnr_matches_reference(rng, shape, dtype, mask_kind):
    a, b = _pair(rng, shape, dtype)
    m = _mask(rng, shape[:2], mask_kind)
    got = ops.tpsnr(a, b, m)
    want = ref.tpsnr(a, b, m)
    assert isinstance(got, float)
    if math.isinf(want):
        assert got == want
    else:
        assert got == pytest.approx(want, rel=RTOL)


def test_tpsnr_unmasked_matches_opencv(rng):
    a, b = _pair(rng, (45, 61, 3), np.uint8)
    assert ops.tpsnr(a, b) == pytest.approx(cv2.PSNR(a, b), rel=1e-9)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_tpsnr_noncontiguous_views(rng, dtype):
    a, b = _pair(rng, (41, 38, 4), dtype)
    m = rng.random((41, 38), dtype=np.float32)
    views = [
        (a[:, ::2], b[:, ::2], m[:, ::2]),  # strided columns: copied
        (a[::-1], b[::-1], m[::-1]),  # negative row stride: used in place
        (a[1::2], b[::2][:20], m[::2][1:]),  # strided rows
        (a[3:30, 5:31], b[2:29, 7:33], m[4:31, 1:27]),  # crops (row stride)
        (a[..., 1], b[..., 2], m),  # channel slice -> H x W, strided
        (a[..., :3], b[..., 1:], m.T.copy().T),  # 3 of 4 channels; Fortran mask
        (np.asfortranarray(a), b, np.asfortranarray(m)),
    ]
    for x, y, mm in views:
        for mask in (None, mm):
            want = ref.tpsnr(x, y, mask)
            assert ops.tpsnr(x, y, mask) == pytest.approx(want, rel=RTOL)


def test_tpsnr_unaligned_float_buffer(rng):
    a, b = _pair(rng, (9, 7, 3), np.float32)
    buf = np.zeros(a.nbytes + 1, np.uint8)
    un = np.frombuffer(buf.data, dtype=np.float32, count=a.size, offset=1).reshape(a.shape)
    assert un.ctypes.data % 4 != 0
    un_w = un.copy()  # aligned copy for the reference
    un[...] = a
    un_w[...] = a
    assert ops.tpsnr(un, b) == pytest.approx(ref.tpsnr(a, b), rel=RTOL)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (5, 7, 3), (8, 8, 4)])
def test_identical_frames_are_inf(rng, dtype, shape):
    a, _ = _pair(rng, shape, dtype)
    assert ops.tpsnr(a, a.copy()) == float("inf")
    assert ops.tpsnr(a, a, rng.random(shape[:2], dtype=np.float32) * 0.9 + 0.05) == float("inf")
    # A difference only where the mask is 0 is invisible.
    b = a.copy()
    b[0, 0] = 255 - b[0, 0] if dtype == np.uint8 else b[0, 0] + 3
    m = np.ones(shape[:2], np.float32)
    m[0, 0] = 0
    if m.sum() > 0:
        assert ops.tpsnr(a, b, m) == float("inf")


@pytest.mark.parametrize("d", [1, 2, 5, 16])
def test_astronaut_constant_offset_known_psnr(astronaut_bgr, d):
    base = np.minimum(astronaut_bgr, 255 - d)  # no saturation: every sample moves by exactly d
    cur = base + np.uint8(d)
    expected = 20 * math.log10(255 / d)
    assert ops.tpsnr(base, cur) == pytest.approx(expected, rel=1e-12)
    assert ops.tpsnr(base.astype(np.float32), cur.astype(np.float32)) == pytest.approx(expected, rel=1e-12)
    # Any mask: every pixel has the same error, so the weighted MSE is the same.
    m = np.zeros(base.shape[:2], np.float32)
    m[100:300, 150:350] = 0.3
    m[200:220, :] = 1.0
    assert ops.tpsnr(base, cur, m) == pytest.approx(expected, rel=1e-9)


def test_astronaut_shift_and_noise(astronaut_bgr, rng):
    a = astronaut_bgr
    shifted = np.roll(a, 1, axis=1)
    noisy = np.clip(a + rng.normal(0, 4, a.shape), 0, 255).astype(np.uint8)
    for b in (shifted, noisy):
        assert ops.tpsnr(a, b) == pytest.approx(ref.tpsnr(a, b), rel=RTOL)
        assert ops.tpsnr(a, b) == pytest.approx(cv2.PSNR(a, b), rel=1e-9)
    face = np.zeros(a.shape[:2], np.uint8)
    face[60:220, 150:320] = 255
    for b in (shifted, noisy):
        got = ops.tpsnr(a, b, face)
        assert got == pytest.approx(ref.tpsnr(a, b, face), rel=RTOL)
        # A 0/1 mask is the same as the crop.
        assert got == pytest.approx(cv2.PSNR(a[60:220, 150:320].copy(), b[60:220, 150:320].copy()), rel=1e-9)
    # Noise of std 4 (before clipping/rounding) -> about 20 log10(255 / 4) dB.
    assert abs(ops.tpsnr(a, noisy) - 20 * math.log10(255 / 4)) < 0.6


def test_mask_scale_invariance(rng):
    a, b = _pair(rng, (20, 30, 3), np.float32)
    m = rng.random((20, 30), dtype=np.float32)
    assert ops.tpsnr(a, b, m) == pytest.approx(ops.tpsnr(a, b, m * np.float32(0.25)), rel=1e-6)
    assert ops.tpsnr(a, b, np.ones((20, 30), np.float32)) == pytest.approx(ops.tpsnr(a, b), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("shape", [(2, 1, 1), (5, 9, 11, 3), (4, 8, 8), (3, 6, 5, 4)])
def test_tpsnr_sequence(rng, dtype, shape):
    frames = np.stack([_pair(rng, shape[1:], dtype)[0] for _ in range(shape[0])])
    frames[1] = frames[0]  # one identical pair -> inf
    for mask in (None, rng.random(shape[1:3], dtype=np.float32)):
        got = ops.tpsnr_sequence(frames, mask)
        want = ref.tpsnr_sequence(frames, mask)
        assert got.shape == (shape[0] - 1,) and got.dtype == np.float64
        assert got[0] == np.inf
        np.testing.assert_allclose(got, want, rtol=RTOL)
        pair = [ops.tpsnr(frames[t], frames[t + 1], mask) for t in range(shape[0] - 1)]
        np.testing.assert_allclose(got, pair, rtol=1e-12)
    # Non-contiguous sequence (every other frame).
    np.testing.assert_allclose(ops.tpsnr_sequence(frames[::-1]), ref.tpsnr_sequence(frames[::-1]), rtol=RTOL)


# --------------------------------------------------------------------------- bad input


def test_tpsnr_bad_input(rng):
    a, b = _pair(rng, (8, 9, 3), np.uint8)
    with pytest.raises(TypeError, match="'prev'"):
        ops.tpsnr(a.astype(np.float64), b)
    with pytest.raises(TypeError, match="'prev'"):
        ops.tpsnr(a.astype(np.int16), b)
    with pytest.raises(TypeError, match="'cur'"):
        ops.tpsnr(a, b.astype(np.float32))
    with pytest.raises(ValueError, match="'cur'"):
        ops.tpsnr(a, b[:, :8])
    with pytest.raises(ValueError, match="'cur'"):
        ops.tpsnr(a, b[..., 0])
    with pytest.raises(ValueError, match="'prev'"):
        ops.tpsnr(a.ravel(), b.ravel())
    with pytest.raises(ValueError, match="'prev'"):
        ops.tpsnr(a[None], b[None])
    with pytest.raises(ValueError, match="'prev'"):
        ops.tpsnr(a[..., :2], b[..., :2])  # 2 channels
    with pytest.raises(ValueError, match="'prev'"):
        ops.tpsnr(a[:0], b[:0])
    with pytest.raises(TypeError, match="'prev'"):
        ops.tpsnr(None, b)
    with pytest.raises(TypeError, match="'prev'"):
        _core.tpsnr("abc", b)
    # mask
    with pytest.raises(ValueError, match="'mask'"):
        ops.tpsnr(a, b, np.ones((8, 10), np.float32))
    with pytest.raises(ValueError, match="'mask'"):
        ops.tpsnr(a, b, np.ones((8, 9, 1), np.float32))
    with pytest.raises(TypeError, match="'mask'"):
        ops.tpsnr(a, b, np.ones((8, 9), np.int32))
    with pytest.raises(TypeError, match="'mask'"):
        _core.tpsnr(a, b, np.ones((8, 9), np.float64))
    with pytest.raises(ValueError, match="'mask'.*sums to 0"):
        ops.tpsnr(a, b, np.zeros((8, 9), np.float32))
    with pytest.raises(ValueError, match="'mask'.*sums to 0"):
        ops.tpsnr(a, a, np.zeros((8, 9), bool))
    for bad in (np.nan, np.inf, -0.5, 1.5):
        m = np.ones((8, 9), np.float32)
        m[3, 4] = bad
        with pytest.raises(ValueError, match="'mask'"):
            ops.tpsnr(a, b, m)
        with pytest.raises(ValueError, match="'mask'"):
            ops.tpsnr_sequence(np.stack([a, b]), m)
    # non-finite float frames
    fa, fb = a.astype(np.float32), b.astype(np.float32)
    for bad in (np.nan, np.inf):
        x = fa.copy()
        x[2, 3, 1] = bad
        with pytest.raises(ValueError, match="'prev'"):
            ops.tpsnr(x, fb)
        with pytest.raises(ValueError, match="'cur'"):
            ops.tpsnr(fa, x)
        with pytest.raises(ValueError, match="'frames'"):
            ops.tpsnr_sequence(np.stack([fa, x]))
    # sequence
    with pytest.raises(ValueError, match="'frames'"):
        ops.tpsnr_sequence(a[None])
    with pytest.raises(ValueError, match="'frames'"):
        ops.tpsnr_sequence(a[..., 0])  # a single H x W frame read as T x W: 2-D is not a sequence
    with pytest.raises(TypeError, match="'frames'"):
        ops.tpsnr_sequence(np.stack([a, b]).astype(np.float64))
    with pytest.raises(ValueError, match="'mask'"):
        ops.tpsnr_sequence(np.stack([a, b]), np.ones((9, 8), np.float32))


# --------------------------------------------------------------------------- hypothesis

_DTYPES = [np.uint8, np.float32, np.float64, np.int32, np.bool_]


@st.composite
def _frame_args(draw, lead=0):
    ndim = draw(st.integers(0, 5))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=ndim, max_size=ndim)))
    dtype = draw(st.sampled_from(_DTYPES))
    seed = draw(st.integers(0, 2**31 - 1))
    r = np.random.default_rng(seed)
    a = (r.random(shape) * 255).astype(dtype)
    same = draw(st.booleans())
    if same:
        b = (r.random(shape) * 255).astype(dtype)
    else:
        bshape = tuple(draw(st.lists(st.integers(0, 6), min_size=draw(st.integers(0, 4)), max_size=4)))
        b = (r.random(bshape) * 255).astype(draw(st.sampled_from(_DTYPES)))
    mkind = draw(st.sampled_from(["none", "match", "random", "nan", "zero", "f64"]))
    if mkind == "none":
        m = None
    elif mkind == "random":
        mshape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
        m = r.random(mshape).astype(np.float32)
    else:
        hw = shape[lead : lead + 2] if len(shape) >= lead + 2 else (1, 1)
        m = r.random(hw).astype(np.float64 if mkind == "f64" else np.float32)
        if mkind == "nan" and m.size:
            m.flat[0] = np.nan
        if mkind == "zero":
            m[...] = 0
    if draw(st.booleans()) and a.ndim >= 2 and a.shape[1] > 1:
        a, b = a[:, ::2], (b[:, ::2] if b.ndim >= 2 else b)
        if m is not None and m.ndim == 2 and lead == 0:
            m = m[:, ::2]
    return a, b, m


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frame_args())
def test_hypothesis_core_tpsnr(args):
    a, b, m = args
    try:
        got = _core.tpsnr(a, b, m)
    except (ValueError, TypeError):
        return
    assert isinstance(got, float)
    want = ref.tpsnr(a, b, m)
    assert got == want or got == pytest.approx(want, rel=RTOL)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frame_args(lead=1))
def test_hypothesis_core_tpsnr_sequence(args):
    a, _, m = args
    try:
        got = _core.tpsnr_sequence(a, m)
    except (ValueError, TypeError):
        return
    assert got.shape == (a.shape[0] - 1,) and got.dtype == np.float64
    np.testing.assert_allclose(got, ref.tpsnr_sequence(a, m), rtol=RTOL)


# --------------------------------------------------------------------------- QualityMonitor

H, W, T = 72, 96, 60
ROI = (24, 16, 40, 32)  # x, y, w, h
FLICKER = (12, 30, 45)


def _moving_source(t_len=T, h=H, w=W):
    """A smoothly drifting two-frequency pattern (real motion every frame)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for t in range(t_len):
        v = 128 + 60 * np.sin((xx - 0.7 * t) / 9.0) * np.cos((yy + 0.4 * t) / 13.0) + 30 * np.sin((xx + yy + t) / 21.0)
        frames.append(np.stack([v, 0.8 * v + 20, 255 - v], axis=-1).clip(0, 255).astype(np.uint8))
    return frames


def _with_flicker(src, frames=FLICKER, delta=25):
    x, y, w, h = ROI
    out = []
    for t, f in enumerate(src):
        g = f.copy()
        if t in frames:
            g[y : y + h, x : x + w] = np.clip(g[y : y + h, x : x + w].astype(np.int16) + delta, 0, 255)
        out.append(g)
    return out


def _run(mon, out, src, roi=ROI, **kw):
    return [mon.update(o, source=s, roi=roi, **kw) for o, s in zip(out, src)]


def test_monitor_flags_injected_flicker():
    src = _moving_source()
    out = _with_flicker(src)
    mon = ops.QualityMonitor(jitter_margin_db=1.0, window=15)
    recs = _run(mon, out, src)
    assert recs[0]["tpsnr"] is None and recs[0]["dtpsnr"] is None and not recs[0]["jitter"]
    s = mon.summary()
    expected = sorted({k for f in FLICKER for k in (f, f + 1)})
    assert s["jitter"]["series"] == "dtpsnr_roi"
    assert s["jitter"]["indices"] == expected
    assert s["jitter"]["suspect_frames"] == list(FLICKER)
    assert s["jitter"]["count"] == len(expected)
    assert s["jitter"]["percent"] == pytest.approx(100 * len(expected) / (T - 1))
    assert s["jitter"]["by_series"]["dtpsnr"] == expected  # whole-frame dtPSNR catches it too here
    assert [r["index"] for r in recs if r["jitter"]] == expected
    # Clean transitions: output == source, so dtPSNR is exactly 0.
    for r in recs[1:]:
        if r["index"] not in expected:
            assert r["dtpsnr"] == 0 and r["dtpsnr_roi"] == 0
        else:
            assert r["dtpsnr_roi"] < r["dtpsnr"] < -1
    # Summary statistics against values computed here from the frames.
    x, y, w, h = ROI
    tp = [ops.tpsnr(out[t - 1], out[t]) for t in range(1, T)]
    tps = [ops.tpsnr(src[t - 1], src[t]) for t in range(1, T)]
    tpr = [ref.tpsnr(out[t - 1][y : y + h, x : x + w], out[t][y : y + h, x : x + w]) for t in range(1, T)]
    tpsr = [ref.tpsnr(src[t - 1][y : y + h, x : x + w], src[t][y : y + h, x : x + w]) for t in range(1, T)]
    for key, vals in {
        "tpsnr": tp,
        "tpsnr_source": tps,
        "dtpsnr": np.subtract(tp, tps),
        "tpsnr_roi": tpr,
        "dtpsnr_roi": np.subtract(tpr, tpsr),
    }.items():
        v = np.asarray(vals)
        assert s[key]["count"] == T - 1
        assert s[key]["mean"] == pytest.approx(v.mean(), rel=1e-6, abs=1e-9)
        assert s[key]["std"] == pytest.approx(v.std(), rel=1e-6, abs=1e-9)
        assert s[key]["min"] == pytest.approx(v.min(), rel=1e-6, abs=1e-9)
        assert s[key]["max"] == pytest.approx(v.max(), rel=1e-6, abs=1e-9)
    assert s["count"] == T and s["transitions"] == T - 1
    assert "nmj" not in s and s["nmj_overall"] is None


def test_monitor_flags_flicker_over_processing_noise():
    """Output = source + per-frame noise (dtPSNR about -2 dB, drifting) + a weaker flicker."""
    src = _moving_source()
    rng = np.random.default_rng(7)
    out = [
        np.clip(o.astype(np.int16) + rng.integers(-2, 3, o.shape), 0, 255).astype(np.uint8)
        for o in _with_flicker(src, delta=12)
    ]
    mon = ops.QualityMonitor(jitter_margin_db=1.0, window=15)
    _run(mon, out, src)
    s = mon.summary()
    assert s["jitter"]["indices"] == sorted({k for f in FLICKER for k in (f, f + 1)})
    assert s["jitter"]["suspect_frames"] == list(FLICKER)
    assert -4 < s["dtpsnr"]["max"] < 0 and s["dtpsnr_roi"]["min"] < -8


def test_monitor_native_matches_reference_and_mask_roi():
    src = _moving_source(30)
    out = _with_flicker(src, frames=(9, 20))
    mon = ops.QualityMonitor(jitter_margin_db=1.0, window=10)
    rmon = ref.QualityMonitor(jitter_margin_db=1.0, window=10)
    x, y, w, h = ROI
    mask = np.zeros((H, W), np.uint8)
    mask[y : y + h, x : x + w] = 255
    mmon = ops.QualityMonitor(jitter_margin_db=1.0, window=10)
    _run(mon, out, src)
    _run(rmon, out, src)
    _run(mmon, out, src, roi=mask)
    a, b, c = mon.series(), rmon.series(), mmon.series()
    for key in ("tpsnr", "tpsnr_source", "dtpsnr", "tpsnr_roi", "tpsnr_source_roi", "dtpsnr_roi"):
        for u, v, z in zip(a[key], b[key], c[key]):
            assert (u is None) == (v is None) == (z is None)
            if u is not None:
                assert u == pytest.approx(v, rel=RTOL, abs=1e-9) and u == pytest.approx(z, rel=RTOL, abs=1e-9)
    assert a["jitter"] == b["jitter"] == c["jitter"]
    assert mon.summary()["jitter"]["indices"] == [9, 10, 20, 21]


def test_monitor_without_source_flags_raw_tpsnr():
    src = _moving_source(40)
    out = _with_flicker(src, frames=(25,), delta=40)
    mon = ops.QualityMonitor(jitter_margin_db=3.0, window=20)
    for o in out:
        rec = mon.update(o, roi=ROI)
        assert rec["dtpsnr"] is None and rec["tpsnr_source"] is None
    s = mon.summary()
    assert s["jitter"]["series"] == "tpsnr_roi"
    assert s["jitter"]["indices"] == [25, 26]
    assert "dtpsnr" not in s and "tpsnr_roi" in s


def test_monitor_identical_frames_capped_and_json(tmp_path):
    still = np.full((20, 24, 3), 90, np.uint8)
    mon = ops.QualityMonitor(cap_db=100.0, min_history=2)
    changed = still.copy()
    changed[3, 4, 0] = 95  # a tiny change on a static scene
    for t in range(8):
        out = changed if t == 5 else still
        rec = mon.update(out, source=still, roi=(0, 0, 12, 12))
        if t and t not in (5, 6):
            assert rec["tpsnr"] == 100.0 and rec["tpsnr_source"] == 100.0 and rec["dtpsnr"] == 0.0
    s = mon.summary()
    assert s["tpsnr"]["max"] == 100.0 and s["tpsnr"]["min"] == pytest.approx(ref.tpsnr(still, changed), rel=RTOL)
    # With tiny changes both sides capped at 100 dB: 10 log10(255^2 / (25 / 1440)) = 65.7 dB < 100.
    assert s["dtpsnr"]["min"] == pytest.approx(ref.tpsnr(still, changed) - 100.0, rel=RTOL)
    p = tmp_path / "q.json"
    mon.to_json(p)
    with open(p) as fh:
        data = json.load(fh)
    assert data["summary"] == json.loads(json.dumps(s))
    assert data["frames"]["index"] == list(range(8))
    assert data["frames"]["tpsnr"][0] is None and data["frames"]["tpsnr"][1] == 100.0
    assert len(data["frames"]["dtpsnr_roi"]) == 8


def test_monitor_to_json_and_plot(tmp_path):
    src = _moving_source(40)
    out = _with_flicker(src, frames=(15, 28))
    rng = np.random.default_rng(3)
    lm0 = rng.random((5, 2)) * 30 + 20
    mon = ops.QualityMonitor(jitter_margin_db=1.0, window=12)
    for t, (o, s) in enumerate(zip(out, src)):
        mon.update(o, source=s, roi=ROI, landmarks=lm0 + t + rng.normal(0, 0.3, lm0.shape))
    j = tmp_path / "quality.json"
    mon.to_json(str(j))
    data = json.loads(j.read_text())
    assert data["summary"]["jitter"]["indices"] == [15, 16, 28, 29]
    assert data["summary"]["count"] == 40
    assert data["summary"]["nmj_overall"] > 0
    for key in ("tpsnr", "dtpsnr", "dtpsnr_roi", "nmj", "jitter", "threshold"):
        assert len(data["frames"][key]) == 40
    assert data["frames"]["dtpsnr_roi"][1:] == pytest.approx(mon.series()["dtpsnr_roi"][1:])
    png = tmp_path / "quality.png"
    mon.plot(png)
    blob = png.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(blob) > 20_000
    mon.reset()
    assert mon.count == 0 and mon.summary()["transitions"] == 0
    mon.plot(tmp_path / "empty.png")  # an empty monitor still plots
    assert (tmp_path / "empty.png").read_bytes()[:4] == b"\x89PNG"


def test_monitor_copies_frames_and_reset():
    rng = np.random.default_rng(0)
    buf = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    mon = ops.QualityMonitor()
    mon.update(buf)
    first = buf.copy()
    buf[...] = rng.integers(0, 256, buf.shape, dtype=np.uint8)  # a reader reusing its buffer
    rec = mon.update(buf)
    assert rec["tpsnr"] == pytest.approx(ref.tpsnr(first, buf), rel=RTOL)
    mon.reset()
    assert mon.update(buf[:5])["tpsnr"] is None  # a new shape is fine after reset


def test_monitor_bad_input():
    f = np.zeros((10, 12, 3), np.uint8)
    for kw, name in [
        ({"jitter_margin_db": -1}, "jitter_margin_db"),
        ({"jitter_margin_db": float("nan")}, "jitter_margin_db"),
        ({"window": 0}, "window"),
        ({"window": 2.5}, "window"),
        ({"window": 5, "min_history": 6}, "min_history"),
        ({"cap_db": 0}, "cap_db"),
        ({"face_size": -2.0}, "face_size"),
    ]:
        with pytest.raises(ValueError, match=f"'{name}'"):
            ops.QualityMonitor(**kw)
    mon = ops.QualityMonitor()
    mon.update(f)
    with pytest.raises(ValueError, match="'frame'"):
        mon.update(f[:, :11])
    with pytest.raises(ValueError, match="'frame'"):
        mon.update(f.astype(np.float32))
    with pytest.raises(TypeError, match="'frame'"):
        mon.update(f.astype(np.float64))
    with pytest.raises(ValueError, match="'source'"):
        mon.update(f, source=f[..., 0])
    with pytest.raises(ValueError, match="'roi'"):
        mon.update(f, roi=(0, 0, 0, 5))
    with pytest.raises(ValueError, match="'roi'"):
        mon.update(f, roi=(50, 50, 5, 5))
    with pytest.raises(ValueError, match="'roi'"):
        mon.update(f, roi=(1, 2, 3))
    with pytest.raises(TypeError, match="'roi'"):
        mon.update(f, roi="face")
    with pytest.raises(ValueError, match="'roi'"):
        mon.update(f, roi=np.ones((10, 11), np.float32))
    with pytest.raises(ValueError, match="'roi'"):
        mon.update(f, roi=np.zeros((10, 12), np.float32))  # mask sums to 0 -> names the roi
    with pytest.raises(ValueError, match="'landmarks'"):
        mon.update(f, landmarks=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="'gt_landmarks'"):
        mon.update(f, landmarks=np.zeros((5, 2)), gt_landmarks=np.zeros((4, 2)))
    assert mon.count == 1  # failed updates leave the state alone


# --------------------------------------------------------------------------- landmark NMJ


def _face68(rng):
    base = rng.normal(0, 1, (68, 2)) * 25 + 200
    base[36] = (160.0, 190.0)
    base[45] = (240.0, 190.0)  # inter-ocular distance 80
    return base


def test_nmj_constant_offset_is_zero(rng):
    base = _face68(rng)
    t = np.arange(50)[:, None, None]
    gt = base[None] + t * np.array([1.5, -0.5]) + 3 * np.sin(t / 5.0)
    assert ops.landmark_nmj(gt + np.array([4.0, -2.0]), gt) == pytest.approx(0.0, abs=1e-12)
    # Without gt: constant velocity has no second difference.
    lin = base[None] + t * np.array([1.5, -0.5])
    assert ops.landmark_nmj(lin) == pytest.approx(0.0, abs=1e-12)


def test_nmj_white_noise_predictable(rng):
    sigma, t_len = 0.8, 400
    base = _face68(rng)
    gt = np.repeat(base[None], t_len, 0) + np.arange(t_len)[:, None, None] * np.array([0.7, 0.2])
    lm = gt + rng.normal(0, sigma, gt.shape)
    iod = 80.0
    assert ops.face_size_from_landmarks(base) == pytest.approx(iod)
    # gt: e[t] - e[t-1] has per-coordinate variance 2 sigma^2 -> RMS norm 2 sigma.
    assert ops.landmark_nmj(lm, gt) == pytest.approx(2 * sigma / iod, rel=0.03)
    # no gt: x[t] - 2x[t-1] + x[t-2] has variance 6 sigma^2 per coordinate -> sqrt(12) sigma.
    assert ops.landmark_nmj(lm) == pytest.approx(math.sqrt(12) * sigma / iod, rel=0.03)
    # A fixed face size scales it.
    assert ops.landmark_nmj(lm, gt, face_size=160.0) == pytest.approx(ops.landmark_nmj(lm, gt) / 2, rel=1e-9)


def test_nmj_matches_reference_multi_face(rng):
    lm = rng.random((12, 3, 9, 2)) * 100
    gt = lm + rng.normal(0, 2, lm.shape)
    for args in [(lm, None, None), (lm, gt, None), (lm, gt, 50.0), (lm, None, rng.random(12) + 10),
                 (lm, gt, rng.random((12, 3)) * 20 + 30), (lm[:, 0], gt[:, 0], None)]:
        assert ops.landmark_nmj(*args) == pytest.approx(ref.landmark_nmj(*args), rel=1e-9)
    lm68 = rng.random((7, 68, 2)) * 100
    assert ops.landmark_nmj(lm68) == pytest.approx(ref.landmark_nmj(lm68), rel=1e-9)
    assert ops.landmark_nmj(lm68.astype(np.float32)) == pytest.approx(ref.landmark_nmj(lm68.astype(np.float32)), rel=1e-6)


@pytest.mark.parametrize("with_gt", [False, True])
def test_monitor_nmj_equals_landmark_nmj(rng, with_gt):
    t_len = 25
    lm = rng.random((t_len, 2, 68, 2)) * 100 + 50
    gt = lm + rng.normal(0, 1, lm.shape) if with_gt else None
    mon = ops.QualityMonitor()
    frame = np.zeros((4, 4), np.uint8)
    for t in range(t_len):
        rec = mon.update(frame, landmarks=lm[t], gt_landmarks=None if gt is None else gt[t])
        assert (rec["nmj"] is None) == (t < (1 if with_gt else 2))
    s = mon.summary()
    assert s["nmj_overall"] == pytest.approx(ops.landmark_nmj(lm, gt), rel=1e-9)
    assert s["nmj"]["count"] == t_len - (1 if with_gt else 2)
    # Missing landmarks on a frame restart the track.
    assert mon.update(frame)["nmj"] is None
    assert mon.update(frame, landmarks=lm[0, 0])["nmj"] is None


def test_nmj_bad_input(rng):
    lm = rng.random((10, 5, 2))
    with pytest.raises(ValueError, match="'landmarks'"):
        ops.landmark_nmj(lm[..., :1])
    with pytest.raises(ValueError, match="'landmarks'"):
        ops.landmark_nmj(lm[0])
    with pytest.raises(ValueError, match="'landmarks'"):
        ops.landmark_nmj(lm[:2])  # T >= 3 without gt
    with pytest.raises(ValueError, match="'landmarks'"):
        ops.landmark_nmj(lm[:1], lm[:1])  # T >= 2 with gt
    with pytest.raises(ValueError, match="'gt'"):
        ops.landmark_nmj(lm, lm[:, :4])
    bad = lm.copy()
    bad[3, 2, 0] = np.nan
    with pytest.raises(ValueError, match="'landmarks'"):
        ops.landmark_nmj(bad)
    with pytest.raises(ValueError, match="'gt'"):
        ops.landmark_nmj(lm, bad)
    with pytest.raises(TypeError, match="'landmarks'"):
        ops.landmark_nmj(lm.astype(str))
    with pytest.raises(ValueError, match="'face_size'"):
        ops.landmark_nmj(lm[:, :1])  # one point: bounding box of size 0
    with pytest.raises(ValueError, match="'face_size'"):
        ops.landmark_nmj(lm, face_size=0.0)
    with pytest.raises(ValueError, match="'face_size'"):
        ops.landmark_nmj(lm, face_size=np.ones(4))
