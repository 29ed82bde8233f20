"""Encoding: :class:`VideoWriter` writes BGR frames (or remuxes encoded packets) through a
temporary file renamed into place on success, with the audio of a source file (see
:mod:`.audio_mux`); :func:`size_change_note` tells beforehand when odd frame sizes are padded."""
from __future__ import annotations

import functools
import math
import os
import tempfile
import warnings
from fractions import Fraction
from typing import Any, Optional, Union

import numpy as np

import av

from .._files import publish
from .audio_mux import _AudioMux
from .color import ColorInfo, from_bgr
from .source_pixels import changed_box, merge_source, source_usable
from .errors import _FFMPEG_ERRORS, PathLike, VideoError

# pixel formats whose chroma is subsampled 2x in both directions (need even W and H)
_EVEN_BOTH = {"yuv420p", "yuvj420p", "nv12", "nv21", "yuv420p10le", "p010le", "yuva420p"}
# subsampled 2x horizontally only (need even W)
_EVEN_WIDTH = {"yuv422p", "yuvj422p", "yuv422p10le", "nv16", "yuyv422", "uyvy422"}


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


#: the time base a writer falls back to when its encoder refuses the input's (MPEG-4 Part 2 takes
#: denominators up to 65535 only): exact for 24, 25, 30, 50, 60 and the NTSC rates 29.97 / 59.94
_FALLBACK_TIME_BASE = Fraction(1, 60000)


