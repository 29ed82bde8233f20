"""facefuse.compat.facefusion: FaceFusion 3.x paste_back semantics on the native core,
and patch() / unpatch() on a fake FaceFusion package."""
from __future__ import annotations

import importlib
import sys
import textwrap

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facefuse.benchmarks import face_mask, make_scene
from facefuse.compat import facefusion as ff
from facefuse.reference import compat_facefusion as ref_ff
from facefuse.reference.paste import cv2_tolerance

# native vs FaceFusion's cv2 paste-back: the bound stated for the installed OpenCV
# (docs/warp-semantics.md); the reference-vs-reference checks below stay tighter.
PASTE_TOL = cv2_tolerance("paste", np.uint8)
PASTE_TOL_F32 = cv2_tolerance("paste", np.float32)


# 5 landmarks of the astronaut's face (eyes, nose tip, mouth corners), pixel (x, y)
ASTRONAUT_LM5 = np.array([[203.0, 102.0], [247.0, 103.0], [225.0, 127.0], [207.0, 143.0], [243.0, 142.0]])


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


def _legacy_full_frame(frame, crop, mask, affine):
    """The FaceFusion 3.0 form: warp crop and mask to the whole frame, blend per channel.

    Independent of the paste-box arithmetic, so it cross-checks the reference.
    """
    inverse = cv2.invertAffineTransform(affine)
    size = frame.shape[:2][::-1]
    m = cv2.warpAffine(mask, inverse, size).clip(0, 1)
    w = cv2.warpAffine(crop, inverse, size, borderMode=cv2.BORDER_REPLICATE)
    out = frame.copy()
    for c in range(3):
        out[:, :, c] = m * w[:, :, c] + (1 - m) * frame[:, :, c]
    return out


def _random_case(rng, h, w, ch, cw, dtype=np.uint8):
    frame = rng.integers(0, 256, (h, w, 3)).astype(dtype)
    # Crops and masks are smooth, like photos and FaceFusion's feathered masks: cv2.warpAffine
    # quantises source positions to 1/32 px, so on white noise two exact bilinear warps could
    # legitimately differ by several grey levels; the frame itself is not warped and stays noise.
    crop = cv2.GaussianBlur(rng.integers(0, 256, (ch, cw, 3)).astype(np.float32), (0, 0), 2.0)
    crop = ((crop - crop.mean()) * 4 + 128).clip(0, 255).astype(dtype)
    mask = cv2.GaussianBlur(rng.random((ch, cw), dtype=np.float32), (0, 0), 2.0)
    mask = ((mask - 0.5) * 6 + 0.5).clip(0, 1).astype(np.float32)
    cx, cy = rng.uniform(-0.2 * w, 1.2 * w), rng.uniform(-0.2 * h, 1.2 * h)
    face = rng.uniform(0.2, 1.5) * min(h, w) + 2
    s, a = max(ch, cw) / face, np.deg2rad(rng.uniform(-180, 180))
    lin = s * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    if rng.random() < 0.3:  # a general affine now and then (shear, anisotropic scale)
        lin = lin @ (np.eye(2) + rng.uniform(-0.3, 0.3, (2, 2)))
    aff = np.zeros((2, 3))
    aff[:, :2] = lin
    aff[:, 2] = np.array([cw / 2, ch / 2]) - lin @ np.array([cx, cy])
    return frame, crop, mask, aff


# --------------------------------------------------------------------------- the reference


