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

def blend_laplacian(
    dst: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    src: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    mask: npt.NDArray[np.float32],
    levels: int = 5,
) -> npt.NDArray[np.uint8] | npt.NDArray[np.float32]:
    """Multi-band blend; dst/src uint8|float32 H x W[x 1|3], mask float32 H x W."""
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


# ---- smoothing -------------------------------------------------------------


# ---- quality ---------------------------------------------------------------

