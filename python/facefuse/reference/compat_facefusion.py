"""FaceFusion 3.x's paste-back and face alignment, written the way FaceFusion writes them.

The oracle of tests/test_compat_facefusion.py and the baseline of the ``compat``
benchmarks (``facefuse bench``, bench/bench_compat.py). This is facefuse's own
NumPy / OpenCV code written from FaceFusion's documented behaviour
(``facefusion/face_helper.py``: ``calculate_paste_area``, ``paste_back``,
``estimate_matrix_by_face_landmark_5``, ``warp_face_by_face_landmark_5``), not a copy:

* paste area: the four corners of the crop, ``(0, 0) (w, 0) (w, h) (0, h)``, an
  integer array, mapped back through the inverted affine with ``cv2.transform``,
  which returns integer points: each coordinate rounded half to even (FaceFusion
  3.5-3.8 floor / ceil these already-integer corners, a no-op); their minimum and
  maximum, clipped to ``[0, frame width] x [0, frame height]``;
* the crop and its mask are warped into that box with ``cv2.warpAffine`` (bilinear;
  the crop with ``BORDER_REPLICATE``, the mask with the default constant-0 border,
  then ``clip(0, 1)``), using the inverted affine shifted by the box origin;
* alpha blend in floating point, ``frame * (1 - mask) + warped * mask``, cast back
  to the frame's dtype with ``astype`` (truncation towards zero for uint8);
* the input frame is never modified; a new frame is returned. A crop landing
  entirely outside the frame (empty box) returns a copy: FaceFusion itself raises
  ValueError there (cv2.warpAffine with a zero size), facefuse keeps the frame.

``paste_back_model`` is the native kernel's arithmetic (facefuse/ff_paste.hpp) in
NumPy, bit for bit: FaceFusion's steps with each warp replaced by the sampling the
kernel emulates (``facefuse.reference.paste`` for uint8 / float32 sources,
:func:`warp_affine_quantised` for float64 ones).

Consequence of the box (a FaceFusion 3.x fact kept here): the box is the crop's
footprint, so the thin fringe just outside it where the mask's bilinear warp (0
border) is still above 0 is not blended; with FaceFusion's feathered masks (0 on
the crop border) nothing is lost.

Deliberately not in ``facefuse.reference.__all__`` (it is not an op of its own).
"""
from __future__ import annotations

from typing import Any, Tuple

import cv2
import numpy as np

__all__ = [
    "WARP_TEMPLATES",
    "calculate_paste_area",
    "estimate_matrix_by_face_landmark_5",
    "paste_back",
    "paste_back_model",
    "transform_points",
    "u8_tie_sample",
    "warp_affine_fixed_u8",
    "warp_affine_quantised",
    "warp_face_by_face_landmark_5",
]

# Normalised 5-point templates (left eye, right eye, nose tip, left and right mouth
# corner) in crop units, as FaceFusion 3.x's WARP_TEMPLATE_SET.
WARP_TEMPLATES: dict[str, np.ndarray] = {
    "arcface_112_v2": np.array([
        [0.34191607, 0.46157411], [0.65653393, 0.45983393], [0.50022500, 0.64050536],
        [0.37097589, 0.82469196], [0.63151696, 0.82325089]]),
    "arcface_128": np.array([
        [0.36167656, 0.40387734], [0.63696719, 0.40235469], [0.50019687, 0.56044219],
        [0.38710391, 0.72160547], [0.61507734, 0.72034453]]),
    "ffhq_512": np.array([
        [0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
        [0.39308822, 0.72541100], [0.61150205, 0.72490465]]),
}


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to ``[K, 2]`` points (cv2.transform)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    return cv2.transform(pts, np.asarray(matrix)).reshape(-1, 2)


def estimate_matrix_by_face_landmark_5(face_landmark_5: np.ndarray, warp_template: str,
                                       crop_size: Tuple[int, int]) -> np.ndarray:
    """Frame -> crop similarity from 5 landmarks (cv2.estimateAffinePartial2D, RANSAC, threshold 100)."""
    target = WARP_TEMPLATES[warp_template] * np.asarray(crop_size, dtype=np.float64)
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(face_landmark_5, dtype=np.float64), target,
                                            method=cv2.RANSAC, ransacReprojThreshold=100)
    return matrix