def test_reference_matches_full_frame_form(rng) -> None:
    """Inside the paste box the 3.x reference equals the 3.0 whole-frame form; outside it
    the frame is untouched. (3.x's box is the crop's footprint, so it leaves out the
    sub-pixel fringe where the mask's bilinear warp with a 0 border is still > 0 just
    outside the crop: the two forms agree everywhere when the mask's border is 0, as
    FaceFusion's feathered masks are.)"""
    for h, w, c in [(64, 80, 32), (97, 61, 40), (200, 300, 128)]:
        for _ in range(6):
            frame, crop, mask, aff = _random_case(rng, h, w, c, c)
            (x1, y1, x2, y2), _ = ref_ff.calculate_paste_area(frame, crop, aff)
            got = ref_ff.paste_back(frame, crop, mask, aff)
            want = _legacy_full_frame(frame, crop, mask, aff)
            assert got.dtype == frame.dtype and got.shape == frame.shape
            # cv2 against cv2 with the origin moved to the box: OpenCV 4.x quantises source
            # positions to 1/32 px, and where they fall depends on the origin
            assert _diff(got[y1:y2, x1:x2], want[y1:y2, x1:x2]) <= cv2_tolerance("warp", np.uint8)
            outside = np.ones((h, w), bool)
            outside[y1:y2, x1:x2] = False
            assert np.array_equal(got[outside], frame[outside])
            zero_border = mask.copy()
            zero_border[[0, -1], :] = 0
            zero_border[:, [0, -1]] = 0
            got = ref_ff.paste_back(frame, crop, zero_border, aff)
            assert _diff(got, _legacy_full_frame(frame, crop, zero_border, aff)) <= cv2_tolerance("warp", np.uint8)


def test_reference_paste_area(rng) -> None:
    frame = np.zeros((100, 200, 3), np.uint8)
    crop = np.zeros((50, 50, 3), np.uint8)
    aff = np.array([[1.0, 0.0, -10.5], [0.0, 1.0, -20.25]])  # crop = frame - (10.5, 20.25)
    box, pm = ref_ff.calculate_paste_area(frame, crop, aff)
    assert box.tolist() == [10, 20, 60, 70]  # corners 10.5 / 60.5 round half to even, as cv2.transform of int points
    np.testing.assert_allclose(pm, [[1, 0, 0.5], [0, 1, 0.25]])
    aff_out = np.array([[1.0, 0.0, 500.0], [0.0, 1.0, 0.0]])  # lands left of the frame
    box, _ = ref_ff.calculate_paste_area(frame, crop, aff_out)
    assert box[0] == box[2] == 0
    out = ref_ff.paste_back(frame, crop, np.ones((50, 50), np.float32), aff_out)
    assert np.array_equal(out, frame) and out is not frame


def test_reference_alignment_template() -> None:
    m = ref_ff.estimate_matrix_by_face_landmark_5(ASTRONAUT_LM5, "ffhq_512", (512, 512))
    mapped = ref_ff.transform_points(ASTRONAUT_LM5, m)
    assert np.max(np.abs(mapped - ref_ff.WARP_TEMPLATES["ffhq_512"] * 512)) < 25
    assert set(ref_ff.WARP_TEMPLATES) >= {"arcface_128", "ffhq_512"}


# --------------------------------------------------------------------------- native vs reference


@pytest.mark.parametrize("shape", [(64, 80, 32, 32), (97, 61, 40, 33), (1, 1, 2, 2), (2, 2, 1, 1),
                                   (200, 300, 128, 128), (33, 47, 64, 17)])
def test_paste_back_random(rng, shape) -> None:
    h, w, ch, cw = shape
    for _ in range(5):
        frame, crop, mask, aff = _random_case(rng, h, w, ch, cw)
        before = frame.copy()
        got = ff.paste_back(frame, crop, mask, aff)
        want = ref_ff.paste_back(frame, crop, mask, aff)
        assert got.dtype == np.uint8 and got.shape == frame.shape
        assert np.array_equal(frame, before), "the input frame must not be modified"
        assert got is not frame
        assert _diff(got, want) <= PASTE_TOL
        a32 = aff.astype(np.float32)  # FaceFusion inverts a float32 affine in float32
        assert _diff(ff.paste_back(frame, crop, mask, a32), ref_ff.paste_back(frame, crop, mask, a32)) <= PASTE_TOL


def test_paste_back_float32_frames(rng) -> None:
    for _ in range(4):
        frame, crop, mask, aff = _random_case(rng, 90, 120, 48, 48, np.float32)
        frame += rng.random(frame.shape, dtype=np.float32)
        got = ff.paste_back(frame, crop, mask, aff)
        want = ref_ff.paste_back(frame, crop, mask, aff)
        assert got.dtype == np.float32
        assert _diff(got, want) <= PASTE_TOL_F32


