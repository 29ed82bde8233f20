"""Face detectors (yolo_face / scrfd / retinaface) on tiny stand-in ONNX models."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from facefuse.inference import InferencePool, ModelError, ModelNotFoundError  # noqa: E402
from facefuse.models import DETECTOR_SPECS, Face, FaceDetector, nms  # noqa: E402
from facefuse.testing.detector_models import (  # noqa: E402
    BUILDERS,
    LANDMARK_FRACTIONS,
    draw_square,
    expected_landmarks5,
)

MODELS = ["yolo_face", "scrfd", "retinaface"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("detector_models")
    for key in MODELS:
        BUILDERS[key](d)
    return d


@pytest.fixture(scope="module")
def pool(models_dir):
    with InferencePool(models_dir, providers="cpu") as p:
        yield p


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def match(faces, boxes):
    """For each expected box, the face with the best IoU (asserts one-to-one)."""
    out = []
    for b in boxes:
        best = max(faces, key=lambda f: iou(f.box, b))
        out.append(best)
    assert len({id(f) for f in out}) == len(boxes)
    return out


def check_faces(faces, boxes, tol_px: float):
    assert len(faces) == len(boxes)
    for f in faces:
        assert isinstance(f, Face)
        assert f.box.shape == (4,) and f.box.dtype == np.float32
        assert f.landmarks5.shape == (5, 2) and f.landmarks5.dtype == np.float32
        assert isinstance(f.score, float) and 0.5 <= f.score <= 1.0
    scores = [f.score for f in faces]
    assert scores == sorted(scores, reverse=True)
    for f, b in zip(match(faces, boxes), boxes):
        assert iou(f.box, b) > 0.9, (f.box, b)
        assert np.abs(f.box - np.asarray(b)).max() < tol_px
        assert np.abs(f.landmarks5 - expected_landmarks5(b)).max() < tol_px


@pytest.mark.parametrize("model", MODELS)
def test_one_square_odd_frame(pool, model):
    frame = np.zeros((721, 1283, 3), np.uint8)
    frame[:] = (30, 60, 90)
    box = draw_square(frame, 401, 233, 180)
    faces = FaceDetector(pool, model).detect(frame)
    # 1283 px -> 640: one detector pixel is ~2 frame pixels.
    check_faces(faces, [box], tol_px=4.0)


@pytest.mark.parametrize("model", MODELS)
def test_three_squares_different_sizes(pool, model):
    frame = np.zeros((721, 1283, 3), np.uint8)
    boxes = [
        draw_square(frame, 37, 61, 110),
        draw_square(frame, 500, 250, 420),
        draw_square(frame, 1010, 40, 230),
    ]
    faces = FaceDetector(pool, model).detect(frame)
    check_faces(faces, boxes, tol_px=4.0)


@pytest.mark.parametrize("model", MODELS)
def test_frame_smaller_than_input(pool, model):
    frame = np.zeros((360, 479, 3), np.uint8)
    boxes = [draw_square(frame, 20, 30, 45), draw_square(frame, 250, 100, 200)]
    faces = FaceDetector(pool, model).detect(frame)
    # No resize: boxes are exact up to float rounding.
    check_faces(faces, boxes, tol_px=0.01)


@pytest.mark.parametrize("model", MODELS)
def test_dark_and_non_square_frames_find_nothing(pool, model):
    det = FaceDetector(pool, model)
    assert det.detect(np.zeros((300, 400, 3), np.uint8)) == []
    frame = np.full((300, 400, 3), 190, np.uint8)  # grey, below the brightness threshold
    assert det.detect(frame) == []
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[50:100, 20:380] = 255  # a bright bar, not a square
    assert det.detect(frame) == []
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[50:150, 50:150, :2] = 255  # bright in two channels only
    assert det.detect(frame) == []


@pytest.mark.parametrize("model", MODELS)
def test_score_threshold(pool, model):
    frame = np.zeros((400, 400, 3), np.uint8)
    draw_square(frame, 101, 87, 97)
    (face,) = FaceDetector(pool, model).detect(frame)
    assert face.score < 1.0
    above = (face.score + 1.0) / 2
    assert FaceDetector(pool, model, score_threshold=above).detect(frame) == []
    below = face.score - 0.01
    assert len(FaceDetector(pool, model, score_threshold=below).detect(frame)) == 1


@pytest.mark.parametrize("model", MODELS)
def test_nms_merges_anchors_of_one_square(pool, model):
    frame = np.zeros((400, 400, 3), np.uint8)
    box = draw_square(frame, 100, 100, 120)
    # Every anchor inside the square decodes to the same box: without suppression
    # (IoU 1 is not > 1) several survive, with it exactly one.
    raw = FaceDetector(pool, model, iou_threshold=1.0, score_threshold=0.3).detect(frame)
    assert len(raw) > 3
    assert all(iou(f.box, box) > 0.99 for f in raw)
    assert len(FaceDetector(pool, model, score_threshold=0.3).detect(frame)) == 1


def test_scrfd_smaller_input_size(pool):
    frame = np.zeros((480, 640, 3), np.uint8)
    box = draw_square(frame, 200, 100, 200)
    faces = FaceDetector(pool, "scrfd", size=320).detect(frame)
    check_faces(faces, [box], tol_px=4.0)


def test_astronaut_runs(pool, astronaut_bgr):
    for model in MODELS:
        faces = FaceDetector(pool, model).detect(astronaut_bgr)
        assert isinstance(faces, list)
        for f in faces:
            assert f.box.shape == (4,) and f.landmarks5.shape == (5, 2)
            assert np.all(np.isfinite(f.box)) and 0.0 <= f.score <= 1.0


def test_landmark_fractions_inside_unit_box():
    assert LANDMARK_FRACTIONS.shape == (5, 2)
    assert np.all((LANDMARK_FRACTIONS > 0) & (LANDMARK_FRACTIONS < 1))
    # left eye left of right eye, mouth below nose below eyes
    assert LANDMARK_FRACTIONS[0, 0] < LANDMARK_FRACTIONS[1, 0]
    assert LANDMARK_FRACTIONS[0, 1] < LANDMARK_FRACTIONS[2, 1] < LANDMARK_FRACTIONS[3, 1]


# -- errors -------------------------------------------------------------------------------------


def test_unknown_model(pool):
    with pytest.raises(ValueError, match="yolo_face"):
        FaceDetector(pool, "yunet")


def test_missing_file(tmp_path, monkeypatch):
    monkeypatch.delenv("FACEFUSE_MODELS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with InferencePool(tmp_path / "empty", providers="cpu") as p:
        with pytest.raises(ModelNotFoundError, match=r"scrfd_2\.5g\.onnx.*\.assets/models"):
            FaceDetector(p, "scrfd")


def _write_model(path: Path, input_name: str, out_shapes) -> None:
    import onnx
    from onnx import TensorProto, helper

    nodes, outputs = [], []
    for i, shape in enumerate(out_shapes):
        name = f"out{i}"
        size = int(np.prod(shape))
        const = helper.make_tensor(f"v{i}", TensorProto.FLOAT, shape, np.zeros(size, np.float32).tolist())
        nodes.append(helper.make_node("Constant", [], [name], value=const))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
    nodes.append(helper.make_node("Identity", [input_name], ["echo"]))
    outputs.append(helper.make_tensor_value_info("echo", TensorProto.FLOAT, [1, 3, 640, 640]))
    graph = helper.make_graph(
        nodes, "bad", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, 640, 640])], outputs
    )
    model = helper.make_model(graph, opset_imports=[helper.make_operatorsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_wrong_input_name(tmp_path):
    _write_model(tmp_path / "yoloface_8n.onnx", "images", [(1, 20, 8400)])
    with InferencePool(tmp_path, providers="cpu") as p:
        with pytest.raises(ModelError, match=r"yoloface_8n\.onnx.*\n.*input \[\?, 3, \?, \?\]") as err:
            FaceDetector(p, "yolo_face")
    assert "missing input 'input'" in str(err.value)


def test_wrong_output_layout(tmp_path):
    _write_model(tmp_path / "scrfd_2.5g.onnx", "input", [(12800, 1), (3200, 1)])
    with InferencePool(tmp_path, providers="cpu") as p:
        with pytest.raises(ModelError, match=r"scrfd_2\.5g\.onnx.*expected 9"):
            FaceDetector(p, "scrfd")
    _write_model(tmp_path / "yoloface_8n.onnx", "input", [(1, 16, 8400)])
    with InferencePool(tmp_path, providers="cpu") as p:
        with pytest.raises(ModelError, match=r"yoloface_8n\.onnx.*\[1, 16, 8400\].*\[1, 20, N\]"):
            FaceDetector(p, "yolo_face")


def test_bad_arguments(pool):
    with pytest.raises(TypeError, match="pool"):
        FaceDetector("models", "scrfd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="score_threshold"):
        FaceDetector(pool, "scrfd", score_threshold=1.5)
    with pytest.raises(ValueError, match="iou_threshold"):
        FaceDetector(pool, "scrfd", iou_threshold=-0.1)
    with pytest.raises(TypeError, match="score_threshold"):
        FaceDetector(pool, "scrfd", score_threshold="0.5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size"):
        FaceDetector(pool, "scrfd", size=100)
    with pytest.raises(ValueError, match="size.*640"):
        FaceDetector(pool, "yolo_face", size=320)  # the yoloface file fixes 640 x 640
    det = FaceDetector(pool, "scrfd")
    with pytest.raises(TypeError, match="frame.*uint8"):
        det.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="frame.*H, W, 3"):
        det.detect(np.zeros((64, 64), np.uint8))
    with pytest.raises(TypeError, match="frame"):
        det.detect([[0, 0, 0]])  # type: ignore[arg-type]


def test_specs_name_facefusion_files():
    assert {k: s.file_name for k, s in DETECTOR_SPECS.items()} == {
        "yolo_face": "yoloface_8n.onnx",
        "scrfd": "scrfd_2.5g.onnx",
        "retinaface": "retinaface_10g.onnx",
    }
    for s in DETECTOR_SPECS.values():
        assert list(s.inputs) == ["input"]
        assert ".assets/models" in s.hint()


# -- nms ----------------------------------------------------------------------------------------


def _nms_reference(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(iou(boxes[i], boxes[k]) <= thr for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.4, 0.7, 1.0])
def test_nms_matches_brute_force(seed, thr):
    rng = np.random.default_rng(seed)
    n = 60
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(5, 80, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.uniform(0, 1, n)
    scores[:5] = scores[5]  # ties resolve by index
    got = nms(boxes, scores, thr)
    assert got.dtype == np.int64
    assert got.tolist() == _nms_reference(boxes.tolist(), scores.tolist(), thr)


def test_nms_edge_cases():
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.4).tolist() == []
    b = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]], float)
    assert nms(b, np.array([0.5, 0.9, 0.1]), 0.4).tolist() == [1, 2]
    with pytest.raises(ValueError, match="boxes"):
        nms(np.zeros((3, 3)), np.zeros(3), 0.4)
    with pytest.raises(ValueError, match="scores"):
        nms(b, np.zeros(2), 0.4)
    with pytest.raises(ValueError, match="iou"):
        nms(b, np.zeros(3), 1.5)


def test_one_box_iou_for_nms_and_tracking():
    from facefuse.models.boxes import box_iou
    from facefuse.pipeline.tracking import box_iou as tracking_box_iou

    assert tracking_box_iou is box_iou  # the tracker re-exports the detector's IoU
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], np.float64)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]], np.float64)
    np.testing.assert_array_equal(box_iou(a, b), [[50 / 150, 0, 0], [0, 0, 0]])  # empty union: 0
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [5, 0, 15, 10]], np.float64)
    # IoU(0, 1) = 90 / 110 > 0.4: dropped; IoU(0, 2) = 1 / 3 kept
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.4).tolist() == [0, 2]
