"""68-point face landmarker (FaceFusion's ``2dfan4.onnx``) and the 5 <-> 68 point conversions.

FaceFusion's 2dfan4 convention (facefusion/face_landmarker.py, ``detect_with_2dfan4``):

* crop: scale = 195 / (longer box side), translation = (256 - (x1 + x2, y1 + y2) * scale) / 2,
  i.e. the box's longer side becomes 195 of the 256 crop pixels, centred; ``cv2.warpAffine``
  with the default bilinear interpolation and black border;
* crops whose mean Lab lightness is below 30 get CLAHE (clip limit 2) on L first;
* input ``input`` [1, 3, 256, 256] float32 = the BGR crop / 255, channels first;
* outputs by position: landmarks [1, 68, 3] (x, y on the 64 x 64 heatmap grid, then a
  confidence) and heatmaps [1, 68, 64, 64]; points * 256 / 64 go back through the inverse crop
  affine; score = mean over points of the heatmap maximum, mapped [0, 0.9] -> [0, 1].
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from ..inference import InferencePool, ModelError, ModelSpec
from ._model_checks import check_frame
from .align import WARP_TEMPLATES
from .detector import check_output_shapes

__all__ = [
    "LANDMARKER_SPECS",
    "MEAN_FACE_68",
    "FaceLandmarker",
    "FAN_68_5",
    "Landmarker68From5",
    "landmarks_68_to_5",
    "landmarks_5_to_68",
]

_SOURCE = (
    "{file} (FaceFusion's face landmarker model); FaceFusion users have it in "
    "<facefusion>/.assets/models/ (downloaded there on first use)"
)

#: Known landmarker models. FaceFusion reads the outputs by position, so only the input is
#: checked by name; the output layout is checked by :class:`FaceLandmarker`.
LANDMARKER_SPECS: Dict[str, ModelSpec] = {
    "2dfan4": ModelSpec(
        name="2dfan4",
        file_name="2dfan4.onnx",
        inputs={"input": ((None, 3, 256, 256), np.float32)},
        outputs={},
        source=_SOURCE.format(file="2dfan4.onnx"),
    ),
}

# Output layouts by position: (trailing dims, name) checked on load.
_LANDMARKER_OUTPUTS: Dict[str, List[Tuple[Tuple[Any, ...], str]]] = {
    "2dfan4": [((None, 68, 3), "landmarks [1, 68, 3]"), ((None, 68, 64, 64), "heatmaps [1, 68, 64, 64]")],
}


def _mean_face_68() -> np.ndarray:
    """A frontal 68-point face (iBUG 300-W point order) in unit box coordinates.

    Built geometrically, not copied: a jaw ellipse arc, brow arcs, a straight nose bridge,
    elliptical eyes and lips, with proportions chosen to match the usual 300-W mean shape
    (eyes at 40 % height and 38 % of the width apart, nose tip at 60 %, mouth at 80 %). Its
    68 -> 5 reduction is ((0.31, 0.40), (0.69, 0.40), (0.50, 0.60), (0.34, 0.80), (0.66, 0.80)).
    """
    pts: List[Tuple[float, float]] = []
    # 0-16 jaw: ellipse centred (0.5, 0.35), from the left temple under the chin to the right.
    for k in range(17):
        phi = np.pi + k * np.pi / 16
        pts.append((0.5 + 0.47 * np.cos(phi), 0.35 - 0.62 * np.sin(phi)))
    # 17-21 left brow (outer -> inner), 22-26 right brow (inner -> outer): shallow arcs.
    brow = [(0.12 + k * 0.0775, 0.27 - 0.05 * np.sin(np.pi * k / 4)) for k in range(5)]
    pts += brow
    pts += [(1.0 - x, y) for x, y in reversed(brow)]
    # 27-30 nose bridge down to the tip (30).
    pts += [(0.5, y) for y in (0.36, 0.44, 0.52, 0.60)]
    # 31-35 nostrils, left to right.
    pts += [(0.40, 0.66), (0.45, 0.675), (0.50, 0.685), (0.55, 0.675), (0.60, 0.66)]

    def ellipse(cx: float, cy: float, rx: float, ry: float, degrees: List[float]) -> List[Tuple[float, float]]:
        return [(cx + rx * np.cos(np.radians(a)), cy - ry * np.sin(np.radians(a))) for a in degrees]

    eye = [180, 120, 60, 0, -60, -120]  # left corner, upper lid, right corner, lower lid
    pts += ellipse(0.31, 0.40, 0.085, 0.035, eye)  # 36-41
    pts += ellipse(0.69, 0.40, 0.085, 0.035, eye)  # 42-47
    pts += ellipse(0.50, 0.80, 0.16, 0.07, [180 - 30 * k for k in range(12)])  # 48-59 outer lips
    pts += ellipse(0.50, 0.80, 0.11, 0.03, [180 - 45 * k for k in range(8)])  # 60-67 inner lips
    out = np.asarray(pts, dtype=np.float32)
    assert out.shape == (68, 2)
    return out


#: (68, 2) float32 mean face in unit box coordinates (x, y in [0, 1], y down).
MEAN_FACE_68: np.ndarray = _mean_face_68()


def _check_points(lm: Any, n: int, arg: str) -> np.ndarray:
    a = np.asarray(lm)
    if a.ndim < 2 or a.shape[-2:] != (n, 2):
        raise ValueError(f"argument '{arg}' must have shape (..., {n}, 2), got {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise TypeError(f"argument '{arg}' must be a real numeric array, got dtype {a.dtype}")
    return a.astype(np.float32, copy=False)


def landmarks_68_to_5(lm: np.ndarray) -> np.ndarray:
    """(..., 68, 2) -> (..., 5, 2) float32: eye centres (mean of 36-41, 42-47), nose tip (30),
    mouth corners (48, 54), FaceFusion's ``convert_to_face_landmark_5`` order."""
    a = _check_points(lm, 68, "lm")
    return np.stack(
        [a[..., 36:42, :].mean(axis=-2), a[..., 42:48, :].mean(axis=-2), a[..., 30, :], a[..., 48, :], a[..., 54, :]],
        axis=-2,
    ).astype(np.float32)


