"""paste family: cv2-compatible warp_affine and the fused paste_back vs FaceFusion's way."""
from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facefuse import _core, ops
from facefuse import reference as ref
from facefuse.reference.paste import cv2_tolerance, fma_f32, paste_geometry, warp_face

# FaceFusion's normalised 5-point templates (eyes, nose, mouth corners).
ARCFACE_112_V2 = np.array(
    [[0.34191607, 0.46157411], [0.65653393, 0.45983393], [0.50022500, 0.64050536],
     [0.37097589, 0.82469196], [0.63151696, 0.82325089]]
)
FFHQ_512 = np.array(
    [[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
     [0.39308822, 0.72541100], [0.61150205, 0.72490465]]
)

# paste_back vs the reference: alpha is bit-equal (the reference spells out the
# native arithmetic); laplacian / lab go through the pyramid / colour references
# (cv2.pyrDown / pyrUp / cvtColor in float), whose own bound is 1 level for uint8
# (test_pyramid.py) and <= 1e-3 for float32.
TOL = {
    (np.uint8, "alpha"): 0, (np.uint8, "laplacian"): 1,
    (np.float32, "alpha"): 0, (np.float32, "laplacian"): 1e-3,
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


# ---- warp_affine: facefuse's semantics (the NumPy reference), and cv2 -----------------


def _warp_cases(rng, dtype, n=60):
    """(src, M, (dw, dh)): odd sizes, 1-pixel images, 1-4 channels, views, float32 / float64 M."""
    for trial in range(n):
        sh, sw = (1, 1) if trial == 1 else rng.integers(1, 90, 2)
        c = (1, 2, 3, 4)[trial % 4]
        src = rand_img(rng, (sh, sw, c), dtype, sharp=trial % 2 == 0)
        if trial % 5 == 2:  # a non-contiguous view
            src = rand_img(rng, (sh, 2 * sw, c), dtype)[:, ::2]
        dw, dh = (1, 1) if trial == 3 else (int(v) for v in rng.integers(1, 130, 2))
        m = cv2.invertAffineTransform(rand_affine(rng, dh, dw, sh, sw))  # forward src -> dst
        if trial % 4 == 0:
            m = m.astype(np.float32)
        yield src, m, (dw, dh)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("border", ["constant", "replicate"])
def test_warp_affine_matches_reference(rng, dtype, border):
    """Bit-equal to facefuse's own semantics, whatever cv2 is installed."""
    for src, m, (dw, dh) in _warp_cases(rng, dtype):
        got = ops.warp_affine(src, m, (dw, dh), border)
        assert got.shape == (dh, dw, src.shape[2]) and got.dtype == dtype
        np.testing.assert_array_equal(got, ref.warp_affine(src, m, (dw, dh), border))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("border", ["constant", "replicate"])
def test_warp_affine_near_installed_cv2(rng, dtype, border):
    """Within the stated bound of the installed OpenCV's warpAffine (docs/warp-semantics.md)."""
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    for src, m, (dw, dh) in _warp_cases(rng, dtype):
        expect = cv2.warpAffine(src, m, (dw, dh), flags=cv2.INTER_LINEAR, borderMode=mode).reshape(dh, dw, -1)
        worst = diff(ops.warp_affine(src, m, (dw, dh), border), expect)
        assert worst <= cv2_tolerance("warp", dtype, channels=src.shape[2]), (cv2.__version__, src.shape, worst)


def test_warp_affine_pixel_independent_of_width(rng):
    """A pixel's value depends on its position only, not on the output width (cv2 5.0's
    AVX2 kernel rounds the last width % 16 columns of each row differently)."""
    src = rand_img(rng, (40, 50, 3), np.uint8)
    m = np.array([[0.7311, 0.2213, 3.3], [-0.187, 1.0913, -2.71]])
    wide = ops.warp_affine(src, m, (64, 30))
    for w in (1, 15, 17, 31, 33, 63):
        np.testing.assert_array_equal(ops.warp_affine(src, m, (w, 30)), wide[:, :w])


def test_warp_affine_2d(rng):
    src = rand_img(rng, (33, 47), np.uint8)
    m = np.array([[0.8, 0.3, 5.0], [-0.25, 1.1, -3.0]])
    got = ops.warp_affine(src, m, (40, 50))
    assert got.shape == (50, 40)
    np.testing.assert_array_equal(got, ref.warp_affine(src, m, (40, 50)))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_warp_affine_batch_of_matrices(rng, dtype):
    """A K x 2 x 3 M gives the K warps stacked: each the single-matrix warp, bit for bit."""
    for shape, dsize, k in [((33, 41, 3), (29, 23), 4), ((9, 7), (5, 11), 1), ((1, 1, 4), (3, 2), 3)]:
        src = rand_img(rng, shape, dtype)
        ms = np.stack([cv2.invertAffineTransform(rand_affine(rng, dsize[1], dsize[0], shape[0], shape[1]))
                       for _ in range(k)])
        ms = ms.astype(np.float32) if k == 3 else ms
        for border in ("constant", "replicate"):
            got = ops.warp_affine(src, ms, dsize, border)
            assert got.shape == (k, dsize[1], dsize[0], *shape[2:]) and got.dtype == dtype
            np.testing.assert_array_equal(got, ref.warp_affine(src, ms, dsize, border))
            for i in range(k):
                np.testing.assert_array_equal(got[i], ops.warp_affine(src, ms[i], dsize, border))
    src = rand_img(rng, (8, 8, 3), dtype)
    good = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    with pytest.raises(ValueError, match="'M'.*matrix 1"):
        ops.warp_affine(src, np.stack([good, np.zeros((2, 3))]), (4, 4))
    with pytest.raises(ValueError, match="'M'"):
        ops.warp_affine(src, np.zeros((0, 2, 3)), (4, 4))
    with pytest.raises(ValueError, match="'M'"):
        ops.warp_affine(src, np.zeros((2, 2, 2, 3)), (4, 4))
    bad = np.stack([good, good])
    bad[1, 0, 2] = np.inf
    with pytest.raises(ValueError, match="'M'"):
        ops.warp_affine(src, bad, (4, 4))


def _f32_nearest(x: Fraction) -> np.float32:
    """The float32 nearest to the rational x (ties to even), by exact arithmetic."""
    lo = np.float32(float(x))  # within an ulp; step to the bracketing pair
    while Fraction(float(lo)) > x:
        lo = np.nextafter(lo, np.float32(-np.inf))
    while Fraction(float(np.nextafter(lo, np.float32(np.inf)))) <= x:
        lo = np.nextafter(lo, np.float32(np.inf))
    hi = np.nextafter(lo, np.float32(np.inf))
    dl, dh = x - Fraction(float(lo)), Fraction(float(hi)) - x
    if dl != dh:
        return lo if dl < dh else hi
    return lo if int(lo.view(np.int32)) % 2 == 0 else hi


def test_reference_fma_is_correctly_rounded(rng):
    """The oracle's float32 fma rounds once, checked with exact rationals, also where a
    plain float64 a * b + c rounds twice the wrong way."""
    a = np.float32(1 + 2.0**-12)
    hard = (a, a, np.float32(2.0**-70))  # a*a = 1 + 2^-11 + 2^-24: a float32 midpoint, c breaks the tie
    naive = np.float32(np.float64(a) * np.float64(a) + np.float64(hard[2]))
    assert naive != _f32_nearest(Fraction(float(a)) ** 2 + Fraction(2.0**-70))  # the trap is real
    cases = [hard, (a, a, -hard[2]), (np.float32(-a), a, hard[2])]
    for _ in range(400):
        e = rng.integers(-30, 30, 3)
        cases.append(tuple(np.float32(rng.uniform(-1, 1) * 2.0 ** int(k)) for k in e))
    for x, y, z in cases:
        want = _f32_nearest(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)))
        assert fma_f32(x, y, z) == want, (x, y, z)


