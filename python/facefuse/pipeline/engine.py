"""The one streaming engine of facefuse: decode -> plan -> model -> finish -> encode.

Every video pipeline (face swap, lip sync, :func:`process_video`'s plain function) is a
:class:`FrameProcessor` run by :func:`run_stream`; this module holds the package's only
thread and queue code::

    thread "facefuse-prepare":  decode a frame -> processor.side_input -> processor.plan
                                (sequential, stateful: detection, tracking, smoothing, crops)
            bounded queue of FramePlans
    thread "facefuse-model":    a batch of plans -> processor.model (one model run for the
                                batch) -> processor.finish per plan (paste-back) -> quality monitor
            bounded queue of output frames
    calling thread:             encode (VideoWriter: temp file renamed on success, audio copied)

Memory stays bounded whatever the video's length: at most about ``2 * queue_size + batch``
frames are alive. Any exception (also KeyboardInterrupt) in a stage stops the others, is
re-raised in the calling thread with its traceback, and leaves no output or temporary file.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, List, Optional

import numpy as np

from ..ops._device import is_device_array
from .device import to_host

__all__ = ["FramePlan", "FrameProcessor", "StreamCut", "EncodeSettings", "StreamResult", "run_stream", "frame_notes"]


class StreamCut(Exception):
    """Raised by :meth:`FrameProcessor.side_input`: the stream ends before this frame (e.g. the
    driving audio ended); the frames before it are written and the run succeeds."""


@dataclass
class FramePlan:
    """One frame on its way through the engine. Processors subclass it with their own typed
    fields (crops, affines, the model's outputs). ``roi`` (x, y, w, h) and ``landmarks`` feed
    the quality monitor; ``warmup``: planned for its state only, never modelled nor written;
    ``device_image``: the frame's copy on the GPU when the processor works there (its
    ``finish`` then returns a device frame, which the engine gives the quality monitor with
    this source and downloads once for the encoder); ``source_frame``: ``(decoded BGR, decoded
    av frame)`` (``VideoReader.last_frame``): the writer keeps the av frame's samples where the
    output equals that BGR (unchanged pixels at full bit depth)."""

    index: int
    timestamp: float
    image: np.ndarray
    roi: Optional[tuple] = None
    landmarks: Optional[np.ndarray] = None
    warmup: bool = False
    device_image: Any = None
    source_frame: Any = None

    def monitor_source(self, out: Any) -> Any:
        """The input frame the quality monitor pairs with the output ``out``: the device copy
        for a device output, the host frame otherwise."""
        return self.device_image if self.device_image is not None and is_device_array(out) else self.image


class FrameProcessor:
    """A pipeline's per-frame work in typed stages (subclass and override).

    ``plan`` runs once per frame in decode order in one thread (its state: tracks, smoothers);
    ``model`` gets a batch of plans in one call (a model run for all of them) in another
    thread, then ``finish`` turns each plan into its output frame. ``batch_size`` is read
    before every batch (a processor may shrink it, e.g. after an out-of-memory error);
    ``wait_for_batch``: the model stage waits for full batches (lip sync: GPU throughput)
    instead of taking only the frames already planned (swap: the stream never waits);
    ``model_warmup``: warm-up frames also go through model and finish (their output is dropped).
    """

    batch_size: int = 1
    wait_for_batch: bool = False
    model_warmup: bool = False
    #: its stages may write into the decoded frame (user code): the engine keeps a copy to tell
    #: unchanged pixels by (the built-in processors paste into new arrays)
    input_may_change: bool = False

    def side_input(self, index: int, timestamp: float) -> Any:
        """A per-frame input besides the image (lip sync: the frame's mel window), computed in
        the plan thread before ``plan``; raise :class:`StreamCut` to end the stream here."""
        return None

    def plan(self, image: np.ndarray, index: int, timestamp: float, side: Any) -> FramePlan:
        raise NotImplementedError

    def model(self, plans: List[FramePlan]) -> None:
        """Run the model for a batch of plans, storing its outputs in them."""

    def finish(self, plan: FramePlan) -> Any:
        """The output frame of one modelled plan (H x W x 3 uint8 BGR; a device array when
        the plan has a ``device_image``)."""
        raise NotImplementedError


@dataclass
class EncodeSettings:
    """Where and how the engine writes (see :class:`facefuse.video.VideoWriter`).

    Timing: every frame keeps its input timestamp (pass-through; shifted so that the output
    starts where the input file starts, or at the first written frame for a range that does
    not start at frame 0); ``fps``: a constant rate instead (every frame kept, frame ``i`` at
    ``i / fps``). ``pix_fmt`` None: the input's pixel format (its bit depth and chroma layout)
    where the encoder takes it (:func:`facefuse.video.color.output_pix_fmt`); ``keep_color``:
    convert with the input's matrix / range and write its colour tags. ``streams_from``: the
    file whose audio / subtitle tracks and tags are copied (the input video); ``audio_from``: a
    driving audio that replaces its audio track ``audio_track`` (or is the only one).
    ``audio_offset`` None: ``audio_from`` starts with the input video (at its file start), so a
    range from frame ``k`` takes it from ``k``'s time on."""

    path: str
    codec: str = "libx264"
    crf: Optional[float] = 18
    preset: Optional[str] = "medium"
    pix_fmt: Optional[str] = None
    options: Optional[dict] = None
    audio_from: Optional[str] = None
    audio_offset: Optional[float] = None
    streams_from: Optional[str] = None
    audio_track: int = 0
    fps: Optional[Fraction] = None
    keep_color: bool = True


@dataclass
class StreamResult:
    """What :func:`run_stream` did: ``frames`` written; ``frames_read``: frames planned up to
    the last one with its side input (warm-up included, counted from the video's start);
    ``cut``: a :class:`StreamCut` ended the stream (``cut_reason``: its message);
    ``size_note``: the writer's note on a frame size the encoder could not take;
    ``stage_seconds``: time in the engine's own stages (``quality``, ``encode``); ``frames_in``:
    frames decoded in the written range (equal to ``frames`` unless the run failed);
    ``retimed``: frames whose timestamp repeated or went back and was moved one tick later;
    ``stream_notes``: tracks of the input the output does not keep as they were;
    ``frames_announced``: the frame count the container states, for a run over the whole video
    (0: unknown, a range, or cut short)."""

    frames: int = 0
    frames_in: int = 0
    frames_announced: int = 0
    retimed: int = 0
    stream_notes: List[str] = field(default_factory=list)
    frames_read: int = 0
    cut: bool = False
    cut_reason: str = ""
    size_note: Optional[str] = None
    stage_seconds: dict = field(default_factory=lambda: {"quality": 0.0, "encode": 0.0})


_END = object()
_STOPPED = object()


class _Stages:
    """The two worker stages and their shared stop flag / first error."""

    def __init__(self, reader: Any, proc: FrameProcessor, *, start_frame: int, stop_frame: Optional[int],
                 queue_size: int, monitor: Any, result: StreamResult) -> None:
        self.reader, self.proc, self.monitor, self.result = reader, proc, monitor, result
        self.start_frame, self.stop_frame = start_frame, stop_frame
        #: hand each frame's decoded source to the writer (unchanged pixels at full depth)
        self.keep_source = True
        self.stop = threading.Event()
        self.errors: List[BaseException] = []
        self._lock = threading.Lock()
        self.q_plan: "queue.Queue[Any]" = queue.Queue(maxsize=queue_size)
        self.q_out: "queue.Queue[Any]" = queue.Queue(maxsize=queue_size)

    def fail(self, e: BaseException) -> None:
        with self._lock:
            self.errors.append(e)
        self.stop.set()

    def put(self, q: "queue.Queue[Any]", item: Any) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def get(self, q: "queue.Queue[Any]") -> Any:
        while not self.stop.is_set():
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                pass
        return _STOPPED

    # -- thread 1: decode, side input, plan ---------------------------------------------
    def prepare(self) -> None:
        proc, res = self.proc, self.result
        try:
            for image, index, ts in self.reader:
                if self.stop_frame is not None and index >= self.stop_frame:
                    break
                try:
                    side = proc.side_input(index, ts)
                except StreamCut as cut:
                    res.cut, res.cut_reason = True, str(cut)
                    break
                res.frames_read = index + 1
                plan = proc.plan(image, index, ts, side)
                plan.warmup = index < self.start_frame
                decoded = getattr(self.reader, "last_frame", None)
                if self.keep_source and decoded is not None and not plan.warmup:
                    # a processor that may write into its input compares against a copy
                    plan.source_frame = (image.copy() if proc.input_may_change else image, decoded)
                if not plan.warmup:
                    res.frames_in += 1
                if plan.warmup and not proc.model_warmup:
                    continue  # planned for its state (tracks, smoother); nothing more
                if not self.put(self.q_plan, plan):
                    return
            self.put(self.q_plan, _END)
        except BaseException as e:  # noqa: BLE001 - re-raised by the calling thread
            self.fail(e)

    # -- thread 2: model, finish, quality -----------------------------------------------
    def _batch(self, first: FramePlan) -> tuple:
        batch, end = [first], False
        while len(batch) < max(1, int(self.proc.batch_size)):
            if self.proc.wait_for_batch:
                nxt = self.get(self.q_plan)
                if nxt is _STOPPED:
                    return batch, True
            else:  # only plans already made: the stream never waits for more
                try:
                    nxt = self.q_plan.get_nowait()
                except queue.Empty:
                    break
            if nxt is _END:
                end = True
                break
            batch.append(nxt)
        return batch, end

    def model(self) -> None:
        proc, st = self.proc, self.result.stage_seconds
        try:
            while True:
                first = self.get(self.q_plan)
                if first is _STOPPED:
                    return
                if first is _END:
                    self.put(self.q_out, _END)
                    return
                batch, end = self._batch(first)
                proc.model(batch)
                for plan in batch:
                    out = proc.finish(plan)
                    if plan.warmup:
                        continue  # its output is dropped
                    if self.monitor is not None:
                        t0 = time.perf_counter()
                        self.monitor.update(out, source=plan.monitor_source(out), roi=plan.roi,
                                            landmarks=plan.landmarks)
                        st["quality"] += time.perf_counter() - t0
                    if not self.put(self.q_out, (plan.index, to_host(out), plan.timestamp, plan.source_frame)):
                        return
                if end:
                    self.put(self.q_out, _END)
                    return
        except BaseException as e:  # noqa: BLE001
            self.fail(e)


def frame_notes(res: StreamResult) -> List[str]:
    """What the output does not keep of the input's frames and tracks, one line each (empty when
    every frame was written at its own time and every track copied; each starts with ``video: ``
    like the writer's own notes start with its name)."""
    notes = []
    if res.frames_announced and res.frames_in < res.frames_announced:
        notes.append(f"video: the container announces {res.frames_announced} frames but {res.frames_in} decoded "
                     f"(the others are damaged or missing in the file)")
    if res.frames != res.frames_in:
        why = f": {res.cut_reason}" if res.cut else ""
        notes.append(f"video: {res.frames_in} frame(s) decoded, {res.frames} written{why}")
    if res.retimed:
        notes.append(f"video: {res.retimed} frame(s) had a timestamp not after the previous frame's (duplicate pts); "
                     f"each was moved one time-base tick later, none dropped")
    return notes + [f"video: {n}" for n in res.stream_notes]


def _file_start(reader: Any) -> float:
    """The input file's start (seconds): the reader's ``origin`` where it has one."""
    return float(getattr(reader, "origin", reader.start_time))


def output_origin(reader: Any, start_frame: int, first_timestamp: float) -> float:
    """The input time (seconds) the output's t = 0 stands for: the file's start for a run from
    frame 0 (streams keep their offsets to each other), else the first written frame's time."""
    return _file_start(reader) if start_frame == 0 else float(first_timestamp)


def _stored(img: np.ndarray, rotation: int) -> np.ndarray:
    """An upright frame turned back to how a stream with clockwise display ``rotation`` stores it."""
    return np.ascontiguousarray(np.rot90(img, rotation // 90))  # positive k: counter-clockwise


def _open_writer(enc: EncodeSettings, reader: Any, out: np.ndarray, origin: float, rotation: int = 0) -> Any:
    from ..video import VideoWriter
    from ..video.color import output_pix_fmt

    h, w = out.shape[:2]
    color = getattr(reader, "color", None) if enc.keep_color else None
    pix_fmt = enc.pix_fmt or output_pix_fmt(enc.codec, color)
    offset = origin - _file_start(reader) if enc.audio_offset is None else enc.audio_offset
    return VideoWriter(enc.path, enc.fps or reader.fps_fraction, w, h, codec=enc.codec, crf=enc.crf,
                       preset=enc.preset, pix_fmt=pix_fmt, options=enc.options, audio_offset=offset,
                       audio_from=enc.audio_from, streams_from=enc.streams_from, audio_track=enc.audio_track,
                       streams_offset=origin, time_base=None if enc.fps else getattr(reader, "time_base", None),
                       color=color, rotation=rotation)


def run_stream(
    reader: Any,
    processor: FrameProcessor,
    encode: EncodeSettings,
    *,
    start_frame: int = 0,
    stop_frame: Optional[int] = None,
    queue_size: int = 8,
    total: int = 0,
    on_progress: Optional[Callable[[int, int], None]] = None,
    monitor: Any = None,
    join_timeout: float = 30.0,
) -> StreamResult:
    """Run ``processor`` over the frames of ``reader`` (a :class:`facefuse.video.VideoReader`,
    opened at the first frame to plan: ``start_frame`` minus the warm-up) and encode the
    frames ``start_frame <= index < stop_frame`` to ``encode.path``.

    The writer opens at the first output frame (its size sets the video's); ``on_progress(done,
    total)`` follows each encoded frame; ``monitor`` (a :class:`facefuse.QualityMonitor`) gets
    every written frame with its plan's ``roi`` / ``landmarks``. When no frame is written the
    result says ``frames == 0`` and no file is made (the caller names why). The reader is
    closed at the end.
    """
    result = StreamResult()
    stages = _Stages(reader, processor, start_frame=start_frame, stop_frame=stop_frame,
                     queue_size=queue_size, monitor=monitor, result=result)
    stages.keep_source = encode.keep_color
    # frames the reader turned upright are turned back and written with the input's rotation
    rot = int(getattr(reader, "rotation", 0)) if getattr(reader, "auto_rotate", False) else 0
    threads = [threading.Thread(target=stages.prepare, name="facefuse-prepare", daemon=True),
               threading.Thread(target=stages.model, name="facefuse-model", daemon=True)]
    writer = None
    st = result.stage_seconds
    try:
        for t in threads:
            t.start()
        while True:
            item = stages.get(stages.q_out)
            if item is _STOPPED or item is _END:
                break
            _, out, timestamp, source = item
            t0 = time.perf_counter()
            if rot:  # back to the orientation the input stores, shown upright by its display matrix
                out = _stored(out, rot)
                source = None if source is None else (_stored(source[0], rot), source[1])
            if writer is None:
                origin = output_origin(reader, start_frame, timestamp)
                writer = _open_writer(encode, reader, out, origin, rot)
                result.size_note = writer.size_note
                result.stream_notes = list(writer.stream_notes) + (
                    [writer.timing_note.split(": ", 1)[1]] if writer.timing_note else [])
            writer.write(out, timestamp - origin, source=source)
            st["encode"] += time.perf_counter() - t0
            result.frames += 1
            if on_progress is not None:
                on_progress(result.frames, total)
        if stages.errors:
            raise stages.errors[0]
        if writer is not None:
            t0 = time.perf_counter()
            writer.close()
            st["encode"] += time.perf_counter() - t0
            result.retimed = writer.retimed
            if start_frame == 0 and stop_frame is None and not result.cut and getattr(reader, "frame_count_exact",
                                                                                       False):
                result.frames_announced = int(reader.frame_count)
        return result
    except BaseException:
        stages.stop.set()
        if writer is not None:
            writer.abort()
        raise
    finally:
        stages.stop.set()
        for t in threads:
            if t.ident is not None:
                t.join(join_timeout)
        if not threads[0].is_alive():  # a decoder still inside FFmpeg keeps its container
            reader.close()

