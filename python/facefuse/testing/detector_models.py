"""Tiny stand-ins for FaceFusion's face detectors and 68-point landmarker.

Each ``build_<key>(dir) -> Path`` writes the FaceFusion file name into ``dir`` with the input
name and layout the loaders expect (FaceFusion feeds every model through the input ``input``
and reads the outputs by position):

* ``yoloface_8n.onnx``: ``input`` [1, 3, 640, 640] (BGR / 255) -> [1, 20, 8400]
  (cx, cy, w, h, score, 5 x (x, y, conf) in input pixels; 8400 = 80² + 40² + 20² grid points
  at the cell centres of strides 8 / 16 / 32).
* ``scrfd_2.5g.onnx`` / ``retinaface_10g.onnx``: ``input`` [1, 3, H, W] ((BGR - 127.5) / 128,
  H and W dynamic multiples of 32) -> 9 outputs: scores [A, 1] for strides 8, 16, 32, then box
  distances [A, 4] (left, top, right, bottom, in strides), then keypoint offsets [A, 10] (in
  strides), with A = (H / s) * (W / s) * 2 (two anchors per grid point, at (j * s, i * s)).
* ``2dfan4.onnx``: ``input`` [1, 3, 256, 256] (BGR / 255) -> landmarks [1, 68, 3] (x, y, conf
  on the 64 x 64 heatmap grid) and heatmaps [1, 68, 64, 64].

Behaviour: the detectors find BRIGHT SQUARES (all three channels > 200 in the frame) of side
40 - 250 pixels in the detector input. For every anchor inside a bright region the model
measures the run of bright pixels to the left / right / up / down (CumSum + a max-pool
"last dark pixel" scan), so any interior anchor decodes to the exact square; the score is
high at the centre (``sqrt`` of FCOS-style centredness) and gated to square, face-sized
regions, so threshold + NMS leave one detection per square. The five keypoints lie at
:data:`LANDMARK_FRACTIONS` of the box. The landmarker returns :data:`MEAN_FACE_68` placed in
its crop the way FaceFusion's crop places the box (max side -> 195 px, centred), with heatmap
peaks equal to the crop's mean brightness (so a dark crop scores low).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple, Union

import numpy as np

from ..inference.stand_ins import mark
from ..models.landmarker import FFHQ_512_TEMPLATE, MEAN_FACE_68, landmarks_5_to_68

__all__ = [
    "BRIGHT_THRESHOLD",
    "MIN_SIDE",
    "MAX_SIDE",
    "LANDMARK_FRACTIONS",
    "LANDMARKER_BOX_SIDE",
    "BUILDERS",
    "build_yolo_face",
    "build_scrfd",
    "build_retinaface",
    "build_2dfan4",
    "build_fan_68_5",
    "expected_landmarks5",
    "draw_square",
]

#: A pixel is "bright" when all three channels exceed this (frame values, uint8).
BRIGHT_THRESHOLD = 200
#: Square sides (detector-input pixels) that score fully; the score ramps to 0 over 10 px outside.
MIN_SIDE = 40
MAX_SIDE = 250
#: The five keypoints as fractions (fx, fy) of the box: x = x1 + fx * w, y = y1 + fy * h.
#: Equal to ``landmarks_68_to_5(MEAN_FACE_68)`` so the stand-in detector and landmarker agree.
LANDMARK_FRACTIONS: np.ndarray = np.array(
    [[0.31, 0.40], [0.69, 0.40], [0.50, 0.60], [0.34, 0.80], [0.66, 0.80]], dtype=np.float32
)
#: FaceFusion's 2dfan4 crop scales the box's longer side to this many of the 256 crop pixels.
LANDMARKER_BOX_SIDE = 195.0

_OPSET = 18
_RUN_KERNEL = 320  # longest run measured exactly; longer runs are gated out as too large anyway
_STRIDES = (8, 16, 32)


def expected_landmarks5(box: Sequence[float]) -> np.ndarray:
    """(5, 2) float32: where the stand-in detectors put the keypoints of ``box`` (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    out = np.empty((5, 2), np.float32)
    out[:, 0] = x1 + LANDMARK_FRACTIONS[:, 0] * (x2 - x1)
    out[:, 1] = y1 + LANDMARK_FRACTIONS[:, 1] * (y2 - y1)
    return out


def draw_square(frame: np.ndarray, x: int, y: int, side: int, value: int = 255) -> Tuple[float, float, float, float]:
    """Paint a bright square into ``frame`` in place; returns its box (x, y, x + side, y + side)."""
    frame[y : y + side, x : x + side] = value
    return (float(x), float(y), float(x + side), float(y + side))


# ---------------------------------------------------------------------------------------------
# Graph building helpers
# ---------------------------------------------------------------------------------------------


class _Graph:
    """Collects nodes / initialisers with unique names."""

    def __init__(self) -> None:
        from onnx import helper

        self.h = helper
        self.nodes: List = []
        self.inits: List = []
        self._n = 0

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, value, dtype=np.float32) -> str:
        from onnx import numpy_helper

        n = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), n))
        return n

    def op(self, op_type: str, inputs: Sequence[str], out: Union[str, None] = None, **attrs) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(self.h.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def slice(self, x: str, axis: int, start: int, step: int) -> str:
        big = np.iinfo(np.int64).max
        return self.op(
            "Slice",
            [x, self.const([start], np.int64), self.const([big], np.int64), self.const([axis], np.int64), self.const([step], np.int64)],
        )


def _runs_last_axis(g: _Graph, m: str) -> Tuple[str, str]:
    """Bright-run lengths along the last axis of mask ``m`` [1, 1, R, L] (float 0 / 1).

    Returns (before, after): the run length counting the pixel itself and those before it,
    and counting it and those after it (0 on dark pixels). Uses a cumulative sum and a
    max-pool over the last ``_RUN_KERNEL`` values of cumsum * dark (the cumsum at the nearest
    dark pixel, the cumsum being monotone).
    """
    axis = g.const(3, np.int64)
    dark = g.op("Sub", [g.const(1.0), m])
    k = _RUN_KERNEL
    c = g.op("CumSum", [m, axis])
    at_dark = g.op("MaxPool", [g.op("Mul", [c, dark])], kernel_shape=[1, k], pads=[0, k - 1, 0, 0])
    before = g.op("Sub", [c, at_dark])
    cr = g.op("CumSum", [m, axis], reverse=1)
    at_dark_r = g.op("MaxPool", [g.op("Mul", [cr, dark])], kernel_shape=[1, k], pads=[0, 0, 0, k - 1])
    after = g.op("Sub", [cr, at_dark_r])
    return before, after


def _gate(g: _Graph, v: str, lo: float, hi: float, ramp: float = 10.0) -> str:
    """1 inside [lo, hi], ramping linearly to 0 over ``ramp`` outside."""
    up = g.op("Clip", [g.op("Div", [g.op("Sub", [v, g.const(lo - ramp)]), g.const(ramp)]), g.const(0.0), g.const(1.0)])
    down = g.op("Clip", [g.op("Div", [g.op("Sub", [g.const(hi + ramp), v]), g.const(ramp)]), g.const(0.0), g.const(1.0)])
    return g.op("Mul", [up, down])


def _stride_maps(g: _Graph, mask: str, stride: int, offset: int) -> Dict[str, str]:
    """Per-anchor maps [1, 1, H/s, W/s] for anchors at pixel (j * s + offset, i * s + offset).

    Keys: l, t, r, b (distances in input pixels from the anchor pixel to the square's edges,
    the box being [x - l, y - t, x + r, y + b]) and score.
    """
    rows = g.slice(mask, 2, offset, stride)  # [1, 1, H/s, W]
    before, after = _runs_last_axis(g, rows)
    left = g.slice(g.op("Sub", [before, g.const(1.0)]), 3, offset, stride)
    right = g.slice(after, 3, offset, stride)
    cols = g.op("Transpose", [g.slice(mask, 3, offset, stride)], perm=[0, 1, 3, 2])  # [1, 1, W/s, H]
    before_v, after_v = _runs_last_axis(g, cols)
    top = g.op("Transpose", [g.slice(g.op("Sub", [before_v, g.const(1.0)]), 3, offset, stride)], perm=[0, 1, 3, 2])
    bottom = g.op("Transpose", [g.slice(after_v, 3, offset, stride)], perm=[0, 1, 3, 2])
    inside = g.slice(g.slice(mask, 2, offset, stride), 3, offset, stride)

    eps = g.const(1e-6)

    def ratio(a: str, b: str) -> str:
        lo = g.op("Max", [g.op("Min", [a, b]), g.const(0.0)])
        return g.op("Div", [lo, g.op("Add", [g.op("Max", [a, b]), eps])])

    width = g.op("Add", [left, right])
    height = g.op("Add", [top, bottom])
    centred = g.op("Sqrt", [g.op("Mul", [ratio(left, right), ratio(top, bottom)])])
    aspect = ratio(width, height)
    square = g.op("Clip", [g.op("Div", [g.op("Sub", [aspect, g.const(0.7)]), g.const(0.2)]), g.const(0.0), g.const(1.0)])
    score = g.op("Mul", [inside, centred])
    score = g.op("Mul", [score, _gate(g, width, MIN_SIDE, MAX_SIDE)])
    score = g.op("Mul", [score, _gate(g, height, MIN_SIDE, MAX_SIDE)])
    score = g.op("Mul", [score, square])
    return {"l": left, "t": top, "r": right, "b": bottom, "w": width, "h": height, "score": score}


def _keypoint_offsets(g: _Graph, maps: Dict[str, str]) -> List[str]:
    """10 maps: keypoint (x, y) minus the anchor point, in input pixels."""
    out = []
    for fx, fy in LANDMARK_FRACTIONS.tolist():
        # x1 + fx * w - x = -l + fx * (l + r)
        out.append(g.op("Sub", [g.op("Mul", [maps["w"], g.const(fx)]), maps["l"]]))
        out.append(g.op("Sub", [g.op("Mul", [maps["h"], g.const(fy)]), maps["t"]]))
    return out


def _bright_mask(g: _Graph, x: str, threshold: float) -> str:
    """[1, 1, H, W] float: 1 where all channels of the normalised input exceed ``threshold``."""
    over = g.op("Cast", [g.op("Greater", [x, g.const(threshold)])], to=1)
    return g.op("ReduceMin", [over, g.const([1], np.int64)], keepdims=1)


def _save(g: _Graph, inputs, outputs, path: Path, name: str) -> Path:
    import onnx

    graph = g.h.make_graph(g.nodes, name, inputs, outputs, g.inits)
    model = g.h.make_model(graph, opset_imports=[g.h.make_operatorsetid("", _OPSET)], producer_name="facefuse.testing")
    mark(model)  # refused outside tests (facefuse.inference.stand_ins)
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


def build_yolo_face(dir: Union[str, Path]) -> Path:
    """Write a stand-in ``yoloface_8n.onnx``: input [1, 3, 640, 640], output [1, 20, 8400]."""
    from onnx import TensorProto

    g = _Graph()
    mask = _bright_mask(g, "input", BRIGHT_THRESHOLD / 255.0)
    per_stride = []
    for s in _STRIDES:
        maps = _stride_maps(g, mask, s, s // 2)
        half = g.const(0.5)
        # anchor pixel coordinate grids: x = j * s + s / 2 (the model's own grid)
        n = 640 // s
        gx = g.const((np.arange(n, dtype=np.float32) * s + s // 2).reshape(1, 1, 1, n))
        gy = g.const((np.arange(n, dtype=np.float32) * s + s // 2).reshape(1, 1, n, 1))
        cx = g.op("Add", [gx, g.op("Mul", [g.op("Sub", [maps["r"], maps["l"]]), half])])
        cy = g.op("Add", [gy, g.op("Mul", [g.op("Sub", [maps["b"], maps["t"]]), half])])
        chans = [cx, cy, maps["w"], maps["h"], maps["score"]]
        offs = _keypoint_offsets(g, maps)
        for k in range(5):
            chans.append(g.op("Add", [gx, offs[2 * k]]))
            chans.append(g.op("Add", [gy, offs[2 * k + 1]]))
            chans.append(maps["score"])
        cat = g.op("Concat", chans, axis=1)  # [1, 20, n, n]
        per_stride.append(g.op("Reshape", [cat, g.const([1, 20, n * n], np.int64)]))
    g.op("Concat", per_stride, "output", axis=2)
    inputs = [g.h.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 640, 640])]
    outputs = [g.h.make_tensor_value_info("output", TensorProto.FLOAT, [1, 20, 8400])]
    return _save(g, inputs, outputs, Path(dir) / "yoloface_8n.onnx", "yoloface_8n_standin")


def _build_anchor_detector(path: Path, name: str) -> Path:
    from onnx import TensorProto

    g = _Graph()
    mask = _bright_mask(g, "input", (BRIGHT_THRESHOLD - 127.5) / 128.0)
    scores, boxes, kps = [], [], []

    def per_anchor(chans: List[str], c: int) -> str:
        """[1, c, h, w] maps -> [h * w * 2, c] rows (row-major grid, 2 anchors per point)."""
        cat = chans[0] if len(chans) == 1 else g.op("Concat", chans, axis=1)
        hwc = g.op("Transpose", [cat], perm=[0, 2, 3, 1])
        rows = g.op("Reshape", [hwc, g.const([-1, 1, c], np.int64)])
        both = g.op("Concat", [rows, rows], axis=1)
        return g.op("Reshape", [both, g.const([-1, c], np.int64)])

    for s in _STRIDES:
        maps = _stride_maps(g, mask, s, 0)
        inv = g.const(1.0 / s)
        dist = [g.op("Mul", [maps[k], inv]) for k in ("l", "t", "r", "b")]
        offs = [g.op("Mul", [o, inv]) for o in _keypoint_offsets(g, maps)]
        scores.append(per_anchor([maps["score"]], 1))
        boxes.append(per_anchor(dist, 4))
        kps.append(per_anchor(offs, 10))
    outputs = []
    for kind, tensors, c in (("score", scores, 1), ("bbox", boxes, 4), ("kps", kps, 10)):
        for s, t in zip(_STRIDES, tensors):
            out = f"{kind}_{s}"
            g.op("Identity", [t], out)
            outputs.append(g.h.make_tensor_value_info(out, TensorProto.FLOAT, [f"anchors_{s}", c]))
    inputs = [g.h.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])]
    return _save(g, inputs, outputs, path, name)


def build_scrfd(dir: Union[str, Path]) -> Path:
    """Write a stand-in ``scrfd_2.5g.onnx`` (input [1, 3, H, W], 9 anchor outputs)."""
    return _build_anchor_detector(Path(dir) / "scrfd_2.5g.onnx", "scrfd_standin")


def build_retinaface(dir: Union[str, Path]) -> Path:
    """Write a stand-in ``retinaface_10g.onnx`` (same layout as scrfd in FaceFusion's files)."""
    return _build_anchor_detector(Path(dir) / "retinaface_10g.onnx", "retinaface_standin")


def _mean_face_heatmaps() -> np.ndarray:
    """[1, 68, 64, 64] Gaussian blobs (peak 1) at the mean face's heatmap positions."""
    pts = _mean_face_in_crop() / 4.0
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    d2 = (xx[None] - pts[:, 0, None, None]) ** 2 + (yy[None] - pts[:, 1, None, None]) ** 2
    return np.exp(-d2 / (2 * 1.5**2)).astype(np.float32)[None]


def _mean_face_in_crop() -> np.ndarray:
    """(68, 2) the mean face in 256-crop pixels for a square box (side 195, centred at 128)."""
    return (128.0 - LANDMARKER_BOX_SIDE / 2 + MEAN_FACE_68 * LANDMARKER_BOX_SIDE).astype(np.float32)


def build_2dfan4(dir: Union[str, Path]) -> Path:
    """Write a stand-in ``2dfan4.onnx``: input [1, 3, 256, 256] -> [1, 68, 3], [1, 68, 64, 64]."""
    from onnx import TensorProto

    g = _Graph()
    # Peak = mean brightness of the central box region of the crop (so dark crops score low).
    lo, hi = int(128 - LANDMARKER_BOX_SIDE / 2), int(128 + LANDMARKER_BOX_SIDE / 2)
    start = g.const([lo, lo], np.int64)
    centre = g.op("Slice", ["input", start, g.const([hi, hi], np.int64), g.const([2, 3], np.int64)])
    peak = g.op("ReduceMean", [centre, g.const([1, 2, 3], np.int64)], keepdims=1)  # [1, 1, 1, 1]
    g.op("Mul", [g.const(_mean_face_heatmaps()), peak], "heatmaps")
    xy = g.const((_mean_face_in_crop() / 4.0)[None])  # [1, 68, 2] on the 64 grid
    conf = g.op("Mul", [g.const(np.ones((1, 68, 1), np.float32)), g.op("Reshape", [peak, g.const([1, 1, 1], np.int64)])])
    g.op("Concat", [xy, conf], "landmarks", axis=2)
    inputs = [g.h.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 256, 256])]
    outputs = [
        g.h.make_tensor_value_info("landmarks", TensorProto.FLOAT, [1, 68, 3]),
        g.h.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [1, 68, 64, 64]),
    ]
    return _save(g, inputs, outputs, Path(dir) / "2dfan4.onnx", "2dfan4_standin")


