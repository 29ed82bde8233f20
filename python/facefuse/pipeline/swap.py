"""The streaming face-swap pipeline: ``swap_video(source, target, output, ...)``.

Per frame (in :class:`FrameSwapper`): detect -> track (:class:`FaceTracker`, scene cuts
restart the tracks) -> smooth the 5 landmarks of every track in one native call
(:class:`facefuse.LandmarkSmoother`, ``"pose_shape"``) -> select the faces to swap ->
align crops -> swap all of the frame's faces in one model call when the model's batch
dimension is dynamic -> :func:`facefuse.paste_back` of all of them in one call ->
:class:`facefuse.QualityMonitor`. Videos stream through
:func:`facefuse.video.process_video` (decode, swap and encode in concurrent stages joined
by bounded queues; the source audio copied; a temporary file renamed into place only on
success); image targets produce an image.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from .._files import check_distinct, claim_outputs, write_atomic
from .._outputs import write_quality_files
from .tracking import FaceTracker, SceneCutDetector

__all__ = ["SwapResult", "FrameSwapper", "swap_video", "IMAGE_EXTENSIONS", "BLENDS", "COLORS", "FACE_MODES",
           "FACE_ORDERS"]

PathLike = Union[str, "os.PathLike[str]"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
BLENDS = ("alpha", "laplacian", "poisson")
COLORS = (None, "lab")
#: "reference": the one target face closest (ArcFace cosine distance) to a reference face;
#: "all": every detected face (FaceFusion's "many"); "index": the ``face_index``-th face
#: in ``face_order`` (FaceFusion's "one" for index 0), followed by its track.
FACE_MODES = ("reference", "all", "index")
#: "large-small" (FaceFusion's default order), "left-right", "top-bottom", "best-worst" (detector score).
FACE_ORDERS = ("large-small", "left-right", "top-bottom", "best-worst")
#: Largest ``detector_size``: the frame is only ever shrunk to fit the detector's square input,
#: so a larger square is empty canvas (and 100000 asked for a 112 GiB input).
MAX_DETECTOR_SIZE = 4096


@dataclass
class SwapResult:
    """What :func:`swap_video` did.

    ``frames``: frames written; ``fps``: the video's frame rate (0 for an image);
    ``seconds``: wall time of the whole call; ``faces_swapped``: crops pasted in all frames;
    ``frames_with_swap``: frames where at least one face was swapped; ``quality``:
    :meth:`facefuse.QualityMonitor.summary` of the output; ``stage_seconds``: time spent
    in each per-frame stage of the swap worker (detect, track, crop, swap, paste, quality);
    ``warnings``: what the output does not keep of the target, one line each (a frame size the
    encoder cannot take, an alpha channel the image format cannot hold).
    """

    output: str
    frames: int
    fps: float
    seconds: float
    faces_swapped: int
    frames_with_swap: int
    is_image: bool
    quality: Optional[dict] = None
    stage_seconds: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def processing_fps(self) -> float:
        """Frames per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def is_image_path(path: PathLike) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


def _order(faces: Sequence[Any], order: str) -> list[int]:
    """Indices of ``faces`` in ``order``."""
    if not faces:
        return []
    boxes = np.stack([np.asarray(f.box, np.float64) for f in faces])
    if order == "left-right":
        key = boxes[:, 0]
    elif order == "top-bottom":
        key = boxes[:, 1]
    elif order == "large-small":
        key = -np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    else:  # best-worst
        key = -np.array([float(f.score) for f in faces])
    return [int(i) for i in np.argsort(key, kind="stable")]


def _xywh_union(boxes: np.ndarray, w: int, h: int) -> Optional[tuple[float, float, float, float]]:
    """Union of xyxy boxes clipped to the frame as (x, y, w, h); None when empty."""
    x0 = max(0.0, float(boxes[:, 0].min()))
    y0 = max(0.0, float(boxes[:, 1].min()))
    x1 = min(float(w), float(boxes[:, 2].max()))
    y1 = min(float(h), float(boxes[:, 3].max()))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


