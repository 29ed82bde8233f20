"""Model families on ONNX Runtime with FaceFusion's model files and conventions.

Detectors, the 68-point landmarker, recognisers and swappers each check their model
file against the expected inputs / outputs on load (:func:`facefuse.inference.check_model`).
"""
from __future__ import annotations

from .face import Face

__all__ = ["Face"]
