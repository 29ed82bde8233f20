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

def bgr_to_lab(img: npt.NDArray[np.uint8] | npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
def lab_to_bgr(lab: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
def color_transfer(
    src: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    ref: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    src_mask: npt.NDArray[np.float32] | None = None,
    ref_mask: npt.NDArray[np.float32] | None = None,
    strength: float = 1.0,
) -> npt.NDArray[np.uint8] | npt.NDArray[np.float32]: ...


# ---- smoothing -------------------------------------------------------------


# ---- quality ---------------------------------------------------------------

