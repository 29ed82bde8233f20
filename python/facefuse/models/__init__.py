"""Model families on ONNX Runtime with FaceFusion's model files and conventions.

Detectors, the 68-point landmarker, recognisers and swappers each check their model
file against the expected inputs / outputs on load (:func:`facefuse.inference.check_model`).
"""
from __future__ import annotations

from .align import WARP_TEMPLATES, box_mask, estimate_affine, warp_face
from .face import Face
from .recognizer import RECOGNIZER_SPECS, FaceRecognizer
from .swapper import SWAPPER_SPECS, FaceSwapper

__all__ = [
    "Face",
    "WARP_TEMPLATES",
    "estimate_affine",
    "warp_face",
    "box_mask",
    "RECOGNIZER_SPECS",
    "FaceRecognizer",
    "SWAPPER_SPECS",
    "FaceSwapper",
]
