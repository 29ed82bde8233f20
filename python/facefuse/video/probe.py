"""What a file or this FFmpeg build holds, read without decoding where possible: the
encoders, a video's exact frame count, an audio stream's duration."""
from __future__ import annotations

import os
from typing import Optional

import av

from .errors import _FFMPEG_ERRORS, PathLike, VideoError
from .reader import VideoReader, _frame_pts


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