class FrameSwapper:
    """The per-frame work of :func:`swap_video`, usable on its own (one instance per video).

    ``FrameSwapper(detector, swapper, latent, ...)(frame, index, timestamp) -> frame``:
    ``frame`` H x W x 3 uint8 BGR in, a new swapped frame out. ``detector`` has
    ``detect(frame) -> list[Face]``; ``swapper`` has ``crop``, ``swap``, ``crop_mask``
    and ``batchable`` (:class:`facefuse.models.swapper.FaceSwapper`); ``latent`` is the
    source identity ``(1, 512)`` float32 (``swapper.source_latent``). ``recognizer``
    (``embed(frame, landmarks5)``) and ``reference_embedding`` (normed (512,)) are
    needed for ``faces="reference"``. Frames with ``index < start_frame`` are warm-up
    (:func:`facefuse.video.process_video`'s ``warmup_frames``, whose output is dropped):
    they are detected, tracked, smoothed and selected (that state carries on) but not
    swapped, pasted, counted or given to the quality monitor; they come back unchanged.
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
    ) -> None:
        from ..ops import LandmarkSmoother

        for name, v, choices in (("faces", faces, FACE_MODES), ("face_order", face_order, FACE_ORDERS),
                                 ("blend", blend, BLENDS), ("color", color, COLORS)):
            if v not in choices:
                raise ValueError(f"FrameSwapper: argument '{name}' must be one of "
                                 f"{', '.join(repr(c) for c in choices)}, got {v!r}")
        if faces == "reference" and (recognizer is None or reference_embedding is None):
            raise ValueError("FrameSwapper: faces='reference' needs 'recognizer' and 'reference_embedding'")
        if isinstance(face_index, bool) or not isinstance(face_index, (int, np.integer)) or face_index < 0:
            raise ValueError(f"FrameSwapper: argument 'face_index' must be an int >= 0, got {face_index!r}")
        if isinstance(start_frame, bool) or not isinstance(start_frame, (int, np.integer)) or start_frame < 0:
            raise ValueError(f"FrameSwapper: argument 'start_frame' must be an int >= 0, got {start_frame!r}")
        if np.shape(latent) != (1, 512):
            raise ValueError(f"FrameSwapper: argument 'latent' must have shape (1, 512) (swapper.source_latent), "
                             f"got {np.shape(latent)}")
        self.detector = detector
        self.swapper = swapper
        self.recognizer = recognizer
        self.latent = np.ascontiguousarray(latent, np.float32)
        self.faces = faces
        self.face_index = int(face_index)
        self.face_order = face_order
        self.reference = None if reference_embedding is None else np.asarray(reference_embedding, np.float32)
        self.reference_distance = float(reference_distance)
        self.recheck_every = max(1, int(recheck_every))
        self.blend = blend
        self.color = color
        self.monitor = monitor
        self.start_frame = int(start_frame)
        self.tracker = FaceTracker(max_age=max_age)
        self.cuts = SceneCutDetector()
        # freq: the smoother's rate when no timestamps are given (image targets)
        self.smoother = LandmarkSmoother("pose_shape", freq=float(fps) if fps > 0 else 30.0) if smoothing else None
        self.crop_mask = np.asarray(swapper.crop_mask(), np.float32)
        self._selected: Optional[int] = None  # track followed by faces="index"
        self._ref_cache: dict[int, tuple[float, int]] = {}  # track id -> (distance, frame checked)
        self.faces_swapped = 0
        self.frames_with_swap = 0
        self.frames = 0
        self.stage_seconds = {k: 0.0 for k in ("detect", "track", "select", "crop", "swap", "paste", "quality")}
        self.last_faces: list = []  # the faces swapped in the last frame (track ids set)

    # -- selection -------------------------------------------------------------------
    def _select(self, frame: np.ndarray, index: int, faces: list, ids: np.ndarray) -> list[int]:
        n = len(faces)
        if n == 0:
            return []
        if self.faces == "all":
            return list(range(n))
        if self.faces == "index":
            where = np.nonzero(ids == self._selected)[0] if self._selected is not None else np.zeros(0, int)
            if where.size:
                return [int(where[0])]
            order = _order(faces, self.face_order)
            if self.face_index >= len(order):
                return []
            i = order[self.face_index]
            self._selected = int(ids[i])
            return [i]
        # reference: the embedding of a track is computed when it appears and then every
        # recheck_every frames (not every frame: one recogniser run per face per frame is
        # the pipeline's most expensive optional work)
        dist = np.empty(n)
        for i, (f, tid) in enumerate(zip(faces, ids.tolist())):
            cached = self._ref_cache.get(tid)
            if cached is None or index - cached[1] >= self.recheck_every or index < cached[1]:
                _, normed = self.recognizer.embed(frame, f.landmarks5)
                normed = np.asarray(normed, np.float32).ravel()
                d = float(1.0 - np.dot(normed, self.reference))
                self._ref_cache[tid] = (d, index)
            dist[i] = self._ref_cache[tid][0]
        best = int(np.argmin(dist))
        return [best] if dist[best] < self.reference_distance else []

    def _forget(self, ids: np.ndarray) -> None:
        if ids.size == 0:
            return
        if self.smoother is not None:
            self.smoother.forget(ids)
        for t in ids.tolist():
            self._ref_cache.pop(t, None)
            if t == self._selected:
                self._selected = None

    # -- per frame -------------------------------------------------------------------
    def __call__(self, frame: np.ndarray, index: int = 0, timestamp: Optional[float] = None) -> np.ndarray:
        """Swap one frame (H x W x 3 uint8 BGR) -> a new frame."""
        return self.process_batch([frame], [index], [timestamp])[0]

    def process_batch(self, frames: Sequence[np.ndarray], indices: Sequence[int],
                      timestamps: Sequence[Optional[float]]) -> list[np.ndarray]:
        """Swap consecutive frames; the crops of all of them go through the swapper in one call.

        Detection, tracking, smoothing and selection run frame by frame (they carry state);
        the swap model then sees every selected crop of the batch at once (one run when its
        batch dimension is open); paste-back and the quality monitor follow frame by frame.
        """
        plans = [self._plan(f, i, t) for f, i, t in zip(frames, indices, timestamps)]
        st = self.stage_seconds
        crops = [c for p in plans for c in p["crops"]]
        swapped: Any = []
        masks: Any = None
        if crops:
            t0 = time.perf_counter()
            swapped, masks = self.swapper.swap(np.stack(crops), self.latent)
            st["swap"] += time.perf_counter() - t0
        outs, k0 = [], 0
        for frame, p in zip(frames, plans):
            k = len(p["crops"])
            outs.append(self._finish(frame, p, swapped[k0:k0 + k], None if masks is None else masks[k0:k0 + k]))
            k0 += k
        return outs

    def _plan(self, frame: np.ndarray, index: int, timestamp: Optional[float]) -> dict:
        """Detect, track, smooth, select and crop one frame."""
        st = self.stage_seconds
        t0 = time.perf_counter()
        faces = list(self.detector.detect(frame))
        t1 = time.perf_counter()
        st["detect"] += t1 - t0

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
        if self.smoother is not None and (n or self.smoother.num_tracks):
            smooth = self.smoother.update(lm5, ids, t=timestamp)
            if n and self.smoother.last_reset.any():
                # the smoother saw a jump on these tracks (a cut the frame test missed): whoever
                # is there now must be recognised again
                for tid in ids[self.smoother.last_reset].tolist():
                    self._ref_cache.pop(tid, None)
        else:
            smooth = lm5
        t2 = time.perf_counter()
        st["track"] += t2 - t1

        sel = self._select(frame, index, faces, ids)
        sel = sorted(sel, key=lambda i: int(ids[i]))  # a stable order for the quality monitor
        t3 = time.perf_counter()
        st["select"] += t3 - t2
        if index < self.start_frame:  # warm-up: the state above is all it is for
            return {"warmup": True, "crops": []}
        crops, affines = [], []
        for i in sel:
            c, a = self.swapper.crop(frame, smooth[i])
            crops.append(c)
            affines.append(np.asarray(a, np.float32))
        st["crop"] += time.perf_counter() - t3
        self.frames += 1
        self.last_faces = [faces[i] for i in sel]
        return {"boxes": boxes[sel], "landmarks": smooth[sel], "crops": crops, "affines": affines}

    def _finish(self, frame: np.ndarray, plan: dict, swapped: Any, masks: Any) -> np.ndarray:
        """Paste one frame's swapped crops back and feed the quality monitor."""
        from ..ops import paste_back

        if plan.get("warmup"):
            return frame  # dropped by process_video
        st = self.stage_seconds
        k = len(plan["crops"])
        t0 = time.perf_counter()
        if k == 0:
            out, roi, lms = frame, None, None
        else:
            m = np.broadcast_to(self.crop_mask, (k,) + self.crop_mask.shape)
            if masks is not None:
                # the model's own mask (where it has one) limited by the box mask's feathered border
                m = np.minimum(np.asarray(masks, np.float32), m)
            out = paste_back(frame, np.ascontiguousarray(swapped), np.ascontiguousarray(m),
                             np.stack(plan["affines"]), blend=self.blend, color=self.color)
            self.faces_swapped += k
            self.frames_with_swap += 1
            roi = _xywh_union(plan["boxes"], frame.shape[1], frame.shape[0])
            lms = plan["landmarks"]
        t1 = time.perf_counter()
        st["paste"] += t1 - t0
        if self.monitor is not None:
            self.monitor.update(out, source=frame, roi=roi, landmarks=lms)
        st["quality"] += time.perf_counter() - t1
        return out


