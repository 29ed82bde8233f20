"""The lip-sync pipeline's entry point: ``lipsync_video(video, audio, output, ...)``, Diff2Lip
run by the streaming engine (:func:`~facefuse.pipeline.engine.run_stream`) with the lip-sync
frame processor (:class:`~facefuse.pipeline.lipsync_frames.LipsyncProcessor`)::

    thread "facefuse-prepare": decode -> the frame's mel window (MelFeed; the stream is cut
                               where the audio ends) -> detect face, smooth box, square crop
    thread "facefuse-model":   a full batch -> DDIM x steps on the denoiser -> paste_back
                               (soft mask, laplacian/alpha, LAB) -> quality monitor
    calling thread:            VideoWriter (the driving audio muxed in)

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
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Union

from .._files import check_distinct, is_path
from .._outputs import write_quality_files
from ..ops._common import check_int, check_real
from . import checks
from .lipsync_frames import LipsyncProcessor
from .run import pipeline_scope

__all__ = ["lipsync_video", "LipsyncResult", "DEFAULT_SEED"]

PathLike = Union[str, "os.PathLike[str]"]

#: Diff2Lip's inference script samples with --sampling_seed=7
DEFAULT_SEED = 7
_FN = "lipsync_video"


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
    providers: List[str] = field(default_factory=list)  # the denoiser session's execution providers, in use order


def lipsync_video(
    video: PathLike,
    audio: PathLike,
    output: PathLike,
    *,
    model: Optional[PathLike] = None,
    backend: Optional[str] = None,
    precision: Optional[str] = None,
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
    crop: str = "square",
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
    offline: Optional[bool] = None,
    audio_track: int = 0,
    fps: Optional[float] = None,
    pix_fmt: Optional[str] = None,
) -> LipsyncResult:
    """Lip-sync ``video`` to ``audio`` with Diff2Lip and write ``output`` (with ``audio``'s sound).

    Args:
        video: the video whose mouth is redone (any FFmpeg-readable file).
        audio: the driving speech: an audio file or a video with an audio track. Shorter than
            the video: the video is cut to it (a ``UserWarning`` says so); longer: the output
            audio is trimmed to the video.
        output: the output file (its extension picks the container); written to a temporary
            file and renamed on success, nothing is left on failure.
        model: the exported Diff2Lip denoiser, a path or a file name searched in ``models_dir`` /
            ``$FACEFUSE_MODELS``: the ONNX file (:data:`~facefuse.lipsync.model.DIFF2LIP`, float32 or
            float16) or the torch package (``.pt2``); None: ``diff2lip.onnx`` / ``diff2lip.pt2`` by backend.
        backend: ``"onnx"`` (ONNX Runtime) or ``"torch"`` (:class:`~facefuse.lipsync.torch_denoiser.TorchDenoiser`:
            the DDIM loop on the device, fp16 + CUDA graphs on a GPU); None: by the model's
            extension, else ONNX Runtime with CUDA, else torch with CUDA, else ONNX Runtime.
        precision: the torch backend's ``"fp32"`` / ``"fp16"`` / ``"bf16"`` (None: fp16 on a GPU,
            fp32 on the CPU).
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
        crop: ``"square"`` (a square around the box, the face keeps its proportions) or
            ``"stretch"`` (the box resized to 128 x 128 on each axis, as Diff2Lip; ``crop_scale``
            does not apply).
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
        audio_track, fps, pix_fmt: the driving audio replaces the video's audio track
            ``audio_track`` (0: the first); its other audio and subtitle tracks, container tags,
            colour tags, pixel format (bit depth) and every frame's timestamp are kept, and each
            frame's mel window is taken at the frame's real time (variable frame rates stay in
            sync). ``fps``: a constant output rate instead; ``pix_fmt``: another stored format.
        offline: the detector's model file is downloaded on first use when missing (False) or
            not (True); None: unless ``$FACEFUSE_OFFLINE`` is set (see :func:`facefuse.swap_video`).
            The Diff2Lip export is never downloaded (``facefuse export-diff2lip`` makes it).

    Returns:
        :class:`LipsyncResult`.

    Raises:
        FileNotFoundError: a missing input or model file. ValueError / TypeError: bad arguments
        (named), unreadable media, a model with the wrong signature, audio shorter than a frame.
    """
    t_start = time.perf_counter()
    video_s, audio_s, out_s = _check_args(dict(locals()))
    start_frame, stop_frame, warmup_frames = checks.frame_range(_FN, start_frame, stop_frame, warmup_frames)
    check_int(_FN, "audio_track", audio_track, 0)
    out_fps = None if fps is None else checks.as_fps(_FN, fps)
    checks.pix_fmt_arg(_FN, pix_fmt, codec)
    from ..lipsync.backends import pick_backend
    from ..lipsync.sampler import DDIMSampler

    backend = pick_backend(_FN, backend, model, providers)
    if precision is not None and precision not in ("fp32", "fp16", "bf16"):
        raise ValueError(f"{_FN}: argument 'precision' must be 'fp32', 'fp16', 'bf16' or None, got {precision!r}")
    if backend == "onnx" and precision is not None:  # an argument error: before any model file is looked for
        raise ValueError(f"{_FN}: argument 'precision' is for the torch backend; the ONNX model's precision is "
                         "fixed at export (export-diff2lip --fp16)")

    sampler = DDIMSampler(steps, spacing=spacing)  # validates steps / spacing
    # from here on, a temporary file of these outputs is ours; stale ones a killed run left go now
    if offline is not None and not isinstance(offline, bool):
        raise TypeError(f"lipsync_video: argument 'offline' must be None, True or False, got {type(offline).__name__}")
    if pool is not None and offline is not None:
        raise ValueError("lipsync_video: pass 'offline' to the InferencePool (download=), not with 'pool'")
    with pipeline_scope((out_s, quality_report, quality_plot), pool, models_dir=models_dir,
                        providers=providers, download=None if offline is None else not offline,
                        download_progress=None if progress is not None else False) as pool:
        from .. import ops
        from ..lipsync.batching import auto_batch_size
        from ..lipsync.feed import MelFeed
        from ..lipsync.backends import make_denoiser
        from ..video import VideoReader

        from ..lipsync.backends import DEFAULT_MODELS
        from ..lipsync.model import DIFF2LIP
        from ..models.detector import DETECTOR_SPECS
        from .checks import models_present

        det_spec = DETECTOR_SPECS.get(detector) if isinstance(detector, str) else None
        models_present(pool, [(model if model is not None else DEFAULT_MODELS[backend], DIFF2LIP)]
                       + ([(det_spec.file_name, det_spec)] if det_spec else []))
        denoiser = make_denoiser(pool, backend, model, providers=providers, precision=precision)
        proc = LipsyncProcessor(
            denoiser, _make_detector(detector, pool), sampler, None,
            batch_size=batch_size if batch_size is not None else auto_batch_size(denoiser),
            smoother=ops.LandmarkSmoother(box_smoothing) if box_smoothing else None, reference=reference,
            face_hide_percentage=face_hide_percentage, blend=blend, color=color, seed=seed, crop_scale=crop_scale,
            crop=crop)
        reader = VideoReader(video_s, start_frame=max(0, start_frame - warmup_frames))
        proc.time_origin = reader.origin
        if copy_audio and reader.audio_tracks and audio_track >= reader.audio_tracks:
            reader.close()
            raise ValueError(f"{_FN}: argument 'audio_track' must be in [0, {reader.audio_tracks - 1}] ({video_s!r} "
                             f"has {reader.audio_tracks} audio track(s)), got {audio_track}")
        try:
            proc.feed = MelFeed(audio_s, reader.fps)
        except BaseException:
            reader.close()
            raise
        try:  # run_stream closes the reader
            result, monitor = _stream(proc, reader, audio_s, out_s,
                                      dict(codec=codec, crf=crf, preset=preset, fps=out_fps, pix_fmt=pix_fmt),
                                      copy_audio, start_frame, stop_frame, progress,
                                      quality_report is not None or quality_plot is not None, int(audio_track))
        finally:
            try:
                proc.feed.close()
            except Exception:
                pass
        if monitor is not None:
            result.quality = monitor.summary()
            # temporary files renamed on success, like every other output; a failure says the
            # video was written and kept
            write_quality_files(_FN, [("video", out_s)], monitor, quality_report, quality_plot)
        result.seconds = time.perf_counter() - t_start
        result.providers = list(denoiser.providers)
        return result


# --------------------------------------------------------------------------- steps

def _check_args(a: dict) -> tuple[str, str, str]:
    """Every argument of :func:`lipsync_video` but the frame range and the sampler's;
    (video, audio, output)."""
    video_s = checks.input_file(_FN, "video", a["video"])
    audio_s = checks.input_file(_FN, "audio", a["audio"])
    out_s = checks.output_path(_FN, "output", a["output"])
    model = a["model"]
    # no output may replace an input or another output (symlinks and hard links resolved);
    # the model counts as an input when given as a path with a folder or an existing file
    model_read = model if model is not None and is_path(model) and (os.path.dirname(os.fspath(model))
                                              or os.path.isfile(os.fspath(model))) else None
    check_distinct(_FN, reads={"video": video_s, "audio": audio_s, "model": model_read},
                   writes={"output": out_s, "quality_report": a["quality_report"], "quality_plot": a["quality_plot"]})
    checks.output_dirs(_FN, quality_report=a["quality_report"], quality_plot=a["quality_plot"])
    for name, v, choices in (("reference", a["reference"], ("gt", "first")),
                             ("blend", a["blend"], ("laplacian", "alpha")), ("color", a["color"], ("lab", None)),
                             ("crop", a["crop"], ("square", "stretch"))):
        if v not in choices:
            raise ValueError(f"{_FN}: argument '{name}' must be {' or '.join(repr(c) for c in choices)}, got {v!r}")
    check_real(_FN, "face_hide_percentage", a["face_hide_percentage"], 0.0, 1.0, lo_open=True, hi_open=True)
    if a["batch_size"] is not None:
        check_int(_FN, "batch_size", a["batch_size"], 1)
    check_real(_FN, "crop_scale", a["crop_scale"], 0.5, 4.0)
    seed = a["seed"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"{_FN}: argument 'seed' must be an int or None, got {type(seed).__name__}")
    if a["progress"] is not None and not callable(a["progress"]):
        raise TypeError(f"{_FN}: argument 'progress' must be callable, got {type(a['progress']).__name__}")
    return video_s, audio_s, out_s


def _make_detector(detector: Any, pool: Any) -> Any:
    if hasattr(detector, "detect") and callable(detector.detect):
        return detector
    if not isinstance(detector, str):
        raise TypeError("lipsync_video: argument 'detector' must be a detector model name (e.g. 'yolo_face') or an "
                        f"object with .detect(frame) -> list[Face], got {type(detector).__name__}")
    from ..models.detector import FaceDetector

    return FaceDetector(pool, detector)


def _progress_total(reader: Any, audio: str, start: int, stop: Optional[int]) -> tuple[int, Optional[float]]:
    """The frames to write as far as known before the run (the audio may cut the video), and
    the audio's length from its header."""
    from ..video import audio_duration

    fps, total = reader.fps, reader.frame_count
    audio_est = audio_duration(audio)
    if audio_est is not None and total > 0:
        total = min(total, max(1, math.ceil(audio_est * fps)))
    if total > 0:
        total = max(1, (total if stop is None else min(total, stop)) - start)
    return total, audio_est


