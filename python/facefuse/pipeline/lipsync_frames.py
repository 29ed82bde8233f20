"""The lip-sync frame processor: :class:`LipsyncProcessor` (the per-frame work of ``lipsync_video``).

Per frame: the frame's mel window (the side input; the stream is cut where the audio ends)
-> detect the face -> smooth its box causally -> a square crop at the model's size (``plan``);
a full batch of crops through DDIM sampling on the Diff2Lip denoiser (``model``; an
out-of-memory error halves the batch and retries); the generated mouth pasted back with a
feathered mask (``finish``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np

from ..lipsync.crop import paste_mask, square_crop_affine, stretched_crop_affine
from ..lipsync.model import MODEL_SIZE, is_out_of_memory
from ..lipsync.sampler import from_model, initial_noise, lipsync_batch, to_model
from .engine import FramePlan, FrameProcessor, StreamCut

__all__ = ["LipsyncPlan", "LipsyncProcessor"]


@dataclass
class LipsyncPlan(FramePlan):
    """One frame: its mel window, and when it has a face, the face box (smoothed), the square
    crop and its affine; ``generated``: the model's mouth for the crop."""

    mel: Optional[np.ndarray] = None
    box: Optional[np.ndarray] = None
    crop: Optional[np.ndarray] = None
    affine: Optional[np.ndarray] = None
    generated: Optional[np.ndarray] = None


class LipsyncProcessor(FrameProcessor):
    """Diff2Lip on each frame's face (see :func:`facefuse.lipsync_video` for the options)."""

    wait_for_batch = True  # full batches: the denoiser's throughput grows with the batch

    def __init__(self, denoiser: Any, detector: Any, sampler: Any, feed: Any, *, batch_size: int,
                 smoother: Any = None, reference: str = "gt", face_hide_percentage: float = 0.5,
                 blend: str = "laplacian", color: Optional[str] = "lab", seed: Optional[int] = 7,
                 crop_scale: float = 1.0, crop: str = "square", fn: str = "lipsync_video") -> None:
        self.denoiser, self.detector, self.sampler, self.feed = denoiser, detector, sampler, feed
        self.batch_size = int(batch_size)
        self.smoother = smoother
        self.reference = reference
        self.hide = float(face_hide_percentage)
        self.blend, self.color, self.crop_scale, self.crop = blend, color, float(crop_scale), crop
        self.noise = initial_noise(seed, MODEL_SIZE)
        self.mask = paste_mask(MODEL_SIZE, self.hide)
        self.fn = fn
        self.ref_first: Optional[np.ndarray] = None
        self.synced = 0
        self.time_origin = 0.0  # the video's t = 0 (VideoReader.origin), set by lipsync_video
        self.notes: List[str] = []  # out-of-memory retries (each also warned)

    def side_input(self, index: int, timestamp: float) -> np.ndarray:
        # the frame's real time from the video's start: the audio stays aligned on a VFR video
        mel = self.feed.window(index, timestamp - self.time_origin)
        if mel is None:
            raise StreamCut("the audio ends before this frame")
        return mel

    def plan(self, image: np.ndarray, index: int, timestamp: float, side: Any) -> LipsyncPlan:
        from .. import ops

        plan = LipsyncPlan(index=index, timestamp=timestamp, image=image)
        faces = self.detector.detect(image)
        if not faces:
            if self.smoother is not None:  # the smoother's clock goes on
                self.smoother.update(np.zeros((0, 2, 2), np.float32), np.zeros(0, np.int64), t=timestamp)
            return plan
        box = np.asarray(faces[0].box, np.float32).reshape(2, 2)
        if self.smoother is not None:
            box = self.smoother.update(box[None], np.array([0]), t=timestamp)[0]
        plan.mel, plan.box = side, box.reshape(4)
        plan.affine = (stretched_crop_affine(plan.box, MODEL_SIZE) if self.crop == "stretch"
                       else square_crop_affine(plan.box, MODEL_SIZE, self.crop_scale))
        plan.crop = ops.warp_affine(image, plan.affine, (MODEL_SIZE, MODEL_SIZE), border="replicate")
        x1, y1, x2, y2 = plan.box
        plan.roi = (float(x1), float(y1), float(x2 - x1), float(y2 - y1))
        return plan

    def model(self, plans: List[FramePlan]) -> None:
        faces = [p for p in plans if p.crop is not None]
        if not faces:
            return
        crops = to_model(np.stack([p.crop for p in faces]))
        if self.reference == "first":
            if self.ref_first is None:
                self.ref_first = crops[:1].copy()
            refs = np.broadcast_to(self.ref_first, crops.shape)
        else:
            refs = crops
        gen = from_model(self._sample(crops, refs, np.stack([p.mel for p in faces])))
        for p, g in zip(faces, gen):
            p.generated = g

    def _sample(self, crops: np.ndarray, refs: np.ndarray, mels: np.ndarray) -> np.ndarray:
        """DDIM over the batch in pieces of ``batch_size``, halving it on out-of-memory."""
        outs, i = [], 0
        while i < crops.shape[0]:
            b = self.batch_size
            try:
                outs.append(lipsync_batch(self.denoiser, self.sampler, crops[i:i + b],
                                          np.ascontiguousarray(refs[i:i + b]), mels[i:i + b], self.noise, self.hide))
            except Exception as e:
                if is_out_of_memory(e) and b > 1:
                    self.batch_size = max(1, b // 2)
                    msg = f"{self.fn}: out of memory at batch size {b}; continuing with {self.batch_size}"
                    self.notes.append(msg)
                    warnings.warn(msg, RuntimeWarning, stacklevel=2)
                    continue
                raise
            i += b
        return np.concatenate(outs)

    def finish(self, plan: FramePlan) -> np.ndarray:
        from .. import ops

        if plan.generated is None:
            return plan.image
        self.synced += 1
        return ops.paste_back(plan.image, plan.generated, self.mask, plan.affine, blend=self.blend, color=self.color)
