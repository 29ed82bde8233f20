"""Host fast paths of the crop <-> model tensor conversions (uint8 BGR NHWC <-> float32 RGB NCHW).

Bit-identical to the plain NumPy expressions they replace (the same float32 operations per
value), with fewer passes over the crops: the forward map of the 256 possible uint8 values is
computed once per channel and looked up straight into the NCHW tensor; the way back merges
the planes in BGR order, clips, scales and rounds.
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["value_tables", "bgr_to_nchw", "nchw_to_bgr"]


def value_tables(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(3, 256) float32: ``(v / 255 - mean[c]) / std[c]`` for every uint8 v, RGB channel c,
    computed as ``x.astype(float32) / 255.0 - mean) / std`` computes it."""
    v = np.arange(256, dtype=np.uint8).astype(np.float32) / 255.0
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    return np.stack([(v - mean[c]) / std[c] for c in range(3)]).astype(np.float32)


def bgr_to_nchw(crops: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """[N, S, S, 3] uint8 BGR -> [N, 3, S, S] float32 RGB through ``tables`` (:func:`value_tables`):
    per crop, its planes split and each looked up straight into its slot (OpenCV's SIMD loops)."""
    n, h, w, _ = crops.shape
    out = np.empty((n, 3, h, w), np.float32)
    luts = [np.ascontiguousarray(tables[c].reshape(1, 256)) for c in range(3)]
    for i in range(n):
        planes = cv2.split(np.ascontiguousarray(crops[i]))
        for c in range(3):  # RGB channel c is BGR plane 2 - c
            cv2.LUT(planes[2 - c], luts[c], dst=out[i, c])
    return out


def nchw_to_bgr(y: np.ndarray, lo: float, hi: float, scale: float, offset: float = 0.0) -> np.ndarray:
    """[N, 3, S, S] float RGB -> [N, S, S, 3] uint8 BGR: ``rint((clip(y, lo, hi) + offset) * scale)``
    per value (float32, in that order; ties to even as ``np.rint``). ``lo + offset >= 0``."""
    y = np.asarray(y, np.float32)
    n, _, h, w = y.shape
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        m = cv2.merge([y[i, 2], y[i, 1], y[i, 0]])
        np.clip(m, lo, hi, out=m)
        if offset:
            m += np.float32(offset)
        cv2.convertScaleAbs(m, dst=out[i], alpha=scale)  # saturate(round-half-even(m * scale)); m >= 0
    return out


def bgr_tiles_to_nchw(crops: np.ndarray, size: int, tables: np.ndarray) -> np.ndarray:
    """:func:`bgr_to_nchw` of ``split_tiles(crops, size)`` without the uint8 tile copy: each
    crop's planes are looked up whole, then dealt into the tiles' planes."""
    n, b = crops.shape[0], crops.shape[1]
    t = b // size
    out = np.empty((n, t, t, 3, size, size), np.float32)
    luts = [np.ascontiguousarray(tables[c].reshape(1, 256)) for c in range(3)]
    for i in range(n):
        planes = cv2.split(np.ascontiguousarray(crops[i]))
        for c in range(3):
            f = cv2.LUT(planes[2 - c], luts[c])
            out[i, :, :, c] = f.reshape(size, t, size, t).transpose(1, 3, 0, 2)
    return out.reshape(n * t * t, 3, size, size)


def nchw_tiles_to_bgr(y: np.ndarray, boost: int, lo: float, hi: float, scale: float) -> np.ndarray:
    """:func:`nchw_to_bgr` then ``join_tiles(..., boost)``, the tiles' planes gathered straight
    into each crop's planes."""
    y = np.asarray(y, np.float32)
    s = y.shape[2]
    t = boost // s
    n = y.shape[0] // (t * t)
    y6 = y.reshape(n, t, t, 3, s, s)
    out = np.empty((n, boost, boost, 3), np.uint8)
    for i in range(n):
        planes = [np.ascontiguousarray(y6[i, :, :, c].transpose(2, 0, 3, 1)).reshape(boost, boost)
                  for c in (2, 1, 0)]
        m = cv2.merge(planes)
        np.clip(m, lo, hi, out=m)
        cv2.convertScaleAbs(m, dst=out[i], alpha=scale)
    return out
