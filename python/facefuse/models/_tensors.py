"""Host fast paths of the crop <-> model tensor conversions (uint8 BGR NHWC <-> float32 RGB NCHW).

One native pass each way (``_core.crops_to_planes`` / ``_core.planes_to_crops``, rows in
parallel), bit-identical to the plain NumPy expressions they replace (tests/test_models_tensors.py):
the forward map of the 256 uint8 values is computed once per channel in NumPy's float32 steps
and looked up; the way back clips, offsets, scales and rounds half to even in float32 steps.
FaceFusion's interleaved pixel-boost tiles are dealt / gathered in the same pass.
"""
from __future__ import annotations

import numpy as np

from .. import _core

__all__ = ["value_tables", "bgr_to_nchw", "nchw_to_bgr", "bgr_tiles_to_nchw", "nchw_tiles_to_bgr"]


def value_tables(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(3, 256) float32: ``(v / 255 - mean[c]) / std[c]`` for every uint8 v, RGB channel c,
    computed as ``x.astype(float32) / 255.0 - mean) / std`` computes it."""
    v = np.arange(256, dtype=np.uint8).astype(np.float32) / 255.0
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    return np.stack([(v - mean[c]) / std[c] for c in range(3)]).astype(np.float32)


def bgr_to_nchw(crops: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """[N, S, S, 3] uint8 BGR -> [N, 3, S, S] float32 RGB through ``tables`` (:func:`value_tables`)."""
    return _core.crops_to_planes(crops, tables, 1)


def nchw_to_bgr(y: np.ndarray, lo: float, hi: float, scale: float, offset: float = 0.0) -> np.ndarray:
    """[N, 3, S, S] float RGB -> [N, S, S, 3] uint8 BGR: ``rint((clip(y, lo, hi) + offset) * scale)``
    per value (float32, in that order; ties to even as ``np.rint``; NaN -> 255 as
    ``cv2.convertScaleAbs``). ``lo + offset >= 0``."""
    return _core.planes_to_crops(np.asarray(y, np.float32), 1, lo, hi, scale, offset)


def bgr_tiles_to_nchw(crops: np.ndarray, size: int, tables: np.ndarray) -> np.ndarray:
    """:func:`bgr_to_nchw` of ``split_tiles(crops, size)`` (FaceFusion's interleaved pixel-boost
    tiles of ``size`` pixels), in one pass."""
    return _core.crops_to_planes(crops, tables, crops.shape[1] // size)


def nchw_tiles_to_bgr(y: np.ndarray, boost: int, lo: float, hi: float, scale: float) -> np.ndarray:
    """:func:`nchw_to_bgr` then ``join_tiles(..., boost)``, in one pass."""
    y = np.asarray(y, np.float32)
    return _core.planes_to_crops(y, boost // y.shape[2], lo, hi, scale)