@functools.lru_cache(maxsize=64)
def _encoder_opens(codec: str, pix_fmt: str, width: int, height: int, opts: tuple,
                   time_base: Fraction = Fraction(1, 25)) -> bool:
    """Whether ``codec`` opens for ``width`` x ``height`` frames in ``pix_fmt`` with ``opts``
    and ``time_base`` (a throwaway encoder, opened and dropped)."""
    try:
        ctx = av.CodecContext.create(codec, "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
        ctx.time_base = time_base
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


class VideoWriter(_AudioMux):
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

    ``streams_from``: a media file whose every audio and subtitle track is copied the same way,
    with its container tags (creation time, title, ...) and its streams' tags (language,
    handler name); a track the container cannot hold is re-encoded (audio) or left out
    (subtitle), one line each in :attr:`stream_notes`. With ``audio_from`` too, the first audio
    of ``audio_from`` replaces audio track ``audio_track`` of ``streams_from`` (lip sync).
    ``streams_offset`` (default ``audio_offset``): seconds of ``streams_from`` before the output's
    start, dropped and shifted like ``audio_offset``.

    Timing: ``time_base`` None writes a constant rate (frame ``i`` at ``i / fps``). A
    ``time_base`` (the input stream's) makes :meth:`write` take each frame's ``timestamp``
    (seconds from the output's start) and store it as is (pass-through, FFmpeg's
    ``-fps_mode passthrough``); a timestamp not after the previous one (duplicate pts) is moved
    one tick later, counted in :attr:`retimed`, so no frame is dropped.

    Colour: ``color`` (the input's :class:`~facefuse.video.color.ColorInfo`) converts BGR back
    with the input's matrix and range and tags the stream with its matrix, range, primaries and
    transfer; ``pix_fmt`` (e.g. ``yuv420p10le``) sets the stored format and bit depth.

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
        time_base: Optional[Fraction] = None,
        color: Optional[ColorInfo] = None,
        streams_from: Optional[PathLike] = None,
        audio_track: int = 0,
        streams_offset: Optional[float] = None,
    ) -> None:
        self.path = os.fspath(path)
        if time_base is not None and (not isinstance(time_base, Fraction) or time_base <= 0):
            raise ValueError(f"VideoWriter: argument 'time_base' must be a positive Fraction or None, "
                             f"got {time_base!r}")
        if isinstance(audio_track, bool) or not isinstance(audio_track, (int, np.integer)) or audio_track < 0:
            raise ValueError(f"VideoWriter: argument 'audio_track' must be an int >= 0, got {audio_track!r}")
        self.time_base = time_base
        self.color = color
        self.pix_fmt = pix_fmt
        #: frames whose timestamp was moved one tick later (not after the previous frame's)
        self.retimed = 0
        #: frames written from their decoded source samples alone (nothing in them changed)
        self.source_frames = 0
        self._last_pts: Optional[int] = None
        self._end_time = 0.0
        self._template = video_template
        self.audio_offset = float(audio_offset)
        self.streams_offset = self.audio_offset if streams_offset is None else float(streams_offset)
        self._out = None
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
        #: why the file's timestamps are rounded (the encoder refuses the input's time base), or None
        self.timing_note: Optional[str] = None
        if time_base is not None and video_template is None and not _encoder_opens(
                codec, pix_fmt, ew, eh, tuple(sorted(opts.items())), time_base) and _encoder_opens(
                codec, pix_fmt, ew, eh, tuple(sorted(opts.items())), _FALLBACK_TIME_BASE):
            self.timing_note = (f"VideoWriter: {codec} takes no time base {time_base}: timestamps are rounded to "
                                f"{_FALLBACK_TIME_BASE} s")
            warnings.warn(self.timing_note, UserWarning, stacklevel=2)
            self.time_base = time_base = _FALLBACK_TIME_BASE

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
                    if time_base is not None:  # the input's clock: every timestamp exact
                        st.time_base = time_base
                        st.codec_context.time_base = time_base
                    if color is not None and not color.is_rgb:
                        cc = st.codec_context
                        cc.colorspace, cc.color_primaries, cc.color_trc = color.matrix, color.primaries, color.trc
                        cc.color_range = 2 if color.full_range else color.range
                    if rotation:
                        st.set_display_rotation(-rotation)
            except (_FFMPEG_ERRORS + (ValueError,)) as e:
                raise VideoError(f"VideoWriter: cannot add a {codec!r} stream to {self.path!r}: {e}") from e
            self._vs = st
            self._setup_audio(audio_from, streams_from, int(audio_track))
        except BaseException:
            self.abort()
            raise

    def write_packet(self, packet: Any, frames: int = 1) -> None:
        """Mux one already-encoded video packet (``video_template`` mode). Its pts/dts and
        time_base must already place it in the output; ``frames``: how many frames it adds
        (1 for one frame; 0 for a packet holding none), which paces the audio copy."""
        if self._done or self._out is None:
            raise VideoError(f"VideoWriter: {self.path!r} is already closed")
        if self._template is None:
            raise VideoError("VideoWriter.write_packet: this writer encodes frames (no 'video_template' given)")
        if packet.pts is not None and packet.time_base is not None:  # pace the audio by the packet's own time
            end = float(packet.pts * packet.time_base + 1 / self.fps_fraction)
        else:
            end = float((self.frames_written + int(frames)) / self.fps_fraction)
        self._end_time = max(self._end_time, end)
        packet.stream = self._vs
        try:
            self._out.mux(packet)
        except _FFMPEG_ERRORS as e:
            raise VideoError(f"VideoWriter: muxing a packet after frame {self.frames_written} into "
                             f"{self.path!r} failed: {e}") from e
        self.frames_written += int(frames)
        self._mux_audio(self._end_time)

    def write(self, image: np.ndarray, timestamp: Optional[float] = None, source: Optional[tuple] = None) -> None:
        """Encode one H x W x 3 uint8 BGR frame (W, H as given to the constructor); ``timestamp``
        (seconds, needed with ``time_base``, ignored without): when it is shown. ``source``:
        ``(decoded_bgr, decoded_frame)`` of the input frame ``image`` was made from; where
        ``image`` equals ``decoded_bgr`` the samples of ``decoded_frame`` are written as they are
        (full bit depth, no second chroma resampling; see :mod:`.source_pixels`), when it has
        the output's pixel format and size."""
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
        frame = from_bgr(np.ascontiguousarray(image), self.color, self.pix_fmt)
        if source is not None and source_usable(source[1], self.pix_fmt, self.encoded_width, self.encoded_height) \
                and source[0].shape == image.shape:
            box = changed_box(image, source[0])
            frame = merge_source(frame, source[1], box if box is not None else (0, 0, 0, 0))
            self.source_frames += box is None
        if self.time_base is None:
            frame.pts = self.frames_written
            frame.time_base = 1 / self.fps_fraction
            self._end_time = float((self.frames_written + 1) / self.fps_fraction)
        else:
            if timestamp is None or not math.isfinite(float(timestamp)):
                raise ValueError(f"VideoWriter.write: argument 'timestamp' must be a finite number with a "
                                 f"'time_base' writer, got {timestamp!r}")
            pts = int(round(Fraction(float(timestamp)) / self.time_base))
            if self._last_pts is not None and pts <= self._last_pts:
                pts = self._last_pts + 1  # a duplicate / backwards pts: one tick later, never dropped
                self.retimed += 1
            self._last_pts = pts
            frame.pts = pts
            frame.time_base = self.time_base
            self._end_time = float((pts * self.time_base) + 1 / self.fps_fraction)
        try:
            packets = self._vs.encode(frame)
            self._out.mux(packets)
        except _FFMPEG_ERRORS as e:
            hint = (" (hardware encoder: is its GPU and driver available?)"
                    if any(k in self.codec for k in ("nvenc", "qsv", "vaapi", "amf", "videotoolbox")) else "")
            raise VideoError(f"VideoWriter: encoding frame {self.frames_written} of {self.path!r} "
                             f"with {self.codec!r} failed{hint}: {e}") from e
        self.frames_written += 1
        self._mux_audio(self._end_time)

    @property
    def duration(self) -> float:
        """Seconds of video written: the end of the last frame (its time plus one frame at ``fps``)."""
        return self._end_time

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
                self._flush_audio()
                self._out.close()
            except _FFMPEG_ERRORS as e:
                raise VideoError(f"VideoWriter: finishing {self.path!r} failed: {e}") from e
            self._out = None
            self._close_inputs()
            publish(self._tmp, self.path)
            self._tmp = None
            self._done = True
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard the output: close everything and delete the temporary file."""
        c = getattr(self, "_out", None)
        if c is not None:
            try:
                c.close()
            except Exception:
                pass
            self._out = None
        if hasattr(self, "_inputs"):
            self._close_inputs()
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