def test_baseline_and_avx2_kernels_agree(rng, tmp_path):
    """FACEFUSE_CPU_BASELINE=1 runs the kernels without AVX2 / hardware fma (fma in
    software): the same bits as the default dispatch and the reference."""
    src = rand_img(rng, (70, 90, 3), np.uint8)
    crop = rand_img(rng, (64, 64, 3), np.float32)
    frame = rand_img(rng, (120, 130, 3), np.float32)
    mask = rng.uniform(-0.1, 1.1, (64, 64)).astype(np.float32)
    m = cv2.invertAffineTransform(rand_affine(rng, 100, 110, 70, 90))
    aff = rand_affine(rng, 120, 130, 64, 64, spread=0.0)
    np.savez(tmp_path / "in.npz", src=src, crop=crop, frame=frame, mask=mask, m=m, aff=aff)
    code = (
        "import sys, numpy as np; from facefuse import ops; d = np.load(sys.argv[1]); "
        "np.savez(sys.argv[2], w=ops.warp_affine(d['src'], d['m'], (110, 100), 'replicate'), "
        "p=ops.paste_back(d['frame'], d['crop'], d['mask'], d['aff']))"
    )
    env = dict(os.environ, FACEFUSE_CPU_BASELINE="1")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], env=env,
                   check=True)
    base = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(base["w"], ops.warp_affine(src, m, (110, 100), "replicate"))
    np.testing.assert_array_equal(base["w"], ref.warp_affine(src, m, (110, 100), "replicate"))
    np.testing.assert_array_equal(base["p"], ops.paste_back(frame, crop, mask, aff))
    np.testing.assert_array_equal(base["p"], ref.paste_back(frame, crop, mask, aff))


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
        # lab: the colour reference converts in float via cv2 (native: OpenCV's table)
        tol = TOL[(dtype, blend)] if color is None else (1 if dtype == np.uint8 else 2e-3)
        assert diff(got, expect) <= tol, (trial, fh, fw, ch, cw)


