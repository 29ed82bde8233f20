"""A small stateful stand-in pipeline for testing and measuring ``facefuse batch``.

:func:`smooth_video` has the call shape of the real pipelines
(``fn(video, output, *, pool=None, **options)``), streams through
:func:`facefuse.video.process_video` and keeps state across frames like a temporal
smoother: each output frame is an exponentially weighted mean of the last ``window``
input frames, plus ``index % 7`` (so a frame given the wrong index shows). Its memory is
finite (``window`` frames), so a chunk run with ``warmup_frames >= window - 1`` must
reproduce the one-piece frames exactly; with fewer warm-up frames it must not.

Job files name it as ``kind: "facefuse.testing.batch_kinds:SMOOTH"``.
"""
from __future__ import annotations

import os
import time
from collections import deque
from typing import Any, Callable, Optional

import numpy as np

from ..batch.kinds import JobKind
from ..video import process_video

__all__ = ["smooth_video", "SMOOTH", "whole_video", "WHOLE"]


def smooth_video(
    video: "str | os.PathLike[str]",
    output: "str | os.PathLike[str]",
    *,
    pool: Any = None,
    models_dir: Optional[str] = None,
    providers: Optional[str] = None,
    window: int = 6,
    decay: float = 0.6,
    delay: float = 0.0,
    fail_at: Optional[int] = None,
    crash_at: Optional[int] = None,
    record_to: Optional[str] = None,
    codec: str = "libx264",
    crf: Optional[float] = 0,
    preset: Optional[str] = "ultrafast",
    pix_fmt: str = "yuv420p",
    copy_audio: bool = True,
    start_frame: int = 0,
    stop_frame: Optional[int] = None,
    warmup_frames: int = 0,
    on_progress: Optional[Callable[[int, int], None]] = None,
) -> dict:
    """Temporal smoothing of ``video`` into ``output``; returns ``{"frames", "quality"}``
    (``quality`` has the shape of :meth:`facefuse.ops.QualityMonitor.summary`'s ``tpsnr``
    entry: mean / min of the PSNR between consecutive output frames, dB).

    ``delay``: seconds to sleep per frame (a slow pipeline, for kill / throughput tests);
    ``fail_at``: raise RuntimeError at that frame index (a failing job); ``crash_at``: end
    the whole process there (``os._exit(70)``: a worker dying mid-job); ``record_to``: append
    ``"<pid> <id(pool)> <CUDA_VISIBLE_DEVICES or ->"`` to that file (which process, pool and
    GPU ran the job). ``pool`` is otherwise unused (no model); ``models_dir`` / ``providers``
    are accepted like the real pipelines' (the batch runner turns them into the pool).
    Frames: H x W x 3 uint8 BGR.
    """
    if record_to is not None:
        with open(record_to, "a") as f:
            f.write(f"{os.getpid()} {id(pool)} {os.environ.get('CUDA_VISIBLE_DEVICES') or '-'}\n")
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"smooth_video: argument 'window' must be an int >= 1, got {window!r}")
    weights = decay ** np.arange(window, dtype=np.float64)  # newest frame first
    recent: deque = deque(maxlen=window)
    prev: list = [None]
    psnr: list = []

    def fn(img: np.ndarray, index: int, timestamp: float) -> np.ndarray:
        if fail_at is not None and index >= fail_at:
            raise RuntimeError(f"smooth_video: failing at frame {index} as asked (fail_at={fail_at})")
        if crash_at is not None and index >= crash_at:
            os._exit(70)
        if delay:
            time.sleep(delay)
        recent.appendleft(img.astype(np.float64))
        w = weights[: len(recent)]
        acc = sum(wi * f for wi, f in zip(w, recent)) / w.sum()
        out = np.clip(np.rint(acc) + index % 7, 0, 255).astype(np.uint8)
        if index >= start_frame:  # quality of what is written only
            if prev[0] is not None:
                mse = float(np.mean((out.astype(np.float64) - prev[0]) ** 2))
                psnr.append(99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse))
            prev[0] = out.astype(np.float64)
        return out

    n = process_video(video, output, fn, codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt,
                      copy_audio=copy_audio, start_frame=start_frame, stop_frame=stop_frame,
                      warmup_frames=warmup_frames, on_progress=on_progress)
    quality = {"tpsnr": {"mean": float(np.mean(psnr)), "min": float(np.min(psnr)), "count": len(psnr)}} if psnr else {}
    return {"frames": n, "quality": quality}


#: the job kind of :func:`smooth_video` (one input, ``video``; its own audio)
SMOOTH = JobKind("smooth", f"{__name__}:smooth_video", ("video",), video_input="video", audio_input="video",
                 audio_at_video_start=True)


def whole_video(video: "str | os.PathLike[str]", output: "str | os.PathLike[str]", *, pool: Any = None,
                window: int = 6) -> dict:
    """:func:`smooth_video` behind a signature without the frame-range keywords: a pipeline
    the batch runner cannot split (its jobs run in one piece)."""
    return smooth_video(video, output, pool=pool, window=window)


#: the job kind of :func:`whole_video`
WHOLE = JobKind("whole", f"{__name__}:whole_video", ("video",), video_input="video", audio_input="video")
