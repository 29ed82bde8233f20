"""Colour ops: CIELAB conversion and Reinhard colour transfer.

``bgr_to_lab`` / ``lab_to_bgr`` reproduce ``cv2.cvtColor(img, cv2.COLOR_BGR2Lab)`` /
``COLOR_Lab2BGR`` on float32 images (D65 white, L in [0, 100]); the forward
conversion is bit-identical to OpenCV's (which interpolates a 33^3 table rather
than evaluating the textbook formula per pixel), the inverse agrees to ~1e-6.

``color_transfer`` is the Reinhard et al. (2001) mean / standard-deviation transfer
in LAB that face-swap pipelines use to match a generated face to the target
frame, with optional masks weighting the statistics.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _gpu
from ._common import as_mask, as_ndarray, native, on_device
from ._device import check_device_finite

__all__ = ["bgr_to_lab", "lab_to_bgr", "color_transfer"]


def bgr_to_lab(img: Any) -> np.ndarray:
    """BGR image -> CIELAB (D65), as ``cv2.cvtColor(img, cv2.COLOR_BGR2Lab)`` on float32.

    Args:
        img: H x W x 3 BGR, float32 in [0, 1] (values outside are clipped, as cv2
            does) or uint8 (meaning value / 255; the result equals cv2 on
            ``img.astype(np.float32) / 255``); or a batch N x H x W x 3. A CuPy
            array runs on the GPU (bit-identical result, as a CuPy array).

    Returns:
        float32 H x W x 3: L in [0, 100], a and b in about [-128, 127].
    """
    if on_device("bgr_to_lab", img=img):
        check_device_finite("bgr_to_lab", img=img)
        return _gpu.bgr_to_lab(img)
    return native().bgr_to_lab(as_ndarray("bgr_to_lab", "img", img))


def lab_to_bgr(lab: Any) -> np.ndarray:
    """CIELAB (D65) -> BGR, as ``cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)`` on float32.

    Args:
        lab: float32 H x W x 3 (L, a, b) or N x H x W x 3; any finite values
            (out-of-gamut colours are clipped in linear RGB, as cv2 does). A CuPy
            array runs on the GPU.

    Returns:
        float32 H x W x 3 BGR in [0, 1].
    """
    if on_device("lab_to_bgr", lab=lab):
        check_device_finite("lab_to_bgr", lab=lab)
        return _gpu.lab_to_bgr(lab)
    return native().lab_to_bgr(as_ndarray("lab_to_bgr", "lab", lab))


def color_transfer(
    src: Any,
    ref: Any,
    src_mask: Optional[Any] = None,
    ref_mask: Optional[Any] = None,
    strength: float = 1.0,
) -> np.ndarray:
    """Reinhard colour transfer: give ``src`` the LAB mean and std of ``ref``.

    Both images go to LAB (via value / 255, see ``bgr_to_lab``); per channel the
    weighted mean and population std of src under ``src_mask`` and of ref under
    ``ref_mask`` are taken (in double precision), and every src pixel becomes
    ``(lab - mu_s) * sigma_r / max(sigma_s, 1e-6) + mu_r``, goes back to BGR
    (0..255) and is blended with src: ``src * (1 - strength) + result * strength``.

    The masks only weight the statistics: the whole of src is transformed (blend
    with a mask yourself, e.g. facefuse's Laplacian blend, to restrict the change).

    NumPy arrays run on the CPU core; CuPy arrays (``__cuda_array_interface__``)
    on the GPU (batched: one launch sequence for the stack; the statistics are a
    parallel reduction), returning a CuPy array. The GPU does not check mask
    ranges, NaN or all-zero masks (no host round trip): an item whose mask sums
    to 0 comes back as src.

    Args:
        src: H x W x 3 BGR, uint8 or float32 on the 0..255 scale, or a batch
            N x H x W x 3 (each image gets its own statistics).
        ref: H' x W' x 3 BGR of the same dtype (any size), or N x H' x W' x 3
            (one reference per image of a batch).
        src_mask: None (all pixels, weight 1) or H x W (N x H x W) weights: float32 in [0, 1],
            uint8 0..255 (scaled by 1/255) or bool. Must not be all zero.
        ref_mask: None or H' x W' weights, as ``src_mask``.
        strength: in [0, 1]; 0 returns src, 1 the full transfer.

    Returns:
        Same dtype and shape as src. uint8: rounded and saturated. float32:
        clipped to [0, 255] (so with strength 0 a float src comes back clipped).

    Raises:
        TypeError: wrong dtype (src / ref / masks), mixed host / GPU arrays.
        ValueError: wrong shape, empty image, NaN / inf, mask weights outside [0, 1],
            an all-zero mask, strength outside [0, 1].
    """
    fn = "color_transfer"
    if on_device(fn, src=src, ref=ref, src_mask=src_mask, ref_mask=ref_mask):
        check_device_finite(fn, unit=("src_mask", "ref_mask"), src=src, ref=ref, src_mask=src_mask, ref_mask=ref_mask)
        return _gpu.color_transfer(src, ref, src_mask, ref_mask, strength)
    s, r = as_ndarray(fn, "src", src), as_ndarray(fn, "ref", ref)
    sm = None if src_mask is None else as_mask(fn, "src_mask", src_mask)
    rm = None if ref_mask is None else as_mask(fn, "ref_mask", ref_mask)
    return native().color_transfer(s, r, sm, rm, strength)
