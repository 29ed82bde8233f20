"""Seamless (Poisson) blending: native multigrid vs an exact sparse solve of the same
discrete system, and vs cv2.seamlessClone (the reference) on a real photo."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facefuse import _core, ops
from facefuse import reference as ref

sparse = pytest.importorskip("scipy.sparse")
spsolve = pytest.importorskip("scipy.sparse.linalg").spsolve


# ---- the exact solve (the oracle of the solver) -------------------------------------

def unknowns(mask) -> np.ndarray:
    """mask > 0.5 off the image's outer 1-px frame (the documented rule)."""
    m = np.asarray(mask, dtype=np.float64)
    if np.asarray(mask).dtype == np.uint8:
        m = m / 255.0
    unk = m > 0.5
    unk[0, :] = unk[-1, :] = False
    unk[:, 0] = unk[:, -1] = False
    return unk


def exact_blend(dst, src, mask) -> np.ndarray:
    """Direct sparse solve (float64) of 4 f_p - sum_{q unknown} f_q = sum_{q known} dst_q + 4 src_p - sum_q src_q."""
    d = np.asarray(dst, np.float64)
    s = np.asarray(src, np.float64)
    shape = d.shape
    d = d.reshape(shape[0], shape[1], -1)
    s = s.reshape(d.shape)
    unk = unknowns(mask)
    ys, xs = np.nonzero(unk)
    n = len(ys)
    out = d.copy()
    if n:
        idx = -np.ones(unk.shape, np.int64)
        idx[ys, xs] = np.arange(n)
        rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.full(n, 4.0)]
        b = 4 * s[ys, xs]
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            qy, qx = ys + dy, xs + dx
            b -= s[qy, qx]
            inside = unk[qy, qx]
            rows.append(np.arange(n)[inside])
            cols.append(idx[qy, qx][inside])
            vals.append(-np.ones(int(inside.sum())))
            b[~inside] += d[qy[~inside], qx[~inside]]
        a = sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        out[ys, xs] = np.asarray(spsolve(a, b)).reshape(n, -1)
    return out.reshape(shape)


def _smooth(rng, shape, sigma=3.0):
    a = (rng.random(shape) * 255).astype(np.float32)
    return cv2.GaussianBlur(a, (0, 0), sigma).reshape(shape)


def _frames(rng, shape, dtype):
    d = _smooth(rng, shape) * 0.6 + 50
    s = np.clip(_smooth(rng, shape) * 1.5 - 60, 0, 255) + rng.random(shape).astype(np.float32) * 20
    if dtype == np.uint8:
        return np.rint(d).astype(np.uint8), np.rint(np.clip(s, 0, 255)).astype(np.uint8)
    return d.astype(np.float32), s.astype(np.float32)


