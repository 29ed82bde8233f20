"""facefuse: fast, smooth, memory-bounded face-swap and lip-sync video pipelines.

NumPy arrays go to the native CPU core (``facefuse._core``); CuPy arrays (any
object with ``__cuda_array_interface__``) go to the CUDA backend
(``facefuse._cuda``) when it is built and a GPU is present, see
:func:`cuda_available` / :func:`cuda_status`. Every op also has a pure
NumPy/OpenCV twin in :mod:`facefuse.reference`.
"""
from __future__ import annotations

import os as _os

# OpenMP workers that spin between calls take the cores of the decode, encode and inference
# threads beside them: on a busy 2-core machine blend_poisson ran at 0.3x of NumPy with the
# default policy, 4.7x with PASSIVE (bench/RESULTS.md). Sleep instead, unless the user chose.
# libgomp reads this once, when it loads: with _core, just below (a process that loaded
# OpenMP before importing facefuse keeps its own setting).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import ops  # noqa: E402  (after the wait policy)
from ._core import __version__  # noqa: E402
from .backend import cuda_available, cuda_status, device_checks, set_device_checks
from .ops import *  # noqa: F401,F403  (the public op API, listed in ops.__all__)
from .ops import __all__ as _ops_all

__all__ = [
    "ops", "reference", "__version__", "cuda_available", "cuda_status", "set_device_checks", "device_checks", "swap_video", "lipsync_video", *_ops_all
]

# Pipelines and the reference oracle load lazily: `import facefuse` stays light (no PyAV /
# ONNX Runtime import, and no OpenCV, which only the reference ops use).
_LAZY = {
    "swap_video": ("facefuse.pipeline.swap", "swap_video"),
    "lipsync_video": ("facefuse.pipeline.lipsync", "lipsync_video"),
    "reference": ("facefuse.reference", None),  # the module itself
}


def __getattr__(name: str):  # PEP 562
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = importlib.import_module(module)
        if attr is not None:
            value = getattr(value, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'facefuse' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
