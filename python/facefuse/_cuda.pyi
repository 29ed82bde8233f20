"""Type stub of facefuse._cuda, the CUDA backend (cuda/bindings/*.cpp).

Entry points take device pointers as ints (0 = absent), sizes, a device index
and a CUDA stream handle; facefuse.ops reads them from __cuda_array_interface__
/ CuPy and checks dtypes and shapes first. Use facefuse.ops, not this module.
"""
from typing import Optional

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
def blend_laplacian(
    dst: int, src: int, mask: int, out: int, u8: bool, n: int, h: int, w: int, c: int, levels: int, device: int,
    stream: int,
) -> None: ...
def bgr_to_lab(src: int, u8: bool, dst: int, n_px: int, device: int, stream: int) -> None: ...
def lab_to_bgr(src: int, dst: int, n_px: int, device: int, stream: int) -> None: ...
def color_transfer(
    src: int, ref: int, src_mask: int, ref_mask: int, dst: int, u8: bool, n: int, src_px: int, n_ref: int,
    ref_px: int, strength: float, device: int, stream: int,
) -> None: ...
def tpsnr_sums(
    a: int, b: int, pair_stride: int, n_pairs: int, u8: bool, h: int, w: int, c: int, mask: int, device: int,
    stream: int,
) -> list[tuple[float, float, float, float]]:
    """Per pair (sse, weight_sum, mask_min, mask_max); synchronises the stream."""

def psnr_from_sums(sse: float, weight_sum: float, c: int) -> float: ...

class LandmarkSmoother:
    def __init__(self, method: str, params: dict[str, object]) -> None: ...
    def update(
        self, landmarks: int, n: int, p: int, track_ids: npt.NDArray[np.int64],
        t: Optional[npt.NDArray[np.float64]], out: int, reset_flags: int, new_flags: int, device: int, stream: int,
    ) -> None: ...
    def reset(self, ids: Optional[npt.ArrayLike] = None) -> None: ...
    def forget(self, ids: npt.ArrayLike) -> None: ...
    def track_ids(self) -> npt.NDArray[np.int64]: ...
    @property
    def num_tracks(self) -> int: ...
    @property
    def num_points(self) -> Optional[int]: ...