def _stream(proc: LipsyncProcessor, reader: Any, audio: str, output: str, encoder: dict, copy_audio: bool,
            start: int, stop: Optional[int], progress: Optional[Callable[[int, int], None]],
            monitor_on: bool, audio_track: int = 0) -> tuple[LipsyncResult, Any]:
    """Run the processor over the video: (the result, the quality monitor or None)."""
    from .. import ops
    from .engine import EncodeSettings, frame_notes, run_stream

    fps = reader.fps
    total, audio_est = _progress_total(reader, audio, start, stop)
    monitor = ops.QualityMonitor() if monitor_on else None
    enc = EncodeSettings(output, **encoder, audio_from=audio if copy_audio else None,
                         streams_from=reader.path if copy_audio else None, audio_track=audio_track)
    res = run_stream(reader, proc, enc, start_frame=start, stop_frame=stop, queue_size=max(2, proc.batch_size),
                     total=total, on_progress=progress, monitor=monitor)
    feed = proc.feed
    if res.frames == 0:
        raise ValueError(f"{_FN}: argument 'audio': {audio!r} is shorter than one video frame "
                         f"({feed.seconds:.3f} s of sound)")
    # (a cut is said below with the audio's length: the frames after it are never planned)
    notes = ([res.size_note] if res.size_note else []) + proc.notes + frame_notes(res)
    video_frames = res.frames_read
    if res.cut:
        video_frames = max(reader.frame_count, res.frames_read + 1)  # the frame that hit the cut exists
        msg = (f"{_FN}: the audio ({feed.seconds:.2f} s) is shorter than the video "
               f"({video_frames / fps:.2f} s): the output is cut to {res.frames} frames ({res.frames / fps:.2f} s)")
        notes.append(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)
    if proc.synced < res.frames:
        msg = f"{_FN}: no face found in {res.frames - proc.synced} of {res.frames} frames; they are written unchanged"
        notes.append(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)
    # the feed stops decoding once the last frame's window is in: unless the audio ran out
    # first, what it read is not the audio's length
    audio_seconds = feed.seconds if feed.ended or audio_est is None else max(audio_est, feed.seconds)
    return LipsyncResult(output=output, frames=res.frames, frames_synced=proc.synced, video_frames=video_frames,
                         cut=res.cut, audio_seconds=audio_seconds, fps=fps, batch_size=proc.batch_size,
                         seconds=0.0, warnings=notes), monitor
