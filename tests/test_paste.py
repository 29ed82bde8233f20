"""paste family: cv2-compatible warp_affine and the fused paste_back vs FaceFusion's way."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facefuse import _core, ops
from facefuse import reference as ref
from facefuse.reference.paste import calculate_paste_area

# FaceFusion's normalised 5-point templates (eyes, nose, mouth corners).
ARCFACE_112_V2 = np.array(
    [[0.34191607, 0.46157411], [0.65653393, 0.45983393], [0.50022500, 0.64050536],
     [0.37097589, 0.82469196], [0.63151696, 0.82325089]]
)
FFHQ_512 = np.array(
    [[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
     [0.39308822, 0.72541100], [0.61150205, 0.72490465]]
)

# Measured on these tests: uint8 alpha/laplacian/lab <= 1 grey level vs the reference
# (the reference truncates like FaceFusion, native rounds); float32 alpha exact,
# laplacian <= 1e-4, lab <= 1e-3 (LAB round trip in float).
TOL = {
    (np.uint8, "alpha"): 1, (np.uint8, "laplacian"): 1,
    (np.float32, "alpha"): 1e-3, (np.float32, "laplacian"): 1e-3,
}


def rand_affine(rng, fh, fw, ch, cw, scale=(0.3, 3.0), spread=0.3):
    """frame -> crop matrix: rotation, scale, crop centre anywhere around (or off) the frame."""
    ang = rng.uniform(-np.pi, np.pi)
    s = rng.uniform(*scale)
    cx = rng.uniform(-spread * fw, (1 + spread) * fw)
    cy = rng.uniform(-spread * fh, (1 + spread) * fh)
    a = np.array([[s * np.cos(ang), -s * np.sin(ang)], [s * np.sin(ang), s * np.cos(ang)]])
    t = np.array([cw / 2, ch / 2]) - a @ np.array([cx, cy])
    return np.hstack([a, t[:, None]])


def rand_img(rng, shape, dtype, sharp=False):
    if sharp:
        return ((rng.random(shape) > 0.5) * 255).astype(dtype)
    return rng.integers(0, 256, shape).astype(dtype)


def diff(a, b):
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0


# ---- warp_affine vs cv2.warpAffine ---------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("border", ["constant", "replicate"])
def test_warp_affine_matches_cv2(rng, dtype, border):
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    worst = 0.0
    for trial in range(60):
        sh, sw = rng.integers(1, 90, 2)
        c = (1, 3, 4)[trial % 3]
        src = rand_img(rng, (sh, sw, c), dtype, sharp=trial % 2 == 0)
        dw, dh = (int(v) for v in rng.integers(1, 130, 2))
        m = rand_affine(rng, dh, dw, sh, sw)
        m = cv2.invertAffineTransform(m)  # forward src -> dst
        if trial % 4 == 0:
            m = m.astype(np.float32)
        expect = cv2.warpAffine(src, m, (dw, dh), flags=cv2.INTER_LINEAR, borderMode=mode).reshape(dh, dw, c)
        got = ops.warp_affine(src, m, (dw, dh), border)
        assert got.shape == (dh, dw, c) and got.dtype == dtype
        worst = max(worst, diff(got, expect))
    # uint8: bit-identical with the installed cv2 (float arithmetic reproduced); float32: ~1 ulp
    assert worst <= (0 if dtype == np.uint8 else 1e-3)


def test_warp_affine_2d_and_reference(rng):
    src = rand_img(rng, (33, 47), np.uint8)
    m = np.array([[0.8, 0.3, 5.0], [-0.25, 1.1, -3.0]])
    got = ops.warp_affine(src, m, (40, 50))
    assert got.shape == (50, 40)
    np.testing.assert_array_equal(got, ref.warp_affine(src, m, (40, 50)))


# ---- paste_back vs the FaceFusion-style reference ------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("blend", ["alpha", "laplacian"])
@pytest.mark.parametrize("color", [None, "lab"])
def test_paste_back_matches_reference(rng, dtype, blend, color):
    n = 24 if blend == "alpha" and color is None else 10
    for trial in range(n):
        fh, fw = (int(v) for v in rng.integers(1, 160, 2))
        ch, cw = (int(v) for v in rng.integers(1, 70, 2))
        if trial == 0:
            ch = cw = 1  # 1x1 crop
        frame = rand_img(rng, (fh, fw, 3), dtype)
        crop = rand_img(rng, (ch, cw, 3), dtype, sharp=trial % 3 == 0)
        mask = rng.uniform(-0.2, 1.2, (ch, cw)).astype(np.float32)
        aff = rand_affine(rng, fh, fw, ch, cw)
        if trial % 3 == 1:
            aff = aff.astype(np.float32)
        got = ops.paste_back(frame, crop, mask, aff, blend=blend, color=color)
        expect = ref.paste_back(frame, crop, mask, aff, blend=blend, color=color)
        assert got.dtype == dtype and got.shape == frame.shape
        tol = TOL[(dtype, blend)] if color is None or dtype == np.uint8 else 2e-3
        assert diff(got, expect) <= tol, (trial, fh, fw, ch, cw)


def test_paste_back_sharp_edges_large_crop(rng):
    """Sharp black/white crop at 256 px, rotated and scaled: still within 1 grey level."""
    frame = rand_img(rng, (300, 400, 3), np.uint8)
    crop = rand_img(rng, (256, 256, 3), np.uint8, sharp=True)
    mask = np.ones((256, 256), np.float32)
    for _ in range(4):
        aff = rand_affine(rng, 300, 400, 256, 256, scale=(0.5, 2.0), spread=0.0)
        got = ops.paste_back(frame, crop, mask, aff)
        expect = ref.paste_back(frame, crop, mask, aff)
        assert diff(got, expect) <= 1
        assert np.mean(got != expect) < 0.2  # only rounding vs truncation differs


def test_paste_box_geometry(rng):
    frame = rand_img(rng, (120, 150, 3), np.uint8)
    for _ in range(20):
        ch, cw = (int(v) for v in rng.integers(1, 60, 2))
        crop = rand_img(rng, (ch, cw, 3), np.uint8)
        aff = rand_affine(rng, 120, 150, ch, cw)
        box, warped, m = _core.paste_warp(frame, crop, np.ones((ch, cw), np.float32), aff)
        (x1, y1, x2, y2), pm = calculate_paste_area(frame, crop, aff)
        assert box == (x1, y1, x2, y2)
        bh, bw = max(0, y2 - y1), max(0, x2 - x1)
        assert warped.shape == (bh, bw, 3) and m.shape == (bh, bw)
        if bh and bw:
            np.testing.assert_array_equal(
                warped, cv2.warpAffine(crop, pm, (bw, bh), borderMode=cv2.BORDER_REPLICATE).reshape(bh, bw, 3))


def test_paste_outside_and_tiny_regions(rng):
    frame = rand_img(rng, (64, 80, 3), np.uint8)
    crop = rand_img(rng, (32, 32, 3), np.uint8)
    mask = np.ones((32, 32), np.float32)
    # fully outside: frame unchanged, a copy
    aff = np.array([[1.0, 0, 500.0], [0, 1.0, 500.0]])
    got = ops.paste_back(frame, crop, mask, aff)
    assert got is not frame and np.array_equal(got, frame)
    out = np.zeros_like(frame)
    assert ops.paste_back(frame, crop, mask, aff, out=out) is out and np.array_equal(out, frame)
    # a 1-pixel region: crop mapped to a sub-pixel patch at the frame corner
    aff = np.array([[64.0, 0, 64.0 * 0.2], [0, 64.0, 64.0 * 0.3]])  # crop 32 px -> 0.5 px
    got = ops.paste_back(frame, crop, mask, aff)
    assert diff(got, ref.paste_back(frame, crop, mask, aff)) <= 1
    assert np.array_equal(got[1:], frame[1:]) and np.array_equal(got[:, 1:], frame[:, 1:])
    # half outside
    aff = np.array([[1.0, 0, 16.0], [0, 1.0, 10.0]])
    assert diff(ops.paste_back(frame, crop, mask, aff), ref.paste_back(frame, crop, mask, aff)) <= 1


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("blend", ["alpha", "laplacian"])
def test_batch_in_order(rng, dtype, blend):
    fh, fw = 150, 170
    frame = rand_img(rng, (fh, fw, 3), dtype)
    k = 4
    crops = rand_img(rng, (k, 48, 48, 3), dtype)
    masks = rng.uniform(0, 1, (k, 48, 48)).astype(np.float32)
    affs = np.stack([rand_affine(rng, fh, fw, 48, 48, scale=(0.5, 1.5), spread=0.0) for _ in range(k)])
    got = ops.paste_back(frame, crops, masks, affs, blend=blend)
    expect = ref.paste_back(frame, crops, masks, affs, blend=blend)
    # sequential faces: rounding differences of an earlier face can feed a later one
    assert diff(got, expect) <= (2 if dtype == np.uint8 else 1e-3)
    seq = frame
    for i in range(k):
        seq = ops.paste_back(seq, crops[i], masks[i], affs[i], blend=blend)
    np.testing.assert_array_equal(got, seq)
    # list form, different crop sizes, uint8 masks
    lst = [crops[0], rand_img(rng, (31, 57, 3), dtype)]
    lmask = [(masks[0] * 255).astype(np.uint8), np.ones((31, 57), np.uint8) * 255]
    laff = [affs[0], rand_affine(rng, fh, fw, 31, 57, scale=(0.5, 1.5), spread=0.0)]
    got = ops.paste_back(frame, lst, lmask, laff, blend=blend)
    assert diff(got, ref.paste_back(frame, lst, lmask, laff, blend=blend)) <= (2 if dtype == np.uint8 else 1e-3)


def test_out_and_in_place(rng):
    frame = rand_img(rng, (90, 100, 3), np.uint8)
    crop = rand_img(rng, (40, 40, 3), np.uint8)
    mask = rng.uniform(0, 1, (40, 40)).astype(np.float32)
    aff = rand_affine(rng, 90, 100, 40, 40, scale=(0.6, 1.2), spread=0.0)
    expect = ops.paste_back(frame, crop, mask, aff)
    keep = frame.copy()
    out = np.empty_like(frame)
    assert ops.paste_back(frame, crop, mask, aff, out=out) is out
    np.testing.assert_array_equal(out, expect)
    np.testing.assert_array_equal(frame, keep)  # input untouched
    inplace = frame.copy()
    assert ops.paste_back(inplace, crop, mask, aff, out=inplace) is inplace
    np.testing.assert_array_equal(inplace, expect)
    for blend in ("laplacian",):
        ip = frame.copy()
        ops.paste_back(ip, crop, mask, aff, blend=blend, color="lab", out=ip)
        np.testing.assert_array_equal(ip, ops.paste_back(frame, crop, mask, aff, blend=blend, color="lab"))


def test_non_contiguous_inputs(rng):
    big = rand_img(rng, (120, 260, 3), np.uint8)
    frame = big[:, ::2]  # 120 x 130, strided
    crop = rand_img(rng, (50, 90, 3), np.uint8)[:, ::2]  # 50 x 45
    mask = rng.uniform(0, 1, (45, 50)).astype(np.float32).T  # 50 x 45, transposed view
    aff = np.asfortranarray(rand_affine(rng, 120, 130, 50, 45, scale=(0.5, 1.5), spread=0.0))
    got = ops.paste_back(frame, crop, mask, aff)
    assert diff(got, ref.paste_back(frame, crop, mask, aff)) <= 1
    flipped = np.ascontiguousarray(frame)[::-1]
    assert diff(ops.paste_back(flipped, crop[::-1], mask, aff),
                ref.paste_back(flipped, crop[::-1], mask, aff)) <= 1
    # bool and float64 masks are accepted
    assert diff(ops.paste_back(frame, crop, mask > 0.5, aff), ref.paste_back(frame, crop, mask > 0.5, aff)) <= 1
    assert diff(ops.paste_back(frame, crop, mask.astype(np.float64), aff),
                ref.paste_back(frame, crop, mask, aff)) <= 1


def test_astronaut_real_alignment(astronaut_bgr):
    frame = astronaut_bgr
    landmarks = np.array([[178.0, 112.0], [232.0, 106.0], [207.0, 140.0], [184.0, 170.0], [228.0, 166.0]])
    size = 512
    aff = cv2.estimateAffinePartial2D(landmarks, FFHQ_512 * size, method=cv2.RANSAC, ransacReprojThreshold=100)[0]
    crop = cv2.warpAffine(frame, aff, (size, size), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_AREA)
    swapped = 255 - crop  # "processed" face
    mask = np.zeros((size, size), np.float32)
    mask[40:-40, 40:-40] = 1
    mask = cv2.GaussianBlur(mask, (0, 0), 10)
    for blend in ("alpha", "laplacian"):
        got = ops.paste_back(frame, swapped, mask, aff, blend=blend)
        expect = ref.paste_back(frame, swapped, mask, aff, blend=blend)
        assert diff(got, expect) <= 1
        (x1, y1, x2, y2), _ = calculate_paste_area(frame, swapped, aff)
        outside = np.ones(frame.shape[:2], bool)
        outside[y1:y2, x1:x2] = False
        np.testing.assert_array_equal(got[outside], frame[outside])  # bit-identical outside the box
        face = (slice(110, 160), slice(185, 230))  # between the eyes and the mouth
        assert np.abs(got[face].astype(int) - frame[face]).mean() > 60  # inverted there
        assert np.abs(got[face].astype(int) - (255 - frame[face].astype(int))).mean() < 12
    # ArcFace 112 template too (a small crop)
    aff112 = cv2.estimateAffinePartial2D(landmarks, ARCFACE_112_V2 * 112, method=cv2.RANSAC,
                                         ransacReprojThreshold=100)[0]
    crop112 = 255 - cv2.warpAffine(frame, aff112, (112, 112))
    m112 = np.ones((112, 112), np.float32)
    assert diff(ops.paste_back(frame, crop112, m112, aff112, color="lab"),
                ref.paste_back(frame, crop112, m112, aff112, color="lab")) <= 1


def test_lab_skipped_under_empty_mask(rng):
    frame = rand_img(rng, (60, 60, 3), np.uint8)
    crop = rand_img(rng, (30, 30, 3), np.uint8)
    aff = np.array([[1.0, 0, -10.0], [0, 1.0, -10.0]])
    got = ops.paste_back(frame, crop, np.zeros((30, 30), np.float32), aff, color="lab")
    np.testing.assert_array_equal(got, frame)


def test_poisson_mode(rng):
    frame = rand_img(rng, (80, 90, 3), np.uint8)
    crop = rand_img(rng, (40, 40, 3), np.uint8)
    mask = np.zeros((40, 40), np.float32)
    mask[8:-8, 8:-8] = 1
    aff = np.array([[1.0, 0, -20.0], [0, 1.0, -15.0]])
    got = ops.paste_back(frame, crop, mask, aff, blend="poisson")
    # the paste plumbing is exact: blend_poisson of the cv2-warped box buffers
    (x1, y1, x2, y2), pm = calculate_paste_area(frame, crop, aff)
    size = (int(x2 - x1), int(y2 - y1))
    wm = cv2.warpAffine(mask, pm, size).clip(0, 1)
    wc = cv2.warpAffine(crop, pm, size, borderMode=cv2.BORDER_REPLICATE)
    expect = frame.copy()
    expect[y1:y2, x1:x2] = ops.blend_poisson(np.ascontiguousarray(frame[y1:y2, x1:x2]), wc, wm)
    np.testing.assert_array_equal(got, expect)
    assert np.array_equal(got[:15], frame[:15]) and not np.array_equal(got, frame)
    # batch + in place
    ip = frame.copy()
    ops.paste_back(ip, [crop, crop], [mask, mask], [aff, aff], blend="poisson", out=ip)
    np.testing.assert_array_equal(ip, ops.paste_back(got, crop, mask, aff, blend="poisson"))


# ---- bad input ------------------------------------------------------------------------


def _good(rng):
    frame = rand_img(rng, (40, 50, 3), np.uint8)
    crop = rand_img(rng, (20, 20, 3), np.uint8)
    mask = np.ones((20, 20), np.float32)
    aff = np.array([[1.0, 0, -5.0], [0, 1.0, -5.0]])
    return frame, crop, mask, aff


def test_bad_input(rng):
    frame, crop, mask, aff = _good(rng)
    pb = ops.paste_back
    with pytest.raises(TypeError, match="'frame'"):
        pb(frame.astype(np.int16), crop, mask, aff)
    with pytest.raises(ValueError, match="'frame'"):
        pb(frame[:, :, 0], crop, mask, aff)
    with pytest.raises(ValueError, match="'frame'"):
        pb(frame[:0], crop, mask, aff)
    with pytest.raises(TypeError, match="'crop'"):
        pb(frame, crop.astype(np.float32), mask, aff)
    with pytest.raises(ValueError, match="'crop'"):
        pb(frame, crop[:, :, :2], mask, aff)
    with pytest.raises(ValueError, match="'crop'"):
        pb(frame, crop[:0], mask[:0], aff)
    with pytest.raises(ValueError, match="'crop_mask'"):
        pb(frame, crop, mask[:5], aff)
    with pytest.raises(TypeError, match="'crop_mask'"):
        pb(frame, crop, mask.astype(np.int32), aff)
    bad = mask.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="'crop_mask'"):
        pb(frame, crop, bad, aff)
    with pytest.raises(ValueError, match="'affine'"):
        pb(frame, crop, mask, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="'affine'"):
        pb(frame, crop, mask, np.array([[1.0, 2.0, 0], [2.0, 4.0, 0]]))  # singular
    with pytest.raises(ValueError, match="'affine'"):
        pb(frame, crop, mask, np.array([[np.nan, 0, 0], [0, 1.0, 0]]))
    with pytest.raises(ValueError, match="'affine'"):
        pb(frame, crop, mask, np.eye(3))
    with pytest.raises(TypeError, match="'affine'"):
        pb(frame, crop, mask, aff.astype(np.int64))
    with pytest.raises(ValueError, match="'blend'"):
        pb(frame, crop, mask, aff, blend="median")
    with pytest.raises(TypeError, match="'blend'"):
        pb(frame, crop, mask, aff, blend=3)
    with pytest.raises(ValueError, match="'color'"):
        pb(frame, crop, mask, aff, color="hsv")
    with pytest.raises(ValueError, match="'levels'"):
        pb(frame, crop, mask, aff, levels=0)
    with pytest.raises(TypeError, match="'levels'"):
        pb(frame, crop, mask, aff, levels=2.5)
    with pytest.raises(ValueError, match="'crop_mask'"):
        pb(frame, np.stack([crop, crop]), mask[None], np.stack([aff, aff]))
    with pytest.raises(ValueError, match="'affine'"):
        pb(frame, [crop, crop], [mask, mask], [aff])
    with pytest.raises(ValueError, match="'crop'"):
        pb(frame, [], [], [])
    with pytest.raises(TypeError, match="'out'"):
        pb(frame, crop, mask, aff, out=np.zeros(frame.shape, np.float32))
    with pytest.raises(ValueError, match="'out'"):
        pb(frame, crop, mask, aff, out=np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="'out'"):
        pb(frame, crop, mask, aff, out=np.zeros((40, 100, 3), np.uint8)[:, ::2])
    ro = np.zeros_like(frame)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="'out'"):
        pb(frame, crop, mask, aff, out=ro)
    ff = frame.astype(np.float32)
    ff[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="'frame'"):
        pb(ff, crop.astype(np.float32), mask, aff)
    # warp_affine
    with pytest.raises(TypeError, match="'img'"):
        ops.warp_affine(frame.astype(np.int32), aff, (10, 10))
    with pytest.raises(ValueError, match="'img'"):
        ops.warp_affine(np.zeros((4, 4, 5), np.uint8), aff, (10, 10))
    with pytest.raises(ValueError, match="'M'"):
        ops.warp_affine(frame, np.zeros((2, 3)), (10, 10))
    with pytest.raises(ValueError, match="'dsize'"):
        ops.warp_affine(frame, aff, (0, 10))
    with pytest.raises(TypeError, match="'dsize'"):
        ops.warp_affine(frame, aff, 10)
    with pytest.raises(ValueError, match="'border'"):
        ops.warp_affine(frame, aff, (10, 10), "reflect")


def test_poisson_bad_input(rng):
    frame, crop, mask, aff = _good(rng)
    if not hasattr(ops, "blend_poisson"):
        pytest.skip("blend_poisson not built")
    with pytest.raises(ValueError, match="'affine'"):
        ops.paste_back(frame, [crop, crop], [mask, mask], [aff], blend="poisson")
    with pytest.raises(ValueError, match="'color'"):
        ops.paste_back(frame, crop, mask, aff, blend="poisson", color="x")


# ---- hypothesis over the native entries ---------------------------------------------

dtypes = st.sampled_from([np.uint8, np.float32, np.float64, np.int16])


@settings(max_examples=60, deadline=None)
@given(
    sh=st.integers(0, 12), sw=st.integers(0, 12), c=st.integers(0, 5), ndim=st.sampled_from([2, 3]),
    dtype=dtypes, dw=st.integers(-1, 20), dh=st.integers(-1, 20),
    m=st.lists(st.one_of(st.floats(-10, 10), st.just(float('nan'))), min_size=6, max_size=6),
    border=st.sampled_from(["constant", "replicate", "wrap"]),
)
def test_hypothesis_warp_affine(sh, sw, c, ndim, dtype, dw, dh, m, border):
    shape = (sh, sw) if ndim == 2 else (sh, sw, c)
    img = np.ones(shape, dtype)
    M = np.array(m).reshape(2, 3)
    try:
        out = _core.warp_affine(img, M, (dw, dh), border)
    except (TypeError, ValueError):
        return
    assert out.shape[:2] == (dh, dw) and out.dtype == dtype
    assert out.shape[2:] == img.shape[2:]


@settings(max_examples=60, deadline=None)
@given(
    fh=st.integers(0, 30), fw=st.integers(0, 30), fc=st.sampled_from([3, 3, 3, 1]),
    ch=st.integers(0, 12), cw=st.integers(0, 12), dtype=dtypes, cdtype=dtypes,
    mdtype=st.sampled_from([np.float32, np.float32, np.uint8]),
    k=st.integers(1, 3), batch=st.sampled_from(["single", "array", "list"]),
    m=st.lists(st.one_of(st.floats(-40, 40), st.sampled_from([float('nan'), float('inf'), 0.0])), min_size=6,
                max_size=6),
    blend=st.sampled_from(["alpha", "laplacian", "poisson", "x"]), color=st.sampled_from([None, "lab", "rgb"]),
    levels=st.integers(-1, 8), nmask=st.integers(0, 3),
)
def test_hypothesis_paste_back(fh, fw, fc, ch, cw, dtype, cdtype, mdtype, k, batch, m, blend, color, levels, nmask):
    frame = np.full((fh, fw, fc), 100, dtype)
    crop = np.full((ch, cw, 3), 200, cdtype)
    mask = np.full((ch, cw), 1, mdtype)
    aff = np.array(m).reshape(2, 3)
    if batch == "single":
        args = (crop, mask, aff)
    elif batch == "array":
        args = (np.stack([crop] * k), np.stack([mask] * nmask) if nmask else mask, np.stack([aff] * k))
    else:
        args = ([crop] * k, [mask] * max(nmask, 1), [aff] * k)
    try:
        out = _core.paste_back(frame, *args, blend, color, levels)
    except (TypeError, ValueError):
        pass
    else:
        assert out.shape == frame.shape and out.dtype == frame.dtype
    try:
        box, warped, wm = _core.paste_warp(frame, crop, mask, aff)
    except (TypeError, ValueError):
        return
    assert len(box) == 4 and warped.shape[:2] == wm.shape and warped.dtype == frame.dtype
