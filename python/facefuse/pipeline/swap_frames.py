"""The swap frame processor: :class:`FrameSwapper` (the per-frame work of ``swap_video``).

Per frame: detect -> track (:class:`FaceTracker`, scene cuts restart the tracks) -> smooth
the 5 landmarks of every track in one native call (:class:`facefuse.LandmarkSmoother`,
``"pose_shape"``) -> select the faces to swap -> align crops (``plan``); the crops of a
batch of frames through the swap model in one call (``model``); :func:`facefuse.paste_back`
of a frame's faces in one call (``finish``).

With ``frame_device="cuda"`` the frame is uploaded once in ``plan``; its crops are one batched
:func:`facefuse.ops.warp_affine` on the GPU, the swapper's pre- / post-processing run there
(:meth:`FaceSwapper.swap` on CuPy crops) and ``finish`` pastes on the GPU and returns the
device frame (the engine gives it to the quality monitor, then downloads it once).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

import numpy as np

from ..ops._common import check_choice, check_int
from ..inference.device_io import array_module
from .device import to_host, upload
from .engine import FramePlan, FrameProcessor
from .swap_layers import SwapLayers
from .selection import FACE_MODES, FACE_ORDERS, FaceSelector, roi_union
from .tracking import FaceTracker, SceneCutDetector

__all__ = ["SwapPlan", "FrameSwapper", "check_swap_options", "BLENDS", "COLORS"]

BLENDS = ("alpha", "laplacian", "poisson")
COLORS = (None, "lab")
_STAGES = ("detect", "track", "select", "crop", "swap", "mask", "enhance", "paste", "quality")


@dataclass
class SwapPlan(FramePlan):
    """One frame's faces to swap: their boxes, smoothed landmarks, aligned crops and affines;
    ``swapped`` / ``masks``: the swap model's outputs for these crops."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    crops: Any = field(default_factory=list)  # a list of host crops, or one [K, S, S, 3] device array
    affines: List[np.ndarray] = field(default_factory=list)
    swapped: Any = None
    masks: Any = None
    enh_crops: List[np.ndarray] = field(default_factory=list)  # the enhancer's crops of the frame
    enh_affines: List[np.ndarray] = field(default_factory=list)
    enhanced: Any = None  # [K, E, E, 3] enhancer layer and its masks (blend included)
    enh_masks: Any = None


def check_swap_options(fn: str, faces: str, face_order: str, blend: str, color: Optional[str],
                       face_index: Any) -> None:
    """The contract of the per-frame swap options, for :class:`FrameSwapper` and ``swap_video``
    (which checks before any model loads)."""
    for name, v, choices in (("faces", faces, FACE_MODES), ("face_order", face_order, FACE_ORDERS),
                             ("blend", blend, BLENDS), ("color", color, COLORS)):
        check_choice(fn, name, v, choices)
    check_int(fn, "face_index", face_index, 0)


