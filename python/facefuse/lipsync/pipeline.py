"""Streaming Diff2Lip lip sync of a video to a driving audio track.

Data flow (nothing grows with the video's length)::

    VideoReader ─ frames ─┐                                    (thread "facefuse-lipsync-prepare")
    decode_audio ─ MelStream ─ mel window of frame k ──────────┤ detect face, smooth box,
                                                               │ square crop -> 128 px
                        bounded queue (batch_size items) ◄─────┘
    main thread: batch of <= batch_size frames -> DDIM x steps on the denoiser
                 -> composite -> paste_back (soft mask, laplacian/alpha, LAB) -> VideoWriter

Differences from Diff2Lip's ``generate.py`` (all deliberate): frames and audio stream instead
of being loaded whole; face boxes are smoothed causally (facefuse's One Euro smoother on the
two box corners) instead of a 5-box centred mean; the crop is a square (Diff2Lip stretches the
box to 128 x 128); the generated mouth is pasted back through an inverse warp with a feathered
mask and a multi-band blend instead of a resized hard rectangle; a frame without a face is
written unchanged instead of aborting the run; the output keeps the video's own frame rate
(Diff2Lip resamples to 25 fps; the mel windows follow ``mel_window_start``); the video is cut
where the audio ends (Diff2Lip cuts at the last complete 0.2 s mel window, ~3 frames earlier).
"""
from __future__ import annotations

import math
import os
import queue
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Union

import numpy as np

from .._files import check_distinct, claim_outputs, is_path
from .._outputs import write_quality_files
from .audio import MEL_WINDOW, SAMPLE_RATE, MelStream, decode_audio, mel_window, mel_window_start
from .model import MODEL_SIZE, Diff2LipDenoiser, is_out_of_memory
from .sampler import DDIMSampler, from_model, initial_noise, lipsync_batch, to_model

__all__ = ["lipsync_video", "LipsyncResult", "paste_mask", "square_crop_affine"]

PathLike = Union[str, "os.PathLike[str]"]

#: Diff2Lip's inference script samples with --sampling_seed=7
DEFAULT_SEED = 7
#: seconds of silence appended after the audio so the last frames' 0.2 s windows fit
_TAIL_PAD_SECONDS = 0.25
_CPU_BATCH = 4


@dataclass
class LipsyncResult:
    """What :func:`lipsync_video` did."""

    output: str
    frames: int  # frames written
    frames_synced: int  # of which had a face and got a generated mouth
    video_frames: int  # frames the video has (as far as it was read: more than ``frames`` when cut)
    cut: bool  # the video was cut to the (shorter) audio
    audio_seconds: float  # the driving audio's length (decoded when it cut the video, else from its header)
    fps: float
    batch_size: int  # final batch size (smaller than asked after an out-of-memory)
    seconds: float  # wall time
    quality: Optional[dict] = None  # QualityMonitor.summary() when a report / plot was asked
    warnings: List[str] = field(default_factory=list)


# --------------------------------------------------------------------------- geometry

