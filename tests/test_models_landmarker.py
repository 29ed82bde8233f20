"""68-point landmarker (2dfan4 stand-in) and the 5 <-> 68 conversions."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from facefuse.inference import InferencePool, ModelError, ModelNotFoundError  # noqa: E402
from facefuse.models import (  # noqa: E402
    LANDMARKER_SPECS,
    MEAN_FACE_68,
    FaceDetector,
    FaceLandmarker,
    landmarks_5_to_68,
    landmarks_68_to_5,
)
from facefuse.models.landmarker import _optimize_contrast  # noqa: E402
from facefuse.testing.detector_models import (  # noqa: E402
    BUILDERS,
    LANDMARK_FRACTIONS,
    draw_square,
    expected_landmarks5,
)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    d = tmp_path_factory.mktemp("landmarker_models")
    BUILDERS["2dfan4"](d)
    BUILDERS["scrfd"](d)
    with InferencePool(d, providers="cpu") as p:
        yield p


@pytest.mark.parametrize("x,y,side", [(100, 80, 150), (5, 300, 61), (900, 20, 333)])
def test_points_map_back_into_the_box(pool, x, y, side):
    frame = np.zeros((721, 1283, 3), np.uint8)
    box = np.array(draw_square(frame, x, y, side), np.float32)
    lm, score = FaceLandmarker(pool).detect(frame, box)
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    assert isinstance(score, float) and 0.5 < score <= 1.0
    # The stand-in returns the mean face over the box; the inverse crop affine must put it back.
    np.testing.assert_allclose(lm, box[:2] + MEAN_FACE_68 * side, atol=0.05)
    assert np.all((lm >= box[:2]) & (lm <= box[2:]))
    np.testing.assert_allclose(landmarks_68_to_5(lm), expected_landmarks5(box), atol=0.05)


def test_rectangular_box_keeps_aspect(pool):
    frame = np.zeros((400, 600, 3), np.uint8)
    frame[100:200, 100:300] = 255
    box = np.array([100, 100, 300, 200], np.float32)  # 200 x 100: the crop scales by the longer side
    lm, _ = FaceLandmarker(pool).detect(frame, box)
    # mean face over the centred 200 x 200 square around the box centre
    np.testing.assert_allclose(lm, np.array([100, 50]) + MEAN_FACE_68 * 200, atol=0.05)


def test_score_follows_crop_brightness(pool):
    frame = np.zeros((400, 400, 3), np.uint8)
    lmk = FaceLandmarker(pool)
    _, dark = lmk.detect(frame, np.array([100, 100, 200, 200]))
    draw_square(frame, 100, 100, 100)
    _, bright = lmk.detect(frame, np.array([100, 100, 200, 200]))
    assert 0.0 <= dark < 0.05 and bright > 0.9
    assert bright <= 1.0


def test_detector_then_landmarker_agree(pool):
    frame = np.zeros((480, 640, 3), np.uint8)
    draw_square(frame, 300, 120, 140)
    (face,) = FaceDetector(pool, "scrfd").detect(frame)
    lm, _ = FaceLandmarker(pool).detect(frame, face.box)
    np.testing.assert_allclose(landmarks_68_to_5(lm), face.landmarks5, atol=0.1)


def test_optimize_contrast_only_on_dark_crops():
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 40, (256, 256, 3), dtype=np.uint8)
    out = _optimize_contrast(dark.copy())
    assert out.shape == dark.shape and out.dtype == np.uint8
    assert out.astype(float).mean() > dark.astype(float).mean() + 5
    bright = rng.integers(100, 200, (256, 256, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_optimize_contrast(bright.copy()), bright)


# -- conversions --------------------------------------------------------------------------------


def test_68_to_5_definition(rng):
    lm = rng.uniform(0, 100, (3, 68, 2)).astype(np.float32)
    five = landmarks_68_to_5(lm)
    assert five.shape == (3, 5, 2) and five.dtype == np.float32
    np.testing.assert_allclose(five[:, 0], lm[:, 36:42].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(five[:, 1], lm[:, 42:48].mean(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(five[:, 2], lm[:, 30])
    np.testing.assert_array_equal(five[:, 3], lm[:, 48])
    np.testing.assert_array_equal(five[:, 4], lm[:, 54])
    np.testing.assert_allclose(landmarks_68_to_5(MEAN_FACE_68), LANDMARK_FRACTIONS, atol=1e-6)


def _similarity(rng, n):
    angle = rng.uniform(-0.6, 0.6, n)
    scale = rng.uniform(40, 400, n)
    shift = rng.uniform(0, 1000, (n, 2))
    rot = np.stack([np.stack([np.cos(angle), -np.sin(angle)], -1), np.stack([np.sin(angle), np.cos(angle)], -1)], -2)
    return rot * scale[:, None, None], shift


def test_5_to_68_exact_for_similar_faces(rng):
    a, t = _similarity(rng, 6)
    five = np.einsum("nij,pj->npi", a, LANDMARK_FRACTIONS) + t[:, None]
    lm68 = landmarks_5_to_68(five)
    assert lm68.shape == (6, 68, 2) and lm68.dtype == np.float32
    expected = np.einsum("nij,pj->npi", a, MEAN_FACE_68) + t[:, None]
    np.testing.assert_allclose(lm68, expected, atol=1e-2)


def test_round_trip_68_5_68(rng):
    a, t = _similarity(rng, 20)
    five = np.einsum("nij,pj->npi", a, LANDMARK_FRACTIONS) + t[:, None]
    noise = rng.normal(0, 1.0, five.shape)
    noisy = five + noise
    back = landmarks_68_to_5(landmarks_5_to_68(noisy))
    # The fit is a least-squares similarity: it cannot follow the noise exactly, but it is
    # never further from the points than the noise itself plus the fit's residual.
    err = np.linalg.norm(back - noisy, axis=-1)
    assert err.max() < 4.0
    assert np.linalg.norm(back - five, axis=-1).mean() < 1.5
    # one face, unbatched
    single = landmarks_68_to_5(landmarks_5_to_68(five[0]))
    np.testing.assert_allclose(single, five[0], atol=1e-2)


def test_mean_face_shape():
    assert MEAN_FACE_68.shape == (68, 2) and MEAN_FACE_68.dtype == np.float32
    assert np.all((MEAN_FACE_68 >= 0) & (MEAN_FACE_68 <= 1))
    assert MEAN_FACE_68[8, 1] == MEAN_FACE_68[:, 1].max()  # chin lowest
    assert MEAN_FACE_68[0, 0] < MEAN_FACE_68[16, 0]  # jaw runs left to right
    np.testing.assert_allclose(MEAN_FACE_68[17:22, 0], 1 - MEAN_FACE_68[22:27, 0][::-1], atol=1e-6)


# -- errors -------------------------------------------------------------------------------------


def test_bad_arguments(pool):
    with pytest.raises(ValueError, match="2dfan4"):
        FaceLandmarker(pool, "peppa_wutz")
    lmk = FaceLandmarker(pool)
    frame = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ValueError, match="box"):
        lmk.detect(frame, np.array([10, 10, 5, 20]))
    with pytest.raises(ValueError, match="box"):
        lmk.detect(frame, np.array([10, 10, 20]))
    with pytest.raises(TypeError, match="frame"):
        lmk.detect(frame.astype(np.float32), np.array([10, 10, 50, 50]))
    with pytest.raises(ValueError, match="lm.*68, 2"):
        landmarks_68_to_5(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="lm.*5, 2"):
        landmarks_5_to_68(np.zeros((68, 2)))


def test_missing_and_wrong_files(tmp_path, monkeypatch):
    import onnx
    from onnx import TensorProto, helper

    monkeypatch.delenv("FACEFUSE_MODELS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with InferencePool(tmp_path, providers="cpu") as p:
        with pytest.raises(ModelNotFoundError, match=r"2dfan4\.onnx.*\.assets/models"):
            FaceLandmarker(p)
    # right input, but one output only (no heatmaps)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["landmarks"])],
        "bad",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 256, 256])],
        [helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, [1, 3, 256, 256])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_operatorsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "2dfan4.onnx"))
    with InferencePool(tmp_path, providers="cpu") as p:
        with pytest.raises(ModelError, match=r"2dfan4\.onnx.*expected 2.*heatmaps"):
            FaceLandmarker(p)
    assert LANDMARKER_SPECS["2dfan4"].file_name == "2dfan4.onnx"


# -- fan_68_5 (model-based 5 -> 68) ---------------------------------------------------------------


def test_fan_68_5_model(tmp_path, rng):
    from facefuse.models import Landmarker68From5

    BUILDERS["fan_68_5"](tmp_path)
    with InferencePool(tmp_path, providers="cpu") as p:
        model = Landmarker68From5(p)
        a, t = _similarity(rng, 4)
        for k in range(4):
            five = (a[k] @ LANDMARK_FRACTIONS.T).T + t[k]
            lm = model.estimate(five)
            assert lm.shape == (68, 2) and lm.dtype == np.float32
            # the stand-in returns the mean face in ffhq space; mapped back it must agree
            # with the closed-form fit of the same points
            np.testing.assert_allclose(lm, landmarks_5_to_68(five), atol=0.05 * np.abs(a[k]).max() / 40)
        with pytest.raises(ValueError, match="landmarks5"):
            model.estimate(np.zeros((3, 5, 2)))


def test_fan_68_5_wrong_file(tmp_path, monkeypatch):
    from facefuse.models import Landmarker68From5

    monkeypatch.delenv("FACEFUSE_MODELS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with InferencePool(tmp_path, providers="cpu") as p:
        with pytest.raises(ModelNotFoundError, match=r"fan_68_5\.onnx"):
            Landmarker68From5(p)
    BUILDERS["2dfan4"](tmp_path)
    (tmp_path / "2dfan4.onnx").rename(tmp_path / "fan_68_5.onnx")
    with InferencePool(tmp_path, providers="cpu") as p:
        with pytest.raises(ModelError, match=r"(?s)fan_68_5\.onnx.*input .input. has shape \[1, 3, 256, 256\]"):
            Landmarker68From5(p)