_MEAN_FACE_5 = landmarks_68_to_5(MEAN_FACE_68)


def landmarks_5_to_68(lm: np.ndarray) -> np.ndarray:
    """(..., 5, 2) -> (..., 68, 2) float32: :data:`MEAN_FACE_68` placed by the least-squares
    similarity transform (rotation, uniform scale, translation) taking its five points onto
    ``lm``. A stand-in for FaceFusion's ``face_landmarker_68_5`` model."""
    a = _check_points(lm, 5, "lm").astype(np.float64)
    src = _MEAN_FACE_5.astype(np.float64)
    # Similarity fit as complex least squares: dst ~ z * src + t, z = s * exp(i theta).
    s = src[:, 0] + 1j * src[:, 1]
    d = a[..., 0] + 1j * a[..., 1]
    s0 = s - s.mean()
    d0 = d - d.mean(axis=-1, keepdims=True)
    z = (np.conj(s0) * d0).sum(axis=-1, keepdims=True) / (np.abs(s0) ** 2).sum()
    m = MEAN_FACE_68[:, 0].astype(np.float64) + 1j * MEAN_FACE_68[:, 1]
    out = z * (m - s.mean()) + d.mean(axis=-1, keepdims=True)
    return np.stack([out.real, out.imag], axis=-1).astype(np.float32)


def _check_box(box: Any) -> np.ndarray:
    b = np.asarray(box)
    if b.shape != (4,):
        raise ValueError(f"argument 'box' must have shape (4,) (x1, y1, x2, y2), got {b.shape}")
    if not np.issubdtype(b.dtype, np.number):
        raise TypeError(f"argument 'box' must be numeric, got dtype {b.dtype}")
    b = b.astype(np.float64)
    if not np.all(np.isfinite(b)):
        raise ValueError(f"argument 'box' must be finite, got {b.tolist()}")
    if b[2] <= b[0] or b[3] <= b[1]:
        raise ValueError(f"argument 'box' must have x2 > x1 and y2 > y1, got {b.tolist()}")
    return b


def _optimize_contrast(crop: np.ndarray) -> np.ndarray:
    """FaceFusion's dark-crop trick: CLAHE on the Lab L channel when its mean is below 30.

    FaceFusion converts its BGR crop with ``COLOR_RGB2Lab`` (channels taken as RGB); we do the
    same so the model sees what it sees under FaceFusion.
    """
    import cv2

    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2Lab)
    if float(np.mean(lab[:, :, 0])) < 30:
        lab[:, :, 0] = cv2.createCLAHE(clipLimit=2).apply(lab[:, :, 0])
        return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return crop


