"""Reference paste-back, written the way FaceFusion 3.x pastes a swapped face
back (``face_helper.paste_back`` / ``calculate_paste_area``): invert the
alignment matrix, map the crop's corners into the frame to get the paste box,
cv2.warpAffine the crop (BORDER_REPLICATE) and its mask (constant 0, then
clip(0, 1)) into the box, blend in float and cast back.

The oracle of ``facefuse.ops.paste_back`` and its benchmark baseline.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import cv2
import numpy as np

from .color import color_transfer
from .pyramid import blend_laplacian

__all__ = ["paste_back", "warp_affine"]

_BLENDS = ("alpha", "laplacian", "poisson")


def warp_affine(img: Any, M: Any, dsize: tuple[int, int], border: str = "constant") -> np.ndarray:
    """``cv2.warpAffine(img, M, dsize, flags=INTER_LINEAR)`` with border 'constant' (0) or 'replicate'."""
    if border not in ("constant", "replicate"):
        raise ValueError(f"warp_affine: argument 'border' must be 'constant' or 'replicate', got {border!r}")
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    img = np.asarray(img)
    out = cv2.warpAffine(img, np.asarray(M), tuple(int(v) for v in dsize), flags=cv2.INTER_LINEAR, borderMode=mode)
    return out.reshape(out.shape[:2] + img.shape[2:])


def _mask(m: Any) -> np.ndarray:
    m = np.asarray(m)
    if m.dtype == np.uint8:
        return m.astype(np.float32) * np.float32(1.0 / 255.0)
    return m.astype(np.float32)


def calculate_paste_area(frame: np.ndarray, crop: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FaceFusion's paste box ``[x1, y1, x2, y2]`` and the crop -> box matrix."""
    frame_h, frame_w = frame.shape[:2]
    crop_h, crop_w = crop.shape[:2]
    inverse_matrix = cv2.invertAffineTransform(affine)
    corners = np.array([[0, 0], [crop_w, 0], [crop_w, crop_h], [0, crop_h]], dtype=np.float64)
    m = inverse_matrix.astype(np.float64)
    px = corners[:, 0] * m[0, 0] + corners[:, 1] * m[0, 1] + m[0, 2]
    py = corners[:, 0] * m[1, 0] + corners[:, 1] * m[1, 1] + m[1, 2]
    x1, y1 = np.clip(np.floor([px.min(), py.min()]), 0, [frame_w, frame_h]).astype(int)
    x2, y2 = np.clip(np.ceil([px.max(), py.max()]), 0, [frame_w, frame_h]).astype(int)
    paste_matrix = inverse_matrix.copy()
    paste_matrix[0, 2] -= x1
    paste_matrix[1, 2] -= y1
    return np.array([x1, y1, x2, y2]), paste_matrix


def _paste_one(frame: np.ndarray, crop: np.ndarray, crop_mask: np.ndarray, affine: np.ndarray, blend: str,
               color: Optional[str], levels: int) -> np.ndarray:
    (x1, y1, x2, y2), paste_matrix = calculate_paste_area(frame, crop, affine)
    if x2 <= x1 or y2 <= y1:
        return frame
    size = (int(x2 - x1), int(y2 - y1))
    inverse_mask = cv2.warpAffine(crop_mask, paste_matrix, size).clip(0, 1)
    inverse_frame = cv2.warpAffine(crop, paste_matrix, size, borderMode=cv2.BORDER_REPLICATE)
    inverse_mask = inverse_mask.reshape(size[1], size[0])
    inverse_frame = inverse_frame.reshape(size[1], size[0], 3)
    region = frame[y1:y2, x1:x2]
    if color == "lab" and inverse_mask.sum() > 0:
        inverse_frame = color_transfer(inverse_frame, region, inverse_mask, inverse_mask)
    if blend == "laplacian":
        pasted = blend_laplacian(region, inverse_frame, inverse_mask, levels)
    elif blend == "poisson":
        from .poisson import blend_poisson  # type: ignore[attr-defined]

        pasted = blend_poisson(region, inverse_frame, inverse_mask)
    else:
        m = np.expand_dims(inverse_mask, axis=-1)
        pasted = region * (1 - m) + inverse_frame * m
    frame[y1:y2, x1:x2] = pasted.astype(frame.dtype)
    return frame


def _as_list(x: Any, item_ndim: int) -> list[np.ndarray]:
    if isinstance(x, (list, tuple)):
        return [np.asarray(v) for v in x]
    x = np.asarray(x)
    return [x] if x.ndim == item_ndim else list(x)


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
    """FaceFusion-style paste-back of one face or a batch (applied in order); see facefuse.ops.paste_back."""
    if blend not in _BLENDS:
        raise ValueError(f"paste_back: argument 'blend' must be one of {_BLENDS}, got {blend!r}")
    if color not in (None, "lab"):
        raise ValueError(f"paste_back: argument 'color' must be None or 'lab', got {color!r}")
    if int(levels) < 1:
        raise ValueError(f"paste_back: argument 'levels' must be >= 1, got {levels}")
    crops = _as_list(crop, 3)
    masks = _as_list(crop_mask, 2)
    affines = _as_list(affine, 2)
    if len(masks) != len(crops):
        raise ValueError("paste_back: argument 'crop_mask' must give one mask per crop")
    if len(affines) != len(crops):
        raise ValueError("paste_back: argument 'affine' must give one matrix per crop")
    result = np.array(frame, copy=True)
    for c, m, a in zip(crops, masks, affines):
        if not np.isfinite(a).all() or abs(np.linalg.det(np.asarray(a, np.float64)[:, :2])) == 0:
            raise ValueError("paste_back: argument 'affine' must be finite and invertible")
        result = _paste_one(result, c, _mask(m), a, blend, color, levels)
    if out is not None:
        out[...] = result
        return out
    return result