def test_paste_back_sharp_edges_large_crop(rng):
    """Sharp black/white crop at 256 px, rotated and scaled: bit-equal to the reference."""
    frame = rand_img(rng, (300, 400, 3), np.uint8)
    crop = rand_img(rng, (256, 256, 3), np.uint8, sharp=True)
    mask = np.ones((256, 256), np.float32)
    for _ in range(4):
        aff = rand_affine(rng, 300, 400, 256, 256, scale=(0.5, 2.0), spread=0.0)
        got = ops.paste_back(frame, crop, mask, aff)
        np.testing.assert_array_equal(got, ref.paste_back(frame, crop, mask, aff))


def test_paste_back_near_cv2_warp(rng, astronaut_bgr):
    """With the installed cv2.warpAffine doing the warps (FaceFusion's way, rounded like
    facefuse) the result stays within the stated bound of cv2's warp."""
    mask = np.zeros((128, 128), np.float32)
    mask[12:-12, 12:-12] = 1
    mask = cv2.GaussianBlur(mask, (0, 0), 4)
    for dtype in (np.uint8, np.float32):
        frame = astronaut_bgr.astype(dtype)
        for trial in range(6):
            crop = rand_img(rng, (128, 128, 3), dtype) if trial % 2 else (255 - astronaut_bgr[100:228, 150:278])
            aff = rand_affine(rng, 512, 512, 128, 128, scale=(0.4, 2.5), spread=0.0)
            got = ops.paste_back(frame, crop.astype(dtype), mask, aff)
            want = ref.paste_back(frame, crop.astype(dtype), mask, aff, warp="cv2")
            assert diff(got, want) <= cv2_tolerance("warp", dtype), (cv2.__version__, dtype, trial)