def warp_face_by_face_landmark_5(frame: np.ndarray, face_landmark_5: np.ndarray, warp_template: str,
                                 crop_size: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """The aligned crop (INTER_AREA, BORDER_REPLICATE) and its 2x3 frame -> crop affine."""
    matrix = estimate_matrix_by_face_landmark_5(face_landmark_5, warp_template, crop_size)
    crop = cv2.warpAffine(frame, matrix, tuple(crop_size), borderMode=cv2.BORDER_REPLICATE,
                          flags=cv2.INTER_AREA)
    return crop, matrix


def calculate_paste_area(frame: np.ndarray, crop: np.ndarray,
                         affine_matrix: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``([x1, y1, x2, y2], paste_matrix)``: the frame box the crop lands in and the
    crop -> box affine (the inverted affine shifted by ``(x1, y1)``)."""
    frame_h, frame_w = frame.shape[:2]
    crop_h, crop_w = crop.shape[:2]
    inverse = cv2.invertAffineTransform(np.asarray(affine_matrix))  # float32 stays float32, as in FaceFusion
    # integer corners in, integer (rounded) corners out: FaceFusion's int64 array
    # reaches cv2 as int32, and cv2.transform rounds its output to the input's type
    corners = np.array([[0, 0], [crop_w, 0], [crop_w, crop_h], [0, crop_h]], dtype=np.int32)
    back = cv2.transform(corners.reshape(-1, 1, 2), np.asarray(inverse, np.float64)).reshape(-1, 2)
    lo = back.min(axis=0).astype(int)
    hi = back.max(axis=0).astype(int)
    x1, y1 = np.clip(lo, 0, [frame_w, frame_h])
    x2, y2 = np.clip(hi, 0, [frame_w, frame_h])
    paste_matrix = inverse.copy()
    paste_matrix[0, 2] -= x1
    paste_matrix[1, 2] -= y1
    return np.array([x1, y1, x2, y2]), paste_matrix


def paste_back(temp_vision_frame: np.ndarray, crop_vision_frame: np.ndarray, crop_mask: Any,
               affine_matrix: np.ndarray) -> np.ndarray:
    """FaceFusion 3.x paste-back: warp the crop and its mask back into the frame and alpha blend.

    Args:
        temp_vision_frame: H x W x 3 frame (uint8 BGR, or float on the 0..255 scale).
        crop_vision_frame: h x w x 3 crop of the same dtype.
        crop_mask: h x w float mask (values outside [0, 1] are clipped after the warp).
        affine_matrix: 2x3 frame -> crop affine (as returned with the crop).

    Returns:
        A new frame of the input's dtype and shape (the input is not modified).
        When the paste box is empty (the crop lands outside the frame), a copy.
    """
    box, paste_matrix = calculate_paste_area(temp_vision_frame, crop_vision_frame, affine_matrix)
    x1, y1, x2, y2 = (int(v) for v in box)
    out = temp_vision_frame.copy()
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        return out
    mask = cv2.warpAffine(crop_mask, paste_matrix, (w, h)).clip(0, 1)
    mask = np.expand_dims(mask, axis=-1)
    warped = cv2.warpAffine(crop_vision_frame, paste_matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    region = out[y1:y2, x1:x2]
    blended = region * (1 - mask) + warped * mask
    out[y1:y2, x1:x2] = blended.astype(out.dtype)
    return out


# --------------------------------------------------------------------------- the kernel's model


def _quant_table() -> np.ndarray:
    """cv2's float bilinear weights (initInterTab2D, INTER_LINEAR): [1024, 4] float32,
    entry ``(fy * 32 + fx)`` = (1-y)(1-x), (1-y)x, y(1-x), yx for x = fx/32, y = fy/32."""
    x = np.arange(32, dtype=np.float32) * np.float32(1.0 / 32)
    t = np.stack([np.float32(1) - x, x], axis=1)
    w = t[:, None, :, None] * t[None, :, None, :]  # [fy, fx, ky, kx]
    return w.reshape(1024, 4).astype(np.float32)


_QUANT = _quant_table()


def _sat_int(v: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(v, -2.0 ** 31, 2.0 ** 31 - 1)).astype(np.int64)


def _quant_positions(kd: np.ndarray, dsize: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    dw, dh = dsize
    x = np.arange(dw, dtype=np.float64)
    y = np.arange(dh, dtype=np.float64)
    x0 = _sat_int((kd[0, 1] * y + kd[0, 2]) * 1024) + 16
    y0 = _sat_int((kd[1, 1] * y + kd[1, 2]) * 1024) + 16
    X = np.clip((x0[:, None] + _sat_int(kd[0, 0] * x * 1024)[None, :]) >> 5, -32768 * 32, 32767 * 32 + 31)
    Y = np.clip((y0[:, None] + _sat_int(kd[1, 0] * x * 1024)[None, :]) >> 5, -32768 * 32, 32767 * 32 + 31)
    return X, Y


def warp_affine_quantised(img: np.ndarray, M: np.ndarray, dsize: Tuple[int, int], replicate: bool) -> np.ndarray:
    """cv2.warpAffine (INTER_LINEAR) of a float image the way OpenCV 5.x warps float64
    images (and 4.x every float image): ``M`` inverted in float64, source positions
    rounded to 1/32 px through a 1/1024-px fixed point, float32 table weights, the
    four products summed in order in float64 (float32 for float32 images).
    Bit-equal to cv2.warpAffine on float64 images with OpenCV 5.1."""
    from .paste import invert_affine

    kd = invert_affine(np.asarray(M, np.float64))
    X, Y = _quant_positions(kd, dsize)
    sx, sy = X >> 5, Y >> 5
    wt = _QUANT[(Y & 31) * 32 + (X & 31)]
    acc = np.float64 if img.dtype == np.float64 else np.float32
    src = img if img.ndim == 3 else img[..., None]
    h, w = src.shape[:2]

    def px(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        v = src[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)].astype(acc)
        if not replicate:
            inside = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            v = np.where(inside[..., None], v, acc(0))
        return v

    wk = [wt[..., k, None].astype(acc) for k in range(4)]
    out = px(sy, sx) * wk[0] + px(sy, sx + 1) * wk[1] + px(sy + 1, sx) * wk[2] + px(sy + 1, sx + 1) * wk[3]
    return out if img.ndim == 3 else out[..., 0]


def warp_affine_fixed_u8(img: np.ndarray, M: np.ndarray, dsize: Tuple[int, int], replicate: bool) -> np.ndarray:
    """cv2.warpAffine (INTER_LINEAR) of a uint8 image the way OpenCV 4.x warps it: the
    positions of :func:`warp_affine_quantised` (1/32 px), integer weights
    ``(32 - fy)(32 - fx) * 32``, ``(32 - fy) fx * 32``, ``fy (32 - fx) * 32``, ``fy fx * 32``
    (its float table times 2^15, exact for bilinear) and the sum rounded ``(s + 2^14) >> 15``.
    Bit-equal to cv2.warpAffine of uint8 images with OpenCV 4.10 and 4.12."""
    from .paste import invert_affine

    X, Y = _quant_positions(invert_affine(np.asarray(M, np.float64)), dsize)
    sx, sy = X >> 5, Y >> 5
    fx, fy = (X & 31).astype(np.int64), (Y & 31).astype(np.int64)
    weights = ((32 - fy) * (32 - fx) * 32, (32 - fy) * fx * 32, fy * (32 - fx) * 32, fy * fx * 32)
    src = img if img.ndim == 3 else img[..., None]
    h, w = src.shape[:2]
    acc = np.zeros(X.shape + (src.shape[2],), np.int64)
    for k, wk in enumerate(weights):
        xx, yy = sx + (k & 1), sy + (k >> 1)
        v = src[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)].astype(np.int64)
        if not replicate:
            v = np.where(((xx >= 0) & (xx < w) & (yy >= 0) & (yy < h))[..., None], v, 0)
        acc += v * wk[..., None]
    out = ((acc + 16384) >> 15).astype(np.uint8)
    return out if img.ndim == 3 else out[..., 0]


#: The tie band of uint8 crop samples (ff_paste_kernels.inl, u8_sample): a position
#: error of 2^-20 px per px of the crop's extent times the 4 neighbours' range, plus 2^-10.
TIE_POS_ERR = np.float32(2.0 ** -20)
TIE_FLOOR = np.float32(2.0 ** -10)


def u8_tie_sample(v: np.ndarray, spread: np.ndarray, extent: int) -> np.ndarray:
    """The kernel's warped uint8 crop sample (float32): ``v`` clipped to [0, 255] and
    rounded half to even as cv2 stores it, except within the tie band of a .5 tie,
    where the unrounded value is kept. cv2's own sample there may have rounded
    either way (its positions differ from these by a few ulps), and FaceFusion's
    truncating blend turns a stored sample 1 off into 2 off; the unrounded value is
    under 1 from either, so the blend stays within 1 grey level of FaceFusion's."""
    from .paste import fma_f32

    vc = np.clip(np.asarray(v, np.float32), np.float32(0), np.float32(255))
    r = np.rint(vc)
    band = fma_f32(spread, np.float32(extent) * TIE_POS_ERR, TIE_FLOOR)
    return np.where(np.abs(vc - r) > np.float32(0.5) - band, vc, r).astype(np.float32)


def paste_back_model(temp_vision_frame: np.ndarray, crop_vision_frame: np.ndarray, crop_mask: np.ndarray,
                     affine_matrix: np.ndarray, opencv4: bool = False) -> np.ndarray:
    """The native kernel (``facefuse._core.ff_paste_back``) in NumPy, bit for bit.

    FaceFusion's paste-back (:func:`paste_back`) with the two cv2 warps replaced by
    the sampling the kernel uses. OpenCV 5.x (``opencv4`` False): uint8 / float32
    sources with facefuse's warp (``facefuse.reference.paste``: 5.x's float
    arithmetic; uint8 stored half to even outside the tie band of
    :func:`u8_tie_sample`), float64 sources with :func:`warp_affine_quantised`.
    OpenCV 4.x (``opencv4``): uint8 sources with :func:`warp_affine_fixed_u8`, float
    ones with :func:`warp_affine_quantised` (both bit-equal to 4.x's cv2.warpAffine).
    The blend is FaceFusion's numpy expression; pixels where the clipped mask is not
    > 0 keep the frame's value.
    """
    from .paste import invert_affine, sample_bilinear

    frame = np.asarray(temp_vision_frame)
    crop = np.asarray(crop_vision_frame)
    mask = np.asarray(crop_mask)
    mask = mask[..., 0] if mask.ndim == 3 else mask
    (x1, y1, x2, y2), paste_matrix = calculate_paste_area(frame, crop, affine_matrix)
    out = frame.copy()
    w, h = int(x2 - x1), int(y2 - y1)
    if w <= 0 or h <= 0:
        return out
    k = invert_affine(np.asarray(paste_matrix, np.float64)).astype(np.float32)

    def warp(img: np.ndarray, replicate: bool) -> np.ndarray:
        if opencv4 and img.dtype == np.uint8:
            return warp_affine_fixed_u8(img, paste_matrix, (w, h), replicate)
        if img.dtype == np.float64 or (opencv4 and img.dtype == np.float32):
            return warp_affine_quantised(img, paste_matrix, (w, h), replicate).astype(img.dtype)
        src = img if img.ndim == 3 else img[..., None]
        if img.dtype == np.uint8:
            v, spread = sample_bilinear(src, k, (w, h), replicate, with_range=True)
            return u8_tie_sample(v, spread, max(img.shape[0], img.shape[1]))
        v = sample_bilinear(src, k, (w, h), replicate)
        return v if img.ndim == 3 else v[..., 0]

    m = warp(mask, False).clip(0, 1)[..., None]
    warped = warp(crop, True)
    region = out[y1:y2, x1:x2]
    blended = region * (1 - m) + warped * m
    if out.dtype == np.uint8:
        blended = np.where(blended >= 0, np.minimum(blended, 255), 0)  # the kernel saturates (NaN -> 0)
    keep = ~(m > 0)
    out[y1:y2, x1:x2] = np.where(keep, region, blended.astype(out.dtype))
    return out


# --------------------------------------------------------------------------- per-face helpers
# FaceFusion 3.5-3.8's other per-face steps that compat.facefusion.patch() replaces,
# as FaceFusion defines them (facefuse's own code; the oracles of
# tests/test_compat_facefusion_hot.py and the originals of its fake FaceFusion).


def create_box_mask(crop_vision_frame: np.ndarray, face_mask_blur: float, face_mask_padding: Tuple[int, ...]) -> np.ndarray:
    """The box mask (face_masker.create_box_mask): 1 inside, 0 on a border of
    max(blur band, padding %) per side, then Gaussian-blurred with sigma = blur / 4 px."""
    w, h = crop_vision_frame.shape[1], crop_vision_frame.shape[0]
    blur = int(w * 0.5 * face_mask_blur)
    band = max(blur // 2, 1)
    top, right, bottom, left = (int(v) for v in face_mask_padding)
    mask = np.ones((w, h), np.float32)  # FaceFusion's shape is (width, height): transposed for non-square crops
    mask[:max(band, int(h * top / 100)), :] = 0
    mask[-max(band, int(h * bottom / 100)):, :] = 0
    mask[:, :max(band, int(w * left / 100))] = 0
    mask[:, -max(band, int(w * right / 100)):] = 0
    if blur > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), blur * 0.25)
    return mask


def soften_model_mask(mask: np.ndarray, crop_size: Tuple[int, int]) -> np.ndarray:
    """An occlusion / region model's mask at crop size (w, h), as face_masker makes it:
    resized to the crop (bilinear), clipped to [0, 1], Gaussian blur sigma 5, then
    ``(clip(0.5, 1) - 0.5) * 2``. The oracle of facefuse.models.masker.soften_mask."""
    m = cv2.resize(np.asarray(mask, np.float32), crop_size)
    return ((cv2.GaussianBlur(m.clip(0, 1), (0, 0), 5).clip(0.5, 1) - 0.5) * 2).astype(np.float32)


def implode_pixel_boost(crop_vision_frame: np.ndarray, pixel_boost_total: int, model_size: Tuple[int, int]) -> np.ndarray:
    """``t * t`` model-size tiles of a crop, tile ``i * t + j`` = rows ``i::t``, columns ``j::t``."""
    t, (m0, m1) = int(pixel_boost_total), model_size
    return np.ascontiguousarray(crop_vision_frame.reshape(m0, t, m1, t, 3).transpose(1, 3, 0, 2, 4)).reshape(
        t * t, m0, m1, 3)


def explode_pixel_boost(temp_vision_frames: list, pixel_boost_total: int, model_size: Tuple[int, int],
                        pixel_boost_size: Tuple[int, int]) -> np.ndarray:
    """The inverse of :func:`implode_pixel_boost` (tiles stacked in numpy's common dtype)."""
    t, (m0, m1) = int(pixel_boost_total), model_size
    st = np.stack(temp_vision_frames).reshape(t, t, m0, m1, 3)
    return np.ascontiguousarray(st.transpose(2, 0, 3, 1, 4)).reshape(pixel_boost_size[0], pixel_boost_size[1], 3)


def prepare_crop_frame(crop_vision_frame: np.ndarray, mean: Any, std: Any) -> np.ndarray:
    """A processor's model input: BGR -> RGB, ``(v / 255 - mean) / std`` in float64,
    1 x 3 x H x W float32."""
    x = crop_vision_frame[:, :, ::-1] / 255.0
    x = (x - np.asarray(mean)) / np.asarray(std)
    return np.expand_dims(x.transpose(2, 0, 1), axis=0).astype(np.float32)


def enhancer_normalize_crop_frame(crop_vision_frame: np.ndarray) -> np.ndarray:
    """The face enhancer's model output (3 x H x W, [-1, 1]) as an H x W x 3 uint8 BGR crop:
    clipped to [-1, 1], mapped to [0, 1], scaled by 255 and rounded (half to even) in the
    input's float type, channels reversed; returned as the channel-reversed view of a
    planar array (strides (W, 1, -H * W) for a contiguous input), as FaceFusion returns it."""
    x = (np.clip(crop_vision_frame, -1, 1) + 1) / 2
    x = (x.transpose(1, 2, 0) * 255.0).round()
    return x.astype(np.uint8)[:, :, ::-1]


def blend_frame(source_vision_frame: np.ndarray, target_vision_frame: np.ndarray, blend_factor: float) -> np.ndarray:
    """vision.blend_frame: ``cv2.addWeighted(source, 1 - f, target, f, 0)``."""
    return cv2.addWeighted(source_vision_frame, 1 - blend_factor, target_vision_frame, blend_factor, 0)
