"""The lip-sync crop: a square around the face box, scaled to the model's input, and the
feathered mask that pastes the generated lower part back."""
from __future__ import annotations

import math

import numpy as np

from .model import MODEL_SIZE

__all__ = ["square_crop_affine", "stretched_crop_affine", "paste_mask"]


def square_crop_affine(box: np.ndarray, size: int = MODEL_SIZE, scale: float = 1.0) -> np.ndarray:
    """2 x 3 float32 frame -> crop matrix of the square of side ``scale * max(w, h)`` centred
    on ``box`` (x1, y1, x2, y2), scaled to ``size`` x ``size``."""
    b = np.asarray(box, dtype=np.float64)
    if b.shape != (4,) or not np.isfinite(b).all():
        raise ValueError(f"square_crop_affine: argument 'box' must be 4 finite numbers (x1, y1, x2, y2), got {box!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"square_crop_affine: argument 'size' must be an int >= 1, got {size!r}")
    if not isinstance(scale, (int, float)) or not 0 < scale < math.inf:
        raise ValueError(f"square_crop_affine: argument 'scale' must be a positive number, got {scale!r}")
    x1, y1, x2, y2 = (float(v) for v in b)
    side = max(x2 - x1, y2 - y1, 1.0) * float(scale)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    s = size / side
    return np.array([[s, 0.0, -(cx - side / 2.0) * s], [0.0, s, -(cy - side / 2.0) * s]], np.float32)


def stretched_crop_affine(box: np.ndarray, size: int = MODEL_SIZE) -> np.ndarray:
    """2 x 3 float32 frame -> crop matrix that maps ``box`` (x1, y1, x2, y2) onto the whole
    ``size`` x ``size`` crop, each axis scaled on its own: Diff2Lip's ``cv2.resize`` of the
    detector box (its model was trained on such crops; a box that is not square is stretched)."""
    b = np.asarray(box, dtype=np.float64)
    if b.shape != (4,) or not np.isfinite(b).all():
        raise ValueError(f"stretched_crop_affine: argument 'box' must be 4 finite numbers (x1, y1, x2, y2), "
                         f"got {box!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"stretched_crop_affine: argument 'size' must be an int >= 1, got {size!r}")
    x1, y1, x2, y2 = (float(v) for v in b)
    sx, sy = size / max(x2 - x1, 1.0), size / max(y2 - y1, 1.0)
    return np.array([[sx, 0.0, -x1 * sx], [0.0, sy, -y1 * sy]], np.float32)


def paste_mask(size: int = MODEL_SIZE, face_hide_percentage: float = 0.5, feather: float = 0.08) -> np.ndarray:
    """float32 ``[size, size]`` paste-back weights: 1 over the generated lower part, falling
    smoothly to 0 towards its top edge and the crop's sides and bottom (a Gaussian-blurred
    rectangle inset by ``feather * size``), so neither the square's edge nor the line where
    the generated part starts shows in the frame. 0 above the generated part."""
    import cv2

    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"paste_mask: argument 'size' must be an int >= 2, got {size!r}")
    if isinstance(face_hide_percentage, bool) or not isinstance(face_hide_percentage, (int, float)) \
            or not 0.0 < face_hide_percentage < 1.0:
        raise ValueError(f"paste_mask: argument 'face_hide_percentage' must be in (0, 1), got {face_hide_percentage!r}")
    if isinstance(feather, bool) or not isinstance(feather, (int, float)) or not 0.0 <= feather < 0.5:
        raise ValueError(f"paste_mask: argument 'feather' must be in [0, 0.5), got {feather!r}")

    f = max(1, int(round(feather * size)))
    r0 = int(size * (1 - face_hide_percentage))
    m = np.zeros((size, size), np.float32)
    m[min(size, r0 + f):size - f, f:size - f] = 1.0
    # sigma f / 3: the ramp spans the inset, ~0 (3 sigma) at the crop edges and at the cut
    m = cv2.GaussianBlur(m, (0, 0), sigmaX=f / 3.0, borderType=cv2.BORDER_CONSTANT)
    m[:r0] = 0.0
    return np.clip(m, 0.0, 1.0)
