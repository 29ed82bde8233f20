"""Face alignment with FaceFusion's 5-point warp templates, and its static box mask.

Templates are (5, 2) points normalised to [0, 1] (left eye, right eye, nose tip, left and
right mouth corner); scaling by the crop size gives the points an aligned crop puts the
landmarks on. The affine frame->crop is a 4-DoF similarity (rotation, uniform scale,
translation) fitted with ``cv2.estimateAffinePartial2D`` (RANSAC, reprojection threshold
100 px, as FaceFusion does: with 5 points and that threshold every point is an inlier, so
the result is the least-squares similarity).
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple, Union

import cv2
import numpy as np

from ._model_checks import check_frame

__all__ = ["WARP_TEMPLATES", "estimate_affine", "warp_face", "box_mask"]


def _template(rows: Sequence[Sequence[float]]) -> np.ndarray:
    t = np.array(rows, dtype=np.float64)
    t.setflags(write=False)  # shared module constant
    return t


#: FaceFusion 3.x ``face_helper`` warp templates, normalised to [0, 1].
WARP_TEMPLATES: Dict[str, np.ndarray] = {
    "arcface_112_v1": _template(
        [[0.35473214, 0.45658929], [0.64526786, 0.45658929], [0.50000000, 0.61154464],
         [0.37913393, 0.77687500], [0.62086607, 0.77687500]]
    ),
    "arcface_112_v2": _template(
        [[0.34191607, 0.46157411], [0.65653393, 0.45983393], [0.50022500, 0.64050536],
         [0.37097589, 0.82469196], [0.63151696, 0.82325089]]
    ),
    "arcface_128": _template(
        [[0.36167656, 0.40387734], [0.63696719, 0.40235469], [0.50019687, 0.56044219],
         [0.38710391, 0.72160547], [0.61507734, 0.72034453]]
    ),
    "dfl_whole_face": _template(
        [[0.35342266, 0.39285716], [0.62797622, 0.39285716], [0.48660713, 0.54017860],
         [0.38839287, 0.68750011], [0.59821427, 0.68750011]]
    ),
    "ffhq_512": _template(
        [[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
         [0.39308822, 0.72541100], [0.61150205, 0.72490465]]
    ),
    "mtcnn_512": _template(
        [[0.36562865, 0.46733799], [0.63305391, 0.46585885], [0.50019127, 0.61942959],
         [0.39032951, 0.77598822], [0.61178945, 0.77476328]]
    ),
    "styleganex_384": _template(
        [[0.42353745, 0.52289879], [0.57725008, 0.52319972], [0.50123859, 0.61331904],
         [0.43364461, 0.68337652], [0.57015325, 0.68306005]]
    ),
}

Size = Union[int, Tuple[int, int]]


def _size(size: Size, name: str = "size") -> Tuple[int, int]:
    """``size`` (an int or (width, height)) -> (width, height) of positive ints."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        w = h = int(size)
    elif isinstance(size, (tuple, list)) and len(size) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size
    ):
        w, h = int(size[0]), int(size[1])
    else:
        raise TypeError(f"argument {name!r} must be an int or a (width, height) pair of ints, got {size!r}")
    if w <= 0 or h <= 0:
        raise ValueError(f"argument {name!r} must be positive, got {size!r}")
    return w, h


def _landmarks(landmarks5: np.ndarray) -> np.ndarray:
    if not isinstance(landmarks5, np.ndarray):
        raise TypeError(f"argument 'landmarks5' must be a numpy array of shape (5, 2), got {type(landmarks5).__name__}")
    if landmarks5.shape != (5, 2):
        raise ValueError(f"argument 'landmarks5' must have shape (5, 2), got {landmarks5.shape}")
    lm = landmarks5.astype(np.float32)
    if not np.all(np.isfinite(lm)):
        raise ValueError("argument 'landmarks5' contains NaN or infinite values")
    return lm