def build_fan_68_5(dir: Union[str, Path]) -> Path:
    """Write a stand-in ``fan_68_5.onnx``: input [1, 5, 2] -> [1, 68, 2] in the unit ffhq space.

    Returns the mean face fitted to the ffhq template (``landmarks_5_to_68(FFHQ_512_TEMPLATE)``)
    whatever the input (the input only adds 0 * sum so the graph consumes it): for five points
    that are a similarity transform of the template the loader's result is exactly
    ``landmarks_5_to_68`` of those points.
    """
    from onnx import TensorProto

    g = _Graph()
    zero = g.op("Mul", [g.op("ReduceSum", ["input", g.const([1, 2], np.int64)], keepdims=1), g.const(0.0)])
    g.op("Add", [g.const(landmarks_5_to_68(FFHQ_512_TEMPLATE)[None]), zero], "output")
    inputs = [g.h.make_tensor_value_info("input", TensorProto.FLOAT, [1, 5, 2])]
    outputs = [g.h.make_tensor_value_info("output", TensorProto.FLOAT, [1, 68, 2])]
    return _save(g, inputs, outputs, Path(dir) / "fan_68_5.onnx", "fan_68_5_standin")


BUILDERS: Dict[str, Callable[[Union[str, Path]], Path]] = {
    "yolo_face": build_yolo_face,
    "scrfd": build_scrfd,
    "retinaface": build_retinaface,
    "2dfan4": build_2dfan4,
    "fan_68_5": build_fan_68_5,
}
