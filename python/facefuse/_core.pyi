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