def _template_name(template: str) -> np.ndarray:
    if not isinstance(template, str):
        raise TypeError(f"argument 'template' must be a template name (str), got {type(template).__name__}")
    try:
        return WARP_TEMPLATES[template]
    except KeyError:
        raise ValueError(
            f"argument 'template': unknown warp template {template!r}; known: {', '.join(sorted(WARP_TEMPLATES))}"
        ) from None


def estimate_affine(landmarks5: np.ndarray, template: str, size: Size) -> np.ndarray:
    """The (2, 3) float32 similarity mapping frame pixels to crop pixels.

    ``landmarks5``: (5, 2) frame coordinates; ``template``: a :data:`WARP_TEMPLATES` key;
    ``size``: crop (width, height) or an int for a square crop.
    """
    lm = _landmarks(landmarks5)
    tpl = _template_name(template)
    w, h = _size(size)
    dst = (tpl * np.array([w, h], dtype=np.float64)).astype(np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(lm, dst, method=cv2.RANSAC, ransacReprojThreshold=100)
    if matrix is None:  # degenerate landmarks (e.g. all on one point)
        raise ValueError("argument 'landmarks5' is degenerate: no similarity transform fits it to the template")
    return matrix.astype(np.float32)


def warp_face(frame: np.ndarray, landmarks5: np.ndarray, template: str, size: Size) -> Tuple[np.ndarray, np.ndarray]:
    """Aligned crop of a face: ``(crop (h, w, 3) uint8, affine (2, 3) float32 frame->crop)``.

    Warps with ``INTER_AREA`` and ``BORDER_REPLICATE`` like FaceFusion, so crops near the
    frame edge repeat edge pixels instead of going black.
    """
    frame = check_frame(frame)
    w, h = _size(size)
    matrix = estimate_affine(landmarks5, template, (w, h))
    crop = cv2.warpAffine(frame, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_AREA)
    return crop, matrix


def box_mask(size: Size, blur: float = 0.3, padding: Sequence[float] = (0, 0, 0, 0)) -> np.ndarray:
    """FaceFusion's static box mask: (h, w) float32 in [0, 1], 1 inside, soft edges.

    ``blur``: edge softness relative to the crop width (FaceFusion's ``face_mask_blur``,
    0..1); a border of ``blur * width / 4`` px is zeroed and the mask is Gaussian-blurred with
    sigma ``blur * width / 8``. ``padding``: (top, right, bottom, left) in percent of the
    crop size, zeroed as well (FaceFusion's ``face_mask_padding``).
    """
    w, h = _size(size)
    if isinstance(blur, bool) or not isinstance(blur, (int, float, np.floating, np.integer)):
        raise TypeError(f"argument 'blur' must be a number, got {blur!r}")
    if not (0.0 <= float(blur) <= 1.0):
        raise ValueError(f"argument 'blur' must be in [0, 1], got {blur}")
    try:
        pad = [float(p) for p in padding]
    except TypeError:
        raise TypeError(f"argument 'padding' must be 4 numbers (top, right, bottom, left), got {padding!r}") from None
    if len(pad) != 4:
        raise ValueError(f"argument 'padding' must be 4 numbers (top, right, bottom, left), got {padding!r}")
    if any(not (0.0 <= p <= 100.0) for p in pad):
        raise ValueError(f"argument 'padding' values are percentages in [0, 100], got {padding!r}")
    top, right, bottom, left = pad
    blur_amount = int(w * 0.5 * float(blur))
    blur_area = max(blur_amount // 2, 1)
    mask = np.ones((h, w), np.float32)
    mask[: max(blur_area, int(h * top / 100)), :] = 0
    mask[h - max(blur_area, int(h * bottom / 100)):, :] = 0
    mask[:, : max(blur_area, int(w * left / 100))] = 0
    mask[:, w - max(blur_area, int(w * right / 100)):] = 0
    if blur_amount > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), blur_amount * 0.25)
    return np.clip(mask, 0.0, 1.0).astype(np.float32, copy=False)
