"""Face detectors on ONNX Runtime with FaceFusion's model files and conventions.

FaceFusion 3.x (facefusion/face_detector.py, face_helper.py):

* the frame (BGR) is shrunk to fit ``size`` x ``size`` keeping its aspect ratio (only when it
  is larger; ``cv2.resize`` bilinear, sizes truncated to int), pasted at the top-left of a
  black ``size`` x ``size`` canvas, and fed channels-first as input ``input`` [1, 3, S, S];
  detections are scaled back by (frame size / resized size) per axis;
* ``yolo_face`` (``yoloface_8n.onnx``): input / 255; one output [1, 20, N] with rows
  cx, cy, w, h, score, then 5 x (x, y, confidence) in input pixels;
* ``scrfd`` (``scrfd_2.5g.onnx``) and ``retinaface`` (``retinaface_10g.onnx``): input
  (x - 127.5) / 128; nine outputs by position: scores [A, 1] for strides 8, 16, 32, then box
  distances [A, 4] (left, top, right, bottom), then keypoint offsets [A, 10], all in units
  of the stride; anchors at (j * s, i * s) for the (S / s) x (S / s) grid, row-major, two
  anchors per point;
* keep scores >= ``score_threshold`` (FaceFusion's default 0.5), then non-maximum suppression
  at IoU 0.4 (FaceFusion's value for a single model and angle).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..inference import InferencePool, ModelError, ModelSpec
from ..ops._common import check_choice, check_real
from ._model_checks import check_frame
from .boxes import box_iou
from .face import Face

__all__ = ["DETECTOR_SPECS", "FaceDetector", "FixedSizeError", "nms", "check_frame"]

_SOURCE = (
    "{file} (FaceFusion's face detector model); FaceFusion users have it in "
    "<facefusion>/.assets/models/ (downloaded there on first use)"
)


def _spec(name: str, file_name: str, spatial: Optional[int]) -> ModelSpec:
    # FaceFusion feeds the input by name and reads outputs by position, so only the input is
    # checked by name; the output layout is checked by position (check_output_shapes).
    return ModelSpec(
        name=name,
        file_name=file_name,
        inputs={"input": ((None, 3, spatial, spatial), np.float32)},
        outputs={},
        source=_SOURCE.format(file=file_name),
    )


#: Known detector models (keys are FaceFusion's ``--face-detector-model`` names).
DETECTOR_SPECS: Dict[str, ModelSpec] = {
    "yolo_face": _spec("yolo_face", "yoloface_8n.onnx", None),
    "scrfd": _spec("scrfd", "scrfd_2.5g.onnx", None),
    "retinaface": _spec("retinaface", "retinaface_10g.onnx", None),
}

_STRIDES = (8, 16, 32)
_ANCHORS_PER_POINT = 2

# Output layouts by position: (trailing dims, description). ``None`` matches any size.
_OUTPUTS: Dict[str, List[Tuple[Tuple[Any, ...], str]]] = {
    "yolo_face": [((None, 20, None), "detections [1, 20, N]")],
    "scrfd": [((None, 1), f"scores_{s} [A, 1]") for s in _STRIDES]
    + [((None, 4), f"boxes_{s} [A, 4]") for s in _STRIDES]
    + [((None, 10), f"keypoints_{s} [A, 10]") for s in _STRIDES],
}
_OUTPUTS["retinaface"] = _OUTPUTS["scrfd"]


def check_output_shapes(
    session: Any, spec: ModelSpec, expected: Sequence[Tuple[Tuple[Any, ...], str]], path: Union[str, Path]
) -> None:
    """Check a session's outputs by position (count, trailing dims, float type).

    Raises ModelError naming the file, what was expected and what was found.
    """
    found = list(session.get_outputs())
    problems: List[str] = []
    if len(found) < len(expected):
        problems.append(f"{len(found)} outputs, expected {len(expected)}")
    for i, ((dims, desc), out) in enumerate(zip(expected, found)):
        shape = out.shape
        if out.type != "tensor(float)":
            problems.append(f"output {i} ({out.name}) has type {out.type}, expected float32 {desc}")
        if shape is None:
            continue
        # A leading batch dim of 1 may be present or not (exporters differ).
        cand = [list(shape)]
        if len(shape) == len(dims) + 1:
            cand.append(list(shape[1:]))
        ok = any(
            len(c) == len(dims) and all(e is None or not isinstance(f, int) or f == e for e, f in zip(dims, c)) for c in cand
        )
        if not ok:
            problems.append(f"output {i} ({out.name}) has shape {list(shape)}, expected {desc}")
    if problems:
        listing = ", ".join(f"{o.name} {list(o.shape) if o.shape is not None else '?'}" for o in found)
        raise ModelError(
            f"model file {str(path)!r} does not match model {spec.name!r} ({spec.file_name}): "
            f"{'; '.join(problems)}; found outputs: {listing}; expected outputs (by position): "
            f"{', '.join(d for _, d in expected)}. Where to get the right file: {spec.hint()}"
        )


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.4) -> np.ndarray:
    """Greedy non-maximum suppression.

    Parameters
    ----------
    boxes: (N, 4) x1, y1, x2, y2. scores: (N,). iou: a box is dropped when its IoU with a
    kept, higher-scoring box exceeds this.

    Returns
    -------
    (K,) int64 indices of the kept boxes, highest score first (ties: lower index first).
    """
    b = np.asarray(boxes, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"argument 'boxes' must have shape (N, 4), got {b.shape}")
    if s.shape != (b.shape[0],):
        raise ValueError(f"argument 'scores' must have shape ({b.shape[0]},), got {s.shape}")
    if not 0.0 <= float(iou) <= 1.0:
        raise ValueError(f"argument 'iou' must be in [0, 1], got {iou}")
    order = np.argsort(-s, kind="stable")
    keep: List[int] = []
    # One pass per KEPT box, each vectorised over the remaining candidates.
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        order = rest[box_iou(b[i], b[rest])[0] <= iou]
    return np.asarray(keep, dtype=np.int64)


@lru_cache(maxsize=32)
def _anchors(stride: int, rows: int, cols: int) -> np.ndarray:
    """(rows * cols * 2, 2) float32 anchor points (x, y) = (j * s, i * s), row-major, 2 per point."""
    ys, xs = np.mgrid[0:rows, 0:cols]
    pts = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
    out = np.repeat(pts, _ANCHORS_PER_POINT, axis=0)
    out.setflags(write=False)
    return out


class FixedSizeError(ValueError):
    """The model file takes a fixed input size other than the ``size`` asked; ``size``,
    ``fixed`` (height, width of the file's input) and ``path`` let a caller name the size by
    its own argument (``swap_video``: ``detector_size``)."""

    def __init__(self, size: int, fixed: tuple, path: str) -> None:
        self.size, self.fixed, self.path = size, fixed, path
        super().__init__(f"argument 'size' is {size} but model file {path!r} takes a fixed input "
                         f"of {fixed[0]} x {fixed[1]}; pass size={fixed[0]}")


class FaceDetector:
    """Find faces in a BGR frame with one of FaceFusion's detector models.

    Parameters
    ----------
    pool:
        Where the session comes from (the file is found in its models dir and checked).
    model:
        ``"yolo_face"`` (``yoloface_8n.onnx``), ``"scrfd"`` (``scrfd_2.5g.onnx``) or
        ``"retinaface"`` (``retinaface_10g.onnx``).
    size:
        Square detector input side (multiple of 32; FaceFusion's default 640). Must equal the
        model's input size when the file fixes it.
    score_threshold:
        Minimum detection score in [0, 1] (FaceFusion's default 0.5).
    iou_threshold:
        NMS IoU threshold in [0, 1] (FaceFusion: 0.4).
    """

    def __init__(
        self,
        pool: InferencePool,
        model: str = "yolo_face",
        *,
        size: int = 640,
        score_threshold: float = 0.5,
        iou_threshold: float = 0.4,
    ) -> None:
        if not isinstance(pool, InferencePool):
            raise TypeError(f"argument 'pool' must be a facefuse.inference.InferencePool, got {type(pool).__name__}")
        check_choice("FaceDetector", "model", model, sorted(DETECTOR_SPECS))
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"argument 'size' must be an int, got {type(size).__name__}")
        if size < 32 or size % 32:
            raise ValueError(f"argument 'size' must be a positive multiple of 32, got {size}")
        for name, v in (("score_threshold", score_threshold), ("iou_threshold", iou_threshold)):
            check_real("FaceDetector", name, v, 0.0, 1.0)
        self.model = model
        self.spec = DETECTOR_SPECS[model]
        self.size = int(size)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.session = pool.get(self.spec.file_name, spec=self.spec)
        path = pool.resolve(self.spec.file_name)
        check_output_shapes(self.session, self.spec, _OUTPUTS[model], path)
        shape = self.session.get_inputs()[0].shape
        fixed = [d for d in shape[2:] if isinstance(d, int) and d > 0]
        if fixed and any(d != self.size for d in fixed):
            raise FixedSizeError(self.size, (shape[2], shape[3]), str(path))

    # -- pre-processing -----------------------------------------------------------------------
    def _prepare(self, frame: np.ndarray) -> Tuple[np.ndarray, float, float]:
        """The [1, 3, S, S] float32 input and the (x, y) ratios frame / resized."""
        import cv2

        h, w = frame.shape[:2]
        s = self.size
        small = frame
        if h > s or w > s:
            scale = min(s / h, s / w)
            nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
            small = cv2.resize(frame, (nw, nh))
        # built channels-first and normalised in place (the padding too, as FaceFusion
        # does): one [1, 3, S, S] buffer per frame instead of four temporaries
        blob = np.zeros((1, 3, s, s), np.float32)
        blob[0, :, : small.shape[0], : small.shape[1]] = small.transpose(2, 0, 1)
        if self.model == "yolo_face":
            np.divide(blob, np.float32(255.0), out=blob)
        else:
            np.subtract(blob, np.float32(127.5), out=blob)
            np.divide(blob, np.float32(128.0), out=blob)
        return blob, w / small.shape[1], h / small.shape[0]

    # -- decoding -----------------------------------------------------------------------------
    def _decode_yolo(self, outs: List[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        det = np.asarray(outs[0], dtype=np.float32).reshape(20, -1).T  # (N, 20)
        scores = det[:, 4]
        keep = scores > self.score_threshold  # FaceFusion: strictly greater for yolo_face
        det = det[keep]
        cx, cy, bw, bh = det[:, 0], det[:, 1], det[:, 2], det[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        kps = det[:, 5:20].reshape(-1, 5, 3)[:, :, :2]
        return boxes, det[:, 4], kps

    def _decode_anchors(self, outs: List[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        boxes, scores, kps = [], [], []
        for k, s in enumerate(_STRIDES):
            n = self.size // s
            sc = np.asarray(outs[k], dtype=np.float32).reshape(-1)
            dist = np.asarray(outs[k + 3], dtype=np.float32).reshape(-1, 4)
            off = np.asarray(outs[k + 6], dtype=np.float32).reshape(-1, 10)
            anchors = _anchors(s, n, n)
            if not (sc.shape[0] == dist.shape[0] == off.shape[0] == anchors.shape[0]):
                raise ModelError(
                    f"model {self.spec.file_name!r} returned {sc.shape[0]} anchors for stride {s}, "
                    f"expected {anchors.shape[0]} for a {self.size} x {self.size} input"
                )
            keep = sc >= self.score_threshold
            a = anchors[keep]
            d = dist[keep] * s
            boxes.append(np.concatenate([a - d[:, :2], a + d[:, 2:]], axis=1))
            kps.append(off[keep].reshape(-1, 5, 2) * s + a[:, None, :])
            scores.append(sc[keep])
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)

    def detect(self, frame: np.ndarray) -> List[Face]:
        """Faces in ``frame`` ((H, W, 3) uint8 BGR), highest score first.

        Each :class:`Face` has ``box`` (4,) float32 x1, y1, x2, y2 and ``landmarks5`` (5, 2)
        float32 in frame pixels, and ``score`` (float).
        """
        check_frame(frame)
        blob, rx, ry = self._prepare(frame)
        outs = self.session.run(None, {"input": blob})
        if self.model == "yolo_face":
            boxes, scores, kps = self._decode_yolo(outs)
        else:
            boxes, scores, kps = self._decode_anchors(outs)
        if scores.size == 0:
            return []
        boxes = boxes * np.array([rx, ry, rx, ry], np.float32)
        kps = kps * np.array([rx, ry], np.float32)
        # FaceFusion sorts x1 <= x2, y1 <= y2 (normalize_bounding_box).
        boxes = np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], axis=1)
        keep = nms(boxes, scores, self.iou_threshold)
        return [
            Face(box=boxes[i].astype(np.float32), score=float(scores[i]), landmarks5=kps[i].astype(np.float32))
            for i in keep
        ]