def test_paste_box_geometry(rng):
    frame = rand_img(rng, (120, 150, 3), np.uint8)
    for _ in range(20):
        ch, cw = (int(v) for v in rng.integers(1, 60, 2))
        crop = rand_img(rng, (ch, cw, 3), np.uint8)
        aff = rand_affine(rng, 120, 150, ch, cw)
        cmask = rng.uniform(-0.2, 1.2, (ch, cw)).astype(np.float32)
        if _ % 2:
            aff = aff.astype(np.float32)
        box, warped, m = _core.paste_warp(frame, crop, cmask, aff)
        (x1, y1, x2, y2), pm, k = paste_geometry(frame.shape, crop.shape, aff)
        assert box == (x1, y1, x2, y2)
        bh, bw = max(0, y2 - y1), max(0, x2 - x1)
        assert warped.shape == (bh, bw, 3) and m.shape == (bh, bw)
        if bh and bw:
            want_crop, want_mask = warp_face(crop, cmask, pm, k, (bw, bh))
            np.testing.assert_array_equal(warped, want_crop)
            np.testing.assert_array_equal(m, want_mask)


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
    np.testing.assert_array_equal(got, ref.paste_back(frame, crop, mask, aff))
    assert np.array_equal(got[1:], frame[1:]) and np.array_equal(got[:, 1:], frame[:, 1:])
    # half outside
    aff = np.array([[1.0, 0, 16.0], [0, 1.0, 10.0]])
    np.testing.assert_array_equal(ops.paste_back(frame, crop, mask, aff), ref.paste_back(frame, crop, mask, aff))


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
    assert diff(got, expect) <= TOL[(dtype, blend)]
    seq = frame
    for i in range(k):
        seq = ops.paste_back(seq, crops[i], masks[i], affs[i], blend=blend)
    np.testing.assert_array_equal(got, seq)
    # list form, different crop sizes, uint8 masks
    lst = [crops[0], rand_img(rng, (31, 57, 3), dtype)]
    lmask = [(masks[0] * 255).astype(np.uint8), np.ones((31, 57), np.uint8) * 255]
    laff = [affs[0], rand_affine(rng, fh, fw, 31, 57, scale=(0.5, 1.5), spread=0.0)]
    got = ops.paste_back(frame, lst, lmask, laff, blend=blend)
    assert diff(got, ref.paste_back(frame, lst, lmask, laff, blend=blend)) <= TOL[(dtype, blend)]


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("blend", ["alpha", "laplacian"])
def test_frame_index_pastes_each_face_into_its_frame(rng, dtype, blend):
    n, fh, fw = 3, 60, 70
    frames = rand_img(rng, (n, fh, fw, 3), dtype)
    k = 5
    crops = [rand_img(rng, (int(rng.integers(1, 40)), int(rng.integers(1, 40)), 3), dtype) for _ in range(k)]
    masks = [rng.uniform(-0.1, 1.1, c.shape[:2]).astype(np.float32) for c in crops]
    affs = [rand_affine(rng, fh, fw, c.shape[0], c.shape[1], scale=(0.5, 1.5), spread=0.0) for c in crops]
    affs[2] = affs[0]  # two faces of frame 2 on the same box: in order
    index = [2, 0, 2, 1, 2]
    got = ops.paste_back(frames, crops, masks, affs, blend=blend, frame_index=index)
    assert got.shape == frames.shape and got.dtype == dtype
    expect = ref.paste_back(frames, crops, masks, affs, blend=blend, frame_index=index)
    assert diff(got, expect) <= TOL[(dtype, blend)]
    for f in range(n):  # each frame: its faces pasted in order, by the single-frame call
        faces = [i for i in range(k) if index[i] == f]
        want = ops.paste_back(frames[f], [crops[i] for i in faces], [masks[i] for i in faces],
                              [affs[i] for i in faces], blend=blend)
        np.testing.assert_array_equal(got[f], want)
    inplace = frames.copy()
    assert ops.paste_back(inplace, crops, masks, affs, blend=blend, frame_index=np.array(index),
                          out=inplace) is inplace
    np.testing.assert_array_equal(inplace, got)
    with pytest.raises(ValueError, match="'frame_index'"):
        ops.paste_back(frames, crops, masks, affs)  # N frames need frame_index
    with pytest.raises(ValueError, match="'frame_index'"):
        ops.paste_back(frames, crops, masks, affs, frame_index=index[:4])
    with pytest.raises(ValueError, match="'frame_index'"):
        ops.paste_back(frames, crops, masks, affs, frame_index=[0, 1, 2, 3, 0])
    with pytest.raises(ValueError, match="'frame_index'"):
        ops.paste_back(frames[0], crops, masks, affs, frame_index=[0] * k)
    with pytest.raises(TypeError, match="'frame_index'"):
        ops.paste_back(frames, crops, masks, affs, frame_index=[0, 1, 2, 1.5, 0])
    with pytest.raises(TypeError, match="'frame_index'"):
        ops.paste_back(frames, crops, masks, affs, frame_index=3)
    with pytest.raises(ValueError, match="'out'"):
        ops.paste_back(frames, crops, masks, affs, frame_index=index, out=np.empty_like(frames[0]))


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
    same = np.testing.assert_array_equal
    same(ops.paste_back(frame, crop, mask, aff), ref.paste_back(frame, crop, mask, aff))
    flipped = np.ascontiguousarray(frame)[::-1]
    same(ops.paste_back(flipped, crop[::-1], mask, aff), ref.paste_back(flipped, crop[::-1], mask, aff))
    # bool and float64 masks are accepted
    same(ops.paste_back(frame, crop, mask > 0.5, aff), ref.paste_back(frame, crop, mask > 0.5, aff))
    same(ops.paste_back(frame, crop, mask.astype(np.float64), aff), ref.paste_back(frame, crop, mask, aff))


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
        assert diff(got, ref.paste_back(frame, swapped, mask, aff, blend=blend)) <= TOL[(np.uint8, blend)]
        (x1, y1, x2, y2), _, _ = paste_geometry(frame.shape, swapped.shape, aff)
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
    # the paste plumbing is exact: blend_poisson of the warped box buffers
    (x1, y1, x2, y2), pm, k = paste_geometry(frame.shape, crop.shape, aff)
    wc, wm = warp_face(crop, mask, pm, k, (x2 - x1, y2 - y1))
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


