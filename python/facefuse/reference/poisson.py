"""Reference seamless (Poisson) blending: ``cv2.seamlessClone`` (NORMAL_CLONE) as
face pipelines call it, with the ``center`` that keeps ``src`` on the same pixels.

cv2.seamlessClone zeroes the mask's outer 1-px frame, takes the bounding box
``(x, y, w, h)`` of what remains in ``src`` and places it in ``dst`` at
``(cx - w // 2, cy - h // 2)``: ``center = (x + w // 2, y + h // 2)`` makes that
the identity (odd sizes included). It accepts 3-channel uint8 only: 1-channel
frames go through a 3-channel copy, float32 frames are rounded to uint8 first
(the result is returned as float32). OpenCV solves on the whole bounding box with
a DST-based direct solver, the guidance being src's gradients inside the mask
eroded by 3 px and dst's outside, so it differs from the exact Dirichlet solve of
``facefuse.ops.blend_poisson`` by about a grey level on average inside the mask.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

__all__ = ["blend_poisson", "seamless_center"]


def _mask01(fn: str, mask: Any) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype == np.uint8:
        m = m.astype(np.float32) / 255.0
    m = m.astype(np.float32)
    if m.ndim != 2:
        raise ValueError(f"{fn}: argument 'mask' must be H x W, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{fn}: argument 'mask' must be finite (no NaN or inf)")
    return m


def seamless_center(mask_u8: np.ndarray) -> tuple[int, int] | None:
    """The ``center`` for which cv2.seamlessClone maps the mask's box onto itself (None: empty)."""
    m = mask_u8.copy()
    m[0, :] = 0
    m[-1, :] = 0
    m[:, 0] = 0
    m[:, -1] = 0
    x, y, w, h = cv2.boundingRect(m)
    if w == 0 or h == 0:
        return None
    return (x + w // 2, y + h // 2)


def blend_poisson(dst: Any, src: Any, mask: Any, *, tol: float = 1e-4, max_iter: int = 50) -> np.ndarray:
    """cv2.seamlessClone(src, dst, mask > 0.5, center, NORMAL_CLONE) with src kept in place.

    Same arguments as :func:`facefuse.ops.blend_poisson`; ``tol`` and ``max_iter`` are
    accepted and ignored (OpenCV's solver is direct).
    """
    fn = "blend_poisson"
    dst = np.asarray(dst)
    src = np.asarray(src)
    if dst.dtype not in (np.uint8, np.float32) or src.dtype != dst.dtype:
        raise TypeError(f"{fn}: argument 'dst'/'src' must be uint8 or float32 frames of one dtype")
    if dst.shape != src.shape:
        raise ValueError(f"{fn}: argument 'src' must have dst's shape {dst.shape}, got {src.shape}")
    m = _mask01(fn, mask)
    if m.shape != dst.shape[:2]:
        raise ValueError(f"{fn}: argument 'mask' must be H x W matching dst, got shape {m.shape}")
    m8 = np.where(m > 0.5, 255, 0).astype(np.uint8)
    center = seamless_center(m8)
    if center is None:
        return dst.copy()
    gray = dst.ndim == 2 or dst.shape[2] == 1

    def to8(a: np.ndarray) -> np.ndarray:
        a = a.reshape(a.shape[0], a.shape[1], -1)
        if a.dtype != np.uint8:
            a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR) if gray else np.ascontiguousarray(a)

    out = cv2.seamlessClone(to8(src), to8(dst), m8, center, cv2.NORMAL_CLONE)
    if gray:
        out = out[:, :, :1]
    out = out.reshape(dst.shape)
    return out if dst.dtype == np.uint8 else out.astype(np.float32)