def test_paste_back_non_contiguous(rng) -> None:
    frame, crop, mask, aff = _random_case(rng, 120, 160, 64, 64)
    big = rng.integers(0, 256, (120, 320, 3), dtype=np.uint8)
    views = [
        (big[:, ::2], crop, mask, aff),
        (frame[::-1], crop[:, ::-1], mask[::-1], aff),
        (frame, np.ascontiguousarray(crop[..., ::-1]), np.asfortranarray(mask), aff),
        (frame, crop, mask, np.asfortranarray(aff)),
    ]
    for f, c, m, a in views:
        assert _diff(ff.paste_back(f, c, m, a), ref_ff.paste_back(f, c, m, a)) <= PASTE_TOL


@pytest.mark.parametrize("template,crop_size", [("arcface_128", 128), ("ffhq_512", 512)])
def test_paste_back_astronaut_alignment(astronaut_bgr, template, crop_size) -> None:
    """FaceFusion's real flow: align by 5 landmarks, process the crop, paste it back."""
    crop, aff = ref_ff.warp_face_by_face_landmark_5(astronaut_bgr, ASTRONAUT_LM5, template, (crop_size, crop_size))
    swapped = cv2.GaussianBlur(255 - crop, (0, 0), 1.5)  # a "processed" face
    mask = face_mask(crop_size)
    got = ff.paste_back(astronaut_bgr, swapped, mask, aff)
    want = ref_ff.paste_back(astronaut_bgr, swapped, mask, aff)
    assert _diff(got, want) <= PASTE_TOL
    # mostly where the kernel rounds and FaceFusion's astype truncates
    assert np.mean(np.abs(got.astype(np.int16) - want)) < 0.1
    changed = np.any(got != astronaut_bgr, axis=2)
    ys, xs = np.nonzero(changed)
    assert 150 < xs.mean() < 300 and 50 < ys.mean() < 200  # the paste landed on the face


def test_paste_back_four_faces_sequential() -> None:
    sc = make_scene(270, 480, 4, 128, seed=3)
    a = b = sc.frame
    for k in range(4):
        a = ff.paste_back(a, sc.crops[k], sc.masks[k], sc.affines[k])
        b = ref_ff.paste_back(b, sc.crops[k], sc.masks[k], sc.affines[k])
        assert _diff(a, b) <= PASTE_TOL


def test_paste_back_fallbacks_are_facefusion_exact(rng) -> None:
    """Inputs the native kernel does not take go to the reference (FaceFusion's exact behaviour)."""
    frame, crop, mask, aff = _random_case(rng, 70, 90, 40, 40)
    cases = [
        (frame.astype(np.float64), crop.astype(np.float64), mask, aff),  # float64 frames
        (frame, crop, (mask * 255).astype(np.uint8), aff),               # uint8 mask: warped as integers
        (frame, crop, mask * 3 - 1, aff),                                 # mask outside [0, 1]
        (frame, crop.astype(np.float32), mask, aff),                      # crop dtype differs
    ]
    for f, c, m, a in cases:
        assert np.array_equal(ff.paste_back(f, c, m, a), ref_ff.paste_back(f, c, m, a))
    m3 = mask[..., None]
    assert _diff(ff.paste_back(frame, crop, m3, aff), ref_ff.paste_back(frame, crop, mask, aff)) <= PASTE_TOL


