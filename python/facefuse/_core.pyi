"""Type stubs for facefuse._core, the native CPU core.

Prefer the facefuse.ops API: it converts masks and picks the backend.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

__version__: str
openmp: bool

def max_threads() -> int: ...
def set_threads(n: int) -> None: ...

# ---- pyramid ---------------------------------------------------------------


# ---- color -----------------------------------------------------------------


# ---- smoothing -------------------------------------------------------------


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

