"""Multi-band (Laplacian-pyramid) blending, written the way face pipelines do it:
cv2.pyrDown / cv2.pyrUp on float32 images, two Laplacian pyramids and a Gaussian
pyramid of the mask, blended per band and collapsed.

This is the oracle of ``facefuse.ops.blend_laplacian`` and its benchmark baseline.
"""
from __future__ import annotations

import operator

import cv2
import numpy as np

__all__ = ["blend_laplacian", "gaussian_pyramid", "laplacian_pyramid", "max_levels"]


def max_levels(h: int, w: int) -> int:
    """Most pyramid levels an ``h x w`` image holds.

    A level is added by halving (rounding up, as cv2.pyrDown) while the current
    level is at least 2 px in both dimensions; so 1 x N -> 1, 2 x 2 -> 2,
    512 x 512 -> 10, 1080 x 1920 -> 12.
    """
    h = operator.index(h)
    w = operator.index(w)
    if h < 1:
        raise ValueError(f"max_levels: argument 'h' must be >= 1, got {h}")
    if w < 1:
        raise ValueError(f"max_levels: argument 'w' must be >= 1, got {w}")
    n = 1
    while h > 1 and w > 1:
        h, w = (h + 1) // 2, (w + 1) // 2
        n += 1
    return n


def _levels(levels: int, h: int, w: int, fn: str = "blend_laplacian") -> int:
    if isinstance(levels, (bool, np.bool_)) or not isinstance(levels, (int, np.integer)):
        raise TypeError(f"{fn}: argument 'levels' must be an int, got {type(levels).__name__}")
    if levels < 1:
        raise ValueError(f"{fn}: argument 'levels' must be >= 1, got {levels}")
    return min(int(levels), max_levels(h, w))


def gaussian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """[img, pyrDown(img), ...] as float32, ``min(levels, max_levels(h, w))`` images."""
    g = np.array(img, dtype=np.float32, copy=True)
    if g.ndim not in (2, 3) or (g.ndim == 3 and g.shape[2] not in (1, 3)) or g.size == 0:
        raise ValueError(f"gaussian_pyramid: argument 'img' must be a non-empty H x W[ x 1|3] image, got {g.shape}")
    n = _levels(levels, g.shape[0], g.shape[1], "gaussian_pyramid")
    pyr = [g]
    for _ in range(n - 1):
        g = cv2.pyrDown(g).reshape(((g.shape[0] + 1) // 2, (g.shape[1] + 1) // 2) + g.shape[2:])
        pyr.append(g)
    return pyr


def _up(img: np.ndarray, like: np.ndarray) -> np.ndarray:
    up = cv2.pyrUp(img, dstsize=(like.shape[1], like.shape[0]))
    return up.reshape(like.shape)


def laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """Band-pass levels ``G_k - pyrUp(G_{k+1})`` plus the coarsest Gaussian level."""
    g = gaussian_pyramid(img, levels)
    return [g[k] - _up(g[k + 1], g[k]) for k in range(len(g) - 1)] + [g[-1]]


def blend_laplacian(dst: np.ndarray, src: np.ndarray, mask: np.ndarray, levels: int = 5) -> np.ndarray:
    """Multi-band blend of ``src`` over ``dst`` under ``mask`` (1 = src).

    dst, src: uint8 or float32, H x W, H x W x 1 or H x W x 3, same shape and dtype.
    mask: H x W float32 in [0, 1] (uint8 0..255 is scaled, bool/float64 cast); values
        outside [0, 1] are clamped, NaN/inf raise ValueError.
    levels: number of bands (>= 1), clamped to ``max_levels(H, W)``.
    Returns dst's shape and dtype (uint8: rounded half away from zero, saturated).
    """
    dst = np.asarray(dst)
    src = np.asarray(src)
    mask = np.asarray(mask)
    if dst.dtype not in (np.uint8, np.float32):
        raise TypeError(f"blend_laplacian: argument 'dst' must be uint8 or float32, got {dst.dtype}")
    if src.dtype != dst.dtype:
        raise TypeError(f"blend_laplacian: argument 'src' must have dst's dtype {dst.dtype}, got {src.dtype}")
    if dst.ndim not in (2, 3) or (dst.ndim == 3 and dst.shape[2] not in (1, 3)):
        raise ValueError(f"blend_laplacian: argument 'dst' must be H x W, H x W x 1 or H x W x 3, got {dst.shape}")
    if dst.size == 0:
        raise ValueError(f"blend_laplacian: argument 'dst' must not be empty, got {dst.shape}")
    if src.shape != dst.shape:
        raise ValueError(f"blend_laplacian: argument 'src' must have dst's shape {dst.shape}, got {src.shape}")
    if mask.dtype == np.uint8:
        mask = mask.astype(np.float32) / np.float32(255.0)
    mask = mask.astype(np.float32)
    if mask.shape != dst.shape[:2]:
        raise ValueError(f"blend_laplacian: argument 'mask' must be H x W {dst.shape[:2]}, got {mask.shape}")
    if not np.isfinite(mask).all():
        raise ValueError("blend_laplacian: argument 'mask' must be finite (no NaN or inf)")
    mask = np.clip(mask, 0.0, 1.0)  # an alpha: values outside [0, 1] are clamped
    h, w = dst.shape[:2]
    n = _levels(levels, h, w)

    # Work on H x W (1 channel) or H x W x 3 float32 images.
    shape2 = dst.shape[:2] if dst.ndim == 2 or dst.shape[2] == 1 else dst.shape
    d = dst.astype(np.float32).reshape(shape2)
    s = src.astype(np.float32).reshape(shape2)
    lap_d = laplacian_pyramid(d, n)
    lap_s = laplacian_pyramid(s, n)
    gm = gaussian_pyramid(mask, n)

    bands = []
    for ld, ls, m in zip(lap_d, lap_s, gm):
        m = m.reshape(m.shape[:2] + (1,) * (ld.ndim - 2))
        bands.append(ls * m + ld * (1.0 - m))

    out = bands[-1]
    for band in reversed(bands[:-1]):
        out = _up(out, band) + band

    out = out.reshape(dst.shape)
    if dst.dtype == np.uint8:
        return np.floor(np.clip(out, 0.0, 255.0) + 0.5).astype(np.uint8)
    return out.astype(np.float32)