def test_paste_back_blur_overshoot_stays_native(rng, monkeypatch) -> None:
    """cv2.GaussianBlur leaves feathered masks at 1.0000001: ops.paste_back clips the mask's
    values, so such a mask pastes exactly as the mask clipped to 1; compat takes it natively
    (no fall-back) and clips after the warp, as FaceFusion does."""
    from facefuse import ops
    from facefuse.reference import paste as ref_paste

    for dtype in (np.uint8, np.float32):
        frame, crop, mask, aff = _random_case(rng, 90, 120, 48, 48, dtype)
        over = mask.copy()
        over[mask >= 0.5] = np.float32(1.0000001)  # the overshoot next to values below 1
        assert over.max() > 1.0
        clipped = np.clip(over, 0, 1)
        for blend in ("alpha", "laplacian"):
            got = ops.paste_back(frame, crop, over, aff, blend=blend)
            assert np.array_equal(got, ops.paste_back(frame, crop, clipped, aff, blend=blend))
            want = ref_paste.paste_back(frame, crop, over, aff, blend=blend)
            if blend == "alpha":  # bit-exact (laplacian: the pyramid reference's own tolerance, test_paste)
                assert np.array_equal(got, want)
            else:
                assert _diff(got, want) <= (1 if dtype == np.uint8 else 1e-3)

        def no_fallback(*args):
            raise AssertionError("compat fell back to the reference for a mask at 1.0000001")

        with monkeypatch.context() as mp:
            mp.setattr(ff._ref, "paste_back", no_fallback)
            got = ff.paste_back(frame, crop, over, aff)
        assert np.array_equal(got, ref_ff.paste_back_model(frame, crop, over, aff, ff._CV2_4))
        assert _diff(got, ref_ff.paste_back(frame, crop, over, aff)) <= (PASTE_TOL if dtype == np.uint8
                                                                          else PASTE_TOL_F32)


def test_paste_back_outside_frame_returns_copy(rng) -> None:
    frame, crop, mask, _ = _random_case(rng, 50, 60, 20, 20)
    aff = np.array([[1.0, 0.0, 1000.0], [0.0, 1.0, 1000.0]])
    out = ff.paste_back(frame, crop, mask, aff)
    assert np.array_equal(out, frame) and out is not frame


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 40), w=st.integers(1, 40), ch=st.integers(1, 24), cw=st.integers(1, 24),
       seed=st.integers(0, 2**31 - 1), f32=st.booleans())
def test_paste_back_hypothesis(h, w, ch, cw, seed, f32) -> None:
    r = np.random.default_rng(seed)
    frame, crop, mask, aff = _random_case(r, h, w, ch, cw, np.float32 if f32 else np.uint8)
    got = ff.paste_back(frame, crop, mask, aff)
    assert got.shape == frame.shape and got.dtype == frame.dtype
    assert _diff(got, ref_ff.paste_back(frame, crop, mask, aff)) <= PASTE_TOL


# --------------------------------------------------------------------------- patch()

FAKE_FACE_HELPER = '''
import cv2
import numpy


def transform_points(points, matrix):
    return cv2.transform(points.reshape(-1, 1, 2), matrix).reshape(-1, 2)  # int corners -> rounded ints


def calculate_paste_area(temp_vision_frame, crop_vision_frame, affine_matrix):
    temp_height, temp_width = temp_vision_frame.shape[:2]
    crop_height, crop_width = crop_vision_frame.shape[:2]
    inverse_matrix = cv2.invertAffineTransform(affine_matrix)
    crop_points = numpy.array([[0, 0], [crop_width, 0], [crop_width, crop_height], [0, crop_height]])
    points = transform_points(crop_points, inverse_matrix)
    x1, y1 = numpy.clip(points.min(axis=0).astype(int), 0, [temp_width, temp_height])
    x2, y2 = numpy.clip(points.max(axis=0).astype(int), 0, [temp_width, temp_height])
    paste_matrix = inverse_matrix.copy()
    paste_matrix[0, 2] -= x1
    paste_matrix[1, 2] -= y1
    return numpy.array([x1, y1, x2, y2]), paste_matrix


def paste_back(temp_vision_frame, crop_vision_frame, crop_vision_mask, affine_matrix):
    (x1, y1, x2, y2), paste_matrix = calculate_paste_area(temp_vision_frame, crop_vision_frame, affine_matrix)
    size = (int(x2 - x1), int(y2 - y1))
    inverse_vision_mask = cv2.warpAffine(crop_vision_mask, paste_matrix, size).clip(0, 1)
    inverse_vision_mask = numpy.expand_dims(inverse_vision_mask, axis=-1)
    inverse_vision_frame = cv2.warpAffine(crop_vision_frame, paste_matrix, size, borderMode=cv2.BORDER_REPLICATE)
    temp_vision_frame = temp_vision_frame.copy()
    paste_vision_frame = temp_vision_frame[y1:y2, x1:x2]
    paste_vision_frame = paste_vision_frame * (1 - inverse_vision_mask) + inverse_vision_frame * inverse_vision_mask
    temp_vision_frame[y1:y2, x1:x2] = paste_vision_frame.astype(temp_vision_frame.dtype)
    return temp_vision_frame
'''

