"""Type stubs for facefuse._core, the native CPU core.

Prefer the facefuse.ops API: it converts masks and picks the backend.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import numpy.typing as npt

__version__: str
openmp: bool

def max_threads() -> int: ...
def set_threads(n: int) -> None:
    """Threads the kernels use, an int in [1, 4096] (ValueError otherwise)."""

# ---- pyramid ---------------------------------------------------------------

def blend_laplacian(
    dst: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    src: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    mask: npt.NDArray[np.float32],
    levels: int = 5,
) -> npt.NDArray[np.uint8] | npt.NDArray[np.float32]:
    """Multi-band blend; dst/src uint8|float32 H x W[x 1|3] (or N x H x W x C), mask float32 H x W (N x H x W)."""
    ...

def gaussian_pyramid(
    img: npt.NDArray[np.float32], levels: int, fn: str = "gaussian_pyramid"
) -> list[npt.NDArray[np.float32]]:
    """[img, pyrDown(img), ...]: min(levels, max_levels(H, W)) float32 levels; `fn` names the caller in errors."""
    ...

def max_levels(h: int, w: int) -> int:
    """Most pyramid levels an h x w image holds (halve while min(h, w) >= 2)."""
    ...

def pyr_down(img: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """cv2.pyrDown of a float32 H x W[ x 1|3] image."""
    ...

def pyr_up(img: npt.NDArray[np.float32], h: int, w: int) -> npt.NDArray[np.float32]:
    """cv2.pyrUp of a float32 H x W[ x 1|3] image to h x w (2H or 2H-1, 2W or 2W-1)."""
    ...


# ---- color -----------------------------------------------------------------

def bgr_to_lab(img: npt.NDArray[np.uint8] | npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(N x) H x W x 3 BGR -> float32 CIELAB."""

