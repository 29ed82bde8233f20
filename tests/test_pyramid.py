"""Multi-band (Laplacian-pyramid) blending: native core vs the NumPy/cv2 reference."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facefuse import _core, ops
from facefuse import reference as ref

U8_MAX, U8_MEAN = 2, 0.5  # uint8 native vs reference, grey levels
F32_ATOL = 1e-3 * 255 / 255  # float32 frames on the [0, 255] scale


def _frames(rng, shape, dtype):
    if dtype == np.uint8:
        return (rng.integers(0, 256, shape, dtype=np.uint8), rng.integers(0, 256, shape, dtype=np.uint8))
    return (
        (rng.random(shape) * 255).astype(np.float32),
        (rng.random(shape) * 255).astype(np.float32),
    )


def _assert_close(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    if a.dtype == np.uint8:
        d = np.abs(a.astype(np.int16) - b.astype(np.int16))
        assert d.max() <= U8_MAX and d.mean() <= U8_MEAN, (d.max(), d.mean())
    else:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3 * max(1.0, float(np.abs(b).max()) / 255.0))


def _ellipse_mask(h, w, soft=0.25):
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((yy - h / 2) / (0.35 * h), (xx - w / 2) / (0.3 * w))
    return np.clip((1.0 - r) / soft, 0.0, 1.0).astype(np.float32)


# ---- the levels rule -------------------------------------------------------------

@pytest.mark.parametrize(
    "h,w,n", [(1, 1, 1), (1, 9, 1), (9, 1, 1), (2, 2, 2), (3, 3, 3), (2, 7, 2), (512, 512, 10), (1080, 1920, 12)]
)
def test_max_levels_rule(h, w, n):
    assert ops.max_levels(h, w) == ref.max_levels(h, w) == _core.max_levels(h, w) == n


def test_max_levels_matches_cv2_sizes():
    # Each level the rule allows is a size cv2 pyrDown/pyrUp accept, and the last one has min(h, w) == 1.
    for h, w in [(1, 1), (2, 3), (5, 5), (7, 2), (33, 17), (100, 1)]:
        g = ref.gaussian_pyramid(np.zeros((h, w), np.float32), 100)
        assert len(g) == ops.max_levels(h, w)
        assert min(g[-1].shape) == 1
        for k in range(len(g) - 1):
            assert g[k + 1].shape == ((g[k].shape[0] + 1) // 2, (g[k].shape[1] + 1) // 2)


def test_max_levels_bad():
    with pytest.raises(ValueError, match="'h'"):
        ops.max_levels(0, 5)
    with pytest.raises(ValueError, match="'w'"):
        ref.max_levels(5, -1)
    with pytest.raises(TypeError, match="'w'"):
        _core.max_levels(5, 2.5)


# ---- native vs reference -----------------------------------------------------------

SHAPES = [(1, 1), (1, 1, 3), (2, 2, 3), (2, 2), (1, 9, 3), (7, 1), (3, 2, 1), (2, 9), (17, 23, 3), (31, 16, 1),
          (64, 48), (100, 131, 3)]


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("levels", [1, 2, 5, 50])
def test_native_matches_reference_random(rng, shape, dtype, levels):
    d, s = _frames(rng, shape, dtype)
    m = rng.random(shape[:2]).astype(np.float32)
    out = ops.blend_laplacian(d, s, m, levels)
    _assert_close(out, ref.blend_laplacian(d, s, m, levels))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_native_matches_reference_astronaut(astronaut_bgr, dtype):
    dst = astronaut_bgr.astype(dtype)
    src = np.ascontiguousarray(np.roll(astronaut_bgr[:, ::-1], 40, axis=0)).astype(dtype)
    m = _ellipse_mask(*dst.shape[:2])
    for levels in (1, 3, 5, 8):
        out = ops.blend_laplacian(dst, src, m, levels)
        expect = ref.blend_laplacian(dst, src, m, levels)
        _assert_close(out, expect)
    # Outside the (blurred) mask support the result is dst, at the centre it is src.
    out = ops.blend_laplacian(dst, src, m, 5)
    assert np.abs(out[:5, :5].astype(float) - dst[:5, :5]).max() <= 1
    assert np.abs(out[236:276, 236:276].astype(float) - src[236:276, 236:276]).max() <= 2


def test_odd_size_photo_crop(astronaut_bgr):
    dst = astronaut_bgr[3:300, 7:260]
    src = astronaut_bgr[100:397, 200:453]
    m = _ellipse_mask(*dst.shape[:2])
    for levels in (4, 6, 100):
        _assert_close(ops.blend_laplacian(dst, src, m, levels), ref.blend_laplacian(dst, src, m, levels))


def test_non_contiguous_views(rng):
    d, s = _frames(rng, (40, 70, 3), np.uint8)
    m = rng.random((40, 70)).astype(np.float32)
    views = [
        (d[:, ::2], s[:, ::2], m[:, ::2]),
        (d[::-1], s[::-1], m[::-1]),
        (d[..., 1], s[..., 2], m),
        (d[..., 1:2], s[..., 0:1], m),
        (d.transpose(1, 0, 2), s.transpose(1, 0, 2), m.T),
    ]
    for dv, sv, mv in views:
        _assert_close(ops.blend_laplacian(dv, sv, mv, 4), ref.blend_laplacian(dv, sv, mv, 4))
    for dv, sv, mv in views:  # views of the float frames too
        dv, sv = dv.astype(np.float32)[::1], sv.astype(np.float32)
        _assert_close(ops.blend_laplacian(dv, sv, mv, 4), ref.blend_laplacian(dv, sv, mv, 4))


def test_output_layout_and_inputs_untouched(rng):
    d, s = _frames(rng, (9, 11, 1), np.uint8)
    m = rng.random((9, 11)).astype(np.float32)
    d0, s0, m0 = d.copy(), s.copy(), m.copy()
    out = ops.blend_laplacian(d, s, m)
    assert out.shape == (9, 11, 1) and out.dtype == np.uint8
    assert np.array_equal(d, d0) and np.array_equal(s, s0) and np.array_equal(m, m0)
    assert out.flags.c_contiguous and not np.shares_memory(out, d)


def test_levels_one_is_alpha_blend(rng):
    d, s = _frames(rng, (13, 21, 3), np.float32)
    m = rng.random((13, 21)).astype(np.float32)
    expect = d + m[..., None] * (s - d)
    np.testing.assert_allclose(ops.blend_laplacian(d, s, m, 1), expect, atol=1e-3)


def test_constant_masks(rng):
    d, s = _frames(rng, (37, 53, 3), np.uint8)
    one, zero = np.ones((37, 53), np.float32), np.zeros((37, 53), np.float32)
    assert np.abs(ops.blend_laplacian(d, s, one, 5).astype(int) - s).max() <= 1
    assert np.abs(ops.blend_laplacian(d, s, zero, 5).astype(int) - d).max() <= 1


def test_mask_conveniences(rng):
    d, s = _frames(rng, (20, 30, 3), np.uint8)
    m8 = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    mf = m8.astype(np.float32) / 255
    base = ops.blend_laplacian(d, s, mf)
    assert np.array_equal(ops.blend_laplacian(d, s, m8), base)
    assert np.abs(ops.blend_laplacian(d, s, mf.astype(np.float64)).astype(int) - base).max() <= 1
    mb = m8 > 128
    _assert_close(ops.blend_laplacian(d, s, mb), ref.blend_laplacian(d, s, mb.astype(np.float32)))
    # lists are accepted for frames
    _assert_close(ops.blend_laplacian(d[:2, :2].tolist() and d[:2, :2], s[:2, :2], mf[:2, :2].tolist()),
                  ref.blend_laplacian(d[:2, :2], s[:2, :2], mf[:2, :2]))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_mask_out_of_range_is_clamped(rng, dtype):
    d, s = _frames(rng, (19, 26, 3), dtype)
    m = (rng.random((19, 26)) * 3 - 1).astype(np.float32)  # [-1, 2)
    m0 = m.copy()
    clamped = np.clip(m, 0, 1)
    out = ops.blend_laplacian(d, s, m, 4)
    _assert_close(out, ref.blend_laplacian(d, s, m, 4))
    assert np.array_equal(out, ops.blend_laplacian(d, s, clamped, 4))
    big = np.full((19, 26), 1e30, np.float32)
    assert np.abs(ops.blend_laplacian(d, s, big, 4).astype(float) - s).max() <= 1e-3 * 255 + 1
    assert np.array_equal(m, m0)  # the caller's mask is not clamped in place


def test_float32_not_clamped(rng):
    d = np.full((16, 16, 3), 250.0, np.float32)
    s = np.full((16, 16, 3), 300.0, np.float32)
    m = np.ones((16, 16), np.float32)
    out = ops.blend_laplacian(d, s, m, 3)
    np.testing.assert_allclose(out, 300.0, atol=1e-3)


def test_linearity_trick_matches_two_pyramids(rng):
    # blend = dst + collapse(m * L(src - dst)) equals the two-pyramid form to float rounding.
    d, s = _frames(rng, (45, 67, 3), np.float32)
    m = rng.random((45, 67)).astype(np.float32)
    lap = ref.laplacian_pyramid(s - d, 4)
    gm = ref.gaussian_pyramid(m, 4)
    acc = lap[-1] * gm[-1][..., None]
    for band, mk in zip(reversed(lap[:-1]), reversed(gm[:-1])):
        acc = cv2.pyrUp(acc, dstsize=(band.shape[1], band.shape[0])) + band * mk[..., None]
    np.testing.assert_allclose(d + acc, ref.blend_laplacian(d, s, m, 4), atol=1e-3)


# ---- pyramid helpers ----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1), (2, 2, 3), (5, 7, 1), (33, 20, 3), (64, 48), (131, 97, 3)])
def test_pyr_down_up_match_cv2(rng, shape):
    a = (rng.random(shape) * 255).astype(np.float32)
    d = _core.pyr_down(a)
    assert d.shape == ((shape[0] + 1) // 2, (shape[1] + 1) // 2) + shape[2:]
    np.testing.assert_allclose(d, cv2.pyrDown(a).reshape(d.shape), atol=1e-3)
    for h in (2 * shape[0] - 1, 2 * shape[0]):
        for w in (2 * shape[1] - 1, 2 * shape[1]):
            u = _core.pyr_up(a, h, w)
            assert u.shape == (h, w) + shape[2:]
            np.testing.assert_allclose(u, cv2.pyrUp(a, dstsize=(w, h)).reshape(u.shape), atol=1e-3)


@pytest.mark.parametrize("shape", [(1, 1), (2, 9, 3), (37, 53, 3), (40, 41, 1), (100, 80)])
@pytest.mark.parametrize("levels", [1, 3, 6, 99])
def test_gaussian_laplacian_pyramids_match_reference(rng, shape, levels):
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    g, gr = ops.gaussian_pyramid(img, levels), ref.gaussian_pyramid(img, levels)
    lap, lr = ops.laplacian_pyramid(img, levels), ref.laplacian_pyramid(img, levels)
    assert len(g) == len(gr) == len(lap) == len(lr) == min(levels, ops.max_levels(*shape[:2]))
    for a, b in zip(g + lap, gr + lr):
        assert a.dtype == np.float32 and a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-3)
    # collapsing the Laplacian pyramid gives the image back
    acc = lap[-1]
    for band in reversed(lap[:-1]):
        acc = _core.pyr_up(acc, band.shape[0], band.shape[1]) + band
    np.testing.assert_allclose(acc, img.astype(np.float32), atol=1e-3)


def test_pyramid_helpers_bad_input(rng):
    img = rng.random((8, 9, 3)).astype(np.float32)
    with pytest.raises(TypeError, match="'levels'"):
        ops.gaussian_pyramid(img, 2.5)
    with pytest.raises(ValueError, match="'levels'"):
        ops.laplacian_pyramid(img, 0)
    with pytest.raises(ValueError, match="'img'"):
        ops.gaussian_pyramid(np.zeros((8, 9, 4), np.float32), 3)
    with pytest.raises(ValueError, match="'img'"):
        ops.gaussian_pyramid(np.zeros((0, 9), np.float32), 3)
    with pytest.raises(TypeError, match="'img'"):
        ops.gaussian_pyramid(np.zeros((8, 9), np.int32), 3)
    with pytest.raises(TypeError, match="'img'"):
        _core.pyr_down(img.astype(np.float64))
    with pytest.raises(ValueError, match="'img'"):
        _core.pyr_up(np.zeros((3,), np.float32), 5, 5)
    with pytest.raises(ValueError, match="'h'"):
        _core.pyr_up(img, 14, 18)
    with pytest.raises(ValueError, match="'w'"):
        _core.pyr_up(img, 16, 19)
    with pytest.raises(TypeError, match="'h'"):
        _core.pyr_up(img, 16.0, 18)


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(0, 30),
    w=st.integers(0, 30),
    ch=st.sampled_from([None, 1, 3, 3, 2]),
    dt=st.sampled_from([np.float32, np.float32, np.float32, np.float64, np.uint8]),
    dh=st.integers(-2, 2),
    dw=st.integers(-2, 2),
    seed=st.integers(0, 2**31),
)
def test_core_pyr_down_up_never_crash(h, w, ch, dt, dh, dw, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w) if ch is None else (h, w, ch)
    a = (rng.random(shape) * 255).astype(dt)
    try:
        d = _core.pyr_down(a)
    except (ValueError, TypeError):
        d = None
    else:
        assert d.shape == ((h + 1) // 2, (w + 1) // 2) + shape[2:] and d.dtype == np.float32
        np.testing.assert_allclose(d, cv2.pyrDown(a).reshape(d.shape), atol=1e-3)
    th, tw = 2 * h + min(dh, 0), 2 * w + min(dw, 0)
    try:
        u = _core.pyr_up(a, th, tw)
    except (ValueError, TypeError):
        return
    assert u.shape == (th, tw) + shape[2:] and u.dtype == np.float32
    np.testing.assert_allclose(u, cv2.pyrUp(a, dstsize=(tw, th)).reshape(u.shape), atol=1e-3)


# ---- bad input --------------------------------------------------------------------

def _ok(rng):
    d, s = _frames(rng, (8, 9, 3), np.uint8)
    return d, s, rng.random((8, 9)).astype(np.float32)


@pytest.mark.parametrize("fn", [ops.blend_laplacian, _core.blend_laplacian, ref.blend_laplacian])
def test_bad_input(rng, fn):
    d, s, m = _ok(rng)
    with pytest.raises(TypeError, match="'dst'"):
        fn(d.astype(np.int32), s.astype(np.int32), m)
    with pytest.raises(TypeError, match="'src'"):
        fn(d, s.astype(np.float32), m)
    with pytest.raises(ValueError, match="'dst'"):
        fn(d[..., None], s[..., None], m)
    with pytest.raises(ValueError, match="'dst'"):
        fn(np.zeros((8, 9, 4), np.uint8), np.zeros((8, 9, 4), np.uint8), m)
    with pytest.raises(ValueError, match="'dst'"):
        fn(d[:0], s[:0], m[:0])
    with pytest.raises(ValueError, match="'dst'"):
        fn(d[:, :0], s[:, :0], m[:, :0])
    with pytest.raises(ValueError, match="'src'"):
        fn(d, s[:7], m)
    with pytest.raises(ValueError, match="'mask'"):
        fn(d, s, m[:7])
    bad = m.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="'mask'"):
        fn(d, s, bad)
    bad[3, 4] = np.inf
    with pytest.raises(ValueError, match="'mask'"):
        fn(d, s, bad)
    for lv in (0, -3):
        with pytest.raises(ValueError, match="'levels'"):
            fn(d, s, m, lv)
    for lv in (2.0, "5", None, True):
        with pytest.raises(TypeError, match="'levels'"):
            fn(d, s, m, lv)


def test_core_bad_mask_dtype_and_gpu(rng):
    d, s, m = _ok(rng)
    with pytest.raises(TypeError, match="'mask'"):
        _core.blend_laplacian(d, s, m.astype(np.float64), 5)
    with pytest.raises(TypeError, match="'mask'"):
        _core.blend_laplacian(d, s, m[..., None], 5)
    with pytest.raises(TypeError, match="'mask'"):
        ops.blend_laplacian(d, s, m.astype(np.int32))
    with pytest.raises(TypeError, match="'dst'"):
        _core.blend_laplacian("frame", s, m, 5)

    class FakeGpu:
        __cuda_array_interface__ = {}

    with pytest.raises(TypeError, match="'src'"):
        ops.blend_laplacian(d, FakeGpu(), m)


def test_huge_levels_and_numpy_int(rng):
    d, s, m = _ok(rng)
    a = ops.blend_laplacian(d, s, m, np.int64(10**30 % 1000 + 10**6))
    b = ops.blend_laplacian(d, s, m, 10**40)
    c = ops.blend_laplacian(d, s, m, ops.max_levels(8, 9))
    assert np.array_equal(a, c) and np.array_equal(b, c)


# ---- hypothesis: the native entries never crash ---------------------------------

_dtypes = st.sampled_from([np.uint8, np.float32, np.uint8, np.float32, np.float64, np.int16, np.bool_])


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(0, 40),
    w=st.integers(0, 40),
    ch=st.sampled_from([None, 1, 3, 3, 2, 4]),
    dt=_dtypes,
    sdt=st.one_of(st.none(), st.none(), st.none(), _dtypes),
    mdt=st.sampled_from([np.float32, np.float32, np.float32, np.float64, np.uint8]),
    mshape=st.sampled_from(["ok", "ok", "ok", "short", "3d"]),
    levels=st.one_of(st.integers(-3, 40), st.integers(1, 8), st.just(10**30), st.floats(0, 10), st.none()),
    seed=st.integers(0, 2**31),
)
def test_core_blend_never_crashes(h, w, ch, dt, sdt, mdt, mshape, levels, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w) if ch is None else (h, w, ch)
    d = (rng.random(shape) * 255).astype(dt)
    s = (rng.random(shape) * 255).astype(dt if sdt is None else sdt)
    ms = {"ok": (h, w), "short": (h, max(w - 1, 0)), "3d": (h, w, 1)}[mshape]
    m = rng.random(ms).astype(mdt)
    try:
        out = _core.blend_laplacian(d, s, m, levels)
    except (ValueError, TypeError):
        return
    assert out.shape == d.shape and out.dtype == d.dtype
    if levels is not None and d.dtype in (np.uint8, np.float32):
        _assert_close(out, ref.blend_laplacian(d, s, m, levels))


@settings(max_examples=50, deadline=None)
@given(
    h=st.integers(1, 70),
    w=st.integers(1, 70),
    ch=st.sampled_from([None, 1, 3]),
    dt=st.sampled_from([np.uint8, np.float32]),
    levels=st.integers(1, 12),
    view=st.sampled_from(["c", "rev", "step"]),
    seed=st.integers(0, 2**31),
)
def test_core_blend_valid_matches_reference(h, w, ch, dt, levels, view, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w) if ch is None else (h, w, ch)
    d, s = _frames(rng, shape, dt)
    m = rng.random((h, w)).astype(np.float32)
    if view == "rev":
        d, s, m = d[::-1], s[:, ::-1], m[::-1]
    elif view == "step":
        d, s, m = np.repeat(d, 2, axis=1)[:, ::2], np.repeat(s, 2, axis=1)[:, ::2], np.repeat(m, 2, axis=1)[:, ::2]
    out = _core.blend_laplacian(d, s, m, levels)
    assert out.shape == d.shape and out.dtype == d.dtype
    _assert_close(out, ref.blend_laplacian(d, s, m, levels))


@settings(max_examples=60, deadline=None)
@given(h=st.one_of(st.integers(-5, 5000), st.floats(-1, 5)), w=st.one_of(st.integers(-5, 5000), st.none()))
def test_core_max_levels_never_crashes(h, w):
    try:
        n = _core.max_levels(h, w)
    except (ValueError, TypeError):
        return
    assert n == ref.max_levels(h, w)