def square_crop_affine(box: np.ndarray, size: int = MODEL_SIZE, scale: float = 1.0) -> np.ndarray:
    """2 x 3 float32 frame -> crop matrix of the square of side ``scale * max(w, h)`` centred
    on ``box`` (x1, y1, x2, y2), scaled to ``size`` x ``size``."""
    b = np.asarray(box, dtype=np.float64)
    if b.shape != (4,) or not np.isfinite(b).all():
        raise ValueError(f"square_crop_affine: argument 'box' must be 4 finite numbers (x1, y1, x2, y2), got {box!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"square_crop_affine: argument 'size' must be an int >= 1, got {size!r}")
    if not isinstance(scale, (int, float)) or not 0 < scale < math.inf:
        raise ValueError(f"square_crop_affine: argument 'scale' must be a positive number, got {scale!r}")
    x1, y1, x2, y2 = (float(v) for v in b)
    side = max(x2 - x1, y2 - y1, 1.0) * float(scale)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    s = size / side
    return np.array([[s, 0.0, -(cx - side / 2.0) * s], [0.0, s, -(cy - side / 2.0) * s]], np.float32)


def paste_mask(size: int = MODEL_SIZE, face_hide_percentage: float = 0.5, feather: float = 0.08) -> np.ndarray:
    """float32 ``[size, size]`` paste-back weights: 1 over the generated lower part, falling
    smoothly to 0 towards its top edge and the crop's sides and bottom (a Gaussian-blurred
    rectangle inset by ``feather * size``), so neither the square's edge nor the line where
    the generated part starts shows in the frame. 0 above the generated part."""
    import cv2

    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"paste_mask: argument 'size' must be an int >= 2, got {size!r}")
    if isinstance(face_hide_percentage, bool) or not isinstance(face_hide_percentage, (int, float)) \
            or not 0.0 < face_hide_percentage < 1.0:
        raise ValueError(f"paste_mask: argument 'face_hide_percentage' must be in (0, 1), got {face_hide_percentage!r}")
    if isinstance(feather, bool) or not isinstance(feather, (int, float)) or not 0.0 <= feather < 0.5:
        raise ValueError(f"paste_mask: argument 'feather' must be in [0, 0.5), got {feather!r}")

    f = max(1, int(round(feather * size)))
    r0 = int(size * (1 - face_hide_percentage))
    m = np.zeros((size, size), np.float32)
    m[min(size, r0 + f):size - f, f:size - f] = 1.0
    # sigma f / 3: the ramp spans the inset, ~0 (3 sigma) at the crop edges and at the cut
    m = cv2.GaussianBlur(m, (0, 0), sigmaX=f / 3.0, borderType=cv2.BORDER_CONSTANT)
    m[:r0] = 0.0
    return np.clip(m, 0.0, 1.0)


# --------------------------------------------------------------------------- audio feed

class _MelFeed:
    """Mel windows for frames 0, 1, 2, ... pulled from the streaming decoder; keeps only the
    mel rows from the current window on."""

    def __init__(self, path: PathLike, fps: float) -> None:
        self.fps = fps
        self._chunks = decode_audio(path, chunk_samples=SAMPLE_RATE // 2)
        self._stream = MelStream()
        self._rows = np.zeros((0, 80), np.float32)
        self._offset = 0
        self.samples = 0
        self.ended = False

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def window(self, k: int) -> Optional[np.ndarray]:
        """Frame k's [80, 16] window, or None when frame k (at k / fps) is past the audio."""
        start = mel_window_start(k, self.fps)
        while self._offset + self._rows.shape[0] < start + MEL_WINDOW and not self.ended:
            chunk = next(self._chunks, None)
            if chunk is None:
                self.ended = True
                pad = np.zeros(int(_TAIL_PAD_SECONDS * SAMPLE_RATE), np.float32)
                new = np.concatenate([self._stream.push(pad), self._stream.flush()])
            else:
                self.samples += chunk.shape[0]
                new = self._stream.push(chunk)
            self._rows = np.concatenate([self._rows, new])
            # drop the rows before the window while reading: a chunk that starts late in a long
            # video (start_frame) would otherwise hold, and re-copy, every row up to its start
            self._drop_before(start)
        if self.ended and k / self.fps >= self.seconds:
            return None
        w = mel_window(self._rows, k, self.fps, offset=self._offset)
        self._drop_before(start)
        return w

    def _drop_before(self, step: int) -> None:
        drop = min(step - self._offset, self._rows.shape[0])
        if drop > 0:
            self._rows = self._rows[drop:]
            self._offset += drop

    def close(self) -> None:
        self._chunks.close()


# --------------------------------------------------------------------------- helpers

def _check_path(fn: str, name: str, p: Any) -> str:
    if not isinstance(p, (str, os.PathLike)):
        raise TypeError(f"{fn}: argument '{name}' must be a path, got {type(p).__name__}")
    s = os.fspath(p)
    if not os.path.isfile(s):
        raise FileNotFoundError(f"{fn}: argument '{name}': no such file: {s!r}")
    return s


def _free_gpu_mib() -> Optional[int]:
    """Free MiB of the GPU the session gets as device 0."""
    cmd = ["nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,nounits"]
    # nvidia-smi ignores CUDA_VISIBLE_DEVICES and lists every GPU: ask for the first visible one
    # (a `facefuse batch` worker on GPU 1 must not size its batch by GPU 0's free memory)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if visible:
        cmd.append(f"--id={visible}")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=True).stdout
        return int(out.split()[0])
    except Exception:  # no driver / tool: the caller falls back to a fixed size
        return None