# ------------------------------------------------------------------------------- helpers

def _check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"swap_video: argument '{name}' must be one of {shown}, got {value!r}")


def _read_image(path_or_array: Any, name: str) -> np.ndarray:
    if isinstance(path_or_array, np.ndarray):
        a = path_or_array
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"swap_video: argument '{name}' must be an H x W x 3 uint8 BGR image, "
                             f"got {a.dtype} array of shape {a.shape}")
        return np.ascontiguousarray(a)
    if not isinstance(path_or_array, (str, os.PathLike)):
        raise TypeError(f"swap_video: argument '{name}' must be a path or an H x W x 3 uint8 array, "
                        f"got {type(path_or_array).__name__}")
    from ..video import read_image

    p = os.fspath(path_or_array)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"swap_video: argument '{name}': no such file: {p!r}")
    return read_image(p)


def _frame_at(path: str, index: int) -> np.ndarray:
    from ..video import VideoReader

    count = 0
    with VideoReader(path, strict=False) as r:
        for fr in r:
            if fr.index == index:
                return fr.image
            count += 1
    raise ValueError(f"swap_video: argument 'reference_frame' is {index} but {path!r} has only {count} frame(s)")


def _pick_face(detector: Any, image: np.ndarray, order: str, index: int, what: str, hint: str = "") -> Any:
    faces = list(detector.detect(image))
    if not faces:
        raise ValueError(f"swap_video: no face found in the {what}{hint}")
    ordered = _order(faces, order)
    if index >= len(ordered):
        raise ValueError(f"swap_video: argument 'face_index' is {index} but the {what} has {len(faces)} face(s)")
    return faces[ordered[index]]