def _ellipse(h, w, band=True):
    yy, xx = np.mgrid[:h, :w]
    m = ((((yy - h / 2) / (0.4 * h)) ** 2 + ((xx - w / 2) / (0.35 * w)) ** 2) < 1).astype(np.float32)
    if band:
        m[h // 3 : h // 3 + 3, :] = 1.0  # touches the left and right borders
    return m


def _masks(rng, h, w):
    yield "ellipse+band", _ellipse(h, w)
    yield "full", np.ones((h, w), np.float32)
    yield "random", (rng.random((h, w)) > 0.35).astype(np.float32)
    lines = np.zeros((h, w), np.float32)
    lines[:, w // 2] = 1
    lines[h // 2, :] = 0.75
    yield "lines", lines
    yield "soft", np.clip(_ellipse(h, w, band=False) * 0.8 + rng.random((h, w)).astype(np.float32) * 0.4, 0, 1)


def _assert_exact(out, expect, dtype):
    assert out.dtype == dtype and out.shape == expect.shape
    if dtype == np.uint8:
        want = np.clip(np.rint(expect), 0, 255)
        diff = np.abs(out.astype(np.float64) - want)
        assert diff.max() <= 1, diff.max()
    else:
        np.testing.assert_allclose(out, expect, rtol=0, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize("shape", [(1, 1), (2, 2, 3), (3, 3), (3, 5, 1), (4, 4, 3), (9, 2), (17, 23, 3), (40, 37),
                                   (64, 64, 3), (101, 77, 1)])
def test_matches_exact_solve(rng, shape, dtype):
    dst, src = _frames(rng, shape, dtype)
    for name, mask in _masks(rng, *shape[:2]):
        out = ops.blend_poisson(dst, src, mask, tol=1e-7, max_iter=300)
        try:
            _assert_exact(out, exact_blend(dst, src, mask), dtype)
        except AssertionError as e:
            raise AssertionError(f"mask {name}: {e}") from None


def test_default_tolerance_accuracy(astronaut_bgr):
    """Defaults (tol=1e-4): within ~0.2 grey levels of the exact solve on a real photo."""
    src = astronaut_bgr.astype(np.float32)
    dst = np.ascontiguousarray(src[:, ::-1]) + 30.0
    for center, axes in [((240, 170), (70, 95)), ((256, 256), (250, 250))]:
        m = np.zeros(src.shape[:2], np.float32)
        cv2.ellipse(m, center, axes, 0, 0, 360, 1, -1)
        expect = exact_blend(dst, src, m)
        err = np.abs(ops.blend_poisson(dst, src, m) - expect)[m > 0.5]
        assert err.max() < 0.3 and err.mean() < 0.03, (err.max(), err.mean())
        loose = np.abs(ops.blend_poisson(dst, src, m, tol=1e-2) - expect)[m > 0.5]
        assert loose.mean() < 1.0  # a loose tolerance is still a reasonable blend


def test_more_iterations_converge(rng):
    dst, src = _frames(rng, (90, 120, 3), np.float32)
    m = _ellipse(90, 120)
    expect = exact_blend(dst, src, m)
    errs = [np.abs(ops.blend_poisson(dst, src, m, tol=0.0, max_iter=k) - expect).max() for k in (1, 2, 4, 8)]
    assert errs[-1] < 1e-3
    assert all(b <= a + 1e-4 for a, b in zip(errs, errs[1:])), errs


# ---- trivial cases -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_empty_mask_and_border_only_mask_give_dst(rng, dtype):
    dst, src = _frames(rng, (31, 20, 3), dtype)
    for m in (np.zeros((31, 20), np.float32), np.full((31, 20), 0.5, np.float32)):
        out = ops.blend_poisson(dst, src, m)
        np.testing.assert_array_equal(out, dst)
        assert out is not dst
    frame = np.ones((31, 20), np.float32)
    frame[1:-1, 1:-1] = 0  # only the outer frame: never solved for
    np.testing.assert_array_equal(ops.blend_poisson(dst, src, frame), dst)


def test_full_mask_keeps_the_outer_frame(rng):
    dst, src = _frames(rng, (30, 40, 3), np.float32)
    out = ops.blend_poisson(dst, src, np.ones((30, 40), np.float32))
    frame = ~unknowns(np.ones((30, 40)))
    np.testing.assert_array_equal(out[frame], dst[frame])
    assert np.abs(out[~frame] - dst[~frame]).max() > 1  # the inside did change


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_src_equals_dst_is_identity(astronaut_bgr, dtype):
    img = astronaut_bgr.astype(dtype)
    m = np.zeros(img.shape[:2], np.float32)
    m[100:301, 50:261] = 1
    cv2.ellipse(m, (300, 300), (121, 80), 0, 0, 360, 1, -1)
    out = ops.blend_poisson(img, img, m)
    np.testing.assert_array_equal(out, img)


def test_constant_offset_is_carried_inside(rng):
    """dst = src + k everywhere -> the blend is src + k: the membrane is constant."""
    _, src = _frames(rng, (50, 60, 3), np.float32)
    dst = src + np.array([10.0, -20.0, 5.0], np.float32)
    out = ops.blend_poisson(dst, src, _ellipse(50, 60))
    np.testing.assert_allclose(out, dst, atol=1e-3)


def test_uint8_is_rounded_float_result(rng):
    dst, src = _frames(rng, (70, 90, 3), np.uint8)
    m = _ellipse(70, 90)
    f = ops.blend_poisson(dst.astype(np.float32), src.astype(np.float32), m, tol=1e-7, max_iter=100)
    u = ops.blend_poisson(dst, src, m, tol=1e-7, max_iter=100)
    assert np.abs(u.astype(np.float32) - np.clip(np.rint(f), 0, 255)).max() <= 1


# ---- layouts and conversions -------------------------------------------------------------------

def test_one_channel_layouts_agree(rng):
    dst, src = _frames(rng, (41, 33), np.uint8)
    m = _ellipse(41, 33)
    a = ops.blend_poisson(dst, src, m)
    b = ops.blend_poisson(dst[..., None], src[..., None], m)
    assert a.shape == (41, 33) and b.shape == (41, 33, 1)
    np.testing.assert_array_equal(a, b[..., 0])
    # each channel of a 3-channel frame is an independent solve
    d3, s3 = np.stack([dst] * 3, -1), np.stack([src] * 3, -1)
    c = ops.blend_poisson(d3, s3, m)
    for k in range(3):
        np.testing.assert_array_equal(c[..., k], a)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_non_contiguous_views(rng, dtype):
    dst, src = _frames(rng, (60, 90, 3), dtype)
    m = _ellipse(60, 90)
    views = [
        (dst[:, ::2], src[:, ::2], m[:, ::2]),
        (dst[::-1], src[::-1], m[::-1]),
        (dst[..., 1:2], src[..., 2:3], m),
        (dst[..., 0], src[..., 1], m.T.copy().T),
        (np.asfortranarray(dst[..., 0]), src[..., 1], np.asfortranarray(m)),
    ]
    for d, s, mm in views:
        out = ops.blend_poisson(d, s, mm)
        expect = ops.blend_poisson(np.ascontiguousarray(d), np.ascontiguousarray(s), np.ascontiguousarray(mm))
        np.testing.assert_array_equal(out, expect)


def test_mask_dtypes(rng):
    dst, src = _frames(rng, (40, 50, 3), np.uint8)
    m = _ellipse(40, 50)
    base = ops.blend_poisson(dst, src, m)
    for mm in (m > 0.5, (m * 255).astype(np.uint8), m.astype(np.float64), (m * 200 + 20).astype(np.uint8)):
        np.testing.assert_array_equal(ops.blend_poisson(dst, src, mm), base)
    # uint8 masks are scaled by 1/255: 127 is below one half, 128 above
    np.testing.assert_array_equal(ops.blend_poisson(dst, src, np.full((40, 50), 127, np.uint8)), dst)
    assert (ops.blend_poisson(dst, src, np.full((40, 50), 128, np.uint8)) != dst).any()


def test_inputs_not_modified(rng):
    dst, src = _frames(rng, (30, 30, 3), np.uint8)
    m = _ellipse(30, 30)
    copies = dst.copy(), src.copy(), m.copy()
    ops.blend_poisson(dst, src, m)
    for a, b in zip((dst, src, m), copies):
        np.testing.assert_array_equal(a, b)


def test_non_finite_far_from_the_mask_is_rejected(rng):
    """One rule for every host op (issue 12): a NaN / inf anywhere in a float input is a
    ValueError naming it, also where the solve would not read it (it used to pass through)."""
    dst, src = _frames(rng, (40, 40, 3), np.float32)
    m = np.zeros((40, 40), np.float32)
    m[20:30, 20:30] = 1
    bad = dst.copy()
    bad[2, 2] = np.nan
    with pytest.raises(ValueError, match="'dst' must be finite"):
        ops.blend_poisson(bad, src, m)
    bad = src.copy()
    bad[5, 5] = np.inf
    with pytest.raises(ValueError, match="'src' must be finite"):
        ops.blend_poisson(dst, bad, m)


# ---- vs cv2.seamlessClone (the reference) --------------------------------------------------------

def _shift(a, d=(25, -10, 15)):
    return np.clip(a.astype(np.int16) + np.array(d, np.int16), 0, 255).astype(np.uint8)


def _face_mask(shape, center=(230, 125), axes=(55, 75)):
    m = np.zeros(shape[:2], np.float32)
    cv2.ellipse(m, center, axes, 0, 0, 360, 1, -1)
    return m


def test_reference_places_src_in_place(astronaut_bgr):
    """The reference's center makes cv2's placement the identity (even and odd boxes)."""
    img = astronaut_bgr
    for y0, y1, x0, x1 in [(100, 301, 50, 260), (100, 300, 50, 261), (0, 512, 0, 512), (3, 10, 4, 11), (1, 6, 500, 512)]:
        m = np.zeros(img.shape[:2], np.uint8)
        m[y0:y1, x0:x1] = 255
        assert np.abs(ref.blend_poisson(img, img, m).astype(int) - img).max() <= 1
    # a one-pixel-off center would not be the identity (the check above can fail)
    m = np.zeros(img.shape[:2], np.uint8)
    m[100:301, 50:260] = 255
    cx, cy = ref.seamless_center(m)
    off = cv2.seamlessClone(img, img, m, (cx + 1, cy), cv2.NORMAL_CLONE)
    assert np.abs(off.astype(int) - img).max() > 20


def test_close_to_cv2_on_photo_colour_shift(astronaut_bgr):
    """Face pasted onto a colour-shifted copy: measured mean 0.8, max 5 grey levels inside the mask."""
    src = astronaut_bgr
    dst = _shift(src)
    m = _face_mask(src.shape)
    a, b = ops.blend_poisson(dst, src, m), ref.blend_poisson(dst, src, m)
    d = np.abs(a.astype(int) - b)[m > 0.5]
    assert d.mean() < 1.5 and np.percentile(d, 99) <= 4 and d.max() <= 10, (d.mean(), d.max())
    np.testing.assert_array_equal(a[m <= 0.5], dst[m <= 0.5])  # outside: dst untouched


def test_close_to_cv2_on_photo_structured_border(astronaut_bgr):
    """Face onto a blurred, colour-shifted copy: the borders disagree in detail, so OpenCV's
    formulation (guidance from dst in a 3-px band inside the mask, solve over the whole box)
    differs more: measured mean 6.1 grey levels; the seam-free look is the same."""
    src = astronaut_bgr
    dst = _shift(cv2.GaussianBlur(src, (0, 0), 3))
    m = _face_mask(src.shape)
    a, b = ops.blend_poisson(dst, src, m), ref.blend_poisson(dst, src, m)
    d = np.abs(a.astype(int) - b)[m > 0.5]
    assert d.mean() < 9.0, d.mean()
    # both are far closer to each other than to a hard paste of src
    hard = np.abs(src.astype(int) - b)[m > 0.5]
    assert d.mean() < 0.6 * hard.mean()


def test_reference_gray_and_float(astronaut_bgr):
    src = astronaut_bgr
    dst = _shift(src)
    m = _face_mask(src.shape)
    g = ref.blend_poisson(dst[..., 0], src[..., 0], m)
    assert g.shape == dst.shape[:2] and g.dtype == np.uint8
    f = ref.blend_poisson(dst.astype(np.float32), src.astype(np.float32), m)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f, ref.blend_poisson(dst, src, m).astype(np.float32))
    a = ops.blend_poisson(dst[..., 0], src[..., 0], m)
    assert np.abs(a.astype(int) - g)[m > 0.5].mean() < 1.5
    np.testing.assert_array_equal(ref.blend_poisson(dst, src, np.zeros(m.shape, np.float32)), dst)


# ---- bad input ----------------------------------------------------------------------------------------

def _ok():
    d = np.zeros((8, 9, 3), np.uint8)
    return d, d.copy(), np.ones((8, 9), np.float32)


@pytest.mark.parametrize("fn", [ops.blend_poisson, lambda d, s, m, **k: _core.blend_poisson(d, s, m, **k)])
def test_bad_input(fn):
    d, s, m = _ok()
    with pytest.raises(TypeError, match="'dst'"):
        fn(d.astype(np.int16), s, m)
    with pytest.raises(TypeError, match="'src'"):
        fn(d, s.astype(np.float32), m)
    with pytest.raises(ValueError, match="'dst'"):
        fn(d[..., :2], s[..., :2], m)
    with pytest.raises(ValueError, match="'dst'"):
        fn(np.zeros((8, 9, 4), np.uint8), np.zeros((8, 9, 4), np.uint8), m)
    with pytest.raises(ValueError, match="'dst'"):
        fn(d[0, :, 0], s[0, :, 0], m)
    with pytest.raises(ValueError, match="'dst'"):
        fn(d[None], s[None], m)
    with pytest.raises(ValueError, match="'dst'"):
        fn(d[:0], s[:0], m[:0])
    with pytest.raises(ValueError, match="'src'"):
        fn(d, s[:, :8], m)
    with pytest.raises(ValueError, match="'mask'"):
        fn(d, s, m[:7])
    with pytest.raises(ValueError, match="'mask'"):
        bad = m.copy()
        bad[0, 0] = np.nan
        fn(d, s, bad)
    with pytest.raises(ValueError, match="'tol'"):
        fn(d, s, m, tol=-1e-3)
    with pytest.raises(ValueError, match="'tol'"):
        fn(d, s, m, tol=float("nan"))
    with pytest.raises(ValueError, match="'tol'"):
        fn(d, s, m, tol=1.0)
    with pytest.raises(TypeError, match="'tol'"):
        fn(d, s, m, tol="small")
    with pytest.raises(ValueError, match="'max_iter'"):
        fn(d, s, m, max_iter=0)
    with pytest.raises(TypeError, match="'max_iter'"):
        fn(d, s, m, max_iter=2.5)
    with pytest.raises(TypeError, match="'max_iter'"):
        fn(d, s, m, max_iter=True)


def test_bad_mask_types():
    d, s, m = _ok()
    with pytest.raises(TypeError, match="'mask'"):
        ops.blend_poisson(d, s, m.astype(np.int32))
    with pytest.raises(TypeError, match="'mask'"):
        _core.blend_poisson(d, s, m.astype(np.float64))
    with pytest.raises(TypeError, match="'mask'"):
        _core.blend_poisson(d, s, m[..., None])
    with pytest.raises(TypeError, match="'dst'"):
        ops.blend_poisson(None, s, m)


def test_non_finite_frames_where_the_solve_reads_them():
    d = np.full((10, 10, 3), 100, np.float32)
    s = d.copy()
    m = np.zeros((10, 10), np.float32)
    m[3:7, 3:7] = 1
    bad = d.copy()
    bad[2, 4, 1] = np.inf  # a boundary pixel of the mask
    with pytest.raises(ValueError, match="'dst'"):
        ops.blend_poisson(bad, s, m)
    bad = s.copy()
    bad[5, 5, 0] = np.nan  # inside
    with pytest.raises(ValueError, match="'src'"):
        ops.blend_poisson(d, bad, m)
    bad = s.copy()
    bad[7, 4, 2] = -np.inf  # src on the boundary
    with pytest.raises(ValueError, match="'src'"):
        ops.blend_poisson(d, bad, m)


def test_gpu_arrays_rejected():
    class FakeCuda:
        __cuda_array_interface__ = {}

    d, s, m = _ok()
    with pytest.raises(TypeError, match="'dst'"):
        ops.blend_poisson(FakeCuda(), s, m)


# ---- hypothesis over the native entry --------------------------------------------------------------------

_dtypes = st.sampled_from([np.uint8, np.uint8, np.float32, np.float32, np.float64, np.int32])


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(0, 24),
    w=st.integers(0, 24),
    ch=st.sampled_from([None, 1, 3, 3, 2, 4]),
    dt=_dtypes,
    sdt=st.one_of(st.none(), st.none(), st.none(), _dtypes),
    mdt=st.sampled_from([np.float32, np.float32, np.float32, np.float64, np.uint8]),
    mshape=st.sampled_from(["ok", "ok", "ok", "short", "3d"]),
    density=st.floats(0, 1),
    tol=st.one_of(st.just(1e-4), st.floats(-1, 2), st.just(float("nan")), st.just(0.0)),
    max_iter=st.one_of(st.just(50), st.integers(-2, 60), st.just(10**30), st.floats(0, 5)),
    special=st.sampled_from([None, None, None, np.nan, np.inf]),
    seed=st.integers(0, 2**31),
)
def test_core_never_crashes(h, w, ch, dt, sdt, mdt, mshape, density, tol, max_iter, special, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w) if ch is None else (h, w, ch)
    d = (rng.random(shape) * 255).astype(dt)
    s = (rng.random(shape) * 255).astype(dt if sdt is None else sdt)
    ms = {"ok": (h, w), "short": (h, max(w - 1, 0)), "3d": (h, w, 1)}[mshape]
    m = (rng.random(ms) < density).astype(mdt)
    if special is not None and m.size and mdt != np.uint8:
        m.flat[rng.integers(m.size)] = special
    try:
        out = _core.blend_poisson(d, s, m, tol, max_iter)
    except (ValueError, TypeError):
        return
    assert out.shape == d.shape and out.dtype == d.dtype
    keep = ~unknowns(m)
    np.testing.assert_array_equal(out[keep], d[keep])
    assert np.isfinite(out.astype(np.float64)).all()
