"""Fused paste-back of swapped / generated face crops into the frame.

``paste_back`` is the last step of every face-swap / lip-sync pipeline: the
processed crop was cut out with an alignment warp (``affine``: frame -> crop, as
FaceFusion's ``warp_face_by_face_landmark_5``), and goes back through the
inverse warp, blended under its mask. It does what FaceFusion 3.x's
``paste_back`` does (warp the crop and mask into the paste box, float alpha
blend) in one native pass over the paste box only; optional multi-band
(Laplacian) or Poisson blending and LAB colour matching of the crop to the frame.

The bilinear warp is facefuse's own, defined operation by operation in
``facefuse.reference.paste`` (the tests' exact oracle) and kept whatever OpenCV
is installed. It is OpenCV 5.0's float arithmetic, applied to every column; how
far each OpenCV release is from it: ``facefuse.reference.paste.cv2_tolerance``
and docs/warp-semantics.md.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np

from ._common import as_mask, as_ndarray, native, require_host

__all__ = ["paste_back", "warp_affine"]


def warp_affine(img: Any, M: Any, dsize: tuple[int, int], border: str = "constant") -> np.ndarray:
    """Bilinear affine warp with ``cv2.warpAffine(img, M, dsize, flags=cv2.INTER_LINEAR)``'s
    arguments, natively.

    Semantics (``facefuse.reference.paste`` spells them out): ``M`` inverted in
    float64 and rounded to float32; source position ``fma(K0, x, y*K1 + K2)`` in
    float32; floor and exact fractions; edge pixels or 0 outside the image;
    bilinear interpolation with float32 fmas; uint8 rounded half to even.
    Bit-equal to that reference on every machine. Versus cv2.warpAffine: at most
    1 grey level apart on OpenCV 5.0 / 5.1 (float32: 0.01) for 1, 3 or 4
    channels; at most 9 on OpenCV 4.x (which quantises positions to 1/32 px) and
    for 2-channel images on any version.

    Args:
        img: H x W or H x W x C (C in 1..4), uint8 or float32.
        M: 2 x 3 forward (src -> dst) matrix, float32 or float64, finite, invertible.
        dsize: (width, height) of the output.
        border: 'constant' (0 outside) or 'replicate' (edge pixels).

    Returns:
        dsize[1] x dsize[0] (x C), img's dtype.
    """
    require_host("warp_affine", img=img, M=M)
    return native().warp_affine(as_ndarray("warp_affine", "img", img), as_ndarray("warp_affine", "M", M), dsize, border)


def _masks(fn: str, crop_mask: Any) -> Any:
    if isinstance(crop_mask, (list, tuple)):
        return [as_mask(fn, "crop_mask", m) for m in crop_mask]
    return as_mask(fn, "crop_mask", crop_mask)


def _arrays(fn: str, name: str, x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [as_ndarray(fn, name, v) for v in x]
    return as_ndarray(fn, name, x)


def paste_back(
    frame: Any,
    crop: Union[Any, Sequence[Any]],
    crop_mask: Union[Any, Sequence[Any]],
    affine: Union[Any, Sequence[Any]],
    blend: str = "alpha",
    color: Optional[str] = None,
    levels: int = 5,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Paste warped face crops back into a frame (FaceFusion's ``paste_back``, fused).

    For each face: the crop -> frame inverse of ``affine`` (float64; float32 for a
    float32 affine, as cv2.invertAffineTransform) maps the crop's corners (0, 0),
    (w, 0), (w, h), (0, h) into the frame; the paste box is floor(min) / ceil(max)
    of them, clipped to the frame (an empty box leaves the frame unchanged). Each
    box pixel is mapped into the crop and sampled with :func:`warp_affine`'s
    bilinear semantics (crop borders replicated and stored in the frame's dtype;
    the mask's values clipped to [0, 1], 0 outside, the sample clipped again),
    then blended where the mask is > 0.

    Args:
        frame: H x W x 3 BGR, uint8 or float32 (0..255 scale). Never modified
            unless passed as ``out``.
        crop: h x w x 3 crop of frame's dtype, or a batch: [K, h, w, 3] array or a
            list of K crops (sizes may differ); faces are pasted in order.
        crop_mask: h x w weights per crop (float32 0..1; uint8 0..255, bool and
            float64 are converted), [K, h, w] or a list.
        affine: 2 x 3 frame -> crop matrix (float32/float64, finite, invertible),
            [K, 2, 3] or a list.
        blend: 'alpha' (frame * (1 - m) + warped * m per pixel, one fused pass),
            'laplacian' (multi-band blend of the box, ``levels`` bands) or
            'poisson' (``facefuse.ops.blend_poisson`` of the box, default tol / max_iter).
        color: None, or 'lab' to give the warped crop the LAB mean / std of the
            frame's box, both measured under the warped mask.
        levels: bands of the Laplacian blend (>= 1).
        out: optional C-contiguous writable array of frame's shape and dtype to
            write into (may be ``frame`` itself for in-place paste).

    Returns:
        The pasted frame (``out`` when given). alpha: ``frame * (1 - m) + warped * m``
        in float32; uint8 rounded half up (FaceFusion truncates). Bit-equal to
        ``facefuse.reference.paste.paste_back``. Versus FaceFusion's own paste-back
        (cv2.warpAffine + truncation), with its feathered masks: at most 2 grey
        levels on OpenCV 5.0 / 5.1, at most 10 on OpenCV 4.x.

    Raises:
        TypeError: wrong dtypes, GPU arrays.
        ValueError: wrong shapes, NaN / inf, a singular affine, bad blend / color /
            levels, mismatched batch lengths.
    """
    fn = "paste_back"
    require_host(fn, frame=frame, out=out)
    frame = as_ndarray(fn, "frame", frame)
    masks = _masks(fn, crop_mask)
    crops = _arrays(fn, "crop", crop)
    affs = _arrays(fn, "affine", affine)
    return native().paste_back(frame, crops, masks, affs, blend, color, levels, out)