#: image formats whose files hold an alpha channel (as cv2 writes them)
ALPHA_EXTENSIONS = (".png", ".webp", ".tif", ".tiff")


def _write_image(path: str, image: np.ndarray, alpha: Optional[np.ndarray] = None) -> Optional[str]:
    """Write ``image`` (BGR) with ``alpha`` (H x W, the target's) as its alpha channel where the
    format holds one; returns why the alpha was dropped otherwise (None when kept or absent)."""
    import cv2

    from .._outputs import output_error, reason
    from ..video import VideoError

    # encoded in memory first: cv2.imwrite's bare False does not tell an encoder that does not
    # take the image from a write that failed (a full disk), nor say why
    ext = os.path.splitext(path)[1].lower()
    note = None
    if alpha is not None:
        if ext in ALPHA_EXTENSIONS:  # the face edit worked on BGR; the alpha goes back as it came
            image = np.dstack([image, alpha])
        else:
            note = (f"swap_video: the target's alpha channel is dropped: {ext} images have none "
                    f"(write {', '.join(ALPHA_EXTENSIONS[:-1])} to keep it)")
    try:
        ok, buf = cv2.imencode(ext, image)
    except cv2.error as e:
        ok, buf, why = False, None, f": {str(e).strip().splitlines()[-1]}"
    else:
        why = ""
    if not ok:
        raise VideoError(f"swap_video: cannot encode the image {path!r} as {ext}{why}")

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(buf.tobytes())

    try:
        write_atomic(path, write)
    except OSError as e:
        raise output_error(f"swap_video: cannot write the image {path!r}: {reason(e)}", e) from e
    return note


# ------------------------------------------------------------------------------- API

