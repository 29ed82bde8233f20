"""Reference colour ops: cv2.cvtColor + NumPy, the way face pipelines write them.

The oracle for tests/test_color.py and the baseline of bench/bench_color.py.
"""
from __future__ import annotations

from typing import Any, Optional

import cv2
import numpy as np

__all__ = ["bgr_to_lab", "lab_to_bgr", "color_transfer"]

_EPS = 1e-6  # smallest source std divided by (LAB units)


def bgr_to_lab(img: Any) -> np.ndarray:
    """cv2 BGR -> LAB on float32 in [0, 1] (uint8 is divided by 255 first)."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        img = img.astype(np.float32) / 255
    return cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_BGR2Lab)


def lab_to_bgr(lab: Any) -> np.ndarray:
    """cv2 LAB -> BGR on float32 (result in [0, 1])."""
    return cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2BGR)


def _mask_weights(mask: Any, name: str) -> np.ndarray:
    m = np.asarray(mask)
    m = m.astype(np.float64) / 255.0 if m.dtype == np.uint8 else m.astype(np.float64)
    if m.sum() <= 0:
        raise ValueError(f"color_transfer: argument '{name}' must have a positive total weight (it is all zero)")
    return m


def _lab_stats(lab: np.ndarray, mask: Optional[Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (weighted) mean and population std, in float64."""
    x = lab.reshape(-1, 3).astype(np.float64)
    if mask is None:
        return x.mean(axis=0), x.std(axis=0)
    w = _mask_weights(mask, name).reshape(-1)
    mean = np.average(x, axis=0, weights=w)
    std = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
    return mean, std


def color_transfer(
    src: Any,
    ref: Any,
    src_mask: Optional[Any] = None,
    ref_mask: Optional[Any] = None,
    strength: float = 1.0,
) -> np.ndarray:
    """Reinhard mean/std colour transfer in LAB (see facefuse.ops.color_transfer)."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"color_transfer: argument 'strength' must be in [0, 1], got {strength}")
    src = np.asarray(src)
    ref = np.asarray(ref)
    src_lab = cv2.cvtColor(src.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    ref_lab = cv2.cvtColor(ref.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)

    mu_s, sd_s = _lab_stats(src_lab, src_mask, "src_mask")
    mu_r, sd_r = _lab_stats(ref_lab, ref_mask, "ref_mask")

    out_lab = (src_lab - mu_s) * (sd_r / np.maximum(sd_s, _EPS)) + mu_r
    out = cv2.cvtColor(out_lab.astype(np.float32), cv2.COLOR_Lab2BGR) * 255.0

    src_f = src.astype(np.float32)
    out = src_f * (1.0 - strength) + out * strength
    if src.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return np.clip(out, 0, 255).astype(np.float32)
