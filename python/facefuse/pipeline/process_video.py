"""The decode -> ``fn`` -> encode engine over a whole video (or a frame range of it), exposed
as ``facefuse.video.process_video``. Moved here unchanged from ``facefuse/video.py`` (issue 13):
the IO layer keeps readers and writers, the pipeline layer runs them.
"""
from __future__ import annotations

import os
import queue
import threading
from typing import Any, Callable, Optional

import numpy as np

from ..video.errors import PathLike, VideoError
from ..video.reader import VideoReader
from ..video.writer import VideoWriter

__all__ = ["process_video"]


_END = object()
_STOPPED = object()


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
    pix_fmt: str = "yuv420p",
    options: Optional[dict] = None,
    copy_audio: bool = True,
    auto_rotate: bool = True,
    join_timeout: float = 30.0,
    batch_size: int = 1,
    start_frame: int = 0,
    stop_frame: Optional[int] = None,
    warmup_frames: int = 0,
) -> int:
    """Decode ``src``, apply ``fn(frame_bgr, index, timestamp) -> frame_bgr`` to every
    frame and encode the result to ``dst`` with the source audio copied.

    Decode and ``fn`` run in two worker threads, encoding in the calling thread; they are
    joined by ``queue.Queue(maxsize=queue_size)`` queues, so at most about
    ``2 * queue_size + 3`` frames are alive at once whatever the video's length.
    ``fn`` must return an H x W x 3 uint8 array; all frames must have the size of the
    first one returned (it may differ from the input size). ``on_progress(done, total)``
    is called after each encoded frame (``total`` is ``VideoReader.frame_count``, possibly
    an estimate, 0 if unknown). The output is CFR at the source's average frame rate.

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
    for name, v in (("start_frame", start_frame), ("warmup_frames", warmup_frames)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"process_video: argument '{name}' must be an int >= 0, got {v!r}")
    if stop_frame is not None and (isinstance(stop_frame, bool) or not isinstance(stop_frame, (int, np.integer))
                                   or stop_frame <= start_frame):
        raise ValueError(f"process_video: argument 'stop_frame' must be None or an int > start_frame "
                         f"({start_frame}), got {stop_frame!r}")
    start_frame, warmup_frames = int(start_frame), int(warmup_frames)
    first_frame = max(0, start_frame - warmup_frames)
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise ValueError(f"process_video: argument 'queue_size' must be an int >= 1, got {queue_size!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"process_video: argument 'batch_size' must be an int >= 1, got {batch_size!r}")
    if not callable(fn):
        raise TypeError(f"process_video: argument 'fn' must be callable, got {type(fn).__name__}")
    if os.path.abspath(os.fspath(src)) == os.path.abspath(os.fspath(dst)):
        raise ValueError("process_video: arguments 'src' and 'dst' name the same file")

    reader = VideoReader(src, auto_rotate=auto_rotate, start_frame=first_frame)
    stop = threading.Event()
    errors: list = []
    lock = threading.Lock()
    q_in: "queue.Queue[Any]" = queue.Queue(maxsize=queue_size)
    q_out: "queue.Queue[Any]" = queue.Queue(maxsize=queue_size)

    def fail(e: BaseException) -> None:
        with lock:
            errors.append(e)
        stop.set()

    def put(q: "queue.Queue[Any]", item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def get(q: "queue.Queue[Any]") -> Any:
        while not stop.is_set():
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                pass
        return _STOPPED

    def decode_stage() -> None:
        try:
            for fr in reader:
                if stop_frame is not None and fr.index >= stop_frame:
                    break
                if not put(q_in, fr):
                    return
            put(q_in, _END)
        except BaseException as e:  # noqa: BLE001 - forwarded to the caller
            fail(e)

    def check(out: Any, index: int) -> None:
        if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim != 3 or out.shape[2] != 3:
            desc = (f"{out.dtype} array of shape {out.shape}" if isinstance(out, np.ndarray)
                    else type(out).__name__)
            raise TypeError(f"process_video: 'fn' must return an H x W x 3 uint8 BGR array, "
                            f"got {desc} for frame {index}")

    def process_stage() -> None:
        try:
            while True:
                item = get(q_in)
                if item is _STOPPED:
                    return
                if item is _END:
                    put(q_out, _END)
                    return
                if batch_size == 1:
                    out = fn(item.image, item.index, item.timestamp)
                    check(out, item.index)
                    # a warm-up frame: fn has seen it, the output does not get it
                    if item.index >= start_frame and not put(q_out, (item.index, out, item.timestamp)):
                        return
                    continue
                batch, end = [item], False
                while len(batch) < batch_size:  # only frames already decoded: never wait for more
                    try:
                        nxt = q_in.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _END:
                        end = True
                        break
                    batch.append(nxt)
                outs = fn([b.image for b in batch], [b.index for b in batch], [b.timestamp for b in batch])
                if not isinstance(outs, (list, tuple)) or len(outs) != len(batch):
                    raise TypeError(f"process_video: with batch_size > 1 'fn' must return a list of "
                                    f"{len(batch)} frames, got {type(outs).__name__}"
                                    + (f" of {len(outs)}" if isinstance(outs, (list, tuple)) else ""))
                for b, out in zip(batch, outs):
                    check(out, b.index)
                    if b.index >= start_frame and not put(q_out, (b.index, out, b.timestamp)):
                        return
                if end:
                    put(q_out, _END)
                    return
        except BaseException as e:  # noqa: BLE001
            fail(e)

    threads = [threading.Thread(target=decode_stage, name="facefuse-decode", daemon=True),
               threading.Thread(target=process_stage, name="facefuse-process", daemon=True)]
    writer: Optional[VideoWriter] = None
    total = reader.frame_count
    if total:
        total = max(0, (total if stop_frame is None else min(total, stop_frame)) - start_frame)
    done = 0
    try:
        for t in threads:
            t.start()
        while True:
            item = get(q_out)
            if item is _STOPPED or item is _END:
                break
            _, out, timestamp = item
            if writer is None:
                h, w = out.shape[:2]
                # audio from the first written frame on (the video's start when no range is set)
                audio_offset = reader.start_time if start_frame == 0 else timestamp
                writer = VideoWriter(dst, reader.fps_fraction, w, h, codec=codec, crf=crf, preset=preset,
                                     pix_fmt=pix_fmt, options=options, audio_offset=audio_offset,
                                     audio_from=src if (copy_audio and reader.has_audio) else None)
            writer.write(out)
            done += 1
            if on_progress is not None:
                on_progress(done, total)
        if errors:
            raise errors[0]
        if writer is None:
            raise VideoError(f"process_video: no frame decoded from {os.fspath(src)!r}")
        writer.close()
        return done
    except BaseException:
        stop.set()
        if writer is not None:
            writer.abort()
        raise
    finally:
        stop.set()
        for t in threads:
            if t.ident is not None:
                t.join(join_timeout)
        if not threads[0].is_alive():
            reader.close()
