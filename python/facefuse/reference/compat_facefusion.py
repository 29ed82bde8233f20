"""FaceFusion 3.x's paste-back and face alignment, written the way FaceFusion writes them.

The oracle of tests/test_compat_facefusion.py and the baseline of the ``compat``
benchmarks (``facefuse bench``, bench/bench_compat.py). This is facefuse's own
NumPy / OpenCV code written from FaceFusion's documented behaviour
(``facefusion/face_helper.py``: ``calculate_paste_area``, ``paste_back``,
``estimate_matrix_by_face_landmark_5``, ``warp_face_by_face_landmark_5``), not a copy:

* paste area: the four corners of the crop, ``(0, 0) (w, 0) (w, h) (0, h)``, mapped
  back through the inverted affine; floor of their minimum and ceil of their
  maximum, each clipped to ``[0, frame width] x [0, frame height]``;
* the crop and its mask are warped into that box with ``cv2.warpAffine`` (bilinear;
  the crop with ``BORDER_REPLICATE``, the mask with the default constant-0 border,
  then ``clip(0, 1)``), using the inverted affine shifted by the box origin;
* alpha blend in floating point, ``frame * (1 - mask) + warped * mask``, cast back
  to the frame's dtype with ``astype`` (truncation towards zero for uint8);
* the input frame is never modified; a new frame is returned.

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
    "transform_points",
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
    corners = np.array([[0, 0], [crop_w, 0], [crop_w, crop_h], [0, crop_h]], dtype=np.float64)
    back = transform_points(corners, inverse)
    lo = np.floor(back.min(axis=0)).astype(int)
    hi = np.ceil(back.max(axis=0)).astype(int)
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