class FaceLandmarker:
    """68-point landmarks of a face box with FaceFusion's ``2dfan4.onnx``.

    Parameters
    ----------
    pool:
        Where the session comes from (the file is found in its models dir and checked).
    model:
        A key of :data:`LANDMARKER_SPECS` (``"2dfan4"``).
    """

    size = 256
    box_side = 195.0  # the box's longer side in crop pixels

    def __init__(self, pool: InferencePool, model: str = "2dfan4") -> None:
        if not isinstance(pool, InferencePool):
            raise TypeError(f"argument 'pool' must be a facefuse.inference.InferencePool, got {type(pool).__name__}")
        if model not in LANDMARKER_SPECS:
            raise ValueError(f"argument 'model' must be one of {sorted(LANDMARKER_SPECS)}, got {model!r}")
        self.model = model
        self.spec = LANDMARKER_SPECS[model]
        self.session = pool.get(self.spec.file_name, spec=self.spec)
        check_output_shapes(self.session, self.spec, _LANDMARKER_OUTPUTS[model], pool.resolve(self.spec.file_name))

    def crop_affine(self, box: np.ndarray) -> np.ndarray:
        """(2, 3) float64 frame -> 256 crop affine for ``box`` (FaceFusion's 195 / max-side crop)."""
        b = _check_box(box)
        scale = self.box_side / max(float((b[2:] - b[:2]).max()), 1.0)
        tx, ty = (self.size - (b[2:] + b[:2]) * scale) * 0.5
        return np.array([[scale, 0.0, tx], [0.0, scale, ty]], dtype=np.float64)

    def detect(self, frame: np.ndarray, box: np.ndarray) -> Tuple[np.ndarray, float]:
        """Landmarks of the face in ``box``.

        Parameters
        ----------
        frame: (H, W, 3) uint8 BGR.
        box: (4,) x1, y1, x2, y2 in frame pixels.

        Returns
        -------
        (landmarks (68, 2) float32 frame pixels, score float in [0, 1]).
        """
        import cv2

        check_frame(frame)
        affine = self.crop_affine(box)
        crop = cv2.warpAffine(frame, affine, (self.size, self.size))
        crop = _optimize_contrast(crop)
        blob = (crop.transpose(2, 0, 1)[None].astype(np.float32)) / np.float32(255.0)
        outs = self.session.run(None, {"input": blob})
        if len(outs) < 2:
            raise ModelError(f"model {self.spec.file_name!r} returned {len(outs)} outputs, expected 2")
        points = np.asarray(outs[0], dtype=np.float32).reshape(-1, 3)[:68, :2] * (self.size / 64.0)
        inverse = cv2.invertAffineTransform(affine)
        lm = points @ inverse[:, :2].T + inverse[:, 2]
        heat = np.asarray(outs[1], dtype=np.float32).reshape(68, -1)
        score = float(np.interp(float(heat.max(axis=1).mean()), [0.0, 0.9], [0.0, 1.0]))
        return lm.astype(np.float32), score


#: FaceFusion's 5 -> 68 point model (``fan_68_5.onnx``): input ``input`` [1, 5, 2] float32, the
#: five points mapped into the unit ``ffhq_512`` template space; output [1, 68, 2] in that space.
FAN_68_5 = ModelSpec(
    name="fan_68_5",
    file_name="fan_68_5.onnx",
    inputs={"input": ((None, 5, 2), np.float32)},
    outputs={},
    source=_SOURCE.format(file="fan_68_5.onnx"),
)
_FAN_68_5_OUTPUTS: List[Tuple[Tuple[Any, ...], str]] = [((None, 68, 2), "landmarks [1, 68, 2]")]

# FaceFusion's ``ffhq_512`` warp template, unit square (one copy: align.WARP_TEMPLATES).
FFHQ_512_TEMPLATE: np.ndarray = WARP_TEMPLATES["ffhq_512"]


class Landmarker68From5:
    """68 points from 5 with FaceFusion's ``fan_68_5.onnx`` (the model-based alternative to
    :func:`landmarks_5_to_68`).

    FaceFusion's convention: a similarity transform (``cv2.estimateAffinePartial2D``, RANSAC
    with a 100 px reprojection threshold, i.e. in practice all five points) takes the points
    onto the unit ``ffhq_512`` template; the model maps those five points to 68 in the same
    space; the inverse transform brings them back to frame pixels.
    """

    def __init__(self, pool: InferencePool) -> None:
        if not isinstance(pool, InferencePool):
            raise TypeError(f"argument 'pool' must be a facefuse.inference.InferencePool, got {type(pool).__name__}")
        self.spec = FAN_68_5
        self.session = pool.get(FAN_68_5.file_name, spec=FAN_68_5)
        check_output_shapes(self.session, FAN_68_5, _FAN_68_5_OUTPUTS, pool.resolve(FAN_68_5.file_name))

    def estimate(self, landmarks5: np.ndarray) -> np.ndarray:
        """(5, 2) frame pixels -> (68, 2) float32 frame pixels."""
        import cv2

        lm = _check_points(landmarks5, 5, "landmarks5")
        if lm.shape != (5, 2):
            raise ValueError(f"argument 'landmarks5' must have shape (5, 2), got {lm.shape}")
        if not np.all(np.isfinite(lm)):
            raise ValueError("argument 'landmarks5' must be finite")
        affine, _ = cv2.estimateAffinePartial2D(lm, FFHQ_512_TEMPLATE, method=cv2.RANSAC, ransacReprojThreshold=100)
        if affine is None:
            raise ValueError(f"argument 'landmarks5' is degenerate (no similarity transform fits): {lm.tolist()}")
        unit = (lm @ affine[:, :2].T + affine[:, 2]).astype(np.float32)
        (out,) = self.session.run(None, {"input": unit[None]})[:1]
        pts = np.asarray(out, dtype=np.float64).reshape(68, 2)
        inverse = cv2.invertAffineTransform(affine)
        return (pts @ inverse[:, :2].T + inverse[:, 2]).astype(np.float32)