def test_cv2_tolerance_table():
    """The stated bounds by OpenCV version (docs/warp-semantics.md)."""
    assert cv2_tolerance("warp", np.uint8, "5.1.0") == 1
    assert cv2_tolerance("warp", np.uint8, "5.0.0") == 1
    assert cv2_tolerance("warp", np.uint8, "6.0.0") == 1  # newer: 5.x's bound until CI_LATEST says otherwise
    assert cv2_tolerance("warp", np.uint8, "4.12.0") == 9
    assert cv2_tolerance("warp", np.uint8, "5.1.0", channels=2) == 9  # 5.x warps 2 channels as 4.x
    assert cv2_tolerance("paste", np.float32, "4.8.1") == 9
    assert cv2_tolerance("paste", np.uint8, "5.0.0") == 2
    with pytest.raises(ValueError, match="older than the supported 4.8"):
        cv2_tolerance("warp", np.uint8, "3.4.18")


@pytest.mark.parametrize("blend", ["alpha", "laplacian"])
def test_paste_back_crops_well_inside_the_frame(rng, blend, tmp_path):
    """Crops pasted whole into a larger frame (the AVX2 kernels' 8-byte-gather path for chunks
    whose pixels and right / lower neighbours are all inside the crop): bit-equal to the
    reference, and to the baseline kernels, for 512-px, odd and tiny (2 x 3) crops and
    non-contiguous masks."""
    frame = rand_img(rng, (700, 900, 3), np.uint8)
    cases = []
    for ch, cw in [(512, 512), (301, 257), (3, 2), (4, 9), (65, 63)]:
        crop = rand_img(rng, (ch, cw, 3), np.uint8, sharp=ch == 65)
        big = rng.uniform(-0.2, 1.2, (ch, 2 * cw)).astype(np.float32)
        mask = big[:, ::2] if cw % 2 else np.ascontiguousarray(big[:, :cw])  # a strided view too
        s = 1.0 if ch > 100 else 0.08  # tiny crops: scaled up into the frame
        aff = rand_affine(rng, 700, 900, ch, cw, scale=(0.8 * s, 1.3 * s), spread=-0.3)
        cases.append((crop, mask, aff))
        got = ops.paste_back(frame, crop, mask, aff, blend=blend)
        tol = TOL[(np.uint8, blend)]
        assert diff(got, ref.paste_back(frame, crop, mask, aff, blend=blend)) <= tol, (ch, cw)
    crops, masks, affs = (list(v) for v in zip(*cases))
    want = ops.paste_back(frame, crops, masks, affs, blend=blend)
    np.savez(tmp_path / "in.npz", frame=frame, *crops)
    np.savez(tmp_path / "m.npz", *[np.ascontiguousarray(m) for m in masks], *affs)
    code = (
        "import sys, numpy as np; from facefuse import ops; d = np.load(sys.argv[1]); m = np.load(sys.argv[2]); "
        f"k = {len(cases)}; c = [d[f'arr_{{i}}'] for i in range(k)]; ms = [m[f'arr_{{i}}'] for i in range(k)]; "
        "a = [m[f'arr_{i + k}'] for i in range(k)]; "
        f"np.save(sys.argv[3], ops.paste_back(d['frame'], c, ms, a, blend={blend!r}))"
    )
    env = dict(os.environ, FACEFUSE_CPU_BASELINE="1")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "in.npz"), str(tmp_path / "m.npz"),
                    str(tmp_path / "out.npy")], env=env, check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), want)