def swap_video(
    source: Union[PathLike, np.ndarray],
    target: PathLike,
    output: PathLike,
    *,
    models_dir: Optional[PathLike] = None,
    providers: Union[None, str, Sequence[str]] = None,
    detector: str = "yolo_face",
    detector_size: int = 640,
    score_threshold: float = 0.5,
    swapper: str = "inswapper_128",
    blend: str = "laplacian",
    color: Optional[str] = "lab",
    faces: str = "reference",
    face_index: int = 0,
    face_order: str = "large-small",
    reference_frame: int = 0,
    reference: Union[None, PathLike, np.ndarray] = None,
    reference_distance: float = 0.6,
    smoothing: bool = True,
    quality_report: Optional[PathLike] = None,
    quality_plot: Optional[PathLike] = None,
    progress: Union[bool, Callable[[int, int], None]] = True,
    codec: str = "libx264",
    crf: Optional[float] = 18,
    preset: Optional[str] = "medium",
    queue_size: int = 8,
    frame_batch: Optional[int] = None,
    pool: Any = None,
    start_frame: int = 0,
    stop_frame: Optional[int] = None,
    warmup_frames: int = 0,
    copy_audio: bool = True,
) -> SwapResult:
    """Swap the face of ``source`` into ``target`` (a video or an image) and write ``output``.

    Args:
        source: image path (or H x W x 3 uint8 BGR array) with the identity to paste; its
            largest face is used.
        target: video (any FFmpeg format) or image (jpg, png, ...) path.
        output: where to write; a video for a video target (H.264 + the target's audio),
            an image for an image target. Written to a temporary file renamed on success:
            any failure or Ctrl-C leaves no partial file.
        models_dir, providers: where model files are found and which ONNX Runtime
            providers to use (see :class:`facefuse.inference.InferencePool`); not allowed
            together with ``pool``.
        detector, detector_size, score_threshold: face detector model ("yolo_face",
            "scrfd", "retinaface"), its square input size (a multiple of 32 up to 4096; the
            model file's own size when it fixes one) and score threshold.
        swapper: "inswapper_128", "hyperswap_1a_256" / "1b" / "1c", "simswap_256".
        blend: paste-back blend, "alpha", "laplacian" or "poisson"; color: "lab" or None.
        faces: which target faces to swap: "reference" (the face closest to the reference
            face, if its ArcFace distance ``1 - cos`` is below ``reference_distance``),
            "all", or "index" (the ``face_index``-th in ``face_order``, then followed by
            its track).
        face_index, face_order: selection in "index" mode, and which face of the
            reference frame / image is the reference ("large-small", "left-right",
            "top-bottom", "best-worst").
        reference_frame, reference: the reference face comes from ``reference`` (an
            image path or array) when given, else from frame ``reference_frame`` of the target.
        smoothing: smooth the 5 alignment landmarks over time (pose_shape smoother).
        quality_report, quality_plot: write the QualityMonitor JSON / PNG there.
        progress: True (a progress bar on stderr when it is a terminal), False, or a
            callable ``(done, total)`` called after each written frame.
        codec, crf, preset, queue_size: encoder settings and the streaming queues' size
            (see :func:`facefuse.video.process_video`).
        frame_batch: frames whose crops go through the swap model in one run (only the
            frames already decoded are batched, so the stream never waits). ``None``: 4 when
            the model file's batch dimension is open (:attr:`FaceSwapper.batchable`), else 1.
        pool: an :class:`~facefuse.inference.InferencePool` to use (and keep open);
            otherwise one is made and closed at the end.
        start_frame, stop_frame, warmup_frames, copy_audio: write only frames
            ``start_frame <= i < stop_frame`` of a video target, after running the
            ``warmup_frames`` before it without writing them (tracks and smoother warm), with
            or without the target's audio: one chunk of a long video (``facefuse batch
            --chunk-seconds``; see :func:`facefuse.video.process_video`).

    Returns:
        :class:`SwapResult`.

    Raises:
        ValueError (bad argument; no face in the source; ``ModelError`` for a missing
        or wrong model file; ``VideoError`` for an unreadable or truncated target),
        FileNotFoundError (missing source / target / model), KeyboardInterrupt.
    """
    from ..models.detector import DETECTOR_SPECS
    from ..models.swapper import SWAPPER_SPECS

    t_start = time.perf_counter()
    _check_choice("detector", detector, tuple(DETECTOR_SPECS))
    _check_choice("swapper", swapper, tuple(SWAPPER_SPECS))
    _check_choice("blend", blend, BLENDS)
    _check_choice("color", color, COLORS)
    _check_choice("faces", faces, FACE_MODES)
    _check_choice("face_order", face_order, FACE_ORDERS)
    for name, v, lo in (("face_index", face_index, 0), ("reference_frame", reference_frame, 0),
                        ("queue_size", queue_size, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"swap_video: argument '{name}' must be an int >= {lo}, got {v!r}")
    if (isinstance(detector_size, bool) or not isinstance(detector_size, (int, np.integer))
            or not 32 <= detector_size <= MAX_DETECTOR_SIZE or detector_size % 32):
        raise ValueError(f"swap_video: argument 'detector_size' must be a multiple of 32 in "
                         f"[32, {MAX_DETECTOR_SIZE}], got {detector_size!r}")
    if frame_batch is not None and (isinstance(frame_batch, bool) or not isinstance(frame_batch, (int, np.integer))
                                    or frame_batch < 1):
        raise ValueError(f"swap_video: argument 'frame_batch' must be None or an int >= 1, got {frame_batch!r}")
    if not (isinstance(score_threshold, (int, float)) and 0.0 <= score_threshold <= 1.0):
        raise ValueError(f"swap_video: argument 'score_threshold' must be in [0, 1], got {score_threshold!r}")
    if not (isinstance(reference_distance, (int, float)) and 0.0 < reference_distance <= 2.0):
        raise ValueError(f"swap_video: argument 'reference_distance' must be in (0, 2], got {reference_distance!r}")
    if not (isinstance(progress, bool) or callable(progress)):
        raise TypeError(f"swap_video: argument 'progress' must be a bool or a callable, got {type(progress).__name__}")
    if not isinstance(target, (str, os.PathLike)) or not isinstance(output, (str, os.PathLike)):
        raise TypeError("swap_video: arguments 'target' and 'output' must be paths")
    target_s, output_s = os.fspath(target), os.fspath(output)
    if not os.path.isfile(target_s):
        raise FileNotFoundError(f"swap_video: argument 'target': no such file: {target_s!r}")
    # no output may replace an input or another output (symlinks and hard links resolved)
    check_distinct("swap_video", reads={"source": source, "target": target_s, "reference": reference},
                   writes={"output": output_s, "quality_report": quality_report, "quality_plot": quality_plot})
    out_dir = os.path.dirname(os.path.abspath(output_s))
    if not os.path.isdir(out_dir):
        raise FileNotFoundError(f"swap_video: argument 'output': directory does not exist: {out_dir!r}")
    image_target = is_image_path(target_s)
    if image_target and (start_frame or stop_frame is not None or warmup_frames):
        raise ValueError("swap_video: 'start_frame' / 'stop_frame' / 'warmup_frames' apply to a video target only")
    if image_target != is_image_path(output_s):
        kind = "an image" if image_target else "a video"
        raise ValueError(f"swap_video: argument 'output' must be {kind} like the target "
                         f"({os.path.splitext(target_s)[1] or 'no extension'}), got {output_s!r}")
    for name, p in (("quality_report", quality_report), ("quality_plot", quality_plot)):
        if p is not None and not os.path.isdir(os.path.dirname(os.path.abspath(os.fspath(p)))):
            raise FileNotFoundError(f"swap_video: argument '{name}': directory does not exist for {os.fspath(p)!r}")
    if pool is not None and (models_dir is not None or providers is not None):
        raise ValueError("swap_video: pass 'models_dir' / 'providers' to the InferencePool, not with 'pool'")

    from ..inference import InferencePool
    from ..models.detector import FaceDetector
    from ..models.recognizer import FaceRecognizer
    from ..models.swapper import FaceSwapper
    from ..ops import QualityMonitor
    from ..video import VideoReader, process_video, read_image_alpha, size_change_note
    from .progress import ProgressBar

    own_pool = pool is None
    # from here on, a temporary file of these outputs is ours; stale ones a killed run left go now
    claim = claim_outputs((output_s, quality_report, quality_plot))
    claim.__enter__()
    bar: Optional[ProgressBar] = None
    try:
        if own_pool:
            pool = InferencePool(models_dir=models_dir, providers=providers)
        # every model loads (and is checked) before any frame is decoded or any file made
        try:
            det = FaceDetector(pool, detector, size=int(detector_size), score_threshold=float(score_threshold))
        except ValueError as e:  # a file with a fixed input size: FaceDetector names its own argument
            if "argument 'size'" not in str(e):
                raise
            raise type(e)("swap_video: " + str(e).replace("argument 'size'", "argument 'detector_size'")
                          .replace("; pass size=", "; use ")) from e
        swp = FaceSwapper(pool, swapper)
        rec = FaceRecognizer(pool, swp.recognizer)

        src_img = _read_image(source, "source")
        src_face = _pick_face(det, src_img, "large-small", 0, "source image")
        embedding, _ = rec.embed(src_img, src_face.landmarks5)
        latent = swp.source_latent(np.asarray(embedding, np.float32))

        fps = 0.0
        total = 1
        notes: list = []
        target_img = target_alpha = None
        if image_target:  # read once; its alpha channel (if any) goes into the output as it is
            target_img, target_alpha = read_image_alpha(target_s)
        else:
            with VideoReader(target_s) as r:  # opening decodes frame 0: an unreadable file fails here
                fps, total = r.fps, r.frame_count
                size_note = size_change_note(r.width, r.height, codec=codec, crf=crf, preset=preset)
            if size_note:  # an odd size the encoder cannot take (VideoWriter warns too)
                notes.append(size_note)
            if total:
                total = max(0, (total if stop_frame is None else min(total, stop_frame)) - start_frame)

        ref_emb = None
        if faces == "reference":
            if reference is not None:
                ref_img, what = _read_image(reference, "reference"), "reference image"
            elif image_target:
                ref_img, what = target_img, "target image"
            else:
                ref_img, what = _frame_at(target_s, int(reference_frame)), f"reference frame {int(reference_frame)}"
            hint = ("" if reference is not None else
                    " (choose the frame that shows the reference face with reference_frame= / --reference-frame, "
                    "or give reference= / --reference-image; faces='all' or 'index' need no reference)")
            ref_face = _pick_face(det, ref_img, face_order, int(face_index), what, hint)
            _, ref_emb = rec.embed(ref_img, ref_face.landmarks5)
            ref_emb = np.asarray(ref_emb, np.float32).ravel()

        monitor = QualityMonitor()
        worker = FrameSwapper(det, swp, latent, recognizer=rec, faces=faces, face_index=int(face_index),
                              face_order=face_order, reference_embedding=ref_emb,
                              reference_distance=float(reference_distance),
                              recheck_every=max(1, int(round(fps))) if fps else 25,
                              blend=blend, color=color, smoothing=smoothing, fps=fps or 25.0, monitor=monitor,
                              start_frame=start_frame)

        if callable(progress) and not isinstance(progress, bool):
            on_progress = progress
        elif progress:
            bar = ProgressBar(total, label="swap")
            on_progress = bar.update
        else:
            on_progress = None

        if image_target:
            out = worker(target_img, 0, None)
            alpha_note = _write_image(output_s, out, target_alpha)
            if alpha_note:
                notes.append(alpha_note)
                warnings.warn(alpha_note, UserWarning, stacklevel=2)
            frames = 1
            if on_progress is not None:
                on_progress(1, 1)
        else:
            batch = int(frame_batch) if frame_batch is not None else (4 if swp.batchable else 1)
            frames = process_video(target_s, output_s, worker.process_batch if batch > 1 else worker,
                                   queue_size=queue_size, on_progress=on_progress, codec=codec, crf=crf,
                                   preset=preset, batch_size=batch, copy_audio=copy_audio,
                                   start_frame=start_frame, stop_frame=stop_frame, warmup_frames=warmup_frames)
        if bar is not None:
            bar.close()
        write_quality_files("swap_video", [("image" if image_target else "video", output_s)], monitor,
                            quality_report, quality_plot)  # a failure says the output was kept
        return SwapResult(output=output_s, frames=int(frames), fps=float(fps),
                          seconds=time.perf_counter() - t_start, faces_swapped=worker.faces_swapped,
                          frames_with_swap=worker.frames_with_swap, is_image=image_target,
                          quality=monitor.summary(), stage_seconds=dict(worker.stage_seconds), warnings=notes)
    finally:
        try:
            if bar is not None:
                bar.close()
            if own_pool and pool is not None:
                pool.close()
        finally:
            claim.__exit__(None, None, None)
