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

from . import _gpu
from ._common import as_mask, as_ndarray, native, on_device
from ._device import check_device_finite, is_device_array

__all__ = ["paste_back", "warp_affine"]


def _host_matrix(fn: str, name: str, m: Any) -> Any:
    """Geometry stays on the host: a device matrix (or list of them) is copied there."""
    if isinstance(m, (list, tuple)):
        return [_host_matrix(fn, name, v) for v in m]
    if is_device_array(m):
        return _gpu.to_host(fn, name, m)
    return m


def warp_affine(img: Any, M: Any, dsize: tuple[int, int], border: str = "constant") -> Any:
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

    NumPy ``img`` runs on the CPU core; a CuPy ``img`` (anything with
    ``__cuda_array_interface__``) on the GPU, bit-equal to the CPU, returning a
    CuPy array on the current stream (``M`` may then be a host or a device array:
    it is geometry, inverted on the host).

    Args:
        img: H x W or H x W x C (C in 1..4), uint8 or float32.
        M: 2 x 3 forward (src -> dst) matrix, float32 or float64, finite, invertible;
            or a K x 2 x 3 batch: K warps of the same image (one launch on the GPU).
        dsize: (width, height) of the output.
        border: 'constant' (0 outside) or 'replicate' (edge pixels).

    Returns:
        dsize[1] x dsize[0] (x C), img's dtype; K x dsize[1] x dsize[0] (x C) for a batch of M.
    """
    fn = "warp_affine"
    if is_device_array(img):
        check_device_finite(fn, img=img)
        return _gpu.warp_affine(img, _host_matrix(fn, "M", M), dsize, border)
    on_device(fn, img=img, M=M)  # a device M with a host image: TypeError naming both
    return native().warp_affine(as_ndarray(fn, "img", img), as_ndarray(fn, "M", M), dsize, border)


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
    out: Optional[Any] = None,
    *,
    frame_index: Optional[Sequence[int]] = None,
) -> Any:
    """Paste warped face crops back into a frame (FaceFusion's ``paste_back``, fused).

    For each face: the crop -> frame inverse of ``affine`` (float64; float32 for a
    float32 affine, as cv2.invertAffineTransform) maps the crop's corners (0, 0),
    (w, 0), (w, h), (0, h) into the frame; the paste box is floor(min) / ceil(max)
    of them, clipped to the frame (an empty box leaves the frame unchanged). Each
    box pixel is mapped into the crop and sampled with :func:`warp_affine`'s
    bilinear semantics (crop borders replicated and stored in the frame's dtype;
    the mask's values clipped to [0, 1], 0 outside, the sample clipped again),
    then blended where the mask is > 0.

    NumPy arrays run on the CPU core. With ``frame``, ``crop``, ``crop_mask`` (and
    ``out``) CuPy arrays (anything with ``__cuda_array_interface__``) it runs on
    the GPU on the current stream and returns a CuPy array: 'alpha' in one launch
    for all faces, bit-equal to the CPU; 'laplacian' / 'lab' per face with the GPU
    pyramid and colour kernels (laplacian bit-equal; lab within 1 grey level, its
    statistics being summed in another order). ``affine`` is geometry: host
    arrays (device ones are copied to the host). No GPU Poisson paste.

    Args:
        frame: H x W x 3 BGR, uint8 or float32 (0..255 scale); or N x H x W x 3
            frames with ``frame_index``. Never modified unless passed as ``out``.
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
        frame_index: with N x H x W x 3 frames, the frame (0..N-1) each face goes
            into, K ints; faces are pasted in order, each into its frame (a face
            sees what earlier faces left in its frame).

    Returns:
        The pasted frame (``out`` when given). alpha: ``frame * (1 - m) + warped * m``
        in float32; uint8 rounded half up (FaceFusion truncates). Bit-equal to
        ``facefuse.reference.paste.paste_back``. Versus FaceFusion's own paste-back
        (cv2.warpAffine + truncation), with its feathered masks: at most 2 grey
        levels on OpenCV 5.0 / 5.1, at most 10 on OpenCV 4.x.

    Raises:
        TypeError: wrong dtypes, mixed host / GPU arrays, blend='poisson' with GPU arrays.
        ValueError: wrong shapes, NaN / inf (on the GPU only with
            ``facefuse.set_device_checks(True)``), a singular affine, bad blend /
            color / levels / frame_index, mismatched batch lengths.
    """
    fn = "paste_back"
    if on_device(fn, frame=frame, crop=_one(fn, "crop", crop), crop_mask=_one(fn, "crop_mask", crop_mask), out=out):
        if isinstance(blend, str) and blend == "poisson":
            raise TypeError(f"{fn}: argument 'blend' must be 'alpha' or 'laplacian' for GPU arrays, got 'poisson' "
                            "(there is no GPU Poisson paste: pass host arrays, or blend='laplacian')")
        items = {"frame": frame, **_named("crop", crop), **_named("crop_mask", crop_mask)}
        check_device_finite(fn, **items)  # masks may leave [0, 1]: they are clipped
        return _gpu.paste_back(frame, crop, crop_mask, _host_matrix(fn, "affine", affine), blend, color, levels,
                               out, frame_index)
    on_device(fn, frame=frame, affine=_one(fn, "affine", affine))  # a device affine with a host frame: TypeError
    frame = as_ndarray(fn, "frame", frame)
    masks = _masks(fn, crop_mask)
    crops = _arrays(fn, "crop", crop)
    affs = _arrays(fn, "affine", affine)
    return native().paste_back(frame, crops, masks, affs, blend, color, levels, out, frame_index)


def _one(fn: str, name: str, x: Any) -> Any:
    """A list argument's representative for the host / device dispatch (TypeError when its
    items are on both sides)."""
    if not isinstance(x, (list, tuple)) or not x:
        return x
    dev = [is_device_array(v) for v in x]
    if any(dev) and not all(dev):
        raise TypeError(f"{fn}: argument '{name}' holds both GPU and host arrays; pass all on the GPU or all on "
                        "the host")
    return x[0]


def _named(name: str, x: Any) -> dict[str, Any]:
    if isinstance(x, (list, tuple)):
        return {f"{name}[{i}]": v for i, v in enumerate(x)}
    return {name: x}
