"""``process_video(src, dst, fn)``: a plain function over every frame of a video (or a frame
range of it), run by the streaming engine as a one-stage frame processor. Exposed as
``facefuse.video.process_video`` (loaded on first use: the IO layer keeps readers and
writers, the pipeline layer runs them).
"""
from __future__ import annotations

import os
from typing import Any, Callable, List, Optional

import numpy as np

from .._files import check_distinct
from ..ops._common import check_int
from ..video.errors import PathLike, VideoError
from . import checks
from .checks import as_fps
from .engine import EncodeSettings, FramePlan, FrameProcessor, run_stream

__all__ = ["process_video"]


class _FunctionProcessor(FrameProcessor):
    """``fn`` as a frame processor: called in the model stage on one frame, or on lists of the
    frames already planned (``batch_size`` > 1); warm-up frames included (their output dropped)."""

    model_warmup = True
    input_may_change = True  # fn may edit the frame it is given and return it

    def __init__(self, fn: Callable[..., Any], batch_size: int) -> None:
        self.fn, self.batch_size = fn, batch_size
        self._out: dict = {}

    def plan(self, image: np.ndarray, index: int, timestamp: float, side: Any) -> FramePlan:
        return FramePlan(index=index, timestamp=timestamp, image=image)

    def model(self, plans: List[FramePlan]) -> None:
        if self.batch_size == 1:
            p = plans[0]
            outs = [self.fn(p.image, p.index, p.timestamp)]
        else:
            outs = self.fn([p.image for p in plans], [p.index for p in plans], [p.timestamp for p in plans])
            if not isinstance(outs, (list, tuple)) or len(outs) != len(plans):
                raise TypeError(f"process_video: with batch_size > 1 'fn' must return a list of "
                                f"{len(plans)} frames, got {type(outs).__name__}"
                                + (f" of {len(outs)}" if isinstance(outs, (list, tuple)) else ""))
        for p, out in zip(plans, outs):
            if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim != 3 or out.shape[2] != 3:
                desc = (f"{out.dtype} array of shape {out.shape}" if isinstance(out, np.ndarray)
                        else type(out).__name__)
                raise TypeError(f"process_video: 'fn' must return an H x W x 3 uint8 BGR array, "
                                f"got {desc} for frame {p.index}")
            self._out[p.index] = out

    def finish(self, plan: FramePlan) -> np.ndarray:
        return self._out.pop(plan.index)


def process_video(
    src: PathLike,
    dst: PathLike,
    fn: Callable[[np.ndarray, int, float], np.ndarray],
    *,
    queue_size: int = 8,
    on_progress: Optional[Callable[[int, int], None]] = None,
    codec: str = "libx264",
    crf: Optional[float] = 18,
    preset: Optional[str] = "medium",
    pix_fmt: Optional[str] = None,
    options: Optional[dict] = None,
    copy_audio: bool = True,
    auto_rotate: bool = True,
    join_timeout: float = 30.0,
    batch_size: int = 1,
    start_frame: int = 0,
    stop_frame: Optional[int] = None,
    warmup_frames: int = 0,
    fps: Optional[float] = None,
) -> int:
    """Decode ``src``, apply ``fn(frame_bgr, index, timestamp) -> frame_bgr`` to every
    frame and encode the result to ``dst`` with the source audio copied.

    Decode and ``fn`` run in two worker threads of the engine (:mod:`.engine`), encoding in the
    calling thread; they are
    joined by ``queue.Queue(maxsize=queue_size)`` queues, so at most about
    ``2 * queue_size + batch_size + 2`` frames are alive at once whatever the video's length.
    ``fn`` must return an H x W x 3 uint8 array; all frames must have the size of the
    first one returned (it may differ from the input size). ``on_progress(done, total)``
    is called after each encoded frame (``total`` is ``VideoReader.frame_count``, possibly
    an estimate, 0 if unknown).

    What the output keeps of ``src`` (see :class:`facefuse.pipeline.engine.EncodeSettings`):
    every frame at its own timestamp (``fps``: a constant rate instead, every frame kept), the
    colour matrix / range / primaries / transfer tags (the conversion to and from BGR uses
    them), the pixel format and bit depth (``pix_fmt`` None: the source's where ``codec`` takes
    it), and with ``copy_audio`` every audio and subtitle track and the container's tags.

    ``batch_size`` > 1: ``fn`` is called with LISTS ``(images, indices, timestamps)`` of up to
    ``batch_size`` consecutive frames and returns a list of as many output frames (for models
    that run several frames at once). A batch holds the frames already decoded: the
    process stage waits for the first one only, so batching never stalls the stream.

    Frame range (for splitting a long video into chunks processed apart): only frames
    ``start_frame <= index < stop_frame`` (``None``: to the end) are written. ``fn`` is also
    called on the ``warmup_frames`` frames before ``start_frame`` (fewer at the start of the
    video) and their results are dropped: a stateful ``fn`` (temporal smoother, face tracks)
    then enters the range in the state a run over the whole video would have had there.
    ``fn`` always gets the frame's index and timestamp in the whole video. The copied audio
    starts at the first written frame. ``on_progress`` counts written frames of the range.

    Any exception (also KeyboardInterrupt) in a stage stops the others, is re-raised here
    with its original traceback, and leaves no output or temporary file. Returns the
    number of frames written.
    """
    fn_name = "process_video"
    start_frame, stop_frame, warmup_frames = checks.frame_range(fn_name, start_frame, stop_frame, warmup_frames)
    check_int(fn_name, "queue_size", queue_size, 1)
    check_int(fn_name, "batch_size", batch_size, 1)
    if not callable(fn):
        raise TypeError(f"process_video: argument 'fn' must be callable, got {type(fn).__name__}")
    # the output may not replace the input (symlinks and hard links resolved)
    check_distinct(fn_name, reads={"src": src}, writes={"dst": dst})
    from ..video.reader import VideoReader

    reader = VideoReader(src, auto_rotate=auto_rotate, start_frame=max(0, start_frame - warmup_frames))
    total = reader.frame_count
    if total:
        total = max(0, (total if stop_frame is None else min(total, stop_frame)) - start_frame)
    enc = EncodeSettings(os.fspath(dst), codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, options=options,
                         streams_from=os.fspath(src) if copy_audio else None,
                         fps=None if fps is None else as_fps(fn_name, fps))
    res = run_stream(reader, _FunctionProcessor(fn, batch_size), enc, start_frame=start_frame,
                     stop_frame=stop_frame, queue_size=queue_size, total=total, on_progress=on_progress,
                     join_timeout=join_timeout)
    if res.frames == 0:
        raise VideoError(f"process_video: no frame decoded from {os.fspath(src)!r}")
    return res.frames
