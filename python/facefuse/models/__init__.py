"""Model families on ONNX Runtime with FaceFusion's model files and conventions.

Detectors, the 68-point landmarker, recognisers, swappers, enhancers and maskers each check their model
file against the expected inputs / outputs on load (:func:`facefuse.inference.check_model`).
"""
from __future__ import annotations

from .align import WARP_TEMPLATES, box_mask, estimate_affine, warp_face
from .detector import DETECTOR_SPECS, FaceDetector, nms
from .enhancer import ENHANCER_SPECS, FaceEnhancer
from .face import Face
from .landmarker import (
    FAN_68_5,
    LANDMARKER_SPECS,
    MEAN_FACE_68,
    FaceLandmarker,
    Landmarker68From5,
    landmarks_5_to_68,
    landmarks_68_to_5,
)
from .masker import FACE_MASK_REGIONS, OCCLUDER_SPECS, PARSER_SPECS, FaceMasker
from .pixel_boost import PIXEL_BOOST_CHOICES
from .recognizer import RECOGNIZER_SPECS, FaceRecognizer
from .swapper import SWAPPER_SPECS, FaceSwapper

__all__ = [
    "Face",
    "WARP_TEMPLATES",
    "estimate_affine",
    "warp_face",
    "box_mask",
    "DETECTOR_SPECS",
    "FaceDetector",
    "nms",
    "LANDMARKER_SPECS",
    "MEAN_FACE_68",
    "FaceLandmarker",
    "FAN_68_5",
    "Landmarker68From5",
    "landmarks_68_to_5",
    "landmarks_5_to_68",
    "RECOGNIZER_SPECS",
    "FaceRecognizer",
    "SWAPPER_SPECS",
    "FaceSwapper",
    "PIXEL_BOOST_CHOICES",
    "ENHANCER_SPECS",
    "FaceEnhancer",
    "OCCLUDER_SPECS",
    "PARSER_SPECS",
    "FACE_MASK_REGIONS",
    "FaceMasker",
]
