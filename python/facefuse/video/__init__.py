"""Streaming video IO for face-swap / lip-sync pipelines (PyAV / FFmpeg).

* :class:`VideoReader` decodes any file FFmpeg reads (and still images) one frame at a
  time as H x W x 3 uint8 BGR arrays, rotated upright from the stream's display matrix.
* :class:`VideoWriter` encodes BGR frames (H.264 by default), copies the audio of a
  source file without re-encoding when the container allows, and writes through a
  temporary file renamed into place only on success.
* :func:`process_video` runs decode -> ``fn`` -> encode in three concurrent stages
  joined by bounded queues, so memory does not grow with the video's length.

Every failure of FFmpeg on a file is raised as :class:`VideoError` (a ``ValueError``)
naming the file and what failed.
"""
from __future__ import annotations

import functools
import math
import os
import queue
import tempfile
import threading
import warnings
from fractions import Fraction
from typing import Any, Callable, Iterator, NamedTuple, Optional, Union

import numpy as np

from .._files import publish
import av

__all__ = [
    "VideoError",
    "Frame",
    "VideoReader",
    "VideoWriter",
    "read_image",
    "read_image_alpha",
    "available_encoders",
    "size_change_note",
    "count_frames",
    "audio_duration",
    "process_video",
]

PathLike = Union[str, "os.PathLike[str]"]

_FFMPEG_ERRORS: tuple = (av.FFmpegError, EOFError, UnicodeDecodeError)
# pixel formats whose chroma is subsampled 2x in both directions (need even W and H)
_EVEN_BOTH = {"yuv420p", "yuvj420p", "nv12", "nv21", "yuv420p10le", "p010le", "yuva420p"}
# subsampled 2x horizontally only (need even W)
_EVEN_WIDTH = {"yuv422p", "yuvj422p", "yuv422p10le", "nv16", "yuyv422", "uyvy422"}


class VideoError(ValueError):
    """A video/image file could not be opened, decoded, encoded or written."""


class Frame(NamedTuple):
    """One decoded frame: ``image`` is H x W x 3 uint8 BGR (C-contiguous),
    ``index`` counts from 0 in decode order, ``timestamp`` is the presentation time in
    seconds as stored in the file (usually starting at 0)."""

    image: np.ndarray
    index: int
    timestamp: float


# --------------------------------------------------------------------------- helpers

def available_encoders(kind: str = "video") -> list[str]:
    """Names of the encoders this FFmpeg build provides for ``kind`` ("video" or "audio").

    Hardware encoders (e.g. ``h264_nvenc``) are listed when compiled in; they may still
    fail at the first frame when no device is present (-> :class:`VideoError`).
    """
    if kind not in ("video", "audio"):
        raise ValueError(f"available_encoders: argument 'kind' must be 'video' or 'audio', got {kind!r}")
    names = []
    for name in sorted(av.codecs_available):
        try:
            c = av.Codec(name, "w")
        except Exception:
            continue
        if c.type == kind:
            names.append(name)
    return names


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


# --------------------------------------------------------------------------- reader

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
    display-matrix side data or the legacy ``rotate`` tag).

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
        t0 = self._first.time
        if self._index is not None:
            t0 = self._index[0] * s.time_base
        elif self.start_frame:  # counted, not seeked: the first frame of the video is gone
            t0 = max(0.0, float(t0 or 0.0) - self.start_frame / self.fps)
        #: presentation time of the first frame of the video (seconds, also when ``start_frame``
        #: skips it); non-zero when the video starts late
        self.start_time: float = float(t0) if t0 is not None else 0.0
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
        img = frame.to_ndarray(format="bgr24")
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
        yield self._convert(first, self.start_frame)
        index = self.start_frame + 1
        for frame in self._raw:
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


