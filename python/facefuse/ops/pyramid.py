"""Multi-band (Laplacian-pyramid) blending on the native core.

``blend_laplacian`` blends a source frame over a destination frame band by band
(Burt & Adelson): Gaussian pyramid of the mask, Laplacian pyramids of the frames
(cv2.pyrDown / cv2.pyrUp semantics: 5-tap [1, 4, 6, 4, 1] / 16 filter,
reflect-101 borders), each band blended as ``L_src * m + L_dst * (1 - m)`` and the
pyramid collapsed. Seams vanish at every scale while detail stays sharp.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import _gpu
from ._common import as_mask, as_ndarray, native, on_device, require_host
from ._device import check_device_finite

__all__ = ["blend_laplacian", "gaussian_pyramid", "laplacian_pyramid", "max_levels"]


def max_levels(h: int, w: int) -> int:
    """Most pyramid levels an ``h x w`` image holds.

    Levels are added by halving (rounding up, as cv2.pyrDown) while the current
    level is at least 2 px in both dimensions: 1 x N -> 1, 2 x 2 -> 2,
    512 x 512 -> 10, 1080 x 1920 -> 12. ``blend_laplacian`` clamps ``levels`` to it.
    """
    return native().max_levels(h, w)


def _image(fn: str, img: Any) -> np.ndarray:
    a = as_ndarray(fn, "img", img)
    if a.dtype in (np.uint8, np.float64):
        a = a.astype(np.float32)
    return a


def gaussian_pyramid(img: Any, levels: int) -> list[np.ndarray]:
    """``[img, pyrDown(img), ...]`` as float32 (cv2.pyrDown semantics), native.

    Args:
        img: H x W, H x W x 1 or H x W x 3; float32 (uint8 and float64 are converted).
        levels: number of levels, an int >= 1, clamped to ``max_levels(H, W)``.

    Returns:
        ``min(levels, max_levels(H, W))`` float32 arrays; level k+1 has shape
        ``((h + 1) // 2, (w + 1) // 2[, C])`` of level k. Level 0 is a float32 copy.
    """
    return _gaussian("gaussian_pyramid", img, levels)


def _gaussian(fn: str, img: Any, levels: Any) -> list[np.ndarray]:
    require_host(fn, img=img)
    return list(native().gaussian_pyramid(_image(fn, img), levels, fn))


def laplacian_pyramid(img: Any, levels: int) -> list[np.ndarray]:
    """Band-pass levels ``G_k - pyrUp(G_{k+1})`` plus the coarsest Gaussian level (float32).

    Same arguments as :func:`gaussian_pyramid`; collapsing (``pyrUp`` and add from the
    coarsest level) gives the image back.
    """
    core = native()
    g = _gaussian("laplacian_pyramid", img, levels)
    bands = [g[k] - core.pyr_up(g[k + 1], g[k].shape[0], g[k].shape[1]) for k in range(len(g) - 1)]
    return bands + [g[-1]]


def blend_laplacian(dst: Any, src: Any, mask: Any, levels: int = 5) -> Any:
    """Multi-band blend of ``src`` over ``dst`` under ``mask`` (1 = src, 0 = dst).

    NumPy arrays run on the CPU core; CuPy arrays (anything with
    ``__cuda_array_interface__``) on the GPU, returning a CuPy array on the same
    device and stream, equal to the CPU result.

    Args:
        dst: uint8 or float32 frame, H x W, H x W x 1 or H x W x 3 (BGR), or a
            batch N x H x W x C (C = 1 or 3).
        src: same shape and dtype as ``dst``.
        mask: H x W (N x H x W for a batch); float32 in [0, 1], uint8 0..255
            (scaled by 1/255), bool or float64. Values outside [0, 1] are
            clamped. NaN / inf in any input raise ValueError (on the GPU only with
            ``facefuse.set_device_checks(True)``: the check costs a host sync).
        levels: number of bands, an int >= 1 (1 = a plain per-pixel alpha blend,
            5 = four downsamplings); clamped to ``max_levels(H, W)``.

    Returns:
        A new array with ``dst``'s shape and dtype. uint8 results are rounded half
        away from zero and saturated; float32 results are not clamped.

    Raises:
        TypeError: wrong dtypes, mixed host / GPU arrays, non-integer ``levels``.
        ValueError: wrong shapes, empty frames, NaN / inf, ``levels < 1``.
    """
    fn = "blend_laplacian"
    if on_device(fn, dst=dst, src=src, mask=mask):
        check_device_finite(fn, dst=dst, src=src, mask=mask)
        return _gpu.blend_laplacian(dst, src, mask, levels)
    return native().blend_laplacian(as_ndarray(fn, "dst", dst), as_ndarray(fn, "src", src), as_mask(fn, "mask", mask),
                                    levels)