class FrameSwapper(FrameProcessor):
    """The per-frame work of :func:`swap_video`, usable on its own (one instance per video).

    ``FrameSwapper(detector, swapper, latent, ...)(frame, index, timestamp) -> frame``:
    ``frame`` H x W x 3 uint8 BGR in, a new swapped frame out. ``detector`` has
    ``detect(frame) -> list[Face]``; ``swapper`` has ``crop``, ``swap``, ``crop_mask``
    and ``batchable`` (:class:`facefuse.models.swapper.FaceSwapper`); ``latent`` is the
    source identity ``(1, 512)`` float32 (``swapper.source_latent``). ``recognizer``
    (``embed(frame, landmarks5)``) and ``reference_embedding`` (normed (512,)) are
    needed for ``faces="reference"``. Frames with ``index < start_frame`` are warm-up:
    they are detected, tracked, smoothed and selected (that state carries on) but not
    swapped, pasted, counted or given to the quality monitor; they come back unchanged.
    ``monitor`` is fed by ``__call__`` / :meth:`process_batch` (the engine feeds its own).
    ``frame_device``: "cpu" or "cuda" (resolve "auto" with
    :func:`facefuse.pipeline.device.resolve_frame_device`); see the module docstring.
    ``pixel_boost``: the swap crop's size (None: the model's; see :meth:`FaceSwapper.swap`).
    ``mask_types`` / ``mask_blur`` / ``mask_padding`` / ``mask_regions`` / ``masker`` and
    ``enhancer`` / ``enhancer_blend``: FaceFusion's masks and face enhancer
    (:class:`~facefuse.pipeline.swap_layers.SwapLayers`; host frames only).
    """

    def __init__(
        self,
        detector: Any,
        swapper: Any,
        latent: np.ndarray,
        *,
        recognizer: Any = None,
        faces: str = "reference",
        face_index: int = 0,
        face_order: str = "large-small",
        reference_embedding: Optional[np.ndarray] = None,
        reference_distance: float = 0.6,
        recheck_every: int = 25,
        blend: str = "laplacian",
        color: Optional[str] = "lab",
        smoothing: bool = True,
        fps: float = 25.0,
        monitor: Any = None,
        max_age: int = 10,
        start_frame: int = 0,
        batch_size: int = 1,
        frame_device: str = "cpu",
        pixel_boost: Optional[int] = None,
        mask_types: Sequence[str] = ("box",),
        mask_blur: float = 0.3,
        mask_padding: Any = (0, 0, 0, 0),
        mask_regions: Sequence[str] = (),
        masker: Any = None,
        enhancer: Any = None,
        enhancer_blend: int = 80,
    ) -> None:
        from ..ops import LandmarkSmoother

        check_swap_options("FrameSwapper", faces, face_order, blend, color, face_index)
        if faces == "reference" and (recognizer is None or reference_embedding is None):
            raise ValueError("FrameSwapper: faces='reference' needs 'recognizer' and 'reference_embedding'")
        check_int("FrameSwapper", "start_frame", start_frame, lo=0)
        check_int("FrameSwapper", "batch_size", batch_size, lo=1)
        check_choice("FrameSwapper", "frame_device", frame_device, ("cpu", "cuda"))
        if frame_device == "cuda" and blend == "poisson":
            raise ValueError("FrameSwapper: blend='poisson' has no GPU kernel; use frame_device='cpu'")
        if np.shape(latent) != (1, 512):
            raise ValueError(f"FrameSwapper: argument 'latent' must have shape (1, 512) (swapper.source_latent), "
                             f"got {np.shape(latent)}")
        self.detector = detector
        self.swapper = swapper
        self.latent = np.ascontiguousarray(latent, np.float32)
        self.selector = FaceSelector(faces, face_index=face_index, face_order=face_order, recognizer=recognizer,
                                     reference=reference_embedding, reference_distance=reference_distance,
                                     recheck_every=recheck_every)
        self.blend = blend
        self.color = color
        self.monitor = monitor
        self.start_frame = int(start_frame)
        self.batch_size = int(batch_size)
        self.tracker = FaceTracker(max_age=max_age)
        self.cuts = SceneCutDetector()
        # freq: the smoother's rate when no timestamps are given (image targets)
        self.smoother = LandmarkSmoother("pose_shape", freq=float(fps) if fps > 0 else 30.0) if smoothing else None
        self.pixel_boost = swapper.boost_size(pixel_boost)  # ValueError naming 'pixel_boost'
        self.layers = SwapLayers(self.pixel_boost, mask_types=mask_types, mask_blur=mask_blur,
                                 mask_padding=mask_padding, mask_regions=mask_regions, masker=masker,
                                 enhancer=enhancer, enhancer_blend=enhancer_blend)
        if frame_device == "cuda" and self.layers.active:
            raise ValueError("FrameSwapper: the enhancer and the occlusion / region masks run on host frames; "
                             "use frame_device='cpu'")
        box = self.layers.box if self.layers.box is not None else np.ones((self.pixel_boost,) * 2, np.float32)
        self.crop_mask = np.asarray(box, np.float32)
        self.frame_device = frame_device
        self._device_mask = None  # crop_mask on the GPU, uploaded with the first device frame
        self.faces_swapped = 0
        self.frames_with_swap = 0
        self.frames = 0
        self.stage_seconds = {k: 0.0 for k in _STAGES}
        self.last_faces: list = []  # the faces swapped in the last frame (track ids set)

    # -- standalone use ------------------------------------------------------------------
    def __call__(self, frame: np.ndarray, index: int = 0, timestamp: Optional[float] = None) -> np.ndarray:
        """Swap one frame (H x W x 3 uint8 BGR) -> a new frame."""
        return self.process_batch([frame], [index], [timestamp])[0]

    def process_batch(self, frames: Sequence[np.ndarray], indices: Sequence[int],
                      timestamps: Sequence[Optional[float]]) -> list[np.ndarray]:
        """Swap consecutive frames; the crops of all of them go through the swapper in one call."""
        plans = [self.plan(f, i, t, None) for f, i, t in zip(frames, indices, timestamps)]
        self.model(plans)
        outs = []
        for p in plans:
            out = self.finish(p)
            if self.monitor is not None and not p.warmup:
                t0 = time.perf_counter()
                self.monitor.update(out, source=p.monitor_source(out), roi=p.roi, landmarks=p.landmarks)
                self.stage_seconds["quality"] += time.perf_counter() - t0
            outs.append(to_host(out))
        return outs

    # -- the processor's stages ------------------------------------------------------------
    def _forget(self, ids: np.ndarray) -> None:
        if ids.size == 0:
            return
        if self.smoother is not None:
            self.smoother.forget(ids)
        self.selector.forget(ids.tolist())

    def _track(self, frame: np.ndarray, faces: list, timestamp: Optional[float]) -> tuple:
        """Tracks and smoothed 5 landmarks of ``faces``: (boxes, ids, smoothed landmarks)."""
        if self.cuts.update(frame):
            self._forget(self.tracker.reset())
        n = len(faces)
        boxes = np.stack([np.asarray(f.box, np.float32) for f in faces]) if n else np.zeros((0, 4), np.float32)
        lm5 = (np.stack([np.asarray(f.landmarks5, np.float32) for f in faces]) if n
               else np.zeros((0, 5, 2), np.float32))
        ids = self.tracker.update(boxes, lm5 if n else None)
        self._forget(self.tracker.dropped)
        for f, tid in zip(faces, ids.tolist()):
            f.track_id = tid
        smooth = lm5
        if self.smoother is not None and (n or self.smoother.num_tracks):
            smooth = self.smoother.update(lm5, ids, t=timestamp)
            if n and self.smoother.last_reset.any():
                # the smoother saw a jump on these tracks (a cut the frame test missed)
                self.selector.recheck(ids[self.smoother.last_reset].tolist())
        return boxes, ids, smooth

    def plan(self, image: np.ndarray, index: int, timestamp: Optional[float], side: Any = None) -> SwapPlan:
        """Detect, track, smooth, select and crop one frame."""
        st = self.stage_seconds
        t0 = time.perf_counter()
        faces = list(self.detector.detect(image))
        t1 = time.perf_counter()
        st["detect"] += t1 - t0
        boxes, ids, smooth = self._track(image, faces, timestamp)
        t2 = time.perf_counter()
        st["track"] += t2 - t1
        sel = self.selector.select(image, index, faces, ids)
        sel = sorted(sel, key=lambda i: int(ids[i]))  # a stable order for the quality monitor
        t3 = time.perf_counter()
        st["select"] += t3 - t2
        plan = SwapPlan(index=index, timestamp=timestamp, image=image)
        if index < self.start_frame:  # warm-up: the state above is all it is for
            plan.warmup = True
            return plan
        if self.frame_device == "cuda":
            self._crop_on_device(plan, [smooth[i] for i in sel])
        else:
            enhancer = self.layers.enhancer
            for i in sel:
                c, a = self.swapper.crop(image, smooth[i], self.pixel_boost)
                plan.crops.append(c)
                plan.affines.append(np.asarray(a, np.float32))
                if enhancer is not None:
                    c, a = enhancer.crop(image, smooth[i])
                    plan.enh_crops.append(c)
                    plan.enh_affines.append(np.asarray(a, np.float32))
        st["crop"] += time.perf_counter() - t3
        self.frames += 1
        self.last_faces = [faces[i] for i in sel]
        plan.boxes = boxes[sel]
        if sel:  # the quality monitor's face region and landmarks (None: a frame without a swap)
            plan.landmarks = smooth[sel]
            plan.roi = roi_union(plan.boxes, image.shape[1], image.shape[0])
        return plan

    def _crop_on_device(self, plan: SwapPlan, landmarks: list) -> None:
        """Upload the frame; all its crops in one batched warp on the GPU (the bilinear warp
        of :func:`facefuse.ops.warp_affine` with replicated borders, as the host's crops)."""
        from ..ops import warp_affine

        plan.device_image = upload(plan.image)
        if not landmarks:
            return
        fwd = np.stack([np.asarray(self.swapper.affine(lm, self.pixel_boost), np.float64) for lm in landmarks])
        h, w = self.crop_mask.shape
        plan.crops = warp_affine(plan.device_image, fwd, (w, h), border="replicate")
        plan.affines = [a.astype(np.float32) for a in fwd]

    def model(self, plans: List[FramePlan]) -> None:
        """All crops of the batch through the swap model in one call (one run when its batch
        dimension is open)."""
        with_crops = [p for p in plans if len(p.crops)]
        if not with_crops:
            return
        if self.frame_device == "cuda":
            import cupy

            crops = cupy.concatenate([p.crops for p in with_crops])
        else:
            crops = np.stack([c for p in with_crops for c in p.crops])
        t0 = time.perf_counter()
        swapped, masks = self.swapper.swap(crops, self.latent)
        self.stage_seconds["swap"] += time.perf_counter() - t0
        enhanced = enh_masks = None
        if self.layers.active:  # host frames only (checked in __init__)
            t0 = time.perf_counter()
            masks = self.layers.swap_masks(crops, swapped, masks)
            t1 = time.perf_counter()
            self.stage_seconds["mask"] += t1 - t0
            if self.layers.enhancer is not None:
                enhanced, enh_masks = self.layers.enhance(
                    np.stack([c for p in with_crops for c in p.enh_crops]),
                    np.stack([a for p in with_crops for a in p.enh_affines]), swapped, masks,
                    np.stack([a for p in with_crops for a in p.affines]))
                self.stage_seconds["enhance"] += time.perf_counter() - t1
        k0 = 0
        for p in plans:
            k = len(p.crops)
            p.swapped = swapped[k0:k0 + k]
            p.masks = None if masks is None else masks[k0:k0 + k]
            if enhanced is not None and k:
                p.enhanced, p.enh_masks = enhanced[k0:k0 + k], enh_masks[k0:k0 + k]
            k0 += k

    def _crop_masks(self, k: int, model_masks: Any) -> Any:
        """The paste masks of k faces: the box mask, limited by the model's own mask where it
        has one (the box mask's feathered border stays); on the frames' device."""
        if self.frame_device == "cuda":
            import cupy as xp

            if self._device_mask is None:
                self._device_mask = xp.asarray(self.crop_mask)
            box = self._device_mask
        else:
            xp, box = np, self.crop_mask
        m = xp.broadcast_to(box, (k,) + box.shape)
        if model_masks is not None:
            m = xp.minimum(xp.asarray(model_masks, xp.float32), m)
        return xp.ascontiguousarray(m)

    def finish(self, plan: FramePlan) -> Any:
        """Paste one frame's swapped crops back (all faces in one call); a device frame with
        ``frame_device="cuda"``."""
        from ..ops import paste_back

        k = len(plan.crops)
        if plan.warmup or k == 0:
            return plan.image if plan.device_image is None else plan.device_image
        t0 = time.perf_counter()
        # with the layers on, plan.masks are the final masks (box included)
        m = plan.masks if self.layers.active else self._crop_masks(k, plan.masks)
        src = plan.image if plan.device_image is None else plan.device_image
        swapped = array_module(plan.swapped).ascontiguousarray(plan.swapped)
        if plan.enhanced is not None and self.blend == "alpha" and self.color is None:  # both layers: one call
            out = paste_back(src, list(swapped) + list(plan.enhanced), list(m) + list(plan.enh_masks),
                             plan.affines + plan.enh_affines)
        else:
            out = paste_back(src, swapped, m, np.stack(plan.affines), blend=self.blend, color=self.color)
            if plan.enhanced is not None:  # the swap's blend / colour are its own: the enhancer layer in alpha
                out = paste_back(out, plan.enhanced, plan.enh_masks, np.stack(plan.enh_affines), out=out)
        self.faces_swapped += k
        self.frames_with_swap += 1
        self.stage_seconds["paste"] += time.perf_counter() - t0
        return out
