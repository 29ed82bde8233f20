"""Reference paste family: facefuse's own warp semantics in NumPy, and the
FaceFusion-style paste-back built on it.

``warp_affine`` and ``paste_back`` here are the exact oracle of
``facefuse.ops.warp_affine`` / ``paste_back`` (alpha blend: bit-equal; the
Laplacian and LAB modes go through the pyramid / colour references, which have
tolerances of their own). They spell out, operation by operation, the
semantics the native kernels keep whatever OpenCV is installed:

1. Matrix. ``M`` (src -> dst) is inverted in float64 (``d = 1 / (m0 m4 - m1 m3)``,
   ``A = [[m4 d, -m1 d], [-m3 d, m0 d]]``, ``b = -A t``) and the inverse ``K`` is
   rounded to float32.
2. Sampling position of destination pixel (x, y), all in float32:
   ``rx = y * K1 + K2`` (two roundings), ``sx = fma(K0, x, rx)`` (one rounding,
   IEEE fused multiply-add), likewise ``sy`` with ``K3 K4 K5``. Every column
   uses the same formula.
3. Cell and weights: ``ix = floor(sx)`` (``sx`` first clamped to +-2**24),
   ``ax = sx - ix`` (exact), likewise y. No quantisation of the weights.
4. Neighbours ``p00 p01 p10 p11`` (at ix / ix+1, iy / iy+1) read as float32;
   outside the source: the nearest edge pixel (``border='replicate'``) or 0
   (``'constant'``).
5. Bilinear: ``v0 = fma(ax, p01 - p00, p00)``, ``v1 = fma(ax, p11 - p10, p10)``,
   ``v = fma(ay, v1 - v0, v0)``.
6. Store: uint8 ``rint(clip(v, 0, 255))`` (half to even); float32 ``v``.

This is what cv2.warpAffine (INTER_LINEAR) computes in OpenCV 5.0 in the
columns its AVX2 kernel vectorises; OpenCV 4.x quantises positions to 1/32 px
with fixed-point weights, 5.1 rounds positions slightly differently, and 5.0
computes each row's last ``width % 16`` columns with another rounding. The
differences measured on each version are in ``docs/warp-semantics.md``;
:func:`cv2_tolerance` gives the bounds facefuse states and tests.

Paste-back (FaceFusion 3.x's ``face_helper.paste_back`` layout): the crop's
corners (0, 0), (w, 0), (w, h), (0, h) go through the inverse of ``affine``; the
paste box is floor(min) / ceil(max) of them, clipped to the frame. The crop
(replicated border) and its mask (clipped to [0, 1], 0 border, the sample clipped
to [0, 1] again) are sampled
with the matrix ``K`` of the crop -> box warp, and blended where the mask is
> 0: ``frame * (1 - m) + warped * m`` in float32 (two products, one sum, no
fma); uint8 frames get ``clip`` to [0, 255], ``+ 0.5`` in float32 and truncation.

``warp="cv2"`` makes :func:`paste_back` warp with the installed cv2.warpAffine
instead (FaceFusion's way, what users run today): the benchmarks' baseline.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np

from .color import color_transfer
from .pyramid import blend_laplacian

__all__ = ["paste_back", "warp_affine"]  # the ops; the helpers below are imported by name

_BLENDS = ("alpha", "laplacian", "poisson")
_COORD_LIMIT = np.float32(2.0**24)
_F32 = np.float32


# Largest |facefuse - OpenCV| stated and tested, by OpenCV major version (values on
# the 0..255 scale; docs/warp-semantics.md has the derivation and the figures
# bench/cv2_tolerance.py measured on 4.8, 4.10, 4.12-4.14, 5.0 and 5.1):
# * "warp": ops.warp_affine vs cv2.warpAffine on any image. 4.x quantises source
#   positions to 1/32 px (error <= 1/64 + 1/1024 px per axis, times a neighbour
#   step of at most 255 per axis, plus one level of rounding: <= 9.5); 5.x
#   differs in float rounding of the positions only, except for 2-channel images,
#   which 5.x still warps with 4.x's fixed-point code.
# * "paste": ops.paste_back (alpha) vs FaceFusion's cv2 paste-back with a
#   feathered mask: the warp's bound plus FaceFusion's truncating astype.
_CV2_TOLERANCE = {
    ("warp", 4): {"uint8": 9.0, "float32": 8.5},
    ("warp", 5): {"uint8": 1.0, "float32": 0.01},
    ("paste", 4): {"uint8": 10.0, "float32": 9.0},
    ("paste", 5): {"uint8": 2.0, "float32": 0.02},
}


def cv2_tolerance(kind: str, dtype: Any, version: Optional[str] = None, channels: int = 3) -> float:
    """The stated bound of |facefuse - cv2| for ``kind`` 'warp' (warp_affine vs
    cv2.warpAffine) or 'paste' (paste_back vs FaceFusion's cv2 paste-back), for a
    uint8 / float32 image of ``channels`` channels and an OpenCV version (default:
    the installed cv2). Releases newer than 5.1 get 5.x's bound (``CI_LATEST=1``
    checks it)."""
    if version is None:
        import cv2

        version = cv2.__version__
    major = int(str(version).split(".")[0])
    if major < 4:
        raise ValueError(f"cv2_tolerance: OpenCV {version} is older than the supported 4.8")
    series = 4 if channels == 2 else min(major, 5)
    return _CV2_TOLERANCE[(kind, series)][np.dtype(dtype).name]


def fma_f32(a: Any, b: Any, c: Any) -> np.ndarray:
    """``a * b + c`` of float32 values rounded once to float32 (IEEE fusedMultiplyAdd).

    The product is exact in float64; the sum is rounded to float64 *to odd*
    (TwoSum gives the exact error, a nonzero error forces the last bit to 1),
    and a value rounded to odd with 53 >= 24 + 2 bits rounds correctly to float32.
    """
    a64 = np.asarray(a, np.float32).astype(np.float64)
    b64 = np.asarray(b, np.float32).astype(np.float64)
    c64 = np.asarray(c, np.float32).astype(np.float64)
    p = a64 * b64
    s = np.asarray(p + c64)
    bv = s - p
    err = (p - (s - bv)) + (c64 - bv)
    bits = s.view(np.int64)
    fix = (err != 0) & ((bits & 1) == 0)
    # one ulp toward the exact value: away from zero when err has s's sign
    step = np.where((err > 0) == (s > 0), 1, -1).astype(np.int64)
    bits = np.where(fix, bits + step, bits)
    return bits.view(np.float64).astype(np.float32)


def invert_affine(m: Any) -> np.ndarray:
    """The float64 inverse of a 2 x 3 affine, operation for operation as the native
    core (and cv2.invertAffineTransform) computes it. ValueError when singular."""
    m0, m1, m2, m3, m4, m5 = (float(v) for v in np.asarray(m, np.float64).reshape(6))
    d = m0 * m4 - m1 * m3
    if not (d != 0.0) or not np.isfinite(d):
        raise ValueError("argument 'affine' must be invertible (its 2 x 2 part is singular)")
    d = 1.0 / d
    a11, a22, a12, a21 = m4 * d, m0 * d, -m1 * d, -m3 * d
    inv = np.array([a11, a12, -a11 * m2 - a12 * m5, a21, a22, -a21 * m2 - a22 * m5])
    if not np.isfinite(inv).all():
        raise ValueError("argument 'affine' must be invertible (its inverse is not finite)")
    return inv.reshape(2, 3)


def _invert_affine_f32(m: np.ndarray) -> np.ndarray:
    """cv2.invertAffineTransform of a float32 matrix: the 2 x 2 part in float32,
    the translation in float64 from those floats, everything rounded to float32."""
    m0, m1, m3, m4 = (_F32(m[i]) for i in ((0, 0), (0, 1), (1, 0), (1, 1)))
    det = _F32(m0 * m4) - _F32(m1 * m3)
    if not (det != 0) or not np.isfinite(det):
        raise ValueError("argument 'affine' must be invertible (its 2 x 2 part is singular)")
    d = _F32(1) / det
    a11, a22, a12, a21 = m4 * d, m0 * d, -m1 * d, -m3 * d
    t0, t1 = float(m[0, 2]), float(m[1, 2])
    b1 = -float(a11) * t0 - float(a12) * t1
    b2 = -float(a21) * t0 - float(a22) * t1
    inv = np.array([a11, a12, _F32(b1), a21, a22, _F32(b2)], np.float64)
    if not np.isfinite(inv).all():
        raise ValueError("argument 'affine' must be invertible (its inverse is not finite)")
    return inv.reshape(2, 3)


def _split(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.clip(s, -_COORD_LIMIT, _COORD_LIMIT)
    i = np.floor(s)
    return i.astype(np.int64), (s - i).astype(np.float32)


def sample_bilinear(img: np.ndarray, k: np.ndarray, dsize: tuple[int, int], replicate: bool,
                    with_range: bool = False) -> Any:
    """Steps 2-5 of the module docstring: the float32 bilinear samples (before the
    store) of ``img`` (H x W x C) at the positions that the float32 dst -> src
    matrix ``k`` gives the ``dsize = (width, height)`` destination pixels.
    ``with_range``: also the max - min of each sample's 4 neighbours (a pair)."""
    k = np.asarray(k, np.float32).reshape(6)
    dw, dh = dsize
    h, w, c = img.shape
    x = np.arange(dw, dtype=np.float32)[None, :]
    y = np.arange(dh, dtype=np.float32)[:, None]
    rx = y * k[1] + k[2]
    ry = y * k[4] + k[5]
    ix, ax = _split(fma_f32(k[0], x, rx))
    iy, ay = _split(fma_f32(k[3], x, ry))
    src = img.astype(np.float32)

    def pixel(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        inside = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
        v = src[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
        return v if replicate else np.where(inside[..., None], v, _F32(0))

    p00, p01 = pixel(iy, ix), pixel(iy, ix + 1)
    p10, p11 = pixel(iy + 1, ix), pixel(iy + 1, ix + 1)
    ax, ay = ax[..., None], ay[..., None]
    v0 = fma_f32(ax, p01 - p00, p00)
    v1 = fma_f32(ax, p11 - p10, p10)
    v = fma_f32(ay, v1 - v0, v0)
    if not with_range:
        return v
    lo = np.minimum(np.minimum(p00, p01), np.minimum(p10, p11))
    hi = np.maximum(np.maximum(p00, p01), np.maximum(p10, p11))
    return v, hi - lo


def _store(v: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint8:
        return np.rint(np.clip(v, _F32(0), _F32(255))).astype(np.uint8)
    return v.astype(np.float32)


def warp_affine(img: Any, M: Any, dsize: tuple[int, int], border: str = "constant") -> np.ndarray:
    """facefuse's bilinear affine warp (module docstring, steps 1-6) in NumPy; the
    oracle of ``facefuse.ops.warp_affine``. ``M`` maps src -> dst, as cv2.warpAffine's;
    a K x 2 x 3 ``M`` gives the K warps stacked."""
    if border not in ("constant", "replicate"):
        raise ValueError(f"warp_affine: argument 'border' must be 'constant' or 'replicate', got {border!r}")
    img = np.asarray(img)
    if img.dtype not in (np.uint8, np.float32):
        raise TypeError(f"warp_affine: argument 'img' must be uint8 or float32, got {img.dtype}")
    m = np.asarray(M)
    if m.ndim == 3 and m.shape[1:] == (2, 3) and len(m):  # a batch: K warps of the same image
        return np.stack([warp_affine(img, mk, dsize, border) for mk in m])
    if m.shape != (2, 3) or not np.isfinite(m).all():
        raise ValueError("warp_affine: argument 'M' must be a finite 2 x 3 matrix")
    try:
        k = invert_affine(m).astype(np.float32)
    except ValueError as exc:
        raise ValueError(f"warp_affine: {exc}".replace("'affine'", "'M'")) from None
    dw, dh = (int(v) for v in dsize)
    src = img if img.ndim == 3 else img[..., None]
    out = _store(sample_bilinear(src, k, (dw, dh), border == "replicate"), img.dtype)
    return out if img.ndim == 3 else out[..., 0]


def paste_geometry(frame_shape: Sequence[int], crop_shape: Sequence[int],
                   affine: Any) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """The paste box ``(x0, y0, x1, y1)``, the crop -> box matrix (float64, what
    FaceFusion hands cv2.warpAffine) and the float32 box -> crop matrix ``K``.

    ``affine`` is the frame -> crop matrix; a float32 one is inverted in float32
    (as FaceFusion's cv2.invertAffineTransform does), a float64 one in float64.
    """
    a = np.asarray(affine)
    f32 = a.dtype == np.float32
    inv = (_invert_affine_f32(a) if f32 else invert_affine(a)).reshape(6)
    fh, fw = int(frame_shape[0]), int(frame_shape[1])
    ch, cw = float(crop_shape[0]), float(crop_shape[1])
    px = [inv[0] * cx + inv[1] * cy + inv[2] for cx, cy in ((0.0, 0.0), (cw, 0.0), (cw, ch), (0.0, ch))]
    py = [inv[3] * cx + inv[4] * cy + inv[5] for cx, cy in ((0.0, 0.0), (cw, 0.0), (cw, ch), (0.0, ch))]
    x0, x1 = (int(np.clip(f(v), 0, fw)) for f, v in ((np.floor, min(px)), (np.ceil, max(px))))
    y0, y1 = (int(np.clip(f(v), 0, fh)) for f, v in ((np.floor, min(py)), (np.ceil, max(py))))
    shifted = inv.copy()
    shifted[2] -= x0
    shifted[5] -= y0
    if f32:
        shifted[2], shifted[5] = _F32(shifted[2]), _F32(shifted[5])
    k = invert_affine(shifted).astype(np.float32)
    return (x0, y0, x1, y1), shifted.reshape(2, 3), k


def _mask(m: Any) -> np.ndarray:
    m = np.asarray(m)
    if m.dtype == np.uint8:
        return m.astype(np.float32) * np.float32(1.0 / 255.0)
    return m.astype(np.float32)


def _warp_face_cv2(crop: np.ndarray, mask: np.ndarray, paste_matrix: np.ndarray,
                   size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    warped = cv2.warpAffine(crop, paste_matrix, size, borderMode=cv2.BORDER_REPLICATE).reshape(size[1], size[0], 3)
    wmask = cv2.warpAffine(mask, paste_matrix, size).reshape(size[1], size[0]).clip(0, 1)
    return warped, wmask


def warp_face(crop: Any, crop_mask: Any, paste_matrix: np.ndarray, k: np.ndarray, size: tuple[int, int],
              warp: str = "facefuse") -> tuple[np.ndarray, np.ndarray]:
    """A face's warped crop (replicated border, stored in its dtype) and warped mask
    (clipped to [0, 1], 0 border, clipped again) in a box of ``size = (width, height)``; the
    matrices as :func:`paste_geometry` returns them."""
    crop, mask = np.asarray(crop), _mask(crop_mask)
    if warp == "cv2":
        return _warp_face_cv2(crop, mask, paste_matrix, size)
    warped = _store(sample_bilinear(crop, k, size, True), crop.dtype)
    # clipped before the warp too (as the native paste_math mask_weight): a mask a blur
    # left at 1 + 1 ulp pastes as the mask clipped to 1
    weights = np.clip(mask, _F32(0), _F32(1))
    wmask = np.clip(sample_bilinear(weights[..., None], k, size, False)[..., 0], _F32(0), _F32(1))
    return warped, wmask


def alpha_mix(region: np.ndarray, warped: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``region * (1 - m) + warped * m`` where m > 0, as the native kernel stores it."""
    r = region.astype(np.float32)
    mm = m[..., None].astype(np.float32)
    mixed = r * (_F32(1) - mm) + warped.astype(np.float32) * mm
    if region.dtype == np.uint8:
        mixed = (np.clip(mixed, _F32(0), _F32(255)) + _F32(0.5)).astype(np.uint8)
    return np.where(mm > 0, mixed.astype(region.dtype), region)


def _paste_one(frame: np.ndarray, crop: np.ndarray, crop_mask: np.ndarray, affine: np.ndarray, blend: str,
               color: Optional[str], levels: int, warp: str) -> np.ndarray:
    (x0, y0, x1, y1), paste_matrix, k = paste_geometry(frame.shape, crop.shape, affine)
    if x1 <= x0 or y1 <= y0:
        return frame
    warped, wmask = warp_face(crop, crop_mask, paste_matrix, k, (x1 - x0, y1 - y0), warp)
    region = frame[y0:y1, x0:x1]
    if color == "lab" and wmask.sum() > 0:
        warped = color_transfer(warped, region, wmask, wmask)
    if blend == "laplacian":
        pasted = blend_laplacian(region, warped, wmask, levels)
    elif blend == "poisson":
        from .poisson import blend_poisson  # type: ignore[attr-defined]

        pasted = blend_poisson(region, warped, wmask)
    else:
        pasted = alpha_mix(region, warped, wmask)
    frame[y0:y1, x0:x1] = pasted
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
    warp: str = "facefuse",
    frame_index: Optional[Sequence[int]] = None,
) -> np.ndarray:
    """Paste-back of one face or a batch (applied in order); see facefuse.ops.paste_back.
    With ``frame_index``, ``frame`` is N x H x W x 3 and face k goes into frame
    ``frame_index[k]``.

    ``warp='facefuse'``: the NumPy warp above (the exact oracle); ``'cv2'``: the
    installed cv2.warpAffine, as FaceFusion does it (the benchmarks' baseline).
    """
    if blend not in _BLENDS:
        raise ValueError(f"paste_back: argument 'blend' must be one of {_BLENDS}, got {blend!r}")
    if color not in (None, "lab"):
        raise ValueError(f"paste_back: argument 'color' must be None or 'lab', got {color!r}")
    if warp not in ("facefuse", "cv2"):
        raise ValueError(f"paste_back: argument 'warp' must be 'facefuse' or 'cv2', got {warp!r}")
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
    if frame_index is None:
        index = [None] * len(crops)
    else:
        index = [int(i) for i in frame_index]
        if result.ndim != 4 or len(index) != len(crops) or not all(0 <= i < len(result) for i in index):
            raise ValueError("paste_back: argument 'frame_index' must give each crop's frame in 0..N-1 of "
                             "N x H x W x 3 frames")
    for c, m, a, i in zip(crops, masks, affines, index):
        if not np.isfinite(a).all():
            raise ValueError("paste_back: argument 'affine' must be finite")
        try:
            if i is None:
                result = _paste_one(result, c, m, a, blend, color, levels, warp)
            else:
                result[i] = _paste_one(result[i], c, m, a, blend, color, levels, warp)
        except ValueError as exc:
            raise ValueError(f"paste_back: {exc}") from None
    if out is not None:
        out[...] = result
        return out
    return result