def auto_batch_size(denoiser: Diff2LipDenoiser) -> int:
    """A starting batch size: 4 on CPU; on a GPU, free memory / a per-frame budget (about
    0.25 GiB per frame in fp32, half in fp16, a generous estimate for the 128 px UNet's
    activations) clamped to 1..64. Out-of-memory errors halve it during the run."""
    if not any(p in denoiser.providers for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider")):
        return _CPU_BATCH
    free = _free_gpu_mib()
    if free is None:
        return 8
    per_frame = 128 if denoiser.dtype == np.float16 else 256
    return int(max(1, min(64, (free - 1024) // per_frame)))


def _make_detector(detector: Any, pool: Any) -> Any:
    if hasattr(detector, "detect") and callable(detector.detect):
        return detector
    if not isinstance(detector, str):
        raise TypeError("lipsync_video: argument 'detector' must be a detector model name (e.g. 'yolo_face') or an "
                        f"object with .detect(frame) -> list[Face], got {type(detector).__name__}")
    try:
        from ..models.detector import FaceDetector
    except ImportError as e:  # pragma: no cover - present in a full install
        raise ImportError(f"lipsync_video: the face detector module is not available ({e})") from e
    return FaceDetector(pool, detector)


class _Item:
    __slots__ = ("index", "image", "crop", "affine", "mel", "box")

    def __init__(self, index: int, image: np.ndarray, crop: Optional[np.ndarray], affine: Optional[np.ndarray],
                 mel: Optional[np.ndarray], box: Optional[np.ndarray]) -> None:
        self.index, self.image, self.crop, self.affine, self.mel, self.box = index, image, crop, affine, mel, box


_END = object()


# --------------------------------------------------------------------------- the pipeline

def lipsync_video(
    video: PathLike,
    audio: PathLike,
    output: PathLike,
    *,
    model: PathLike = "diff2lip.onnx",
    models_dir: Optional[PathLike] = None,
    providers: Union[None, str, Sequence[str]] = None,
    detector: Any = "yolo_face",
    steps: int = 25,
    spacing: str = "ddim",
    batch_size: Optional[int] = None,
    reference: str = "gt",
    face_hide_percentage: float = 0.5,
    blend: str = "laplacian",
    color: Optional[str] = "lab",
    seed: Optional[int] = DEFAULT_SEED,
    crop_scale: float = 1.0,
    box_smoothing: Optional[str] = "one_euro",
    quality_report: Optional[PathLike] = None,
    quality_plot: Optional[PathLike] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    codec: str = "libx264",
    crf: Optional[float] = 18,
    preset: Optional[str] = "medium",
    pool: Any = None,
    start_frame: int = 0,
    stop_frame: Optional[int] = None,
    warmup_frames: int = 0,
    copy_audio: bool = True,
) -> LipsyncResult:
    """Lip-sync ``video`` to ``audio`` with Diff2Lip and write ``output`` (with ``audio``'s sound).

    Args:
        video: the video whose mouth is redone (any FFmpeg-readable file).
        audio: the driving speech: an audio file or a video with an audio track. Shorter than
            the video: the video is cut to it (a ``UserWarning`` says so); longer: the output
            audio is trimmed to the video.
        output: the output file (its extension picks the container); written to a temporary
            file and renamed on success, nothing is left on failure.
        model: the exported Diff2Lip denoiser (:data:`~.model.DIFF2LIP`, float32 or float16), a
            path or a file name searched in ``models_dir`` / ``$FACEFUSE_MODELS``.
        models_dir, providers: for the :class:`~facefuse.inference.InferencePool`.
        detector: a face detector model key of :mod:`facefuse.models.detector` (``"yolo_face"``,
            ``"scrfd"``, ``"retinaface"``) or an object with ``.detect(frame) -> list[Face]``
            (sorted by score; the first face is synced).
        steps, spacing: DDIM steps and their spacing (:class:`~.sampler.DDIMSampler`; Diff2Lip:
            25, ``"ddim"``).
        batch_size: frames per model batch; None picks one from free GPU memory (4 on CPU). An
            out-of-memory error halves it and retries instead of failing.
        reference: ``"gt"`` (each frame is its own reference, Diff2Lip's cross-sync default) or
            ``"first"`` (the first frame with a face).
        face_hide_percentage: the lower fraction of the crop that is regenerated (0.5).
        blend, color: paste-back blend (``"laplacian"`` or ``"alpha"``) and colour match
            (``"lab"`` or None), see :func:`facefuse.paste_back`.
        seed: seed of the one noise image shared by all frames (None: random).
        crop_scale: the square crop's side in units of the detected box's longer side.
        box_smoothing: a :class:`facefuse.LandmarkSmoother` method for the box corners, or None.
        quality_report, quality_plot: write a :class:`facefuse.QualityMonitor` JSON report / PNG plot.
        progress: ``progress(done, total)`` after each written frame (total: an estimate).
        codec, crf, preset: the video encoder (:class:`facefuse.video.VideoWriter`).
        pool: an existing ``InferencePool`` to use (kept open); default: a new one, closed at the end.
        start_frame, stop_frame, warmup_frames, copy_audio: write only frames
            ``start_frame <= k < stop_frame``, after running detection and box smoothing (not
            the model) on the ``warmup_frames`` before it, with or without the sound: one chunk
            of a long video (``facefuse batch --chunk-seconds``). The frames equal those of a
            whole run, except with ``reference="first"`` (the chunk's first face is its reference).

    Returns:
        :class:`LipsyncResult`.

    Raises:
        FileNotFoundError: a missing input or model file. ValueError / TypeError: bad arguments
        (named), unreadable media, a model with the wrong signature, audio shorter than a frame.
    """
    fn = "lipsync_video"
    t_start = time.perf_counter()
    video_s = _check_path(fn, "video", video)
    audio_s = _check_path(fn, "audio", audio)
    if not isinstance(output, (str, os.PathLike)):
        raise TypeError(f"{fn}: argument 'output' must be a path, got {type(output).__name__}")
    out_s = os.fspath(output)
    # no output may replace an input or another output (symlinks and hard links resolved);
    # the model counts as an input when given as a path with a folder or an existing file
    model_read = model if is_path(model) and (os.path.dirname(os.fspath(model))
                                         or os.path.isfile(os.fspath(model))) else None
    check_distinct(fn, reads={"video": video_s, "audio": audio_s, "model": model_read},
                   writes={"output": out_s, "quality_report": quality_report, "quality_plot": quality_plot})
    if not os.path.isdir(os.path.dirname(os.path.abspath(out_s))):
        raise FileNotFoundError(f"{fn}: argument 'output': directory does not exist: {os.path.dirname(out_s)!r}")
    if reference not in ("gt", "first"):
        raise ValueError(f"{fn}: argument 'reference' must be 'gt' or 'first', got {reference!r}")
    if blend not in ("laplacian", "alpha"):
        raise ValueError(f"{fn}: argument 'blend' must be 'laplacian' or 'alpha', got {blend!r}")
    if color not in ("lab", None):
        raise ValueError(f"{fn}: argument 'color' must be 'lab' or None, got {color!r}")
    if isinstance(face_hide_percentage, bool) or not isinstance(face_hide_percentage, (int, float)) \
            or not 0.0 < face_hide_percentage < 1.0:
        raise ValueError(f"{fn}: argument 'face_hide_percentage' must be in (0, 1), got {face_hide_percentage!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"{fn}: argument 'batch_size' must be None or an int >= 1, got {batch_size!r}")
    if not isinstance(crop_scale, (int, float)) or not 0.5 <= crop_scale <= 4.0:
        raise ValueError(f"{fn}: argument 'crop_scale' must be in [0.5, 4], got {crop_scale!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"{fn}: argument 'seed' must be an int or None, got {type(seed).__name__}")
    if progress is not None and not callable(progress):
        raise TypeError(f"{fn}: argument 'progress' must be callable, got {type(progress).__name__}")
    for name, v in (("start_frame", start_frame), ("warmup_frames", warmup_frames)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{fn}: argument '{name}' must be an int >= 0, got {v!r}")
    if stop_frame is not None and (isinstance(stop_frame, bool) or not isinstance(stop_frame, int)
                                   or stop_frame <= start_frame):
        raise ValueError(f"{fn}: argument 'stop_frame' must be None or an int > start_frame, got {stop_frame!r}")
    sampler = DDIMSampler(steps, spacing=spacing)  # validates steps / spacing

    from .. import ops
    from ..inference import InferencePool
    from ..video import VideoReader, VideoWriter, audio_duration

    own_pool = pool is None
    if own_pool:
        pool = InferencePool(models_dir=models_dir, providers=providers)
    reader = None
    feed = None
    writer = None
    worker = None
    stop = threading.Event()
    # from here on, a temporary file of these outputs is ours; stale ones a killed run left go now
    claim = claim_outputs((out_s, quality_report, quality_plot))
    claim.__enter__()
    try:
        denoiser = Diff2LipDenoiser(pool, model, providers=providers)
        det = _make_detector(detector, pool)
        smoother = ops.LandmarkSmoother(box_smoothing) if box_smoothing else None
        bs = batch_size if batch_size is not None else auto_batch_size(denoiser)
        noise = initial_noise(seed, MODEL_SIZE)
        hide = float(face_hide_percentage)
        pmask = paste_mask(MODEL_SIZE, hide)

        reader = VideoReader(video_s, start_frame=max(0, start_frame - warmup_frames))
        fps = reader.fps
        feed = _MelFeed(audio_s, fps)
        total_est = reader.frame_count
        audio_est = audio_duration(audio_s)
        if audio_est is not None and total_est > 0:  # the progress total, when the audio cuts the video
            total_est = min(total_est, max(1, math.ceil(audio_est * fps)))
        if total_est > 0:
            total_est = max(1, (total_est if stop_frame is None else min(total_est, stop_frame)) - start_frame)
        monitor = None
        if quality_report is not None or quality_plot is not None:
            monitor = ops.QualityMonitor()

        q: "queue.Queue[Any]" = queue.Queue(maxsize=max(2, bs))
        state = {"cut": False, "read": 0, "error": None}

        def put(item: Any) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    pass
            return False

        def prepare() -> None:
            # decode -> mel window -> detect -> smooth -> crop, in its own thread so it overlaps
            # the model; exceptions travel to the main thread through the queue.
            try:
                for image, k, ts in reader:
                    if stop_frame is not None and k >= stop_frame:
                        break
                    mel = feed.window(k)
                    if mel is None:
                        state["cut"] = True
                        break
                    state["read"] = k + 1
                    faces = det.detect(image)
                    if faces:
                        box = np.asarray(faces[0].box, np.float32).reshape(2, 2)
                        if smoother is not None:
                            box = smoother.update(box[None], np.array([0]), t=ts)[0]
                        affine = square_crop_affine(box.reshape(4), MODEL_SIZE, crop_scale)
                        crop = ops.warp_affine(image, affine, (MODEL_SIZE, MODEL_SIZE), border="replicate")
                        item = _Item(k, image, crop, affine, mel, box.reshape(4))
                    else:
                        if smoother is not None:
                            smoother.update(np.zeros((0, 2, 2), np.float32), np.zeros(0, np.int64), t=ts)
                        item = _Item(k, image, None, None, None, None)
                    if k < start_frame:
                        continue  # warm-up: the box smoother has seen it; nothing is written
                    if not put(item):
                        return
                put(_END)
            except BaseException as e:  # noqa: BLE001 - re-raised by the main thread
                state["error"] = e
                put(_END)

        worker = threading.Thread(target=prepare, name="facefuse-lipsync-prepare", daemon=True)
        worker.start()

        writer = VideoWriter(out_s, reader.fps_fraction, reader.width, reader.height, codec=codec, crf=crf,
                             preset=preset, audio_from=audio_s if copy_audio else None,
                             audio_offset=float(start_frame / reader.fps_fraction))
        ref_first: Optional[np.ndarray] = None
        done = synced = 0
        pending: List[_Item] = []
        notes: List[str] = [writer.size_note] if writer.size_note else []  # an odd size padded (it warned)

        def run_model(items: List[_Item]) -> np.ndarray:
            nonlocal bs, ref_first
            crops = to_model(np.stack([it.crop for it in items]))
            if reference == "first":
                if ref_first is None:
                    ref_first = crops[:1].copy()
                refs = np.broadcast_to(ref_first, crops.shape)
            else:
                refs = crops
            mels = np.stack([it.mel for it in items])
            outs = []
            i = 0
            while i < len(items):
                b = bs
                try:
                    outs.append(lipsync_batch(denoiser, sampler, crops[i:i + b], np.ascontiguousarray(refs[i:i + b]),
                                              mels[i:i + b], noise, hide))
                except Exception as e:
                    if is_out_of_memory(e) and b > 1:
                        bs = max(1, b // 2)
                        msg = f"{fn}: out of memory at batch size {b}; continuing with {bs}"
                        notes.append(msg)
                        warnings.warn(msg, RuntimeWarning, stacklevel=3)
                        continue
                    raise
                i += b
            return from_model(np.concatenate(outs))

        def flush() -> None:
            nonlocal done, synced
            faces = [it for it in pending if it.crop is not None]
            gen = run_model(faces) if faces else None
            j = 0
            for it in pending:
                out = it.image
                roi = None
                if it.crop is not None:
                    out = ops.paste_back(it.image, gen[j], pmask, it.affine, blend=blend, color=color)
                    j += 1
                    synced += 1
                    x1, y1, x2, y2 = it.box
                    roi = (float(x1), float(y1), float(x2 - x1), float(y2 - y1))
                writer.write(out)
                if monitor is not None:
                    monitor.update(out, source=it.image, roi=roi)
                done += 1
                if progress is not None:
                    progress(done, total_est)
            pending.clear()

        while True:
            item = q.get()
            if item is _END:
                break
            pending.append(item)
            if len(pending) >= bs:
                flush()
        if state["error"] is not None:
            raise state["error"]
        if pending:
            flush()
        if done == 0:
            raise ValueError(f"{fn}: argument 'audio': {audio_s!r} is shorter than one video frame "
                             f"({feed.seconds:.3f} s of sound)")
        video_frames = state["read"]
        if state["cut"]:
            video_frames = max(reader.frame_count, state["read"] + 1)  # the frame that hit the cut exists
            msg = (f"{fn}: the audio ({feed.seconds:.2f} s) is shorter than the video "
                   f"({video_frames / fps:.2f} s): the output is cut to {done} frames ({done / fps:.2f} s)")
            notes.append(msg)
            warnings.warn(msg, UserWarning, stacklevel=2)
        if synced < done:
            msg = f"{fn}: no face found in {done - synced} of {done} frames; they are written unchanged"
            notes.append(msg)
            warnings.warn(msg, UserWarning, stacklevel=2)
        writer.close()
        # the feed stops decoding once the last frame's window is in: unless the audio ran out
        # first, what it read is not the audio's length
        audio_seconds = feed.seconds if feed.ended or audio_est is None else max(audio_est, feed.seconds)
        summary = None
        if monitor is not None:
            summary = monitor.summary()
            # temporary files renamed on success, like every other output; a failure says the
            # video was written and kept
            write_quality_files(fn, [("video", out_s)], monitor, quality_report, quality_plot)
        return LipsyncResult(output=out_s, frames=done, frames_synced=synced, video_frames=video_frames,
                             cut=bool(state["cut"]), audio_seconds=audio_seconds, fps=fps, batch_size=bs,
                             seconds=time.perf_counter() - t_start, quality=summary, warnings=notes)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        stop.set()
        if worker is not None:
            # unblock a worker waiting on a full queue, then wait for it
            worker.join(timeout=30)
        if feed is not None:
            try:
                feed.close()
            except Exception:
                pass
        if reader is not None and (worker is None or not worker.is_alive()):
            reader.close()
        try:
            if own_pool:
                pool.close()
        finally:
            claim.__exit__(None, None, None)
