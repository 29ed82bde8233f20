"""Pure NumPy references of the quality ops: the tests' oracle and the
benchmarks' baseline, written the way Python video-quality scripts usually do
it (cast to float64, diff, square, mean)."""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from ..ops import quality as _ops

__all__ = ["tpsnr", "tpsnr_sequence", "landmark_nmj", "face_size_from_landmarks", "QualityMonitor"]


def _mask(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype == np.uint8:
        return m.astype(np.float64) / 255.0
    return m.astype(np.float64)


def tpsnr(prev: np.ndarray, cur: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    """PSNR (dB, peak 255) between two frames; inf when identical (see facefuse.ops.tpsnr)."""
    a = np.asarray(prev).astype(np.float64)
    b = np.asarray(cur).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"tpsnr: argument 'cur' must have the shape of 'prev' {a.shape}, got {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    sq = (a - b) ** 2
    if mask is None:
        mse = sq.mean()
    else:
        m = _mask(mask)
        if m.shape != a.shape[:2]:
            raise ValueError(f"tpsnr: argument 'mask' must be H x W {a.shape[:2]}, got {m.shape}")
        total = m.sum()
        if total <= 0:
            raise ValueError("tpsnr: argument 'mask' sums to 0")
        mse = (sq.sum(axis=2) * m).sum() / (a.shape[2] * total)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def tpsnr_sequence(frames: np.ndarray, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """tPSNR of each consecutive pair of frames [T, H, W(, C)] -> T - 1 values."""
    f = np.asarray(frames)
    return np.array([tpsnr(f[t], f[t + 1], mask) for t in range(len(f) - 1)], dtype=np.float64)


def face_size_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Inter-ocular distance (points 36, 45) for 68 points, else bounding-box diagonal."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape[-2] == 68:
        return np.linalg.norm(lm[..., 36, :] - lm[..., 45, :], axis=-1)
    w = lm[..., 0].max(axis=-1) - lm[..., 0].min(axis=-1)
    h = lm[..., 1].max(axis=-1) - lm[..., 1].min(axis=-1)
    return np.sqrt(w * w + h * h)


def landmark_nmj(
    landmarks: np.ndarray, gt: Optional[np.ndarray] = None, face_size: Union[None, float, np.ndarray] = None
) -> float:
    """Normalised mean jitter (see facefuse.ops.landmark_nmj), one frame at a time."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim == 3:
        lm = lm[:, None]
    g = None
    if gt is not None:
        g = np.asarray(gt, dtype=np.float64)
        if g.ndim == 3:
            g = g[:, None]
    t_len, n_faces = lm.shape[:2]
    if face_size is None:
        sizes = face_size_from_landmarks(g if g is not None else lm)
    else:
        fs = np.asarray(face_size, dtype=np.float64)
        sizes = np.broadcast_to(fs[:, None] if fs.ndim == 1 else fs, (t_len, n_faces))
    terms = []
    start = 1 if g is not None else 2
    for t in range(start, t_len):
        if g is not None:
            jit = (lm[t] - g[t]) - (lm[t - 1] - g[t - 1])
        else:
            jit = (lm[t] - lm[t - 1]) - (lm[t - 1] - lm[t - 2])
        dist = np.linalg.norm(jit, axis=-1)  # [N, P]
        terms.append((dist / sizes[t][:, None]) ** 2)
    return float(np.sqrt(np.mean(terms)))


class QualityMonitor(_ops.QualityMonitor):
    """facefuse.ops.QualityMonitor computing each tPSNR with the NumPy reference."""

    _tpsnr = staticmethod(tpsnr)
