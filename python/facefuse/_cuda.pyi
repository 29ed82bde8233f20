"""Type stub of facefuse._cuda, the CUDA backend (cuda/bindings/*.cpp).

Entry points take device arrays (anything with __cuda_array_interface__, e.g.
CuPy arrays; C-contiguous), a device index and a CUDA stream handle, and check
their arguments with the same contracts as facefuse._core (TypeError /
ValueError naming the argument). Outputs are written into the ``out`` arrays
the caller allocated (warp_affine / paste_back: into ``alloc(shape)`` when no
out is given). Use facefuse.ops, not this module.
"""
from typing import Any, Callable, Optional, Sequence

import numpy as np
import numpy.typing as npt

__version__: str

def device_info() -> tuple[int, int, str]:
    """(device count, cudaError_t code, message); never raises (no driver -> code 35)."""

def runtime_version_string() -> str:
    """CUDA runtime version linked statically, e.g. "13.0"."""

def driver_version() -> int:
    """The driver's CUDA version (12040 = 12.4); 0 without a driver."""

def device_name(device: int) -> str: ...
def release_scratch() -> None: ...
def scratch_bytes() -> int: ...
def blend_laplacian(dst: Any, src: Any, mask: Any, out: Any, levels: int, device: int, stream: int) -> None:
    """Multi-band blend of H x W[, C] or N x H x W x C frames (float32 mask) into out."""

def bgr_to_lab(img: Any, out: Any, device: int, stream: int) -> None: ...
def lab_to_bgr(lab: Any, out: Any, device: int, stream: int) -> None: ...
def color_transfer(
    src: Any, ref: Any, src_mask: Optional[Any], ref_mask: Optional[Any], out: Any, strength: float, device: int,
    stream: int,
) -> None: ...
def tpsnr(prev: Any, cur: Any, mask: Optional[Any], device: int, stream: int) -> float:
    """tPSNR (dB) of a frame pair; synchronises the stream."""

def tpsnr_sequence(frames: Any, mask: Optional[Any], device: int, stream: int) -> npt.NDArray[np.float64]:
    """tPSNR of each consecutive pair (T - 1 values); synchronises the stream."""

def warp_affine(
    img: Any, M: npt.NDArray[np.floating], dsize: tuple[int, int], border: str, alloc: Callable[[tuple[int, ...]], Any],
    device: int, stream: int,
) -> Any:
    """Warp of a device image with host M (2 x 3, or K x 2 x 3: K warps, one launch) into alloc(shape)."""

def paste_back(
    frame: Any, crop: Any, crop_mask: Any, affine: Any, blend: str, color: Optional[str], levels: int,
    out: Optional[Any], frame_index: Optional[Sequence[int]], alloc: Callable[[tuple[int, ...]], Any], device: int,
    stream: int,
) -> Any:
    """Paste device crops / float32 masks (host affines) into a device frame, or N frames with frame_index;
    blend 'alpha' | 'laplacian' (no Poisson); into out, or alloc(frame shape) when out is None."""

def quality_monitor_tpsnr(
    prev: Any, frame: Any, prev_source: Optional[Any], source: Optional[Any],
    roi_box: Optional[tuple[int, int, int, int]], mask: Optional[Any], device: int, stream: int,
) -> tuple[float, Optional[float], Optional[float], Optional[float]]:
    """One QualityMonitor update: (tpsnr, tpsnr_roi, tpsnr_source, tpsnr_source_roi) in dB, uncapped
    (inf for identical pixels), None where not asked. roi_box: clipped (x0, y0, x1, y1); mask: float32
    H x W (not with roi_box). One device -> host copy and one synchronisation of the stream."""

class LandmarkSmoother:
    def __init__(self, method: str, params: dict[str, object]) -> None: ...
    def update(
        self, landmarks: Any, track_ids: npt.ArrayLike, t: Optional[npt.NDArray[np.float64]], out: Any,
        reset_flags: Any, new_flags: Any, device: int, stream: int,
    ) -> None: ...
    def reset(self, ids: Optional[npt.ArrayLike] = None) -> None: ...
    def forget(self, ids: npt.ArrayLike) -> None: ...
    def track_ids(self) -> npt.NDArray[np.int64]: ...
    @property
    def num_tracks(self) -> int: ...
    @property
    def num_points(self) -> Optional[int]: ...
