"""Where ``lipsync_video`` lived before the pipeline engine (issue 13); kept so existing
imports work. The pipeline is now :mod:`facefuse.pipeline.lipsync` (entry point) and
:mod:`facefuse.pipeline.lipsync_frames` (the frame processor); the lip-sync building blocks
are in this package: :mod:`.crop`, :mod:`.feed`, :mod:`.batching`. The pipeline names load
lazily: this package is a lower layer than ``facefuse.pipeline``.
"""
from __future__ import annotations

from typing import Any

from .batching import auto_batch_size
from .crop import paste_mask, square_crop_affine

__all__ = ["lipsync_video", "LipsyncResult", "paste_mask", "square_crop_affine", "auto_batch_size"]

_MOVED = {"lipsync_video": "facefuse.pipeline.lipsync", "LipsyncResult": "facefuse.pipeline.lipsync",
          "DEFAULT_SEED": "facefuse.pipeline.lipsync"}


def __getattr__(name: str) -> Any:  # PEP 562
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'facefuse.lipsync.pipeline' has no attribute {name!r}")
