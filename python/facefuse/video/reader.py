"""Decoding: :class:`VideoReader` yields upright H x W x 3 uint8 BGR :class:`Frame` tuples one
at a time; :func:`_frame_pts` reads a stream's frame timestamps from its packet index."""
from __future__ import annotations

import os
from fractions import Fraction
from typing import Any, Iterator, NamedTuple, Optional

import numpy as np

import av

from .color import ColorInfo, color_of, to_bgr
from .errors import _FFMPEG_ERRORS, PathLike, VideoError


class Frame(NamedTuple):
    """One decoded frame: ``image`` is H x W x 3 uint8 BGR (C-contiguous),
    ``index`` counts from 0 in decode order, ``timestamp`` is the presentation time in
    seconds as stored in the file (usually starting at 0)."""

    image: np.ndarray
    index: int
    timestamp: float


def _upright(img: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate ``img`` clockwise by ``rotation`` degrees (a multiple of 90)."""
    if rotation == 0:
        return img
    k = {90: -1, 180: 2, 270: 1}[rotation]  # np.rot90: positive k is counter-clockwise
    return np.ascontiguousarray(np.rot90(img, k))


def _clockwise_from_ccw(deg: float) -> int:
    """FFmpeg's display-matrix angle (counter-clockwise) -> clockwise display rotation
    in {0, 90, 180, 270} (the convention of the legacy ``rotate`` tag)."""
    return int(round(-float(deg) / 90.0)) % 4 * 90


class VideoReader:
    """Decode a video (or a still image) one frame at a time.

    ``for frame in VideoReader(path)`` yields :class:`Frame` tuples
    ``(image, index, timestamp)``; ``image`` is H x W x 3 uint8 BGR. Iteration is single
    pass. Use as a context manager or call :meth:`close`.

    Properties: ``fps`` (float), ``fps_fraction`` (exact ``Fraction``), ``frame_count``
    (exact when the container stores it, e.g. MP4/MOV; otherwise an estimate from
    duration x fps; see ``frame_count_exact``), ``width`` / ``height`` (of the frames as
    returned, i.e. after auto-rotation), ``duration`` (seconds, or None), ``has_audio``,
    ``rotation`` (clockwise degrees needed to display upright: 0, 90, 180 or 270, from the
    display-matrix side data or the legacy ``rotate`` tag), ``time_base`` (the stream's, exact
    ``Fraction``: frame timestamps are multiples of it), ``origin`` (the container's start time
    in seconds: the time an output's t = 0 stands for), ``color`` (:class:`ColorInfo`: matrix,
    range, primaries, transfer, pixel format and bit depth of the first frame; every frame is
    converted to BGR with its matrix and range, see :mod:`facefuse.video.color`).

    ``auto_rotate=False`` returns frames as stored. ``strict=True`` raises
    :class:`VideoError` at the end of iteration when far fewer frames decoded than the
    container announced (a truncated file). Opening decodes the first frame, so an
    unreadable file fails here rather than mid-pipeline.

    ``start_frame``: the first frame to return (its ``index`` keeps counting from the start
    of the video). The reader seeks to the keyframe before it and decodes forward, dropping
    frames by presentation timestamp, so the frame returned as index ``k`` is the same one
    a reader from the start returns as ``k`` (exact for any frame-rate mode: the timestamps
    come from one scan of the packet index, see :func:`count_frames`). Files whose packets
    carry no timestamps are decoded from the start and frames counted instead.
    """

    def __init__(self, path: PathLike, *, auto_rotate: bool = True, strict: bool = True,
                 start_frame: int = 0) -> None:
        self.path = os.fspath(path)
        self.auto_rotate = bool(auto_rotate)
        self.strict = bool(strict)
        if isinstance(start_frame, bool) or not isinstance(start_frame, (int, np.integer)) or start_frame < 0:
            raise ValueError(f"VideoReader: argument 'start_frame' must be an int >= 0, got {start_frame!r}")
        #: index of the first frame this reader returns
        self.start_frame: int = int(start_frame)
        self._seek_pts: Optional[int] = None
        self._skip_count = 0
        self._index: Optional[list] = None
        self._container = None
        self._decoded = 0
        self._started = False
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"VideoReader: no such file: {self.path!r}")
        try:
            self._container = av.open(self.path, "r", metadata_errors="ignore")
        except _FFMPEG_ERRORS as e:
            raise VideoError(f"VideoReader: cannot open {self.path!r} as video or image: {e}") from e
        try:
            self._init_stream()
        except BaseException:
            self.close()
            raise

    def _init_stream(self) -> None:
        c = self._container
        if not c.streams.video:
            raise VideoError(f"VideoReader: {self.path!r} has no video stream")
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        self._stream = s
        rate = s.average_rate or s.guessed_rate or s.base_rate
        if not rate or rate <= 0:
            rate = Fraction(25)
        self.fps_fraction: Fraction = Fraction(rate)
        self.fps: float = float(self.fps_fraction)
        dur = None
        if s.duration is not None and s.time_base is not None and s.duration > 0:
            dur = float(s.duration * s.time_base)
        elif c.duration is not None and c.duration > 0:
            dur = c.duration / 1e6
        self.duration: Optional[float] = dur
        self._header_frames = int(s.frames or 0)
        self.frame_count_exact: bool = self._header_frames > 0
        if self._header_frames > 0:
            self.frame_count: int = self._header_frames
        elif dur is not None:
            self.frame_count = max(1, int(round(dur * self.fps)))
        else:
            self.frame_count = 0  # unknown
        self.has_audio: bool = len(c.streams.audio) > 0
        #: how many audio tracks the file has (an output copies them all)
        self.audio_tracks: int = len(c.streams.audio)
        if self.start_frame:
            self._position(s)
            s = self._stream
        self._raw = self._raw_frames()
        try:
            self._first = next(self._raw)
        except StopIteration:
            raise VideoError(f"VideoReader: {self.path!r} contains no decodable video frame") from None
        rot = 0
        try:
            rot = _clockwise_from_ccw(self._first.rotation)
        except Exception:
            rot = 0
        if rot == 0:
            tag = s.metadata.get("rotate")
            if tag:
                try:
                    rot = int(round(float(tag) / 90.0)) % 4 * 90
                except ValueError:
                    rot = 0
        self.rotation: int = rot
        self.color: ColorInfo = color_of(self._first)
        #: the decoded ``av.VideoFrame`` of the frame iteration returned last (its samples at full
        #: bit depth, for :meth:`VideoWriter.write`'s ``source``); None before the first
        self.last_frame: Any = None
        self.time_base: Fraction = Fraction(s.time_base) if s.time_base else Fraction(1, 90000)
        t0 = self._first.time
        if self._index is not None:
            t0 = self._index[0] * s.time_base
        elif self.start_frame:  # counted, not seeked: the first frame of the video is gone
            t0 = max(0.0, float(t0 or 0.0) - self.start_frame / self.fps)
        #: presentation time of the first frame of the video (seconds, also when ``start_frame``
        #: skips it); non-zero when the video starts late
        self.start_time: float = float(t0) if t0 is not None else 0.0
        # FFmpeg's default output origin: the earliest stream start of the file, so that every
        # stream keeps its offset to the others (a video starting 0.5 s after its audio stays so)
        origin = self.start_time
        begin = self._container.start_time  # (not c: a reader started by counting frames reopened it)
        if begin is not None:
            origin = min(origin, begin / av.time_base)
        self.origin: float = float(origin)
        w, h = self._first.width, self._first.height
        if self.auto_rotate and rot in (90, 270):
            w, h = h, w
        self.width: int = int(w)
        self.height: int = int(h)

    def _position(self, s: Any) -> None:
        """Prepare to start at ``self.start_frame``: seek by timestamp, or count frames."""
        try:
            index = _frame_pts(self._container, s)
        except _FFMPEG_ERRORS as e:
            raise VideoError(f"VideoReader: scanning the packets of {self.path!r} failed: {e}") from e
        if index is not None and self.start_frame >= len(index):
            raise ValueError(f"VideoReader: argument 'start_frame' ({self.start_frame}) is past the last frame "
                             f"of {self.path!r} ({len(index)} frames)")
        if index is None:
            # no timestamps to seek by: reopen, decode from the start and count frames
            self._container.close()
            self._container = av.open(self.path, "r", metadata_errors="ignore")
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
            self._skip_count = self.start_frame
            return
        self._index = index
        self._seek_pts = index[self.start_frame]
        self._container.seek(self._seek_pts, stream=s, backward=True, any_frame=False)

    def _raw_frames(self) -> Iterator[Any]:
        target, skip, restarted = self._seek_pts, self._skip_count, False
        try:
            while True:
                overshoot = False
                for packet in self._container.demux(self._stream):
                    for frame in packet.decode():
                        if target is not None:
                            if frame.pts is None:
                                raise VideoError(f"VideoReader: cannot start {self.path!r} at frame "
                                                 f"{self.start_frame}: decoded frames carry no timestamp")
                            if frame.pts < target:
                                continue
                            if frame.pts > target and not restarted:
                                overshoot = True  # the seek landed past the frame: start over
                                break
                            target = None
                        elif skip:
                            skip -= 1
                            continue
                        self._decoded += 1
                        yield frame
                    if overshoot:
                        break
                if not overshoot:
                    break
                restarted = True
                self._container.seek(self._index[0], stream=self._stream, backward=True, any_frame=False)
        except _FFMPEG_ERRORS as e:
            raise VideoError(
                f"VideoReader: decoding {self.path!r} failed after {self._decoded} frame(s): {e}"
            ) from e
        expected = self._header_frames
        got = self.start_frame + self._decoded
        if self.strict and expected and got < expected - max(2, expected // 50):
            raise VideoError(
                f"VideoReader: {self.path!r} is truncated or corrupt: the container announces "
                f"{expected} frames but only {got} decoded"
            )

    def _convert(self, frame: Any, index: int) -> Frame:
        img = to_bgr(frame, self.color)
        if self.auto_rotate:
            img = _upright(img, self.rotation)
        t = frame.time
        if t is None:
            t = index / self.fps
        return Frame(img, index, float(t))

    def __iter__(self) -> Iterator[Frame]:
        if self._container is None:
            raise VideoError(f"VideoReader: {self.path!r} is closed")
        if self._started:
            raise RuntimeError("VideoReader: iteration is single-pass; open a new reader to read again")
        self._started = True
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        first, self._first = self._first, None
        self.last_frame = first
        yield self._convert(first, self.start_frame)
        index = self.start_frame + 1
        for frame in self._raw:
            self.last_frame = frame
            yield self._convert(frame, index)
            index += 1

    def read(self) -> Optional[Frame]:
        """The next frame, or None at the end."""
        if not hasattr(self, "_it"):
            self._it = iter(self)
        return next(self._it, None)

    def close(self) -> None:
        raw = getattr(self, "_raw", None)
        if raw is not None:
            try:
                raw.close()
            except Exception:
                pass
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass
            self._container = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"VideoReader({self.path!r}, {self.width}x{self.height}, fps={self.fps:.3f}, "
                f"frames={self.frame_count}{'' if self.frame_count_exact else '~'}, "
                f"rotation={self.rotation}, audio={self.has_audio})")



def _frame_pts(container: Any, stream: Any) -> Optional[list]:
    """Presentation timestamps (``stream.time_base`` units) of every frame of ``stream``, in
    display order, from one demux pass (no decoding); None when a packet has no pts."""
    pts = []
    for packet in container.demux(stream):
        if packet.pts is None:
            if packet.dts is None and packet.size == 0:
                continue  # the demuxer's end-of-stream flush packet
            return None
        if packet.is_discard:
            continue  # decoded only to prime the decoder (edit lists): never shown
        pts.append(int(packet.pts))
    pts.sort()
    return pts