def lab_to_bgr(lab: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(N x) H x W x 3 float32 CIELAB -> float32 BGR in [0, 1]."""

def color_transfer(
    src: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    ref: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    src_mask: npt.NDArray[np.float32] | None = None,
    ref_mask: npt.NDArray[np.float32] | None = None,
    strength: float = 1.0,
) -> npt.NDArray[np.uint8] | npt.NDArray[np.float32]:
    """Reinhard LAB transfer; src H x W x 3 or N x H x W x 3, ref one image or N, masks shaped as their image."""



# ---- smoothing -------------------------------------------------------------

class LandmarkSmoother:
    """Batched landmark temporal smoother; method in 'pose_shape', 'ema', 'adaptive_ema', 'one_euro'."""

    def __init__(self, method: str = "pose_shape", **params: float | int | bool) -> None: ...
    def update(
        self,
        landmarks: npt.NDArray[np.float32],
        track_ids: npt.NDArray[np.integer],
        t: npt.NDArray[np.float64] | None = None,
    ) -> npt.NDArray[np.float32]: ...
    def reset(self, ids: npt.ArrayLike | None = None) -> None: ...
    def forget(self, ids: npt.ArrayLike) -> None: ...
    def track_ids(self) -> npt.NDArray[np.int64]: ...
    @property
    def num_tracks(self) -> int: ...
    @property
    def num_points(self) -> int | None: ...
    @property
    def method(self) -> str: ...
    @property
    def params(self) -> dict[str, float | int | bool]: ...
    @property
    def last_reset(self) -> npt.NDArray[np.bool_]: ...
    @property
    def last_new(self) -> npt.NDArray[np.bool_]: ...


# ---- quality ---------------------------------------------------------------

def tpsnr(
    prev: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    cur: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    mask: npt.NDArray[np.float32] | None = None,
) -> float:
    """tPSNR (dB, peak 255) of two H x W (x C) uint8/float32 frames; optional float32 H x W mask in [0, 1]; inf if identical."""

def tpsnr_sequence(
    frames: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    mask: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float64]:
    """tPSNR of each consecutive pair of [T, H, W(, C)] frames (T >= 2): T - 1 float64 values."""


# ---- paste -----------------------------------------------------------------

def warp_affine(
    img: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    M: npt.NDArray[np.floating],
    dsize: tuple[int, int],
    border: str = "constant",
) -> npt.NDArray[np.uint8] | npt.NDArray[np.float32]:
    """Bilinear affine warp (facefuse.reference.paste semantics) with cv2.warpAffine's arguments;
    img H x W[ x C<=4]; border 'constant' | 'replicate'. M 2 x 3, or K x 2 x 3 (K warps stacked)."""

def paste_back(
    frame: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    crop: npt.NDArray[np.uint8] | npt.NDArray[np.float32] | list[npt.NDArray[np.uint8] | npt.NDArray[np.float32]],
    crop_mask: npt.NDArray[np.float32] | list[npt.NDArray[np.float32]],
    affine: npt.NDArray[np.floating] | list[npt.NDArray[np.floating]],
    blend: str = "alpha",
    color: str | None = None,
    levels: int = 5,
    out: npt.NDArray[np.uint8] | npt.NDArray[np.float32] | None = None,
    frame_index: Sequence[int] | npt.NDArray[np.integer] | None = None,
) -> npt.NDArray[np.uint8] | npt.NDArray[np.float32]:
    """Fused paste-back of one face or a batch [K, h, w, 3] / list; blend 'alpha' | 'laplacian' | 'poisson';
    color None | 'lab'. With frame_index (K ints), frame is N x H x W x 3 and face k goes into
    frame frame_index[k], in order."""

def paste_warp(
    frame: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    crop: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    crop_mask: npt.NDArray[np.float32],
    affine: npt.NDArray[np.floating],
) -> tuple[tuple[int, int, int, int], npt.NDArray[np.uint8] | npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """((x0, y0, x1, y1), warped crop bh x bw x 3, clipped warped mask bh x bw) of one face's paste box."""


# ---- FaceFusion drop-in (facefuse.compat.facefusion) ---------------------------

def ff_paste_back(
    temp_vision_frame: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    crop_vision_frame: npt.NDArray[np.uint8] | npt.NDArray[np.float32] | npt.NDArray[np.float64],
    crop_mask: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    affine_matrix: npt.NDArray[np.floating],
    opencv4: bool = False,
) -> npt.NDArray[np.uint8] | npt.NDArray[np.float32]:
    """FaceFusion 3.5-3.8 paste_back (facefuse/ff_paste.hpp); crop and mask read in place."""

def ff_hash64(content: Any) -> str:
    """16 hex digits of a 64-bit hash of a C-contiguous buffer (a cache key)."""

def ff_implode(crop_vision_frame: npt.NDArray[Any], pixel_boost_total: int) -> npt.NDArray[Any]:
    """FaceFusion's implode_pixel_boost: (total**2, h / total, w / total, 3) tiles."""

def ff_explode(temp_vision_frames: list[npt.NDArray[Any]], pixel_boost_total: int) -> npt.NDArray[Any]:
    """FaceFusion's explode_pixel_boost of total**2 tiles of one dtype and size."""

def ff_enhancer_normalize(crop_vision_frame: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8] | None:
    """FaceFusion's face_enhancer normalize_crop_frame of a float32 c x h x w output, planar c x h x w uint8
    (FaceFusion returns its transpose(1, 2, 0)[:, :, ::-1]); None when an element is NaN."""


# ---- poisson ---------------------------------------------------------------

def blend_poisson(
    dst: np.ndarray, src: np.ndarray, mask: np.ndarray, tol: float = 1e-4, max_iter: int = 50
) -> np.ndarray:
    """Seamless (NORMAL_CLONE) blend of src into dst: multigrid solve of laplacian(f) = laplacian(src)
    on mask > 0.5 (off the outer 1-px frame), f = dst elsewhere. uint8/float32 H x W[, 1 | 3]; mask float32 H x W."""


# --- crop <-> model tensor conversions (facefuse/tensors.hpp) ---------------------------

def crops_to_planes(crops: npt.NDArray[np.uint8], table: npt.NDArray[np.float32], tile: int = 1) -> npt.NDArray[np.float32]:
    """uint8 BGR crops N x H x W x 3 -> float32 RGB planes (N*tile*tile) x 3 x H/tile x W/tile, each value
    table[c][v]; tile > 1 deals the pixels into FaceFusion's interleaved pixel-boost tiles."""

def planes_to_crops(planes: npt.NDArray[np.float32], tile: int, lo: float, hi: float, scale: float,
                    offset: float = 0.0) -> npt.NDArray[np.uint8]:
    """The inverse of crops_to_planes: uint8 BGR crops, each value rint((clip(v, lo, hi) + offset) * scale)
    in float32 steps, ties to even, saturated (NaN -> 255, as cv2.convertScaleAbs)."""
