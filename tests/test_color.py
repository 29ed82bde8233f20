"""LAB conversion and Reinhard colour transfer: native vs cv2 / the NumPy reference."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import facefuse.ops as ops
import facefuse.reference as ref
from facefuse import _core

SHAPES = [(1, 1), (2, 2), (1, 7), (5, 1), (17, 31), (64, 48), (33, 65)]


def rand_bgr(rng: np.random.Generator, h: int, w: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    return (rng.random((h, w, 3), dtype=np.float32) * (hi - lo) + lo).astype(np.float32)


def rand_lab(rng: np.random.Generator, h: int, w: int, wide: bool = False) -> np.ndarray:
    if wide:  # far outside the sRGB gamut too
        L = rng.uniform(-20, 130, (h, w))
        ab = rng.uniform(-200, 200, (h, w, 2))
    else:
        L = rng.uniform(0, 100, (h, w))
        ab = rng.uniform(-128, 127, (h, w, 2))
    return np.concatenate([L[..., None], ab], axis=2).astype(np.float32)


def cv_lab(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2Lab)


def cv_bgr(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(lab), cv2.COLOR_Lab2BGR)


def maxdiff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


# ---------------------------------------------------------------------------
# bgr_to_lab / lab_to_bgr vs cv2
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_bgr_to_lab_matches_cv2(rng, shape) -> None:
    img = rand_bgr(rng, *shape)
    out = ops.bgr_to_lab(img)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert maxdiff(out, cv_lab(img)) <= 1e-3
    assert maxdiff(out, ref.bgr_to_lab(img)) <= 1e-3


def test_bgr_to_lab_clips_like_cv2(rng) -> None:
    img = rand_bgr(rng, 40, 37, lo=-0.5, hi=1.5)
    img[0, 0] = [0, 0, 0]
    img[0, 1] = [1, 1, 1]
    img[0, 2] = [np.float32(1e30), -np.float32(1e30), 0.5]
    assert maxdiff(ops.bgr_to_lab(img), cv_lab(img)) <= 1e-3


def test_bgr_to_lab_grid_nodes_and_edges() -> None:
    # Every table node and every value just around it on the grey axis and on the cube edges.
    v = np.unique(np.concatenate([np.arange(33) / 32, np.arange(33) / 32 + 1e-4, np.arange(33) / 32 - 1e-4]))
    v = np.clip(v, 0, 1).astype(np.float32)
    b, g, r = np.meshgrid(v[::3], v[::5], v, indexing="ij")
    img = np.stack([b, g, r], axis=-1).reshape(-1, v.size, 3).astype(np.float32)
    assert maxdiff(ops.bgr_to_lab(img), cv_lab(img)) <= 1e-3


@pytest.mark.parametrize(
    "view",
    [
        lambda a: a[:, ::2],
        lambda a: a[::-1],
        lambda a: a[:, :, ::-1],
        lambda a: a[1:-1, 2:-3],
        lambda a: np.asfortranarray(a),
    ],
)
def test_bgr_to_lab_noncontiguous(rng, view) -> None:
    base = rand_bgr(rng, 23, 34)
    img = view(base)
    assert maxdiff(ops.bgr_to_lab(img), cv_lab(img)) <= 1e-3
    lab = view(rand_lab(rng, 23, 34))
    assert maxdiff(ops.lab_to_bgr(lab), cv_bgr(lab)) <= 1e-3


def test_bgr_to_lab_channel_slice(rng) -> None:
    four = rng.random((19, 21, 4), dtype=np.float32)
    img = four[..., :3]
    assert maxdiff(ops.bgr_to_lab(img), cv_lab(img)) <= 1e-3


def test_bgr_to_lab_uint8_means_div255(rng) -> None:
    img = rng.integers(0, 256, (37, 29, 3), dtype=np.uint8)
    out = ops.bgr_to_lab(img)
    assert out.dtype == np.float32
    assert maxdiff(out, cv_lab(img.astype(np.float32) / 255)) <= 1e-3
    np.testing.assert_array_equal(out, ops.bgr_to_lab(img.astype(np.float32) / 255))
    # every uint8 level on the grey axis and the primaries
    levels = np.arange(256, dtype=np.uint8)
    cube = np.stack(
        [np.stack([levels] * 3, -1), np.stack([levels, levels * 0, levels * 0], -1),
         np.stack([levels * 0, levels, levels * 0], -1), np.stack([levels * 0, levels * 0, levels], -1)]
    )
    assert maxdiff(ops.bgr_to_lab(cube), cv_lab(cube.astype(np.float32) / 255)) <= 1e-3


def test_bgr_to_lab_astronaut(astronaut_bgr) -> None:
    out = ops.bgr_to_lab(astronaut_bgr)
    assert maxdiff(out, cv_lab(astronaut_bgr.astype(np.float32) / 255)) <= 1e-3
    assert maxdiff(out, ref.bgr_to_lab(astronaut_bgr)) <= 1e-3
    f = astronaut_bgr.astype(np.float32) / 255
    assert maxdiff(ops.bgr_to_lab(f), cv_lab(f)) <= 1e-3


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("wide", [False, True])
def test_lab_to_bgr_matches_cv2(rng, shape, wide) -> None:
    lab = rand_lab(rng, *shape, wide=wide)
    out = ops.lab_to_bgr(lab)
    assert out.dtype == np.float32 and out.shape == lab.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert maxdiff(out, cv_bgr(lab)) <= 1e-3
    assert maxdiff(out, ref.lab_to_bgr(lab)) <= 1e-3


def test_lab_to_bgr_astronaut(astronaut_bgr) -> None:
    lab = cv_lab(astronaut_bgr.astype(np.float32) / 255)
    assert maxdiff(ops.lab_to_bgr(lab), cv_bgr(lab)) <= 1e-3


def test_round_trip(rng, astronaut_bgr) -> None:
    img = rand_bgr(rng, 61, 47)
    back = ops.lab_to_bgr(ops.bgr_to_lab(img))
    # cv2's own round trip (its table quantises the input to 1/512 steps) ...
    assert maxdiff(back, cv_bgr(cv_lab(img))) <= 1e-3
    # ... is within a few thousandths of the input.
    assert maxdiff(back, img) <= 8e-3
    u8 = astronaut_bgr
    back8 = np.rint(ops.lab_to_bgr(ops.bgr_to_lab(u8)) * 255)
    assert maxdiff(back8, u8) <= 1


# ---------------------------------------------------------------------------
# color_transfer vs the reference
# ---------------------------------------------------------------------------


def check_transfer(src, refimg, src_mask=None, ref_mask=None, strength=1.0) -> np.ndarray:
    out = ops.color_transfer(src, refimg, src_mask, ref_mask, strength)
    exp = ref.color_transfer(src, refimg, src_mask, ref_mask, strength)
    assert out.dtype == src.dtype and out.shape == src.shape
    if src.dtype == np.uint8:
        assert maxdiff(out, exp) <= 1
    else:
        assert maxdiff(out, exp) <= 1e-3
    return out


def make_pair(rng, dtype, src_shape, ref_shape):
    src = rng.integers(0, 256, src_shape + (3,), dtype=np.uint8)
    # a ref with a different colour cast so the transfer does something
    refimg = rng.integers(0, 256, ref_shape + (3,), dtype=np.uint8)
    refimg = np.clip(refimg * np.array([0.6, 0.9, 1.0]) + np.array([10, 30, 60]), 0, 255).astype(np.uint8)
    if dtype == np.float32:
        return src.astype(np.float32), refimg.astype(np.float32)
    return src, refimg


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("strength", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("masks", ["none", "float", "uint8", "bool", "src_only"])
def test_transfer_matches_reference(rng, dtype, strength, masks) -> None:
    src, refimg = make_pair(rng, dtype, (37, 53), (24, 71))
    sm = rm = None
    if masks == "float":
        sm = rng.random(src.shape[:2], dtype=np.float32)
        rm = rng.random(refimg.shape[:2], dtype=np.float32)
    elif masks == "uint8":
        sm = rng.integers(0, 256, src.shape[:2], dtype=np.uint8)
        rm = rng.integers(0, 256, refimg.shape[:2], dtype=np.uint8)
    elif masks == "bool":
        sm = rng.random(src.shape[:2]) > 0.5
        rm = rng.random(refimg.shape[:2]) > 0.3
    elif masks == "src_only":
        sm = np.zeros(src.shape[:2], np.float32)
        sm[5:20, 10:30] = 1.0
    out = check_transfer(src, refimg, sm, rm, strength)
    if strength == 0.0:
        np.testing.assert_array_equal(out, src)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("shapes", [((1, 1), (2, 2)), ((2, 2), (1, 1)), ((2, 2), (3, 5)), ((1, 9), (8, 1))])
def test_transfer_tiny(rng, dtype, shapes) -> None:
    src, refimg = make_pair(rng, dtype, *shapes)
    for s in (0.5, 1.0):
        check_transfer(src, refimg, strength=s)


def test_transfer_noncontiguous(rng) -> None:
    src, refimg = make_pair(rng, np.uint8, (40, 60), (50, 30))
    sm = rng.random((40, 120), dtype=np.float32)[:, ::2]
    rm = rng.random((30, 50), dtype=np.float32).T
    check_transfer(src[::-1, ::2], refimg[:, :, ::-1], sm[:, :30], rm, 0.7)
    srcf, reff = make_pair(rng, np.float32, (40, 60), (50, 30))
    four = np.concatenate([srcf, srcf[..., :1]], axis=2)
    check_transfer(four[..., :3], reff[1:, 1:], None, rm[1:, 1:], 1.0)


def test_transfer_astronaut(astronaut_bgr) -> None:
    from skimage import data

    cat = np.ascontiguousarray(data.chelsea()[:, :, ::-1])
    h, w = astronaut_bgr.shape[:2]
    face = np.zeros((h, w), np.float32)
    face[40:220, 150:330] = 1.0
    for s in (0.5, 1.0):
        check_transfer(astronaut_bgr, cat, face, None, s)
        check_transfer(astronaut_bgr.astype(np.float32), cat.astype(np.float32), None, None, s)


def test_transfer_self_is_identity(astronaut_bgr) -> None:
    # Transferring an image's own statistics changes it only by the LAB round trip.
    out = ops.color_transfer(astronaut_bgr, astronaut_bgr)
    assert maxdiff(out, astronaut_bgr) <= 1


def test_transfer_mask_weights_only_statistics(rng) -> None:
    src, refimg = make_pair(rng, np.uint8, (30, 40), (20, 20))
    full = ops.color_transfer(src, refimg)
    # all-ones and uniform masks give the unmasked statistics
    np.testing.assert_array_equal(ops.color_transfer(src, refimg, np.ones((30, 40), np.float32)), full)
    half = ops.color_transfer(src, refimg, np.full((30, 40), 0.5, np.float32), np.full((20, 20), 0.25, np.float32))
    assert maxdiff(half, full) <= 1
    # a partial mask changes the statistics but still transforms every pixel
    m = np.zeros((30, 40), np.float32)
    m[:10] = 1
    part = ops.color_transfer(src, refimg, m)
    assert not np.array_equal(part, full)
    assert np.mean(part[10:] != src[10:]) > 0.5


def test_transfer_moves_statistics(rng) -> None:
    # float32, mid-range colours (no gamut clipping): the output has ref's LAB mean / std.
    src = (rng.random((64, 64, 3), dtype=np.float32) * 80 + 90).astype(np.float32)
    refimg = (rng.random((50, 70, 3), dtype=np.float32) * 60 + np.array([60, 100, 140], np.float32)).astype(
        np.float32
    )
    out = ops.color_transfer(src, refimg)
    lo = cv_lab(out / 255).reshape(-1, 3)
    lr = cv_lab(refimg / 255).reshape(-1, 3)
    np.testing.assert_allclose(lo.mean(0), lr.mean(0), atol=0.3)
    np.testing.assert_allclose(lo.std(0), lr.std(0), rtol=0.05, atol=0.3)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


class FakeGpuArray:
    __cuda_array_interface__ = {"shape": (2, 2, 3), "typestr": "<f4", "data": (0, False), "version": 3}


def test_lab_bad_inputs() -> None:
    good = np.zeros((4, 5, 3), np.float32)
    with pytest.raises(TypeError, match="'img'"):
        ops.bgr_to_lab(good.astype(np.float64))
    with pytest.raises(TypeError, match="'img'"):
        ops.bgr_to_lab(good.astype(np.int32))
    with pytest.raises(ValueError, match="'img'"):
        ops.bgr_to_lab(good[..., 0])
    with pytest.raises(ValueError, match="'img'"):
        ops.bgr_to_lab(np.zeros((4, 5, 4), np.float32))
    with pytest.raises(ValueError, match="'img'"):
        ops.bgr_to_lab(np.zeros((0, 5, 3), np.uint8))
    bad = good.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="'img'"):
        ops.bgr_to_lab(bad)
    with pytest.raises(TypeError, match="'lab'"):
        ops.lab_to_bgr(good.astype(np.uint8))
    with pytest.raises(ValueError, match="'lab'"):
        ops.lab_to_bgr(np.zeros((4, 5, 3, 1), np.float32))
    with pytest.raises(ValueError, match="'lab'"):
        ops.lab_to_bgr(np.zeros((4, 0, 3), np.float32))
    bad[1, 2, 0] = np.inf
    with pytest.raises(ValueError, match="'lab'"):
        ops.lab_to_bgr(bad)
    with pytest.raises(TypeError, match="'img'"):
        ops.bgr_to_lab(FakeGpuArray())
    with pytest.raises(TypeError, match="'img'"):
        _core.bgr_to_lab(object())


def test_transfer_bad_inputs(rng) -> None:
    src = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    rf = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    sm = np.ones((6, 7), np.float32)
    rm = np.ones((5, 4), np.float32)
    ct = ops.color_transfer
    with pytest.raises(TypeError, match="'src'"):
        ct(src.astype(np.float64), rf.astype(np.float64))
    with pytest.raises(TypeError, match="'ref'"):
        ct(src, rf.astype(np.float32))
    with pytest.raises(ValueError, match="'src'"):
        ct(src[..., 0], rf)
    with pytest.raises(ValueError, match="'ref'"):
        ct(src, rf[..., :2])
    with pytest.raises(ValueError, match="'ref'"):
        ct(src, np.zeros((0, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="'src_mask'"):
        ct(src, rf, rm, None)
    with pytest.raises(ValueError, match="'ref_mask'"):
        ct(src, rf, sm, sm)
    with pytest.raises(ValueError, match="'src_mask'"):
        ct(src, rf, sm[..., None])
    with pytest.raises(TypeError, match="'src_mask'"):
        ct(src, rf, sm.astype(np.int32))
    with pytest.raises(ValueError, match="'src_mask'"):
        ct(src, rf, sm * 1.5)
    with pytest.raises(ValueError, match="'ref_mask'"):
        ct(src, rf, None, -rm)
    nanmask = sm.copy()
    nanmask[0, 0] = np.nan
    with pytest.raises(ValueError, match="'src_mask'"):
        ct(src, rf, nanmask)
    with pytest.raises(ValueError, match="'src_mask'"):
        ct(src, rf, np.zeros_like(sm))
    with pytest.raises(ValueError, match="'ref_mask'"):
        ct(src, rf, sm, np.zeros((5, 4), np.uint8))
    with pytest.raises(ValueError, match="'src_mask'"):
        ref.color_transfer(src, rf, np.zeros_like(sm))
    for s in (-0.1, 1.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="'strength'"):
            ct(src, rf, strength=s)
    with pytest.raises(ValueError, match="'strength'"):
        ref.color_transfer(src, rf, strength=2.0)
    for s in ("a", None, [0.5]):
        with pytest.raises(TypeError, match="'strength'"):
            ct(src, rf, strength=s)
    srcf = src.astype(np.float32)
    srcf[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match="'src'"):
        ct(srcf, rf.astype(np.float32))
    reff = rf.astype(np.float32)
    reff[0, 0, 0] = -np.inf
    with pytest.raises(ValueError, match="'ref'"):
        ct(src.astype(np.float32), reff)
    with pytest.raises(TypeError, match="'src'"):
        ct(FakeGpuArray(), rf)
    with pytest.raises(TypeError, match="'ref_mask'"):
        ct(src, rf, None, FakeGpuArray())


# ---------------------------------------------------------------------------
# hypothesis: every native entry either answers with the right shape or raises
# ValueError / TypeError
# ---------------------------------------------------------------------------

DTYPES = [np.uint8, np.float32, np.float64, np.int16, np.bool_]


@st.composite
def arrays(draw, channels=(1, 3, 4), max_side=6):
    ndim = draw(st.sampled_from([1, 2, 3, 3, 3, 4]))
    shape = tuple(draw(st.integers(0, max_side)) for _ in range(ndim - 1))
    if ndim >= 2:
        shape = shape + (draw(st.sampled_from(channels)),) if ndim == 3 else shape + (draw(st.integers(0, 3)),)
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**31 - 1))
    r = np.random.default_rng(seed)
    a = (r.random(shape) * draw(st.sampled_from([1.0, 255.0, 300.0]))).astype(dtype)
    if a.size and dtype in (np.float32, np.float64) and draw(st.booleans()):
        a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -1.0, 2.0]))
    if ndim >= 2 and a.shape[0] > 1 and draw(st.booleans()):
        a = a[::-1]
    return a


def _shape_ok(out, shape, dtype) -> None:
    assert isinstance(out, np.ndarray)
    assert out.shape == shape and out.dtype == dtype


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=arrays())
def test_hypothesis_bgr_to_lab(a) -> None:
    try:
        out = _core.bgr_to_lab(a)
    except (ValueError, TypeError):
        return
    _shape_ok(out, a.shape, np.float32)
    assert np.isfinite(out).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=arrays())
def test_hypothesis_lab_to_bgr(a) -> None:
    try:
        out = _core.lab_to_bgr(a)
    except (ValueError, TypeError):
        return
    _shape_ok(out, a.shape, np.float32)
    assert out.min() >= 0 and out.max() <= 1


@st.composite
def masks(draw, like):
    kind = draw(st.sampled_from(["none", "match", "match", "random"]))
    if kind == "none":
        return None
    if kind == "match" and like.ndim >= 2:
        shape = like.shape[:2]
    else:
        shape = tuple(draw(st.integers(0, 5)) for _ in range(draw(st.integers(1, 3))))
    dtype = draw(st.sampled_from([np.float32, np.float32, np.uint8, np.float64]))
    r = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    m = (r.random(shape) * draw(st.sampled_from([1.0, 1.0, 0.0, 2.0]))).astype(dtype)
    if m.size and dtype == np.float32 and draw(st.booleans()):
        m.flat[0] = draw(st.sampled_from([np.nan, -0.5, 1.0, 0.0]))
    return m


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hypothesis_color_transfer(data) -> None:
    src = data.draw(arrays())
    rf = data.draw(arrays()) if data.draw(st.booleans()) else data.draw(arrays()).astype(src.dtype)
    sm = data.draw(masks(src))
    rm = data.draw(masks(rf))
    strength = data.draw(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 0.5, 1.0])))
    try:
        out = _core.color_transfer(src, rf, sm, rm, strength)
    except (ValueError, TypeError):
        return
    _shape_ok(out, src.shape, src.dtype)
    if out.dtype == np.float32:
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 255