FAKE_SWAPPER = '''
from facefusion.face_helper import paste_back


def swap_face(temp_vision_frame, crop_vision_frame, crop_mask, affine_matrix):
    return paste_back(temp_vision_frame, crop_vision_frame, crop_mask, affine_matrix)
'''

FAKE_ENHANCER = '''
from facefusion import face_helper
from facefusion.face_helper import paste_back as _paste


def enhance(frame, crop, mask, affine):
    return _paste(frame, crop, mask, affine)
'''


def _drop_facefusion_modules() -> None:
    for name in [n for n in sys.modules if n == "facefusion" or n.startswith("facefusion.")]:
        del sys.modules[name]


@pytest.fixture
def fake_facefusion(tmp_path, monkeypatch):
    root = tmp_path / "ffroot"
    mod = root / "facefusion" / "processors" / "modules"
    mod.mkdir(parents=True)
    (root / "facefusion" / "__init__.py").write_text("")
    (root / "facefusion" / "face_helper.py").write_text(textwrap.dedent(FAKE_FACE_HELPER))
    (root / "facefusion" / "processors" / "__init__.py").write_text("")
    (mod / "__init__.py").write_text("")
    (mod / "face_swapper.py").write_text(textwrap.dedent(FAKE_SWAPPER))
    (mod / "face_enhancer.py").write_text(textwrap.dedent(FAKE_ENHANCER))
    _drop_facefusion_modules()
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield root
    ff.unpatch()
    _drop_facefusion_modules()


def test_patch_swaps_and_unpatch_restores(fake_facefusion, rng) -> None:
    import facefusion.face_helper as fh
    import facefusion.processors.modules.face_swapper as swapper

    original = fh.paste_back
    assert swapper.paste_back is original
    assert not ff.is_patched()

    targets = ff.patch()
    assert ff.is_patched()
    assert fh.paste_back is ff.paste_back
    assert swapper.paste_back is ff.paste_back
    assert set(targets) == {"facefusion.face_helper.paste_back",
                            "facefusion.processors.modules.face_swapper.paste_back"}

    # a processor imported after patch() gets facefuse's function too
    import facefusion.processors.modules.face_enhancer as enhancer

    assert enhancer._paste is ff.paste_back

    frame, crop, mask, aff = _random_case(rng, 120, 160, 64, 64)
    got = swapper.swap_face(frame, crop, mask, aff)
    want = original(frame, crop, mask, aff)
    assert _diff(got, want) <= PASTE_TOL
    assert _diff(enhancer.enhance(frame, crop, mask, aff), want) <= PASTE_TOL

    # patch() twice is harmless
    assert set(ff.patch()) >= set(targets)
    assert fh.paste_back is ff.paste_back and ff.is_patched()

    ff.unpatch()
    assert not ff.is_patched()
    assert fh.paste_back is original
    assert swapper.paste_back is original
    assert enhancer._paste is original
    assert ff.patched_targets() == []
    ff.unpatch()  # a second unpatch is a no-op
    assert fh.paste_back is original


def test_patch_without_paste_native_still_swaps_objects(fake_facefusion) -> None:
    """patch() itself does not need the native op (only calling the function does)."""
    import facefusion.face_helper as fh

    original = fh.paste_back
    ff.patch()
    try:
        assert fh.paste_back is ff.paste_back
    finally:
        ff.unpatch()
    assert fh.paste_back is original


def test_patch_not_importable(monkeypatch) -> None:
    _drop_facefusion_modules()
    monkeypatch.setitem(sys.modules, "facefusion", None)  # makes `import facefusion` fail
    with pytest.raises(ImportError, match="FaceFusion is not importable") as info:
        ff.patch()
    assert "sys.path" in str(info.value) and "paste_back" in str(info.value)
    assert not ff.is_patched()
