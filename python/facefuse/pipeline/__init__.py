"""Streaming pipelines: face swap (:func:`swap_video`), tracking, progress display.

Importing this package does not load ONNX Runtime; the model classes load when a
pipeline runs.
"""
from __future__ import annotations

from .progress import ProgressBar
from .swap import FrameSwapper, SwapResult, swap_video
from .tracking import FaceTracker, SceneCutDetector, box_iou

__all__ = ["swap_video", "SwapResult", "FrameSwapper", "FaceTracker", "SceneCutDetector", "box_iou", "ProgressBar"]
