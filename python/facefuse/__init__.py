"""facefuse: fast, smooth, memory-bounded face-swap and lip-sync video pipelines.

NumPy arrays go to the native CPU core (``facefuse._core``); every op also has a
pure NumPy/OpenCV twin in :mod:`facefuse.reference`.
"""
from __future__ import annotations

from . import ops, reference
from ._core import __version__
from .ops import *  # noqa: F401,F403  (the public op API, listed in ops.__all__)
from .ops import __all__ as _ops_all

__all__ = ["ops", "reference", "__version__", "lipsync_video", *_ops_all]


def __getattr__(name: str):  # lazy: the pipelines pull in PyAV / ONNX Runtime only when used
    if name == "lipsync_video":
        from .lipsync.pipeline import lipsync_video

        return lipsync_video
    raise AttributeError(f"module 'facefuse' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | {"lipsync_video"})
