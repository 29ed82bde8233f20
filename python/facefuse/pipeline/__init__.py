"""Streaming pipelines: one engine (:mod:`.engine`) running frame processors (:mod:`.swap_frames`,
:mod:`.lipsync_frames`); the entry points :func:`swap_video` and :func:`lipsync_video`;
tracking and face selection. See docs/architecture.md.

Importing this package does not load ONNX Runtime; the model classes load when a
pipeline runs.
"""
from __future__ import annotations

from .engine import EncodeSettings, FramePlan, FrameProcessor, StreamCut, StreamResult, run_stream
from ..progress import ProgressBar
from .swap import SwapResult, swap_video
from .swap_frames import FrameSwapper, SwapPlan
from .tracking import FaceTracker, SceneCutDetector, box_iou

__all__ = ["swap_video", "SwapResult", "FrameSwapper", "SwapPlan", "FaceTracker", "SceneCutDetector", "box_iou",
           "ProgressBar", "FramePlan", "FrameProcessor", "StreamCut", "EncodeSettings", "StreamResult", "run_stream"]