def count_frames(path: PathLike) -> int:
    """The exact number of frames of the first video stream of ``path``, from its packet
    index (a demux pass without decoding: fast, IO-bound). Falls back to decoding when the
    packets carry no timestamps."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"count_frames: argument 'path' must be a path, got {type(path).__name__}")
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"count_frames: argument 'path': no such file: {p!r}")
    try:
        with av.open(p, "r", metadata_errors="ignore") as c:
            if not c.streams.video:
                raise VideoError(f"count_frames: argument 'path': {p!r} has no video stream")
            index = _frame_pts(c, c.streams.video[0])
    except _FFMPEG_ERRORS as e:
        raise VideoError(f"count_frames: cannot read {p!r}: {e}") from e
    if index is not None:
        return len(index)
    with VideoReader(p, strict=False) as r:
        return 1 + sum(1 for _ in r._raw)  # the reader decoded frame 0 on opening


def audio_duration(path: PathLike) -> Optional[float]:
    """Seconds of the first audio stream of ``path`` as its container announces them (no
    decoding). None when the file has no audio stream, announces no positive duration, or
    cannot be opened (for estimates: decoding the file reports what is wrong with it)."""
    try:
        with av.open(os.fspath(path), "r", metadata_errors="ignore") as c:
            if not c.streams.audio:
                return None
            s = c.streams.audio[0]
            if s.duration is not None and s.time_base is not None and s.duration > 0:
                return float(s.duration * s.time_base)
            return c.duration / 1e6 if c.duration and c.duration > 0 else None  # av.time_base units
    except _FFMPEG_ERRORS + (OSError,):
        return None


def read_image(path: PathLike, *, auto_rotate: bool = True) -> np.ndarray:
    """Read a still image (png, jpg, ... or the first frame of a video) as H x W x 3 uint8 BGR."""
    with VideoReader(path, auto_rotate=auto_rotate, strict=False) as r:
        return next(iter(r)).image


def read_image_alpha(path: PathLike, *, auto_rotate: bool = True) -> tuple:
    """:func:`read_image` and the image's alpha channel: ``(bgr, alpha)``, ``alpha`` an H x W
    uint8 array (rotated like ``bgr``), or None when the image has no alpha (a palette image
    counts as having one only when a colour of it is not opaque)."""
    with VideoReader(path, auto_rotate=auto_rotate, strict=False) as r:
        raw = r._first  # the decoded first frame, before iteration converts it to BGR
        alpha = None
        fmt = raw.format
        if fmt.has_palette or any(c.is_alpha for c in fmt.components):
            a = raw.to_ndarray(format="bgra")[..., 3]
            if not fmt.has_palette or int(a.min()) < 255:
                alpha = np.ascontiguousarray(_upright(a, r.rotation) if r.auto_rotate else a)
        return next(iter(r)).image, alpha


# --------------------------------------------------------------------------- writer

def _check_codec(codec: str) -> None:
    try:
        c = av.Codec(codec, "w")
    except Exception:
        c = None
    if c is None or c.type != "video":
        raise ValueError(
            f"VideoWriter: argument 'codec' names no video encoder of this FFmpeg build: {codec!r} "
            f"(see facefuse.video.available_encoders())"
        )


def _encoder_options(codec: str, crf: Optional[float], preset: Optional[str], options: Optional[dict]) -> dict:
    """FFmpeg codec options for ``crf`` / ``preset`` (x264 / x265 / NVENC), then ``options``."""
    opts: dict = {}
    if codec in ("libx264", "libx265", "libx264rgb"):
        if crf is not None:
            opts["crf"] = str(crf)
        if preset is not None:
            opts["preset"] = str(preset)
    elif "nvenc" in codec:
        if crf is not None:
            opts["rc"] = "vbr"
            opts["cq"] = str(int(crf))
        if preset is not None:
            opts["preset"] = str(preset)
    if options:
        opts.update({str(k): str(v) for k, v in options.items()})
    return opts


@functools.lru_cache(maxsize=64)
def _encoder_opens(codec: str, pix_fmt: str, width: int, height: int, opts: tuple) -> bool:
    """Whether ``codec`` opens for ``width`` x ``height`` frames in ``pix_fmt`` with ``opts``
    (a throwaway encoder, opened and dropped)."""
    try:
        ctx = av.CodecContext.create(codec, "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
        ctx.time_base = Fraction(1, 25)
        ctx.framerate = Fraction(25, 1)
        ctx.options = dict(opts)
        ctx.open()
    except Exception:  # noqa: BLE001 - any refusal counts
        return False
    return True


def _encoded_size(codec: str, pix_fmt: str, width: int, height: int, opts: dict) -> tuple:
    """The frame size the file gets: (width, height) unless the pixel format subsamples chroma
    in a direction whose size is odd and the encoder refuses that size (H.264 and HEVC in 4:2:0
    or 4:2:2 do; VP9, AV1, FFV1, MPEG-4 take it): then padded to even there."""
    need_w = pix_fmt in _EVEN_BOTH or pix_fmt in _EVEN_WIDTH
    need_h = pix_fmt in _EVEN_BOTH
    if not ((need_w and width % 2) or (need_h and height % 2)):
        return width, height
    if _encoder_opens(codec, pix_fmt, width, height, tuple(sorted(opts.items()))):
        return width, height
    return width + (width % 2 if need_w else 0), height + (height % 2 if need_h else 0)


def _size_note(codec: str, pix_fmt: str, w: int, h: int, ew: int, eh: int, opts: dict) -> str:
    pad = " and ".join(what for what, grew in (("column", ew != w), ("row", eh != h)) if grew)
    keep = ("pix_fmt 'yuv444p'" if _encoder_opens(codec, "yuv444p", w, h, tuple(sorted(opts.items())))
            else "a 4:4:4 pix_fmt")
    return (f"VideoWriter: {codec} does not encode {w}x{h} frames in pix_fmt {pix_fmt!r} (its chroma needs even "
            f"sizes): the video is {ew}x{eh}, the last {pad} repeated; {keep} or a codec that takes odd sizes "
            f"(libvpx-vp9, ffv1, mpeg4) keeps {w}x{h}")


def size_change_note(width: int, height: int, *, codec: str = "libx264", pix_fmt: str = "yuv420p",
                     crf: Optional[float] = 18, preset: Optional[str] = "medium",
                     options: Optional[dict] = None) -> Optional[str]:
    """The warning :class:`VideoWriter` gives for ``width`` x ``height`` frames with these
    settings when the file cannot have that size (odd sizes in 4:2:0 with H.264 / HEVC: padded
    by one column / row), or None when it keeps the size."""
    opts = _encoder_options(codec, crf, preset, options)
    ew, eh = _encoded_size(codec, pix_fmt, int(width), int(height), opts)
    if (ew, eh) == (width, height):
        return None
    return _size_note(codec, pix_fmt, int(width), int(height), ew, eh, opts)


def _as_fps(fps: Any) -> Fraction:
    try:
        if isinstance(fps, Fraction):
            f = fps
        else:
            v = float(fps)
            if not math.isfinite(v):
                raise ValueError
            f = Fraction(v).limit_denominator(100000) if not isinstance(fps, int) else Fraction(fps)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"VideoWriter: argument 'fps' must be a positive finite number, got {fps!r}") from None
    if f <= 0:
        raise ValueError(f"VideoWriter: argument 'fps' must be a positive finite number, got {fps!r}")
    return f


class VideoWriter:
    """Encode H x W x 3 uint8 BGR frames to ``path`` (format from its extension).

    ``codec``: any video encoder of :func:`available_encoders` (``"libx264"`` default,
    ``"h264_nvenc"`` on NVIDIA). ``crf`` / ``preset`` map to x264/x265 ``crf``/``preset``
    and to NVENC ``cq``/``preset``; other encoders take ``options`` (FFmpeg codec
    options, applied last). ``crf=0`` with libx264 is lossless in YUV.

    Odd sizes: kept when the encoder takes them (VP9, AV1, FFV1, MPEG-4; H.264 / HEVC in
    ``yuv444p``). H.264 and HEVC in ``yuv420p`` (and other chroma-subsampled formats) need
    even sizes: with ``pad_odd=True`` (default) the frames are padded by repeating the last
    column / row, so the file is ``even(width) x even(height)``, and a ``UserWarning`` naming
    both sizes is given (also in :attr:`size_note`; :func:`size_change_note` tells it
    beforehand); ``pad_odd=False`` raises ValueError instead.

    ``audio_from``: a media file whose first audio stream is copied (packets remuxed, no
    re-encode; trimmed to the video's duration at packet granularity). If the output
    container cannot hold that codec it is re-encoded to the container's default audio
    codec. A source without audio adds nothing.

    ``audio_offset``: seconds of ``audio_from`` that precede the first written frame
    (``VideoReader.start_time`` of the video source); audio before it is dropped and the
    rest shifted so that it stays in sync with frame 0 at t = 0.

    ``rotation``: clockwise display rotation (0/90/180/270) stored as a display matrix.

    Output goes to a temporary file in the destination directory that :meth:`close`
    renames over ``path``; an exception (or KeyboardInterrupt) inside ``with`` or a call
    to :meth:`abort` deletes it, leaving any existing ``path`` untouched.

    ``video_template``: remux instead of encode. The video stream copies the codec
    parameters of this input stream (``codec``, ``crf``, ``preset``, ``pix_fmt``,
    ``options``, ``rotation`` are then unused) and takes already-encoded packets through
    :meth:`write_packet` (how chunks encoded apart are joined without re-encoding).
    """

    def __init__(
        self,
        path: PathLike,
        fps: Union[float, Fraction],
        width: int,
        height: int,
        codec: str = "libx264",
        crf: Optional[float] = 18,
        preset: Optional[str] = "medium",
        pix_fmt: str = "yuv420p",
        audio_from: Optional[PathLike] = None,
        options: Optional[dict] = None,
        *,
        pad_odd: bool = True,
        rotation: int = 0,
        audio_offset: float = 0.0,
        video_template: Any = None,
    ) -> None:
        self.path = os.fspath(path)
        self._template = video_template
        self.audio_offset = float(audio_offset)
        self._out = None
        self._ain = None
        self._tmp: Optional[str] = None
        self._done = False
        self.fps_fraction = _as_fps(fps)
        for name, v in (("width", width), ("height", height)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"VideoWriter: argument '{name}' must be a positive int, got {v!r}")
        self.width, self.height = int(width), int(height)
        if video_template is None:
            _check_codec(codec)
        else:
            codec = video_template.codec_context.name
        self.codec = codec
        if rotation not in (0, 90, 180, 270):
            raise ValueError(f"VideoWriter: argument 'rotation' must be 0, 90, 180 or 270, got {rotation!r}")
        opts = _encoder_options(codec, crf, preset, options)
        ew, eh = self.width, self.height
        #: why the file's frame size differs from (width, height) (None when it does not): the
        #: encoder takes no odd size in this pixel format, so the frames are padded
        self.size_note: Optional[str] = None
        if video_template is None:
            ew, eh = _encoded_size(codec, pix_fmt, ew, eh, opts)
            if (ew, eh) != (self.width, self.height):
                if not pad_odd:
                    raise ValueError(
                        f"VideoWriter: {codec} does not encode {self.width}x{self.height} frames in pix_fmt "
                        f"{pix_fmt!r} (its chroma needs even sizes); pass pad_odd=True to pad them to {ew}x{eh}")
                self.size_note = _size_note(codec, pix_fmt, self.width, self.height, ew, eh, opts)
                warnings.warn(self.size_note, UserWarning, stacklevel=2)
        self.encoded_width, self.encoded_height = ew, eh
        self.frames_written = 0

        directory = os.path.dirname(os.path.abspath(self.path))
        base = os.path.basename(self.path)
        ext = os.path.splitext(base)[1]
        fd, self._tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=directory)
        os.close(fd)
        try:
            try:
                self._out = av.open(self._tmp, "w")
            except (_FFMPEG_ERRORS + (ValueError,)) as e:
                raise VideoError(f"VideoWriter: cannot create {self.path!r} (extension {ext!r}): {e}") from e
            try:
                if video_template is not None:
                    st = self._out.add_stream_from_template(video_template)
                else:
                    st = self._out.add_stream(codec, rate=self.fps_fraction, options=opts)
                    st.width, st.height, st.pix_fmt = ew, eh, pix_fmt
                    st.thread_type = "AUTO"
                    if rotation:
                        st.set_display_rotation(-rotation)
            except (_FFMPEG_ERRORS + (ValueError,)) as e:
                raise VideoError(f"VideoWriter: cannot add a {codec!r} stream to {self.path!r}: {e}") from e
            self._vs = st
            self._setup_audio(audio_from)
        except BaseException:
            self.abort()
            raise

    # -- audio -----------------------------------------------------------------------
    def _setup_audio(self, audio_from: Optional[PathLike]) -> None:
        self._apackets = None
        self._pending = None
        self._transcode = False
        if audio_from is None:
            return
        src = os.fspath(audio_from)
        self._audio_src = src
        try:
            self._ain = av.open(src, "r", metadata_errors="ignore")
        except _FFMPEG_ERRORS as e:
            raise VideoError(f"VideoWriter: cannot open audio source {src!r}: {e}") from e
        if not self._ain.streams.audio:
            self._ain.close()
            self._ain = None
            return
        ain = self._ain.streams.audio[0]
        self._ain_stream = ain
        supported = getattr(self._out, "supported_codecs", None)
        if supported is None or ain.codec_context.name in supported:
            self._aout = self._out.add_stream_from_template(ain)
        else:
            self._transcode = True
            name = self._out.default_audio_codec
            if name in (None, "", "none"):
                raise VideoError(f"VideoWriter: the container of {self.path!r} holds no audio")
            self._aout = self._out.add_stream(name, rate=ain.codec_context.sample_rate or 48000)
        self._apackets = self._ain.demux(ain)

    def _audio_packets(self, until: float) -> Iterator[Any]:
        """Packets (already in the output's codec) with start time < ``until`` seconds."""
        while self._apackets is not None:
            if self._pending is None:
                try:
                    pkt = next(self._apackets)
                except StopIteration:
                    self._apackets = None
                    break
                except _FFMPEG_ERRORS as e:
                    raise VideoError(f"VideoWriter: reading audio from {self._audio_src!r} failed: {e}") from e
                if pkt.dts is None and pkt.pts is None:
                    if self._transcode:  # decoder flush packet
                        for fr in pkt.decode():
                            if (fr.time or 0.0) < until:
                                yield from self._aout.encode(fr)
                    continue
                self._pending = pkt
            pkt = self._pending
            ts = pkt.pts if pkt.pts is not None else pkt.dts
            t = float(ts * pkt.time_base) - self.audio_offset
            if t >= until:
                break
            self._pending = None
            if self.audio_offset:
                end = t + float((pkt.duration or 0) * pkt.time_base)
                if end <= 0:
                    continue  # entirely before the first frame
                shift = int(round(self.audio_offset / pkt.time_base))
                pkt.pts = None if pkt.pts is None else pkt.pts - shift
                pkt.dts = None if pkt.dts is None else pkt.dts - shift
            if self._transcode:
                try:
                    frames = pkt.decode()
                except _FFMPEG_ERRORS as e:
                    raise VideoError(f"VideoWriter: decoding audio of {self._audio_src!r} failed: {e}") from e
                for fr in frames:
                    yield from self._aout.encode(fr)
            else:
                pkt.stream = self._aout
                yield pkt

    def _mux_audio(self, until: float) -> None:
        if self._apackets is None:
            return
        for p in self._audio_packets(until):
            self._out.mux(p)

    # -- video -----------------------------------------------------------------------
    def write_packet(self, packet: Any, frames: int = 1) -> None:
        """Mux one already-encoded video packet (``video_template`` mode). Its pts/dts and
        time_base must already place it in the output; ``frames``: how many frames it adds
        (1 for one frame; 0 for a packet holding none), which paces the audio copy."""
        if self._done or self._out is None:
            raise VideoError(f"VideoWriter: {self.path!r} is already closed")
        if self._template is None:
            raise VideoError("VideoWriter.write_packet: this writer encodes frames (no 'video_template' given)")
        packet.stream = self._vs
        try:
            self._out.mux(packet)
        except _FFMPEG_ERRORS as e:
            raise VideoError(f"VideoWriter: muxing a packet after frame {self.frames_written} into "
                             f"{self.path!r} failed: {e}") from e
        self.frames_written += int(frames)
        self._mux_audio(self.frames_written / self.fps_fraction)

    def write(self, image: np.ndarray) -> None:
        """Encode one H x W x 3 uint8 BGR frame (W, H as given to the constructor)."""
        if self._done or self._out is None:
            raise VideoError(f"VideoWriter: {self.path!r} is already closed")
        if self._template is not None:
            raise VideoError("VideoWriter.write: this writer remuxes packets (use write_packet)")
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.shape != (self.height, self.width, 3):
            desc = (f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray)
                    else type(image).__name__)
            raise ValueError(
                f"VideoWriter.write: argument 'image' must be uint8 {self.height} x {self.width} x 3 BGR, got {desc}")
        if (self.encoded_height, self.encoded_width) != (self.height, self.width):
            image = np.pad(image, ((0, self.encoded_height - self.height), (0, self.encoded_width - self.width), (0, 0)),
                           mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts = self.frames_written
        frame.time_base = 1 / self.fps_fraction
        try:
            packets = self._vs.encode(frame)
            self._out.mux(packets)
        except _FFMPEG_ERRORS as e:
            hint = (" (hardware encoder: is its GPU and driver available?)"
                    if any(k in self.codec for k in ("nvenc", "qsv", "vaapi", "amf", "videotoolbox")) else "")
            raise VideoError(f"VideoWriter: encoding frame {self.frames_written} of {self.path!r} "
                             f"with {self.codec!r} failed{hint}: {e}") from e
        self.frames_written += 1
        self._mux_audio(self.frames_written / self.fps_fraction)

    @property
    def duration(self) -> float:
        return float(self.frames_written / self.fps_fraction)

    def close(self) -> None:
        """Flush the encoders, finish the file and rename it into place."""
        if self._done:
            return
        if self._out is None:
            raise VideoError(f"VideoWriter: {self.path!r} was aborted")
        try:
            try:
                if self._template is None:
                    self._out.mux(self._vs.encode(None))
                self._mux_audio(self.duration)
                if self._transcode:
                    self._out.mux(self._aout.encode(None))
                self._out.close()
            except _FFMPEG_ERRORS as e:
                raise VideoError(f"VideoWriter: finishing {self.path!r} failed: {e}") from e
            self._out = None
            if self._ain is not None:
                self._ain.close()
                self._ain = None
            publish(self._tmp, self.path)
            self._tmp = None
            self._done = True
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard the output: close everything and delete the temporary file."""
        for attr in ("_out", "_ain"):
            c = getattr(self, attr, None)
            if c is not None:
                try:
                    c.close()
                except Exception:
                    pass
                setattr(self, attr, None)
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            self._tmp = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:  # pragma: no cover - an unclosed writer leaves no file
        try:
            if not self._done:
                self.abort()
        except Exception:
            pass


# --------------------------------------------------------------------------- pipeline

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
