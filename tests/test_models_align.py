"""facefuse.models.align: FaceFusion's warp templates, similarity estimation, warping, box mask."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facefuse.models import WARP_TEMPLATES, box_mask, estimate_affine, warp_face

# Landmarks of the astronaut's face in skimage.data.astronaut() (eyes, nose tip, mouth corners),
# read off the 512x512 photo.
ASTRONAUT_LM5 = np.array([[204.0, 102.0], [243.0, 103.0], [225.0, 127.0], [205.0, 142.0], [238.0, 141.0]], np.float32)


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    c, s = scale * np.cos(a), scale * np.sin(a)
    return np.array([[c, -s, tx], [s, c, ty]], np.float64)


def frame_points_for(matrix: np.ndarray, crop_points: np.ndarray) -> np.ndarray:
    """Frame points that `matrix` (frame->crop) maps onto `crop_points`."""
    inv = cv2.invertAffineTransform(matrix)
    return cv2.transform(crop_points.reshape(-1, 1, 2).astype(np.float64), inv).reshape(-1, 2).astype(np.float32)


# ------------------------------------------------------------------------------------ templates
def test_templates_have_facefusion_names_and_shape() -> None:
    for name in ("arcface_112_v1", "arcface_112_v2", "arcface_128", "ffhq_512"):
        assert name in WARP_TEMPLATES
    for name, t in WARP_TEMPLATES.items():
        assert t.shape == (5, 2), name
        assert np.all((t > 0) & (t < 1)), name
        assert t[0, 0] < 0.5 < t[1, 0], f"{name}: left eye left of the centre, right eye right of it"
        assert t[0, 1] < t[2, 1] < t[3, 1], f"{name}: eyes above nose above mouth"


def test_templates_spot_values() -> None:
    # FaceFusion face_helper values
    np.testing.assert_allclose(WARP_TEMPLATES["arcface_112_v2"][0], [0.34191607, 0.46157411])
    np.testing.assert_allclose(WARP_TEMPLATES["arcface_128"][2], [0.50019687, 0.56044219])
    np.testing.assert_allclose(WARP_TEMPLATES["ffhq_512"][4], [0.61150205, 0.72490465])
    np.testing.assert_allclose(WARP_TEMPLATES["arcface_112_v1"][3], [0.37913393, 0.77687500])
    # arcface_112_v2 is InsightFace's ArcFace destination in 112-px units (independent check)
    insightface_arcface_dst = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
    np.testing.assert_allclose(WARP_TEMPLATES["arcface_112_v2"] * 112, insightface_arcface_dst, atol=1e-3)


def test_templates_are_read_only() -> None:
    with pytest.raises(ValueError):
        WARP_TEMPLATES["arcface_128"][0, 0] = 0.0


# --------------------------------------------------------------------------------- estimate_affine
@pytest.mark.parametrize(
    "template,size,angle,scale,tx,ty",
    [("arcface_128", 128, 17.0, 0.6, 30.0, -12.0), ("arcface_112_v2", 112, -35.0, 1.7, -80.0, 44.0), ("ffhq_512", 512, 3.0, 2.5, -300.0, -150.0)],
)
def test_estimate_affine_recovers_known_similarity(template: str, size: int, angle: float, scale: float, tx: float, ty: float) -> None:
    m = similarity(angle, scale, tx, ty)
    lm = frame_points_for(m, WARP_TEMPLATES[template] * size)
    got = estimate_affine(lm, template, (size, size))
    assert got.shape == (2, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got[:, :2], m[:, :2], atol=2e-4)
    np.testing.assert_allclose(got[:, 2], m[:, 2], atol=0.05)


def test_estimate_affine_is_a_similarity_and_scales_with_size() -> None:
    a = estimate_affine(ASTRONAUT_LM5, "arcface_128", 128)
    b = estimate_affine(ASTRONAUT_LM5, "arcface_128", (256, 256))
    assert abs(a[0, 0] - a[1, 1]) < 1e-5 and abs(a[0, 1] + a[1, 0]) < 1e-5  # rotation + uniform scale
    np.testing.assert_allclose(b, 2 * a, rtol=1e-4, atol=1e-3)


def test_estimate_affine_bad_arguments() -> None:
    with pytest.raises(ValueError, match="landmarks5"):
        estimate_affine(np.zeros((4, 2), np.float32), "arcface_128", 128)
    with pytest.raises(TypeError, match="landmarks5"):
        estimate_affine([[0, 0]] * 5, "arcface_128", 128)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="landmarks5"):
        estimate_affine(np.full((5, 2), np.nan, np.float32), "arcface_128", 128)
    with pytest.raises(ValueError, match="template.*arcface_112_v2"):
        estimate_affine(ASTRONAUT_LM5, "arcface_999", 128)
    with pytest.raises(TypeError, match="template"):
        estimate_affine(ASTRONAUT_LM5, 128, 128)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size"):
        estimate_affine(ASTRONAUT_LM5, "arcface_128", 0)
    with pytest.raises(TypeError, match="size"):
        estimate_affine(ASTRONAUT_LM5, "arcface_128", "128")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ warp_face
def test_warp_face_astronaut_matches_known_transform(astronaut_bgr: np.ndarray) -> None:
    # landmarks built from a known similarity: the crop must equal warping with that matrix
    m = similarity(8.0, 0.9, -105.0, -30.0)
    lm = frame_points_for(m, WARP_TEMPLATES["arcface_128"] * 128)
    crop, affine = warp_face(astronaut_bgr, lm, "arcface_128", (128, 128))
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    expected = cv2.warpAffine(astronaut_bgr, m.astype(np.float32), (128, 128), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    diff = np.abs(crop.astype(int) - expected.astype(int))
    assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 4
    # the landmarks land on the template
    mapped = cv2.transform(lm.reshape(-1, 1, 2), affine).reshape(-1, 2)
    np.testing.assert_allclose(mapped, WARP_TEMPLATES["arcface_128"] * 128, atol=0.05)


def test_warp_face_real_landmarks_centre_the_face(astronaut_bgr: np.ndarray) -> None:
    crop, affine = warp_face(astronaut_bgr, ASTRONAUT_LM5, "arcface_112_v2", 112)
    expected = cv2.warpAffine(astronaut_bgr, affine, (112, 112), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_array_equal(crop, expected)
    mapped = cv2.transform(ASTRONAUT_LM5.reshape(-1, 1, 2), affine).reshape(-1, 2)
    # 5 real points cannot fit a template exactly, but each lands within a few pixels of it
    assert np.abs(mapped - WARP_TEMPLATES["arcface_112_v2"] * 112).max() < 6.0
    # skin in the middle of the crop is bright and reddish (BGR: R > B)
    centre = crop[50:70, 45:67].reshape(-1, 3).astype(float).mean(axis=0)
    assert centre[2] > centre[0] and centre.mean() > 90


def test_warp_face_replicates_the_border() -> None:
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[:] = (10, 120, 230)
    frame[:, :100] = (200, 50, 5)
    # a face mostly outside the frame (left of it): the crop must show edge colour, never black
    m = similarity(0.0, 1.0, 150.0, 20.0)
    lm = frame_points_for(m, WARP_TEMPLATES["ffhq_512"] * 256)
    crop, _ = warp_face(frame, lm, "ffhq_512", 256)
    assert crop.min(axis=(0, 1)).tolist() != [0, 0, 0]
    assert np.all(crop.reshape(-1, 3).max(axis=1) > 0)
    np.testing.assert_array_equal(crop[128, 5], (200, 50, 5))


def test_warp_face_bad_frame() -> None:
    with pytest.raises(TypeError, match="frame"):
        warp_face(np.zeros((64, 64, 3), np.float32), ASTRONAUT_LM5, "arcface_128", 128)
    with pytest.raises(ValueError, match="frame"):
        warp_face(np.zeros((64, 64), np.uint8), ASTRONAUT_LM5, "arcface_128", 128)
    with pytest.raises(TypeError, match="frame"):
        warp_face("frame.png", ASTRONAUT_LM5, "arcface_128", 128)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------- box_mask
def test_box_mask_shape_range_and_profile() -> None:
    m = box_mask((160, 120))
    assert m.shape == (120, 160) and m.dtype == np.float32
    assert m.min() >= 0.0 and m.max() <= 1.0
    assert m[60, 80] > 0.99  # centre fully on
    assert m[0, 80] < 0.1 and m[60, 0] < 0.1  # edges (nearly) off
    # monotonic from the edge to the centre along the middle row and column
    assert np.all(np.diff(m[60, :80]) >= -1e-6) and np.all(np.diff(m[:60, 80]) >= -1e-6)
    np.testing.assert_allclose(m, m[:, ::-1], atol=1e-6)  # symmetric


def test_box_mask_more_blur_is_softer() -> None:
    means = [float(box_mask(256, blur=b).mean()) for b in (0.0, 0.1, 0.3, 0.6, 1.0)]
    assert all(a > b for a, b in zip(means, means[1:])), means
    # blur 0: a hard mask with FaceFusion's 1-px minimum border
    hard = box_mask(64, blur=0.0)
    assert set(np.unique(hard).tolist()) == {0.0, 1.0}
    assert hard[0].max() == 0 and hard[1:-1, 1:-1].min() == 1
    # the transition widens with blur: count of partially-on pixels along a row
    soft = [int(np.sum((box_mask(256, blur=b)[128] > 0.01) & (box_mask(256, blur=b)[128] < 0.99))) for b in (0.1, 0.3, 0.6)]
    assert soft[0] < soft[1] < soft[2]


def test_box_mask_padding_percent_top_right_bottom_left() -> None:
    m = box_mask(100, blur=0.0, padding=(20, 0, 0, 10))
    assert m[:20].max() == 0 and m[20:99, 10:99].min() == 1  # top 20 %, left 10 %
    assert m[50, 9] == 0 and m[50, 10] == 1
    m2 = box_mask(100, blur=0.0, padding=(0, 30, 40, 0))
    assert m2[50, 70:].max() == 0 and m2[50, 69] == 1 and m2[60:, 50].max() == 0 and m2[59, 50] == 1


def test_box_mask_bad_arguments() -> None:
    with pytest.raises(ValueError, match="blur"):
        box_mask(64, blur=-0.1)
    with pytest.raises(TypeError, match="blur"):
        box_mask(64, blur="soft")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="padding"):
        box_mask(64, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="padding"):
        box_mask(64, padding=(0, 0, 0, 120))
    with pytest.raises(TypeError, match="padding"):
        box_mask(64, padding=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="size"):
        box_mask(64.0)  # type: ignore[arg-type]
