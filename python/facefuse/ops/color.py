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

from ._common import as_mask, as_ndarray, native, require_host

__all__ = ["bgr_to_lab", "lab_to_bgr", "color_transfer"]


def bgr_to_lab(img: Any) -> np.ndarray:
    """BGR image -> CIELAB (D65), as ``cv2.cvtColor(img, cv2.COLOR_BGR2Lab)`` on float32.

    Args:
        img: H x W x 3 BGR, float32 in [0, 1] (values outside are clipped, as cv2
            does) or uint8 (meaning value / 255; the result equals cv2 on
            ``img.astype(np.float32) / 255``).

    Returns:
        float32 H x W x 3: L in [0, 100], a and b in about [-128, 127].
    """
    require_host("bgr_to_lab", img=img)
    return native().bgr_to_lab(as_ndarray("bgr_to_lab", "img", img))


def lab_to_bgr(lab: Any) -> np.ndarray:
    """CIELAB (D65) -> BGR, as ``cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)`` on float32.

    Args:
        lab: float32 H x W x 3 (L, a, b); any finite values (out-of-gamut colours
            are clipped in linear RGB, as cv2 does).

    Returns:
        float32 H x W x 3 BGR in [0, 1].
    """
    require_host("lab_to_bgr", lab=lab)
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

    Args:
        src: H x W x 3 BGR, uint8 or float32 on the 0..255 scale.
        ref: H' x W' x 3 BGR of the same dtype (any size).
        src_mask: None (all pixels, weight 1) or H x W weights: float32 in [0, 1],
            uint8 0..255 (scaled by 1/255) or bool. Must not be all zero.
        ref_mask: None or H' x W' weights, as ``src_mask``.
        strength: in [0, 1]; 0 returns src, 1 the full transfer.

    Returns:
        Same dtype and shape as src. uint8: rounded and saturated. float32:
        clipped to [0, 255] (so with strength 0 a float src comes back clipped).

    Raises:
        TypeError: wrong dtype (src / ref / masks), or GPU arrays.
        ValueError: wrong shape, empty image, NaN / inf, mask weights outside [0, 1],
            an all-zero mask, strength outside [0, 1].
    """
    fn = "color_transfer"
    require_host(fn, src=src, ref=ref, src_mask=src_mask, ref_mask=ref_mask)
    src = as_ndarray(fn, "src", src)
    ref = as_ndarray(fn, "ref", ref)
    sm = None if src_mask is None else as_mask(fn, "src_mask", src_mask)
    rm = None if ref_mask is None else as_mask(fn, "ref_mask", ref_mask)
    return native().color_transfer(src, ref, sm, rm, strength)
